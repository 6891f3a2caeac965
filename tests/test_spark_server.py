"""The local Spark Connect server is started once and reused."""

from __future__ import annotations

import pytest

from moodlake_dagster.resources import SparkConnectResource
from moodlake_dagster.spark_server import SparkServerError, ensure_local_server, running_server

# The shared Spark Connect server itself.
pytestmark = pytest.mark.spark


def test_second_use_reuses_the_running_server(spark_url, tmp_path_factory):
    port = int(spark_url.rsplit(":", 1)[1])
    state = next(p for p in tmp_path_factory.getbasetemp().glob("spark-state*"))
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
