"""How good is a feature estimate from the artist's other songs? Scored on the real catalog
sample: leave-one-out error for valence and energy beside the catalog-mean baseline, and the
mood classifier's macro AUC on held-out artists with measured vs estimated features; then the
share of the real histories' plays (../shared/data, when beside the checkout) that get audio
features without and with artist estimates.

    .venv/bin/python benchmarks/estimate_benchmark.py   → benchmarks/results/estimate.json
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from pyspark.sql import SparkSession

from moodlake_dagster.ingest.catalog import parse_catalogs
from moodlake_dagster.ingest.history import events_table, parse_history
from moodlake_dagster.ml import estimate
from moodlake_dagster.settings import DEMO_CATALOG, load_settings
from moodlake_dagster.spark_server import ensure_local_server, stop_local_server
from moodlake_dagster.storage import empty_frame
from moodlake_dagster.transform.silver import build_plays, build_tracks

RESULTS = Path(__file__).parent / "results" / "estimate.json"
HISTORIES = Path(__file__).resolve().parents[2] / "shared" / "data" / "listening_history"


def coverage(spark, catalog, now) -> dict:
    """Per real history: plays, and the share with features by catalog only / with estimates."""
    import pyarrow as pa

    zones = empty_frame(spark, pa.schema([("user_id", pa.string()), ("timezone", pa.string())]))
    options = dict(
        default_timezone="UTC", skip_threshold_ms=30_000, dedup_window_s=90, include_incognito=False
    )
    plain = spark.createDataFrame(build_tracks(catalog, now.date()).toArrow())
    rich = spark.createDataFrame(build_tracks(catalog, now.date(), artist_estimates=True).toArrow())
    out = {}
    for history in sorted(p for p in HISTORIES.iterdir() if p.is_dir()):
        batch = parse_history(
            history, key=b"bench", default_user=history.name, now=now, batch_id="b", ingested_at=now
        )
        events = spark.createDataFrame(events_table(batch.events))
        figures = {}
        for label, tracks in (("catalog_only", plain), ("with_artist_estimates", rich)):
            resolution = build_plays(events, tracks, zones, **options).groupBy("resolution").count()
            counts = {r["resolution"]: r["count"] for r in resolution.collect()}
            total = sum(counts.values())
            covered = total - counts.get("unresolved", 0)
            figures[label] = {"feature_coverage": round(covered / total, 4), **counts}
        out[history.name] = {"plays": total, **figures}
    return out


def main() -> None:
    now = dt.datetime.now(dt.UTC)
    merged = parse_catalogs([DEMO_CATALOG], as_of=now.date(), batch_id="bench", ingested_at=now)
    state = load_settings().home / "spark-bench"
    server = ensure_local_server(state, port=None, driver_memory="2g")
    try:
        spark = SparkSession.builder.remote(server.url).getOrCreate()
        catalog = spark.createDataFrame(merged.table)
        tracks = build_tracks(catalog, now.date()).toPandas()
        real = coverage(spark, catalog, now) if HISTORIES.is_dir() else "../shared/data absent"
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
        "real_histories": real,
        "seconds": round(time.monotonic() - began, 1),
    }
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
