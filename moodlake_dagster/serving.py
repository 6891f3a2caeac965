"""Gold for dashboards: one DuckDB file a BI tool opens read-only, no query engine running.

Superset (docker/superset) reads it: every Gold table under `gold.<name>`, as `moodlake sql`
offers it (personal columns left out, checks/classification.py). The file is written beside
its place and renamed over it, so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import duckdb

from moodlake_dagster import sql
from moodlake_dagster.tables import TABLES

SCHEMA = "gold"
# The asset that writes the file (assets/serving.py), as builds select it.
ASSET_KEY = ("serving", "duckdb")


def export_gold(
    lake_root: str, target: Path, storage_options: Mapping[str, str] | None = None
) -> dict[str, int]:
    """Write every Gold table of the lake into the DuckDB file `target`: {table: rows}."""
    gold = {t.name for t in TABLES.values() if t.layer == SCHEMA}
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    source, names, _ = sql.connect(lake_root, storage_options)
    rows = {}
    try:
        source.execute(f"ATTACH '{partial}' AS serving")
        source.execute(f"CREATE SCHEMA serving.{SCHEMA}")
        for name in (n for n in names if n in gold):
            source.execute(f'CREATE TABLE serving.{SCHEMA}."{name}" AS SELECT * FROM "{name}"')
            rows[name] = source.execute(
                f'SELECT count(*) FROM serving.{SCHEMA}."{name}"'
            ).fetchone()[0]
        source.execute("DETACH serving")
        os.replace(partial, target)
    finally:
        source.close()
        partial.unlink(missing_ok=True)
    return rows


def table_rows(path: Path) -> dict[str, int]:
    """{table: rows} of a serving file, read-only (as a dashboard opens it)."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [SCHEMA]
        ).fetchall()
        return {
            n: con.execute(f'SELECT count(*) FROM {SCHEMA}."{n}"').fetchone()[0] for (n,) in names
        }
