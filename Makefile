# MoodLake: `make demo` builds the lake on the embedded demo data, `make test` runs every test.
# Needs Python 3.11+ and Java 17+ (Spark runs on the JVM). Everything else installs into .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock demo test test-fast docker-test ui serve lint bench spark-stop clean check-java check-blas check-postgres check-browser check-docker

check-java:
	@java -version >/dev/null 2>&1 || { echo "Java 17+ is required (Spark runs on the JVM): e.g. apt-get install openjdk-17-jre-headless"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'

# constraints.txt pins every package to the version the tests ran on; `make lock` renews it.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: check-java check-blas $(STAMP)

# Spark's ALS solves its least squares through BLAS and LAPACK: native ones (Debian's OpenBLAS)
# when the JVM finds libblas.so.3, else Java's: the same picks (scores within 1e-7), slower on
# a crowd (a 300-listener ALS step 48 s on Java's, 32 s on OpenBLAS). Optional.
check-blas:
	@ls /usr/lib/*/libblas.so.3 >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/dev/null; } || echo "Optional: apt-get install libopenblas0-pthread gives Spark's ALS native BLAS (faster)"

# Resolve pyproject.toml afresh (newest releases its ranges admit) and rewrite constraints.txt.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e ".[dev]"
	{ head -n 3 constraints.txt; .lock-venv/bin/pip freeze --exclude-editable | grep -v moodlake; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .lock-venv
	@echo "constraints.txt renewed: run make test, then commit it"

demo: install
	$(BIN)/moodlake build

# The tests run Dagster on a real PostgreSQL (Debian's package, started on loopback by the tests).
check-postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || { echo "The tests need PostgreSQL: apt-get install postgresql"; exit 1; }

# The UI tests drive headless Chromium (Debian's chromium and chromium-driver; no download).
check-browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || { echo "The UI tests need Chromium: apt-get install chromium chromium-driver"; exit 1; }

# The deployment test (tests/test_compose.py) starts its own Docker engine from Debian's docker.io
# and builds every image from a Debian base that debootstrap makes here: no registry is needed.
check-docker:
	@{ command -v dockerd && command -v debootstrap && command -v iptables; } >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io iptables debootstrap >/dev/null; } || { echo "The deployment test needs a Docker engine: apt-get install docker.io iptables debootstrap"; exit 1; }

test: install check-postgres check-browser check-docker
	$(BIN)/pytest

# `docker compose up` for real: images built, every service healthy, an export ingested.
docker-test: install check-browser check-docker
	$(BIN)/pytest -m docker

# Every test that needs no JVM, browser or PostgreSQL (parsers, settings, pure models): < 1 min.
test-fast: install
	$(BIN)/pytest -m "not spark and not browser and not postgres and not docker"

ui: install
	$(BIN)/moodlake ui

serve: install
	$(BIN)/moodlake serve

lint: install
	$(BIN)/ruff check moodlake_dagster tests benchmarks

bench: install
	$(BIN)/python benchmarks/build_benchmark.py
	$(BIN)/python benchmarks/long_span_benchmark.py
	$(BIN)/python benchmarks/sensor_benchmark.py
	$(BIN)/python benchmarks/models_benchmark.py
	$(BIN)/python benchmarks/refit_cadence.py

spark-stop: install
	$(BIN)/moodlake spark stop

clean:
	rm -rf .moodlake
