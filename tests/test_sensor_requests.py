"""The run requests the history sensors make (sensors/requests.py), without a sensor tick:
which days a run may cover and what one run over changed days asks for."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from moodlake_dagster import storage
from moodlake_dagster.jobs import HISTORY_TRIGGER_TAG
from moodlake_dagster.resources import LakeResource
from moodlake_dagster.sensors import requests
from moodlake_dagster.sensors.requests import (
    ENRICH_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    history_run_request,
    partition_days_only,
)

D = dt.date


def test_days_before_the_first_partition_are_set_apart(monkeypatch):
    monkeypatch.setattr(requests, "first_partition_day", lambda: D(2024, 7, 22))
    days = {D(2024, 7, 20), D(2024, 7, 21), D(2024, 7, 22), D(2025, 1, 1)}
    kept, before = partition_days_only(days)
    assert kept == {D(2024, 7, 22), D(2025, 1, 1)}
    assert before == {D(2024, 7, 20), D(2024, 7, 21)}
    assert partition_days_only(set()) == (set(), set())


def _names(request) -> list[str]:
    return [key.to_user_string() for key in request.asset_selection]


def test_one_run_spans_the_changed_days_and_says_why(tmp_path):
    lake = LakeResource(root=str(tmp_path / "lake"))
    days = {D(2024, 7, 26), D(2023, 1, 28), D(2024, 7, 21)}
    request = history_run_request(days, run_key="landing-abc", trigger="landing", lake=lake)
    assert request.run_key == "landing-abc"
    assert request.tags[RANGE_START_TAG] == "2023-01-28"
    assert request.tags[RANGE_END_TAG] == "2024-07-26"
    assert request.tags[HISTORY_TRIGGER_TAG] == "landing"
    assert request.tags["moodlake/days_changed"] == "3"  # changed days, not the span's 546
    assert request.tags[ENRICH_TAG] == "false"


def test_the_catalog_joins_only_while_silver_tracks_are_missing(tmp_path):
    lake = LakeResource(root=str(tmp_path / "lake"))
    fresh = _names(history_run_request({D(2024, 1, 1)}, run_key="k", trigger="t", lake=lake))
    assert fresh == [
        "bronze/catalog_tracks",
        "silver/tracks",
        "bronze/listening_events",
        "silver/plays",
        "gold/mood_by_day",
    ]
    tracks = pa.table({"as_of_date": pa.array([D(2024, 1, 1)], pa.date32()), "track_id": ["x"]})
    uri = storage.table_uri(str(tmp_path / "lake"), "silver", "tracks")
    storage.replace_range(uri, tracks, column="as_of_date", start=D(2024, 1, 1), end=D(2024, 1, 1))
    later = _names(history_run_request({D(2024, 1, 2)}, run_key="k2", trigger="t", lake=lake))
    assert later == fresh[2:]  # events, plays and the daily series only, in the same order


def test_enrichment_joins_between_the_events_and_silver_tracks(tmp_path):
    """With a connected account: the lookup after the events, Silver tracks after it, once."""
    lake = LakeResource(root=str(tmp_path / "lake"))

    def request(enrich: bool):
        return history_run_request(
            {D(2024, 1, 1)}, run_key="k", trigger="t", lake=lake, enrich=enrich
        )

    enriched = request(True)
    assert enriched.tags[ENRICH_TAG] == "true"
    assert _names(enriched) == [
        "bronze/catalog_tracks",
        "bronze/listening_events",
        "bronze/spotify_tracks",
        "silver/tracks",
        "silver/plays",
        "gold/mood_by_day",
    ]
    plain = _names(request(False))
    assert plain == [
        "bronze/catalog_tracks",
        "silver/tracks",
        "bronze/listening_events",
        "silver/plays",
        "gold/mood_by_day",
    ]
    tracks = pa.table({"as_of_date": pa.array([D(2024, 1, 1)], pa.date32()), "track_id": ["x"]})
    uri = storage.table_uri(str(tmp_path / "lake"), "silver", "tracks")
    storage.replace_range(uri, tracks, column="as_of_date", start=D(2024, 1, 1), end=D(2024, 1, 1))
    assert _names(request(True)) == _names(enriched)[1:]  # Silver tracks stay: no catalog
    assert _names(request(False)) == plain[2:]
