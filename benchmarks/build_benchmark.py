"""Cold full build and incremental one-day run, timed by layer.

Builds everything cold (a fresh MOODLAKE_HOME and a fresh local Spark Connect server) for the
10k catalog sample and the real 45k-play basic history from ../shared/data, then re-runs the
graph for its last day with the server already up: once as a new day of history arrives
(events and the snapshots built from them) and once for the whole graph, catalog included.
Prints the figures and writes them to benchmarks/results/build.json. Targets (from the issue):
cold < 90 s, one day < 15 s.

    .venv/bin/python benchmarks/build_benchmark.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import socket
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASIC = REPO.parent / "shared" / "data" / "listening_history" / "my-spotify-data"
RESULTS = REPO / "benchmarks" / "results" / "build.json"
LAYER = {
    "catalog_tracks": "bronze",
    "listening_events": "bronze",
    "tracks": "silver",
    "plays": "silver",
    "users": "silver",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def step_seconds(run_id: str) -> dict[str, float]:
    """Wall seconds per step (asset) of a run, from Dagster's event log."""
    from dagster import DagsterEventType, DagsterInstance

    started, seconds = {}, {}
    with DagsterInstance.get() as instance:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                started[event.step_key] = entry.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                seconds[event.step_key] = entry.timestamp - started[event.step_key]
    return seconds


def jvm_peak_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> int:
    if not BASIC.is_dir():
        print(f"benchmark needs the real basic history at {BASIC} (../shared/data)")
        return 2
    home = Path(tempfile.mkdtemp(prefix="moodlake-bench-"))
    landing = home / "landing" / "basic-listener"
    landing.mkdir(parents=True)
    for path in BASIC.glob("StreamingHistory*.json"):
        (landing / path.name).symlink_to(path)
    os.environ.update(
        {
            "MOODLAKE_HOME": str(home),
            "MOODLAKE_LANDING": str(landing.parent),
            "MOODLAKE_SPARK_PORT": str(free_port()),
            "DAGSTER_HOME": str(home / "dagster"),
        }
    )
    os.environ.pop("MOODLAKE_SPARK_REMOTE", None)

    from moodlake_dagster import cli
    from moodlake_dagster.settings import load_settings
    from moodlake_dagster.spark_server import ensure_local_server, stop_local_server

    settings = load_settings()
    cli.prepare_dagster_home(settings)
    figures: dict = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "data": {"catalog": settings.catalog.name, "history": str(BASIC.name)},
    }
    try:
        cold_began = time.monotonic()
        server = ensure_local_server(
            settings.spark_state_dir,
            port=settings.spark_port,
            driver_memory=settings.spark_driver_memory,
        )
        spark_start = time.monotonic() - cold_began
        first, last = cli.data_day_range(settings)
        layers: dict[str, float] = defaultdict(float)
        stages = {}
        for label, assets, span in cli.build_stages():
            began = time.monotonic()
            result = cli.run_build(first if span == "range" else last, last, assets)
            if not result.success:
                raise SystemExit(f"stage {label} failed")
            stages[label] = round(time.monotonic() - began, 2)
            for step, seconds in step_seconds(result.run_id).items():
                layers[LAYER.get(step, "gold")] += seconds
        cold = time.monotonic() - cold_began
        plays = sum(
            1 for p in BASIC.glob("StreamingHistory*.json") for _ in json.loads(p.read_text())
        )

        # A new day of history: its events, then the snapshots built from them (what the
        # sensor will request); and the whole graph for that day, catalog included.
        everything = [a for _, assets, _ in cli.build_stages() for a in assets]
        new_day = [a for a in everything if a not in ("catalog_tracks", "tracks")]
        runs = {}
        for label, selection in (("incremental", new_day), ("full_graph", everything)):
            began = time.monotonic()
            result = cli.run_build(last, last, selection)
            if not result.success:
                raise SystemExit(f"{label} one-day run failed")
            runs[label] = (time.monotonic() - began, step_seconds(result.run_id))

        figures |= {
            "plays_in_history": plays,
            "day_partitions": (last - first).days + 1,
            "cold_build_s": round(cold, 2),
            "cold_split_s": {
                "spark_start": round(spark_start, 2),
                **{layer: round(layers[layer], 2) for layer in ("bronze", "silver", "gold")},
                "dagster_and_other": round(cold - spark_start - sum(layers.values()), 2),
            },
            "cold_stages_s": stages,
            "incremental_one_day_s": round(runs["incremental"][0], 2),
            "incremental_steps_s": {k: round(v, 2) for k, v in runs["incremental"][1].items()},
            "full_graph_one_day_s": round(runs["full_graph"][0], 2),
            "peak_memory_mib": {
                "python": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "spark_jvm": jvm_peak_mib(server.pid),
            },
            "targets_s": {"cold_build": 90, "incremental_one_day": 15},
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    finally:
        stop_local_server(settings.spark_state_dir)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # The models benchmark keeps its figures in the same file under "models".
    kept = json.loads(RESULTS.read_text()).get("models") if RESULTS.exists() else None
    RESULTS.write_text(json.dumps(figures | ({"models": kept} if kept else {}), indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
