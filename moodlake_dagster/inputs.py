"""What each table is made from, in one place.

The asset that writes a table fingerprints these inputs and writes nothing when the table
recorded the same fingerprint (`fingerprints`); `moodlake build` asks the same question before a
stage and starts no run at all when every table of the stage would be left as it is — a
ranged run over years of day partitions costs minutes of Dagster bookkeeping even when no
asset writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from moodlake_dagster import fingerprints
from moodlake_dagster.settings import Settings


def catalog_files(settings: Settings) -> str:
    return fingerprints.files_fingerprint(
        (p, p.stat().st_size, p.stat().st_mtime_ns) for p in settings.catalogs if p.is_file()
    )


def landing_files(settings: Settings) -> str:
    store = settings.landing_store
    files = store.files() if store.exists() else []
    return fingerprints.files_fingerprint((f.relative, f.size, f.mtime_ns) for f in files)


@dataclass(frozen=True)
class Inputs:
    """A table's layer, the tables it reads (`layer/name`), its source files, and whether
    the settings shape it."""

    layer: str
    reads: tuple[str, ...] = ()
    sources: Callable[[Settings], str] | None = None
    settings: bool = True

    def fingerprint(self, lake, settings: Settings, start: dt.date, end: dt.date) -> str:
        return lake.inputs(
            start,
            end,
            reads=list(self.reads),
            sources=self.sources(settings) if self.sources else None,
            settings=fingerprints.settings_fingerprint(settings) if self.settings else None,
        )

    def unchanged(self, lake, settings: Settings, table: str, start: dt.date, end: dt.date):
        return lake.recorded(self.layer, table) == self.fingerprint(lake, settings, start, end)


PLAYS_AND_TRACKS = ("silver/plays", "silver/tracks")

CATALOG_TRACKS = Inputs("bronze", sources=catalog_files)
LISTENING_EVENTS = Inputs("bronze", reads=("bronze/spotify_api_responses",), sources=landing_files)
TRACKS = Inputs("silver", reads=("bronze/catalog_tracks", "bronze/spotify_tracks"))
PLAYS = Inputs("silver", reads=("bronze/listening_events", "silver/tracks"))
USERS = Inputs("silver", reads=("silver/plays",), settings=False)
GOLD = Inputs("gold", reads=PLAYS_AND_TRACKS, settings=False)  # every table of gold_tables
TRACK_MOODS = Inputs("gold", reads=("silver/tracks",))
LISTENING_MODES = Inputs("gold", reads=PLAYS_AND_TRACKS)
PREFERENCE_MODEL = Inputs("gold", reads=PLAYS_AND_TRACKS)
ALS_RECOMMENDATIONS = Inputs("gold", reads=("silver/plays",))
RECOMMENDATIONS = Inputs(
    "gold", reads=(*PLAYS_AND_TRACKS, "gold/als_recommendations", "gold/listening_modes")
)
EXPLANATIONS = Inputs("gold", reads=("silver/tracks", "gold/recommendations", "gold/track_moods"))

# Asset name (its table's name) → its inputs; the Gold tables all share GOLD.
BY_ASSET = {
    "catalog_tracks": CATALOG_TRACKS,
    "listening_events": LISTENING_EVENTS,
    "tracks": TRACKS,
    "plays": PLAYS,
    "users": USERS,
    "track_moods": TRACK_MOODS,
    "listening_modes": LISTENING_MODES,
    "preference_model": PREFERENCE_MODEL,
    "als_recommendations": ALS_RECOMMENDATIONS,
    "recommendations": RECOMMENDATIONS,
    "shap_values": EXPLANATIONS,
    "explanations": EXPLANATIONS,
}


def stage_unchanged(lake, settings: Settings, assets, gold_tables, start, end) -> bool:
    """True when every asset of a stage would find its table's inputs unchanged."""
    for name in assets:
        spec = BY_ASSET.get(name) or (GOLD if name in gold_tables else None)
        if spec is None or not spec.unchanged(lake, settings, name, start, end):
            return False
    return True
