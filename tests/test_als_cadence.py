"""The retraining cadence: a stored ALS fit serves a new day (no Spark asked, nothing stored,
no metric recorded) until it is too old, its plays changed, its listeners changed, enough new
plays came, or the build is forced."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest
from deltalake import DeltaTable
from helpers import CATALOG_SAMPLE, cli_env, run_cli

from moodlake_dagster.demo.generator import generate_history, generate_plays
from moodlake_dagster.ml import als
from moodlake_dagster.ml.cadence import (
    EVERY_RUN,
    Cadence,
    Fitted,
    listeners_digest,
    plays_digest,
    why_refit,
)
from moodlake_dagster.ml.store import ModelStore

D0 = dt.date(2025, 3, 1)
WEEKLY = Cadence(days=7, growth=0.1)
CROWD = listeners_digest(["u_a", "u_b"])
FIT = Fitted(D0, plays=1_000, history="h0", listeners=CROWD)


def _why(
    fitted=FIT, days=1, then=1_000, history="h0", now=1_050, listeners=CROWD, cadence=WEEKLY, **kw
):
    as_of = D0 + dt.timedelta(days=days)
    return why_refit(
        fitted,
        as_of,
        plays_then=then,
        history_then=history,
        plays_now=now,
        listeners=listeners,
        cadence=cadence,
        **kw,
    )


def test_a_young_fit_on_the_same_plays_and_listeners_serves():
    assert _why() is None
    assert _why(days=6, now=1_099) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"forced": True}, "a forced build refits"),
        ({"cadence": EVERY_RUN}, "MOODLAKE_REFIT_DAYS=0: every run refits"),
        ({"fitted": None}, "no stored fit to serve from"),
        ({"days": 7}, "the model is 7 days old (MOODLAKE_REFIT_DAYS=7)"),
        ({"then": 990}, "its plays changed: fitted on 1,000, 990 up to that day now"),
        ({"history": "h1"}, "its plays changed: 1,000 up to that day, as it saw, but not the same"),
        ({"listeners": listeners_digest(["u_a"])}, "the listeners changed"),
        ({"now": 1_100}, "100 new plays, 10.0% of the fitted (MOODLAKE_REFIT_GROWTH=0.1)"),
        ({"days": 0}, "a rebuild of the fit's own day refits (something it read changed)"),
        ({"cadence": Cadence(7, 0.1, code="v2")}, "the code that fits it changed"),
        ({"catalog": "c1"}, "the catalog it drew its background tracks from changed"),
    ],
)
def test_each_reason_to_refit_is_named(change, reason):
    assert _why(**change) == reason


def test_a_fit_record_round_trips_through_its_card_and_older_cards_refit():
    assert Fitted.from_card(D0, FIT.card()) == FIT
    versioned = dataclasses.replace(FIT, catalog="c0", code="v1")
    assert Fitted.from_card(D0, versioned.card()) == versioned
    assert Fitted.from_card(D0, {"unit": "user"}) is None  # stored before the cadence
    assert listeners_digest(["u_b", "u_a", "u_a"]) == CROWD  # a set, in any order


def test_the_plays_digest_is_their_content_in_any_order():
    plays = pd.DataFrame({"user_id": ["u_a", "u_a", "u_b"], "track_id": ["t1", "t2", None]})
    columns = ["user_id", "track_id"]
    assert plays_digest(plays, columns) == plays_digest(plays.iloc[[2, 0, 1]], columns)
    changed = plays.assign(track_id=["t1", "t2", "t3"])  # same count, a track id corrected
    assert plays_digest(changed, columns) != plays_digest(plays, columns)
    assert plays_digest(plays.iloc[:2], columns) != plays_digest(plays, columns)


def test_a_stored_fit_serves_the_next_day_from_its_factors(spark, extended_plays, tmp_path):
    """Fit as of the day before the last, store it, then serve the last day without Spark."""
    plays = extended_plays[als.PLAY_COLUMNS]
    days = sorted(pd.to_datetime(plays["play_date"]).dt.date.unique())
    d0, d1 = days[-2], days[-1]
    before = plays[pd.to_datetime(plays["play_date"]).dt.date <= d0]
    assert len(plays) - len(before) < 0.1 * len(before)  # the last day: under 10 % more

    first = als.run(spark, before, d0, cadence=WEEKLY)
    assert first.out.metadata["refitted_because"] == "no stored fit to serve from"
    assert first.out.card["fitted_plays"] == len(before) and first.evaluation is not None
    assert first.out.card["fitted_history"] == plays_digest(before.iloc[::-1], als.PLAY_COLUMNS)
    store = ModelStore(tmp_path / "models")
    store.save(als.STORE_NAME, d0, first.out.artifact, card=first.out.card)

    stored = als.Stored.latest(store, d1)
    served = als.run(None, plays, d1, stored=stored, cadence=WEEKLY)  # no session: no fit

    assert served.served_from == d0 and served.out.artifact is None
    assert served.out.metrics == {}  # model_metrics keeps the fit's own rows, as of d0
    assert served.evaluation.ndcg == first.evaluation.ndcg
    assert served.evaluation.n_eval == first.evaluation.n_eval
    meta = served.out.metadata
    assert meta["served_from_fit_of"] == d0.isoformat() and meta["model_age_days"] == (d1 - d0).days
    assert meta["plays_since_fit"] == len(plays) - len(before) > 0
    rows = served.out.rows.to_pandas()
    assert set(rows["as_of_date"]) == {d1} and len(rows) == als.PER_USER
    # The lists follow today's plays: the new day's tracks are among those left out.
    units = als.with_units(plays.copy(), "session")
    latest = als.recent_sessions(units)
    assert not set(rows["track_id"]) & set(latest["track_id"])
    new_tracks = set(units.loc[pd.to_datetime(units["play_date"]).dt.date == d1, "track_id"])
    assert new_tracks <= set(latest["track_id"])
    first_rows = first.out.rows.to_pandas()
    assert list(rows["track_id"]) != list(first_rows["track_id"])


def test_a_stored_fit_of_another_unit_is_not_served():
    """A household that grew into a crowd needs listener rows, not sessions."""
    day = D0 + dt.timedelta(days=1)
    plays = pd.DataFrame({c: "x" for c in als.PLAY_COLUMNS}, index=range(12))
    plays["user_id"], plays["play_date"] = [f"u_{i}" for i in range(12)], D0
    factors = als.Factors("session", *([pd.Series(["u_0#0"]).to_numpy()] * 2), None, None)
    stored = als.Stored(factors, als.fitted_record(plays, D0), {})
    unit = als.unit_for(plays)
    assert als.refit_reason(stored, plays, unit, day, WEEKLY) == (
        "the stored fit has session rows; these plays need user rows"
    )
    same = als.Stored(dataclasses.replace(factors, unit="user"), stored.fitted, {})
    assert als.refit_reason(same, plays, unit, day, WEEKLY) is None


def test_an_older_fit_is_asked_the_same_questions(spark):
    """The cadence's benchmark: a fit six days before the cutoff faces the same later-day
    cases and the same popularity ranking as a fit at the cutoff; only the model differs."""
    plays = generate_plays(CATALOG_SAMPLE, users=30, days=60, seed=4242)
    fresh = als.evaluate(spark, plays, "user")
    old = als.evaluate(spark, plays, "user", stale_days=6)
    assert (old.cutoff, old.n_train, old.n_eval) == (fresh.cutoff, fresh.n_train, fresh.n_eval)
    assert old.baseline_ndcg == fresh.baseline_ndcg > 0
    assert old.ndcg != fresh.ndcg  # another model answered


SUMMARY_LINE = "  gold/als_recommendations "  # the build summary's line for the asset


def test_a_build_of_the_next_day_is_served_and_a_forced_one_refits(spark_url, tmp_path):
    """Through `moodlake build`: the day after a fit is served by it (nothing stored, no
    metric recorded for the day), for ALS and the per-listener preference and match models;
    `--force` fits them all again."""
    generate_history(CATALOG_SAMPLE, tmp_path / "landing", days=30)
    fit_day, next_day = "2025-01-29", "2025-01-30"  # a day's plays: about 3 % more
    models = tmp_path / "home" / "models" / als.STORE_NAME
    with cli_env(tmp_path, spark_url, "cadence-test-key"):
        code, out = run_cli("build", "--start", "2025-01-01", "--end", fit_day)
        assert code == 0, out
        assert [p.name for p in models.iterdir()] == [fit_day]
        code, out = run_cli("build", "--start", next_day, "--end", next_day)
        assert code == 0, out
        (line,) = [s for s in out.splitlines() if s.startswith(SUMMARY_LINE)]
        assert f"served_from_fit_of={fit_day}" in line, line
        assert [p.name for p in models.iterdir()] == [fit_day]
        gold = tmp_path / "home" / "lake" / "gold"
        metrics = DeltaTable(str(gold / "model_metrics")).to_pandas()
        assert set(metrics.loc[metrics["model"] == "als", "as_of_date"].astype(str)) == {fit_day}
        recs = DeltaTable(str(gold / "als_recommendations")).to_pandas()
        assert next_day in set(recs["as_of_date"].astype(str))
        _per_listener_models_served(tmp_path / "home", out, fit_day, next_day)

        code, out = run_cli("build", "--start", next_day, "--end", next_day, "--force")
        assert code == 0, out
        (line,) = [s for s in out.splitlines() if s.startswith(SUMMARY_LINE)]
        assert "served_from_fit_of" not in line, line
        assert sorted(p.name for p in models.iterdir()) == [fit_day, next_day]
        for name in ("preference_model", "listening_modes", "match_model"):
            folders = sorted(p.name for p in (models.parent / name).iterdir())
            assert folders == [fit_day, next_day], name


def _per_listener_models_served(home, out: str, fit_day: str, next_day: str) -> None:
    """The preference, modes and match models were served by their fit of the day before, as
    ALS was: nothing stored, no metric recorded for the day, the fit's rows as the day's."""
    for name, asset in (
        ("preference_model", "preference_model"),
        ("listening_modes", "listening_modes"),
        ("match_model", "recommendations"),
    ):
        assert [p.name for p in (home / "models" / name).iterdir()] == [fit_day], name
        (line,) = [s for s in out.splitlines() if s.startswith(f"  gold/{asset} ")]
        assert f"served_from_fit_of={fit_day}" in line, line
    gold = home / "lake" / "gold"
    metrics = DeltaTable(str(gold / "model_metrics")).to_pandas()
    scores = metrics[metrics["metric"] != "not_recommended"]  # who got no list: every day
    for model in ("preference_model", "listening_modes", "match_model"):
        days = set(scores.loc[scores["model"] == model, "as_of_date"].astype(str))
        assert days == {fit_day}, model
    for name in ("preference_model", "listening_modes"):
        table = DeltaTable(str(gold / name)).to_pandas()
        by_day = {
            day: rows.drop(columns="as_of_date").sort_values(list(rows.columns[1:3]))
            for day, rows in table.groupby(table["as_of_date"].astype(str))
        }
        fit, served = (by_day[d].reset_index(drop=True) for d in (fit_day, next_day))
        assert len(fit) and served.equals(fit), name
    recs = DeltaTable(str(gold / "recommendations")).to_pandas()
    assert next_day in set(recs["as_of_date"].astype(str))
