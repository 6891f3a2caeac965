"""What the retraining cadence costs ALS: a stored fit serving later days against a daily refit.

With `MOODLAKE_REFIT_DAYS=7` a fit serves up to six days after its own. Here the same later-day
questions (`als.evaluate`: plays from the cutoff on, each listener's or session's new tracks)
go to a model fitted at the cutoff (a daily refit) and to models fitted 3 and 6 days before it,
on real plays (the Extended Streaming History: one listener, so sessions stand in) and on a
generated crowd (listener rows). A track first played in those days is unknown to the older
model and still counts as a miss. Fresh fits from two other random seeds show how much a refit
alone moves the figures.

    .venv/bin/python benchmarks/refit_cadence.py [--users 300 --days 42]

Figures are printed and written to benchmarks/results/refit_cadence.json.
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

from models_benchmark import CATALOG, EXTENDED, real_plays, silver_tracks
from pyspark.sql import SparkSession

from moodlake_dagster.demo.generator import generate_plays
from moodlake_dagster.ml import als
from moodlake_dagster.spark_server import ensure_local_server, stop_local_server

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "refit_cadence.json"
AGES = (0, 3, 6)  # days between the fit and the cutoff; 6 is the oldest a weekly cadence serves
SEEDS = (4, 5)  # fresh fits from other random starts: how far a refit alone moves the figures


def ages(spark, plays, unit: str) -> dict:
    figures = {}
    for age in AGES:
        began = time.perf_counter()
        e = als.evaluate(spark, plays, unit, stale_days=age)
        figures[f"fit_{age}_days_before"] = {
            "precision_at_10": round(e.precision, 4),
            "ndcg_at_10": round(e.ndcg, 4),
            "baseline_precision_at_10": round(e.baseline_precision, 4),
            "baseline_ndcg_at_10": round(e.baseline_ndcg, 4),
            "n_eval": e.n_eval,
            "cutoff": str(e.cutoff),
            "seconds": round(time.perf_counter() - began, 2),
        }
        print(f"  {unit:<8} fit {age} days before the cutoff: {figures[f'fit_{age}_days_before']}")
    for seed in SEEDS:
        e = als.evaluate(spark, plays, unit, params={"seed": seed})
        figures[f"fit_0_days_before_seed_{seed}"] = {
            "precision_at_10": round(e.precision, 4),
            "ndcg_at_10": round(e.ndcg, 4),
        }
        print(f"  {unit:<8} fresh fit, seed {seed}: {figures[f'fit_0_days_before_seed_{seed}']}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--days", type=int, default=42)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="moodlake-bench-spark-"))
    server = ensure_local_server(state)
    spark = SparkSession.builder.remote(server.url).create()
    figures = {}
    try:
        if EXTENDED.exists():
            tracks = silver_tracks(spark)
            with tempfile.TemporaryDirectory() as landing:
                plays = real_plays(spark, tracks, Path(landing))
            figures["extended_history_sessions"] = {"plays": len(plays)} | ages(
                spark, plays, "session"
            )
        crowd = generate_plays(CATALOG, users=args.users, days=args.days)
        figures["generated_crowd_listeners"] = {
            "listeners": args.users,
            "days": args.days,
            "plays": len(crowd),
        } | ages(spark, crowd, "user")
    finally:
        spark.stop()
        stop_local_server(state)
    figures |= {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
