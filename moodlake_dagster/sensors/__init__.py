"""Sensors: new listening history (landing folder, Spotify API) flows in by itself."""

from moodlake_dagster.sensors.landing import landing_history_sensor
from moodlake_dagster.sensors.profiles import profiles_sensor
from moodlake_dagster.sensors.snapshots import listening_snapshot_sensor
from moodlake_dagster.sensors.spotify import spotify_recent_plays_sensor

SENSORS = [
    landing_history_sensor,
    spotify_recent_plays_sensor,
    listening_snapshot_sensor,
    profiles_sensor,
]

__all__ = [
    "SENSORS",
    "landing_history_sensor",
    "listening_snapshot_sensor",
    "profiles_sensor",
    "spotify_recent_plays_sensor",
]
