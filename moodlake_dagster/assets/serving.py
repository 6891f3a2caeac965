"""What dashboards read: Gold copied into one DuckDB file after every snapshot."""

import dagster as dg
from deltalake import DeltaTable

from moodlake_dagster import serving
from moodlake_dagster.partitions import daily_partitions, single_run
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import TABLES

GOLD = [table for table in TABLES.values() if table.layer == "gold"]
MATCHES_GOLD = dg.AssetCheckSpec("matches_gold", asset=dg.AssetKey(serving.ASSET_KEY))


@dg.asset(
    key=dg.AssetKey(serving.ASSET_KEY),
    group_name="serving",
    kinds={"duckdb"},
    deps=[table.key for table in GOLD],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    check_specs=[MATCHES_GOLD],
)
def serving_duckdb(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Every Gold table in one DuckDB file (`MOODLAKE_HOME/serving/moodlake.duckdb`), personal
    columns left out: what Superset's dashboard reads, without a query engine beside the lake.
    Replaced whole after each snapshot, so it holds the latest of every table."""
    path = moodlake.settings().serving_file
    rows = serving.export_gold(lake.root, path, lake.storage_options)
    context.log.info(f"{len(rows)} Gold tables, {sum(rows.values())} rows → {path}")
    written = serving.table_rows(path)
    differ = {}
    for table in GOLD:
        if table.name in rows:
            lake_rows = DeltaTable(lake.uri(table), storage_options=lake.storage_options)
            expected = lake_rows.to_pyarrow_dataset().count_rows()
            if written.get(table.name) != expected:
                differ[table.name] = {"file": written.get(table.name), "lake": expected}
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "tables": len(rows),
            "rows": sum(rows.values()),
            "bytes": path.stat().st_size,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="matches_gold",
                passed=not differ,
                metadata={"tables_differing": dg.MetadataValue.json(differ)},
                description="Each table in the file has as many rows as its Gold Delta table.",
            )
        ],
    )
