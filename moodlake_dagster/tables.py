"""Every Delta table of the lake, one entry each: where it lives, how runs replace it, its
contract, what it is made from. Assets, storage calls, checks, `moodlake sql`, the Trino
registration and `moodlake spotify disconnect` read it; nothing else spells a table's name.

Adding a table: one entry here (and its columns in `columns.py`), one thin asset.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import pandera.pandas as pa_models
import pyarrow as pa

from moodlake_dagster.checks import platform as platform_models
from moodlake_dagster.checks import schemas as models
from moodlake_dagster.checks.classification import classify, table_level, table_pii
from moodlake_dagster.columns import describe
from moodlake_dagster.vocabulary import AUDIO_FEATURES, MODE_FEATURES

PLAY_DAY = "play_date"  # event tables: a run replaces the days its plays happened on
LOCAL_DAY = "local_date"  # daily series: a run replaces the listeners' local days it touches
AS_OF = "as_of_date"  # snapshots: a run replaces its range with one snapshot as of its end


@dataclass(frozen=True)
class Table:
    layer: str  # bronze | silver | gold: the folder under the lake root and the key prefix
    name: str
    group: str  # the asset group in the Dagster UI
    description: str
    partition: str | None  # the day column a run replaces (None: appended, never replaced)
    model: type[pa_models.DataFrameModel] | None = None  # the Pandera contract
    schema: pa.Schema | None = None  # fixed where Python builds the rows; Spark's otherwise
    reads: tuple[Table, ...] = ()  # the tables it is computed from (its fingerprint's inputs)
    shaped_by_settings: bool = True  # whether MOODLAKE_* settings change its rows
    # A snapshot whose rows (but for as_of_date) follow only from what it reads — the latest
    # snapshot of each snapshot it reads, the whole of any other — never from its day: a new day
    # with the same inputs writes nothing, and readers of that day take the snapshot before it.
    same_every_day: bool = False

    @property
    def path(self) -> str:
        """`layer/name`: the folder under the lake root, and the asset key's user string."""
        return f"{self.layer}/{self.name}"

    @property
    def key(self) -> dg.AssetKey:
        """The asset key says where the table lives: `silver/plays`."""
        return dg.AssetKey([self.layer, self.name])

    @property
    def metadata(self) -> dict:
        """The asset's static metadata: its columns, where the schema is fixed here."""
        return self.columns(self.schema) if self.schema is not None else {}

    @property
    def pii(self) -> str:
        """How personal the table is (checks/classification.py): its highest column's; where
        Spark decides the columns, the highest its rules and Pandera model's columns give."""
        if self.schema is not None:
            return table_level(self.path, self.schema.names)
        return table_pii(self.path, self.model.to_schema().columns if self.model else ())

    def columns(self, schema: pa.Schema) -> dict:
        """The column schema the UI shows (each column's type, meaning and `pii` tag), as
        metadata; Spark decides the columns of the tables it builds, so their runs report the
        written one."""
        columns = [
            dg.TableColumn(
                field.name,
                str(field.type),
                description=describe(self.path, field.name),
                tags={"pii": classify(self.path, field.name) or "unclassified"},
            )
            for field in schema
        ]
        return {"dagster/column_schema": dg.TableSchema(columns=columns)}

    def __str__(self) -> str:
        return self.path


# ---- Bronze: sources as received, with lineage ------------------------------------------------

CATALOG_TRACKS = Table(
    "bronze",
    "catalog_tracks",
    "bronze",
    "Every catalog file as received, merged in precedence order (the first file's rows win a "
    "track_id), with source file and row; bad rows go to quarantine.",
    AS_OF,
    models.CatalogTracks,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("track_id", pa.string()),
            ("artists", pa.string()),
            ("album_name", pa.string()),
            ("track_name", pa.string()),
            ("popularity", pa.int64()),
            ("duration_ms", pa.int64()),
            ("explicit", pa.bool_()),
            ("danceability", pa.float64()),
            ("energy", pa.float64()),
            ("key", pa.int64()),
            ("loudness", pa.float64()),
            ("mode", pa.int64()),
            ("speechiness", pa.float64()),
            ("acousticness", pa.float64()),
            ("instrumentalness", pa.float64()),
            ("liveness", pa.float64()),
            ("valence", pa.float64()),
            ("tempo", pa.float64()),
            ("time_signature", pa.int64()),
            ("track_genre", pa.string()),
            ("_catalog_layout", pa.string()),
            ("_source_file", pa.string()),
            ("_source_row", pa.int64()),
            ("_source_sha256", pa.string()),
            ("_ingested_at", pa.timestamp("us", tz="UTC")),
            ("_batch_id", pa.string()),
        ]
    ),
    same_every_day=True,
)
SPOTIFY_API_RESPONSES = Table(
    "bronze",
    "spotify_api_responses",
    "bronze",
    "Web API recently-played responses, one row per page as received (written by the Spotify "
    "sensor, not by a run).",
    "request_date",
    schema=pa.schema(
        [
            ("request_date", pa.date32()),
            ("requested_at", pa.timestamp("us", tz="UTC")),
            ("user_id", pa.string()),
            ("endpoint", pa.string()),
            ("after_ms", pa.int64()),
            ("page", pa.int64()),
            ("items", pa.int64()),
            ("body", pa.string()),
        ]
    ),
)
LISTENING_EVENTS = Table(
    "bronze",
    "listening_events",
    "bronze",
    "Every play from every history file in the landing folder (privacy export, Extended "
    "Streaming History, legacy endsong, Web API), as received with lineage; IP addresses "
    "dropped, account names become keyed pseudonyms.",
    PLAY_DAY,
    models.ListeningEvents,
    pa.schema(
        [
            ("play_date", pa.date32()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("user_id", pa.string()),
            ("ms_played", pa.int64()),
            ("content_type", pa.string()),
            ("track_name", pa.string()),
            ("artist_name", pa.string()),
            ("album_name", pa.string()),
            ("track_uri", pa.string()),
            ("episode_name", pa.string()),
            ("episode_show_name", pa.string()),
            ("episode_uri", pa.string()),
            ("audiobook_uri", pa.string()),
            ("audiobook_title", pa.string()),
            ("audiobook_chapter_title", pa.string()),
            ("reason_start", pa.string()),
            ("reason_end", pa.string()),
            ("shuffle", pa.bool_()),
            ("skipped", pa.bool_()),
            ("offline", pa.bool_()),
            ("offline_timestamp", pa.int64()),
            ("incognito_mode", pa.bool_()),
            ("platform", pa.string()),
            ("conn_country", pa.string()),
            ("source_format", pa.string()),
            ("_source_file", pa.string()),
            ("_record_index", pa.int64()),
            ("_ingested_at", pa.timestamp("us", tz="UTC")),
            ("_batch_id", pa.string()),
        ]
    ),
    reads=(SPOTIFY_API_RESPONSES,),
)
SPOTIFY_TRACKS = Table(
    "bronze",
    "spotify_tracks",
    "bronze",
    "Tracks looked up on the Web API for plays the catalog lacks (appended as fetched).",
    "fetched_date",
    models.SpotifyTracks,
    pa.schema(
        [
            ("fetched_date", pa.date32()),
            ("fetched_at", pa.timestamp("us", tz="UTC")),
            ("track_id", pa.string()),
            ("lookup_status", pa.string()),
            ("track_name", pa.string()),
            ("artists", pa.string()),
            ("album_name", pa.string()),
            ("duration_ms", pa.int64()),
            ("explicit", pa.bool_()),
            ("features_source", pa.string()),
            *[(name, pa.float64()) for name in AUDIO_FEATURES],
            ("key", pa.int64()),
            ("mode", pa.int64()),
            ("time_signature", pa.int64()),
        ]
    ),
)
QUARANTINE = Table(
    "bronze",
    "quarantine",
    "bronze",
    "Every record a Bronze or Silver asset could not take, with the file, the record and the "
    "reason; each run replaces its own asset's rows for its days.",
    "record_date",
    models.Quarantine,
    pa.schema(
        [
            ("asset", pa.string()),
            ("source_file", pa.string()),
            ("record_index", pa.int64()),
            ("record_date", pa.date32()),
            ("reason", pa.string()),
            ("raw", pa.string()),
            ("_batch_id", pa.string()),
            ("_ingested_at", pa.timestamp("us", tz="UTC")),
        ]
    ),
)

# ---- Silver: clean, typed, conformed ----------------------------------------------------------

TRACKS = Table(
    "silver",
    "tracks",
    "silver",
    "One row per track_id with its genres as a list, range-checked audio features, and a "
    "normalized (artist, title) song_key linking the same song across ids. Catalog first; "
    "played tracks it lacks join from Web API lookups that carry features; then one estimate "
    "per catalog artist (their songs' mean features) for plays of songs the catalog lacks.",
    AS_OF,
    models.Tracks,
    reads=(CATALOG_TRACKS, SPOTIFY_TRACKS),  # every Spotify lookup so far, whatever its day
    same_every_day=True,
)
PLAYS = Table(
    "silver",
    "plays",
    "silver",
    "One row per real music play: UTC and local time, skipped, deduplicated across files and "
    "re-imports, resolved to the catalog by id then by normalized names (unresolved kept).",
    PLAY_DAY,
    models.Plays,
    reads=(LISTENING_EVENTS, TRACKS),
)
USERS = Table(
    "silver",
    "users",
    "silver",
    "Pseudonymous listeners with their time zone, first and last play and feature coverage, "
    "as of the partition day (built from every play up to it).",
    AS_OF,
    models.Users,
    reads=(PLAYS,),
    shaped_by_settings=False,
)

# ---- Listener profiles: from the operator, not from Spotify ------------------------------------

BRONZE_PROFILES = Table(
    "bronze",
    "profiles",
    "platform",
    "Listener profiles as the operator's profiles file gives them (account, email, birth "
    "year, country, plan, signup date), with lineage; the account becomes its pseudonym and "
    "the email a masked form and a keyed token on ingest: the clear address is never written. "
    "Payment-like columns are refused.",
    AS_OF,
    platform_models.BronzeProfiles,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("user_id", pa.string()),
            ("email_masked", pa.string()),
            ("email_token", pa.string()),
            ("birth_year", pa.string()),
            ("country", pa.string()),
            ("plan", pa.string()),
            ("signup_date", pa.string()),
            ("_source_file", pa.string()),
            ("_record_index", pa.int64()),
            ("_ingested_at", pa.timestamp("us", tz="UTC")),
            ("_batch_id", pa.string()),
        ]
    ),
)
PROFILES = Table(
    "silver",
    "profiles",
    "platform",
    "One row per listener with a profile: pseudonym, masked email and its keyed token, age "
    "band (never the birth year), country, plan and signup date; rows with an unknown country "
    "or plan, a future signup, an impossible birth year or a repeated account go to quarantine.",
    AS_OF,
    platform_models.Profiles,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("user_id", pa.string()),
            ("email_masked", pa.string()),
            ("email_token", pa.string()),
            ("age_band", pa.string()),
            ("country", pa.string()),
            ("plan", pa.string()),
            ("signup_date", pa.date32()),
            ("_source_file", pa.string()),
        ]
    ),
    reads=(BRONZE_PROFILES,),
    shaped_by_settings=False,
)

# ---- Gold: one table per question --------------------------------------------------------------


def _gold(name: str, description: str, model, schema: pa.Schema | None = None) -> Table:
    return Table("gold", name, "gold", description, AS_OF, model, schema, (PLAYS, TRACKS), False)


LISTENING_BY_DAYPART = _gold(
    "listening_by_daypart",
    "When do I listen, and in what mood: plays, minutes, skip rate and mean valence, energy, "
    "danceability, acousticness and tempo per day part × weekday, in the listener's time zone.",
    models.ListeningByDaypart,
)
MOOD_BY_HOUR = _gold(
    "mood_by_hour",
    "When in the day is my music brighter or calmer: plays, minutes, skip rate and mean "
    "valence, energy and danceability per hour of the day, in the listener's time zone.",
    models.MoodByHour,
)
GENRE_MIX = _gold(
    "genre_mix",
    "What do I listen to: share of resolved plays per genre (a play split over its track's "
    "genres), minutes and distinct tracks.",
    models.GenreMix,
)
TRACK_ENGAGEMENT = _gold(
    "track_engagement",
    "How I engage with each track: plays, skips, skip rate, completion and minutes, including "
    "tracks the catalog does not know (keyed by normalized artist and title).",
    models.TrackEngagement,
)
FEATURE_CORRELATIONS = _gold(
    "feature_correlations",
    "Which audio features go with what I play: Pearson r with p-value and n between each "
    "feature and per-track play count and skip rate.",
    models.FeatureCorrelations,
    pa.schema(
        [
            ("user_id", pa.string()),
            ("feature", pa.string()),
            ("metric", pa.string()),
            ("pearson_r", pa.float64()),
            ("p_value", pa.float64()),
            ("n", pa.int64()),
            ("note", pa.string()),
            ("as_of_date", pa.date32()),
        ]
    ),
)
FEATURE_GAPS = _gold(
    "feature_gaps",
    "Personal vs. catalog benchmark, features: where my play-weighted feature distribution "
    "sits against the whole catalog's (means, quartiles, gap in catalog standard deviations).",
    models.FeatureGaps,
)
GENRE_DISCOVERY = _gold(
    "genre_discovery",
    "Personal vs. catalog benchmark, genres: catalog genres I have never played, ranked by how "
    "close their mood profile is to mine: discovery opportunities.",
    models.GenreDiscovery,
)
MOOD_BY_DAY = Table(
    "gold",
    "mood_by_day",
    "gold",
    "How was my day: per listener and local day, plays, minutes, skip rate, and the mean and "
    "spread of valence, energy and danceability over the plays with audio features, with the "
    "share of plays they cover. Built a few days at a time: a new day of history rewrites "
    "only the local days its plays fall on.",
    LOCAL_DAY,
    models.MoodByDay,
    reads=(PLAYS, TRACKS),
    shaped_by_settings=False,
)
SESSIONS = _gold(
    "sessions",
    "How do I listen in one sitting: one row per session (plays with no gap over 30 minutes) "
    "with its start, day part, length, plays, skip rate, mean mood, mood arc (last third of "
    "its plays against the first), main platform and shuffle share.",
    models.Sessions,
)
SESSION_SUMMARY = _gold(
    "session_summary",
    "My sessions per day part: how many, how long, and what share were high-energy or "
    "brightened as they went.",
    models.SessionSummary,
)
TOP_ARTISTS = _gold(
    "top_artists",
    "Who do I listen to: the top 20 artists by minutes over the last week, the last month and "
    "all time.",
    models.TopArtists,
)
TOP_TRACKS = _gold(
    "top_tracks",
    "What do I play most: the top 20 tracks by minutes over the last week, the last month and "
    "all time (tracks the catalog lacks by their artist and title).",
    models.TopTracks,
)
LISTENING_CONTEXT = _gold(
    "listening_context",
    "Where and how do I listen: plays, share and skip rate by platform and by shuffle on or off.",
    models.ListeningContext,
)
FEATURE_THRESHOLDS = _gold(
    "feature_thresholds",
    "Which feature values go with skipping or not finishing: per audio feature, the split point "
    "that best separates the listener's skips (or completion), chosen on half their tracks and "
    "tested on the other half (Mann-Whitney U, rank-biserial effect size).",
    models.FeatureThresholds,
    pa.schema(
        [
            ("user_id", pa.string()),
            ("feature", pa.string()),
            ("outcome", pa.string()),
            ("split_point", pa.float64()),
            ("n_discovery", pa.int64()),
            ("n_above", pa.int64()),
            ("n_below", pa.int64()),
            ("rate_above", pa.float64()),
            ("rate_below", pa.float64()),
            ("difference", pa.float64()),
            ("relative_difference", pa.float64()),
            ("effect_size", pa.float64()),
            ("p_value", pa.float64()),
            ("test", pa.string()),
            ("note", pa.string()),
            ("as_of_date", pa.date32()),
        ]
    ),
)
MOOD_TRENDS = Table(
    "gold",
    "mood_trends",
    "gold",
    "How was my week, against my usual: per listener, week and month, plays, minutes, skip "
    "rate, valence, energy, danceability and feature coverage, each beside the mean and spread "
    "of the 12 periods before it and its z-score against them.",
    AS_OF,
    models.MoodTrends,
    reads=(MOOD_BY_DAY,),
    shaped_by_settings=False,
)
MOOD_TREND_TESTS = Table(
    "gold",
    "mood_trend_tests",
    "gold",
    "Has my listening changed over the year: per listener and measure, a Mann-Kendall trend "
    "test over the last 12 complete months (Kendall's tau, p-value) and the Theil-Sen slope.",
    AS_OF,
    models.MoodTrendTests,
    pa.schema(
        [
            ("user_id", pa.string()),
            ("measure", pa.string()),
            ("test", pa.string()),
            ("months", pa.int64()),
            ("first_month", pa.date32()),
            ("last_month", pa.date32()),
            ("mean_value", pa.float64()),
            ("kendall_tau", pa.float64()),
            ("slope_per_month", pa.float64()),
            ("p_value", pa.float64()),
            ("note", pa.string()),
            ("as_of_date", pa.date32()),
        ]
    ),
    reads=(MOOD_TRENDS,),
    shaped_by_settings=False,
)
INSIGHTS = Table(
    "gold",
    "insights",
    "gold",
    "What the lake can say about me, in words: a short ranked list of sentences per listener, "
    "each with the numbers it rests on, its test and p-value (Benjamini-Hochberg adjusted "
    "across the listener's tested sentences) and the tables it came from.",
    AS_OF,
    models.Insights,
    pa.schema(
        [
            ("user_id", pa.string()),
            ("rank", pa.int64()),
            ("kind", pa.string()),
            ("subject", pa.string()),
            ("sentence", pa.string()),
            ("evidence", pa.string()),
            ("test", pa.string()),
            ("p_value", pa.float64()),
            ("p_adjusted", pa.float64()),
            ("n", pa.int64()),
            ("sources", pa.list_(pa.string())),
            ("as_of_date", pa.date32()),
        ]
    ),
    reads=(
        MOOD_TRENDS,
        MOOD_TREND_TESTS,
        FEATURE_THRESHOLDS,
        FEATURE_CORRELATIONS,
        SESSION_SUMMARY,
        TOP_ARTISTS,
    ),
    shaped_by_settings=False,
)
GOLD = (
    LISTENING_BY_DAYPART,
    MOOD_BY_HOUR,
    GENRE_MIX,
    TRACK_ENGAGEMENT,
    FEATURE_CORRELATIONS,
    FEATURE_GAPS,
    GENRE_DISCOVERY,
    SESSIONS,
    SESSION_SUMMARY,
    TOP_ARTISTS,
    TOP_TRACKS,
    LISTENING_CONTEXT,
    FEATURE_THRESHOLDS,
    MOOD_TRENDS,
    MOOD_TREND_TESTS,
    INSIGHTS,
)

# ---- Models: their outputs, stored beside Gold ----------------------------------------------


def _model(name: str, description: str, model, schema=None, reads=(), **kw) -> Table:
    return Table("gold", name, "ml", description, AS_OF, model, schema, reads, **kw)


MODEL_METRICS = _model(
    "model_metrics",
    "Every model's held-out metrics beside its baseline, one row per model, metric and "
    "as-of day, to compare retrains (each model asset replaces its own rows).",
    models.ModelMetrics,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("model", pa.string()),
            ("metric", pa.string()),
            ("value", pa.float64()),
            ("baseline", pa.float64()),
            ("n_eval", pa.int64()),
            ("note", pa.string()),
        ]
    ),
)
TRACK_MOODS = _model(
    "track_moods",
    "Every track in Silver (catalog and played) labelled with a mood — happy, sad, chill, "
    "party, sleep, study, romance — and its probability, by a classifier trained on the "
    "catalog's mood-named genres: labels a curator chose, independent of the audio features "
    "the model reads.",
    models.TrackMoods,
    reads=(TRACKS,),
    same_every_day=True,
)
LISTENING_MODES = _model(
    "listening_modes",
    "Each listener's modes — the kinds of listening they return to, found by K-Means over "
    "their plays in mood space (valence, energy, acousticness, danceability, tempo), k chosen "
    "by silhouette — with size, centroid, typical day part and a plain-language name.",
    models.ListeningModes,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("user_id", pa.string()),
            ("mode_id", pa.int64()),
            ("name", pa.string()),
            ("plays", pa.int64()),
            ("share", pa.float64()),
            ("typical_day_part", pa.string()),
            ("typical_hour", pa.int64()),
            *[(f"centroid_{f}", pa.float64()) for f in MODE_FEATURES],
        ]
    ),
    reads=(PLAYS, TRACKS),
)
PREFERENCE_MODEL = _model(
    "preference_model",
    "Per listener: will they enjoy (play through, not skip) a track? Trained on the days "
    "before a cutoff, evaluated on the days after it, from audio features and behaviour known "
    "before each play (familiarity, earlier skip rates, day part, shuffle, how it started).",
    models.PreferenceModel,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("user_id", pa.string()),
            ("status", pa.string()),
            ("reason", pa.string()),
            ("cutoff", pa.string()),
            ("n_train", pa.int64()),
            ("n_eval", pa.int64()),
            ("n_eval_with_features", pa.int64()),
            ("auc", pa.float64()),
            ("baseline_auc", pa.float64()),
        ]
    ),
    reads=(PLAYS, TRACKS),
)
FARM_FLAGS = _model(
    "farm_flags",
    "Accounts whose listening looks like stream farming rather than a person — loops of few "
    "tracks, plays just past 30 s, activity round the clock, tracks shared with other such "
    "accounts — flagged by an unsupervised detector and named rules, with the reason in words. "
    "Their plays are left out of the crowd's top lists and of ALS training.",
    platform_models.FarmFlags,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("user_id", pa.string()),
            ("flagged_days", pa.int64()),
            ("first_flagged", pa.date32()),
            ("last_flagged", pa.date32()),
            ("plays_on_flagged_days", pa.int64()),
            ("score", pa.float64()),
            ("reason", pa.string()),
        ]
    ),
    reads=(PLAYS,),
)
ALS_RECOMMENDATIONS = _model(
    "als_recommendations",
    "Tracks each listener is likely to play, by implicit-feedback ALS over listener × track "
    "play counts (Spark MLlib). With fewer than ten listeners, sessions stand in for "
    "listeners and a listener's taste is folded in from their latest sessions. Scored with "
    "precision@10 and NDCG@10 on later days beside a popularity ranking.",
    models.AlsRecommendations,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("user_id", pa.string()),
            ("rank", pa.int64()),
            ("track_id", pa.string()),
            ("als_score", pa.float64()),
            ("unit", pa.string()),
            ("basis", pa.string()),
        ]
    ),
    reads=(PLAYS, FARM_FLAGS),
)
RECOMMENDATIONS = _model(
    "recommendations",
    "Two lists per listener and day part: mirror (tracks that fit how they listen at that "
    "time, by a per-listener match model) and coach (a gentle step of +0.05..+0.15 in valence "
    "or energy above their recent mean, never more; valence only after a low-valence streak). "
    "Candidates are new catalog tracks from their liked genres and ALS suggestions.",
    models.Recommendations,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("user_id", pa.string()),
            ("day_part", pa.string()),
            ("mode", pa.string()),
            ("rank", pa.int64()),
            ("track_id", pa.string()),
            ("track_name", pa.string()),
            ("artists", pa.string()),
            ("genre", pa.string()),
            ("source", pa.string()),
            ("new_artist", pa.bool_()),
            ("listening_mode", pa.string()),
            ("match_score", pa.float64()),
            ("improvement_score", pa.float64()),
            ("als_score", pa.float64()),
            ("valence", pa.float64()),
            ("energy", pa.float64()),
            ("delta_valence", pa.float64()),
            ("delta_energy", pa.float64()),
            ("recent_valence", pa.float64()),
            ("recent_energy", pa.float64()),
            ("recent_over", pa.string()),
            ("low_valence_days", pa.int64()),
            ("coach_nudging", pa.bool_()),
        ]
    ),
    reads=(PLAYS, TRACKS, ALS_RECOMMENDATIONS, LISTENING_MODES),
)
_EXPLAINED = [
    ("as_of_date", pa.date32()),
    ("subject", pa.string()),
    ("user_id", pa.string()),
    ("day_part", pa.string()),
    ("mode", pa.string()),
    ("rank", pa.int64()),
    ("track_id", pa.string()),
    ("label", pa.string()),
]
SHAP_VALUES = _model(
    "shap_values",
    "SHAP contributions (TreeExplainer, log-odds) of every feature to every recommendation's "
    "match score and every track's mood label, with each feature's share.",
    models.ShapValues,
    pa.schema(
        [
            *_EXPLAINED,
            ("feature", pa.string()),
            ("feature_value", pa.float64()),
            ("shap_value", pa.float64()),
            ("share", pa.float64()),
            ("base_value", pa.float64()),
            ("output", pa.float64()),
        ]
    ),
    reads=(TRACKS, RECOMMENDATIONS, TRACK_MOODS),
)
EXPLANATIONS = _model(
    "explanations",
    "One sentence per recommendation and per mood label saying why, from its SHAP values: the "
    "features that pushed it most and their shares.",
    models.Explanations,
    pa.schema(
        [
            *_EXPLAINED,
            ("score", pa.float64()),
            ("base_value", pa.float64()),
            ("output", pa.float64()),
            ("sentence", pa.string()),
        ]
    ),
    reads=(TRACKS, RECOMMENDATIONS, TRACK_MOODS),
)
# The model tables in build order; those after track_moods are keyed by listener.
MODELS = (
    TRACK_MOODS,
    LISTENING_MODES,
    PREFERENCE_MODEL,
    ALS_RECOMMENDATIONS,
    RECOMMENDATIONS,
    SHAP_VALUES,
    EXPLANATIONS,
)
LISTENER_MODELS = MODELS[1:]

# ---- Platform: the view of many listeners ------------------------------------------------------


def _platform(name: str, description: str, model, schema: pa.Schema, reads) -> Table:
    return Table("gold", name, "platform", description, AS_OF, model, schema, reads)


ACTIVE_LISTENERS = _platform(
    "active_listeners",
    "Who listens: daily, weekly (7 local days) and monthly (30 days) active listeners per day, "
    "and stickiness (DAU / MAU).",
    platform_models.ActiveListeners,
    pa.schema(
        [
            ("day", pa.date32()),
            ("dau", pa.int64()),
            ("wau", pa.int64()),
            ("mau", pa.int64()),
            ("stickiness", pa.float64()),
            ("as_of_date", pa.date32()),
        ]
    ),
    (PLAYS,),
)
RETENTION_COHORTS = _platform(
    "retention_cohorts",
    "Who stays: per signup-month cohort (first-play month for listeners without a profile), "
    "the share active in each later month.",
    platform_models.RetentionCohorts,
    pa.schema(
        [
            ("cohort_month", pa.date32()),
            ("cohort_basis", pa.string()),
            ("months_since", pa.int64()),
            ("cohort_size", pa.int64()),
            ("active", pa.int64()),
            ("retention", pa.float64()),
            ("complete", pa.bool_()),
            ("as_of_date", pa.date32()),
        ]
    ),
    (PLAYS, PROFILES),
)
PLAN_COUNTRY_MIX = _platform(
    "plan_country_mix",
    "Plan × country: listeners, active listeners, plays, minutes and skip rate over the last "
    "28 days, and the estimated monthly revenue from the price table in settings "
    "(MOODLAKE_PRICES), never from payment data.",
    platform_models.PlanCountryMix,
    pa.schema(
        [
            ("plan", pa.string()),
            ("country", pa.string()),
            ("listeners", pa.int64()),
            ("active_listeners", pa.int64()),
            ("plays", pa.int64()),
            ("minutes", pa.float64()),
            ("skip_rate", pa.float64()),
            ("currency", pa.string()),
            ("monthly_price", pa.float64()),
            ("estimated_monthly_revenue", pa.float64()),
            ("as_of_date", pa.date32()),
        ]
    ),
    (PLAYS, PROFILES),
)
CROWD_TOP = _platform(
    "crowd_top",
    "What the crowd plays: top tracks, artists and genres per week. A row is shown only when "
    "at least MOODLAKE_MIN_GROUP listeners stand behind it (k-anonymity); flagged "
    "stream-farming accounts are left out.",
    platform_models.CrowdTop,
    pa.schema(
        [
            ("week_start", pa.date32()),
            ("kind", pa.string()),
            ("item", pa.string()),
            ("item_name", pa.string()),
            ("rank", pa.int64()),
            ("plays", pa.int64()),
            ("listeners", pa.int64()),
            ("as_of_date", pa.date32()),
        ]
    ),
    (PLAYS, TRACKS, FARM_FLAGS),
)
LISTENER_SEGMENTS = _model(
    "listener_segments",
    "Kinds of listener: K-Means over each listener's behaviour and taste (plays per active "
    "day, skip rate, day-part mix, mean valence and energy, genre breadth), k by silhouette, "
    "each segment named in words from its centroid.",
    platform_models.ListenerSegments,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("user_id", pa.string()),
            ("segment_id", pa.int64()),
            ("segment", pa.string()),
            ("plays_per_active_day", pa.float64()),
            ("skip_rate", pa.float64()),
            ("night_share", pa.float64()),
            ("morning_share", pa.float64()),
            ("afternoon_share", pa.float64()),
            ("evening_share", pa.float64()),
            ("mean_valence", pa.float64()),
            ("mean_energy", pa.float64()),
            ("genre_breadth", pa.float64()),
            ("distance", pa.float64()),
        ]
    ),
    reads=(PLAYS, TRACKS),
)
CHURN_RISK = _model(
    "churn_risk",
    "Who is drifting away: each listener's risk of no play in the next 28 days, from a model "
    "trained on earlier cutoffs and scored on a later one beside a days-since-last-play "
    "baseline, with the top reasons (SHAP) in words.",
    platform_models.ChurnRisk,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("user_id", pa.string()),
            ("risk", pa.float64()),
            ("risk_band", pa.string()),
            ("days_since_last_play", pa.int64()),
            ("plays_last_28d", pa.int64()),
            ("reasons", pa.string()),
        ]
    ),
    reads=(PLAYS, PROFILES),
)
POPULARITY_PREDICTIONS = _model(
    "popularity_predictions",
    "Will a track be popular: the out-of-fold probability that a catalog track is in the "
    "catalog's top quartile of popularity, from its audio features and genre (artist-grouped "
    "cross-validation, beside a genre-mean baseline).",
    platform_models.PopularityPredictions,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("track_id", pa.string()),
            ("genre", pa.string()),
            ("popularity", pa.int64()),
            ("top_quartile", pa.bool_()),
            ("probability", pa.float64()),
            ("fold", pa.int64()),
        ]
    ),
    reads=(TRACKS,),
    shaped_by_settings=False,
    same_every_day=True,
)
MOOD_PLAYLISTS = _model(
    "mood_playlists",
    "What each mood sounds like for me: per listener, mood and day part, 20 tracks — their own "
    "played-through favourites mixed with new catalog tracks of that mood — no artist twice "
    "within three tracks, ordered along an energy arc.",
    platform_models.MoodPlaylists,
    pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("user_id", pa.string()),
            ("mood", pa.string()),
            ("day_part", pa.string()),
            ("position", pa.int64()),
            ("track_id", pa.string()),
            ("track_name", pa.string()),
            ("artists", pa.string()),
            ("energy", pa.float64()),
            ("valence", pa.float64()),
            ("source", pa.string()),
        ]
    ),
    reads=(PLAYS, TRACKS, TRACK_MOODS),
)
# The many-listener tables: profiles, platform analytics, crowd models (built with snapshots).
PLATFORM = (
    BRONZE_PROFILES,
    PROFILES,
    ACTIVE_LISTENERS,
    RETENTION_COHORTS,
    PLAN_COUNTRY_MIX,
    CROWD_TOP,
    FARM_FLAGS,
    LISTENER_SEGMENTS,
    CHURN_RISK,
    POPULARITY_PREDICTIONS,
    MOOD_PLAYLISTS,
)
PLATFORM_LISTENER_TABLES = (BRONZE_PROFILES, PROFILES, FARM_FLAGS, LISTENER_SEGMENTS)
PLATFORM_LISTENER_TABLES += (CHURN_RISK, MOOD_PLAYLISTS)

# ---- Audit: what was done with the listeners' data ---------------------------------------------

AUDIT_EVENTS = Table(
    "audit",
    "events",
    "privacy",
    "Every export, erase, Spotify disconnect, personal SQL query and maintenance run: when, "
    "what, whose pseudonym (an erasure token once erased), how many rows, by whom. Appended by "
    "the commands themselves, never replaced.",
    None,
    models.AuditEvents,
    pa.schema(
        [
            ("event_id", pa.string()),
            ("at_utc", pa.timestamp("us", tz="UTC")),
            ("action", pa.string()),
            ("subject", pa.string()),
            ("rows", pa.int64()),
            ("detail", pa.string()),
            ("actor", pa.string()),
        ]
    ),
    reads=(),
    shaped_by_settings=False,
)

TABLES: dict[str, Table] = {
    t.path: t
    for t in (
        CATALOG_TRACKS,
        SPOTIFY_API_RESPONSES,
        LISTENING_EVENTS,
        SPOTIFY_TRACKS,
        QUARANTINE,
        TRACKS,
        PLAYS,
        USERS,
        *GOLD,
        MOOD_BY_DAY,
        MODEL_METRICS,
        *MODELS,
        *PLATFORM,
        AUDIT_EVENTS,
    )
}
# Tables keyed by listener: what `moodlake spotify disconnect` and a listener's export touch.
LISTENER_TABLES = (USERS, *GOLD, MOOD_BY_DAY, *LISTENER_MODELS, *PLATFORM_LISTENER_TABLES)
