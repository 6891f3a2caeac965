"""A Spark standalone cluster on this machine: a master and N workers from the pyspark wheel.

It is the step between one local JVM and a real cluster: the same Connect server, but its
executors run in worker JVMs that a master hands out, as they would on many machines. Everything
listens on 127.0.0.1 only. The pids, ports and master URL live in `cluster.json` next to the
Connect server's state; while it is there, the Connect server is submitted to the master
(`master_for`). `stop_cluster` ends the Connect server on it, the workers, then the master.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyspark

from moodlake_dagster.spark_server import (
    LOCAL_MASTER,
    NATIVE_THREADS,
    alive,
    free_port,
    port_open,
    running_server,
    stop_local_server,
)

CLUSTER_FILE = "cluster.json"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class SparkClusterError(RuntimeError):
    """The cluster could not be started; the message names the log to read."""


@dataclass(frozen=True)
class Worker:
    pid: int
    port: int
    webui_port: int
    log: str


@dataclass(frozen=True)
class Cluster:
    master_pid: int
    master_port: int
    webui_port: int
    master_log: str
    cores_per_worker: int
    memory_per_worker: str
    workers: list[Worker] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    @property
    def webui_url(self) -> str:
        return f"http://127.0.0.1:{self.webui_port}"

    @property
    def pids(self) -> list[int]:
        return [self.master_pid, *(worker.pid for worker in self.workers)]

    def executor_conf(self) -> dict[str, str]:
        """One executor per worker, as large as the worker offers (a larger one never starts)."""
        return {
            "spark.executor.cores": str(self.cores_per_worker),
            "spark.executor.memory": self.memory_per_worker,
            "spark.cores.max": str(self.cores_per_worker * len(self.workers)),
        }

    @classmethod
    def from_json(cls, text: str) -> Cluster:
        data = json.loads(text)
        data["workers"] = [Worker(**worker) for worker in data["workers"]]
        return cls(**data)


def master_status(webui_url: str, timeout_s: float = 5.0) -> dict:
    """The master's own account (`/json/`): workers with state and cores used, applications."""
    with urllib.request.urlopen(f"{webui_url}/json/", timeout=timeout_s) as response:
        return json.load(response)


def alive_workers(status: dict) -> list[dict]:
    return [worker for worker in status.get("workers", []) if worker.get("state") == "ALIVE"]


def recorded_cluster(state_dir: Path) -> Cluster | None:
    """What `cluster.json` records, running or not (its pids are what `stop_cluster` stops)."""
    try:
        return Cluster.from_json((state_dir / CLUSTER_FILE).read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None


def running_cluster(state_dir: Path) -> Cluster | None:
    """The cluster recorded in `state_dir`, if its master is alive and its web UI answers."""
    cluster = recorded_cluster(state_dir)
    if cluster and alive(cluster.master_pid) and port_open(cluster.webui_port):
        return cluster
    return None


def master_for(state_dir: Path, spark_master: str | None = None) -> tuple[str, dict[str, str]]:
    """Where the Connect server should run: a named master, else this home's cluster, else
    local mode; with the executor sizes that fit the cluster's workers (a named master's
    workers are unknown here, so Spark's defaults apply)."""
    if spark_master:
        return spark_master, {}
    cluster = running_cluster(state_dir)
    if cluster:
        return cluster.master_url, cluster.executor_conf()
    return LOCAL_MASTER, {}


def _spawn(spark_home: Path, args: list[str], log_path: Path, env: dict) -> subprocess.Popen:
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [str(spark_home / "bin" / "spark-class"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: stopped by its pid alone
        )


def start_cluster(
    state_dir: Path,
    workers: int,
    cores_per_worker: int = 1,
    memory_per_worker: str = "2g",
    timeout_s: float = 180.0,
    log=print,
) -> Cluster:
    """Start a master and `workers` workers, and wait until the master lists them all ALIVE.

    Idempotent: a running cluster is returned as it is (whatever its size). A Connect server
    left running in local mode is stopped, so the next Spark step starts it on the cluster.
    """
    if workers < 1:
        raise ValueError("a cluster needs at least one worker")
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "cluster.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cluster = running_cluster(state_dir)
        if cluster:
            log(f"A Spark cluster is already running: {cluster.master_url}")
            return cluster
        stop_cluster(state_dir, log=lambda _: None)  # whatever a dead master left behind
        cluster = _start(state_dir, workers, cores_per_worker, memory_per_worker, timeout_s, log)
    server = running_server(state_dir)
    if server and server.master != cluster.master_url:
        stop_local_server(state_dir)
        log(
            f"Stopped the Spark Connect server running in {server.master} (pid {server.pid}): "
            "the next Spark step starts it on the cluster."
        )
    return cluster


def _start(state_dir, workers, cores_per_worker, memory_per_worker, timeout_s, log) -> Cluster:
    spark_home = Path(pyspark.__file__).parent
    logs = state_dir / "cluster"
    logs.mkdir(parents=True, exist_ok=True)
    env = (
        NATIVE_THREADS
        | os.environ
        | {
            "SPARK_HOME": str(spark_home),
            "SPARK_LOCAL_IP": "127.0.0.1",
            # Shuffle files and executors' folders stay under the home, not in the wheel's folder.
            "SPARK_LOCAL_DIRS": str(state_dir / "tmp"),
            "SPARK_WORKER_DIR": str(logs / "work"),
        }
    )
    began = time.monotonic()
    master_port, webui_port = free_port(), free_port()
    master_log = logs / "master.log"
    log(f"Starting a Spark master on 127.0.0.1:{master_port} (log: {master_log})")
    master = _spawn(
        spark_home,
        [MASTER_CLASS, "--host", "127.0.0.1", "--port", str(master_port)]
        + ["--webui-port", str(webui_port)],
        master_log,
        env,
    )
    processes = {master: master_log}
    cluster = Cluster(
        master_pid=master.pid,
        master_port=master_port,
        webui_port=webui_port,
        master_log=str(master_log),
        cores_per_worker=cores_per_worker,
        memory_per_worker=memory_per_worker,
    )
    for index in range(workers):
        port, ui = free_port(), free_port()
        worker_log = logs / f"worker-{index + 1}.log"
        process = _spawn(
            spark_home,
            [WORKER_CLASS, cluster.master_url, "--host", "127.0.0.1", "--port", str(port)]
            + ["--webui-port", str(ui), "--cores", str(cores_per_worker)]
            + ["--memory", memory_per_worker, "--work-dir", str(logs / "work")],
            worker_log,
            env,
        )
        processes[process] = worker_log
        cluster.workers.append(
            Worker(pid=process.pid, port=port, webui_port=ui, log=str(worker_log))
        )
    # Recorded before waiting: a start that fails is still stopped by its pids.
    (state_dir / CLUSTER_FILE).write_text(json.dumps(asdict(cluster)))
    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        for process, path in processes.items():
            if process.poll() is not None:
                stop_cluster(state_dir, log=lambda _: None)
                raise SparkClusterError(
                    f"a Spark cluster process exited with code {process.returncode}; see {path}"
                )
        if port_open(webui_port):
            try:
                seen = len(alive_workers(master_status(cluster.webui_url)))
            except (OSError, ValueError):
                seen = 0
            if seen == workers:
                log(
                    f"Spark cluster up in {time.monotonic() - began:.0f} s: {cluster.master_url}, "
                    f"{workers} workers, web UI {cluster.webui_url}"
                )
                return cluster
        time.sleep(0.5)
    stop_cluster(state_dir, log=lambda _: None)
    raise SparkClusterError(
        f"the Spark master listed {seen} of {workers} workers ALIVE after {timeout_s:.0f} s; "
        f"see {master_log} and the worker logs in {logs}"
    )


def _stop(pid: int, timeout_s: float) -> None:
    """SIGTERM to the process's group (a worker's executors are in it), SIGKILL if it stays."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive(pid):
            return
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.2)


def stop_cluster(state_dir: Path, timeout_s: float = 30.0, log=print) -> bool:
    """Stop the Connect server if it runs on this cluster, the workers, then the master; True if
    a cluster was recorded."""
    cluster = recorded_cluster(state_dir)
    if cluster is None:
        return False
    server = running_server(state_dir)
    if server and server.master == cluster.master_url:
        stop_local_server(state_dir)
        log(f"Stopped the Spark Connect server (pid {server.pid})")
    for worker in cluster.workers:
        _stop(worker.pid, timeout_s)
    _stop(cluster.master_pid, timeout_s)
    (state_dir / CLUSTER_FILE).unlink(missing_ok=True)
    log(f"Stopped the Spark cluster {cluster.master_url} (pids {cluster.pids})")
    return True
