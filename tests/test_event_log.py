"""The batched SQLite storage records what Dagster's own does, in far fewer transactions; only
a check's per-day planned rows give way to its evaluation."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import dagster as dg
import pytest
import sqlalchemy as db
from dagster import EventLogEntry
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster_shared.serdes import deserialize_value
from helpers import REPO

from moodlake_dagster import event_log
from moodlake_dagster.assets.common import metadata_on_last_day

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")
RANGE = {
    "dagster/asset_partition_range_start": "2024-01-01",
    "dagster/asset_partition_range_end": "2024-02-29",
}


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def days_read(context) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(), deps=[days_read])
def days_failed(context) -> None:
    raise RuntimeError("a step that fails: its planned days must show as failed")


@dg.asset_check(asset=days_read)
def days_read_check() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=days_failed)
def days_failed_check() -> dg.AssetCheckResult:
    """Never evaluated (its asset's step fails): its planned rows stay as they were written."""
    return dg.AssetCheckResult(passed=True)


def instance_at(path, batched: bool) -> dg.DagsterInstance:
    path.mkdir()
    if batched:
        shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")
        return event_log.instance_at(path)
    return dg.DagsterInstance.from_config(str(path))


def check_rows(instance: dg.DagsterInstance, asset: str) -> list[tuple]:
    """An asset's rows in the check executions table, each with what its event says."""
    table = AssetCheckExecutionsTable
    query = db.select(
        table.c.partition,
        table.c.execution_status,
        table.c.evaluation_event,
        table.c.evaluation_event_timestamp,
        table.c.evaluation_event_storage_id,
    ).where(table.c.asset_key == dg.AssetKey(asset).to_string())
    with instance.event_log_storage.index_connection() as conn:
        rows = conn.execute(query).fetchall()
    said = []
    for day, status, event, timestamp, storage_id in rows:
        entry = deserialize_value(event, EventLogEntry)
        data = entry.get_dagster_event().event_specific_data
        # Stored as naive UTC.
        stamped = timestamp.replace(tzinfo=dt.UTC).timestamp() == pytest.approx(entry.timestamp)
        said.append(
            (day or "", status, entry.dagster_event_type.value, data.check_name, stamped)
            + (storage_id is not None,)
        )
    return sorted(said)


def what_is_recorded(instance: dg.DagsterInstance, run_id: str) -> dict:
    """Everything a reader of the instance sees of a ranged run, without ids and times."""
    kinds = dg.DagsterEventType
    storage = instance.event_log_storage
    records = instance.get_records_for_run(run_id).records
    return {
        "events": sorted(
            (r.event_log_entry.dagster_event_type.value, r.event_log_entry.step_key or "")
            for r in records
            if r.event_log_entry.is_dagster_event
        ),
        "materialized": {
            key: instance.get_materialized_partitions(dg.AssetKey(key))
            for key in ("days_read", "days_failed")
        },
        "failed": {
            key: sorted(
                storage.get_latest_asset_partition_materialization_attempts_without_materializations(
                    dg.AssetKey(key)
                )
            )
            for key in ("days_read", "days_failed")
        },
        "planned": len(
            instance.fetch_planned_materializations(dg.AssetKey("days_read"), limit=1000).records
        ),
        "latest": instance.get_latest_materialization_event(
            dg.AssetKey("days_read")
        ).dagster_event.partition,
        "check": instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("days_read"), "days_read_check"), limit=5
        )[0].status.value,
        # The asset table's row per asset: its latest materialization and run.
        "asset_rows": {
            record.asset_entry.asset_key.to_user_string(): (
                record.asset_entry.last_materialization_record.partition_key
                if record.asset_entry.last_materialization_record
                else None,
                record.asset_entry.last_run_id == run_id,
            )
            for record in instance.get_asset_records()
        },
        "check_rows": {key: check_rows(instance, key) for key in ("days_read", "days_failed")},
        "of_type": len(
            instance.get_records_for_run(run_id, of_type=kinds.ASSET_MATERIALIZATION).records
        ),
    }


def test_a_ranged_run_is_recorded_the_same_and_in_batches(tmp_path, monkeypatch):
    monkeypatch.delenv(event_log.BATCH_SIZE_ENV, raising=False)
    seen, transactions = {}, {}
    opened = []
    real_connect = SqliteEventLogStorage._connect

    def counting_connect(self, shard):
        opened.append(shard)
        return real_connect(self, shard)

    monkeypatch.setattr(SqliteEventLogStorage, "_connect", counting_connect)
    for batched in (False, True):
        opened.clear()
        with instance_at(tmp_path / f"batched={batched}", batched) as instance:
            assert (
                isinstance(instance.event_log_storage, event_log.BatchedSqliteEventLogStorage)
                is batched
            )
            result = dg.materialize(
                [days_read, days_failed, days_read_check, days_failed_check],
                instance=instance,
                tags=RANGE,
                raise_on_error=False,
            )
            assert not result.success
            seen[batched] = what_is_recorded(instance, result.run_id)
            transactions[batched] = len(opened)
    # Dagster leaves the check planned for each day and adds its evaluation, unpartitioned (a
    # ranged step has no day); the batched storage has the evaluation alone.
    evaluated = {batched: seen[batched]["check_rows"].pop("days_read") for batched in seen}
    planned = [row for row in evaluated[False] if row[1] == "PLANNED"]
    assert len(planned) == 60
    assert evaluated[True] == [
        ("", "SUCCEEDED", "ASSET_CHECK_EVALUATION", "days_read_check", True, True)
    ]
    # A check never evaluated keeps the plan, row for row as Dagster writes it.
    assert len(seen[True]["check_rows"]["days_failed"]) == 60
    assert seen[True] == seen[False]
    assert seen[True]["materialized"]["days_read"] == set(DAYS.get_partition_keys()[:60])
    assert len(seen[True]["failed"]["days_failed"]) == 60  # planned, never materialized
    assert seen[True]["of_type"] == 60 and seen[True]["check"] == "SUCCEEDED"
    assert seen[True]["asset_rows"] == {
        "days_read": ("2024-02-29", True),
        "days_failed": (None, True),  # planned by the run, never materialized
    }
    # 240 per-day events (planned and materialized): a transaction or two each, or a few a batch.
    assert transactions[False] > 240 and transactions[True] * 4 < transactions[False], transactions


def test_the_instance_config_selects_the_batched_storage_under_dagster_home(tmp_path, monkeypatch):
    with instance_at(tmp_path / "home", batched=True) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, event_log.BatchedSqliteEventLogStorage)
        # Dagster's own file layout, so a home made before keeps its runs and history.
        assert (tmp_path / "home" / "history" / "runs" / "index.db").exists()
        assert int(os.environ[event_log.BATCH_SIZE_ENV]) > 0
    # Opened from its folder while DAGSTER_HOME names another: refused, with what to set.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    with pytest.raises(ValueError, match=f"set DAGSTER_HOME={tmp_path / 'home'}"):
        dg.DagsterInstance.from_config(str(tmp_path / "home"))


def test_a_batch_of_two_runs_is_stored_event_by_event(tmp_path):
    with instance_at(tmp_path / "home", batched=True) as instance:
        first = dg.materialize([days_read], instance=instance, partition_key="2024-01-01")
        second = dg.materialize([days_read], instance=instance, partition_key="2024-01-02")
        entries = [
            record.event_log_entry
            for run in (first, second)
            for record in instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records
        ]
        instance.event_log_storage.store_event_batch(entries)
        for run in (first, second):
            stored = instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records
            assert len(stored) == 2  # the original and its copy, each in its own run's file


BIG = {"preview": dg.MetadataValue.md("| a |\n|---|\n" + "| 1 |\n" * 500), "rows": 500}


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
@metadata_on_last_day
def days_with_preview(context) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=BIG)


@dg.multi_asset(
    specs=[dg.AssetSpec("left"), dg.AssetSpec("right")],
    partitions_def=DAYS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
@metadata_on_last_day
def two_with_preview(context):
    for key in ("left", "right"):
        yield dg.MaterializeResult(asset_key=key, metadata=BIG)


def metadata_by_day(instance, key: str) -> dict[str, dict]:
    """Each day's latest materialization metadata."""
    records = instance.fetch_materializations(dg.AssetKey(key), limit=1000).records  # newest first
    days = {}
    for record in records:
        days.setdefault(record.partition_key, dict(record.asset_materialization.metadata))
    return days


def test_a_ranged_runs_metadata_is_recorded_once_on_its_last_day(tmp_path):
    with instance_at(tmp_path / "home", batched=True) as instance:
        dg.materialize([days_with_preview, two_with_preview], instance=instance, tags=RANGE)
        for key in ("days_with_preview", "left", "right"):
            days = metadata_by_day(instance, key)
            assert len(days) == 60  # every day of the range materialized
            assert days["2024-02-29"]["rows"].value == 500 and "preview" in days["2024-02-29"]
            assert days["2024-01-15"] == {
                "days": dg.MetadataValue.text("2024-01-01 … 2024-02-29"),
                "metadata_on": dg.MetadataValue.text("2024-02-29"),
            }
            latest = instance.get_latest_materialization_event(dg.AssetKey(key))
            assert latest.dagster_event.partition == "2024-02-29"
        # One day: its metadata as returned.
        dg.materialize([days_with_preview], instance=instance, partition_key="2024-02-10")
        assert metadata_by_day(instance, "days_with_preview")["2024-02-10"]["rows"].value == 500


# The dagster.yaml `moodlake` wrote into a home before event batching.
UNBATCHED_DEFAULT = """\
# Dagster instance settings for a local MOODLAKE_HOME (copied to $DAGSTER_HOME by `moodlake`).
# Storage is SQLite under DAGSTER_HOME; the Docker deployment swaps in PostgreSQL.
telemetry:
  enabled: false

# Spark-backed assets declare pool="spark": one Spark step at a time on a laptop.
concurrency:
  pools:
    default_limit: 1
  runs:
    max_concurrent_runs: 2
"""


def test_a_home_with_the_old_default_gets_batched_writes_and_an_edited_one_is_kept(
    tmp_path, monkeypatch
):
    from moodlake_dagster.cli import prepare_dagster_home
    from moodlake_dagster.settings import load_settings

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    settings = load_settings({"MOODLAKE_HOME": str(tmp_path / "home")})
    config = settings.dagster_home / "dagster.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(UNBATCHED_DEFAULT)
    prepare_dagster_home(settings)
    assert config.read_text() == (REPO / "dagster.yaml").read_text()
    edited = UNBATCHED_DEFAULT.replace("max_concurrent_runs: 2", "max_concurrent_runs: 1")
    config.write_text(edited)
    prepare_dagster_home(settings)
    assert config.read_text() == edited  # the user's own settings are theirs
