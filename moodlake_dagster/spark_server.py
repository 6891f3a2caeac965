"""One local Spark Connect server per machine, started from the pyspark wheel on first use.

The JVM start (about 10 s on two cores) is paid once: the server outlives the Dagster step and
run that started it, and every later step connects to it. Its pid, port and Spark master live in
a state file under MOODLAKE_HOME/spark; `moodlake spark stop` ends it. The master is `local[*]`
unless a cluster runs (`spark_cluster`) or one is named; a server running on another master than
the one asked for is restarted on it.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pyspark

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
STATE_FILE = "connect-server.json"
LOCAL_MASTER = "local[*]"
# Spark runs a task per core, and ALS's least squares go through BLAS: the native one (Debian's
# OpenBLAS, when libblas.so.3 is installed) must not start a thread per core inside each task
# as well. A value in the environment wins.
NATIVE_THREADS = {"OPENBLAS_NUM_THREADS": "1"}


class SparkServerError(RuntimeError):
    """The local Spark Connect server could not be started; the message says where to look."""


@dataclass(frozen=True)
class LocalServer:
    pid: int
    port: int
    log: str
    master: str = LOCAL_MASTER  # state files written before clusters name none

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    """Running (a process that has ended but not been reaped — a zombie — is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def running_server(state_dir: Path) -> LocalServer | None:
    """The server recorded in `state_dir`, if its process is alive and its port answers."""
    state = state_dir / STATE_FILE
    if not state.exists():
        return None
    try:
        server = LocalServer(**json.loads(state.read_text()))
    except (ValueError, TypeError):
        return None
    if alive(server.pid) and port_open(server.port):
        return server
    return None


DEFAULT_PORT = 15002


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_local_server(
    state_dir: Path,
    *,
    port: int | None = None,
    driver_memory: str = "4g",
    timeout_s: float = 180.0,
    idle_stop_s: float | None = None,
    master: str = LOCAL_MASTER,
    conf: dict[str, str] | None = None,
    log=None,
) -> LocalServer:
    """Return the running local server, starting it if needed (safe across processes).

    Without an explicit `port`, 15002 is used when free and any free port otherwise (the
    state file remembers which); an explicit port that is taken is an error. With
    `idle_stop_s`, a server started here stops itself after that long without a user
    (`spark_idle`). `master` is where its executors run (`spark://host:port` for a cluster,
    with `conf` sizing them to fit its workers); a server found running on another master is
    stopped and started again on this one, so a build never silently stays local.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = running_server(state_dir)
        if server and server.master == master:
            return server
        if server:
            if log:
                log(f"Restarting the Spark Connect server (pid {server.pid}) on {master}")
            stop_local_server(state_dir)
            port = port or server.port
        if port is None:
            port = DEFAULT_PORT if not port_open(DEFAULT_PORT) else free_port()
        elif port_open(port):
            raise SparkServerError(
                f"port {port} is taken by another process; set MOODLAKE_SPARK_PORT to a free port "
                "or MOODLAKE_SPARK_REMOTE to use that server"
            )
        spark_home = Path(pyspark.__file__).parent
        log_path = state_dir / "connect-server.log"
        command = [
            str(spark_home / "bin" / "spark-submit"),
            "--class",
            SERVER_CLASS,
            "--name",
            "moodlake-spark-connect",
            "--master",
            master,
            "--driver-memory",
            driver_memory,
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--conf",
            "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf",
            "spark.sql.session.timeZone=UTC",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.shuffle.partitions=4",
            "--conf",
            f"spark.local.dir={state_dir / 'tmp'}",
        ]
        if master.startswith(("spark://127.0.0.1:", "spark://localhost:")):
            # Executors on this machine reach the driver over loopback, not its hostname.
            conf = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"} | (
                conf or {}
            )
        for key, value in (conf or {}).items():
            command += ["--conf", f"{key}={value}"]
        command.append("spark-internal")
        env = NATIVE_THREADS | os.environ | {"SPARK_HOME": str(spark_home)}
        if log:
            log(
                f"Starting Spark Connect server on 127.0.0.1:{port}, master {master} "
                f"(log: {log_path})"
            )
        with open(log_path, "ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SparkServerError(
                    f"Spark Connect server exited with code {process.returncode}; see {log_path}"
                )
            if port_open(port):
                server = LocalServer(pid=process.pid, port=port, log=str(log_path), master=master)
                (state_dir / STATE_FILE).write_text(json.dumps(server.__dict__))
                if idle_stop_s:
                    from moodlake_dagster.spark_idle import start_watchdog

                    start_watchdog(state_dir, process.pid, idle_stop_s)
                return server
            time.sleep(0.25)
        process.terminate()
        raise SparkServerError(
            f"Spark Connect server did not open port {port} in {timeout_s:.0f} s; see {log_path}"
        )


def stop_local_server(state_dir: Path, timeout_s: float = 30.0) -> bool:
    """Stop the recorded server; True if one was running."""
    server = running_server(state_dir)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    if server is None:
        return False
    stop_process_group(server.pid, timeout_s)
    return True


def stop_process_group(pid: int, timeout_s: float = 30.0) -> None:
    """Terminate a server started in a session of its own, killing it after `timeout_s`."""
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.2)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)
