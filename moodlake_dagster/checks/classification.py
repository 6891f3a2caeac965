"""How personal each column of the lake is: one classification, beside the Pandera models.

Levels, lowest first:

- `low`: catalog facts (a track, its audio features, a genre, a catalog benchmark), aggregates
  over at least `MIN_GROUP` listeners, and run lineage (batch id, write time, catalog file).
- `medium`: behavioural, about one listener: their plays, times, skips, sessions, time zone
  and connection country, per-listener model outputs, and `user_id`, the keyed pseudonym their
  rows carry. The pseudonym names no one without the key, and no table joins it to a name, an
  email or a Spotify profile, so it is medium wherever it sits (the profile in `silver/users`
  is behavioural: zone, countries, first and last play).
- `high`: identifies or reveals a person: an identity field (account name, email, display name;
  ingest drops or pseudonymizes them, so none is stored, and a table that gains one is high),
  raw source text that may hold a name (a quarantined record, a Web API response as
  received), the audit trail's subject and actor (whose data an export or erase was about, and
  the operating-system user who ran it).

Lineage paths (`_source_file`, `source_file`) are medium, not high: the account folder, the one
part of a landing path that names a person, is pseudonymized on ingest (columns.py says so), so
a path carries the same pseudonym as `user_id` beside Spotify's own file names. A catalog's
`_source_file` is the CSV's name: low.

A column's level is its table's own rule (`BY_TABLE`), else the rule for its name (`SHARED`),
else its table's default (`DEFAULT`), else none: unclassified, which the tests refuse and
`moodlake sql` withholds like a high column. A new table needs an entry in `DEFAULT`.

`MIN_GROUP` is the default smallest group an aggregate may be `low` over; the
`MOODLAKE_MIN_GROUP` setting raises or lowers it for `gold/crowd_top`, the one cross-listener
table that enforces it (a row only where that many listeners stand behind it: low). The other
platform tables count listeners without such a floor (an instance of two has DAU ≤ 2), so
they are medium, like `model_metrics`, which may rest on one listener.

Profiles: the masked email (`a***e@example.org`) still narrows a person down, and the birth
year as received is a quasi-identifier: both high; the email's keyed token is medium, like the
pseudonym; the age band, country, plan and signup day are medium.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from moodlake_dagster.vocabulary import AUDIO_FEATURES, TASTE_FEATURES

LOW, MEDIUM, HIGH = LEVELS = ("low", "medium", "high")
RANK = {level: rank for rank, level in enumerate(LEVELS)}
MIN_GROUP = 5  # listeners; a MOODLAKE_MIN_GROUP setting would replace it

# Columns whose level is the same in every table that has them.
SHARED: dict[str, str] = {
    **dict.fromkeys(("username", "email", "display_name"), HIGH),  # never stored
    "user_id": MEDIUM,
    "_source_file": MEDIUM,  # pseudonyms and Spotify's own file names only
    "source_file": MEDIUM,
    **dict.fromkeys(("_batch_id", "_ingested_at", "_catalog_layout", "_source_sha256"), LOW),
    **dict.fromkeys(("_source_row", "_record_index", "as_of_date"), LOW),
    **dict.fromkeys(AUDIO_FEATURES, LOW),  # a track's own value, wherever it is shown
}

# Every table's default for the columns neither rule names.
CATALOG_TABLES = ("bronze/catalog_tracks", "bronze/spotify_tracks", "silver/tracks")
CATALOG_TABLES += ("gold/track_moods", "gold/popularity_predictions")
GROUP_TABLES = ("gold/crowd_top",)  # every row rests on at least MIN_GROUP listeners
LISTENER_TABLES = (
    "bronze/spotify_api_responses",
    "bronze/listening_events",
    "bronze/quarantine",
    "silver/plays",
    "silver/users",
    *(
        f"gold/{name}"
        for name in (
            "listening_by_daypart",
            "mood_by_hour",
            "genre_mix",
            "track_engagement",
            "feature_correlations",
            "feature_gaps",
            "genre_discovery",
            "mood_by_day",
            "sessions",
            "session_summary",
            "top_artists",
            "top_tracks",
            "listening_context",
            "feature_thresholds",
            "mood_trends",
            "mood_trend_tests",
            "insights",
            "model_metrics",  # per-listener metrics, named by pseudonym in `note`
            "listening_modes",
            "preference_model",
            "als_recommendations",
            "recommendations",
            "shap_values",
            "explanations",
            # Many listeners: counts without a k floor, and per-listener model outputs.
            "active_listeners",
            "retention_cohorts",
            "plan_country_mix",
            "farm_flags",
            "listener_segments",
            "churn_risk",
            "mood_playlists",
        )
    ),
    "bronze/profiles",
    "silver/profiles",
    "audit/events",
)
DEFAULT: dict[str, str] = dict.fromkeys((*CATALOG_TABLES, *GROUP_TABLES), LOW) | dict.fromkeys(
    LISTENER_TABLES, MEDIUM
)

# Columns whose level depends on the table: "layer/table" → column → level.
BY_TABLE: dict[str, dict[str, str]] = {
    "bronze/catalog_tracks": {"_source_file": LOW},  # the catalog CSV's file name
    "bronze/spotify_api_responses": {"body": HIGH},  # a response page as received
    "bronze/quarantine": {"raw": HIGH, "asset": LOW},  # raw: a record's text, scrubbed, as read
    "gold/feature_gaps": dict.fromkeys(("catalog_mean", "catalog_std", "catalog_median"), LOW),
    "gold/genre_discovery": dict.fromkeys(
        ("catalog_tracks", *(f"genre_{f}" for f in TASTE_FEATURES)), LOW
    ),
    "gold/model_metrics": {"model": LOW, "metric": LOW},
    "bronze/profiles": {"email_masked": HIGH, "birth_year": HIGH},
    "silver/profiles": {"email_masked": HIGH},
    "audit/events": {
        "subject": HIGH,  # the pseudonym (or erasure token) a person's request was about
        "actor": HIGH,  # the operating-system login name of who ran the command
        **dict.fromkeys(("event_id", "action", "rows"), LOW),
    },
}


def classify(table: str, column: str) -> str | None:
    """The level of `column` in `table` ("layer/name"); None when no rule covers it."""
    return BY_TABLE.get(table, {}).get(column) or SHARED.get(column) or DEFAULT.get(table)


def highest(levels: Iterable[str | None], default: str | None = None) -> str | None:
    """The highest of `levels`, an unclassified one (None) counting as high."""
    return max((level or HIGH for level in levels), key=RANK.__getitem__, default=default)


def table_level(table: str, columns: Iterable[str]) -> str:
    """A table's level: the highest of its columns' (an unclassified column counts as high)."""
    return highest((classify(table, c) for c in columns), DEFAULT.get(table, HIGH))


def table_pii(table: str, declared: Iterable[str] = ()) -> str:
    """The level of a table whose written columns are not all known here (Spark decides them):
    the highest of its default, its own rules and the columns it declares (its Pandera model's)."""
    named = [*BY_TABLE.get(table, {}), *declared]
    return highest([DEFAULT.get(table), *(classify(table, c) for c in named)])


def unclassified(columns: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """Every (table, column) of `columns` ("layer/name" → its columns) with no classification."""
    return [(t, c) for t, names in columns.items() for c in names if classify(t, c) is None]


def is_personal(table: str, column: str) -> bool:
    """Whether `moodlake sql` withholds the column unless asked: high, or unclassified."""
    return (classify(table, column) or HIGH) == HIGH
