"""Logging in to Spotify once, and disconnecting: the token and every API-sourced row go.

Spotify's Developer Policy asks that a user's data be deleted when they disconnect. Rows that
came from the Web API are removed from Bronze and Silver; the snapshots built from them (Silver
users, Gold, the per-listener model tables) are removed for that user from the first day the
API fed them, and Delta's old files are vacuumed so the rows are gone from disk, not only from
the latest table version.
"""

from __future__ import annotations

import re
from pathlib import Path

from deltalake import DeltaTable
from spotipy.oauth2 import SpotifyOauthError

from moodlake_dagster.assets.gold import GOLD_TABLES
from moodlake_dagster.assets.ml_common import LISTENER_TABLES
from moodlake_dagster.resources.lake import LakeResource
from moodlake_dagster.spotify.client import SpotifyError

USER_ID = re.compile(r"^u_[0-9a-f]{16}$")
# Snapshots built from a user's plays, keyed by user and as-of day: the user table, every
# Gold table and the per-listener model tables.
SNAPSHOT_TABLES = [
    ("silver", "users"),
    *(("gold", name) for name in GOLD_TABLES),
    *(("gold", name) for name in LISTENER_TABLES),
]


def login_url(auth) -> str:
    return auth.get_authorize_url()


def complete_login(auth, redirected_url: str) -> dict:
    """Exchange the code in the URL Spotify redirected to for tokens; spotipy caches them."""
    try:
        code = auth.parse_response_code(redirected_url)
    except SpotifyOauthError as err:  # ?error=access_denied: the person said no
        raise SpotifyError(f"Spotify did not authorise MoodLake: {err}") from err
    if not code or code == redirected_url:
        raise SpotifyError(f"no authorization code in {redirected_url!r}")
    auth.get_access_token(code=code, check_cache=False)
    return auth.cache_handler.get_cached_token()


def _delete(lake: LakeResource, layer: str, name: str, predicate: str) -> int:
    if not lake.exists(layer, name):
        return 0
    table = DeltaTable(lake.uri(layer, name), storage_options=lake.storage_options or None)
    deleted = table.delete(predicate).get("num_deleted_rows", 0)
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    return int(deleted)


def forget_api_user(lake: LakeResource, user_id: str) -> dict[str, int]:
    """Delete `user_id`'s API-sourced rows everywhere; rows deleted per table."""
    if not USER_ID.match(user_id):
        raise ValueError(f"not a MoodLake user id: {user_id!r}")
    days = [
        row["play_date"]
        for row in lake.read_rows(
            "bronze",
            "listening_events",
            [("source_format", "=", "api"), ("user_id", "=", user_id)],
        )
    ] + [
        row["request_date"]
        for row in lake.read_rows("bronze", "spotify_api_responses", [("user_id", "=", user_id)])
    ]
    user = f"user_id = '{user_id}'"
    api_rows = f"source_format = 'api' AND {user}"
    deleted = {
        "bronze/spotify_api_responses": _delete(lake, "bronze", "spotify_api_responses", user),
        "bronze/listening_events": _delete(lake, "bronze", "listening_events", api_rows),
        "silver/plays": _delete(lake, "silver", "plays", api_rows),
    }
    if days:
        since = f"{user} AND as_of_date >= '{min(days).isoformat()}'"
        for layer, name in SNAPSHOT_TABLES:
            deleted[f"{layer}/{name}"] = _delete(lake, layer, name, since)
    return deleted


def remove_token(token_cache: Path) -> bool:
    if token_cache.exists():
        token_cache.unlink()
        return True
    return False
