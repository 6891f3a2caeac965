"""A lake built from account-data exports alone — no Extended history anywhere, so no shuffle
flag, no start reason, no country — through `moodlake build`, as a new user would."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from deltalake import DeltaTable
from helpers import CATALOG_SAMPLE, cli_env

from moodlake_dagster import cli
from moodlake_dagster.demo.generator import write_account_data_export
from moodlake_dagster.ingest.privacy import pseudonymize

# `moodlake build` runs every Spark asset.
pytestmark = pytest.mark.spark

KEY = "account-data-test-key"


def _bob_export(folder):
    """Forty plays of songs no catalog knows and a few it does: too few with features."""
    unknown = [
        {
            "endTime": f"2025-01-{day:02d} 1{hour}:00",
            "artistName": "Garage Band Nobody Knows",
            "trackName": f"Demo {hour}",
            "msPlayed": 150_000,
        }
        for day in range(1, 11)
        for hour in range(4)
    ]
    known = [
        {
            "endTime": f"2025-01-{day:02d} 20:00",
            "artistName": "Nat King Cole",
            "trackName": "O Holy Night - Remastered 1999",
            "msPlayed": 170_000,
        }
        for day in range(1, 6)
    ]
    folder.mkdir(parents=True)
    (folder / "StreamingHistory_music_0.json").write_text(json.dumps(unknown + known))


# Artists the catalog sample knows well (18–33 songs each), under titles it does not hold.
KNOWN_ARTISTS = ("The Beatles", "Elvis Presley", "George Jones", "Wolfgang Amadeus Mozart")


def _cleo_export(folder):
    """Eighty plays of songs the catalog lacks by artists it knows: artist estimates."""
    plays = [
        {
            "endTime": f"2025-01-{day:02d} {8 + slot * 3:02d}:00",
            "artistName": KNOWN_ARTISTS[(day + slot) % len(KNOWN_ARTISTS)],
            "trackName": f"Unreleased Take {day}-{slot}",
            "msPlayed": 200_000,
        }
        for day in range(1, 21)
        for slot in range(4)
    ]
    folder.mkdir(parents=True)
    (folder / "StreamingHistory_music_0.json").write_text(json.dumps(plays))


@pytest.fixture(scope="module")
def built(spark_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("account-data")
    landing = root / "landing"
    counts = write_account_data_export(CATALOG_SAMPLE, landing / "ann", days=45)
    _bob_export(landing / "bob")
    _cleo_export(landing / "cleo")
    with cli_env(root, spark_url, KEY) as (patch, _):
        patch.delenv("MOODLAKE_TIMEZONE", raising=False)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["build"])
        versions = table_versions(root / "home" / "lake")
        again = io.StringIO()
        with contextlib.redirect_stdout(again):
            second = cli.main(["build"])
        recommend_out, recommend_err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(recommend_out), contextlib.redirect_stderr(recommend_err):
            refused = cli.main(["recommend", "--user", "bob", "--day-part", "evening"])
    return {
        "code": code,
        "versions": versions,
        "second": (second, again.getvalue(), table_versions(root / "home" / "lake")),
        "out": out.getvalue(),
        "counts": counts,
        "lake": root / "home" / "lake",
        "refused": refused,
        "recommend": recommend_out.getvalue() + recommend_err.getvalue(),
    }


def table_versions(lake) -> dict[str, int]:
    from moodlake_dagster import maintenance

    return {name: DeltaTable(uri).version() for name, uri in maintenance.tables(str(lake))}


def table(built, layer, name):
    return DeltaTable(str(built["lake"] / layer / name)).to_pandas()


def test_the_build_succeeds_and_the_preference_model_trains_without_missing_columns(built):
    assert built["code"] == 0, built["out"]
    ann = pseudonymize("ann", KEY.encode())
    model = table(built, "gold", "preference_model")
    row = model[model["user_id"] == ann].iloc[-1]
    assert row["status"] == "trained", row["reason"]
    assert "shuffle_flag" in row["reason"] and "reason_start_code" in row["reason"]
    assert row["auc"] > 0.5


def test_the_summary_starts_with_coverage_and_accounts_for_every_file(built):
    out = built["out"]
    summary = out[out.index("Listeners (share of plays") :]
    ann, bob = pseudonymize("ann", KEY.encode()), pseudonymize("bob", KEY.encode())
    listeners = summary.split("Files:")[0]
    assert f"{ann}: " in listeners and f"{bob}: " in listeners
    assert "audio features for 100.0%" in listeners  # generated over the catalog itself
    assert "the export carries no country" in listeners  # local time is the default, said so
    files = summary.split("Files:")[1].split("Kept out")[0]
    assert "StreamingHistory_podcast_0.json [basic_podcast]: 7 records, landed 7 (podcast 7)" in (
        files
    )
    assert "StreamingHistory_audiobook_0.json [basic_audiobook]: 3 records" in files
    assert "YourLibrary.json: account data, not listening history" in files
    # Not one of Spotify's names (theirs is Read_Me_First.pdf): shown under its pseudonym.
    readme = pseudonymize("Read_Me_First_GENERATED.txt", KEY.encode())
    assert f"{readme}: not a JSON file" in files and "Read_Me_First" not in files
    kept_out = summary.split("Kept out of music plays:")[1]
    assert "podcast: 7" in kept_out and "audiobook: 3" in kept_out


def test_a_listener_without_enough_features_is_told_why_and_what_would_help(built):
    bob = pseudonymize("bob", KEY.encode())
    picks = table(built, "gold", "recommendations")
    assert bob not in set(picks["user_id"]) and len(picks) > 0
    summary = built["out"][built["out"].index("Models that could not run") :]
    assert f"recommendations: {bob}: " in summary and "moodlake catalog add" in summary
    assert built["refused"] == 1
    assert f"no recommendations for {bob}" in built["recommend"]
    assert "plays through with audio features" in built["recommend"]
    assert "moodlake catalog add" in built["recommend"]


def test_songs_the_catalog_lacks_by_artists_it_knows_take_the_artist_estimate(built):
    cleo = pseudonymize("cleo", KEY.encode())
    plays = table(built, "silver", "plays")
    own = plays[plays["user_id"] == cleo]
    assert len(own) == 80 and (own["resolution"] == "artist_estimate").all()
    assert own["has_features"].all() and own["completion"].isna().all()
    assert own["track_id"].str.startswith("EST").all() and own["track_id"].nunique() == 4
    users = (
        table(built, "silver", "users")
        .sort_values("as_of_date")
        .drop_duplicates("user_id", keep="last")
    )
    assert users.set_index("user_id").loc[cleo, "plays_with_estimated_features"] == 80
    tracks = table(built, "silver", "tracks").sort_values("as_of_date")
    tracks = tracks[tracks["as_of_date"] == tracks["as_of_date"].max()]
    estimates = tracks[tracks["features_source"] == "artist_estimate"].set_index("artists")
    songs = tracks[tracks["features_source"] == "catalog"].drop_duplicates("song_key")
    beatles = songs[songs["primary_artist"] == "The Beatles"]
    assert estimates.loc["The Beatles", "valence"] == pytest.approx(beatles["valence"].mean())
    assert estimates.loc["The Beatles", "estimated_from"] == len(beatles)
    # An estimate is no song: never recommended, never an ALS item, never a mood label.
    for name in ("recommendations", "als_recommendations"):
        picks = table(built, "gold", name)
        assert len(picks) and not picks["track_id"].str.startswith("EST").any(), name
    moods = table(built, "gold", "track_moods")
    assert not moods.loc[moods["track_id"].str.startswith("EST"), "in_training"].any()


def test_the_estimate_is_scored_on_held_out_catalog_songs(built):
    metrics = table(built, "gold", "model_metrics")
    scored = metrics[metrics["model"] == "feature_estimate"].set_index("metric")
    for feature in ("valence", "energy"):
        row = scored.loc[f"mae_{feature}"]
        assert row["n_eval"] > 1_000 and row["value"] < row["baseline"]
    assert scored.loc["mood_macro_auc", "value"] > 0.5


def test_a_second_build_with_nothing_new_writes_nothing(built):
    code, out, versions = built["second"]
    assert code == 0, out
    assert len(versions) >= 20 and versions == built["versions"]
    unchanged = out[out.index("Unchanged: ") :]
    for asset in ("listening_events", "plays", "tracks", "recommendations", "shap_values"):
        assert asset in unchanged
