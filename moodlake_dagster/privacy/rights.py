"""A listener's rights over their data: a copy of all of it, and its erasure.

`export` gathers every row about the listener from every table, their per-listener model cards
and a manifest (tables, row counts, each column's classification) into one zip of JSON Lines,
plus their raw row of the operator's profiles files when the landing folder is at hand.
`erase` removes the listener from every table (with its history), the model store and
Dagster's records; `erase_landing` deletes their history files and cuts their row out of the
profiles files. The CLI (`moodlake privacy`) adds the confirmation, the rebuild and the proof
scan around it.
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
from moodlake_dagster.privacy import lake_rows, profiles_file, records
from moodlake_dagster.tables import BRONZE_PROFILES, PLAYS, PROFILES, USERS


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
    for table in (PLAYS, USERS, PROFILES, BRONZE_PROFILES):
        uri = storage.table_uri(lake_root, table.layer, table.name)
        if storage.table_exists(uri, storage_options):
            frame = storage.read_frame(uri, columns=["user_id"], storage_options=storage_options)
            known |= set(frame["user_id"].dropna())
    return sorted(known)


def find_listener(user: str, lake_root: str, key: bytes, landing: Path | None) -> Listener:
    """The listener named by an account name or a pseudonym — in the lake, or only in a landing
    folder still (a history folder or a profiles file row) — with their account name where the
    landing folder knows it."""
    folders = {}
    if landing is not None and landing.is_dir():
        folders = profiles_file.accounts(landing, key)
        folders |= {pseudonymize(p.name, key): p.name for p in landing.iterdir() if p.is_dir()}
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
    """History files that still hold the listener (their account folder): the next build
    would bring them back. Their profile rows: `landing_profiles`."""
    if landing is None or not landing.is_dir():
        return []
    folders = [p for p in landing.iterdir() if p.is_dir()]
    theirs = [p for p in folders if pseudonymize(p.name, key) == listener.user_id]
    return sorted(f for folder in theirs for f in folder.rglob("*") if f.is_file())


def landing_profiles(landing: Path | None, listener: Listener, key: bytes) -> dict[Path, int]:
    """Profiles files that still hold a row of the listener → their rows there: the next build
    would bring their profile back. Only the rows go; the file holds other listeners."""
    if landing is None or not landing.is_dir():
        return {}
    return profiles_file.holding_files(landing, listener.user_id, key)


@dataclass
class LandingErasure:
    files: list[Path] = field(default_factory=list)  # history files deleted
    rows: dict[Path, int] = field(default_factory=dict)  # profiles file → rows removed


def erase_landing(landing: Path | None, listener: Listener, key: bytes) -> LandingErasure:
    """Delete the listener's history files and rewrite each profiles file without their rows
    (atomically: a temp file beside it, then os.replace)."""
    done = LandingErasure(landing_files(landing, listener, key))
    for path in done.files:
        path.unlink()
    for path in landing_profiles(landing, listener, key):
        done.rows[path] = profiles_file.remove_listener(path, listener.user_id, key)
    return done


# ---- Export ------------------------------------------------------------------------------------


def _jsonl(rows: pa.Table) -> str:
    def plain(v):
        return v.isoformat() if isinstance(v, dt.date | dt.datetime) else v

    return "".join(
        json.dumps({k: plain(v) for k, v in row.items()}, default=str) + "\n"
        for row in rows.to_pylist()
    )


LANDING_PROFILES = "landing/profiles.jsonl"


@dataclass
class Export:
    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    landing_rows: int | None = None  # their profiles-file rows; None: no landing folder read


def _landing_entry(landing: Path | None, rows: list[dict]) -> dict:
    """The manifest's word on the raw profile rows: what they are, or why they are absent."""
    if landing is None:
        return {
            "file": None,
            "rows": None,
            "note": "The landing folder was not available to this export, so the operator's "
            "profiles files were not read; the lake's profile tables above hold your "
            "pseudonym, a masked email and a keyed token only.",
        }
    return {
        "file": LANDING_PROFILES,
        "rows": len(rows),
        "sources": sorted({r["_source_file"] for r in rows}),
        "note": "Your row(s) in the operator's profiles files, as written there: your account "
        "name and your email in clear. This is your own data, given to you; the lake itself "
        "keeps only your pseudonym, a masked email and a keyed token.",
    }


def export(
    lake_root: str,
    models_root: Path,
    listener: Listener,
    out: Path,
    landing: Path | None = None,
    key: bytes | None = None,
) -> Export:
    """Write the listener's zip: tables/<layer>/<name>.jsonl, models/<model>/<day>/card.json,
    landing/profiles.jsonl (only with a landing folder and the key) and manifest.json."""
    done = Export(out)
    if landing is not None and not landing.is_dir():
        landing = None
    if landing is not None and key is None:
        raise ValueError("reading the landing profiles needs the pseudonym key")
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
        raw = profiles_file.listener_rows(landing, listener.user_id, key) if landing else []
        if landing is not None:
            done.landing_rows = len(raw)
            archive.writestr(LANDING_PROFILES, "".join(json.dumps(r) + "\n" for r in raw))
        manifest["landing"] = _landing_entry(landing, raw)
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
