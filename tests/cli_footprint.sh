#!/usr/bin/env bash
# tests/cli_footprint.sh — the up-front memory check (src/harness/footprint.c) from the command
# line: a run whose variant's footprint exceeds physical memory exits 2 with one line naming the
# variant, the dimensions, the GiB needed and the GiB the machine has, before anything is
# allocated; the same dimensions with a variant that fits are accepted. Verdicts that depend on
# the machine are worked out here from its physical memory (getconf, as nabla reads it).
# usage: tests/cli_footprint.sh path/to/nabla
set -u
nabla=${1:?usage: tests/cli_footprint.sh path/to/nabla}
failures=0
cases=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

phys=$(($(getconf _PHYS_PAGES) * $(getconf PAGE_SIZE)))
echo "physical memory: $phys bytes ($((phys >> 30)) GiB)"
GB=1000000000

# refused "<text the line must hold>..." -- args...: exit 2, one line on stderr that says what
# was needed and what the machine has, nothing on stdout.
refused() {
  local expects=()
  while [ "$1" != "--" ]; do expects+=("$1"); shift; done
  shift
  cases=$((cases + 1))
  "$nabla" "$@" >"$tmp/out" 2>"$tmp/err"
  local code=$? lines; lines=$(wc -l <"$tmp/err")
  if [ "$code" -ne 2 ]; then fail "nabla $* exited $code, expected 2 (refused): $(head -c 300 "$tmp/err")"; return; fi
  if [ "$lines" -ne 1 ]; then fail "nabla $* printed $lines lines on stderr, expected 1"; cat "$tmp/err"; return; fi
  local e
  for e in "needs more memory than this machine has" "GiB needed" "GiB physical" "${expects[@]}"; do
    if ! grep -qF -- "$e" "$tmp/err"; then fail "nabla $*: the line lacks '$e': $(cat "$tmp/err")"; return; fi
  done
  if [ -s "$tmp/out" ]; then fail "nabla $* wrote to stdout when refusing"; return; fi
  echo "ok   refused: nabla $*  ->  $(cat "$tmp/err")"
}

# accepted args...: passes the memory check. The run is stopped at its first large allocation
# (every accepted case below makes one of more than 1 GiB) by a 1 GiB address-space limit, so it
# must end with exit 1 and nabla's out-of-memory message (exit 2 would be the check refusing
# it), quickly, whatever the machine. One thread each for OpenMP and OpenBLAS keeps their own
# reservations small.
# Under AddressSanitizer (make sanitize) an address-space limit stops the process before main
# (its shadow memory is terabytes of reservations), so there ASan's own allocator plays the
# limit: a request above 1 GiB returns NULL, as malloc does under ulimit -v.
if ldd "$nabla" 2>/dev/null | grep -q libasan; then asan=1; else asan=0; fi
accepted() {
  cases=$((cases + 1))
  if [ "$asan" = 1 ]; then
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=1024" \
      OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$nabla" "$@" >"$tmp/out" 2>"$tmp/err"
  else
    (ulimit -v $((1 << 20)) && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 exec "$nabla" "$@") >"$tmp/out" 2>"$tmp/err"
  fi
  local code=$?
  if [ "$code" -ne 1 ] || ! grep -qF "out of memory" "$tmp/err"; then
    fail "nabla $* (under ulimit -v 1 GiB) exited $code, expected 1 with out of memory: $(head -c 300 "$tmp/err")"
    return
  fi
  echo "ok   accepted (stopped by ulimit at the first large allocation): nabla $*"
}

# runs args...: fits easily and runs to the end (exit 0).
runs() {
  cases=$((cases + 1))
  if "$nabla" "$@" >"$tmp/out" 2>"$tmp/err"; then
    echo "ok   exit 0: nabla $*"
  else
    fail "nabla $* exited $?: $(cat "$tmp/err")"
  fi
}

# verdict <least bytes the run needs> <refused-args...> -- ...: refused where the machine has
# less than that; accepted where it has 10% more than that (the formula's other terms are far
# below 10% in every use here); too close to call in between, and skipped.
verdict() {
  local least=$1; shift
  local args=("$@")
  if [ "$phys" -lt "$least" ]; then
    refused "$@"
  elif [ "$phys" -gt $((least + least / 10)) ]; then
    while [ "$1" != "--" ]; do shift; done
    shift
    accepted "$@"
  else
    echo "skip: ${args[*]} needs about $least bytes, too close to this machine's $phys to call"
  fi
}

quiet=(--kernel naive --threads 1 --iters 1 --print-every 0)

# ---- the issue's case: Adam's two moments per parameter ------------------------------------------
# Linear(100000, 10000) in f64 is 8e9 bytes; optim holds it with its gradient and both moments
# (32e9, about 30 GiB), tensors with its gradient only (16e9, about 15 GiB).
verdict $((32 * GB)) "variant optim" "--d-in 100000 --hidden 10000" "--dtype f64" -- \
  train --variant optim --dtype f64 --d-in 100000 --hidden 10000 "${quiet[@]}"
verdict $((16 * GB)) "variant tensors" -- train --variant tensors --dtype f64 --d-in 100000 --hidden 10000 "${quiet[@]}"
# The same, ten times wider: 320e9 bytes for optim, 160e9 for tensors, refused on any machine
# up to 149 GiB.
refused "variant optim" "--d-in 1000000" -- train --variant optim --dtype f64 --d-in 1000000 --hidden 10000
refused "variant tensors" -- train --variant tensors --dtype f64 --d-in 1000000 --hidden 10000
# The loss history counts too: 2^31 steps keep 16 GiB of losses (17.2e9 bytes) at any dimensions.
verdict $(((1 << 31) * 8)) "variant tensors" "--iters 2147483648" -- train --variant tensors --iters 2147483648 \
  --d-in 7 --hidden 5 --kernel naive --threads 1 --print-every 0

# ---- DynamicNet's middle layer: Linear(H, H) with its gradient and momentum buffer -----------------
# H = 100000: 1e10 weights, 240e9 bytes in f64 for dynamic; the two-layer variants hold
# (D_in + D_out) x H weights and a few (N, H) activations, about 0.3 GB. The check used to
# leave the middle layer out altogether.
refused "variant dynamic" "--hidden 100000" -- train --variant dynamic --dtype f64 --d-in 10 --hidden 100000
runs train --variant tensors --dtype f64 --d-in 10 --hidden 100000 "${quiet[@]}"
runs train --variant module --dtype f64 --d-in 10 --hidden 1000 "${quiet[@]}"
runs train --variant dynamic --dtype f64 --d-in 10 --hidden 1000 "${quiet[@]}"

# ---- every variant at the seed's dimensions fits anywhere ---------------------------------------
# (the binary's own list, from `nabla train --help`, so a new variant is checked here untouched)
variants=$("$nabla" train --help 2>&1 | sed -n 's/^variants: *//p' | tr -d ',')
[ -n "$variants" ] || fail "no 'variants:' line in nabla train --help"
for variant in $variants; do
  runs train --variant "$variant" "${quiet[@]}"
done

# ---- profile: the same check (it has no dimension flags, so at the seed's dimensions it always
# passes: this shows the check does not get in the way) ---------------------------------------------
runs profile --variant optim --dtype f64 --iters 1 --kernel naive --threads 1
runs profile --variant dynamic --iters 1 --kernel naive --threads 1

# ---- graph: the plan its options compile --------------------------------------------------------
# w1 and its gradient in the arena, 80e9 bytes each in f64: refused anywhere up to 149 GiB.
refused "variant static-graph" "--d-in 1000000 --hidden 10000" "--dtype f64" -- \
  graph --dump --dtype f64 --d-in 1000000 --hidden 10000
runs graph --dump --d-in 333 --hidden 77
# Without fusion the plan holds three (D_in, H) values more (the update's temporaries): with
# D_in x H x 4 bytes a third of the machine, the fused plan (w1 and dw1: two thirds) is accepted
# and the unfused one (four thirds) refused.
hidden=$((phys / 3 / 4 / 100000))
if [ "$hidden" -ge 1 ] && [ "$hidden" -le 16777216 ]; then
  refused "variant static-graph" "--hidden $hidden" -- graph --dump --no-fusion --d-in 100000 --hidden "$hidden"
  accepted graph --dump --d-in 100000 --hidden "$hidden"
fi

echo "$cases cases, $failures failures"
[ "$failures" -eq 0 ]
