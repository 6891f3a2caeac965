"""Insights in words: the sentences the Gold tables support, per listener, as of the run's day."""

import dagster as dg
import pyarrow as pa

from moodlake_dagster import trend_plots
from moodlake_dagster.assets.common import metadata_on_last_day, publish_table, table_asset
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource
from moodlake_dagster.storage import MissingTableError
from moodlake_dagster.tables import INSIGHTS
from moodlake_dagster.transform import sentences


@dg.asset(
    **table_asset(INSIGHTS, kinds={"scipy", "deltalake"}, deps=INSIGHTS.reads, blocking=False)
)
@metadata_on_last_day
def insights(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Small Gold snapshots in, a few sentences out: delta-rs and pandas, no Spark."""
    start, end = day_range(context)
    inputs = fingerprint(INSIGHTS, lake, None, start, end)
    if skipped := skip_if_unchanged(context, lake, [INSIGHTS], inputs):
        return skipped
    sources = {}
    for table in INSIGHTS.reads:
        try:
            sources[table.path] = lake.snapshot(table, end)
        except MissingTableError as missing:
            context.log.warning(f"{missing}: no sentences from it")
    frame = sentences.insights(sources, end)
    table = pa.Table.from_pandas(frame, schema=INSIGHTS.schema, preserve_index=False)
    extra = {
        "listeners": int(frame["user_id"].nunique()),
        "by_kind": {k: int(n) for k, n in frame["kind"].value_counts().items()},
    }
    if len(frame):
        extra["preview"] = trend_plots.sentences_md(frame)
    return publish_table(
        lake, INSIGHTS, table, (start, end), inputs, trend_plots.insights_plot, extra
    )
