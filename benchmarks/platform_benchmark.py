"""How long the many-listener (platform) code takes on a generated crowd, stage by stage.

GENERATED DATA: `demo.crowd.crowd` over the 10k catalog sample (ordinary listeners, churners,
stream-farming rings; seed 7). Each stage's wall time and peak RSS are measured:

1. the crowd itself (plays, tracks, Silver-shaped profiles, the answers);
2. the pure models on its frames, as of the crowd's last day: stream farming (scored against
   the crowd's farm accounts), listener segments, churn, the popularity predictor (on the
   crowd's tracks with the catalog's explicit flag, as Silver has it) and mood playlists.
   Playlists need a track moods frame: the mood classifier is trained on the
   tracks filed under exactly one mood genre and labels every track (`ml.mood.train` +
   `ml.mood.label`, as the pipeline's `track_moods` does, minus its 5-fold CV), timed as its
   own stage. Each model's metrics (held-out scores beside their baselines) come from its
   ModelOutput;
3. with --spark, the four Spark tables of transform/platform.py, each timed to `.toArrow()`:
   active listeners, retention cohorts, plan × country mix (default list prices) and the crowd
   chart without the accounts the farming model flagged (as the pipeline does). The frames
   are loaded and `plays` cached first, as the platform assets do, in a stage of its own.

Peak RSS is this process's high-water mark (VmHWM) over the stage, reset before it through
/proc/self/clear_refs (Linux); where that is refused, the process peak so far (ru_maxrss).
With a server this script starts, the Spark JVM's peak per stage is reported the same way.
Figures are printed and written to benchmarks/results/platform.json.

    .venv/bin/python benchmarks/platform_benchmark.py [--listeners 1000 --days 120 --seed 7]
        [--spark [--spark-remote sc://127.0.0.1:15002]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import tempfile
import time
import traceback
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from threadpoolctl import threadpool_limits

from moodlake_dagster.demo.crowd import crowd
from moodlake_dagster.ml import churn, farming, mood, playlists, popularity, segments

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "moodlake_dagster" / "demo_data" / "catalog_sample.csv"
RESULTS = REPO / "benchmarks" / "results" / "platform.json"
START = dt.date(2025, 1, 1)  # the crowd's default first day
PLAYS_SCHEMA = (
    "user_id string, track_id string, local_date date, ms_played long, skipped boolean, "
    "artist_name string, track_name string"
)
TRACKS_SCHEMA = "track_id string, primary_artist string, track_name string, genres array<string>"
PROFILES_SCHEMA = "user_id string, plan string, country string, signup_date date"


def _status_mb(pid: int | str, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak(pid: int | str) -> bool:
    """Set the process's VmHWM back to its current RSS (Linux ≥ 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Stages:
    """Times each stage and reads its peak RSS; a failing stage is recorded, not fatal, so
    one model's error does not cost the other figures."""

    def __init__(self, jvm_pid: int | None = None):
        self.figures: dict[str, dict] = {}
        self.jvm_pid = jvm_pid
        self.peak_basis = "stage"

    def run(self, name: str, fn, *args, **kwargs):
        gc.collect()
        if not _reset_peak("self"):
            self.peak_basis = "process so far (ru_maxrss)"
        if self.jvm_pid:
            _reset_peak(self.jvm_pid)
        before = _status_mb("self", "VmRSS")
        began = time.perf_counter()
        error = None
        try:
            out = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 — recorded and printed, the run goes on
            out, error = None, f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        seconds = time.perf_counter() - began
        peak = _status_mb("self", "VmHWM") if self.peak_basis == "stage" else None
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        figure = {
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(peak),
            "rss_before_mb": round(before) if before is not None else None,
        }
        if self.jvm_pid:
            figure["jvm_peak_rss_mb"] = _round(_status_mb(self.jvm_pid, "VmHWM"), 0)
        if error:
            figure["error"] = error
        self.figures[name] = figure
        jvm = f"  JVM peak {figure['jvm_peak_rss_mb']} MB" if self.jvm_pid else ""
        print(
            f"  {name:<28} {seconds:>8.2f} s  peak {figure['peak_rss_mb']:>6.0f} MB"
            f" (from {figure['rss_before_mb']} MB){jvm}" + (f"  FAILED: {error}" if error else ""),
            flush=True,
        )
        plt.close("all")  # the models draw figures for the UI
        return out

    def failed(self) -> list[str]:
        return [name for name, f in self.figures.items() if "error" in f]


def _round(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


def scores(out) -> dict:
    """Every metric row of a ModelOutput: value beside baseline, and how many it was over."""
    if out is None:
        return {}
    return {
        model: {
            row["metric"]: {
                "value": _round(row["value"]),
                "baseline": _round(row["baseline"]),
                "n_eval": row["n_eval"] if row["n_eval"] is None else int(row["n_eval"]),
            }
            for row in rows
        }
        for model, rows in out.metrics.items()
    }


def track_moods(tracks: pd.DataFrame) -> pd.DataFrame:
    """`track_id, mood, probability` the way the pipeline's classifier labels tracks.

    One OpenMP thread, as the other models hold themselves to: on the shared 2-core machine
    the unlimited boosting took 58 s here against about 1.5 s measured alone."""
    with threadpool_limits(limits=1, user_api="openmp"):
        estimator = mood.train(mood.labelled_tracks(tracks))
        return mood.label(estimator, tracks)


def with_explicit(tracks: pd.DataFrame, catalog: Path) -> pd.DataFrame:
    """The crowd's tracks with the catalog's explicit flag, which Silver tracks carry and the
    popularity model reads (without it the column is all missing and its fit fails)."""
    flags = pd.read_csv(catalog, usecols=["track_id", "explicit"]).drop_duplicates("track_id")
    return tracks.merge(flags, on="track_id", how="left")


def run_models(
    stages: Stages, made, as_of: dt.date, catalog: Path
) -> tuple[dict, dict, set[str] | None]:
    plays, tracks = made.plays, made.tracks
    outputs = {
        "stream_farming": stages.run(
            "farming_detect", farming.detect, plays, as_of, answers=set(made.answers["farms"])
        ),
        "listener_segments": stages.run("segments_fit", segments.fit, plays, tracks, as_of),
        "churn": stages.run("churn_fit", churn.fit, plays, made.profiles, as_of),
        "popularity": stages.run(
            "popularity_fit", popularity.fit, with_explicit(tracks, catalog), as_of
        ),
    }
    moods = stages.run("track_moods_train_and_label", track_moods, tracks)
    outputs["mood_playlists"] = (
        stages.run("playlists_build", playlists.build, plays, tracks, moods, as_of)
        if moods is not None
        else None
    )
    metrics: dict = {}
    for out in outputs.values():
        metrics |= scores(out)
    rows = {name: (out.rows.num_rows if out is not None else None) for name, out in outputs.items()}
    detected = outputs["stream_farming"]
    flagged = farming.flagged_users(detected.rows) if detected is not None else None
    extra = {
        "rows": rows,
        "flagged_farm_accounts": None if flagged is None else len(flagged),
        "moods": {
            "how": "mood classifier (ml.mood.train on tracks filed under one mood genre, "
            "ml.mood.label on every track); no CV, so no score reported for it",
            "tracks_with_mood_probability_at_least_0.5": (
                None if moods is None else int((moods["probability"] >= 0.5).sum())
            ),
        },
    }
    return metrics, extra, flagged


def run_spark(stages: Stages, spark, made, as_of: dt.date, farms: list[str]) -> dict:
    from moodlake_dagster.transform import platform as tables
    from moodlake_dagster.transform.prices import load_prices

    def load():
        columns = [c.split()[0] for c in PLAYS_SCHEMA.split(", ")]
        plays = spark.createDataFrame(made.plays[columns], schema=PLAYS_SCHEMA).cache()
        plays.count()  # the assets cache plays; fill it here, not in the first table
        profiles = spark.createDataFrame(
            made.profiles[["user_id", "plan", "country", "signup_date"]], schema=PROFILES_SCHEMA
        )
        tracks = spark.createDataFrame(
            made.tracks[["track_id", "primary_artist", "track_name", "genres"]],
            schema=TRACKS_SCHEMA,
        )
        return plays, profiles, tracks

    loaded = stages.run("spark_load_and_cache_plays", load)
    if loaded is None:
        return {}
    plays, profiles, tracks = loaded
    prices = load_prices(None)
    found: dict = {}

    def chart():
        frame, excluded = tables.crowd_top(plays, tracks, as_of, exclude_users=farms)
        found["crowd_top_excluded_plays"] = excluded
        return frame.toArrow()

    built = {
        "active_listeners": stages.run(
            "spark_active_listeners", lambda: tables.active_listeners(plays, as_of).toArrow()
        ),
        "retention_cohorts": stages.run(
            "spark_retention_cohorts",
            lambda: tables.retention_cohorts(plays, profiles, as_of).toArrow(),
        ),
        "plan_country_mix": stages.run(
            "spark_plan_country_mix",
            lambda: tables.plan_country_mix(plays, profiles, prices, as_of).toArrow(),
        ),
        "crowd_top": stages.run("spark_crowd_top", chart),
    }
    plays.unpersist()
    found["rows"] = {name: (t.num_rows if t is not None else None) for name, t in built.items()}
    found["crowd_top_accounts_excluded"] = len(farms)
    return found


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def spark_session(args, state: Path):
    """A session on --spark-remote (or MOODLAKE_SPARK_REMOTE), else on a server started here
    in a scratch state directory (stopped at the end), as models_benchmark does."""
    from pyspark.sql import SparkSession

    from moodlake_dagster.spark_server import ensure_local_server

    if args.spark_remote:
        return SparkSession.builder.remote(args.spark_remote).create(), args.spark_remote, None
    server = ensure_local_server(state)
    return SparkSession.builder.remote(server.url).create(), server.url, server.pid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--catalog", type=Path, default=CATALOG)
    parser.add_argument("--spark", action="store_true", help="also the four Spark tables")
    parser.add_argument(
        "--spark-remote",
        default=os.environ.get("MOODLAKE_SPARK_REMOTE"),
        help="a Spark Connect URL (default: $MOODLAKE_SPARK_REMOTE, else start a local server)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    as_of = START + dt.timedelta(days=args.days - 1)
    print(
        f"crowd: {args.listeners} listeners × {args.days} days, seed {args.seed}, "
        f"as of {as_of} ({os.cpu_count()} cores)",
        flush=True,
    )
    stages = Stages()
    made = stages.run(
        "crowd_generate",
        crowd,
        args.catalog,
        listeners=args.listeners,
        start=START,
        days=args.days,
        seed=args.seed,
    )
    if made is None:
        return 1
    plays = made.plays
    data = {
        "plays": len(plays),
        "listeners_with_plays": int(plays["user_id"].nunique()),
        "plays_per_listener": round(len(plays) / max(plays["user_id"].nunique(), 1), 1),
        "tracks": len(made.tracks),
        "profiles": len(made.profiles),
        "farm_accounts": len(made.answers["farms"]),
        "farm_plays": int(plays["user_id"].isin(made.answers["farms"]).sum()),
        "churners": len(made.answers["churners"]),
        "frame_mb": round(plays.memory_usage(deep=True).sum() / 2**20),
    }
    print(f"  {data['plays']:,} plays, {data['farm_accounts']} farm accounts", flush=True)
    metrics, model_extra, flagged = run_models(stages, made, as_of, args.catalog)
    spark_figures, spark_url = None, None
    if args.spark:
        farms = sorted(flagged) if flagged is not None else sorted(made.answers["farms"])
        state = Path(tempfile.mkdtemp(prefix="moodlake-bench-spark-"))
        spark, spark_url, own_pid = spark_session(args, state)
        print(f"  Spark Connect: {spark_url}" + (" (started here)" if own_pid else ""))
        stages.jvm_pid = own_pid
        try:
            spark_figures = run_spark(stages, spark, made, as_of, farms)
        finally:
            spark.stop()
            if own_pid:
                from moodlake_dagster.spark_server import stop_local_server

                stop_local_server(state)
    result = {
        "benchmark": "platform (many-listener) models and Spark tables on a generated crowd",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "parameters": {
            "listeners": args.listeners,
            "days": args.days,
            "seed": args.seed,
            "start": START,
            "as_of": as_of,
            "catalog": _shown(args.catalog),
            "spark": args.spark,
            "spark_remote": spark_url,
        },
        "data": data,
        "peak_rss": "per stage (VmHWM reset before it)"
        if stages.peak_basis == "stage"
        else "the process's peak so far at the stage's end (ru_maxrss)",
        "stages": stages.figures,
        "total_seconds": round(sum(f["seconds"] for f in stages.figures.values()), 2),
        "metrics": metrics,
        "models": model_extra,
        "spark_tables": spark_figures,
    }
    print("metrics (value / baseline, n_eval):")
    for model, rows in metrics.items():
        for name, row in rows.items():
            base = "" if row["baseline"] is None else f" / {row['baseline']}"
            print(f"  {model:<20} {name:<26} {row['value']}{base}  (n={row['n_eval']})")
    if spark_figures:
        print(f"  spark rows: {spark_figures['rows']}")
        print(f"  crowd_top excluded plays: {spark_figures.get('crowd_top_excluded_plays')}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"total {result['total_seconds']:.1f} s; wrote {_shown(args.out)}")
    if failed := stages.failed():
        print(f"FAILED stages: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
