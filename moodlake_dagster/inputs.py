"""What a table's write is made from, as one fingerprint.

The asset that writes a table fingerprints its inputs — the tables it reads (from the catalog),
its source files, its settings, the code — and writes nothing when the table recorded the same
fingerprint (`fingerprints`); `moodlake build` asks the same question before a stage and
starts no run at all when every table of the stage would be left as it is — a ranged run over
years of day partitions costs minutes of Dagster bookkeeping even when no asset writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path

from moodlake_dagster import fingerprints, tables
from moodlake_dagster.ingest.landing_store import LandingStore
from moodlake_dagster.settings import Settings
from moodlake_dagster.tables import AS_OF, Table


def catalog_files(settings: Settings) -> str:
    return fingerprints.files_fingerprint(
        (p, p.stat().st_size, p.stat().st_mtime_ns) for p in settings.catalogs if p.is_file()
    )


def landing_files(settings: Settings) -> str:
    store = LandingStore.of(settings.landing)
    files = store.files() if store.exists() else []
    return fingerprints.files_fingerprint((f.relative, f.size, f.mtime_ns) for f in files)


def profile_files(settings: Settings) -> str:
    from moodlake_dagster.ingest.profiles import discover_profile_files

    landing = settings.landing
    files = discover_profile_files(landing) if isinstance(landing, Path) else []
    return fingerprints.files_fingerprint(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files
    )


# The tables made from files outside the lake, and how to fingerprint those files.
SOURCES: dict[str, Callable[[Settings], str]] = {
    tables.CATALOG_TRACKS.path: catalog_files,
    tables.LISTENING_EVENTS.path: landing_files,
    tables.BRONZE_PROFILES.path: profile_files,
}


def fingerprint(table: Table, lake, settings: Settings | None, start: dt.date, end: dt.date):
    """The fingerprint a write of `table` over [start, end] would record now.

    A table the same every day is fingerprinted by the snapshots its day would read instead of
    by its days: a later day reading the same ones finds its inputs unchanged."""
    sources = SOURCES.get(table.path)
    days = (
        {read.path: lake.snapshot_day(read, end) for read in table.reads if read.partition == AS_OF}
        if table.same_every_day
        else None
    )
    return lake.inputs(
        start,
        end,
        reads=table.reads,
        sources=sources(settings) if sources else None,
        settings=fingerprints.settings_fingerprint(settings) if table.shaped_by_settings else None,
        days=days,
    )


def unchanged(table: Table, lake, settings: Settings, start: dt.date, end: dt.date) -> bool:
    return lake.recorded(table) == fingerprint(table, lake, settings, start, end)


def stage_unchanged(lake, settings: Settings, written: Iterable[Table], start, end) -> bool:
    """True when every table a stage writes would find its inputs unchanged."""
    return all(unchanged(table, lake, settings, start, end) for table in written)
