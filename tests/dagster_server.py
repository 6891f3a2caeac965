"""Run real Dagster processes (webserver, daemon, `dagster dev`) for a test and talk GraphQL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN_STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } }
}
"""
LAUNCH_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidSubsetError { message }
  }
}
"""
BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status runs(limit: 100) { runId status startTime endTime } }
  }
}
"""
START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""


def start_sensor(port: int, name: str) -> dict:
    """Start a sensor of the moodlake code location, as its toggle in the UI does."""
    selector = {
        "repositoryLocationName": "moodlake",
        "repositoryName": "__repository__",
        "sensorName": name,
    }
    return graphql(port, START_SENSOR, {"selector": selector})["startSensor"]


RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as err:
        pytest.fail(f"GraphQL answered {err.code}: {err.read().decode()[:2000]}")
    assert "errors" not in body, body
    return body["data"]


def log_tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())


def wait_for(condition: Callable, timeout_s: float, what: str, logs: list[Path], every_s=1.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(every_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}\n{log_tails(logs)}")


@contextlib.contextmanager
def running(
    commands: list[list[str]], env: dict, logs: list[Path], port: int, cwd: Path
) -> Iterator[None]:
    """Start the processes, wait until the webserver on `port` answers, stop them after."""
    processes = [start(command, env, log, cwd) for command, log in zip(commands, logs, strict=True)]
    try:
        wait_until_up(port, logs)
        yield
    finally:
        stop(processes)


def start(command: list[str], env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    """One process in its own process group (the code servers Dagster spawns go with it)."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_up(port: int, logs: list[Path]) -> None:
    def up():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    wait_for(up, 180, "the webserver", logs)


def stop(processes: list[subprocess.Popen]) -> None:
    """Ctrl-C to each process group (how Dagster expects to be stopped), then SIGKILL."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        # Whatever the group leader left behind goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def launch_run(
    port: int, assets: list[list[str]], partition: str, logs: list[Path]
) -> tuple[str, str]:
    """Launch the build job on `assets` for one partition; (run id, final status)."""
    params = {
        "selector": {
            "repositoryLocationName": "moodlake",
            "repositoryName": "__repository__",
            "jobName": "moodlake_build",
            "assetSelection": [{"path": path} for path in assets],
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        "runConfigData": {},
    }
    launched = graphql(port, LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished():
        status = graphql(port, RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
        return status if status in RUN_DONE else None

    return run_id, wait_for(finished, 300, f"run {run_id}", logs)


def launch_backfill(port: int, assets: list[list[str]], days: list[str], logs: list[Path]) -> dict:
    """Backfill `assets` over `days` as the UI's Materialize dialog does; the final backfill."""
    params = {"partitionNames": days, "assetSelection": [{"path": path} for path in assets]}
    launched = graphql(port, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def finished():
        backfill = graphql(port, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        return backfill if backfill["status"] in BACKFILL_DONE else None

    return wait_for(finished, 900, f"backfill {backfill_id}", logs, every_s=3)
