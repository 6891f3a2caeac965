"""A real HTTP server on loopback standing in for Spotify's Web API and accounts service.

It serves the real response shapes from ../shared/data/spotify_api_samples; tests add plays,
tracks and scripted failures (429, 401, 403, 500, invalid_grant) and read back what was asked.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "spotify_api_samples"
SAMPLE_DIR = SAMPLES / "spotify-web-api-js"


def sample(name: str) -> dict:
    return json.loads((SAMPLE_DIR / f"{name}.json").read_text())


def play_item(track_id: str, played_at: dt.datetime, name: str, artist: str) -> dict:
    """A recently-played item in the real shape, with the given track and time."""
    item = copy.deepcopy(sample("recently_played_tracks")["items"][0])
    item["track"].update(id=track_id, name=name, uri=f"spotify:track:{track_id}")
    item["track"]["artists"][0]["name"] = artist
    item["played_at"] = played_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return item


def _ms(item: dict) -> int:
    stamp = dt.datetime.fromisoformat(item["played_at"].replace("Z", "+00:00"))
    return int(stamp.timestamp() * 1000)


class FakeSpotify:
    def __init__(self):
        self.plays: list[dict] = []
        self.tracks: dict[str, dict] = {}
        self.features: dict[str, dict] = {}
        self.features_status = 200
        self.access_token = "access-1"
        self.refresh_token = "refresh-1"
        self.refresh_error: str | None = None
        self.scripted: dict[str, deque] = defaultdict(deque)
        self.requests: list[tuple[str, str]] = []
        self.tokens_issued = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll: stop() waits for the serving loop's next look (0.5 s by default).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1/"

    def start(self) -> FakeSpotify:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, path: str, *responses: tuple[int, dict, dict | None]) -> None:
        """Queue (status, headers, body) answers for `path`, served before the normal ones."""
        self.scripted[path].extend(responses)

    def paths(self, prefix: str) -> list[str]:
        return [path for _, path in self.requests if path.startswith(prefix)]

    def token_cache(self, expires_in: int = 3600) -> dict:
        """What spotipy keeps after a login: a token this server accepts."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": self.refresh_token,
            "scope": "user-read-recently-played",
            "expires_at": int(dt.datetime.now(dt.UTC).timestamp()) + expires_in,
        }

    # -- request handling ------------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet test output
                pass

            def do_GET(self):
                fake._dispatch(self, "GET")

            def do_POST(self):
                fake._dispatch(self, "POST")

        return Handler

    def _dispatch(self, handler, method: str) -> None:
        parsed = urlparse(handler.path)
        self.requests.append((method, handler.path))
        if self.scripted[parsed.path]:
            status, headers, body = self.scripted[parsed.path].popleft()
            return self._send(handler, status, body, headers)
        if parsed.path == "/api/token":
            length = int(handler.headers.get("Content-Length", 0))
            form = parse_qs(handler.rfile.read(length).decode())
            return self._token(handler, form)
        if handler.headers.get("Authorization") != f"Bearer {self.access_token}":
            return self._send(handler, 401, {"error": {"status": 401, "message": "expired"}})
        query = parse_qs(parsed.query)
        if parsed.path == "/v1/me/player/recently-played":
            return self._send(handler, 200, self._recent(query))
        if parsed.path.startswith("/v1/tracks/"):
            track_id = parsed.path.rsplit("/", 1)[-1]
            if track_id in self.tracks:
                return self._send(handler, 200, self.tracks[track_id])
            return self._send(handler, 404, {"error": {"status": 404, "message": "not found"}})
        if parsed.path.rstrip("/") == "/v1/audio-features":
            if self.features_status != 200:
                status = self.features_status
                return self._send(handler, status, {"error": {"status": status}})
            ids = query.get("ids", [""])[0].split(",")
            return self._send(handler, 200, {"audio_features": [self.features.get(i) for i in ids]})
        return self._send(handler, 404, {"error": {"status": 404, "message": "no such path"}})

    def _token(self, handler, form) -> None:
        grant = form.get("grant_type", [""])[0]
        if grant == "refresh_token" and self.refresh_error:
            body = {"error": self.refresh_error, "error_description": "Refresh token revoked"}
            return self._send(handler, 400, body)
        self.tokens_issued += 1
        self.access_token = f"access-{self.tokens_issued + 1}"
        body = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": self.refresh_token,
            "scope": "user-read-recently-played",
        }
        return self._send(handler, 200, body)

    def _recent(self, query) -> dict:
        after = int(query.get("after", ["0"])[0] or 0)
        limit = int(query.get("limit", ["50"])[0])
        newer = sorted((p for p in self.plays if _ms(p) > after), key=_ms)
        page = newer[:limit]
        items = sorted(page, key=_ms, reverse=True)
        body = copy.deepcopy(sample("recently_played_tracks"))
        body.update(items=items, limit=limit, href=f"{self.api_url}me/player/recently-played")
        body["cursors"] = (
            {"after": str(_ms(items[0])), "before": str(_ms(items[-1]))} if items else None
        )
        more = len(newer) > limit
        query = urlencode({"after": _ms(items[0]), "limit": limit}) if more else None
        body["next"] = f"{self.api_url}me/player/recently-played?{query}" if more else None
        return body

    @staticmethod
    def _send(handler, status: int, body: dict | None, headers: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
