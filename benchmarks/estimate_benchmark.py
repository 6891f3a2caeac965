"""How good is a feature estimate from the artist's other songs? Scored on the real catalog
sample: leave-one-out error for valence and energy beside the catalog-mean baseline, and the
mood classifier's macro AUC on held-out artists with measured vs estimated features.

    .venv/bin/python benchmarks/estimate_benchmark.py   → benchmarks/results/estimate.json
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from pyspark.sql import SparkSession

from moodlake_dagster.ingest.catalog import parse_catalogs
from moodlake_dagster.ml import estimate
from moodlake_dagster.settings import DEMO_CATALOG, load_settings
from moodlake_dagster.spark_server import ensure_local_server, stop_local_server
from moodlake_dagster.transform.silver import build_tracks

RESULTS = Path(__file__).parent / "results" / "estimate.json"


def main() -> None:
    now = dt.datetime.now(dt.UTC)
    merged = parse_catalogs([DEMO_CATALOG], as_of=now.date(), batch_id="bench", ingested_at=now)
    state = load_settings().home / "spark-bench"
    server = ensure_local_server(state, port=None, driver_memory="2g")
    try:
        spark = SparkSession.builder.remote(server.url).getOrCreate()
        tracks = build_tracks(spark.createDataFrame(merged.table), now.date()).toPandas()
        spark.stop()
    finally:
        stop_local_server(state)
    began = time.monotonic()
    result = estimate.evaluate(tracks)
    figures = {
        "when": now.isoformat(timespec="seconds"),
        "catalog": DEMO_CATALOG.name,
        "songs_estimated": result.n_songs,
        "mae": result.mae,
        "baseline_mae_catalog_mean": result.baseline_mae,
        "mood_macro_auc_measured": result.mood_auc_measured,
        "mood_macro_auc_estimated": result.mood_auc_estimated,
        "mood_tracks_scored": result.n_mood_tracks,
        "clearly_better": result.clearly_better,
        "seconds": round(time.monotonic() - began, 1),
    }
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
