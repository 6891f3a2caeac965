"""Does an empty day cost anything? A ten-year history with a few thousand plays, built cold,
then the same plays built over five more years of empty days.

The project's generator (`generate_history`, fixed seed) writes one listener over 3,650 days,
thinned to about 3,000 plays with the first and last day kept, so the history spans the whole
ten years as a real Extended Streaming History can. Two cold `moodlake build`s on fresh homes
(Spark starts in the stage before the events): the history's own span, then the span with
1,825 empty days before it (`MOODLAKE_PARTITIONS_START` and `--start`). The events stage
(Bronze listening_events, Silver plays, Gold mood_by_day) is timed from the build's report;
the difference over the empty days is what an empty day partition costs. A cold stage's time
swings by seconds with the JVM's warm-up, so the per-day figure is also taken warm: with the
server up, the events stage is rewritten (`--select … --force`) REPEATS times on each home,
alternating, and the medians' difference is divided by the empty days. Prints the figures and
writes benchmarks/results/long_span.json.

    .venv/bin/python benchmarks/long_span_benchmark.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "long_span.json"
MOODLAKE = Path(sys.executable).with_name("moodlake")
DAYS = 3650
EMPTY_DAYS = 1825
PLAYS = 3000
SEED = 3650
REPEATS = 3
EVENTS = ["bronze/listening_events", "silver/plays", "gold/mood_by_day"]


def write_history(landing: Path) -> tuple[int, dt.date, dt.date]:
    """One generated listener over DAYS days, thinned to about PLAYS plays (first and last kept)."""
    from moodlake_dagster.demo.generator import generate_history
    from moodlake_dagster.settings import DEMO_CATALOG

    scratch = landing.parent / "generated"
    files = generate_history(
        DEMO_CATALOG, scratch, users=1, start=dt.date(2016, 1, 1), days=DAYS, seed=SEED
    )
    plays = sorted(
        (play for path in files for play in json.loads(path.read_text())), key=lambda p: p["ts"]
    )
    rng = random.Random(SEED)
    middle = rng.sample(plays[1:-1], PLAYS - 2)
    kept = sorted([plays[0], *middle, plays[-1]], key=lambda p: p["ts"])
    folder = landing / "long-span-listener"
    folder.mkdir(parents=True)
    (folder / "Streaming_History_Audio_GENERATED.json").write_text(json.dumps(kept))
    first, last = (dt.date.fromisoformat(kept[i]["ts"][:10]) for i in (0, -1))
    return len(kept), first, last


def build(env: dict, *extra: str) -> dict:
    began = time.monotonic()
    done = subprocess.run(
        [str(MOODLAKE), "build", *extra], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"moodlake build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    stages = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^(\w[\w ]+): \S+ … \S+, ([\d.]+) s, run", done.stdout, re.M)
    }
    days = int(re.search(r"\((\d+) day partitions\)", done.stdout).group(1))
    return {"seconds": round(time.monotonic() - began, 1), "day_partitions": days, "stages": stages}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="moodlake-long-span-"))
    plays, first, last = write_history(work / "landing")
    base = os.environ | {
        "MOODLAKE_LANDING": str(work / "landing"),
        "MOODLAKE_PSEUDONYM_KEY": "long-span-benchmark",
    }
    base.pop("DAGSTER_HOME", None)
    earlier = first - dt.timedelta(days=EMPTY_DAYS)
    span = build(base | {"MOODLAKE_HOME": str(work / "home-span")})
    wider_env = {
        "MOODLAKE_HOME": str(work / "home-wider"),
        "MOODLAKE_PARTITIONS_START": str(earlier),
    }
    wider = build(base | wider_env, "--start", str(earlier))
    extra_days = wider["day_partitions"] - span["day_partitions"]
    per_day_ms = (wider["stages"]["events"] - span["stages"]["events"]) / extra_days * 1000
    warm = {"span": [], "with_empty_days_before": []}
    rewrite = ["--select", *EVENTS, "--force"]
    for _ in range(REPEATS):
        warm["span"].append(build(base | {"MOODLAKE_HOME": str(work / "home-span")}, *rewrite))
        warm["with_empty_days_before"].append(
            build(base | wider_env, "--start", str(earlier), *rewrite)
        )
    warm_s = {
        name: statistics.median(run["stages"]["selection"] for run in runs)
        for name, runs in warm.items()
    }
    warm_per_day_ms = (warm_s["with_empty_days_before"] - warm_s["span"]) / extra_days * 1000
    figures = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "plays": plays,
        "history": f"{first} … {last}",
        "span": span,
        "with_empty_days_before": wider,
        "empty_days_added": extra_days,
        "events_stage_ms_per_empty_day": round(per_day_ms, 2),
        "warm_events_stage_s (median)": warm_s,
        "warm_events_stage_s (each)": {
            name: [run["stages"]["selection"] for run in runs] for name, runs in warm.items()
        },
        "warm_ms_per_empty_day": round(warm_per_day_ms, 2),
        "targets": {"events_stage_s_at_3650_days": 15, "ms_per_empty_day": 2},
    }
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"→ {RESULTS}")


if __name__ == "__main__":
    main()
