"""`moodlake build` as separate processes, killed and run together, as a user would meet it.

(i) A build SIGKILLed in Bronze, its rerun in Silver's plays step, the next in the model stage
(each moment found from the run's own events); the Spark steps' runs hold the `spark` pool's only
slot. Each run is left STARTED (with the slot held, for Spark steps) — the fault — and each next
build reclaims it, says so, and the last finishes, on a lake whose every table opens and equals,
row for row, a clean build's of the same inputs.
(ii) Two builds started together on one fresh home: one waits for the other, says so, and both
finish.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
from builds import BUILD_TIMEOUT_S, build_env, different_tables, finish, start_build
from deltalake import DeltaTable

from moodlake_dagster import cli, event_log, maintenance
from moodlake_dagster.build_lock import exclusive

# Every build runs the Spark assets (on the session's shared server).
pytestmark = pytest.mark.spark

# Spark steps, so their run holds the pool's only slot while they run: Silver's plays (read,
# transform, write; events stage), and one of the model stage (group ml).
KILL_POINTS = {
    "bronze": "bronze__listening_events",
    "silver-plays": "silver__plays",
    "model-stage": "gold__als_recommendations",
}


def wait_for_step(instance, proc: subprocess.Popen, step_key: str) -> dg.DagsterRun:
    """The run in which `step_key` has started (its STEP_START event), watched every 0.2 s."""
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the build ended before {step_key}: {proc.communicate()}"
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            started = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
            if any(event.step_key == step_key for event in started):
                return run
        time.sleep(0.2)
    pytest.fail(f"{step_key} never started")


def check_lake(lake: Path) -> list[str]:
    """Every Delta table opens at a committed version; plays, if built, are not doubled."""
    found = maintenance.tables(str(lake))
    for name, uri in found:
        assert DeltaTable(uri).version() >= 0, name
    if (lake / "silver" / "plays").exists():
        plays = DeltaTable(str(lake / "silver" / "plays")).to_pandas(columns=["play_id"])
        assert len(plays) > 0 and not plays["play_id"].duplicated().any()
    return [name for name, _ in found]


def kill_at(instance, env, step: str, spark: bool = True) -> tuple[dg.DagsterRun, int, float]:
    """Start a build, SIGKILL its process group once `step` has started; the run it left, the
    pid it had, and the seconds it ran. A Spark step's run holds the pool's only slot."""
    began = time.monotonic()
    proc = start_build(env)
    run = wait_for_step(instance, proc, step)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)  # reaped: its pid is gone
    # The fault: the run is left running, holding the pool's only slot.
    left = instance.get_run_by_id(run.run_id)
    assert left.status == dg.DagsterRunStatus.STARTED
    assert left.tags["moodlake/pid"] == str(proc.pid)
    held = instance.event_log_storage.get_concurrency_info("spark").claimed_slots
    assert [slot.run_id for slot in held] == ([run.run_id] if spark else [])
    return run, proc.pid, time.monotonic() - began


def test_killed_builds_do_not_block_the_next(shared_data, spark_url, tmp_path, clean_build):
    """Killed in Bronze, the rerun in Silver's plays step, the next in the model stage; the
    fourth build reclaims and finishes. Each build reclaims the run the previous one left."""
    env = build_env(tmp_path, spark_url)
    dagster_home = tmp_path / "home" / "dagster"
    # The home's instance, created as `moodlake build` would, to watch the builds' runs.
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(cli.DAGSTER_YAML)
    with exclusive(dagster_home / "storage.lock"):
        instance = event_log.instance_at(dagster_home)
    with instance:
        bronze_run, _, bronze_s = kill_at(instance, env, KILL_POINTS["bronze"], spark=False)
        plays_run, plays_pid, plays_s = kill_at(instance, env, KILL_POINTS["silver-plays"])
        model_run, model_pid, model_s = kill_at(instance, env, KILL_POINTS["model-stage"])
        # Each build reclaimed the previous one's run before it began.
        for run in (bronze_run, plays_run):
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE

        again = time.monotonic()
        code, out, err = finish(start_build(env))
        rebuilt_in = time.monotonic() - again
        assert code == 0, out + err
        assert (
            f"reclaimed run {model_run.run_id} (pid {model_pid} is gone, was STARTED): "
            "marked failed, spark slot freed"
        ) in out
        assert "waiting for the spark pool" not in out  # reclaimed first, so nothing to wait for
        assert "Traceback" not in out + err
        failed = instance.get_run_by_id(model_run.run_id)
        assert failed.status == dg.DagsterRunStatus.FAILURE
        assert "ended without finishing it" in failed_message(instance, model_run.run_id)
        assert instance.event_log_storage.get_concurrency_info("spark").claimed_slots == []
    tables = check_lake(tmp_path / "home" / "lake")
    assert "silver/plays" in tables
    # The session's clean build of the same inputs: the same tables, row for row.
    differ = different_tables(tmp_path / "home" / "lake", clean_build)
    assert not differ, differ
    print(
        f"\nkilled at {KILL_POINTS['bronze']} after {bronze_s:.0f} s, the rerun at "
        f"{KILL_POINTS['silver-plays']} after {plays_s:.0f} s, the next at "
        f"{KILL_POINTS['model-stage']} after {model_s:.0f} s; the fourth build reclaimed and "
        f"finished in {rebuilt_in:.0f} s; {len(tables)} tables open, each equal to a clean build's"
    )


def failed_message(instance, run_id: str) -> str:
    (event,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return event.dagster_event.message or ""


def test_two_builds_at_once_on_a_fresh_home_take_turns(shared_data, spark_url, tmp_path):
    """Both start before either has created the home's Dagster storage (the race that crashed
    one with `table secondary_indexes already exists`). A selection of two tables, one a Spark
    step, keeps it short: the lock and the storage are the same as for a whole build."""
    env = build_env(tmp_path, spark_url)
    select = ["--select", "bronze/catalog_tracks", "silver/tracks"]
    began = time.monotonic()
    procs = [start_build(env, *select), start_build(env, *select)]
    results = {proc.pid: finish(proc) for proc in procs}
    took = time.monotonic() - began
    for pid, (code, out, err) in results.items():
        assert code == 0, f"build {pid} failed:\n{out}\n{err}"
        assert "Traceback" not in out + err and "OperationalError" not in out + err
    waited = [pid for pid, (_, out, _) in results.items() if "another build is running" in out]
    assert len(waited) == 1, results
    (other,) = set(results) - set(waited)
    out = results[waited[0]][1]
    assert out.startswith(
        f"another build is running on this home: pid {other} since "
    ) and out.splitlines()[0].endswith("; waiting for it (Ctrl-C to stop)")
    # Serialised: every run of the one that waited began after the other's runs had ended.
    with event_log.instance_at(tmp_path / "home" / "dagster") as instance:
        records = instance.get_run_records()
    by_pid = {
        pid: [r for r in records if r.dagster_run.tags["moodlake/pid"] == str(pid)]
        for pid in results
    }
    assert by_pid[other] and all(r.dagster_run.status.value == "SUCCESS" for r in records)
    assert all(r.start_time >= max(o.end_time for o in by_pid[other]) for r in by_pid[waited[0]])
    assert {"bronze/catalog_tracks", "silver/tracks"} <= set(check_lake(tmp_path / "home" / "lake"))
    print(f"\ntwo builds at once: both finished in {took:.0f} s, one after the other")


def test_no_wait_exits_at_once_when_another_build_holds_the_home(tmp_path):
    env = build_env(tmp_path, "sc://127.0.0.1:9")  # never reached: it stops before Spark
    with exclusive(tmp_path / "home" / "build.lock"):
        code, out, err = finish(start_build(env, "--no-wait"), timeout=60)
    assert code == 1, out + err
    assert out.startswith(f"another build is running on this home: pid {os.getpid()} since ")
    assert "not waiting (--no-wait)" in out and "Traceback" not in err


def test_ctrl_c_while_waiting_stops_the_build_with_a_word(tmp_path):
    env = build_env(tmp_path, "sc://127.0.0.1:9")  # never reached: it stops before Spark
    with exclusive(tmp_path / "home" / "build.lock"):
        proc = start_build(env)
        said = proc.stdout.readline()
        assert said.startswith(f"another build is running on this home: pid {os.getpid()} ")
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("the build went on waiting after Ctrl-C") from None
        assert proc.returncode == 130, out + err
    assert out == "stopped waiting for the other build: nothing built\n"
    assert "Traceback" not in err
