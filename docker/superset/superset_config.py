"""Superset settings for the compose service: metadata in SQLite on a volume, secrets from the
environment, nothing that needs the internet."""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ.get(
    "SUPERSET_DATABASE_URI", "sqlite:////var/lib/superset/superset.db"
)
# One process-local limiter store: no Redis in this deployment.
RATELIMIT_STORAGE_URI = "memory://"
# No example data, no map tiles or other calls out of the container.
SUPERSET_LOAD_EXAMPLES = False
MAPBOX_API_KEY = ""
