"""Shared test constants and plain helpers (no fixtures: those live in conftest.py).

Test modules import these from here (`from helpers import CATALOG_SAMPLE`); pytest advises
against importing conftest.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
from pathlib import Path

import pytest

from moodlake_dagster.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
HISTORY = SHARED_DATA / "listening_history"
EXTENDED = HISTORY / "spotify-music-analysis"
BASIC = HISTORY / "my-spotify-data"
CATALOG_SAMPLE = REPO / "moodlake_dagster" / "demo_data" / "catalog_sample.csv"
NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
# The tables each layer must have: written out here, not imported, so a lost one fails a test.
LAYERS = {
    "bronze": ["catalog_tracks", "listening_events"],
    "silver": ["tracks", "plays", "users"],
    "gold": [
        "listening_by_daypart",
        "mood_by_hour",
        "genre_mix",
        "track_engagement",
        "feature_correlations",
        "feature_gaps",
        "genre_discovery",
        "sessions",
        "session_summary",
        "top_artists",
        "top_tracks",
        "listening_context",
        "feature_thresholds",
        "mood_by_day",
        "mood_trends",
        "mood_trend_tests",
        "insights",
    ],
}
# Gold tables kept as a daily series (by local day), not as snapshots as of a day.
DAILY = {"mood_by_day"}


def link_landing(target: Path, sources: dict[str, Path]) -> Path:
    """A landing folder whose subfolders (one per account) hold symlinks to real files."""
    for account, folder in sources.items():
        (target / account).mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.glob("*.json")):
            (target / account / path.name).symlink_to(path)
    return target


def make_settings(home: Path, landing: Path, spark_url: str, **extra):
    env = {
        "MOODLAKE_HOME": str(home),
        "MOODLAKE_LANDING": str(landing),
        "MOODLAKE_CATALOG": str(CATALOG_SAMPLE),
        "MOODLAKE_SPARK_REMOTE": spark_url,
        "MOODLAKE_PSEUDONYM_KEY": "test-key-not-secret",
    } | extra
    return load_settings(env)


def ui_env(root: Path, spark_url: str) -> dict[str, str]:
    """The environment `moodlake ui` gets in a test: this process's, a home and landing under
    `root`, the shared Spark server, and no DAGSTER_HOME (the CLI makes its own)."""
    env = os.environ | {
        "MOODLAKE_HOME": str(root / "home"),
        "MOODLAKE_LANDING": str(root / "landing"),
        "MOODLAKE_CATALOG": str(CATALOG_SAMPLE),
        "MOODLAKE_SPARK_REMOTE": spark_url,
        "MOODLAKE_PSEUDONYM_KEY": "test-key-not-secret",
    }
    env.pop("DAGSTER_HOME", None)
    return env


@contextlib.contextmanager
def cli_env(root: Path, spark_url: str, key: str):
    """The environment a `moodlake` command run in-process gets in a test: a home and landing
    under `root` and no DAGSTER_HOME. The command sets DAGSTER_HOME itself; it is set and
    deleted here first so that leaving restores it to unset (monkeypatch records nothing for
    a variable that was never there). Yields the variables set."""
    env = {
        "MOODLAKE_HOME": root / "home",
        "MOODLAKE_LANDING": root / "landing",
        "MOODLAKE_CATALOG": CATALOG_SAMPLE,
        "MOODLAKE_SPARK_REMOTE": spark_url,
        "MOODLAKE_PSEUDONYM_KEY": key,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, str(value))
        patch.setenv("DAGSTER_HOME", "unset")
        patch.delenv("DAGSTER_HOME")
        yield patch, {name: str(value) for name, value in env.items()}


def run_cli(*argv: str) -> tuple[int, str]:
    """`moodlake ARGV` in-process: its exit code and everything it printed."""
    from moodlake_dagster import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        return cli.main(list(argv)), out.getvalue()
