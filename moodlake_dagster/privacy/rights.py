"""A listener's rights over their data: a copy of all of it, and its erasure.

`export` gathers every row about the listener from every table, their per-listener model cards
and a manifest (tables, row counts, each column's classification) into one zip of JSON Lines.
`erase` removes the listener from every table (with its history), the model store and
Dagster's records; the CLI (`moodlake privacy`) adds the confirmation, the rebuild and the
proof scan around it.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from moodlake_dagster import storage
from moodlake_dagster.checks.classification import classify
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.privacy import lake_rows, records
from moodlake_dagster.tables import PLAYS, USERS


class RightsError(LookupError):
    """The request names no listener the lake knows; the message says who it does know."""


@dataclass(frozen=True)
class Listener:
    user_id: str
    account: str | None  # the account name where known (given, or a landing folder's)

    @property
    def needles(self) -> tuple[str, ...]:
        """The strings that identify them in files."""
        return (self.user_id, *([self.account] if self.account else []))


def known_listeners(lake_root: str, storage_options=None) -> list[str]:
    known: set[str] = set()
    for table in (PLAYS, USERS):
        uri = storage.table_uri(lake_root, table.layer, table.name)
        if storage.table_exists(uri, storage_options):
            frame = storage.read_frame(uri, columns=["user_id"], storage_options=storage_options)
            known |= set(frame["user_id"].dropna())
    return sorted(known)


def find_listener(user: str, lake_root: str, key: bytes, landing: Path | None) -> Listener:
    """The listener named by an account name or a pseudonym — in the lake, or only in a landing
    folder still — with their account name where a landing folder is theirs."""
    folders = {}
    if landing is not None and landing.is_dir():
        folders = {pseudonymize(p.name, key): p.name for p in landing.iterdir() if p.is_dir()}
    known = set(known_listeners(lake_root)) | set(folders)
    if user in known:
        user_id, account = user, None
    elif pseudonymize(user, key) in known:
        user_id, account = pseudonymize(user, key), user
    else:
        raise RightsError(
            f"no listener {user!r} in the lake or the landing folder; listeners: "
            + (", ".join(sorted(known)) or "none yet")
        )
    return Listener(user_id, account or folders.get(user_id))


def landing_files(landing: Path | None, listener: Listener, key: bytes) -> list[Path]:
    """Landing files that still hold the listener (their account folder): the next build
    would bring them back."""
    if landing is None or not landing.is_dir():
        return []
    folders = [p for p in landing.iterdir() if p.is_dir()]
    theirs = [p for p in folders if pseudonymize(p.name, key) == listener.user_id]
    return sorted(f for folder in theirs for f in folder.rglob("*") if f.is_file())


# ---- Export ------------------------------------------------------------------------------------


def _jsonl(rows: pa.Table) -> str:
    def plain(v):
        return v.isoformat() if isinstance(v, dt.date | dt.datetime) else v

    return "".join(
        json.dumps({k: plain(v) for k, v in row.items()}, default=str) + "\n"
        for row in rows.to_pylist()
    )


@dataclass
class Export:
    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)


def export(lake_root: str, models_root: Path, listener: Listener, out: Path) -> Export:
    """Write the listener's zip: tables/<layer>/<name>.jsonl, models/<model>/<day>/card.json,
    manifest.json."""
    done = Export(out)
    manifest = {
        "user_id": listener.user_id,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tables": [],
        "models": [],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table, uri in lake_rows.lake_tables(lake_root):
            rows = lake_rows.listener_rows(table, uri, listener.user_id, listener.account)
            if rows is None:
                continue
            done.rows[table.path] = rows.num_rows
            archive.writestr(f"tables/{table.path}.jsonl", _jsonl(rows))
            manifest["tables"].append(
                {
                    "table": table.path,
                    "rows": rows.num_rows,
                    "columns": {c: classify(table.path, c) for c in rows.schema.names},
                }
            )
        for folder in records.listener_models(models_root, listener.user_id):
            name = str(folder.relative_to(models_root))
            card = records.own_card(folder, listener.user_id)
            archive.writestr(f"models/{name}/card.json", json.dumps(card, indent=2))
            done.models.append(name)
            manifest["models"].append(name)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return done


# ---- Erase -------------------------------------------------------------------------------------


@dataclass
class Erasure:
    rows: dict[str, int] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    audit_events: int = 0


def erase_lake(lake_root: str, models_root: Path, listener: Listener, token: str) -> Erasure:
    """Delete the listener's rows from every table (history cut, files vacuumed) and their
    per-listener models; their audit events keep only the erasure token."""
    done = Erasure()
    for table, uri in lake_rows.lake_tables(lake_root):
        if table.path == lake_rows.AUDIT:
            done.audit_events = lake_rows.replace_subject(uri, listener.user_id, token)
            continue
        deleted = lake_rows.delete_listener(table, uri, listener.user_id, listener.account)
        if deleted:
            done.rows[table.path] = deleted
    if models_root.is_dir():
        done.models = records.scrub_models(models_root, listener.user_id)
    return done
