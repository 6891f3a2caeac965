"""The landing sensor through every cursor transition on real export files, then its runs."""

from __future__ import annotations

import json
import os
import time
import zipfile

import dagster as dg
import pytest
from deltalake import DeltaTable
from helpers import EXTENDED, make_settings

from moodlake_dagster.definitions import make_definitions
from moodlake_dagster.ingest.landing import LandingCursor
from moodlake_dagster.jobs import HISTORY_TRIGGER_TAG
from moodlake_dagster.resources import build_resources
from moodlake_dagster.sensors import landing_history_sensor, listening_snapshot_sensor
from moodlake_dagster.sensors.requests import ENRICH_TAG, RANGE_END_TAG, RANGE_START_TAG

ACCOUNT = "efrrowini"
FIRST_DAYS = ("2024-07-21", "2024-07-22", "2024-07-26")


def _records(name: str) -> list[dict]:
    return json.loads((EXTENDED / name).read_text())


def _write(path, records, age_s: float = 3600) -> None:
    """Write a history file that has been still for `age_s` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))
    _age(path, age_s)


def _age(path, age_s: float) -> None:
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


def _days(request: dg.RunRequest) -> tuple[str, str]:
    return request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]


class Tick:
    """Evaluates the sensor the way the daemon does: each tick starts from the last cursor."""

    def __init__(self, settings, instance):
        self.resources = build_resources(settings)
        self.instance = instance
        self.cursor = None

    def __call__(self) -> dg.SensorResult:
        with dg.build_sensor_context(
            cursor=self.cursor, resources=self.resources, instance=self.instance
        ) as context:
            result = landing_history_sensor(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor or self.cursor
        return result


@pytest.fixture
def sensor(shared_data, tmp_path, spark_url):
    landing = tmp_path / "landing"
    landing.mkdir()
    settings = make_settings(
        tmp_path,
        landing,
        spark_url,
        MOODLAKE_LANDING_SETTLE_S="30",
        MOODLAKE_LANDING_PATIENCE_S="600",
    )
    tick = Tick(settings, dg.DagsterInstance.ephemeral())
    tick.landing, tick.settings = landing, settings
    return tick


def test_cursor_transitions_on_real_files(sensor):
    landing = sensor.landing
    records = _records("Streaming_History_Audio_2024.json")
    first = [r for r in records if r["ts"][:10] in FIRST_DAYS]
    target = landing / ACCOUNT / "Streaming_History_Audio_2024.json"

    # An empty folder: nothing to do, and the reason says so.
    result = sensor()
    assert not result.run_requests
    assert "No new or changed history file" in result.skip_reason.skip_message

    # First file: one run over exactly its days, with a run key.
    _write(target, first)
    result = sensor()
    (request,) = result.run_requests
    assert _days(request) == ("2024-07-21", "2024-07-26")
    assert request.run_key.startswith("landing-")
    assert request.tags[HISTORY_TRIGGER_TAG] == "landing"
    selected = {k.to_user_string() for k in request.asset_selection}
    assert selected >= {"bronze/listening_events", "silver/plays"}
    # No Spotify account connected: no Web API lookup, no Silver tracks rebuild for it.
    assert "bronze/spotify_tracks" not in selected and request.tags[ENRICH_TAG] == "false"
    state = LandingCursor.parse(sensor.cursor).files[f"{ACCOUNT}/{target.name}"]
    assert state.days == [["2024-07-21", "2024-07-22"], ["2024-07-26", "2024-07-26"]]

    # Nothing new: skipped, cursor unchanged.
    before = sensor.cursor
    result = sensor()
    assert not result.run_requests and sensor.cursor == before

    # Touched but identical content: no run, the new mtime is remembered.
    _age(target, 60)
    result = sensor()
    assert not result.run_requests
    assert LandingCursor.parse(sensor.cursor).files[f"{ACCOUNT}/{target.name}"].mtime_ns != (
        state.mtime_ns
    )

    # Changed file (a day added at the end): a run over old and new days, a new run key.
    _write(target, [r for r in records if r["ts"][:10] <= "2024-07-28"])
    (changed,) = sensor().run_requests
    assert _days(changed) == ("2024-07-21", "2024-07-28")
    assert changed.run_key != request.run_key

    # Still being written (modified seconds ago): waited for, not ingested.
    growing = landing / ACCOUNT / "Streaming_History_Audio_2023.json"
    _write(growing, _records("Streaming_History_Audio_2023.json"), age_s=2)
    result = sensor()
    assert not result.run_requests
    assert "still being written" in result.skip_reason.skip_message
    assert f"{ACCOUNT}/{growing.name}" not in LandingCursor.parse(sensor.cursor).files

    # Once still, a whole year of plays becomes one run, not one run per day.
    _age(growing, 120)
    (year,) = sensor().run_requests
    start, end = _days(year)
    year_days = sorted(r["ts"][:10] for r in _records("Streaming_History_Audio_2023.json"))
    assert (start, end) == (year_days[0], year_days[-1])

    # A removed file: its days are re-derived so its plays leave the lake.
    growing.unlink()
    (removed,) = sensor().run_requests
    assert _days(removed) == (start, end)


def test_half_written_and_broken_files(sensor):
    landing = sensor.landing
    records = _records("Streaming_History_Audio_2024.json")[:40]
    text = json.dumps(records)
    cut = text[: len(text) // 2]  # stops mid-record: "invalid JSON at the end"
    whole = [r for i, r in enumerate(records) if len(json.dumps(records[: i + 1])) - 1 <= len(cut)]
    path = landing / ACCOUNT / "Streaming_History_Audio_2024.json"
    path.parent.mkdir(parents=True)
    path.write_text(cut)
    _age(path, 120)  # still for longer than the settle time, but within the patience

    result = sensor()
    assert not result.run_requests
    assert "truncated" in result.skip_reason.skip_message

    # The writer never came back: after the patience its good records are ingested.
    _age(path, 3600)
    (request,) = sensor().run_requests
    days = sorted(r["ts"][:10] for r in whole)
    assert 0 < len(whole) < len(records)
    assert _days(request) == (days[0], days[-1])

    # A file with no readable record at all: recorded, explained, no run.
    empty = landing / ACCOUNT / "Streaming_History_Audio_2099.json"
    empty.write_text("")
    _age(empty, 3600)
    result = sensor()
    assert not result.run_requests
    assert "Streaming_History_Audio_2099.json" in result.skip_reason.skip_message
    assert "quarantine" in result.skip_reason.skip_message


def test_an_export_zip_spanning_years_is_one_run(sensor):
    archive = sensor.landing / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(EXTENDED.glob("Streaming_History_Audio_*.json")):
            zf.write(path, f"Spotify Extended Streaming History/{path.name}")
    _age(archive, 3600)
    (request,) = sensor().run_requests
    all_days = sorted(
        r["ts"][:10]
        for p in EXTENDED.glob("Streaming_History_Audio_*.json")
        for r in json.loads(p.read_text())
    )
    assert _days(request) == (all_days[0], all_days[-1])
    files = LandingCursor.parse(sensor.cursor).files
    assert list(files) == ["my_spotify_data.zip"]
    assert sum(1 for _ in files["my_spotify_data.zip"].day_set()) == len(set(all_days))


def test_history_before_the_first_partition_waits_for_a_reload(sensor, monkeypatch):
    """An older export than the partitions know: its first day is recorded, nothing is lost."""
    import datetime as dt

    from moodlake_dagster.first_play import recorded_first_play_day
    from moodlake_dagster.sensors import landing, requests

    def partitions_from(day: str) -> None:
        for module in (landing, requests):
            monkeypatch.setattr(module, "first_partition_day", lambda: dt.date.fromisoformat(day))

    monkeypatch.delenv("MOODLAKE_PARTITIONS_START")
    partitions_from("2024-07-22")  # loaded when the lake's first play was 2024-07-22
    records = [
        r for r in _records("Streaming_History_Audio_2024.json") if r["ts"][:10] in FIRST_DAYS
    ]
    _write(sensor.landing / ACCOUNT / "Streaming_History_Audio_2024.json", records)

    result = sensor()
    assert not result.run_requests and sensor.cursor is None  # the files will come again
    message = result.skip_reason.skip_message
    assert "reaches back to 2024-07-21" in message and "reload the code location" in message
    assert recorded_first_play_day(sensor.settings.home) == dt.date(2024, 7, 21)

    partitions_from("2024-07-21")  # the code location reloaded
    (request,) = sensor().run_requests
    assert _days(request) == ("2024-07-21", "2024-07-26")


def test_requested_runs_materialize_and_snapshots_follow(sensor):
    """What the sensor asks for, run: Bronze and Silver for its days, then the snapshots."""
    records = [
        r for r in _records("Streaming_History_Audio_2024.json") if r["ts"][:10] in FIRST_DAYS
    ]
    _write(sensor.landing / ACCOUNT / "Streaming_History_Audio_2024.json", records)
    (request,) = sensor().run_requests
    defs = make_definitions(
        {
            "MOODLAKE_HOME": str(sensor.settings.home),
            "MOODLAKE_LANDING": str(sensor.landing),
            "MOODLAKE_CATALOG": str(sensor.settings.catalog),
            "MOODLAKE_SPARK_REMOTE": sensor.settings.spark_remote,
            "MOODLAKE_PSEUDONYM_KEY": sensor.settings.pseudonym_key,
        }
    )
    history = defs.resolve_job_def("listening_history").execute_in_process(
        instance=sensor.instance, tags=request.tags, asset_selection=request.asset_selection
    )
    assert history.success
    root = sensor.settings.lake_root
    events = DeltaTable(f"{root}/bronze/listening_events").to_pandas()
    assert len(events) == len(records)
    assert sorted(events["play_date"].astype(str).unique()) == sorted(FIRST_DAYS)
    plays = DeltaTable(f"{root}/silver/plays").to_pandas()
    assert 0 < len(plays) <= len(records)

    run = sensor.instance.get_run_by_id(history.run_id)
    context = dg.build_run_status_sensor_context(
        sensor_name=listening_snapshot_sensor.name,
        dagster_instance=sensor.instance,
        dagster_run=run,
        dagster_event=history.get_run_success_event(),
        resources={"lake": sensor.resources["lake"]},
    )
    follow = listening_snapshot_sensor(context)
    assert isinstance(follow, dg.RunRequest)
    assert follow.partition_key == "2024-07-26"  # the latest listening day, not today
    snapshots = defs.resolve_job_def("listening_snapshots").execute_in_process(
        instance=sensor.instance, partition_key=follow.partition_key
    )
    assert snapshots.success
    by_daypart = DeltaTable(f"{root}/gold/listening_by_daypart").to_pandas()
    assert by_daypart["plays"].sum() == len(plays)
    assert set(by_daypart["as_of_date"].astype(str)) == {"2024-07-26"}


def test_the_code_location_serves_both_sensors(shared_data, tmp_path):
    """`dagster sensor preview` evaluates the sensors in a real code server, as the daemon does."""
    import subprocess
    import sys
    from pathlib import Path

    _write(
        tmp_path / "landing" / ACCOUNT / "Streaming_History_Audio_2022.json",
        _records("Streaming_History_Audio_2022.json"),
    )
    (tmp_path / "dagster").mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "MOODLAKE_HOME": str(tmp_path / "home"),
        "MOODLAKE_LANDING": str(tmp_path / "landing"),
        "MOODLAKE_PSEUDONYM_KEY": "k",
    }
    dagster = str(Path(sys.executable).with_name("dagster"))

    def preview(name: str) -> str:
        done = subprocess.run(
            [dagster, "sensor", "preview", "-m", "moodlake_dagster.definitions", name],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return done.stdout + done.stderr

    landing = preview("landing_history_sensor")
    assert "returning run requests for 1 run(s)" in landing
    assert "from 2022-" in landing
    # The sensor recorded the first landed play: the next load starts the partitions there.
    first_play = min(r["ts"][:10] for r in _records("Streaming_History_Audio_2022.json"))
    assert (tmp_path / "home" / "first_play_day").read_text().strip() == first_play
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "from moodlake_dagster.partitions import daily_partitions as p;"
            "print(p.get_first_partition_key())",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert loaded.stdout.strip() == first_play
    spotify = preview("spotify_recent_plays_sensor")
    assert "Spotify is not configured" in spotify


def test_a_connected_spotify_account_adds_the_track_lookup(shared_data, tmp_path):
    """Configured is not enough: only with a cached token does the run look tracks up."""
    from moodlake_dagster.settings import load_settings

    settings = load_settings(
        {
            "MOODLAKE_HOME": str(tmp_path / "home"),
            "MOODLAKE_LANDING": str(tmp_path / "landing"),
            "MOODLAKE_PSEUDONYM_KEY": "k",
            "MOODLAKE_SPOTIFY_CLIENT_ID": "test-client",
        }
    )
    tick = Tick(settings, dg.DagsterInstance.ephemeral())
    records = _records("Streaming_History_Audio_2024.json")
    target = tmp_path / "landing" / ACCOUNT / "Streaming_History_Audio_2024.json"
    _write(target, [r for r in records if r["ts"][:10] in FIRST_DAYS])
    (request,) = tick().run_requests
    assert request.tags[ENRICH_TAG] == "false"

    settings.spotify_token_cache.parent.mkdir(parents=True)
    settings.spotify_token_cache.write_text(json.dumps({"access_token": "a", "expires_at": 0}))
    _write(target, [r for r in records if r["ts"][:10] <= "2024-07-28"])
    (request,) = tick().run_requests
    assert request.tags[ENRICH_TAG] == "true"
    selected = [k.to_user_string() for k in request.asset_selection]
    assert selected.index("bronze/spotify_tracks") < selected.index("silver/tracks")


def test_an_object_store_prefix_works_like_a_folder(shared_data, tmp_path):
    """MOODLAKE_LANDING as an fsspec URL (here the in-memory filesystem, as s3:// would be)."""
    import fsspec

    from moodlake_dagster.assets.bronze import listening_events
    from moodlake_dagster.settings import load_settings

    prefix = f"memory://moodlake-test-{tmp_path.name}/landing"
    fs = fsspec.filesystem("memory")
    records = [
        r for r in _records("Streaming_History_Audio_2024.json") if r["ts"][:10] in FIRST_DAYS
    ]
    fs.pipe(f"{prefix}/{ACCOUNT}/Streaming_History_Audio_2024.json", json.dumps(records).encode())
    settings = load_settings(
        {
            "MOODLAKE_HOME": str(tmp_path / "home"),
            "MOODLAKE_LANDING": prefix,
            "MOODLAKE_PSEUDONYM_KEY": "k",
            "MOODLAKE_LANDING_SETTLE_S": "0",
        }
    )
    assert settings.landing == prefix
    tick = Tick(settings, dg.DagsterInstance.ephemeral())
    (request,) = tick().run_requests
    assert _days(request) == ("2024-07-21", "2024-07-26")
    assert not tick().run_requests  # nothing new on the second look

    result = dg.materialize(
        [listening_events],
        resources=build_resources(settings),
        partition_key="2024-07-22",
    )
    assert result.success
    events = DeltaTable(f"{settings.lake_root}/bronze/listening_events").to_pandas()
    assert len(events) == sum(1 for r in records if r["ts"][:10] == "2024-07-22")
