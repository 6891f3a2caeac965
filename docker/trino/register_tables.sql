-- Register every Silver and Gold table with Trino once (re-running is harmless: it fails
-- per table that already exists). Paths are inside the shared lake volume. Written from the
-- table catalog by `moodlake_dagster.sql.trino_registration()`; a test keeps it so.
CREATE SCHEMA IF NOT EXISTS delta.silver WITH (location = 'local:///silver');
CREATE SCHEMA IF NOT EXISTS delta.gold WITH (location = 'local:///gold');
CALL delta.system.register_table('silver', 'tracks', 'local:///silver/tracks');
CALL delta.system.register_table('silver', 'plays', 'local:///silver/plays');
CALL delta.system.register_table('silver', 'users', 'local:///silver/users');
CALL delta.system.register_table('gold', 'listening_by_daypart', 'local:///gold/listening_by_daypart');
CALL delta.system.register_table('gold', 'mood_by_hour', 'local:///gold/mood_by_hour');
CALL delta.system.register_table('gold', 'genre_mix', 'local:///gold/genre_mix');
CALL delta.system.register_table('gold', 'track_engagement', 'local:///gold/track_engagement');
CALL delta.system.register_table('gold', 'feature_correlations', 'local:///gold/feature_correlations');
CALL delta.system.register_table('gold', 'feature_gaps', 'local:///gold/feature_gaps');
CALL delta.system.register_table('gold', 'genre_discovery', 'local:///gold/genre_discovery');
CALL delta.system.register_table('gold', 'sessions', 'local:///gold/sessions');
CALL delta.system.register_table('gold', 'session_summary', 'local:///gold/session_summary');
CALL delta.system.register_table('gold', 'top_artists', 'local:///gold/top_artists');
CALL delta.system.register_table('gold', 'top_tracks', 'local:///gold/top_tracks');
CALL delta.system.register_table('gold', 'listening_context', 'local:///gold/listening_context');
CALL delta.system.register_table('gold', 'feature_thresholds', 'local:///gold/feature_thresholds');
CALL delta.system.register_table('gold', 'mood_trends', 'local:///gold/mood_trends');
CALL delta.system.register_table('gold', 'mood_trend_tests', 'local:///gold/mood_trend_tests');
CALL delta.system.register_table('gold', 'insights', 'local:///gold/insights');
CALL delta.system.register_table('gold', 'mood_by_day', 'local:///gold/mood_by_day');
CALL delta.system.register_table('gold', 'model_metrics', 'local:///gold/model_metrics');
CALL delta.system.register_table('gold', 'track_moods', 'local:///gold/track_moods');
CALL delta.system.register_table('gold', 'listening_modes', 'local:///gold/listening_modes');
CALL delta.system.register_table('gold', 'preference_model', 'local:///gold/preference_model');
CALL delta.system.register_table('gold', 'als_recommendations', 'local:///gold/als_recommendations');
CALL delta.system.register_table('gold', 'recommendations', 'local:///gold/recommendations');
CALL delta.system.register_table('gold', 'shap_values', 'local:///gold/shap_values');
CALL delta.system.register_table('gold', 'explanations', 'local:///gold/explanations');
