"""What `moodlake build` tells a listener at the end: how much of their listening the mood
tables can see, where every file went, and why a model could not run — with what would fix it.

Read from the lake (Silver `users`) and from the runs' materialization metadata; no Spark.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from moodlake_dagster import storage
from moodlake_dagster.tables import (
    ALS_RECOMMENDATIONS,
    EXPLANATIONS,
    LISTENING_EVENTS,
    LISTENING_MODES,
    PLAYS,
    PREFERENCE_MODEL,
    RECOMMENDATIONS,
    TRACK_MOODS,
    USERS,
)
from moodlake_dagster.transform.timezones import zone_note

# Metadata keys, per asset, that hold {listener or part: why it could not run}.
# Metadata keyed by asset key (`gold/listening_modes`): who each model could not serve.
SKIP_REASONS = {
    LISTENING_MODES.path: "users_skipped",
    PREFERENCE_MODEL.path: "users_skipped",
    RECOMMENDATIONS.path: "listeners_skipped",
    EXPLANATIONS.path: "not_explained",
}
CATALOG_HINT = (
    "more of your plays need audio features: add a larger catalog "
    "(`moodlake catalog add dataset.csv`, the full 114k-track Kaggle file, or a 1.2M-song "
    "dataset)"
)


def fix_hint(reason: str) -> str:
    """What would let a model run, from the reason it gave."""
    text = reason.lower()
    if "audio feature" in text or "with features" in text:
        return CATALOG_HINT
    if "day" in text:
        return "more days of listening history (the model holds later days out to test itself)"
    if "plays" in text or "class" in text:
        return "more listening history"
    return "see the asset's log in the UI"


def listener_lines(
    lake_root: str, default_timezone: str, as_of: dt.date | None = None
) -> list[str]:
    """One line per listener: plays, feature coverage (plays and distinct tracks), local time."""
    uri = storage.table_uri(lake_root, USERS.layer, USERS.name)
    if not storage.table_exists(uri):
        return []
    day = storage.snapshot_day(uri, as_of or dt.date.max)
    if day is None:
        return []
    users = pd.DataFrame(storage.read_rows(uri, [("as_of_date", "=", day)]))
    lines = []
    for u in users.sort_values("plays", ascending=False).itertuples():
        zone = zone_note(
            getattr(u, "timezone_source", None) or "default",
            u.timezone,
            list(getattr(u, "countries", None) or []),
            default_timezone,
        )
        lines.append(
            f"  {u.user_id}: {u.plays:,} plays, audio features for {u.feature_coverage:.1%} "
            f"({u.plays_with_features:,} plays; {u.tracks_with_features:,} of "
            f"{u.tracks_played:,} distinct tracks); local time {zone}"
        )
    return lines


def file_lines(accounting: list[dict]) -> list[str]:
    """Every file: its format and where its records went, or why it was not read."""
    lines = []
    for row in accounting:
        if row["format"] is None:
            lines.append(f"  {row['file']}: {row['reason']}")
            continue
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in row.get("kinds", {}).items())
        parts = [f"{row['records']:,} records", f"landed {row['landed']:,} ({kinds or 'none'})"]
        if row["quarantined"]:
            parts.append(f"quarantined {row['quarantined']:,}")
        if row["outside_range"]:
            parts.append(f"{row['outside_range']:,} outside these days")
        lines.append(f"  {row['file']} [{row['format']}]: {', '.join(parts)}")
    return lines


def model_lines(metadata: dict[str, dict]) -> list[str]:
    """Each listener a model skipped, why, and what would fix it."""
    lines = []
    for asset, key in SKIP_REASONS.items():
        for who, why in (metadata.get(asset, {}).get(key) or {}).items():
            lines.append(f"  {asset}: {who}: {why}\n    → {fix_hint(str(why))}")
    for asset, key in ((TRACK_MOODS.path, "skipped"), (ALS_RECOMMENDATIONS.path, "not_evaluated")):
        why = metadata.get(asset, {}).get(key)
        if why:
            lines.append(f"  {asset}: {why}\n    → {fix_hint(str(why))}")
    return lines


def summary(lake_root: str, default_timezone: str, metadata: dict[str, dict]) -> str:
    """The closing summary of a build, listeners first."""
    sections = [
        (
            "Listeners (share of plays the mood tables can see)",
            listener_lines(lake_root, default_timezone),
        )
    ]
    events = metadata.get(LISTENING_EVENTS.path, {})
    if events.get("file_accounting"):
        sections.append(("Files", file_lines(events["file_accounting"])))
    kept_out = metadata.get(PLAYS.path, {}).get("kept_out_of_plays")
    if kept_out:
        sections.append(
            ("Kept out of music plays", [f"  {why}: {n:,}" for why, n in kept_out.items()])
        )
    unchanged = sorted(name for name, meta in metadata.items() if meta.get("unchanged"))
    rebuilt_models = [name for name in SKIP_REASONS if not metadata.get(name, {}).get("unchanged")]
    if rebuilt_models:
        sections.append(
            ("Models that could not run for someone", model_lines(metadata) or ["  none"])
        )
    if unchanged:
        sections.append(
            (
                "Unchanged: same inputs as their last write, nothing written "
                "(the build that wrote them said what could not run; --force rewrites)",
                [f"  {', '.join(unchanged)}"],
            )
        )
    return "\n".join(f"{title}:\n" + "\n".join(lines) for title, lines in sections if lines)
