"""The code location loads as the UI shows it: groups, partitions, checks, kinds, pools."""

from __future__ import annotations

import dagster as dg
from conftest import LAYERS

from moodlake_dagster.definitions import make_definitions
from moodlake_dagster.partitions import daily_partitions

GROUPS = {layer: set(names) for layer, names in LAYERS.items()}


def test_asset_graph_groups_partitions_and_checks():
    defs = make_definitions({"MOODLAKE_HOME": "/nonexistent-moodlake-home"})
    graph = defs.resolve_asset_graph()
    specs = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    assert {name: node.group_name for name, node in specs.items()} == {
        name: group for group, names in GROUPS.items() for name in names
    }
    for name, node in specs.items():
        assert node.partitions_def == daily_partitions, name
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), name
        assert node.description and len(node.description) > 40, name
    checks = {key.asset_key.to_user_string(): key.name for key in graph.asset_check_keys}
    assert set(checks) == set(specs) and set(checks.values()) == {"pandera_schema"}
    blocking = {
        k.asset_key.to_user_string()
        for k in graph.asset_check_keys
        if graph.get_check_spec(k).blocking
    }
    assert blocking == GROUPS["bronze"] | GROUPS["silver"]
    assert specs["plays"].pools == {"spark"} and not specs["listening_events"].pools
    assert specs["plays"].parent_keys == {dg.AssetKey("listening_events"), dg.AssetKey("tracks")}
