"""The profiles sensor: a changed profiles file asks for the snapshots as of the latest
listening day, once per change; before any play landed it waits."""

from __future__ import annotations

import datetime as dt
import os
import time

import dagster as dg
import pyarrow as pa
from deltalake import write_deltalake
from helpers import make_settings

from moodlake_dagster.jobs import HISTORY_TRIGGER_TAG
from moodlake_dagster.resources import build_resources
from moodlake_dagster.sensors import profiles_sensor
from moodlake_dagster.tables import LISTENING_EVENTS

HEADER = "account,email,birth_year,country,plan,signup_date\n"


def _tick(resources, cursor):
    with dg.build_sensor_context(cursor=cursor, resources=resources) as context:
        return profiles_sensor(context)


def test_a_changed_profiles_file_requests_the_snapshots_once(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    settings = make_settings(tmp_path / "home", landing, "sc://127.0.0.1:1")
    resources = build_resources(settings)
    profiles = landing / "profiles.csv"
    profiles.write_text(HEADER + "ana,ana@example.org,1990,SE,premium,2024-01-02\n")

    waiting = _tick(resources, None)
    assert not waiting.run_requests
    assert "No play landed yet" in waiting.skip_reason.skip_message
    assert waiting.cursor is None  # tried again once plays land

    days = [dt.date(2025, 3, 1), dt.date(2025, 3, 4)]
    row = {name: None for name in LISTENING_EVENTS.schema.names}
    rows = [row | {"play_date": day, "user_id": "u_0123456789abcdef"} for day in days]
    events = pa.Table.from_pylist(rows, schema=LISTENING_EVENTS.schema)
    write_deltalake(f"{settings.lake_root}/{LISTENING_EVENTS.path}", events)

    first = _tick(resources, None)
    [request] = first.run_requests
    assert request.partition_key == "2025-03-04"
    assert request.tags[HISTORY_TRIGGER_TAG] == "profiles"
    assert (
        _tick(resources, first.cursor).skip_reason.skip_message == "No new or changed profiles file"
    )

    profiles.write_text(HEADER + "ana,ana@example.org,1990,SE,family,2024-01-02\n")
    later = time.time() + 5
    os.utime(profiles, (later, later))
    again = _tick(resources, first.cursor)
    [second] = again.run_requests
    assert second.run_key != request.run_key
