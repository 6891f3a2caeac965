"""The build lock (one build per home, freed by the kernel when its holder dies) and the reclaim
of runs whose process is gone: real processes, a real SQLite Dagster instance, no Spark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import dagster as dg
import pytest

from moodlake_dagster import runs
from moodlake_dagster.build_lock import (
    BuildLockBusy,
    build_lock,
    process_alive,
    process_started,
    read_holder,
)

# A process that takes the lock, says so, holds it for argv[2] seconds, and reports the CPU
# seconds it spent (waiting included) when it is done.
HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from moodlake_dagster.build_lock import build_lock

    def waiting(holder):
        print("waiting for " + holder.describe(), flush=True)

    with build_lock(Path(sys.argv[1]), on_wait=waiting):
        print("held", time.time(), flush=True)
        time.sleep(float(sys.argv[2]))
    cpu = os.times()
    print("cpu", cpu.user + cpu.system, flush=True)
    """
)


def start_holder(home, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_until_held(proc: subprocess.Popen) -> float:
    line = proc.stdout.readline()
    assert line.startswith("held"), line
    return float(line.split()[1])


def test_a_second_holder_waits_without_spinning_then_proceeds(tmp_path):
    first = start_holder(tmp_path, 2.0)
    first_held = wait_until_held(first)
    second = start_holder(tmp_path, 0)
    said = second.stdout.readline()
    assert said.startswith(f"waiting for pid {first.pid} since "), said
    second_held = wait_until_held(second)
    out = second.stdout.read()  # to its end: the process has exited
    assert second.wait(timeout=30) == 0 and first.wait(timeout=30) == 0
    # It ran only once the first had let go, and spent its wait blocked, not polling.
    assert second_held >= first_held + 1.5
    cpu = float(out.split()[-1])
    assert cpu < 1.0, f"the waiting process used {cpu:.2f} s of CPU"


def test_a_killed_holder_frees_the_lock_at_once(tmp_path):
    holder = start_holder(tmp_path, 600)
    wait_until_held(holder)
    with (
        pytest.raises(
            BuildLockBusy, match=f"another build is running on this home: pid {holder.pid} since "
        ),
        build_lock(tmp_path, wait=False),
    ):
        pass
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    began = time.monotonic()
    with build_lock(tmp_path, wait=False):
        assert read_holder(tmp_path / "build.lock").pid == os.getpid()
    assert time.monotonic() - began < 1.0
    # Released cleanly, the file names no holder.
    assert read_holder(tmp_path / "build.lock").pid is None


def test_a_spawned_child_does_not_inherit_the_lock(tmp_path):
    with build_lock(tmp_path):
        child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        with build_lock(tmp_path, wait=False):
            pass
    finally:
        child.kill()
        child.wait()


def test_a_process_is_alive_only_while_it_is_the_same_process():
    assert process_alive(os.getpid(), process_started(os.getpid()))
    # The same pid, started at another time: a later process given a recycled pid.
    assert not process_alive(os.getpid(), (process_started(os.getpid()) or 0) - 3600)
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert not process_alive(ended.pid)
    zombie = subprocess.Popen(["true"])
    time.sleep(0.5)  # ended, not reaped yet
    assert not process_alive(zombie.pid)
    zombie.wait()


@pytest.fixture
def instance(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots("spark", 1)
        yield instance


def _run(instance, status, tags) -> str:
    run = dg.DagsterRun(job_name="build", status=status, tags=tags)
    instance.add_run(run)
    return run.run_id


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_run_whose_build_died_is_failed_and_its_slot_and_queue_place_freed(instance):
    dead = {runs.PID_TAG: str(_dead_pid()), runs.HOST_TAG: socket.gethostname()}
    holding = _run(instance, dg.DagsterRunStatus.STARTED, dead)
    queued = _run(instance, dg.DagsterRunStatus.STARTED, dead)
    planning = _run(instance, dg.DagsterRunStatus.NOT_STARTED, dead)
    live = _run(instance, dg.DagsterRunStatus.STARTED, runs.run_tags())
    ui = _run(instance, dg.DagsterRunStatus.STARTED, {})
    elsewhere = _run(instance, dg.DagsterRunStatus.STARTED, dead | {runs.HOST_TAG: "another-host"})
    storage = instance.event_log_storage
    assert storage.claim_concurrency_slot("spark", holding, "gold__als").is_claimed
    assert not storage.claim_concurrency_slot("spark", queued, "silver__plays").is_claimed
    holders = runs.pool_holders(instance)
    assert len(holders) == 1 and f"run {holding} (step gold__als, STARTED, pid " in holders[0]
    assert holders[0].endswith(" is gone)")

    lines = runs.reclaim_dead_runs(instance)

    pid = dead[runs.PID_TAG]
    assert (
        f"reclaimed run {holding} (pid {pid} is gone, was STARTED): marked failed, spark slot freed"
        in lines
    )
    assert (
        f"reclaimed run {queued} (pid {pid} is gone, was STARTED): marked failed, "
        "its place in the spark queue removed"
    ) in lines
    assert any(line.startswith(f"reclaimed run {planning} ") for line in lines)
    assert len(lines) == 3, lines
    status = {
        run_id: instance.get_run_by_id(run_id).status for run_id in (holding, queued, planning)
    }
    assert set(status.values()) == {dg.DagsterRunStatus.FAILURE}
    for run_id in (live, ui, elsewhere):
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    info = storage.get_concurrency_info("spark")
    assert info.claimed_slots == [] and info.pending_steps == [] and info.limit == 1
    assert runs.pool_holders(instance) == []
    assert runs.reclaim_dead_runs(instance) == []  # nothing left to reclaim


def test_a_slot_held_by_a_deleted_run_is_freed(instance):
    run_id = _run(instance, dg.DagsterRunStatus.STARTED, {})
    assert instance.event_log_storage.claim_concurrency_slot("spark", run_id, "s").is_claimed
    instance.delete_run(run_id)  # Dagster frees it itself here; a lost row is freed by us
    instance.event_log_storage.claim_concurrency_slot("spark", run_id, "s")
    assert runs.reclaim_dead_runs(instance) == [
        f"freed what run {run_id} (deleted) still held: spark slot freed"
    ]


def test_waiting_for_the_pool_names_the_holder_and_sleeps_longer_each_time(instance):
    holder = _run(instance, dg.DagsterRunStatus.STARTED, {})
    instance.event_log_storage.claim_concurrency_slot("spark", holder, "gold__als")
    said, slept = [], []

    def sleep(seconds):
        slept.append(seconds)
        if len(slept) == 4:
            instance.event_log_storage.free_concurrency_slots_for_run(holder)

    waited = runs.wait_for_pool(instance, say=said.append, sleep=sleep)
    assert slept == [1, 2, 4, 8] and waited == 15
    assert said[0] == (
        f"waiting for the spark pool's slot, held by run {holder} (step gold__als, STARTED, "
        "launched by the UI or the daemon) (checking every 15 s at most; Ctrl-C to stop)"
    )
    assert said[1:] == ["the spark pool's slot is free after 15 s: starting"]
    # Free: no word, no wait.
    said.clear()
    assert runs.wait_for_pool(instance, say=said.append, sleep=sleep) == 0 and said == []


def test_a_spotify_disconnect_waits_for_the_build_that_holds_the_home(tmp_path):
    """Its rebuild writes tables: it takes the build lock like a build, and says whose it waits
    for, instead of deleting API plays a running build would write back."""
    home = tmp_path / "home"
    holder = start_holder(home, 120)
    wait_until_held(holder)
    env = os.environ | {"MOODLAKE_HOME": str(home), "MOODLAKE_LANDING": str(tmp_path)}
    disconnect = subprocess.Popen(
        [sys.executable, "-m", "moodlake_dagster.cli", "spotify", "disconnect", "--no-rebuild"],
        env={k: v for k, v in env.items() if k != "DAGSTER_HOME"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = disconnect.stdout.readline()
        assert first.startswith(f"another build is running on this home: pid {holder.pid}")
        time.sleep(1)
        assert disconnect.poll() is None  # still waiting: nothing deleted yet
        assert not (home / "lake").exists()
    finally:
        holder.terminate()
        holder.wait(timeout=30)
    rest = disconnect.communicate(timeout=120)[0]
    assert disconnect.returncode == 0 and rest.startswith("Token was not there")
