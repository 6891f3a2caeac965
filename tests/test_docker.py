"""The Docker deployment's files, read: what must hold before anything is built. The images and
the running stack are proven in tests/test_compose.py."""

from __future__ import annotations

import re

import pytest
import yaml
from docker_stack import SERVICES as DEFAULT
from helpers import REPO

DOCKER = REPO / "docker"
TRINO = {"trino", "trino-init"}
LAKE = "lake:/data/moodlake"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def test_every_service_has_a_healthcheck_and_trino_waits_for_its_profile(compose):
    services = compose["services"]
    assert set(services) == DEFAULT | TRINO
    for name in DEFAULT:
        assert "profiles" not in services[name], name
        assert services[name]["healthcheck"]["test"], name
    for name in TRINO:
        assert services[name]["profiles"] == ["trino"], name


def test_pid_1_passes_sigterm_on_in_every_container(compose):
    for name, service in compose["services"].items():
        assert service.get("init") is True, name


def test_images_are_built_here_from_a_base_given_as_an_argument(compose):
    services = compose["services"]
    built = {name for name in DEFAULT if "build" in services[name]}
    assert built == {"postgres", "code", "superset"}  # the MoodLake image once, by `code`
    for name in DEFAULT - built:
        assert services[name]["image"] == services["code"]["image"], name
    for name in built:
        build = services[name]["build"]
        assert build["args"]["BASE_IMAGE"].startswith("${MOODLAKE_BASE_IMAGE:-"), name
        dockerfile = (REPO / build["dockerfile"]).read_text()
        assert re.search(r"^ARG BASE_IMAGE=\S+\nFROM \$\{BASE_IMAGE\}$", dockerfile, re.M), name


def test_spark_is_a_cluster_of_the_clients_own_pyspark(compose):
    # One Spark version on both sides: every Spark process comes from the package the client
    # imports; the Connect server's executors run on the workers.
    services = compose["services"]
    script = (DOCKER / "spark.sh").read_text()
    assert "import os, pyspark" in script
    for name, role in (
        ("spark-master", "master"),
        ("spark-worker", "worker"),
        ("spark", "connect"),
    ):
        assert services[name]["image"] == services["code"]["image"] == "moodlake:latest"
        assert services[name]["command"] == ["moodlake-spark", role]
        assert f"  {role})" in script
    assert 'MASTER="${SPARK_MASTER_URL:-spark://spark-master:7077}"' in script
    # Scalable: a worker publishes no port and has no fixed name.
    assert (
        "ports" not in services["spark-worker"] and "container_name" not in services["spark-worker"]
    )
    assert services["spark"]["depends_on"]["spark-worker"]["condition"] == "service_healthy"


def test_services_share_the_lake_and_publish_only_on_loopback(compose):
    services = compose["services"]
    for name in ("spark", "spark-worker", "code", "webserver", "daemon", "trino"):
        assert LAKE in services[name]["volumes"], name
    assert f"{LAKE}:ro" in services["superset"]["volumes"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_the_sensor_watches_the_mounted_landing_folder(compose):
    services = compose["services"]
    for name in ("code", "daemon"):
        landing = services[name]["environment"]["MOODLAKE_LANDING"]
        assert f"${{MOODLAKE_LANDING_DIR:-./landing}}:{landing}" in services[name]["volumes"]


def test_dagster_services_run_on_postgres_and_wait_for_it(compose):
    services = compose["services"]
    for name in ("code", "webserver", "daemon"):
        env = services[name]["environment"]
        assert env["DAGSTER_PG_HOST"] == "postgres"
        assert env["MOODLAKE_SPARK_REMOTE"] == "sc://spark:15002"
        assert env["MOODLAKE_HOME"] == "/data/moodlake"
        for setting in ("MOODLAKE_USER_TIMEZONES", "MOODLAKE_SPOTIFY_CLIENT_ID"):
            assert env[setting] == f"${{{setting}:-}}", (name, setting)
    assert services["code"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["code"]["condition"] == "service_healthy"
        assert "workspace.yaml" in " ".join(services[name]["command"])
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    (grpc,) = [entry["grpc_server"] for entry in workspace["load_from"]]
    assert grpc["host"] == "code" and grpc["location_name"] == "moodlake"
    assert f'"-p", "{grpc["port"]}"' in (DOCKER / "Dockerfile").read_text()
    instance = yaml.safe_load((DOCKER / "dagster.yaml").read_text())
    db = instance["storage"]["postgres"]["postgres_db"]
    assert db["hostname"] == {"env": "DAGSTER_PG_HOST"}
    assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_secrets_come_from_the_environment_never_the_file(compose):
    text = (DOCKER / "docker-compose.yml").read_text()
    for secret in (
        "DAGSTER_PG_PASSWORD",
        "MOODLAKE_PSEUDONYM_KEY",
        "SUPERSET_SECRET_KEY",
        "SUPERSET_ADMIN_PASSWORD",
    ):
        # Required from docker/.env: compose refuses to start without them.
        assert re.search(rf"\$\{{{secret}:\?", text), secret
        assert re.search(rf"^{secret}=$", (DOCKER / ".env.example").read_text(), re.M), secret


def test_the_image_installs_what_the_readme_installs():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    # The same Java the CI script installs, the package from the same pyproject.toml at the
    # versions make install uses.
    assert "openjdk-17-jre-headless" in dockerfile
    assert "openjdk-17-jre-headless" in (REPO / ".ci" / "run").read_text()
    assert "-c constraints.txt -r /tmp/requirements.txt" in dockerfile
    assert "['project']['dependencies']" in dockerfile
    assert "-c constraints.txt" in (REPO / "Makefile").read_text()
    assert "COPY docker/dagster.yaml" in dockerfile  # the file test_postgres_instance runs
    python = re.search(r"ARG BASE_IMAGE=python:(\d+\.\d+)", dockerfile).group(1)
    pyproject = (REPO / "pyproject.toml").read_text()
    minimum = re.search(r'requires-python = ">=(\d+\.\d+)"', pyproject).group(1)
    assert tuple(map(int, python.split("."))) >= tuple(map(int, minimum.split(".")))


def test_no_certificate_or_environment_file_is_committed():
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "docker/certs/*.pem" in ignored and ".env" in ignored
    assert "docker/.env" in (REPO / ".dockerignore").read_text().splitlines()
