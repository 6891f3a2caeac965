"""Per-listener work over processes: the same results, in the same order, as one process."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_info

from moodlake_dagster.ml import parallel


def _centres(user_id: str, frame: pd.DataFrame) -> tuple[str, list[float], int]:
    """A seeded fit per listener, as the models do; the process that ran it, to tell apart."""
    km = KMeans(n_clusters=2, n_init=3, random_state=1).fit(frame[["x", "y"]].to_numpy())
    return user_id, sorted(km.cluster_centers_[:, 0].round(12).tolist()), os.getpid()


def _groups(n: int = 12):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "user_id": np.repeat([f"u{i:02d}" for i in range(n)], 60),
            "x": rng.normal(size=60 * n),
            "y": rng.normal(size=60 * n),
        }
    )
    return list(frame.groupby("user_id"))


def test_processes_give_the_serial_results_in_order():
    serial = parallel.per_listener(_centres, _groups(), n_workers=1)
    spread = parallel.per_listener(_centres, _groups(), n_workers=2)
    assert [r[:2] for r in spread] == [r[:2] for r in serial]
    assert [r[0] for r in spread] == [f"u{i:02d}" for i in range(12)]
    assert len({r[2] for r in spread}) >= 2  # really in other processes
    assert {r[2] for r in serial} == {os.getpid()}


def test_a_few_listeners_stay_in_this_process(monkeypatch):
    monkeypatch.setenv("MOODLAKE_WORKERS", "2")
    assert parallel.workers() == 2
    few = parallel.per_listener(_centres, _groups(parallel.MIN_LISTENERS - 1))
    assert {r[2] for r in few} == {os.getpid()}


def _threads(user_id: str, frame: pd.DataFrame) -> tuple[str, int]:
    """The most threads any numeric library loaded here may use, as the listener's work sees it."""
    return user_id, max((lib["num_threads"] for lib in threadpool_info()), default=1)


def test_each_listener_runs_on_one_numeric_thread_and_the_caller_keeps_its_own():
    before = {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()}
    # In this process, then in workers started with one thread for every native pool.
    for n in (1, 2):
        done = parallel.per_listener(_threads, _groups(), n_workers=n)
        assert {threads for _, threads in done} == {1}, n
    after = {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()}
    assert {path: after[path] for path in before} == before  # the limit was not left behind


def test_a_worker_that_first_ran_other_work_still_fits_on_one_thread():
    """Bronze reads history files in the same workers before any model: the numeric libraries
    a model loads later must still run on one thread (they once ran K-Means on two OpenMP
    threads per worker, on two cores: listening modes took minutes instead of seconds)."""
    parallel.stop_workers()  # fresh workers, whose first work loads no numeric library
    assert parallel.in_processes(abs, [(-1,), (-2,)], n_workers=2) == [1, 2]
    done = parallel.per_listener(_threads, _groups(), n_workers=2)
    assert {threads for _, threads in done} == {1}


# A process that used workers and ends as `moodlake` ends (no interpreter teardown).
_ENDS_AT_ONCE = """
import os, sys
from moodlake_dagster.ml import parallel
print(parallel.in_processes(abs, [(-1,), (-2,), (-3,)], n_workers=2), flush=True)
parallel.stop_workers()
os._exit(0)
"""


def test_workers_end_with_a_process_that_skips_teardown():
    """`moodlake` leaves with os._exit; its workers go with it instead of holding its output
    open for their idle timeout (a caller reading that output waited five minutes)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _ENDS_AT_ONCE],
        capture_output=True,
        text=True,
        timeout=parallel.IDLE_TIMEOUT_S / 5,  # reached only if the workers outlive it
    )
    assert done.returncode == 0 and done.stdout.strip() == "[1, 2, 3]"
    assert "leaked" not in done.stderr, done.stderr
