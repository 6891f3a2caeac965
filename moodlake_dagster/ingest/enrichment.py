"""Track metadata and audio features from the Web API for played tracks the catalog lacks.

Features come from the catalog first. The API's audio-features endpoint answers 403 for apps
created after 2024-11-27 (and 404 where it was withdrawn): the first such answer is logged
once and switches that enrichment off — remembered in a state file so later runs do not ask
again — and the run goes on. Batch `/tracks?ids=` is gone for development-mode apps, so
tracks are looked up one id at a time, spaced to stay under the rate limit.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import spotipy

from moodlake_dagster.spotify.client import SpotifyClient, SpotifyRateLimited, SpotifyUnavailable
from moodlake_dagster.tables import SPOTIFY_TRACKS
from moodlake_dagster.vocabulary import AUDIO_FEATURES

FEATURES_OFF_STATUSES = (403, 404)


@dataclass
class Enrichment:
    rows: list[dict] = field(default_factory=list)
    features_off: str | None = None
    stopped: str | None = None  # why the run stopped early (rate limit, network)

    @property
    def found(self) -> int:
        return sum(1 for r in self.rows if r["lookup_status"] == "found")

    @property
    def with_features(self) -> int:
        return sum(1 for r in self.rows if r["features_source"] == "api")

    def summary(self, missing: int) -> dict:
        """The run in figures: of the `missing` tracks, what was looked up and found, with
        audio features or without, and how many wait for the next run."""
        return {
            "tracks_fetched": self.found,
            "tracks_not_found": len(self.rows) - self.found,
            "tracks_with_api_features": self.with_features,
            "tracks_without_features": self.found - self.with_features,
            "left_for_next_run": missing - len(self.rows),
            "audio_features": self.features_off or "on",
            "stopped_early": self.stopped or "no",
        }


def features_off_reason(state_file: Path) -> str | None:
    if not state_file.exists():
        return None
    return json.loads(state_file.read_text())["reason"]


def switch_features_off(state_file: Path, reason: str, today: dt.date) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"reason": reason, "since": today.isoformat()}))


def track_row(track_id: str, track: dict | None, now: dt.datetime) -> dict:
    row = {name: None for name in SPOTIFY_TRACKS.schema.names}
    row |= {"fetched_date": now.date(), "fetched_at": now, "track_id": track_id}
    if track is None:
        return row | {"lookup_status": "not_found"}
    return row | {
        "lookup_status": "found",
        "track_name": track.get("name"),
        "artists": ";".join(a["name"] for a in track.get("artists", [])),
        "album_name": (track.get("album") or {}).get("name"),
        "duration_ms": track.get("duration_ms"),
        "explicit": track.get("explicit"),
    }


def enrich_tracks(
    client: SpotifyClient,
    track_ids: list[str],
    *,
    features_off: str | None,
    spacing_s: float,
    now: dt.datetime,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Enrichment:
    """Look up each id (then its features while the endpoint answers); stop early, keeping
    what was fetched, when Spotify rate-limits us or cannot be reached."""
    result = Enrichment(features_off=features_off)
    for position, track_id in enumerate(track_ids):
        if position:
            sleep(spacing_s)
        try:
            try:
                track = client.track(track_id)
            except spotipy.SpotifyException as err:
                if err.http_status not in (400, 404):
                    raise
                track = None
            row = track_row(track_id, track, now)
            if track is not None and result.features_off is None:
                features = _features(client, track_id, result, log)
                if features:
                    row |= {"features_source": "api"}
                    row |= {k: features.get(k) for k in (*AUDIO_FEATURES, "key", "mode")}
                    row["time_signature"] = features.get("time_signature")
        except (SpotifyRateLimited, SpotifyUnavailable) as err:
            result.stopped = f"{err}; {len(track_ids) - position} id(s) left for the next run"
            break
        result.rows.append(row)
    return result


def _features(client: SpotifyClient, track_id: str, result: Enrichment, log) -> dict | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # spotipy marks it deprecated
            return client.audio_features(track_id)
    except spotipy.SpotifyException as err:
        if err.http_status not in FEATURES_OFF_STATUSES:
            raise
        result.features_off = (
            f"audio-features answered {err.http_status}: this app has no access (apps created "
            "after 2024-11-27 do not); features come from the catalog only"
        )
        log(result.features_off)
        return None


def spotify_tracks_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SPOTIFY_TRACKS.schema)
