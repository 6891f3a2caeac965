"""The settings as a Dagster resource: one config field per `Settings` field, derived from it.

Nothing is copied by hand: the resource's fields are generated from `Settings.model_fields`
(with the JSON-shaped type Dagster config can hold: a path is a string, a tuple a list), its
value is `Settings.model_dump(mode="json")`, and `.settings()` validates those values back into
the same `Settings`. A new setting appears here, and in the UI, by itself.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import dagster as dg
from pydantic import Field, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from moodlake_dagster.settings import Settings, env_var, is_secret


def env_secret(variable: str, value: str | None):
    """A secret set in the process environment stays an EnvVar: the UI never shows it."""
    if value and os.environ.get(variable) == value:
        return dg.EnvVar(variable)
    return value


def config_type(annotation: Any) -> Any:
    """The type a Settings field has in JSON (and so in Dagster config)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is Path:
        return str
    if origin in (tuple, list):
        return list[config_type(args[0])]
    if origin in (dict, Mapping):
        return dict[config_type(args[0]), config_type(args[1])]
    if origin in (Union, types.UnionType):
        members = tuple(dict.fromkeys(config_type(arg) for arg in args))
        return members[0] if len(members) == 1 else Union[members]  # noqa: UP007
    return annotation


def _config_field(name: str, field: FieldInfo) -> tuple[Any, Any]:
    # A default computed when the settings load (from MOODLAKE_HOME, the working folder) has
    # no fixed value to show: such fields are required, and from_settings always gives them.
    default = ... if field.default is PydanticUndefined else to_jsonable_python(field.default)
    description = f"{env_var(name)}: {field.description}" if field.description else None
    return config_type(field.annotation), Field(default, description=description)


_SettingsFields = create_model(
    "_SettingsFields",
    __base__=dg.ConfigurableResource,
    __module__=__name__,
    **{name: _config_field(name, field) for name, field in Settings.model_fields.items()},
)


class MoodlakeConfig(_SettingsFields):
    """Every MoodLake setting (see `.env.example`); the assets and sensors read `.settings()`.

    Secrets set in the process environment (MOODLAKE_PSEUDONYM_KEY,
    MOODLAKE_SPOTIFY_CLIENT_SECRET) are held as `EnvVar`s: the UI shows the variable's name."""

    @classmethod
    def from_settings(cls, settings: Settings) -> MoodlakeConfig:
        values = settings.model_dump(mode="json")
        for name in values:
            if is_secret(name):
                values[name] = env_secret(env_var(name), values[name])
        return cls(**values)

    def settings(self) -> Settings:
        values = {name: getattr(self, name) for name in Settings.model_fields}
        # Inside a run Dagster has resolved EnvVars already; outside one, resolve them here.
        resolved = {k: v.get_value() if isinstance(v, dg.EnvVar) else v for k, v in values.items()}
        return Settings.from_values(resolved)
