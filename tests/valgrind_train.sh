#!/usr/bin/env bash
# tests/valgrind_train.sh — valgrind memcheck over a few training steps of every variant with
# the blocked, team and blas kernels (`make valgrind`), on a regular Release build. nb_alloc's cache
# is off (NABLA_ALLOC_CACHE=0), so every block goes back to the system and memcheck sees each
# use after free, overrun and leak. A run fails on any memcheck error (invalid read or write,
# use of uninitialised memory, bad free) or on a definite or indirect leak; memory OpenMP and
# OpenBLAS keep for their thread pools until exit is "still reachable" and allowed.
#
#   tests/valgrind_train.sh build/nabla [--iters N]
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
command -v valgrind >/dev/null || { echo "$0: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
# Under AddressSanitizer valgrind cannot run at all; say so rather than fail every run.
if grep -q 'libasan\.' <<<"$(ldd "$nabla" 2>&1)"; then
  echo "$0: $nabla is an AddressSanitizer build; valgrind needs a regular one" >&2
  exit 2
fi

export NABLA_ALLOC_CACHE=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

variants=$("$nabla" train --help 2>&1 | sed -n 's/^variants: *//p' | tr -d ',')
nvariants=$(echo "$variants" | wc -w)
if [ "$nvariants" -lt 8 ]; then
  echo "$0: found $nvariants variants in '$nabla train --help'; expected at least 8" >&2
  exit 1
fi

# --errors-for-leak-kinds: definite and indirect leaks count as errors (exit 1), possible and
# reachable ones do not (libgomp's and OpenBLAS's pools, held until exit, are reachable).
vg=(valgrind --tool=memcheck --error-exitcode=1 --leak-check=full
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
    --track-origins=yes --num-callers=30)

runs=0 failed=0
start=$(date +%s)
for variant in $variants; do
  for kernel in blocked team blas; do
    # f32 at 2 threads (the OpenMP paths) and f64 at 1: both dtypes and both thread paths,
    # at half the cost of every combination.
    for combo in f32:2 f64:1; do
      dtype=${combo%:*} threads=${combo#*:}
      runs=$((runs + 1))
      want="^summary: variant=$variant kernel=$kernel threads=$threads dtype=$dtype steps=$iters "
      "${vg[@]}" --log-file="$tmp/vg.log" "$nabla" train --variant "$variant" --kernel "$kernel" \
        --dtype "$dtype" --threads "$threads" --iters "$iters" --print-every 1 >"$tmp/out" 2>"$tmp/err"
      rc=$?
      if [ $rc -ne 0 ] || ! grep -q "$want" "$tmp/out" || ! grep -q "ERROR SUMMARY: 0 errors" "$tmp/vg.log"; then
        failed=$((failed + 1))
        echo "FAIL $variant/$kernel/$dtype/$threads (exit $rc)"
        # the report without valgrind's banner, blank lines dropped
        sed -n '/Parent PID/,$p' "$tmp/vg.log" | grep -v '^==[0-9]*== *$' | head -60
        tail -3 "$tmp/err"
      else
        echo "ok   $variant/$kernel/$dtype/$threads: $(grep -o 'definitely lost: .*' "$tmp/vg.log" || echo 'no leaks')"
      fi
    done
  done
done

echo "valgrind_train: $runs runs ($nvariants variants x blocked,team,blas x f32/2 threads,f64/1 thread, $iters steps each), $failed failed, $(( $(date +%s) - start )) s"
[ $failed -eq 0 ]
