# DOME developer entry points. Every target works on a fresh machine with Python and make:
# the virtual environment is created and filled on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/dome/v1/*.proto)

.PHONY: run test lint fmt proto proto-check bench e2e clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

## run: start the exchange on localhost with simulated traders (Ctrl-C stops it)
run: $(STAMP)
	$(BIN)/dome up --simulate 12

## test: the whole test suite (unit, integration, operator; e2e skips without kind)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## lint: ruff, formatting and mypy --strict
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

## proto: regenerate the gRPC stubs in src/dome/v1 from proto/ (pinned grpcio-tools)
proto: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m grpc_tools.protoc -Iproto --python_out=src --grpc_python_out=src \
		--mypy_out=src --mypy_grpc_out=src $(PROTOS)

## bench: book benchmark against liquibook, both workloads
bench: $(STAMP)
	$(BIN)/python bench/book.py

## e2e: kind-cluster tests (need Docker and kind)
e2e: $(STAMP)
	$(BIN)/python -m pytest -q -m e2e tests/e2e

clean:
	rm -rf $(VENV) .dome .pytest_cache .mypy_cache .ruff_cache
