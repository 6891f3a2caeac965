"""How long the models take to train and score, and ALS on a generated crowd of 1,000.

- mood classifier on the 10k catalog sample: artist-grouped CV, the final fit, labelling every
  track, SHAP for every track;
- listening modes and the match model (mirror/coach lists, SHAP for each pick) for one
  generated listener with a year of plays;
- preference model on the real Extended Streaming History (Silver built on Spark);
- ALS on the shared Spark Connect server over a generated 1,000-listener, ~1M-play set: the
  fit, the later-window evaluation (precision@10 / NDCG@10 beside popularity), and scoring
  every listener.

Figures are printed and merged into benchmarks/results/build.json under "models".

    .venv/bin/python benchmarks/models_benchmark.py [--users 1000 --days 42]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import SparkSession

from moodlake_dagster.demo.generator import generate_plays
from moodlake_dagster.ingest.catalog import catalog_table, parse_catalog
from moodlake_dagster.ingest.history import events_table, parse_history
from moodlake_dagster.ml import als, explain, modes, mood, preference, recommend
from moodlake_dagster.spark_server import ensure_local_server, stop_local_server
from moodlake_dagster.storage import empty_frame
from moodlake_dagster.transform.silver import build_plays, build_tracks

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "moodlake_dagster" / "demo_data" / "catalog_sample.csv"
EXTENDED = REPO.parent / "shared" / "data" / "listening_history" / "spotify-music-analysis"
RESULTS = REPO / "benchmarks" / "results" / "build.json"
AS_OF = dt.date(2026, 6, 1)
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


class Clock:
    def __init__(self):
        self.figures: dict[str, float] = {}

    def time(self, name: str, fn, *args, **kwargs):
        began = time.perf_counter()
        out = fn(*args, **kwargs)
        self.figures[name] = round(time.perf_counter() - began, 2)
        print(f"  {name:<40} {self.figures[name]:>8.2f} s", flush=True)
        return out


def silver_tracks(spark) -> pd.DataFrame:
    batch = parse_catalog(
        CATALOG, as_of=AS_OF, batch_id="b", ingested_at=NOW, source_name="catalog_sample.csv"
    )
    return build_tracks(spark.createDataFrame(catalog_table(batch.rows)), AS_OF).toPandas()


def real_plays(spark, tracks: pd.DataFrame, landing: Path) -> pd.DataFrame:
    (landing / "listener").mkdir(parents=True)
    for path in EXTENDED.glob("*.json"):
        (landing / "listener" / path.name).symlink_to(path)
    batch = parse_history(
        landing, key=b"bench", default_user="me", now=NOW, batch_id="b", ingested_at=NOW
    )
    zones = pa.schema([("user_id", pa.string()), ("timezone", pa.string())])
    plays = build_plays(
        spark.createDataFrame(events_table(batch.events)),
        spark.createDataFrame(tracks.drop(columns=["as_of_date"]).assign(as_of_date=AS_OF)),
        empty_frame(spark, zones),
        default_timezone="UTC",
        skip_threshold_ms=30_000,
        dedup_window_s=90,
        include_incognito=False,
    ).toPandas()
    return plays.merge(tracks[["track_id", *preference.AUDIO]], on="track_id", how="left")


def bench_mood(clock: Clock, tracks: pd.DataFrame) -> dict:
    labelled = mood.labelled_tracks(tracks)
    evaluation = clock.time("mood_cv_5_fold", mood.evaluate, labelled)
    estimator = clock.time("mood_train", mood.train, labelled)
    labels = clock.time("mood_label_all_tracks", mood.label, estimator, tracks)
    classes = list(estimator.classes_)
    X = tracks[list(mood.FEATURES)].to_numpy(float)
    index = np.array([classes.index(m) for m in labels["mood"]])
    boosted = estimator.named_estimators_["boosted"]
    clock.time("mood_shap_all_tracks", explain.contributions, boosted, X, index)
    return {"tracks": len(tracks), "macro_auc": round(evaluation.macro_auc, 3)}


def bench_listener(clock: Clock, tracks: pd.DataFrame) -> dict:
    plays = generate_plays(CATALOG, users=1, days=365, seed=777)
    hours = plays["played_at_utc"].dt.hour
    plays = plays.assign(
        day_part=hours.map(lambda h: recommend.DAY_PARTS[h // 6]), local_hour=hours
    )
    plays = plays.merge(tracks[["track_id", *recommend.AUDIO]], on="track_id")
    fitted = clock.time("modes_fit_one_listener", modes.fit_user, "u", plays)
    match = clock.time("match_model_train_and_evaluate", recommend.train_match, "u", plays, tracks)
    as_of = plays["play_date"].max()
    pool = clock.time("candidates", recommend.candidates, plays, tracks, None)
    lists = clock.time(
        "mirror_and_coach_lists", recommend.recommend_user, match, plays, pool, as_of
    )
    X = recommend.design(lists, lists["day_part"])
    clock.time("shap_for_every_pick", explain.contributions, match.model, X)
    return {
        "plays": len(plays),
        "modes_k": fitted.k,
        "match_auc": round(match.auc, 3),
        "match_baseline_auc": round(match.baseline_auc, 3),
        "picks": len(lists),
    }


def bench_preference(clock: Clock, spark, tracks: pd.DataFrame) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        plays = clock.time("preference_silver_plays_real", real_plays, spark, tracks, Path(tmp))
    result = clock.time("preference_train_and_evaluate_real", preference.train_user, "me", plays)
    return {
        "plays": len(plays),
        "auc": round(result.auc, 3),
        "baseline_auc": round(result.baseline_auc, 3),
        "n_eval": result.n_eval,
    }


def bench_als(clock: Clock, spark, users: int, days: int) -> dict:
    plays = clock.time("als_generate_crowd", generate_plays, CATALOG, users=users, days=days)
    ratings = als.interactions(als.with_units(plays, "user"))
    evaluation = clock.time("als_fit_and_evaluate_later_window", als.evaluate, spark, plays, "user")
    served = clock.time("als_fit_every_play", als.serve, spark, plays, "user")

    def score_everyone():
        return [
            als.recommend(served.factors, vector, served.exclude[user], 50)
            for user, vector in served.vectors.items()
        ]

    clock.time("als_top50_for_every_listener", score_everyone)
    return {
        "listeners": int(plays["user_id"].nunique()),
        "plays": len(plays),
        "listener_track_pairs": len(ratings),
        "tracks": int(ratings["track_id"].nunique()),
        "params": als.PARAMS,
        "precision_at_10": round(evaluation.precision, 4),
        "baseline_precision_at_10": round(evaluation.baseline_precision, 4),
        "ndcg_at_10": round(evaluation.ndcg, 4),
        "baseline_ndcg_at_10": round(evaluation.baseline_ndcg, 4),
        "n_eval": evaluation.n_eval,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=42, help="~24 plays a day per listener")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="moodlake-bench-spark-"))
    server = ensure_local_server(state)
    spark = SparkSession.builder.remote(server.url).create()
    clock = Clock()
    try:
        tracks = clock.time("silver_tracks_10k_sample", silver_tracks, spark)
        figures = {
            "mood_classifier": bench_mood(clock, tracks),
            "listener": bench_listener(clock, tracks),
            "preference": bench_preference(clock, spark, tracks) if EXTENDED.exists() else None,
            "als": bench_als(clock, spark, args.users, args.days),
        }
    finally:
        spark.stop()
        stop_local_server(state)
    figures |= {
        "seconds": clock.figures,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(existing | {"models": figures}, indent=2, default=str) + "\n")
    print(json.dumps(figures, indent=2, default=str))
    print(f"written to {RESULTS.relative_to(REPO)} under 'models'")


if __name__ == "__main__":
    main()
