"""The retraining cadence: when a stored model serves a new day instead of a refit.

Refitting for every new day made a day's build cost what the fits cost (ALS alone 12 s for six
new plays). A model fitted as of day D0 serves a later day D while all of these hold:
- it is younger than `MOODLAKE_REFIT_DAYS` days (0: refit every run, as before);
- the plays it was fitted on still stand: the same plays up to D0, by count and by a digest of
  their content (an erasure or a rewritten export changes them);
- the plays since D0 are fewer than `MOODLAKE_REFIT_GROWTH` of those it saw;
- the same listeners play (a new one has no row in it; an erased one must lose theirs), or for
  a per-listener model the same listeners pass its size gates (one who now has enough plays
  for a model of their own refits it);
- it was fitted by the same code (`fingerprints.code_version`) on an earlier day (a rebuild of
  its own day means something it read changed);
and the build is not forced. Its evaluation stays the fit's, reported as of D0; what a model
that old loses against a daily refit is measured in `benchmarks/refit_cadence.py`.

ALS has it, and so have the per-listener models (preference, listening modes, the match
model), which refit a crowd one listener at a time: on a thousand listeners a refit costs
minutes where serving costs seconds. Their "plays" are the model's own inputs, the plays joined
to the audio features they were fitted with, so new features for a played track refit too.
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
    code: str = ""  # the version of the code that fits: a fit by other code refits


EVERY_RUN = Cadence(days=0, growth=0.0)  # no cadence: every run refits


@dataclass(frozen=True)
class Fitted:
    """What a fit records in its model card for the cadence to judge it by later."""

    as_of: dt.date
    plays: int
    history: str  # `plays_digest` of the plays it was fitted on
    listeners: str  # `listeners_digest` of those it was fitted on
    catalog: str = ""  # a digest of the catalog it drew from, for a model that draws one
    code: str = ""  # the version of the code that fitted it

    def card(self) -> dict:
        card = {
            "fitted_plays": self.plays,
            "fitted_history": self.history,
            "fitted_listeners": self.listeners,
        }
        card |= {CATALOG_KEY: self.catalog} if self.catalog else {}
        return card | ({CODE_KEY: self.code} if self.code else {})

    @classmethod
    def from_card(cls, as_of: dt.date, card: dict) -> Fitted | None:
        """None for a card without the record: stored before the cadence, or a model an
        erasure rewrote (it no longer is what was fitted): either refits."""
        if not all(key in card for key in CARD_KEYS):
            return None
        typed = (t(card[k]) for t, k in zip((int, str, str), CARD_KEYS, strict=True))
        optional = {"catalog": str(card.get(CATALOG_KEY, "")), "code": str(card.get(CODE_KEY, ""))}
        return cls(as_of, *typed, **optional)


CARD_KEYS = ("fitted_plays", "fitted_history", "fitted_listeners")
CATALOG_KEY, CODE_KEY = "fitted_catalog", "fitted_code"
# What an erasure strips from the card of a model it rewrites.
RECORD_KEYS = (*CARD_KEYS, CATALOG_KEY, CODE_KEY)


def listeners_digest(user_ids: Iterable[str]) -> str:
    """A digest of a set of listeners: the record names nobody."""
    joined = "\n".join(sorted(set(map(str, user_ids))))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def plays_digest(plays: pd.DataFrame, columns: Sequence[str]) -> str:
    """An order-free digest of plays' content: the same plays give it in any order."""
    rows = pd.util.hash_pandas_object(plays[list(columns)], index=False).to_numpy()
    return f"{int(rows.sum(dtype=np.uint64)):016x}"  # wraps modulo 2**64, as meant


def fitted_record(
    inputs: pd.DataFrame,
    columns: Sequence[str],
    as_of: dt.date,
    *,
    listeners: Iterable[str] | None = None,
    catalog: str = "",
    code: str = "",
) -> Fitted:
    """What the cadence needs to know later about a fit on these inputs (one row per play).
    `listeners`: those who can have a model, where not everyone in `inputs` can."""
    who = listeners_digest(inputs["user_id"] if listeners is None else listeners)
    return Fitted(as_of, len(inputs), plays_digest(inputs, columns), who, catalog, code)


def served_metadata(fitted: Fitted, as_of: dt.date, plays_now: int) -> dict:
    """What a served day says in the UI about the fit that serves it."""
    return {
        "served_from_fit_of": fitted.as_of.isoformat(),
        "model_age_days": (as_of - fitted.as_of).days,
        "plays_since_fit": plays_now - fitted.plays,
    }


def catalog_digest(catalog: pd.DataFrame, columns: Sequence[str]) -> str:
    """A digest of a catalog's rows in their order: a model that samples it by position draws
    other tracks from the same rows in another order."""
    positioned = catalog[list(columns)].reset_index(drop=True)
    rows = pd.util.hash_pandas_object(positioned, index=True).to_numpy()
    return f"{int(rows.sum(dtype=np.uint64)):016x}"


def refit_reason(
    fitted: Fitted | None,
    inputs: pd.DataFrame,
    columns: Sequence[str],
    as_of: dt.date,
    cadence: Cadence,
    forced: bool = False,
    *,
    listeners: Iterable[str] | None = None,
    catalog: str = "",
) -> str | None:
    """Why the fit `fitted` records cannot serve these inputs as of `as_of` (None: it can).
    `inputs` holds every play up to `as_of`, with its `play_date`; `listeners` and `catalog`
    are today's, as `fitted_record` took them."""
    then = inputs
    if fitted is not None:
        then = inputs[pd.to_datetime(inputs["play_date"]).dt.date <= fitted.as_of]
    return why_refit(
        fitted,
        as_of,
        plays_then=len(then),
        history_then=plays_digest(then, columns) if fitted is not None else "",
        plays_now=len(inputs),
        listeners=listeners_digest(inputs["user_id"] if listeners is None else listeners),
        cadence=cadence,
        forced=forced,
        catalog=catalog,
    )


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
    catalog: str = "",
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
    if age == 0:
        return "a rebuild of the fit's own day refits (something it read changed)"
    if age >= cadence.days:
        return f"the model is {age} days old (MOODLAKE_REFIT_DAYS={cadence.days})"
    if cadence.code and fitted.code != cadence.code:
        return "the code that fits it changed"
    if plays_then != fitted.plays:
        return f"its plays changed: fitted on {fitted.plays:,}, {plays_then:,} up to that day now"
    if history_then != fitted.history:
        return f"its plays changed: {plays_then:,} up to that day, as it saw, but not the same"
    if listeners != fitted.listeners:
        return "the listeners changed"
    if fitted.catalog != catalog:
        return "the catalog it drew its background tracks from changed"
    new = plays_now - plays_then
    if new >= cadence.growth * max(fitted.plays, 1):
        return (
            f"{new:,} new plays, {new / max(fitted.plays, 1):.1%} of the fitted "
            f"(MOODLAKE_REFIT_GROWTH={cadence.growth:g})"
        )
    return None
