"""Stop the local Spark Connect server once nobody has used it for a while.

A one-off `moodlake build` should leave no 2–4 GB JVM behind. Whoever uses the server holds a
lease — a file named after its process id under the server's state folder — for as long as it
runs: a build's Spark session, `moodlake ui` (webserver and daemon). A watchdog process,
started with the server, stops it once no lease's process is alive for `idle_s` seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from moodlake_dagster.spark_server import (
    alive,
    running_server,
    stop_local_server,
    stop_process_group,
)

LEASES = "leases"
POLL_S = 2.0


def lease_dir(state_dir: Path) -> Path:
    return state_dir / LEASES


def take(state_dir: Path, pid: int | None = None) -> Path:
    """A lease held until its process ends (the watchdog drops leases of dead processes)."""
    path = lease_dir(state_dir) / str(pid or os.getpid())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def live_leases(state_dir: Path) -> list[int]:
    """Pids holding a lease; leases of processes that have ended are removed."""
    pids = []
    folder = lease_dir(state_dir)
    for path in folder.iterdir() if folder.is_dir() else []:
        if path.name.isdigit() and alive(int(path.name)):
            pids.append(int(path.name))
        else:
            path.unlink(missing_ok=True)
    return pids


def watch(state_dir: Path, server_pid: int, idle_s: float, stop) -> str:
    """Wait until the server ends or stays unleased for `idle_s`; then `stop` it. Why it ended."""
    idle_since = time.monotonic()
    while True:
        if not alive(server_pid):
            return "the server ended"
        if live_leases(state_dir):
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= idle_s:
            stop()
            return f"stopped after {idle_s:.0f} s unused"
        time.sleep(POLL_S)


def start_watchdog(state_dir: Path, server_pid: int, idle_s: float) -> subprocess.Popen:
    """The watchdog for a just-started server, detached from whoever started it."""
    log = open(state_dir / "idle-watchdog.log", "ab")  # noqa: SIM115 (the child keeps it)
    command = [sys.executable, "-m", __name__, str(state_dir), str(server_pid), str(idle_s)]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_server(state_dir: Path, server_pid: int) -> None:
    """Stop the watched server: through its state file while that records it, else by its pid.
    A MOODLAKE_HOME deleted under a running server takes the state file with it; the JVM
    must not outlive it."""
    recorded = running_server(state_dir)
    if recorded is not None and recorded.pid == server_pid:
        stop_local_server(state_dir)
    elif alive(server_pid):
        stop_process_group(server_pid)


def main(argv: list[str]) -> int:
    """`python -m moodlake_dagster.spark_idle STATE_DIR SERVER_PID IDLE_S`."""
    state_dir, server_pid, idle_s = Path(argv[0]), int(argv[1]), float(argv[2])
    why = watch(state_dir, server_pid, idle_s, lambda: stop_server(state_dir, server_pid))
    print(f"spark idle watchdog: {why}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
