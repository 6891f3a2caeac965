"""A build with nothing new writes nothing: each write records what it was made from.

Every table an asset writes carries, in its Delta commit, a fingerprint of its inputs: the day
range, the content version of each table it reads, the source files' names, sizes and times,
the settings and the code. When a run's fingerprint equals the one recorded by the table's
latest data commit, the asset writes nothing and says so; an unchanged table keeps its version,
so everything downstream of it is unchanged too. Compaction and vacuum change no content and
do not count. `moodlake build --force` (the `moodlake/force` run tag) writes regardless.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

from deltalake import DeltaTable

INPUTS = "moodlake.inputs"
# A part of a table made from fewer inputs than the whole, fingerprinted on its own (a part
# whose inputs did not change is carried over from the table's latest snapshot).
PART = "moodlake.part."
# The materialization metadata key holding the Delta version a write left (versions.py).
WRITTEN_VERSION = "delta_version"
FORCE_TAG = "moodlake/force"
# Operations that change what a table holds (compaction, vacuum and properties do not).
DATA_OPERATIONS = {"WRITE", "DELETE", "MERGE", "UPDATE", "CREATE TABLE", "CREATE OR REPLACE TABLE"}
# How far back in a table's log to look for its latest data commit.
HISTORY_DEPTH = 100
# Settings that say how a build runs, not what it writes.
RUNTIME_SETTINGS = {
    "lake_root",  # where the tables live, not what they hold
    "spark_remote",
    "spark_port",
    "spark_master",
    "spark_driver_memory",
    "spark_idle_stop_s",
    "landing_settle_s",
    "landing_patience_s",
    "spotify_client_id",
    "spotify_client_secret",
    "spotify_redirect_uri",
    "spotify_max_wait_s",
    "spotify_request_spacing_s",
    "serve_port",  # where `moodlake serve` listens
    # Housekeeping: how files are laid out and kept, never which rows a table holds.
    "target_file_mb",
    "vacuum_retention_hours",
    "hot_days",
    "api_response_retention_days",
    "pseudonym_key",  # its hash is part of the settings fingerprint instead
    "crowd",  # what the demo generates: its files are fingerprinted as landing files
}


def digest(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# Modules that shape how MoodLake talks to people, not what its tables hold.
NOT_TABLE_CODE = {
    "cli.py",
    "build_summary.py",
    "reports.py",
    "sql.py",
    "ui_processes.py",
    "sensors",
    # Around the tables, never in them: locks and runs, the listener page, rights requests.
    "build_lock.py",
    "runs.py",
    "serve",
    "privacy",
    "privacy_cli.py",
    "playlist_cli.py",
    "versions.py",
}


@cache
def code_version() -> str:
    """A hash of the source that writes tables: new code rebuilds what it writes."""
    root = Path(__file__).resolve().parent
    tables_code = (
        p for p in root.rglob("*.py") if p.relative_to(root).parts[0] not in NOT_TABLE_CODE
    )
    return _sources_hash(root, tables_code)


def _sources_hash(root: Path, paths: Iterable[Path]) -> str:
    """A short hash of source files' names (under `root`) and contents, in any order."""
    sha = hashlib.sha256()
    for path in sorted(paths):
        sha.update(path.relative_to(root).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def settings_fingerprint(settings) -> str:
    values = {k: v for k, v in settings.model_dump().items() if k not in RUNTIME_SETTINGS}
    values["pseudonym_key"] = hashlib.sha256(settings.resolved_pseudonym_key()).hexdigest()
    return digest(values)


def _latest_data_commit(uri: str, storage_options: Mapping[str, str] | None) -> dict | None:
    """The commit info of the table's latest commit that changed its content (None: none)."""
    options = dict(storage_options or {}) or None
    if not DeltaTable.is_deltatable(uri, storage_options=options):
        return None
    history = DeltaTable(uri, storage_options=options).history(HISTORY_DEPTH)
    return next((c for c in history if c.get("operation") in DATA_OPERATIONS), None)


def data_version(uri: str, storage_options: Mapping[str, str] | None = None) -> int | None:
    """The version of the table's latest data commit (None: no table)."""
    commit = _latest_data_commit(uri, storage_options)
    return int(commit["version"]) if commit else None


def recorded(
    uri: str, storage_options: Mapping[str, str] | None = None, key: str = INPUTS
) -> str | None:
    """The fingerprint (`key`) the table's latest data commit recorded, if it recorded one."""
    commit = _latest_data_commit(uri, storage_options)
    return commit.get(key) if commit else None


def files_fingerprint(files: Iterable) -> str:
    """Source files by name, size and modification time (content hashing is not needed: a
    changed file gets a new time)."""
    return digest(sorted((str(f[0]), int(f[1]), int(f[2])) for f in files))


PACKAGE = "moodlake_dagster"


def _module_files(root: Path, dotted: str) -> list[Path]:
    """The file of a module of this package and the `__init__.py` of each package above it
    (all run on import); none for a name that is not a module (an imported function)."""
    parts = dotted.split(".")[1:]
    if not parts:
        return [root / "__init__.py"]
    base = root.joinpath(*parts)
    found = [f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()]
    if not found:
        return []
    inits = [root.joinpath(*parts[:i], "__init__.py") for i in range(len(parts))]
    return [*found, *(f for f in inits if f.is_file())]


def _package_imports(path: Path) -> set[str]:
    """The modules of this package a source file imports, anywhere in it (a name imported
    from a package may be a submodule: both are tried)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.ImportFrom) and node.level:
            # Followed, it would need the importer's package; unfollowed, a cache keyed by
            # this hash could outlive a change to what it imports.
            raise ValueError(f"{path}: a relative import; the package imports absolutely")
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] == PACKAGE:
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
    return found


def source_version(*modules: str, root: Path | None = None) -> str:
    """A hash of these modules' source and of every module of the package they import, at any
    depth: what a cache of their results (the landing files' summaries) must be keyed by, so
    that a change elsewhere in the package does not throw it away."""
    root = root or Path(__file__).resolve().parent
    seen: set[Path] = set()
    todo = list(modules)
    while todo:
        for path in _module_files(root, todo.pop()):
            if path not in seen:
                seen.add(path)
                todo += _package_imports(path)
    return _sources_hash(root, seen)
