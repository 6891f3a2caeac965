"""Pandera checks fail on corrupt data, report counts and examples, and block downstream."""

from __future__ import annotations

import csv
import re

import dagster as dg
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
from helpers import CATALOG_SAMPLE, make_settings
from pandera.typing import Series

from moodlake_dagster.assets.bronze import catalog_tracks
from moodlake_dagster.assets.silver import tracks
from moodlake_dagster.checks import unique_keys, validate, validate_arrow, validate_batches
from moodlake_dagster.checks.schemas import GenreMix, Plays
from moodlake_dagster.resources import build_resources


def test_corrupt_frame_fails_with_counts_and_examples():
    frame = pd.DataFrame(
        {
            "user_id": ["u_0123456789abcdef", "u_0123456789abcdef"],
            "genre": ["jazz", "pop"],
            "plays": [3.0, 1.0],
            "share": [0.9, 0.9],  # shares sum to 1.8
        }
    )
    result = validate(GenreMix, frame)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["failure_count"].value >= 1
    assert "shares must sum to 1" in result.metadata["examples"].value


def test_plays_model_rejects_broken_resolution_and_hours():
    frame = pd.DataFrame(
        {
            "play_date": ["2024-01-01"],
            "play_id": ["a"],
            "user_id": ["u_0123456789abcdef"],
            "played_at_utc": pd.to_datetime(["2024-01-01T10:00:00Z"]).astype("datetime64[us, UTC]"),
            "local_hour": [25],
            "weekday": [3],
            "day_part": ["brunch"],
            "ms_played": [1],
            "skipped": [False],
            "skip_source": ["flag"],
            "completion": [0.5],
            "resolution": ["id"],
            "track_id": [None],
            "has_features": [False],
            "duplicates_merged": [0],
        }
    )
    result = validate(Plays, frame)
    failing = result.metadata["failing_checks"].value
    assert not result.passed
    assert any("less_than_or_equal_to(23)" in k for k in failing)
    assert any("isin" in k for k in failing)
    assert any("resolved plays need a track_id" in k for k in failing)


def test_corrupt_catalog_fails_the_blocking_check_and_silver_does_not_run(tmp_path, spark_url):
    with CATALOG_SAMPLE.open(newline="") as source:
        rows = list(csv.reader(source))[:50]
    rows[0] = [c.replace("energy", "power") for c in rows[0]]
    corrupt = tmp_path / "corrupt.csv"
    with corrupt.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    settings = make_settings(
        tmp_path / "home", tmp_path / "landing", spark_url, MOODLAKE_CATALOG=str(corrupt)
    )
    result = dg.materialize(
        [catalog_tracks, tracks],
        resources=build_resources(settings),
        partition_key="2024-01-01",
        raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(),
    )
    [check] = result.get_asset_check_evaluations()
    assert (check.asset_key.path, check.passed) == (["bronze", "catalog_tracks"], False)
    assert "no row of" in check.metadata["reason"].value
    materialized = [e.asset_key.path for e in result.get_asset_materialization_events()]
    assert materialized == [["bronze", "catalog_tracks"]]  # silver/tracks was blocked
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["rows_quarantined"].value == 49 and meta["rows_landed"].value == 0
    assert "lacks required column(s) energy" in meta["quarantine_examples"].value


class _Counted(pandera.DataFrameModel):
    id: Series[int] = pandera.Field(unique=True)
    share: Series[float] = pandera.Field(ge=0, le=1)


def test_a_table_read_in_batches_is_checked_whole():
    """Failures keep the row numbers of the whole table; a uniqueness counted across it (by
    Spark) fails the check like any other rule; a clean table read in batches passes."""
    batches = [
        pd.DataFrame({"id": [1, 2, 3], "share": [0.1, 0.2, 0.3]}),
        pd.DataFrame({"id": [4, 5], "share": [0.4, 1.5]}),
        pd.DataFrame({"id": [6], "share": [0.6]}),
    ]
    assert unique_keys(_Counted) == [("id",)]
    bad = validate_batches(_Counted, iter(batches), duplicates={"id": 2})
    assert not bad.passed and bad.metadata["rows_checked"].value == 6
    assert bad.metadata["failure_count"].value == 2
    failing = bad.metadata["failing_checks"].value
    assert failing == {"less_than_or_equal_to(1)": 1, "field_uniqueness (across the table)": 1}
    row = r"\| share\s+\| less_than_or_equal_to\(1\)\s+\| 1.5\s+\| 4\s+\|"
    assert re.search(row, bad.metadata["examples"].value)  # row 4 of the table, not of its batch
    assert list(batches[1].index) == [0, 1]  # the batches themselves are left as they were
    good = validate_batches(_Counted, iter(batches[:1] + batches[2:]), duplicates={"id": 0})
    assert good.passed and good.metadata["rows_checked"].value == 4


class _Keyed(pandera.DataFrameModel):
    user_id: Series[str]
    session_no: Series[int]

    class Config:
        unique = ["user_id", "session_no"]


def test_columns_unique_together_are_counted_across_the_slices():
    """A key the model's Config names unique together, repeated in two slices: one slice
    cannot see it, the count across the table does."""
    frame = pd.DataFrame({"user_id": ["a", "a", "b", "a"], "session_no": [1, 2, 1, 1]})
    assert unique_keys(_Keyed) == [("user_id", "session_no")]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sliced = validate_arrow(_Keyed, table, rows=2)
    assert not sliced.passed
    assert sliced.metadata["failing_checks"].value == {"field_uniqueness (across the table)": 1}
    assert "user_id, session_no" in sliced.metadata["examples"].value
    assert validate_arrow(_Keyed, table.slice(0, 3), rows=1).passed


def test_an_arrow_table_checked_in_slices_finds_what_the_whole_frame_check_finds():
    """Bronze checks the range it holds in Arrow a slice at a time: the same failures, at the
    same rows, as one check of the whole frame; a value repeated in two slices still fails."""
    frame = pd.DataFrame({"id": [1, 2, 3, 4, 5, 2], "share": [0.1, 0.2, 0.3, 0.4, 1.5, 0.6]})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sliced = validate_arrow(_Counted, table, rows=2)
    whole = validate(_Counted, frame)
    assert not sliced.passed and sliced.metadata["rows_checked"].value == 6
    assert sliced.metadata["failing_checks"].value == {
        "less_than_or_equal_to(1)": 1,
        "field_uniqueness (across the table)": 1,
    }
    assert whole.metadata["failing_checks"].value["less_than_or_equal_to(1)"] == 1
    row = r"\| share\s+\| less_than_or_equal_to\(1\)\s+\| 1.5\s+\| 4\s+\|"
    assert re.search(row, sliced.metadata["examples"].value)  # row 4 of the table
    assert validate_arrow(_Counted, table.slice(0, 4), rows=2).passed  # clean rows pass
    empty = validate_arrow(_Counted, pa.table({"id": pa.array([], pa.int64())}))
    assert not empty.passed  # an empty table is still checked for its columns


def test_a_table_of_many_small_chunks_is_checked_in_slices_of_the_rows_asked(monkeypatch):
    """Bronze's table holds a chunk per landing file: it is checked in slices of `rows` rows,
    not one Pandera call per chunk (each call has a fixed cost), and finds the same rows."""
    from moodlake_dagster import checks

    frame = pd.DataFrame({"id": [1, 2, 3, 4, 5, 2], "share": [0.1, 0.2, 0.3, 0.4, 1.5, 0.6]})
    chunks = [frame.iloc[i : i + 1] for i in range(len(frame))]
    table = pa.Table.from_batches(
        [pa.RecordBatch.from_pandas(c, preserve_index=False) for c in chunks]
    )
    assert table.num_rows == 6 and len(table.to_batches()) == 6
    sizes, real = [], checks.validate_batches

    def counted(model, slices, **kwargs):
        slices = list(slices)
        sizes.append([len(s) for s in slices])
        return real(model, iter(slices), **kwargs)

    monkeypatch.setattr(checks, "validate_batches", counted)
    sliced = validate_arrow(_Counted, table, rows=4)
    assert sizes == [[4, 2]]
    assert sliced.metadata["failing_checks"].value == {
        "less_than_or_equal_to(1)": 1,
        "field_uniqueness (across the table)": 1,
    }
    row = r"\| share\s+\| less_than_or_equal_to\(1\)\s+\| 1.5\s+\| 4\s+\|"
    assert re.search(row, sliced.metadata["examples"].value)  # row 4 of the table
