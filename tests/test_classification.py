"""Every column of every table is classified low, medium or high (checks/classification.py),
and the Dagster UI shows it: a `pii` tag on each column and on each table's asset.

Fast, no Spark: the Arrow schemas come from the table catalog (tables.py); the Spark-built
tables' written columns are checked on a built lake in test_pipeline.py.
"""

from __future__ import annotations

import dagster as dg
import pytest

from moodlake_dagster.checks.classification import (
    DEFAULT,
    HIGH,
    LEVELS,
    LOW,
    MEDIUM,
    MIN_GROUP,
    classify,
    is_personal,
    table_level,
    table_pii,
    unclassified,
)
from moodlake_dagster.definitions import make_definitions
from moodlake_dagster.tables import TABLES

FIXED = {path: table.schema.names for path, table in TABLES.items() if table.schema is not None}


def test_every_column_of_every_fixed_schema_table_is_classified():
    assert len(FIXED) >= 15
    assert unclassified(FIXED) == []


def test_every_table_has_a_default_so_a_new_table_is_noticed():
    assert sorted(set(TABLES) - set(DEFAULT)) == []
    assert unclassified({"gold/new_table": ["user_id", "mystery"]}) == [
        ("gold/new_table", "mystery")
    ]


def test_the_rules():
    assert LEVELS == ("low", "medium", "high") and MIN_GROUP == 5
    assert classify("silver/plays", "user_id") == MEDIUM
    assert classify("gold/recommendations", "user_id") == MEDIUM
    assert classify("bronze/quarantine", "raw") == HIGH
    assert classify("bronze/spotify_api_responses", "body") == HIGH
    assert classify("audit/events", "subject") == HIGH
    assert classify("audit/events", "action") == LOW
    # Lineage: the account folder is pseudonymized, a catalog file is just its name.
    assert classify("bronze/listening_events", "_source_file") == MEDIUM
    assert classify("silver/plays", "source_file") == MEDIUM
    assert classify("bronze/catalog_tracks", "_source_file") == LOW
    assert classify("bronze/listening_events", "_batch_id") == LOW
    # Catalog facts are low, a listener's behaviour medium, even for the same column name.
    assert classify("silver/tracks", "track_name") == LOW
    assert classify("gold/track_engagement", "track_name") == MEDIUM
    assert classify("gold/recommendations", "valence") == LOW  # the track's own value
    assert classify("gold/recommendations", "recent_valence") == MEDIUM
    assert classify("gold/feature_gaps", "catalog_mean") == LOW
    assert classify("gold/feature_gaps", "user_mean") == MEDIUM
    # An identity field is high wherever it would appear; nothing unknown is guessed.
    assert classify("silver/users", "email") == HIGH
    assert classify("gold/no_such_table", "no_such_column") is None
    assert classify("silver/plays", "user_id") == classify("gold/no_such_table", "user_id")


def test_a_table_is_as_personal_as_its_most_personal_column():
    assert table_level("bronze/quarantine", ["asset", "reason"]) == MEDIUM
    assert table_level("bronze/quarantine", ["asset", "reason", "raw"]) == HIGH
    assert table_level("silver/tracks", ["track_id", "valence"]) == LOW
    assert table_level("silver/tracks", ["track_id", "user_id"]) == MEDIUM
    assert table_level("gold/no_such_table", ["no_such_column"]) == HIGH  # unclassified
    assert TABLES["bronze/quarantine"].pii == HIGH
    assert TABLES["bronze/catalog_tracks"].pii == LOW
    # Where Spark decides the columns: the table's rules, default and declared columns.
    assert TABLES["silver/tracks"].pii == table_pii("silver/tracks") == LOW
    assert TABLES["silver/plays"].pii == MEDIUM
    for path, columns in FIXED.items():
        assert TABLES[path].pii == max((classify(path, c) for c in columns), key=LEVELS.index), path


def test_sql_withholds_high_and_unclassified_columns_only():
    assert is_personal("bronze/quarantine", "raw")
    assert is_personal("gold/no_such_table", "no_such_column")
    assert not is_personal("silver/plays", "user_id")
    assert not is_personal("silver/tracks", "valence")


@pytest.fixture(scope="module")
def graph():
    defs = make_definitions({"MOODLAKE_HOME": "/nonexistent-moodlake-home"})
    return defs.resolve_asset_graph()


def test_every_table_asset_carries_its_pii_tag(graph):
    tags = {
        key.to_user_string(): graph.get(key).tags.get("pii") for key in graph.get_all_asset_keys()
    }
    tables = {path: tags.get(path) for path in TABLES}
    assert tables == {path: table.pii for path, table in TABLES.items()}
    assert tables["bronze/quarantine"] == HIGH and tables["silver/plays"] == MEDIUM


def test_each_column_of_a_fixed_schema_table_carries_its_pii_tag(graph):
    node = graph.get(dg.AssetKey(["bronze", "quarantine"]))
    schema = node.metadata["dagster/column_schema"]
    tags = {column.name: dict(column.tags) for column in schema.columns}
    assert set(tags) == set(FIXED["bronze/quarantine"])
    assert tags["raw"] == {"pii": HIGH} and tags["asset"] == {"pii": LOW}
    assert all(tag["pii"] in LEVELS for tag in tags.values())
