"""The Spotify Web API for one person's account, as a Dagster resource (spotipy inside)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from moodlake_dagster.spotify.client import SCOPE, SpotifyClient, auth_manager


class SpotifyResource(dg.ConfigurableResource):
    """Client id, secret and redirect URI come from the environment (see `.env.example`); the
    token cache lives under MOODLAKE_HOME/secrets, outside the repository, mode 600.
    Without a client secret the login uses PKCE."""

    client_id: str | None = None
    client_secret: str | None = None
    redirect_uri: str = "http://127.0.0.1:8888/callback"
    token_cache: str
    api_url: str = "https://api.spotify.com/v1/"
    accounts_url: str = "https://accounts.spotify.com"
    account: str = "me"
    max_wait_s: float = 30
    request_spacing_s: float = 1.0

    @property
    def configured(self) -> bool:
        return bool(self.client_id)

    @property
    def connected(self) -> bool:
        """Configured and logged in (a token is cached): a lookup has someone to ask. Never
        raises, so a sensor can ask on every tick."""
        return self.configured and bool(self.auth().cache_handler.get_cached_token())

    def auth(self, scope: str = SCOPE):
        if not self.client_id:
            raise dg.Failure(
                "Spotify is not configured: set MOODLAKE_SPOTIFY_CLIENT_ID (and the redirect URI "
                "registered for your app), then run `moodlake spotify login`"
            )
        return auth_manager(
            client_id=self.client_id,
            client_secret=self.client_secret,
            redirect_uri=self.redirect_uri,
            token_cache=Path(self.token_cache),
            accounts_url=self.accounts_url,
            scope=scope,
        )

    def client(self) -> SpotifyClient:
        return SpotifyClient(self.auth(), api_url=self.api_url, max_wait_s=self.max_wait_s)
