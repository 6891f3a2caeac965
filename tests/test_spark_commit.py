"""Spark writes the data files, delta-rs commits them (`spark_commit.replace_range`).

Against the Arrow path (`storage.replace_range`) on the same rows: the same table content after
a first write and after replacing a range inside it, with the files that straddle the range's
edges rewritten; a snapshot table's days in their own folders, as delta-rs lays them out;
readers still skip files by statistics; a reader during a write sees the old
version or the new one; and a write killed before its commit is never visible, its files
cleared by a full vacuum.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

from moodlake_dagster import spark_commit, storage

DAY0 = dt.date(2024, 3, 1)


def plays(days: range, per_day: int, tag: str) -> pa.Table:
    """Rows over `days` (offsets from DAY0), with a timestamp, a float, a list and nulls."""
    dates = [DAY0 + dt.timedelta(days=d) for d in days for _ in range(per_day)]
    n = len(dates)
    return pa.table(
        {
            "play_date": pa.array(dates, pa.date32()),
            "played_at": pa.array(
                [
                    dt.datetime.combine(d, dt.time(i % 24), tzinfo=dt.UTC)
                    for i, d in enumerate(dates)
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "user_id": [f"{tag}-{i % 7}" for i in range(n)],
            "valence": [None if i % 11 == 0 else (i % 100) / 100 for i in range(n)],
            "genres": [["pop", tag] if i % 3 else [] for i in range(n)],
        }
    )


def content(uri: str) -> list[dict]:
    rows = DeltaTable(uri).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: (r["play_date"], r["played_at"], r["user_id"], str(r)))


def both(spark, tmp_path: Path, data: pa.Table, first: int, last: int, arrow_uri, spark_uri):
    start, end = DAY0 + dt.timedelta(days=first), DAY0 + dt.timedelta(days=last)
    storage.replace_range(arrow_uri, data, column="play_date", start=start, end=end)
    frame = (
        spark.createDataFrame(data) if data.num_rows else storage.empty_frame(spark, data.schema)
    )
    return spark_commit.replace_range(spark_uri, frame, column="play_date", start=start, end=end)


def test_same_content_as_the_arrow_path(spark, tmp_path):
    arrow_uri, spark_uri = str(tmp_path / "arrow"), str(tmp_path / "spark")
    first = plays(range(0, 30), 40, "first")
    assert both(spark, tmp_path, first, 0, 29, arrow_uri, spark_uri) == first.num_rows
    assert content(spark_uri) == content(arrow_uri)
    # Days 10-19 replaced: the files holding days on both sides are rewritten, keeping them.
    second = plays(range(10, 20), 25, "second")
    assert both(spark, tmp_path, second, 10, 19, arrow_uri, spark_uri) == second.num_rows
    after = content(spark_uri)
    assert after == content(arrow_uri)
    assert len(after) == 20 * 40 + 10 * 25
    outside = [r for r in after if not 10 <= (r["play_date"] - DAY0).days <= 19]
    assert {r["user_id"].split("-")[0] for r in outside} == {"first"}
    # An empty range replace removes the days' rows, as the Arrow path does.
    empty = plays(range(0), 0, "none")
    assert both(spark, tmp_path, empty, 25, 29, arrow_uri, spark_uri) == 0
    assert content(spark_uri) == content(arrow_uri)
    assert max(r["play_date"] for r in content(spark_uri)) == DAY0 + dt.timedelta(days=24)
    # Every data file in the table's folder is one the table lists, or one a commit removed.
    table = DeltaTable(spark_uri)
    assert all(Path(f.removeprefix("file://")).parent == Path(spark_uri) for f in table.file_uris())
    assert not (Path(spark_uri) / spark_commit.STAGING).exists() or not any(
        (Path(spark_uri) / spark_commit.STAGING).iterdir()
    )


def snapshot(day: int, rows: int, tag: str) -> pa.Table:
    """A day's snapshot rows (a Gold table's, keyed by `as_of_date`)."""
    return plays(range(day, day + 1), rows, tag).rename_columns(
        ["as_of_date", "played_at", "user_id", "valence", "genres"]
    )


def test_a_snapshot_table_keeps_its_day_folders_and_the_arrow_paths_content(spark, tmp_path):
    arrow_uri, spark_uri = str(tmp_path / "arrow"), str(tmp_path / "spark")
    for day, rows, tag in ((0, 30, "first"), (1, 20, "first"), (1, 12, "again"), (3, 0, "none")):
        data = snapshot(day, rows, tag)
        as_of = DAY0 + dt.timedelta(days=day)
        storage.replace_range(arrow_uri, data, column="as_of_date", start=as_of, end=as_of)
        frame = spark.createDataFrame(data) if rows else storage.empty_frame(spark, data.schema)
        written = spark_commit.replace_range(
            spark_uri, frame, column="as_of_date", start=as_of, end=as_of
        )
        assert written == rows
    ours, theirs = DeltaTable(spark_uri), DeltaTable(arrow_uri)
    assert ours.metadata().partition_columns == theirs.metadata().partition_columns
    assert ours.metadata().partition_columns == ["as_of_date"]
    key = ("as_of_date", "played_at", "user_id")
    rows = [
        sorted(t.to_pyarrow_table().to_pylist(), key=lambda r: tuple(r[k] for k in key))
        for t in (ours, theirs)
    ]
    assert rows[0] == rows[1]
    assert [r["user_id"].split("-")[0] for r in rows[0]].count("again") == 12  # day 1 replaced
    # Each file sits in its day's folder, without the day in its columns, and a reader that
    # asks for one day opens that day's files only.
    day1 = (DAY0 + dt.timedelta(days=1)).isoformat()
    for action in pa.table(ours.get_add_actions(flatten=True)).to_pylist():
        folder = action["path"].split("/")[0]
        assert folder == f"as_of_date={action['partition.as_of_date'].isoformat()}"
    files = ours.file_uris(partition_filters=[("as_of_date", "=", day1)])
    assert files and all(f"/as_of_date={day1}/" in f for f in files)
    assert all("as_of_date" not in pq.read_schema(f.removeprefix("file://")).names for f in files)
    # delta-rs writes the next day into the same table as if it had written every one.
    day2 = DAY0 + dt.timedelta(days=2)
    storage.replace_range(
        spark_uri, snapshot(2, 5, "arrow"), column="as_of_date", start=day2, end=day2
    )
    by_day = Counter(DeltaTable(spark_uri).to_pyarrow_table().column("as_of_date").to_pylist())
    assert by_day == {DAY0: 30, DAY0 + dt.timedelta(days=1): 12, day2: 5}


def test_statistics_let_readers_skip_files_and_row_groups(spark, tmp_path):
    uri = str(tmp_path / "stats")
    data = plays(range(0, 60), 400, "s")
    for first, last in ((0, 29), (30, 59)):  # two runs, as two days' builds would be
        part = data.filter(
            pc.and_(
                pc.greater_equal(data["play_date"], pa.scalar(DAY0 + dt.timedelta(days=first))),
                pc.less_equal(data["play_date"], pa.scalar(DAY0 + dt.timedelta(days=last))),
            )
        )
        spark_commit.replace_range(
            uri,
            spark.createDataFrame(part).repartition(3),  # unsorted, as a shuffle leaves rows
            column="play_date",
            start=DAY0 + dt.timedelta(days=first),
            end=DAY0 + dt.timedelta(days=last),
        )
    table = DeltaTable(uri)
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    assert len(actions) >= 2
    for action in actions:
        assert action["num_records"] > 0
        assert action["min.play_date"] <= action["max.play_date"]
        assert action["null_count.valence"] is not None
    later = storage.range_predicate(
        "play_date", DAY0 + dt.timedelta(days=45), DAY0 + dt.timedelta(days=45)
    )
    assert 0 < len(table.file_uris(file_pruning_predicate=later)) < len(actions)
    beyond = storage.range_predicate("play_date", dt.date(2030, 1, 1), dt.date(2030, 1, 2))
    assert table.file_uris(file_pruning_predicate=beyond) == []
    # Within a file rows go by day, so its row groups (8 MB, here small) can be skipped too.
    for uri_ in table.file_uris():
        days = pq.read_table(uri_.removeprefix("file://"), columns=["play_date"]).column(0)
        assert days.to_pylist() == sorted(days.to_pylist())
    stamps = pc.min_max(table.to_pyarrow_table().column("played_at")).as_py()
    assert stamps["min"] == pc.min(data.column("played_at")).as_py()


def test_a_reader_sees_the_old_version_or_the_new(spark, tmp_path):
    uri = str(tmp_path / "readers")
    old = plays(range(0, 20), 200, "old")
    spark_commit.replace_range(
        uri,
        spark.createDataFrame(old),
        column="play_date",
        start=DAY0,
        end=DAY0 + dt.timedelta(days=19),
    )
    new = plays(range(5, 15), 90, "new")
    expected_new = old.num_rows - 10 * 200 + new.num_rows
    seen, done = [], threading.Event()

    def read() -> None:
        while not done.is_set():
            rows = DeltaTable(uri).to_pyarrow_table(columns=["user_id"]).column("user_id")
            tags = {t.split("-")[0] for t in pc.unique(rows).to_pylist()}
            seen.append((len(rows), "new" in tags))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        spark_commit.replace_range(
            uri,
            spark.createDataFrame(new),
            column="play_date",
            start=DAY0 + dt.timedelta(days=5),
            end=DAY0 + dt.timedelta(days=14),
        )
        time.sleep(0.3)
    finally:
        done.set()
        reader.join()
    assert {count for count, _ in seen} <= {old.num_rows, expected_new}
    assert (old.num_rows, False) in seen and (expected_new, True) in seen
    assert all(has_new == (count == expected_new) for count, has_new in seen)


KILLED_WRITER = """
import datetime as dt, sys
from pyspark.sql import SparkSession
from moodlake_dagster import spark_commit
spark = SparkSession.builder.remote(sys.argv[2]).getOrCreate()
frame = spark.range(3_000_000).selectExpr(
    "date_add(date'2024-03-01', cast(id % 20 as int)) as play_date", "id as n",
    "repeat('x', 40) as pad")
spark_commit.replace_range(sys.argv[1], frame, column="play_date",
                           start=dt.date(2024, 3, 1), end=dt.date(2024, 3, 20))
"""


def test_a_write_killed_before_its_commit_is_never_seen(spark, spark_url, tmp_path):
    uri = str(tmp_path / "killed")
    before = spark.range(1000).selectExpr(
        "date_add(date'2024-03-01', cast(id % 20 as int)) as play_date",
        "id as n",
        "'kept' as pad",
    )
    spark_commit.replace_range(
        uri, before, column="play_date", start=DAY0, end=DAY0 + dt.timedelta(days=19)
    )
    version, rows = DeltaTable(uri).version(), content_count(uri)
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, uri, spark_url],
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    staging = Path(uri) / spark_commit.STAGING
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(staging.rglob("*.parquet")):
        assert writer.poll() is None, "the writer ended before its Spark job wrote a file"
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert list(staging.rglob("*.parquet")), "the Spark job never wrote a data file"
    time.sleep(5)  # let the server finish or drop the orphaned job's files
    table = DeltaTable(uri)
    assert table.version() == version
    assert content_count(uri) == rows
    listed = {Path(f.removeprefix("file://")) for f in table.file_uris()}
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False, full=True)
    left = {p for p in Path(uri).rglob("*.parquet")}
    assert left == listed  # the orphans are gone, every listed file is still there
    assert content_count(uri) == rows


def content_count(uri: str) -> int:
    return DeltaTable(uri).to_pyarrow_dataset().count_rows()
