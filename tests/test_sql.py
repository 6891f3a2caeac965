"""SQL over the lake by table name, answered by DuckDB over delta-rs (sql.py): what it sees,
what it refuses; on a small lake written here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

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


def test_high_columns_are_withheld_unless_asked_and_asking_is_audited(lake, monkeypatch, capsys):
    """A high column (an identity field, were one ever to reach silver/users) is left out of
    the view; --include-personal shows it and records the query in audit/events."""
    from deltalake import DeltaTable

    from moodlake_dagster import cli
    from moodlake_dagster.checks.classification import classify

    assert classify("silver/users", "email") == "high"
    profiles = pa.table(
        {
            "as_of_date": pa.array([DAY] * 2, pa.date32()),
            "user_id": ["u_a", "u_b"],
            "plays": [10, 30],
            "email": ["a@example.org", "b@example.org"],
        }
    )
    uri = storage.table_uri(lake, "silver", "users")
    storage.replace_range(uri, profiles, column="as_of_date", start=DAY, end=DAY)
    monkeypatch.setenv("MOODLAKE_HOME", str(Path(lake).parent / "home"))
    monkeypatch.setenv("MOODLAKE_LAKE", lake)
    offered = query("SELECT * FROM users", lake).column_names
    assert sorted(offered) == ["as_of_date", "plays", "user_id"]
    with pytest.raises(SqlError, match=r"(?s)email.*withheld.*--include-personal"):
        query("SELECT email FROM users", lake)

    events = Path(lake) / "audit" / "events"
    assert cli.main(["sql", "--format", "csv", "SELECT * FROM users ORDER BY user_id"]) == 0
    out, err = capsys.readouterr()
    assert "email" not in out and sorted(out.splitlines()[0].split(",")) == sorted(offered)
    assert "withheld" in err and "users.email" in err and "--include-personal" in err
    assert not events.exists()  # nothing personal shown: nothing to record

    query_text = "SELECT user_id, email FROM users ORDER BY user_id  -- " + "x" * 600
    assert cli.main(["sql", "--format", "csv", "--include-personal", query_text]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["user_id,email", "u_a,a@example.org", "u_b,b@example.org"]
    assert "withheld" not in err and "audit/events" in err
    logged = DeltaTable(str(events)).to_pandas()
    assert len(logged) == 1
    row = logged.iloc[0]
    assert row["action"] == "sql_include_personal"
    assert row["detail"] == query_text[:500] and row["rows"] == 2
