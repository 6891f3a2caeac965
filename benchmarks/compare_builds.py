"""Does a change keep every table's rows? Build the real histories with a git ref and with the
working tree, each on a fresh MOODLAKE_HOME, and compare every Delta table row for row.

Run lineage (`_batch_id`, `_ingested_at`) differs by design and is left out; float columns
are compared to 1e-9. Prints one line per table and writes benchmarks/results/compare.json.

    .venv/bin/python benchmarks/compare_builds.py [REF]    # REF defaults to HEAD
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable
from histories import link_landing

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "compare.json"
RUN_LINEAGE = ("_batch_id", "_ingested_at")
BUILD = "from moodlake_dagster.cli import entry; entry()"


def build(source: Path, home: Path, landing: Path) -> None:
    """`moodlake build` with the package imported from `source` (a checkout of the repo)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(source),
        "MOODLAKE_HOME": str(home),
        "MOODLAKE_LANDING": str(landing),
        "MOODLAKE_PSEUDONYM_KEY": "compare-builds",
        "MOODLAKE_SPARK_IDLE_STOP_S": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", BUILD, "build"], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"build from {source} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    subprocess.run([sys.executable, "-c", BUILD, "spark", "stop"], env=env, capture_output=True)


def tables(lake: Path) -> dict[str, Path]:
    return {
        f"{layer.name}/{table.name}": table
        for layer in sorted(lake.iterdir())
        for table in sorted(layer.iterdir())
        if (table / "_delta_log").is_dir()
    }


def canonical(path: Path) -> pd.DataFrame:
    frame = DeltaTable(str(path)).to_pandas()
    frame = frame.drop(columns=[c for c in RUN_LINEAGE if c in frame.columns])
    frame = frame.map(lambda v: tuple(v) if hasattr(v, "__len__") and not isinstance(v, str) else v)
    frame = frame[sorted(frame.columns)]
    return frame.sort_values(list(frame.columns), na_position="first").reset_index(drop=True)


def compare(before: Path, after: Path) -> dict:
    old, new = tables(before), tables(after)
    report = {"only_before": sorted(set(old) - set(new)), "only_after": sorted(set(new) - set(old))}
    for name in sorted(set(old) & set(new)):
        a, b = canonical(old[name]), canonical(new[name])
        same_columns = list(a.columns) == list(b.columns)
        try:
            pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-9, atol=1e-9)
            equal = True
        except AssertionError:
            equal = False
        report[name] = {"rows": [len(a), len(b)], "same_columns": same_columns, "equal": equal}
    return report


def main() -> None:
    ref = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    with tempfile.TemporaryDirectory(prefix="moodlake-compare-") as tmp:
        work = Path(tmp)
        link_landing(work / "landing")
        checkout = work / "before-src"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "-f", str(checkout), ref],
            check=True,
            capture_output=True,
        )
        try:
            build(checkout, work / "before", work / "landing")
            build(REPO, work / "after", work / "landing")
            report = compare(work / "before" / "lake", work / "after" / "lake")
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(checkout)],
                capture_output=True,
            )
    report = {"ref": ref} | report
    for name, row in report.items():
        if isinstance(row, dict):
            verdict = "same rows" if row["equal"] else "DIFFERENT"
            print(f"{name:<34} {row['rows'][0]:>7} → {row['rows'][1]:>7}  {verdict}")
    print(f"only before: {report['only_before']}; only after: {report['only_after']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
