"""Shared fixtures: one Spark Connect server for the whole session, real data, temp lakes."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from builds import build_env, finish, start_build
from helpers import CATALOG_SAMPLE, EXTENDED, HISTORY, NOW, SHARED_DATA, link_landing

from moodlake_dagster.settings import DEFAULT_PARTITIONS_START
from moodlake_dagster.spark_server import ensure_local_server, free_port, stop_local_server

# The partitions begin where this process's home says (first_play.py); tests pin the start so
# that a developer's own .moodlake cannot move it. Tests of that rule clear the variable.
os.environ.setdefault("MOODLAKE_PARTITIONS_START", DEFAULT_PARTITIONS_START)

# Fixtures that start (or need) the shared Spark Connect server, a JVM.
SPARK_FIXTURES = {"spark_url", "spark"}


def pytest_collection_modifyitems(config, items):
    """A test that uses the Spark fixtures, directly or through other fixtures, is `spark`.

    `item.fixturenames` is the whole fixture closure. Tests that start a JVM another way (a
    build, an asset materialized without `spark_url`) carry the marker explicitly.
    """
    for item in items:
        if SPARK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not HISTORY.is_dir():
        pytest.skip(f"real listening histories not found at {HISTORY} (../shared/data is absent)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def spark_url(tmp_path_factory) -> str:
    """One local Spark Connect server for the test session, stopped at the end."""
    state = tmp_path_factory.mktemp("spark-state")
    server = ensure_local_server(state, port=free_port(), driver_memory="2g")
    yield server.url
    stop_local_server(state)


@pytest.fixture(scope="session")
def spark(spark_url):
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(spark_url).getOrCreate()
    yield session
    # Release the session while the server is up: the client's exit hook would otherwise
    # retry a dead server for minutes.
    session.stop()


AS_OF = dt.date(2026, 6, 1)


@pytest.fixture(scope="session")
def sample_tracks(spark):
    """Silver tracks (pandas) built from the 10k catalog sample, as of AS_OF."""
    from moodlake_dagster.ingest.catalog import catalog_table, parse_catalog
    from moodlake_dagster.transform.silver import build_tracks

    batch = parse_catalog(
        CATALOG_SAMPLE, as_of=AS_OF, batch_id="t", ingested_at=NOW, source_name="catalog_sample.csv"
    )
    return build_tracks(spark.createDataFrame(catalog_table(batch.rows)), AS_OF).toPandas()


@pytest.fixture(scope="session")
def extended_plays(shared_data, spark, sample_tracks, tmp_path_factory):
    """Silver plays of the real Extended Streaming History, with audio features joined."""
    from test_silver import plays_for

    landing = link_landing(tmp_path_factory.mktemp("landing"), {"efrrowini": EXTENDED})
    catalog = spark.createDataFrame(
        sample_tracks.drop(columns=["as_of_date"]).assign(as_of_date=AS_OF)
    )
    plays = plays_for(spark, catalog, landing, zones=[("efrrowini", "Asia/Kolkata")])
    features = sample_tracks[
        ["track_id", "valence", "energy", "danceability", "acousticness", "tempo"]
    ]
    return plays.merge(features, on="track_id", how="left")


@pytest.fixture(scope="session")
def clean_build(shared_data, spark_url, tmp_path_factory) -> Path:
    """The lake of one uninterrupted `moodlake build` of tests/builds.py's input, made once:
    lakes built another way (killed and rerun, on a cluster) must equal it row for row."""
    root = tmp_path_factory.mktemp("clean-build")
    code, out, err = finish(start_build(build_env(root, spark_url)))
    assert code == 0, out + err
    return root / "home" / "lake"
