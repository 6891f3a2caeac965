"""Spark through Spark Connect: a remote cluster when configured, else the machine's local server."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_pyspark.resources import spark_session_from_config
from pydantic import Field

from moodlake_dagster.spark_server import ensure_local_server


class SparkConnectResource(dg.ConfigurableResource):
    """A Spark Connect session; no step pays a JVM start once the server is up.

    With `spark_remote` set (e.g. `sc://spark-master:15002`) it connects there. Otherwise it
    starts one local server from the pyspark wheel on first use and reuses it across steps and
    runs.
    """

    spark_remote: str | None = Field(default=None, description="Spark Connect URL, sc://host:port")
    state_dir: str = Field(description="Where the local server keeps its pid, port and log")
    local_port: int = 15002
    driver_memory: str = "4g"

    def url(self, log=None) -> str:
        if self.spark_remote:
            return self.spark_remote
        server = ensure_local_server(
            Path(self.state_dir), port=self.local_port, driver_memory=self.driver_memory, log=log
        )
        return server.url

    def get_session(self, context: dg.AssetExecutionContext | None = None):
        log = context.log.info if context is not None else None
        return spark_session_from_config({"spark.remote": self.url(log)})
