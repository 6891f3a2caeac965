"""Pandera models run as Dagster asset checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

CHECK_NAME = "pandera_schema"
MAX_EXAMPLES = 10
ARROW_SLICE_ROWS = 50_000


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
    return validate_batches(model, [df], asset=asset)


def validate_batches(
    model: type[pa.DataFrameModel],
    frames: Iterable[pd.DataFrame],
    asset: str | None = None,
    duplicates: Mapping[str, int] | None = None,
) -> dg.AssetCheckResult:
    """`validate` over a table read batch by batch, so memory stays that of one batch.

    A batch sees only its own rows: a column that must be unique across the table is checked
    where the table lives (Spark) and its duplicate count passed in `duplicates`.
    """
    rows, found = 0, []
    for frame in frames:
        try:
            model.validate(frame, lazy=True)
        except SchemaErrors as err:
            found.append(_offset(err.failure_cases, rows))
        rows += len(frame)
    for column, count in (duplicates or {}).items():
        if count:
            found.append(
                pd.DataFrame(
                    {
                        "column": [column],
                        "check": ["field_uniqueness (across the table)"],
                        "failure_case": [f"{count} value(s) held by more than one row"],
                        "index": [None],
                    }
                )
            )
    metadata: dict = {"rows_checked": rows, "model": model.__name__}
    if not found:
        return dg.AssetCheckResult(
            asset_key=asset,
            check_name=CHECK_NAME,
            passed=True,
            metadata=metadata | {"failure_count": 0},
        )
    cases = pd.concat(found, ignore_index=True)
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


def validate_arrow(
    model: type[pa.DataFrameModel],
    table: pyarrow.Table,
    asset: str | None = None,
    rows: int = ARROW_SLICE_ROWS,
) -> dg.AssetCheckResult:
    """`validate` over an Arrow table a slice at a time: pandas holds one slice, never the
    table. What the model wants unique is counted in Arrow, across the table."""
    duplicates = {}
    for key in unique_keys(model):
        counts = table.group_by(list(key)).aggregate([([], "count_all")])["count_all"]
        duplicates[", ".join(key)] = pc.sum(pc.greater(counts, 1)).as_py() or 0
    # Slices of `rows` rows whatever the table's chunks (a chunk per landing file would make
    # as many small validations, each with Pandera's fixed cost); an empty table is still
    # checked for its columns and their types.
    slices = (table.slice(at, rows).to_pandas() for at in range(0, table.num_rows, rows))
    slices = slices if table.num_rows else [table.to_pandas()]
    return validate_batches(model, slices, asset=asset, duplicates=duplicates)


def _offset(cases: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Failure cases of a later batch, their row numbers counted from the table's first row
    (a table-wide check has none). The caller's frame is left as it was."""
    if not rows:
        return cases
    shifted = cases["index"].map(lambda i: i + rows if isinstance(i, int | np.integer) else i)
    return cases.assign(index=shifted)


def unique_keys(model: type[pa.DataFrameModel]) -> list[tuple[str, ...]]:
    """What a model says is unique, to check across a table read in batches: each column
    marked unique, and the columns its Config names unique together."""
    schema = model.to_schema()
    keys = [(name,) for name, column in schema.columns.items() if column.unique]
    together = [schema.unique] if isinstance(schema.unique, str) else schema.unique
    return keys + ([tuple(together)] if together else [])
