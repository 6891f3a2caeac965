"""The deployment's dagster.yaml on a real PostgreSQL: the webserver takes a launch over
GraphQL, the daemon dequeues it, the run materializes, and every record lands in Postgres."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import pytest
from dagster_server import free_port, launch_run, running
from helpers import CATALOG_SAMPLE, REPO
from postgres_server import postgres

# A throwaway PostgreSQL cluster (tests/postgres_server.py) under the webserver and daemon.
pytestmark = pytest.mark.postgres

DAY = "2025-01-01"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """PostgreSQL, then dagster-webserver and dagster-daemon on the Docker dagster.yaml."""
    root = tmp_path_factory.mktemp("deploy")
    dagster_home = root / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO / "docker" / "dagster.yaml", dagster_home / "dagster.yaml")
    (root / "landing").mkdir()
    web_port = free_port()
    with postgres(free_port()) as pg_env:
        env = (
            os.environ
            | pg_env
            | {
                "DAGSTER_HOME": str(dagster_home),
                "MOODLAKE_HOME": str(root / "home"),
                "MOODLAKE_CATALOG": str(CATALOG_SAMPLE),
                "MOODLAKE_LANDING": str(root / "landing"),
                "MOODLAKE_PSEUDONYM_KEY": "test-key-not-secret",
            }
        )
        bin_dir = Path(sys.executable).parent
        logs = [root / "webserver.log", root / "daemon.log"]
        commands = [
            [
                str(bin_dir / "dagster-webserver"),
                "-w",
                str(REPO / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(web_port),
            ],
            [str(bin_dir / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
        ]
        with running(commands, env, logs, web_port, cwd=REPO):
            yield {"port": web_port, "pg": pg_env, "home": root / "home", "logs": logs}


@contextlib.contextmanager
def _cursor(pg: dict):
    """A cursor on the deployment's database (trust authentication: no password)."""
    import psycopg2

    with (
        psycopg2.connect(
            host=pg["DAGSTER_PG_HOST"],
            port=pg["DAGSTER_PG_PORT"],
            user=pg["DAGSTER_PG_USER"],
            dbname=pg["DAGSTER_PG_DB"],
        ) as con,
        con.cursor() as cur,
    ):
        yield cur


def test_a_run_launched_over_graphql_runs_on_postgres_storage(deployment):
    # QUEUED until the daemon's run coordinator picks it up: proof the daemon is running.
    run_id, status = launch_run(
        deployment["port"], [["bronze", "catalog_tracks"]], DAY, deployment["logs"]
    )
    assert status == "SUCCESS"
    with _cursor(deployment["pg"]) as cur:
        cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
        assert cur.fetchone() == ("SUCCESS",)
        cur.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
            (run_id, "ASSET_MATERIALIZATION"),
        )
        assert cur.fetchone() == (1,)
        cur.execute(
            "SELECT check_name, execution_status FROM asset_check_executions WHERE run_id = %s",
            (run_id,),
        )
        statuses = set(cur.fetchall())
        assert ("pandera_schema", "SUCCEEDED") in statuses
        assert not {status for _, status in statuses} & {"FAILED", "EXECUTION_FAILED"}
        cur.execute("SELECT count(*) FROM daemon_heartbeats")
        assert cur.fetchone()[0] >= 1
    assert (deployment["home"] / "lake" / "bronze" / "catalog_tracks" / "_delta_log").is_dir()


def test_an_erase_rewrites_dagsters_records_on_postgres(deployment):
    """A listener's pseudonym reaches Dagster's PostgreSQL records through a run's metadata;
    `moodlake privacy erase` leaves no cell in any table of the database naming them."""
    import json
    import subprocess

    from helpers import EXTENDED

    from moodlake_dagster.ingest.privacy import pseudonymize

    account, key = "pg.listener.2025", "test-key-not-secret"
    user_id = pseudonymize(account, key.encode())
    records = json.loads((EXTENDED / "Streaming_History_Audio_2024.json").read_text())
    plays = [r | {"ts": DAY + r["ts"][10:]} for r in records if r["ts"][:10] == "2024-07-21"]
    folder = deployment["home"].parent / "landing" / account
    folder.mkdir()
    (folder / "Streaming_History_Audio_2025.json").write_text(json.dumps(plays))
    run_id, status = launch_run(
        deployment["port"], [["bronze", "listening_events"]], DAY, deployment["logs"]
    )
    assert status == "SUCCESS"
    pg = deployment["pg"]

    def cells_naming(needle: str) -> int:
        with _cursor(pg) as cur:
            cur.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')"
            )
            found = 0
            for table, column in cur.fetchall():
                cur.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}" LIKE %s', (f"%{needle}%",)
                )
                found += cur.fetchone()[0]
            return found

    assert cells_naming(user_id) > 0  # the preview of the Bronze rows names them
    env = (
        os.environ
        | pg
        | {
            "DAGSTER_HOME": str(deployment["home"].parent / "dagster"),
            "MOODLAKE_HOME": str(deployment["home"]),
            "MOODLAKE_CATALOG": str(CATALOG_SAMPLE),
            "MOODLAKE_LANDING": str(deployment["home"].parent / "landing"),
            "MOODLAKE_PSEUDONYM_KEY": key,
        }
    )
    erase = subprocess.run(
        [
            str(Path(sys.executable).parent / "moodlake"),
            "privacy",
            "erase",
            "--user",
            account,
            "--yes",
            "--no-rebuild",
            "--landing",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert erase.returncode == 0, erase.stdout + erase.stderr
    assert "proof: no file" in erase.stdout
    assert cells_naming(user_id) == 0 and cells_naming(account) == 0
