"""How long a landing-sensor tick takes on the real histories.

Scans a landing folder holding both real histories from ../shared/data (10 files, 52,094
records): the first tick (hash and read every file for its play days), a tick with nothing new
(stat only), a tick after one file changed, and a first tick over the Extended Streaming History
as the `.zip` Spotify sends. Prints the figures and writes benchmarks/results/sensor.json.

    .venv/bin/python benchmarks/sensor_benchmark.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from moodlake_dagster.ingest.landing import LandingCursor, scan_landing

REPO = Path(__file__).resolve().parents[1]
HISTORY = REPO.parent / "shared" / "data" / "listening_history"
RESULTS = REPO / "benchmarks" / "results" / "sensor.json"
REPEATS = 3


def age(path: Path, seconds: float = 3600) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def tick(landing: Path, cursor: LandingCursor):
    began = time.perf_counter()
    changes = scan_landing(
        landing, cursor, now=dt.datetime.now(dt.UTC), settle_s=30, patience_s=600
    )
    return time.perf_counter() - began, changes


def copy_histories(landing: Path) -> int:
    records = 0
    for account in ("spotify-music-analysis", "my-spotify-data"):
        for path in sorted((HISTORY / account).glob("*.json")):
            target = landing / account / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
            age(target)
            if "Streaming" in path.name:
                records += len(json.loads(path.read_text()))
    return records


def run_once(root: Path) -> dict:
    landing = root / "landing"
    records = copy_histories(landing)
    first_s, changes = tick(landing, LandingCursor())
    quiet_s, quiet = tick(landing, changes.cursor)
    changed = landing / "my-spotify-data" / "StreamingHistory4.json"
    data = json.loads(changed.read_text())
    changed.write_text(json.dumps(data[:-10]))
    age(changed, 120)
    change_s, one = tick(landing, changes.cursor)

    zipped = root / "zipped"
    zipped.mkdir()
    with zipfile.ZipFile(zipped / "my_spotify_data.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((HISTORY / "spotify-music-analysis").glob("*.json")):
            archive.write(path, f"Spotify Extended Streaming History/{path.name}")
    age(zipped / "my_spotify_data.zip")
    zip_s, from_zip = tick(zipped, LandingCursor())
    return {
        "records": records,
        "files": len(changes.changed),
        "days": len(changes.days),
        "first_tick_s": first_s,
        "nothing_new_tick_s": quiet_s,
        "nothing_new_changed_files": len(quiet.changed),
        "one_file_changed_tick_s": change_s,
        "one_file_changed_days": len(one.days),
        "zip_first_tick_s": zip_s,
        "zip_days": len(from_zip.days),
        "cursor_bytes": len(changes.cursor.dump()),
    }


def main() -> None:
    runs = []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run_once(Path(tmp)))
    timed = [k for k in runs[0] if k.endswith("_s")]
    result = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "repeats": REPEATS,
        **{k: v for k, v in runs[0].items() if k not in timed},
        **{f"{k} (median)": round(statistics.median(r[k] for r in runs), 3) for k in timed},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:>36}: {value}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
