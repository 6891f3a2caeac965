"""A Spark frame brought into Python a slice of listeners at a time.

Per-listener work in pandas (SciPy tests, fits) needs each listener's rows together, not
everyone's at once: collected whole, the Dagster process holds every play of the crowd (10M
plays, gigabytes). In buckets of listeners, by a hash of the pseudonym, it holds about
`ROWS_PER_BUCKET` rows at a time, and the results are the same as long as each listener's
work depends on their own rows only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ROWS_PER_BUCKET = 500_000


def bucket_count(rows: int, per_bucket: int = ROWS_PER_BUCKET) -> int:
    return max(1, math.ceil(rows / per_bucket))


def by_listener(
    frame: DataFrame, rows: int, per_bucket: int = ROWS_PER_BUCKET
) -> Iterator[pd.DataFrame]:
    """`frame` (with `user_id`) as pandas, every listener's rows in one piece; `rows` is about
    how many it holds (an upper bound will do), which sets the number of pieces."""
    n = bucket_count(rows, per_bucket)
    if n == 1:
        yield frame.toPandas()
        return
    bucket = F.pmod(F.xxhash64("user_id"), F.lit(n))
    for b in range(n):
        yield frame.filter(bucket == b).toPandas()
