"""The two real listening histories in ../shared/data, as a landing folder the benchmarks share."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HISTORIES = REPO.parent / "shared" / "data" / "listening_history"
# Account folder in the landing → the history's folder under ../shared/data.
ACCOUNTS = {"wardana": "my-spotify-data", "efrrowini": "spotify-music-analysis"}


def link_landing(landing: Path) -> None:
    """One subfolder per account, holding links to the real files (nothing copied)."""
    for account, folder in ACCOUNTS.items():
        (landing / account).mkdir(parents=True)
        for path in sorted((HISTORIES / folder).glob("*.json")):
            (landing / account / path.name).symlink_to(path)
