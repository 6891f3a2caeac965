"""What a model run hands back to its asset: rows, metrics, the fitted model, and the figures
worth a look. Plain data, so the training code in ml/ stays free of Dagster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


@dataclass
class ModelOutput:
    rows: pa.Table  # the model table's rows, in the catalog entry's schema
    # model_metrics rows per model name; a name absent is left as it was, [] clears its rows
    metrics: dict[str, list[dict]] = field(default_factory=dict)
    store_name: str | None = None  # the model store's name for `artifact`
    artifact: Any = None  # what the model store keeps (None: nothing stored)
    card: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)  # plain figures for the UI
    figures: dict[str, tuple[Any, str]] = field(default_factory=dict)  # key → (figure, alt)
    empty_reason: str = "nothing to check"  # why the table may hold no row
