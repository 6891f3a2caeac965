"""A spotipy client with MoodLake's own error policy, for a person's account.

spotipy's built-in retry is off (`retries=0` and a plain requests session): on a 429 it would
sleep silently for as long as Retry-After says, which can be hours. Instead:
- 429: wait for Retry-After up to `max_wait_s`, else raise `SpotifyRateLimited` (tick skipped);
- 5xx: retry with exponential backoff, a few times;
- 401: refresh the access token once and retry;
- `invalid_grant` (refresh tokens expire six months after authorisation): raise
  `SpotifyLoginRequired` telling the user to log in again; never retried;
- network down: raise `SpotifyUnavailable`; nothing is written, the caller's cursor stays.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import spotipy
from spotipy.cache_handler import CacheFileHandler
from spotipy.oauth2 import SpotifyOauthError

SCOPE = "user-read-recently-played"
# Asked for only by `moodlake spotify login --allow-playlists` (`push-playlist` needs it). The
# polling client keeps asking for SCOPE alone: spotipy takes a cached token whose scope lacks a
# requested one for no token at all, and would prompt for a login inside a sensor.
PLAYLIST_SCOPE = "playlist-modify-private"
LOGIN_HINT = "run `moodlake spotify login` to authorise MoodLake again"
SERVER_ERROR_RETRIES = 3
MAX_PAGES = 20


class SpotifyError(RuntimeError):
    """A Spotify Web API problem MoodLake could not work around; the message says what to do."""


class SpotifyLoginRequired(SpotifyError):
    """No usable token: never logged in, or the refresh token expired or was revoked."""


class SpotifyRateLimited(SpotifyError):
    def __init__(self, retry_after_s: int):
        super().__init__(f"rate limited by Spotify: retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class SpotifyUnavailable(SpotifyError):
    """The network or Spotify is down; try again later, nothing was lost."""


class PrivateTokenCache(CacheFileHandler):
    """spotipy's token file, readable by its owner only: it holds a refresh token."""

    def save_token_to_cache(self, token_info):
        Path(self.cache_path).parent.mkdir(parents=True, exist_ok=True)
        super().save_token_to_cache(token_info)
        os.chmod(self.cache_path, 0o600)


def auth_manager(
    *,
    client_id: str,
    client_secret: str | None,
    redirect_uri: str,
    token_cache: Path,
    accounts_url: str,
    timeout_s: float = 10,
    scope: str = SCOPE,
):
    """Authorization Code flow; with no client secret, PKCE (for a loopback redirect)."""
    cache = PrivateTokenCache(cache_path=str(token_cache))
    common = dict(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        cache_handler=cache,
        open_browser=False,
        requests_timeout=timeout_s,
    )
    if client_secret:
        auth = spotipy.SpotifyOAuth(client_secret=client_secret, **common)
    else:
        auth = spotipy.SpotifyPKCE(**common)
    # Instance settings, not a patch: the class constants name Spotify's accounts service.
    auth.OAUTH_AUTHORIZE_URL = f"{accounts_url.rstrip('/')}/authorize"
    auth.OAUTH_TOKEN_URL = f"{accounts_url.rstrip('/')}/api/token"
    return auth


class SpotifyClient:
    def __init__(
        self,
        auth,
        *,
        api_url: str,
        max_wait_s: float,
        backoff_s: float = 1.0,
        timeout_s: float = 10,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.auth = auth
        self.sp = spotipy.Spotify(
            auth_manager=auth,
            requests_session=requests.Session(),
            retries=0,
            status_retries=0,
            requests_timeout=timeout_s,
        )
        self.sp.prefix = api_url.rstrip("/") + "/"
        self.max_wait_s = max_wait_s
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.requests_made = 0

    def cached_token(self) -> dict | None:
        return self.auth.cache_handler.get_cached_token()

    def call(self, method: Callable[..., Any], *args, **kwargs) -> Any:
        """One API call under the error policy in the module docstring."""
        if not self.cached_token():
            raise SpotifyLoginRequired(f"not logged in to Spotify: {LOGIN_HINT}")
        refreshed, server_errors = False, 0
        while True:
            self.requests_made += 1
            try:
                return method(*args, **kwargs)
            except SpotifyOauthError as err:
                raise _oauth_problem(err) from err
            except spotipy.SpotifyException as err:
                status = err.http_status
                if status == 429:
                    wait = _retry_after(err)
                    if wait > self.max_wait_s:
                        raise SpotifyRateLimited(wait) from err
                    self.sleep(wait)
                elif status == 401 and not refreshed:
                    self._refresh()
                    refreshed = True
                elif status >= 500 and server_errors < SERVER_ERROR_RETRIES:
                    self.sleep(self.backoff_s * 2**server_errors)
                    server_errors += 1
                else:
                    raise
            except (requests.ConnectionError, requests.Timeout) as err:
                raise SpotifyUnavailable(f"cannot reach Spotify: {err}") from err

    def _refresh(self) -> None:
        token = self.cached_token() or {}
        if not token.get("refresh_token"):
            raise SpotifyLoginRequired(f"the Spotify token cannot be refreshed: {LOGIN_HINT}")
        try:
            self.auth.refresh_access_token(token["refresh_token"])
        except SpotifyOauthError as err:
            raise _oauth_problem(err) from err
        except (requests.ConnectionError, requests.Timeout) as err:
            raise SpotifyUnavailable(f"cannot reach Spotify accounts: {err}") from err

    def recently_played(self, after_ms: int | None) -> list[dict]:
        """Every page of plays after `after_ms` (newest first within a page), at most MAX_PAGES."""
        page = self.call(self.sp.current_user_recently_played, limit=50, after=after_ms)
        pages = [page]
        while page.get("next") and len(pages) < MAX_PAGES:
            page = self.call(self.sp.next, page)
            pages.append(page)
        return pages

    def track(self, track_id: str) -> dict:
        return self.call(self.sp.track, track_id)

    def audio_features(self, track_id: str) -> dict | None:
        found = self.call(self.sp.audio_features, [track_id])
        return found[0] if found else None


def _retry_after(err: spotipy.SpotifyException) -> int:
    raw = (err.headers or {}).get("Retry-After", "1")
    try:
        return max(int(float(raw)), 0)
    except ValueError:
        return 1


def _oauth_problem(err: SpotifyOauthError) -> SpotifyError:
    if err.error == "invalid_grant":
        return SpotifyLoginRequired(
            "Spotify no longer accepts the saved refresh token (invalid_grant: tokens expire "
            f"six months after authorisation, or access was revoked): {LOGIN_HINT}"
        )
    return SpotifyError(f"Spotify accounts refused the request ({err.error}): {err}")
