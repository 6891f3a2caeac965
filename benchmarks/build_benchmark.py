"""Cold full build of both real histories, models included, then one real new day, by stage.

Both real histories from ../shared/data (52k plays over 1,880 day partitions) and the 10k
catalog sample, copied into a fresh landing folder with the plays of the last day held back.
Cold: a fresh MOODLAKE_HOME and a fresh local Spark Connect server, the three stages of
`moodlake build` (Spark start included). Then the held-back day lands as a new file and the
stages run for that day with the server up (the events of the day and the snapshots built from
them: what the landing sensor requests). Prints the figures and writes
benchmarks/results/build.json. Targets (issue 11): cold ≤ 60 s, one new day ≤ 8 s.

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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "build.json"
NEW_DAY_FILE = "Streaming_History_Audio_new_day.json"


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


def _day(record: dict) -> str:
    return (record.get("ts") or record.get("endTime") or "")[:10]


def hold_back_last_day(landing: Path) -> tuple[str, Path, list[dict]]:
    """Copy both real histories into `landing` without the plays of their last day; that day,
    the account folder it belongs to and its records."""
    from histories import ACCOUNTS, HISTORIES

    files = {
        landing / account / path.name: json.loads(path.read_text())
        for account, folder in ACCOUNTS.items()
        for path in sorted((HISTORIES / folder).glob("*.json"))
    }
    histories = {path: records for path, records in files.items() if isinstance(records, list)}
    last = max(_day(r) for records in histories.values() for r in records if _day(r))
    held, folder = [], None
    for path, records in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if path in histories and any(_day(r) == last for r in records):
            held += [r for r in records if _day(r) == last]
            records = [r for r in records if _day(r) != last]
            folder = path.parent
        path.write_text(json.dumps(records))
    return last, folder, held


def stage_run(cli, start: dt.date, end: dt.date, tables: list) -> tuple[float, dict[str, float]]:
    began = time.monotonic()
    result = cli.run_build(start, end, tables)
    if not result.success:
        raise SystemExit(f"run over {start} … {end} failed")
    return time.monotonic() - began, step_seconds(result.run_id)


def main() -> int:
    from histories import HISTORIES

    if not HISTORIES.is_dir():
        print(f"benchmark needs the real histories at {HISTORIES} (../shared/data)")
        return 2
    home = Path(tempfile.mkdtemp(prefix="moodlake-bench-"))
    new_day, folder, held = hold_back_last_day(home / "landing")
    os.environ.update(
        {
            "MOODLAKE_HOME": str(home),
            "MOODLAKE_LANDING": str(home / "landing"),
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
    cli.prepare_storage()
    figures: dict = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "data": {"catalog": settings.catalog.name, "histories": "both real histories"},
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
        stages, steps = {}, {}
        for label, tables, span in cli.build_stages():
            stages[label], steps[label] = stage_run(
                cli, first if span == "range" else last, last, tables
            )
        cold = time.monotonic() - cold_began

        # The held-back day lands: its events, then the snapshots as of it, server up.
        (folder / NEW_DAY_FILE).write_text(json.dumps(held))
        day = dt.date.fromisoformat(new_day)
        new = {}
        for label, tables, _ in cli.build_stages():
            new[label] = stage_run(cli, day, day, tables)
        figures |= {
            "plays_landed_cold": sum(
                len(json.loads(p.read_text()))
                for p in (home / "landing").rglob("Streaming*.json")
                if p.name != NEW_DAY_FILE
            ),
            "day_partitions_cold": (last - first).days + 1,
            "cold_build_s": round(cold, 2),
            "cold_spark_start_s": round(spark_start, 2),
            "cold_stages_s": {k: round(v, 2) for k, v in stages.items()},
            "cold_steps_s": {
                label: {k: round(v, 2) for k, v in by_step.items()}
                for label, by_step in steps.items()
            },
            "new_day": new_day,
            "new_day_plays": len(held),
            "new_day_s": round(sum(seconds for seconds, _ in new.values()), 2),
            "new_day_stages_s": {k: round(v[0], 2) for k, v in new.items()},
            "new_day_steps_s": {
                label: {k: round(v, 2) for k, v in by_step.items()}
                for label, (_, by_step) in new.items()
            },
            "peak_memory_mib": {
                "python": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "spark_jvm": jvm_peak_mib(server.pid),
            },
            "targets_s": {"cold_build": 60, "new_day": 8},
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
