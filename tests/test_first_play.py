"""Where the daily partitions begin: the first landed play, the setting, or Spotify's launch."""

from __future__ import annotations

import datetime as dt

import pytest

from moodlake_dagster.first_play import (
    partitions_start,
    record_first_play_day,
    recorded_first_play_day,
)


def test_a_fresh_home_starts_at_spotifys_launch(tmp_path):
    assert partitions_start({"MOODLAKE_HOME": str(tmp_path)}) == "2008-10-01"


def test_the_first_play_only_moves_earlier(tmp_path):
    assert record_first_play_day(tmp_path, dt.date(2021, 4, 3))
    assert not record_first_play_day(tmp_path, dt.date(2023, 1, 1))
    assert recorded_first_play_day(tmp_path) == dt.date(2021, 4, 3)
    assert record_first_play_day(tmp_path, dt.date(2019, 12, 31))
    assert partitions_start({"MOODLAKE_HOME": str(tmp_path)}) == "2019-12-31"
    assert not list(tmp_path.glob(".first_play_day.*"))  # written whole, then renamed


def test_the_setting_overrides_the_recorded_day(tmp_path):
    record_first_play_day(tmp_path, dt.date(2021, 4, 3))
    env = {"MOODLAKE_HOME": str(tmp_path), "MOODLAKE_PARTITIONS_START": "2015-01-01"}
    assert partitions_start(env) == "2015-01-01"


def test_a_damaged_record_names_its_file(tmp_path):
    (tmp_path / "first_play_day").write_text("April\n")
    with pytest.raises(ValueError, match="first_play_day: expected one ISO date"):
        partitions_start({"MOODLAKE_HOME": str(tmp_path)})
