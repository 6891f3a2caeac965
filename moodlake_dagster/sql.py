"""SQL over the lake: every Silver and Gold Delta table by name, answered locally by DuckDB.

Tables are read through delta-rs as Arrow datasets (the table's current version, its active
files only), so DuckDB sees exactly what Spark and the assets see, with filters pushed down to
the Parquet files. Nothing is copied and no server runs.

    from moodlake_dagster.sql import query
    query("SELECT day_part, avg(avg_valence) FROM listening_by_daypart GROUP BY 1", lake_root)
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

from moodlake_dagster import storage
from moodlake_dagster.tables import TABLES

LAYERS = ("silver", "gold")


class SqlError(ValueError):
    """A query that cannot run; the message names the problem and the tables there are."""


def lake_tables(lake_root: str, storage_options: Mapping[str, str] | None = None) -> dict:
    """{table name: uri} for every Silver and Gold table of the catalog that exists."""
    found = {}
    for table in TABLES.values():
        uri = storage.table_uri(lake_root, table.layer, table.name)
        if table.layer in LAYERS and storage.table_exists(uri, storage_options):
            found[table.name] = uri
    return dict(sorted(found.items()))


def connect(lake_root: str, storage_options: Mapping[str, str] | None = None):
    """A DuckDB connection with every lake table registered as a view of its name."""
    tables = lake_tables(lake_root, storage_options)
    con = duckdb.connect()
    for name, uri in tables.items():
        dataset = DeltaTable(uri, storage_options=dict(storage_options or {})).to_pyarrow_dataset()
        con.register(name, dataset)
    return con, sorted(tables)


def query(sql: str, lake_root: str, storage_options: Mapping[str, str] | None = None) -> pa.Table:
    """Run one SELECT over the lake; the lake is written by its assets, never through SQL."""
    con, names = connect(lake_root, storage_options)
    if not names:
        raise SqlError(f"no Silver or Gold tables under {lake_root}: run `moodlake build` first")
    listing = f"tables: {', '.join(names)}"
    try:
        statements = con.extract_statements(sql)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise SqlError(f"one SELECT (or WITH … SELECT) at a time, read-only\n{listing}")
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as err:
        raise SqlError(f"{type(err).__name__}: {err}\n{listing}") from err
    finally:
        con.close()


TRINO_HEADER = """\
-- Register every Silver and Gold table with Trino once (re-running is harmless: it fails
-- per table that already exists). Paths are inside the shared lake volume. Written from the
-- table catalog by `moodlake_dagster.sql.trino_registration()`; a test keeps it so.
"""


def trino_registration() -> str:
    """docker/trino/register_tables.sql: a schema per layer, then every catalog table of it."""
    lines = [
        f"CREATE SCHEMA IF NOT EXISTS delta.{layer} WITH (location = 'local:///{layer}');"
        for layer in LAYERS
    ]
    lines += [
        f"CALL delta.system.register_table('{t.layer}', '{t.name}', 'local:///{t.path}');"
        for layer in LAYERS
        for t in TABLES.values()
        if t.layer == layer
    ]
    return TRINO_HEADER + "\n".join(lines) + "\n"
