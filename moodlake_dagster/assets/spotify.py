"""Bronze from the Spotify Web API: raw recently-played responses, and track enrichment."""

import datetime as dt

import dagster as dg

from moodlake_dagster.assets.common import metadata_on_last_day, table_asset
from moodlake_dagster.checks import nothing_to_check, validate
from moodlake_dagster.ingest.enrichment import (
    enrich_tracks,
    features_off_reason,
    spotify_tracks_table,
    switch_features_off,
)
from moodlake_dagster.insights import preview
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig, SpotifyResource
from moodlake_dagster.spotify.client import SpotifyLoginRequired
from moodlake_dagster.tables import (
    CATALOG_TRACKS,
    LISTENING_EVENTS,
    SPOTIFY_API_RESPONSES,
    SPOTIFY_TRACKS,
)

# Track lookups are one request each, spaced: cap a run, the next run goes on.
MAX_LOOKUPS_PER_RUN = 200

spotify_api_responses = dg.AssetSpec(
    SPOTIFY_API_RESPONSES.key,
    group_name=SPOTIFY_API_RESPONSES.group,
    kinds={"spotify", "deltalake"},
    description=SPOTIFY_API_RESPONSES.description,
    metadata=SPOTIFY_API_RESPONSES.metadata,
    tags={"pii": SPOTIFY_API_RESPONSES.pii},
)


def tracks_to_look_up(lake: LakeResource, as_of: dt.date) -> tuple[list[str], int]:
    """Played Spotify ids that neither the catalog nor an earlier lookup knows, and how many
    played ids there are in all."""
    played = {
        row["track_uri"].rsplit(":", 1)[-1]
        for row in lake.read_rows(LISTENING_EVENTS, [("play_date", "<=", as_of)])
        if (row["track_uri"] or "").startswith("spotify:track:")
    }
    known = {r["track_id"] for r in lake.read_rows(CATALOG_TRACKS)}
    known |= {r["track_id"] for r in lake.read_rows(SPOTIFY_TRACKS)}
    return sorted(played - known), len(played)


def _skipped(base: dict, why: str) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata=base | {"tracks_fetched": 0, "skipped": why},
        check_results=[nothing_to_check(why)],
    )


@dg.asset(
    **table_asset(
        SPOTIFY_TRACKS,
        kinds={"spotify", "deltalake"},
        deps=[LISTENING_EVENTS, CATALOG_TRACKS],
        blocking=True,
    )
)
@metadata_on_last_day
def spotify_tracks(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    spotify: SpotifyResource,
    moodlake: MoodlakeConfig,
) -> dg.MaterializeResult:
    """Audio features come too where the app still has access; tracks left without them are
    kept and counted."""
    _, end = day_range(context)
    missing, played = tracks_to_look_up(lake, end)
    base = {"played_track_ids": played, "not_in_catalog_or_looked_up": len(missing)}
    if not missing or not spotify.connected:
        return _skipped(base, "nothing to look up" if not missing else "Spotify is not connected")
    state = moodlake.settings().home / "spotify" / "audio-features-off.json"
    already_off = features_off_reason(state)
    now = dt.datetime.now(dt.UTC)
    try:
        result = enrich_tracks(
            spotify.client(),
            missing[:MAX_LOOKUPS_PER_RUN],
            features_off=already_off,
            spacing_s=spotify.request_spacing_s,
            now=now,
            log=context.log.warning,
        )
    except SpotifyLoginRequired as err:
        # A revoked login must not hold back the export's plays: they land unenriched.
        context.log.warning(str(err))
        return _skipped(base, str(err))
    if result.features_off and not already_off:
        switch_features_off(state, result.features_off, now.date())
    if result.stopped:
        context.log.warning(result.stopped)
    table = spotify_tracks_table(result.rows)
    if result.rows:
        lake.append(SPOTIFY_TRACKS, table)
    df = table.to_pandas()
    return dg.MaterializeResult(
        metadata=base
        | {
            "table_uri": lake.uri(SPOTIFY_TRACKS),
            **result.summary(len(missing)),
            "preview": preview(df[["track_id", "lookup_status", "track_name", "valence"]]),
        },
        check_results=[
            validate(SPOTIFY_TRACKS.model, df) if len(df) else nothing_to_check(str(result.stopped))
        ],
    )
