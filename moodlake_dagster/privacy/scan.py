"""The proof of an erase: which files under a folder still hold any of some strings.

Bytes are searched as written, in each encoding a string may be stored in, and Parquet files are
also read, so a string compressed inside a data page is found too.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ENCODINGS = ("utf-8", "utf-16-le", "utf-32-le")


def _parquet_holds(path: Path, needles: tuple[str, ...]) -> bool:
    table = pq.read_table(path)
    for column in table.columns:
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        for needle in needles:
            if pc.any(pc.match_substring(column, needle)).as_py():
                return True
    return False


def holders(root: Path, needles: tuple[str, ...]) -> list[str]:
    """Files under `root` (relative paths) whose bytes or Parquet cells hold a needle."""
    # NumPy keeps strings as UTF-32 (a pickled array of ids holds them so), Windows-born
    # files as UTF-16: a needle is looked for in each encoding.
    encoded = [n.encode(e) for n in needles if n for e in ENCODINGS]
    found = []
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        held = any(n in data for n in encoded)
        if not held and path.suffix == ".parquet":
            held = _parquet_holds(path, needles)
        if held:
            found.append(str(path.relative_to(root)))
    return found
