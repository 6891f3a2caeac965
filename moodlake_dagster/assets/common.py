"""What every table asset shares: the decorator arguments its catalog entry gives, and the
ending every model asset has (table written, metrics recorded, model stored, figures drawn,
Pandera check run)."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pyarrow as pa

from moodlake_dagster.checks import (
    nothing_to_check,
    schema_check_spec,
    unique_keys,
    validate,
    validate_batches,
)
from moodlake_dagster.ingest.records import BadRecord
from moodlake_dagster.insights import figure_md, preview
from moodlake_dagster.ml.metrics import metrics_table
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.ml.store import ModelStore
from moodlake_dagster.partitions import daily_partitions, single_run
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.storage import range_predicate
from moodlake_dagster.tables import MODEL_METRICS, Table

ML_KINDS = {"scikitlearn", "deltalake"}
AUC_CHECK = "auc_bar"
MAX_LOGGED_PROBLEMS = 25  # bad records named in a run's log; all of them go to quarantine


def table_asset(
    table: Table,
    *,
    kinds: set[str],
    deps: Sequence[Table] = (),
    blocking: bool,
    checks: Mapping[str, str] | None = None,  # further checks: name → what each holds
    spark: bool = False,
) -> dict:
    """The @dg.asset arguments of a table's asset: key, group, description, columns and `pii`
    tag from its catalog entry; the daily partitions, run as one range; its Pandera check (blocking
    ones hold back the next layer) and any others; the Spark pool where it uses Spark."""
    return {
        "key": table.key,
        "group_name": table.group,
        "description": table.description,
        "metadata": table.metadata,
        "tags": {"pii": table.pii},
        "partitions_def": daily_partitions,
        "backfill_policy": single_run,
        "kinds": kinds,
        "deps": [dep.key for dep in deps],
        "check_specs": [
            schema_check_spec(table, blocking=blocking),
            *(
                dg.AssetCheckSpec(name, asset=table.key, description=d)
                for name, d in (checks or {}).items()
            ),
        ],
        **({"pool": "spark"} if spark else {}),
    }


def _on_last_day(context: dg.AssetExecutionContext, item):
    """A result of a run over several days with its metadata moved onto the last day."""
    if not isinstance(item, dg.MaterializeResult) or not item.metadata:
        return item
    if not context.has_partition_key_range:
        return item
    keys = context.partition_keys
    if len(keys) < 2:
        return item
    context.add_asset_metadata(
        dict(item.metadata), asset_key=item.asset_key or context.asset_key, partition_key=keys[-1]
    )
    return dg.MaterializeResult(
        asset_key=item.asset_key,
        metadata={"days": f"{keys[0]} … {keys[-1]}", "metadata_on": keys[-1]},
        check_results=item.check_results,
        data_version=item.data_version,
        tags=item.tags,
    )


def metadata_on_last_day(fn):
    """Record a ranged run's metadata once, on its last day.

    Dagster copies a result's metadata onto the materialization of every day of the range; a
    build over five years wrote 1,880 copies of each preview and plot (47 KB an event, half a
    GB of SQLite and most of the events stage). The last day's materialization is the asset's
    latest, which the UI, the build summary and versions.py read; every other day of the range
    still shows as materialized, with the range and where its metadata is."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def each(context, *args, **kwargs):
            for item in fn(context, *args, **kwargs):
                yield _on_last_day(context, item)

        return each

    @functools.wraps(fn)
    def one(context, *args, **kwargs):
        return _on_last_day(context, fn(context, *args, **kwargs))

    return one


def publish_table(
    lake: LakeResource,
    table: Table,
    data: pa.Table,
    days: tuple[dt.date, dt.date],
    inputs: str,
    plot: Callable[[pd.DataFrame], object] | None = None,
    metadata: Mapping | None = None,
) -> dg.MaterializeResult:
    """Write a table over the run's days; show its rows, columns and plot; run its check."""
    start, end = days
    uri = lake.replace_range(table, data, start, end, inputs=inputs)
    frame = data.to_pandas()
    shown = {**lake.written(table, uri), "rows": len(frame), **table.columns(data.schema)}
    shown |= metadata or {}
    if len(frame):
        shown["preview"] = shown.get("preview") or preview(
            frame.drop(columns=["as_of_date"], errors="ignore")
        )
        if plot is not None:
            shown["plot"] = figure_md(plot(frame), table.name)
        check = validate(table.model, frame, asset=table.key)
    else:
        check = nothing_to_check(f"{table} has no rows as of {end}", asset=table.key)
    return dg.MaterializeResult(asset_key=table.key, metadata=shown, check_results=[check])


@dataclass
class CheckedRange:
    """A written range's Pandera check, and its first rows for the preview."""

    check: dg.AssetCheckResult
    head: pd.DataFrame


def check_written(
    lake: LakeResource,
    session,
    table: Table,
    start: dt.date,
    end: dt.date,
    each: Callable[[pd.DataFrame], None] | None = None,
) -> CheckedRange:
    """Check a range Spark wrote, reading it back a batch at a time: this process holds one
    batch, never the range. What the model wants unique is counted in Spark, across it.
    `each` sees every batch too (figures added up in the same pass)."""
    duplicates = {
        ", ".join(key): lake.spark(session, table, range_predicate(table.partition, start, end))
        .groupBy(*key)
        .count()
        .filter("count > 1")
        .count()
        for key in unique_keys(table.model)
    }
    head = None

    def batches():
        nonlocal head
        for frame in lake.batches(table, start, end):
            head = frame.head(10) if head is None else head
            if each is not None:
                each(frame)
            yield frame
        if head is None:  # an empty range is still checked for its columns and their types
            head = lake.arrow_schema(table).empty_table().to_pandas()
            yield head

    check = validate_batches(table.model, batches(), asset=table.key, duplicates=duplicates)
    return CheckedRange(check, head)


def model_store(moodlake: MoodlakeConfig) -> ModelStore:
    return ModelStore(moodlake.settings().home / "models")


def record_metrics(lake: LakeResource, model: str, as_of: dt.date, rows: list[dict]) -> None:
    """Replace `model`'s rows of gold/model_metrics for the day (none: its rows go)."""
    lake.replace_range(
        MODEL_METRICS, metrics_table(model, as_of, rows), as_of, as_of, where=f"model = '{model}'"
    )


def publish_model(
    lake: LakeResource,
    moodlake: MoodlakeConfig,
    table: Table,
    out: ModelOutput,
    days: tuple[dt.date, dt.date],
    inputs: str,
    checks: Sequence[dg.AssetCheckResult] = (),
    parts: Mapping[str, str] | None = None,
) -> dg.MaterializeResult:
    """Write a model run's table, metrics and model; say what it did in the UI."""
    start, end = days
    uri = lake.replace_range(table, out.rows, start, end, inputs=inputs, parts=parts)
    for model, rows in out.metrics.items():
        record_metrics(lake, model, end, rows)
    metadata = {**lake.written(table, uri), **table.columns(out.rows.schema), **out.metadata}
    if out.artifact is not None:
        folder = model_store(moodlake).save(out.store_name, end, out.artifact, card=out.card)
        metadata["model_path"] = str(folder)
    metadata |= {key: figure_md(fig, alt) for key, (fig, alt) in out.figures.items()}
    frame = out.rows.to_pandas()
    if len(frame) and "preview" not in metadata:
        metadata["preview"] = preview(frame.drop(columns=["as_of_date"], errors="ignore"))
    if len(frame):
        schema = validate(table.model, frame, asset=table.key)
    else:
        schema = nothing_to_check(out.empty_reason, asset=table.key)
    return dg.MaterializeResult(
        asset_key=table.key, metadata=metadata, check_results=[schema, *checks]
    )


def log_problems(context: dg.AssetExecutionContext, bad: list[BadRecord], extra: list[str]):
    """Each bad record (the first 25) and problem in the run's log; the rest in quarantine."""
    for message in [b.message() for b in bad[:MAX_LOGGED_PROBLEMS]] + extra:
        context.log.warning(message)
    if len(bad) > MAX_LOGGED_PROBLEMS:
        context.log.warning(
            f"... and {len(bad) - MAX_LOGGED_PROBLEMS} more; see the quarantine table"
        )
