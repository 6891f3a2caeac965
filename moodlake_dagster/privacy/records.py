"""A listener in the files around the lake: Dagster's storage and the model store.

MoodLake puts pseudonyms into Dagster's records (previews and per-listener figures in
materialization metadata, sensor cursors naming landing files) and into the model store
(per-listener models keyed by pseudonym, their cards). Erasing rewrites those records with the
listener left out, then compacts each SQLite file so no freed page keeps the old bytes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from moodlake_dagster.ml.cadence import RECORD_KEYS
from moodlake_dagster.ml.store import model_files, read_model, write_model

ERASED = "[erased on request]"
# A figure shows one listener whose name is drawn in pixels, not written: in a record that
# mentions the listener, every figure goes too (the next build draws new ones).
IMAGE = "data:image/"
TEXT_SUFFIXES = {".out", ".err", ".log", ".txt", ".json", ".complete"}


def _scrub(value, needles: tuple[str, ...]):
    """The value with every string mentioning a needle (and every figure) erased, and every
    mapping entry keyed by one dropped; strings holding JSON are scrubbed inside."""
    if isinstance(value, dict):
        return {
            k: _scrub(v, needles) for k, v in value.items() if not any(n in str(k) for n in needles)
        }
    if isinstance(value, list):
        return [_scrub(v, needles) for v in value]
    if isinstance(value, str):
        stripped = value.lstrip()
        if stripped[:1] in ("{", "[") and any(n in value for n in needles):
            try:
                return json.dumps(_scrub(json.loads(value), needles))
            except ValueError:
                pass
        if IMAGE in value or any(n in value for n in needles):
            return ERASED
    return value


def scrub_text(text: str, needles: tuple[str, ...]) -> str:
    """A stored text with the listener left out: JSON scrubbed entry by entry, other text
    line by line."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return "\n".join(
            ERASED if any(n in line for n in needles) else line for line in text.split("\n")
        )
    return json.dumps(_scrub(parsed, needles))


def _text_columns(db: sqlite3.Connection, table: str) -> list[str]:
    rows = db.execute(f'PRAGMA table_info("{table}")').fetchall()
    return [
        r[1]
        for r in rows
        if (r[2] or "").upper() in ("TEXT", "VARCHAR", "") or "CHAR" in (r[2] or "").upper()
    ]


def scrub_sqlite(path: Path, needles: tuple[str, ...]) -> int:
    """Rewrite every text cell of a SQLite database that mentions a needle; rows changed."""
    changed = 0
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in _text_columns(db, table):
                where = " OR ".join(f'"{column}" LIKE ?' for _ in needles)
                found = db.execute(
                    f'SELECT rowid, "{column}" FROM "{table}" WHERE {where}',
                    [f"%{n}%" for n in needles],
                ).fetchall()
                for rowid, value in found:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    db.execute(
                        f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = ?',
                        (scrub_text(value, needles), rowid),
                    )
                    changed += 1
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")  # freed pages would still hold the old bytes
    finally:
        db.close()
    return changed


def scrub_dagster(dagster_home: Path, needles: tuple[str, ...]) -> dict[str, int]:
    """Every SQLite file and text log under DAGSTER_HOME (or the builds' log folder),
    scrubbed: {relative path: changes}."""
    changes = {}
    for path in sorted(dagster_home.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".db":
            n = scrub_sqlite(path, needles)
        elif path.suffix in TEXT_SUFFIXES:
            text = path.read_text(errors="replace")
            if not any(n in text for n in needles):
                continue
            path.write_text(scrub_text(text, needles))
            n = 1
        else:
            continue
        if n:
            changes[str(path.relative_to(dagster_home))] = n
    return changes


def without_listener(model, user_id: str):
    """`model` with the listener's entries left out, or None if it holds none of theirs.

    A per-listener model is a dict keyed by pseudonym; a model with rows per listener (ALS
    factors) says itself which rows are theirs, through a `without(user_id)` method."""
    if isinstance(model, dict):
        return {k: v for k, v in model.items() if k != user_id} if user_id in model else None
    forget = getattr(model, "without", None)
    return forget(user_id) if callable(forget) else None


def listener_models(models_root: Path, user_id: str) -> Iterable[Path]:
    """Model folders whose model holds an entry or a row for `user_id`."""
    for path in model_files(models_root):
        if without_listener(read_model(path), user_id) is not None:
            yield path.parent


def own_card(folder: Path, user_id: str) -> dict:
    """A model card as the listener may see it: entries keyed by other listeners left out."""
    card = json.loads((folder / "card.json").read_text())

    def mine(value):
        if isinstance(value, dict):
            keyed = [k for k in value if str(k).startswith("u_")]
            return {k: mine(v) for k, v in value.items() if k not in keyed or k == user_id}
        return value

    return mine(card)


def _forget_fit_record(card_path: Path) -> None:
    """A rewritten model is no longer what was fitted: without the retraining cadence's record
    of its fit (digests of its plays and listeners, which counted theirs), it never serves
    again and the next build refits (ml/cadence.py)."""
    if not card_path.exists():
        return
    card = json.loads(card_path.read_text())
    if any(key in card for key in RECORD_KEYS):
        card = {k: v for k, v in card.items() if k not in RECORD_KEYS}
        card_path.write_text(json.dumps(card, indent=2, default=str))


def scrub_models(models_root: Path, user_id: str) -> list[str]:
    """Remove the listener's per-listener models and card entries; the folders changed."""
    changed = []
    for path in model_files(models_root):
        kept = without_listener(read_model(path), user_id)
        if kept is not None:
            write_model(kept, path)
            _forget_fit_record(path.parent / "card.json")
            changed.append(str(path.parent.relative_to(models_root)))
    for card in sorted(models_root.glob("*/*/card.json")):
        text = card.read_text()
        if user_id in text:
            card.write_text(scrub_text(text, (user_id,)))
            changed.append(str(card.parent.relative_to(models_root)))
    return sorted(set(changed))


def _storage_engines(instance) -> list:
    """The SQLAlchemy engines behind an instance's run, event-log and schedule storage (one
    database may serve all three)."""
    engines = {}
    for name in ("run_storage", "event_log_storage", "schedule_storage"):
        storage = getattr(instance, name, None)
        engine = getattr(storage, "_engine", None)
        if engine is not None and engine.dialect.name != "sqlite":  # files: scrub_sqlite
            engines[str(engine.url)] = engine
    return list(engines.values())


def scrub_sql_storage(instance, needles: tuple[str, ...]) -> int:
    """The same rewrite on a database server (PostgreSQL storage): every text cell naming the
    listener, then VACUUM FULL on the tables touched so dead row versions go too."""
    import sqlalchemy as sa

    changed = 0
    for engine in _storage_engines(instance):
        touched = set()
        with engine.begin() as db:
            inspector = sa.inspect(db)
            for table in inspector.get_table_names():
                for column in inspector.get_columns(table):
                    if not isinstance(column["type"], sa.String | sa.Text):
                        continue
                    name = column["name"]
                    t = sa.table(table, sa.column(name))
                    hits = db.execute(
                        sa.select(sa.literal_column("ctid"), t.c[name]).where(
                            sa.or_(*[t.c[name].contains(n, autoescape=True) for n in needles])
                        )
                    ).fetchall()
                    for ctid, value in hits:
                        db.execute(
                            sa.text(f'UPDATE "{table}" SET "{name}" = :v WHERE ctid = :ctid'),
                            {"v": scrub_text(value, needles), "ctid": ctid},
                        )
                    changed += len(hits)
                    touched |= {table} if hits else set()
        if touched and engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
                for table in sorted(touched):
                    db.execute(sa.text(f'VACUUM FULL "{table}"'))
    return changed
