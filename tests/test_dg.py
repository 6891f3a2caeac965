"""Dagster's `dg` CLI works from the repository root ([tool.dg] in pyproject.toml)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DG = Path(sys.executable).parent / "dg"


@pytest.fixture
def dg_env(tmp_path) -> dict[str, str]:
    """A clean environment: a fresh home and Dagster instance (telemetry off, as in the repo)."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "MOODLAKE_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(dagster_home),
        "MOODLAKE_PARTITIONS_START": "2008-10-01",
    }


def dg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    if not DG.exists():
        pytest.skip(f"{DG} is missing: install the dev extra (dagster-dg-cli)")
    return subprocess.run(
        [str(DG), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_dg_check_defs(dg_env):
    run = dg(dg_env, "check", "defs")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "All definitions loaded successfully." in run.stdout


def test_dg_list_defs(dg_env):
    run = dg(dg_env, "list", "defs", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    listed = json.loads(run.stdout)
    assets = {asset["asset_key"] for asset in listed["assets"]}
    assert {"silver/plays", "silver/tracks", "bronze/listening_events", "lake_health"} <= assets
    assert {r["name"] for r in listed["resources"]} == {"lake", "spark", "moodlake", "spotify"}
    assert "moodlake_build" in {job["name"] for job in listed["jobs"]}
