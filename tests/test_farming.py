"""Stream-farming detection on the seeded crowd (its farm rings are the answers) and on small
hand-built listener-days."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers import CATALOG_SAMPLE
from matplotlib.figure import Figure

from moodlake_dagster.demo.crowd import crowd
from moodlake_dagster.ml import farming

AS_OF = dt.date(2025, 6, 30)
START = dt.date(2025, 1, 1)
DAY_PARTS = np.array(["night", "morning", "afternoon", "evening"])
HEAVY = ["heavy-1", "heavy-2", "heavy-3"]


def _plays(user, day, hour, track, ms) -> pd.DataFrame:
    """A plays frame in UTC (local time = UTC) from per-play arrays."""
    day, hour = np.asarray(day), np.asarray(hour)
    at = pd.Timestamp(START, tz="UTC") + pd.to_timedelta(day, "D") + pd.to_timedelta(hour, "h")
    track = np.asarray(track).astype(object)
    return pd.DataFrame(
        {
            "user_id": np.broadcast_to(np.asarray(user, dtype=object), day.shape),
            "track_id": track,
            "played_at_utc": at.astype("datetime64[us, UTC]"),
            "play_date": at.date,
            "local_date": at.date,
            "local_hour": hour.astype(int),
            "weekday": at.weekday + 1,
            "day_part": DAY_PARTS[hour // 6],
            "ms_played": np.asarray(ms, dtype="int64"),
            "skipped": np.asarray(ms) < 30_000,
            "completion": np.nan,
            "artist_name": "someone",
            "track_name": "title " + pd.Series(track).astype(str).to_numpy(),
        }
    )


def _heavy(user: str, seed: int, days: int = 40, per_day: int = 400) -> pd.DataFrame:
    """An ordinary heavy listener: more plays a day than any farm, of hundreds of tracks at
    full length, from 8:00 to midnight."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(days), per_day)
    n = len(day)
    return _plays(
        user,
        day,
        rng.integers(8, 24, n),
        np.char.add(f"{user}-t", rng.integers(0, 400, n).astype(str)),
        rng.integers(120_000, 320_000, n),
    )


@pytest.fixture(scope="module")
def scene():
    made = crowd(CATALOG_SAMPLE, listeners=150, start=START, days=90, seed=7)
    heavy = [_heavy(user, seed) for seed, user in enumerate(HEAVY)]
    plays = pd.concat([made.plays, *heavy], ignore_index=True)
    farms = set(made.answers["farms"])
    return plays, farms, farming.detect(plays, AS_OF, answers=farms)


def _metrics(out) -> dict[str, dict]:
    return {row["metric"]: row for row in out.metrics["stream_farming"]}


def test_farms_are_found_beyond_the_most_plays_baseline(scene):
    plays, farms, out = scene
    scores = _metrics(out)
    recall, precision = scores["recall"], scores["precision"]
    assert len(farms) >= 3
    assert recall["value"] >= 0.8
    assert recall["value"] >= recall["baseline"]
    # the heavy listeners out-play the farms, so "most plays a day" picks them first
    assert precision["value"] > precision["baseline"]
    flagged = farming.flagged_users(out.rows)
    assert recall["value"] == pytest.approx(len(flagged & farms) / len(farms))
    assert precision["value"] == pytest.approx(len(flagged & farms) / len(flagged))
    assert recall["n_eval"] == plays["user_id"].nunique()


def test_heavy_ordinary_listeners_are_not_flagged(scene):
    plays, _, out = scene
    per_day = plays.groupby(["user_id", "local_date"]).size().groupby("user_id").mean()
    assert per_day[HEAVY].min() > per_day.drop(HEAVY).max()  # the heaviest in the crowd
    assert not farming.flagged_users(out.rows) & set(HEAVY)


def test_rows_follow_the_schema_and_count_the_flagged_days(scene):
    plays, _, out = scene
    assert out.rows.schema == farming.SCHEMA
    rows = out.rows.to_pandas()
    assert rows["user_id"].is_unique
    assert (rows["first_flagged"] <= rows["last_flagged"]).all()
    days = farming.score_days(plays)
    flagged = days[days["flagged"]]
    assert rows["flagged_days"].sum() == len(flagged) == out.metadata["flagged_listener_days"]
    assert rows["plays_on_flagged_days"].sum() == flagged["plays"].sum()
    assert out.metadata["listener_days_scored"] == len(days)
    assert out.metadata["flagged_listeners"] == len(rows)
    assert (rows["score"] >= farming.Z_CUT).all()


def test_reasons_are_words_with_numbers(scene):
    rows = scene[2].rows.to_pandas()
    assert len(rows)
    for reason in rows["reason"]:
        assert re.match(r"\d+ plays a day in \d+ distinct hours, \d+% of them 30–40 s long", reason)
        assert re.search(r"looping \d+ tracks shared with \d+ other account", reason)


def test_flagged_users_reads_a_frame_or_a_table(scene):
    out = scene[2]
    users = farming.flagged_users(out.rows)
    assert users == farming.flagged_users(out.rows.to_pandas())
    assert users == set(out.rows.column("user_id").to_pylist())
    assert farming.flagged_users(pa.table({"user_id": pa.array([], pa.string())})) == set()


def test_the_plot_shows_flagged_and_unflagged_listener_days(scene):
    fig, alt = scene[2].figures["plot"]
    assert isinstance(fig, Figure) and alt
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("flagged (") for label in labels)
    assert any(label.startswith("not flagged (") for label in labels)


def test_without_answers_the_metrics_say_unscored():
    plays = _heavy("someone", 1, days=3, per_day=50)
    out = farming.detect(plays, AS_OF)
    for row in out.metrics["stream_farming"]:
        assert row["value"] is None and row["note"] == "no answer file: unscored"
    assert out.rows.num_rows == 0 and out.rows.schema == farming.SCHEMA


def _ordinary_crowd(rng, listeners: int = 40, days: int = 5) -> pd.DataFrame:
    n = listeners * days * 20
    return _plays(
        np.repeat([f"u{i}" for i in range(listeners)], days * 20),
        np.tile(np.repeat(np.arange(days), 20), listeners),
        rng.integers(7, 23, n),
        np.char.add("t", rng.integers(0, 2_000, n).astype(str)),
        rng.integers(60_000, 300_000, n),
    )


def test_one_rule_needs_a_second_independent_witness():
    """An all-nighter of ordinary plays fires "round the clock", and the detector's z on
    distinct hours, but nothing else is odd: not flagged. Add loops of short plays: flagged."""
    rng = np.random.default_rng(5)
    crowd_days = _ordinary_crowd(rng)
    n = 24  # as many plays as anyone, one in every hour
    all_nighter = _plays(
        "owl", np.zeros(n, int), np.arange(24),
        np.char.add("owl-t", np.arange(n).astype(str)), rng.integers(150_000, 250_000, n),
    )  # fmt: skip
    days = farming.score_days(pd.concat([crowd_days, all_nighter], ignore_index=True))
    owl = days[days["user_id"] == "owl"].iloc[0]
    assert owl["round_the_clock"] and owl["rules_fired"] == 1 and owl["detector"]
    assert not owl["flagged"]
    n = 24 * 10
    bot = _plays(
        "bot", np.zeros(n, int), np.repeat(np.arange(24), 10),
        np.char.add("bot-t", (np.arange(n) % 6).astype(str)), rng.integers(31_000, 36_000, n),
    )  # fmt: skip
    days = farming.score_days(pd.concat([crowd_days, bot], ignore_index=True))
    assert days.loc[days["user_id"] == "bot", "flagged"].item()
    assert not days.loc[days["user_id"] != "bot", "flagged"].any()


def test_a_ring_is_a_track_mostly_played_by_its_loopers():
    loop = np.arange(25)
    parts = [_plays(u, np.zeros(25, int), loop % 24, np.full(25, "obscure"), 33_000) for u in "abc"]
    parts.append(_plays("d", [0], [12], ["obscure"], [200_000]))  # one ordinary play of it
    # a hit: two fans loop it, ten others play it once — not a ring
    parts += [_plays(u, np.zeros(25, int), loop % 24, np.full(25, "hit"), 200_000) for u in "xy"]
    parts += [_plays(f"p{i}", [0], [9], ["hit"], [200_000]) for i in range(10)]
    days = farming.day_features(pd.concat(parts, ignore_index=True)).set_index("user_id")
    assert days.loc[["a", "b", "c"], "ring_accounts"].tolist() == [2, 2, 2]
    assert days.loc[["a", "b", "c"], "ring_share"].tolist() == [1.0, 1.0, 1.0]
    assert days.loc[["d", "x", "y"], "ring_accounts"].tolist() == [0, 0, 0]
    assert days.loc["a", "repeat_ratio"] == 25 and days.loc["a", "share_30_40s"] == 1.0


def test_plays_after_as_of_are_not_scored(scene):
    plays, farms, _ = scene
    early = plays["play_date"].min()
    out = farming.detect(plays, early, answers=farms)
    assert out.metadata["listener_days_scored"] <= plays["user_id"].nunique() * 2
    assert out.metadata["listener_days_scored"] < len(farming.score_days(plays))


def test_unresolved_plays_count_by_artist_and_title():
    plays = _plays("u", [0, 0, 0], [9, 10, 11], [None, None, "t1"], [200_000] * 3)
    plays.loc[1, "track_name"] = "another title"
    days = farming.day_features(plays)
    assert days["distinct_tracks"].item() == 3
    plays.loc[1, "track_name"] = plays.loc[0, "track_name"]
    assert farming.day_features(plays)["distinct_tracks"].item() == 2
