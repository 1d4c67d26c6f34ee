# demandcast: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DBT_PROFILES_DIR := profiles
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
DEMO_DIR := data/demo

.PHONY: setup browser demo bi lint test ci-check bench bench-scale accuracy replay competition clean

# uv installs the packages pyproject pins (the same versions pip resolves, in about 10 s
# instead of 45), without compiling them: Python writes a module's bytecode the first time
# it is imported, so only what runs is compiled (about 4,500 of the 11,700 modules;
# compiling all of them took 41 s on 2 cores). make's commands write it even where
# PYTHONDONTWRITEBYTECODE is set, as on this machine: without the cache, every process
# (test workers, each dbt subprocess) would compile dbt and pandas again.
export PYTHONDONTWRITEBYTECODE :=
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python
$(BIN)/dbt: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==0.13.9
	$(UV) -e ".[dev]"
	touch $(BIN)/dbt

# DuckDB 1.0.0, the oldest client the published copy is written for, in a folder of its
# own (tests/python/test_bi.py opens the copy with it; never on the package's path).
OLD_DUCKDB := $(VENV)/duckdb-1.0.0
$(OLD_DUCKDB)/duckdb/__init__.py: | $(BIN)/dbt
	$(UV) --no-deps --target $(OLD_DUCKDB) duckdb==1.0.0

setup: $(BIN)/dbt $(OLD_DUCKDB)/duckdb/__init__.py  ## create .venv and install demandcast with its pinned tools

# The report test opens the report in headless Chromium (Debian's package; nothing is
# downloaded at test time). Installed only when missing; CI (CI set) must have it.
browser:  ## install Debian's chromium for the report test, when missing
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  fi; \
	  command -v chromium >/dev/null || { \
	    echo "make browser: chromium is not installed and could not be; the report test will fail in CI, skip elsewhere" >&2; \
	    [ -z "$$CI" ]; }; }

$(DEMO_DIR)/orders.parquet: | $(BIN)/dbt
	$(BIN)/demandcast demo --out $(DEMO_DIR)

# The demo plant has run the system a while: two builds at earlier origins (13 and 26
# weeks back, the fast candidate set) before today's, so the monitoring tables score
# forecasts the actuals have since covered. Origins the warehouse holds are not rebuilt.
demo: setup $(DEMO_DIR)/orders.parquet  ## generate the demo plant, build every table, write the report
	$(BIN)/demandcast build --raw $(DEMO_DIR) --past-origins 2 --past-vars '{candidates: fast}'
	$(BIN)/demandcast report --db warehouse/dev_published.duckdb --warehouse warehouse/dev.duckdb \
	  --out reports/forecast.html

# The planners' BI app (bi/app.py, Streamlit) over the published copy, on this machine only.
DEMANDCAST_PUBLISHED ?= warehouse/dev_published.duckdb
bi: setup  ## serve the BI app over $(DEMANDCAST_PUBLISHED) on http://127.0.0.1:8501
	@test -f "$(DEMANDCAST_PUBLISHED)" || { echo "make bi: $(DEMANDCAST_PUBLISHED) does not exist: run make demo first, or set DEMANDCAST_PUBLISHED" >&2; exit 1; }
	cd bi && ../$(BIN)/streamlit run app.py -- --db "$(abspath $(DEMANDCAST_PUBLISHED))"

lint: setup  ## ruff on the package, sqlfluff on the SQL
	$(BIN)/ruff check src tests scripts python_models bi
	$(BIN)/ruff format --check src tests scripts python_models bi
	DEMANDCAST_RAW_PATH=$(DEMO_DIR) $(BIN)/sqlfluff lint models tests/data
# dbt-score: docs and tests of every node, 10.0. The same environment, profile and target
# as sqlfluff's dbt templater (.sqlfluff names neither): dbt reuses its saved parse.
	DEMANDCAST_RAW_PATH=$(DEMO_DIR) $(BIN)/dbt-score lint --run-dbt-parse --show failing-items

# pytest holds what ci-check runs (test_dbt_build's gated default-catalog build on the ci
# target, then `demandcast check` and `report`), on a worker beside the other tests.
test: setup browser lint  ## the whole test suite (what CI runs)
	$(BIN)/pytest --durations=15

ci-check: setup  ## by hand: build a 60-product demo on the ci target with every gate, then the standalone check
	$(BIN)/demandcast demo --out data/ci --products 60
	$(BIN)/demandcast build --target ci --raw data/ci
	DEMANDCAST_RAW_PATH=data/ci $(BIN)/dbt source freshness --target ci
	$(BIN)/demandcast check --db warehouse/ci.duckdb
	$(BIN)/demandcast report --db warehouse/ci_published.duckdb --warehouse warehouse/ci.duckdb \
	  --out reports/forecast_ci.html

bench: setup  ## speed and memory figures for the README (about 25 minutes on 2 cores)
	$(BIN)/python scripts/bench_build.py --products 200 2000
	$(BIN)/python scripts/bench_automl.py --series 2000 --years 3 --n-jobs 2

bench-scale: setup  ## dbt build at 500, 2,000, 5,000 and 10,000 weekly series: time, CPU, fits, memory (hours on 2 cores)
	$(BIN)/python scripts/bench_scale.py

accuracy: setup  ## does selection pay? real dbt builds scored on the demo's unseen future
	$(BIN)/python scripts/accuracy.py --demo --origins 0,13 --json reports/accuracy_demo.json

# Cron every Monday, 8 weeks: selective retraining against full re-selection, two warehouses.
REPLAY_ARGS ?= --demo --plants 2 --products 300 --origins 8
replay: setup  ## weekly replay: CPU, fits, decisions and MASE per run (58 min on 2 loaded cores)
	$(BIN)/python scripts/replay.py $(REPLAY_ARGS) --work data/replay --json reports/replay.json

competition: setup  ## M1, M3, Tourism monthly (also dated as weeks) and M3's other series (as weeks) in the input shape, with their futures
	$(BIN)/python scripts/competition_data.py --dataset m1 --out data/m1_monthly
	$(BIN)/python scripts/competition_data.py --dataset m3 --out data/m3_monthly
	$(BIN)/python scripts/competition_data.py --dataset tourism --out data/tourism_monthly
	$(BIN)/python scripts/competition_data.py --dataset m3-other --out data/m3_other_weekly
	$(BIN)/python scripts/competition_data.py --dataset m1 --weeks --out data/m1_as_weeks
	$(BIN)/python scripts/competition_data.py --dataset m3 --weeks --out data/m3_as_weeks
	$(BIN)/python scripts/competition_data.py --dataset tourism --weeks --out data/tourism_as_weeks

clean:
	rm -rf target logs warehouse/*.duckdb* reports data
