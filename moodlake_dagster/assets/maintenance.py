"""Housekeeping as an asset: old raw API responses deleted, the lake's files compacted (recent
day partitions left as written), checkpointed and vacuumed, and the run in the audit trail."""

import datetime as dt

import dagster as dg
import pandas as pd

from moodlake_dagster import audit, maintenance
from moodlake_dagster.insights import preview
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import SPOTIFY_API_RESPONSES


def _totals(rows: pd.DataFrame) -> dict[str, int]:
    columns = ["live_files", "data_bytes_on_disk"]
    names = [f"{c}_{when}" for c in columns for when in ("before", "after")] + ["files_vacuumed"]
    return {n: int(rows[n].fillna(0).sum()) if len(rows) else 0 for n in names}


def _tidy_all(context, lake: LakeResource, hot_since: dt.date) -> pd.DataFrame:
    results = []
    tables = maintenance.tables(lake.root)
    for i, (name, uri) in enumerate(tables, 1):
        results.append(
            maintenance.tidy(
                name,
                uri,
                target_file_size=lake.target_file_size,
                retention_hours=lake.vacuum_retention_hours,
                hot_since=hot_since,
                storage_options=lake.storage_options,
            )
        )
        context.log.info(f"{i}/{len(tables)} {name}: {results[-1].summary}")
    return pd.DataFrame(maintenance.as_rows(results))


@dg.asset(group_name="maintenance", kinds={"deltalake"})
def lake_health(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Every table's live files and bytes on disk before and after housekeeping: raw Spotify API
    responses past their retention deleted (Silver keeps the plays), small files compacted
    toward the target size (in day-partitioned tables, only partitions older than the hot
    window), the log checkpointed and cleaned, and files no version within the vacuum retention
    needs removed; recorded in audit/events. Not part of a build; the `lake_maintenance` job
    runs it on a schedule."""
    settings = moodlake.settings()
    today = dt.datetime.now(dt.UTC).date()
    expired_before = today - dt.timedelta(days=max(settings.api_response_retention_days, 0))
    hot_since = today - dt.timedelta(days=max(settings.hot_days, 0))
    expired = maintenance.expire(
        lake.uri(SPOTIFY_API_RESPONSES), "request_date", expired_before, lake.storage_options
    )
    context.log.info(f"{expired} API response row(s) requested before {expired_before} deleted")
    rows = _tidy_all(context, lake, hot_since)
    totals = _totals(rows)
    detail = (
        f"{len(rows)} tables, {totals['live_files_before']} → {totals['live_files_after']} live "
        f"files, {totals['files_vacuumed']} vacuumed; {expired} API response rows requested "
        f"before {expired_before} deleted; day partitions since {hot_since} left as written"
    )
    audit.record_event(
        lake.root,
        "maintenance",
        rows=totals["files_vacuumed"],
        detail=detail,
        storage_options=lake.storage_options,
    )
    return dg.MaterializeResult(
        metadata={
            "tables": len(rows),
            **totals,
            "api_responses_deleted": expired,
            "api_responses_kept_since": expired_before.isoformat(),
            "hot_since": hot_since.isoformat(),
            "retention_hours": lake.vacuum_retention_hours,
            "target_file_mb": lake.target_file_mb,
            "per_table": preview(rows[list(maintenance.SHOWN)], rows=100)
            if len(rows)
            else "no table yet",
        }
    )
