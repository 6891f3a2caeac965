"""Listener profiles: Bronze as received (no clear email, no payment data), Silver conformed."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest
from helpers import CATALOG_SAMPLE

from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.ingest.profiles import (
    AGE_BANDS,
    BRONZE_PROFILES_SCHEMA,
    SILVER_PROFILES_SCHEMA,
    conform_profiles,
    discover_profile_files,
    email_token,
    mask_email,
    parse_profiles,
    payment_column,
)

KEY = b"test-key"
AS_OF = dt.date(2025, 6, 1)
INGESTED = dt.datetime(2025, 6, 1, 3, tzinfo=dt.UTC)
HEADER = ["account", "email", "birth_year", "country", "plan", "signup_date"]


def good_row(n: int, **changes) -> dict:
    row = {
        "account": f"listener-{n:03d}",
        "email": f"listener.{n:03d}@example.org",
        "birth_year": str(1960 + n % 40),
        "country": ["DE", "us", "fr ", "Se"][n % 4],
        "plan": ["free", "Premium", "family", "student", "duo"][n % 5],
        "signup_date": (dt.date(2023, 1, 1) + dt.timedelta(days=n)).isoformat(),
    }
    return row | changes


def write_csv(path: Path, rows: list[dict], header: list[str] | None = None) -> Path:
    header = header or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(
            [[row.get(h.strip().lower(), row.get(h, "")) for h in header] for row in rows]
        )
    return path


def parse(landing: Path, files: list[Path] | None = None, key: bytes = KEY):
    files = discover_profile_files(landing) if files is None else files
    return parse_profiles(
        files, landing=landing, key=key, as_of=AS_OF, batch_id="b1", ingested_at=INGESTED
    )


def every_text(*tables: pa.Table, bad=()) -> list[str]:
    """Every cell of the tables and every quarantine reason and raw text, as text."""
    cells = [str(v) for t in tables for column in t.columns for v in column.to_pylist()]
    return cells + [str(b.raw) for b in bad] + [b.reason for b in bad]


def assert_nowhere(secrets: list[str], texts: list[str]) -> None:
    for secret in secrets:
        hits = [t for t in texts if secret.lower() in t.lower()]
        assert not hits, f"{secret!r} found in {hits[:3]}"


def test_csv_lands_with_pseudonyms_lineage_and_masked_emails(tmp_path):
    rows = [good_row(n) for n in range(6)]
    write_csv(tmp_path / "profiles.csv", rows, [" Account", "EMAIL ", *HEADER[2:]])
    batch = parse(tmp_path)
    assert batch.table.schema == BRONZE_PROFILES_SCHEMA
    assert batch.totals() == {
        "files": 1,
        "records_in": 6,
        "records_landed": 6,
        "records_quarantined": 0,
        "columns_refused": 0,
    }
    landed = batch.table.to_pylist()
    assert [r["user_id"] for r in landed] == [pseudonymize(r["account"], KEY) for r in rows]
    assert [r["_record_index"] for r in landed] == list(range(6))
    assert {r["_source_file"] for r in landed} == {"profiles.csv"}
    assert [r["email_masked"] for r in landed] == [mask_email(r["email"]) for r in rows]
    # Bronze keeps the other fields as given (case and spaces included).
    assert [r["country"] for r in landed] == [r["country"] for r in rows]
    assert_nowhere(
        [r["email"] for r in rows] + [r["account"] for r in rows], every_text(batch.table)
    )


def test_json_array_lands_and_non_text_values_become_text(tmp_path):
    rows = [good_row(n) | {"birth_year": 1970 + n} for n in range(3)]
    (tmp_path / "PROFILES_2025.JSON").write_text(json.dumps(rows))
    batch = parse(tmp_path)
    assert batch.table.num_rows == 3 and not batch.bad
    assert batch.table["birth_year"].to_pylist() == [str(r["birth_year"]) for r in rows]
    assert batch.table["_source_file"].to_pylist() == ["PROFILES_2025.JSON"] * 3
    silver, bad = conform_profiles(batch.table, as_of=AS_OF)
    assert silver.num_rows == 3 and bad == []


def test_only_profiles_files_in_the_landing_root_are_found(tmp_path):
    for name in ("profiles.csv", "Profiles_b.json", "profiles_old.txt", "my_profiles.csv"):
        (tmp_path / name).write_text("[]")
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "profiles.csv").write_text("account\n")
    (tmp_path / ".profiles.csv").write_text("account\n")
    found = [p.name for p in discover_profile_files(tmp_path)]
    assert found == sorted(["profiles.csv", "Profiles_b.json"])


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("alice@example.org", "a***e@example.org"),
        (" Bob.Smith@Mail.Example.COM ", "B***h@mail.example.com"),
        ("al@x.io", "a***@x.io"),
        ("a@x.io", "a***@x.io"),
        ("alice", None),
        ("alice@", None),
        ("@example.org", None),
        ("alice@localhost", None),
        ("al ice@example.org", None),
        ("a..b@example.org", None),
        ("", None),
    ],
)
def test_mask_email(email, masked):
    assert mask_email(email) == masked


def test_email_token_is_stable_keyed_and_apart_from_the_pseudonym():
    token = email_token("alice@example.org", KEY)
    assert re.fullmatch(r"e_[0-9a-f]{16}", token)
    assert email_token("  Alice@Example.ORG ", KEY) == token
    assert email_token("alice@example.org", b"another-key") != token
    assert email_token("bob@example.org", KEY) != token
    assert token[2:] != pseudonymize("alice@example.org", KEY)[2:]


def test_the_clear_address_and_account_appear_nowhere(tmp_path):
    rows = [good_row(n) for n in range(4)]
    rows.append(good_row(4, country="ZZ"))  # quarantined in Silver
    rows.append(good_row(0, email="Second.Address@Example.org"))  # duplicate account
    rows.append(good_row(6, account=""))  # quarantined in Bronze
    rows.append(good_row(7, email="listener-007-at-example.org"))  # invalid address
    path = write_csv(tmp_path / "profiles.csv", rows)
    with path.open("a", encoding="utf-8") as out:  # a row with a field too many
        out.write("listener-008,listener.008@example.org,1990,DE,free,2024-01-01,extra\n")
    broken = json.dumps([good_row(9)])[:-2] + ', {"account": "listener-010, "email": '
    (tmp_path / "profiles_b.json").write_text(broken + '"listener.010@example.org"}]')
    batch = parse(tmp_path)
    silver, silver_bad = conform_profiles(batch.table, as_of=AS_OF)
    assert batch.bad and silver_bad and silver.num_rows
    secrets = [r["email"] for r in rows if r["email"]] + [
        r["account"] for r in rows if r["account"]
    ]
    secrets += ["listener.008@example.org", "listener-008", "listener-009", "listener-010"]
    secrets += ["listener.010@example.org", "listener.009@example.org"]
    assert_nowhere(secrets, every_text(batch.table, silver, bad=batch.bad + silver_bad))
    # The masked form does survive: a quarantined row can still be recognised.
    assert any("l***8@example.org" in str(b.raw) for b in batch.bad)


def test_silver_has_an_age_band_instead_of_the_birth_year(tmp_path):
    years = [AS_OF.year - age for age in (13, 17, 18, 24, 25, 34, 35, 44, 45, 54, 55, 64, 65, 110)]
    write_csv(
        tmp_path / "profiles.csv", [good_row(n, birth_year=str(y)) for n, y in enumerate(years)]
    )
    silver, bad = conform_profiles(parse(tmp_path).table, as_of=AS_OF)
    assert bad == []
    assert silver.schema == SILVER_PROFILES_SCHEMA
    assert "birth_year" not in silver.column_names
    bands = silver["age_band"].to_pylist()
    assert bands == [
        "under 18",
        "under 18",
        "18-24",
        "18-24",
        "25-34",
        "25-34",
        "35-44",
        "35-44",
        "45-54",
        "45-54",
        "55-64",
        "55-64",
        "65+",
        "65+",
    ]
    assert set(bands) == set(AGE_BANDS)
    assert set(silver["country"].to_pylist()) == {"DE", "US", "FR", "SE"}
    assert set(silver["plan"].to_pylist()) == {"free", "premium", "family", "student", "duo"}


BAD_ROWS = [
    ({"country": "UK"}, "unknown country 'UK'"),
    ({"country": "Germany"}, "unknown country 'Germany'"),
    ({"country": ""}, "country missing"),
    ({"plan": "gold"}, "unknown plan 'gold'"),
    ({"signup_date": "05/01/2024"}, "signup_date '05/01/2024' is not a date"),
    ({"signup_date": "2024-02-30"}, "signup_date '2024-02-30' is not a date"),
    ({"signup_date": "2025-06-02"}, "signup_date 2025-06-02 is after 2025-06-01"),
    ({"birth_year": "nineteen"}, "birth_year 'nineteen' is not a year"),
    ({"birth_year": "1914"}, "birth_year 1914 outside [1915, 2012]"),
    ({"birth_year": "2013"}, "birth_year 2013 outside [1915, 2012]"),
    ({"email": "nobody-at-example.org"}, "email invalid"),
    ({"email": ""}, "email missing"),
]


def test_each_bad_row_is_quarantined_with_file_index_and_reason(tmp_path):
    rows = [good_row(100), good_row(101, signup_date="2024/03/05")]
    rows += [good_row(n, **change) for n, (change, _) in enumerate(BAD_ROWS)]
    rows.append(good_row(102))
    write_csv(tmp_path / "profiles.csv", rows)
    batch = parse(tmp_path)
    totals = batch.totals()
    assert totals["records_in"] == totals["records_landed"] + totals["records_quarantined"]
    assert totals["records_in"] == len(rows)
    silver, bad = conform_profiles(batch.table, as_of=AS_OF)
    assert silver.num_rows + len(bad) == batch.table.num_rows
    assert silver["user_id"].to_pylist() == [
        pseudonymize(r["account"], KEY) for r in (rows[0], rows[1], rows[-1])
    ]
    assert silver["signup_date"].to_pylist()[1] == dt.date(2024, 3, 5)  # year-first slashes
    assert [(b.source_file, b.record_index) for b in bad] == [
        ("profiles.csv", i + 2) for i in range(len(BAD_ROWS))
    ]
    for record, (_, reason) in zip(bad, BAD_ROWS, strict=True):
        assert reason in record.reason
        assert record.message().startswith(f"profiles.csv, record {record.record_index}:")


def test_bronze_quarantines_unreadable_rows_and_files_and_counts_them(tmp_path):
    rows = [good_row(0), good_row(1, account="  "), good_row(2)]
    path = write_csv(tmp_path / "profiles_a.csv", rows)
    with path.open("a", encoding="utf-8") as out:
        out.write("listener-003,x@example.org\n")
    (tmp_path / "profiles_b.json").write_text(json.dumps([good_row(4), ["not", "an", "object"]]))
    (tmp_path / "profiles_c.json").write_text("")
    write_csv(tmp_path / "profiles_d.csv", [{"email": "e@example.org", "plan": "free"}])
    batch = parse(tmp_path)
    reasons = {(b.source_file, b.record_index): b.reason for b in batch.bad}
    assert reasons == {
        ("profiles_a.csv", 1): "account is empty",
        ("profiles_a.csv", 3): "row has 2 fields, fewer than the header's 6",
        ("profiles_b.json", 1): "expected a JSON object, got list",
        ("profiles_c.json", None): "empty file",
        ("profiles_d.csv", 0): (
            "the file has no 'account' column: no listener to attach the row to"
        ),
    }
    assert batch.table["_record_index"].to_pylist() == [0, 2, 0]
    totals = batch.totals()
    assert totals["files"] == 4
    assert totals["records_in"] == 8 == totals["records_landed"] + totals["records_quarantined"]
    assert "profiles_d.csv: no column 'account'" in batch.notes()


def test_payment_columns_by_name_are_refused_and_never_written(tmp_path):
    card, iban, cvv = "4111 1111 1111 1111", "GB82WEST12345698765432", "737"
    rows = [
        good_row(n) | {"card_number": card, "IBAN": iban, "cvv": cvv, "Exp Date": "12/29"}
        for n in range(3)
    ]
    header = [*HEADER, "card_number", "IBAN", "cvv", "Exp Date", "company"]
    write_csv(tmp_path / "profiles.csv", [r | {"company": "Acme"} for r in rows], header)
    batch = parse(tmp_path)
    assert batch.refused_columns == {
        "profiles.csv": sorted(["card_number", "IBAN", "cvv", "Exp Date"])
    }
    assert (
        "profiles.csv: column 'card_number' looks like payment data (card number); "
        "refused, never written"
    ) in batch.problems()
    assert len(batch.problems()) == 4 == batch.totals()["columns_refused"]
    assert batch.table.num_rows == 3  # good rows still land
    assert "profiles.csv: unknown column 'company' not kept" in batch.notes()
    assert_nowhere([card, card.replace(" ", ""), iban], every_text(batch.table, bad=batch.bad))


def test_payment_data_under_an_innocent_header_refuses_the_column(tmp_path):
    card = "4012-8888-8888-1881"  # Luhn-valid test card number
    iban = "DE89 3704 0044 0532 0130 00"
    rows = [good_row(n, note="call me", memo="") for n in range(4)]
    rows[1]["note"] = f"paid with {card}"
    rows[2]["memo"] = iban
    rows[3]["account"] = ""  # a quarantined row must not carry the refused values either
    rows[3]["note"] = card
    rows.append(good_row(4, note="4012 8888 8888 1882", memo="+44 20 7946 0958"))  # not Luhn
    (tmp_path / "profiles.json").write_text(json.dumps(rows))
    batch = parse(tmp_path)
    assert batch.refused_columns == {"profiles.json": ["memo", "note"]}
    assert any(
        "'note' holds payment data in its values (card number)" in p for p in batch.problems()
    )
    assert any("'memo' holds payment data in its values (IBAN)" in p for p in batch.problems())
    assert batch.table.num_rows == 4 and len(batch.bad) == 1
    secrets = [card, card.replace("-", ""), iban, iban.replace(" ", ""), "call me"]
    assert_nowhere(secrets, every_text(batch.table, bad=batch.bad))


def test_unrefused_innocent_columns_stay_unrefused(tmp_path):
    rows = [good_row(n, note="4012 8888 8888 1882", phone="+44 20 7946 0958") for n in range(3)]
    write_csv(tmp_path / "profiles.csv", rows)
    batch = parse(tmp_path)
    assert batch.refused_columns == {} and batch.problems() == []
    assert batch.table.num_rows == 3


def test_payment_value_in_a_kept_column_refuses_only_its_row(tmp_path):
    card = "5555555555554444"
    iban_shaped = "DE00 1234 5678 9012 3456 78"  # wrong check digits: refused for its shape
    rows = [good_row(0), good_row(1, plan=card), good_row(2, country=iban_shaped), good_row(3)]
    write_csv(tmp_path / "profiles.csv", rows)
    batch = parse(tmp_path)
    assert batch.table.num_rows == 2 and batch.refused_columns == {}
    assert [(b.record_index, b.reason.split(" holds")[0]) for b in batch.bad] == [
        (1, "plan"),
        (2, "country"),
    ]
    assert all("looks like payment data" in b.reason for b in batch.bad)
    assert_nowhere([card, iban_shaped], every_text(batch.table, bad=batch.bad))


@pytest.mark.parametrize(
    "name",
    ["card", "Card Number", "cardNumber", "cc", "PAN", "iban", "BIC", "swift_code", "CVV", "cvc"]
    + ["expiry", "exp_date", "account_number", "AccountNumber", "routing", "sort_code"]
    + ["payment_method", "Payments"],
)
def test_payment_header_names(name):
    assert payment_column(name) is not None


@pytest.mark.parametrize(
    "name", ["account", "email", "plan", "country", "company", "note", "expected", "spanish"]
)
def test_innocent_header_names(name):
    assert payment_column(name) is None


def test_an_empty_bronze_gives_an_empty_silver():
    silver, bad = conform_profiles(BRONZE_PROFILES_SCHEMA.empty_table(), as_of=AS_OF)
    assert silver.schema == SILVER_PROFILES_SCHEMA and silver.num_rows == 0 and bad == []


def test_duplicate_accounts_keep_the_first_by_file_then_record(tmp_path):
    write_csv(
        tmp_path / "profiles_1.csv",
        [good_row(0), good_row(1), good_row(0, plan="duo", account="LISTENER-000 ")],
    )
    (tmp_path / "profiles_2.json").write_text(json.dumps([good_row(2), good_row(1, plan="free")]))
    batch = parse(tmp_path)
    silver, bad = conform_profiles(batch.table, as_of=AS_OF)
    assert silver.num_rows == 3
    assert silver["user_id"].to_pylist() == [
        pseudonymize(f"listener-{n:03d}", KEY) for n in range(3)
    ]
    first_plan = dict(zip(silver["user_id"].to_pylist(), silver["plan"].to_pylist(), strict=True))
    assert first_plan[pseudonymize("listener-000", KEY)] == good_row(0)["plan"].lower()
    assert sorted((b.source_file, b.record_index, b.reason) for b in bad) == [
        ("profiles_1.csv", 2, "duplicate account, first seen in profiles_1.csv record 0"),
        ("profiles_2.json", 1, "duplicate account, first seen in profiles_1.csv record 1"),
    ]


def test_a_generated_crowd_lands_whole_and_agrees_with_its_own_profiles(tmp_path):
    from moodlake_dagster.demo.crowd import crowd

    made = crowd(CATALOG_SAMPLE, listeners=40, start=dt.date(2025, 1, 1), days=20, seed=11)
    rows = made.profile_rows.assign(signup_date=made.profile_rows["signup_date"].map(str))
    rows.to_csv(tmp_path / "profiles_GENERATED.csv", index=False)
    batch = parse(tmp_path)
    silver, bad = conform_profiles(batch.table, as_of=AS_OF)
    assert batch.bad == [] and bad == []
    got = silver.to_pandas().set_index("user_id")
    want = made.profiles.assign(user_id=[pseudonymize(a, KEY) for a in made.profiles["user_id"]])
    want = want.set_index("user_id").loc[got.index]
    assert len(got) == len(made.profiles)
    for column in ("age_band", "country", "plan", "signup_date"):
        assert got[column].tolist() == want[column].tolist(), column
    assert_nowhere(list(rows["email"]) + list(rows["account"]), every_text(batch.table, silver))
