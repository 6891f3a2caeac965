"""The Docker deployment, proven as far as a machine without a Docker engine can: the compose
file's structure, and that the image installs exactly what the README's install does."""

from __future__ import annotations

import re

import pytest
import yaml
from helpers import REPO

DOCKER = REPO / "docker"
SERVICES = {"postgres", "spark", "code", "webserver", "daemon", "trino", "superset"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def test_every_service_is_there_with_a_healthcheck(compose):
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    assert set(compose["volumes"]) == {"postgres", "lake"}


def test_services_share_the_lake_and_publish_only_on_loopback(compose):
    services = compose["services"]
    for name in ("spark", "code", "webserver", "daemon", "trino"):
        assert "lake:/data/moodlake" in services[name]["volumes"], name
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_dagster_services_run_on_postgres_and_wait_for_it(compose):
    services = compose["services"]
    for name in ("code", "webserver", "daemon"):
        env = services[name]["environment"]
        assert env["DAGSTER_PG_HOST"] == "postgres"
        assert env["MOODLAKE_SPARK_REMOTE"] == "sc://spark:15002"
        assert env["MOODLAKE_HOME"] == "/data/moodlake"
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
    for secret in ("DAGSTER_PG_PASSWORD", "MOODLAKE_PSEUDONYM_KEY", "SUPERSET_SECRET_KEY"):
        # Required from docker/.env: compose refuses to start without them.
        assert re.search(rf"\$\{{{secret}:\?", text), secret
    example = (DOCKER / ".env.example").read_text()
    assert re.search(r"^DAGSTER_PG_PASSWORD=$", example, re.M)


def test_the_image_installs_what_the_readme_installs():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    makefile = (REPO / "Makefile").read_text()
    # The same Java the CI script installs, the same package from the same pyproject.toml.
    assert "openjdk-17-jre-headless" in dockerfile
    assert "openjdk-17-jre-headless" in (REPO / ".ci" / "run").read_text()
    assert (
        "COPY pyproject.toml" in dockerfile
        and "pip install --no-cache-dir -c constraints.txt -e ." in dockerfile
    )
    assert (
        'pip install --quiet -c constraints.txt -e ".[dev]"' in makefile
    )  # the same, plus the test tools
    assert "COPY docker/dagster.yaml" in dockerfile  # the file test_postgres_instance runs
    python = re.search(r"FROM python:(\d+\.\d+)", dockerfile).group(1)
    pyproject = (REPO / "pyproject.toml").read_text()
    minimum = re.search(r'requires-python = ">=(\d+\.\d+)"', pyproject).group(1)
    assert tuple(map(int, python.split("."))) >= tuple(map(int, minimum.split(".")))
