"""The retraining cadence: when a stored model serves a new day instead of a refit.

Refitting for every new day made a day's build cost what the fits cost (ALS alone 12 s for six
new plays). A model fitted as of day D0 serves a later day D while all of these hold:
- it is younger than `MOODLAKE_REFIT_DAYS` days (0: refit every run, as before);
- the plays it was fitted on still stand: the same plays up to D0, by count and by a digest of
  their content (an erasure or a rewritten export changes them);
- the plays since D0 are fewer than `MOODLAKE_REFIT_GROWTH` of those it saw;
- the same listeners play (a new one has no row in it; an erased one must lose theirs);
and the build is not forced. Its evaluation stays the fit's, reported as of D0; what a model
that old loses against a daily refit is measured in `benchmarks/refit_cadence.py`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Cadence:
    days: int  # a stored model older than this is refitted (0: always refit)
    growth: float  # new plays, as a share of the fitted ones, that call for a refit


EVERY_RUN = Cadence(days=0, growth=0.0)  # no cadence: every run refits


@dataclass(frozen=True)
class Fitted:
    """What a fit records in its model card for the cadence to judge it by later."""

    as_of: dt.date
    plays: int
    history: str  # `plays_digest` of the plays it was fitted on
    listeners: str  # `listeners_digest` of those it was fitted on

    def card(self) -> dict:
        return {
            "fitted_plays": self.plays,
            "fitted_history": self.history,
            "fitted_listeners": self.listeners,
        }

    @classmethod
    def from_card(cls, as_of: dt.date, card: dict) -> Fitted | None:
        """None for a card without the record: stored before the cadence, or a model an
        erasure rewrote (it no longer is what was fitted): either refits."""
        if not all(key in card for key in CARD_KEYS):
            return None
        return cls(as_of, *(t(card[k]) for t, k in zip((int, str, str), CARD_KEYS, strict=True)))


CARD_KEYS = ("fitted_plays", "fitted_history", "fitted_listeners")


def listeners_digest(user_ids: Iterable[str]) -> str:
    """A digest of a set of listeners: cards name nobody (an export shows a listener's card)."""
    joined = "\n".join(sorted(set(map(str, user_ids))))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def plays_digest(plays: pd.DataFrame, columns: Sequence[str]) -> str:
    """An order-free digest of plays' content: the same plays give it in any order."""
    rows = pd.util.hash_pandas_object(plays[list(columns)], index=False).to_numpy()
    return f"{int(rows.sum(dtype=np.uint64)):016x}"  # wraps modulo 2**64, as meant


def why_refit(
    fitted: Fitted | None,
    as_of: dt.date,
    *,
    plays_then: int,
    history_then: str,
    plays_now: int,
    listeners: str,
    cadence: Cadence,
    forced: bool = False,
) -> str | None:
    """Why the stored model cannot serve `as_of` (None: it can).

    `plays_then` counts today's plays up to the fit's day and `history_then` digests them;
    `plays_now` counts all of them."""
    if forced:
        return "a forced build refits"
    if cadence.days == 0:
        return "MOODLAKE_REFIT_DAYS=0: every run refits"
    if fitted is None:
        return "no stored fit to serve from"
    age = (as_of - fitted.as_of).days
    if age >= cadence.days:
        return f"the model is {age} days old (MOODLAKE_REFIT_DAYS={cadence.days})"
    if plays_then != fitted.plays:
        return f"its plays changed: fitted on {fitted.plays:,}, {plays_then:,} up to that day now"
    if history_then != fitted.history:
        return f"its plays changed: {plays_then:,} up to that day, as it saw, but not the same"
    if listeners != fitted.listeners:
        return "the listeners changed"
    new = plays_now - plays_then
    if new >= cadence.growth * max(fitted.plays, 1):
        return (
            f"{new:,} new plays, {new / max(fitted.plays, 1):.1%} of the fitted "
            f"(MOODLAKE_REFIT_GROWTH={cadence.growth:g})"
        )
    return None
