"""What `moodlake build` says at the end (build_summary.py), from a small parsed landing
folder, a hand-written Silver users table and hand-made run metadata; no Spark, no run."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa

from moodlake_dagster import build_summary, storage
from moodlake_dagster.build_summary import CATALOG_HINT, file_lines, fix_hint, model_lines
from moodlake_dagster.ingest.history import file_accounting, parse_history

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
GOOD = {"endTime": "2024-03-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 90_000}


def test_each_reason_a_model_gives_gets_the_fix_it_needs():
    """The reasons are the models' own messages (modes, preference, recommend)."""
    assert fix_hint("12 plays with audio features; at least 30 needed") == CATALOG_HINT
    assert fix_hint("40 plays through with audio features; at least 50 needed") == CATALOG_HINT
    assert fix_hint("plays on 3 day(s); a time split needs at least 5").startswith(
        "more days of listening history"
    )
    assert fix_hint("150 plays; at least 200 needed") == "more listening history"
    assert fix_hint("something unexpected") == "see the asset's log in the UI"


def test_every_file_of_the_landing_folder_has_a_line(tmp_path):
    folder = tmp_path / "landing" / "me"
    folder.mkdir(parents=True)
    records = [GOOD, GOOD | {"endTime": "2024-03-02 10:00"}, {"endTime": "never"}]
    (folder / "StreamingHistory0.json").write_text(json.dumps(records))
    (folder / "YourLibrary.json").write_text("{}")
    batch = parse_history(
        tmp_path / "landing", key=b"k", default_user="me", now=NOW, batch_id="b", ingested_at=NOW
    )
    # The run covers 2024-03-01 only: the second play lies outside its days.
    landed = [e for e in batch.events if e["play_date"] == dt.date(2024, 3, 1)]
    lines = file_lines(file_accounting(batch, landed, batch.bad))
    history, library = lines
    assert history.endswith(
        "StreamingHistory0.json [basic]: 3 records, landed 1 (music 1), quarantined 1, "
        "1 outside these days"
    )
    assert library.endswith("YourLibrary.json: " + batch.passed_over[0].reason)
    nothing = file_lines(
        [{"file": "f", "format": "basic", "records": 0, "landed": 0, "quarantined": 0}
         | {"outside_range": 0, "kinds": {}}]
    )  # fmt: skip
    assert nothing == ["  f [basic]: 0 records, landed 0 (none)"]


def test_each_listener_a_model_skipped_is_named_with_the_fix():
    assets = list(build_summary.SKIP_REASONS.items())
    (first, first_key), (second, second_key) = assets[0], assets[1]
    metadata = {
        first: {first_key: {"u_1": "12 plays with audio features; at least 30 needed"}},
        second: {second_key: {"u_2": "150 plays; at least 200 needed", "u_3": "odd"}},
    }
    lines = model_lines(metadata)
    assert lines == [
        f"  {first}: u_1: 12 plays with audio features; at least 30 needed\n    → {CATALOG_HINT}",
        f"  {second}: u_2: 150 plays; at least 200 needed\n    → more listening history",
        f"  {second}: u_3: odd\n    → see the asset's log in the UI",
    ]
    assert model_lines({}) == []


def test_unchanged_models_are_listed_not_reported_as_failing(tmp_path):
    lake = str(tmp_path / "lake")
    rebuilt = build_summary.summary(lake, "UTC", {})
    assert rebuilt == "Models that could not run for someone:\n  none"
    unchanged = {name: {"unchanged": True} for name in build_summary.SKIP_REASONS}
    text = build_summary.summary(lake, "UTC", unchanged)
    assert "Models that could not run" not in text
    assert text.startswith("Unchanged: same inputs as their last write")
    assert text.endswith("  " + ", ".join(sorted(unchanged)))


def _users(day: dt.date, rows: list[tuple]) -> pa.Table:
    names = ["user_id", "plays", "plays_with_features", "tracks_played", "tracks_with_features"]
    columns = {name: [r[i] for r in rows] for i, name in enumerate(names)}
    return pa.table(
        {"as_of_date": pa.array([day] * len(rows), pa.date32())}
        | columns
        | {
            "feature_coverage": [r[2] / r[1] for r in rows],
            "timezone": ["Asia/Kolkata", "UTC"][: len(rows)],
            "timezone_source": ["country", "default"][: len(rows)],
            "countries": [["IN"], []][: len(rows)],
        }
    )


def test_listeners_come_first_from_the_latest_users_snapshot(tmp_path):
    lake = str(tmp_path / "lake")
    uri = storage.table_uri(lake, "silver", "users")
    old, new = dt.date(2025, 1, 1), dt.date(2025, 2, 1)
    storage.replace_range(
        uri, _users(old, [("u_old", 5, 1, 2, 1)]), column="as_of_date", start=old, end=old
    )
    rows = [("u_small", 200, 50, 40, 10), ("u_big", 12_345, 6_000, 900, 450)]
    storage.replace_range(uri, _users(new, rows), column="as_of_date", start=new, end=new)
    lines = build_summary.listener_lines(lake, "UTC")
    assert [line.split(":")[0].strip() for line in lines] == ["u_big", "u_small"]
    big = lines[0]
    assert "12,345 plays, audio features for 48.6% (6,000 plays; 450 of 900 distinct tracks)" in big
    assert big.endswith("local time UTC (the default: the export carries no country (account-data"
                        " exports never do); set MOODLAKE_USER_TIMEZONES)")  # fmt: skip
    assert lines[1].endswith("local time Asia/Kolkata (inferred from the plays' country IN)")
    assert build_summary.listener_lines(lake, "UTC", as_of=old) == [
        "  u_old: 5 plays, audio features for 20.0% (1 plays; 1 of 2 distinct tracks); "
        "local time Asia/Kolkata (inferred from the plays' country IN)"
    ]
    text = build_summary.summary(lake, "UTC", {})
    assert text.startswith("Listeners (share of plays the mood tables can see):\n  u_big: ")
