"""The retraining cadence for the per-listener models (ml/cadence.py): a stored preference,
listening-modes or match-model fit serves a later day with the same rows and lists a refit of
the same inputs gives, records no metric and stores nothing; it refits when a played track's
features, the listeners who can have a model or the background catalog change."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from helpers import CATALOG_SAMPLE
from test_preference_scale import preference_columns
from test_recommend_scale import NO_NAMES, _silver_tracks

from moodlake_dagster.assets.cadence import load_fit
from moodlake_dagster.demo.crowd import crowd
from moodlake_dagster.ml import cadence, modes, preference, recommend
from moodlake_dagster.ml.cadence import Cadence
from moodlake_dagster.ml.store import ModelStore
from moodlake_dagster.resources import MoodlakeConfig
from moodlake_dagster.settings import load_settings

WEEKLY = Cadence(days=7, growth=0.1)


@pytest.fixture(scope="module")
def people() -> tuple[pd.DataFrame, pd.DataFrame, dt.date]:
    """Six generated listeners over 40 days, with what the preference model reads."""
    c = crowd(CATALOG_SAMPLE, listeners=6, days=40, seed=20251, farms=0)
    plays = preference_columns(c)
    return plays, _silver_tracks(c.tracks), plays["play_date"].max()


def _up_to(plays: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    return plays[plays["play_date"] <= day].reset_index(drop=True)


def test_a_served_preference_day_has_the_fits_rows_and_records_nothing(people):
    plays, tracks, last = people
    fit_day = last - dt.timedelta(days=1)
    inputs = preference.model_inputs(_up_to(plays, fit_day), tracks)
    fit = preference.fit_inputs(inputs, fit_day, n_workers=1)
    record = cadence.fitted_record(inputs, preference.INPUT_COLUMNS, fit_day)
    assert fit.out.metrics["preference_model"] and fit.out.artifact

    today = preference.model_inputs(plays, tracks)
    assert len(today) > len(inputs)  # the last day brought plays
    assert cadence.refit_reason(record, today, preference.INPUT_COLUMNS, last, WEEKLY) is None
    rows = fit.out.rows.to_pandas()
    served = preference.served(rows, record, last, len(today))
    table = served.out.rows.to_pandas()
    assert set(table["as_of_date"]) == {last}
    pd.testing.assert_frame_equal(table.drop(columns="as_of_date"), rows.drop(columns="as_of_date"))
    assert served.out.metrics == {} and served.out.artifact is None
    assert served.out.metadata["served_from_fit_of"] == fit_day.isoformat()
    assert served.out.metadata["plays_since_fit"] == len(today) - len(inputs)
    # The check and the plot judge the fit's evaluation, listener by listener.
    assert [(r.user_id, r.auc) for r in served.results] == [(r.user_id, r.auc) for r in fit.results]
    assert served.out.metadata["auc"] == fit.out.metadata["auc"]


def test_new_audio_features_for_a_played_track_refit_the_preference_model(people):
    plays, tracks, last = people
    fit_day = last - dt.timedelta(days=1)
    inputs = preference.model_inputs(_up_to(plays, fit_day), tracks)
    record = cadence.fitted_record(inputs, preference.INPUT_COLUMNS, fit_day)
    played = inputs["track_id"].iloc[0]
    changed = tracks.assign(
        valence=np.where(tracks["track_id"] == played, 0.123, tracks["valence"])
    )
    today = preference.model_inputs(plays, changed)
    why = cadence.refit_reason(record, today, preference.INPUT_COLUMNS, last, WEEKLY)
    # The same count as the fit saw: only the digest of their content can tell.
    assert why == f"its plays changed: {len(inputs):,} up to that day, as it saw, but not the same"


def _late(plays: pd.DataFrame, before: int, fit_day: dt.date, last: dt.date) -> pd.DataFrame:
    """A listener with `before` plays up to the fit's day and ten more on the last day."""
    earliest = plays.sort_values("played_at_utc").head(before + 10)  # others' plays, re-owned
    late = earliest.assign(user_id="u_late", play_id=lambda f: "late-" + f["play_id"])
    assert (late["play_date"].head(before) <= fit_day).all()
    return late.assign(play_date=[*late["play_date"].head(before)] + [last] * 10)


@pytest.mark.parametrize("model", [preference, modes])
def test_a_listener_who_now_has_enough_plays_for_a_model_refits_it(people, model):
    """They were skipped by the fit; serving it would skip them for days."""
    plays, tracks, last = people
    fit_day = last - dt.timedelta(days=1)
    plays = pd.concat([plays, _late(plays, model.MIN_PLAYS - 1, fit_day, last)])
    then = model.model_inputs(_up_to(plays, fit_day), tracks)
    assert "u_late" not in model.eligible(then)
    record = cadence.fitted_record(
        then, model.INPUT_COLUMNS, fit_day, listeners=model.eligible(then)
    )
    today = model.model_inputs(plays, tracks)
    assert "u_late" in model.eligible(today)
    roomy = Cadence(days=7, growth=10.0)  # the new plays alone would not call for a refit
    why = cadence.refit_reason(
        record, today, model.INPUT_COLUMNS, last, roomy, listeners=model.eligible(today)
    )
    assert why == "the listeners changed"
    # Without them, the same fit serves.
    others = today[today["user_id"] != "u_late"]
    assert (
        cadence.refit_reason(
            cadence.fitted_record(then[then["user_id"] != "u_late"], model.INPUT_COLUMNS, fit_day),
            others,
            model.INPUT_COLUMNS,
            last,
            roomy,
        )
        is None
    )


def test_served_listening_modes_show_the_fits_rows_k_and_curves(people):
    plays, tracks, last = people
    fit_day = last - dt.timedelta(days=1)
    listeners = set(plays["user_id"]) | {"u_silent"}  # someone with no play with features
    joined = modes.model_inputs(_up_to(plays, fit_day), tracks)
    fit = modes.fit_inputs(joined, listeners, fit_day, n_workers=1)
    record = cadence.fitted_record(joined, modes.INPUT_COLUMNS, fit_day)
    assert fit.out.metrics["listening_modes"] and fit.fitted

    today = modes.model_inputs(plays, tracks)
    assert cadence.refit_reason(record, today, modes.INPUT_COLUMNS, last, WEEKLY) is None
    # The card as the store keeps it: JSON, so the curves' k come back as text.
    card = json.loads(json.dumps(fit.out.card))
    rows = fit.out.rows.to_pandas()
    served = modes.served(rows, fit.out.artifact, card, today, listeners, record, last)
    table = served.out.rows.to_pandas()
    assert set(table["as_of_date"]) == {last}
    pd.testing.assert_frame_equal(table.drop(columns="as_of_date"), rows.drop(columns="as_of_date"))
    assert served.out.metrics == {} and served.out.artifact is None
    assert [(u.user_id, u.k, u.silhouette, u.curve) for u in served.fitted] == [
        (u.user_id, u.k, u.silhouette, u.curve) for u in fit.fitted
    ]
    assert served.out.metadata["users_skipped"] == fit.out.metadata["users_skipped"]
    assert served.out.metadata["users_skipped"]["u_silent"] == "no play with audio features"
    assert served.out.metadata["served_from_fit_of"] == fit_day.isoformat()
    # The map: the day's plays of the main listener, in the modes the fit found.
    main = served.fitted[0].user_id
    assert set(served.sample["user_id"]) == {main}
    assert set(served.sample["mode_id"]) <= set(rows.loc[rows["user_id"] == main, "mode_id"])


def _lists(plays, tracks, as_of, stored=None) -> recommend.Recommendations:
    no_als = pd.DataFrame(columns=["user_id", "track_id", "als_score"])
    users = sorted(plays["user_id"].unique())
    return recommend.recommend_all(
        plays, tracks, no_als, users, {}, NO_NAMES, as_of, n_workers=1, stored=stored
    )


def test_served_match_models_make_the_lists_a_refit_makes_and_record_no_auc(people, monkeypatch):
    plays, tracks, last = people
    plays = plays[["user_id", "track_id", "play_date", "day_part", "skipped"]]
    fit_day = last - dt.timedelta(days=1)
    fit = _lists(_up_to(plays, fit_day), tracks, fit_day)
    inputs, catalog = recommend.match_inputs(_up_to(plays, fit_day), tracks)
    record = cadence.fitted_record(inputs, recommend.INPUT_COLUMNS, fit_day, catalog=catalog)
    assert fit.output.artifact and any(
        m["metric"] == "auc" for m in fit.output.metrics["match_model"]
    )

    today, catalog_now = recommend.match_inputs(plays, tracks)
    columns = recommend.INPUT_COLUMNS
    assert cadence.refit_reason(record, today, columns, last, WEEKLY, catalog=catalog_now) is None
    # Served on the fit's own inputs, the lists are the fit's, pick for pick, with no fit for
    # anyone who has a stored model.
    train = recommend.train_match

    def only_for_others(user_id, *args):
        assert user_id not in fit.output.artifact, f"{user_id} was fitted again"
        return train(user_id, *args)

    monkeypatch.setattr(recommend, "train_match", only_for_others)
    again = _lists(_up_to(plays, fit_day), tracks, fit_day, stored=fit.output.artifact)
    pd.testing.assert_frame_equal(again.table, fit.table)
    assert again.output.artifact is None
    assert {m["metric"] for m in again.output.metrics["match_model"]} <= {"not_recommended"}
    assert again.output.metadata["match_auc"] == fit.output.metadata["match_auc"]
    # A day later: today's lists, from the stored models.
    served = _lists(plays, tracks, last, stored=fit.output.artifact)
    assert set(served.table["as_of_date"]) == {last}
    assert set(served.table["user_id"]) == set(fit.table["user_id"])


def test_a_new_listener_with_a_model_or_a_changed_catalog_refits_the_match_models(people):
    plays, tracks, last = people
    fit_day = last - dt.timedelta(days=1)
    inputs, catalog = recommend.match_inputs(_up_to(plays, fit_day), tracks)
    record = cadence.fitted_record(inputs, recommend.INPUT_COLUMNS, fit_day, catalog=catalog)
    columns = recommend.INPUT_COLUMNS

    # Someone new whose first day already holds enough liked plays for a model.
    first = plays[plays["user_id"] == plays["user_id"].iloc[0]]
    newcomer = first.assign(user_id="u_newcomer", play_date=last)
    grown, same_catalog = recommend.match_inputs(pd.concat([plays, newcomer]), tracks)
    assert cadence.refit_reason(
        record, grown, columns, last, Cadence(days=7, growth=10.0), catalog=same_catalog
    ) == ("the listeners changed")

    # A catalog track nobody played gains features: the background it is drawn from changed.
    today, _ = recommend.match_inputs(plays, tracks)
    unplayed = ~tracks["track_id"].isin(plays["track_id"])
    assert unplayed.any()
    changed = tracks.assign(
        valence=np.where(unplayed & (unplayed.cumsum() == 1), 0.321, tracks["valence"])
    )
    liked, other = recommend.match_inputs(plays, changed)
    pd.testing.assert_frame_equal(liked, today)
    why = cadence.refit_reason(record, today, columns, last, WEEKLY, catalog=other)
    assert why == "the catalog it drew its background tracks from changed"


def test_a_stored_fit_that_cannot_be_read_is_refitted_and_says_why(tmp_path):
    """The model store is a cache for serving: a damaged file means a refit, not a failed build."""
    moodlake = MoodlakeConfig.from_settings(load_settings({"MOODLAKE_HOME": str(tmp_path)}))
    day = dt.date(2025, 3, 1)
    folder = ModelStore(tmp_path / "models").save(modes.STORE_NAME, day, {"u_a": 1}, card={})
    record = cadence.Fitted(day, 1, "h", "l")
    assert load_fit(moodlake, modes.STORE_NAME, record)[0] == {"u_a": 1}
    (folder / "model.pickle").write_bytes(b"not a pickle")
    model, card, why = load_fit(moodlake, modes.STORE_NAME, record)
    assert model is None and card == {}
    assert why.startswith("its stored listening_modes models could not be read (UnpicklingError")
