"""Spotify Web API responses in Bronze, and the plays they hold as listening events.

The polling sensor appends each recently-played response, as received, to
`bronze/spotify_api_responses` with its request time before it moves its cursor, so a play is
never lost between the API and the lake. `listening_events` turns the items into rows with
`source_format = "api"`: the API reports no ms played, skip flag or reason, so those stay null
and Silver does not guess them. Maintenance deletes old responses; the plays of their days are
then kept from Bronze as they stand (`carry_over_api_rows`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from moodlake_dagster.ingest.history import FUTURE_TOLERANCE
from moodlake_dagster.ingest.records import BadRecord, safe_raw
from moodlake_dagster.tables import LISTENING_EVENTS, SPOTIFY_API_RESPONSES

RECENTLY_PLAYED = "me/player/recently-played"
API_SOURCE = "spotify-api"
# What makes two API rows one play: the same listener, time and track.
PLAY_IDENTITY = ("user_id", "ts", "track_uri")


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
            row["user_id"] = response["user_id"]
            key = tuple(row[c] for c in PLAY_IDENTITY)
            if key in seen:  # the same play in two overlapping responses
                continue
            seen.add(key)
            events.append(
                row
                | {
                    "_source_file": source,
                    "_record_index": index,
                    "_ingested_at": ingested_at,
                    "_batch_id": batch_id,
                }
            )
    return events, bad


def carry_over_api_rows(
    existing: pa.Table, derived: Iterable[dict], kept_since: dt.date | None
) -> pa.Table:
    """The Bronze API rows a rebuild keeps as they stand, because no kept response holds them.

    `existing`: what `bronze/listening_events` holds over the run's days; `derived`: the API
    rows the kept responses give now; `kept_since`: the oldest request day still kept (None when
    none is). A response requested on day R holds plays of days <= R, so a play of a day >=
    `kept_since` is in a kept response and is derived afresh, while a play of an earlier day may
    have been only in a response maintenance deleted. Of those earlier days, the existing API
    rows kept are exactly those the derived rows lack (by `PLAY_IDENTITY`), not all of them:
    the day before `kept_since` is shared. A request at 00:10 holds last night's plays, so that
    day's plays can be in an expired response and in a kept one; and with no expiry at all,
    `kept_since` is the first request ever, whose response holds the night before it too. The
    difference needs no record of an expiry and is exact either way: with none it is empty and
    a rebuild derives every API row as before; after one, each play lands once, derived where a
    kept response still holds it and carried where none does. Only if new code stopped deriving
    a row of those days from a kept response would the old row stay.

    Rows come back in the table's schema, lineage columns as they were written.
    """
    table = _in_schema(existing, LISTENING_EVENTS.schema)
    wanted = pc.equal(table["source_format"], "api")
    if kept_since is not None:
        wanted = pc.and_(wanted, pc.less(table["play_date"], pa.scalar(kept_since, pa.date32())))
    candidates = table.filter(wanted)
    known = {tuple(row[c] for c in PLAY_IDENTITY) for row in derived}
    keys = zip(*(candidates[c].to_pylist() for c in PLAY_IDENTITY), strict=True)
    return candidates.filter(pa.array([key not in known for key in keys], pa.bool_()))


def _in_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table`'s columns in `schema`'s order and types; a column it lacks reads as null."""
    columns = [
        table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


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
