"""Where history files land: a local folder by default, an object-store prefix by setting.

`MOODLAKE_LANDING=/data/landing` or `MOODLAKE_LANDING=s3://bucket/spotify/landing` (any fsspec
URL; the matching filesystem package — s3fs, gcsfs, adlfs — must be installed, credentials
come from that package's usual environment variables). Everything that reads the landing
folder — the Bronze asset and the landing sensor — goes through this class.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import IO

import fsspec


@dataclass(frozen=True)
class LandedFile:
    relative: PurePosixPath
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class LandingStore:
    url: str
    storage_options: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, landing: LandingStore | Path | str) -> LandingStore:
        return landing if isinstance(landing, LandingStore) else cls(str(landing))

    @cached_property
    def _fs_root(self):
        fs, root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        return fs, root.rstrip("/")

    @property
    def is_local(self) -> bool:
        return "://" not in self.url or self.url.startswith("file://")

    def exists(self) -> bool:
        fs, root = self._fs_root
        return fs.isdir(root)

    def files(self) -> list[LandedFile]:
        """Every file under the prefix (recursively, sorted) with its size and mtime.

        A local folder is walked directly: symlinked files and folders count (a person links
        their export's folder in), each folder once, with the target's size and mtime
        (fsspec's local listing reports the link itself)."""
        fs, root = self._fs_root
        if self.is_local:
            return _walk_local(Path(root))
        found = []
        for path, info in fs.find(root, detail=True).items():
            if info.get("type") != "file":
                continue
            relative = PurePosixPath(path).relative_to(PurePosixPath(root))
            found.append(
                LandedFile(relative, int(info.get("size") or 0), _mtime_ns(fs, path, info))
            )
        return sorted(found, key=lambda f: f.relative)

    def read_bytes(self, relative: PurePosixPath) -> bytes:
        fs, root = self._fs_root
        return fs.cat_file(f"{root}/{relative}")

    def open(self, relative: PurePosixPath) -> IO[bytes]:
        fs, root = self._fs_root
        return fs.open(f"{root}/{relative}", "rb")

    def __str__(self) -> str:
        return self.url


def _walk_local(base: Path) -> list[LandedFile]:
    found, seen = [], set()
    for folder, dirs, files in os.walk(base, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree, or the same folder linked twice
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        for name in files:
            path = Path(folder) / name
            if path.is_file():
                st = path.stat()
                relative = PurePosixPath(path.relative_to(base).as_posix())
                found.append(LandedFile(relative, st.st_size, st.st_mtime_ns))
    return sorted(found, key=lambda f: f.relative)


def _mtime_ns(fs, path: str, info: dict) -> int:
    """Modification time in ns, whatever the filesystem calls it."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, int | float):
            return int(value * 1e9)
        try:
            return int(dt.datetime.fromisoformat(str(value)).timestamp() * 1e9)
        except ValueError:
            continue
    return int(fs.modified(path).timestamp() * 1e9)
