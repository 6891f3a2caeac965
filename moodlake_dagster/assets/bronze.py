"""Bronze: sources as received, plus lineage; bad records quarantined with their reason."""

import datetime as dt

import dagster as dg

from moodlake_dagster.assets.common import log_problems, metadata_on_last_day, table_asset
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import empty_result, validate, validate_arrow
from moodlake_dagster.demo.landing import ensure_demo_landing
from moodlake_dagster.ingest import catalog, file_summaries, history
from moodlake_dagster.ingest.api import api_events, carry_over_api_rows
from moodlake_dagster.ingest.landing_store import LandingStore
from moodlake_dagster.ingest.records import BadRecord, quarantine_table
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.insights import catalog_files_md, files_read_md, preview, quarantine_md
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.settings import Settings
from moodlake_dagster.tables import CATALOG_TRACKS, LISTENING_EVENTS, SPOTIFY_API_RESPONSES

KINDS = {"python", "deltalake"}


def _landing(context: dg.AssetExecutionContext, settings: Settings) -> LandingStore:
    """The landing folder, with a generated demo history the first time the demo runs."""
    if generated := ensure_demo_landing(settings):
        context.log.info(generated)
    store = LandingStore.of(settings.landing)
    if not store.exists():
        raise FileNotFoundError(f"MOODLAKE_LANDING={settings.landing} is not a folder")
    return store


def _api_plays(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    days: tuple[dt.date, dt.date],
    now: dt.datetime,
) -> tuple[list[dict], list[BadRecord], int]:
    """The Web API plays of the run's days, its bad items, and how many plays were carried over:
    derived from the raw responses still kept, plus the Bronze API rows of days whose
    responses maintenance may have deleted and no kept response holds (`carry_over_api_rows`).
    """
    start, end = days
    # A play from day D is requested on day D or later: older responses cannot hold it.
    responses = lake.read_rows(SPOTIFY_API_RESPONSES, [("request_date", ">=", start)])
    derived, bad = api_events(responses, now=now, ingested_at=now, batch_id=context.run.run_id)
    kept = lake.partition_days(SPOTIFY_API_RESPONSES)
    kept_since = kept[0] if kept else None
    if kept_since is not None and kept_since <= start:
        return derived, bad, 0  # every play of the run's days is in a kept response
    before = min(end + dt.timedelta(days=1), kept_since or dt.date.max)
    stored = lake.read_rows(
        LISTENING_EVENTS,
        [("source_format", "=", "api"), ("play_date", ">=", start), ("play_date", "<", before)],
    )
    # Carried rows keep their own _batch_id and _ingested_at: that run ingested them, from
    # responses this run can no longer read; their _source_file still names that response.
    carried = carry_over_api_rows(history.events_table(stored), derived, kept_since)
    if carried.num_rows:
        context.log.info(
            f"{carried.num_rows} API play(s) before {kept_since or 'today'} kept from Bronze: "
            "their raw responses have expired"
        )
    return derived + carried.to_pylist(), bad, carried.num_rows


@dg.asset(**table_asset(CATALOG_TRACKS, kinds=KINDS, blocking=True))
@metadata_on_last_day
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
    merged = catalog.parse_catalogs(
        settings.catalogs, as_of=end, batch_id=context.run.run_id, ingested_at=now
    )
    uri = lake.replace_range(CATALOG_TRACKS, merged.table, start, end, inputs=inputs)
    bad = quarantine_table("catalog_tracks", merged.bad, context.run.run_id, now)
    lake.quarantine("catalog_tracks", bad, start, end)
    log_problems(context, merged.bad, merged.problems())
    df = merged.table.to_pandas()
    names = ", ".join(str(path) for path in settings.catalogs)
    check = (
        validate(CATALOG_TRACKS.model, df) if len(df) else empty_result(f"no row of {names} landed")
    )
    files = merged.accounting()
    return dg.MaterializeResult(
        metadata={
            **lake.written(CATALOG_TRACKS, uri),
            **CATALOG_TRACKS.columns(merged.table.schema),
            "as_of_date": end.isoformat(),
            **merged.totals(),
            "catalog_files": files,
            "files_read": catalog_files_md(files),
            **catalog.landed_counts(df),
            "source_sha256": merged.source_sha256,
            "quarantine_examples": quarantine_md(merged.bad),
            "preview": preview(df.drop(columns=["_batch_id", "_source_sha256"])),
        },
        check_results=[check],
    )


@dg.asset(**table_asset(LISTENING_EVENTS, kinds=KINDS, deps=[SPOTIFY_API_RESPONSES], blocking=True))
@metadata_on_last_day
def listening_events(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Reads the export's .zip as well as loose files; user agents are dropped with IPs. API
    plays of days whose raw responses have expired are kept from the table as they stand."""
    start, end = day_range(context)
    settings = moodlake.settings()
    store = _landing(context, settings)
    inputs = fingerprint(LISTENING_EVENTS, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [LISTENING_EVENTS], inputs):
        return skipped
    now = dt.datetime.now(dt.UTC)
    batch = history.parse_history(
        store,
        key=settings.resolved_pseudonym_key(),
        default_user=settings.default_user,
        now=now,
        batch_id=context.run.run_id,
        ingested_at=now,
        start=start,
        end=end,
        summaries=file_summaries.kept_at(settings.landing_summaries),
    )
    from_api, bad_api, carried = _api_plays(context, lake, (start, end), now)
    run = history.HistoryRun(batch, from_api, bad_api, start, end)
    uri = lake.replace_range(LISTENING_EVENTS, run.table, start, end, inputs=inputs)
    bad = quarantine_table("listening_events", run.bad, context.run.run_id, now)
    lake.quarantine("listening_events", bad, start, end)
    log_problems(context, run.bad, run.problems())
    accounting = run.accounting()
    return dg.MaterializeResult(
        metadata={
            **lake.written(LISTENING_EVENTS, uri),
            **run.totals(),
            "api_plays_carried_over": carried,
            "file_accounting": accounting,
            "files_read": files_read_md(accounting),
            **history.landed_counts(run.table),
            "quarantine_examples": quarantine_md(run.bad),
            "preview": preview(run.table.slice(0, 10).drop_columns(["_batch_id"]).to_pandas()),
        },
        check_results=[validate_arrow(LISTENING_EVENTS.model, run.table)],
    )
