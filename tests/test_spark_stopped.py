"""The Spark server dies during a step: the step fails within seconds (no ten-minute retry
hang), the run says the server stopped and where its log is, and the next run starts a new
server by itself."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from moodlake_dagster.resources.spark import SparkConnectResource, spark_stopped
from moodlake_dagster.spark_server import alive, free_port, running_server, stop_local_server

pytestmark = pytest.mark.spark


@dg.asset
def doomed(context, spark: SparkConnectResource) -> None:
    session = spark.get_session(context)
    assert session.range(3).count() == 3
    server = running_server(Path(spark.state_dir))
    os.kill(server.pid, signal.SIGKILL)
    while alive(server.pid):
        time.sleep(0.1)
    session.range(5).collect()


def test_a_dead_server_fails_the_step_soon_and_says_so(tmp_path):
    state = tmp_path / "spark"
    resource = SparkConnectResource(
        state_dir=str(state), local_port=free_port(), driver_memory="1g", idle_stop_s=0
    )
    job = dg.define_asset_job(
        "doomed_job", selection=[doomed], hooks={spark_stopped}, executor_def=dg.in_process_executor
    )
    defs = dg.Definitions(assets=[doomed], jobs=[job], resources={"spark": resource})
    instance = dg.DagsterInstance.ephemeral()
    outcome = {}

    def run():
        outcome["result"] = defs.resolve_job_def("doomed_job").execute_in_process(
            instance=instance, raise_on_error=False
        )

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=300)  # before the fix: pyspark retried for about ten minutes
    try:
        assert not worker.is_alive(), "the step hung on the dead server"
        result = outcome["result"]
        assert not result.success
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
        said = [m for m in messages if "The Spark server stopped during this run" in m]
        assert said and str(state / "connect-server.log") in said[0]
        # The next run starts a new server by itself.
        fresh = SparkConnectResource(
            state_dir=str(state), local_port=free_port(), driver_memory="1g", idle_stop_s=0
        )
        session = fresh.get_session()
        assert session.range(4).count() == 4
        assert fresh.stopped_message() is None
        session.stop()
    finally:
        stop_local_server(state)
