"""Resources, chosen per environment in one place: `build_resources`."""

from __future__ import annotations

from moodlake_dagster.resources.lake import LakeResource
from moodlake_dagster.resources.settings import MoodlakeConfig, env_secret
from moodlake_dagster.resources.spark import SparkConnectResource
from moodlake_dagster.resources.spotify import SpotifyResource
from moodlake_dagster.settings import Settings


def build_resources(settings: Settings) -> dict:
    """Local folder lake and local Spark by default; a remote Spark Connect URL by setting.

    An object-store root (MOODLAKE_LAKE=s3://…) reaches delta-rs, which reads AWS_* variables;
    it is untested here and Spark would need the hadoop-aws connector.
    """
    return {
        "lake": LakeResource(
            root=settings.lake_root,
            target_file_mb=settings.target_file_mb,
            spark_writes=settings.spark_writes,
            vacuum_retention_hours=settings.vacuum_retention_hours,
        ),
        "spark": SparkConnectResource(
            spark_remote=settings.spark_remote,
            state_dir=str(settings.spark_state_dir),
            local_port=settings.spark_port,
            spark_master=settings.spark_master,
            driver_memory=settings.spark_driver_memory,
            idle_stop_s=settings.spark_idle_stop_s,
        ),
        "moodlake": MoodlakeConfig.from_settings(settings),
        "spotify": SpotifyResource(
            client_id=settings.spotify_client_id,
            client_secret=env_secret(
                "MOODLAKE_SPOTIFY_CLIENT_SECRET", settings.spotify_client_secret
            ),
            redirect_uri=settings.spotify_redirect_uri,
            token_cache=str(settings.spotify_token_cache),
            api_url=settings.spotify_api_url,
            accounts_url=settings.spotify_accounts_url,
            account=settings.spotify_account or settings.default_user,
            max_wait_s=settings.spotify_max_wait_s,
            request_spacing_s=settings.spotify_request_spacing_s,
        ),
    }


__all__ = [
    "LakeResource",
    "MoodlakeConfig",
    "SparkConnectResource",
    "SpotifyResource",
    "build_resources",
]
