"""Every model metric in one Delta table, `gold/model_metrics`, to compare retrains."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from moodlake_dagster.tables import MODEL_METRICS


def metric(
    name: str,
    value: float | None,
    *,
    baseline: float | None = None,
    n_eval: int | None = None,
    note: str | None = None,
) -> dict:
    return {"metric": name, "value": value, "baseline": baseline, "n_eval": n_eval, "note": note}


def metrics_table(model: str, as_of: dt.date, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"as_of_date": as_of, "model": model} | row for row in rows], schema=MODEL_METRICS.schema
    )
