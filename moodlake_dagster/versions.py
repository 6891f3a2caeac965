"""Has a table gone back? Each write tells Dagster the Delta version it left
(`fingerprints.WRITTEN_VERSION` in the materialization's metadata); a reader compares that with
the table's own latest data commit. A table at an older version than its last write lost its
newest commit — a deleted log file, a folder restored from an older copy — and a reader would
otherwise answer from the previous build's rows without a word."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from moodlake_dagster import fingerprints
from moodlake_dagster.tables import Table


def recorded_versions(dagster_home: Path, tables: Iterable[Table]) -> dict[str, int]:
    """The version each table's latest materialization recorded (tables without one left out);
    no instance there yet: none."""
    if not (dagster_home / "dagster.yaml").exists() and not (dagster_home / "storage").exists():
        return {}
    from moodlake_dagster.event_log import instance_at

    found = {}
    with instance_at(dagster_home) as instance:
        for table in tables:
            event = instance.get_latest_materialization_event(table.key)
            materialization = event.asset_materialization if event else None
            entry = materialization.metadata.get(fingerprints.WRITTEN_VERSION) if event else None
            if entry is not None and entry.value is not None:
                found[table.path] = int(entry.value)
    return found


def gone_back(lake_root: str, recorded: dict[str, int], storage_options=None) -> list[str]:
    """One line per table whose latest data commit is older than its last recorded write."""
    lines = []
    for path, written in sorted(recorded.items()):
        now = fingerprints.data_version(f"{lake_root.rstrip('/')}/{path}", storage_options)
        if now is None or now < written:
            at = "is gone" if now is None else f"is at version {now}"
            lines.append(
                f"{path}: the last build wrote version {written}, the table {at}: its newest "
                f"commit is missing, so it answers from an older build; "
                f"`moodlake build --select {path} --force` rewrites it"
            )
    return lines
