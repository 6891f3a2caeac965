"""A real PostgreSQL server for the test run: Debian's binaries, a temp cluster, loopback only."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

USER = "dagster"
DB = "dagster"


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: `apt-get install postgresql` (.ci/run does this)"
        )
    return Path(found[-1]).parent


@contextmanager
def postgres(port: int):
    """Start a throwaway cluster on 127.0.0.1:`port`; yields the DAGSTER_PG_* environment.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
    """
    bins = bin_dir()
    root = Path(tempfile.mkdtemp(prefix="moodlake-pg-", dir="/tmp"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> None:
        subprocess.run([*as_owner, *args], check=True, capture_output=True, cwd=root)

    run(str(bins / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "--no-sync")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bins / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    try:
        run(str(bins / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DB)
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_USER": USER,
            "DAGSTER_PG_PASSWORD": "not-secret-trust-auth",
            "DAGSTER_PG_DB": DB,
        }
    finally:
        subprocess.run(
            [*as_owner, str(bins / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
