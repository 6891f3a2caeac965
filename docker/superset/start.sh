#!/usr/bin/env bash
# Superset service entrypoint: migrate the metadata DB, sync roles, create the admin and the
# starter dashboard (idempotent: safe on every restart), then serve on 8088.
set -euo pipefail

: "${SUPERSET_SECRET_KEY:?set SUPERSET_SECRET_KEY}"
: "${SUPERSET_ADMIN_USERNAME:?set SUPERSET_ADMIN_USERNAME}"
: "${SUPERSET_ADMIN_PASSWORD:?set SUPERSET_ADMIN_PASSWORD}"

superset db upgrade
superset init
python /opt/superset/bootstrap.py

# 2 workers x 4 threads: the machine has 2 cores and chart queries wait on DuckDB, not Python.
exec gunicorn --bind 0.0.0.0:8088 --workers "${SUPERSET_WORKERS:-2}" --worker-class gthread \
    --threads 4 --timeout 120 --limit-request-line 0 --limit-request-field_size 0 \
    --access-logfile - "superset.app:create_app()"
