# Makefile — the front door: a thin layer over CMake so that `make`, `make test` and
# `make bench` work from the repository root on a fresh machine. Each target first installs
# what Debian lacks (.ci/install-deps.sh), then configures and builds into $(BUILD).

BUILD ?= build
BUILD_TYPE ?= Release
CMAKE_ARGS ?=
JOBS ?= $(shell nproc)

.PHONY: all deps build test verify reference reference-check bench bench-quick sanitize valgrind fuzz format clean

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

# AddressSanitizer + UBSan (-DNABLA_SANITIZE=ON, in $(ASAN_BUILD)): the ctest suite (the
# CUnit suites, faults included, and cli.sh), then a short train of every variant x kernel x
# dtype x thread count, tune --quick and a reduced verify (tests/sanitize_train.sh). Any report
# fails. Left out of ctest, each far too slow under ASan for what it adds to the script:
# verify (the full-size reference cases, 500 steps with every kernel, naive included: over 10
# minutes; the script runs its checks at the small sizes), train_all (500 steps of every
# variant x kernel, over 5 minutes, and its peak-RSS check measures ASan's quarantine, not
# nabla), torch_parity and bench_quick (minutes of PyTorch and hyperfine; their nabla side is
# the train loops the script runs).
ASAN_BUILD ?= build-asan
SANITIZE_ENV = ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
sanitize: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DNABLA_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && $(SANITIZE_ENV) ctest --output-on-failure -E '^(verify|train_all|torch_parity|bench_quick)$$'
	$(SANITIZE_ENV) bash tests/sanitize_train.sh $(ASAN_BUILD)/nabla

# valgrind memcheck over a few steps of every variant with the blocked and blas kernels, on
# the regular build in $(BUILD), nb_alloc's cache off (tests/valgrind_train.sh).
valgrind: build
	bash tests/valgrind_train.sh $(BUILD)/nabla

# libFuzzer targets for every file reader (.npy, manifest, tuning table, bench.json), built
# with clang + ASan + UBSan into $(FUZZ_BUILD), each run FUZZ_SECONDS on a scratch copy of its
# seed corpus (tests/fuzz/run.sh); prints executions and crashes, fails on any crash.
FUZZ_SECONDS ?= 60
FUZZ_BUILD ?= build-fuzz
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(FUZZ_BUILD) bash tests/fuzz/run.sh

# Lays out every tracked C file as .clang-format says (the format test checks it).
format: deps
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
