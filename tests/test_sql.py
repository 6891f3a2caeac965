"""SQL over the lake by table name, answered by DuckDB over delta-rs (sql.py): what it sees,
what it refuses; on a small lake written here."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from moodlake_dagster import storage
from moodlake_dagster.sql import SqlError, lake_tables, query

DAY = dt.date(2025, 1, 31)


@pytest.fixture
def lake(tmp_path) -> str:
    root = str(tmp_path / "lake")
    users = pa.table(
        {
            "as_of_date": pa.array([DAY] * 3, pa.date32()),
            "user_id": ["u_a", "u_b", "u_c"],
            "plays": [10, 30, 20],
        }
    )
    storage.replace_range(
        storage.table_uri(root, "silver", "users"), users, column="as_of_date", start=DAY, end=DAY
    )
    mix = pa.table(
        {
            "as_of_date": pa.array([DAY] * 2, pa.date32()),
            "user_id": ["u_a", "u_a"],
            "genre": ["jazz", "pop"],
            "share": [0.25, 0.75],
        }
    )
    storage.replace_range(
        storage.table_uri(root, "gold", "genre_mix"), mix, column="as_of_date", start=DAY, end=DAY
    )
    events = pa.table({"play_date": pa.array([DAY], pa.date32()), "user_id": ["u_a"]})
    storage.replace_range(
        storage.table_uri(root, "bronze", "listening_events"),
        events,
        column="play_date",
        start=DAY,
        end=DAY,
    )
    return root


def test_silver_and_gold_tables_answer_by_name_bronze_stays_out(lake):
    assert sorted(lake_tables(lake)) == ["genre_mix", "users"]
    result = query(
        "SELECT u.user_id, u.plays, g.share FROM users u JOIN genre_mix g USING (user_id) "
        "WHERE g.genre = 'pop'",
        lake,
    )
    assert result.to_pylist() == [{"user_id": "u_a", "plays": 10, "share": 0.75}]
    ordered = query("SELECT user_id FROM users ORDER BY plays DESC", lake)
    assert ordered.column("user_id").to_pylist() == ["u_b", "u_c", "u_a"]


def test_only_one_read_only_select_runs(lake):
    for sql in ("DELETE FROM users", "SELECT 1; SELECT 2", "CREATE TABLE t AS SELECT 1"):
        with pytest.raises(SqlError, match=r"one SELECT .* at a time, read-only"):
            query(sql, lake)
    assert query("SELECT count(*) AS n FROM users", lake).to_pylist() == [{"n": 3}]


def test_an_error_names_the_tables_there_are(lake):
    with pytest.raises(SqlError) as err:
        query("SELECT * FROM listening_events", lake)
    assert "tables: genre_mix, users" in str(err.value)


def test_an_empty_lake_says_to_build_first(tmp_path):
    with pytest.raises(SqlError, match="no Silver or Gold tables under .*: run `moodlake build`"):
        query("SELECT 1", str(tmp_path / "lake"))


def test_the_trino_registration_is_written_from_the_catalog():
    from helpers import REPO

    from moodlake_dagster.sql import trino_registration
    from moodlake_dagster.tables import TABLES

    script = (REPO / "docker" / "trino" / "register_tables.sql").read_text()
    assert script == trino_registration()
    registered = {line.split("'")[3] for line in script.splitlines() if "register_table" in line}
    assert registered == {t.name for t in TABLES.values() if t.layer in ("silver", "gold")}
