# leadscore: `make demo` and `make test` work on a fresh machine with Python >= 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.spark-installed
DEMO_LEADS ?= 20000
DEMO_SEED ?= 7
# An honest replay first: the model the team would have deployed on DEMO_TRAIN_AS_OF (trained only on what
# was known before it) scores the nights after it; their 90-day windows have elapsed in the demo data (which
# ends 2026-09-30), so the monitor checks each grade's promise on outcomes that model never saw. Then tonight's
# champion is refitted on everything that has matured and scores tonight.
DEMO_TRAIN_AS_OF ?= 2026-06-01
DEMO_PAST_NIGHTS ?= 2026-06-01 2026-06-08 2026-06-15 2026-06-22
export LEADSCORE_SOURCES ?= data/demo
# The demo runs on its own stores in this folder, whatever the environment says (a team's MLflow server or
# database must never receive demo versions), and starts from scratch each time: a second `make demo` replays
# the same story rather than meeting the first one's champion.
DEMO_STORES := mlflow.db mlruns leadscore.db data/demo data/scores report.html
demo: export LEADSCORE_SOURCES := data/demo
demo: export MLFLOW_TRACKING_URI := sqlite:///mlflow.db
demo: export LEADSCORE_DB_URL := sqlite:///leadscore.db
demo: export LEADSCORE_SCORES_DIR := data/scores
# The demo's params: params.yaml plus two segment models (demo.params.yaml); every leadscore command reads them.
DEMO_PARAMS := demo.params.yaml
demo: export LEADSCORE_PARAMS := $(DEMO_PARAMS)

.PHONY: setup setup-spark demo test test-fast bench bench-one-lead bench-train bench-spark lint clean-demo mlflow-ui notebook serve team-up team-down

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "leadscore needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The Spark engine's part (`--engine spark`): Java 17 (Debian's headless JRE when missing) and the spark extra.
setup-spark: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	bash scripts/ensure-java.sh
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

demo: setup
	rm -rf $(DEMO_STORES)
	@# One workspace user per team, with passwords known to anyone who reads this file: for the demo store only.
	@# Signing and promoting need a token of the user who signs or promotes (`leadscore user token NAME`).
	@echo "demo-sales-pass" | $(BIN)/leadscore user add demo.sales --team sales --owner-id rep_01 --password-stdin
	@echo "demo-marketing-pass" | $(BIN)/leadscore user add demo.marketing --team marketing --password-stdin
	@echo "demo-data-pass" | $(BIN)/leadscore user add demo.data --team data-science --role admin --password-stdin
	$(BIN)/leadscore generate --leads $(DEMO_LEADS) --seed $(DEMO_SEED) --out $(LEADSCORE_SOURCES)
	$(BIN)/leadscore train --as-of $(DEMO_TRAIN_AS_OF)
	$(BIN)/leadscore approve --latest --team marketing --token $$($(BIN)/leadscore user token demo.marketing) --comment "Grades match what campaigns can deliver"
	$(BIN)/leadscore approve --latest --team sales --token $$($(BIN)/leadscore user token demo.sales) --comment "A-grade volume fits the team's weekly calls"
	$(BIN)/leadscore promote --latest --token $$($(BIN)/leadscore user token demo.data)
	$(BIN)/leadscore score $(foreach night,$(DEMO_PAST_NIGHTS),--as-of $(night))
	$(BIN)/leadscore monitor || [ $$? -eq 3 ]   # 3 = a grade is outside its promise: shown, not a demo failure
	$(BIN)/leadscore train
	$(BIN)/leadscore definition --version $$($(BIN)/python -c 'from pipeline import tracking; tracking.configure(); print(tracking.latest_version("lead-scoring"))')
	$(BIN)/leadscore approve --latest --team marketing --token $$($(BIN)/leadscore user token demo.marketing) --comment "Same recipe, refitted on the latest data"
	$(BIN)/leadscore approve --latest --team sales --token $$($(BIN)/leadscore user token demo.sales) --comment "Same grades, fresher model"
	$(BIN)/leadscore promote --latest --token $$($(BIN)/leadscore user token demo.data)
	@# Each segment its own model; one with too few conversions is refused (said), its leads stay with the global model.
	$(BIN)/leadscore train --all-segments
	$(BIN)/leadscore approve --latest --segment north_america --team marketing --token $$($(BIN)/leadscore user token demo.marketing) --comment "North America's own grades"
	$(BIN)/leadscore approve --latest --segment north_america --team sales --token $$($(BIN)/leadscore user token demo.sales) --comment "Sized to the North America team"
	$(BIN)/leadscore promote --latest --segment north_america --token $$($(BIN)/leadscore user token demo.data)
	$(BIN)/leadscore nightly || [ $$? -eq 3 ]   # 3 = published with drift warnings
	$(BIN)/leadscore report --out report.html
	@echo ""
	@echo "Scores:    leadscore.db (table leadscore_scores, view leadscore_latest_scores) and data/scores/as_of=<date>/scores.parquet"
	@echo "MLflow UI: make mlflow-ui   then open the link it prints first (experiment lead-scoring, on its runs)"
	@echo "Definition: .venv/bin/leadscore definition --json"
	@echo "Report:    $(CURDIR)/report.html"
	@echo "Segments:  $(DEMO_PARAMS) (commands read it through LEADSCORE_PARAMS=$(DEMO_PARAMS))"
	@echo "Workspace: LEADSCORE_PARAMS=$(DEMO_PARAMS) make serve   then open http://127.0.0.1:8000 and sign in (demo passwords, demo store only):"
	@echo "           demo.sales / demo-sales-pass          (sales rep: rep_01's queue)"
	@echo "           demo.marketing / demo-marketing-pass  (marketing member)"
	@echo "           demo.data / demo-data-pass            (data science admin: every owner's queue)"
	@echo ""
	$(BIN)/leadscore queue --top 15   # what sales opens tomorrow morning, best first: the demo's last word

# The PostgreSQL sink is tested against a real server: scripts/ensure-postgres.sh installs Debian's package if
# needed, starts a throwaway cluster on 127.0.0.1:54329 and prints its URL. Test files are spread over up to 4
# processes (pytest-xdist), each file whole in one, so a module's story runs in order; --durations lists the
# slowest tests, to keep make test under 10 minutes.
test: setup setup-spark
	$(BIN)/lint-imports
	bash scripts/ensure-chromium.sh
	LEADSCORE_TEST_PG_URL=$$(scripts/ensure-postgres.sh) $(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder --durations=15

test-fast: setup
	$(BIN)/python -m pytest -m "not integration"

bench: setup
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_model_quality.py
	$(MAKE) bench-one-lead

# One lead scored from PostgreSQL: loads BENCH_ONE_LEAD_LEADS leads (default 1M, ~5M events) into the local server
# once (scripts/ensure-postgres.sh; reused by later runs), then p50/p99 of 1,000 POST /api/leads/{id}/score.
bench-one-lead: setup
	BENCH_PG_URL=$${BENCH_PG_URL:-$$(scripts/ensure-postgres.sh)} $(BIN)/python benchmarks/bench_one_lead.py

lint: setup
	$(BIN)/ruff check features models pipeline tests
	$(BIN)/lint-imports

# Training at CRM scale: demo worlds of BENCH_TRAIN_SIZES leads (default 50000,200000,1000000) trained, backtested and
# refitted with params.yaml's sampling, each in a child process: rows kept / full, time per phase, peak RSS, backtest
# AUC, and the full table's AUC beside it up to BENCH_TRAIN_FULL_MAX leads (default 200000).
bench-train: setup
	$(BIN)/python benchmarks/bench_train.py

# The Spark engine (the spark extra, Java 17) against the default engine on the same nights, on local[2].
bench-spark: setup-spark
	$(BIN)/python benchmarks/bench_spark.py

# The workspace (leadscore serve) over the project folder's stores; SERVE_HOST=0.0.0.0 only behind an HTTPS proxy.
SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 8000
serve: setup
	$(BIN)/leadscore serve --host $(SERVE_HOST) --port $(SERVE_PORT)

# JupyterLab on notebooks/, on the demo's stores (make demo first); installed into the venv on first use.
notebook: setup
	$(BIN)/python -c 'import jupyterlab' 2>/dev/null || $(BIN)/pip install --quiet -e '.[notebook]'
	cd notebooks && LEADSCORE_SOURCES=../data/demo MLFLOW_TRACKING_URI=sqlite:///../mlflow.db \
		LEADSCORE_DB_URL=sqlite:///../leadscore.db ../$(BIN)/jupyter lab --no-browser --ip 127.0.0.1 --port 8888 \
		$(if $(filter 0,$(shell id -u)),--allow-root)

# MLflow 3.17's UI opens in GenAI mode in a browser that has not chosen one: the link printed first opens the runs.
mlflow-ui: setup
	@MLFLOW_TRACKING_URI=sqlite:///mlflow.db $(BIN)/python -c 'from pipeline import tracking; print(tracking.ui_start_line("lead-scoring"))'
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

clean-demo:
	rm -rf data mlruns mlflow.db leadscore.db report.html

# A team stack on this machine under TEAM_DIR (PostgreSQL, mlflow server with proxied artifacts, the workspace); see
# README "Team deployment". Ports: TEAM_PG_PORT, TEAM_MLFLOW_PORT, TEAM_SERVE_PORT; TEAM_DB_URL for an existing database.
TEAM_DIR ?= .team
team-up: setup
	bash scripts/team.sh up $(TEAM_DIR)

team-down:
	bash scripts/team.sh down $(TEAM_DIR)
