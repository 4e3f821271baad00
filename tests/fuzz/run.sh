#!/usr/bin/env bash
# tests/fuzz/run.sh — `make fuzz`: builds the libFuzzer targets of tests/fuzz with clang into
# BUILD (default build-fuzz) and runs each for FUZZ_SECONDS (default 60) on a scratch copy of
# its seed corpus (tests/fuzz/corpus/<target>, so the repository is not touched) with its
# dictionary. Prints per target the executions and the crashes (crash, leak, timeout and
# out-of-memory inputs, kept under the scratch directory); exits 1 if any target found one,
# 2 on a usage error. One target at a time, at nice 10: the fuzzer is a busy process.
#   FUZZ_SECONDS=300 bash tests/fuzz/run.sh [target...]    # targets: npy manifest tune bench_json
# A crash becomes a regression test: copy its file into tests/fuzz/regressions/<target>/ and
# fix the reader; ctest's fuzz_replay_<target> replays it in every build.
set -euo pipefail
cd "$(dirname "$0")/../.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
BUILD=${BUILD:-build-fuzz}
WORK=${FUZZ_WORK:-$(mktemp -d /tmp/nabla-fuzz.XXXXXX)}
all=(npy manifest tune bench_json)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
case "$FUZZ_SECONDS" in ''|*[!0-9]*) echo "fuzz: FUZZ_SECONDS must be a whole number of seconds, not '$FUZZ_SECONDS'" >&2; exit 2;; esac
for t in "${targets[@]}"; do
  case " ${all[*]} " in *" $t "*) ;; *) echo "fuzz: unknown target '$t' (targets: ${all[*]})" >&2; exit 2;; esac
done
command -v clang >/dev/null || { echo "fuzz: clang is missing (bash .ci/install-deps.sh installs it)" >&2; exit 1; }

echo "== fuzz: building ${targets[*]} with clang (libFuzzer, ASan, UBSan) into $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Release -DNABLA_FUZZ=ON -DNABLA_WERROR=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

failed=0
printf '%-12s %12s %8s %8s  %s\n' target executions seconds crashes "corpus (seed -> end)"
for t in "${targets[@]}"; do
  mkdir -p "$WORK/$t/corpus" "$WORK/$t/artifacts"
  cp tests/fuzz/corpus/"$t"/* "$WORK/$t/corpus/"
  seeds=$(ls "$WORK/$t/corpus" | wc -l)
  dict=tests/fuzz/dict/json.dict
  [ "$t" = npy ] && dict=tests/fuzz/dict/npy.dict
  log="$WORK/$t/fuzz.log"
  # -rss_limit_mb: the readers bound what they allocate by the input's size; far more is a bug.
  # The fuzzer exits non-zero on its first crash; the summary below counts what it left.
  rc=0
  nice -n 10 "$BUILD/fuzz/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -dict="$dict" \
    -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$WORK/$t/artifacts/" "$WORK/$t/corpus" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(ls "$WORK/$t/artifacts" | wc -l)
  [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1 # died without leaving an input: still a failure
  printf '%-12s %12s %8s %8s  %s\n' "$t" "${execs:-?}" "$FUZZ_SECONDS" "$crashes" "$seeds -> $(ls "$WORK/$t/corpus" | wc -l)"
  if [ "$crashes" -ne 0 ]; then
    failed=1
    grep -E "ERROR|SUMMARY|invariant failed" "$log" | head -5 | sed 's/^/    /'
    ls "$WORK/$t/artifacts" | sed "s|^|    input: $WORK/$t/artifacts/|"
  fi
done
echo "fuzz: logs and corpora in $WORK"
[ "$failed" -eq 0 ] && echo "fuzz: no crashes" || echo "fuzz: CRASHES FOUND (see above)"
exit "$failed"
