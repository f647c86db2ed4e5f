# GAN Foundry: every target is an entry point; long logic lives in scripts.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPEC ?= examples/mnist-cgan.json
RUN ?= runs/local
DEMO_OUT ?= runs/demo/digits.png

.PHONY: help demo up down status setup lock test lint bench evaluator train dry-run worker gateway setup-containers compose-test bench-compose docker-build docker-up docker-up-cpu docker-down docker-logs clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

demo: up ## The main job: train digits through the REST API; writes runs/demo/digits.png
	$(BIN)/ganfoundry demo --out $(DEMO_OUT)

up: setup ## Start Redis, TorchServe, a worker and the gateway as local processes (runs/stack)
	$(BIN)/ganfoundry-stack up

down: ## Stop exactly the processes that make up started
	@if [ -x $(BIN)/ganfoundry-stack ]; then $(BIN)/ganfoundry-stack down; else echo "nothing was running"; fi

status: ## Which local processes are alive
	@$(BIN)/ganfoundry-stack status

setup: $(STAMP) ## Make .venv and install everything the project needs

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint requirements.lock -e '.[dev]'
	scripts/install-redis.sh
	scripts/install-browser.sh
	touch $(STAMP)

lock: setup ## Pin every package, dependencies of dependencies too, into requirements.lock
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml

test: setup ## Run the whole test suite
	$(BIN)/pytest

lint: setup ## ruff, mypy, the compose files against the compose-spec schema, hadolint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy bench
	scripts/lint-docker.sh

bench: setup ## Run the benchmarks (figures on the last line of each)
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/serve_latency.py
	$(BIN)/python bench/job_latency.py
	$(BIN)/python bench/gateway_overhead.py
	$(BIN)/python bench/events_latency.py
	$(BIN)/python bench/hdf5_read.py
	$(BIN)/python bench/celeba_train.py
	$(BIN)/python bench/recovery.py
	$(BIN)/python bench/serving_recovery.py

evaluator: setup ## Train the shipped judge of digits again (MNIST=<torchvision MNIST folder> adds it)
	$(BIN)/python -m workers.engine.evaluator $(if $(MNIST),--mnist $(MNIST))

train: setup ## Train SPEC (a job spec file) locally into RUN
	$(BIN)/ganfoundry-train run $(SPEC) --out $(RUN)

dry-run: setup ## One real training step of SPEC on fake data
	$(BIN)/ganfoundry-train run $(SPEC) --out $(RUN)-dry --dry-run

worker: setup ## Celery training workers, one per GPU (or one on the CPU); needs GANFOUNDRY_* settings
	$(BIN)/ganfoundry-worker

gateway: setup ## The REST gateway under gunicorn on :8000; needs GANFOUNDRY_* settings
	$(BIN)/gunicorn --config python:services.gunicorn_conf --bind 127.0.0.1:8000 services.wsgi:app

setup-containers: setup ## podman, runc, podman-compose and a local Debian base image (for compose-test)
	scripts/setup-containers.sh

compose-test: setup-containers ## Build the images and run docker/compose.yaml in containers: the job, the faults, the doors
	$(BIN)/pytest tests/compose

bench-compose: setup-containers ## Build, up and job timings of the compose stack, and its image sizes
	$(BIN)/python bench/compose.py

docker-build: ## Build the gateway, worker and TorchServe images (Docker with Compose 2.24+)
	docker compose -f docker/compose.yaml build

docker-up: ## The stack on NVIDIA GPUs with docker compose; needs docker/.env (see docker/.env.example)
	docker compose -f docker/compose.yaml up -d --build

docker-up-cpu: ## The same on a host without GPUs
	docker compose -f docker/compose.yaml -f docker/compose.cpu.yaml up -d --build

docker-down: ## Stop the docker compose stack (volumes are kept)
	docker compose -f docker/compose.yaml down

docker-logs: ## Follow the docker compose stack's logs
	docker compose -f docker/compose.yaml logs -f --tail 100

clean: ## Remove run outputs and caches (keeps .venv)
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
