"""Privacy on ingest: what no analysis needs never reaches a table.

IP addresses and user agents are dropped; account names become keyed pseudonyms (HMAC-SHA256),
so the same person gets the same id across files without their name being stored anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re

# Fields dropped from every record before it is written (Bronze or quarantine).
DROPPED_FIELDS = frozenset(
    {"ip_addr", "ip_addr_decrypted", "user_agent_decrypted", "user_agent", "username"}
)

_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
# Anything of hex digits and at least two colons; `_ipv6` keeps only what parses as an address,
# compressed (`2001:db8::1`) or full, and leaves clock times (`00:00:00`) alone.
_IPV6_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]*(?::[0-9A-Fa-f]*){2,}(?![0-9A-Za-z])")
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
    return _IPV6_CANDIDATE.sub(_ipv6, text)


def _ipv6(match: re.Match) -> str:
    candidate = match.group(0)
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return candidate
    return "<ip>" if any(c not in ":" for c in candidate) else candidate
