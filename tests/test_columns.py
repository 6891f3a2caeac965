"""The column glossary (columns.py) describes every column of the tables Python builds.

Fast, no Spark: the Arrow schemas come from the table catalog (tables.py); the Spark-built
tables' columns are checked on a built lake in test_pipeline.py.
"""

from __future__ import annotations

import pytest

from moodlake_dagster.columns import BY_TABLE, COLUMNS, describe
from moodlake_dagster.tables import TABLES

MAX_CHARS = 160
FIXED = sorted(path for path, table in TABLES.items() if table.schema is not None)


def test_the_tables_python_builds_have_their_schema_in_the_catalog():
    assert set(FIXED) >= {
        "bronze/catalog_tracks",
        "bronze/listening_events",
        "bronze/quarantine",
        "bronze/spotify_api_responses",
        "bronze/spotify_tracks",
        "gold/listening_modes",
        "gold/model_metrics",
        "gold/recommendations",
    }


@pytest.mark.parametrize("path", FIXED)
def test_every_column_is_described(path):
    undescribed = [name for name in TABLES[path].schema.names if not describe(path, name)]
    assert not undescribed, f"{path}: no description for {undescribed}"


def test_mode_means_the_list_in_recommendations_and_major_minor_in_the_catalog():
    listing = describe("gold/recommendations", "mode")
    musical = describe("bronze/catalog_tracks", "mode")
    assert listing and musical and listing != musical
    assert "mirror" in listing and "major" in musical


def test_the_table_description_wins_over_the_shared_one():
    assert describe("silver/plays", "track_id") == BY_TABLE["silver/plays"]["track_id"]
    assert describe("silver/plays", "user_id") == COLUMNS["user_id"]
    assert describe("gold/nowhere", "user_id") == COLUMNS["user_id"]
    assert describe("silver/plays", "no_such_column") is None


def test_descriptions_are_one_short_line():
    everything = {f"COLUMNS[{name!r}]": text for name, text in COLUMNS.items()} | {
        f"BY_TABLE[{table!r}][{name!r}]": text
        for table, columns in BY_TABLE.items()
        for name, text in columns.items()
    }
    bad = {
        where: text
        for where, text in everything.items()
        if not text.strip() or len(text) > MAX_CHARS or "\n" in text
    }
    assert not bad


def test_tables_are_named_layer_slash_name():
    assert all(
        t.count("/") == 1 and t.split("/")[0] in {"bronze", "silver", "gold", "audit"}
        for t in BY_TABLE
    )
