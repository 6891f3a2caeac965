"""The no-op path every writing asset shares: nothing new in, nothing written.

A skipped asset still reports its checks: each one's last evaluation, replayed, because the
data it judged is the data that stands. Where no earlier evaluation can be found (another
Dagster instance wrote the table), the asset writes after all and is checked afresh.
"""

from __future__ import annotations

import dagster as dg

from moodlake_dagster import fingerprints
from moodlake_dagster.resources import LakeResource
from moodlake_dagster.tables import Table


def _replayed_checks(context: dg.AssetExecutionContext, asset: dg.AssetKey):
    """The latest evaluation of each of the asset's selected checks (None if one is missing)."""
    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus as Status,
    )

    keys = [k for k in context.selected_asset_check_keys if k.asset_key == asset]
    storage = context.instance.event_log_storage
    results = []
    for key in keys:
        # This run has planned the check already: the evaluation to replay is a finished one.
        finished = storage.get_asset_check_execution_history(
            key, limit=1, status={Status.SUCCEEDED, Status.FAILED}
        )
        event = finished[0].event if finished else None
        evaluation = (
            event.dagster_event.event_specific_data if event and event.dagster_event else None
        )
        if evaluation is None or not hasattr(evaluation, "passed"):
            return None
        results.append(
            dg.AssetCheckResult(
                asset_key=asset,
                check_name=key.name,
                passed=evaluation.passed,
                severity=evaluation.severity,
                metadata=dict(evaluation.metadata) | {"replayed": True},
                description="Same data as its last evaluation: "
                + (evaluation.description or ("passed" if evaluation.passed else "failed")),
            )
        )
    return results


def skip_if_unchanged(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    tables: list[Table],
    inputs: str,
    asset: Table | None = None,
) -> dg.MaterializeResult | None:
    """A result saying the tables stand as written, if every one recorded these inputs.

    `asset` names the table whose asset reports it, where a step materializes several."""
    if context.run.tags.get(fingerprints.FORCE_TAG) == "true":
        return None
    if not all(lake.recorded(t) == inputs for t in tables):
        return None
    key = asset.key if asset else context.asset_key
    checks = _replayed_checks(context, key)
    if checks is None:
        return None
    versions = {t.path: lake.data_version(t) for t in tables}
    context.log.info(f"{', '.join(t.path for t in tables)}: inputs unchanged; nothing written")
    return dg.MaterializeResult(
        asset_key=asset.key if asset else None,
        metadata={
            "unchanged": True,
            "inputs_fingerprint": inputs,
            "table_versions": dg.MetadataValue.json(versions),
            # The version it stands at, as a write records it: readers compare (versions.py).
            fingerprints.WRITTEN_VERSION: versions[(asset or tables[0]).path],
        },
        check_results=checks,
    )
