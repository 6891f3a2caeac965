"""Local time from a play's country (transform/timezones.py): countries with one zone only,
checked against the IANA zone table itself, and the summary's words for each case."""

from __future__ import annotations

from collections import defaultdict
from importlib import resources

from moodlake_dagster.transform.timezones import single_zone_countries, zone_note


def zone_table() -> dict[str, list[str]]:
    zones = defaultdict(list)
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _, zone, *_ = line.split("\t")
            zones[country].append(zone)
    return zones


def test_a_country_with_one_zone_maps_to_it():
    table = zone_table()
    single = single_zone_countries()
    for country, zones in table.items():
        if len(zones) == 1:
            assert single[country] == zones[0], country
    for country, zone in single.items():
        assert zone in table[country], country
    assert single["IN"] == "Asia/Kolkata"  # the real Extended history's country


def test_zones_that_keep_the_same_clock_are_one_zone():
    """Germany lists Busingen beside Berlin; their clocks agree all year."""
    assert len(zone_table()["DE"]) > 1
    assert single_zone_countries()["DE"] == "Europe/Berlin"


def test_a_country_spanning_clocks_has_no_single_zone():
    for country in ("US", "BR", "AU", "RU"):
        assert country not in single_zone_countries(), country


def test_the_summary_says_where_local_time_came_from():
    assert zone_note("configured", "Europe/Oslo", [], "UTC") == "Europe/Oslo (configured)"
    assert zone_note("country", "Asia/Kolkata", ["IN"], "UTC") == (
        "Asia/Kolkata (inferred from the plays' country IN)"
    )
    several = zone_note("default", "UTC", ["US", "IN"], "UTC")
    assert several.startswith("UTC (the default: country US has several time zones")
    assert "IN" not in several.split(";")[0]  # only the ambiguous country is named
    assert "set MOODLAKE_USER_TIMEZONES" in several
    none = zone_note("default", "Europe/Paris", [], "Europe/Paris")
    assert "the export carries no country" in none and none.startswith("Europe/Paris")
