"""A listener's rows in the lake's Delta tables: found, read, and deleted beyond time travel.

A row is about a listener when its `user_id` is theirs; where a table has no `user_id`, the
column that names them does: a quarantined record's pseudonymized source folder or raw text, a
model metric's note, an audit event's subject. Deleting leaves old versions on disk (that is
what time travel is), so an erase then cuts the table's history: its log is checkpointed and
cleaned and every file no longer live is vacuumed at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from moodlake_dagster import storage
from moodlake_dagster.tables import MODEL_METRICS, QUARANTINE, TABLES, Table

AUDIT = "audit/events"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Match:
    """How one table names a listener: a SQL predicate for delete, an Arrow filter for reads."""

    predicate: str
    expression: pc.Expression


def match(table: Table, columns: list[str], user_id: str, account: str | None) -> Match | None:
    """How `table` (with these columns) names the listener; None when no row can be theirs."""
    if "user_id" in columns:
        return Match(f"user_id = {_quote(user_id)}", pc.field("user_id") == user_id)
    if table.path == QUARANTINE.path:
        names = [user_id, *([account] if account else [])]
        sql = [f"source_file LIKE {_quote(user_id + '/%')}"]
        sql += [f"raw LIKE {_quote('%' + name + '%')}" for name in names]
        expr = pc.starts_with(pc.field("source_file"), user_id + "/")
        for name in names:
            expr = expr | pc.match_substring(pc.field("raw"), name)
        return Match(" OR ".join(sql), expr)
    if table.path == MODEL_METRICS.path:
        return Match(
            f"note LIKE {_quote('%' + user_id + '%')}",
            pc.match_substring(pc.field("note"), user_id),
        )
    if table.path == AUDIT and "subject" in columns:
        return Match(f"subject = {_quote(user_id)}", pc.field("subject") == user_id)
    return None


def lake_tables(lake_root: str, storage_options=None) -> list[tuple[Table, str]]:
    """(catalog entry, uri) of every catalog table that exists in the lake."""
    found = []
    for table in TABLES.values():
        uri = storage.table_uri(lake_root, table.layer, table.name)
        if storage.table_exists(uri, storage_options):
            found.append((table, uri))
    return found


def _columns(delta: DeltaTable) -> list[str]:
    return list(delta.schema().to_arrow().names)


def listener_rows(
    table: Table, uri: str, user_id: str, account: str | None, storage_options=None
) -> pa.Table | None:
    """Every row of the table about the listener (None when the table cannot hold any)."""
    delta = DeltaTable(uri, storage_options=storage_options)
    found = match(table, _columns(delta), user_id, account)
    if found is None:
        return None
    # A dataset filter drops rows where the expression is null (no source_file, no note).
    return delta.to_pyarrow_dataset().to_table(filter=found.expression)


def forget_history(uri: str, storage_options: Mapping[str, str] | None = None) -> int:
    """Cut a table's history to its current version: no earlier version (and so no deleted
    row) stays readable or on disk. Returns the files vacuumed."""
    delta = DeltaTable(uri, storage_options=storage_options)
    kept = delta.metadata().configuration.get("delta.logRetentionDuration")
    delta.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 days"})
    delta = DeltaTable(uri, storage_options=storage_options)
    delta.create_checkpoint()
    delta.cleanup_metadata()
    vacuumed = delta.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    if kept:
        delta.alter.set_table_properties({"delta.logRetentionDuration": kept})
    return len(vacuumed)


def delete_listener(
    table: Table, uri: str, user_id: str, account: str | None, storage_options=None
) -> int:
    """Delete the listener's rows and the table's history; rows deleted."""
    delta = DeltaTable(uri, storage_options=storage_options)
    found = match(table, _columns(delta), user_id, account)
    if found is None:
        return 0
    deleted = int(delta.delete(found.predicate).get("num_deleted_rows", 0))
    if deleted:
        forget_history(uri, storage_options)
    return deleted


def replace_subject(uri: str, user_id: str, token: str, storage_options=None) -> int:
    """Audit events keep what happened but name an erased listener by their erasure token."""
    delta = DeltaTable(uri, storage_options=storage_options)
    if "subject" not in _columns(delta):
        return 0
    result = delta.update(
        updates={"subject": _quote(token)}, predicate=f"subject = {_quote(user_id)}"
    )
    updated = int(result.get("num_updated_rows", 0))
    if updated:
        forget_history(uri, storage_options)
    return updated
