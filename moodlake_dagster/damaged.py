"""A damaged Delta table named in one line: which table, which version, which file, what to do.

delta-rs reports a truncated commit as "Json error: Truncated record" and a missing data file
as a bare path; a Spark read of a missing file ends in a JVM stack trace. On a local lake the
log and the files can be looked at directly, so the message says exactly what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

RECOVER = "see README, 'A damaged table'"


class DamagedTableError(RuntimeError):
    """A Delta table whose log or files are not what its log says."""


def _local(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else uri)
    return None


def _name(uri: str) -> str:
    """`layer/name`: the last two parts of the table's path."""
    return "/".join(uri.rstrip("/").split("/")[-2:])


def diagnose(uri: str) -> str | None:
    """What is wrong with a local table's log (a gap, a commit that does not parse), if anything."""
    root = _local(uri)
    log = root / "_delta_log" if root else None
    if log is None or not log.is_dir():
        return None
    commits = sorted(log.glob("*.json"))
    versions = [int(p.stem) for p in commits if p.stem.isdigit()]
    checkpoints = [int(p.name.split(".")[0]) for p in log.glob("*.checkpoint.parquet")]
    first = max([v for v in checkpoints if v <= max(versions, default=-1)], default=0)
    for expected in range(first, max(versions, default=-1) + 1):
        if expected not in versions:
            return f"commit {expected:020d}.json is missing (version {expected})"
    for path in commits:
        for line in path.read_text(errors="replace").splitlines():
            try:
                json.loads(line)
            except ValueError:
                return f"commit {path.name} (version {int(path.stem)}) is truncated or corrupt"
    return None


def open_table(uri: str, storage_options: Mapping[str, str] | None = None) -> DeltaTable:
    """The table, or a DamagedTableError naming the table and the damaged commit."""
    try:
        return DeltaTable(uri, storage_options=dict(storage_options) if storage_options else None)
    except DeltaError as err:
        found = diagnose(uri)
        if found is None:
            raise
        raise DamagedTableError(f"table {_name(uri)} cannot be opened: {found}; {RECOVER}") from err


def missing_file(uri: str, version: int, error: OSError) -> DamagedTableError:
    """The error for a data file the log lists but the disk lacks (from a read's OSError)."""
    text = str(error).split("\n")[0]
    path = text.split("location ", 1)[-1].split(" not found", 1)[0]
    return DamagedTableError(
        f"table {_name(uri)} version {version} lists {Path(path).name}, which is missing "
        f"({path}); {RECOVER}"
    )


def unreadable_file(uri: str, error: Exception) -> DamagedTableError | None:
    """The error for a data file that is there but is not Parquet (delta-rs names it by a path
    without its leading slash, and no table); None when `error` is something else."""
    text = str(error)
    marker = "Failed to fetch metadata for file "
    if "Parquet error" not in text or marker not in text:
        return None
    path = text.split(marker, 1)[1].split(":", 1)[0].strip()
    try:
        version = f" version {DeltaTable(uri).version()}"
    except DeltaError:
        version = ""
    return DamagedTableError(
        f"table {_name(uri)}{version}: data file {Path(path).name} is not readable Parquet "
        f"({text.split(marker, 1)[1].split(':', 1)[-1].strip()[:200]}); {RECOVER}"
    )


_SPARK_FILE = re.compile(r"\[(FAILED_READ_FILE[A-Z_.]*)\] [^\n]*?file (file:\S+?\.parquet)")


def spark_read_error(message: str) -> str | None:
    """A Spark read of a damaged data file, said as the table and the file (Spark names only a
    path and an error class); None when `message` is about something else."""
    found = _SPARK_FILE.search(message)
    if not found:
        return None
    path = PurePosixPath(unquote(urlparse(found.group(2)).path))
    folders = [part for part in path.parent.parts if "=" not in part]  # partition folders
    table = "/".join(folders[-2:])
    return (
        f"table {table}: data file {path.name} cannot be read by Spark ({found.group(1)}); "
        f"{RECOVER}"
    )


def check_files(uri: str, version: int, files: Iterable[str]) -> None:
    """Raise if a local data file the read is about to open does not exist."""
    for file in files:
        path = _local(file)
        if path is not None and not path.exists():
            raise DamagedTableError(
                f"table {_name(uri)} version {version} lists {path.name}, which is missing "
                f"({path}); {RECOVER}"
            )
