"""Listening modes at scale (issue 11): fitting listeners in worker processes and sharing one
silhouette distance matrix across k must not change a single row, metric or chosen k."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from moodlake_dagster.demo.crowd import crowd
from moodlake_dagster.ml import modes
from moodlake_dagster.vocabulary import MODE_FEATURES

CATALOG = Path(__file__).parents[1] / "moodlake_dagster" / "demo_data" / "catalog_sample.csv"
AS_OF = dt.date(2025, 1, 14)


@pytest.fixture(scope="module")
def small_crowd():
    """Ten listeners over two weeks: enough for worker processes (parallel.MIN_LISTENERS)."""
    people = crowd(CATALOG, listeners=10, days=14, seed=20251)
    plays = people.plays[["user_id", "track_id", "day_part", "local_hour"]]
    return plays, people.tracks


def _old_curve(plays: pd.DataFrame) -> dict[int, float]:
    """The curve as the serial version computed it: sklearn's sampled silhouette_score per k."""
    Z = StandardScaler().fit_transform(plays[list(MODE_FEATURES)].to_numpy(float))
    sample = min(modes.SILHOUETTE_SAMPLE, len(Z))
    curve = {}
    for k in modes.K_RANGE:
        if k >= len(np.unique(Z, axis=0)):
            break
        with threadpool_limits(limits=1):  # many OpenMP threads on a busy machine only contend
            labels = KMeans(n_clusters=k, n_init=10, random_state=modes.SEED).fit(Z).labels_
        curve[k] = silhouette_score(Z, labels, sample_size=sample, random_state=modes.SEED)
    return curve


def test_serial_and_parallel_tables_are_the_same(small_crowd):
    plays, tracks = small_crowd
    serial = modes.fit_listeners(plays, tracks, AS_OF, n_workers=1)
    parallel = modes.fit_listeners(plays, tracks, AS_OF, n_workers=2)
    assert serial.out.rows.num_rows > 0
    pd.testing.assert_frame_equal(
        serial.out.rows.to_pandas(), parallel.out.rows.to_pandas(), check_exact=False, atol=1e-9
    )
    names = [run.out.rows.column("name").to_pylist() for run in (serial, parallel)]
    assert names[0] == names[1]
    assert serial.out.metrics == parallel.out.metrics
    assert serial.out.metadata == parallel.out.metadata
    assert [u.user_id for u in serial.fitted] == [u.user_id for u in parallel.fitted]
    pd.testing.assert_frame_equal(serial.sample, parallel.sample)


def test_curve_and_k_match_the_per_k_sklearn_silhouette(small_crowd):
    plays, tracks = small_crowd
    run = modes.fit_listeners(plays, tracks, AS_OF, n_workers=1)
    joined = plays.merge(tracks[["track_id", *MODE_FEATURES]], on="track_id")
    for user in run.fitted[:3]:
        old = _old_curve(joined[joined["user_id"] == user.user_id])
        assert list(old) == list(user.curve)
        np.testing.assert_allclose(list(user.curve.values()), list(old.values()), atol=1e-9)
        assert user.k == max(old, key=old.get)


def test_silhouette_is_sampled_and_equals_sklearn(small_crowd, monkeypatch):
    """Issue 11 item 5: the distance matrix never exceeds SILHOUETTE_SAMPLE plays a side."""
    plays, tracks = small_crowd
    joined = plays.merge(tracks[["track_id", *MODE_FEATURES]], on="track_id")
    user_id = joined["user_id"].value_counts().index[0]
    own = joined[joined["user_id"] == user_id]
    bound = 40
    assert len(own) > bound
    shapes = []
    real = modes.pairwise_distances

    def spy(X, *args, **kwargs):
        shapes.append(X.shape[0])
        return real(X, *args, **kwargs)

    monkeypatch.setattr(modes, "SILHOUETTE_SAMPLE", bound)
    monkeypatch.setattr(modes, "pairwise_distances", spy)
    with threadpool_limits(limits=1):
        fitted = modes.fit_user(str(user_id), own)
    assert shapes == [bound]
    old = _old_curve(own)
    np.testing.assert_allclose(list(fitted.curve.values()), list(old.values()), atol=1e-9)


def test_failures_come_back_as_reasons(small_crowd):
    plays, tracks = small_crowd
    few = plays[plays["user_id"] == plays["user_id"].iloc[0]].head(modes.MIN_PLAYS - 1)
    many = plays.assign(user_id=plays["user_id"] + "_x")
    run = modes.fit_listeners(pd.concat([few, many]), tracks, AS_OF, n_workers=2)
    skipped = run.out.metadata["users_skipped"]
    assert f"at least {modes.MIN_PLAYS} needed" in skipped[str(few["user_id"].iloc[0])]
    assert run.fitted
    fitted = {u.user_id for u in run.fitted}
    assert not fitted & set(skipped)
    assert fitted | set(skipped) == set(few["user_id"]) | set(many["user_id"])
