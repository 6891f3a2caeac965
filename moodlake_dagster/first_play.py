"""Where a home's daily partitions begin: its first landed play day, kept in one small file.

Apart from partitions.py so the CLI can record the day before the definitions are built.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

from moodlake_dagster.settings import DEFAULT_PARTITIONS_START, FIRST_PLAY_DAY_FILE, resolve_home


def recorded_first_play_day(home: Path) -> dt.date | None:
    path = home / FIRST_PLAY_DAY_FILE
    try:
        return dt.date.fromisoformat(path.read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError as err:
        raise ValueError(f"{path}: expected one ISO date (YYYY-MM-DD): {err}") from err


def record_first_play_day(home: Path, day: dt.date) -> bool:
    """Remember `day` if it is earlier than the recorded first play; True if it moved."""
    recorded = recorded_first_play_day(home)
    if recorded is not None and recorded <= day:
        return False
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".{FIRST_PLAY_DAY_FILE}.{os.getpid()}"
    tmp.write_text(day.isoformat() + "\n")
    tmp.replace(home / FIRST_PLAY_DAY_FILE)
    return True


def partitions_start(env: Mapping[str, str] | None = None) -> str:
    """MOODLAKE_PARTITIONS_START, else the first landed play day, else Spotify's launch."""
    env = os.environ if env is None else env
    if env.get("MOODLAKE_PARTITIONS_START"):
        return env["MOODLAKE_PARTITIONS_START"]
    first = recorded_first_play_day(resolve_home(env))
    return first.isoformat() if first else DEFAULT_PARTITIONS_START
