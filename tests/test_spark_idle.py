"""The local Spark server stops itself once nobody has used it for a while."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time

from dagster_server import free_port

from moodlake_dagster import spark_idle
from moodlake_dagster.spark_server import STATE_FILE, running_server


def fake_server(port: int) -> subprocess.Popen:
    """A process that listens on `port` as the Spark Connect server would."""
    code = (
        "import socket, time; s = socket.socket(); "
        f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(600)"
    )
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


def recorded_server(state_dir) -> subprocess.Popen:
    """A fake server up on a free port and recorded in `state_dir` as the local server."""
    port = free_port()
    server = fake_server(port)
    assert wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 20)
    (state_dir / STATE_FILE).write_text(json.dumps({"pid": server.pid, "port": port, "log": ""}))
    return server


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_leased_server_is_kept_and_an_unleased_one_stopped(tmp_path):
    server = recorded_server(tmp_path)
    try:
        user = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(4)"])
        spark_idle.take(tmp_path, user.pid)  # a build holding the server
        watchdog = spark_idle.start_watchdog(tmp_path, server.pid, idle_s=1)
        user.wait()
        # Leased for 4 s, four times its idle time: still running when the lease ends.
        assert server.poll() is None
        assert wait_until(lambda: server.poll() is not None, 30), "the idle server kept running"
        assert running_server(tmp_path) is None
        watchdog.wait(timeout=10)
        assert "stopped after 1 s unused" in (tmp_path / "idle-watchdog.log").read_text()
        assert spark_idle.live_leases(tmp_path) == []  # the ended process's lease is gone
    finally:
        if server.poll() is None:
            server.kill()


def test_the_watchdog_ends_with_its_server(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_idle, "POLL_S", 0.1)  # notice the end within 0.1 s, not 2 s
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    why = spark_idle.watch(tmp_path, server.pid, idle_s=600, stop=lambda: None)
    server.wait()
    assert why == "the server ended"


def test_a_server_whose_home_was_deleted_is_still_stopped(tmp_path):
    state = tmp_path / "spark"
    state.mkdir()
    server = recorded_server(state)
    try:
        watchdog = spark_idle.start_watchdog(state, server.pid, idle_s=1)
        shutil.rmtree(state)  # the home removed while its server runs
        assert wait_until(lambda: server.poll() is not None, 30), "the orphaned server kept running"
        watchdog.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
