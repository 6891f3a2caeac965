"""SQL over the lake: every Silver and Gold Delta table by name, answered locally by DuckDB.

Tables are read through delta-rs as Arrow datasets (the table's current version, its active
files only), so DuckDB sees exactly what Spark and the assets see, with filters pushed down to
the Parquet files. Nothing is copied and no server runs.

A view offers a table's `low` and `medium` columns (checks/classification.py); its `high` ones,
and any not yet classified, are left out unless `include_personal` is given, and every query
that includes them is recorded in the audit trail (`audit/events`).

    from moodlake_dagster.sql import query
    query("SELECT day_part, avg(avg_valence) FROM listening_by_daypart GROUP BY 1", lake_root)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

from moodlake_dagster import audit, storage
from moodlake_dagster.checks.classification import is_personal
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


def connect(
    lake_root: str,
    storage_options: Mapping[str, str] | None = None,
    *,
    include_personal: bool = False,
):
    """A DuckDB connection with every lake table registered as a view of its name, its
    personal columns left out unless `include_personal`; with the names and, per table, the
    columns withheld."""
    tables = lake_tables(lake_root, storage_options)
    paths = {t.name: t.path for t in TABLES.values() if t.layer in LAYERS}
    con = duckdb.connect()
    withheld: dict[str, list[str]] = {}
    for name, uri in tables.items():
        dataset = DeltaTable(uri, storage_options=dict(storage_options or {})).to_pyarrow_dataset()
        personal = [c for c in dataset.schema.names if is_personal(paths[name], c)]
        if personal and not include_personal:
            offered = [field for field in dataset.schema if field.name not in personal]
            dataset = dataset.replace_schema(pa.schema(offered))  # reads only those columns
            withheld[name] = personal
        con.register(name, dataset)
    return con, sorted(tables), withheld


def run(
    sql: str,
    lake_root: str,
    storage_options: Mapping[str, str] | None = None,
    *,
    include_personal: bool = False,
) -> tuple[pa.Table, dict[str, list[str]]]:
    """Run one SELECT over the lake; the lake is written by its assets, never through SQL.

    Returns the result and the personal columns withheld from the tables the query names;
    with `include_personal` none are, and the query is recorded in the audit trail."""
    con, names, withheld = connect(lake_root, storage_options, include_personal=include_personal)
    if not names:
        raise SqlError(f"no Silver or Gold tables under {lake_root}: run `moodlake build` first")
    named = {t: cols for t, cols in withheld.items() if re.search(rf"\b{t}\b", sql, re.I)}
    listing = f"tables: {', '.join(names)}"
    try:
        statements = con.extract_statements(sql)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise SqlError(f"one SELECT (or WITH … SELECT) at a time, read-only\n{listing}")
        result = con.sql(sql).to_arrow_table()
    except duckdb.Error as err:
        hint = f"\n{withheld_note(named)}" if named else ""
        raise SqlError(f"{type(err).__name__}: {err}\n{listing}{hint}") from err
    finally:
        con.close()
    if include_personal:
        audit.record_event(
            lake_root,
            "sql_include_personal",
            rows=result.num_rows,
            detail=sql[:500],
            storage_options=storage_options,
        )
    return result, named


def query(
    sql: str,
    lake_root: str,
    storage_options: Mapping[str, str] | None = None,
    *,
    include_personal: bool = False,
) -> pa.Table:
    """Run one SELECT over the lake (see `run`): its result."""
    return run(sql, lake_root, storage_options, include_personal=include_personal)[0]


def withheld_note(withheld: Mapping[str, list[str]]) -> str:
    """One line naming the personal columns left out, and how to see them."""
    columns = ", ".join(f"{t}.{c}" for t, cols in sorted(withheld.items()) for c in cols)
    return (
        f"personal columns withheld (high or unclassified): {columns}; --include-personal "
        "shows them and logs the query in audit/events"
    )


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
