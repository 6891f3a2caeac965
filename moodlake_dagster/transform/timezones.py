"""Countries with a single time zone, from the IANA zone table (the `tzdata` package).

Extended Streaming History carries `conn_country` on every play. Where a listener set no zone
and that country has one zone only, the play's local time is known anyway; a country with
several (US, Brazil, Australia, …) cannot say which, and the default applies.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

# Zones whose clocks agree through a year are one zone for local time (Germany lists Busingen
# beside Berlin); the offsets are compared in January and July of this year.
_PROBES = (dt.datetime(2025, 1, 15, 12), dt.datetime(2025, 7, 15, 12))


@cache
def single_zone_countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code → its only IANA zone (India → Asia/Kolkata)."""
    zones: dict[str, list[str]] = defaultdict(list)
    table = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text()
    for line in table.splitlines():
        if line and not line.startswith("#"):
            country, _coordinates, zone, *_ = line.split("\t")
            zones[country].append(zone)
    return {
        country: found[0]
        for country, found in zones.items()
        if len({_offsets(zone) for zone in found}) == 1
    }


def _offsets(zone: str) -> tuple:
    return tuple(ZoneInfo(zone).utcoffset(probe) for probe in _PROBES)


def zone_note(source: str, zone: str, countries: list[str], default: str) -> str:
    """In words, where a listener's local time came from (for the build summary)."""
    if source == "configured":
        return f"{zone} (configured)"
    if source == "country":
        return f"{zone} (inferred from the plays' country {', '.join(countries)})"
    several = [c for c in countries if c not in single_zone_countries()]
    if several:
        why = f"country {', '.join(several)} has several time zones"
    else:
        why = "the export carries no country (account-data exports never do)"
    return f"{default} (the default: {why}; set MOODLAKE_USER_TIMEZONES)"
