"""The deployment's dagster.yaml on a real PostgreSQL: the webserver takes a launch over
GraphQL, the daemon dequeues it, the run materializes, and every record lands in Postgres."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import CATALOG_SAMPLE, REPO
from postgres_server import postgres

DAY = "2025-01-01"
LAUNCH = """
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
STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as err:
        pytest.fail(f"GraphQL answered {err.code}: {err.read().decode()[:2000]}")
    assert "errors" not in body, body
    return body["data"]


def wait_for(condition, timeout_s: float, what: str, logs: list[Path]):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}\n{tails}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """PostgreSQL, then dagster-webserver and dagster-daemon on the Docker dagster.yaml."""
    root = tmp_path_factory.mktemp("deploy")
    dagster_home = root / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO / "docker" / "dagster.yaml", dagster_home / "dagster.yaml")
    (root / "landing").mkdir()
    web_port = free_port()
    with postgres(free_port()) as pg_env:
        env = (
            os.environ
            | pg_env
            | {
                "DAGSTER_HOME": str(dagster_home),
                "MOODLAKE_HOME": str(root / "home"),
                "MOODLAKE_CATALOG": str(CATALOG_SAMPLE),
                "MOODLAKE_LANDING": str(root / "landing"),
                "MOODLAKE_PSEUDONYM_KEY": "test-key-not-secret",
            }
        )
        bin_dir = Path(sys.executable).parent
        logs = [root / "webserver.log", root / "daemon.log"]
        commands = [
            [
                str(bin_dir / "dagster-webserver"),
                "-w",
                str(REPO / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(web_port),
            ],
            [str(bin_dir / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
        ]
        processes = [
            subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
            )
            for command, log in zip(commands, logs, strict=True)
        ]
        try:

            def up():
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{web_port}/server_info", timeout=5
                    ) as r:
                        return r.status == 200
                except OSError:
                    return False

            wait_for(up, 180, "the webserver", logs)
            yield {"port": web_port, "pg": pg_env, "home": root / "home", "logs": logs}
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_a_run_launched_over_graphql_runs_on_postgres_storage(deployment):
    import psycopg2

    params = {
        "selector": {
            "repositoryLocationName": "moodlake",
            "repositoryName": "__repository__",
            "jobName": "moodlake_build",
            "assetSelection": [{"path": ["catalog_tracks"]}],
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": DAY}]},
        "runConfigData": {},
    }
    launched = graphql(deployment["port"], LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished():
        status = graphql(deployment["port"], STATUS, {"runId": run_id})["runOrError"]["status"]
        return status if status in {"SUCCESS", "FAILURE", "CANCELED"} else None

    # QUEUED until the daemon's run coordinator picks it up: proof the daemon is running.
    status = wait_for(finished, 300, f"run {run_id}", deployment["logs"])
    assert status == "SUCCESS"
    pg = deployment["pg"]
    with (
        psycopg2.connect(
            host=pg["DAGSTER_PG_HOST"],
            port=pg["DAGSTER_PG_PORT"],
            user=pg["DAGSTER_PG_USER"],
            dbname=pg["DAGSTER_PG_DB"],
        ) as con,
        con.cursor() as cur,
    ):
        cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
        assert cur.fetchone() == ("SUCCESS",)
        cur.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
            (run_id, "ASSET_MATERIALIZATION"),
        )
        assert cur.fetchone() == (1,)
        cur.execute(
            "SELECT check_name, execution_status FROM asset_check_executions WHERE run_id = %s",
            (run_id,),
        )
        statuses = set(cur.fetchall())
        assert ("pandera_schema", "SUCCEEDED") in statuses
        assert not {status for _, status in statuses} & {"FAILED", "EXECUTION_FAILED"}
        cur.execute("SELECT count(*) FROM daemon_heartbeats")
        assert cur.fetchone()[0] >= 1
    assert (deployment["home"] / "lake" / "bronze" / "catalog_tracks" / "_delta_log").is_dir()
