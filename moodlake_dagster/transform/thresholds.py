"""Feature split points that separate skipping or finishing a track, per listener (pandas/SciPy).
A split is chosen on half of a listener's tracks and tested on the other half, because testing
where a gap was maximised overstates it (selection bias); p is the chance of a held-out gap this
large with no real effect. Uncorrected: the insights layer applies Benjamini–Hochberg per listener.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import special

from moodlake_dagster.vocabulary import AUDIO_FEATURES

OUTCOMES = ("skipped", "completion")
# Candidate split points: the discovery half's values at these quantiles.
QUANTILES = np.round(np.arange(1, 10) / 10, 1)
# Plays each side of a split needs, on the discovery half to be a candidate and on the held-out
# half to be tested.
MIN_SIDE = 30
TEST = "Mann-Whitney U on held-out tracks"

KEY = ["user_id", "feature", "outcome"]
COLUMNS = [
    "user_id",
    "feature",
    "outcome",
    "split_point",
    "n_discovery",
    "n_above",
    "n_below",
    "rate_above",
    "rate_below",
    "difference",
    "relative_difference",
    "effect_size",
    "p_value",
    "test",
    "note",
    "as_of_date",
]
_FLOATS = [
    "split_point",
    "rate_above",
    "rate_below",
    "difference",
    "relative_difference",
    "effect_size",
    "p_value",
]

NO_CANDIDATE = f"no candidate split point leaves {MIN_SIDE} discovery plays on each side"
FEW_HELD_OUT = f"fewer than {MIN_SIDE} held-out plays on a side"
CONSTANT = "the outcome is the same for every held-out play"


def track_halves(track_ids: pd.Series) -> np.ndarray:
    """Each play's half: crc32(track_id) % 2, 0 = discovery and 1 = held out (−1: no track_id).

    The split is by track, not by play, because plays of one track are correlated: a track's
    plays all land on one side. crc32 rather than hash() keeps it the same in every process.
    """
    codes, uniques = pd.factorize(track_ids)
    by_track = np.fromiter(
        (zlib.crc32(str(t).encode()) % 2 for t in uniques), dtype=np.int8, count=len(uniques)
    )
    return np.where(codes >= 0, by_track[codes], -1)


def _as_float(values: pd.Series) -> np.ndarray:
    """Booleans as 0/1 and missing values as NaN."""
    return values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _best_split(x_sorted: np.ndarray, y_sorted: np.ndarray) -> float | None:
    """The candidate split point whose discovery means differ most in standard errors (ties:
    the lower one). Standardising keeps a thin tail's noisy gap from winning over a real one.

    x_sorted is ascending; above a split s is x > s, below x <= s.
    """
    n = len(x_sorted)
    if n < 2 * MIN_SIDE:
        return None
    # inverted_cdf: the quantiles are values that occur in the data.
    candidates = np.unique(np.quantile(x_sorted, QUANTILES, method="inverted_cdf"))
    n_below = np.searchsorted(x_sorted, candidates, side="right")
    n_above = n - n_below
    keep = (n_below >= MIN_SIDE) & (n_above >= MIN_SIDE)
    if not keep.any():
        return None
    candidates, n_below, n_above = candidates[keep], n_below[keep], n_above[keep]
    cumulative = np.concatenate(([0.0], np.cumsum(y_sorted)))
    sum_below = cumulative[n_below]
    gap = np.abs((cumulative[n] - sum_below) / n_above - sum_below / n_below)
    # The outcome's spread is the same for every candidate: only the sides' sizes differ.
    standardised = gap / np.sqrt(1 / n_above + 1 / n_below)
    return float(
        candidates[np.argmax(standardised)]
    )  # argmax: the first, i.e. lowest, of equal gaps


def _held_out(x: np.ndarray, y: np.ndarray, split: float) -> dict:
    """Rates, difference and the Mann–Whitney U test of the outcome above vs below the split."""
    above_mask = x > split
    above, below = y[above_mask], y[~above_mask]
    n_above, n_below = len(above), len(below)
    row: dict = {"n_above": n_above, "n_below": n_below}
    rate_above = float(above.mean()) if n_above else None
    rate_below = float(below.mean()) if n_below else None
    row["rate_above"], row["rate_below"] = rate_above, rate_below
    if rate_above is not None and rate_below is not None:
        row["difference"] = rate_above - rate_below
        row["relative_difference"] = row["difference"] / rate_below if rate_below else None
    if n_above < MIN_SIDE or n_below < MIN_SIDE:
        row["note"] = FEW_HELD_OUT
        return row
    row["test"] = TEST
    if np.ptp(y) == 0:
        # Every arrangement of the plays gives the same U: no evidence of a difference.
        row.update(effect_size=0.0, p_value=1.0, note=CONSTANT)
        return row
    u_above, p_value = mann_whitney(above, below)
    row["effect_size"] = float(2 * u_above / (n_above * n_below) - 1)
    row["p_value"] = p_value
    return row


def mann_whitney(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(U of x, two-sided p): `scipy.stats.mannwhitneyu(x, y, method="asymptotic")`, the same
    numbers, without its per-call input handling (most of the time of 18,000 small tests).

    The asymptotic method corrects for ties, which a 0/1 outcome is full of; the exact one
    assumes there are none. Average ranks are multiples of ½ and tie counts are integers, so
    every sum here is exact and the result is scipy's to the last bit (tests/test_thresholds.py).
    """
    n1, n2 = len(x), len(y)
    _, inverse, counts = np.unique(np.concatenate([x, y]), return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2
    u1 = average_rank[inverse[:n1]].sum() - n1 * (n1 + 1) / 2
    u = max(u1, n1 * n2 - u1)
    n = n1 + n2
    ties = counts.astype(float)
    tie_term = np.sum(ties**3 - ties)
    s = np.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (u - n1 * n2 / 2 - 0.5) / s  # the continuity correction
    return float(u1), float(np.clip(2 * special.ndtr(-z), 0.0, 1.0))


def _listener_rows(user_id: str, values: dict[str, np.ndarray], half: np.ndarray) -> list[dict]:
    """One listener's rows; `values`: their plays' outcomes and features as float arrays."""
    rows = []
    for feature in AUDIO_FEATURES:
        x = values[feature]
        has_x = ~np.isnan(x)
        # Sorted once per feature; each outcome then drops the plays it lacks.
        discovery = np.flatnonzero(has_x & (half == 0))
        discovery = discovery[np.argsort(x[discovery], kind="stable")]
        held_out = has_x & (half == 1)
        for outcome in OUTCOMES:
            y = values[outcome]
            found = discovery[~np.isnan(y[discovery])]
            split = _best_split(x[found], y[found])
            row = {
                "user_id": user_id,
                "feature": feature,
                "outcome": outcome,
                "split_point": split,
                "n_discovery": len(found),
            }
            if split is None:
                row["note"] = NO_CANDIDATE
            else:
                tested = held_out & ~np.isnan(y)
                row.update(_held_out(x[tested], y[tested], split))
            rows.append(row)
    return rows


def feature_thresholds(plays: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per listener, audio feature and outcome: the split point of the feature that best
    separates the outcome, with the outcome above vs below it on held-out tracks.

    `plays` has one row per play: user_id, track_id, skipped (bool), completion (0–1, may be
    NaN) and the AUDIO_FEATURES (NaN where the track has none; such plays are left out for that
    feature, and plays missing an outcome for that outcome). The outcomes are `skipped` (its
    mean is the skip rate) and `completion` (mean completion share).

    Each listener's tracks are split in two by crc32(track_id) % 2 (see track_halves). On the
    discovery half (0) the candidates are the feature's distinct values at the quantiles 0.1 …
    0.9; "above" is value > s. Among candidates with MIN_SIDE plays on each side, the one with
    the largest |mean above − mean below| in standard errors is chosen (ties: the lower). On the
    held-out half (1) at that point: counts, rates, difference (above − below), relative
    difference (/ below), the two-sided Mann–Whitney U test (p_value) and the rank-biserial
    correlation 2·U_above/(n_above·n_below) − 1 (effect_size; positive: higher above).
    Without a candidate, split_point and everything after n_discovery are missing, with a note;
    with fewer than MIN_SIDE held-out plays on a side, the counts and rates are given but
    effect_size, p_value and test are missing, with a note. Missing floats are NaN.
    """
    rows: list[dict] = []
    if len(plays):
        half = track_halves(plays["track_id"])
        # Converted once for everyone, then sliced per listener.
        values = {column: _as_float(plays[column]) for column in (*OUTCOMES, *AUDIO_FEATURES)}
        for user_id, index in plays.groupby("user_id", sort=True).indices.items():
            own = {column: array[index] for column, array in values.items()}
            rows.extend(_listener_rows(str(user_id), own, half[index]))
    out = pd.DataFrame(rows, columns=COLUMNS)
    out[_FLOATS] = out[_FLOATS].astype("float64")
    out["n_discovery"] = out["n_discovery"].astype("int64")
    out[["n_above", "n_below"]] = out[["n_above", "n_below"]].astype("Int64")
    for column in ("test", "note"):
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    out["as_of_date"] = as_of
    return out.sort_values(KEY, ignore_index=True)


def combined(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The tables of disjoint sets of listeners as one, in the order one table of all of them
    has."""
    parts = list(parts)
    kept = [part for part in parts if len(part)] or parts[:1]
    return pd.concat(kept, ignore_index=True).sort_values(KEY, ignore_index=True)
