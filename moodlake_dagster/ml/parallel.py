"""Work spread over processes: each listener's model is independent of the others', and each
history file's read of the others', so a thousand of them need not wait on one core.

Results come back in the listeners' order and each fit is seeded, so the tables are the same
whichever process fitted whom (tests/test_parallel.py). Each worker runs its numeric libraries
on one thread: two levels of parallelism on two cores only contend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from joblib.externals.loky import get_reusable_executor
from threadpoolctl import threadpool_limits

# Below this many listeners, starting worker processes costs more than it saves.
MIN_LISTENERS = 8
# Idle workers stop after this long; a build's next parallel step reuses them until then.
IDLE_TIMEOUT_S = 300
CHUNKS_PER_WORKER = 16
# Every native thread pool a worker may load, at one thread from the worker's start: a limit
# set in the worker covers only the libraries loaded by then, and a worker that first read
# history files (no numeric library) later ran K-Means on two OpenMP threads per core.
ONE_THREAD_ENV = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "BLIS_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    )
}


# The executor `in_processes` last used (loky keeps one per process and reuses it).
_executor = None


def workers() -> int:
    """Processes to use: MOODLAKE_WORKERS if set, else every core this process may run on."""
    configured = os.environ.get("MOODLAKE_WORKERS")
    if configured:
        return max(1, int(configured))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def in_processes(
    work: Callable[..., Any],
    items: Iterable[tuple],
    *,
    n_workers: int | None = None,
    chunk: int | None = None,
) -> list[Any]:
    """`[work(*item) for item in items]` in worker processes (kept between calls for their
    idle timeout), results in the items' order; here when one worker is all there is.
    `work` must be a module-level function. `chunk` items go to a worker at a time (by
    default a sixteenth of each worker's share: fewer round trips than one item each, and a
    chunk of slow items does not keep the other workers waiting long)."""
    items = list(items)
    n = min(n_workers or workers(), len(items))
    if n <= 1:
        with threadpool_limits(limits=1):
            return [work(*item) for item in items]
    global _executor
    _executor = get_reusable_executor(max_workers=n, timeout=IDLE_TIMEOUT_S, env=ONE_THREAD_ENV)
    chunk = chunk or max(1, len(items) // (n * CHUNKS_PER_WORKER))
    return list(_executor.map(work, *zip(*items, strict=True), chunksize=chunk))


def stop_workers() -> None:
    """Stop the worker processes, if any were started: a process that ends without its
    interpreter's teardown (`cli.entry`) would leave them waiting out their idle timeout,
    holding its stdout open."""
    global _executor
    if _executor is not None:
        # Not killed: killed workers leave their queues' semaphores to the resource tracker,
        # which warns about them (a chunk still running after a failure is waited for).
        _executor.shutdown(wait=True)
        _executor = None


def per_listener(
    work: Callable[[str, Any], Any],
    groups: Iterable[tuple[Any, Any]],
    *,
    n_workers: int | None = None,
) -> list[Any]:
    """`[work(str(user_id), frame) for user_id, frame in groups]`, spread over processes; a
    listener's part is usually their plays, or a small bundle of their inputs.

    `work` must be a module-level function (it is sent to the workers) and should return its
    failures as values rather than raise them, so one listener's problem is not everyone's."""
    items = [(str(user_id), frame) for user_id, frame in groups]
    if len(items) < MIN_LISTENERS:
        n_workers = 1
    return in_processes(work, items, n_workers=n_workers)
