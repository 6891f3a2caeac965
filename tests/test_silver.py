"""Silver transformations on real data through the shared Spark Connect server."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from helpers import CATALOG_SAMPLE, EXTENDED, NOW, link_landing

from moodlake_dagster.ingest.catalog import catalog_table, parse_catalog
from moodlake_dagster.ingest.history import events_table, parse_history
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.storage import empty_frame
from moodlake_dagster.transform.silver import build_plays, build_tracks

# Silver is built in Spark.
pytestmark = pytest.mark.spark

AS_OF = dt.date(2026, 6, 1)
KEY = b"k"
ZONES = pa.schema([("user_id", pa.string()), ("timezone", pa.string())])


@pytest.fixture(scope="module")
def tracks(spark):
    batch = parse_catalog(
        CATALOG_SAMPLE, as_of=AS_OF, batch_id="t", ingested_at=NOW, source_name="catalog_sample.csv"
    )
    frame = build_tracks(spark.createDataFrame(catalog_table(batch.rows)), AS_OF)
    return spark.createDataFrame(frame.toArrow())  # materialized once for the module


def plays_for(spark, tracks, landing, zones=(), **options):
    batch = parse_history(
        landing, key=KEY, default_user="me", now=NOW, batch_id="t", ingested_at=NOW
    )
    events = spark.createDataFrame(events_table(batch.events))
    zone_rows = pa.Table.from_pylist(
        [{"user_id": pseudonymize(a, KEY), "timezone": tz} for a, tz in zones], schema=ZONES
    )
    settings = {
        "default_timezone": "UTC",
        "skip_threshold_ms": 30_000,
        "dedup_window_s": 90,
        "include_incognito": False,
    } | options
    zone_frame = (
        spark.createDataFrame(zone_rows) if zone_rows.num_rows else empty_frame(spark, ZONES)
    )
    frame = build_plays(
        events, tracks, zone_frame, country_timezones=country_zones(spark), **settings
    )
    return frame.toPandas()


def country_zones(spark):
    from moodlake_dagster.assets.silver import country_timezones

    return country_timezones(spark)


def test_tracks_one_row_per_id_with_genre_lists(tracks):
    df = tracks.toPandas()
    assert len(df) == df["track_id"].nunique() == 9_748
    multi = df[df["genres"].map(len) > 1]
    assert len(multi) == 239  # 244 ids repeat in the sample; 5 of them under one genre twice
    assert all(list(g) == sorted(g) for g in multi["genres"])
    assert df["song_key"].str.contains(r"\|").all()


def test_real_extended_history_resolution_and_skips(shared_data, spark, tracks, tmp_path):
    landing = link_landing(tmp_path / "landing", {"efrrowini": EXTENDED})
    df = plays_for(spark, tracks, landing, zones=[("efrrowini", "Asia/Kolkata")])
    records = [r for f in EXTENDED.glob("*.json") for r in json.loads(f.read_text())]
    never_sounded = sum(1 for r in records if r["spotify_track_uri"] and r["ms_played"] == 0)
    assert never_sounded > 0
    # music plays only; a record of 0 ms is no play
    assert len(df) + df["duplicates_merged"].sum() == 6_929 - never_sounded
    resolution = df["resolution"].value_counts().to_dict()
    assert resolution["id"] == 369  # as measured in SOURCES.md
    assert resolution["name"] > 200  # same songs under other ids
    assert (resolution["id"] + resolution["name"]) / len(df) == pytest.approx(0.093, abs=0.01)
    assert (df["skip_source"] == "flag").all()
    assert df["skipped"].mean() == pytest.approx(0.317, abs=0.01)
    # Local time is IST (UTC+5:30), never UTC, and counted from the start of each play.
    offsets = df["played_at_local"] - df["started_at_utc"].dt.tz_localize(None)
    assert (offsets == pd_timedelta(hours=5, minutes=30)).all()
    lengths = df["played_at_utc"] - df["started_at_utc"]
    assert (lengths == pd_timedelta(milliseconds=1) * df["ms_played"]).all()


def pd_timedelta(**kw):
    import pandas as pd

    return pd.Timedelta(**kw)


def test_reimport_and_cross_format_copies_collapse_to_one_play(
    shared_data, spark, tracks, tmp_path
):
    source = json.loads((EXTENDED / "Streaming_History_Audio_2022.json").read_text())
    landing = tmp_path / "landing" / "me"
    landing.mkdir(parents=True)
    (landing / "Streaming_History_Audio_2022.json").write_text(json.dumps(source))
    # A later export of the same plays: not byte-identical, so only Silver can see the copies.
    (landing / "Streaming_History_Audio_2022_reexport.json").write_text(
        json.dumps(source, indent=2)
    )
    # The same plays again in the basic format: minute precision, names only.
    basic = [
        {
            "endTime": r["ts"][:16].replace("T", " "),
            "artistName": r["master_metadata_album_artist_name"],
            "trackName": r["master_metadata_track_name"],
            "msPlayed": r["ms_played"],
        }
        for r in source
        if r["spotify_track_uri"]
    ]
    (landing / "StreamingHistory0.json").write_text(json.dumps(basic))
    df = plays_for(spark, tracks, landing.parent)
    single = plays_for(spark, tracks, link_landing(tmp_path / "one", {"me": EXTENDED}))
    single = single[single["source_file"].str.endswith("2022.json")]
    assert len(df) == len(single) == 33  # 35 records: one not music, one of 0 ms (no play)
    # every music record of the three files is either the surviving play or a merged copy
    sounded = sum(1 for r in basic if r["msPlayed"] > 0)
    assert df["duplicates_merged"].sum() == 3 * sounded - len(df)
    assert (df["duplicates_merged"] >= 2).all()
    # the export's own repeated record is merged the same way in both
    assert df["duplicates_merged"].sum() - 2 * len(df) == single["duplicates_merged"].sum() * 3
    assert set(df["source_format"]) == {"extended"}  # the richer copy survives


def test_threshold_skip_and_unresolved_plays_are_kept(spark, tracks, tmp_path):
    landing = tmp_path / "landing" / "me"
    landing.mkdir(parents=True)
    (landing / "StreamingHistory0.json").write_text(
        json.dumps(
            [
                {
                    "endTime": "2024-01-01 08:00",
                    "artistName": "Nobody Known",
                    "trackName": "Unheard",
                    "msPlayed": 12_000,
                },
                {
                    "endTime": "2024-01-01 09:00",
                    "artistName": "Nat King Cole",
                    "trackName": "O Holy Night - Remastered 1999",
                    "msPlayed": 176_000,
                },
                # same song, same second, same length, same file: one play recorded twice
                {
                    "endTime": "2024-01-01 09:00",
                    "artistName": "Nat King Cole",
                    "trackName": "O Holy Night - Remastered 1999",
                    "msPlayed": 176_000,
                },
            ]
        )
    )
    df = plays_for(spark, tracks, landing.parent).sort_values("played_at_utc")
    assert list(df["resolution"]) == ["unresolved", "name"]
    assert list(df["skipped"]) == [True, False]
    assert list(df["skip_source"]) == ["threshold", "threshold"]
    assert df.iloc[1]["track_id"] == "4ChVFOiAIPwnKLgWGUcErS"
    assert df.iloc[1]["completion"] == pytest.approx(176_000 / 176_226)
    assert df.iloc[1]["duplicates_merged"] == 1
    assert df.iloc[0]["completion"] != df.iloc[0]["completion"]  # NaN: no duration known


def test_api_plays_enter_training_only_on_opt_in(spark):
    import pandas as pd

    from moodlake_dagster.transform.policy import training_plays

    plays = pd.DataFrame(
        {"play_id": ["a", "b", "c"], "source_format": ["extended", "api", "basic"]}
    )
    assert training_plays(plays, include_api_plays=False)["play_id"].tolist() == ["a", "c"]
    assert len(training_plays(plays, include_api_plays=True)) == 3
    frame = spark.createDataFrame(plays)
    kept = training_plays(frame, include_api_plays=False).select("play_id").toPandas()
    assert sorted(kept["play_id"]) == ["a", "c"]


def _extended(ts, country, ms=200_000, **extra):
    return {
        "ts": ts,
        "ms_played": ms,
        "conn_country": country,
        "master_metadata_track_name": "O Holy Night - Remastered 1999",
        "master_metadata_album_artist_name": "Nat King Cole",
        "spotify_track_uri": "spotify:track:4ChVFOiAIPwnKLgWGUcErS",
        "skipped": False,
        "incognito_mode": False,
    } | extra


def test_what_is_a_play_and_when_it_happened(spark, tracks, tmp_path):
    """0 ms records, private sessions and videos stay out; local time comes from the start
    of the play, in the zone of its country where that has one zone (else the default)."""
    landing = tmp_path / "landing" / "traveller"
    landing.mkdir(parents=True)
    (landing / "Streaming_History_Audio_2024.json").write_text(
        json.dumps(
            [
                # India, one zone: 18:20 UTC start = 23:50 IST, ending 00:05 IST the next day.
                _extended("2024-03-01T18:35:00Z", "IN", ms=900_000),
                _extended("2024-03-02T10:00:00Z", "US"),  # several zones: the default
                _extended("2024-03-02T11:00:00Z", "IN", ms=0),  # never sounded
                _extended("2024-03-02T12:00:00Z", "IN", incognito_mode=True),
            ]
        )
    )
    (landing / "Streaming_History_Video_2024.json").write_text(
        json.dumps([_extended("2024-03-03T09:00:00Z", "IN")])
    )
    df = plays_for(spark, tracks, landing.parent, default_timezone="Europe/Lisbon")
    df = df.sort_values("played_at_utc").reset_index(drop=True)
    assert len(df) == 2 and (df["ms_played"] > 0).all()
    india, usa = df.iloc[0], df.iloc[1]
    assert (india["timezone"], india["timezone_source"]) == ("Asia/Kolkata", "country")
    assert (india["local_hour"], str(india["local_date"]), india["day_part"]) == (
        23,
        "2024-03-01",
        "evening",
    )
    assert (usa["timezone"], usa["timezone_source"]) == ("Europe/Lisbon", "default")
    # A configured zone wins over the country; music videos count only on request.
    configured = plays_for(
        spark,
        tracks,
        landing.parent,
        zones=[("traveller", "Asia/Tokyo")],
        music_videos=True,
    )
    assert len(configured) == 3
    assert set(configured["timezone_source"]) == {"configured"}


def test_tracks_from_a_catalog_without_genres_pass_their_check(spark, tmp_path):
    """The 1.2M-song layout has no genre: its tracks land with an empty genre list, merged
    after the Kaggle sample, and Silver's contract still holds."""
    from test_ingest_catalog import SONGS_HEADER, songs_row, write

    from moodlake_dagster.checks import validate
    from moodlake_dagster.checks.schemas import Tracks
    from moodlake_dagster.ingest.catalog import parse_catalogs

    new_id = "0123456789abcdefABCDEF"
    songs = write(tmp_path / "tracks_features.csv", SONGS_HEADER, [songs_row(new_id, "['Uli']")])
    merged = parse_catalogs([CATALOG_SAMPLE, songs], as_of=AS_OF, batch_id="t", ingested_at=NOW)
    df = build_tracks(spark.createDataFrame(merged.table), AS_OF).toPandas()
    added = df[df["track_id"] == new_id].iloc[0]
    assert list(added["genres"]) == [] and added["catalog_layout"] == "songs_1_2m"
    assert added["song_key"] == "uli|testify"
    assert validate(Tracks, df).passed


def test_an_unknown_song_by_a_known_artist_takes_the_artist_estimate(spark, tmp_path):
    batch = parse_catalog(
        CATALOG_SAMPLE, as_of=AS_OF, batch_id="t", ingested_at=NOW, source_name="catalog_sample.csv"
    )
    catalog = spark.createDataFrame(catalog_table(batch.rows))
    with_estimates = spark.createDataFrame(
        build_tracks(catalog, AS_OF, artist_estimates=True).toArrow()
    )
    from moodlake_dagster.checks import validate
    from moodlake_dagster.checks.schemas import Tracks

    assert validate(Tracks, with_estimates.toPandas()).passed
    landing = tmp_path / "landing" / "me"
    landing.mkdir(parents=True)
    record = {"endTime": "2024-01-01 08:00", "msPlayed": 200_000}
    (landing / "StreamingHistory0.json").write_text(
        json.dumps(
            [
                record | {"artistName": "Nobody Known", "trackName": "Unheard"},
                record
                | {
                    "endTime": "2024-01-01 09:00",
                    "artistName": "Nat King Cole",
                    "trackName": "O Holy Night - Remastered 1999",
                },
                record
                | {"endTime": "2024-01-01 10:00", "artistName": "NAT king cole"}
                | {"trackName": "A Song Nobody Filed"},
            ]
        )
    )
    df = plays_for(spark, with_estimates, landing.parent).sort_values("played_at_utc")
    assert list(df["resolution"]) == ["unresolved", "name", "artist_estimate"]
    assert df.iloc[1]["track_id"] == "4ChVFOiAIPwnKLgWGUcErS"  # a known title stays itself
    estimate = df.iloc[2]
    assert estimate["track_id"].startswith("EST") and estimate["has_features"]
    assert estimate["completion"] != estimate["completion"]  # no duration of this song known


def test_users_count_distinct_days_and_tracks_as_spark_does(spark):
    """Silver users counts a listener's distinct days and tracks from their sets: the numbers
    `countDistinct` gives, nulls left out, as longs."""
    from pyspark.sql import functions as F

    from moodlake_dagster.transform.silver import build_users

    t = dt.datetime(2024, 7, 21, 8, tzinfo=dt.UTC)
    day = dt.date(2024, 7, 21)
    rows = [  # (user, local day offset, dedup key, has features)
        ("u_a", 0, "k1", True),
        ("u_a", 0, "k1", True),
        ("u_a", 1, "k2", False),
        ("u_a", 2, None, False),
        ("u_b", 0, "k1", False),
    ]
    plays = spark.createDataFrame(
        [
            {
                "user_id": user,
                "played_at_utc": t + dt.timedelta(days=offset, minutes=i),
                "local_date": day + dt.timedelta(days=offset),
                "timezone": "UTC",
                "timezone_source": "default",
                "conn_country": "SE",
                "source_format": "extended",
                "has_features": features,
                "resolution": "id",
                "dedup_key": key,
            }
            for i, (user, offset, key, features) in enumerate(rows)
        ]
    )
    users = build_users(plays, day).toPandas().set_index("user_id")
    assert users.loc["u_a", ["active_days", "tracks_played", "tracks_with_features"]].tolist() == [
        3,
        2,
        1,
    ]
    assert users.loc["u_b", ["active_days", "tracks_played", "tracks_with_features"]].tolist() == [
        1,
        1,
        0,
    ]
    counted = plays.groupBy("user_id").agg(
        F.countDistinct("local_date").alias("active_days"),
        F.countDistinct("dedup_key").alias("tracks_played"),
    )
    expected = counted.toPandas().set_index("user_id").sort_index()
    got = users[["active_days", "tracks_played"]].sort_index()
    assert got.equals(expected)  # values and dtypes (int64) alike
