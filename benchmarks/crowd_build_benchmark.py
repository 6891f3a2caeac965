"""A full `moodlake build` of a generated crowd: wall time per stage and peak memory per process.

GENERATED DATA: `moodlake demo --crowd N` (seed 7) over the 10k catalog sample, about a
thousand plays per listener with the default `--days`. A fresh MOODLAKE_HOME, then
`moodlake build` as a user types it (Spark start included), in local mode or, with
`--cluster-workers W`, through a standalone master and W workers started first
(`moodlake spark cluster start`). Every half second the resident memory of each process is
read from /proc and its peak kept, by role:

- `build`: the `moodlake build` process, which runs every step (Dagster's in-process executor);
- `model_workers`: the processes it fits per-listener models in (`ml/parallel.py`), summed;
- `connect_server`: the Spark Connect server (the driver);
- `spark_master`, `spark_workers`, `executors` on a cluster (workers and executors summed).

With `--new-day`, the build stops a day short of the crowd's last day, then builds that day
alone as a daily run would, served by the stored per-listener and ALS fits where the retraining
cadence lets them (ml/cadence.py), and then the same day again with `--force`, which refits
every model: what the day would cost without the cadence (`--no-forced` leaves that out). With
`--new-file` as well, the last day's plays are held back from the generated files and land as a
new file per listener before that day's build, as a new export does (the files of the days
before are then accounted for from their summaries, unread: ingest/file_summaries.py).

Each sample also reads the machine's CPU time from /proc/stat: `cpu_s` and `steps_cpu_s` are
the CPU seconds every core spent busy (user, system, interrupts) over the build and while each
step ran (interpolated between the samples either side of its start and end), and `steal_s`
what the hypervisor gave to other guests meanwhile. They count every process on the machine:
run it on a quiet one. A step's CPU does not move with how its waits fall, but it still moves
from run to run (on 2026-12-02 the unchanged preference_model burned 54 and 65 CPU seconds in
two 300-listener runs back to back, with no steal), so judge a change by several runs or
against the steps it did not touch.

A role's peak is the highest sum over its processes at one sample. Each step's figures
(`steps_memory_mib`) are the roles' peaks while it ran and `build_growth`, how far it raised the
build process above where it began: which steps the build's memory follows. Issue 11 targets the
1,000-listener build at ≤ 5 min; issue 19 wants the build process's peak not to grow with the
plays. Figures are printed and written to benchmarks/results/crowd_build.json under
"<listeners>x<days>-<local|N workers>", next to earlier runs.

    .venv/bin/python benchmarks/crowd_build_benchmark.py [--listeners 1000] [--days 95]
        [--cluster-workers 2] [--new-day [--new-file] [--no-forced]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "crowd_build.json"
MOODLAKE = REPO / ".venv" / "bin" / "moodlake"
SAMPLE_S = 0.5
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
BRONZE = ["bronze/catalog_tracks", "silver/tracks", "bronze/listening_events"]
ROLES = {
    "SparkConnectServer": "connect_server",
    "deploy.master.Master": "spark_master",
    "deploy.worker.Worker": "spark_workers",
    "CoarseGrainedExecutorBackend": "executors",
}


def _cpu_ticks() -> tuple[int, int]:
    """(busy, stolen) clock ticks of every core since boot, from /proc/stat's first line."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return user + nice + system + irq + softirq, steal


def _proc(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, command line, resident KiB) of a live process, or None."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields.get("VmRSS", "0 kB").split()[0])
    return int(fields["PPid"]), cmdline, rss


class MemoryWatch:
    """Peak resident memory per role of the processes a build uses, sampled from /proc."""

    def __init__(self, build_pid: int, home: Path):
        self.build_pid = build_pid
        self._marker = f"MOODLAKE_HOME={home}\0".encode()
        self.peak_kib: dict[str, int] = {}
        # Every sample, by role: (unix time, KiB), to find each step's peak afterwards.
        self.series: dict[str, list[tuple[float, int]]] = {}
        self.cpu: list[tuple[float, int, int]] = []  # (unix time, busy ticks, stolen ticks)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.cpu.append((time.time(), *_cpu_ticks()))

    def _ours(self, pid: int) -> bool:
        """Whether a process runs for this benchmark's home (Spark's inherit its environment)."""
        try:
            return self._marker in Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return False

    def _role(self, pid: int, parent: int, cmdline: str) -> str | None:
        if pid == self.build_pid:
            return "build"
        for marker, role in ROLES.items():
            if marker in cmdline and self._ours(pid):
                return role
        if parent == self.build_pid:  # loky's workers and its resource tracker
            return "model_workers"
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.cpu.append((time.time(), *_cpu_ticks()))
            procs = {}
            for entry in os.scandir("/proc"):
                if entry.name.isdigit() and (info := _proc(int(entry.name))):
                    procs[int(entry.name)] = info
            totals: dict[str, int] = {}
            for pid, (parent, cmdline, rss) in procs.items():
                if role := self._role(pid, parent, cmdline):
                    totals[role] = totals.get(role, 0) + rss
            now = time.time()
            for role, kib in totals.items():
                self.peak_kib[role] = max(self.peak_kib.get(role, 0), kib)
                self.series.setdefault(role, []).append((now, kib))
            self._stop.wait(SAMPLE_S)

    def cpu_seconds(self, start: float = 0.0, end: float = float("inf")) -> dict[str, float]:
        """Busy and stolen CPU seconds of all cores from `start` to `end` (the whole watch by
        default), the tick counts interpolated between the samples either side of each."""
        times = [t for t, _, _ in self.cpu]
        start, end = max(start, times[0]), min(end, times[-1])

        def at(when: float, column: int) -> float:
            return float(np.interp(when, times, [c[column] for c in self.cpu]))

        busy, steal = (at(end, i) - at(start, i) for i in (1, 2))
        return {"cpu_s": round(busy / TICKS_PER_S, 1), "steal_s": round(steal / TICKS_PER_S, 1)}

    def peaks_mib(self) -> dict[str, float]:
        return {role: round(kib / 1024, 1) for role, kib in sorted(self.peak_kib.items())}

    def step_memory_mib(self, windows: dict[str, tuple[float, float]]) -> dict[str, dict]:
        """Each step's peak per role while it ran, and how far the build process grew in it.

        A step shorter than a sample is judged by the samples either side of it. Growth is the
        build process's peak in the step less its last sample before the step began (its first
        sample, for a step that began before any): a later step may peak on memory an earlier
        one left behind, so compare growths, not peaks."""
        memory = {}
        build = self.series.get("build", [])
        for step, (start, end) in windows.items():
            figures = {}
            for role, samples in sorted(self.series.items()):
                during = [kib for t, kib in samples if start - SAMPLE_S <= t <= end + SAMPLE_S]
                if during:
                    figures[f"{role}_peak"] = round(max(during) / 1024, 1)
            if "build_peak" in figures:
                began = next((kib for t, kib in reversed(build) if t <= start), build[0][1])
                figures["build_growth"] = round(figures["build_peak"] - began / 1024, 1)
            memory[step] = figures
        return memory


def moodlake(env: dict, *args: str) -> str:
    done = subprocess.run(
        [str(MOODLAKE), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(
            f"moodlake {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def build(env: dict, home: Path, *args: str) -> dict:
    """Run `moodlake build ARGS`: its wall time, per stage and step, and peak memory by role."""
    earlier = set(run_logs(home))
    began = time.monotonic()
    process = subprocess.Popen(
        [str(MOODLAKE), "build", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with MemoryWatch(process.pid, home) as watch:
        out, _ = process.communicate()
    seconds = time.monotonic() - began
    if process.returncode:  # recorded, not raised: a build that cannot finish is a figure too
        print(f"moodlake build {' '.join(args)} failed:\n{out[-3000:]}", file=sys.stderr)
        failed = [line.strip() for line in out.splitlines() if "STEP FAILED" in line]
        return {
            "failed_after_s": round(seconds, 1),
            "failed": failed,
            **watch.cpu_seconds(),
            "peak_memory_mib": watch.peaks_mib(),
        }
    windows = step_windows([db for db in run_logs(home) if db not in earlier])
    return {
        "build_s": round(seconds, 1),
        "stages_s": stage_seconds(out),
        "steps_s": {step: round(end - start, 1) for step, (start, end) in windows.items()},
        **watch.cpu_seconds(),
        "steps_cpu_s": {
            step: watch.cpu_seconds(start, end)["cpu_s"] for step, (start, end) in windows.items()
        },
        "peak_memory_mib": watch.peaks_mib(),
        "steps_memory_mib": watch.step_memory_mib(windows),
    }


def run_logs(home: Path) -> list[Path]:
    """Dagster's SQLite event log of each run (one file per run)."""
    return sorted((home / "dagster" / "history" / "runs").glob("*-*.db"))


def _unix(stamp: str) -> float:
    """An event log time stamp (naive UTC) as unix time."""
    when = dt.datetime.fromisoformat(stamp)
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def step_windows(runs: list[Path]) -> dict[str, tuple[float, float]]:
    """When each step of these runs started and ended (unix time), from their event logs."""
    windows, started = {}, {}
    for db in runs:
        with sqlite3.connect(db) as con:
            rows = con.execute(
                "select step_key, dagster_event_type, timestamp from event_logs where "
                "dagster_event_type in ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') order by id"
            ).fetchall()
        for step, kind, stamp in rows:
            if kind == "STEP_START":
                started[step] = _unix(stamp)
            else:
                windows[step] = (started[step], _unix(stamp))
    return windows


def stage_seconds(out: str) -> dict[str, float]:
    """The build's own per-stage wall times, from its summary lines."""
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^(\w[\w ]+): \S+ … \S+, ([\d.]+) s, run", out, re.M)
    }


def last_day(landing: Path) -> dt.date:
    """The last day with a play in the generated histories (UTC, as their `ts`)."""
    stamps = (
        record["ts"]
        for path in landing.rglob("*.json")
        if "History" in path.name
        for record in json.loads(path.read_text())
    )
    return dt.date.fromisoformat(max(stamps)[:10])


NEW_FILE = "Streaming_History_Audio_new_day_GENERATED.json"


def hold_back(landing: Path, day: dt.date) -> dict[Path, list[dict]]:
    """Take `day`'s plays out of every generated history file: {folder: its held records}."""
    held: dict[Path, list[dict]] = {}
    for path in sorted(landing.rglob("*.json")):
        if "History" not in path.name:
            continue
        records = json.loads(path.read_text())
        taken = [r for r in records if r["ts"][:10] == day.isoformat()]
        if taken:
            held.setdefault(path.parent, []).extend(taken)
            path.write_text(json.dumps([r for r in records if r["ts"][:10] != day.isoformat()]))
    return held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--days", type=int, default=95)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cluster-workers", type=int, default=0, help="0: local mode")
    parser.add_argument("--keep", action="store_true", help="keep the home folder")
    parser.add_argument(
        "--new-day",
        action="store_true",
        help="build to the day before the last, then the last day served and forced",
    )
    parser.add_argument("--new-file", action="store_true", help="the last day lands as new files")
    parser.add_argument("--no-forced", action="store_true", help="no forced rebuild of the day")
    parser.add_argument(
        "--plays-only",
        action="store_true",
        help="Bronze, then silver/plays alone written by Spark and through Arrow",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="moodlake-crowd-build-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOODLAKE_", "DAGSTER_"))}
    env |= {
        "MOODLAKE_HOME": str(home),
        "MOODLAKE_LANDING": str(home / "landing"),
        "MOODLAKE_PSEUDONYM_KEY": "crowd-build-benchmark",
    }
    figures: dict = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "listeners": args.listeners,
        "days": args.days,
        "seed": args.seed,
        "spark": f"cluster, {args.cluster_workers} workers" if args.cluster_workers else "local",
    }
    try:
        began = time.monotonic()
        moodlake(
            env,
            "demo",
            "--crowd",
            str(args.listeners),
            "--days",
            str(args.days),
            "--seed",
            str(args.seed),
            "--out",
            str(home / "landing"),
        )
        figures["generate_s"] = round(time.monotonic() - began, 1)
        figures["plays_landed"] = sum(
            len(json.loads(p.read_text()))
            for p in (home / "landing").rglob("*.json")
            if "History" in p.name
        )
        if args.cluster_workers:
            began = time.monotonic()
            moodlake(env, "spark", "cluster", "start", "--workers", str(args.cluster_workers))
            figures["cluster_start_s"] = round(time.monotonic() - began, 1)
        if args.plays_only:
            # Bronze first, then silver/plays on its own, written by Spark and through Arrow.
            figures["bronze"] = build(env, home, "--select", *BRONZE)
            for way, writes in (("spark_writes", "true"), ("arrow", "false")):
                env["MOODLAKE_SPARK_WRITES"] = writes
                figures[f"plays_{way}"] = build(env, home, "--select", "silver/plays", "--force")
        elif args.new_day:
            last = last_day(home / "landing")
            held = hold_back(home / "landing", last) if args.new_file else {}
            before = (last - dt.timedelta(days=1)).isoformat()
            figures["cold_to_day_before"] = build(env, home, "--end", before)
            for folder, records in held.items():
                (folder / NEW_FILE).write_text(json.dumps(records))
            figures["new_day_plays"] = sum(map(len, held.values())) if held else None
            day = ("--start", last.isoformat(), "--end", last.isoformat())
            figures["new_day"] = build(env, home, *day)
            if not args.no_forced:
                figures["new_day_forced"] = build(env, home, *day, "--force")
        else:
            figures |= build(env, home)
            figures["target_s"] = 300 if args.listeners <= 1000 else None
    finally:
        if args.cluster_workers:
            moodlake(env, "spark", "cluster", "stop")
        moodlake(env, "spark", "stop")
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    label = (
        f"{args.listeners}x{args.days}-"
        + (f"{args.cluster_workers}workers" if args.cluster_workers else "local")
        + ("-plays" if args.plays_only else "")
        + ("-new-day" if args.new_day else "")
        + ("-new-file" if args.new_day and args.new_file else "")
    )
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(kept | {label: figures}, indent=2) + "\n")
    print(f"→ {RESULTS.relative_to(REPO)} [{label}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
