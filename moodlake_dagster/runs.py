"""Runs whose process died, and the pool slots they hold.

A `moodlake build` runs its stages in its own process (`execute_in_process`). If that process is
killed, nothing tells Dagster: the run stays NOT_STARTED or STARTED for good and keeps its
`spark` pool slot (or its place in the pool's queue), and the next build waits for it forever.
So each build's run records who runs it (RUN_TAGS: pid, host, process start time), and the next
build, before it starts, marks the runs whose recorded process is gone as failed and frees what
they held (`reclaim_dead_runs`). Runs launched by the UI or the daemon carry no such tag and are
left to Dagster's own run monitoring. A run on another host is left alone too: its process
cannot be seen from here.

Before each run, `wait_for_pool` says which run holds the pool's slot, if another does, and
waits for it with a growing sleep — Dagster's own wait for a slot is a loop that does not sleep.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

PID_TAG = "moodlake/pid"
HOST_TAG = "moodlake/host"
STARTED_TAG = "moodlake/pid_started"
POOL = "spark"
# Statuses a run leaves only through its own process (QUEUED ones wait for the daemon, which
# launches them; a build's in-process run is never queued).
UNFINISHED = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")
ENDED_S = 60  # a run ended this long ago holds no slot that a step of it still uses


def run_tags() -> dict[str, str]:
    """Tags naming this process, for a run it executes itself."""
    from moodlake_dagster.build_lock import process_started

    started = process_started(os.getpid())
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()} | (
        {STARTED_TAG: f"{started:.0f}"} if started is not None else {}
    )


@dataclass(frozen=True)
class Owner:
    """The process a run's tags name, and whether it is gone."""

    pid: int | None
    host: str
    gone: bool

    @classmethod
    def of(cls, tags) -> Owner:
        from moodlake_dagster.build_lock import process_alive

        try:
            pid = int(tags[PID_TAG])
        except (KeyError, ValueError):
            return cls(None, "", False)  # not launched by a build: not ours to judge
        host = tags.get(HOST_TAG, "")
        if host and host != socket.gethostname():
            return cls(pid, host, False)
        try:
            started = float(tags[STARTED_TAG])
        except (KeyError, ValueError):
            started = None
        return cls(pid, host, pid != os.getpid() and not process_alive(pid, started))

    def describe(self) -> str:
        if self.pid is None:
            return "launched by the UI or the daemon"
        where = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        return f"pid {self.pid}{where}" + (" is gone" if self.gone else "")


def _pool_users(instance) -> dict[str, set[str]]:
    """Run id → the pools in which it holds a slot or waits in the queue."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    users: dict[str, set[str]] = {}
    for key in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(key)
        for slot in info.claimed_slots:
            users.setdefault(slot.run_id, set()).add(key)
        for step in info.pending_steps:
            users.setdefault(step.run_id, set()).add(key)
    return users


def _held_slots(instance, run_id: str) -> list[str]:
    """The pools in which `run_id` holds a claimed slot."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    return [
        key
        for key in sorted(storage.get_concurrency_keys())
        if any(slot.run_id == run_id for slot in storage.get_concurrency_info(key).claimed_slots)
    ]


def _free(instance, run_id: str) -> str:
    """Free a run's slots and queue places; say what was freed."""
    held = _held_slots(instance, run_id)
    queued = _pool_users(instance).get(run_id, set()) - set(held)
    if held or queued:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    parts = [f"{key} slot freed" for key in held]
    parts += [f"its place in the {key} queue removed" for key in sorted(queued)]
    return ", ".join(parts) or "it held no pool slot"


def reclaim_dead_runs(instance) -> list[str]:
    """Mark failed every unfinished run whose recorded process is gone, free the pool slots and
    queue places it holds, and free those still held by finished or deleted runs. One line per
    run reclaimed."""
    from dagster import DagsterRunStatus, RunsFilter

    lines = []
    unfinished = instance.get_runs(
        filters=RunsFilter(statuses=[DagsterRunStatus(status) for status in UNFINISHED])
    )
    for run in unfinished:
        owner = Owner.of(run.tags)
        if not owner.gone:
            continue
        instance.report_run_failed(
            run,
            message=(
                f"The process that ran this run ({owner.describe()}) ended without finishing it "
                "(killed?); marked failed by the next `moodlake build`."
            ),
        )
        freed = _free(instance, run.run_id)
        lines.append(
            f"reclaimed run {run.run_id} ({owner.describe()}, was {run.status.value}): "
            f"marked failed, {freed}"
        )
    # A run deleted, or ended a while ago, that still holds a slot or a queue place (a step
    # process of a run ended from outside may still be finishing: give it a minute).
    users = sorted(_pool_users(instance))
    records = {
        record.dagster_run.run_id: record
        for record in (instance.get_run_records(RunsFilter(run_ids=users)) if users else [])
    }
    for run_id in users:
        record = records.get(run_id)
        if record is not None and not (
            record.dagster_run.is_finished and (record.end_time or 0) < time.time() - ENDED_S
        ):
            continue
        state = "deleted" if record is None else record.dagster_run.status.value
        lines.append(f"freed what run {run_id} ({state}) still held: {_free(instance, run_id)}")
    return lines


def pool_holders(instance, pool: str = POOL) -> list[str]:
    """If every slot of `pool` is taken (claimed, or promised to a queued step), one description
    per holder; else an empty list."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    info = storage.get_concurrency_info(pool)
    taken = {(slot.run_id, slot.step_key) for slot in info.claimed_slots}
    taken |= {(s.run_id, s.step_key) for s in info.pending_steps if s.assigned_timestamp}
    if not info.limit or len(taken) < info.limit:
        return []
    holders = []
    for run_id, step_key in sorted(taken):
        run = instance.get_run_by_id(run_id)
        status = run.status.value if run else "deleted"
        owner = Owner.of(run.tags if run else {})
        holders.append(f"run {run_id} (step {step_key}, {status}, {owner.describe()})")
    return holders


def wait_for_pool(
    instance,
    say: Callable[[str], None] = print,
    pool: str = POOL,
    sleep: Callable[[float], None] = time.sleep,
    longest: float = 15.0,
) -> float:
    """Return once `pool` has a free slot, saying once who holds it if none is free and
    reclaiming the holder if its process dies meanwhile. Seconds waited."""
    waited, pause, said = 0.0, 1.0, None
    while holders := pool_holders(instance, pool):
        if reclaimed := reclaim_dead_runs(instance):
            for line in reclaimed:
                say(line)
            continue  # a holder was dead (or done): look again at once
        if holders != said:
            say(
                f"waiting for the {pool} pool's slot, held by {'; '.join(holders)} "
                f"(checking every {longest:.0f} s at most; Ctrl-C to stop)"
            )
            said = holders
        sleep(pause)
        waited += pause
        pause = min(pause * 2, longest)
    if said:
        say(f"the {pool} pool's slot is free after {waited:.0f} s: starting")
    return waited
