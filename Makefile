# MoodLake: `make demo` builds the lake on the embedded demo data, `make test` runs every test.
# Needs Python 3.11+ and Java 17+ (Spark runs on the JVM). Everything else installs into .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test ui lint bench spark-stop clean check-java

check-java:
	@java -version >/dev/null 2>&1 || { echo "Java 17+ is required (Spark runs on the JVM): e.g. apt-get install openjdk-17-jre-headless"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: check-java $(STAMP)

demo: install
	$(BIN)/moodlake build

test: install
	$(BIN)/pytest

ui: install
	$(BIN)/moodlake ui

lint: install
	$(BIN)/ruff check moodlake_dagster tests benchmarks

bench: install
	$(BIN)/python benchmarks/build_benchmark.py
	$(BIN)/python benchmarks/sensor_benchmark.py
	$(BIN)/python benchmarks/models_benchmark.py

spark-stop: install
	$(BIN)/moodlake spark stop

clean:
	rm -rf .moodlake
