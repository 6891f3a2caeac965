"""Access tokens for `moodlake serve`: random, shown once, stored only as their SHA-256.

`$MOODLAKE_HOME/serve/tokens.json` (mode 600) maps each token's hash to the listener's
pseudonym. A request's bearer token is hashed and looked up; the file is re-read when it
changes, so a token made while the server runs works at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

TOKENS_FILE = Path("serve") / "tokens.json"


def tokens_path(home: Path) -> Path:
    return Path(home) / TOKENS_FILE


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _load(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return json.loads(path.read_text()).get("tokens", [])


def create(home: Path, user_id: str) -> str:
    """A new token for `user_id`; only its hash is written. Returns the token itself."""
    path = tokens_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    entries = _load(path)
    entries.append(
        {
            "sha256": digest(token),
            "user_id": user_id,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"tokens": entries}, out, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return token


class Tokens:
    """Bearer token → pseudonym, from the tokens file (re-read when its mtime changes)."""

    def __init__(self, home: Path):
        self.path = tokens_path(home)
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, str] = {}

    def _reload(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._by_hash = None, {}
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._by_hash = {e["sha256"]: e["user_id"] for e in _load(self.path)}
            self._stamp = stamp

    def user_for(self, token: str | None) -> str | None:
        if not token:
            return None
        self._reload()
        wanted = digest(token)
        for known, user_id in self._by_hash.items():
            if hmac.compare_digest(known, wanted):
                return user_id
        return None
