"""The dashboards' DuckDB file: Gold only, no personal column, and replaced whole or not at all."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from deltalake.exceptions import DeltaError

from moodlake_dagster import serving


def write(root, path: str, rows: dict) -> None:
    write_deltalake(f"{root}/{path}", pa.table(rows), mode="overwrite")


@pytest.fixture
def lake(tmp_path):
    root = tmp_path / "lake"
    write(
        root,
        "gold/mood_by_hour",
        {"user_id": ["u1", "u2"], "local_hour": [7, 22], "username": ["alice", "bob"]},
    )
    write(root, "gold/genre_mix", {"genre": ["jazz"], "share": [1.0]})
    write(root, "silver/users", {"user_id": ["u1", "u2"]})
    return str(root)


def test_every_gold_table_is_served_without_its_personal_columns(lake, tmp_path):
    target = tmp_path / "serving" / "moodlake.duckdb"
    assert serving.export_gold(lake, target) == {"genre_mix": 1, "mood_by_hour": 2}
    assert serving.table_rows(target) == {"genre_mix": 1, "mood_by_hour": 2}
    with duckdb.connect(str(target), read_only=True) as con:
        columns = con.execute("SELECT * FROM gold.mood_by_hour").fetchall()
        names = [d[0] for d in con.description]
        assert names == ["user_id", "local_hour"] and "alice" not in str(columns)
        schemas = {
            s
            for (s,) in con.execute(
                "SELECT DISTINCT table_schema FROM information_schema.tables"
            ).fetchall()
        }
        assert schemas == {"gold"}  # Silver stays in the lake


def test_a_reader_keeps_the_file_it_opened_and_the_next_sees_the_new_one(lake, tmp_path):
    target = tmp_path / "moodlake.duckdb"
    serving.export_gold(lake, target)
    reader = duckdb.connect(str(target), read_only=True)
    write(lake, "gold/genre_mix", {"genre": ["jazz", "rock"], "share": [0.5, 0.5]})
    serving.export_gold(lake, target)
    assert reader.execute("SELECT count(*) FROM gold.genre_mix").fetchone() == (1,)
    reader.close()
    assert serving.table_rows(target)["genre_mix"] == 2


def test_a_failed_export_leaves_the_last_file_as_it_was(lake, tmp_path):
    target = tmp_path / "moodlake.duckdb"
    serving.export_gold(lake, target)
    before = target.read_bytes()
    (
        tmp_path / "lake" / "gold" / "genre_mix" / "_delta_log" / "00000000000000000000.json"
    ).write_text("{")
    with pytest.raises(DeltaError):
        serving.export_gold(lake, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["moodlake.duckdb"]
