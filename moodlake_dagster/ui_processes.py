"""The UI's processes — webserver and daemon — started together and stopped together.

Each runs in its own process group, so that stopping it reaches the code servers it starts.
Ctrl-C or SIGTERM stops both: SIGTERM to each group, then SIGKILL to whatever is left after
a grace period, so nothing outlives `moodlake ui`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

GRACE_S = 6.0


def _stop(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        _signal_group(child, signal.SIGKILL)  # the group may hold code servers still
        child.wait()


def _signal_group(child: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, sig)


def run_until_stopped(commands: dict[str, list[str]], cwd: Path) -> int:
    """Run every command until a signal or until one of them exits; stop all of them."""
    stopping: list[int] = []

    def request_stop(signum, _frame):
        stopping.append(signum)

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    children = {
        name: subprocess.Popen(command, cwd=cwd, start_new_session=True)
        for name, command in commands.items()
    }
    code = 0
    try:
        while not stopping:
            ended = {n: c.returncode for n, c in children.items() if c.poll() is not None}
            if ended:
                name, code = next(iter(ended.items()))
                print(f"moodlake ui: the {name} exited ({code}); stopping the rest")
                break
            time.sleep(0.2)
    finally:
        print("moodlake ui: stopping the webserver and the daemon")
        _stop(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
