"""Listener segments: features from plays up to the day, unique names, held-out silhouette
beside the plays-per-day baseline, determinism, and the small-data refusal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moodlake_dagster.ml import segments

D = dt.date
CATALOG = Path(__file__).parents[1] / "moodlake_dagster" / "demo_data" / "catalog_sample.csv"
START = D(2025, 1, 1)
PART_HOURS = {"night": 2, "morning": 8, "afternoon": 14, "evening": 20}


def synthetic(n_listeners: int = 90, days: int = 40, seed: int = 3):
    """Three kinds of listener over a tiny catalog: heavy dark night owls, light bright
    morning people, moderate energetic evening listeners; each with personal noise."""
    rng = np.random.default_rng(seed)
    n_tracks = 60
    tracks = pd.DataFrame(
        {
            "track_id": [f"t{i:03d}" for i in range(n_tracks)],
            "valence": rng.uniform(0, 1, n_tracks),
            "energy": rng.uniform(0, 1, n_tracks),
            "genres": [[f"g{i % 12}", f"g{(i * 7) % 12}"] for i in range(n_tracks)],
        }
    )
    kinds = [  # (plays a day, day-part weights, track preference: valence/energy sign, skip)
        (40, [0.7, 0.05, 0.1, 0.15], -1, 0.35),
        (5, [0.02, 0.75, 0.18, 0.05], +1, 0.10),
        (15, [0.05, 0.1, 0.25, 0.6], 0, 0.20),
    ]
    frames = []
    for u in range(n_listeners):
        per_day, weights, sign, skip = kinds[u % 3]
        active = np.sort(rng.choice(days, size=int(days * 0.7), replace=False))
        counts = rng.poisson(per_day, len(active)) + 1
        day = np.repeat(active, counts)
        n = len(day)
        part = rng.choice(list(PART_HOURS), size=n, p=weights)
        mood = tracks["valence"] + tracks["energy"]
        pref = np.exp(3 * sign * mood.to_numpy())
        track = rng.choice(tracks["track_id"], size=n, p=pref / pref.sum())
        frames.append(
            pd.DataFrame(
                {
                    "user_id": f"listener-{u:03d}",
                    "track_id": track,
                    "local_date": [START + dt.timedelta(days=int(d)) for d in day],
                    "day_part": part,
                    "local_hour": [PART_HOURS[p] for p in part],
                    "skipped": rng.random(n) < skip,
                }
            )
        )
    return pd.concat(frames, ignore_index=True), tracks


def test_features_are_per_listener_and_ignore_later_plays():
    plays, tracks = synthetic(n_listeners=6, days=20)
    as_of = START + dt.timedelta(days=9)
    features = segments.listener_features(plays, tracks, as_of)
    before = plays[plays["local_date"] <= as_of]
    one = before[before["user_id"] == "listener-000"]
    row = features.loc["listener-000"]
    assert row["plays_per_active_day"] == pytest.approx(len(one) / one["local_date"].nunique())
    assert row["skip_rate"] == pytest.approx(one["skipped"].mean())
    assert row["night_share"] == pytest.approx((one["day_part"] == "night").mean())
    shares = features[[f"{p}_share" for p in segments.DAY_PARTS]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    valence = one.merge(tracks, on="track_id")["valence"].mean()
    assert row["mean_valence"] == pytest.approx(valence)
    genres = (
        one.merge(tracks, on="track_id").explode("genres")["genres"].value_counts(normalize=True)
    )
    assert row["genre_breadth"] == pytest.approx(np.exp(-(genres * np.log(genres)).sum()))
    later = plays.assign(
        skipped=np.where(plays["local_date"] > as_of, True, plays["skipped"]),
        day_part=np.where(plays["local_date"] > as_of, "night", plays["day_part"]),
    )
    pd.testing.assert_frame_equal(features, segments.listener_features(later, tracks, as_of))


def test_names_are_words_read_from_the_centroids():
    population = pd.DataFrame(
        {
            "plays_per_active_day": [2.0, 5.0, 10.0, 40.0, 60.0, 3.0],
            "skip_rate": [0.1, 0.2, 0.2, 0.3, 0.4, 0.1],
            "night_share": [0.0, 0.1, 0.1, 0.7, 0.8, 0.0],
            "morning_share": [0.9, 0.6, 0.3, 0.1, 0.0, 0.8],
            "afternoon_share": [0.1, 0.2, 0.3, 0.1, 0.1, 0.1],
            "evening_share": [0.0, 0.1, 0.3, 0.1, 0.1, 0.1],
            "mean_valence": [0.8, 0.6, 0.5, 0.2, 0.2, 0.7],
            "mean_energy": [0.7, 0.6, 0.5, 0.2, 0.3, 0.6],
            "genre_breadth": [3.0, 4.0, 5.0, 6.0, 6.0, 3.0],
        }
    )
    centroids = population.iloc[[4, 0, 2]].reset_index(drop=True)
    names = segments.segment_names(centroids, population)
    assert names[0].startswith("heavy night-owl listeners, dark and calm")
    assert names[1].startswith("light morning listeners, bright")
    assert len(set(names)) == 3
    twins = segments.segment_names(population.iloc[[4, 4]].reset_index(drop=True), population)
    assert len(set(twins)) == 2 and all(twins)


def test_segments_beat_the_plays_per_day_baseline_on_held_out_listeners():
    plays, tracks = synthetic()
    as_of = START + dt.timedelta(days=39)
    out = segments.fit(plays, tracks, as_of)
    rows = out.rows.to_pandas()
    assert out.rows.schema.equals(segments.SCHEMA)
    assert len(rows) == plays["user_id"].nunique() and rows["user_id"].is_unique
    assert (rows["as_of_date"] == as_of).all()
    names = rows.groupby("segment_id")["segment"].unique()
    assert all(len(n) == 1 and n[0] for n in names)  # one non-empty name per segment
    assert rows["segment"].nunique() == rows["segment_id"].nunique()
    m = {r["metric"]: r for r in out.metrics["listener_segments"]}
    assert m["silhouette_heldout"]["value"] > m["silhouette_heldout"]["baseline"]
    assert m["silhouette_heldout"]["n_eval"] == round(0.3 * len(rows))
    assert -1 <= m["adjusted_rand_stability"]["value"] <= 1
    assert m["k"]["value"] == rows["segment_id"].nunique()
    assert (rows["distance"] >= 0).all()
    # the three kinds were built to differ: listeners of one kind share a segment
    kind = rows["user_id"].str[-3:].astype(int) % 3
    assert pd.crosstab(kind, rows["segment_id"]).max(axis=1).min() >= 0.8 * (len(rows) / 3)
    assert out.store_name == "listener_segments"
    assert set(out.artifact) >= {"scaler", "kmeans"}
    assert set(out.figures) == {"plot", "k_choice"}
    legend = out.figures["plot"][0].axes[0].get_legend().get_texts()
    assert {t.get_text().rsplit(" (", 1)[0] for t in legend} == set(rows["segment"])


def test_deterministic_for_the_same_data():
    plays, tracks = synthetic(n_listeners=45, days=20)
    as_of = START + dt.timedelta(days=19)
    a, b = segments.fit(plays, tracks, as_of), segments.fit(plays, tracks, as_of)
    assert a.rows.equals(b.rows)
    assert a.metrics == b.metrics


def test_too_few_listeners_give_no_rows_and_say_why():
    plays, tracks = synthetic(n_listeners=12, days=10)
    out = segments.fit(plays, tracks, START + dt.timedelta(days=9))
    assert out.rows.num_rows == 0 and out.rows.schema.equals(segments.SCHEMA)
    assert out.metrics == {"listener_segments": []}
    assert "12 listener" in out.empty_reason and "20" in out.empty_reason


def test_segments_on_the_crowd():
    crowd = pytest.importorskip("moodlake_dagster.demo.crowd")
    c = crowd.crowd(CATALOG, listeners=150, start=START, days=150, seed=7)
    as_of = START + dt.timedelta(days=149)
    out = segments.fit(c.plays, c.tracks, as_of)
    rows = out.rows.to_pandas()
    assert len(rows) == c.plays["user_id"].nunique()
    assert rows["segment"].str.len().gt(0).all()
    assert rows["segment"].nunique() == rows["segment_id"].nunique()
    m = {r["metric"]: r for r in out.metrics["listener_segments"]}
    assert m["silhouette_heldout"]["value"] > m["silhouette_heldout"]["baseline"]
    again = segments.fit(c.plays, c.tracks, as_of)
    assert again.rows.equals(out.rows)


def test_a_listener_without_audio_features_is_segmented_with_nulls_kept():
    plays, tracks = synthetic(n_listeners=30, days=15)
    plays.loc[plays["user_id"] == "listener-001", "track_id"] = None
    out = segments.fit(plays, tracks, START + dt.timedelta(days=14))
    rows = out.rows.to_pandas().set_index("user_id")
    assert len(rows) == 30
    assert np.isnan(rows.loc["listener-001", "mean_valence"])
    assert np.isnan(rows.loc["listener-001", "genre_breadth"])
    assert rows.drop(index="listener-001")["mean_valence"].notna().all()
    assert rows.loc["listener-001", "segment"]
