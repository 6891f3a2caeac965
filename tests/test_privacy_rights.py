"""A listener's rights, proven on the bytes on disk: their export holds exactly their rows, and
after their erasure no file under MOODLAKE_HOME holds their pseudonym, their account name or a
play only they made, while the other listener's rows are unchanged."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import zipfile
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from helpers import EXTENDED, cli_env, run_cli

from moodlake_dagster import audit, event_log
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.privacy import records, scan
from moodlake_dagster.tables import TABLES

KEY = "rights-test-key"
DAYS = ("2024-07-21", "2024-07-23")
# Account names no track title holds, so a scan for them is a scan for the person.
ALICE_NAME, BOB_NAME = "alice.kowalska.1987", "bob.mwangi.1990"
ALICE, BOB = pseudonymize(ALICE_NAME, KEY.encode()), pseudonymize(BOB_NAME, KEY.encode())


def _histories(landing: Path) -> tuple[list[dict], list[dict]]:
    """Alice's real plays of three days; Bob's are the real plays of the next three days,
    moved three days back (so both listen on the same days, to different things)."""
    records = json.loads((EXTENDED / "Streaming_History_Audio_2024.json").read_text())
    alice = [r for r in records if DAYS[0] <= r["ts"][:10] <= DAYS[1]]
    bob = []
    for r in records:
        ts = dt.datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) - dt.timedelta(days=3)
        if DAYS[0] <= ts.date().isoformat() <= DAYS[1]:
            bob.append(r | {"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ")})
    for name, plays in ((ALICE_NAME, alice), (BOB_NAME, bob)):
        (landing / name).mkdir(parents=True)
        (landing / name / "Streaming_History_Audio_2024.json").write_text(json.dumps(plays))
    return alice, bob


def _listener_tables(root: Path) -> dict[str, pd.DataFrame]:
    """Every catalog table with a user_id column, as written."""
    found = {}
    for path in TABLES:
        uri = root / path
        if DeltaTable.is_deltatable(str(uri)):
            frame = DeltaTable(str(uri)).to_pandas()
            if "user_id" in frame.columns:
                found[path] = frame
    return found


def _serving_listeners(path: Path) -> set[str]:
    """Every user_id in the dashboards' DuckDB copy of Gold, read as a dashboard reads it (a
    byte scan could miss a pseudonym DuckDB stored compressed)."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'user_id'"
        ).fetchall()
        return {
            user
            for (table,) in tables
            for (user,) in con.execute(f'SELECT DISTINCT user_id FROM gold."{table}"').fetchall()
        }


@pytest.fixture(scope="module")
def lake(spark_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("rights")
    alice, bob = _histories(root / "landing")
    with cli_env(root, spark_url, KEY):
        code, out = run_cli("build", "--start", DAYS[0], "--end", DAYS[1])
        assert code == 0, out
        yield {
            "root": root,
            "home": root / "home",
            "lake": root / "home" / "lake",
            "alice": alice,
            "bob": bob,
        }


def test_the_build_writes_the_dashboards_file_again_only_when_something_changed(lake):
    """`moodlake build` ends with serving/duckdb: rewritten when a stage ran or the file is
    missing, left alone when every stage was unchanged."""
    serving = lake["home"] / "serving" / "moodlake.duckdb"
    written = serving.stat().st_mtime_ns
    code, out = run_cli("build", "--start", DAYS[0], "--end", DAYS[1])
    assert code == 0, out
    assert out.count("unchanged: no run") == 3 and "\nserving:" not in out, out
    assert serving.stat().st_mtime_ns == written
    serving.unlink()
    code, out = run_cli("build", "--start", DAYS[0], "--end", DAYS[1])
    assert code == 0, out
    assert "\nserving: " in out and "serving/duckdb" in out, out
    assert {ALICE, BOB} <= _serving_listeners(serving)


def test_the_export_holds_every_row_about_the_listener_and_nobody_elses(lake, tmp_path):
    out = tmp_path / "alice.zip"
    code, printed = run_cli("privacy", "export", "--user", ALICE_NAME, "--out", str(out))
    assert code == 0, printed
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        exported = {
            name.removeprefix("tables/").removesuffix(".jsonl"): archive.read(name).decode()
            for name in archive.namelist()
            if name.startswith("tables/")
        }
        cards = [n for n in archive.namelist() if n.startswith("models/")]
    assert manifest["user_id"] == ALICE
    direct = _listener_tables(lake["lake"])
    counts = {entry["table"]: entry["rows"] for entry in manifest["tables"]}
    for path, frame in direct.items():
        assert counts[path] == int((frame["user_id"] == ALICE).sum()), path
        assert len(exported[path].splitlines()) == counts[path]
    assert counts["silver/plays"] == len(lake["alice"]) > 0
    for entry in manifest["tables"]:
        assert None not in entry["columns"].values(), entry["table"]  # every column classified
    everything = "".join(exported.values()) + "".join(manifest and [json.dumps(manifest)])
    assert BOB not in everything and BOB_NAME not in everything
    theirs = list(records.listener_models(lake["home"] / "models", ALICE))
    assert len(cards) == len(theirs)  # a card for each model holding a model of theirs
    events = audit.read_events(str(lake["lake"]))
    assert (events[events["action"] == "export"]["subject"] == ALICE).all()


def test_erase_waits_for_a_yes_and_for_runs_in_progress(lake):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(""))  # nobody there to answer
        code, printed = run_cli("privacy", "erase", "--user", ALICE_NAME)
    assert code == 1 and "not confirmed" in printed
    assert DeltaTable(str(lake["lake"] / "silver/plays")).to_pandas()["user_id"].eq(ALICE).any()
    with event_log.instance_at(lake["home"] / "dagster") as instance:
        from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

        run = DagsterRun(
            job_name="moodlake_build", run_id="in-flight", status=DagsterRunStatus.STARTED
        )
        instance.add_run(run)
        try:
            code, printed = run_cli("privacy", "erase", "--user", ALICE_NAME, "--yes")
        finally:
            instance.delete_run("in-flight")
    assert code == 1 and "in-flight" in printed


def test_after_an_erase_no_file_holds_them_and_bob_is_untouched(lake):
    before = {
        path: frame[frame["user_id"] == BOB]
        for path, frame in _listener_tables(lake["lake"]).items()
    }
    plays_uri = str(lake["lake"] / "silver/plays")
    serving = lake["home"] / "serving" / "moodlake.duckdb"  # the build wrote it
    assert {ALICE, BOB} <= _serving_listeners(serving)
    # Daily builds leave a model per as-of day, and the rebuild refits only the latest: an
    # earlier day's ALS factors (her rows among them, as UTF-32 ids) must lose her too.
    latest = lake["home"] / "models" / "als" / DAYS[1]
    shutil.copytree(latest, latest.with_name(DAYS[0]))
    fitted = json.loads((latest / "card.json").read_text())["trained_at"]
    code, printed = run_cli("privacy", "erase", "--user", ALICE_NAME, "--yes")
    assert code == 0, printed
    # The rebuild did not serve the fit her plays were in: that fit, stripped of its record,
    # can serve no more; the latest day's was fitted again without her or stands stripped too.
    (als_line,) = [line for line in printed.splitlines() if "gold/als_recommendations " in line]
    assert "served_from_fit_of" not in als_line, als_line
    card = json.loads((latest / "card.json").read_text())
    assert card["trained_at"] != fitted or "fitted_history" not in card
    assert "fitted_history" not in (latest.with_name(DAYS[0]) / "card.json").read_text()
    assert "proof: no file" in printed
    assert f"{serving}: removed" in printed
    assert "still hold them" in printed  # her landing folder, not deleted without --landing

    # The scan the command made, made again here: the pseudonym, the name, and every play
    # time only she has, as the export wrote it.
    bob_times = {r["ts"] for r in lake["bob"]}
    only_hers = tuple(r["ts"] for r in lake["alice"] if r["ts"] not in bob_times)
    assert scan.holders(lake["home"], (ALICE, ALICE_NAME, *only_hers)) == []
    after = _listener_tables(lake["lake"])
    for path, frame in after.items():
        assert not (frame["user_id"] == ALICE).any(), path
    served = _serving_listeners(serving)  # removed, then written again by the rebuild
    assert ALICE not in served and BOB in served
    played = after["silver/plays"]
    assert set(played["played_at_utc"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")) <= bob_times

    # Bob's rows are the same in every table that is his alone (the models learn from all).
    for path in ("bronze/listening_events", "silver/plays", "gold/mood_by_day", "gold/sessions"):
        keep = [c for c in before[path].columns if not c.startswith("_")]
        old = before[path][keep].sort_values(keep[:4]).reset_index(drop=True)
        new = after[path][after[path]["user_id"] == BOB][keep].sort_values(keep[:4])
        pd.testing.assert_frame_equal(old, new.reset_index(drop=True), check_dtype=False)

    # No time travel back to before the erase.
    with pytest.raises(DeltaError):
        DeltaTable(plays_uri, version=0)
    events = audit.read_events(str(lake["lake"]))
    assert ALICE not in set(events["subject"].dropna())
    erased = events[events["action"] == "erase"]
    token = audit.erasure_token(ALICE, KEY.encode())
    assert erased["subject"].tolist() == [token] and erased["rows"].iloc[0] > 0
    # Dagster's records still read: the runs and their materializations are there.
    with event_log.instance_at(lake["home"] / "dagster") as instance:
        assert instance.get_runs()
        records = instance.fetch_materializations(dg.AssetKey(["silver", "plays"]), limit=5)
        assert records.records


def test_a_later_erase_with_landing_deletes_the_files_that_would_bring_them_back(lake):
    summaries = lake["home"] / "cache" / "landing_files.json"  # counts and days of their file
    assert summaries.is_file()
    code, printed = run_cli("privacy", "erase", "--user", ALICE_NAME, "--yes", "--landing")
    assert code == 0, printed
    assert "landing: 1 file(s) deleted" in printed
    assert not summaries.exists()
    assert not any((lake["root"] / "landing" / ALICE_NAME).iterdir())
    assert any((lake["root"] / "landing" / BOB_NAME).iterdir())
