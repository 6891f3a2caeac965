"""The code location loads as the UI shows it: groups, partitions, checks, kinds, pools."""

from __future__ import annotations

import dagster as dg
from helpers import DAILY, LAYERS

from moodlake_dagster.definitions import make_definitions
from moodlake_dagster.partitions import daily_partitions

GROUPS = {layer: set(names) for layer, names in LAYERS.items()}
GROUPS["bronze"].add("spotify_tracks")  # writes a table only when Spotify is connected
GROUPS["ml"] = {
    "track_moods",
    "listening_modes",
    "preference_model",
    "als_recommendations",
    "recommendations",
    "shap_values",
    "explanations",
    "farm_flags",
    "listener_segments",
    "churn_risk",
    "popularity_predictions",
    "mood_playlists",
}
GROUPS["platform"] = {"active_listeners", "retention_cohorts", "plan_country_mix", "crowd_top"}
GROUPS["serving"] = {"duckdb"}  # Gold for dashboards (docker/superset)
PROFILES = (dg.AssetKey(["bronze", "profiles"]), dg.AssetKey(["silver", "profiles"]))


def test_asset_graph_groups_partitions_and_checks():
    defs = make_definitions({"MOODLAKE_HOME": "/nonexistent-moodlake-home"})
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys() - {dg.AssetKey("lake_health")}
    # Every table's key says where it lives: [layer, name], the folder under the lake root.
    layers = ("bronze", "silver", "gold", "audit", "serving")
    assert all(len(k.path) == 2 and k.path[0] in layers for k in keys)
    assert {k.path[0] for k in keys if k.path[1] in GROUPS["ml"]} == {"gold"}
    # The operator's profiles, as received and conformed: one name in two layers.
    for key in PROFILES:
        node = graph.get(key)
        assert node.group_name == "platform" and node.partitions_def == daily_partitions
    assert graph.get(PROFILES[1]).parent_keys == {PROFILES[0]}
    nodes = {key.path[-1]: graph.get(key) for key in keys - set(PROFILES)}
    nodes["lake_health"] = graph.get(dg.AssetKey("lake_health"))
    # Raw API responses are appended by a sensor: an external asset, shown, never materialized.
    external = nodes.pop("spotify_api_responses")
    assert not external.is_materializable and external.group_name == "bronze"
    # Housekeeping over every table: no day of its own, no Pandera model, its own job.
    health = nodes.pop("lake_health")
    assert health.group_name == "maintenance" and health.partitions_def is None
    # Tables every writer adds its own rows to: drawn downstream of their writers, checked.
    for side in ("quarantine", "model_metrics"):
        node = nodes.pop(side)
        assert not node.is_materializable and node.parent_keys, side
    # The audit trail: appended by commands (export, erase, …) and lake_health, checked.
    audit = nodes.pop("events")
    assert not audit.is_materializable and audit.group_name == "privacy"
    build = defs.resolve_job_def("moodlake_build").asset_layer.executable_asset_keys
    assert dg.AssetKey("lake_health") not in build and dg.AssetKey(["silver", "plays"]) in build
    maintenance = defs.resolve_job_def("lake_maintenance")
    assert maintenance.asset_layer.executable_asset_keys == {dg.AssetKey("lake_health")}
    schedule = defs.resolve_schedule_def("lake_maintenance_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    specs = nodes
    assert {name: node.group_name for name, node in specs.items()} == {
        name: group for group, names in GROUPS.items() for name in names
    }
    for name, node in specs.items():
        assert node.partitions_def == daily_partitions, name
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), name
        assert node.description and len(node.description) > 40, name
    checks = {(key.asset_key.path[-1], key.name) for key in graph.asset_check_keys}
    pandera = {name for name, check in checks if check == "pandera_schema"}
    assert pandera == set(specs) - {"duckdb"} | {
        "quarantine",
        "model_metrics",
        "events",
        "profiles",
    }
    assert checks - {(name, "pandera_schema") for name in pandera} == {
        ("duckdb", "matches_gold"),
        ("track_moods", "auc_bar"),
        ("preference_model", "auc_bar"),
        ("als_recommendations", "beats_popularity"),
        ("recommendations", "coach_within_caps"),
        ("shap_values", "shap_sums_to_output"),
    }
    blocking = {
        k.asset_key.path[-1] for k in graph.asset_check_keys if graph.get_check_spec(k).blocking
    }
    assert blocking == GROUPS["bronze"] | GROUPS["silver"] | {"profiles"}
    assert specs["plays"].pools == {"spark"} and not specs["listening_events"].pools
    assert specs["als_recommendations"].pools == {"spark"}
    assert specs["plays"].parent_keys == {
        dg.AssetKey(["bronze", "listening_events"]),
        dg.AssetKey(["silver", "tracks"]),
    }
    assert dg.AssetKey(["bronze", "spotify_api_responses"]) in specs["listening_events"].parent_keys


def test_sensors_and_the_jobs_they_request():
    defs = make_definitions({"MOODLAKE_HOME": "/nonexistent-moodlake-home"})
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == {
        "landing_history_sensor",
        "spotify_recent_plays_sensor",
        "listening_snapshot_sensor",
        "profiles_sensor",
    }
    for sensor in sensors.values():
        assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
        assert sensor.description and len(sensor.description) > 40
    assert sensors["spotify_recent_plays_sensor"].minimum_interval_seconds <= 600
    history = defs.resolve_job_def("listening_history")
    assert {k.to_user_string() for k in history.asset_layer.executable_asset_keys} == {
        "bronze/catalog_tracks",
        "silver/tracks",
        "bronze/listening_events",
        "bronze/spotify_tracks",
        "silver/plays",
        "gold/mood_by_day",
    }
    snapshots = defs.resolve_job_def("listening_snapshots")
    assert {k.to_user_string() for k in snapshots.asset_layer.executable_asset_keys} == {
        "silver/users",
        *(k.to_user_string() for k in PROFILES),
        *(
            f"gold/{name}"
            for name in (*LAYERS["gold"], *GROUPS["ml"], *GROUPS["platform"])
            if name not in DAILY
        ),
        "serving/duckdb",  # the dashboards' copy of Gold, after every snapshot
    }


def test_every_catalog_table_is_an_asset_and_every_asset_a_table():
    """One entry per table: its key, group, description and contract reach the asset."""
    from moodlake_dagster.tables import TABLES

    defs = make_definitions({"MOODLAKE_HOME": "/nonexistent-moodlake-home"})
    graph = defs.resolve_asset_graph()
    # Not tables: housekeeping, and the DuckDB file dashboards read (a copy of Gold).
    keys = graph.get_all_asset_keys() - {
        dg.AssetKey("lake_health"),
        dg.AssetKey(["serving", "duckdb"]),
    }
    assert {table.key for table in TABLES.values()} == keys
    checked = {key.asset_key for key in graph.asset_check_keys if key.name == "pandera_schema"}
    for table in TABLES.values():
        node = graph.get(table.key)
        assert (node.group_name, node.description) == (table.group, table.description)
        assert (table.key in checked) == (table.model is not None), table.path
        if table.schema is not None:
            columns = node.metadata["dagster/column_schema"].columns
            assert [c.name for c in columns] == table.schema.names
            assert all(c.description for c in columns), table.path
