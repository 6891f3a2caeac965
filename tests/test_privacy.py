"""Keyed pseudonyms and the scrubbing of raw text (ingest/privacy.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest

from moodlake_dagster.ingest.privacy import DROPPED_FIELDS, pseudonymize, scrub_text


def test_a_pseudonym_is_the_keyed_hash_of_the_normalised_name():
    """HMAC-SHA256 of the lower-cased, stripped name: first 16 hex digits behind `u_`."""
    expected = "u_" + hmac.new(b"k", b"alice", hashlib.sha256).hexdigest()[:16]
    assert pseudonymize("alice", b"k") == expected
    assert pseudonymize("  Alice \n", b"k") == expected  # case and space do not matter
    assert re.fullmatch(r"u_[0-9a-f]{16}", expected)


def test_pseudonyms_depend_on_the_key_and_the_name():
    assert pseudonymize("alice", b"k") != pseudonymize("alice", b"other key")
    assert pseudonymize("alice", b"k") != pseudonymize("bob", b"k")
    assert "alice" not in pseudonymize("alice", b"k")


@pytest.mark.parametrize("name", sorted(DROPPED_FIELDS))
def test_every_dropped_field_is_redacted_in_raw_json(name):
    text = json.dumps({name: "Secret Value", "trackName": "Kept"})
    scrubbed = json.loads(scrub_text(text))
    assert scrubbed == {name: "<redacted>", "trackName": "Kept"}


def test_redaction_survives_nulls_escaped_quotes_and_spacing():
    text = '{"username" :  null, "user_agent": "Mozilla \\"X\\" 5.0", "ms_played": 5}'
    scrubbed = json.loads(scrub_text(text))
    assert scrubbed == {"username": "<redacted>", "user_agent": "<redacted>", "ms_played": 5}


def test_ip_shaped_text_anywhere_is_replaced():
    text = "seen from 198.51.100.7 and 2001:0db8:0000:0000:0000:ff00:0042:8329, track 1.5"
    scrubbed = scrub_text(text)
    assert "198.51.100.7" not in scrubbed and "2001:0db8" not in scrubbed
    assert scrubbed == "seen from <ip> and <ip>, track 1.5"


def test_a_compressed_ipv6_address_is_replaced():
    assert scrub_text("seen from 2001:db8::8a2e:370:7334") == "seen from <ip>"
    assert scrub_text("fe80::1%eth0 and ::1") == "<ip>%eth0 and <ip>"


def test_clock_times_are_not_taken_for_ipv6_addresses():
    """Quarantined raw text keeps its time stamps readable."""
    text = '{"ts": "2024-07-21T00:00:00Z", "endTime": "2024-07-21 23:59"}'
    assert scrub_text(text) == text
