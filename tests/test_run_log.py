"""Failures in one line on the terminal, their stack traces in the build's log file; a damaged
data file named with its table, whether delta-rs or Spark meets it."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from moodlake_dagster import cli, damaged, run_log, storage

DAY = dt.date(2024, 7, 21)


def plays(n: int) -> pa.Table:
    return pa.table({"play_date": pa.array([DAY] * n, pa.date32()), "n": pa.array(range(n))})


def garbage(uri: str) -> str:
    """Overwrite the table's one data file with bytes that are not Parquet; its name."""
    (path,) = DeltaTable(uri).file_uris()
    with open(path.removeprefix("file://"), "wb") as out:
        out.write(b"not parquet at all" * 100)
    return path.rsplit("/", 1)[-1]


def test_a_write_over_a_damaged_data_file_names_table_version_and_file(tmp_path):
    uri = str(tmp_path / "lake" / "silver" / "plays")
    storage.replace_range(uri, plays(5), column="play_date", start=DAY, end=DAY)
    name = garbage(uri)
    with pytest.raises(damaged.DamagedTableError) as raised:
        storage.replace_range(uri, plays(3), column="play_date", start=DAY, end=DAY)
    message = str(raised.value)
    assert message.startswith(f"table silver/plays version 1: data file {name} is not readable")
    assert damaged.RECOVER in message and "\n" not in message


def test_a_spark_read_of_a_damaged_data_file_is_said_as_its_table(tmp_path, spark):
    uri = str(tmp_path / "lake" / "silver" / "plays")
    storage.replace_range(uri, plays(5), column="play_date", start=DAY, end=DAY)
    name = garbage(uri)
    with pytest.raises(Exception) as raised:
        storage.spark_read(spark, uri).count()
    said = damaged.spark_read_error(str(raised.value))
    assert said is not None, str(raised.value)[:500]
    assert said.startswith(f"table silver/plays: data file {name} cannot be read by Spark")
    assert damaged.spark_read_error("some other error") is None


@dg.asset(key=["silver", "plays"])
def failing_plays(context) -> None:
    context.log.warning("landing/a.json, record 7: ms_played is negative\nsecond line")
    try:
        raise ValueError("Parquet error: the library's own words")
    except ValueError as err:
        raise damaged.DamagedTableError("table silver/plays version 3: file x is bad") from err


def test_the_terminal_gets_one_line_and_the_log_file_the_stack_trace(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [failing_plays], instance=instance, raise_on_error=False, run_config=run_log.QUIET
    )
    assert not result.success
    lines, ok = cli.summarize(result)
    assert not ok
    # The error MoodLake raised, not the library error under it, and one line of it.
    assert lines == [
        "  STEP FAILED: silver/plays: moodlake_dagster.damaged.DamagedTableError: "
        "table silver/plays version 3: file x is bad"
    ]
    told = run_log.records(instance, result.run_id)
    assert run_log.warnings(told) == [
        "  WARNING silver/plays: landing/a.json, record 7: ms_played is negative"
    ]
    log = run_log.log_path(tmp_path, dt.datetime(2026, 11, 30, 7, 45))
    run_log.write_run(log, told, result.run_id, "events")
    text = log.read_text()
    assert log.name == "build-20261130-074500.log"
    assert text.startswith(f"==== events: run {result.run_id}\n")
    assert "ms_played is negative" in text and "STEP_FAILURE" in text
    # The whole chain, with its stack traces: MoodLake's error and the library's beneath it.
    assert "DamagedTableError: table silver/plays version 3" in text
    assert "ValueError: Parquet error: the library's own words" in text
    assert "in failing_plays\n" in text and "raise damaged.DamagedTableError" in text


DAYS = dg.DailyPartitionsDefinition(start_date="2024-07-01")


@dg.asset(
    key=["silver", "plays"], partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run()
)
def ranged_plays(context) -> None:
    context.log.warning(f"{len(context.partition_keys)} days")


@pytest.mark.parametrize("kind", ["in memory", "sqlite"])
def test_a_ranged_run_is_told_without_its_per_day_bookkeeping(tmp_path, kind):
    instance = (
        dg.DagsterInstance.ephemeral()
        if kind == "in memory"
        else dg.DagsterInstance.local_temp(str(tmp_path))
    )
    tags = {
        "dagster/asset_partition_range_start": "2024-07-01",
        "dagster/asset_partition_range_end": "2024-07-10",
    }
    result = dg.materialize([ranged_plays], instance=instance, tags=tags)
    every = instance.all_logs(result.run_id)
    per_day = [r for r in every if r.dagster_event_type in run_log.PER_DAY]
    assert len(per_day) == 20  # one planned and one materialization for each of ten days
    told = run_log.records(instance, result.run_id)
    assert told == [r for r in every if r.dagster_event_type not in run_log.PER_DAY]
    assert run_log.warnings(told) == ["  WARNING silver/plays: 10 days"]
