"""The shared words (vocabulary.py): day parts by hour, and how the feature lists nest."""

from __future__ import annotations

from moodlake_dagster.vocabulary import (
    AUDIO_FEATURES,
    DAY_PART_HOURS,
    DAY_PARTS,
    MODE_FEATURES,
    MOOD_FEATURES,
    TASTE_FEATURES,
    day_part,
)


def test_each_hour_falls_in_the_day_part_that_started_last():
    for hour in range(24):
        started = [name for name, first in DAY_PART_HOURS if first <= hour]
        assert day_part(hour) == started[-1], hour
    assert [day_part(h) for h in (5, 6, 11, 12, 17, 18, 23)] == [
        "night",
        "morning",
        "morning",
        "afternoon",
        "afternoon",
        "evening",
        "evening",
    ]


def test_day_parts_are_ordered_and_every_feature_list_is_audio():
    assert DAY_PARTS == ("night", "morning", "afternoon", "evening")
    assert [first for _, first in DAY_PART_HOURS] == sorted(first for _, first in DAY_PART_HOURS)
    for subset in (MOOD_FEATURES, TASTE_FEATURES, MODE_FEATURES):
        assert set(subset) <= set(AUDIO_FEATURES)
    assert set(TASTE_FEATURES) <= set(MOOD_FEATURES)
