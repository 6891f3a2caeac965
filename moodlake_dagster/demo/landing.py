"""The demo's landing folder, generated on first use, and `moodlake demo --crowd N`.

moodlake demo --crowd N [--out DIR] [--days D] [--seed S]

Without MOODLAKE_LANDING the demo generates two listeners' year of history the first time it
runs; with MOODLAKE_CROWD=N it generates a crowd of N listeners instead (profiles, churners
and stream-farming accounts; see demo/crowd.py). The crowd's answer file — which accounts are
farms — is written beside the landing folder, never in it: no model reads it, the farm
detector's scoring does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from moodlake_dagster.settings import Settings, load_settings

CROWD_DAYS = 120
CROWD_START = dt.date(2025, 1, 1)


def ensure_demo_landing(settings: Settings) -> str | None:
    """Generate the demo history if the demo landing folder is used and absent; what was
    generated, in words (None: nothing to do)."""
    if not settings.uses_demo_landing or settings.landing.exists():
        return None
    if settings.crowd:
        from moodlake_dagster.demo.crowd import write_crowd

        counts = write_crowd(
            settings.catalog,
            settings.landing,
            settings.crowd_answers,
            listeners=settings.crowd,
            start=CROWD_START,
            days=CROWD_DAYS,
        )
        return (
            f"Generated a demo crowd of {settings.crowd} listeners ({counts['plays']:,} plays, "
            f"labelled GENERATED) in {settings.landing}"
        )
    from moodlake_dagster.demo.generator import generate_history

    files = generate_history(settings.catalog, settings.landing)
    return (
        f"Generated demo listening history ({len(files)} files, labelled GENERATED) "
        f"in {settings.landing}"
    )


def add_parser(sub) -> None:
    demo = sub.add_parser(
        "demo", help="write a generated crowd of listeners (histories and profiles) to a folder"
    )
    demo.add_argument("--crowd", type=int, required=True, help="how many listeners")
    demo.add_argument("--out", type=Path, help="the folder to write; default: the landing folder")
    demo.add_argument("--days", type=int, default=CROWD_DAYS, help="days of history")
    demo.add_argument("--start", default=CROWD_START.isoformat(), help="first day (YYYY-MM-DD)")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from moodlake_dagster.demo.crowd import write_crowd

    settings = load_settings()
    out = (args.out or settings.landing).expanduser().resolve()
    if args.crowd < 1:
        print("moodlake demo: --crowd needs at least one listener", file=sys.stderr)
        return 2
    if out.exists() and any(out.iterdir()):
        print(
            f"moodlake demo: {out} is not empty; write the crowd to an empty folder "
            "(--out DIR) and point MOODLAKE_LANDING at it",
            file=sys.stderr,
        )
        return 1
    answers = settings.crowd_answers
    counts = write_crowd(
        settings.catalog,
        out,
        answers,
        listeners=args.crowd,
        start=dt.date.fromisoformat(args.start),
        days=args.days,
        seed=args.seed,
    )
    print(
        f"Wrote {counts['listeners']} listeners, {counts['plays']:,} plays in "
        f"{counts['files']} files and profiles_GENERATED.csv to {out}"
    )
    print(f"The answer file ({counts['farms']} stream-farming accounts) is {answers}")
    if out != settings.landing:
        print(f"Build it with: MOODLAKE_LANDING={out} moodlake build")
    return 0
