"""Settings from the environment (and an optional `.env` file), resolved in one place.

Every knob a user may turn is an environment variable; `.env.example` lists them all.
Defaults point at the embedded demo data so that `moodlake build` works on a fresh checkout.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from moodlake_dagster.ingest.landing_store import LandingStore

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_CATALOG = PACKAGE_DIR / "demo_data" / "catalog_sample.csv"
# Catalog files added with `moodlake catalog add`, one absolute path a line, under MOODLAKE_HOME.
CATALOG_LIST = "catalogs.txt"

# Spotify launched in October 2008: no real play can be older.
DEFAULT_PARTITIONS_START = "2008-10-01"
# The first play day this home has landed (one ISO date): where the daily partitions begin.
FIRST_PLAY_DAY_FILE = "first_play_day"


class SettingsError(ValueError):
    """A setting has a value MoodLake cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    home: Path
    catalogs: tuple[Path, ...]  # in precedence order: the first file's rows win a track_id
    landing: Path | str  # a folder, or an fsspec URL (s3://bucket/prefix) for an object store
    lake_root: str
    timezone: str = "UTC"
    user_timezones: Mapping[str, str] = field(default_factory=dict)
    default_user: str = "me"
    spark_remote: str | None = None
    spark_port: int | None = None
    spark_driver_memory: str = "4g"
    spark_idle_stop_s: int = 300
    skip_threshold_ms: int = 30_000
    dedup_window_s: int = 90
    include_incognito: bool = False
    music_videos_as_plays: bool = False
    # Plays of songs the catalog lacks take their artist's mean features (see ml/estimate.py).
    feature_estimates: bool = True
    target_file_mb: int = 64
    vacuum_retention_hours: int = 168
    pseudonym_key: str | None = None
    landing_settle_s: float = 30.0
    landing_patience_s: float = 600.0
    api_plays_in_training: bool = False
    spotify_client_id: str | None = None
    spotify_client_secret: str | None = None
    spotify_redirect_uri: str = "http://127.0.0.1:8888/callback"
    spotify_api_url: str = "https://api.spotify.com/v1/"
    spotify_accounts_url: str = "https://accounts.spotify.com"
    spotify_account: str | None = None
    spotify_max_wait_s: int = 30
    spotify_request_spacing_s: float = 1.0

    @property
    def catalog(self) -> Path:
        """The highest-precedence catalog file (the demo generator draws its tracks from it)."""
        return self.catalogs[0]

    @property
    def spotify_token_cache(self) -> Path:
        return self.home / "secrets" / "spotify-token.json"

    @property
    def landing_store(self) -> LandingStore:
        return LandingStore(str(self.landing))

    @property
    def uses_demo_landing(self) -> bool:
        return self.landing == self.home / "demo" / "landing"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def spark_state_dir(self) -> Path:
        return self.home / "spark"

    def resolved_pseudonym_key(self) -> bytes:
        """The HMAC key for account pseudonyms.

        `MOODLAKE_PSEUDONYM_KEY` wins. Without it a random key is created once under
        MOODLAKE_HOME (mode 600) so pseudonyms stay stable across runs on this machine.
        """
        if self.pseudonym_key:
            return self.pseudonym_key.encode()
        key_file = self.home / "secrets" / "pseudonym.key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        return key_file.read_text().strip().encode()


def _parse_user_timezones(raw: str) -> dict[str, str]:
    pairs = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        account, sep, tz = item.partition("=")
        if not sep:
            raise SettingsError(f"MOODLAKE_USER_TIMEZONES: {item!r} is not 'account=Area/City'")
        pairs[account.strip()] = _valid_tz(tz.strip(), "MOODLAKE_USER_TIMEZONES")
    return pairs


def _valid_tz(tz: str, variable: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise SettingsError(f"{variable}: unknown time zone {tz!r}") from err
    return tz


def _int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as err:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from err


def _landing(raw: str) -> Path | str:
    """Object-store URLs stay as given; local folders become absolute paths."""
    if "://" in raw and not raw.startswith("file://"):
        return raw
    return Path(raw.removeprefix("file://")).expanduser().resolve()


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        raise SettingsError(f"{name}: expected true or false, got {raw!r}")
    return raw in {"1", "true", "yes", "on"}


def listed_catalogs(home: Path) -> list[Path]:
    """The catalog files recorded in MOODLAKE_HOME/catalogs.txt, in the order added."""
    listing = home / CATALOG_LIST
    if not listing.is_file():
        return []
    lines = (line.strip() for line in listing.read_text().splitlines())
    return [Path(line) for line in lines if line and not line.startswith("#")]


def _catalogs(env: Mapping[str, str], home: Path) -> tuple[Path, ...]:
    """MOODLAKE_CATALOG's comma-separated files first, then catalogs.txt; else the demo sample.

    A file named twice keeps its first (highest) place.
    """
    named = [part.strip() for part in env.get("MOODLAKE_CATALOG", "").split(",") if part.strip()]
    paths = [Path(p).expanduser().resolve() for p in named] + listed_catalogs(home)
    return tuple(dict.fromkeys(paths)) or (DEMO_CATALOG,)


def resolve_home(env: Mapping[str, str]) -> Path:
    return Path(env.get("MOODLAKE_HOME") or Path.cwd() / ".moodlake").expanduser().resolve()


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    home = resolve_home(env)
    landing_raw = env.get("MOODLAKE_LANDING")
    landing = _landing(landing_raw) if landing_raw else home / "demo" / "landing"
    return Settings(
        home=home,
        catalogs=_catalogs(env, home),
        landing=landing,
        lake_root=env.get("MOODLAKE_LAKE") or str(home / "lake"),
        timezone=_valid_tz(env.get("MOODLAKE_TIMEZONE") or "UTC", "MOODLAKE_TIMEZONE"),
        user_timezones=_parse_user_timezones(env.get("MOODLAKE_USER_TIMEZONES", "")),
        default_user=env.get("MOODLAKE_DEFAULT_USER") or "me",
        spark_remote=env.get("MOODLAKE_SPARK_REMOTE") or None,
        spark_port=_int(env, "MOODLAKE_SPARK_PORT", None),
        spark_driver_memory=env.get("MOODLAKE_SPARK_DRIVER_MEMORY") or "4g",
        spark_idle_stop_s=_int(env, "MOODLAKE_SPARK_IDLE_STOP_S", 300),
        skip_threshold_ms=_int(env, "MOODLAKE_SKIP_THRESHOLD_MS", 30_000),
        dedup_window_s=_int(env, "MOODLAKE_DEDUP_WINDOW_S", 90),
        include_incognito=_flag(env, "MOODLAKE_INCLUDE_INCOGNITO"),
        music_videos_as_plays=_flag(env, "MOODLAKE_MUSIC_VIDEOS_AS_PLAYS"),
        feature_estimates=_flag(env, "MOODLAKE_FEATURE_ESTIMATES", default=True),
        target_file_mb=_int(env, "MOODLAKE_TARGET_FILE_MB", 64),
        vacuum_retention_hours=_int(env, "MOODLAKE_VACUUM_RETENTION_HOURS", 168),
        pseudonym_key=env.get("MOODLAKE_PSEUDONYM_KEY") or None,
        landing_settle_s=_int(env, "MOODLAKE_LANDING_SETTLE_S", 30),
        landing_patience_s=_int(env, "MOODLAKE_LANDING_PATIENCE_S", 600),
        api_plays_in_training=_flag(env, "MOODLAKE_API_PLAYS_IN_TRAINING"),
        spotify_client_id=env.get("MOODLAKE_SPOTIFY_CLIENT_ID") or None,
        spotify_client_secret=env.get("MOODLAKE_SPOTIFY_CLIENT_SECRET") or None,
        spotify_redirect_uri=env.get("MOODLAKE_SPOTIFY_REDIRECT_URI")
        or "http://127.0.0.1:8888/callback",
        spotify_api_url=env.get("MOODLAKE_SPOTIFY_API_URL") or "https://api.spotify.com/v1/",
        spotify_accounts_url=env.get("MOODLAKE_SPOTIFY_ACCOUNTS_URL")
        or "https://accounts.spotify.com",
        spotify_account=env.get("MOODLAKE_SPOTIFY_ACCOUNT") or None,
        spotify_max_wait_s=_int(env, "MOODLAKE_SPOTIFY_MAX_WAIT_S", 30),
        spotify_request_spacing_s=float(env.get("MOODLAKE_SPOTIFY_REQUEST_SPACING_S") or 1.0),
    )
