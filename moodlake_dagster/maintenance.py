"""Keeping a lake healthy: small files compacted, the log checkpointed, old files vacuumed.

A table that a daily run appends to grows one small file per run; each commit adds one JSON to
its log. Compaction merges the files toward the target size, a checkpoint lets a reader open
the table without replaying every JSON, and vacuum deletes the files no version within the
retention still needs (time travel further back than that is given up, on purpose).

Hot and cold: a table partitioned by day (the snapshots by as-of day, the raw API responses by
request day) keeps its recent partitions as written, since a rerun or a poll may still replace
or add to them, and only partitions older than the hot window are compacted. The event tables
are not partitioned (see storage.py): delta-rs compacts a table by partition, and rewriting
chosen files by hand would be a data commit that makes every downstream asset rebuild, so they
are compacted whole, as before; a merged file is at most the target size, which bounds what a
rerun of a recent day rewrites.

Retention: rows of a table's days older than a setting are deleted (the raw Spotify API
responses; their plays stay in Bronze and Silver until those days are rebuilt, see the README);
their files go at the vacuum once past its retention.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from moodlake_dagster import storage
from moodlake_dagster.storage import TABLE_PROPERTIES

# The per-table columns worth a glance in the UI.
SHOWN = (
    "table",
    "live_files_before",
    "live_files_after",
    "data_bytes_on_disk_before",
    "data_bytes_on_disk_after",
    "log_files_before",
    "log_files_after",
    "files_vacuumed",
)
# The folders under the lake root that hold tables, in the order they are tidied.
LAYERS = ("bronze", "silver", "gold", "audit")


def tables(root: str) -> list[tuple[str, str]]:
    """(layer/name, uri) of every Delta table under a local lake root, in layer order."""
    found = []
    base = Path(root)
    for layer in LAYERS:
        folder = base / layer
        if folder.is_dir():
            for table in sorted(folder.iterdir()):
                if (table / "_delta_log").is_dir():
                    found.append((f"{layer}/{table.name}", str(table)))
    return found


@dataclass
class TableHealth:
    table: str
    version: int
    live_files: int
    live_bytes: int
    files_under_1mb: int
    # Every data file under the table's folder, live or not (None on an object store).
    data_bytes_on_disk: int | None
    log_files: int | None


@dataclass
class Tidied:
    before: TableHealth
    after: TableHealth
    files_compacted: int
    files_vacuumed: int
    # Partitions of this day and later were left as written (None: the whole table compacted).
    hot_since: dt.date | None = None

    @property
    def summary(self) -> str:
        return (
            f"{self.before.live_files} → {self.after.live_files} live files, "
            f"{self.files_vacuumed} vacuumed"
        )


def health(name: str, uri: str, storage_options: Mapping[str, str] | None = None) -> TableHealth:
    table = DeltaTable(uri, storage_options=dict(storage_options or {}) or None)
    adds = pa.table(table.get_add_actions(flatten=True))
    sizes = adds.column("size_bytes").to_pylist() if adds.num_rows else []
    folder = Path(uri) if "://" not in uri else None
    on_disk = log = None
    if folder is not None and folder.is_dir():
        on_disk = sum(
            (Path(root) / f).stat().st_size
            for root, _, files in os.walk(folder)
            if "_delta_log" not in Path(root).parts
            for f in files
        )
        log = sum(1 for _ in (folder / "_delta_log").iterdir())
    return TableHealth(
        table=name,
        version=table.version(),
        live_files=len(sizes),
        live_bytes=sum(sizes),
        files_under_1mb=sum(1 for s in sizes if s < 1 << 20),
        data_bytes_on_disk=on_disk,
        log_files=log,
    )


def day_partition(table: DeltaTable) -> str | None:
    """The table's partition column when it is a single day (date) column, else None."""
    columns = list(table.metadata().partition_columns)
    if len(columns) != 1:
        return None
    field = pa.schema(table.schema().to_arrow()).field(columns[0])
    return columns[0] if pa.types.is_date32(field.type) else None


def tidy(
    name: str,
    uri: str,
    *,
    target_file_size: int,
    retention_hours: int,
    hot_since: dt.date | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> Tidied:
    """Compact, checkpoint, clean the log and vacuum one table; health before and after.

    With `hot_since`, a table partitioned by day compacts only its partitions before that day.
    """
    options = dict(storage_options or {}) or None
    before = health(name, uri, storage_options)
    table = DeltaTable(uri, storage_options=options)
    if table.metadata().configuration.get("delta.checkpointInterval") is None:
        table.alter.set_table_properties(TABLE_PROPERTIES)
    day = day_partition(table) if hot_since is not None else None
    cold = [(day, "<", hot_since.isoformat())] if day else None
    compacted = table.optimize.compact(partition_filters=cold, target_size=target_file_size)
    table = DeltaTable(uri, storage_options=options)
    table.create_checkpoint()
    table.cleanup_metadata()
    # Full: also the files no commit ever listed (a write killed before its commit, or one
    # refused for a concurrent commit), once past the retention like any other.
    vacuumed = table.vacuum(
        retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False, full=True
    )
    after = health(name, uri, storage_options)
    removed = int(compacted.get("numFilesRemoved", 0))
    return Tidied(before, after, removed, len(vacuumed), hot_since if day else None)


def expire(
    uri: str,
    column: str,
    before: dt.date,
    storage_options: Mapping[str, str] | None = None,
) -> int:
    """Delete the rows whose day `column` is before `before`; how many were deleted.

    The delete is a new version: the files stay for time travel until a vacuum past its
    retention removes them. No matching row, no commit.
    """
    if not storage.table_exists(uri, storage_options):
        return 0
    table = DeltaTable(uri, storage_options=dict(storage_options or {}) or None)
    result = table.delete(f"{column} < '{before.isoformat()}'")
    return int(result.get("num_deleted_rows", 0))


def as_rows(results: list[Tidied]) -> list[dict]:
    """One flat row per table, for metadata and the CLI."""
    rows = []
    for r in results:
        row = {"table": r.before.table}
        for when, h in (("before", r.before), ("after", r.after)):
            row |= {f"{k}_{when}": v for k, v in asdict(h).items() if k != "table"}
        rows.append(
            row
            | {
                "files_compacted": r.files_compacted,
                "files_vacuumed": r.files_vacuumed,
                "hot_since": r.hot_since.isoformat() if r.hot_since else None,
            }
        )
    return rows
