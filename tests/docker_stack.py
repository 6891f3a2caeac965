"""The Docker deployment for the tests: an engine, an offline base image, the compose project.

Nothing is pulled from a registry. The base image is Debian bookworm made here with
debootstrap (from apt's own mirror) and `docker import`; every service's image is built from it
through the same compose file a user runs, with ports published on free loopback ports.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_server import free_port
from helpers import REPO

BASE_IMAGE = "moodlake-base:bookworm"
# The services `docker compose up` starts (Trino waits for `--profile trino`).
SERVICES = {
    "postgres",
    "spark-master",
    "spark-worker",
    "spark",
    "code",
    "webserver",
    "daemon",
    "superset",
}
SPARK_WORKERS = 2  # `--scale spark-worker=2`: executors on two worker containers
PROJECT = "moodlake-test"
COMPOSE = [str(Path(sys.executable).with_name("docker-compose"))]
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode:
        pytest.fail(
            f"docker {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result


def engine_answers() -> bool:
    return (
        shutil.which("docker") is not None
        and docker("info", timeout=30, check=False).returncode == 0
    )


@contextlib.contextmanager
def engine(workdir: Path) -> Iterator[None]:
    """A Docker engine for the test: one already running is used and left running; otherwise
    `dockerd` is started here and stopped by its process id at the end."""
    if engine_answers():
        yield
        return
    if not shutil.which("dockerd"):
        pytest.fail(
            "no Docker engine: `make test` installs Debian's docker.io, iptables and debootstrap "
            "when run as root (apt-get install docker.io iptables debootstrap)"
        )
    with open(workdir / "dockerd.log", "wb") as log:
        process = subprocess.Popen(
            ["dockerd", "--storage-driver=overlay2", "--pidfile", str(workdir / "dockerd.pid")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not engine_answers():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"dockerd did not start:\n{(workdir / 'dockerd.log').read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def base_image(workdir: Path) -> str:
    """Debian bookworm as an image, made offline once (images stay in the engine's store)."""
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return BASE_IMAGE
    rootfs = workdir / "rootfs"
    subprocess.run(
        ["debootstrap", "--variant=minbase", "bookworm", str(rootfs)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "import", "-", BASE_IMAGE], stdin=tar.stdout, check=True, timeout=600)
    tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)
    return BASE_IMAGE


def host_certificates() -> None:
    """pip inside a build trusts what the host trusts (docker/certs/README.md)."""
    if HOST_CA.exists():
        shutil.copyfile(HOST_CA, REPO / "docker" / "certs" / "ca.pem")


class Stack:
    """The compose project as the tests drive it: published ports, secrets and the landing
    folder chosen here, commands run from docker/ as a user would."""

    def __init__(self, workdir: Path, base: str):
        self.landing = workdir / "landing"
        self.landing.mkdir()
        self.ports = {
            name: free_port()
            for name in (
                "MOODLAKE_PG_PORT",
                "MOODLAKE_SPARK_PORT",
                "MOODLAKE_SPARK_UI_PORT",
                "MOODLAKE_UI_PORT",
                "MOODLAKE_SUPERSET_PORT",
            )
        }
        self.secrets = {
            "DAGSTER_PG_PASSWORD": secrets.token_urlsafe(12),
            "MOODLAKE_PSEUDONYM_KEY": secrets.token_urlsafe(24),
            "SUPERSET_SECRET_KEY": secrets.token_urlsafe(32),
            "SUPERSET_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        }
        values = (
            self.ports
            | self.secrets
            | {
                "MOODLAKE_BASE_IMAGE": base,
                "MOODLAKE_LANDING_DIR": str(self.landing),
                "MOODLAKE_LANDING_SETTLE_S": "1",
            }
        )
        self.env_file = workdir / "compose.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        self.logs = workdir / "compose.log"

    def compose(self, *args: str, timeout: float = 1800, check: bool = True):
        command = [*COMPOSE, "--env-file", str(self.env_file), "-p", PROJECT, *args]
        environment = os.environ | {"DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
        result = subprocess.run(
            command,
            cwd=REPO / "docker",
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
        with open(self.logs, "a") as log:
            log.write(f"$ {' '.join(args)}\n{result.stdout}{result.stderr}\n")
        if check and result.returncode:
            pytest.fail(
                f"docker compose {' '.join(args)} failed:\n{result.stdout[-3000:]}"
                f"{result.stderr[-4000:]}\n{self.service_logs()}"
            )
        return result

    def services(self) -> list[dict]:
        out = self.compose("ps", "--all", "--format", "json").stdout
        lines = [line for line in out.splitlines() if line.strip()]
        return [json.loads(line) for line in lines]

    def service_logs(self, tail: int = 40) -> str:
        result = subprocess.run(
            [
                *COMPOSE,
                "--env-file",
                str(self.env_file),
                "-p",
                PROJECT,
                "logs",
                "--no-color",
                "--tail",
                str(tail),
            ],
            cwd=REPO / "docker",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return result.stdout[-12000:]

    def volume_path(self, volume: str) -> Path:
        """Where a named volume lives on this machine (the tests run as root, as the engine)."""
        found = docker("volume", "inspect", f"{PROJECT}_{volume}").stdout
        return Path(json.loads(found)[0]["Mountpoint"])

    def port(self, name: str) -> int:
        return self.ports[name]


@contextlib.contextmanager
def stack() -> Iterator[Stack]:
    """Engine, images and `docker compose up -d --wait`; `down -v` at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="moodlake-docker-", dir="/tmp"))
    with engine(workdir):
        base = base_image(workdir)
        host_certificates()
        deployment = Stack(workdir, base)
        deployment.compose("down", "--volumes", "--remove-orphans", timeout=300)
        deployment.compose("build", timeout=3600)
        deployment.compose(
            "up",
            "--detach",
            "--wait",
            "--wait-timeout",
            "600",
            "--scale",
            f"spark-worker={SPARK_WORKERS}",
            timeout=900,
        )
        try:
            yield deployment
        finally:
            deployment.compose("down", "--volumes", "--remove-orphans", timeout=300, check=False)
            shutil.rmtree(workdir, ignore_errors=True)
