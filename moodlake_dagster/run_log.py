"""A build's whole story in a file; on the terminal, one line per problem.

Dagster's console logger prints a failed step with its full stack trace (a JVM's, for a Spark
error: a hundred lines), which buries the one line a user needs. So a build runs with the console
logger quiet and, after each run, writes the run's records — every message at INFO and above,
and each failure's whole error chain with its stack traces — to
`$MOODLAKE_HOME/logs/build-<time>.log`. The terminal gets the warnings one line each and the
failed steps' innermost error, first line only, with where the full log is.

A ranged run over ten years records a planned and a materialization event per asset and day, at
DEBUG level: never part of the story, and reading 33,000 of them back cost about 7 s. They are
left in the storage, unread.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import sqlalchemy as db
from dagster import DagsterEventType, EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster_shared.serdes import deserialize_value

# The console logger's threshold during a build: nothing it prints is not also in the log file.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def log_path(home: Path, began: dt.datetime) -> Path:
    return Path(home) / "logs" / f"build-{began:%Y%m%d-%H%M%S}.log"


def step_name(step_key: str | None) -> str:
    """A table asset's step is named after its key (bronze__catalog_tracks): show the key."""
    return step_key.replace("__", "/") if step_key else "run"


# One of each per asset and day of a ranged run; Dagster logs them at DEBUG.
PER_DAY = frozenset(
    {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_MATERIALIZATION_PLANNED}
)


def records(instance, run_id: str) -> list[EventLogEntry]:
    """The run's records but its per-day bookkeeping, which SQL storages leave unread."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        return [r for r in instance.all_logs(run_id) if r.dagster_event_type not in PER_DAY]
    table = SqlEventLogStorageTable
    kind = table.c.dagster_event_type
    query = (
        db.select(table.c.event)
        .where(table.c.run_id == run_id)
        .where(db.or_(kind.is_(None), kind.not_in([k.value for k in PER_DAY])))
        .order_by(table.c.id)
    )
    with storage.run_connection(run_id) as conn:
        rows = conn.execute(query).fetchall()
    return [deserialize_value(row[0], EventLogEntry) for row in rows]


def write_run(path: Path, told: list[EventLogEntry], run_id: str, label: str) -> None:
    """Append one run's records (INFO and above; errors whole) to the build's log file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(f"==== {label}: run {run_id}\n")
        for record in told:
            if record.level < logging.INFO:
                continue
            when = dt.datetime.fromtimestamp(record.timestamp, dt.UTC).strftime("%H:%M:%S")
            level = logging.getLevelName(record.level)
            kind = f"{record.dagster_event_type.value} " if record.is_dagster_event else ""
            message = record.user_message or record.message
            out.write(f"{when} {level:<7} {step_name(record.step_key)}: {kind}{message}\n")
            error = record.error_info or _event_error(record)
            if error is not None:
                out.write(_indent(error.to_string()))


def warnings(told: list[EventLogEntry]) -> list[str]:
    """The run's warnings from its assets, one line each (their first line)."""
    lines = []
    for record in told:
        if record.level == logging.WARNING and not record.is_dagster_event:
            first = (record.user_message or "").strip().splitlines()[:1]
            lines.append(f"  WARNING {step_name(record.step_key)}: {first[0] if first else ''}")
    return lines


def first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown error"


def _event_error(record):
    event = record.dagster_event
    data = getattr(event, "event_specific_data", None) if event else None
    return getattr(data, "error", None)


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.rstrip("\n").splitlines())
