"""Every asset, by layer."""

from moodlake_dagster.assets import bronze, gold, silver

__all__ = ["bronze", "gold", "silver"]
