"""Pushing a mood playlist to the logged-in person's Spotify account, as a private playlist.

Writing to an account is opt-in: it needs the `playlist-modify-private` scope, which the
read-only login does not ask for. The cached token's scope is checked before any request, so
a token without it fails with what to do rather than a 403 half-way through.
"""

from __future__ import annotations

from typing import Any

import spotipy

from moodlake_dagster.spotify.client import SpotifyClient, SpotifyLoginRequired

PLAYLIST_SCOPE = "playlist-modify-private"
BATCH = 100  # the most items Spotify adds in one request


class SpotifyScopeMissing(SpotifyLoginRequired):
    """The saved login does not allow writing playlists."""


def granted_scopes(token: dict | None) -> set[str]:
    return set(((token or {}).get("scope") or "").split())


def require_scope(token: dict | None, scope: str = PLAYLIST_SCOPE) -> None:
    """Raise SpotifyLoginRequired (no token) or SpotifyScopeMissing (token without `scope`)."""
    if not token:
        raise SpotifyLoginRequired("not logged in to Spotify: run `moodlake spotify login`")
    if scope not in granted_scopes(token):
        have = " ".join(sorted(granted_scopes(token))) or "none"
        raise SpotifyScopeMissing(
            f"the saved Spotify login does not allow creating playlists (it grants: {have}; "
            f"needed: {scope}): run `moodlake spotify login` again and allow MoodLake to "
            "manage your private playlists"
        )


def _calls(client_or_spotipy) -> tuple[spotipy.Spotify, Any, dict | None]:
    """(spotipy object, a way to call it, the cached token) for either kind of client."""
    if isinstance(client_or_spotipy, SpotifyClient):
        client = client_or_spotipy
        return client.sp, client.call, client.cached_token()
    sp = client_or_spotipy
    cache = getattr(getattr(sp, "auth_manager", None), "cache_handler", None)
    token = cache.get_cached_token() if cache is not None else None
    return sp, lambda method, *a, **k: method(*a, **k), token


def push_playlist(client_or_spotipy, name: str, description: str, track_ids: list[str]) -> dict:
    """Create a private playlist on the logged-in account and add the tracks in order.

    `client_or_spotipy`: MoodLake's SpotifyClient (its retry and token policy apply) or a
    bare spotipy.Spotify. Returns {"id", "url", "tracks"} (tracks: how many were added).
    """
    if not track_ids:
        raise ValueError("no track to put in the playlist")
    sp, call, token = _calls(client_or_spotipy)
    require_scope(token)
    created = call(
        sp.current_user_playlist_create,
        name,
        public=False,
        collaborative=False,
        description=description,
    )
    uris = [f"spotify:track:{track_id}" for track_id in track_ids]
    for start in range(0, len(uris), BATCH):  # appended batch after batch: the order holds
        call(sp.playlist_add_items, created["id"], uris[start : start + BATCH])
    url = (created.get("external_urls") or {}).get("spotify") or (
        f"https://open.spotify.com/playlist/{created['id']}"
    )
    return {"id": created["id"], "url": url, "tracks": len(uris)}
