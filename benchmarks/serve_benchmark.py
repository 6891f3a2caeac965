"""How fast `moodlake serve` answers a recommendations call, over loopback, from a warm server.

Builds a small lake the way tests/test_serve.py does (two listeners, a week of generated
history over the catalog sample, `moodlake build` on a local Spark server), or uses a built
home given with --home. Starts `moodlake serve` in a subprocess, warms it with 200 calls, then
makes 2,000 recommendation calls (both modes, every day part, in turn) with one keep-alive
`requests` session, and prints p50/p90/p99/max. Writes benchmarks/results/serve.json.

    .venv/bin/python benchmarks/serve_benchmark.py [--home PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from moodlake_dagster import cli
from moodlake_dagster.demo.generator import generate_history
from moodlake_dagster.settings import DEMO_CATALOG

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "serve.json"
CALLS, WARM = 2000, 200
START, DAYS = dt.date(2025, 1, 1), 7
KEY = "serve-benchmark-key"
MODES = ("mirror", "coach")
DAY_PARTS = ("night", "morning", "afternoon", "evening")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quietly(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        return cli.main(list(argv)), out.getvalue()


def build(root: Path) -> Path:
    """A home with a built lake: two generated listeners over a week."""
    from moodlake_dagster.spark_server import ensure_local_server, stop_local_server

    generate_history(DEMO_CATALOG, root / "landing", users=2, days=DAYS, start=START)
    server = ensure_local_server(root / "spark", port=free_port(), driver_memory="2g")
    os.environ.update(
        {
            "MOODLAKE_HOME": str(root / "home"),
            "MOODLAKE_LANDING": str(root / "landing"),
            "MOODLAKE_SPARK_REMOTE": server.url,
            "MOODLAKE_PSEUDONYM_KEY": KEY,
            "MOODLAKE_PARTITIONS_START": START.isoformat(),
        }
    )
    os.environ.pop("DAGSTER_HOME", None)
    try:
        end = START + dt.timedelta(days=DAYS - 1)
        code, out = quietly("build", "--start", START.isoformat(), "--end", end.isoformat())
        if code:
            raise SystemExit(f"the build failed:\n{out[-3000:]}")
    finally:
        stop_local_server(root / "spark")
    return root / "home"


def percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def measure(home: Path) -> dict:
    os.environ["MOODLAKE_HOME"] = str(home)
    os.environ.setdefault("MOODLAKE_PSEUDONYM_KEY", KEY)
    code, out = quietly("serve", "token", "--user", "demo-listener-1")
    if code:
        raise SystemExit(out)
    token = out.strip().splitlines()[-1]
    port = free_port()
    log = home / "serve-benchmark.log"
    moodlake = str(Path(sys.executable).with_name("moodlake"))
    process = subprocess.Popen(
        [moodlake, "serve", "--port", str(port)],
        env=os.environ.copy(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(base + "/healthz", timeout=2).ok:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        urls = [
            f"{base}/api/me/recommendations?mode={mode}&day_part={part}"
            for mode in MODES
            for part in DAY_PARTS
        ]
        for n in range(WARM):
            session.get(urls[n % len(urls)], timeout=10).raise_for_status()
        timings, errors, picks = [], 0, 0
        began = time.perf_counter()
        for n in range(CALLS):
            t = time.perf_counter()
            response = session.get(urls[n % len(urls)], timeout=10)
            timings.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                errors += 1
            else:
                picks += len(response.json()["picks"])
        wall = time.perf_counter() - began
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
    timings.sort()
    return {
        "calls": CALLS,
        "warmup_calls": WARM,
        "errors": errors,
        "picks_per_call": round(picks / CALLS, 2),
        "p50_ms": round(statistics.median(timings), 3),
        "p90_ms": round(percentile(timings, 0.90), 3),
        "p99_ms": round(percentile(timings, 0.99), 3),
        "max_ms": round(timings[-1], 3),
        "mean_ms": round(statistics.fmean(timings), 3),
        "calls_per_s": round(CALLS / wall, 1),
        "target_p99_ms": 10,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="a MOODLAKE_HOME with a built lake (default: build one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as scratch:
        home = Path(args.home).resolve() if args.home else build(Path(scratch))
        figures = measure(home)
    result = {
        "benchmark": "moodlake serve: GET /api/me/recommendations, loopback, keep-alive",
        "client": f"requests {requests.__version__}, one session, sequential",
        "lake": "2 listeners × 7 days of generated history over the 10k catalog sample",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        **figures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{CALLS} recommendation calls over loopback: p50 {figures['p50_ms']:.2f} ms, "
        f"p90 {figures['p90_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms, "
        f"max {figures['max_ms']:.2f} ms, {figures['errors']} errors, "
        f"{figures['calls_per_s']:.0f} calls/s"
    )
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
