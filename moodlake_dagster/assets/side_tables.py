"""Tables written beside others: the quarantine, the model metrics and the audit trail.

Each writer replaces only its own rows (its asset's quarantined records, its model's metrics),
so no single step owns the table. They are shown in the graph downstream of their writers,
never materialized on their own, and their Pandera check runs on demand over the whole table.
"""

from __future__ import annotations

import dagster as dg

from moodlake_dagster import tables as t
from moodlake_dagster.checks import CHECK_NAME, nothing_to_check, validate
from moodlake_dagster.resources import LakeResource

QUARANTINE_WRITERS = (t.CATALOG_TRACKS, t.LISTENING_EVENTS)
METRICS_WRITERS = (t.TRACK_MOODS, t.LISTENING_MODES, t.PREFERENCE_MODEL, t.ALS_RECOMMENDATIONS)
METRICS_WRITERS += (t.RECOMMENDATIONS,)


def _spec(table: t.Table, writers: tuple[t.Table, ...]) -> dg.AssetSpec:
    return dg.AssetSpec(
        table.key,
        group_name=table.group,
        description=table.description,
        metadata=table.metadata,
        tags={"pii": table.pii},
        deps=[writer.key for writer in writers],
        kinds={"deltalake"},
    )


quarantine = _spec(t.QUARANTINE, QUARANTINE_WRITERS)
model_metrics = _spec(t.MODEL_METRICS, METRICS_WRITERS)
# Appended by commands (export, erase, disconnect, …) and lake_health, not by a build.
audit_events = _spec(t.AUDIT_EVENTS, ())


def _check(table: t.Table, lake: LakeResource) -> dg.AssetCheckResult:
    if not lake.exists(table):
        return nothing_to_check(f"{table} does not exist yet: nothing written to it")
    return validate(table.model, lake.frame(table))


@dg.asset_check(asset=t.QUARANTINE.key, name=CHECK_NAME, description="Pandera model Quarantine")
def quarantine_schema(lake: LakeResource) -> dg.AssetCheckResult:
    return _check(t.QUARANTINE, lake)


@dg.asset_check(
    asset=t.MODEL_METRICS.key, name=CHECK_NAME, description="Pandera model ModelMetrics"
)
def model_metrics_schema(lake: LakeResource) -> dg.AssetCheckResult:
    return _check(t.MODEL_METRICS, lake)


@dg.asset_check(asset=t.AUDIT_EVENTS.key, name=CHECK_NAME, description="Pandera model AuditEvents")
def audit_events_schema(lake: LakeResource) -> dg.AssetCheckResult:
    return _check(t.AUDIT_EVENTS, lake)
