"""The `moodlake` command: a date-range build recorded in Dagster, and its settings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest
from helpers import CATALOG_SAMPLE, EXTENDED, REPO, link_landing

from moodlake_dagster import cli, event_log
from moodlake_dagster.settings import SettingsError, load_settings


def test_build_a_date_range_from_the_command_line(
    shared_data, spark_url, tmp_path, monkeypatch, capsys
):
    landing = link_landing(tmp_path / "landing", {"efrrowini": EXTENDED})
    for name, value in {
        "MOODLAKE_HOME": tmp_path / "home",
        "MOODLAKE_LANDING": landing,
        "MOODLAKE_CATALOG": CATALOG_SAMPLE,
        "MOODLAKE_SPARK_REMOTE": spark_url,
    }.items():
        monkeypatch.setenv(name, str(value))
    # Set, then unset: the build sets DAGSTER_HOME itself, and undo must remove it.
    monkeypatch.setenv("DAGSTER_HOME", "unset")
    monkeypatch.delenv("DAGSTER_HOME")
    code = cli.main(["build", "--start", "2024-07-21", "--end", "2024-07-23"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "days 2024-07-21 … 2024-07-23 (3 day partitions)" in out
    assert "[3 partition(s)]" in out and "Done in" in out
    home = tmp_path / "home" / "dagster"
    assert (home / "dagster.yaml").read_text() == (REPO / "dagster.yaml").read_text()
    with event_log.instance_at(home) as instance:
        plays = instance.get_materialized_partitions(dg.AssetKey(["silver", "plays"]))
        genre = instance.get_materialized_partitions(dg.AssetKey(["gold", "genre_mix"]))
    assert plays == {"2024-07-21", "2024-07-22", "2024-07-23"}
    assert genre == {"2024-07-23"}  # snapshots are built as of the last day
    # The landing's first play is where this home's partitions begin from now on.
    first_play = min(
        record["ts"][:10]
        for path in EXTENDED.glob("*.json")
        for record in json.loads(path.read_text())
    )
    assert (tmp_path / "home" / "first_play_day").read_text().strip() == first_play


def test_demo_defaults_generate_a_labelled_history(tmp_path):
    settings = load_settings({"MOODLAKE_HOME": str(tmp_path)})
    assert settings.uses_demo_landing and settings.catalog.name == "catalog_sample.csv"
    first, last = cli.data_day_range(settings)
    assert (first, last) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    files = sorted(settings.landing.rglob("*.json"))
    assert files and all(f.name.endswith("_GENERATED.json") for f in files)
    record = json.loads(files[0].read_text())[0]
    assert record["platform"] == "moodlake-generator"
    assert "generated" in (settings.landing / "GENERATED.md").read_text()


def test_settings_errors_name_the_variable():
    with pytest.raises(SettingsError, match="MOODLAKE_TIMEZONE: unknown time zone 'Mars/Base'"):
        load_settings({"MOODLAKE_TIMEZONE": "Mars/Base"})
    with pytest.raises(SettingsError, match="MOODLAKE_USER_TIMEZONES"):
        load_settings({"MOODLAKE_USER_TIMEZONES": "alice"})
    with pytest.raises(SettingsError, match="MOODLAKE_DEDUP_WINDOW_S"):
        load_settings({"MOODLAKE_DEDUP_WINDOW_S": "soon"})


def test_pseudonym_key_file_is_private_and_stable(tmp_path):
    settings = load_settings({"MOODLAKE_HOME": str(tmp_path)})
    key = settings.resolved_pseudonym_key()
    assert key == settings.resolved_pseudonym_key()
    key_file = Path(tmp_path) / "secrets" / "pseudonym.key"
    assert key_file.stat().st_mode & 0o077 == 0
    env_key = load_settings({"MOODLAKE_HOME": str(tmp_path), "MOODLAKE_PSEUDONYM_KEY": "s3cret"})
    assert env_key.resolved_pseudonym_key() == b"s3cret"


def test_bad_paths_fail_with_the_variable_and_path(tmp_path, monkeypatch, capsys):
    landing = tmp_path / "landing" / "me"
    landing.mkdir(parents=True)
    (landing / "StreamingHistory0.json").write_text(
        json.dumps(
            [{"endTime": "2024-03-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1}]
        )
    )
    monkeypatch.setenv("MOODLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MOODLAKE_LANDING", str(tmp_path / "landing"))
    monkeypatch.setenv("MOODLAKE_CATALOG", str(tmp_path / "missing.csv"))
    # Set, then unset: the build sets DAGSTER_HOME itself, and undo must remove it.
    monkeypatch.setenv("DAGSTER_HOME", "unset")
    monkeypatch.delenv("DAGSTER_HOME")
    assert cli.main(["build"]) == 1
    out = capsys.readouterr().out
    failed = "STEP FAILED: bronze/catalog_tracks: FileNotFoundError: MOODLAKE_CATALOG="
    assert f"{failed}{tmp_path}" in out
    assert "FAILED in" in out

    monkeypatch.setenv("MOODLAKE_LANDING", str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match=r"MOODLAKE_LANDING=.*nowhere is not a folder"):
        cli.main(["build"])


def test_select_takes_table_keys_and_names_the_new_key_for_an_old_name():
    chosen = cli.selected_tables(["silver/plays", "gold/genre_mix"])
    assert [table.path for table in chosen] == ["silver/plays", "gold/genre_mix"]
    with pytest.raises(SystemExit, match="use --select silver/plays"):
        cli.selected_tables(["plays"])
    with pytest.raises(SystemExit, match="no such table; known: bronze/catalog_tracks"):
        cli.selected_tables(["silver/nothing"])
