"""How healthy is the lake a user gets: files and bytes per table, a full read of silver/plays,
what a build with nothing new writes, and the lake's size over three builds and after the
nightly housekeeping.

Both real histories from ../shared/data (linked file by file into a fresh landing folder),
the embedded 10k catalog, a fresh MOODLAKE_HOME; `moodlake build` run as a user runs it.
Prints the figures and writes benchmarks/results/lake.json.

    .venv/bin/python benchmarks/lake_benchmark.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from histories import HISTORIES, link_landing

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "lake.json"
MOODLAKE = Path(sys.executable).with_name("moodlake")


def build(env: dict, *extra: str) -> dict:
    began = time.monotonic()
    done = subprocess.run(
        [str(MOODLAKE), "build", *extra], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - began
    stages = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^(\w[\w ]+): \S+ … \S+, ([\d.]+) s, run", done.stdout, re.M)
    }
    return {"exit": done.returncode, "seconds": round(seconds, 1), "stages": stages}


def lake_state(root: Path) -> dict:
    from deltalake import DeltaTable

    from moodlake_dagster import maintenance

    tables = {}
    for name, uri in maintenance.tables(str(root)):
        health = maintenance.health(name, uri)
        tables[name] = {
            "version": health.version,
            "live_files": health.live_files,
            "live_bytes": health.live_bytes,
            "data_bytes_on_disk": health.data_bytes_on_disk,
        }
    plays = DeltaTable(str(root / "silver" / "plays"))
    reads = []
    for _ in range(5):
        began = time.perf_counter()
        DeltaTable(str(root / "silver" / "plays")).to_pyarrow_table()
        reads.append(time.perf_counter() - began)
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    return {
        "tables": tables,
        "files": sum(t["live_files"] for t in tables.values()),
        "lake_bytes_on_disk": size,
        "silver_plays_rows": plays.to_pyarrow_dataset().count_rows(),
        "silver_plays_full_read_s_median": round(sorted(reads)[2], 4),
    }


def model_metrics(root: Path) -> dict[str, float]:
    """Every model metric of the lake's latest as-of day, keyed model/metric/note."""
    from deltalake import DeltaTable

    frame = DeltaTable(str(root / "gold" / "model_metrics")).to_pandas()
    frame = frame[frame["as_of_date"] == frame["as_of_date"].max()]
    return {
        f"{r.model}/{r.metric}/{r.note or ''}": r.value
        for r in frame.itertuples()
        if r.value == r.value  # not NaN
    }


def main() -> None:
    if not HISTORIES.is_dir():
        raise SystemExit(f"{HISTORIES} is absent: the benchmark needs the real histories")
    work = Path(tempfile.mkdtemp(prefix="moodlake-lake-bench-"))
    link_landing(work / "landing")
    env = os.environ | {
        "MOODLAKE_HOME": str(work / "home"),
        "MOODLAKE_LANDING": str(work / "landing"),
        "MOODLAKE_PSEUDONYM_KEY": "lake-benchmark",
    }
    env.pop("DAGSTER_HOME", None)
    root = work / "home" / "lake"
    figures = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "builds": []}
    metrics = {}
    for label, extra in (("cold", ()), ("nothing new", ()), ("forced", ("--force",))):
        run = build(env, *extra)
        state = lake_state(root)
        metrics[label] = model_metrics(root)
        previous = figures["builds"][-1]["lake"] if figures["builds"] else None
        if previous:
            run["tables_with_a_new_version"] = sorted(
                t
                for t, v in state["tables"].items()
                if v["version"] != previous["tables"].get(t, {}).get("version")
            )
        figures["builds"].append({"build": label, **run, "lake": state})
        print(
            f"{label}: {run['seconds']} s (exit {run['exit']}), {state['files']} live files, "
            f"{state['lake_bytes_on_disk'] / 1e6:.1f} MB on disk, silver/plays full read "
            f"{state['silver_plays_full_read_s_median']} s"
            + (f", new versions: {run['tables_with_a_new_version']}" if previous else "")
        )
    differing = {
        k: (v, metrics["forced"].get(k))
        for k, v in metrics["cold"].items()
        if metrics["forced"].get(k) != v
    }
    figures["metrics_forced_rebuild_vs_cold"] = {
        "compared": len(metrics["cold"]),
        "differing": differing,
    }
    print(
        f"model metrics, forced rebuild vs cold: {len(differing)} of {len(metrics['cold'])} differ"
    )
    from moodlake_dagster import maintenance

    began = time.monotonic()
    tidied = [
        maintenance.tidy(name, uri, target_file_size=64 << 20, retention_hours=0)
        for name, uri in maintenance.tables(str(root))
    ]
    after = lake_state(root)
    figures["housekeeping"] = {
        "seconds": round(time.monotonic() - began, 1),
        "files_vacuumed": sum(t.files_vacuumed for t in tidied),
        "lake_bytes_on_disk_after": after["lake_bytes_on_disk"],
        "live_files_after": after["files"],
    }
    print(
        f"housekeeping (retention 0 h): {figures['housekeeping']['seconds']} s, "
        f"{after['lake_bytes_on_disk'] / 1e6:.1f} MB on disk, {after['files']} live files"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"→ {RESULTS}")
    subprocess.run([str(MOODLAKE), "spark", "stop"], env=env, capture_output=True, check=False)


if __name__ == "__main__":
    main()
