"""Pandera models run as Dagster asset checks."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

CHECK_NAME = "pandera_schema"
MAX_EXAMPLES = 10


def nothing_to_check(reason: str, asset: str | None = None) -> dg.AssetCheckResult:
    """A passed check for a run that rightly wrote nothing (the reason says why)."""
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=CHECK_NAME,
        passed=True,
        metadata={"reason": reason},
        description=reason,
    )


def empty_result(reason: str) -> dg.AssetCheckResult:
    """A failed check for a table that should have rows and has none."""
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"reason": reason},
        description=reason,
    )


def schema_check_spec(table, *, blocking: bool) -> dg.AssetCheckSpec:
    """The check spec a table's asset declares (its catalog entry names the Pandera model);
    blocking ones stop bad data reaching the next layer."""
    return dg.AssetCheckSpec(
        CHECK_NAME,
        asset=table.key,
        blocking=blocking,
        description=f"Pandera model {table.model.__name__}: types, ranges and table rules"
        + (" (blocking: downstream assets wait for a pass)" if blocking else ""),
    )


def validate(
    model: type[pa.DataFrameModel], df: pd.DataFrame, asset: str | None = None
) -> dg.AssetCheckResult:
    """Validate every row lazily and report failure counts and examples as metadata.

    `asset` names the checked asset where a step materializes several (a multi-asset).
    """
    metadata: dict = {"rows_checked": len(df), "model": model.__name__}
    try:
        model.validate(df, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        by_check = cases.groupby("check", dropna=False).size().sort_values(ascending=False)
        examples = cases.head(MAX_EXAMPLES)[["column", "check", "failure_case", "index"]]
        metadata |= {
            "failure_count": len(cases),
            "failing_checks": dg.MetadataValue.json({str(k): int(v) for k, v in by_check.items()}),
            "examples": dg.MetadataValue.md(examples.astype(str).to_markdown(index=False)),
        }
        return dg.AssetCheckResult(
            asset_key=asset,
            check_name=CHECK_NAME,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=metadata,
            description=f"{len(cases)} failure(s) of {model.__name__}",
        )
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=CHECK_NAME,
        passed=True,
        metadata=metadata | {"failure_count": 0},
    )
