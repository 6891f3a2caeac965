#!/usr/bin/env bash
# Spark in the foreground, from the pyspark package the client uses (one Spark version on both
# sides): `moodlake-spark master | worker | connect [spark-submit arguments]`.
#   master   the standalone master, spark://spark-master:7077, web UI on 8080
#   worker   a worker offering SPARK_WORKER_CORES cores and SPARK_WORKER_MEMORY to the master
#   connect  the Spark Connect server on 15002, its executors on the master's workers
set -euo pipefail
SPARK_HOME="$(python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
export SPARK_HOME SPARK_NO_DAEMONIZE=1
MASTER="${SPARK_MASTER_URL:-spark://spark-master:7077}"
CORES="${SPARK_WORKER_CORES:-2}"
MEMORY="${SPARK_WORKER_MEMORY:-2g}"
role="${1:?usage: moodlake-spark master|worker|connect}"
shift
case "$role" in
  master)
    exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
      --host spark-master --port 7077 --webui-port 8080 "$@"
    ;;
  worker)
    # Its own address, not its container name: the master and the driver call back on it.
    address="$(hostname -i | cut -d' ' -f1)"
    exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker "$MASTER" \
      --host "$address" --webui-port 8081 --cores "$CORES" --memory "$MEMORY" \
      --work-dir /tmp/spark-work "$@"
    ;;
  connect)
    # One executor per worker, as large as a worker offers; workers added later get one too.
    exec "$SPARK_HOME/bin/spark-submit" \
      --class org.apache.spark.sql.connect.service.SparkConnectServer \
      --name moodlake-spark-connect \
      --master "$MASTER" \
      --driver-memory "${MOODLAKE_SPARK_DRIVER_MEMORY:-2g}" \
      --conf spark.driver.host=spark \
      --conf spark.driver.bindAddress=0.0.0.0 \
      --conf spark.executor.cores="$CORES" \
      --conf spark.executor.memory="$MEMORY" \
      --conf spark.connect.grpc.binding.port=15002 \
      --conf spark.sql.session.timeZone=UTC \
      --conf spark.ui.enabled=false \
      --conf spark.sql.shuffle.partitions=4 \
      --conf spark.local.dir=/tmp/spark \
      "$@" spark-internal
    ;;
  *)
    echo "moodlake-spark: unknown role '$role' (master, worker or connect)" >&2
    exit 2
    ;;
esac
