"""`docker compose up` for real: the deployment in docker/ starts on this machine, an export
dropped into its landing folder reaches Silver and Gold through the daemon's sensors, Dagster
keeps its records in the PostgreSQL service, Superset shows the lake, and every service stops
on SIGTERM. The images are built offline from a Debian base made here (tests/docker_stack.py).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
import time
import urllib.request

import pytest
from browser import chromium
from dagster_server import RUN_DONE, graphql, start_sensor, wait_for
from deltalake import DeltaTable
from docker_stack import SERVICES, SPARK_WORKERS, stack
from helpers import CATALOG_SAMPLE, REPO

from moodlake_dagster.demo.generator import generate_history

pytestmark = pytest.mark.docker

SENSORS = ("landing_history_sensor", "listening_snapshot_sensor")
START = dt.date(2025, 3, 1)
DAYS = 21
RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status jobName } }
  }
}
"""
ASSETS = """
query Assets($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    assetMaterializations(limit: 1) { runId }
    assetChecksOrError {
      ... on AssetChecks {
        checks { name executionForLatestMaterialization { status } }
      }
    }
  }
}
"""
SHOWN = [
    ["silver", "plays"],
    ["gold", "mood_by_hour"],
    ["gold", "recommendations"],
    ["serving", "duckdb"],
]


@pytest.fixture(scope="module")
def deployment():
    with stack() as running:
        yield running


@pytest.fixture(scope="module")
def landed(deployment, tmp_path_factory):
    """Both sensors started over GraphQL, one listener's export moved into the landing folder,
    and the runs they make finished: {'records': plays in the export, 'runs': the runs}."""
    port = deployment.port("MOODLAKE_UI_PORT")
    for name in SENSORS:
        started = start_sensor(port, name)
        assert started["__typename"] == "Sensor", started
    staging = tmp_path_factory.mktemp("export")
    (export,) = generate_history(CATALOG_SAMPLE, staging, users=1, start=START, days=DAYS)
    records = len(json.loads(export.read_text()))
    shutil.move(export.parent, deployment.landing / "alice")

    def snapshot_done():
        runs = graphql(port, RUNS, {"filter": {"pipelineName": "listening_snapshots"}})
        finished = [r for r in runs["runsOrError"]["results"] if r["status"] in RUN_DONE]
        return finished or None

    logs = [deployment.logs]
    wait_for(snapshot_done, 1500, "the snapshot run after the landed export", logs, every_s=5)
    runs = graphql(port, RUNS, {"filter": {}})["runsOrError"]["results"]
    return {"records": records, "runs": runs, "port": port}


def test_every_service_is_up_and_healthy(deployment):
    containers = deployment.services()
    assert {c["Service"] for c in containers} == SERVICES  # Trino only with `--profile trino`
    assert sum(c["Service"] == "spark-worker" for c in containers) == SPARK_WORKERS
    for container in containers:
        assert container["State"] == "running", (container["Name"], container["Status"])
        assert container["Health"] == "healthy", (container["Name"], container["Status"])


def test_a_dropped_export_reaches_silver_and_gold(deployment, landed):
    failed = [r for r in landed["runs"] if r["status"] != "SUCCESS"]
    assert not failed, f"{failed}\n{deployment.service_logs()}"
    jobs = {r["jobName"] for r in landed["runs"]}
    assert {"listening_history", "listening_snapshots"} <= jobs
    nodes = graphql(landed["port"], ASSETS, {"keys": [{"path": k} for k in SHOWN]})["assetNodes"]
    assert len(nodes) == len(SHOWN)
    for node in nodes:
        assert node["assetMaterializations"], node["assetKey"]
        checks = node["assetChecksOrError"]["checks"]
        assert checks, node["assetKey"]
        for check in checks:
            status = (check["executionForLatestMaterialization"] or {}).get("status")
            assert status == "SUCCEEDED", (node["assetKey"], check)
    lake = deployment.volume_path("lake") / "lake"
    bronze = DeltaTable(str(lake / "bronze" / "listening_events")).to_pyarrow_table()
    assert bronze.num_rows == landed["records"]
    plays = DeltaTable(str(lake / "silver" / "plays")).to_pyarrow_table(columns=["user_id"])
    assert 0 < plays.num_rows <= landed["records"]
    # Pseudonymised on ingest: the account's name is nowhere in Silver.
    assert "alice" not in set(plays.column("user_id").to_pylist())


def test_dagster_keeps_its_records_in_the_postgres_service(deployment, landed):
    import psycopg2

    connection = psycopg2.connect(
        host="127.0.0.1",
        port=deployment.port("MOODLAKE_PG_PORT"),
        user="dagster",
        password=deployment.secrets["DAGSTER_PG_PASSWORD"],
        dbname="dagster",
    )
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT run_id, status FROM runs")
        in_postgres = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        )
        materializations = cursor.fetchone()[0]
    connection.close()
    assert in_postgres == {r["runId"]: r["status"] for r in landed["runs"]}
    assert materializations > 0
    # Nor is any SQLite storage made beside it in the code location or the daemon.
    for service in ("code", "daemon"):
        listing = deployment.compose(
            "exec", "-T", service, "find", "/opt/dagster/dagster_home", "-name", "*.db"
        ).stdout
        assert listing.strip() == "", (service, listing)


def test_the_build_ran_on_every_spark_worker(deployment, landed):
    """The master lists each scaled worker ALIVE, each runs an executor of the Connect server's
    application, and each executor finished tasks of the runs the export caused."""
    url = f"http://127.0.0.1:{deployment.port('MOODLAKE_SPARK_UI_PORT')}/json/"
    with urllib.request.urlopen(url, timeout=10) as response:
        master = json.load(response)
    workers = [w for w in master["workers"] if w["state"] == "ALIVE"]
    assert len(workers) == SPARK_WORKERS
    (app,) = [a for a in master["activeapps"] if a["name"] == "moodlake-spark-connect"]
    assert all(w["coresused"] > 0 for w in workers), workers
    for index in range(1, SPARK_WORKERS + 1):
        logs = deployment.compose(
            "exec",
            "-T",
            "--index",
            str(index),
            "spark-worker",
            "sh",
            "-c",
            f"cat /tmp/spark-work/{app['id']}/*/stderr",
        ).stdout
        assert "Finished task" in logs, f"worker {index}: {logs[-2000:]}"


def superset_probe():
    """docker/superset/probe.py: the service's REST API, as the test asks it."""
    spec = importlib.util.spec_from_file_location("probe", REPO / "docker/superset/probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_supersets_starter_dashboard_shows_this_lake(deployment, landed, tmp_path):
    import duckdb
    from selenium.webdriver.common.by import By

    base = f"http://127.0.0.1:{deployment.port('MOODLAKE_SUPERSET_PORT')}"
    password = deployment.secrets["SUPERSET_ADMIN_PASSWORD"]
    probe = superset_probe()
    token = probe.login(base, "admin", password)
    charts = {c["name"]: c["id"] for c in probe.dashboard(base, token, "MoodLake")["charts"]}
    assert set(charts) == {"Mood by hour of day", "Top genres", "Recommendations and why"}
    # The recommendations chart lists exactly the latest snapshot's picks in the served file.
    served = deployment.volume_path("lake") / "serving" / "moodlake.duckdb"
    with duckdb.connect(str(served), read_only=True) as con:
        (expected,) = con.execute(
            "SELECT count(*) FROM gold.recommendations "
            "WHERE as_of_date = (SELECT max(as_of_date) FROM gold.recommendations)"
        ).fetchone()
    rows = probe.chart_rows(base, token, charts["Recommendations and why"])
    assert expected > 0 and len(rows) == expected
    assert {r["mode"] for r in rows} == {"mirror", "coach"}
    hours = probe.chart_rows(base, token, charts["Mood by hour of day"])
    assert hours and all(0 <= r["local_hour"] <= 23 for r in hours)

    shot = REPO / "tests" / "artifacts" / "superset-dashboard.png"
    shot.parent.mkdir(exist_ok=True)
    with chromium(tmp_path / "profile") as browser:
        browser.get(f"{base}/login/")
        browser.find_element(By.ID, "username").send_keys("admin")
        browser.find_element(By.ID, "password").send_keys(password)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
        time.sleep(2)
        browser.get(f"{base}/superset/dashboard/moodlake/")
        containers = browser.find_elements(By.CSS_SELECTOR, "[data-test=chart-container]")
        assert len(containers) == 3
        # The table chart renders a row per pick; the line and bar charts draw on canvases.
        wait_for(
            lambda: len(browser.find_elements(By.CSS_SELECTOR, "table tbody tr")) >= expected,
            60,
            "the recommendations table to render",
            [deployment.logs],
        )
        assert len(browser.find_elements(By.CSS_SELECTOR, "canvas")) >= 2
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-test=error-message]")
        browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_every_service_stops_on_sigterm_within_15_s(deployment, landed):
    deployment.compose("stop", "--timeout", "15", timeout=120)
    for service in deployment.services():
        # 137 is SIGKILL: what compose sends a container still running after 15 s.
        assert service["State"] == "exited", service
        assert service["ExitCode"] != 137, (service["Service"], service["Status"])
