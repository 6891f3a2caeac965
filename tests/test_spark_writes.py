"""`moodlake build` with Spark writing the files of silver/plays and gold/sessions (the
default) and with the rows collected through Arrow (MOODLAKE_SPARK_WRITES=false) makes the same
tables, on the demo's two generated listeners and on a generated crowd."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
from deltalake import DeltaTable
from helpers import CATALOG_SAMPLE, cli_env, run_cli

from moodlake_dagster.demo.generator import generate_history

KEY = "spark-writes-test-key"
WAYS = ("spark", "arrow")
SPARK_FILE = re.compile(r"/[0-9a-f]{32}-part-[^/]+\.parquet$")
EVENTS = ["bronze/catalog_tracks", "silver/tracks", "bronze/listening_events", "silver/plays"]
SESSIONS = "gold/sessions"


def read(root, path: str, key: list[str]) -> pd.DataFrame:
    frame = DeltaTable(str(root / "home" / "lake" / path)).to_pandas()
    lineage = [c for c in frame.columns if c.startswith("_")]
    return frame.drop(columns=lineage).sort_values(key).reset_index(drop=True)


def build_plays(root, spark_url, landing, spark_writes: bool, *extra: str) -> pd.DataFrame:
    if not (root / "landing").exists():
        shutil.copytree(landing, root / "landing")
    with cli_env(root, spark_url, KEY) as (patch, _):
        patch.setenv("MOODLAKE_SPARK_WRITES", str(spark_writes).lower())
        code, out = run_cli("build", "--select", *EVENTS, SESSIONS, *extra)
        assert code == 0, out
    return read(root, "silver/plays", ["play_id"])


@pytest.fixture(scope="module")
def landings(tmp_path_factory):
    demo = tmp_path_factory.mktemp("demo-landing")
    generate_history(CATALOG_SAMPLE, demo)
    crowd = tmp_path_factory.mktemp("crowd")
    with cli_env(crowd, "sc://unused", KEY):
        code, out = run_cli("demo", "--crowd", "25", "--days", "20", "--out", str(crowd / "gen"))
        assert code == 0, out
    return {"demo": demo, "crowd": crowd / "gen"}


@pytest.mark.parametrize("landing", ["demo", "crowd"])
def test_spark_written_plays_equal_the_arrow_path(landing, landings, spark_url, tmp_path):
    by_spark = build_plays(tmp_path / "spark", spark_url, landings[landing], True)
    by_arrow = build_plays(tmp_path / "arrow", spark_url, landings[landing], False)
    assert len(by_spark) > 1000
    pd.testing.assert_frame_equal(by_spark, by_arrow, check_dtype=False)
    # Each table was written its own way: Spark's files are named by their staging folder.
    lakes = {way: tmp_path / way / "home" / "lake" / "silver" / "plays" for way in WAYS}
    paths = {way: DeltaTable(str(uri)).file_uris() for way, uri in lakes.items()}
    assert all(SPARK_FILE.search(p) for p in paths["spark"])
    assert not any(SPARK_FILE.search(p) for p in paths["arrow"])
    # The Spark-written files carry their statistics, as delta-rs's own do.
    actions = DeltaTable(str(lakes["spark"])).get_add_actions(flatten=True)
    assert all(n > 0 for n in actions.column("num_records").to_pylist())
    assert None not in actions.column("min.play_date").to_pylist()
    # gold/sessions, a snapshot that grows with plays, too: same rows, Spark's files.
    sessions = {way: read(tmp_path / way, SESSIONS, ["user_id", "session_no"]) for way in WAYS}
    assert len(sessions["spark"]) > 10
    pd.testing.assert_frame_equal(sessions["spark"], sessions["arrow"], check_dtype=False)
    written = DeltaTable(str(tmp_path / "spark" / "home" / "lake" / SESSIONS)).file_uris()
    assert written and all(SPARK_FILE.search(p) for p in written)
    if landing == "crowd":
        # A lake written through Arrow (before this existed) taken on by Spark: same rows.
        again = build_plays(tmp_path / "arrow", spark_url, landings[landing], True, "--force")
        pd.testing.assert_frame_equal(again, by_arrow, check_dtype=False)
        taken_on = read(tmp_path / "arrow", SESSIONS, ["user_id", "session_no"])
        pd.testing.assert_frame_equal(taken_on, sessions["arrow"], check_dtype=False)
        assert all(SPARK_FILE.search(p) for p in DeltaTable(str(lakes["arrow"])).file_uris())
