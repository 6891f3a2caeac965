"""The local Spark Connect server is started once and reused."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moodlake_dagster.ml import als
from moodlake_dagster.resources import SparkConnectResource
from moodlake_dagster.spark_server import SparkServerError, ensure_local_server, running_server

# The shared Spark Connect server itself.
pytestmark = pytest.mark.spark


def _state(tmp_path_factory) -> Path:
    """The shared test server's state folder (conftest's `spark_url`)."""
    return next(p for p in tmp_path_factory.getbasetemp().glob("spark-state*"))


def test_second_use_reuses_the_running_server(spark_url, tmp_path_factory):
    port = int(spark_url.rsplit(":", 1)[1])
    state = _state(tmp_path_factory)
    first = running_server(state)
    assert first is not None and first.port == port
    again = ensure_local_server(state, port=port)
    assert again.pid == first.pid  # no second JVM


def test_resource_prefers_spark_remote(spark_url, tmp_path):
    resource = SparkConnectResource(spark_remote=spark_url, state_dir=str(tmp_path))
    assert resource.url() == spark_url
    assert not (tmp_path / "connect-server.json").exists()
    session = resource.get_session()
    assert resource.get_session() is session  # one client session per execution
    assert session.range(5).count() == 5
    resource.teardown_after_execution(None)
    assert resource._session is None


def test_taken_explicit_port_is_a_clear_error(spark_url, tmp_path):
    port = int(spark_url.rsplit(":", 1)[1])
    with pytest.raises(SparkServerError, match=f"port {port} is taken.*MOODLAKE_SPARK_PORT"):
        ensure_local_server(tmp_path, port=port)


def _server_pid(spark_url, tmp_path_factory) -> int:
    return running_server(_state(tmp_path_factory)).pid


def test_the_server_gives_native_blas_one_thread_per_task(spark_url, tmp_path_factory):
    pid = _server_pid(spark_url, tmp_path_factory)
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    assert env["OPENBLAS_NUM_THREADS"] == os.environ.get("OPENBLAS_NUM_THREADS", "1")


def test_als_solves_through_the_native_blas_where_the_system_has_one(
    spark, spark_url, tmp_path_factory
):
    if not glob.glob("/usr/lib/*/libblas.so.3"):
        pytest.skip("no libblas.so.3 here (make install adds Debian's OpenBLAS as root)")
    rng = np.random.default_rng(0)
    ratings = pd.DataFrame(
        {
            "unit_id": rng.choice([f"u{i}" for i in range(20)], 400),
            "track_id": rng.choice([f"t{i}" for i in range(50)], 400),
            "rating": rng.integers(1, 5, 400).astype(float),
        }
    )
    factors = als.fit(spark, ratings, "listener", {"rank": 4, "maxIter": 2})
    assert factors.users.shape[1] == 4
    maps = Path(f"/proc/{_server_pid(spark_url, tmp_path_factory)}/maps").read_text()
    assert "libblas.so.3" in maps, "Spark's ALS fell back to Java's BLAS"
