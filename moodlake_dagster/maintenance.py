"""Keeping a lake healthy: small files compacted, the log checkpointed, old files vacuumed.

A table that a daily run appends to grows one small file per run; each commit adds one JSON to
its log. Compaction merges the files toward the target size, a checkpoint lets a reader open
the table without replaying every JSON, and vacuum deletes the files no version within the
retention still needs (time travel further back than that is given up, on purpose).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

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


def tables(root: str) -> list[tuple[str, str]]:
    """(layer/name, uri) of every Delta table under a local lake root, in layer order."""
    found = []
    base = Path(root)
    for layer in ("bronze", "silver", "gold"):
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


def tidy(
    name: str,
    uri: str,
    *,
    target_file_size: int,
    retention_hours: int,
    storage_options: Mapping[str, str] | None = None,
) -> Tidied:
    """Compact, checkpoint, clean the log and vacuum one table; health before and after."""
    options = dict(storage_options or {}) or None
    before = health(name, uri, storage_options)
    table = DeltaTable(uri, storage_options=options)
    if table.metadata().configuration.get("delta.checkpointInterval") is None:
        table.alter.set_table_properties(TABLE_PROPERTIES)
    compacted = table.optimize.compact(target_size=target_file_size)
    table = DeltaTable(uri, storage_options=options)
    table.create_checkpoint()
    table.cleanup_metadata()
    vacuumed = table.vacuum(
        retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False
    )
    after = health(name, uri, storage_options)
    return Tidied(before, after, int(compacted.get("numFilesRemoved", 0)), len(vacuumed))


def as_rows(results: list[Tidied]) -> list[dict]:
    """One flat row per table, for metadata and the CLI."""
    rows = []
    for r in results:
        row = {"table": r.before.table}
        for when, h in (("before", r.before), ("after", r.after)):
            row |= {f"{k}_{when}": v for k, v in asdict(h).items() if k != "table"}
        rows.append(
            row | {"files_compacted": r.files_compacted, "files_vacuumed": r.files_vacuumed}
        )
    return rows
