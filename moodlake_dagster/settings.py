"""Settings from the environment, resolved in one place: a pydantic-settings model.

Every knob a user may turn is a `MOODLAKE_*` environment variable; `.env.example` lists them
all (the CLI loads a `.env` file into the environment first; this module reads no file).
Defaults point at the embedded demo data so that `moodlake build` works on a fresh checkout.
An empty variable counts as unset. A bad value raises `SettingsError`, which names the
variable and the value.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_CATALOG = PACKAGE_DIR / "demo_data" / "catalog_sample.csv"
# Catalog files added with `moodlake catalog add`, one absolute path a line, under MOODLAKE_HOME.
CATALOG_LIST = "catalogs.txt"

# Spotify launched in October 2008: no real play can be older.
DEFAULT_PARTITIONS_START = "2008-10-01"
# The first play day this home has landed (one ISO date): where the daily partitions begin.
FIRST_PLAY_DAY_FILE = "first_play_day"

ENV_PREFIX = "MOODLAKE_"
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting has a value MoodLake cannot use; the message names the variable."""


# Values as the environment spells them. Each parser passes a value that is not a string
# (a field given by name, as the Dagster resource does) on to pydantic unchanged.


def _integer(value: Any) -> Any:
    """Python's int(): "1.0" and "1e3" are refused, as before pydantic."""
    if not isinstance(value, str):
        return value
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def _number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None


def _flag(value: Any) -> Any:
    """1/true/yes/on or 0/false/no/off, any case, spaces around ignored; blank: the default.

    pydantic's own bool parsing also takes t/f/y/n and refuses surrounding spaces."""
    if not isinstance(value, str):
        return value
    raw = value.strip().lower()
    if not raw:
        raise PydanticUseDefault()
    if raw not in TRUE | FALSE:
        raise ValueError(f"expected true or false, got {raw!r}")
    return raw in TRUE


Integer = Annotated[int, BeforeValidator(_integer)]
Number = Annotated[float, BeforeValidator(_number)]
Flag = Annotated[bool, BeforeValidator(_flag)]
# Seconds the landing sensor waits: whole numbers in the environment (as they always were).
WholeSeconds = Annotated[float, BeforeValidator(_integer)]


def _home_path(raw: str | os.PathLike | None) -> Path:
    return Path(raw or Path.cwd() / ".moodlake").expanduser().resolve()


def _under_home(data: dict[str, Any], *parts: str) -> Path:
    # A home that failed validation is reported on its own; this placeholder never escapes.
    return Path(data.get("home") or ".").joinpath(*parts)


def _valid_tz(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {tz!r}") from err
    return tz


def listed_catalogs(home: Path) -> list[Path]:
    """The catalog files recorded in MOODLAKE_HOME/catalogs.txt, in the order added."""
    listing = home / CATALOG_LIST
    if not listing.is_file():
        return []
    lines = (line.strip() for line in listing.read_text().splitlines())
    return [Path(line) for line in lines if line and not line.startswith("#")]


class Settings(BaseSettings):
    """Every MoodLake setting; field `x` is read from `MOODLAKE_X` unless it names another."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
    )

    home: Path = Field(
        default_factory=lambda: Path.cwd() / ".moodlake",
        validate_default=True,
        description="the lake, Dagster's state, the local Spark server's files",
    )
    # In precedence order: the first file's rows win a track_id.
    catalogs: Annotated[tuple[Path, ...], NoDecode] = Field(
        default=(),
        validate_default=True,
        validation_alias="MOODLAKE_CATALOG",
        description="catalog CSVs, first wins: MOODLAKE_CATALOG's, then catalogs.txt's",
    )
    # A folder, or an fsspec URL (s3://bucket/prefix) for an object store.
    landing: Path | str = Field(
        default_factory=lambda data: _under_home(data, "demo", "landing"),
        description="folder (or object-store prefix) of listening-history files",
    )
    lake_root: str = Field(
        default_factory=lambda data: str(_under_home(data, "lake")),
        validation_alias="MOODLAKE_LAKE",
        description="lake root: a folder or an object-store URI",
    )
    # Declared among the paths: a default made from `home` needs every field before it valid.
    crowd_answers: Path = Field(
        default_factory=lambda data: _under_home(data, "demo", "crowd_answers_GENERATED.json"),
        description="the crowd generator's answer file (farm accounts): scoring only",
    )
    timezone: str = Field("UTC", description="the listeners' default time zone")
    user_timezones: Annotated[Mapping[str, str], NoDecode] = Field(
        default_factory=dict, description="time zone per account (alice=Europe/Berlin,…)"
    )
    default_user: str = Field("me", description="account of files directly in the landing")
    spark_remote: str | None = Field(None, description="Spark Connect URL; unset: local server")
    spark_port: Annotated[int | None, BeforeValidator(_integer)] = Field(
        None, description="port of the local Spark server"
    )
    spark_master: str | None = Field(
        None, description="Spark master for the local Connect server (spark://host:7077)"
    )
    spark_driver_memory: str = Field("4g", description="local Spark driver memory")
    spark_idle_stop_s: Integer = Field(300, description="idle local Spark stops after (0: never)")
    skip_threshold_ms: Integer = Field(30_000, description="a play shorter than this is a skip")
    dedup_window_s: Integer = Field(90, description="copies of a play within this are one")
    include_incognito: Flag = Field(False, description="keep incognito plays")
    music_videos_as_plays: Flag = Field(False, description="count music videos as plays")
    # Plays of songs the catalog lacks take their artist's mean features (see ml/estimate.py).
    feature_estimates: Flag = Field(True, description="estimate features of uncatalogued songs")
    target_file_mb: Integer = Field(64, description="size Delta files grow toward")
    # Spark writes the data files of the tables that grow with plays and delta-rs commits them
    # (spark_commit.py); off, their rows are collected into the build through Arrow.
    spark_writes: Flag = Field(True, description="Spark writes large tables' files itself")
    vacuum_retention_hours: Integer = Field(168, description="vacuum keeps files this recent")
    # The lake_maintenance job: what it leaves as written, and what it deletes.
    hot_days: Integer = Field(90, description="day partitions this recent are not compacted")
    api_response_retention_days: Integer = Field(
        30, description="raw Spotify API responses are deleted after this many days"
    )
    pseudonym_key: str | None = Field(
        None,
        repr=False,
        json_schema_extra={"secret": True},
        description="HMAC key for account pseudonyms; unset: a key under MOODLAKE_HOME",
    )
    landing_settle_s: WholeSeconds = Field(30.0, description="a landed file is read once this old")
    landing_patience_s: WholeSeconds = Field(
        600.0, description="a file that does not parse is waited for this long"
    )
    api_plays_in_training: Flag = Field(False, description="API-polled plays train models")
    # The retraining cadence (ml/cadence.py): a stored ALS fit serves new days until one of these.
    refit_days: Integer = Field(
        7, ge=0, description="a stored model this many days old is refitted (0: every run)"
    )
    refit_growth: Number = Field(
        0.1, ge=0, description="new plays, as a share of the fitted ones, that call for a refit"
    )
    spotify_client_id: str | None = Field(None, description="your Spotify app's client id")
    spotify_client_secret: str | None = Field(
        None,
        repr=False,
        json_schema_extra={"secret": True},
        description="your Spotify app's client secret; unset: PKCE",
    )
    spotify_redirect_uri: str = Field(
        "http://127.0.0.1:8888/callback", description="your Spotify app's redirect URI"
    )
    spotify_api_url: str = Field("https://api.spotify.com/v1/", description="Spotify Web API")
    spotify_accounts_url: str = Field(
        "https://accounts.spotify.com", description="Spotify accounts service"
    )
    spotify_account: str | None = Field(None, description="the account API plays belong to")
    spotify_max_wait_s: Integer = Field(30, description="longest Retry-After waited for")
    spotify_request_spacing_s: Number = Field(1.0, description="seconds between track lookups")
    serve_port: Integer = Field(8765, description="port of `moodlake serve` on 127.0.0.1")
    # Many listeners (the platform tables).
    min_group: Integer = Field(
        5, ge=2, description="a crowd top-list row needs this many listeners behind it"
    )
    prices: Path | None = Field(
        None, description="CSV price table (country,currency,plan,monthly_price); unset: built-in"
    )
    crowd: Integer = Field(
        0, ge=0, description="the demo generates a crowd of this many listeners (0: two)"
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as err:
            raise SettingsError(_message(err)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: `load_settings` reads the environment, by exact name.

        pydantic-settings' own environment source matches names case-insensitively and, with
        fields validated by name, would also take MOODLAKE_CATALOGS for MOODLAKE_CATALOG; and
        the `.env` file is the CLI's to load (python-dotenv), not every process's."""
        return (init_settings,)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from field values alone (the resource's way back)."""
        return cls(**values)

    @field_validator("home", mode="before")
    @classmethod
    def _resolve_home(cls, value: Any) -> Any:
        return _home_path(value) if isinstance(value, str | os.PathLike) else value

    @field_validator("catalogs", mode="before")
    @classmethod
    def _catalogs(cls, value: Any, info: ValidationInfo) -> tuple[Path, ...]:
        """A string is MOODLAKE_CATALOG's comma-separated files, followed by catalogs.txt's; a
        sequence is the list itself. Empty: catalogs.txt's, else the demo sample. A file named
        twice keeps its first (highest) place."""
        if isinstance(value, str):
            named = [part.strip() for part in value.split(",") if part.strip()]
            paths = [Path(p).expanduser().resolve() for p in named] + cls._listed(info)
        elif isinstance(value, list | tuple):
            paths = [Path(p) for p in value] or cls._listed(info)
        else:
            return value
        return tuple(dict.fromkeys(paths)) or (DEMO_CATALOG,)

    @staticmethod
    def _listed(info: ValidationInfo) -> list[Path]:
        return listed_catalogs(info.data["home"]) if "home" in info.data else []

    @field_validator("landing", mode="before")
    @classmethod
    def _landing(cls, value: Any) -> Any:
        """Object-store URLs stay as given; local folders become absolute paths."""
        if not isinstance(value, str):
            return value
        if "://" in value and not value.startswith("file://"):
            return value
        return Path(value.removeprefix("file://")).expanduser().resolve()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return _valid_tz(value)

    @field_validator("user_timezones", mode="before")
    @classmethod
    def _user_timezones(cls, value: Any) -> Any:
        """`account=Area/City,…` as the environment spells it, or a mapping."""
        if isinstance(value, str):
            pairs = {}
            for item in filter(None, (part.strip() for part in value.split(","))):
                account, sep, tz = item.partition("=")
                if not sep:
                    raise ValueError(f"{item!r} is not 'account=Area/City'")
                pairs[account.strip()] = tz.strip()
            value = pairs
        if isinstance(value, Mapping):
            return {account: _valid_tz(tz) for account, tz in value.items()}
        return value

    @property
    def catalog(self) -> Path:
        """The highest-precedence catalog file (the demo generator draws its tracks from it)."""
        return self.catalogs[0]

    @property
    def spotify_token_cache(self) -> Path:
        return self.home / "secrets" / "spotify-token.json"

    @property
    def uses_demo_landing(self) -> bool:
        return self.landing == self.home / "demo" / "landing"

    @property
    def serving_file(self) -> Path:
        """The DuckDB file dashboards read (docker/superset): Gold, no personal column."""
        return self.home / "serving" / "moodlake.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def spark_state_dir(self) -> Path:
        return self.home / "spark"

    @property
    def landing_summaries(self) -> Path:
        """What each landing history file held (ingest/file_summaries.py): a cache."""
        return self.home / "cache" / "landing_files.json"

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


def env_var(field: str) -> str:
    """The environment variable a Settings field is read from."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()


def is_secret(field: str) -> bool:
    """Fields whose values must not be shown (the Dagster UI shows their variable instead)."""
    extra = Settings.model_fields[field].json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("secret"))


def _message(err: ValidationError) -> str:
    """One line per bad value: `MOODLAKE_X: why, got 'value'`."""
    lines = []
    for problem in err.errors(include_url=False):
        # A field read through an alias (MOODLAKE_CATALOG) is located by the alias itself.
        key = str(problem["loc"][0]) if problem["loc"] else "settings"
        variable = env_var(key) if key in Settings.model_fields else key
        if problem["type"] == "value_error":
            lines.append(f"{variable}: {problem['ctx']['error']}")
        elif problem["type"] == "extra_forbidden":
            lines.append(f"{variable}: not a setting")
        elif key in Settings.model_fields and is_secret(key):
            lines.append(f"{variable}: {problem['msg']}")
        else:
            lines.append(f"{variable}: {problem['msg']}, got {problem['input']!r}")
    return "\n".join(lines)


def resolve_home(env: Mapping[str, str]) -> Path:
    """MOODLAKE_HOME alone (absolute), without reading or checking the other settings."""
    return _home_path(env.get("MOODLAKE_HOME"))


def sensor_interval(variable: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """A sensor's interval in whole seconds, from `variable` (unset or empty: `default`).

    Not a field of `Settings`, which a run reads when it starts: Dagster fixes a sensor's
    interval when the definitions load, so this is read then."""
    raw = (os.environ if env is None else env).get(variable, "").strip()
    if not raw:
        return default
    try:
        seconds = _integer(raw)
    except ValueError as err:
        raise SettingsError(f"{variable}: {err}") from None
    if seconds < 1:
        raise SettingsError(f"{variable}: expected at least 1 second, got {raw!r}")
    return seconds


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `env` alone (default: the process environment)."""
    env = os.environ if env is None else env
    given = {field: env.get(env_var(field), "") for field in Settings.model_fields}
    return Settings(**{field: value for field, value in given.items() if value != ""})
