"""Track lookups for played ids the catalog lacks: spacing, 403 switches features off, 429 stops."""

from __future__ import annotations

import copy
import datetime as dt
import json

import dagster as dg
import pytest
from deltalake import DeltaTable
from helpers import CATALOG_SAMPLE, EXTENDED
from spotify_server import FakeSpotify, sample
from test_spotify_client import make_client

from moodlake_dagster.definitions import ASSETS
from moodlake_dagster.ingest.enrichment import enrich_tracks
from moodlake_dagster.resources import build_resources
from moodlake_dagster.settings import load_settings

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
DAY = "2024-07-21"  # eight real plays, seven of them of tracks the 10k catalog sample lacks
IDS = ["2eAvDnpXP5W0cVtiI0PUxV", "3U1TuSqHIubBA10cVP7Sk6", "3vkCueOmm7xQDoJ17W1Pm3"]
FEATURES = "/v1/audio-features/"


def track(track_id: str, name: str) -> dict:
    body = copy.deepcopy(sample("track"))
    body.update(id=track_id, name=name, uri=f"spotify:track:{track_id}")
    return body


def features(track_id: str) -> dict:
    return sample("track_audio_features") | {"id": track_id}


@pytest.fixture
def fake(shared_data):
    server = FakeSpotify().start()
    yield server
    server.stop()


def test_lookups_are_spaced_and_a_403_switches_features_off_once(fake, tmp_path):
    client, _, _ = make_client(fake, tmp_path)
    fake.tracks = {i: track(i, f"Song {n}") for n, i in enumerate(IDS[:2])}  # third: 404
    fake.script(FEATURES, (200, {}, {"audio_features": [features(IDS[0])]}))
    fake.script(FEATURES, (403, {}, {"error": {"status": 403, "message": "Forbidden"}}))
    logged, sleeps = [], []
    result = enrich_tracks(
        client,
        IDS,
        features_off=None,
        spacing_s=0.25,
        now=NOW,
        log=logged.append,
        sleep=sleeps.append,
    )
    assert [r["lookup_status"] for r in result.rows] == ["found", "found", "not_found"]
    assert result.rows[0]["valence"] == 0.624 and result.rows[0]["features_source"] == "api"
    assert result.rows[1]["valence"] is None and result.rows[1]["track_name"] == "Song 1"
    assert result.found == 2 and result.with_features == 1
    assert "403" in result.features_off and len(logged) == 1
    assert len(fake.paths(FEATURES)) == 2, "no features request after the 403"
    assert sleeps == [0.25, 0.25]


def test_a_long_rate_limit_stops_the_run_and_keeps_what_was_fetched(fake, tmp_path):
    client, _, _ = make_client(fake, tmp_path, max_wait_s=5)
    fake.tracks = {i: track(i, "x") for i in IDS}
    fake.script(f"/v1/tracks/{IDS[1]}", (429, {"Retry-After": "3600"}, None))
    result = enrich_tracks(
        client, IDS, features_off="off", spacing_s=0, now=NOW, log=print, sleep=lambda s: None
    )
    assert [r["track_id"] for r in result.rows] == [IDS[0]]
    assert "3600 s" in result.stopped and "2 id(s) left" in result.stopped
    assert fake.paths(FEATURES) == []


def _connected(fake, tmp_path, spark_url):
    """Settings of a home whose landing holds one real day of plays, logged in to the fake."""
    landing = tmp_path / "landing" / "efrrowini"
    landing.mkdir(parents=True)
    records = json.loads((EXTENDED / "Streaming_History_Audio_2024.json").read_text())
    (landing / "Streaming_History_Audio_2024.json").write_text(
        json.dumps([r for r in records if r["ts"][:10] == DAY])
    )
    settings = load_settings(
        {
            "MOODLAKE_HOME": str(tmp_path / "home"),
            "MOODLAKE_LANDING": str(tmp_path / "landing"),
            "MOODLAKE_CATALOG": str(CATALOG_SAMPLE),
            "MOODLAKE_SPARK_REMOTE": spark_url,
            "MOODLAKE_PSEUDONYM_KEY": "k",
            "MOODLAKE_SPOTIFY_CLIENT_ID": "test-client",
            "MOODLAKE_SPOTIFY_API_URL": fake.api_url,
            "MOODLAKE_SPOTIFY_ACCOUNTS_URL": fake.url,
            "MOODLAKE_SPOTIFY_REQUEST_SPACING_S": "0",
        }
    )
    settings.spotify_token_cache.parent.mkdir(parents=True)
    settings.spotify_token_cache.write_text(json.dumps(fake.token_cache()))
    return settings


def test_the_asset_enriches_played_tracks_and_silver_uses_the_features(fake, tmp_path, spark_url):
    settings = _connected(fake, tmp_path, spark_url)
    fake.tracks = {i: track(i, f"Song {n}") for n, i in enumerate(IDS)}
    fake.features = {IDS[0]: features(IDS[0])}
    resources = build_resources(settings)
    selection = [
        "bronze/catalog_tracks",
        "bronze/listening_events",
        "bronze/spotify_tracks",
        "silver/tracks",
    ]
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        ASSETS, selection=selection, resources=resources, partition_key=DAY, instance=instance
    )
    assert result.success
    meta = result.asset_materializations_for_node("bronze__spotify_tracks")[0].metadata
    assert meta["not_in_catalog_or_looked_up"].value == 7
    assert meta["tracks_fetched"].value == 3 and meta["tracks_not_found"].value == 4
    assert meta["tracks_with_api_features"].value == 1
    assert meta["tracks_without_features"].value == 2
    root = settings.lake_root
    looked_up = DeltaTable(f"{root}/bronze/spotify_tracks").to_pandas()
    assert len(looked_up) == 7 and looked_up["track_id"].is_unique
    silver = DeltaTable(f"{root}/silver/tracks").to_pandas()
    api = silver[silver["features_source"] == "api"]
    assert api["track_id"].tolist() == [IDS[0]] and api["valence"].tolist() == [0.624]

    # The next run asks nothing: every played id is known now.
    before = len(fake.requests)
    again = dg.materialize(
        ASSETS,
        selection=["bronze/spotify_tracks"],
        resources=resources,
        partition_key=DAY,
        instance=instance,
    )
    meta = again.asset_materializations_for_node("bronze__spotify_tracks")[0].metadata
    assert meta["skipped"].value == "nothing to look up" and len(fake.requests) == before


def test_a_revoked_login_lets_the_plays_land_unenriched(fake, tmp_path, spark_url):
    settings = _connected(fake, tmp_path, spark_url)
    fake.access_token = "rotated-by-spotify"  # the saved token is stale...
    fake.refresh_error = "invalid_grant"  # ...and the person revoked the app's access
    selection = [
        "bronze/catalog_tracks",
        "bronze/listening_events",
        "bronze/spotify_tracks",
        "silver/tracks",
        "silver/plays",
    ]
    result = dg.materialize(
        ASSETS,
        selection=selection,
        resources=build_resources(settings),
        partition_key=DAY,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    meta = result.asset_materializations_for_node("bronze__spotify_tracks")[0].metadata
    assert "moodlake spotify login" in meta["skipped"].value
    plays = DeltaTable(f"{settings.lake_root}/silver/plays").to_pandas()
    assert len(plays) == 8  # every play of the day landed, the unknown tracks unresolved
