"""The audit trail: an append-only Delta table of what was done with the listeners' data.

Every export, erase, Spotify disconnect, personal SQL query (`moodlake sql --include-personal`)
and maintenance run appends one row to `<lake root>/audit/events`: when, what, whose pseudonym,
how many rows, and which operating-system user ran it. Rows are only ever added; maintenance
may merge the small files, never change a row.

An erase cannot leave the pseudonym behind, not even here, yet must be provable later: its row
names the listener by an erasure token, a keyed hash of the pseudonym that the operator, holding
the key, can recompute for a listener who asks, and no one else can reverse.

The table is not partitioned: one small row per command, read whole (`read_events`), so a day
partition would only add a folder per day; the maintenance job compacts its files.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import hmac
import uuid
from collections.abc import Mapping

import pandas as pd
import pyarrow as pa
from deltalake import write_deltalake

from moodlake_dagster import storage
from moodlake_dagster.tables import AUDIT_EVENTS

ERASED = "erased:"


def events_uri(lake_root: str) -> str:
    return storage.table_uri(lake_root, AUDIT_EVENTS.layer, AUDIT_EVENTS.name)


def actor() -> str:
    """The operating-system user running the command ("unknown" where there is none)."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError, ImportError):  # no passwd entry (containers), no login name
        return "unknown"


def erasure_token(user_id: str, key: bytes) -> str:
    """ "erased:" + 16 hex digits of HMAC-SHA256(key, pseudonym): proves an erase later (the
    operator recomputes it) without keeping the pseudonym."""
    digest = hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()
    return ERASED + digest[:16]


def record_event(
    lake_root: str,
    action: str,
    *,
    user_id: str | None = None,
    rows: int | None = None,
    detail: str = "",
    storage_options: Mapping[str, str] | None = None,
) -> None:
    """Append one event (`user_id`: the pseudonym, or an erasure token; never an account name)."""
    row = {
        "event_id": str(uuid.uuid4()),
        "at_utc": dt.datetime.now(dt.UTC),
        "action": action,
        "subject": user_id,
        "rows": None if rows is None else int(rows),
        "detail": detail or "",
        "actor": actor(),
    }
    data = pa.Table.from_pylist([row], schema=AUDIT_EVENTS.schema)
    uri = events_uri(lake_root)
    options = dict(storage_options) if storage_options else None
    if storage.table_exists(uri, storage_options):
        write_deltalake(uri, data, mode="append", storage_options=options)
        return
    try:
        write_deltalake(
            uri,
            data,
            mode="append",
            configuration=storage.TABLE_PROPERTIES,
            storage_options=options,
        )
    except Exception:
        # Another command created the table first: append to it like any later event.
        if not storage.table_exists(uri, storage_options):
            raise
        write_deltalake(uri, data, mode="append", storage_options=options)


def read_events(lake_root: str, storage_options: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every event, oldest first (no table yet: no rows, with the columns)."""
    uri = events_uri(lake_root)
    if not storage.table_exists(uri, storage_options):
        frame = AUDIT_EVENTS.schema.empty_table().to_pandas()
    else:
        frame = storage.read_frame(uri, storage_options=storage_options)
        frame = frame.sort_values(["at_utc", "event_id"], kind="stable", ignore_index=True)
    frame["rows"] = frame["rows"].astype("Int64")
    return frame
