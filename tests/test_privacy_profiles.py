"""A listener's rights reach the operator's profiles files: a listener known only there is
found, their raw row is exported to them, and an erase with --landing cuts their row out of
every profiles file, leaving the other listener's bytes as they were. No Spark, no Dagster run:
the tiny lake is written with delta-rs from the ingest's own parse of the same files."""

from __future__ import annotations

import datetime as dt
import json
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from deltalake import DeltaTable, write_deltalake

from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.ingest.profiles import (
    conform_profiles,
    discover_profile_files,
    mask_email,
    parse_profiles,
)
from moodlake_dagster.privacy import profiles_file, rights
from moodlake_dagster.privacy_cli import _landing
from moodlake_dagster.tables import BRONZE_PROFILES, PROFILES

KEY = b"profiles-rights-key"
AS_OF = dt.date(2024, 7, 23)
ALICE_NAME, BOB_NAME = "alice.kowalska.1987", "bob.mwangi.1990"
ALICE, BOB = pseudonymize(ALICE_NAME, KEY), pseudonymize(BOB_NAME, KEY)
ALICE_MAIL, BOB_MAIL = "alice.k@example.org", "bob.mwangi@example.net"

# The CSV's pieces, kept apart so a test can say which bytes must survive: a BOM, CRLF line
# ends, and Alice's row with a quoted line break (one record over two lines).
HEADER = "\ufeffaccount,email,birth_year,country,plan,signup_date\r\n"
ALICE_CSV = f'"{ALICE_NAME}","{ALICE_MAIL}",1987,PL,"premium",2020-01-05\r\n'
ALICE_CSV_2 = f'" {ALICE_NAME.upper()}","{ALICE_MAIL}","19\r\n87",PL,free,2021/02/03\r\n'
BOB_CSV = f"{BOB_NAME},{BOB_MAIL},1990,KE,family,2019-11-30\r\n"
# The JSON file: Bob's element between two of Alice's (her account spaced and upper-cased,
# as ingest trims and pseudonymize lower-cases).
BOB_JSON = (
    f'{{"account": "{BOB_NAME}", "email": "{BOB_MAIL}", "birth_year": 1990,\n'
    '    "country": "KE", "plan": "duo", "signup_date": "2023-04-01"}'
)
ALICE_JSON = (
    f'{{"Account": "  {ALICE_NAME.upper()} ", "email": "{ALICE_MAIL}", "birth_year": "1987",'
    ' "country": "PL", "plan": "student", "signup_date": "2022-08-09"}'
)


def _write_landing(landing: Path) -> None:
    landing.mkdir(parents=True)
    csv_text = HEADER + ALICE_CSV + BOB_CSV + "\r\n" + ALICE_CSV_2
    (landing / "profiles.csv").write_bytes(csv_text.encode())
    json_text = f"[\n  {ALICE_JSON},\n  {BOB_JSON},\n  {ALICE_JSON}\n]\n"
    (landing / "profiles.json").write_text(json_text)
    (landing / BOB_NAME).mkdir()  # Bob also has listening history; Alice has none
    (landing / BOB_NAME / "Streaming_History_Audio_2024.json").write_text("[]")


@pytest.fixture
def world(tmp_path):
    """A landing folder with both files, and a lake whose Bronze and Silver profiles are what
    ingest makes of them."""
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    _write_landing(landing)
    batch = parse_profiles(
        discover_profile_files(landing),
        landing=landing,
        key=KEY,
        as_of=AS_OF,
        batch_id="b1",
        ingested_at=dt.datetime(2024, 7, 23, tzinfo=dt.UTC),
    )
    silver, _ = conform_profiles(batch.table, as_of=AS_OF)
    write_deltalake(str(lake / BRONZE_PROFILES.path), batch.table.cast(BRONZE_PROFILES.schema))
    write_deltalake(str(lake / PROFILES.path), silver.cast(PROFILES.schema))
    return SimpleNamespace(
        root=tmp_path,
        landing=landing,
        lake=str(lake),
        bronze=batch.table.to_pylist(),
        silver=silver.to_pylist(),
        before={p.name: p.read_bytes() for p in landing.rglob("*") if p.is_file()},
    )


def _account_of(row: dict) -> str:
    return next(str(v) for k, v in row.items() if k.strip().lower() == "account")


def _landing_text(landing: Path) -> str:
    return "".join(p.read_bytes().decode() for p in landing.rglob("*") if p.is_file()).lower()


def test_the_file_reads_as_ingest_reads_it(world):
    """Same listeners, same record indexes as Bronze: the rights match the rows ingest made."""
    rows = [r for u in (ALICE, BOB) for r in profiles_file.listener_rows(world.landing, u, KEY)]
    found = {
        (row["_source_file"], row["_record_index"], pseudonymize(_account_of(row), KEY))
        for row in rows
    }
    bronze = {(r["_source_file"], r["_record_index"], r["user_id"]) for r in world.bronze}
    assert found == bronze and len(bronze) == 6
    assert {r["user_id"] for r in world.silver} == {ALICE, BOB}


def test_a_listener_only_in_a_profiles_file_is_found(world, tmp_path):
    empty_lake = str(tmp_path / "no-lake")
    by_name = rights.find_listener(ALICE_NAME, empty_lake, KEY, world.landing)
    assert by_name == rights.Listener(ALICE, ALICE_NAME)
    # By pseudonym, the account comes from the file (trimmed: her CSV row's spelling).
    by_id = rights.find_listener(ALICE, empty_lake, KEY, world.landing)
    assert by_id.user_id == ALICE and by_id.account.lower() == ALICE_NAME
    assert by_id.account == by_id.account.strip()
    with pytest.raises(rights.RightsError, match=BOB):
        rights.find_listener("carol", empty_lake, KEY, world.landing)
    # Without the landing folder, a lake holding only profiles still knows her.
    assert rights.find_listener(ALICE_NAME, world.lake, KEY, None).user_id == ALICE
    with pytest.raises(rights.RightsError):
        rights.find_listener(ALICE_NAME, empty_lake, KEY, None)


def test_the_export_gives_her_raw_rows_only_with_the_landing_folder(world, tmp_path):
    listener = rights.find_listener(ALICE_NAME, world.lake, KEY, world.landing)
    out = tmp_path / "alice.zip"
    done = rights.export(world.lake, tmp_path / "models", listener, out, world.landing, KEY)
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        raw = [json.loads(line) for line in archive.read(rights.LANDING_PROFILES).splitlines()]
        silver = [
            json.loads(line) for line in archive.read("tables/silver/profiles.jsonl").splitlines()
        ]
        everything = b"".join(archive.read(n) for n in names).decode()
    # Her lake rows: Bronze and Silver profiles have user_id, so lake_rows finds them.
    counts = {t["table"]: t["rows"] for t in manifest["tables"]}
    assert counts["bronze/profiles"] == sum(r["user_id"] == ALICE for r in world.bronze) == 4
    assert counts["silver/profiles"] == 1
    assert [(r["user_id"], r["email_masked"]) for r in silver] == [(ALICE, mask_email(ALICE_MAIL))]
    # Her raw rows, clear email included, from both files; and the manifest says what they are.
    assert done.landing_rows == len(raw) == 4
    assert {r["_source_file"] for r in raw} == {"profiles.csv", "profiles.json"}
    assert all(r["email"] == ALICE_MAIL for r in raw)
    assert manifest["landing"]["rows"] == 4 and manifest["landing"]["file"] in names
    assert "your own data" in manifest["landing"]["note"]
    assert BOB not in everything and BOB_NAME not in everything and BOB_MAIL not in everything

    without = rights.export(world.lake, tmp_path / "models", listener, tmp_path / "no.zip")
    with zipfile.ZipFile(without.path) as archive:
        assert rights.LANDING_PROFILES not in archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        assert ALICE_MAIL not in b"".join(archive.read(n) for n in archive.namelist()).decode()
    assert without.landing_rows is None and manifest["landing"]["rows"] is None
    assert "not available" in manifest["landing"]["note"]


def test_erase_without_landing_lists_the_rows_and_changes_no_file(world, capsys):
    listener = rights.find_listener(ALICE_NAME, world.lake, KEY, world.landing)
    done = rights.erase_lake(world.lake, world.root / "models", listener, "t_erased")
    assert done.rows == {"bronze/profiles": 4, "silver/profiles": 1}
    for path in (BRONZE_PROFILES.path, PROFILES.path):
        left = DeltaTable(f"{world.lake}/{path}").to_pandas()["user_id"]
        assert ALICE not in set(left) and BOB in set(left)
    held = rights.landing_profiles(world.landing, listener, KEY)
    assert held == {world.landing / "profiles.csv": 2, world.landing / "profiles.json": 2}
    assert rights.landing_files(world.landing, listener, KEY) == []

    settings = SimpleNamespace(landing=world.landing, resolved_pseudonym_key=lambda: KEY)
    _landing(settings, listener, delete=False)
    printed = capsys.readouterr().out
    assert "2 file(s) still hold them" in printed
    assert "profiles.csv: 2 rows still hold them" in printed
    assert "profiles.json: 2 rows still hold them" in printed
    assert {p.name: p.read_bytes() for p in world.landing.rglob("*") if p.is_file()} == (
        world.before
    )


def test_erase_with_landing_cuts_only_her_rows(world, capsys):
    listener = rights.find_listener(ALICE_NAME, world.lake, KEY, world.landing)
    settings = SimpleNamespace(landing=world.landing, resolved_pseudonym_key=lambda: KEY)
    _landing(settings, listener, delete=True)
    printed = capsys.readouterr().out
    assert "profiles.csv: 2 rows removed" in printed and "file(s) deleted" not in printed

    # CSV: the header (BOM and all), Bob's line and the blank line, byte for byte.
    assert (world.landing / "profiles.csv").read_bytes() == (HEADER + BOB_CSV + "\r\n").encode()
    # JSON: the array without her objects; Bob's element as written, and still valid JSON.
    json_text = (world.landing / "profiles.json").read_text()
    assert json_text == f"[\n  {BOB_JSON}\n]\n"
    assert json.loads(json_text)[0]["account"] == BOB_NAME
    text = _landing_text(world.landing)
    assert ALICE_NAME not in text and ALICE_MAIL not in text
    assert BOB_NAME in text and BOB_MAIL in text
    history = world.landing / BOB_NAME / "Streaming_History_Audio_2024.json"
    assert history.read_bytes() == world.before[history.name]
    assert sorted(p.name for p in world.landing.iterdir()) == sorted(
        ["profiles.csv", "profiles.json", BOB_NAME]
    )  # no temp file left beside them
    # Ingest now finds Bob's rows only.
    batch = parse_profiles(
        discover_profile_files(world.landing),
        landing=world.landing,
        key=KEY,
        as_of=AS_OF,
        batch_id="b2",
        ingested_at=dt.datetime(2024, 7, 24, tzinfo=dt.UTC),
    )
    assert set(batch.table.column("user_id").to_pylist()) == {BOB} and not batch.bad
    # A second erase finds nothing to do and leaves the files alone.
    after = (world.landing / "profiles.json").stat().st_mtime_ns
    again = rights.erase_landing(world.landing, listener, KEY)
    assert again.files == [] and again.rows == {}
    assert (world.landing / "profiles.json").stat().st_mtime_ns == after


@pytest.mark.parametrize("position", [0, 1, 2])
def test_cutting_one_json_element_keeps_the_array_well_formed(tmp_path, position):
    others = [f'{{"account": "listener{i}", "email": "l{i}@example.org"}}' for i in range(2)]
    elements = list(others)
    elements.insert(position, ALICE_JSON)
    path = tmp_path / "profiles_x.json"
    path.write_text("[" + ",\n ".join(elements) + "]")
    assert profiles_file.remove_listener(path, ALICE, KEY) == 1
    assert path.read_text() == "[" + ",\n ".join(others) + "]"
    assert profiles_file.remove_listener(path, ALICE, KEY) == 0


def test_a_thousand_listeners_are_found_and_cut_in_well_under_a_second(tmp_path):
    header = "account,email,birth_year,country,plan,signup_date\n"
    rows = [f"user{i},u{i}@example.org,1990,DE,free,2020-01-01\n" for i in range(1_000)]
    path = tmp_path / "profiles.csv"
    path.write_text(header + "".join(rows))
    start = time.perf_counter()
    known = profiles_file.accounts(tmp_path, KEY)
    removed = profiles_file.remove_listener(path, pseudonymize("USER7 ", KEY), KEY)
    elapsed = time.perf_counter() - start
    assert len(known) == 1_000 and known[pseudonymize("user7", KEY)] == "user7"
    assert removed == 1 and path.read_text() == header + "".join(rows[:7] + rows[8:])
    assert elapsed < 1.0, elapsed
