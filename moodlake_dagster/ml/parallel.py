"""Per-listener work spread over processes: each listener's model is independent of the
others', so a thousand of them need not wait for one another on one core.

Results come back in the listeners' order and each fit is seeded, so the tables are the same
whichever process fitted whom (tests/test_parallel.py). Each worker runs its numeric libraries
on one thread: two levels of parallelism on two cores only contend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

# Below this many listeners, starting worker processes costs more than it saves.
MIN_LISTENERS = 8


def workers() -> int:
    """Processes to use: MOODLAKE_WORKERS if set, else every core this process may run on."""
    configured = os.environ.get("MOODLAKE_WORKERS")
    if configured:
        return max(1, int(configured))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


# Whether this worker process has limited its numeric libraries to one thread: once per
# process, since finding the libraries costs ~4 ms, a tenth of a small listener's work.
_one_thread_set = False


def _in_worker(work: Callable[..., Any], *args: Any):
    global _one_thread_set
    if not _one_thread_set:
        threadpool_limits(limits=1)  # for the rest of this worker's life: it only runs these
        _one_thread_set = True
    return work(*args)


def in_processes(
    work: Callable[..., Any], items: Iterable[tuple], *, n_workers: int | None = None
) -> list[Any]:
    """`[work(*item) for item in items]` in worker processes (the workers are kept between
    calls), results in the items' order. `work` must be a module-level function."""
    run = Parallel(n_jobs=n_workers or workers(), backend="loky", batch_size="auto")
    return run(delayed(_in_worker)(work, *item) for item in items)


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
    n = n_workers or workers()
    if n == 1 or len(items) < MIN_LISTENERS:
        with threadpool_limits(limits=1):
            return [work(user_id, frame) for user_id, frame in items]
    return in_processes(work, items, n_workers=n)
