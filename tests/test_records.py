"""Quarantine records and the damage-tolerant JSON array reader (ingest/records.py)."""

from __future__ import annotations

import datetime as dt
import json

from moodlake_dagster.ingest.records import (
    RAW_PREVIEW_CHARS,
    BadRecord,
    iter_json_array,
    quarantine_table,
    safe_raw,
)
from moodlake_dagster.tables import QUARANTINE

A = {"endTime": "2024-03-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1}
B = {"endTime": "2024-03-01 11:00", "artistName": "B", "trackName": "U", "msPlayed": 2}


def test_a_whole_array_yields_every_element_with_its_own_text():
    """Each element comes back as its value and the exact text it was read from."""
    records = [A, B, {"nested": {"list": [1, 2]}}]
    text = json.dumps(records, indent=2)
    found = list(iter_json_array(text))
    assert [value for value, _, _ in found] == records
    assert all(error is None for _, error, _ in found)
    assert [json.loads(raw) for _, _, raw in found] == records


def test_empty_and_empty_array_are_different_things():
    """An empty file is one problem; an empty array is no record at all."""
    assert list(iter_json_array("  \n ")) == [(None, "empty file", None)]
    assert list(iter_json_array("[]")) == []
    assert list(iter_json_array(" [ \n ] ")) == []


def test_an_object_instead_of_an_array_is_refused_whole():
    [(value, error, raw)] = list(iter_json_array(json.dumps(A)))
    assert value is None and raw is None
    assert error.startswith("not a JSON array: starts with '{") and "expected '['" in error


def test_a_malformed_record_costs_only_itself_and_names_its_line():
    """A missing comma inside record 2 (on line 3): records 1 and 3 still come back."""
    text = "[\n" + json.dumps(A) + ",\n" + '{"endTime": "x" "artistName": "B"},\n' + json.dumps(B)
    text += "\n]"
    found = list(iter_json_array(text))
    assert [v for v, _, _ in found] == [A, None, B]
    _, error, raw = found[1]
    assert error.startswith("malformed JSON at line 3:")
    assert raw.startswith('{"endTime": "x"') and json.dumps(B) not in raw


def test_a_cut_off_last_record_is_truncated_not_malformed():
    text = "[" + json.dumps(A) + ",\n" + json.dumps(B)[:20]
    found = list(iter_json_array(text))
    assert found[0][0] == A
    value, error, raw = found[1]
    assert value is None and error == "truncated record at end of file (line 2)"
    assert raw == json.dumps(B)[:20]
    assert len(found) == 2  # nothing after the tail


def test_an_array_never_closed_keeps_its_records_and_says_so():
    found = list(iter_json_array("[" + json.dumps(A) + ", " + json.dumps(B) + ",  "))
    assert [v for v, _, _ in found[:2]] == [A, B]
    assert found[2] == (None, "truncated file: the JSON array is not closed", None)


def test_bad_record_messages_name_the_file_and_the_place():
    assert BadRecord("me/f.json", 3, "why").message() == "me/f.json, record 3: why"
    assert BadRecord("c.csv", 7, "why", unit="line").message() == "c.csv, line 7: why"
    assert BadRecord("f.json", None, "empty file").message() == "f.json, whole file: empty file"
    assert BadRecord("f.json", 0, "first").message() == "f.json, record 0: first"


def test_raw_text_is_capped_and_scrubbed():
    assert safe_raw(None) is None
    long = "x" * (RAW_PREVIEW_CHARS * 3)
    assert safe_raw(long) == "x" * RAW_PREVIEW_CHARS
    record = {"ip_addr": "203.0.113.9", "trackName": "Señor", "note": "from 198.51.100.7"}
    scrubbed = safe_raw(record)
    assert "203.0.113.9" not in scrubbed and "198.51.100.7" not in scrubbed
    assert '"trackName": "Señor"' in scrubbed  # kept as text, not \\u-escaped
    assert json.loads(scrubbed)["ip_addr"] == "<redacted>"


def test_the_quarantine_table_keeps_every_record_and_stamps_the_batch():
    at = dt.datetime(2024, 1, 3, 12, tzinfo=dt.UTC)
    bad = [
        BadRecord("a.json", 0, "r1", raw="{}", record_date=dt.date(2024, 1, 1)),
        BadRecord("b.json", None, "empty file"),
    ]
    table = quarantine_table("listening_events", bad, "batch-7", at)
    assert table.schema == QUARANTINE.schema
    rows = table.to_pylist()
    assert [(r["source_file"], r["record_index"], r["reason"]) for r in rows] == [
        ("a.json", 0, "r1"),
        ("b.json", None, "empty file"),
    ]
    assert [r["record_date"] for r in rows] == [dt.date(2024, 1, 1), None]
    assert {r["asset"] for r in rows} == {"listening_events"}
    assert {r["_batch_id"] for r in rows} == {"batch-7"}
    assert {r["_ingested_at"] for r in rows} == {at}
    assert quarantine_table("x", [], "b", at).num_rows == 0
