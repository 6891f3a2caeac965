"""Gold over time in Spark: the daily mood series, against numbers worked out by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from moodlake_dagster.transform import over_time

D = dt.date


def test_a_run_rebuilds_the_local_days_its_utc_days_reach():
    assert over_time.local_days(D(2024, 7, 21), D(2024, 7, 23)) == (D(2024, 7, 20), D(2024, 7, 24))
    # ...and reads every play those local days hold: one day further on each side.
    assert over_time.play_days_to_read(D(2024, 7, 21), D(2024, 7, 21)) == (
        D(2024, 7, 19),
        D(2024, 7, 23),
    )


def test_each_local_day_is_summed_by_hand(spark):
    plays = pd.DataFrame(
        {
            "user_id": ["u_a", "u_a", "u_a", "u_b", "u_a"],
            "local_date": [D(2024, 7, 21)] * 4 + [D(2024, 7, 25)],  # the last is out of range
            "ms_played": [60_000, 120_000, 30_000, 90_000, 60_000],
            "skipped": [False, True, False, False, False],
            "track_id": ["t1", "t2", "unknown", "t1", "t1"],
        }
    )
    tracks = pd.DataFrame(
        {
            "track_id": ["t1", "t2"],
            "valence": [0.2, 0.6],
            "energy": [0.5, 0.9],
            "danceability": [0.4, 0.4],
        }
    )
    rows = (
        over_time.mood_by_day(
            spark.createDataFrame(plays),
            spark.createDataFrame(tracks),
            D(2024, 7, 20),
            D(2024, 7, 24),
        )
        .toPandas()
        .set_index("user_id")
    )
    assert sorted(rows.index) == ["u_a", "u_b"]  # the play of the 25th is outside the run
    a = rows.loc["u_a"]
    assert (a["plays"], a["plays_with_features"]) == (3, 2)
    assert a["minutes"] == pytest.approx(3.5)  # (60 + 120 + 30) s
    assert a["skip_rate"] == pytest.approx(1 / 3)
    assert a["valence_mean"] == pytest.approx(0.4)  # the unknown track has no features
    assert a["valence_std"] == pytest.approx(pd.Series([0.2, 0.6]).std())
    assert a["danceability_std"] == pytest.approx(0.0)
    assert a["feature_coverage"] == pytest.approx(2 / 3)
    b = rows.loc["u_b"]
    assert b["plays"] == 1 and pd.isna(b["valence_std"])  # one play: no spread to speak of


def _play(user, minute, *, valence=None, energy=None, skipped=False, platform="ios", shuffle=True):
    """A three-minute play ending at `minute` past 2024-07-21 08:00 UTC (local = UTC)."""
    end = dt.datetime(2024, 7, 21, 8, 0) + dt.timedelta(minutes=minute)
    return {
        "play_id": f"{user}-{minute}",
        "user_id": user,
        "played_at_utc": end,
        "started_at_utc": end - dt.timedelta(minutes=3),
        "played_at_local": end,
        "local_date": end.date(),
        "day_part": "morning",
        "ms_played": 180_000,
        "skipped": skipped,
        "platform": platform,
        "shuffle": shuffle,
        "valence": valence,
        "energy": energy,
    }


def test_a_half_hour_gap_ends_a_session_and_the_arc_compares_its_thirds(spark):
    from moodlake_dagster.transform import sessions

    plays = pd.DataFrame(
        [
            # Session 1: six plays three minutes apart, valence rising; one skipped.
            *[_play("u_a", 3 * i, valence=0.1 * (i + 1), energy=0.7) for i in range(5)],
            _play("u_a", 15, valence=0.9, energy=0.7, skipped=True, platform="web"),
            # 31 minutes later: session 2, two plays, too short for an arc.
            _play("u_a", 46, valence=0.5, energy=0.2, shuffle=False),
            _play("u_a", 49, energy=0.4, shuffle=False),
            # Another listener's lone play with no features: nothing to judge, no shares.
            _play("u_b", 0),
        ]
    )
    frame = spark.createDataFrame(plays)
    everyone = sessions.sessions(frame, D(2024, 7, 21)).toPandas()
    found = everyone[everyone["user_id"] == "u_a"].set_index("session_no")
    assert list(found.index) == [1, 2]
    first, second = found.loc[1], found.loc[2]
    assert first["plays"] == 6 and second["plays"] == 2
    assert first["length_minutes"] == pytest.approx(15 + 3)  # first start to last end
    assert first["skip_rate"] == pytest.approx(1 / 6)
    # Thirds of six plays: valence 0.1, 0.2 first; 0.5, 0.9 last.
    assert first["valence_arc"] == pytest.approx((0.5 + 0.9) / 2 - (0.1 + 0.2) / 2)
    assert pd.isna(second["valence_arc"])
    assert first["platform"] == "ios" and first["shuffle_share"] == pytest.approx(1.0)
    assert bool(first["high_energy"]) and not bool(second["high_energy"])  # 0.7 vs 0.3 mean

    summary = sessions.session_summary(
        sessions.sessions(frame, D(2024, 7, 21)), D(2024, 7, 21)
    ).toPandas()
    row, lone = (summary[summary["user_id"] == u].to_dict("records")[0] for u in ("u_a", "u_b"))
    assert pd.isna(lone["high_energy_share"]) and pd.isna(lone["brightening_share"])
    assert (row["day_part"], row["sessions"]) == ("morning", 2)
    assert row["high_energy_share"] == pytest.approx(0.5)
    assert (row["sessions_with_arc"], row["brightening_share"]) == (1, pytest.approx(1.0))


def test_top_lists_and_contexts_count_by_window(spark):
    from moodlake_dagster.transform import habits

    as_of = D(2024, 7, 31)
    rows = []
    for day, artist, minutes in ((D(2024, 7, 30), "A", 2), (D(2024, 7, 10), "B", 10)):
        for n in range(minutes):
            rows.append(
                {
                    "user_id": "u_a",
                    "local_date": day,
                    "artist_name": artist,
                    "track_name": f"{artist} song",
                    "track_id": None,
                    "dedup_key": f"{artist.lower()}|song",
                    "played_at_utc": dt.datetime.combine(day, dt.time(9, n)),
                    "ms_played": 60_000,
                    "skipped": n == 0,
                    "platform": "ios" if artist == "A" else "web",
                    "shuffle": artist == "A",
                }
            )
    plays = spark.createDataFrame(pd.DataFrame(rows))
    top = habits.top_artists(plays, as_of).toPandas()
    first = {p: g.sort_values("rank")["artist_name"].tolist() for p, g in top.groupby("period")}
    assert first == {"week": ["A"], "month": ["B", "A"], "all_time": ["B", "A"]}
    tracks = habits.top_tracks(plays, as_of).toPandas()
    assert set(tracks["track_key"]) == {"name:a|song", "name:b|song"}
    context = habits.listening_context(plays, as_of).toPandas().set_index(["context", "value"])
    assert context.loc[("platform", "web"), "plays"] == 10
    assert context.loc[("shuffle", "on"), "share"] == pytest.approx(2 / 12)
    assert context.loc[("shuffle", "off"), "skip_rate"] == pytest.approx(1 / 10)
