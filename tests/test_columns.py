"""The column glossary (columns.py) describes every column of the tables Python builds.

Fast, no Spark: the Arrow schemas come from the table catalog (tables.py) where it has them,
else from the module that builds the table.
"""

from __future__ import annotations

import importlib

import pyarrow as pa
import pytest

from moodlake_dagster.columns import BY_TABLE, COLUMNS, describe

MAX_CHARS = 160

# "layer/name" → (module, constant) where the schema was defined before the table catalog.
SCHEMAS = {
    "bronze/listening_events": ("ingest.history", "LISTENING_EVENTS_SCHEMA"),
    "bronze/catalog_tracks": ("ingest.catalog", "CATALOG_TRACKS_SCHEMA"),
    "bronze/quarantine": ("ingest.records", "QUARANTINE_SCHEMA"),
    "bronze/spotify_api_responses": ("ingest.api", "API_RESPONSES_SCHEMA"),
    "bronze/spotify_tracks": ("ingest.enrichment", "SPOTIFY_TRACKS_SCHEMA"),
    "gold/listening_modes": ("ml.modes", "MODES_SCHEMA"),
    "gold/model_metrics": ("ml.metrics", "MODEL_METRICS_SCHEMA"),
}


def _catalog():
    try:
        return importlib.import_module("moodlake_dagster.tables")
    except ImportError:
        return None


def arrow_schema(path: str) -> pa.Schema:
    """The table's schema: the catalog entry's (`TABLES[path].schema`, or the entry named
    after the table, e.g. `LISTENING_EVENTS.schema`), else the old module constant."""
    catalog = _catalog()
    if catalog is not None:
        entry = getattr(catalog, "TABLES", {}).get(path) or getattr(
            catalog, path.split("/")[1].upper(), None
        )
        if isinstance(getattr(entry, "schema", None), pa.Schema):
            return entry.schema
    module, constant = SCHEMAS[path]
    return getattr(importlib.import_module(f"moodlake_dagster.{module}"), constant)


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_every_column_is_described(path):
    schema = arrow_schema(path)
    undescribed = [name for name in schema.names if not describe(path, name)]
    assert not undescribed, f"{path}: no description for {undescribed}"


def test_every_fixed_schema_in_the_table_catalog_is_described():
    catalog = _catalog()
    if catalog is None or not hasattr(catalog, "TABLES"):
        pytest.skip("no table catalog (moodlake_dagster.tables) yet")
    undescribed = [
        f"{path}.{name}"
        for path, table in catalog.TABLES.items()
        if getattr(table, "schema", None) is not None
        for name in table.schema.names
        if not describe(path, name)
    ]
    assert not undescribed


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
        t.count("/") == 1 and t.split("/")[0] in {"bronze", "silver", "gold"} for t in BY_TABLE
    )
