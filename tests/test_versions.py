"""A table that lost its newest commit is named when read, not answered from silently."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from helpers import run_cli

from moodlake_dagster import fingerprints
from moodlake_dagster.tables import GENRE_MIX, MOOD_BY_HOUR
from moodlake_dagster.versions import gone_back, recorded_versions


def _genre_rows(share: float) -> pa.Table:
    return pa.table({"user_id": ["u_0123456789abcdef"], "genre": ["jazz"], "share": [share]})


def test_moodlake_sql_warns_when_a_table_lost_its_newest_commit(tmp_path, monkeypatch):
    home = tmp_path / "home"
    uri = home / "lake" / GENRE_MIX.path
    for share in (0.2, 0.5, 0.8):  # versions 0, 1, 2
        write_deltalake(str(uri), _genre_rows(share), mode="overwrite")
    hours = pa.table({"user_id": ["u_0123456789abcdef"], "local_hour": [7], "plays": [3]})
    write_deltalake(str(home / "lake" / MOOD_BY_HOUR.path), hours)  # version 0, as recorded
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text("")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(GENRE_MIX.key, metadata={fingerprints.WRITTEN_VERSION: 2})
        )
        instance.report_runless_asset_event(
            dg.AssetMaterialization(MOOD_BY_HOUR.key, metadata={fingerprints.WRITTEN_VERSION: 0})
        )
    assert recorded_versions(dagster_home, [GENRE_MIX]) == {GENRE_MIX.path: 2}
    assert gone_back(str(home / "lake"), {GENRE_MIX.path: 2}) == []

    (uri / "_delta_log" / f"{2:020d}.json").unlink()  # the newest commit, lost
    assert DeltaTable(str(uri)).version() == 1
    [line] = gone_back(str(home / "lake"), {GENRE_MIX.path: 2})
    assert "wrote version 2, the table is at version 1" in line

    monkeypatch.setenv("MOODLAKE_HOME", str(home))
    code, out = run_cli("sql", "SELECT share FROM genre_mix")
    assert code == 0 and "0.5" in out  # it still answers, from the older build...
    assert f"warning: {GENRE_MIX.path}: the last build wrote version 2" in out  # ...and says so
    code, out = run_cli("sql", "SELECT plays FROM mood_by_hour")
    assert code == 0 and "3" in out
    assert "warning" not in out  # a table at its recorded version, and only the tables named
