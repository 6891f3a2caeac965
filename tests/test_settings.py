"""Settings: every variable's parsing and message, and the Dagster resource built from them.

Fast: no Spark, no Dagster run.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import dagster as dg
import pytest
from pydantic import ValidationError

from moodlake_dagster import settings as settings_module
from moodlake_dagster.resources import MoodlakeConfig, build_resources
from moodlake_dagster.settings import (
    CATALOG_LIST,
    DEMO_CATALOG,
    Settings,
    SettingsError,
    env_var,
    load_settings,
    resolve_home,
    sensor_interval,
)

INTEGERS = {
    "MOODLAKE_SPARK_PORT": "spark_port",
    "MOODLAKE_SPARK_IDLE_STOP_S": "spark_idle_stop_s",
    "MOODLAKE_SKIP_THRESHOLD_MS": "skip_threshold_ms",
    "MOODLAKE_DEDUP_WINDOW_S": "dedup_window_s",
    "MOODLAKE_TARGET_FILE_MB": "target_file_mb",
    "MOODLAKE_VACUUM_RETENTION_HOURS": "vacuum_retention_hours",
    "MOODLAKE_HOT_DAYS": "hot_days",
    "MOODLAKE_API_RESPONSE_RETENTION_DAYS": "api_response_retention_days",
    "MOODLAKE_SPOTIFY_MAX_WAIT_S": "spotify_max_wait_s",
    "MOODLAKE_SERVE_PORT": "serve_port",
    "MOODLAKE_MIN_GROUP": "min_group",
    "MOODLAKE_CROWD": "crowd",
    "MOODLAKE_REFIT_DAYS": "refit_days",
    # Seconds the landing sensor waits: whole numbers, as they always were.
    "MOODLAKE_LANDING_SETTLE_S": "landing_settle_s",
    "MOODLAKE_LANDING_PATIENCE_S": "landing_patience_s",
}
NUMBERS = {
    "MOODLAKE_SPOTIFY_REQUEST_SPACING_S": "spotify_request_spacing_s",
    "MOODLAKE_REFIT_GROWTH": "refit_growth",
}
FLAGS = {
    "MOODLAKE_INCLUDE_INCOGNITO": ("include_incognito", False),
    "MOODLAKE_MUSIC_VIDEOS_AS_PLAYS": ("music_videos_as_plays", False),
    "MOODLAKE_FEATURE_ESTIMATES": ("feature_estimates", True),
    "MOODLAKE_API_PLAYS_IN_TRAINING": ("api_plays_in_training", False),
    "MOODLAKE_SPARK_WRITES": ("spark_writes", True),
}
STRINGS = {
    "MOODLAKE_DEFAULT_USER": ("default_user", "me"),
    "MOODLAKE_SPARK_REMOTE": ("spark_remote", None),
    "MOODLAKE_SPARK_DRIVER_MEMORY": ("spark_driver_memory", "4g"),
    "MOODLAKE_SPARK_MASTER": ("spark_master", None),
    "MOODLAKE_PSEUDONYM_KEY": ("pseudonym_key", None),
    "MOODLAKE_SPOTIFY_CLIENT_ID": ("spotify_client_id", None),
    "MOODLAKE_SPOTIFY_CLIENT_SECRET": ("spotify_client_secret", None),
    "MOODLAKE_SPOTIFY_REDIRECT_URI": ("spotify_redirect_uri", "http://127.0.0.1:8888/callback"),
    "MOODLAKE_SPOTIFY_API_URL": ("spotify_api_url", "https://api.spotify.com/v1/"),
    "MOODLAKE_SPOTIFY_ACCOUNTS_URL": ("spotify_accounts_url", "https://accounts.spotify.com"),
    "MOODLAKE_SPOTIFY_ACCOUNT": ("spotify_account", None),
}


@pytest.fixture
def home(tmp_path) -> Path:
    return (tmp_path / "home").resolve()


def load(home: Path, **env: str) -> Settings:
    return load_settings({"MOODLAKE_HOME": str(home), **env})


def test_defaults_point_at_the_demo_data(home):
    s = load(home)
    assert s.home == home
    assert s.catalogs == (DEMO_CATALOG,) and s.catalog == DEMO_CATALOG
    assert s.landing == home / "demo" / "landing" and s.uses_demo_landing
    assert s.lake_root == str(home / "lake")
    assert (s.timezone, dict(s.user_timezones)) == ("UTC", {})
    assert (s.spark_idle_stop_s, s.skip_threshold_ms, s.dedup_window_s) == (300, 30_000, 90)
    assert (s.target_file_mb, s.vacuum_retention_hours, s.spark_port) == (64, 168, None)
    assert (s.landing_settle_s, s.landing_patience_s, s.spotify_request_spacing_s) == (30, 600, 1)
    assert (s.spotify_max_wait_s, s.serve_port) == (30, 8765)
    assert (s.hot_days, s.api_response_retention_days) == (90, 30)
    for field, default in STRINGS.values():
        assert getattr(s, field) == default, field
    for field, default in FLAGS.values():
        assert getattr(s, field) is default, field
    assert s.dagster_home == home / "dagster" and s.spark_state_dir == home / "spark"
    assert s.spotify_token_cache == home / "secrets" / "spotify-token.json"


def test_home_defaults_to_dot_moodlake_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).home == tmp_path.resolve() / ".moodlake"
    assert load_settings({"MOODLAKE_HOME": "rel"}).home == tmp_path.resolve() / "rel"
    assert resolve_home({"MOODLAKE_HOME": "rel"}) == tmp_path.resolve() / "rel"
    assert resolve_home({"MOODLAKE_HOME": ""}) == tmp_path.resolve() / ".moodlake"
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    lakehome = tmp_path.resolve() / "user" / "lakehome"
    assert load_settings({"MOODLAKE_HOME": "~/lakehome"}).home == lakehome


def test_an_empty_variable_is_unset(home):
    every = {env_var(field): "" for field in Settings.model_fields}
    assert load_settings(every | {"MOODLAKE_HOME": str(home)}) == load(home)


def test_only_the_given_mapping_is_read(home, tmp_path, monkeypatch):
    monkeypatch.setenv("MOODLAKE_TIMEZONE", "Mars/Base")
    monkeypatch.setenv("MOODLAKE_DEFAULT_USER", "from-environ")
    (tmp_path / ".env").write_text("MOODLAKE_DEFAULT_USER=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    assert load(home).default_user == "me"
    # Without a mapping: the process environment, and still never the .env file.
    monkeypatch.delenv("MOODLAKE_TIMEZONE")
    monkeypatch.setenv("MOODLAKE_HOME", str(home))
    assert load_settings().default_user == "from-environ"
    monkeypatch.delenv("MOODLAKE_DEFAULT_USER")
    assert load_settings().default_user == "me"
    assert Settings().default_user == "me"


def test_variables_are_read_by_their_exact_names(home):
    s = load(
        home,
        moodlake_default_user="lower",
        MOODLAKE_CATALOGS="plural.csv",
        MOODLAKE_LAKE_ROOT="field-name",
    )
    assert s == load(home)


@pytest.mark.parametrize("variable", INTEGERS)
def test_integers(home, variable):
    assert getattr(load(home, **{variable: "42"}), INTEGERS[variable]) == 42
    assert getattr(load(home, **{variable: " 7 "}), INTEGERS[variable]) == 7
    for bad in ("soon", "1.0", "1e3"):
        with pytest.raises(SettingsError, match=f"^{variable}: expected an integer, got '{bad}'$"):
            load(home, **{variable: bad})


def test_a_sensor_interval_is_whole_seconds_and_a_bad_one_names_its_variable():
    variable = "MOODLAKE_LANDING_INTERVAL_S"
    assert sensor_interval(variable, 60, {}) == 60
    assert sensor_interval(variable, 60, {variable: " "}) == 60
    assert sensor_interval(variable, 60, {variable: " 15 "}) == 15
    for bad in ("soon", "1.5"):
        with pytest.raises(SettingsError, match=f"^{variable}: expected an integer, got '{bad}'$"):
            sensor_interval(variable, 60, {variable: bad})
    for bad in ("0", "-3"):
        expected = f"^{variable}: expected at least 1 second, got '{bad}'$"
        with pytest.raises(SettingsError, match=expected):
            sensor_interval(variable, 60, {variable: bad})


@pytest.mark.parametrize("variable", FLAGS)
def test_flags(home, variable):
    field, default = FLAGS[variable]
    for raw in ("1", "true", "YES", " On "):
        assert getattr(load(home, **{variable: raw}), field) is True
    for raw in ("0", "False", "no", "OFF "):
        assert getattr(load(home, **{variable: raw}), field) is False
    assert getattr(load(home, **{variable: "  "}), field) is default
    for bad in ("maybe", "t", "n"):
        with pytest.raises(
            SettingsError, match=f"^{variable}: expected true or false, got '{bad}'$"
        ):
            load(home, **{variable: bad})


@pytest.mark.parametrize("variable", STRINGS)
def test_strings_are_taken_as_given(home, variable):
    assert getattr(load(home, **{variable: " a value "}), STRINGS[variable][0]) == " a value "


@pytest.mark.parametrize("variable", NUMBERS)
def test_numbers(home, variable):
    assert getattr(load(home, **{variable: "0.25"}), NUMBERS[variable]) == 0.25
    with pytest.raises(SettingsError, match=f"^{variable}: expected a number, got 'fast'$"):
        load(home, **{variable: "fast"})


def test_the_retraining_cadence_cannot_be_negative(home):
    assert (load(home).refit_days, load(home).refit_growth) == (7, 0.1)
    assert load(home, MOODLAKE_REFIT_DAYS="0").refit_days == 0  # refit every run
    for variable in ("MOODLAKE_REFIT_DAYS", "MOODLAKE_REFIT_GROWTH"):
        with pytest.raises(SettingsError, match=f"^{variable}: "):
            load(home, **{variable: "-1"})


def test_time_zones(home):
    assert load(home, MOODLAKE_TIMEZONE="Asia/Kolkata").timezone == "Asia/Kolkata"
    with pytest.raises(SettingsError, match="^MOODLAKE_TIMEZONE: unknown time zone 'Mars/Base'$"):
        load(home, MOODLAKE_TIMEZONE="Mars/Base")
    zones = load(home, MOODLAKE_USER_TIMEZONES="alice=Europe/Berlin, bob = Asia/Kolkata ,")
    assert zones.user_timezones == {"alice": "Europe/Berlin", "bob": "Asia/Kolkata"}
    with pytest.raises(
        SettingsError, match="^MOODLAKE_USER_TIMEZONES: 'alice' is not 'account=Area/City'$"
    ):
        load(home, MOODLAKE_USER_TIMEZONES="alice")
    with pytest.raises(
        SettingsError, match="^MOODLAKE_USER_TIMEZONES: unknown time zone 'Mars/Base'$"
    ):
        load(home, MOODLAKE_USER_TIMEZONES="alice=Europe/Berlin,bob=Mars/Base")


def test_every_bad_value_is_reported_on_its_own_line(home):
    with pytest.raises(SettingsError) as err:
        load(home, MOODLAKE_TIMEZONE="Mars/Base", MOODLAKE_DEDUP_WINDOW_S="soon")
    assert str(err.value).splitlines() == [
        "MOODLAKE_TIMEZONE: unknown time zone 'Mars/Base'",
        "MOODLAKE_DEDUP_WINDOW_S: expected an integer, got 'soon'",
    ]
    assert isinstance(err.value, ValueError)


def test_landing_folder_or_object_store_url(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load(home, MOODLAKE_LANDING="drops").landing == tmp_path.resolve() / "drops"
    assert load(home, MOODLAKE_LANDING="file:///data/landing").landing == Path("/data/landing")
    for url in ("s3://bucket/spotify/landing", "memory://landing"):
        s = load(home, MOODLAKE_LANDING=url)
        assert s.landing == url and isinstance(s.landing, str) and not s.uses_demo_landing
    assert not load(home, MOODLAKE_LANDING="drops").uses_demo_landing
    demo = str(home / "demo" / "landing")
    assert load(home, MOODLAKE_LANDING=demo).uses_demo_landing


def test_lake_root_is_kept_as_given(home):
    assert load(home, MOODLAKE_LAKE="s3://bucket/moodlake").lake_root == "s3://bucket/moodlake"
    assert load(home, MOODLAKE_LAKE="relative/lake").lake_root == "relative/lake"


def test_catalogs_named_first_then_the_listed_ones_each_once(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = tmp_path.resolve()
    home.mkdir()
    (home / CATALOG_LIST).write_text(f"# added\n{here / 'b.csv'}\n\n{here / 'c.csv'}\n")
    s = load(home, MOODLAKE_CATALOG="a.csv, b.csv,,a.csv")
    assert s.catalogs == (here / "a.csv", here / "b.csv", here / "c.csv")
    assert s.catalog == here / "a.csv"
    assert load(home).catalogs == (here / "b.csv", here / "c.csv")
    assert load(home, MOODLAKE_CATALOG=" , ").catalogs == (here / "b.csv", here / "c.csv")
    (home / CATALOG_LIST).unlink()
    assert load(home, MOODLAKE_CATALOG="a.csv").catalogs == (here / "a.csv",)
    assert load(home).catalogs == (DEMO_CATALOG,)


def test_settings_are_frozen_and_keep_secrets_out_of_their_repr(home):
    s = load(home, MOODLAKE_PSEUDONYM_KEY="hmac-key", MOODLAKE_SPOTIFY_CLIENT_SECRET="app-secret")
    with pytest.raises(ValidationError, match="frozen"):
        s.timezone = "Asia/Kolkata"
    assert "hmac-key" not in repr(s) and "app-secret" not in repr(s)
    assert s.resolved_pseudonym_key() == b"hmac-key"


def test_values_by_name_read_no_environment(home, monkeypatch):
    s = load(home, MOODLAKE_TIMEZONE="Asia/Kolkata")
    monkeypatch.setenv("MOODLAKE_DEDUP_WINDOW_S", "soon")
    assert Settings.from_values(s.model_dump()) == s
    with pytest.raises(SettingsError, match="^MOODLAKE_TIMEZONE: unknown time zone 'Mars/Base'$"):
        Settings.from_values(s.model_dump() | {"timezone": "Mars/Base"})
    with pytest.raises(SettingsError, match="^catalog: not a setting$"):
        Settings.from_values({"catalog": "a.csv"})


def everything_set(home: Path, tmp_path: Path) -> dict[str, str]:
    """A value different from the default for every variable."""
    return {
        "MOODLAKE_HOME": str(home),
        "MOODLAKE_CATALOG": f"{tmp_path / 'a.csv'},{tmp_path / 'b.csv'}",
        "MOODLAKE_LANDING": "memory://landing",
        "MOODLAKE_LAKE": str(tmp_path / "lake"),
        "MOODLAKE_TIMEZONE": "Europe/Berlin",
        "MOODLAKE_USER_TIMEZONES": "alice=Asia/Kolkata",
        **{variable: "7" for variable in INTEGERS},
        **{variable: "no" if default else "yes" for variable, (_, default) in FLAGS.items()},
        **{variable: f"set-{variable.lower()}" for variable in STRINGS},
        "MOODLAKE_SPOTIFY_REQUEST_SPACING_S": "0.5",
        "MOODLAKE_REFIT_DAYS": "3",  # 7 is its default
        "MOODLAKE_REFIT_GROWTH": "0.25",
        "MOODLAKE_PRICES": str(tmp_path / "prices.csv"),
        "MOODLAKE_CROWD_ANSWERS": str(tmp_path / "answers.json"),
    }


def test_every_variable_is_covered_here():
    covered = {"MOODLAKE_HOME", "MOODLAKE_CATALOG", "MOODLAKE_LANDING", "MOODLAKE_LAKE"}
    covered |= {"MOODLAKE_TIMEZONE", "MOODLAKE_USER_TIMEZONES"}
    covered |= {"MOODLAKE_PRICES", "MOODLAKE_CROWD_ANSWERS"}
    covered |= set(INTEGERS) | set(FLAGS) | set(STRINGS) | set(NUMBERS)
    assert {env_var(field) for field in Settings.model_fields} == covered


def test_the_resource_carries_every_setting_and_gives_them_back(home, tmp_path):
    s = load_settings(everything_set(home, tmp_path))
    assert all(
        getattr(s, name) != field.default
        for name, field in Settings.model_fields.items()
        if field.default_factory is None
    )
    config = MoodlakeConfig.from_settings(s)
    assert set(MoodlakeConfig.model_fields) == set(Settings.model_fields)
    assert config.settings() == s
    # The demo's settings too: the sample catalog and the generated landing folder.
    demo = load(home)
    assert MoodlakeConfig.from_settings(demo).settings() == demo
    # The list the settings were loaded with is kept: a catalog added later is not mixed in.
    home.mkdir(exist_ok=True)
    (home / CATALOG_LIST).write_text(str(tmp_path / "added.csv"))
    assert MoodlakeConfig.from_settings(demo).settings().catalogs == (DEMO_CATALOG,)


def test_the_resource_shows_its_settings_in_dagster_config(home):
    config = MoodlakeConfig.from_settings(load(home, MOODLAKE_TIMEZONE="Asia/Kolkata"))
    schema = config.get_resource_definition().config_schema
    fields = schema.as_field().config_type.fields
    assert fields["timezone"].description.startswith("MOODLAKE_TIMEZONE: ")
    assert fields["catalogs"].description.startswith("MOODLAKE_CATALOG: ")
    assert fields["dedup_window_s"].default_value == 90
    assert schema.default_value["timezone"] == "Asia/Kolkata"
    assert schema.default_value["home"] == str(home)


def test_secrets_from_the_environment_stay_environment_variables(home, monkeypatch):
    monkeypatch.setenv("MOODLAKE_HOME", str(home))
    monkeypatch.setenv("MOODLAKE_PSEUDONYM_KEY", "hmac-key")
    monkeypatch.setenv("MOODLAKE_SPOTIFY_CLIENT_SECRET", "app-secret")
    s = load_settings()
    resources = build_resources(s)
    shown = resources["moodlake"].get_resource_definition().config_schema.default_value
    assert shown["pseudonym_key"] == {"env": "MOODLAKE_PSEUDONYM_KEY"}
    assert shown["spotify_client_secret"] == {"env": "MOODLAKE_SPOTIFY_CLIENT_SECRET"}
    assert "hmac-key" not in str(shown) and "app-secret" not in str(shown)
    spotify = resources["spotify"].get_resource_definition().config_schema.default_value
    assert spotify["client_secret"] == {"env": "MOODLAKE_SPOTIFY_CLIENT_SECRET"}
    assert resources["moodlake"].settings() == s
    # Given another way (a test's mapping, say), the value itself is all there is.
    given = load(home, MOODLAKE_PSEUDONYM_KEY="other-key")
    assert MoodlakeConfig.from_settings(given).pseudonym_key == "other-key"


def test_assets_read_the_settings_inside_a_run(home, monkeypatch):
    monkeypatch.setenv("MOODLAKE_PSEUDONYM_KEY", "hmac-key")
    s = load(home, MOODLAKE_PSEUDONYM_KEY="hmac-key", MOODLAKE_DEDUP_WINDOW_S="45")
    seen = {}

    @dg.asset
    def probe(moodlake: MoodlakeConfig) -> None:
        seen["settings"] = moodlake.settings()

    result = dg.materialize([probe], resources={"moodlake": MoodlakeConfig.from_settings(s)})
    assert result.success and seen["settings"] == s


def test_settings_import_no_other_moodlake_module():
    tree = ast.parse(inspect.getsource(settings_module))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add(node.module)
    assert imported and not {name for name in imported if name.split(".")[0] == "moodlake_dagster"}
