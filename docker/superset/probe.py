"""Ask a running Superset what the compose test needs to know, over its REST API (stdlib only,
so the test runs without Superset's dependencies)."""

import json
import urllib.parse
import urllib.request


def _call(url: str, token: str | None = None, body: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:  # a JSON content type without a body is a 400 on GET .../data/
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def login(base_url: str, user: str, password: str) -> str:
    """An access token for the API, from a database (form) user."""
    body = {"username": user, "password": password, "provider": "db", "refresh": False}
    return _call(f"{base_url}/api/v1/security/login", body=body)["access_token"]


def dashboard(base_url: str, token: str, title: str) -> dict:
    """The dashboard with this title, with `charts`: its charts' ids and names."""
    rison = f"(filters:!((col:dashboard_title,opr:eq,value:'{title}')))"
    found = _call(f"{base_url}/api/v1/dashboard/?q={urllib.parse.quote(rison)}", token)["result"]
    if len(found) != 1:
        raise LookupError(f"{len(found)} dashboards titled {title!r}")
    board = _call(f"{base_url}/api/v1/dashboard/{found[0]['id']}", token)["result"]
    charts = _call(f"{base_url}/api/v1/dashboard/{board['id']}/charts", token)["result"]
    return board | {"charts": [{"id": c["id"], "name": c["slice_name"]} for c in charts]}


def chart_rows(base_url: str, token: str, chart_id: int) -> list[dict]:
    """The rows the chart's saved query returns now (the cache is bypassed)."""
    url = f"{base_url}/api/v1/chart/{chart_id}/data/?force=true&format=json&type=full"
    return _call(url, token)["result"][0]["data"]
