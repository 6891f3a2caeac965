"""The one Definitions object: assets, checks, resources and the build job."""

from __future__ import annotations

import dagster as dg

from moodlake_dagster.assets import bronze, gold, silver
from moodlake_dagster.resources import build_resources
from moodlake_dagster.settings import load_settings

ASSETS = dg.load_assets_from_modules([bronze, silver, gold])

# `moodlake build` runs this in-process: one run, one Spark session, no process per step.
build_job = dg.define_asset_job(
    "moodlake_build",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Materialize every table for a day or a range of days in one run.",
)


def make_definitions(env=None) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        jobs=[build_job],
        resources=build_resources(load_settings(env)),
    )


defs = make_definitions()
