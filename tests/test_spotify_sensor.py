"""The Spotify polling sensor on a loopback API, the runs it requests, dedup, and disconnect."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import dagster as dg
import pytest
from deltalake import DeltaTable
from helpers import CATALOG_SAMPLE
from spotify_server import FakeSpotify, play_item
from test_spotify_enrichment import features, track

from moodlake_dagster import cli
from moodlake_dagster.definitions import make_definitions
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.resources import build_resources
from moodlake_dagster.sensors import spotify_recent_plays_sensor
from moodlake_dagster.sensors.requests import ENRICH_TAG, RANGE_END_TAG, RANGE_START_TAG
from moodlake_dagster.settings import load_settings
from moodlake_dagster.spotify.client import SpotifyLoginRequired
from moodlake_dagster.tables import PREFERENCE_MODEL

# The requested runs and the disconnect rebuild run on the shared Spark server.
pytestmark = pytest.mark.spark

KEY = "test-key-not-secret"
FIRST = dt.datetime(2026, 11, 18, 7, 30, tzinfo=dt.UTC)


def catalog_tracks(n: int) -> list[dict]:
    with CATALOG_SAMPLE.open() as handle:
        rows = list(csv.DictReader(handle))
    return [r for r in rows if r["track_name"] and r["artists"]][:n]


@pytest.fixture
def fake(shared_data):
    server = FakeSpotify().start()
    yield server
    server.stop()


@pytest.fixture
def env(fake, tmp_path, spark_url):
    landing = tmp_path / "landing"
    landing.mkdir()
    return {
        "MOODLAKE_HOME": str(tmp_path / "home"),
        "MOODLAKE_LANDING": str(landing),
        "MOODLAKE_CATALOG": str(CATALOG_SAMPLE),
        "MOODLAKE_SPARK_REMOTE": spark_url,
        "MOODLAKE_PSEUDONYM_KEY": KEY,
        "MOODLAKE_SPOTIFY_CLIENT_ID": "test-client",
        "MOODLAKE_SPOTIFY_API_URL": fake.api_url,
        "MOODLAKE_SPOTIFY_ACCOUNTS_URL": fake.url,
        "MOODLAKE_SPOTIFY_ACCOUNT": "efrrowini",
        "MOODLAKE_SPOTIFY_MAX_WAIT_S": "5",
    }


class Poll:
    def __init__(self, env, instance):
        self.settings = load_settings(env)
        self.resources = build_resources(self.settings)
        self.instance = instance
        self.cursor = None

    def login(self, fake) -> None:
        cache = self.settings.spotify_token_cache
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(fake.token_cache()))

    def __call__(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            cursor=self.cursor,
            instance=self.instance,
            resources={k: self.resources[k] for k in ("spotify", "lake", "moodlake")},
        )
        result = spotify_recent_plays_sensor(context)
        self.cursor = result.cursor or self.cursor
        return result

    def responses(self):
        uri = f"{self.settings.lake_root}/bronze/spotify_api_responses"
        return DeltaTable(uri).to_pandas()


def test_polling_through_the_error_cases(fake, env, tmp_path):
    poll = Poll(env, dg.DagsterInstance.ephemeral())
    tracks = catalog_tracks(3)
    fake.plays = [
        play_item(
            t["track_id"],
            FIRST + dt.timedelta(days=d, minutes=5 * i),
            t["track_name"],
            t["artists"],
        )
        for d in range(3)
        for i, t in enumerate(tracks * 20)
    ]  # 180 plays over three days: four pages

    # Not logged in: the tick fails and says how to log in.
    with pytest.raises(SpotifyLoginRequired, match="moodlake spotify login"):
        poll()
    poll.login(fake)

    # Rate limited for an hour: skipped with the time to retry; later ticks wait for it.
    fake.script("/v1/me/player/recently-played", (429, {"Retry-After": "3600"}, None))
    result = poll()
    assert "retry in 3600 s" in result.skip_reason.skip_message
    assert json.loads(poll.cursor).get("after_ms") is None
    result = poll()
    assert "Rate limited by Spotify until" in result.skip_reason.skip_message
    assert len(fake.paths("/v1/me")) == 1, "no request while waiting for Retry-After"
    poll.cursor = None

    # The first poll: every page landed raw, a run for the three days, the cursor moved.
    result = poll()
    (request,) = result.run_requests
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (
        "2026-11-18",
        "2026-11-20",
    )
    stored = poll.responses()
    assert stored["items"].sum() == 180 and len(stored) == 4
    assert stored["user_id"].unique().tolist() == [pseudonymize("efrrowini", KEY.encode())]
    assert "efrrowini" not in "".join(stored["body"])
    last_ms = max(
        int(dt.datetime.fromisoformat(p["played_at"][:-1] + "+00:00").timestamp() * 1000)
        for p in fake.plays
    )
    assert json.loads(poll.cursor)["after_ms"] == last_ms
    assert [e.asset_key.to_user_string() for e in result.asset_events] == [
        "bronze/spotify_api_responses"
    ]

    # Nothing new: skipped, the cursor stays, the request carried it.
    result = poll()
    assert not result.run_requests and "No new plays" in result.skip_reason.skip_message
    assert fake.requests[-1][1].endswith(f"after={last_ms}")

    # Spotify down (500s past the retries): the error surfaces, nothing lands, cursor kept.
    before = poll.cursor
    fake.script("/v1/me/player/recently-played", *[(500, {}, None)] * 4)
    fake.plays.append(play_item(tracks[0]["track_id"], FIRST + dt.timedelta(days=3), "x", "y"))
    with pytest.raises(Exception, match="500"):
        poll()
    assert poll.cursor == before and len(poll.responses()) == 4

    # Network down: a skip with the reason; then the play arrives on the next good tick.
    good = poll.resources["spotify"]
    offline = env | {"MOODLAKE_SPOTIFY_API_URL": "http://127.0.0.1:9/v1/"}
    poll.resources["spotify"] = build_resources(load_settings(offline))["spotify"]
    result = poll()
    assert "cannot reach Spotify" in result.skip_reason.skip_message and poll.cursor == before
    poll.resources["spotify"] = good
    (request,) = poll().run_requests
    assert request.tags[RANGE_START_TAG] == "2026-11-21"
    assert json.loads(poll.cursor)["after_ms"] > last_ms


def test_api_plays_reach_silver_once_and_disconnect_removes_them(fake, env, monkeypatch):
    """An API play and the same play in a later export are one play; disconnect deletes."""
    instance = dg.DagsterInstance.ephemeral()
    poll = Poll(env, instance)
    poll.login(fake)
    tracks = catalog_tracks(4)
    times = [FIRST + dt.timedelta(minutes=4 * i) for i in range(4)]
    fake.plays = [
        play_item(t["track_id"], at, t["track_name"], t["artists"])
        for t, at in zip(tracks, times, strict=True)
    ]
    (request,) = poll().run_requests

    # The export the person downloads later holds the first two plays (ts 20 s later).
    export = [
        {
            "ts": (at + dt.timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ms_played": int(t["duration_ms"]),
            "master_metadata_track_name": t["track_name"],
            "master_metadata_album_artist_name": t["artists"],
            "spotify_track_uri": f"spotify:track:{t['track_id']}",
            "reason_end": "trackdone",
        }
        for t, at in list(zip(tracks, times, strict=True))[:2]
    ]
    folder = poll.settings.landing / "efrrowini"
    folder.mkdir()
    (folder / "Streaming_History_Audio_2026.json").write_text(json.dumps(export))

    defs = make_definitions(env)
    run = defs.resolve_job_def("listening_history").execute_in_process(
        instance=instance, tags=request.tags, asset_selection=request.asset_selection
    )
    assert run.success
    root = poll.settings.lake_root
    events = DeltaTable(f"{root}/bronze/listening_events").to_pandas()
    assert sorted(events["source_format"].value_counts().items()) == [("api", 4), ("extended", 2)]
    assert events.loc[events["source_format"] == "api", "ms_played"].isna().all()
    plays = DeltaTable(f"{root}/silver/plays").to_pandas()
    assert len(plays) == 4, "the two plays seen by both the API and the export are one each"
    assert sorted(plays["source_format"]) == ["api", "api", "extended", "extended"]
    assert plays["has_features"].all()
    api = plays[plays["source_format"] == "api"]
    assert (~api["skipped"]).all() and set(api["skip_source"]) == {"api"}

    # A per-listener snapshot built since the API fed the lake, for them and for someone else.
    import pyarrow as pa

    me = pseudonymize("efrrowini", KEY.encode())
    other = pseudonymize("someone-else", KEY.encode())
    snapshot = pa.table(
        {
            "as_of_date": [FIRST.date()] * 2,
            "user_id": [me, other],
            "status": ["trained", "trained"],
        }
    )
    lake = build_resources(poll.settings)["lake"]
    lake.replace_range(PREFERENCE_MODEL, snapshot, FIRST.date(), FIRST.date())

    # Disconnect: token gone, every API-sourced row gone, export rows stay.
    monkeypatch.setattr(cli, "load_settings", lambda: poll.settings)
    assert cli.main(["spotify", "disconnect", "--no-rebuild"]) == 0
    assert not poll.settings.spotify_token_cache.exists()
    assert set(DeltaTable(f"{root}/bronze/listening_events").to_pandas()["source_format"]) == {
        "extended"
    }
    assert len(DeltaTable(f"{root}/bronze/spotify_api_responses").to_pandas()) == 0
    left = DeltaTable(f"{root}/silver/plays").to_pandas()
    assert set(left["source_format"]) == {"extended"} and len(left) == 2
    kept = DeltaTable(f"{root}/gold/preference_model").to_pandas()
    assert kept["user_id"].tolist() == [other]


def test_a_polled_track_the_catalog_lacks_is_looked_up_in_the_same_run(fake, env):
    """The sensor's run asks the Web API for the new track; its play then resolves by id."""
    instance = dg.DagsterInstance.ephemeral()
    poll = Poll(env, instance)
    poll.login(fake)
    (known,) = catalog_tracks(1)
    new_id, name, artist = "7zzNotInTheSample00000", "Nowhere In The Sample", "Nobody Catalogued"
    fake.plays = [
        play_item(known["track_id"], FIRST, known["track_name"], known["artists"]),
        play_item(new_id, FIRST + dt.timedelta(minutes=4), name, artist),
    ]
    body = track(new_id, name)
    body["artists"][0]["name"] = artist
    fake.tracks, fake.features = {new_id: body}, {new_id: features(new_id)}

    (request,) = poll().run_requests
    assert request.tags[ENRICH_TAG] == "true"
    assert "bronze/spotify_tracks" in {k.to_user_string() for k in request.asset_selection}
    run = (
        make_definitions(env)
        .resolve_job_def("listening_history")
        .execute_in_process(
            instance=instance, tags=request.tags, asset_selection=request.asset_selection
        )
    )
    assert run.success
    assert fake.paths(f"/v1/tracks/{new_id}") and fake.paths("/v1/audio-features")
    root = poll.settings.lake_root
    looked_up = DeltaTable(f"{root}/bronze/spotify_tracks").to_pandas()
    assert looked_up[["track_id", "lookup_status", "features_source"]].values.tolist() == [
        [new_id, "found", "api"]
    ], "only the id the catalog lacks is looked up"
    tracks = DeltaTable(f"{root}/silver/tracks").to_pandas().set_index("track_id")
    assert tracks.loc[new_id, "features_source"] == "api"
    assert tracks.loc[new_id, "valence"] == features(new_id)["valence"]
    plays = DeltaTable(f"{root}/silver/plays").to_pandas().set_index("spotify_track_id")
    assert plays.loc[new_id, "track_id"] == new_id and plays.loc[new_id, "resolution"] == "id"
    assert plays["has_features"].all()


def test_login_saves_the_token_outside_the_repo(fake, env, monkeypatch, capsys):
    poll = Poll(env, dg.DagsterInstance.ephemeral())
    monkeypatch.setattr(cli, "load_settings", lambda: poll.settings)
    monkeypatch.setattr("sys.stdin", io.StringIO("http://127.0.0.1:8888/callback?code=abc123\n"))
    assert cli.main(["spotify", "login"]) == 0
    out = capsys.readouterr().out
    assert f"{fake.url}/authorize?" in out and "code_challenge" in out  # PKCE: no secret
    saved = json.loads(poll.settings.spotify_token_cache.read_text())
    assert saved["refresh_token"] == "refresh-1"
    assert oct(poll.settings.spotify_token_cache.stat().st_mode & 0o777) == "0o600"
    assert cli.main(["spotify", "status"]) == 0
    assert "logged in:  yes" in capsys.readouterr().out
