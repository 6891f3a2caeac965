"""Imports point one way: cli → definitions → assets/sensors/jobs → resources → the plain
modules (ingest, transform, ml, spotify, …) → catalog, partitions, storage → vocabulary,
settings. A module may import from its own layer or any below it, never from above."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

PACKAGE = REPO / "moodlake_dagster"
# Top layer first. A unit is a subpackage (assets, ml, …) or a top-level module.
LAYERS = [
    {"cli", "privacy_cli", "playlist_cli", "ui_processes"},
    {"definitions"},
    {"assets", "sensors", "jobs"},
    {"resources"},
    {
        "ingest",
        "transform",
        "ml",
        "spotify",
        "demo",
        "insights",
        "model_plots",
        "trend_plots",
        "platform_plots",
        "privacy",
        "audit",
        "reports",
        "build_summary",
        "sql",
        "serving",
        "maintenance",
        "inputs",
        "spark_server",
        "spark_cluster",
        "spark_idle",
        "build_lock",
        "runs",
        "event_log",
        "run_log",
        "versions",
        "serve",
    },
    {
        "tables",
        "checks",
        "columns",
        "columns_platform",
        "partitions",
        "first_play",
        "fingerprints",
        "storage",
        "spark_commit",
        "damaged",
    },
    {"vocabulary", "settings"},
]
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def unit_of(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def imported_units(tree: ast.Module) -> set[str]:
    """Units of moodlake_dagster imported anywhere in a module, except for type checking."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("moodlake_dagster"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("moodlake_")}
    return found


def test_every_module_has_a_layer():
    units = {unit_of(path) for path in PACKAGE.rglob("*.py")} - {"__init__"}
    assert units <= set(LEVEL), f"no layer for: {sorted(units - set(LEVEL))}"


def test_imports_point_down_the_layers():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = unit_of(path)
        if unit == "__init__":
            continue
        for target in imported_units(ast.parse(path.read_text())) - {unit}:
            if LEVEL[target] < LEVEL[unit]:
                upward.append(f"{path.relative_to(REPO)} imports {target}")
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def top_modules(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_vocabulary_and_settings_import_nothing_heavy():
    heavy = {"pyspark", "dagster", "pandas", "sklearn", "moodlake_dagster"}
    for name in ("vocabulary", "settings"):
        imported = top_modules(ast.parse((PACKAGE / f"{name}.py").read_text()))
        assert not imported & heavy, f"{name}.py imports {sorted(imported & heavy)}"


MAX_ASSET_BODY = 40


def test_every_asset_body_fits_a_screen():
    """Thin assets: read inputs, call one plain function, write through the catalog, return
    metadata. Training, evaluation and per-listener loops live in ml/, plots in model_plots."""
    long = []
    for path in sorted((PACKAGE / "assets").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            decorators = [ast.unparse(d) for d in getattr(node, "decorator_list", [])]
            if not any(d.startswith(("dg.asset", "dg.multi_asset")) for d in decorators):
                continue
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            lines = body[-1].end_lineno - body[0].lineno + 1
            if lines > MAX_ASSET_BODY:
                long.append(f"{path.name}:{node.name} {lines} lines")
    assert not long, "asset bodies over a screen:\n" + "\n".join(long)
