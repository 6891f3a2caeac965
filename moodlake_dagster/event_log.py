"""Dagster's SQLite storage, writing a batch of events in one transaction per database.

A build over a long history is one ranged run, and Dagster records one planned and one
materialization event per asset and day (that is what keeps every day true in the UI's
Partitions tab). Dagster's own SQLite event log storage writes each event in its own
transactions, two per asset event (the run's database and the cross-run index), each opening
a new engine and syncing to disk: about 10 ms an event, so ten years of days cost minutes of
bookkeeping (dagster-io/dagster#31694). Dagster hands storages batches of these events when
`DAGSTER_EVENT_BATCH_SIZE` is set, but the SQLite storage stores a batch one event at a time.
This one stores a batch in one transaction per database, with the same rows, so every reader
(the UI, GraphQL, partition status, sensors) sees exactly what it saw before, only sooner.

One table differs, on purpose: asset check executions. A ranged run's check is planned with a
row per day, Dagster serializing the whole event again for each (11 s for three checks over
5,475 days; here once). Its evaluation has no day (a ranged step has none, and MoodLake's
checks have no partitions of their own), so Dagster adds a row for it and leaves the per-day
rows planned for ever: 23 MB of index for ten years of days, and as many "planned" executions
in the check's history. Here the evaluation replaces them (two transactions: a crash between
them leaves that run with no record of the check, not a wrong one).

Selected in dagster.yaml (`storage: custom:`); the Docker deployment's PostgreSQL storage has
its own batched writes and needs only the environment variable (it keeps Dagster's per-day
planned check rows). It leans on the SQL storage's
private row and asset-table helpers (dagster 1.13): tests/test_event_log.py compares what it
records with Dagster's own storage, so an upgrade that changes them fails there first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dagster._core.events import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    EVENT_TYPE_TO_PIPELINE_RUN_STATUS,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._utils import mkdir_p
from dagster_shared.serdes import serialize_value

BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
# Events per batch: a ranged run of three assets over ten years plans about 11,000 events.
BATCH_SIZE = 5000


def _kind(event: EventLogEntry) -> str:
    if not event.is_dagster_event:
        return "log"
    kind = event.dagster_event_type
    if kind in ASSET_EVENTS and event.get_dagster_event().asset_key:
        return "asset"
    if kind in ASSET_CHECK_EVENTS:
        return "check"
    if kind in EVENT_TYPE_TO_PIPELINE_RUN_STATUS:
        return "run"
    return "log"


def _last_of_each_kind(assets: list[tuple[EventLogEntry, int]]) -> list[tuple[EventLogEntry, int]]:
    """The events whose update of an asset's row survives: the asset table keeps, per asset, the
    latest materialization, planned run and timestamp, each set by the latest event of a kind,
    so the last event of each kind per asset, applied in order, leaves the row as all would."""
    last = {
        (event.get_dagster_event().asset_key, event.dagster_event_type): i
        for i, (event, _) in enumerate(assets)
    }
    return [assets[i] for i in sorted(last.values())]


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage whose batches are one transaction per database."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if len({event.run_id for event in events}) != 1:
            return super().store_event_batch(events)  # one run shard per batch, or the slow way
        rows = [self._event_to_row(event) for event in events]  # the rows store_event writes
        kinds = [_kind(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        # The cross-run index mirrors asset, check and run-status events, as store_event does.
        mirrored = [i for i, kind in enumerate(kinds) if kind != "log"]
        if not mirrored:
            return
        insert = SqlEventLogStorageTable.insert().returning(
            SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
        )
        with self.index_transaction() as conn:
            ids = [row[0] for row in conn.execute(insert, [rows[i] for i in mirrored])]
            stored = [(events[i], ids[n], kinds[i]) for n, i in enumerate(mirrored)]
            assets = [(event, event_id) for event, event_id, kind in stored if kind == "asset"]
            if assets:
                self._store_asset_event_tags(conn, *zip(*assets, strict=True))
            for event, event_id in _last_of_each_kind(assets):
                self._store_asset_event(conn, event, event_id)
        for event, event_id, kind in stored:  # their tables are written on their own connections
            if kind == "check":
                self.store_asset_check_event(event, event_id)

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id) -> None:
        planned = event.get_dagster_event().event_specific_data
        days = (
            planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        )
        row = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert(), [row | {"partition": d} for d in days])

    def _update_asset_check_evaluation(self, event: EventLogEntry, event_id) -> None:
        evaluation = event.get_dagster_event().event_specific_data
        if evaluation.partition is None:  # the run's per-day plan for this check is done
            table = AssetCheckExecutionsTable
            with self.index_connection() as conn:
                conn.execute(
                    table.delete().where(
                        (table.c.asset_key == evaluation.asset_key.to_string())
                        & (table.c.check_name == evaluation.check_name)
                        & (table.c.run_id == event.run_id)
                        & table.c.partition.is_not(None)
                        & (
                            table.c.execution_status
                            == AssetCheckExecutionRecordStatus.PLANNED.value
                        )
                    )
                )
        super()._update_asset_check_evaluation(event, event_id)

    def register_instance(self, instance) -> None:
        # dagster.yaml names this folder by $DAGSTER_HOME: an instance opened from another
        # folder would silently read and write that home's history instead of its own.
        home = Path(instance.root_directory).resolve()
        if home / "history" / "runs" != Path(self._base_dir).resolve():
            raise ValueError(
                f"the Dagster instance in {home} keeps its storage under DAGSTER_HOME, "
                f"which is {os.environ.get('DAGSTER_HOME')}: set DAGSTER_HOME={home} "
                "(or open it with event_log.instance_at)"
            )
        super().register_instance(instance)


class MoodlakeSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage (same files under DAGSTER_HOME) with batched event
    writes; turns Dagster's event batching on for the processes that use it."""

    def __init__(self, base_dir: str, inst_data=None):
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))
        os.environ.setdefault(BATCH_SIZE_ENV, str(BATCH_SIZE))

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> MoodlakeSqliteStorage:
        mkdir_p(config_value["base_dir"])
        return cls(inst_data=inst_data, **config_value)


def instance_at(dagster_home: str | Path):
    """The Dagster instance whose dagster.yaml is in `dagster_home` (DAGSTER_HOME set for it)."""
    from dagster import DagsterInstance

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(Path(dagster_home).resolve())
    try:
        return DagsterInstance.get()
    finally:
        if previous is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = previous
