"""`moodlake`: build the lake from the command line and manage the local Spark server.

moodlake build                      every day present in the data, one run
moodlake build --start D --end D    a date range (a backfill), one run
moodlake ui                         the Dagster UI on http://127.0.0.1:3000
moodlake spark status|stop          the local Spark Connect server
moodlake spark cluster start|stop   a standalone master and N workers on this machine
moodlake recommend [--mode coach]   a listener's picks and why, read from Gold
moodlake insights [--user NAME]     what the data supports saying about a listener, in words
moodlake privacy export|erase       a listener's data: a copy, or its erasure proven on disk
moodlake sql "SELECT …"             SQL over every Silver and Gold table (DuckDB)
moodlake catalog add FILE|list      catalog CSVs, in precedence order ($MOODLAKE_HOME/catalogs.txt)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path

from dotenv import load_dotenv

from moodlake_dagster import damaged, playlist_cli, privacy_cli, run_log
from moodlake_dagster.demo import landing as demo_landing
from moodlake_dagster.first_play import record_first_play_day
from moodlake_dagster.serve import command as serve_command
from moodlake_dagster.settings import Settings, load_settings

# Same as the repository's dagster.yaml (a test keeps them equal).
DAGSTER_YAML = """\
# Dagster instance settings for a local MOODLAKE_HOME (copied to $DAGSTER_HOME by `moodlake`).
# Storage is Dagster's SQLite files under DAGSTER_HOME, written in batches (event_log.py: a
# ranged run over years of days writes its per-day events in one transaction, not thousands).
# The Docker deployment swaps in PostgreSQL.
storage:
  custom:
    module: moodlake_dagster.event_log
    class: MoodlakeSqliteStorage
    config:
      base_dir:
        env: DAGSTER_HOME
telemetry:
  enabled: false

# Spark-backed assets declare pool="spark": one Spark step at a time on a laptop.
concurrency:
  pools:
    default_limit: 1
  runs:
    max_concurrent_runs: 2
"""


# The default before batched event writes: a home still holding it is moved to the new one
# (same SQLite files; only how events are written changes).
_UNBATCHED_DAGSTER_YAML = DAGSTER_YAML.replace(
    DAGSTER_YAML[DAGSTER_YAML.index("# Storage is") : DAGSTER_YAML.index("telemetry:")],
    "# Storage is SQLite under DAGSTER_HOME; the Docker deployment swaps in PostgreSQL.\n",
)


def prepare_dagster_home(settings: Settings) -> Path:
    """Use DAGSTER_HOME if set, else MOODLAKE_HOME/dagster with telemetry off."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() == _UNBATCHED_DAGSTER_YAML:
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def prepare_storage() -> None:
    """Create the instance's SQLite databases once, here: the webserver and the daemon start
    together and would otherwise race to create them (two alembic heads, a broken instance).
    A lock file in DAGSTER_HOME serialises the creation between processes (a build and the UI
    started together on a fresh home; two UIs)."""
    from dagster import DagsterInstance

    from moodlake_dagster.build_lock import exclusive

    with (
        exclusive(Path(os.environ["DAGSTER_HOME"]) / "storage.lock"),
        DagsterInstance.get() as instance,
    ):
        instance.get_runs(limit=1)
        instance.event_log_storage.get_asset_records()
        instance.all_instigator_state()


def data_day_range(settings: Settings) -> tuple[dt.date, dt.date]:
    """First and last UTC play day in the landing folder (today if it holds no plays).

    The first is recorded as where the daily partitions begin (see partitions.py)."""
    from moodlake_dagster.demo.landing import ensure_demo_landing
    from moodlake_dagster.ingest import file_summaries
    from moodlake_dagster.ingest.history import play_day_span
    from moodlake_dagster.ingest.landing_store import LandingStore

    if generated := ensure_demo_landing(settings):
        print(generated)
    store = LandingStore.of(settings.landing)
    if not store.exists():
        raise SystemExit(f"MOODLAKE_LANDING={settings.landing} is not a folder")
    now = dt.datetime.now(dt.UTC)
    span = play_day_span(store, now, file_summaries.kept_at(settings.landing_summaries))
    if span is None:
        return now.date(), now.date()
    record_first_play_day(settings.home, span[0])
    return span


# Snapshot sources first (plays resolve against tracks), then events day by day, then the
# snapshots built from them. Snapshots are built as of the last day only: a snapshot as of D
# stands for every day up to D, and Dagster records one event per partition, so a snapshot per
# day would cost minutes of bookkeeping for identical tables.
def build_stages() -> list[tuple[str, list, str]]:
    """(label, tables, "range" or "end") for each run of a build, in order."""
    from moodlake_dagster import tables as t

    return [
        ("snapshot sources", [t.CATALOG_TRACKS, t.TRACKS], "end"),
        ("events", [t.LISTENING_EVENTS, t.PLAYS, t.MOOD_BY_DAY], "range"),
        ("snapshots", [t.USERS, *t.GOLD, *t.MODELS, *t.PLATFORM], "end"),
    ]


def serving_stage(settings: Settings, changed: bool) -> list[tuple[str, list, str]]:
    """The dashboards' DuckDB copy of Gold (assets/serving.py), after the stages: rewritten
    whenever a stage ran, or when it is missing. It is a file, not a catalog table, so it has
    no fingerprint of its own; when no stage ran it is as fresh as Gold."""
    if changed or not settings.serving_file.exists():
        return [("serving", [serving_key()], "end")]
    return []


def serving_key():
    from dagster import AssetKey

    from moodlake_dagster.serving import ASSET_KEY

    return AssetKey(ASSET_KEY)


def selected_tables(names: list[str]) -> list:
    """The catalog tables `--select` names (`silver/plays`); a bare old name gets its new key."""
    from moodlake_dagster.tables import TABLES

    by_name = {table.name: table for table in TABLES.values()}
    chosen = []
    for name in names:
        if name in TABLES:
            chosen.append(TABLES[name])
        elif name in by_name:
            raise SystemExit(
                f"--select {name}: asset keys now say where the table lives; "
                f"use --select {by_name[name].path}"
            )
        else:
            raise SystemExit(f"--select {name}: no such table; known: {', '.join(TABLES)}")
    return chosen


def stage_unchanged(settings: Settings, written: list, start: dt.date, end: dt.date) -> bool:
    """Whether every table of a stage recorded the inputs it would be built from now."""
    from moodlake_dagster.inputs import stage_unchanged as unchanged
    from moodlake_dagster.resources import build_resources

    lake = build_resources(settings)["lake"]
    return unchanged(lake, settings, written, start, end)


def run_build(start: dt.date, end: dt.date, selection: list, force: bool = False):
    """One in-process run of `selection` (catalog tables, or asset keys for what is not a
    table) over [start, end], recorded in DAGSTER_HOME.

    Tables whose inputs did not change are left as they are, unless `force`. The run's tags
    name this process (runs.py: a later build fails the run if the process dies), and if
    another run holds the `spark` pool's slot, this says which and waits for it first."""
    from dagster import DagsterInstance

    from moodlake_dagster.definitions import build_job, make_definitions
    from moodlake_dagster.fingerprints import FORCE_TAG
    from moodlake_dagster.runs import run_tags, wait_for_pool

    job = make_definitions().resolve_job_def(build_job.name)
    tags = (
        {
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        }
        | run_tags()
        | ({FORCE_TAG: "true"} if force else {})
    )
    with DagsterInstance.get() as instance:
        wait_for_pool(instance, say=lambda line: print(line, flush=True))
        return job.execute_in_process(
            instance=instance,
            tags=tags,
            raise_on_error=False,
            run_config=run_log.QUIET,
            asset_selection=[getattr(asset, "key", asset) for asset in selection],
        )


def materialized_metadata(result) -> tuple[dict[str, dict], dict[str, int]]:
    """Each asset's latest materialization metadata (plain values) and its partition count."""
    from dagster import DagsterEventType

    latest, partitions = {}, {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.event_specific_data.materialization
            name = mat.asset_key.to_user_string()
            latest[name] = {k: v.value for k, v in mat.metadata.items()}
            partitions[name] = partitions.get(name, 0) + 1
    return latest, partitions


def summarize(result) -> tuple[list[str], bool]:
    """One line per asset (rows, quarantine, coverage, partitions) and per failed check."""
    from dagster import AssetCheckSeverity, DagsterEventType

    lines, ok = [], result.success
    latest, partitions = materialized_metadata(result)
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            check = event.event_specific_data
            if not check.passed:
                warn = check.severity == AssetCheckSeverity.WARN  # reported, not fatal
                ok = ok and warn
                lines.append(
                    f"  CHECK {'WARNING' if warn else 'FAILED'}: "
                    f"{check.asset_key.to_user_string()} "
                    f"{check.check_name}: {check.description or ''}"
                )
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            ok = False
            step = run_log.step_name(event.step_key)
            cause = _root_cause(event)
            said = damaged.spark_read_error(cause) or run_log.first_line(cause)
            lines.append(f"  STEP FAILED: {step}: {said}")
    assets = []
    for name, meta in latest.items():
        facts = [
            f"{k}={meta[k]:.3f}" if isinstance(meta[k], float) else f"{k}={meta[k]}"
            for k in (
                "rows",
                "rows_landed",
                "rows_quarantined",
                "duplicates_removed",
                "feature_coverage",
                "unique_track_ids",
                "tracks_labelled",
                "macro_auc",
                "baseline_macro_auc",
                "users_with_modes",
                "users_trained",
                "auc",
                "baseline_auc",
                "k",
                "silhouette",
                "unit",
                "ndcg_at_10",
                "baseline_ndcg_at_10",
                "served_from_fit_of",
                "not_evaluated",
                "listeners",
                "match_auc",
                "baseline_match_auc",
                "skipped",
                "unchanged",
            )
            if k in meta
        ]
        assets.append(f"  {name:<30} {', '.join(facts)}  [{partitions[name]} partition(s)]")
    return assets + lines, ok


def _root_cause(event) -> str:
    """The error the step's own code raised, under Dagster's wrappers (the user's problem, not
    Dagster's); an error MoodLake raised `from` a library's says more than the library's."""
    error = event.event_specific_data.error
    while error is not None and error.cause is not None and _dagsters(error):
        error = error.cause
    return error.message.strip() if error else "unknown error"


def _dagsters(error) -> bool:
    return (error.cls_name or "").startswith("Dagster")


@contextlib.contextmanager
def home_locked(settings: Settings, wait: bool = True):
    """Hold the home's build lock: whatever rewrites tables (a build, a disconnect's or an
    erase's rebuild) waits for another (blocked in the kernel, not polling), saying for whom."""
    from moodlake_dagster.build_lock import build_lock

    def waiting(holder) -> None:
        print(
            f"another build is running on this home: {holder.describe()}; "
            "waiting for it (Ctrl-C to stop)",
            flush=True,
        )

    with build_lock(settings.home, wait=wait, on_wait=waiting):
        yield


def cmd_build(args) -> int:
    """Build under the home's build lock: a second build on the same home waits for the first,
    or with --no-wait exits 1."""
    from moodlake_dagster.build_lock import BuildLockBusy

    settings = load_settings()
    locked = False
    try:
        with home_locked(settings, wait=not getattr(args, "no_wait", False)):
            locked = True
            return build_locked(settings, args)
    except BuildLockBusy as busy:
        print(f"{busy}; not waiting (--no-wait)")
        return 1
    except KeyboardInterrupt:
        if locked:
            raise
        print("stopped waiting for the other build: nothing built")
        return 130


def reclaim_stale_runs() -> None:
    """Fail the runs of builds whose process is gone and free their pool slots (runs.py)."""
    from dagster import DagsterInstance

    from moodlake_dagster.runs import reclaim_dead_runs

    with DagsterInstance.get() as instance:
        for line in reclaim_dead_runs(instance):
            print(line)


def build_locked(settings: Settings, args) -> int:
    from dagster import DagsterInstance

    prepare_dagster_home(settings)
    prepare_storage()
    reclaim_stale_runs()
    # pyspark logs each failed call to stderr as JSON; the failure is in the summary and the log.
    logging.getLogger("pyspark.sql.connect.logging").setLevel(logging.CRITICAL)
    first, last = data_day_range(settings)
    start = dt.date.fromisoformat(args.start) if args.start else first
    end = dt.date.fromisoformat(args.end) if args.end else last
    if start > end:
        raise SystemExit(f"--start {start} is after --end {end}")
    from moodlake_dagster.partitions import first_partition_day

    if start < first_partition_day():
        raise SystemExit(
            f"Plays from {start} are before the first day partition {first_partition_day()}: "
            "set MOODLAKE_PARTITIONS_START earlier (or unset it to start at the first play)"
        )
    print(f"MoodLake build: days {start} … {end} ({(end - start).days + 1} day partitions)")
    print(f"  catalog:  {settings.catalog}")
    print(f"  landing:  {settings.landing}")
    stages = (
        [("selection", selected_tables(args.select), "range")] if args.select else build_stages()
    )
    began, metadata = time.monotonic(), {}
    log = run_log.log_path(settings.home, dt.datetime.now())

    def run_stage(label: str, assets: list, stage_start: dt.date) -> bool:
        stage_began = time.monotonic()
        result = run_build(stage_start, end, assets, force=args.force)
        lines, stage_ok = summarize(result)
        metadata.update(materialized_metadata(result)[0])
        print(
            f"{label}: {stage_start} … {end}, {time.monotonic() - stage_began:.1f} s, "
            f"run {result.run_id}"
        )
        with DagsterInstance.get() as instance:
            told = run_log.records(instance, result.run_id)
        run_log.write_run(log, told, result.run_id, label)
        lines += run_log.warnings(told)
        print("\n".join(lines))
        return stage_ok

    ok, ran = True, False
    for label, assets, span in stages:
        stage_start = start if span == "range" else end
        if not args.force and stage_unchanged(settings, assets, stage_start, end):
            print(f"{label}: {stage_start} … {end}, unchanged: no run (--force rewrites)")
            metadata |= {table.path: {"unchanged": True} for table in assets}
            continue
        ran = True
        ok = run_stage(label, assets, stage_start)
        if not ok:
            break
    if ok and not args.select:
        for label, assets, _ in serving_stage(settings, ran):
            ok = run_stage(label, assets, end)
    from moodlake_dagster.build_summary import summary

    print(summary(settings.lake_root, settings.timezone, metadata))
    print(f"{'Done' if ok else 'FAILED'} in {time.monotonic() - began:.1f} s")
    print(f"  lake:        {settings.lake_root}  (bronze/ silver/ gold/ Delta tables)")
    print(f"  quarantine:  {settings.lake_root}/bronze/quarantine")
    if log.exists():
        print(f"  log:         {log}  (every message; each failure with its stack trace)")
    print(f"  DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
    print("  UI:          make ui   (then open http://127.0.0.1:3000)")
    print(spark_note(settings))
    return 0 if ok else 1


def spark_note(settings: Settings) -> str:
    """Where Spark ran, and whether a local server is left behind (and for how long)."""
    from moodlake_dagster.spark_server import running_server

    if settings.spark_remote:
        return f"  Spark:       {settings.spark_remote}"
    server = running_server(settings.spark_state_dir)
    if server is None:
        return "  Spark:       no local server left running"
    when = (
        f"stops by itself after {settings.spark_idle_stop_s} s unused"
        if settings.spark_idle_stop_s
        else "keeps running (MOODLAKE_SPARK_IDLE_STOP_S=0)"
    )
    return (
        f"  Spark:       local Spark Connect server on port {server.port} (pid {server.pid}) "
        f"{when}; `moodlake spark stop` stops it now"
    )


def cmd_ui(args) -> int:
    """Start the Dagster UI (webserver and daemon) on loopback, on this MOODLAKE_HOME."""
    from moodlake_dagster.ui_processes import run_until_stopped

    settings = load_settings()
    home = prepare_dagster_home(settings)
    bin_dir = Path(sys.executable).parent
    # The checkout's workspace.yaml names the code location "moodlake", as in Docker.
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    module = ["-m", "moodlake_dagster.definitions"]
    target = ["-w", str(workspace)] if workspace.exists() else module
    webserver = [str(bin_dir / "dagster-webserver"), *target, "-h", args.host, "-p", str(args.port)]
    daemon = [str(bin_dir / "dagster-daemon"), "run", *target]
    prepare_storage()
    print(f"DAGSTER_HOME={home}; UI at http://{args.host}:{args.port}  (Ctrl-C stops it)")
    if not settings.spark_remote:
        from moodlake_dagster.spark_idle import take

        take(settings.spark_state_dir)  # the local Spark server stays up while the UI runs
    # Started from DAGSTER_HOME: a dagster.yaml in the caller's folder is none of their business.
    # The home is named outright, since its default (./.moodlake) depends on the folder.
    os.environ["MOODLAKE_HOME"] = str(settings.home)
    return run_until_stopped({"webserver": webserver, "daemon": daemon}, cwd=home)


def cmd_spark(args) -> int:
    """The Connect server's and the cluster's state; stop the server; start/stop a cluster."""
    from moodlake_dagster import spark_cluster
    from moodlake_dagster.spark_server import running_server, stop_local_server

    settings = load_settings()
    state_dir = settings.spark_state_dir
    if args.action == "stop":
        stopped = stop_local_server(state_dir)
        print("Stopped the local Spark Connect server." if stopped else "No local server running.")
        return 0
    if args.action == "cluster":
        if args.cluster_action == "stop":
            if not spark_cluster.stop_cluster(state_dir):
                print("No Spark cluster recorded.")
            return 0
        if args.cluster_action != "start":
            raise SystemExit("usage: moodlake spark cluster start --workers N | stop")
        # Not in the middle of a build: moving its Connect server to the cluster would end it.
        with home_locked(settings):
            try:
                spark_cluster.start_cluster(
                    state_dir,
                    args.workers,
                    cores_per_worker=args.cores,
                    memory_per_worker=args.memory,
                    log=lambda line: print(line, flush=True),
                )
            except (spark_cluster.SparkClusterError, ValueError) as err:
                raise SystemExit(str(err)) from err
        return 0
    if settings.spark_remote:
        print(f"Spark Connect: {settings.spark_remote} (MOODLAKE_SPARK_REMOTE; not started here)")
    server = running_server(state_dir)
    print(
        f"Spark Connect server: {server.url} (pid {server.pid}, master {server.master}, "
        f"log {server.log})"
        if server
        else "No local Spark Connect server running."
    )
    if settings.spark_master:
        print(f"Spark master (MOODLAKE_SPARK_MASTER): {settings.spark_master}")
    cluster = spark_cluster.running_cluster(state_dir)
    if cluster is None:
        print("No Spark cluster running (moodlake spark cluster start --workers N).")
        return 0
    print(f"Spark cluster master: {cluster.master_url} (pid {cluster.master_pid})")
    print(f"Spark cluster web UI: {cluster.webui_url}")
    try:
        status = spark_cluster.master_status(cluster.webui_url)
    except (OSError, ValueError) as err:
        print(f"workers: unknown, the web UI did not answer ({err})")
        return 0
    alive = spark_cluster.alive_workers(status)
    print(f"workers alive: {len(alive)} of {len(cluster.workers)} started")
    for worker in alive:
        print(
            f"  {worker['id']}: {worker['cores']} cores ({worker['coresused']} used), "
            f"{worker['memory']} MiB ({worker['memoryused']} used), web UI {worker['webuiaddress']}"
        )
    for app in status.get("activeapps", []):
        print(f"  application {app['id']} ({app['name']}): {app['cores']} cores")
    return 0


def _spotify_resource(settings):
    from moodlake_dagster.resources import build_resources

    return build_resources(settings)["spotify"]


def cmd_spotify(args) -> int:
    """One-time login, status, and disconnect for the Spotify Web API."""
    from moodlake_dagster.spotify import account
    from moodlake_dagster.spotify.client import PLAYLIST_SCOPE, SCOPE, SpotifyError

    if args.action == "push-playlist":
        return playlist_cli.cmd_push_playlist(args)
    settings = load_settings()
    spotify = _spotify_resource(settings)
    if args.action == "login":
        if not spotify.configured:
            raise SystemExit("Set MOODLAKE_SPOTIFY_CLIENT_ID first (see .env.example)")
        auth = spotify.auth(f"{SCOPE} {PLAYLIST_SCOPE}" if args.allow_playlists else SCOPE)
        print("Open this address, allow MoodLake, then paste the address you are sent to:")
        print(f"  {account.login_url(auth)}")
        redirected = input("Redirected URL: ").strip()
        try:
            token = account.complete_login(auth, redirected)
        except SpotifyError as err:
            raise SystemExit(f"Login failed: {err}") from err
        print(f"Logged in; token saved to {spotify.token_cache} (mode 600, scope {token['scope']})")
        return 0
    if args.action == "status":
        cache = Path(spotify.token_cache)
        print(f"configured: {'yes' if spotify.configured else 'no (MOODLAKE_SPOTIFY_CLIENT_ID)'}")
        print(f"logged in:  {'yes, token in ' + str(cache) if cache.exists() else 'no'}")
        print(f"API plays in model training: {'yes' if settings.api_plays_in_training else 'no'}")
        return 0
    # The API plays go and Gold is rebuilt without them, with no build writing them back between.
    with home_locked(settings):
        return _disconnect(settings, spotify, args)


def _disconnect(settings: Settings, spotify, args) -> int:
    from moodlake_dagster import audit, tables
    from moodlake_dagster.ingest.privacy import pseudonymize
    from moodlake_dagster.resources import LakeResource
    from moodlake_dagster.spotify import account

    user_id = pseudonymize(spotify.account, settings.resolved_pseudonym_key())
    removed = account.remove_token(Path(spotify.token_cache))
    print(f"Token {'removed' if removed else 'was not there'}: {spotify.token_cache}")
    lake = LakeResource(root=settings.lake_root)
    deleted = account.forget_api_user(lake, user_id)
    for table, rows in deleted.items():
        print(f"  {table}: {rows} row(s) deleted")
    touched = ", ".join(f"{table} {rows}" for table, rows in deleted.items() if rows)
    audit.record_event(
        settings.lake_root,
        "spotify_disconnect",
        user_id=user_id,
        rows=sum(deleted.values()),
        detail=f"token {'removed' if removed else 'absent'}; rows deleted: {touched or 'none'}",
    )
    days = lake.partition_days(tables.LISTENING_EVENTS)
    if args.no_rebuild or not days or not any(deleted.values()):
        return 0

    prepare_dagster_home(settings)
    print(f"Rebuilding users and Gold as of {days[-1]} without the API plays …")
    rebuilt = [tables.USERS, *tables.GOLD, serving_key()]  # the dashboards' copy too
    lines, ok = summarize(run_build(days[-1], days[-1], rebuilt))
    print("\n".join(lines))
    return 0 if ok else 1


def cmd_recommend(args) -> int:
    from moodlake_dagster import reports

    settings = load_settings()
    from moodlake_dagster.vocabulary import day_part as day_part_at

    day_part = args.day_part or day_part_at(dt.datetime.now().hour)
    try:
        report = reports.recommendation_report(
            settings.lake_root,
            user=args.user,
            mode=args.mode,
            day_part=day_part,
            as_of=dt.date.fromisoformat(args.as_of) if args.as_of else None,
            key=settings.resolved_pseudonym_key(),
            limit=args.limit,
        )
    except reports.ReportError as err:
        print(f"moodlake recommend: {err}", file=sys.stderr)
        return 1
    print(report.json() if args.json else report.text())
    return 0


def cmd_insights(args) -> int:
    from moodlake_dagster import reports

    settings = load_settings()
    try:
        user_id, day, rows = reports.insights_report(
            settings.lake_root,
            user=args.user,
            as_of=dt.date.fromisoformat(args.as_of) if args.as_of else None,
            key=settings.resolved_pseudonym_key(),
        )
    except reports.ReportError as err:
        print(f"moodlake insights: {err}", file=sys.stderr)
        return 1
    if args.json:
        columns = ["rank", "kind", "sentence", "test", "p_value", "p_adjusted", "n", "evidence"]
        records = rows[columns].astype(object).where(rows[columns].notna(), None)
        payload = {"user_id": user_id, "as_of": day.isoformat()}
        payload["insights"] = [
            r | {"evidence": json.loads(r["evidence"])} for r in records.to_dict("records")
        ]
        print(json.dumps(payload, indent=2, default=str))
        return 0
    print(f"Insights for {user_id} as of {day}")
    for row in rows.itertuples():
        print(f"{row.rank:>3}. {row.sentence}")
    return 0


def cmd_sql(args) -> int:
    from moodlake_dagster import sql

    settings = load_settings()
    if args.tables:
        for name, uri in sql.lake_tables(settings.lake_root).items():
            print(f"{name:<24} {uri}")
        return 0
    if not args.query:
        print("moodlake sql: give a query, or --tables to list them", file=sys.stderr)
        return 2
    try:
        table, withheld = sql.run(
            args.query, settings.lake_root, include_personal=args.include_personal
        )
    except sql.SqlError as err:
        print(f"moodlake sql: {err}", file=sys.stderr)
        return 1
    if withheld:
        print(f"moodlake sql: {sql.withheld_note(withheld)}", file=sys.stderr)
    for line in _tables_gone_back(settings, args.query):
        print(f"moodlake sql: warning: {line}", file=sys.stderr)
    if args.include_personal:
        print("moodlake sql: personal columns included; logged in audit/events", file=sys.stderr)
    frame = table.to_pandas()
    if args.format == "csv":
        print(frame.to_csv(index=False), end="")
    elif args.format == "json":
        print(frame.to_json(orient="records", date_format="iso", indent=1))
    else:
        shown = frame.head(args.max_rows)
        print(shown.to_markdown(index=False, floatfmt=".4g") if len(shown) else "(no rows)")
        if len(frame) > len(shown):
            print(f"… {len(frame) - len(shown)} more rows (--max-rows, or --format csv)")
    return 0


def _tables_gone_back(settings: Settings, query: str) -> list[str]:
    """The tables a query names whose newest commit is missing (versions.py)."""
    import re

    from moodlake_dagster.tables import TABLES
    from moodlake_dagster.versions import gone_back, recorded_versions

    named = [t for t in TABLES.values() if re.search(rf"\b{t.name}\b", query, re.I)]
    return gone_back(settings.lake_root, recorded_versions(settings.dagster_home, named))


def cmd_catalog(args) -> int:
    """Record a catalog file in MOODLAKE_HOME/catalogs.txt, or list the files in precedence
    order; a file is checked for a known layout before it is recorded, not at build time."""
    from moodlake_dagster.ingest.catalog import (
        CatalogHeaderError,
        count_records,
        detect_layout,
        read_header,
    )
    from moodlake_dagster.settings import CATALOG_LIST, DEMO_CATALOG, listed_catalogs

    settings = load_settings()
    listed = listed_catalogs(settings.home)
    if args.action == "add":
        if not args.file:
            print("moodlake catalog add: give the CSV file to add", file=sys.stderr)
            return 2
        path = Path(args.file).expanduser().resolve()
        if not path.is_file():
            print(f"moodlake catalog add: {path} is not a file", file=sys.stderr)
            return 1
        if "," in str(path):
            print(
                f"moodlake catalog add: {path}: a comma in the path is not supported",
                file=sys.stderr,
            )
            return 1
        try:
            layout = detect_layout(read_header(path), str(path))
        except CatalogHeaderError as err:
            print(f"moodlake catalog add: {err}", file=sys.stderr)
            return 1
        if path in listed:
            print(f"Already listed: {path} ({layout.name})")
            return 0
        settings.home.mkdir(parents=True, exist_ok=True)
        with (settings.home / CATALOG_LIST).open("a") as listing:
            listing.write(f"{path}\n")
        print(f"Added {path} ({layout.name}) to {settings.home / CATALOG_LIST}")
        return 0
    print("Catalog files, first = highest precedence (its rows win a shared track_id):")
    for rank, path in enumerate(settings.catalogs, start=1):
        origin = (
            "demo sample"
            if path == DEMO_CATALOG and not listed
            else CATALOG_LIST
            if path in listed
            else "MOODLAKE_CATALOG"
        )
        if not path.is_file():
            print(f"{rank}. {path}  MISSING  [{origin}]")
            continue
        try:
            layout = detect_layout(read_header(path), str(path)).name
        except CatalogHeaderError:
            layout = "UNKNOWN LAYOUT"
        print(f"{rank}. {path}  {layout}  {count_records(path):,} rows  [{origin}]")
    return 0


def main(argv: list[str] | None = None) -> int:
    load_dotenv(os.environ.get("MOODLAKE_ENV_FILE", ".env"))
    parser = argparse.ArgumentParser(
        prog="moodlake", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="materialize every asset for a range of days")
    build.add_argument("--start", help="first day (YYYY-MM-DD); default: first play day")
    build.add_argument("--end", help="last day (YYYY-MM-DD); default: last play day")
    build.add_argument(
        "--select", nargs="+", help="only these tables' assets (e.g. bronze/listening_events)"
    )
    build.add_argument(
        "--force", action="store_true", help="rewrite every table, even where nothing changed"
    )
    build.add_argument(
        "--no-wait",
        action="store_true",
        help="if another build is running on this home, exit 1 instead of waiting for it",
    )
    build.set_defaults(func=cmd_build)
    ui = sub.add_parser("ui", help="start the Dagster UI and daemon on loopback")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    spark = sub.add_parser(
        "spark", help="the local Spark Connect server; a Spark cluster on this machine"
    )
    spark.add_argument("action", choices=["status", "stop", "cluster"])
    spark.add_argument(
        "cluster_action", nargs="?", choices=["start", "stop"], help="with `cluster`"
    )
    spark.add_argument("--workers", type=int, default=2, help="cluster start: worker count")
    spark.add_argument("--cores", type=int, default=1, help="cluster start: cores per worker")
    spark.add_argument("--memory", default="2g", help="cluster start: memory per worker")
    spark.set_defaults(func=cmd_spark)
    spotify = sub.add_parser(
        "spotify", help="log in to, check, or disconnect the Spotify API; push a mood playlist"
    )
    spotify.add_argument("action", choices=["login", "status", "disconnect", "push-playlist"])
    spotify.add_argument(
        "--allow-playlists",
        action="store_true",
        help="login: also allow creating private playlists (for push-playlist)",
    )
    playlist_cli.add_push_arguments(spotify)
    spotify.add_argument(
        "--no-rebuild", action="store_true", help="disconnect: do not rebuild users and Gold"
    )
    spotify.set_defaults(func=cmd_spotify)
    recommend = sub.add_parser(
        "recommend", help="print a listener's recommendations and why, from the Gold tables"
    )
    recommend.add_argument("--user", help="account name or pseudonym; default: the only one")
    recommend.add_argument("--mode", choices=["mirror", "coach"], default="mirror")
    recommend.add_argument(
        "--day-part",
        choices=["night", "morning", "afternoon", "evening"],
        help="default: the day part of this machine's clock",
    )
    recommend.add_argument("--as-of", help="snapshot day (YYYY-MM-DD); default: the latest")
    recommend.add_argument("--limit", type=int, default=10)
    recommend.add_argument("--json", action="store_true", help="JSON instead of text")
    recommend.set_defaults(func=cmd_recommend)

    insights = sub.add_parser(
        "insights", help="print what the Gold tables support saying about a listener, in words"
    )
    insights.add_argument("--user", help="account name or pseudonym; default: the only one")
    insights.add_argument("--as-of", help="snapshot day (YYYY-MM-DD); default: the latest")
    insights.add_argument("--json", action="store_true", help="JSON instead of text")
    insights.set_defaults(func=cmd_insights)

    privacy_cli.add_parser(sub)
    playlist_cli.add_parser(sub)
    demo_landing.add_parser(sub)
    serve_command.add_parser(sub)
    sql = sub.add_parser("sql", help="query every Silver and Gold table by name (DuckDB)")
    sql.add_argument("query", nargs="?", help='e.g. "SELECT * FROM genre_mix LIMIT 5"')
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.add_argument("--max-rows", type=int, default=50, help="table format: rows shown")
    sql.add_argument("--tables", action="store_true", help="list the tables and their paths")
    sql.add_argument(
        "--include-personal",
        action="store_true",
        help="also show columns classified high (left out by default); logged in audit/events",
    )
    sql.set_defaults(func=cmd_sql)
    catalog = sub.add_parser(
        "catalog", help="add a catalog CSV (kept in $MOODLAKE_HOME/catalogs.txt) or list them"
    )
    catalog.add_argument("action", choices=["add", "list"])
    catalog.add_argument("file", nargs="?", help="add: the CSV file (a known catalog layout)")
    catalog.set_defaults(func=cmd_catalog)
    args = parser.parse_args(argv)
    return args.func(args)


def entry() -> None:
    """The console script. A finished command exits without interpreter teardown: native
    thread pools (Arrow's, delta-rs's) can abort a process that has done all its work when
    their destructors run at exit (delta-io/delta-rs#2184), turning success into exit 134.
    Worker processes are stopped first: nothing would stop them at such an exit."""
    code = main()
    if parallel := sys.modules.get("moodlake_dagster.ml.parallel"):  # workers may be running
        parallel.stop_workers()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(int(code or 0))


if __name__ == "__main__":
    entry()
