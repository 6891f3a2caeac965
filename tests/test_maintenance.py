"""Housekeeping on real Delta tables: compaction, checkpoint, vacuum, and what is reported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pyarrow as pa
from deltalake import DeltaTable

from moodlake_dagster import audit, maintenance, storage
from moodlake_dagster.assets.maintenance import lake_health
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.settings import load_settings

A = dt.date(2024, 1, 1)
TODAY = dt.datetime.now(dt.UTC).date()


def run_lake_health(tmp_path, root, **env: str) -> dg.MaterializeResult:
    """lake_health as the lake_maintenance job runs it, with vacuum retention 0."""
    settings = load_settings({"MOODLAKE_HOME": str(tmp_path / "home"), **env})
    resources = {
        "lake": LakeResource(root=str(root), vacuum_retention_hours=0),
        "moodlake": MoodlakeConfig.from_settings(settings),
    }
    result = dg.materialize([lake_health], resources=resources)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return event.materialization.metadata


def one_day(day: dt.date) -> pa.Table:
    return pa.table({"play_date": pa.array([day] * 4, pa.date32()), "value": [1, 2, 3, 4]})


def test_daily_runs_are_compacted_checkpointed_and_vacuumed(tmp_path):
    root = tmp_path / "lake"
    uri = str(root / "silver" / "plays")
    days = [A + dt.timedelta(days=i) for i in range(12)]
    for day in days:  # twelve daily runs: twelve small files, twelve commits
        storage.replace_range(uri, one_day(day), column="play_date", start=day, end=day)
    storage.replace_range(uri, one_day(A), column="play_date", start=A, end=A)  # a rerun
    assert maintenance.tables(str(root)) == [("silver/plays", uri)]
    before_rows = sorted(map(tuple, DeltaTable(uri).to_pandas().to_numpy().tolist()))

    done = maintenance.tidy("silver/plays", uri, target_file_size=64 << 20, retention_hours=0)

    assert done.before.live_files == 12 and done.after.live_files == 1
    assert done.files_compacted == 12
    assert done.files_vacuumed >= 13  # the 12 compacted, and the rerun's replaced file
    assert done.after.data_bytes_on_disk < done.before.data_bytes_on_disk
    log = root / "silver" / "plays" / "_delta_log"
    assert any(p.name.endswith(".checkpoint.parquet") for p in log.iterdir())
    after_rows = sorted(map(tuple, DeltaTable(uri).to_pandas().to_numpy().tolist()))
    assert after_rows == before_rows  # nothing lost
    row = maintenance.as_rows([done])[0]
    assert row["live_files_before"] == 12 and row["live_files_after"] == 1


def test_a_tidy_table_stays_as_it_is(tmp_path):
    uri = str(tmp_path / "lake" / "gold" / "t")
    storage.replace_range(uri, one_day(A), column="play_date", start=A, end=A)
    done = maintenance.tidy("gold/t", uri, target_file_size=64 << 20, retention_hours=168)
    assert done.files_compacted == 0 and done.files_vacuumed == 0
    assert done.after.live_files == done.before.live_files == 1


def test_the_lake_health_asset_reports_before_and_after(tmp_path):
    root = tmp_path / "lake"
    uri = str(root / "bronze" / "listening_events")
    for i in range(3):
        day = A + dt.timedelta(days=i)
        storage.replace_range(uri, one_day(day), column="play_date", start=day, end=day)
    meta = run_lake_health(tmp_path, root)
    assert meta["tables"].value == 1
    assert meta["live_files_before"].value == 3 and meta["live_files_after"].value == 1
    assert meta["files_vacuumed"].value == 3
    assert "bronze/listening_events" in meta["per_table"].value


def responses(days: list[dt.date]) -> pa.Table:
    from moodlake_dagster.tables import SPOTIFY_API_RESPONSES

    rows = [
        {
            "request_date": day,
            "requested_at": dt.datetime.combine(day, dt.time(12), dt.UTC),
            "user_id": "u_0123456789abcdef",
            "page": 0,
            "items": 1,
            "body": "{}",
        }
        for day in days
    ]
    return pa.Table.from_pylist(rows, schema=SPOTIFY_API_RESPONSES.schema)


def test_api_responses_past_their_retention_are_deleted_and_the_run_audited(tmp_path):
    root = tmp_path / "lake"
    uri = str(root / "bronze" / "spotify_api_responses")
    old = [TODAY - dt.timedelta(days=d) for d in (45, 31)]
    kept = [TODAY - dt.timedelta(days=d) for d in (30, 3, 0)]
    for day in old + kept:  # one poll a day: one file per request day
        storage.append(uri, responses([day]), ["request_date"])

    meta = run_lake_health(tmp_path, root, MOODLAKE_API_RESPONSE_RETENTION_DAYS="30")

    left = DeltaTable(uri).to_pyarrow_table().column("request_date").to_pylist()
    assert sorted(left) == sorted(kept)
    assert meta["api_responses_deleted"].value == 2
    assert meta["api_responses_kept_since"].value == kept[0].isoformat()
    # Vacuum (retention 0 here) removed the deleted days' files from disk too.
    on_disk = {p.parent.name for p in Path(uri).rglob("*.parquet") if p.parent.name != "_delta_log"}
    assert on_disk == {f"request_date={day}" for day in kept}
    events = audit.read_events(str(root))
    (event,) = events.itertuples()
    assert event.action == "maintenance" and event.subject is None
    assert event.rows == meta["files_vacuumed"].value >= 2
    assert "2 API response rows" in event.detail
    # The next run tidies the audit table too, and appends its own event.
    run_lake_health(tmp_path, root)
    assert audit.read_events(str(root))["action"].tolist() == ["maintenance"] * 2
    assert any(name == "audit/events" for name, _ in maintenance.tables(str(root)))


def snapshot(day: dt.date, values: list[int]) -> pa.Table:
    return pa.table({"as_of_date": pa.array([day] * len(values), pa.date32()), "v": values})


def live_files(uri: str) -> dict[str, set[str]]:
    """Live file names per as-of partition."""
    files: dict[str, set[str]] = {}
    for path in DeltaTable(uri).file_uris():
        files.setdefault(Path(path).parent.name, set()).add(Path(path).name)
    return files


def rows_of(uri: str) -> list[tuple]:
    return sorted(DeltaTable(uri).to_pyarrow_table().to_pandas().itertuples(index=False))


def test_recent_partitions_stay_as_written_and_older_ones_are_compacted(tmp_path):
    root = tmp_path / "lake"
    uri = str(root / "gold" / "snapshots")
    old = [TODAY - dt.timedelta(days=d) for d in (200, 120)]
    recent = [TODAY - dt.timedelta(days=d) for d in (60, 1)]
    for day in old + recent:  # three writes a day: three small files in each partition
        for part in range(3):
            storage.append(uri, snapshot(day, [part * 10 + i for i in range(4)]), ["as_of_date"])
    before_rows, before_files = rows_of(uri), live_files(uri)
    assert all(len(names) == 3 for names in before_files.values())

    meta = run_lake_health(tmp_path, root, MOODLAKE_HOT_DAYS="90")

    assert rows_of(uri) == before_rows  # reads give the same rows
    after_files = live_files(uri)
    for day in recent:  # the hot window: the very same files
        assert after_files[f"as_of_date={day}"] == before_files[f"as_of_date={day}"]
    for day in old:  # cold: merged into one new file each
        (name,) = after_files[f"as_of_date={day}"]
        assert name not in before_files[f"as_of_date={day}"]
    assert meta["hot_since"].value == (TODAY - dt.timedelta(days=90)).isoformat()
    assert meta["live_files_before"].value == 12 and meta["live_files_after"].value == 8


def test_unpartitioned_event_tables_are_compacted_whole(tmp_path):
    """The hot window needs day partitions; a play-day table is compacted as before."""
    uri = str(tmp_path / "lake" / "silver" / "plays")
    days = [TODAY - dt.timedelta(days=d) for d in (200, 2, 1)]
    for day in days:
        storage.replace_range(uri, one_day(day), column="play_date", start=day, end=day)
    before = rows_of(uri)
    done = maintenance.tidy(
        "silver/plays", uri, target_file_size=64 << 20, retention_hours=0, hot_since=TODAY
    )
    assert done.after.live_files == 1 and done.hot_since is None
    assert rows_of(uri) == before
