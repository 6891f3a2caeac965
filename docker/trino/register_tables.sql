-- Register every Silver and Gold table with Trino once (re-running is harmless: it fails
-- per table that already exists). Paths are inside the shared lake volume.
CREATE SCHEMA IF NOT EXISTS delta.silver WITH (location = 'local:///silver');
CREATE SCHEMA IF NOT EXISTS delta.gold WITH (location = 'local:///gold');
CALL delta.system.register_table('silver', 'tracks', 'local:///silver/tracks');
CALL delta.system.register_table('silver', 'plays', 'local:///silver/plays');
CALL delta.system.register_table('silver', 'users', 'local:///silver/users');
CALL delta.system.register_table('gold', 'listening_by_daypart', 'local:///gold/listening_by_daypart');
CALL delta.system.register_table('gold', 'genre_mix', 'local:///gold/genre_mix');
CALL delta.system.register_table('gold', 'recommendations', 'local:///gold/recommendations');
CALL delta.system.register_table('gold', 'explanations', 'local:///gold/explanations');
CALL delta.system.register_table('gold', 'model_metrics', 'local:///gold/model_metrics');
