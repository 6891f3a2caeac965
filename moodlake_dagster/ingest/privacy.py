"""Privacy on ingest: what no analysis needs never reaches a table.

IP addresses and user agents are dropped; account names become keyed pseudonyms (HMAC-SHA256),
so the same person gets the same id across files without their name being stored anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re

# Fields dropped from every record before it is written (Bronze or quarantine).
DROPPED_FIELDS = frozenset(
    {"ip_addr", "ip_addr_decrypted", "user_agent_decrypted", "user_agent", "username"}
)

_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b")
_FIELD_NAMES = "|".join(sorted(DROPPED_FIELDS))
_SENSITIVE_JSON_FIELD = re.compile(rf'("(?:{_FIELD_NAMES})"\s*:\s*)("(?:[^"\\]|\\.)*"|null)')


def pseudonymize(account: str, key: bytes) -> str:
    """Stable keyed pseudonym for an account name; case and surrounding space do not matter."""
    digest = hmac.new(key, account.strip().lower().encode(), hashlib.sha256).hexdigest()
    return f"u_{digest[:16]}"


def scrub_text(text: str) -> str:
    """Redact sensitive fields and anything shaped like an IP address in raw text.

    Quarantined records keep their raw text for diagnosis; this makes that safe to store.
    """
    text = _SENSITIVE_JSON_FIELD.sub(r'\1"<redacted>"', text)
    text = _IPV4.sub("<ip>", text)
    return _IPV6.sub("<ip>", text)
