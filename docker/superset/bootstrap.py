"""Create the admin and the starter dashboard from dashboard.yaml, idempotently, at each start.

The definition becomes a Superset import bundle (the versioned format of its export/import)
with UUIDs derived from names, imported in-process with overwrite: a restart updates what is
there instead of duplicating it. The bundle format was chosen over hand-built ORM rows because
Superset's importer maps UUIDs to ids for us (dataset ids inside each chart's saved query
context, chart ids inside the dashboard layout) and validates every file. Nothing here opens
the lake file, so the dashboard exists before the lake is built; charts answer once it appears.
"""

import json
import os
import sys
import uuid
from pathlib import Path

import yaml
from superset.app import create_app

DEFINITION = Path(os.environ.get("MOODLAKE_DASHBOARD", Path(__file__).with_name("dashboard.yaml")))
NAMESPACE = uuid.UUID("6f0c3e52-2d0e-4c5e-9a57-1c1a4be5f0d1")
VIZ = {"line": "echarts_timeseries_line", "bar": "echarts_timeseries_bar", "table": "table"}
ROW_LIMIT = 10000


def _uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}/{name}"))


def _metric(column: str) -> dict:
    return {
        "expressionType": "SIMPLE",
        "column": {"column_name": column},
        "aggregate": "AVG",
        "label": column,
    }


def _chart(chart: dict, dataset_uuid: str) -> dict:
    """A chart's form data plus the query context Superset's chart data API replays."""
    viz = VIZ[chart["viz"]]
    if viz == "table":
        params = {"query_mode": "raw", "all_columns": chart["columns"], "order_by_cols": []}
        query = {"columns": chart["columns"], "metrics": [], "orderby": []}
    else:
        metrics = [_metric(m) for m in chart["metrics"]]
        # A line runs along x; bars stand tallest first.
        by, ascending = (chart["x"], True) if viz != VIZ["bar"] else (chart["metrics"][0], False)
        params = {
            "x_axis": chart["x"],
            "metrics": metrics,
            "groupby": [],
            "x_axis_sort": by,
            "x_axis_sort_asc": ascending,
            "show_legend": True,
            "rich_tooltip": True,
        }
        query = {"columns": [chart["x"]], "metrics": metrics, "orderby": [[by, ascending]]}
    params |= {"viz_type": viz, "adhoc_filters": [], "row_limit": ROW_LIMIT}
    query |= {"filters": [], "extras": {}, "row_limit": ROW_LIMIT}
    context = {
        "datasource": {"id": 0, "type": "table"},
        "queries": [query],
        "form_data": params,
        "result_format": "json",
        "result_type": "full",
        "force": False,
    }
    return {
        "slice_name": chart["title"],
        "viz_type": viz,
        "params": params,
        "query_context": json.dumps(context),
        "cache_timeout": None,
        "uuid": _uuid("chart", chart["title"]),
        "version": "1.0.0",
        "dataset_uuid": dataset_uuid,
    }


def _layout(charts: list[dict], title: str) -> dict:
    """Two charts per row, full width for a table."""
    layout = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": title}},
    }
    row = None
    for n, chart in enumerate(charts):
        width = 12 if chart["viz_type"] == "table" else 6
        if row is None or width == 12 or len(layout[row]["children"]) == 2:
            row = f"ROW-{n}"
            layout["GRID_ID"]["children"].append(row)
            layout[row] = {
                "type": "ROW",
                "id": row,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID"],
                "meta": {"background": "BACKGROUND_TRANSPARENT"},
            }
        key = f"CHART-{n}"
        layout[row]["children"].append(key)
        layout[key] = {
            "type": "CHART",
            "id": key,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID", row],
            "meta": {
                "width": width,
                "height": 60 if width == 12 else 50,
                "chartId": 0,
                "uuid": chart["uuid"],
                "sliceName": chart["slice_name"],
            },
        }
    return layout


def bundle(definition: dict) -> dict[str, dict]:
    """The import bundle's files (without metadata.yaml), by path."""
    db = definition["database"]
    db_uuid = _uuid("database", db["name"])
    files = {
        "databases/moodlake.yaml": {
            "database_name": db["name"],
            "sqlalchemy_uri": db["sqlalchemy_uri"],
            "extra": db.get("extra", {}),
            "expose_in_sqllab": True,
            "allow_dml": False,
            "allow_ctas": False,
            "allow_cvas": False,
            "allow_run_async": False,
            "allow_file_upload": False,
            "cache_timeout": None,
            "uuid": db_uuid,
            "version": "1.0.0",
        }
    }
    for name, ds in definition["datasets"].items():
        files[f"datasets/moodlake/{name}.yaml"] = {
            "table_name": name,
            "schema": None,
            "sql": ds["sql"],
            "uuid": _uuid("dataset", name),
            "database_uuid": db_uuid,
            "version": "1.0.0",
            "filter_select_enabled": True,
            "metrics": [{"metric_name": "count", "expression": "COUNT(*)", "metric_type": "count"}],
            "columns": [
                {"column_name": c, "type": t, "is_dttm": False, "groupby": True, "filterable": True}
                for c, t in ds["columns"].items()
            ],
        }
    dash = definition["dashboard"]
    charts = [_chart(c, _uuid("dataset", c["dataset"])) for c in dash["charts"]]
    for chart in charts:
        files[f"charts/{chart['uuid']}.yaml"] = chart
    files["dashboards/moodlake.yaml"] = {
        "dashboard_title": dash["title"],
        "slug": dash.get("slug"),
        "uuid": _uuid("dashboard", dash["title"]),
        "position": _layout(charts, dash["title"]),
        "metadata": {"native_filter_configuration": []},
        "css": "",
        "published": True,
        "version": "1.0.0",
    }
    return files


def ensure_admin(security_manager, username: str, password: str) -> None:
    """The admin from the environment; an existing one gets the environment's password back."""
    user = security_manager.find_user(username=username)
    if user is None:
        role = security_manager.find_role("Admin")
        if not security_manager.add_user(
            username, "MoodLake", "Admin", f"{username}@moodlake.local", role, password=password
        ):
            sys.exit(f"could not create the admin {username}")
    else:
        security_manager.reset_password(user.id, password)


def main() -> None:
    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.chart.importers.v1 import ImportChartsCommand
        from superset.commands.dashboard.importers.v1 import ImportDashboardsCommand
        from superset.commands.database.importers.v1 import ImportDatabasesCommand
        from superset.commands.dataset.importers.v1 import ImportDatasetsCommand
        from superset.utils.core import override_user

        username = os.environ["SUPERSET_ADMIN_USERNAME"]
        ensure_admin(security_manager, username, os.environ["SUPERSET_ADMIN_PASSWORD"])
        files = {
            path: yaml.safe_dump(body)
            for path, body in bundle(yaml.safe_load(DEFINITION.read_text())).items()
        }
        # Each command overwrites only its own kind, so one pass per kind, parents first.
        steps = [
            (ImportDatabasesCommand, "Database"),
            (ImportDatasetsCommand, "SqlaTable"),
            (ImportChartsCommand, "Slice"),
            (ImportDashboardsCommand, "Dashboard"),
        ]
        with override_user(security_manager.find_user(username=username)):
            for command, kind in steps:
                meta = {"version": "1.0.0", "type": kind, "timestamp": "2025-01-01T00:00:00+00:00"}
                command({"metadata.yaml": yaml.safe_dump(meta), **files}, overwrite=True).run()
    print(f"bootstrap: {len(files)} objects from {DEFINITION}")


if __name__ == "__main__":
    main()
