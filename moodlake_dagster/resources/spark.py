"""Spark through Spark Connect: a cluster when configured, else the machine's local server."""

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr
from pyspark.sql import SparkSession
from pyspark.sql.connect.client.retries import DefaultPolicy

from moodlake_dagster import spark_idle
from moodlake_dagster.spark_cluster import master_for
from moodlake_dagster.spark_server import ensure_local_server, running_server

# A server that stopped answers no retry: pyspark's default (15 retries, backoff to a minute)
# hangs a step for about ten minutes. A local server is given ~3 s, a cluster ~30 s.
LOCAL_RETRIES = {"max_retries": 4, "initial_backoff": 50, "max_backoff": 2_000}
REMOTE_RETRIES = {"max_retries": 6, "initial_backoff": 100, "max_backoff": 10_000}

# Day partitions make many small files: list them in the driver rather than launching a
# Spark job per read to list them in parallel (the default above 32 paths).
SESSION_CONF = {
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
    # Cached frames (Gold's plays, the platform's) live for one step: compressing them cost
    # a fifth of the Spark CPU of a 300-listener Gold step and saved memory it had to spare.
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
    # Aggregates with object buffers (mode, median, percentile_approx) fall back from hashing
    # to sorting every row after 128 groups per task; a crowd's sessions and listener ×
    # feature groups are thousands. Beyond this many groups the sort still bounds memory.
    "spark.sql.objectHashAggregate.sortBased.fallbackThreshold": "65536",
}


class SparkConnectResource(dg.ConfigurableResource):
    """A Spark Connect session; no step pays a JVM start once the server is up.

    With `spark_remote` set (e.g. `sc://spark-master:15002`) it connects there. Otherwise it
    starts one local server from the pyspark wheel on first use and reuses it across steps and
    runs; that server's executors run on `spark_master` if set, else on the home's cluster
    (`moodlake spark cluster start`) while it runs, else in its own JVM. Each execution gets its
    own client session, released when the execution ends (a client left open would retry a
    stopped server at interpreter exit).
    """

    spark_remote: str | None = Field(default=None, description="Spark Connect URL, sc://host:port")
    state_dir: str = Field(description="Where the local server keeps its pid, port and log")
    local_port: int | None = Field(default=None, description="Fixed port; default 15002 if free")
    spark_master: str | None = Field(
        default=None, description="Master for the local server, spark://host:port"
    )
    driver_memory: str = "4g"
    idle_stop_s: int = Field(
        default=300, description="A local server stops after this long unused (0: never)"
    )
    _session: SparkSession | None = PrivateAttr(default=None)

    def url(self, log=None) -> str:
        if self.spark_remote:
            return self.spark_remote
        state_dir = Path(self.state_dir)
        master, conf = master_for(state_dir, self.spark_master)
        server = ensure_local_server(
            state_dir,
            port=self.local_port,
            driver_memory=self.driver_memory,
            idle_stop_s=self.idle_stop_s or None,
            master=master,
            conf=conf,
            log=log,
        )
        spark_idle.take(state_dir)  # held until this process ends
        return server.url

    def get_session(self, context: dg.AssetExecutionContext | None = None) -> SparkSession:
        if self._session is None:
            log = context.log.info if context is not None else None
            session = SparkSession.builder.remote(self.url(log)).create()
            patience = REMOTE_RETRIES if self.spark_remote else LOCAL_RETRIES
            session.client.set_retry_policies([DefaultPolicy(**patience)])
            for key, value in SESSION_CONF.items():
                session.conf.set(key, value)
            self._session = session
        return self._session

    def stopped_message(self) -> str | None:
        """Why Spark steps fail, when the local server they used is no longer running."""
        if self.spark_remote:
            return None
        state_dir = Path(self.state_dir)
        if running_server(state_dir) is not None:
            return None
        return (
            "The Spark server stopped during this run (its process is gone; its log is "
            f"{state_dir / 'connect-server.log'}). The next run starts a new one."
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None


@dg.failure_hook(required_resource_keys={"spark"})
def spark_stopped(context: dg.HookContext) -> None:
    """A step that failed because the Spark server died says so, in one line."""
    message = context.resources.spark.stopped_message()
    if message:
        context.log.error(f"{context.step_key}: {message}")
