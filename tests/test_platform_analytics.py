"""Platform analytics in Spark: active listeners, retention, plan × country mix and the
crowd chart, against numbers worked out by hand and a pandas re-computation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from moodlake_dagster.transform import platform
from moodlake_dagster.transform.prices import DEFAULT_PRICES, PLANS, load_prices

D = dt.date
PLAYS_SCHEMA = (
    "user_id string, track_id string, local_date date, ms_played long, skipped boolean, "
    "artist_name string, track_name string"
)
TRACKS_SCHEMA = "track_id string, primary_artist string, track_name string, genres array<string>"
PROFILES_SCHEMA = "user_id string, plan string, country string, signup_date date"


def _plays(spark, rows):
    """Plays from (user, local_date[, track_id, artist, ms_played, skipped]) tuples."""
    full = []
    for row in rows:
        user, day, track, artist, ms, skipped = (*row, *(None,) * 6)[:6]
        full.append(
            (
                user,
                track,
                day,
                ms if ms is not None else 180_000,
                bool(skipped),
                artist if artist is not None else "Someone",
                "Some title",
            )
        )
    return spark.createDataFrame(full, schema=PLAYS_SCHEMA)


def _profiles(spark, rows):
    return spark.createDataFrame(rows, schema=PROFILES_SCHEMA)


def test_dau_wau_mau_on_a_hand_built_calendar(spark):
    plays = _plays(
        spark,
        [
            ("u1", D(2025, 3, 1)),
            ("u1", D(2025, 3, 1)),  # a second play the same day counts once
            ("u1", D(2025, 3, 5)),
            ("u2", D(2025, 3, 2)),
            ("u2", D(2025, 3, 9)),
            ("u4", D(2025, 3, 2)),
            ("u3", D(2025, 3, 9)),
            ("u3", D(2025, 3, 13)),  # after the as-of day
        ],
    )
    frame = platform.active_listeners(plays, D(2025, 3, 12))
    assert frame.dtypes == [
        ("day", "date"),
        ("dau", "bigint"),
        ("wau", "bigint"),
        ("mau", "bigint"),
        ("stickiness", "double"),
        ("as_of_date", "date"),
    ]
    got = frame.toPandas()
    assert list(got.columns) == ["day", "dau", "wau", "mau", "stickiness", "as_of_date"]
    assert list(got["day"]) == [D(2025, 3, d) for d in range(1, 13)]  # empty days included
    assert list(got["dau"]) == [1, 2, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]
    # The 9th's week (3rd–9th) has lost u4 (2nd) and gained u3; the 12th's (6th–12th) u1 too.
    assert list(got["wau"]) == [1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2]
    assert list(got["mau"]) == [1, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4]
    assert got["stickiness"].tolist() == pytest.approx(
        [1.0, 2 / 3, 0, 0, 1 / 3, 0, 0, 0, 0.5, 0, 0, 0]
    )
    assert set(got["as_of_date"]) == {D(2025, 3, 12)}


def test_a_listener_leaves_the_mau_after_thirty_days(spark):
    plays = _plays(spark, [("u1", D(2025, 1, 1)), ("u2", D(2025, 2, 5))])
    got = platform.active_listeners(plays, D(2025, 2, 6)).toPandas().set_index("day")
    assert len(got) == 37
    assert got.loc[D(2025, 1, 30), "mau"] == 1  # 1st–30th
    assert got.loc[D(2025, 1, 31), "mau"] == 0  # 2nd–31st: nobody, so no stickiness
    assert pd.isna(got.loc[D(2025, 1, 31), "stickiness"])
    assert got.loc[D(2025, 1, 7), "wau"] == 1 and got.loc[D(2025, 1, 8), "wau"] == 0
    assert tuple(got.loc[D(2025, 2, 6), ["dau", "wau", "mau"]]) == (0, 1, 1)


def test_retention_shares_for_two_cohorts_and_the_partial_month(spark):
    profiles = _profiles(
        spark,
        [
            ("a", "premium", "SE", D(2025, 1, 10)),
            ("b", "free", "SE", D(2025, 1, 20)),
            ("c", "free", "SE", D(2025, 1, 31)),  # never plays: still in the cohort
            ("d", "premium", "DE", D(2025, 2, 3)),
            ("e", "student", "DE", D(2025, 2, 20)),
            ("late", "free", "DE", D(2025, 4, 1)),  # signs up after the as-of day
            ("old", "duo", "DE", D(2024, 11, 5)),  # before the plays begin
        ],
    )
    plays = _plays(
        spark,
        [
            ("a", D(2025, 1, 11)),
            ("a", D(2025, 1, 12)),
            ("a", D(2025, 3, 2)),
            ("b", D(2025, 1, 25)),
            ("b", D(2025, 2, 1)),
            ("b", D(2025, 4, 2)),  # after the as-of day
            ("d", D(2025, 2, 4)),
            ("d", D(2025, 3, 1)),
            ("e", D(2025, 3, 14)),
            ("late", D(2025, 3, 3)),
            ("old", D(2025, 2, 9)),
            ("x", D(2025, 2, 14)),  # no profile: a first-play cohort
            ("x", D(2025, 3, 15)),
        ],
    )
    frame = platform.retention_cohorts(plays, profiles, D(2025, 3, 15))
    assert frame.dtypes == [
        ("cohort_month", "date"),
        ("cohort_basis", "string"),
        ("months_since", "bigint"),
        ("cohort_size", "bigint"),
        ("active", "bigint"),
        ("retention", "double"),
        ("complete", "boolean"),
        ("as_of_date", "date"),
    ]
    got = frame.toPandas()
    rows = {
        (r.cohort_month, r.cohort_basis, r.months_since): (
            r.cohort_size,
            r.active,
            r.retention,
            r.complete,
        )
        for r in got.itertuples()
    }
    nov, jan, feb = D(2024, 11, 1), D(2025, 1, 1), D(2025, 2, 1)
    assert rows == {
        # November and December 2024 precede every play: unobserved, so no rows.
        (nov, "signup", 2): (1, 0, 0.0, True),
        (nov, "signup", 3): (1, 1, 1.0, True),
        (nov, "signup", 4): (1, 0, 0.0, False),
        (jan, "signup", 0): (3, 2, pytest.approx(2 / 3), True),
        (jan, "signup", 1): (3, 1, pytest.approx(1 / 3), True),
        (jan, "signup", 2): (3, 1, pytest.approx(1 / 3), False),
        (feb, "signup", 0): (2, 1, pytest.approx(0.5), True),
        (feb, "signup", 1): (2, 2, pytest.approx(1.0), False),
        (feb, "first play", 0): (1, 1, pytest.approx(1.0), True),
        (feb, "first play", 1): (1, 1, pytest.approx(1.0), False),
    }
    # On the month's last day the month is whole.
    month_end = platform.retention_cohorts(plays, profiles, D(2025, 3, 31)).toPandas()
    assert month_end["complete"].all()


PRICE_CSV = "country,currency,plan,monthly_price\nSE,SEK,premium,100\nse,sek,Family,150\n"
PRICE_CSV += "DE,EUR,premium,10\n"


def test_plan_country_counts_and_revenue_from_a_custom_price_csv(spark, tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(PRICE_CSV)
    prices = load_prices(path)
    assert set(prices["country"]) == {"SE", "DE"} and set(prices["plan"]) == {"premium", "family"}
    profiles = _profiles(
        spark,
        [
            ("p1", "premium", "SE", D(2024, 5, 1)),
            ("p2", "premium", "se", D(2024, 6, 1)),
            ("p3", "family", "SE", D(2025, 1, 1)),
            ("p4", "family", "DE", D(2025, 1, 1)),  # no DE family price
            ("p5", "free", "DE", D(2025, 1, 1)),
            ("p6", "premium", "SE", D(2025, 4, 1)),  # not signed up by the as-of day
        ],
    )
    plays = _plays(
        spark,
        [
            ("p1", D(2025, 3, 1), "t1", "A", 60_000, True),  # first of the 28 days
            ("p1", D(2025, 3, 28), "t1", "A", 120_000, False),
            ("p1", D(2025, 2, 28), "t1", "A", 600_000, False),  # a day before them
            ("p3", D(2025, 3, 10), "t1", "A", 30_000, False),
            ("p4", D(2025, 2, 1), "t1", "A", 30_000, False),
            ("p6", D(2025, 3, 10), "t1", "A", 30_000, False),
            ("u9", D(2025, 3, 20), None, "B", 90_000, True),  # no profile
        ],
    )
    frame = platform.plan_country_mix(plays, profiles, prices, D(2025, 3, 28))
    got = frame.toPandas()
    assert list(got.columns) == [
        "plan",
        "country",
        "listeners",
        "active_listeners",
        "plays",
        "minutes",
        "skip_rate",
        "currency",
        "monthly_price",
        "estimated_monthly_revenue",
        "as_of_date",
    ]
    assert [t for _, t in frame.dtypes] == ["string"] * 2 + ["bigint"] * 3 + ["double"] * 2 + [
        "string",
        "double",
        "double",
        "date",
    ]
    rows = {
        (r["plan"], r["country"]): {k: v for k, v in r.items() if k not in ("plan", "country")}
        for r in got.to_dict("records")
    }
    assert set(rows) == {
        ("premium", "SE"),
        ("family", "SE"),
        ("family", "DE"),
        ("free", "DE"),
        ("unknown", "unknown"),
    }
    premium = rows["premium", "SE"]
    assert (premium["listeners"], premium["active_listeners"], premium["plays"]) == (2, 1, 2)
    assert premium["minutes"] == pytest.approx(3.0) and premium["skip_rate"] == pytest.approx(0.5)
    assert (premium["currency"], premium["monthly_price"]) == ("SEK", 100.0)
    assert premium["estimated_monthly_revenue"] == pytest.approx(200.0)
    assert rows["family", "SE"]["estimated_monthly_revenue"] == pytest.approx(150.0)
    unpriced = rows["family", "DE"]
    assert (unpriced["listeners"], unpriced["active_listeners"], unpriced["plays"]) == (1, 0, 0)
    assert pd.isna(unpriced["monthly_price"]) and pd.isna(unpriced["estimated_monthly_revenue"])
    assert pd.isna(unpriced["skip_rate"]) and unpriced["currency"] == "EUR"
    free = rows["free", "DE"]
    assert free["monthly_price"] == 0.0 and free["estimated_monthly_revenue"] == 0.0
    anonymous = rows["unknown", "unknown"]
    assert (anonymous["listeners"], anonymous["plays"], anonymous["skip_rate"]) == (1, 1, 1.0)
    assert pd.isna(anonymous["estimated_monthly_revenue"])
    assert sum(r["listeners"] for r in rows.values()) == 6  # p6 is left out


def test_default_prices_cover_every_plan_with_free_at_zero():
    prices = load_prices(None)
    assert len(DEFAULT_PRICES) >= 12
    assert set(prices["plan"]) == set(PLANS)
    assert len(prices) == len(DEFAULT_PRICES) * len(PLANS)
    assert (prices.loc[prices["plan"] == "free", "monthly_price"] == 0).all()
    assert (prices.loc[prices["plan"] != "free", "monthly_price"] > 0).all()


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("SE,SEK,platinum,20", "unknown plan 'platinum'"),
        ("SE,SEK,premium,-1", "negative monthly_price"),
        ("SE,,premium,10", "missing currency"),
        ("SE,SEK,premium,ten", "not a number"),
        ("SE,SEK,premium,100", "already priced on line 2"),
        ("SE,SEK,free,3", "free plan costs 0"),
    ],
)
def test_load_prices_names_the_file_and_line_of_a_bad_row(tmp_path, bad_row, message):
    path = tmp_path / "my-prices.csv"
    path.write_text(f"country,currency,plan,monthly_price\nSE,SEK,premium,100\n{bad_row}\n")
    with pytest.raises(ValueError, match="line 3") as caught:
        load_prices(path)
    assert "my-prices.csv" in str(caught.value) and message in str(caught.value)


def test_load_prices_rejects_a_file_without_the_header(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("country,plan,price\nSE,premium,10\n")
    with pytest.raises(ValueError, match="p.csv.*currency, monthly_price"):
        load_prices(path)


TRACKS = [
    ("t_rock", "Rock Band", "Rock Song", ["rock"]),
    ("t_pop", "Pop Star", "Pop Song", ["pop", "dance"]),
    ("t_niche", "Niche Artist", "Niche Song", ["nichegenre"]),
]


def _crowd_plays(spark):
    week = D(2025, 3, 3)  # a Monday
    rows = []
    for i in range(4):  # four listeners, one play each
        rows.append((f"r{i}", week + dt.timedelta(days=i), "t_rock", "Rock Band"))
    for i in range(3):
        rows.append((f"p{i}", week + dt.timedelta(days=6), "t_pop", "Pop Star"))
    rows.append(("p3", week, None, "Pop Star"))  # unresolved: the artist only
    rows.append(("p4", week, "EST0123", "Pop Star"))  # an artist estimate: the artist only
    for user in ("n0", "n1"):  # the most plays, one listener short of min_group 3
        rows += [(user, week + dt.timedelta(days=1), "t_niche", "Niche Artist")] * 50
    rows += [("farm-1", week + dt.timedelta(days=2), "t_niche", "Niche Artist")] * 100
    rows += [("farm-1", week - dt.timedelta(days=3), "t_niche", "Niche Artist")] * 7  # week before
    rows += [("farm-1", week + dt.timedelta(days=7), "t_niche", "Niche Artist")] * 9  # after as_of
    rows += [(f"r{i}", week - dt.timedelta(days=1), "t_rock", "Rock Band") for i in range(3)]
    return _plays(spark, rows)


def _chart(frame):
    return {
        (r.week_start, r.kind, r.item): (r.rank, r.plays, r.listeners) for r in frame.itertuples()
    }


def test_crowd_top_hides_groups_under_k_and_leaves_out_farms(spark):
    plays = _crowd_plays(spark)
    tracks = spark.createDataFrame(TRACKS, schema=TRACKS_SCHEMA)
    as_of = D(2025, 3, 9)
    frame, excluded = platform.crowd_top(
        plays, tracks, as_of, min_group=3, exclude_users=["farm-1"]
    )
    got = frame.toPandas()
    assert frame.dtypes == [
        ("week_start", "date"),
        ("kind", "string"),
        ("item", "string"),
        ("item_name", "string"),
        ("rank", "bigint"),
        ("plays", "bigint"),
        ("listeners", "bigint"),
        ("as_of_date", "date"),
    ]
    assert excluded == 107  # the farm's plays up to the as-of day, not the 9 after it
    week, before = D(2025, 3, 3), D(2025, 2, 24)
    assert _chart(got) == {
        (week, "track", "t_rock"): (1, 4, 4),
        (week, "track", "t_pop"): (2, 3, 3),
        (week, "artist", "Pop Star"): (1, 5, 5),
        (week, "artist", "Rock Band"): (2, 4, 4),
        (week, "genre", "rock"): (1, 4, 4),
        (week, "genre", "dance"): (2, 3, 3),  # ties on plays and listeners: by name
        (week, "genre", "pop"): (3, 3, 3),
        (before, "track", "t_rock"): (1, 3, 3),
        (before, "artist", "Rock Band"): (1, 3, 3),
        (before, "genre", "rock"): (1, 3, 3),
    }
    names = dict(zip(got["item"], got["item_name"], strict=False))
    assert names["t_rock"] == "Rock Band – Rock Song" and names["Pop Star"] == "Pop Star"

    # Without the exclusion the farm is the niche track's third listener: now it shows, on top.
    farmed, none_excluded = platform.crowd_top(plays, tracks, as_of, min_group=3)
    chart = _chart(farmed.toPandas())
    assert none_excluded == 0
    for kind, item in (("track", "t_niche"), ("artist", "Niche Artist"), ("genre", "nichegenre")):
        assert chart[week, kind, item] == (1, 200, 3)


def test_crowd_top_shows_a_group_of_exactly_min_group(spark):
    plays = _crowd_plays(spark)
    tracks = spark.createDataFrame(TRACKS, schema=TRACKS_SCHEMA)
    frame, _ = platform.crowd_top(
        plays, tracks, D(2025, 3, 9), min_group=2, exclude_users=["farm-1"], top_n=2
    )
    chart = _chart(frame.toPandas())
    week = D(2025, 3, 3)
    assert chart[week, "track", "t_niche"] == (1, 100, 2)
    assert chart[week, "track", "t_rock"] == (2, 4, 4)
    assert (week, "track", "t_pop") not in chart  # third: past top_n


def test_a_random_crowd_matches_a_pandas_recount(spark):
    rng = np.random.default_rng(11)
    n = 3_000
    start = D(2025, 1, 1)
    local = pd.Series(
        [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 70, n)], dtype=object
    )
    frame = pd.DataFrame(
        {
            "user_id": [f"u{int(i):02d}" for i in rng.zipf(1.6, n) % 40],
            "track_id": [f"t{int(i)}" for i in rng.integers(0, 12, n)],
            "local_date": local,
            "ms_played": rng.integers(1_000, 300_000, n),
            "skipped": rng.random(n) < 0.3,
        }
    )
    frame["artist_name"] = "a" + frame["track_id"].str[1:].astype(int).mod(5).astype(str)
    frame["track_name"] = "title"
    as_of = D(2025, 3, 5)
    plays = spark.createDataFrame(frame, schema=PLAYS_SCHEMA)

    got = platform.active_listeners(plays, as_of).toPandas().set_index("day")
    seen = frame[frame["local_date"] <= as_of]
    for day in got.index:

        def within(days, day=day):
            since = day - dt.timedelta(days=days - 1)
            return seen.loc[(seen["local_date"] >= since) & (seen["local_date"] <= day), "user_id"]

        assert tuple(got.loc[day, ["dau", "wau", "mau"]]) == (
            within(1).nunique(),
            within(7).nunique(),
            within(30).nunique(),
        )

    tracks = pd.DataFrame(
        {
            "track_id": [f"t{i}" for i in range(12)],
            "primary_artist": [f"a{i % 5}" for i in range(12)],
            "track_name": "title",
            "genres": [["g1"] if i % 2 else ["g1", "g2"] for i in range(12)],
        }
    )
    chart, excluded = platform.crowd_top(
        plays,
        spark.createDataFrame(tracks, schema=TRACKS_SCHEMA),
        as_of,
        min_group=4,
        exclude_users=["u01"],
        top_n=100,
    )
    kept = seen[seen["user_id"] != "u01"].copy()
    assert excluded == int((seen["user_id"] == "u01").sum())
    kept["week_start"] = [d - dt.timedelta(days=d.weekday()) for d in kept["local_date"]]
    genres = kept.merge(tracks[["track_id", "genres"]], on="track_id").explode("genres")
    expected = []
    for kind, rows, item in (
        ("track", kept, "track_id"),
        ("artist", kept, "artist_name"),
        ("genre", genres, "genres"),
    ):
        counts = rows.groupby(["week_start", item]).agg(
            plays=("user_id", "size"), listeners=("user_id", "nunique")
        )
        counts = counts[counts["listeners"] >= 4].reset_index().rename(columns={item: "item"})
        expected.append(counts.assign(kind=kind))
    expected = pd.concat(expected)
    mine = chart.toPandas()
    assert len(mine) == len(expected) > 0
    merged = mine.merge(expected, on=["week_start", "kind", "item"], suffixes=("", "_pd"))
    assert len(merged) == len(expected)
    assert (merged["plays"] == merged["plays_pd"]).all()
    assert (merged["listeners"] == merged["listeners_pd"]).all()
    # Ranks follow plays within each week and kind.
    for _, group in mine.groupby(["week_start", "kind"]):
        ordered = group.sort_values("rank")
        assert list(ordered["rank"]) == list(range(1, len(group) + 1))
        assert ordered["plays"].is_monotonic_decreasing


def test_the_demo_crowd_adds_up(spark):
    """On the generated crowd: totals agree with pandas and the farms' plays are set aside."""
    from helpers import CATALOG_SAMPLE

    from moodlake_dagster.demo.crowd import crowd

    made = crowd(CATALOG_SAMPLE, listeners=60, start=D(2025, 1, 1), days=90, seed=7)
    as_of = D(2025, 3, 20)
    columns = ["user_id", "track_id", "local_date", "ms_played", "skipped", "artist_name"]
    columns.append("track_name")
    plays = spark.createDataFrame(made.plays[columns], schema=PLAYS_SCHEMA)
    profiles = spark.createDataFrame(
        made.profiles[["user_id", "plan", "country", "signup_date"]], schema=PROFILES_SCHEMA
    )
    tracks = spark.createDataFrame(
        made.tracks[["track_id", "primary_artist", "track_name", "genres"]], schema=TRACKS_SCHEMA
    )
    seen = made.plays[made.plays["local_date"] <= as_of]

    mix = platform.plan_country_mix(plays, profiles, load_prices(None), as_of).toPandas()
    signed = made.profiles[made.profiles["signup_date"] <= as_of]
    anonymous = set(seen["user_id"]) - set(made.profiles["user_id"])
    assert mix["listeners"].sum() == len(signed) + len(anonymous)
    recent = seen[seen["local_date"] > as_of - dt.timedelta(days=28)]
    recent = recent[recent["user_id"].isin(set(signed["user_id"]) | anonymous)]
    assert mix["plays"].sum() == len(recent)
    assert mix["active_listeners"].sum() == recent["user_id"].nunique()
    priced = mix.dropna(subset=["monthly_price"])
    assert (
        priced["estimated_monthly_revenue"] == priced["listeners"] * priced["monthly_price"]
    ).all()
    assert priced.loc[priced["plan"] != "free", "monthly_price"].gt(0).all()

    cohorts = platform.retention_cohorts(plays, profiles, as_of).toPandas()
    sizes = cohorts.drop_duplicates(["cohort_month", "cohort_basis"])["cohort_size"]
    assert sizes.sum() == len(signed) + len(anonymous)
    assert cohorts["retention"].between(0, 1).all()
    assert not cohorts.loc[
        cohorts["months_since"] == cohorts["months_since"].max(), "complete"
    ].any()

    farms = made.answers["farms"]
    chart, excluded = platform.crowd_top(plays, tracks, as_of, exclude_users=farms)
    assert excluded == int(seen["user_id"].isin(farms).sum()) > 0
    shown = chart.toPandas()
    assert (shown["listeners"] >= 5).all() and shown["rank"].max() <= 20
    assert set(shown["kind"]) == {"track", "artist", "genre"}
    assert shown["week_start"].map(lambda d: d.weekday() == 0 and d <= as_of).all()
