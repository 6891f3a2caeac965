"""The popularity predictor on the demo catalog sample: artist-grouped, beside its baseline."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from helpers import CATALOG_SAMPLE
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score

from moodlake_dagster.ml import popularity

AS_OF = dt.date(2025, 6, 30)


def tracks_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """A tracks frame as Silver builds it: one row per id, its genres sorted, first artist."""
    genres = raw.groupby("track_id")["track_genre"].agg(lambda g: sorted(set(g)))
    tracks = raw.drop_duplicates("track_id").drop(columns=["track_genre", "Unnamed: 0"])
    tracks = tracks.assign(genres=tracks["track_id"].map(genres))
    tracks["primary_artist"] = tracks["artists"].str.split(";").str[0].str.strip()
    return tracks.assign(features_source="catalog").reset_index(drop=True)


@pytest.fixture(scope="module")
def tracks() -> pd.DataFrame:
    return tracks_frame(pd.read_csv(CATALOG_SAMPLE))


@pytest.fixture(scope="module")
def out(tracks):
    return popularity.fit(tracks, AS_OF)


def _scores(out) -> dict[str, dict]:
    return {row["metric"]: row for row in out.metrics["popularity"]}


def test_the_model_beats_the_genre_mean_baseline_out_of_fold(out):
    auc = _scores(out)["roc_auc"]
    assert auc["value"] > auc["baseline"]
    rows = out.rows.to_pandas()
    assert auc["value"] == pytest.approx(roc_auc_score(rows["top_quartile"], rows["probability"]))
    assert auc["n_eval"] == len(rows)


def test_the_baseline_is_the_training_folds_genre_mean(out, tracks):
    """Recomputed from the rows alone: each fold scored by the other folds' genre means."""
    rows = out.rows.to_pandas()
    score = pd.Series(np.nan, index=rows.index)
    for fold in rows["fold"].unique():
        train, test = rows[rows["fold"] != fold], rows["fold"] == fold
        means = train.groupby("genre")["popularity"].mean()
        score[test] = rows.loc[test, "genre"].map(means).fillna(train["popularity"].mean())
    expected = roc_auc_score(rows["top_quartile"], score)
    assert _scores(out)["roc_auc"]["baseline"] == pytest.approx(expected)


def test_no_artist_is_in_both_a_training_fold_and_its_test_fold(out, tracks):
    rows = out.rows.to_pandas().merge(tracks[["track_id", "primary_artist"]], on="track_id")
    assert sorted(rows["fold"].unique()) == list(range(popularity.FOLDS))
    assert rows.groupby("primary_artist")["fold"].nunique().max() == 1
    assert rows["primary_artist"].nunique() > 1_000  # the check covers many artists


def test_the_label_is_the_75th_percentile_with_ties_counted_as_top(out, tracks):
    rows = out.rows.to_pandas()
    threshold = tracks["popularity"].quantile(0.75)
    assert _scores(out)["threshold"]["value"] == threshold
    assert (rows["top_quartile"] == (rows["popularity"] >= threshold)).all()
    assert (rows["popularity"] == threshold).any()  # ties exist, and are counted in
    assert 0.25 <= rows["top_quartile"].mean() < 0.3


def test_rows_schema_genre_and_outputs(out, tracks):
    assert out.rows.schema == popularity.SCHEMA
    rows = out.rows.to_pandas()
    assert len(rows) == tracks["track_id"].nunique() and rows["track_id"].is_unique
    first = tracks.set_index("track_id")["genres"].str[0]
    assert (rows["genre"] == rows["track_id"].map(first)).all()
    assert rows["probability"].between(0, 1).all() and (rows["as_of_date"] == AS_OF).all()
    assert out.store_name == "popularity"
    inputs = tracks.assign(genre=tracks["genres"].str[0], explicit=tracks["explicit"] * 1.0)
    served = out.artifact.predict_proba(inputs[list(popularity.FEATURES)])
    assert served.shape == (len(tracks), 2)


def test_figures_show_shap_importance_and_folds_against_the_baseline(out):
    shap_fig, _ = out.figures["shap"]
    plot, _ = out.figures["plot"]
    assert isinstance(shap_fig, Figure) and isinstance(plot, Figure)
    bars = shap_fig.axes[0].patches
    assert len(bars) == len(popularity.FEATURES)
    assert all(bar.get_width() >= 0 for bar in bars) and max(b.get_width() for b in bars) > 0
    assert len(plot.axes[0].patches) == 2 * (popularity.FOLDS + 1)  # model and baseline bars


def test_only_catalog_rows_with_a_popularity_are_scored(tracks):
    extra = tracks.head(3).assign(
        track_id=["api-1", "api-2", "est-1"],
        features_source=["api", "api", "artist_estimate"],
    )
    no_popularity = tracks.head(1).assign(track_id="none", popularity=np.nan)
    scored = popularity.scored_tracks(pd.concat([tracks, extra, no_popularity]))
    assert set(scored["track_id"]) == set(tracks["track_id"])
    assert popularity.scored_tracks(tracks.drop(columns="features_source")).shape[0] == len(tracks)


def test_a_fit_is_deterministic(tracks):
    subset = tracks.sample(n=1_000, random_state=3)
    first = popularity.fit(subset, AS_OF).rows.to_pandas()
    second = popularity.fit(subset, AS_OF).rows.to_pandas()
    pd.testing.assert_frame_equal(first, second)


def test_too_few_tracks_or_artists_are_refused_before_any_fit(tracks):
    with pytest.raises(popularity.NotEnoughTracks, match="need ≥ 100 tracks"):
        popularity.fit(tracks.head(50), AS_OF)
    one_artist = tracks.head(300).assign(primary_artist="Solo")
    with pytest.raises(popularity.NotEnoughTracks, match="by 1 artists"):
        popularity.fit(one_artist, AS_OF)
