"""The retraining cadence: when a stored model serves a new day instead of a refit.

Refitting for every new day made a day's build cost what the fits cost (ALS alone 12 s for six
new plays). A model fitted as of day D0 serves a later day D while all of these hold:
- it is younger than `MOODLAKE_REFIT_DAYS` days (0: refit every run, as before);
- the plays it was fitted on still stand: as many plays up to D0 as it saw (an erasure or a
  rewritten export changes them);
- the plays since D0 are fewer than `MOODLAKE_REFIT_GROWTH` of those it saw;
- the same listeners play (a new one has no row in it; an erased one must lose theirs);
and the build is not forced. Its evaluation stays the fit's, reported as of D0; what a model
that old loses against a daily refit is measured in `benchmarks/refit_cadence.py`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


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
    listeners: str  # `listeners_digest` of those it was fitted on

    def card(self) -> dict:
        return {"fitted_plays": self.plays, "fitted_listeners": self.listeners}

    @classmethod
    def from_card(cls, as_of: dt.date, card: dict) -> Fitted | None:
        if "fitted_plays" not in card or "fitted_listeners" not in card:
            return None  # a model stored before the cadence: refit
        return cls(as_of, int(card["fitted_plays"]), str(card["fitted_listeners"]))


def listeners_digest(user_ids: Iterable[str]) -> str:
    """A digest of a set of listeners: cards name nobody (an export shows a listener's card)."""
    joined = "\n".join(sorted(set(map(str, user_ids))))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def why_refit(
    fitted: Fitted | None,
    as_of: dt.date,
    *,
    plays_then: int,
    plays_now: int,
    listeners: str,
    cadence: Cadence,
    forced: bool = False,
) -> str | None:
    """Why the stored model cannot serve `as_of` (None: it can).

    `plays_then` counts today's plays up to the fit's day, `plays_now` all of them."""
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
    if listeners != fitted.listeners:
        return "the listeners changed"
    new = plays_now - plays_then
    if new >= cadence.growth * max(fitted.plays, 1):
        return (
            f"{new:,} new plays, {new / max(fitted.plays, 1):.1%} of the fitted "
            f"(MOODLAKE_REFIT_GROWTH={cadence.growth:g})"
        )
    return None
