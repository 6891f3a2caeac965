"""The Spotify polling sensor: recently-played every few minutes, cursor in ms, no play lost."""

import datetime as dt
import json

import dagster as dg

from moodlake_dagster.ingest.api import played_at, response_rows
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.resources import LakeResource, MoodlakeConfig, SpotifyResource
from moodlake_dagster.sensors.requests import (
    history_run_request,
    history_sensor,
    partition_days_only,
)
from moodlake_dagster.settings import sensor_interval
from moodlake_dagster.spotify.client import SpotifyRateLimited, SpotifyUnavailable
from moodlake_dagster.tables import SPOTIFY_API_RESPONSES

# Only the last 50 plays are reachable: a daily poll would lose most of a listening day.
POLL_INTERVAL_S = sensor_interval("MOODLAKE_SPOTIFY_POLL_S", 300)


@history_sensor(
    POLL_INTERVAL_S,
    (
        "Polls Spotify's recently-played endpoint (cursor in ms), lands each response in "
        "bronze/spotify_api_responses, then requests a run for the days of the new plays."
    ),
)
def spotify_recent_plays_sensor(
    context: dg.SensorEvaluationContext,
    spotify: SpotifyResource,
    lake: LakeResource,
    moodlake: MoodlakeConfig,
) -> dg.SensorResult:
    """Polls the Spotify Web API's recently-played endpoint (50 plays a page, `after` cursor in
    ms), lands each response in bronze/spotify_api_responses, then requests a run for the days
    the new plays fall on. Needs MOODLAKE_SPOTIFY_CLIENT_ID and `moodlake spotify login`."""
    if not spotify.configured:
        return dg.SensorResult(
            skip_reason="Spotify is not configured: set MOODLAKE_SPOTIFY_CLIENT_ID and run "
            "`moodlake spotify login`"
        )
    state = json.loads(context.cursor) if context.cursor else {}
    now = dt.datetime.now(dt.UTC)
    retry_at = state.get("retry_at")
    if retry_at and now < dt.datetime.fromisoformat(retry_at):
        return dg.SensorResult(skip_reason=f"Rate limited by Spotify until {retry_at}")
    after_ms = state.get("after_ms")
    try:
        pages = spotify.client().recently_played(after_ms)
    except SpotifyRateLimited as err:
        until = now + dt.timedelta(seconds=err.retry_after_s)
        return dg.SensorResult(
            skip_reason=f"{err}; next try after {until.isoformat(timespec='seconds')}, cursor kept",
            cursor=json.dumps(state | {"retry_at": until.isoformat()}),
        )
    except SpotifyUnavailable as err:
        return dg.SensorResult(skip_reason=f"{err}; cursor kept, no play lost")
    items = [item for page in pages for item in page.get("items", [])]
    if not items:
        return dg.SensorResult(skip_reason=f"No new plays since after_ms={after_ms}")

    settings = moodlake.settings()
    user_id = pseudonymize(spotify.account, settings.resolved_pseudonym_key())
    lake.append(
        SPOTIFY_API_RESPONSES,
        response_rows(pages, user_id=user_id, requested_at=now, after_ms=after_ms),
    )
    # The responses are stored: only now may the cursor move past them.
    times = [played_at(item) for item in items]
    new_after = max(int(t.timestamp() * 1000) for t in times)
    days, _ = partition_days_only({t.date() for t in times})
    context.log.info(f"{len(items)} new play(s) on {len(days)} day(s); after_ms → {new_after}")
    # The poll just succeeded with the cached token: the account is connected, so the run
    # also looks up the new plays' tracks the catalog lacks.
    request = history_run_request(
        days,
        run_key=f"spotify-{user_id}-{new_after}",
        trigger="spotify-api",
        lake=lake,
        enrich=True,
    )
    return dg.SensorResult(
        run_requests=[request] if days else [],
        cursor=json.dumps({"after_ms": new_after}),
        asset_events=[
            dg.AssetMaterialization(
                SPOTIFY_API_RESPONSES.key,
                metadata={"plays": len(items), "pages": len(pages), "after_ms": new_after},
            )
        ],
    )
