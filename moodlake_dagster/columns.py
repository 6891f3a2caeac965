"""What every column of the lake means: one glossary, read by the table catalog (tables.py).

`COLUMNS` holds the columns that mean the same wherever they appear; `BY_TABLE` holds, per
"layer/table", the columns whose meaning depends on the table (`mode` is major/minor in the
catalog but mirror/coach in recommendations), and generic names (`plays`, `rank`, `share`,
`score`, …) are described per table so a new table using one gets no borrowed meaning.
Plain Python, no imports but its platform part
(columns_platform.py): anything may read it.
"""

from __future__ import annotations

from moodlake_dagster.columns_platform import PLATFORM_COLUMNS

_FEATURE = "Spotify audio feature, 0–1"

# Columns that mean the same in every table that has them.
COLUMNS: dict[str, str] = {
    # ---- Lineage (Bronze) ----
    "_source_file": "Lineage: the file the row was read from (every name but Spotify's own "
    "pseudonymized); Web API plays: spotify-api/<request time>/page-<n>.",
    "_record_index": "Lineage: the record's 0-based position in its file's JSON array "
    "(or in its Web API page).",
    "_source_row": "Lineage: the row's line number in its catalog CSV (the header is line 1).",
    "_source_sha256": "Lineage: SHA-256 of the catalog file the row came from.",
    "_catalog_layout": "Lineage: the catalog file's layout, recognised from its header: "
    "kaggle_tracks, songs_1_2m or tracks_600k.",
    "_batch_id": "Lineage: the Dagster run id that wrote the row.",
    "_ingested_at": "Lineage: when the row was written to Bronze (UTC).",
    # ---- Who and when ----
    "user_id": "The listener's pseudonym (keyed HMAC of the account name, u_ + 16 hex digits; "
    "never the name itself).",
    "as_of_date": "The as-of day of the snapshot the row belongs to (the partition a run "
    "replaces).",
    "play_date": "The UTC day the play started (end time − ms played); the partition key.",
    "ts": "When the play ended (UTC), as the export stamps it; for a Web API play, its played_at.",
    "played_at_utc": "When the play ended (UTC): the export's time stamp (Web API: played_at).",
    "started_at_utc": "When the play started (UTC): end time − ms played (Web API plays: the "
    "same as played_at_utc).",
    "played_at_local": "Local wall-clock time the play started, in its time zone (no zone "
    "attached).",
    "local_date": "Local calendar day the play started on.",
    "local_hour": "Local hour (0–23) the play started in, in the listener's time zone.",
    "weekday": "Local day of the week the play started on: 1 = Monday … 7 = Sunday.",
    "day_part": "Part of the local day the play started in: night 0–6 h, morning 6–12, "
    "afternoon 12–18, evening 18–24.",
    "timezone": "IANA time zone used for the play's local time (e.g. Europe/Berlin).",
    "timezone_source": "Where the zone came from: configured (MOODLAKE_USER_TIMEZONES), country "
    "(its only zone) or default (MOODLAKE_TIMEZONE).",
    "conn_country": "Country of the connection as the export records it (ISO 3166-1 alpha-2); "
    "null for account-data exports and Web API plays. IP addresses are never stored.",
    # ---- A listening record ----
    "ms_played": "Milliseconds the stream played; null for Web API plays (the API does not "
    "report it).",
    "content_type": "What the record is: track, episode (podcast), audiobook, video or "
    "unknown; only tracks become Silver plays.",
    "track_name": "Track title as the source gives it; null where it has none.",
    "artist_name": "Artist as the export names it (Extended history: the album artist; an "
    "audiobook: its author).",
    "album_name": "Album title; null where the source has none.",
    "track_uri": "Spotify URI of the track played (spotify:track:<id>); null in account-data "
    "exports.",
    "episode_name": "Podcast episode title (episode records only).",
    "episode_show_name": "Podcast show name (episode records only).",
    "episode_uri": "Spotify URI of the podcast episode (episode records only).",
    "audiobook_uri": "Spotify URI of the audiobook or its chapter (audiobook records only).",
    "audiobook_title": "Audiobook title (audiobook records only).",
    "audiobook_chapter_title": "Audiobook chapter title (audiobook records only).",
    "reason_start": "Why the play started, per Spotify: trackdone, clickrow, playbtn, fwdbtn, "
    "backbtn, appload, remote, …; null where the export has none.",
    "reason_end": "Why the play ended, per Spotify: trackdone, fwdbtn, backbtn, endplay, "
    "logout, remote, …; null where the export has none.",
    "shuffle": "Whether shuffle was on; null where the export does not say (account-data "
    "exports, Web API).",
    "skipped": "Whether the play was skipped: the export's flag, else reason_end, else ms "
    "played under the threshold (30 s default); see skip_source.",
    "offline": "Whether the play happened in offline mode; null where the export does not say.",
    "offline_timestamp": "Spotify's offline_timestamp as exported: Unix time of the offline "
    "play (seconds in the exports seen); null if none.",
    "incognito_mode": "Whether the play was in a private session; such plays stay out of "
    "Silver unless MOODLAKE_INCLUDE_INCOGNITO=true.",
    "platform": "Device platform as the export reports it (e.g. android, windows); web-api for "
    "Web API plays.",
    "source_format": "The record's export layout: basic (account data), extended, endsong "
    "(legacy extended) or api (Web API).",
    # ---- Silver plays ----
    "play_id": "The play's id: 24 hex digits of a SHA-256 over the surviving record (user, "
    "time, song, ms played, file, record).",
    "skip_source": "Which rule decided skipped: flag (the export's), reason_end, api (Web API "
    "plays count as not skipped) or threshold (ms played).",
    "completion": "Share of the track played, 0–1 (ms played ÷ track length, capped); null if "
    "unresolved, no ms played or an artist estimate.",
    "spotify_track_id": "The Spotify id in the play's own track URI; null in account-data exports.",
    "resolution": "How the play found its track: id (Spotify id), name (normalized artist and "
    "title), artist_estimate or unresolved.",
    "has_features": "Whether the play resolved to a track with audio features (measured, or an "
    "artist estimate).",
    "dedup_key": "Normalized 'artist|title' of the play (case, punctuation, spacing ignored): "
    "finds copies of one play, counts songs.",
    "duplicates_merged": "How many other copies of this play (re-imports, overlapping exports, "
    "Web API) were collapsed into it.",
    # ---- A track ----
    "track_id": "Spotify track id (22 characters).",
    "artists": "Credited artists, ';'-joined.",
    "duration_ms": "Track length in milliseconds.",
    "explicit": "Whether the track has explicit lyrics; null where the source does not say.",
    "popularity": "Spotify popularity, 0–100, as the catalog file has it; null where its "
    "layout has none (unknown, not unpopular).",
    "danceability": f"{_FEATURE}: how suitable for dancing (tempo, rhythm stability, beat "
    "strength).",
    "energy": f"{_FEATURE}: perceived intensity and activity (fast, loud, noisy is high).",
    "loudness": "Spotify audio feature: overall loudness in dB (about −60 to 0).",
    "speechiness": f"{_FEATURE}: presence of spoken words (above about 0.66: mostly speech).",
    "acousticness": f"{_FEATURE}: confidence the track is acoustic.",
    "instrumentalness": f"{_FEATURE}: likelihood the track has no vocals.",
    "liveness": f"{_FEATURE}: likelihood of an audience (a live recording).",
    "valence": f"{_FEATURE}: musical positiveness (high: happy, cheerful; low: sad, angry).",
    "tempo": "Spotify audio feature: estimated tempo in beats per minute (BPM).",
    "key": "Pitch class of the track's key: 0 = C, 1 = C♯/D♭ … 11 = B; −1 = no key detected.",
    "mode": "Musical mode of the track: 1 = major, 0 = minor.",
    "time_signature": "Estimated time signature: beats per bar (4 = 4/4), 0–7.",
    "track_genre": "The genre the catalog files this row under (Kaggle lists a track once per "
    "genre); null for layouts without genre.",
    "genres": "The track's catalog genres, sorted; empty for Web API lookups, artist estimates "
    "and catalog layouts without genre.",
    "catalog_layout": "The catalog layout the track's first row came from (kaggle_tracks, "
    "songs_1_2m, tracks_600k); null for Web API and estimate rows.",
    "artist_list": "Credited artists as a list (artists split on ';').",
    "primary_artist": "The first credited artist.",
    "song_key": "Normalized 'artist|title' linking one song across its ids (album, single, "
    "compilation); an estimate's own EST id.",
    "features_source": "Where the audio features come from: catalog, api (Web API lookup) or "
    "artist_estimate (mean of the artist's catalog songs).",
    "estimated_from": "For an artist_estimate row: how many of the artist's catalog songs were "
    "averaged; null otherwise.",
    "song_track_ids": "How many track ids in this snapshot share the song_key.",
    # ---- Web API ----
    "request_date": "UTC day the Web API page was requested (the partition).",
    "requested_at": "When the sensor requested the page (UTC); stored before the cursor moves.",
    "endpoint": "The Web API endpoint asked: me/player/recently-played.",
    "after_ms": "The cursor sent: plays after this Unix time (ms) were asked for; null on the "
    "first poll.",
    "fetched_date": "UTC day of the Web API track lookup (the partition).",
    "fetched_at": "When the track was looked up on the Web API (UTC).",
    "lookup_status": "found, or not_found when the Web API does not know the id.",
    # ---- Silver users ----
    "countries": "The connection countries of the listener's plays (ISO codes), sorted; empty "
    "for account-data exports.",
    "first_play_utc": "When the listener's first play ended (UTC).",
    "last_play_utc": "When the listener's latest play up to the as-of day ended (UTC).",
    "active_days": "Distinct local days with at least one play.",
    "sources": "The export layouts the listener's plays came in (basic, extended, endsong, "
    "api), sorted.",
    "feature_coverage": "Share of the listener's plays with audio features, 0–1 (artist "
    "estimates included).",
    "plays_with_features": "Plays whose track has audio features (measured, or an artist "
    "estimate); feature averages rest on these.",
    "plays_with_estimated_features": "Plays whose features are an artist estimate (a song the "
    "catalog lacks, by an artist it knows).",
    "tracks_played": "Distinct songs played (by normalized artist and title).",
    "tracks_with_features": "Distinct songs played that have audio features.",
    # ---- Gold listening summaries ----
    "minutes": "Minutes played: ms played ÷ 60,000 summed (Web API plays add none: no ms played).",
    "skip_rate": "Share of plays skipped, 0–1.",
    "avg_valence": "Mean valence (0–1) of the plays with audio features; null if none.",
    "avg_energy": "Mean energy (0–1) of the plays with audio features; null if none.",
    "avg_danceability": "Mean danceability (0–1) of the plays with audio features; null if none.",
    "avg_acousticness": "Mean acousticness (0–1) of the plays with audio features; null if none.",
    "avg_tempo": "Mean tempo (BPM) of the plays with audio features; null if none.",
    "genre": "A catalog genre.",
    "distinct_tracks": "Distinct tracks of this genre the listener played.",
    # ---- SHAP ----
    "feature_value": "The feature's input value for this subject, in its own unit (tempo BPM, "
    "loudness dB, duration ms, …).",
    "shap_value": "The feature's SHAP contribution to the output, in log-odds (positive pushes "
    "the score up).",
    "sentence": "The explanation a person reads, e.g. 'Recommended because its energy (0.72) "
    "matches …'.",
}

# The key columns of shap_values and explanations: one explained subject.
_EXPLAINED: dict[str, str] = {
    "subject": "What is explained: recommendation (a mirror or coach pick) or mood (a track's "
    "mood label).",
    "user_id": "The listener's pseudonym for a recommendation; null for a mood label (moods "
    "are per track).",
    "day_part": "The recommendation list's day part; null for a mood label.",
    "mode": "The recommendation list: mirror or coach; null for a mood label (not the "
    "musical mode).",
    "rank": "The pick's rank in its list (1 = first); null for a mood label.",
    "track_id": "The track explained (recommended, or labelled with a mood).",
    "label": "The outcome explained: match for a recommendation, the mood's name for a mood label.",
    "base_value": "SHAP base value: the model's average raw output (log-odds); for moods, of "
    "the classifier's boosted half.",
    "output": "The model's raw output (log-odds) for this subject: base_value + Σ shap_value; "
    "for moods, the boosted half's.",
}

# Columns whose meaning depends on the table: "layer/table" → column → description.
BY_TABLE: dict[str, dict[str, str]] = {
    "bronze/listening_events": {
        "skipped": "Spotify's own skip flag as exported; null where the format has none "
        "(Silver then decides).",
    },
    "bronze/quarantine": {
        "asset": "The asset that could not take the record: catalog_tracks or listening_events.",
        "source_file": "The file the record came from (every name but Spotify's own "
        "pseudonymized); Web API items: spotify-api/<request time>/page-<n>.",
        "record_index": "Where the record sits: 0-based JSON record (or Web API item), or the "
        "catalog CSV's line number; null = the whole file.",
        "record_date": "The record's play day when still readable (null otherwise), so the run "
        "for that day owns it.",
        "reason": "Why the record could not land, in plain words (e.g. malformed JSON, "
        "unparseable time stamp).",
        "raw": "The record's raw text (at most 2,000 characters) with IP addresses, user "
        "agents and usernames redacted; null if none.",
    },
    "bronze/spotify_api_responses": {
        "user_id": "Pseudonym of the account the Spotify sensor polled for.",
        "page": "0-based number of the page within one poll.",
        "items": "How many played items the page holds.",
        "body": "The response page as received (JSON), each context URI cut to its type: it "
        "can name another person's playlist.",
    },
    "bronze/spotify_tracks": {
        "track_id": "The Spotify track id looked up: a played id neither the catalog nor an "
        "earlier lookup knows.",
        "features_source": "api when the Web API returned audio features (else null, and the "
        "feature columns with it).",
    },
    "silver/tracks": {
        "track_id": "Spotify track id (22 characters), or EST + 19 hex digits for an "
        "artist-estimate row.",
        "popularity": "Spotify popularity, 0–100 (highest over the track's catalog rows); 0 "
        "for Web API and estimate rows, which have none.",
        "duration_ms": "Track length in milliseconds; for an artist estimate, the mean of the "
        "artist's songs.",
    },
    "silver/plays": {
        "track_id": "The catalog track the play resolved to (EST… = its artist's estimate); "
        "null when unresolved.",
        "source_file": "Lineage: the file of the surviving copy (every name but Spotify's own "
        "pseudonymized).",
    },
    "silver/users": {
        "timezone": "The listener's time zone (IANA name) at their first play.",
        "timezone_source": "Where that zone came from, most often across their plays: "
        "configured, country or default.",
        "plays": "The listener's music plays up to the as-of day.",
    },
    "gold/listening_by_daypart": {
        "plays": "The listener's plays in this day part on this weekday.",
    },
    "gold/sessions": {
        "session_no": "The session's number among the listener's, in time order (1 = first).",
        "started_at_utc": "When the session's first play started (UTC).",
        "started_at_local": "When the session's first play started, the listener's wall clock.",
        "local_date": "The local day the session started on.",
        "day_part": "The local day part the session started in.",
        "length_minutes": "Minutes from the first play's start to the last play's end.",
        "plays": "Plays in the session.",
        "valence_mean": "Mean valence of the session's plays with audio features.",
        "energy_mean": "Mean energy of the session's plays with audio features.",
        "valence_arc": "Mood arc: mean valence of the last third of plays minus the first third "
        "(null under three plays).",
        "platform": "The platform most of the session was played on.",
        "shuffle_share": "Share of the session's plays in shuffle mode, 0–1.",
        "high_energy": "Whether the session's mean energy reaches 0.6.",
    },
    "gold/session_summary": {
        "sessions": "The listener's sessions that started in this day part.",
        "median_length_minutes": "Median session length, minutes.",
        "mean_plays": "Mean plays per session.",
        "sessions_with_features": "Sessions with at least one play with audio features.",
        "high_energy_share": "Share of those sessions that were high-energy (mean energy ≥ 0.6).",
        "sessions_with_arc": "Sessions of three plays or more (the ones with a mood arc).",
        "brightening_share": "Share of those sessions whose valence rose from first to last third.",
    },
    "gold/top_artists": {
        "period": "The window: week (last 7 local days), month (last 30) or all_time.",
        "rank": "The artist's rank in the window by minutes (1 = most), ties by plays.",
        "plays": "The listener's plays of the artist in the window.",
        "minutes": "Minutes the listener played the artist in the window.",
    },
    "gold/top_tracks": {
        "period": "The window: week (last 7 local days), month (last 30) or all_time.",
        "rank": "The track's rank in the window by minutes (1 = most), ties by plays.",
        "track_key": "The track_id, or name:<normalized artist|title> for plays the catalog lacks.",
        "track_id": "The catalog or Spotify id, where the plays resolved to one.",
        "plays": "The listener's plays of the track in the window.",
        "minutes": "Minutes the listener played the track in the window.",
    },
    "gold/listening_context": {
        "context": "What the plays are split by: platform, or shuffle.",
        "value": "The platform's name, or on/off for shuffle (unknown where not recorded).",
        "plays": "The listener's plays in this context.",
        "share": "This context's share of the listener's plays, 0–1 (sums to 1 per context).",
    },
    "gold/mood_by_day": {
        "local_date": "The listener's local calendar day (their time zone).",
        "plays": "The listener's music plays on this local day.",
        "valence_mean": "Mean valence (0–1, brighter is higher) of the day's plays with features.",
        "valence_std": "Spread (sample standard deviation) of valence over those plays.",
        "energy_mean": "Mean energy (0–1) of the day's plays with audio features.",
        "energy_std": "Spread (sample standard deviation) of energy over those plays.",
        "danceability_mean": "Mean danceability (0–1) of the day's plays with audio features.",
        "danceability_std": "Spread (sample standard deviation) of danceability over those plays.",
        "feature_coverage": "Share of the day's plays with audio features, 0–1: how much of the "
        "day the mood figures stand on.",
    },
    "gold/feature_thresholds": {
        "feature": "The audio feature split.",
        "outcome": "What is compared above and below the split: skipped (skip rate) or "
        "completion (mean share of the track played).",
        "split_point": "The feature value that best separates the outcome on the discovery half "
        "of the listener's tracks (a decile); above means greater than it.",
        "n_discovery": "Plays on the discovery half (tracks with an even CRC-32 of their id) "
        "with the feature and the outcome: where the split point was chosen.",
        "n_above": "Held-out plays (the other half of the tracks) above the split point.",
        "n_below": "Held-out plays at or below the split point.",
        "rate_above": "The outcome's mean over held-out plays above the split (skip rate, or "
        "completion).",
        "rate_below": "The outcome's mean over held-out plays at or below the split.",
        "difference": "rate_above − rate_below.",
        "relative_difference": "difference / rate_below (null when rate_below is 0): "
        "'14 % more often'.",
        "effect_size": "Rank-biserial correlation from the Mann-Whitney U, −1 to 1: positive "
        "when the outcome runs higher above the split.",
        "p_value": "Two-sided Mann-Whitney U p-value on the held-out plays (not corrected for "
        "the listener's other rows; the insights correct).",
        "test": "The test that gave p_value; null when the row was not tested.",
        "note": "Why a row has no split or no test (too few plays on a side).",
    },
    "gold/mood_trends": {
        "period": "week (Monday to Sunday, local days) or month.",
        "period_start": "The first local day of the week or month.",
        "complete": "Whether the period had ended by the as-of day (only complete periods get "
        "a z-score).",
        "measure": "plays, minutes, skip_rate, valence, energy, danceability or feature_coverage.",
        "value": "The measure over the period: totals for plays and minutes, play-weighted "
        "means for the rest (mood over the plays with audio features); null with no plays.",
        "baseline_mean": "Mean of the measure over the 12 periods before this one (the "
        "listener's usual; empty periods count 0 plays).",
        "baseline_std": "Sample standard deviation of the measure over those 12 periods.",
        "baseline_n": "Periods with a value among those 12.",
        "z_score": "(value − baseline_mean) / baseline_std: how unusual the period is for this "
        "listener; null for an incomplete period, under 8 baseline periods or no spread.",
    },
    "gold/mood_trend_tests": {
        "measure": "The measure tested (as in mood_trends).",
        "test": "The test run; null when there were too few months or no change.",
        "months": "Complete months with a value in the last 12 (the test's n).",
        "first_month": "The first month tested.",
        "last_month": "The last complete month tested.",
        "mean_value": "The measure's mean over those months.",
        "kendall_tau": "Kendall's tau of the monthly values against time, −1 to 1 (the "
        "Mann-Kendall statistic): positive is rising.",
        "slope_per_month": "Theil-Sen slope: the median change per month.",
        "p_value": "Two-sided p-value of the Mann-Kendall test (months are not independent: a "
        "screen, corrected across sentences by the insights).",
        "note": "Why the measure was not tested.",
    },
    "gold/insights": {
        "rank": "The sentence's place in the listener's list (1 = first said).",
        "kind": "week (this week against the usual), trend (over the year), threshold, "
        "correlation or habit (a descriptive fact with a minimum sample).",
        "subject": "The measure or feature the sentence is about.",
        "sentence": "The insight in plain words, with its numbers.",
        "evidence": "The numbers the sentence rests on, as JSON, equal to the source table's.",
        "test": "The test behind the sentence; null for a descriptive habit.",
        "p_value": "The test's p-value.",
        "p_adjusted": "Benjamini-Hochberg adjusted p-value across the listener's tested "
        "candidate sentences of the day; only ≤ 0.05 is said.",
        "n": "The sample the sentence stands on (periods, months, plays or sessions).",
        "sources": "The Gold tables the sentence came from.",
    },
    "gold/mood_by_hour": {
        "plays": "The listener's plays starting in this local hour.",
    },
    "gold/genre_mix": {
        "plays": "Plays of this genre: a resolved play counts once, split evenly over its "
        "track's genres (so fractions occur).",
        "minutes": "Minutes played, each play's minutes split evenly over its track's genres.",
        "share": "This genre's share of the listener's genre-weighted plays, 0–1 (sums to 1 "
        "per listener).",
        "rank": "The genre's rank for the listener by plays (1 = most played).",
    },
    "gold/track_engagement": {
        "track_key": "The track_id, or name:<normalized artist|title> for plays the catalog "
        "does not know.",
        "track_id": "The catalog track (EST… = an artist estimate, all of that artist's "
        "unknown songs); null when unresolved.",
        "artist_name": "Artist as named in the first play.",
        "track_name": "Title as named in the first play.",
        "plays": "The listener's plays of this track.",
        "skips": "How many of those plays were skipped.",
        "avg_completion": "Mean completion (0–1) of its plays; null when no play has one.",
        "first_played_utc": "When the listener's first play of it ended (UTC).",
        "last_played_utc": "When the listener's latest play of it ended (UTC).",
    },
    "gold/feature_correlations": {
        "feature": "The audio feature correlated (danceability, energy, loudness, …, valence, "
        "tempo).",
        "metric": "What it is correlated with, per played track: play_count (times played) or "
        "skip_rate.",
        "pearson_r": "Pearson correlation, −1 to 1, across the listener's played tracks; null "
        "when n < 3 or a side does not vary.",
        "p_value": "Two-sided p-value of pearson_r against r = 0 (t-test, n − 2 degrees of "
        "freedom); null with pearson_r.",
        "n": "The listener's played tracks the correlation is over (catalog tracks with "
        "measured features).",
        "note": "Why pearson_r is null ('n < 3 or no variation'); null otherwise.",
    },
    "gold/feature_gaps": {
        "feature": "The audio feature compared; values are in its unit (tempo BPM, loudness "
        "dB, else 0–1).",
        "n_plays": "The listener's plays with audio features (artist estimates included).",
        "user_mean": "Mean of the feature over the listener's plays (play-weighted).",
        "user_std": "Standard deviation of the feature over the listener's plays.",
        "user_p25": "25th percentile of the feature over the listener's plays (approximate).",
        "user_median": "Median of the feature over the listener's plays (approximate).",
        "user_p75": "75th percentile of the feature over the listener's plays (approximate).",
        "catalog_mean": "Mean of the feature over the catalog's tracks (measured ones, each once).",
        "catalog_std": "Standard deviation of the feature over the catalog's tracks.",
        "catalog_median": "Median of the feature over the catalog's tracks (approximate).",
        "gap": "user_mean − catalog_mean, in the feature's unit.",
        "gap_in_catalog_std": "gap ÷ catalog_std: how many catalog standard deviations the "
        "listener sits from the catalog mean.",
    },
    "gold/genre_discovery": {
        "explored": "Whether the listener has played a track filed under this genre.",
        "user_plays": "The listener's plays of tracks in this genre (a play of a multi-genre "
        "track counts in each).",
        "catalog_tracks": "Catalog tracks filed under this genre.",
        "affinity": "Closeness to the listener's taste, 0–1: 1 ÷ (1 + distance) between mean "
        "valence, energy, danceability, acousticness.",
        "rank": "Rank by affinity among the listener's unexplored genres, or among the "
        "explored ones (1 = closest).",
        "genre_valence": "Mean valence (0–1) of the genre's catalog tracks.",
        "genre_energy": "Mean energy (0–1) of the genre's catalog tracks.",
        "genre_danceability": "Mean danceability (0–1) of the genre's catalog tracks.",
        "genre_acousticness": "Mean acousticness (0–1) of the genre's catalog tracks.",
    },
    "gold/track_moods": {
        "track_id": "The track labelled: every Silver track, catalog and played (EST… = an "
        "artist estimate).",
        "mood": "The most likely mood: happy, sad, chill, party, sleep, study or romance.",
        "probability": "The classifier's probability of that mood, 0–1 (boosting and logistic "
        "regression, averaged).",
        "in_training": "Whether the track trained the classifier (the catalog files it under "
        "exactly one mood genre).",
    },
    "gold/listening_modes": {
        "mode_id": "The mode's number in the listener's K-Means fit (0-based; not comparable "
        "across listeners or days).",
        "name": "Plain-language name from the centroid and typical day part, e.g. 'calm "
        "acoustic evenings'.",
        "plays": "The listener's plays (with audio features) in this mode.",
        "share": "This mode's share of the listener's plays with features, 0–1 (sums to 1 per "
        "listener).",
        "typical_day_part": "The day part most of the mode's plays start in.",
        "typical_hour": "The local hour (0–23) most of the mode's plays start in.",
        "centroid_valence": "The mode's centre: mean valence (0–1).",
        "centroid_energy": "The mode's centre: mean energy (0–1).",
        "centroid_acousticness": "The mode's centre: mean acousticness (0–1).",
        "centroid_danceability": "The mode's centre: mean danceability (0–1).",
        "centroid_tempo": "The mode's centre: mean tempo (BPM).",
    },
    "gold/preference_model": {
        "status": "trained, or skipped when the listener's history is too short or one-sided "
        "(see reason).",
        "reason": "Why skipped; for a trained model, the features it went without (missing for "
        "every training play); else null.",
        "cutoff": "First evaluation day (YYYY-MM-DD): trained on the days before it, scored on "
        "the days from it.",
        "n_train": "Plays the model trained on (the days before the cutoff).",
        "n_eval": "Plays it was scored on (the days from the cutoff).",
        "n_eval_with_features": "Evaluation plays whose track has audio features; the AUC bar "
        "is judged only with at least 200.",
        "auc": "ROC AUC, 0–1, of predicting 'played through, not skipped' on the evaluation "
        "days; null when skipped.",
        "baseline_auc": "ROC AUC of the baseline: 1 − the listener's earlier skip rate for the "
        "artist (else overall).",
    },
    "gold/als_recommendations": {
        "rank": "Rank in the listener's ALS list (1 = best, up to 50).",
        "track_id": "The suggested track's Spotify id (never an artist estimate).",
        "als_score": "ALS score scaled within the listener's list: 1 = their top pick, 0 = the "
        "lowest of the list.",
        "unit": "What ALS factorised: user (listener × track), or session (sessions stand in "
        "under 10 listeners).",
        "basis": "In words, where the listener's taste vector came from (own factors, or "
        "folded in from their latest sessions).",
    },
    "gold/recommendations": {
        "day_part": "The day part this list is for: night, morning, afternoon or evening.",
        "mode": "Which list: mirror (fits how they listen then) or coach (a small, capped step "
        "up in valence or energy).",
        "rank": "Rank within the list (1 = first; up to 10, one track per artist).",
        "track_id": "The recommended catalog track: a song the listener never played, under "
        "any of its ids.",
        "genre": "The liked genre the pick came from (else its first genre).",
        "source": "Why it was a candidate: liked genre (the listener's top genres) or als "
        "(suggested by ALS).",
        "new_artist": "Whether the listener has never played this artist.",
        "listening_mode": "Name of the listener's listening mode the track falls in; null when "
        "modes were not built.",
        "match_score": "The match model's probability, 0–1, that the track fits the listener's "
        "plays in this day part.",
        "improvement_score": "Coach score: step gain (1 at +0.10, 0.5 at +0.05 or +0.15, 0 "
        "outside the caps) × match_score.",
        "als_score": "The track's score in the listener's ALS list (0–1); null when ALS did not "
        "suggest it.",
        "delta_valence": "The track's valence minus recent_valence: the coach's step.",
        "delta_energy": "The track's energy minus recent_energy: the coach's step.",
        "recent_valence": "The listener's mean valence over recent_over: the coach's starting "
        "point.",
        "recent_energy": "The listener's mean energy over recent_over: the coach's starting point.",
        "recent_over": "In words, which plays the recent means are over, e.g. 'your evenings "
        "of the last 14 days'.",
        "low_valence_days": "How many of the latest listening days in a row had a mean valence "
        "below 0.40.",
        "coach_nudging": "True after 3 or more low-valence days: the coach then counts only "
        "steps up in valence.",
    },
    "gold/shap_values": {
        **_EXPLAINED,
        "feature": "The model input: an audio feature, mode/key/time_signature/duration_ms "
        "(moods) or day_part_code (0 night … 3 evening).",
        "share": "The feature's share of the subject's total |SHAP|, 0–1: how much of the move "
        "from base_value it accounts for.",
    },
    "gold/explanations": {
        **_EXPLAINED,
        "score": "The score explained: match_score for a recommendation, the mood's probability "
        "for a mood label.",
    },
    "gold/model_metrics": {
        "model": "Which model: mood_classifier, feature_estimate, listening_modes, "
        "preference_model, als or match_model.",
        "metric": "The metric, e.g. macro_auc, auc_<mood>, mae_<feature>, silhouette, k, auc, "
        "precision_at_10, ndcg_at_10, not_recommended.",
        "value": "The metric's value (held-out, except silhouette and k); null for a "
        "not_recommended row.",
        "baseline": "The same metric for the model's baseline (logistic, popularity, catalog "
        "mean, …); null where there is none.",
        "n_eval": "How many examples the metric was computed on (tracks, plays or sessions); "
        "null where not applicable.",
        "note": "Context: the listener's pseudonym for a per-listener metric, what the "
        "baseline is, or why a listener got no list.",
    },
    "audit/events": {
        "event_id": "A random id (uuid4) for the event.",
        "at_utc": "When the event was recorded (UTC).",
        "action": "What happened, one word: export, erase, spotify_disconnect, maintenance, a "
        "personal SQL query.",
        "subject": "The listener's pseudonym the event concerns, or after an erase only their "
        "erasure token (erased: + 16 hex); null for lake-wide events.",
        "rows": "How many rows the event exported or removed (maintenance: files vacuumed); "
        "null where not counted.",
        "detail": "A short summary in plain words (tables touched, a query's tables, what "
        "maintenance did); never an account name.",
        "actor": "The operating-system user who ran the command (unknown if none).",
    },
}

BY_TABLE |= PLATFORM_COLUMNS


def describe(table: str, column: str) -> str | None:
    """The description of `column` in `table` ("layer/name"): the table's own, else the
    shared one (None when neither has it)."""
    own = BY_TABLE.get(table, {}).get(column)
    return own if own is not None else COLUMNS.get(column)
