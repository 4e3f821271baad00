#!/usr/bin/env bash
# tests/sanitize_train.sh — a short `nabla train` of every variant x kernel x dtype x thread
# count, `nabla tune --quick` and a reduced `nabla verify`, with a binary built with
# -DNABLA_SANITIZE=ON (AddressSanitizer + UBSan, `make sanitize`). A run fails on a non-zero exit, on any sanitizer report on stderr, or when its
# summary line is not the one asked for. The auto kernel gets a tuning table of its own in a
# temporary directory (measured by `nabla tune --quick` under the sanitizers too), never the
# user's cache.
#
#   tests/sanitize_train.sh build-asan/nabla [--iters N]
set -uo pipefail

usage() { echo "usage: $0 NABLA_BINARY [--iters N]" >&2; exit 2; }
[ $# -ge 1 ] || usage
nabla=$1; shift
iters=3
while [ $# -gt 0 ]; do
  case $1 in
    --iters) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || usage; iters=$2; shift 2 ;;
    *) usage ;;
  esac
done
[ -x "$nabla" ] || { echo "$0: $nabla is not an executable" >&2; exit 2; }
# A binary without the sanitizers would pass every run and prove nothing.
# (ldd's output is captured first: grep -q exiting early would fail the pipe under pipefail.)
libs=$(ldd "$nabla" 2>&1)
if ! grep -q 'libasan\.' <<<"$libs" || ! grep -q 'libubsan\.' <<<"$libs"; then
  echo "$0: $nabla is not built with -DNABLA_SANITIZE=ON (no libasan/libubsan)" >&2
  exit 2
fi

# Every report is fatal and leaks are checked at exit; the caller's settings come first, so
# they can add to these but the defaults hold when nothing is set.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NABLA_TUNE_FILE="$tmp/tune.json"

# What a sanitizer prints when it finds something (ASan, LSan, UBSan).
reports='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer)'

runs=0 failed=0
start=$(date +%s)

# Runs "$@" (a nabla command line), checks exit status, stderr and, when given, a summary
# line the output must contain. $1 is the label.
check() {
  local label=$1 want=$2; shift 2
  runs=$((runs + 1))
  "$nabla" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -ne 0 ] || grep -Eq "$reports" "$tmp/err" || { [ -n "$want" ] && ! grep -q "$want" "$tmp/out"; }; then
    failed=$((failed + 1))
    echo "FAIL $label (exit $rc): $nabla $*"
    grep -E -A30 "$reports" "$tmp/err" | head -60
    [ $rc -ne 0 ] && ! grep -Eq "$reports" "$tmp/err" && tail -5 "$tmp/err"
    return 1
  fi
  return 0
}

# The tuning table first: every concrete kernel timed under the sanitizers, the table
# written and read back by the train runs below.
check "tune --quick" "^wrote $NABLA_TUNE_FILE" tune --quick --threads 1,2 --dtypes f32,f64

# train --help lists them: "variants: tensors, autograd, ..." and "kernels:  naive, ...".
variants=$("$nabla" train --help 2>&1 | sed -n 's/^variants: *//p' | tr -d ',')
kernels=$("$nabla" train --help 2>&1 | sed -n 's/^kernels: *//p' | tr -d ',')
# The lists come from the binary, so a new variant or kernel is covered without an edit here;
# an empty list means the parsing broke, which must not pass as "nothing to check".
nvariants=$(echo "$variants" | wc -w) nkernels=$(echo "$kernels" | wc -w)
if [ "$nvariants" -lt 8 ] || [ "$nkernels" -lt 5 ]; then
  echo "$0: found $nvariants variants and $nkernels kernels in the binary's help; expected at least 8 and 5" >&2
  exit 1
fi

for variant in $variants; do
  for kernel in $kernels; do
    for dtype in f32 f64; do
      for threads in 1 2; do
        check "$variant/$kernel/$dtype/$threads" \
          "^summary: variant=$variant kernel=$kernel threads=$threads dtype=$dtype steps=$iters " \
          train --variant "$variant" --kernel "$kernel" --dtype "$dtype" --threads "$threads" \
          --iters "$iters" --print-every 1
      done
    done
  done
done

# nabla verify under the sanitizers, with every kernel: the gradient checks (ops and every
# variant, at reduced dimensions), and the PyTorch reference cases at the small sizes only. The
# full ctest `verify` (which make sanitize leaves out) replays the 64x1000x100x10 cases for 500
# steps with every kernel, naive included: over ten minutes under ASan, for code paths the
# trains above already run at that size.
check "verify --grad-only" "^verify: [0-9]* checks, 0 failed" verify --quiet --grad-only
# the small cases: every expected one but the seed's size (--cases selects among the cases
# compiled in; each glob must select one, and each selected case must be on disk)
check "verify --reference-only (the small cases)" "^verify: [0-9]* checks, 0 failed" \
  verify --quiet --reference-only --cases '*-7x13x5x3-*,*-1x3x8x1-*'

echo "sanitize_train: $runs runs ($nvariants variants x $nkernels kernels x f32,f64 x 1,2 threads, $iters steps each; tune; verify), $failed failed, $(( $(date +%s) - start )) s"
[ $failed -eq 0 ]
