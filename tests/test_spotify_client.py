"""spotipy against a real loopback server: paging, 429, 5xx, 401 refresh, invalid_grant, offline."""

from __future__ import annotations

import datetime as dt
import json
import socket
import stat

import pytest
import spotipy
from spotify_server import FakeSpotify, play_item

from moodlake_dagster.spotify.client import (
    SpotifyClient,
    SpotifyError,
    SpotifyLoginRequired,
    SpotifyRateLimited,
    SpotifyUnavailable,
    auth_manager,
)

START = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
RECENT = "/v1/me/player/recently-played"


@pytest.fixture
def fake(shared_data):
    server = FakeSpotify().start()
    yield server
    server.stop()


def make_client(fake, tmp_path, *, logged_in=True, max_wait_s=30, api_url=None):
    cache = tmp_path / "secrets" / "spotify-token.json"
    if logged_in:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(fake.token_cache()))
    auth = auth_manager(
        client_id="test-client",
        client_secret=None,
        redirect_uri="http://127.0.0.1:8888/callback",
        token_cache=cache,
        accounts_url=fake.url,
    )
    sleeps: list[float] = []
    client = SpotifyClient(
        auth,
        api_url=api_url or fake.api_url,
        max_wait_s=max_wait_s,
        backoff_s=0.5,
        sleep=sleeps.append,
    )
    return client, sleeps, cache


def test_pages_follow_the_after_cursor(fake, tmp_path):
    fake.plays = [
        play_item(f"track{i:03d}", START + dt.timedelta(minutes=4 * i), f"Song {i}", "Artist")
        for i in range(120)
    ]
    client, _, _ = make_client(fake, tmp_path)
    pages = client.recently_played(after_ms=None)
    assert [len(p["items"]) for p in pages] == [50, 50, 20]
    ids = {item["track"]["id"] for page in pages for item in page["items"]}
    assert len(ids) == 120
    cutoff = int((START + dt.timedelta(minutes=4 * 99)).timestamp() * 1000)
    (page,) = client.recently_played(after_ms=cutoff)
    assert [item["track"]["id"] for item in page["items"]][-1] == "track100"


def test_short_429_waits_long_429_skips(fake, tmp_path):
    client, sleeps, _ = make_client(fake, tmp_path, max_wait_s=30)
    fake.script(RECENT, (429, {"Retry-After": "7"}, {"error": {"status": 429}}))
    assert client.recently_played(after_ms=None)[0]["items"] == []
    assert sleeps == [7]

    fake.script(RECENT, (429, {"Retry-After": "7200"}, {"error": {"status": 429}}))
    with pytest.raises(SpotifyRateLimited) as caught:
        client.recently_played(after_ms=None)
    assert caught.value.retry_after_s == 7200 and "7200 s" in str(caught.value)
    assert sleeps == [7], "a long Retry-After is never slept through"


def test_server_errors_back_off_then_give_up(fake, tmp_path):
    client, sleeps, _ = make_client(fake, tmp_path)
    fake.script(RECENT, *[(500, {}, {"error": {"status": 500}})] * 2)
    assert client.recently_played(after_ms=None)[0]["items"] == []
    assert sleeps == [0.5, 1.0]

    fake.script(RECENT, *[(503, {}, {"error": {"status": 503}})] * 4)
    with pytest.raises(spotipy.SpotifyException) as caught:
        client.recently_played(after_ms=None)
    assert caught.value.http_status == 503
    assert sleeps == [0.5, 1.0, 0.5, 1.0, 2.0]


def test_401_refreshes_the_token_once(fake, tmp_path):
    client, _, cache = make_client(fake, tmp_path)
    fake.access_token = "rotated-by-spotify"  # the saved access token no longer works
    assert client.recently_played(after_ms=None)[0]["items"] == []
    assert fake.tokens_issued == 1
    saved = json.loads(cache.read_text())
    assert saved["access_token"] == fake.access_token and saved["refresh_token"] == "refresh-1"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_invalid_grant_tells_the_user_to_log_in_again(fake, tmp_path):
    client, _, _ = make_client(fake, tmp_path)
    fake.access_token = "rotated-by-spotify"
    fake.refresh_error = "invalid_grant"
    with pytest.raises(SpotifyLoginRequired, match="moodlake spotify login"):
        client.recently_played(after_ms=None)
    refreshes = [p for m, p in fake.requests if p == "/api/token"]
    assert len(refreshes) == 1, "invalid_grant is never retried"


def test_not_logged_in_asks_nothing(fake, tmp_path):
    client, _, _ = make_client(fake, tmp_path, logged_in=False)
    with pytest.raises(SpotifyLoginRequired, match="not logged in"):
        client.recently_played(after_ms=None)
    assert fake.requests == []


def test_network_down_is_unavailable(fake, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/"
    client, _, _ = make_client(fake, tmp_path, api_url=dead)
    with pytest.raises(SpotifyUnavailable, match="cannot reach Spotify"):
        client.recently_played(after_ms=None)


def test_authorization_code_flow_with_a_client_secret(fake, tmp_path):
    """With a secret the login is the classic Authorization Code flow: the token request
    authenticates the app, and the cached refresh token then serves the API calls."""
    import base64

    from moodlake_dagster.spotify.account import complete_login, login_url

    seen: list[str] = []
    original = fake._token

    def recording(handler, form):
        seen.append(handler.headers.get("Authorization", ""))
        return original(handler, form)

    fake._token = recording
    cache = tmp_path / "secrets" / "spotify-token.json"
    auth = auth_manager(
        client_id="test-client",
        client_secret="test-secret",
        redirect_uri="http://127.0.0.1:8888/callback",
        token_cache=cache,
        accounts_url=fake.url,
    )
    url = login_url(auth)
    assert url.startswith(f"{fake.url}/authorize?") and "code_challenge" not in url
    token = complete_login(auth, "http://127.0.0.1:8888/callback?code=xyz")
    assert token["refresh_token"] == "refresh-1"
    expected = base64.b64encode(b"test-client:test-secret").decode()
    assert seen == [f"Basic {expected}"]
    client = SpotifyClient(auth, api_url=fake.api_url, max_wait_s=1)
    assert client.recently_played(after_ms=None)[0]["items"] == []

    with pytest.raises(SpotifyError, match="access_denied"):
        complete_login(auth, "http://127.0.0.1:8888/callback?error=access_denied")
    with pytest.raises(SpotifyError, match="no authorization code"):
        complete_login(auth, "http://127.0.0.1:8888/callback")
