"""The audit trail (audit/events): appended, read back, never rewritten; erasure tokens.

Fast: a real Delta table in a temporary folder, no Spark, no Dagster run.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pandera.errors import SchemaError

from moodlake_dagster import audit
from moodlake_dagster.checks.schemas import AuditEvents
from moodlake_dagster.tables import AUDIT_EVENTS, TABLES

PSEUDONYM = "u_0123456789abcdef"


def test_an_event_is_recorded_and_read_back(tmp_path):
    root = str(tmp_path / "lake")
    assert audit.read_events(root).empty
    assert list(audit.read_events(root).columns) == AUDIT_EVENTS.schema.names
    before = dt.datetime.now(dt.UTC)
    audit.record_event(
        root, "spotify_disconnect", user_id=PSEUDONYM, rows=12, detail="api plays removed"
    )
    events = audit.read_events(root)
    assert len(events) == 1
    event = events.iloc[0]
    assert (event["action"], event["subject"], event["rows"]) == (
        "spotify_disconnect",
        PSEUDONYM,
        12,
    )
    assert event["detail"] == "api plays removed" and event["actor"]
    assert before <= event["at_utc"] <= dt.datetime.now(dt.UTC)
    assert len(event["event_id"]) == 36
    AuditEvents.validate(events)
    # Where the catalog says, as a Delta table with the project's table properties.
    table = DeltaTable(str(tmp_path / "lake" / AUDIT_EVENTS.path))
    assert table.metadata().partition_columns == []
    assert table.metadata().configuration.get("delta.checkpointInterval") == "10"
    assert TABLES["audit/events"] is AUDIT_EVENTS


def test_events_are_only_ever_appended(tmp_path):
    root = str(tmp_path / "lake")
    audit.record_event(root, "export", user_id=PSEUDONYM, rows=40, detail="12 tables")
    first = audit.read_events(root)
    audit.record_event(root, "maintenance", rows=3, detail="3 files vacuumed")
    both = audit.read_events(root)
    assert len(both) == 2
    pd.testing.assert_frame_equal(both.iloc[:1], first)
    second = both.iloc[1]
    assert second["action"] == "maintenance" and pd.isna(second["subject"])
    assert second["event_id"] != first.iloc[0]["event_id"]
    # Each event is one append commit: nothing was removed or rewritten.
    history = DeltaTable(str(tmp_path / "lake" / AUDIT_EVENTS.path)).history()
    assert [(h["operation"], h["operationParameters"]["mode"]) for h in history] == [
        ("WRITE", "Append")
    ] * 2
    assert all(h["operationMetrics"]["num_removed_files"] == 0 for h in history)
    AuditEvents.validate(both)


def test_the_actor_falls_back_to_unknown(tmp_path, monkeypatch):
    def nobody():
        raise KeyError("getpwuid(): uid not found: 1234")

    monkeypatch.setattr(audit.getpass, "getuser", nobody)
    audit.record_event(str(tmp_path), "maintenance")
    assert audit.read_events(str(tmp_path))["actor"].tolist() == ["unknown"]


def test_an_erasure_token_is_deterministic_keyed_and_not_the_pseudonym():
    token = audit.erasure_token(PSEUDONYM, b"key-one")
    assert token == audit.erasure_token(PSEUDONYM, b"key-one")
    assert token.startswith("erased:") and len(token) == len("erased:") + 16
    int(token.removeprefix("erased:"), 16)
    assert token != audit.erasure_token(PSEUDONYM, b"key-two")
    assert token != audit.erasure_token("u_fedcba9876543210", b"key-one")
    assert PSEUDONYM.removeprefix("u_") not in token


def test_the_contract_refuses_an_account_name_as_subject(tmp_path):
    root = str(tmp_path)
    audit.record_event(root, "erase", user_id=audit.erasure_token(PSEUDONYM, b"k"), rows=5)
    AuditEvents.validate(audit.read_events(root))
    audit.record_event(root, "export", user_id="alice")
    with pytest.raises(SchemaError, match="subject"):
        AuditEvents.validate(audit.read_events(root))


def test_spotify_disconnect_is_recorded(tmp_path, monkeypatch):
    """The disconnect's event names the pseudonym (never the account) and the rows removed."""
    from moodlake_dagster import cli, storage
    from moodlake_dagster.ingest.privacy import pseudonymize
    from moodlake_dagster.settings import load_settings
    from moodlake_dagster.tables import SPOTIFY_API_RESPONSES

    settings = load_settings(
        {
            "MOODLAKE_HOME": str(tmp_path / "home"),
            "MOODLAKE_PSEUDONYM_KEY": "test-key-not-secret",
            "MOODLAKE_SPOTIFY_ACCOUNT": "alice",
        }
    )
    me = pseudonymize("alice", settings.resolved_pseudonym_key())
    now = dt.datetime.now(dt.UTC)
    pages = pa.Table.from_pylist(
        [
            {"request_date": now.date(), "requested_at": now, "user_id": user, "page": 0}
            for user in (me, me, "u_fedcba9876543210")
        ],
        schema=SPOTIFY_API_RESPONSES.schema,
    )
    uri = storage.table_uri(settings.lake_root, "bronze", "spotify_api_responses")
    storage.append(uri, pages, ["request_date"])
    monkeypatch.setattr(cli, "load_settings", lambda: settings)

    assert cli.main(["spotify", "disconnect", "--no-rebuild"]) == 0

    (event,) = audit.read_events(settings.lake_root).itertuples()
    assert (event.action, event.subject, event.rows) == ("spotify_disconnect", me, 2)
    assert "bronze/spotify_api_responses 2" in event.detail and "alice" not in event.detail
