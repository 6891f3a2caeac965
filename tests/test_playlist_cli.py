"""`moodlake playlist` over a small hand-written gold/mood_playlists table (delta-rs only),
and `moodlake spotify push-playlist` against the loopback fake Spotify server."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from helpers import cli_env
from spotify_server import FakeSpotify

from moodlake_dagster import playlist_cli
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.ml import playlists

KEY = "playlist-test-key"
ANN = pseudonymize("ann", KEY.encode())
BOB = pseudonymize("bob", KEY.encode())
DAY = dt.date(2025, 3, 1)
ENERGY = [0.2, 0.5, 0.9, 0.4]


def _rows(user, mood, part, n, day=DAY, prefix="t"):
    return [
        {
            "as_of_date": day,
            "user_id": user,
            "mood": mood,
            "day_part": part,
            "position": i + 1,
            "track_id": f"{prefix}{mood[:2]}{part[:2]}{i:02d}",
            "track_name": f"Song {i}",
            "artists": f"Artist {i}",
            "energy": ENERGY[i % len(ENERGY)],
            "valence": 0.5,
            "source": "favourite" if i % 2 else "new",
        }
        for i in range(n)
    ]


@pytest.fixture
def home(tmp_path):
    """A home whose lake holds ann's happy evening and chill night playlists and bob's sad
    morning one, plus an older build, written in a shuffled row order."""
    rows = _rows(ANN, "happy", "evening", 6) + _rows(ANN, "chill", "night", 5)
    rows += _rows(BOB, "sad", "morning", 5) + _rows(
        ANN, "happy", "evening", 5, DAY - dt.timedelta(7), "old"
    )
    table = pa.Table.from_pylist(rows[::-1], schema=playlists.SCHEMA)
    write_deltalake(
        str(tmp_path / "home" / "lake" / "gold" / "mood_playlists"),
        table,
        partition_by=["as_of_date"],
    )
    with cli_env(tmp_path, "sc://unused:1", KEY) as (patch, _):
        yield tmp_path, patch


def parser() -> argparse.ArgumentParser:
    """`moodlake playlist` and `moodlake spotify push-playlist` wired as the lead wires them."""
    top = argparse.ArgumentParser(prog="moodlake")
    sub = top.add_subparsers(dest="command", required=True)
    playlist_cli.add_parser(sub)
    spotify = sub.add_parser("spotify")
    spotify.add_argument("action", choices=["login", "status", "disconnect", "push-playlist"])
    playlist_cli.add_push_arguments(spotify)
    spotify.set_defaults(func=playlist_cli.cmd_push_playlist)
    return top


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = parser().parse_args(list(argv))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = args.func(args)
    return code, out.getvalue(), err.getvalue()


def test_prints_the_numbered_list(home):
    code, out, _ = run("playlist", "--user", "ann", "--mood", "happy", "--day-part", "evening")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"Happy evening playlist for {ANN} as of {DAY} (6 tracks)"
    assert lines[1] == "  1. Artist 0 – Song 0  energy 0.20  new"
    assert lines[3] == "  3. Artist 2 – Song 2  energy 0.90  new"
    assert [line.split(".")[0].strip() for line in lines[1:]] == [str(i) for i in range(1, 7)]
    assert "ann" not in out.replace(ANN, "")  # only the pseudonym is shown


def test_pseudonym_and_older_snapshot(home):
    code, out, _ = run(
        "playlist",
        "--user",
        ANN,
        "--mood",
        "happy",
        "--day-part",
        "evening",
        "--as-of",
        "2025-02-25",
    )
    assert code == 0 and "(5 tracks)" in out and str(DAY - dt.timedelta(7)) in out


def test_writes_m3u_and_json(home):
    root, _ = home
    m3u, js = root / "out" / "happy.m3u", root / "out" / "happy.json"
    base = ("playlist", "--user", "ann", "--mood", "happy", "--day-part", "evening")
    assert run(*base, "--out", str(m3u))[0] == 0
    assert run(*base, "--out", str(js))[0] == 0
    text = m3u.read_text()
    assert text.splitlines()[:3] == [
        "#EXTM3U",
        "#EXTINF:-1,Artist 0 - Song 0",
        "spotify:track:thaev00",
    ]
    assert [e["track_id"] for e in playlists.from_m3u(text)] == [f"thaev{i:02d}" for i in range(6)]
    payload = json.loads(js.read_text())
    assert payload["user_id"] == ANN and payload["mood"] == "happy"
    assert [t["position"] for t in payload["tracks"]] == [1, 2, 3, 4, 5, 6]
    assert [t["source"] for t in payload["tracks"]][:2] == ["new", "favourite"]


def test_other_suffix_is_refused(home):
    root, _ = home
    code, _, err = run("playlist", "--user", "ann", "--mood", "happy", "--out", str(root / "x.txt"))
    assert code == 2 and ".m3u or .json" in err and ".txt" in err
    assert not (root / "x.txt").exists()


def test_missing_playlist_names_what_exists(home):
    code, out, err = run("playlist", "--user", "ann", "--mood", "sad", "--day-part", "evening")
    assert code == 1 and out == ""
    assert "no sad evening playlist" in err
    assert "they have: happy (evening); chill (night)" in err
    code, _, err = run("playlist", "--user", "ann", "--mood", "happy", "--day-part", "night")
    assert code == 1 and "happy (evening)" in err
    code, _, err = run("playlist", "--user", "carol", "--mood", "happy", "--day-part", "night")
    assert code == 1 and "carol" in err and ANN in err and BOB in err


def test_no_table_yet(tmp_path):
    with cli_env(tmp_path, "sc://unused:1", KEY):
        code, _, err = run("playlist", "--mood", "happy", "--day-part", "night")
    assert code == 1 and "moodlake build" in err


# -- pushing to Spotify ---------------------------------------------------------------------


@pytest.fixture
def fake(shared_data):
    server = FakeSpotify().start()
    received: list[tuple[str, dict | list]] = []
    dispatch = server._dispatch

    def recording(handler, method):
        # The scripted answers never read the request body: read it here, for the asserts.
        if method == "POST" and not handler.path.startswith("/api/token"):
            length = int(handler.headers.get("Content-Length", 0))
            received.append((handler.path, json.loads(handler.rfile.read(length) or b"null")))
        return dispatch(handler, method)

    server._dispatch = recording
    server.received = received
    yield server
    server.stop()


def login(root, patch, fake, scope: str) -> None:
    cache = root / "home" / "secrets" / "spotify-token.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(fake.token_cache() | {"scope": scope}))
    patch.setenv("MOODLAKE_SPOTIFY_CLIENT_ID", "test-client")
    patch.setenv("MOODLAKE_SPOTIFY_API_URL", fake.api_url)
    patch.setenv("MOODLAKE_SPOTIFY_ACCOUNTS_URL", fake.url)


def test_push_creates_a_private_playlist_in_order(home, fake):
    root, patch = home
    login(root, patch, fake, "user-read-recently-played playlist-modify-private")
    url = "https://open.spotify.com/playlist/pl123"
    fake.script("/v1/me/playlists", (201, {}, {"id": "pl123", "external_urls": {"spotify": url}}))
    fake.script("/v1/playlists/pl123/items", (201, {}, {"snapshot_id": "s1"}))
    code, out, err = run(
        "spotify",
        "push-playlist",
        "--user",
        "ann",
        "--mood",
        "happy",
        "--day-part",
        "evening",
        "--name",
        "Evening lift",
    )
    assert code == 0, err
    assert url in out and "6 tracks" in out
    (create, created), (add, added) = fake.received
    assert create == "/v1/me/playlists"
    assert created["public"] is False and created["collaborative"] is False
    assert created["name"] == "Evening lift" and "ann" not in created["description"]
    assert add.startswith("/v1/playlists/pl123/items")
    assert added == [f"spotify:track:thaev{i:02d}" for i in range(6)]


def test_push_without_the_scope_says_log_in_again(home, fake):
    root, patch = home
    login(root, patch, fake, "user-read-recently-played")
    code, out, err = run(
        "spotify", "push-playlist", "--user", "ann", "--mood", "happy", "--day-part", "evening"
    )
    assert code == 1 and out == ""
    assert "playlist-modify-private" in err and "run `moodlake spotify login` again" in err
    assert fake.requests == [], "nothing is asked of Spotify without the scope"


def test_push_needs_a_mood_and_a_playlist(home, fake):
    root, patch = home
    login(root, patch, fake, "playlist-modify-private")
    assert run("spotify", "push-playlist", "--user", "ann")[0] == 2
    code, _, err = run(
        "spotify", "push-playlist", "--user", "ann", "--mood", "sad", "--day-part", "night"
    )
    assert code == 1 and "they have:" in err
    assert fake.requests == []


def test_push_playlist_batches_and_keeps_order(fake, tmp_path):
    """More than 100 tracks go in batches of 100, in order, through a bare spotipy client."""
    from test_spotify_client import make_client

    from moodlake_dagster.spotify.playlists import push_playlist

    client, _, _ = make_client(fake, tmp_path)
    token = fake.token_cache() | {"scope": "user-read-recently-played playlist-modify-private"}
    (tmp_path / "secrets" / "spotify-token.json").write_text(json.dumps(token))
    fake.script("/v1/me/playlists", (201, {}, {"id": "big"}))
    fake.script("/v1/playlists/big/items", *[(201, {}, {"snapshot_id": "s"})] * 3)
    ids = [f"id{i:03d}" for i in range(230)]
    pushed = push_playlist(client.sp, "Big", "many", ids)
    assert pushed == {"id": "big", "url": "https://open.spotify.com/playlist/big", "tracks": 230}
    batches = [body for path, body in fake.received if "/items" in path]
    assert [len(b) for b in batches] == [100, 100, 30]
    assert sum(batches, []) == [f"spotify:track:{i}" for i in ids]
