"""What a write is made from (fingerprints.py): stable digests, what the settings fingerprint
ignores, and the fingerprint a real delta-rs table records, which housekeeping leaves alone."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pytest

from moodlake_dagster import fingerprints, maintenance, storage
from moodlake_dagster.settings import load_settings

D = dt.date


def test_a_digest_is_stable_and_blind_to_key_order():
    one = fingerprints.digest({"days": [D(2024, 1, 1), D(2024, 1, 2)], "reads": {"a": 1, "b": 2}})
    two = fingerprints.digest({"reads": {"b": 2, "a": 1}, "days": [D(2024, 1, 1), D(2024, 1, 2)]})
    assert one == two and re.fullmatch(r"[0-9a-f]{32}", one)
    assert fingerprints.digest({"reads": {"a": 1, "b": 3}}) != fingerprints.digest(
        {"reads": {"a": 1, "b": 2}}
    )
    # A list keeps its order: days [start, end] are not a set.
    assert fingerprints.digest([1, 2]) != fingerprints.digest([2, 1])


def test_source_files_count_by_name_size_and_time_in_any_order():
    files = [("me/a.json", 10, 111), ("me/b.json", 20, 222)]
    base = fingerprints.files_fingerprint(files)
    assert fingerprints.files_fingerprint(reversed(files)) == base
    assert fingerprints.files_fingerprint([files[0], ("me/b.json", 21, 222)]) != base
    assert fingerprints.files_fingerprint([files[0], ("me/b.json", 20, 223)]) != base
    assert fingerprints.files_fingerprint(files[:1]) != base


def test_the_code_version_is_a_short_stable_hash():
    assert fingerprints.code_version() == fingerprints.code_version()
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprints.code_version())


def _settings(tmp_path, **env):
    return load_settings(
        {"MOODLAKE_HOME": str(tmp_path), "MOODLAKE_PSEUDONYM_KEY": "key-one"}
        | {f"MOODLAKE_{k}": v for k, v in env.items()}
    )


def test_how_a_build_runs_does_not_change_what_it_writes(tmp_path):
    base = fingerprints.settings_fingerprint(_settings(tmp_path))
    assert base == fingerprints.settings_fingerprint(
        _settings(tmp_path, SPARK_REMOTE="sc://elsewhere:15002", LANDING_SETTLE_S="5")
    )
    assert base == fingerprints.settings_fingerprint(_settings(tmp_path, LAKE="/elsewhere/lake"))


def test_what_shapes_the_rows_changes_the_fingerprint(tmp_path):
    base = fingerprints.settings_fingerprint(_settings(tmp_path))
    assert base != fingerprints.settings_fingerprint(_settings(tmp_path, SKIP_THRESHOLD_MS="1"))
    assert base != fingerprints.settings_fingerprint(_settings(tmp_path, TIMEZONE="Asia/Tokyo"))
    # A new pseudonym key renames every listener: their rows change.
    other_key = _settings(tmp_path, PSEUDONYM_KEY="key-two")
    assert base != fingerprints.settings_fingerprint(other_key)


def _day(day: D) -> pa.Table:
    return pa.table({"play_date": pa.array([day] * 3, pa.date32()), "v": [1, 2, 3]})


def test_the_fingerprint_recorded_by_a_write_survives_housekeeping(tmp_path):
    uri = str(tmp_path / "lake" / "silver" / "plays")
    assert fingerprints.recorded(uri) is None and fingerprints.data_version(uri) is None
    for i in range(3):
        day = D(2024, 1, 1) + dt.timedelta(days=i)
        storage.replace_range(
            uri,
            _day(day),
            column="play_date",
            start=day,
            end=day,
            commit_metadata={fingerprints.INPUTS: f"inputs-{i}"},
        )
    assert fingerprints.recorded(uri) == "inputs-2"
    version = fingerprints.data_version(uri)
    maintenance.tidy("silver/plays", uri, target_file_size=64 << 20, retention_hours=0)
    # Compaction and vacuum wrote commits, but no content: the last data commit is unchanged.
    assert fingerprints.data_version(uri) == version
    assert fingerprints.recorded(uri) == "inputs-2"
    day = D(2024, 1, 9)
    storage.replace_range(uri, _day(day), column="play_date", start=day, end=day)
    assert fingerprints.data_version(uri) > version
    assert fingerprints.recorded(uri) is None  # a write that recorded nothing


def test_the_parsers_source_version_follows_what_it_imports_and_nothing_else(tmp_path):
    """The landing files' summaries are kept while code that does not parse them changes, and
    thrown away when any module the parser imports, at any depth, changes."""
    import shutil
    from pathlib import Path

    from moodlake_dagster.ingest import file_summaries

    root = tmp_path / "moodlake_dagster"
    shutil.copytree(Path(fingerprints.__file__).parent, root)

    def version() -> str:
        return fingerprints.source_version(*file_summaries.PARSER, root=root)

    before = version()
    assert before == fingerprints.source_version(*file_summaries.PARSER)  # same source, same hash
    for unrelated in ("assets/gold.py", "ml/preference.py", "cli.py"):
        (root / unrelated).write_text((root / unrelated).read_text() + "\n# changed\n")
    assert version() == before
    # columns_platform.py is three imports away (history → tables → columns → it).
    deep = root / "columns_platform.py"
    assert "columns_platform" not in (root / "ingest" / "history.py").read_text()
    deep.write_text(deep.read_text() + "\n# changed\n")
    after_deep = version()
    assert after_deep != before
    (root / "ingest" / "history.py").write_text(
        "# changed\n" + (root / "ingest/history.py").read_text()
    )
    assert version() not in (before, after_deep)
    # A relative import could hide a dependency from the hash: refused, not skipped.
    records = root / "ingest" / "records.py"
    records.write_text("from .privacy import pseudonymize\n" + records.read_text())
    with pytest.raises(ValueError, match="records.py: a relative import"):
        version()
