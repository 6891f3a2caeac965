"""The Starlette application of `moodlake serve`: the listener's page and its JSON API.

Every `/api/me…` request carries `Authorization: Bearer <token>`; the token names one
listener and the answer is built from that listener's rows alone (in `--open` mode the one
listener served needs no token). Errors are JSON: `{"error": …, "status": …}`.
"""

from __future__ import annotations

import contextlib
import json
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moodlake_dagster.serve.data import MODES, Gold
from moodlake_dagster.serve.tokens import Tokens
from moodlake_dagster.vocabulary import DAY_PARTS

TEXT = {"type": "string"}
MAX_QUERY = 1024  # bytes of query string; longer is refused with 414
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# The page loads only its own files and calls only this server.
PAGE_HEADERS = SECURITY_HEADERS | {
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


def _json(payload, status: int = 200) -> Response:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return Response(body, status, media_type="application/json", headers=SECURITY_HEADERS)


def _error(status: int, message: str) -> Response:
    response = _json({"error": message, "status": status}, status)
    if status == 401:
        response.headers["www-authenticate"] = 'Bearer realm="moodlake"'
    return response


def _static(name: str) -> bytes:
    return resources.files("moodlake_dagster.serve").joinpath("static", name).read_bytes()


def openapi() -> dict:
    """The API's OpenAPI 3.1 schema, written out by hand."""
    bearer = [{"bearer": []}]
    error = {"description": "a JSON error", "content": {"application/json": {}}}
    errors = {"401": error, "403": error, "400": error}

    def get(summary: str, parameters=(), extra=None) -> dict:
        return {
            "get": {
                "summary": summary,
                "security": bearer,
                "parameters": list(parameters),
                "responses": {
                    "200": {"description": "JSON", "content": {"application/json": {}}},
                    **errors,
                    **(extra or {}),
                },
            }
        }

    def query(name: str, values, text: str) -> dict:
        schema = {"type": "string", "enum": list(values)}
        return {"name": name, "in": "query", "schema": schema, "description": text}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MoodLake listener API",
            "version": "1",
            "description": "A listener's own moods, modes and picks, from the Gold tables.",
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/api/me": get("who the token belongs to: pseudonym, time zone, plays, coverage"),
            "/api/me/recommendations": get(
                "mirror or coach picks for a day part, each with its SHAP sentence",
                [
                    query("mode", MODES, "mirror (default) or coach"),
                    query("day_part", DAY_PARTS, "default: now, in the listener's time zone"),
                ],
            ),
            "/api/me/moods": get("mood by hour, by day part × weekday, and by day"),
            "/api/me/modes": get("listening modes with their names and centroids"),
            "/api/me/genres": get("top genres, feature gaps to the catalog, unexplored genres"),
            "/api/me/insights": get("what the data supports saying, in ranked sentences"),
            "/api/me/explanations/{track_id}": get(
                "why a recommended track was picked (SHAP sentences)",
                [{"name": "track_id", "in": "path", "required": True, "schema": TEXT}],
                {"404": error},
            ),
        },
    }


def create_app(
    gold: Gold,
    home: Path,
    *,
    open_user: str | None = None,
    refresh: bool = True,
) -> Starlette:
    """The app over `gold`; `open_user` serves that one listener without tokens."""
    tokens = Tokens(home)
    pages = {name: _static(name) for name in STATIC}
    schema = openapi()

    def listener_of(request: Request, allowed: set[str] = frozenset()):
        if len(request.scope.get("query_string", b"")) > MAX_QUERY:
            raise ApiError(414, f"query string over {MAX_QUERY} bytes")
        unknown = set(request.query_params) - allowed - {"user"}
        if unknown:
            raise ApiError(400, f"unknown parameter(s): {', '.join(sorted(unknown))[:100]}")
        if open_user is not None:
            user_id = open_user
        else:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError(401, "an access token is needed: Authorization: Bearer <token>")
            user_id = tokens.user_for(token.strip())
            if user_id is None:
                raise ApiError(401, "this access token is not valid")
        asked = request.query_params.get("user")
        if asked is not None and asked != user_id:
            raise ApiError(403, "a token sees only its own listener's data")
        found = gold.listener(user_id)
        if found is None:
            raise ApiError(404, "no data for this listener in the lake yet: run `moodlake build`")
        return found

    def endpoint(handler, allowed=()):
        async def wrapped(request: Request) -> Response:
            try:
                return handler(request, listener_of(request, set(allowed)))
            except ApiError as err:
                return _error(err.status, err.message)

        return wrapped

    def me(request, listener):
        return _json(listener.me)

    def recommendations(request, listener):
        mode = request.query_params.get("mode", "mirror")
        if mode not in MODES:
            raise ApiError(400, f"mode must be one of {', '.join(MODES)}, got {mode[:40]!r}")
        part = request.query_params.get("day_part") or listener.current_day_part()
        if part not in DAY_PARTS:
            raise ApiError(
                400, f"day_part must be one of {', '.join(DAY_PARTS)}, got {part[:40]!r}"
            )
        return _json(listener.recommendations[(mode, part)])

    def explanation(request, listener):
        track_id = request.path_params["track_id"]
        found = listener.explanations.get(track_id)
        if found is None:
            raise ApiError(404, f"no recommendation of track {track_id[:40]!r} for this listener")
        return _json(found)

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in pages:
            return _error(404, "not found")
        return Response(pages[name], media_type=STATIC[name], headers=PAGE_HEADERS)

    async def schema_route(request: Request) -> Response:
        return _json(schema)

    async def health(request: Request) -> Response:
        snap = gold.snapshot
        return _json({"ok": True, "listeners": len(snap.listeners), "versions": snap.versions})

    routes = [
        Route("/", page),
        Route("/static/{name}", page),
        Route("/openapi.json", schema_route),
        Route("/healthz", health),
        Route("/api/me", endpoint(me)),
        Route("/api/me/recommendations", endpoint(recommendations, ("mode", "day_part"))),
        Route("/api/me/moods", endpoint(lambda r, lis: _json(lis.moods))),
        Route("/api/me/modes", endpoint(lambda r, lis: _json(lis.modes))),
        Route("/api/me/genres", endpoint(lambda r, lis: _json(lis.genres))),
        Route("/api/me/insights", endpoint(lambda r, lis: _json(lis.insights))),
        Route("/api/me/explanations/{track_id}", endpoint(explanation)),
    ]

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, exc.detail or "error")

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, "internal error")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if refresh:
            gold.start()
        try:
            yield
        finally:
            gold.stop()

    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
