"""`moodlake demo --crowd N` and MOODLAKE_CROWD: a crowd in a landing folder, its answers beside
it, never over an existing folder's files."""

from __future__ import annotations

import json

from helpers import CATALOG_SAMPLE, run_cli

from moodlake_dagster.demo.landing import ensure_demo_landing
from moodlake_dagster.ingest.profiles import discover_profile_files
from moodlake_dagster.settings import load_settings


def test_demo_crowd_writes_histories_profiles_and_answers_beside_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MOODLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MOODLAKE_CATALOG", str(CATALOG_SAMPLE))
    out = tmp_path / "crowd"
    code, printed = run_cli("demo", "--crowd", "12", "--days", "30", "--out", str(out))
    assert code == 0, printed
    accounts = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(accounts) == 12
    assert [p.name for p in discover_profile_files(out)] == ["profiles_GENERATED.csv"]
    answers = json.loads((tmp_path / "home/demo/crowd_answers_GENERATED.json").read_text())
    assert set(answers["farms"]) <= set(accounts) and len(answers["farms"]) >= 3
    assert f"MOODLAKE_LANDING={out}" in printed

    code, printed = run_cli("demo", "--crowd", "12", "--out", str(out))
    assert code == 1 and "is not empty" in printed


def test_the_crowd_setting_generates_the_demo_landing_once(tmp_path):
    settings = load_settings(
        {
            "MOODLAKE_HOME": str(tmp_path / "home"),
            "MOODLAKE_CATALOG": str(CATALOG_SAMPLE),
            "MOODLAKE_CROWD": "10",
        }
    )
    said = ensure_demo_landing(settings)
    assert said.startswith("Generated a demo crowd of 10 listeners")
    assert len([p for p in settings.landing.iterdir() if p.is_dir()]) == 10
    assert settings.crowd_answers.is_file()
    assert not settings.crowd_answers.is_relative_to(settings.landing)
    assert ensure_demo_landing(settings) is None  # there already: left as it is
