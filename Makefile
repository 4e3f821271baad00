# Makefile — the front door: a thin layer over CMake so that `make`, `make test` and
# `make bench` work from the repository root on a fresh machine. Each target first installs
# what Debian lacks (.ci/install-deps.sh), then configures and builds into $(BUILD).

BUILD ?= build
BUILD_TYPE ?= Release
CMAKE_ARGS ?=
JOBS ?= $(shell nproc)

.PHONY: all deps build test verify reference reference-check bench bench-quick clean

all: build

deps:
	@bash .ci/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure

# Gradient checks (every op and variant against finite differences, f32 against f64) and
# every PyTorch reference case, with every kernel.
verify: build
	$(BUILD)/nabla verify

# Regenerate the committed PyTorch reference fixtures (needs torch: /usr/bin/python3).
reference: deps
	/usr/bin/python3 reference/generate.py

# Regenerate into a scratch directory and fail if anything differs from the committed ones.
reference-check: deps
	/usr/bin/python3 reference/generate.py --check reference/fixtures

# The main job (~3 minutes): training loops per variant x kernel against PyTorch, the GEMM
# sweep, hyperfine over whole processes, loss curves, plots and bench/results/report.md.
bench: build
	@bash bench/run.sh $(BUILD)/nabla

# The same stages, tiny (about a minute): what CI's bench_quick test runs.
bench-quick: build
	@bash bench/run.sh $(BUILD)/nabla --quick

clean:
	rm -rf $(BUILD)
