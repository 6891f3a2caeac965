"""`moodlake build` as a separate process, as a user runs it, and lakes compared row for row.

The reliability and cluster tests build the same small input (one real Extended history, three
days, the catalog sample) and compare their lakes with one uninterrupted build of it: the
session's `clean_build` fixture (conftest.py) makes that one once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable
from helpers import CATALOG_SAMPLE, EXTENDED, link_landing

from moodlake_dagster import maintenance

MOODLAKE = Path(sys.executable).parent / "moodlake"
DAYS = ["--start", "2024-07-21", "--end", "2024-07-23"]

BUILD_TIMEOUT_S = 600  # a safety net: a build here takes 1–3 min


def build_env(root: Path, spark_url: str) -> dict[str, str]:
    landing = root / "landing"
    if not landing.exists():
        link_landing(landing, {"efrrowini": EXTENDED})
    env = os.environ | {
        "MOODLAKE_HOME": str(root / "home"),
        "MOODLAKE_LANDING": str(landing),
        "MOODLAKE_CATALOG": str(CATALOG_SAMPLE),
        "MOODLAKE_SPARK_REMOTE": spark_url,
        "MOODLAKE_PSEUDONYM_KEY": "test-key-not-secret",
    }
    env.pop("DAGSTER_HOME", None)
    return env


def start_build(env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(MOODLAKE), "build", *DAYS, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killed as a whole
        # As from a shell prompt, where Ctrl-C stops a build: a test runner started in the
        # background (nohup, `cmd &` in a script) has SIGINT ignored, and children inherit that.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(proc: subprocess.Popen, timeout: float = BUILD_TIMEOUT_S) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"build did not finish in {timeout} s:\n{out[-3000:]}\n{err[-3000:]}")
    return proc.returncode, out, err


def table_rows(uri: str) -> pd.DataFrame:
    """A table's rows in a canonical order, without the columns that name a run or a moment
    (`_batch_id`, `_ingested_at`, … start with `_`)."""
    frame = DeltaTable(uri).to_pandas()
    frame = frame[sorted(c for c in frame.columns if not c.startswith("_"))]
    for column in frame.select_dtypes(include="object"):  # lists and maps sort as their text
        frame[column] = frame[column].map(lambda v: repr(v.tolist() if hasattr(v, "tolist") else v))
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def different_tables(lake: Path, clean: Path) -> list[str]:
    """The tables whose rows differ between two lakes (or that only one of them has)."""
    ours, theirs = dict(maintenance.tables(str(lake))), dict(maintenance.tables(str(clean)))
    differ = sorted(set(ours) ^ set(theirs))
    for name in sorted(set(ours) & set(theirs)):
        if name.startswith("audit/"):  # when each run happened: never the same twice
            continue
        try:
            pd.testing.assert_frame_equal(table_rows(ours[name]), table_rows(theirs[name]))
        except AssertionError as err:
            differ.append(f"{name}: {str(err)[:300]}")
    return differ
