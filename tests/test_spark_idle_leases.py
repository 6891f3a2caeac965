"""Leases on the local Spark server and the watchdog's decision (spark_idle.py), with plain
Python processes standing in for a build and for the server; no JVM."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from moodlake_dagster import spark_idle


def _sleeper(seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


def test_a_lease_lasts_as_long_as_its_process(tmp_path):
    mine = spark_idle.take(tmp_path)
    assert mine == spark_idle.lease_dir(tmp_path) / str(os.getpid()) and mine.exists()
    ended = _sleeper(0)
    ended.wait()
    spark_idle.take(tmp_path, ended.pid)
    (spark_idle.lease_dir(tmp_path) / "not-a-pid").touch()
    assert spark_idle.live_leases(tmp_path) == [os.getpid()]
    # The dead process's lease and the stray file are cleaned away.
    assert sorted(p.name for p in spark_idle.lease_dir(tmp_path).iterdir()) == [str(os.getpid())]
    assert spark_idle.live_leases(tmp_path / "never-started") == []


def test_the_watchdog_leaves_when_the_server_is_gone(tmp_path):
    server = _sleeper(0)
    server.wait()
    stops = []
    assert spark_idle.watch(tmp_path, server.pid, idle_s=0, stop=lambda: stops.append(1)) == (
        "the server ended"
    )
    assert stops == []


def test_an_unleased_server_is_stopped_once_the_last_lease_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_idle, "POLL_S", 0.05)
    build = _sleeper(0.8)
    spark_idle.take(tmp_path, build.pid)
    stops: list[float] = []
    began = time.monotonic()
    why = spark_idle.watch(tmp_path, os.getpid(), idle_s=0.3, stop=lambda: stops.append(1))
    waited = time.monotonic() - began
    build.wait()
    assert why == "stopped after 0 s unused" and stops == [1]
    assert waited >= 0.8 + 0.3 - 0.1  # the lease's life, then the idle time
    assert spark_idle.live_leases(tmp_path) == []
