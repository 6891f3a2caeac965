"""One build at a time per MOODLAKE_HOME: an exclusive `flock` on $MOODLAKE_HOME/build.lock.

The kernel drops the lock when its holder exits, however it exits (SIGKILL included), so a lock
can never outlive its build. The file records the holder (pid, host, start time) only so that a
second build can say whom it waits for; the lock itself is the flock, not the file's content.
The descriptor is close-on-exec: a Spark server or other child started by the build does not
inherit the lock.

Also here: whether a recorded process is still the one that recorded itself (`process_alive`),
for runs whose process died without a word (see runs.py).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LOCK_NAME = "build.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a lock file: as recorded by the holder itself."""

    pid: int | None
    host: str
    started: dt.datetime | None

    def describe(self) -> str:
        pid = f"pid {self.pid}" if self.pid else "pid unknown"
        if self.host and self.host != socket.gethostname():
            pid += f" on {self.host}"
        when = self.started.astimezone().strftime("%H:%M") if self.started else "a moment ago"
        return f"{pid} since {when}"


class BuildLockBusy(Exception):
    """Another build holds the lock and the caller asked not to wait."""

    def __init__(self, holder: Holder):
        super().__init__(f"another build is running on this home: {holder.describe()}")
        self.holder = holder


def process_started(pid: int) -> float | None:
    """When a process started (epoch seconds), from /proc; None where /proc is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int, started: float | None = None) -> bool:
    """Whether `pid` runs (a zombie does not) and, if `started` is given, is the same process
    that started then (not a later one given the same pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: os.kill's answer is all there is
    if state == "Z":
        return False
    now_started = process_started(pid)
    # btime and clock ticks round: the same process reads within a couple of seconds.
    return started is None or now_started is None or abs(now_started - started) < 3


def read_holder(path: Path) -> Holder:
    """The holder a lock file records (fields missing if it was never written or is torn)."""
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        data = {}
    started = data.get("started")
    return Holder(
        pid=data.get("pid") if isinstance(data.get("pid"), int) else None,
        host=str(data.get("host") or ""),
        started=dt.datetime.fromisoformat(started) if isinstance(started, str) else None,
    )


def _record(fd: int) -> None:
    text = json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode() + b"\n", 0)


@contextmanager
def exclusive(path: Path, wait: bool = True, on_wait: Callable[[Holder], None] | None = None):
    """Hold an exclusive flock on `path` for the block.

    If another process holds it: with `wait`, call `on_wait(holder)` once and block in the kernel
    (no polling) until it is free; without, raise BuildLockBusy. A KeyboardInterrupt while
    blocked propagates (the lock was never taken)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(path)
            for _ in range(10):  # a holder writes its record just after taking the lock
                if holder.pid is not None:
                    break
                time.sleep(0.05)
                holder = read_holder(path)
            if not wait:
                raise BuildLockBusy(holder) from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        held = True
        _record(fd)
        yield
    finally:
        if held:
            os.ftruncate(fd, 0)  # no holder now (a killed holder's record is overwritten)
        os.close(fd)  # closing the only descriptor releases the flock


def build_lock(home: Path, wait: bool = True, on_wait: Callable[[Holder], None] | None = None):
    """The build lock of a MOODLAKE_HOME ($MOODLAKE_HOME/build.lock)."""
    return exclusive(Path(home) / LOCK_NAME, wait=wait, on_wait=on_wait)
