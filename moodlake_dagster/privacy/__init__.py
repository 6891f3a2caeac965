"""A listener's rights over the lake: export and erasure, proven on the bytes on disk."""
