"""Spotify Web API responses in Bronze, and the plays they hold as listening events.

The polling sensor appends each recently-played response, as received, to
`bronze/spotify_api_responses` with its request time before it moves its cursor, so a play is
never lost between the API and the lake. `listening_events` turns the items into rows with
`source_format = "api"`: the API reports no ms played, skip flag or reason, so those stay null
and Silver does not guess them.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa

from moodlake_dagster.ingest.history import FUTURE_TOLERANCE
from moodlake_dagster.ingest.records import BadRecord, safe_raw
from moodlake_dagster.tables import SPOTIFY_API_RESPONSES

RECENTLY_PLAYED = "me/player/recently-played"
API_SOURCE = "spotify-api"


def _without_context_uri(page: dict) -> dict:
    """A context URI can name another person's playlist; keep only the context type."""
    page = dict(page)
    page["items"] = [
        {**item, "context": {"type": (item.get("context") or {}).get("type")}}
        for item in page.get("items", [])
    ]
    return page


def response_rows(
    pages: list[dict], *, user_id: str, requested_at: dt.datetime, after_ms: int | None
) -> pa.Table:
    rows = [
        {
            "request_date": requested_at.date(),
            "requested_at": requested_at,
            "user_id": user_id,
            "endpoint": RECENTLY_PLAYED,
            "after_ms": after_ms,
            "page": index,
            "items": len(page.get("items", [])),
            "body": json.dumps(_without_context_uri(page), separators=(",", ":")),
        }
        for index, page in enumerate(pages)
    ]
    return pa.Table.from_pylist(rows, schema=SPOTIFY_API_RESPONSES.schema)


def played_at(item: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(item["played_at"].replace("Z", "+00:00")).astimezone(dt.UTC)


def api_events(
    responses: list[dict], *, now: dt.datetime, ingested_at: dt.datetime, batch_id: str
) -> tuple[list[dict], list[BadRecord]]:
    """Bronze listening-event rows from stored responses; one row per (user, time, track)."""
    events, bad, seen = [], [], set()
    for response in sorted(responses, key=lambda r: (r["requested_at"], r["page"])):
        source = (
            f"{API_SOURCE}/{response['requested_at']:%Y-%m-%dT%H:%M:%S.%fZ}/page-{response['page']}"
        )
        for index, item in enumerate(json.loads(response["body"]).get("items", [])):
            try:
                row = _event(item, now)
            except (KeyError, TypeError, ValueError) as err:
                bad.append(
                    BadRecord(source, index, f"unreadable play item: {err!r}", safe_raw(item))
                )
                continue
            key = (response["user_id"], row["ts"], row["track_uri"])
            if key in seen:  # the same play in two overlapping responses
                continue
            seen.add(key)
            events.append(
                row
                | {
                    "user_id": response["user_id"],
                    "_source_file": source,
                    "_record_index": index,
                    "_ingested_at": ingested_at,
                    "_batch_id": batch_id,
                }
            )
    return events, bad


def _event(item: dict, now: dt.datetime) -> dict:
    ts = played_at(item)
    if ts > now + FUTURE_TOLERANCE:
        raise ValueError(f"played_at {ts.isoformat()} is in the future")
    track = item["track"]
    artists = track.get("artists") or []
    return {
        "play_date": ts.date(),
        "ts": ts,
        "ms_played": None,
        "content_type": "track" if track.get("type", "track") == "track" else "episode",
        "track_name": track["name"],
        "artist_name": artists[0]["name"] if artists else None,
        "album_name": (track.get("album") or {}).get("name"),
        "track_uri": track.get("uri") or f"spotify:track:{track['id']}",
        "source_format": "api",
        "platform": "web-api",
    }
