"""Resources, chosen per environment in one place: `build_resources`."""

from __future__ import annotations

from moodlake_dagster.resources.lake import LakeResource
from moodlake_dagster.resources.settings import MoodlakeConfig
from moodlake_dagster.resources.spark import SparkConnectResource
from moodlake_dagster.settings import Settings


def build_resources(settings: Settings) -> dict:
    """Local folder lake and local Spark by default; a remote Spark Connect URL by setting.

    An object-store root (MOODLAKE_LAKE=s3://…) reaches delta-rs, which reads AWS_* variables;
    it is untested here and Spark would need the hadoop-aws connector.
    """
    return {
        "lake": LakeResource(root=settings.lake_root),
        "spark": SparkConnectResource(
            spark_remote=settings.spark_remote,
            state_dir=str(settings.spark_state_dir),
            local_port=settings.spark_port,
            driver_memory=settings.spark_driver_memory,
        ),
        "moodlake": MoodlakeConfig.from_settings(settings),
    }


__all__ = ["LakeResource", "MoodlakeConfig", "SparkConnectResource", "build_resources"]
