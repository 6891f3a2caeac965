"""Spark through Spark Connect: a cluster when configured, else the machine's local server."""

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr
from pyspark.sql import SparkSession

from moodlake_dagster import spark_idle
from moodlake_dagster.spark_server import ensure_local_server

# Day partitions make many small files: list them in the driver rather than launching a
# Spark job per read to list them in parallel (the default above 32 paths).
SESSION_CONF = {"spark.sql.sources.parallelPartitionDiscovery.threshold": "100000"}


class SparkConnectResource(dg.ConfigurableResource):
    """A Spark Connect session; no step pays a JVM start once the server is up.

    With `spark_remote` set (e.g. `sc://spark-master:15002`) it connects there. Otherwise it
    starts one local server from the pyspark wheel on first use and reuses it across steps and
    runs. Each execution gets its own client session, released when the execution ends (a
    client left open would retry a stopped server at interpreter exit).
    """

    spark_remote: str | None = Field(default=None, description="Spark Connect URL, sc://host:port")
    state_dir: str = Field(description="Where the local server keeps its pid, port and log")
    local_port: int | None = Field(default=None, description="Fixed port; default 15002 if free")
    driver_memory: str = "4g"
    idle_stop_s: int = Field(
        default=300, description="A local server stops after this long unused (0: never)"
    )
    _session: SparkSession | None = PrivateAttr(default=None)

    def url(self, log=None) -> str:
        if self.spark_remote:
            return self.spark_remote
        state_dir = Path(self.state_dir)
        server = ensure_local_server(
            state_dir,
            port=self.local_port,
            driver_memory=self.driver_memory,
            idle_stop_s=self.idle_stop_s or None,
            log=log,
        )
        spark_idle.take(state_dir)  # held until this process ends
        return server.url

    def get_session(self, context: dg.AssetExecutionContext | None = None) -> SparkSession:
        if self._session is None:
            log = context.log.info if context is not None else None
            session = SparkSession.builder.remote(self.url(log)).create()
            for key, value in SESSION_CONF.items():
                session.conf.set(key, value)
            self._session = session
        return self._session

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None
