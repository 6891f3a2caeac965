"""Why the ALS popularity baseline can score exactly 0: crowds built here, evaluated for real.

A field report: on a 1,000-listener crowd from another generator, `als_recommendations` said
NDCG@10 0.315 against popularity 0.000. This builds small crowds of two kinds (GENERATED DATA,
no catalog needed) and runs `als.evaluate` on a Spark Connect server, beside a diagnosis of
the popularity ranking:

- `shared`: every listener draws from one Zipf-popular catalog and replays a few favourites.
  Popularity is what drives choice, so the baseline must score well above zero.
- `pools`: listeners fall into taste groups, each with its own pool of tracks (a Zipf inside
  the pool), as generators that give each listener a genre or two do. A track a listener has
  not yet played has at most (group size - 1) earlier listeners, while other groups' favourite
  tracks have been played by their whole group: those lead the global ranking, and the
  listener never plays them. Popularity scores 0; ALS finds the unplayed tracks of the pool.
- `overlap`: taste pools drawn from the one Zipf catalog, so pools share the popular tracks.

    .venv/bin/python benchmarks/als_baseline_probe.py [--users 300 --days 48 --uneven]
    .venv/bin/python benchmarks/als_baseline_probe.py --baseline-only --users 1000 --per-day 21 \
        --groups 114 --pool 1000 --uneven   # field scale, no Spark
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from moodlake_dagster.ml import als
from moodlake_dagster.spark_server import ensure_local_server, stop_local_server

START = pd.Timestamp("2025-03-01", tz="UTC")


def zipf(n: int, s: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** s
    return weights / weights.sum()


def crowd(
    kind: str,
    *,
    users: int = 300,
    days: int = 48,
    per_day: float = 20.0,
    tracks: int = 6_000,
    groups: int = 30,
    pool: int = 200,
    s: float = 1.0,
    replay: float = 0.3,
    favourites: int = 20,
    even: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """GENERATED plays (user_id, track_id, played_at_utc, play_date, skipped, source_format).

    Each listener belongs to a taste group with a pool of tracks and a Zipf over it (`shared`:
    one group, the whole catalog; `pools`: disjoint blocks of the catalog; `overlap`: pools
    drawn from the catalog's Zipf); a share `replay` of plays repeats one of their favourites.
    Groups are of one size when `even`, else each listener's group is drawn at random.
    """
    rng = np.random.default_rng(seed)
    catalog = zipf(tracks, s)
    if kind == "shared":
        pools = [rng.permutation(tracks)]
    elif kind == "pools":
        pools = list(rng.permutation(tracks)[: groups * pool].reshape(groups, pool))
    elif kind == "overlap":
        pools = [rng.choice(tracks, pool, replace=False, p=catalog) for _ in range(groups)]
    else:
        raise ValueError(kind)
    group = np.arange(users) % len(pools) if even else rng.integers(0, len(pools), users)
    n = rng.poisson(per_day, (users, days))
    user = np.repeat(np.repeat(np.arange(users), days), n.ravel())
    day = np.repeat(np.tile(np.arange(days), users), n.ravel())
    pick = np.empty(len(user), dtype=np.int64)
    favourite = np.empty((users, favourites), dtype=np.int64)
    for g, members in enumerate(pools):
        weights = zipf(len(members), s)
        ours = np.flatnonzero(group == g)
        favourite[ours] = members[rng.choice(len(members), (len(ours), favourites), p=weights)]
        rows = np.flatnonzero(group[user] == g)
        pick[rows] = members[rng.choice(len(members), len(rows), p=weights)]
    again = rng.random(len(user)) < replay
    pick[again] = favourite[user[again], rng.integers(0, favourites, again.sum())]
    at = START + pd.to_timedelta(day, "D") + pd.to_timedelta(rng.integers(0, 86_400, len(day)), "s")
    plays = pd.DataFrame(
        {
            "user_id": np.char.add("listener-", user.astype(str)),
            "track_id": np.char.add("track-", pick.astype(str)),
            "played_at_utc": at,
            "skipped": rng.random(len(user)) < 0.2,
            "source_format": "extended",
        }
    )
    plays["play_date"] = plays["played_at_utc"].dt.date
    return plays


def diagnose(plays: pd.DataFrame) -> dict:
    """Where the baseline's picks and the relevant tracks sit in the popularity ranking."""
    plays = als.with_units(plays, "user")
    cutoff = als.cutoff_day(plays)
    train, later = plays[plays["play_date"] < cutoff], plays[plays["play_date"] >= cutoff]
    index = {t: i for i, t in enumerate(np.unique(train["track_id"].to_numpy(str)))}
    popularity = als.popularity(train, index)
    cases = als._user_cases(train, later, index)
    picks = [als.top_k(popularity, exclude) for _, exclude, _ in cases]
    best_relevant = [popularity[list(relevant)].max() for _, _, relevant in cases]
    hits = [bool(set(top) & relevant) for top, (_, _, relevant) in zip(picks, cases, strict=True)]
    ndcg = [als.ndcg_at_k(top, c[2]) for top, c in zip(picks, cases, strict=True)]
    return {
        "baseline_ndcg_at_10_without_spark": round(float(np.mean(ndcg)), 4),
        "listeners_with_a_popular_hit": int(sum(hits)),
        "median_listeners_of_10th_popular_pick": float(
            np.median([popularity[t].min() for t in picks])
        ),
        "median_listeners_of_best_relevant_track": float(np.median(best_relevant)),
        "relevant_tracks_per_listener": float(np.mean([len(c[2]) for c in cases])),
    }


def probe(spark, kind: str, **kwargs) -> dict:
    plays = crowd(kind, **kwargs)
    if spark is None:  # the baseline alone needs no model
        return {
            "crowd": kind,
            "listeners": int(plays["user_id"].nunique()),
            "plays": len(plays),
        } | diagnose(plays)
    began = time.perf_counter()
    evaluation = als.evaluate(spark, plays, "user")
    seconds = round(time.perf_counter() - began, 1)
    return {
        "crowd": kind,
        "listeners": int(plays["user_id"].nunique()),
        "plays": len(plays),
        "tracks_played": int(plays["track_id"].nunique()),
        "cutoff": str(evaluation.cutoff),
        "n_eval": evaluation.n_eval,
        "ndcg_at_10": round(evaluation.ndcg, 4),
        "baseline_ndcg_at_10": round(evaluation.baseline_ndcg, 4),
        "precision_at_10": round(evaluation.precision, 4),
        "baseline_precision_at_10": round(evaluation.baseline_precision, 4),
        "evaluate_seconds": seconds,
    } | diagnose(plays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--days", type=int, default=48)
    parser.add_argument("--crowds", default="shared,pools,overlap")
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--pool", type=int, default=200)
    parser.add_argument("--per-day", type=float, default=20.0)
    parser.add_argument("--uneven", action="store_true", help="groups drawn at random")
    parser.add_argument("--baseline-only", action="store_true", help="no Spark, no ALS")
    args = parser.parse_args()
    shape = {
        "users": args.users,
        "days": args.days,
        "per_day": args.per_day,
        "groups": args.groups,
        "pool": args.pool,
        "tracks": max(6_000, args.groups * args.pool),
        "even": not args.uneven,
    }
    if args.baseline_only:
        for kind in args.crowds.split(","):
            print(json.dumps(probe(None, kind, **shape)), flush=True)
        return
    state = Path(tempfile.mkdtemp(prefix="moodlake-als-probe-"))
    server = ensure_local_server(state, driver_memory="2g")
    spark = SparkSession.builder.remote(server.url).create()
    try:
        for kind in args.crowds.split(","):
            print(json.dumps(probe(spark, kind, **shape)), flush=True)
    finally:
        spark.stop()
        stop_local_server(state)


if __name__ == "__main__":
    main()
