"""Bronze: sources as received, plus lineage; bad records quarantined with their reason."""

import datetime as dt

import dagster as dg

from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import empty_result, schema_check_spec, validate
from moodlake_dagster.demo.generator import generate_history
from moodlake_dagster.ingest.api import api_events
from moodlake_dagster.ingest.catalog import parse_catalogs
from moodlake_dagster.ingest.history import events_table, file_accounting, parse_history
from moodlake_dagster.ingest.landing_store import LandingStore
from moodlake_dagster.ingest.records import BadRecord, quarantine_table
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.insights import preview
from moodlake_dagster.partitions import daily_partitions, day_range, single_run
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import CATALOG_TRACKS, LISTENING_EVENTS, SPOTIFY_API_RESPONSES

MAX_LOGGED_PROBLEMS = 25


def _log_problems(context: dg.AssetExecutionContext, bad: list[BadRecord], extra: list[str]):
    for message in [b.message() for b in bad[:MAX_LOGGED_PROBLEMS]] + extra:
        context.log.warning(message)
    if len(bad) > MAX_LOGGED_PROBLEMS:
        context.log.warning(
            f"... and {len(bad) - MAX_LOGGED_PROBLEMS} more; see the quarantine table"
        )


def _files_md(accounting: list[dict]) -> dg.MetadataValue:
    lines = ["| file | format | records | landed, by kind | quarantined | not read because |"]
    lines.append("|---|---|---|---|---|---|")
    for row in accounting:
        kinds = ", ".join(f"{k} {n}" for k, n in row.get("kinds", {}).items())
        lines.append(
            f"| {row['file']} | {row['format'] or '—'} | {row['records']} | {kinds or '—'} "
            f"| {row.get('quarantined', 0)} | {row.get('reason', '')} |"
        )
    return dg.MetadataValue.md("\n".join(lines))


def _quarantine_md(bad: list[BadRecord], rows: int = 10) -> dg.MetadataValue:
    lines = ["| file | record | reason |", "|---|---|---|"]
    lines += [
        f"| {b.source_file} | {b.record_index} | {b.reason.replace('|', '/')} |" for b in bad[:rows]
    ]
    return dg.MetadataValue.md("\n".join(lines) if bad else "nothing quarantined")


@dg.asset(
    key=CATALOG_TRACKS.key,
    group_name=CATALOG_TRACKS.group,
    description=CATALOG_TRACKS.description,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    kinds={"python", "deltalake"},
    check_specs=[schema_check_spec(CATALOG_TRACKS, blocking=True)],
)
def catalog_tracks(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """A later catalog file's rows for a track_id the first has are counted as superseded."""
    start, end = day_range(context)
    settings = moodlake.settings()
    for path in settings.catalogs:
        if not path.is_file():
            raise FileNotFoundError(f"MOODLAKE_CATALOG={path} is not a file")
    inputs = fingerprint(CATALOG_TRACKS, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [CATALOG_TRACKS], inputs):
        return skipped
    now = dt.datetime.now(dt.UTC)
    merged = parse_catalogs(
        settings.catalogs, as_of=end, batch_id=context.run.run_id, ingested_at=now
    )
    table = merged.table
    uri = lake.replace_range(CATALOG_TRACKS, table, start, end, inputs=inputs)
    lake.quarantine(
        "catalog_tracks",
        quarantine_table("catalog_tracks", merged.bad, context.run.run_id, now),
        start,
        end,
    )
    _log_problems(
        context,
        merged.bad,
        [
            f"{f.source_name}: unknown column {c!r} ignored"
            for f in merged.files
            for c in f.unknown_columns
        ]
        + [
            f"{f.source_name}: {f.rows_superseded} row(s) superseded by an earlier catalog file"
            for f in merged.files
            if f.rows_superseded
        ],
    )
    df = table.to_pandas()
    names = ", ".join(str(path) for path in settings.catalogs)
    check = (
        validate(CATALOG_TRACKS.model, df) if len(df) else empty_result(f"no row of {names} landed")
    )
    per_file = [
        {
            "file": f.source_name,
            "layout": f.layout,
            "records_in": f.records_in,
            "rows_landed": f.rows_landed,
            "rows_quarantined": len(f.bad),
            "rows_superseded": f.rows_superseded,
            "source_sha256": f.sha256,
        }
        for f in merged.files
    ]
    files_md = ["| file | layout | records | landed | quarantined | superseded |", "|---" * 6 + "|"]
    files_md += [
        f"| {f['file']} | {f['layout']} | {f['records_in']} | {f['rows_landed']} "
        f"| {f['rows_quarantined']} | {f['rows_superseded']} |"
        for f in per_file
    ]
    return dg.MaterializeResult(
        metadata={
            "table_uri": uri,
            **CATALOG_TRACKS.columns(table.schema),
            "as_of_date": end.isoformat(),
            "records_in": merged.records_in,
            "rows_landed": table.num_rows,
            "rows_quarantined": len(merged.bad),
            "rows_superseded": merged.rows_superseded,
            "catalog_files": dg.MetadataValue.json(per_file),
            "files_read": dg.MetadataValue.md("\n".join(files_md)),
            "unique_track_ids": int(df["track_id"].nunique()) if len(df) else 0,
            "genres": int(df["track_genre"].nunique()) if len(df) else 0,
            "source_sha256": merged.files[0].sha256 if merged.files else "",
            "quarantine_examples": _quarantine_md(merged.bad),
            "preview": preview(df.drop(columns=["_batch_id", "_source_sha256"])),
        },
        check_results=[check],
    )


@dg.asset(
    key=LISTENING_EVENTS.key,
    group_name=LISTENING_EVENTS.group,
    description=LISTENING_EVENTS.description,
    metadata=LISTENING_EVENTS.metadata,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    kinds={"python", "deltalake"},
    deps=[SPOTIFY_API_RESPONSES.key],
    check_specs=[schema_check_spec(LISTENING_EVENTS, blocking=True)],
)
def listening_events(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Reads the export's .zip as well as loose files; user agents are dropped with IPs."""
    start, end = day_range(context)
    settings = moodlake.settings()
    if settings.uses_demo_landing and not settings.landing.exists():
        files = generate_history(settings.catalog, settings.landing)
        context.log.info(
            f"Generated demo listening history ({len(files)} files, labelled "
            f"GENERATED) in {settings.landing}"
        )
    store = LandingStore.of(settings.landing)
    if not store.exists():
        raise FileNotFoundError(f"MOODLAKE_LANDING={settings.landing} is not a folder")
    inputs = fingerprint(LISTENING_EVENTS, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [LISTENING_EVENTS], inputs):
        return skipped
    now = dt.datetime.now(dt.UTC)
    batch = parse_history(
        store,
        key=settings.resolved_pseudonym_key(),
        default_user=settings.default_user,
        now=now,
        batch_id=context.run.run_id,
        ingested_at=now,
    )
    # A play from day D is requested on day D or later: older responses cannot hold it.
    responses = lake.read_rows(SPOTIFY_API_RESPONSES, [("request_date", ">=", start)])
    from_api, bad_api = api_events(responses, now=now, ingested_at=now, batch_id=context.run.run_id)
    events = batch.events + from_api
    in_range = [e for e in events if start <= e["play_date"] <= end]
    bad = [b for b in batch.bad + bad_api if b.record_date is None or start <= b.record_date <= end]
    table = events_table(in_range)
    uri = lake.replace_range(LISTENING_EVENTS, table, start, end, inputs=inputs)
    lake.quarantine(
        "listening_events",
        quarantine_table("listening_events", bad, context.run.run_id, now),
        start,
        end,
    )
    _log_problems(
        context,
        bad,
        batch.unknown_field_messages()
        + [
            f"{f.source_file}: byte-identical to {f.duplicate_of}; its records are quarantined"
            for f in batch.files
            if f.duplicate_of
        ],
    )
    df = table.to_pandas()
    accounting = file_accounting(batch, in_range, bad)
    return dg.MaterializeResult(
        metadata={
            "table_uri": uri,
            "records_in": len(in_range) + len(bad),
            "rows_landed": len(in_range),
            "rows_quarantined": len(bad),
            "records_in_files": batch.records_in,
            "plays_from_api": sum(1 for e in in_range if e["source_format"] == "api"),
            "records_outside_range": batch.records_in
            + len(from_api)
            + len(bad_api)
            - len(in_range)
            - len(bad),
            "files": len(batch.files),
            "duplicate_files": sum(1 for f in batch.files if f.duplicate_of),
            "ignored_files": dg.MetadataValue.json(batch.ignored_files),
            "file_accounting": dg.MetadataValue.json(accounting),
            "files_read": _files_md(accounting),
            "days_with_plays": int(df["play_date"].nunique()) if len(df) else 0,
            "users": int(df["user_id"].nunique()) if len(df) else 0,
            "content_types": dg.MetadataValue.json(
                df["content_type"].value_counts().to_dict() if len(df) else {}
            ),
            "quarantine_examples": _quarantine_md(bad),
            "preview": preview(df.drop(columns=["_batch_id"])),
        },
        check_results=[validate(LISTENING_EVENTS.model, df)],
    )
