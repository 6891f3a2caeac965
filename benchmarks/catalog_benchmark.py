"""How long the catalog stage takes on a 1.2M-row file in the "Spotify 1.2M+ Songs" layout.

The file is GENERATED (seeded), not the real dataset: 1,200,000 rows resampled from the real
10k Kaggle sample (moodlake_dagster/demo_data/catalog_sample.csv) — each row takes one sample
row's audio features, title, album and artists (written as a list literal) — with new random
22-character ids. Every 100,000th row gets a bad valence and every 100,000th (offset) a
malformed artists list, so the quarantine path runs too. The parse runs in a child process so
its peak memory (max RSS) is not the generator's. Prints the figures and writes
benchmarks/results/catalog.json.

    .venv/bin/python benchmarks/catalog_benchmark.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import platform
import random
import resource
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "moodlake_dagster" / "demo_data" / "catalog_sample.csv"
RESULTS = REPO / "benchmarks" / "results" / "catalog.json"
ROWS = 1_200_000
SEED = 20260101
BAD_EVERY = 100_000
# fmt: off
HEADER = [  # the songs_1_2m layout's columns, in its order
    "id", "name", "album", "album_id", "artists", "artist_ids", "track_number", "disc_number",
    "explicit", "danceability", "energy", "key", "loudness", "mode", "speechiness",
    "acousticness", "instrumentalness", "liveness", "valence", "tempo", "duration_ms",
    "time_signature", "year", "release_date",
]
# fmt: on
FEATURES = HEADER[9:22]
ALNUM = string.ascii_letters + string.digits


def generate(path: Path, rows: int) -> dict:
    """Write the generated songs_1_2m file; returns how many bad rows it planted."""
    rng = random.Random(SEED)
    with SAMPLE.open(newline="") as handle:
        sample = [r for r in csv.DictReader(handle) if r["artists"] and r["track_name"]]
    planted = {"bad_valence": 0, "bad_artists": 0}
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            src = rng.choice(sample)
            artists = str(src["artists"].split(";"))
            features = [src[name] for name in FEATURES]
            if i % BAD_EVERY == 7:
                features[FEATURES.index("valence")] = "1.7"
                planted["bad_valence"] += 1
            if i % BAD_EVERY == 11:
                artists = artists[:-1]  # no closing bracket
                planted["bad_artists"] += 1
            year = rng.randint(1950, 2020)
            writer.writerow(
                [
                    "".join(rng.choices(ALNUM, k=22)),
                    src["track_name"],
                    src["album_name"],
                    "".join(rng.choices(ALNUM, k=22)),
                    artists,
                    str(["".join(rng.choices(ALNUM, k=22)) for _ in src["artists"].split(";")]),
                    rng.randint(1, 20),
                    1,
                    src["explicit"],
                    *features,
                    year,
                    f"{year}-01-01",
                ]
            )
    return planted


def parse(path: Path) -> None:
    """Child process: time parse_catalogs (CSV → checked Arrow table) and print JSON."""
    from moodlake_dagster.ingest.catalog import catalog_table, parse_catalogs

    began = time.perf_counter()
    merged = parse_catalogs(
        [path], as_of=dt.date(2026, 1, 1), batch_id="bench", ingested_at=dt.datetime.now(dt.UTC)
    )
    parsed = time.perf_counter()
    table = catalog_table(merged.table).combine_chunks()
    built = time.perf_counter()
    frame = table.to_pandas()  # what the asset hands to the Pandera check
    done = time.perf_counter()
    [batch] = merged.files
    print(
        json.dumps(
            {
                "layout": batch.layout,
                "records_in": batch.records_in,
                "rows_landed": batch.rows_landed,
                "rows_quarantined": len(batch.bad),
                "quarantine_reasons": sorted({b.reason.split("=")[0] for b in batch.bad}),
                "parse_and_check_s": round(parsed - began, 2),
                "arrow_table_s": round(built - parsed, 2),
                "to_pandas_s": round(done - built, 2),
                "total_s": round(done - began, 2),
                "arrow_table_mb": round(table.nbytes / 2**20, 1),
                "pandas_frame_mb": round(frame.memory_usage(deep=False).sum() / 2**20, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--parse", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.parse:
        parse(args.parse)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tracks_features_GENERATED.csv"
        began = time.perf_counter()
        planted = generate(path, args.rows)
        generated_s = time.perf_counter() - began
        child = subprocess.run(
            [sys.executable, __file__, "--parse", str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        size_mb = path.stat().st_size / 2**20
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "data": f"GENERATED {args.rows:,} rows in the songs_1_2m layout, resampled (seed {SEED}) "
        f"from {SAMPLE.name} with new random ids; {planted} bad rows planted",
        "file_mb": round(size_mb, 1),
        "generate_s": round(generated_s, 1),
        **figures,
    }
    print(json.dumps(result, indent=2))
    expected_bad = planted["bad_valence"] + planted["bad_artists"]
    if figures["rows_quarantined"] != expected_bad:
        raise SystemExit(f"expected {expected_bad} quarantined rows, got {figures}")
    if args.rows == ROWS:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
