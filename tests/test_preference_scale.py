"""The preference model at scale (issue 11): features for all listeners in one grouped pass and
fits in parallel processes give the same table, metrics and log as fitting one listener after
another, as it was done before."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from moodlake_dagster.demo.crowd import crowd
from moodlake_dagster.ml import preference

CATALOG = Path(__file__).parents[1] / "moodlake_dagster" / "demo_data" / "catalog_sample.csv"
AS_OF = dt.date(2025, 2, 10)


def preference_columns(c) -> pd.DataFrame:
    """A generated crowd's plays with the columns Silver plays give the preference model."""
    return c.plays.assign(
        shuffle=c._extra["shuffle"].astype(object).to_numpy(),
        reason_start=c._extra["reason_start"].to_numpy(),
        play_id=[f"p{i:07d}" for i in range(len(c.plays))],
        dedup_key=c.plays["artist_name"] + "|" + c.plays["track_name"],
    )


@pytest.fixture(scope="module")
def small_crowd() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ten generated listeners over 40 days: most train, the lightest are refused, and one
    lacks what an account-data export lacks (shuffle, start reason)."""
    c = crowd(CATALOG, listeners=10, days=40, seed=20251, farms=0)
    plays = preference_columns(c)
    bare = plays["user_id"] == plays["user_id"].value_counts().idxmax()
    plays.loc[bare, ["shuffle", "reason_start"]] = None
    # Shuffled rows: the model must put each listener's plays back in time order itself.
    return plays.sample(frac=1, random_state=3).reset_index(drop=True), c.tracks


def _one_after_another(plays: pd.DataFrame, tracks: pd.DataFrame) -> list[dict]:
    """The table rows as the serial per-listener loop made them before issue 11 (on one numeric
    thread, which changes the time it takes, not what it computes)."""
    plays = plays.merge(tracks[["track_id", *preference.AUDIO]], on="track_id", how="left")
    rows = []
    for user_id, group in plays.groupby("user_id"):
        try:
            with threadpool_limits(limits=1):
                r = preference.train_user(str(user_id), group)
        except preference.CannotTrain as err:
            rows.append({"user_id": user_id, "status": "skipped", "reason": str(err)})
            continue
        rows.append(
            {
                "user_id": r.user_id,
                "status": "trained",
                "reason": (
                    f"trained without {', '.join(r.left_out)}: missing for every training play"
                    if r.left_out
                    else None
                ),
                "cutoff": r.cutoff,
                "n_train": r.n_train,
                "n_eval": r.n_eval,
                "n_eval_with_features": r.n_eval_with_features,
                "auc": r.auc,
                "baseline_auc": r.baseline_auc,
            }
        )
    return rows


def _table(run: preference.PreferenceRun) -> pd.DataFrame:
    return run.out.rows.to_pandas()


def test_grouped_features_equal_each_listeners_own(small_crowd):
    plays, tracks = small_crowd
    plays = plays.merge(tracks[["track_id", *preference.AUDIO]], on="track_id", how="left")
    everyone = preference._features(plays, by_user=True)
    for user_id, group in plays.groupby("user_id"):
        own = preference.behaviour_features(group)
        theirs = everyone[everyone["user_id"] == user_id].reset_index(drop=True)
        assert theirs["play_id"].tolist() == own["play_id"].tolist()  # the same time order
        assert theirs["enjoyed"].tolist() == own["enjoyed"].tolist()
        # Bit for bit, as the model sees them (a code column is float where any is missing).
        features = list(preference.FEATURES)
        np.testing.assert_array_equal(
            theirs[features].to_numpy(float), own[features].to_numpy(float), strict=True
        )


def test_parallel_serial_and_the_old_loop_give_the_same_table(small_crowd):
    plays, tracks = small_crowd
    serial = preference.fit_listeners(plays, tracks, AS_OF, n_workers=1)
    spread = preference.fit_listeners(plays, tracks, AS_OF, n_workers=2)
    table = _table(spread)
    assert len(table) == plays["user_id"].nunique() == 10
    assert {"trained", "skipped"} <= set(table["status"])  # both kinds of row are compared
    assert table["reason"].str.startswith("trained without shuffle_flag", na=False).sum() == 1
    pd.testing.assert_frame_equal(table, _table(serial), check_exact=True)
    assert spread.log == serial.log
    assert spread.out.metrics == serial.out.metrics
    assert spread.out.metadata == serial.out.metadata
    before = pd.DataFrame(_one_after_another(plays, tracks))
    now = table.drop(columns="as_of_date")
    assert (table["as_of_date"] == AS_OF).all()
    assert list(now.columns) == list(before.columns)
    nulls = now.isna()
    assert nulls.equals(before.isna())
    pd.testing.assert_frame_equal(
        now.mask(nulls, 0), before.mask(nulls, 0), check_dtype=False, check_exact=True
    )
    trained = table["status"] == "trained"
    assert np.array_equal(now.loc[trained, "auc"], before.loc[trained, "auc"])
    assert np.array_equal(now.loc[trained, "baseline_auc"], before.loc[trained, "baseline_auc"])
    # The fitted models themselves agree: same scores on the same plays.
    X = np.random.default_rng(0).random((50, len(preference.FEATURES)))
    for r_serial, r_spread in zip(serial.results, spread.results, strict=True):
        cols = [preference.FEATURES.index(f) for f in r_serial.features]
        np.testing.assert_array_equal(
            r_serial.model.predict_proba(X[:, cols]), r_spread.model.predict_proba(X[:, cols])
        )


def test_the_columns_it_reads_of_silver_plays_give_the_same_table(small_crowd):
    """The asset reads `PLAY_COLUMNS` of Silver plays, not every column: the table must be the
    one every column gives, and a column the features need must not be left out."""
    plays, tracks = small_crowd
    plays = plays.assign(source_format="extended")
    read = plays[preference.PLAY_COLUMNS]
    assert set(plays.columns) - set(read.columns)  # something really is left out
    every = _table(preference.fit_listeners(plays, tracks, AS_OF, n_workers=1))
    narrow = _table(preference.fit_listeners(read, tracks, AS_OF, n_workers=1))
    assert (every["status"] == "trained").any()
    pd.testing.assert_frame_equal(narrow, every, check_exact=True)
