"""`moodlake spark cluster`: a standalone master and two workers on loopback build the demo's
tables exactly as local mode does, and `cluster stop` leaves no JVM behind.

The cluster build runs in a home of its own whose Connect server is submitted to the cluster's
master (not the session's shared local server); it is compared with the session's clean build of
the same input on the shared local server (`clean_build`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

import pytest
from builds import MOODLAKE, build_env, different_tables, finish, start_build

from moodlake_dagster.spark_cluster import (
    CLUSTER_FILE,
    Cluster,
    Worker,
    alive_workers,
    master_for,
    master_status,
    recorded_cluster,
    stop_cluster,
)
from moodlake_dagster.spark_server import (
    LOCAL_MASTER,
    STATE_FILE,
    alive,
    ensure_local_server,
    running_server,
    stop_local_server,
)

WORKERS = 2
APP_NAME = "moodlake-spark-connect"


def recorded_pids(state: Path) -> list[int]:
    """Every JVM this home's state names: the master, the workers, the Connect server."""
    cluster = recorded_cluster(state)
    pids = cluster.pids if cluster else []
    server = state / STATE_FILE
    if server.exists():
        pids.append(json.loads(server.read_text())["pid"])
    return pids


@pytest.fixture
def cluster_home(tmp_path):
    """A home for the cluster build; whatever JVM it started is stopped by pid, even on failure."""
    home = tmp_path / "cluster-home"
    state = home / "spark"
    seen: set[int] = set()
    try:
        yield home, seen
    finally:
        seen.update(recorded_pids(state))
        stop_local_server(state)
        stop_cluster(state, log=lambda _: None)
        for pid in seen:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)


def moodlake(env: dict[str, str], *argv: str, timeout: float = 300) -> tuple[int, str]:
    done = subprocess.run(
        [str(MOODLAKE), *argv], env=env, capture_output=True, text=True, timeout=timeout
    )
    return done.returncode, done.stdout + done.stderr


def worker_json(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/json/", timeout=5) as response:
        return json.load(response)


def test_the_connect_server_goes_where_the_setting_or_a_live_cluster_says(tmp_path):
    """A named master wins; a recorded cluster whose master is gone sends it back to local."""
    assert master_for(tmp_path, "spark://10.0.0.5:7077") == ("spark://10.0.0.5:7077", {})
    assert master_for(tmp_path) == (LOCAL_MASTER, {})
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = Cluster(gone.pid, 1, 1, "", 2, "3g", [Worker(gone.pid, 1, 1, "")])
    (tmp_path / CLUSTER_FILE).write_text(json.dumps(asdict(dead)))
    assert recorded_cluster(tmp_path) == dead
    assert master_for(tmp_path) == (LOCAL_MASTER, {})
    assert dead.executor_conf() == {
        "spark.executor.cores": "2",
        "spark.executor.memory": "3g",
        "spark.cores.max": "2",
    }


@pytest.mark.spark
def test_a_two_worker_cluster_builds_what_local_mode_builds(
    shared_data, spark_url, tmp_path, cluster_home, clean_build
):
    began = time.monotonic()
    home, seen = cluster_home
    # The cluster's home: no MOODLAKE_SPARK_REMOTE, so its own Connect server starts, on the
    # cluster; it stays up after the build (idle stop off) so its executors can be checked.
    env = {
        key: value
        for key, value in build_env(tmp_path, spark_url).items()
        if key != "MOODLAKE_SPARK_REMOTE"
    } | {
        "MOODLAKE_HOME": str(home),
        "MOODLAKE_SPARK_DRIVER_MEMORY": "1g",
        "MOODLAKE_SPARK_IDLE_STOP_S": "0",
    }
    env.pop("MOODLAKE_SPARK_MASTER", None)
    state = home / "spark"
    # A Connect server already running in local mode: starting the cluster must not leave it so.
    local_server = ensure_local_server(state, driver_memory="1g")
    seen.add(local_server.pid)
    start_s = time.monotonic()
    code, started = moodlake(
        env, "spark", "cluster", "start", "--workers", str(WORKERS), "--memory", "1g"
    )
    start_s = time.monotonic() - start_s
    seen.update(recorded_pids(state))
    assert code == 0, started
    cluster = recorded_cluster(state)
    assert cluster is not None and len(cluster.workers) == WORKERS
    assert (
        f"Stopped the Spark Connect server running in local[*] (pid {local_server.pid})" in started
    )
    assert not alive(local_server.pid) and running_server(state) is None
    assert len(alive_workers(master_status(cluster.webui_url))) == WORKERS

    code, status = moodlake(env, "spark", "status")
    assert code == 0, status
    assert f"Spark cluster master: {cluster.master_url}" in status
    assert f"Spark cluster web UI: {cluster.webui_url}" in status
    assert f"workers alive: {WORKERS} of {WORKERS}" in status

    cluster_s = time.monotonic()
    code, out, err = finish(start_build(env))
    cluster_s = time.monotonic() - cluster_s
    seen.update(recorded_pids(state))
    assert code == 0, out + err
    server = running_server(state)
    assert server is not None and server.master == cluster.master_url

    # The work ran on the cluster: the master lists the Connect server's application, and
    # each worker ran an executor of it that finished tasks.
    (app,) = [a for a in master_status(cluster.webui_url)["activeapps"] if a["name"] == APP_NAME]
    for worker in cluster.workers:
        executors = worker_json(f"http://127.0.0.1:{worker.webui_port}")["executors"]
        (executor,) = [e for e in executors if e["appid"] == app["id"]]
        stderr = state / "cluster" / "work" / app["id"] / str(executor["id"]) / "stderr"
        assert "Finished task" in stderr.read_text(), stderr

    code, status = moodlake(env, "spark", "status")
    assert f"Spark Connect server: {server.url}" in status and cluster.master_url in status
    print(f"\n$ moodlake spark cluster start\n{started}$ moodlake spark status\n{status}", end="")

    differ = different_tables(home / "lake", clean_build)
    assert not differ, differ

    pids = recorded_pids(state)
    code, out = moodlake(env, "spark", "cluster", "stop")
    assert code == 0, out
    print(f"$ moodlake spark cluster stop\n{out}", end="")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    assert [pid for pid in pids if alive(pid)] == []
    assert recorded_cluster(state) is None and running_server(state) is None
    print(
        f"\ncluster of {WORKERS} workers up in {start_s:.0f} s; build on it {cluster_s:.0f} s; "
        f"every table equal to local mode's; test {time.monotonic() - began:.0f} s"
    )
