"""The platform view of many listeners: their profiles (Bronze, Silver) and the analytics over
them (Gold, in Spark). Profiles come from the operator's `profiles` file in the landing
folder, not from Spotify; without one every table still builds, with listeners of unknown plan
and country."""

import datetime as dt
import functools
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa

from moodlake_dagster import insights, platform_plots, tables
from moodlake_dagster.assets.common import (
    log_problems,
    metadata_on_last_day,
    publish_table,
    table_asset,
)
from moodlake_dagster.assets.in_flight import in_flight
from moodlake_dagster.assets.silver import snapshot_predicate
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import nothing_to_check, schema_check_spec, validate
from moodlake_dagster.ingest import profiles
from moodlake_dagster.ingest.records import quarantine_table
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.partitions import daily_partitions, day_range, single_run
from moodlake_dagster.resources import LakeResource, MoodlakeConfig, SparkConnectResource
from moodlake_dagster.settings import Settings
from moodlake_dagster.storage import empty_frame
from moodlake_dagster.tables import BRONZE_PROFILES, FARM_FLAGS, PLAYS, PROFILES, TRACKS, Table
from moodlake_dagster.transform import platform, prices

KINDS = {"python", "deltalake"}


def profile_files(settings: Settings) -> list[Path]:
    """The operator's profiles files: in a local landing folder's root (none elsewhere)."""
    landing = settings.landing
    return profiles.discover_profile_files(landing) if isinstance(landing, Path) else []


def snapshot_or_empty(lake: LakeResource, table: Table, as_of: dt.date) -> pd.DataFrame:
    """The snapshot as of `as_of`, or no rows (with the table's columns) where there is none."""
    if lake.snapshot_day(table, as_of) is None:
        return table.schema.empty_table().to_pandas()
    return lake.snapshot(table, as_of)


def _profiles_batch(context, settings: Settings, end: dt.date, now: dt.datetime):
    """The operator's profiles files parsed as of `end`; their problems logged."""
    landing = settings.landing if isinstance(settings.landing, Path) else Path(".")
    batch = profiles.parse_profiles(
        profile_files(settings),
        landing=landing,
        key=settings.resolved_pseudonym_key(),
        as_of=end,
        batch_id=context.run.run_id,
        ingested_at=now,
    )
    log_problems(context, batch.bad, batch.problems())
    for note in batch.notes():
        context.log.info(note)
    return batch


@dg.asset(**table_asset(BRONZE_PROFILES, kinds=KINDS, blocking=True))
@metadata_on_last_day
def bronze_profiles(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """A payment-like column is refused whole, by name or by content; the rest still lands."""
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs = fingerprint(BRONZE_PROFILES, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [BRONZE_PROFILES], inputs):
        return skipped
    now = dt.datetime.now(dt.UTC)
    batch = _profiles_batch(context, settings, end, now)
    bad = quarantine_table("bronze_profiles", batch.bad, context.run.run_id, now)
    lake.quarantine("bronze_profiles", bad, start, end)
    refused = {f: ", ".join(c) for f, c in batch.refused_columns.items()}
    metadata = {**batch.totals(), "columns_refused": refused}
    plot = platform_plots.profiles_plot
    result = publish_table(lake, BRONZE_PROFILES, batch.table, (start, end), inputs, plot, metadata)
    if batch.files:
        return result
    why = "no profiles file in the landing folder: listeners have no plan or country"
    check = nothing_to_check(why, asset=BRONZE_PROFILES.key)
    return dg.MaterializeResult(
        asset_key=BRONZE_PROFILES.key, metadata=result.metadata, check_results=[check]
    )


@dg.asset(**table_asset(PROFILES, kinds=KINDS, deps=[BRONZE_PROFILES], blocking=True))
@metadata_on_last_day
def silver_profiles(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Bad rows go to quarantine with the value that made them bad."""
    start, end = day_range(context)
    inputs = fingerprint(PROFILES, lake, moodlake.settings(), start, end)
    if skipped := skip_if_unchanged(context, lake, [PROFILES], inputs):
        return skipped
    now = dt.datetime.now(dt.UTC)
    bronze = pa.Table.from_pandas(
        snapshot_or_empty(lake, BRONZE_PROFILES, end),
        schema=BRONZE_PROFILES.schema,
        preserve_index=False,
    )
    table, bad = profiles.conform_profiles(bronze, as_of=end)
    lake.quarantine(
        "silver_profiles",
        quarantine_table("silver_profiles", bad, context.run.run_id, now),
        start,
        end,
    )
    log_problems(context, bad, [])
    metadata = {"records_in": bronze.num_rows, "records_quarantined": len(bad)}
    return publish_table(
        lake, PROFILES, table, (start, end), inputs, platform_plots.profiles_plot, metadata
    )


# The Silver plays columns the platform tables read; the cache holds these only.
PLAY_COLUMNS = (
    "user_id",
    "local_date",
    "ms_played",
    "skipped",
    "track_id",
    "artist_name",
    "track_name",
)


class PlatformInputs:
    """Every play up to the run's last day, the tracks and profiles as of it, in Spark."""

    def __init__(self, context, lake: LakeResource, spark: SparkConnectResource, settings):
        self.start, self.end = day_range(context)
        self.settings = settings
        session = spark.get_session(context)
        plays = lake.spark(session, PLAYS, f"play_date <= '{self.end}'")
        self.plays = plays.select(*PLAY_COLUMNS).cache()
        self.tracks = lake.spark(session, TRACKS, snapshot_predicate(lake, TRACKS, self.end))
        day = lake.snapshot_day(PROFILES, self.end)
        self.profiles = (
            lake.spark(session, PROFILES, f"as_of_date = '{day}'")
            if day is not None
            else empty_frame(session, PROFILES.schema)
        )
        self.farms = platform_farms(lake, self.end)

    def release(self) -> None:
        self.plays.unpersist()


def platform_farms(lake: LakeResource, as_of: dt.date) -> list[str]:
    """The accounts the stream-farming model flagged as of `as_of` (none before it has run)."""
    flags = snapshot_or_empty(lake, FARM_FLAGS, as_of)
    return sorted(flags["user_id"].astype(str))


def _active(i: PlatformInputs) -> tuple[pa.Table, dict]:
    return platform.active_listeners(i.plays, i.end).toArrow(), {}


def _retention(i: PlatformInputs) -> tuple[pa.Table, dict]:
    return platform.retention_cohorts(i.plays, i.profiles, i.end).toArrow(), {}


def _mix(i: PlatformInputs) -> tuple[pa.Table, dict]:
    price_table = prices.load_prices(i.settings.prices)
    frame = platform.plan_country_mix(i.plays, i.profiles, price_table, i.end)
    source = str(i.settings.prices) if i.settings.prices else "built-in list prices"
    return frame.toArrow(), {"price_table": source}


def _crowd_top(i: PlatformInputs) -> tuple[pa.Table, dict]:
    frame, excluded = platform.crowd_top(
        i.plays, i.tracks, i.end, min_group=i.settings.min_group, exclude_users=i.farms
    )
    return frame.toArrow(), {
        "min_group": i.settings.min_group,
        "farm_accounts_excluded": len(i.farms),
        "farm_plays_excluded": excluded,
    }


@dataclass(frozen=True)
class PlatformTable:
    table: Table
    build: Callable[[PlatformInputs], tuple[pa.Table, dict]]
    plot: Callable[[pd.DataFrame], object]


PLATFORM_TABLES = {
    spec.table.key: spec
    for spec in (
        PlatformTable(tables.ACTIVE_LISTENERS, _active, platform_plots.active_plot),
        PlatformTable(tables.RETENTION_COHORTS, _retention, platform_plots.retention_plot),
        PlatformTable(tables.PLAN_COUNTRY_MIX, _mix, platform_plots.mix_plot),
        PlatformTable(tables.CROWD_TOP, _crowd_top, platform_plots.crowd_top_plot),
    )
}


def _publish(
    lake: LakeResource,
    i: PlatformInputs,
    spec: PlatformTable,
    inputs: str,
    built: tuple[pa.Table, dict],
):
    data, extra = built
    data = data.select(spec.table.schema.names).cast(spec.table.schema)
    uri = lake.replace_range(spec.table, data, i.start, i.end, inputs=inputs)
    df = data.to_pandas()
    metadata = {
        **lake.written(spec.table, uri),
        "rows": len(df),
        "as_of_date": i.end.isoformat(),
        **spec.table.columns(data.schema),
        **extra,
    }
    if len(df):
        metadata["preview"] = insights.preview(df.drop(columns=["as_of_date"]))
        metadata["plot"] = insights.figure_md(spec.plot(df), spec.table.name)
        check = validate(spec.table.model, df, asset=spec.table.key)
    else:
        check = nothing_to_check(f"{spec.table} has no rows as of {i.end}", spec.table.key)
    return dg.MaterializeResult(asset_key=spec.table.key, metadata=metadata, check_results=[check])


@dg.multi_asset(
    name="platform_tables",
    specs=[
        dg.AssetSpec(
            spec.table.key,
            group_name=spec.table.group,
            description=spec.table.description,
            metadata=spec.table.metadata,
            tags={"pii": spec.table.pii},
            deps=[dep.key for dep in spec.table.reads],
            kinds={"spark", "deltalake"},
            partitions_def=daily_partitions,
            skippable=True,
        )
        for spec in PLATFORM_TABLES.values()
    ],
    check_specs=[
        schema_check_spec(spec.table, blocking=False) for spec in PLATFORM_TABLES.values()
    ],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    can_subset=True,
    pool="spark",
)
@metadata_on_last_day
def platform_tables(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    spark: SparkConnectResource,
    moodlake: MoodlakeConfig,
):
    """The platform tables selected for this run, as of the run's last day, from one read."""
    start, end = day_range(context)
    settings = moodlake.settings()
    selected = [PLATFORM_TABLES[key] for key in context.selected_asset_keys]
    prints = {s.table: fingerprint(s.table, lake, settings, start, end) for s in selected}
    unchanged = [
        skip_if_unchanged(context, lake, [s.table], prints[s.table], asset=s.table)
        for s in selected
    ]
    if all(unchanged):
        yield from unchanged
        return
    inputs = PlatformInputs(context, lake, spark, settings)
    try:
        yield from (skipped for skipped in unchanged if skipped)
        changed = [s for s, skipped in zip(selected, unchanged, strict=True) if not skipped]
        built = in_flight((spec, functools.partial(spec.build, inputs)) for spec in changed)
        # Closed before the release: the queries still in flight finish or are cancelled first.
        with closing(built):
            for spec, rows in built:
                yield _publish(lake, inputs, spec, prints[spec.table], rows)
    finally:
        inputs.release()
