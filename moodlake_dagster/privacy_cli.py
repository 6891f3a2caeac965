"""`moodlake privacy export|erase`: a listener's copy of their data, and its erasure, proven.

moodlake privacy export --user NAME_OR_PSEUDONYM --out FILE.zip
moodlake privacy erase  --user NAME_OR_PSEUDONYM [--yes] [--landing] [--no-rebuild]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from moodlake_dagster.settings import Settings, load_settings

if TYPE_CHECKING:
    from moodlake_dagster.privacy.rights import Listener

IN_PROGRESS = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def add_parser(sub) -> None:
    privacy = sub.add_parser(
        "privacy", help="a listener's data: export a copy, or erase it from the lake"
    )
    actions = privacy.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="every row about a listener, as a zip")
    export.add_argument("--user", required=True, help="account name or pseudonym")
    export.add_argument("--out", required=True, type=Path, help="the zip to write")
    erase = actions.add_parser("erase", help="remove a listener from every table and record")
    erase.add_argument("--user", required=True, help="account name or pseudonym")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.add_argument(
        "--landing",
        action="store_true",
        help="delete their landing files and their profiles-file rows too (else listed)",
    )
    erase.add_argument(
        "--no-rebuild", action="store_true", help="leave the Gold and model snapshots as cut"
    )
    privacy.set_defaults(func=cmd_privacy)


def cmd_privacy(args: argparse.Namespace) -> int:
    from moodlake_dagster.privacy import rights

    settings = load_settings()
    key = settings.resolved_pseudonym_key()
    try:
        listener = rights.find_listener(args.user, settings.lake_root, key, settings.landing)
    except rights.RightsError as err:
        print(f"moodlake privacy: {err}", file=sys.stderr)
        return 1
    if args.action == "export":
        return _export(settings, listener, args.out)
    from moodlake_dagster.cli import home_locked

    # No build may write them back between the delete and the rebuild: the erase holds the
    # home's build lock throughout (a running build is waited for, and named).
    with home_locked(settings):
        return _erase(settings, listener, args)


def _export(settings: Settings, listener: Listener, out: Path) -> int:
    from moodlake_dagster import audit
    from moodlake_dagster.privacy import rights

    landing = settings.landing if settings.landing.is_dir() else None
    done = rights.export(
        settings.lake_root,
        settings.home / "models",
        listener,
        out,
        landing=landing,
        key=settings.resolved_pseudonym_key(),
    )
    total = sum(done.rows.values())
    raw = "no landing folder" if done.landing_rows is None else f"{done.landing_rows} raw"
    audit.record_event(
        settings.lake_root,
        "export",
        user_id=listener.user_id,
        rows=total,
        detail=f"{len(done.rows)} tables, {len(done.models)} model cards, profile rows: {raw}",
    )
    print(f"Exported {total} row(s) of {listener.user_id} from {len(done.rows)} tables to {out}")
    for table, rows in sorted(done.rows.items()):
        print(f"  {table}: {rows}")
    if done.landing_rows is None:
        print("  (no landing folder here: their raw profile rows are not in the zip)")
    elif done.landing_rows:
        print(
            f"  {rights.LANDING_PROFILES}: {done.landing_rows} (their row as the operator's "
            "profiles file holds it, clear email included: their own data)"
        )
    return 0


def _runs_in_progress() -> list[str]:
    """Runs of the instance DAGSTER_HOME names (prepare_dagster_home set it) not yet ended."""
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    with dg.DagsterInstance.get() as instance:
        statuses = [DagsterRunStatus[s] for s in IN_PROGRESS]
        return [run.run_id for run in instance.get_runs(RunsFilter(statuses=statuses))]


def _scrub_database(needles: tuple[str, ...]) -> int:
    """Dagster's records on a database server (the Docker deployment's PostgreSQL)."""
    import dagster as dg

    from moodlake_dagster.privacy import records

    with dg.DagsterInstance.get() as instance:
        return records.scrub_sql_storage(instance, needles)


def _confirmed(listener: Listener) -> bool:
    prompt = f"Erase {listener.user_id} from every table, model and record? Type 'erase': "
    try:
        return input(prompt).strip() == "erase"
    except EOFError:
        return False


def _erase(settings: Settings, listener: Listener, args) -> int:
    from moodlake_dagster import audit
    from moodlake_dagster.cli import prepare_dagster_home
    from moodlake_dagster.privacy import records, rights

    dagster_home = prepare_dagster_home(settings)
    running = _runs_in_progress()
    if running:
        print(
            f"moodlake privacy: {len(running)} run(s) in progress ({', '.join(running)}): "
            "erase when they are done (or delete them with `dagster run delete`)",
            file=sys.stderr,
        )
        return 1
    if not args.yes and not _confirmed(listener):
        print("moodlake privacy: not confirmed; nothing erased (--yes skips the question)")
        return 1
    token = audit.erasure_token(listener.user_id, settings.resolved_pseudonym_key())
    done = rights.erase_lake(settings.lake_root, settings.home / "models", listener, token)
    for table, rows in sorted(done.rows.items()):
        print(f"  {table}: {rows} row(s) deleted, history cut")
    for folder in done.models:
        print(f"  models/{folder}: their entries removed")
    if done.rows and settings.serving_file.exists():  # Gold's copy for dashboards holds them
        settings.serving_file.unlink()
        print(f"  {settings.serving_file}: removed (the next build writes it without them)")
    _landing(settings, listener, args.landing)
    ok = True
    if not args.no_rebuild and done.rows:
        ok = _rebuild(settings)
    changed = records.scrub_dagster(dagster_home, listener.needles)
    changed["database"] = _scrub_database(listener.needles)
    files = len([k for k, n in changed.items() if n and k != "database"])
    print(f"  Dagster records: {sum(changed.values())} entries rewritten ({files} files)")
    logs = settings.home / "logs"  # the builds' logs (run_log.py) name listeners too
    if logs.is_dir():
        print(f"  build logs: {len(records.scrub_dagster(logs, listener.needles))} rewritten")
    holders = _proof(settings, listener)
    audit.record_event(
        settings.lake_root,
        "erase",
        user_id=token,
        rows=sum(done.rows.values()),
        detail=f"{len(done.rows)} tables, {len(done.models)} model folders, "
        f"{len(holders)} files still holding them",
    )
    return 0 if ok and not holders else 1


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


def _landing(settings: Settings, listener: Listener, delete: bool) -> None:
    """Their history files and profiles-file rows: removed (--landing), else listed, since the
    next build would bring them back."""
    from moodlake_dagster.privacy import rights

    key = settings.resolved_pseudonym_key()
    files = rights.landing_files(settings.landing, listener, key)
    profiles = rights.landing_profiles(settings.landing, listener, key)
    if delete and (files or profiles):
        done = rights.erase_landing(settings.landing, listener, key)
        if done.files:
            print(f"  landing: {len(done.files)} file(s) deleted")
            # Counts and days only, but of their files: the next build summarises what is left.
            settings.landing_summaries.unlink(missing_ok=True)
        for path, n in sorted(done.rows.items()):
            print(f"  landing: {path.name}: {_rows(n)} removed, the other rows kept")
    elif files or profiles:
        print(
            f"  landing: {len(files) + len(profiles)} file(s) still hold them; "
            "the next build brings them back:"
        )
        for path in files:
            print(f"    {path}")
        for path, n in sorted(profiles.items()):
            verb = "holds" if n == 1 else "hold"
            print(f"    {path.name}: {_rows(n)} still {verb} them ({path})")
        print("  (--landing deletes their files and removes their profile rows)")


def _rebuild(settings: Settings) -> bool:
    from moodlake_dagster import tables
    from moodlake_dagster.cli import run_build, serving_key, summarize
    from moodlake_dagster.resources import LakeResource

    days = LakeResource(root=settings.lake_root).partition_days(tables.PLAYS)
    if not days:
        return True
    print(f"Rebuilding users, Gold and the models as of {days[-1]} without them …")
    lines, ok = summarize(
        run_build(
            days[-1],
            days[-1],
            # The dashboards' DuckDB copy of Gold holds them too until it is rewritten.
            [tables.USERS, *tables.GOLD, *tables.MODELS, *tables.PLATFORM, serving_key()],
        )
    )
    print("\n".join(lines))
    return ok


def _proof(settings: Settings, listener: Listener) -> list[str]:
    """Scan every file under MOODLAKE_HOME (the landing folder aside, if it lives there) for
    the pseudonym, and for the account name outside the catalog's tables: a name like "alice"
    is also a word in track titles."""
    from moodlake_dagster.privacy import scan
    from moodlake_dagster.tables import TABLES

    home = settings.home.resolve()
    found = scan.holders(home, (listener.user_id,))
    if listener.account:
        catalog = [f"lake/{t.path}/" for t in TABLES.values() if t.pii == "low"]
        named = scan.holders(home, (listener.account,))
        found += [f for f in named if not any(f.startswith(c) for c in catalog)]
    landing = settings.landing.resolve()
    if landing.is_relative_to(home):
        inside = str(landing.relative_to(home))
        found = [f for f in found if not f.startswith(inside + "/")]
    found = sorted(set(found))
    if found:
        print(f"  proof FAILED: {len(found)} file(s) under {settings.home} still hold them:")
        print("\n".join(f"    {f}" for f in found[:20]))
    else:
        print(f"  proof: no file under {settings.home} holds {' or '.join(listener.needles)}")
    return found
