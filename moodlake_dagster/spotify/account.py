"""Logging in to Spotify once, and disconnecting: the token and every API-sourced row go.

Spotify's Developer Policy asks that a user's data be deleted when they disconnect. Rows that
came from the Web API are removed from Bronze and Silver; the snapshots built from them (Silver
users, Gold, the per-listener model tables) are removed for that user from the first day the
API fed them, and Delta's old files are vacuumed so the rows are gone from disk, not only from
the latest table version.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING

from deltalake import DeltaTable
from spotipy.oauth2 import SpotifyOauthError

from moodlake_dagster.spotify.client import SpotifyError
from moodlake_dagster.tables import (
    LISTENER_TABLES,
    LISTENING_EVENTS,
    LOCAL_DAY,
    PLAYS,
    SPOTIFY_API_RESPONSES,
    Table,
)

if TYPE_CHECKING:  # the resource is handed in: spotify/ sits below resources/
    from moodlake_dagster.resources.lake import LakeResource

USER_ID = re.compile(r"^u_[0-9a-f]{16}$")


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


def _delete(lake: LakeResource, entry: Table, predicate: str) -> int:
    if not lake.exists(entry):
        return 0
    table = DeltaTable(lake.uri(entry), storage_options=lake.storage_options or None)
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
            LISTENING_EVENTS, [("source_format", "=", "api"), ("user_id", "=", user_id)]
        )
    ] + [
        row["request_date"]
        for row in lake.read_rows(SPOTIFY_API_RESPONSES, [("user_id", "=", user_id)])
    ]
    user = f"user_id = '{user_id}'"
    api_rows = f"source_format = 'api' AND {user}"
    deleted = {
        SPOTIFY_API_RESPONSES.path: _delete(lake, SPOTIFY_API_RESPONSES, user),
        LISTENING_EVENTS.path: _delete(lake, LISTENING_EVENTS, api_rows),
        PLAYS.path: _delete(lake, PLAYS, api_rows),
    }
    if days:
        # Tables built from the user's plays: snapshots as of the first API day on, and the
        # local days an API play can fall on (a UTC day reaches into the local day before).
        for table in LISTENER_TABLES:
            first = min(days) - (
                dt.timedelta(days=1) if table.partition == LOCAL_DAY else dt.timedelta()
            )
            since = f"{user} AND {table.partition} >= '{first.isoformat()}'"
            deleted[table.path] = _delete(lake, table, since)
    return deleted


def remove_token(token_cache: Path) -> bool:
    if token_cache.exists():
        token_cache.unlink()
        return True
    return False
