#!/usr/bin/env bash
# The Spark Connect server in the foreground, from the pyspark package the client uses (one
# Spark version on both sides). Extra arguments are passed to spark-submit (`--conf k=v`).
set -euo pipefail
SPARK_HOME="$(python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
export SPARK_HOME
exec "$SPARK_HOME/bin/spark-submit" \
  --class org.apache.spark.sql.connect.service.SparkConnectServer \
  --name moodlake-spark-connect \
  --driver-memory "${MOODLAKE_SPARK_DRIVER_MEMORY:-2g}" \
  --conf spark.connect.grpc.binding.port=15002 \
  --conf spark.sql.session.timeZone=UTC \
  --conf spark.ui.enabled=false \
  --conf spark.sql.shuffle.partitions=4 \
  --conf spark.local.dir=/tmp/spark \
  "$@" spark-internal
