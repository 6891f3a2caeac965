"""Housekeeping as an asset: the lake's files, compacted, checkpointed and vacuumed."""

import dagster as dg
import pandas as pd

from moodlake_dagster import maintenance
from moodlake_dagster.insights import preview
from moodlake_dagster.resources import LakeResource


@dg.asset(group_name="maintenance", kinds={"deltalake"})
def lake_health(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Every table's live files and bytes on disk before and after housekeeping: small files
    compacted toward the target size, the log checkpointed and cleaned, and files no version
    within the retention needs vacuumed. Not part of a build; the `lake_maintenance` job runs
    it on a schedule."""
    results = []
    tables = maintenance.tables(lake.root)
    for i, (name, uri) in enumerate(tables, 1):
        results.append(
            maintenance.tidy(
                name,
                uri,
                target_file_size=lake.target_file_size,
                retention_hours=lake.vacuum_retention_hours,
                storage_options=lake.storage_options,
            )
        )
        context.log.info(f"{i}/{len(tables)} {name}: {results[-1].summary}")
    rows = pd.DataFrame(maintenance.as_rows(results))
    total = (lambda col: int(rows[col].fillna(0).sum())) if len(rows) else (lambda col: 0)
    return dg.MaterializeResult(
        metadata={
            "tables": len(rows),
            "live_files_before": total("live_files_before"),
            "live_files_after": total("live_files_after"),
            "data_bytes_on_disk_before": total("data_bytes_on_disk_before"),
            "data_bytes_on_disk_after": total("data_bytes_on_disk_after"),
            "files_vacuumed": total("files_vacuumed"),
            "retention_hours": lake.vacuum_retention_hours,
            "target_file_mb": lake.target_file_mb,
            "per_table": preview(rows[list(maintenance.SHOWN)], rows=100)
            if len(rows)
            else "no table yet",
        }
    )
