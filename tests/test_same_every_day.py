"""Snapshots the same every day: a later day with the same inputs writes nothing, and that is
right, because a forced rebuild for that day holds the same rows."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from helpers import EXTENDED, link_landing, make_settings

from moodlake_dagster.definitions import ASSETS
from moodlake_dagster.fingerprints import FORCE_TAG
from moodlake_dagster.resources import build_resources
from moodlake_dagster.tables import TABLES, TRACK_MOODS

pytestmark = pytest.mark.spark

SAME = [table for table in TABLES.values() if table.same_every_day]
FIRST, LATER = dt.date(2024, 7, 21), dt.date(2024, 7, 25)


def build(resources, instance, day: dt.date, force: bool = False):
    result = dg.materialize(
        ASSETS,
        selection=[table.path for table in SAME],
        resources=resources,
        instance=instance,
        partition_key=day.isoformat(),
        tags={FORCE_TAG: "true"} if force else None,
    )
    assert result.success
    return {
        event.materialization.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }


def test_a_later_day_writes_nothing_and_a_forced_rebuild_agrees(shared_data, spark_url, tmp_path):
    assert {t.path for t in SAME} == {
        "bronze/catalog_tracks",
        "silver/tracks",
        "gold/track_moods",
        "gold/popularity_predictions",
    }
    landing = link_landing(tmp_path / "landing", {"efrrowini": EXTENDED})
    settings = make_settings(tmp_path / "home", landing, spark_url)
    resources = build_resources(settings)
    lake = resources["lake"]
    instance = dg.DagsterInstance.ephemeral()
    build(resources, instance, FIRST)
    versions = {t.path: lake.data_version(t) for t in SAME}

    later = build(resources, instance, LATER)
    assert all(later[t.path]["unchanged"].value for t in SAME)  # materialized, nothing written
    assert {t.path: lake.data_version(t) for t in SAME} == versions
    # Readers of the later day take the first day's snapshot.
    assert lake.snapshot_day(TRACK_MOODS, LATER) == FIRST
    kept = {t.path: lake.snapshot(t, LATER).drop(columns="as_of_date") for t in SAME}

    build(resources, instance, LATER, force=True)
    for table in SAME:
        assert lake.snapshot_day(table, LATER) == LATER
        rebuilt = lake.snapshot(table, LATER).drop(columns="as_of_date")
        rebuilt = rebuilt.drop(columns=[c for c in rebuilt if c.startswith("_")])
        before = kept[table.path].drop(columns=[c for c in kept[table.path] if c.startswith("_")])
        assert rebuilt.equals(before), table.path
