"""Parsing the real catalog sample and broken catalogs, row by row."""

from __future__ import annotations

import csv
import datetime as dt

from conftest import CATALOG_SAMPLE, NOW

from moodlake_dagster.ingest.catalog import parse_catalog

AS_OF = dt.date(2026, 1, 1)


def parse(path):
    return parse_catalog(path, as_of=AS_OF, batch_id="t", ingested_at=NOW, source_name=path.name)


def test_real_sample_lands_except_the_nameless_row():
    batch = parse(CATALOG_SAMPLE)
    assert batch.records_in == 10_000
    assert len(batch.rows) == 9_999
    assert len({r["track_id"] for r in batch.rows}) == 9_748
    assert len({r["track_genre"] for r in batch.rows}) == 114
    [bad] = batch.bad
    # The Kaggle file's one row without artist, album and title.
    assert (bad.record_index, bad.unit) == (686, "line")
    assert "must not be empty" in bad.reason
    assert bad.message().startswith("catalog_sample.csv, line 686:")


def test_wrong_header_quarantines_every_row_with_the_reason(tmp_path):
    lines = CATALOG_SAMPLE.read_text().splitlines()[:4]
    lines[0] = lines[0].replace("valence", "happiness")
    path = tmp_path / "renamed.csv"
    path.write_text("\n".join(lines))
    batch = parse(path)
    assert batch.rows == [] and batch.records_in == 3 == len(batch.bad)
    assert all("lacks required column(s) valence" in b.reason for b in batch.bad)
    assert batch.unknown_columns == ["happiness"]


def test_bad_rows_are_quarantined_and_the_rest_land(tmp_path):
    with CATALOG_SAMPLE.open(newline="") as source:
        header, *rows = list(csv.reader(source))[:6]
    rows[1][header.index("valence")] = "1.7"
    rows[2][header.index("explicit")] = "maybe"
    rows[3] = rows[3][:5]
    path = tmp_path / "broken.csv"
    with path.open("w", newline="") as out:
        csv.writer(out).writerows([header, *rows])
    batch = parse(path)
    assert len(batch.rows) == 2 and len(batch.bad) == 3
    reasons = {b.record_index: b.reason for b in batch.bad}
    assert reasons[3] == "valence=1.7 outside [0.0, 1.0]"
    assert "explicit='maybe'" in reasons[4]
    assert "fewer fields" in reasons[5]
    assert batch.records_in == len(batch.rows) + len(batch.bad)
