"""Spotify Web API responses as stored and the listening events they hold (ingest/api.py),
on the saved real `recently-played` response and hand-made items; no server, no Spark."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from moodlake_dagster.ingest.api import (
    RECENTLY_PLAYED,
    api_events,
    played_at,
    response_rows,
)

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
ASKED = dt.datetime(2026, 11, 21, 8, 0, 0, 250_000, tzinfo=dt.UTC)


@pytest.fixture
def page(shared_data) -> dict:
    path = (
        shared_data / "spotify_api_samples" / "spotify-web-api-js" / "recently_played_tracks.json"
    )
    return json.loads(path.read_text())


def stored(pages: list[dict], requested_at=ASKED, user="u_1") -> list[dict]:
    return response_rows(pages, user_id=user, requested_at=requested_at, after_ms=None).to_pylist()


def test_each_page_is_stored_whole_but_for_the_context_uri(page):
    table = response_rows([page, page], user_id="u_1", requested_at=ASKED, after_ms=42)
    assert table.column_names == [
        "request_date",
        "requested_at",
        "user_id",
        "endpoint",
        "after_ms",
        "page",
        "items",
        "body",
    ]
    rows = table.to_pylist()
    assert [r["page"] for r in rows] == [0, 1]
    assert {r["items"] for r in rows} == {len(page["items"])}
    assert {(r["endpoint"], r["after_ms"], r["request_date"]) for r in rows} == {
        (RECENTLY_PLAYED, 42, ASKED.date())
    }
    body = json.loads(rows[0]["body"])
    # Another person's playlist can hide in the context uri: only its type is kept.
    assert [i["context"] for i in body["items"]] == [
        {"type": (i.get("context") or {}).get("type")} for i in page["items"]
    ]
    assert body["cursors"] == page["cursors"] and body["next"] == page["next"]
    assert [i["track"] for i in body["items"]] == [i["track"] for i in page["items"]]
    assert page["items"][0]["context"]["uri"]  # the stored copy changed, not the input


def test_the_real_response_becomes_one_event_per_play(page):
    events, bad = api_events(stored([page]), now=NOW, ingested_at=NOW, batch_id="b")
    assert bad == [] and len(events) == len(page["items"])
    for event, item in zip(events, page["items"], strict=True):
        track = item["track"]
        assert event["track_name"] == track["name"]
        assert event["artist_name"] == track["artists"][0]["name"]
        assert event["track_uri"] == track["uri"]
        assert event["ts"] == played_at(item) and event["play_date"] == event["ts"].date()
        assert event["ms_played"] is None  # the API does not say; Silver does not guess
        assert (event["source_format"], event["content_type"]) == ("api", "track")
        assert event["user_id"] == "u_1" and event["_batch_id"] == "b"
    assert events[0]["_source_file"] == "spotify-api/2026-11-21T08:00:00.250000Z/page-0"
    assert [e["_record_index"] for e in events] == list(range(len(events)))


def test_the_same_play_in_overlapping_responses_lands_once(page):
    later = ASKED + dt.timedelta(minutes=5)
    responses = stored([page], requested_at=later) + stored([page])
    events, _ = api_events(responses, now=NOW, ingested_at=NOW, batch_id="b")
    assert len(events) == len(page["items"])
    assert {e["_source_file"].split("/")[1] for e in events} == {"2026-11-21T08:00:00.250000Z"}
    # The same track at the same time for someone else is their play, not a duplicate.
    other = stored([page], user="u_2")
    both, _ = api_events(stored([page]) + other, now=NOW, ingested_at=NOW, batch_id="b")
    assert len(both) == 2 * len(page["items"])


def test_broken_and_future_items_are_quarantined_with_the_reason(page):
    items = copy.deepcopy(page["items"])
    future = copy.deepcopy(items[0]) | {"played_at": "2027-01-01T00:00:00Z"}
    nameless = copy.deepcopy(items[0])
    del nameless["track"]["name"]
    no_uri = copy.deepcopy(items[1])
    no_uri["track"]["uri"] = None
    no_uri["track"]["artists"] = []
    episode = copy.deepcopy(items[1]) | {"played_at": "2016-12-13T21:00:00Z"}
    episode["track"]["type"] = "episode"
    broken = page | {"items": [future, nameless, no_uri, episode]}
    events, bad = api_events(stored([broken]), now=NOW, ingested_at=NOW, batch_id="b")
    reasons = {b.record_index: b.reason for b in bad}
    assert set(reasons) == {0, 1}
    assert "is in the future" in reasons[0] and reasons[1].startswith("unreadable play item")
    assert "'name'" in reasons[1]
    fallback, show = events
    assert fallback["track_uri"] == f"spotify:track:{no_uri['track']['id']}"
    assert fallback["artist_name"] is None
    assert show["content_type"] == "episode"


def test_played_at_reads_z_and_offsets_as_utc():
    assert played_at({"played_at": "2024-03-01T10:00:00.500Z"}) == dt.datetime(
        2024, 3, 1, 10, 0, 0, 500_000, tzinfo=dt.UTC
    )
    assert played_at({"played_at": "2024-03-01T01:00:00+02:00"}) == dt.datetime(
        2024, 2, 29, 23, tzinfo=dt.UTC
    )
