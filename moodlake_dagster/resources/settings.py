"""The ingest and conformance settings the assets read, as a Dagster resource."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from moodlake_dagster.settings import Settings


class MoodlakeConfig(dg.ConfigurableResource):
    """Where the sources are and how plays are interpreted (see `.env.example`)."""

    home: str
    catalog: str  # every catalog file, comma-joined, first = highest precedence
    landing: str
    timezone: str = "UTC"
    user_timezones: dict[str, str] = {}
    default_user: str = "me"
    skip_threshold_ms: int = 30_000
    dedup_window_s: int = 90
    include_incognito: bool = False
    music_videos_as_plays: bool = False
    pseudonym_key: str | None = None
    landing_settle_s: float = 30.0
    landing_patience_s: float = 600.0
    api_plays_in_training: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> MoodlakeConfig:
        return cls(
            home=str(settings.home),
            catalog=",".join(str(path) for path in settings.catalogs),
            landing=str(settings.landing),
            timezone=settings.timezone,
            user_timezones=dict(settings.user_timezones),
            default_user=settings.default_user,
            skip_threshold_ms=settings.skip_threshold_ms,
            dedup_window_s=settings.dedup_window_s,
            include_incognito=settings.include_incognito,
            music_videos_as_plays=settings.music_videos_as_plays,
            pseudonym_key=settings.pseudonym_key,
            landing_settle_s=settings.landing_settle_s,
            landing_patience_s=settings.landing_patience_s,
            api_plays_in_training=settings.api_plays_in_training,
        )

    def settings(self) -> Settings:
        return Settings(
            home=Path(self.home),
            catalogs=tuple(Path(part) for part in self.catalog.split(",") if part),
            landing=self.landing if "://" in self.landing else Path(self.landing),
            lake_root="",
            timezone=self.timezone,
            user_timezones=self.user_timezones,
            default_user=self.default_user,
            skip_threshold_ms=self.skip_threshold_ms,
            dedup_window_s=self.dedup_window_s,
            include_incognito=self.include_incognito,
            music_videos_as_plays=self.music_videos_as_plays,
            pseudonym_key=self.pseudonym_key,
            landing_settle_s=self.landing_settle_s,
            landing_patience_s=self.landing_patience_s,
            api_plays_in_training=self.api_plays_in_training,
        )
