"""`moodlake ui` stops everything it started on Ctrl-C or SIGTERM, within seconds."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from dagster_server import free_port, start, wait_for, wait_until_up
from helpers import REPO, ui_env

from moodlake_dagster.spark_server import alive as process_alive

# `moodlake ui` on the shared Spark server.
pytestmark = pytest.mark.spark

STOP_WITHIN_S = 10


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (children of children included)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if process_alive(pid)}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_ui_stops_everything_it_started(tmp_path, spark_url, sig):
    port = free_port()
    env = ui_env(tmp_path, spark_url)
    (tmp_path / "landing").mkdir()
    log = tmp_path / "ui.log"
    command = [str(Path(sys.executable).with_name("moodlake")), "ui", "--port", str(port)]
    ui = start(command, env, log, REPO)
    try:
        wait_until_up(port, [log])
        # The daemon and the code servers are up too by now; collect all of them.
        wait_for(lambda: len(descendants(ui.pid)) >= 3, 60, "the daemon", [log])
        started = descendants(ui.pid)
        # A terminal's Ctrl-C reaches the foreground process group; a service manager's
        # SIGTERM reaches the main process only.
        if sig == signal.SIGINT:
            os.killpg(ui.pid, sig)
        else:
            ui.send_signal(sig)
        began = time.monotonic()
        ui.wait(timeout=STOP_WITHIN_S)
        while alive(started) and time.monotonic() - began < STOP_WITHIN_S:
            time.sleep(0.2)
        assert not alive(started), log.read_text()[-2000:]
        assert ui.returncode == 0
        text = log.read_text()
        assert "stopping the webserver and the daemon" in text
        # Nothing a user need not act on: no `dg dev` notice, no stray dagster.yaml warning.
        assert "dg dev" not in text and "dagster.yaml" not in text, text[-2000:]
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
