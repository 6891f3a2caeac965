"""A UI backfill and a sensor run at the same time, through the real instance: `moodlake ui`
(webserver and daemon, its run queue and the `spark` pool), as a person would meet it.

The landing sensor is started and a new export dropped; the moment its run exists, a backfill is
launched from the UI's GraphQL. Once with overlapping days, once with days apart. What must hold:
both finish, every day either touched is materialized in Dagster, and in the lake each day's
Bronze plays are exactly the landing folder's records of that day (none lost, none doubled) and
no play appears twice in Silver.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from dagster_server import (
    BACKFILL_DONE,
    BACKFILL_STATUS,
    LAUNCH_BACKFILL,
    RUN_DONE,
    free_port,
    graphql,
    running,
    start_sensor,
    wait_for,
)
from deltalake import DeltaTable
from helpers import CATALOG_SAMPLE, LAYERS, REPO, ui_env

from moodlake_dagster import event_log
from moodlake_dagster.demo.generator import generate_history
from moodlake_dagster.ingest.history import parse_history
from moodlake_dagster.sensors.requests import RANGE_END_TAG, RANGE_START_TAG

pytestmark = pytest.mark.spark

START = dt.date(2025, 1, 1)
SETTLE_S = 1  # a landed file is read once unchanged this long
# The sensor looks this often: the backfill's run (a minute or so) outlasts the wait for a tick.
INTERVAL_S = 10
# The tables both kinds of run write: Bronze and Silver, and the Gold table the sensor refreshes.
BACKFILLED = [[layer, name] for layer in ("bronze", "silver") for name in LAYERS[layer]] + [
    ["gold", "mood_by_day"]
]
SENSOR = {
    "repositoryLocationName": "moodlake",
    "repositoryName": "__repository__",
    "sensorName": "landing_history_sensor",
}
SENSOR_RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status creationTime startTime endTime tags { key value } } }
  }
}
"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory, spark_url):
    """`moodlake ui` over five generated days of one listener; new exports are read at once,
    and the sensor looks every INTERVAL_S."""
    root = tmp_path_factory.mktemp("concurrent")
    generate_history(CATALOG_SAMPLE, root / "landing", users=1, start=START, days=5)
    port = free_port()
    env = ui_env(root, spark_url) | {
        "MOODLAKE_LANDING_SETTLE_S": str(SETTLE_S),
        "MOODLAKE_LANDING_INTERVAL_S": str(INTERVAL_S),
    }
    logs = [root / "ui.log"]
    command = [str(Path(sys.executable).with_name("moodlake")), "ui", "--port", str(port)]
    with running([command], env, logs, port, cwd=REPO):
        yield {"port": port, "logs": logs, "root": root}


def drop_export(root: Path, account: str, first: dt.date, days: int, seed: int) -> set[dt.date]:
    """A new listener's export moved into the landing folder whole; the UTC days it plays on."""
    staging = root / f"staging-{account}"
    (generated,) = generate_history(
        CATALOG_SAMPLE, staging, users=1, start=first, days=days, seed=seed
    )
    text = generated.read_text()
    shutil.move(generated.parent, root / "landing" / account)
    return {dt.date.fromisoformat(ts[:10]) for ts in text.split('"ts": "')[1:]}


def sensor_runs(port: int) -> list[dict]:
    found = graphql(
        port,
        SENSOR_RUNS,
        {"filter": {"tags": [{"key": "dagster/sensor_name", "value": SENSOR["sensorName"]}]}},
    )
    return found["runsOrError"]["results"]


def tag(run: dict, key: str) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == key), None)


def race(ui: dict, backfill_days: list[str], known: set[str], drop) -> tuple[dict, dict, float]:
    """Launch the backfill; once its run is in progress, `drop` an export (the sensor's next
    tick makes a run for it). Both runs, finished, and the seconds from the launch to the end."""
    port, logs = ui["port"], ui["logs"]
    began = time.monotonic()
    params = {
        "partitionNames": backfill_days,
        "assetSelection": [{"path": path} for path in BACKFILLED],
    }
    launched = graphql(port, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def backfill():
        found = graphql(port, BACKFILL_STATUS, {"id": launched["backfillId"]})
        return found["partitionBackfillOrError"]

    wait_for(
        lambda: [r for r in backfill()["runs"] if r["status"] == "STARTED"],
        180,
        "the backfill's run to start",
        logs,
        every_s=0.5,
    )
    drop()
    (made,) = wait_for(
        lambda: [r for r in sensor_runs(port) if r["runId"] not in known],
        180,
        "the sensor's run",
        logs,
        every_s=0.5,
    )

    def both_done():
        now = backfill()
        (run,) = [r for r in sensor_runs(port) if r["runId"] == made["runId"]]
        return (run, now) if now["status"] in BACKFILL_DONE and run["status"] in RUN_DONE else None

    run, done = wait_for(both_done, 900, "the sensor run and the backfill", logs, every_s=2)
    return run, done, time.monotonic() - began


def overlapped(sensor_run: dict, backfill_run: dict) -> bool:
    """Whether the sensor's run was requested (queued or running) while the backfill's ran."""
    requested = sensor_run["creationTime"]
    return requested < backfill_run["endTime"] and backfill_run["startTime"] < sensor_run["endTime"]


def landed_by_day(root: Path) -> Counter:
    """The landing folder's records by UTC play day, parsed as Bronze parses them."""
    now = dt.datetime.now(dt.UTC)
    batch = parse_history(
        root / "landing", key=b"k", default_user="-", now=now, batch_id="x", ingested_at=now
    )
    return Counter(event["play_date"] for event in batch.events)


def test_a_backfill_and_a_sensor_run_at_once_lose_and_double_nothing(ui):
    root, port = ui["root"], ui["port"]
    days = {}

    def first_export():
        """A second listener (Jan 5–6); the sensor's first tick takes every landed day."""
        days["sensor"] = drop_export(root, "second-listener", dt.date(2025, 1, 5), 2, seed=5)
        days["first"] = set(landed_by_day(root))
        time.sleep(2 * SETTLE_S)  # settled before the first tick: one run for every file
        started = start_sensor(port, SENSOR["sensorName"])
        assert started["__typename"] == "Sensor", started

    def later_export():
        """A third listener, days apart from the backfill's (Jan 10–11): the next tick's run."""
        days["later"] = drop_export(root, "third-listener", dt.date(2025, 1, 10), 2, seed=10)

    # Overlapping days (Jan 2–3 inside the sensor's range): the sensor's first tick comes as it
    # starts. Then days apart, at the next tick, up to INTERVAL_S later.
    first_run, first_backfill, first_s = race(ui, ["2025-01-02", "2025-01-03"], set(), first_export)
    known = {run["runId"] for run in sensor_runs(port)}
    second_run, second_backfill, second_s = race(
        ui, ["2025-01-02", "2025-01-03"], known, later_export
    )

    for run, backfill in ((first_run, first_backfill), (second_run, second_backfill)):
        assert run["status"] == "SUCCESS", run
        assert backfill["status"] == "COMPLETED_SUCCESS", backfill
        assert [r["status"] for r in backfill["runs"]] == ["SUCCESS"]
    assert tag(first_run, RANGE_START_TAG) == min(days["first"]).isoformat()
    assert tag(first_run, RANGE_END_TAG) == max(days["first"]).isoformat()
    assert tag(second_run, RANGE_START_TAG) == min(days["later"]).isoformat()
    assert tag(second_run, RANGE_END_TAG) == max(days["later"]).isoformat()

    expected = landed_by_day(root)
    lake = root / "home" / "lake"
    bronze = DeltaTable(str(lake / "bronze" / "listening_events")).to_pandas(
        columns=["play_date", "_source_file", "_record_index"]
    )
    assert not bronze.duplicated(["_source_file", "_record_index"]).any()
    assert Counter(bronze["play_date"]) == expected  # every day, none lost, none doubled
    plays = DeltaTable(str(lake / "silver" / "plays")).to_pandas(columns=["play_id", "play_date"])
    assert not plays["play_id"].duplicated().any()
    assert set(plays["play_date"]) == set(expected)

    with event_log.instance_at(root / "home" / "dagster") as instance:
        for key in (["bronze", "listening_events"], ["silver", "plays"]):
            done = instance.get_materialized_partitions(dg.AssetKey(key))
            assert {d.isoformat() for d in expected} <= done, key
    # The point of it all: each sensor run was requested while its backfill's run was going.
    assert overlapped(first_run, first_backfill["runs"][0])
    assert overlapped(second_run, second_backfill["runs"][0])
    print(
        f"\noverlapping days: a 2-day backfill and the sensor's run, in progress together, both "
        f"done {first_s:.0f} s after the launch; days apart: {second_s:.0f} s; "
        f"{len(bronze)} Bronze plays over {len(expected)} days, each day exactly its records"
    )
