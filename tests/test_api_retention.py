"""API plays outlive their raw responses: after maintenance deletes old responses, a rebuild of
`bronze/listening_events` keeps the API plays no kept response holds (ingest/api.py
`carry_over_api_rows`), on a real Delta lake in a temp folder; no Spark."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from spotify_server import play_item, sample

from moodlake_dagster import maintenance
from moodlake_dagster.assets.bronze import listening_events
from moodlake_dagster.fingerprints import FORCE_TAG
from moodlake_dagster.ingest.api import carry_over_api_rows, response_rows
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.resources import build_resources
from moodlake_dagster.settings import load_settings
from moodlake_dagster.tables import LISTENING_EVENTS, SPOTIFY_API_RESPONSES

D = dt.date(2024, 3, 1)
ME, OTHER = pseudonymize("me", b"k"), pseudonymize("someone-else", b"k")
LINEAGE = ["_source_file", "_record_index", "_ingested_at", "_batch_id"]


def at(day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(D + dt.timedelta(days=day), dt.time(hour, minute), tzinfo=dt.UTC)


# (listener, requested at, plays it holds): recently-played overlaps from one poll to the next.
RESPONSES = [
    (ME, at(0, 0, 10), [at(-1, 23, 40), at(-1, 23, 50), at(0, 0, 5)]),  # the night before
    (OTHER, at(0, 9, 0), [at(0, 0, 5)]),  # the same time for someone else: their own play
    (ME, at(0, 22, 0), [at(0, 0, 5), at(0, 12, 0), at(0, 21, 0)]),
    (ME, at(1, 0, 20), [at(0, 23, 30), at(1, 0, 15)]),
    (ME, at(2, 9, 0), [at(1, 0, 15), at(1, 8, 0), at(2, 8, 30)]),
    (ME, at(3, 9, 0), [at(3, 8, 0)]),
]
FIRST_DAY, LAST_DAY = D - dt.timedelta(days=1), D + dt.timedelta(days=3)


def track_id(played: dt.datetime) -> str:
    return f"7t{int(played.timestamp()):020d}"  # one track per play time, 22 characters


def plays() -> set[tuple]:
    return {(user, p, f"spotify:track:{track_id(p)}") for user, _, held in RESPONSES for p in held}


@pytest.fixture
def lake(shared_data, tmp_path):
    """A lake whose responses table holds RESPONSES, beside an export holding one play."""
    landing = tmp_path / "landing" / "efrrowini"
    landing.mkdir(parents=True)
    export = {
        "ts": (at(0, 12, 0) + dt.timedelta(seconds=200)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ms_played": 200_000,
        "master_metadata_track_name": "Song",
        "master_metadata_album_artist_name": "Artist",
        "spotify_track_uri": f"spotify:track:{track_id(at(0, 12, 0))}",
    }
    (landing / "Streaming_History_Audio_2024.json").write_text(json.dumps([export]))
    settings = load_settings(
        {
            "MOODLAKE_HOME": str(tmp_path / "home"),
            "MOODLAKE_LANDING": str(tmp_path / "landing"),
            "MOODLAKE_PSEUDONYM_KEY": "k",
        }
    )
    resources = build_resources(settings)
    for user, asked, held in RESPONSES:
        items = [play_item(track_id(p), p, f"Song {p:%d %H:%M}", "Artist") for p in held]
        page = sample("recently_played_tracks") | {"items": items, "next": None}
        rows = response_rows([page], user_id=user, requested_at=asked, after_ms=None)
        resources["lake"].append(SPOTIFY_API_RESPONSES, rows)
    return {"resources": resources, "instance": dg.DagsterInstance.ephemeral()}


def build(lake, start=FIRST_DAY, end=LAST_DAY, force=False) -> dict:
    """Materialize bronze/listening_events over [start, end]; its metadata."""
    tags = {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    } | ({FORCE_TAG: "true"} if force else {})
    result = dg.materialize(
        [listening_events], resources=lake["resources"], instance=lake["instance"], tags=tags
    )
    assert result.success
    # One materialization per day of the range; the run's metadata is on the last day's.
    event = result.get_asset_materialization_events()[-1]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def uri(lake, table) -> str:
    return lake["resources"]["lake"].uri(table)


def events(lake, source_format="api") -> list[dict]:
    table = DeltaTable(uri(lake, LISTENING_EVENTS)).to_pyarrow_table()
    rows = [r for r in table.to_pylist() if r["source_format"] == source_format]
    return sorted(rows, key=lambda r: (r["user_id"], r["ts"], r["track_uri"]))


def identity(rows: list[dict]) -> list[tuple]:
    return [(r["user_id"], r["ts"], r["track_uri"]) for r in rows]


def without(rows: list[dict], columns: list[str]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in columns} for r in rows]


def expire(lake, before: dt.date) -> int:
    """What the nightly maintenance does to the responses table."""
    return maintenance.expire(uri(lake, SPOTIFY_API_RESPONSES), "request_date", before)


def test_api_plays_stay_in_bronze_after_their_responses_expire(lake):
    build(lake)
    before = events(lake)
    assert sorted(identity(before)) == sorted(plays()) and len(before) == 11
    export = events(lake, "extended")
    assert len(export) == 1

    # Maintenance deletes what was requested before day 2: four responses of days 0 and 1.
    assert expire(lake, D + dt.timedelta(days=2)) == 4
    meta = build(lake)  # not forced: the responses table changed, so Bronze is rebuilt
    assert "unchanged" not in meta
    after = events(lake)
    assert identity(after) == identity(before), "every API play once, none lost"
    assert without(after, LINEAGE) == without(before, LINEAGE)
    kept = lake["resources"]["lake"].partition_days(SPOTIFY_API_RESPONSES)[0]
    assert kept == D + dt.timedelta(days=2)
    # Plays of days 2 and 3, and those of day 1 the day-2 response holds, are derived afresh
    # (the day-1 play first seen in the expired day-1 response now names the day-2 one);
    # the rest of the plays before day 2 are carried over as they were written.
    rederived = {at(1, 0, 15), at(1, 8, 0), at(2, 8, 30), at(3, 8, 0)}
    carried = [r for r in after if r["ts"] not in rederived]
    assert len(carried) == 7 and meta["api_plays_carried_over"] == 7
    assert carried == [r for r in before if r["ts"] not in rederived]
    assert {r["_batch_id"] for r in carried} == {before[0]["_batch_id"]}
    fresh = [r for r in after if r["ts"] in rederived]
    assert {r["_batch_id"] for r in fresh} != {before[0]["_batch_id"]}
    moved = next(r for r in fresh if r["ts"] == at(1, 0, 15))
    assert moved["_source_file"].startswith("spotify-api/2024-03-03T09:00:00")
    assert meta["plays_from_api"] == 11 and meta["rows_landed"] == 12
    assert without(events(lake, "extended"), LINEAGE) == without(export, LINEAGE), (
        "the export's copy of a play stays beside it"
    )

    # Every response gone: every API play is carried over, exactly as it stands.
    settled = events(lake)
    assert expire(lake, D + dt.timedelta(days=10)) == 2
    assert lake["resources"]["lake"].partition_days(SPOTIFY_API_RESPONSES) == []
    meta = build(lake)
    assert meta["api_plays_carried_over"] == 11
    assert events(lake) == settled

    # A run over one day keeps that day's play the same way.
    meta = build(lake, D + dt.timedelta(days=3), LAST_DAY, force=True)
    assert meta["api_plays_carried_over"] == 1 and events(lake) == settled


def test_without_an_expiry_a_rebuild_derives_the_same_rows(lake):
    build(lake)
    before = events(lake)
    night_before = [r for r in before if r["play_date"] == FIRST_DAY]
    assert len(night_before) == 2  # held by the first response, requested at 00:10 next day

    meta = build(lake, force=True)
    after = events(lake)
    assert meta["api_plays_carried_over"] == 0
    assert without(after, ["_batch_id", "_ingested_at"]) == without(
        before, ["_batch_id", "_ingested_at"]
    )
    assert len({r["_batch_id"] for r in after} - {r["_batch_id"] for r in before}) == 1

    # The day before the first request alone: its plays are derived, not carried or doubled.
    meta = build(lake, FIRST_DAY, FIRST_DAY, force=True)
    assert meta["api_plays_carried_over"] == 0 and meta["plays_from_api"] == 2
    again = events(lake)
    assert identity(again) == identity(before)
    assert len([r for r in again if r["play_date"] == FIRST_DAY]) == 2


# ---- carry_over_api_rows on small tables ----------------------------------------------------

T0 = dt.datetime(2024, 3, 1, 8, tzinfo=dt.UTC)
WRITTEN = dt.datetime(2024, 3, 2, tzinfo=dt.UTC)


def stored(*rows: tuple) -> pa.Table:
    """Bronze rows (user, ts, track, source_format) as read back, a few columns only, plus one
    the catalog does not know."""
    return pa.table(
        {
            "track_uri": [r[2] for r in rows],
            "user_id": [r[0] for r in rows],
            "ts": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
            "play_date": pa.array([r[1].date() for r in rows], pa.date32()),
            "source_format": [r[3] for r in rows],
            "_batch_id": ["old-run"] * len(rows),
            "_ingested_at": pa.array([WRITTEN] * len(rows), pa.timestamp("us", tz="UTC")),
            "not_in_the_catalog": [1] * len(rows),
        }
    )


def derived(*rows: tuple) -> list[dict]:
    return [{"user_id": u, "ts": ts, "track_uri": t, "_batch_id": "this-run"} for u, ts, t in rows]


def keys(table: pa.Table) -> list[tuple]:
    return list(zip(*(table[c].to_pylist() for c in ("user_id", "ts", "track_uri")), strict=True))


def test_carried_rows_are_the_stored_api_plays_no_kept_response_holds():
    day1, day2 = T0, T0 + dt.timedelta(days=1)
    existing = stored(
        ("a", day1, "t1", "api"),  # only in an expired response: carried
        ("a", day1, "t2", "api"),  # a kept response holds it too: derived instead
        ("b", day1, "t2", "api"),  # the same time and track for someone else: carried
        ("a", day1, "t3", "extended"),  # an export's play: never the API's to carry
        ("a", day1, "t4", None),
        ("a", day2, "t5", "api"),  # on or after the oldest kept request: derived or gone
    )
    fresh = derived(("a", day1, "t2"), ("a", day2, "t6"))
    carried = carry_over_api_rows(existing, fresh, kept_since=day2.date())
    assert keys(carried) == [("a", day1, "t1"), ("b", day1, "t2")]
    assert carried.schema == LISTENING_EVENTS.schema
    assert carried["_batch_id"].to_pylist() == ["old-run"] * 2  # lineage as written
    assert carried["_ingested_at"].to_pylist() == [WRITTEN] * 2
    assert carried["ms_played"].null_count == 2  # a column the rows lack reads as null

    # No response kept at all: every stored API play the (no) derived rows lack.
    everything = carry_over_api_rows(existing, [], kept_since=None)
    assert keys(everything) == [
        ("a", day1, "t1"),
        ("a", day1, "t2"),
        ("b", day1, "t2"),
        ("a", day2, "t5"),
    ]
    # Without an expiry, the kept responses hold every stored API play: nothing is carried.
    assert carry_over_api_rows(existing, derived(*keys(everything)), kept_since=None).num_rows == 0


def test_nothing_stored_carries_nothing():
    empty = carry_over_api_rows(pa.table({}), derived(("a", T0, "t1")), kept_since=T0.date())
    assert empty.num_rows == 0 and empty.schema == LISTENING_EVENTS.schema
    no_rows = carry_over_api_rows(stored(), [], kept_since=None)
    assert no_rows.num_rows == 0 and no_rows.schema == LISTENING_EVENTS.schema
