#!/usr/bin/env bash
# tests/cli_trust.sh — issue 13's classes that live in the command line, one block each, every
# check able to fail on the code before it: flags given win over --quick; NABLA_KERNEL and
# OMP_NUM_THREADS (and the CPU affinity) mean the same in every command; every command works
# from any directory and an installed nabla finds its data; a twin's failure is said in words;
# outputs are checked before the work and never left half-written (a file-size limit stands in
# for a full disk); SIGINT, SIGTERM and SIGHUP stop every long command alike, kill its
# children, and keep what was printed.
# usage: tests/cli_trust.sh path/to/nabla path/to/source-dir
set -u
nabla=$(readlink -f "${1:?usage: tests/cli_trust.sh path/to/nabla path/to/source}")
src=$(readlink -f "${2:?usage: tests/cli_trust.sh path/to/nabla path/to/source}")
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
# A private registry of running measurements (src/harness/overlap.h): another nabla run on the
# machine must not add its overlap warning to the stderr these cases count.
export XDG_RUNTIME_DIR="$tmp/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
failures=0
cases=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { cases=$((cases + 1)); echo "ok   $*"; }
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

tiny=(--no-torch --variants tensors --threads 1 --warmup 0)

# ---- 3. flags given win over --quick, in either order, in every command that has --quick ----
for order in before after; do
  if [ $order = before ]; then args=(bench --quick --iters 7 --repeats 3 --warmup 1 --kernels naive);
  else args=(bench --iters 7 --repeats 3 --warmup 1 --kernels naive --quick); fi
  if "$nabla" "${args[@]}" --no-torch --variants tensors --threads 1 --out "$tmp/q$order" >"$tmp/out" 2>&1; then
    got=$(json "$tmp/q$order/bench.json" 'd["config"]["iters"], d["config"]["repeats"], d["config"]["warmup"], [c["kernel"] for c in d["cases"]]')
    [ "$got" = "7 3 1 ['naive']" ] && ok "bench --quick ($order the flags) keeps --iters/--repeats/--warmup/--kernels naive" \
      || fail "bench --quick ($order) overrode given flags: $got"
  else fail "bench ${args[*]} failed: $(tail -1 "$tmp/out")"; fi
done
if "$nabla" kernels --sweep --quick --repeats 3 --kernels blocked --sizes 32 --no-seed --out "$tmp/sw" >/dev/null 2>&1 &&
   [ "$(json "$tmp/sw/sweep.json" 'd["config"]["repeats"]')" = 3 ]; then ok "kernels --sweep --quick keeps --repeats 3"
else fail "kernels --sweep --quick overrode --repeats"; fi

# ---- 4. environment variables: one meaning everywhere -------------------------------------
for cmd in "train --iters 1" "profile --iters 1" "bench ${tiny[*]} --iters 1 --out $tmp/e" "verify --grad-only --ops-only"; do
  # shellcheck disable=SC2086
  NABLA_KERNEL=bogus "$nabla" $cmd >"$tmp/out" 2>"$tmp/err"; code=$?
  if [ $code -eq 2 ] && grep -q "NABLA_KERNEL" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
    ok "NABLA_KERNEL=bogus: nabla ${cmd%% *} exits 2 naming the variable"
  else fail "NABLA_KERNEL=bogus nabla $cmd: exit $code, $(cat "$tmp/err")"; fi
done
NABLA_KERNEL=blocked "$nabla" train --iters 2 --print-every 0 >"$tmp/out" 2>&1
grep -q "kernel=blocked" "$tmp/out" && ok "NABLA_KERNEL=blocked: train uses blocked" || fail "train ignored NABLA_KERNEL: $(cat "$tmp/out")"
NABLA_KERNEL=blocked "$nabla" profile --iters 2 >"$tmp/out" 2>&1
grep -q "kernel=blocked" "$tmp/out" && ok "NABLA_KERNEL=blocked: profile uses blocked" || fail "profile ignored NABLA_KERNEL"
NABLA_KERNEL=blocked "$nabla" bench "${tiny[@]}" --iters 2 --repeats 1 --out "$tmp/ek" >/dev/null 2>&1
[ "$(json "$tmp/ek/bench.json" '[c["kernel"] for c in d["cases"]]')" = "['blocked']" ] &&
  ok "NABLA_KERNEL=blocked: bench runs blocked only" || fail "bench ignored NABLA_KERNEL"
NABLA_KERNEL=blocked "$nabla" bench "${tiny[@]}" --kernels naive --iters 2 --repeats 1 --out "$tmp/ek2" >/dev/null 2>&1
[ "$(json "$tmp/ek2/bench.json" '[c["kernel"] for c in d["cases"]]')" = "['naive']" ] &&
  ok "--kernels wins over NABLA_KERNEL" || fail "NABLA_KERNEL overrode --kernels"
NABLA_KERNEL=blocked "$nabla" verify --grad-only --ops-only >"$tmp/out" 2>&1
if grep -q " blocked " "$tmp/out" && ! grep -q " naive " "$tmp/out"; then ok "NABLA_KERNEL=blocked: verify checks blocked only"
else fail "verify ignored NABLA_KERNEL"; fi
NABLA_KERNEL=blocked "$nabla" kernels --bench --shapes 8x8x8 --repeats 1 --min-time 0.001 >"$tmp/out" 2>"$tmp/err"
grep -q "NABLA_KERNEL=blocked is ignored" "$tmp/err" && ok "kernels --bench says it ignores NABLA_KERNEL" ||
  fail "kernels --bench silently ignored NABLA_KERNEL"
OMP_NUM_THREADS=1 "$nabla" train --iters 1 --print-every 0 >"$tmp/out" 2>&1
grep -q "threads=1 " "$tmp/out" && ok "OMP_NUM_THREADS=1: train's default is 1 thread" || fail "train ignored OMP_NUM_THREADS: $(cat "$tmp/out")"
OMP_NUM_THREADS=3,2 "$nabla" train --iters 1 --print-every 0 >"$tmp/out" 2>&1
grep -q "threads=3 " "$tmp/out" && ok "OMP_NUM_THREADS=3,2: the first entry" || fail "OMP_NUM_THREADS list: $(cat "$tmp/out")"
OMP_NUM_THREADS=4 "$nabla" train --threads 2 --iters 1 --print-every 0 >"$tmp/out" 2>&1
grep -q "threads=2 " "$tmp/out" && ok "--threads wins over OMP_NUM_THREADS" || fail "OMP_NUM_THREADS overrode --threads"
OMP_NUM_THREADS=zero "$nabla" train --iters 1 >"$tmp/out" 2>"$tmp/err"; code=$?
grep -q "OMP_NUM_THREADS='zero'" "$tmp/err" && [ $code -eq 2 ] && ok "OMP_NUM_THREADS=zero: exit 2 naming it" ||
  fail "OMP_NUM_THREADS=zero: exit $code $(cat "$tmp/err")"
if command -v taskset >/dev/null; then
  env -u OMP_NUM_THREADS taskset -c 0 "$nabla" train --iters 1 --print-every 0 >"$tmp/out" 2>&1
  grep -q "threads=1 " "$tmp/out" && ok "taskset -c 0: the default is the 1 usable CPU" || fail "taskset ignored: $(cat "$tmp/out")"
  env -u OMP_NUM_THREADS taskset -c 0 "$nabla" bench --no-torch --variants tensors --warmup 0 --kernels blocked --iters 1 --repeats 1 --out "$tmp/ts" >/dev/null 2>&1
  [ "$(json "$tmp/ts/bench.json" '[c["threads"] for c in d["cases"]]')" = "[1]" ] &&
    ok "taskset -c 0: bench's default thread list is 1" || fail "bench under taskset ran $(json "$tmp/ts/bench.json" '[c["threads"] for c in d["cases"]]')"
fi

# ---- 5. any directory; an installed nabla; a twin's failure in words ---------------------
mkdir -p "$tmp/elsewhere" && cd "$tmp/elsewhere" || exit 1
if "$nabla" bench "${tiny[@]}" --kernels blocked --iters 2 --repeats 1 >/dev/null 2>&1 && [ -f bench/results/bench.json ]; then
  ok "bench from another directory creates ./bench/results"
else fail "bench from another directory failed"; fi
"$nabla" bench "${tiny[@]}" --kernels blocked --iters 2 --repeats 1 --out "$tmp/a/b/c" >/dev/null 2>&1 && [ -f "$tmp/a/b/c/bench.json" ] &&
  ok "bench --out creates its parents" || fail "bench --out a/b/c failed"
"$nabla" graph --dot "$tmp/d/e/plan.dot" >/dev/null 2>&1 && [ -s "$tmp/d/e/plan.dot" ] && ok "graph --dot creates its parents" ||
  fail "graph --dot d/e/plan.dot failed"
"$nabla" verify --reference-only --kernels blocked --variants tensors >"$tmp/out" 2>&1 &&
  ok "verify from another directory finds the fixtures" || fail "verify from another directory: $(tail -1 "$tmp/out")"
cd "$tmp" || exit 1
builddir=$(dirname "$nabla")
if [ -f "$builddir/cmake_install.cmake" ] && command -v cmake >/dev/null; then
  cmake --install "$builddir" --prefix "$tmp/prefix" >/dev/null 2>&1
  # the installed copy is the one used: a case removed there makes verify fail, not pass
  inst_case=$(ls "$tmp/prefix/share/nabla/reference/fixtures" | grep '^tensors-f64' | head -1)
  "$tmp/prefix/bin/nabla" verify --reference-only --kernels blocked --variants tensors >"$tmp/out" 2>&1 &&
    ok "an installed nabla verifies with its installed fixtures" || fail "installed verify: $(tail -1 "$tmp/out")"
  rm -rf "$tmp/prefix/share/nabla/reference/fixtures/$inst_case"
  if "$tmp/prefix/bin/nabla" verify --reference-only --kernels blocked --variants tensors >"$tmp/out" 2>&1; then
    fail "the installed nabla did not read its own share/nabla (a removed case went unnoticed)"
  else ok "the installed nabla reads share/nabla beside it"; fi
fi
# fake twins: NABLA_DATA_DIR points at a reference/ whose tensors.py fails in a known way
mkdir -p "$tmp/data/reference"
printf 'import sys\nprint("the twin says: no")\nsys.exit(3)\n' >"$tmp/data/reference/tensors.py"
NABLA_DATA_DIR=$tmp/data "$nabla" bench --variants tensors --kernels blocked --threads 1 --iters 1 --repeats 1 --warmup 0 --out "$tmp/tw" >"$tmp/out" 2>&1
grep -q "exit status 3" "$tmp/out" && grep -q "the twin says: no" "$tmp/out" && ! grep -q "exit 768" "$tmp/out" &&
  ok "a failed twin: 'exit status 3' and its last line, not a raw wait status" || fail "twin failure message: $(grep error "$tmp/out")"
printf 'import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n' >"$tmp/data/reference/tensors.py"
NABLA_DATA_DIR=$tmp/data "$nabla" bench --variants tensors --kernels blocked --threads 1 --iters 1 --repeats 1 --warmup 0 --out "$tmp/tw" >"$tmp/out" 2>&1
grep -q "killed by signal 9" "$tmp/out" && ok "a killed twin: 'killed by signal 9'" || fail "killed twin message: $(grep error "$tmp/out")"
NABLA_DATA_DIR=$tmp/nowhere "$nabla" bench --variants tensors --kernels blocked --threads 1 --iters 1 --repeats 1 --out "$tmp/tw2" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "NABLA_DATA_DIR" "$tmp/err" && ok "no twins to be found: exit 1 before anything runs" || fail "bad NABLA_DATA_DIR: $(cat "$tmp/err")"

# ---- 6. outputs checked first, never half-written (a file-size limit stands in for a full disk)
mkdir -p "$tmp/full" && echo sentinel >"$tmp/full/bench.json"
start=$(date +%s%N)
( ulimit -f 64; exec "$nabla" bench "${tiny[@]}" --kernels naive --iters 50 --repeats 3 --out "$tmp/full" ) >"$tmp/out" 2>"$tmp/err"; code=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
if [ $code -eq 1 ] && grep -q "File too large" "$tmp/err" && [ "$(cat "$tmp/full/bench.json")" = sentinel ] &&
   [ -z "$(ls "$tmp/full" | grep -v '^bench.json$')" ] && ! grep -q "nabla bench:.*cases" "$tmp/out"; then
  ok "bench on a 'full disk': refused before running (${took} ms), old file intact, nothing left behind"
else fail "bench on a full disk: exit $code, $(cat "$tmp/err"), files: $(ls -a "$tmp/full")"; fi
( ulimit -f 64; exec "$nabla" kernels --sweep --quick --out "$tmp/fullsweep" ) >"$tmp/out" 2>"$tmp/err"; code=$?
[ $code -eq 1 ] && ! grep -q "GFLOP" "$tmp/out" && ok "kernels --sweep on a 'full disk': refused before timing" ||
  fail "sweep on a full disk: exit $code $(cat "$tmp/err")"
( ulimit -f 64; exec "$nabla" graph --dot "$tmp/fulldot/plan.dot" ) >"$tmp/out" 2>"$tmp/err"; code=$?
[ $code -eq 1 ] && [ -z "$(ls -A "$tmp/fulldot" 2>/dev/null)" ] && ok "graph --dot on a 'full disk': exit 1, no file" ||
  fail "graph --dot on a full disk: exit $code, $(ls -A "$tmp/fulldot")"

# ---- 9 and 10. SIGINT, SIGTERM, SIGHUP alike; children killed; printed lines kept ---------
# train: stopped by each signal, the lines printed so far are in the file, then the summary
for sig in INT TERM HUP; do
  "$nabla" train --kernel blocked --threads 1 --iters 100000000 --print-every 200 >"$tmp/train.$sig" 2>"$tmp/err" &
  pid=$!; pids+=("$pid")
  # at most 30 s: a sanitizer build (make sanitize) runs this loop many times slower
  for _ in $(seq 600); do grep -q "epoch:  400 " "$tmp/train.$sig" 2>/dev/null && break; sleep 0.05; done
  kill -s "$sig" "$pid"; wait "$pid"; code=$?
  want=$((128 + $(kill -l "$sig")))
  if [ $code -eq $want ] && grep -q "epoch:  400 " "$tmp/train.$sig" && grep -q "^summary: .*steps=" "$tmp/train.$sig" &&
     grep -q "interrupted by SIG$sig" "$tmp/err"; then ok "train under SIG$sig: exit $want, epoch lines and summary kept"
  else fail "train under SIG$sig: exit $code (want $want), $(wc -l <"$tmp/train.$sig") lines, $(cat "$tmp/err")"; fi
done
# SIGKILL cannot be caught: what was printed must already be in the file (line-buffered stdout)
"$nabla" train --kernel blocked --threads 1 --iters 100000000 --print-every 200 >"$tmp/train.KILL" 2>/dev/null &
pid=$!; pids+=("$pid")
for _ in $(seq 600); do grep -q "epoch:  400 " "$tmp/train.KILL" 2>/dev/null && break; sleep 0.05; done
kill -9 "$pid"; wait "$pid" 2>/dev/null
grep -q "epoch:  400 " "$tmp/train.KILL" && ok "train under SIGKILL: the printed lines are in the file" ||
  fail "train under SIGKILL lost its output ($(wc -c <"$tmp/train.KILL") bytes)"
# bench with a twin that hangs: SIGTERM stops nabla and the twin with it (no orphan)
printf 'import os, sys, time\nopen(sys.argv[0] + ".pid", "w").write(str(os.getpid()))\ntime.sleep(60)\n' >"$tmp/data/reference/tensors.py"
rm -f "$tmp/data/reference/tensors.py.pid"
NABLA_DATA_DIR=$tmp/data "$nabla" bench --variants tensors --kernels blocked --threads 1 --iters 5 --repeats 2 --warmup 0 --out "$tmp/hang" >"$tmp/out" 2>"$tmp/err" &
pid=$!; pids+=("$pid")
for _ in $(seq 200); do [ -s "$tmp/data/reference/tensors.py.pid" ] && break; sleep 0.05; done
twin=$(cat "$tmp/data/reference/tensors.py.pid" 2>/dev/null)
kill -TERM "$pid"; wait "$pid"; code=$?
sleep 0.3
if [ -n "$twin" ] && [ $code -eq 143 ] && ! kill -0 "$twin" 2>/dev/null && grep -q "interrupted by SIGTERM" "$tmp/err"; then
  ok "bench under SIGTERM with a twin running: exit 143, the twin is gone"
else fail "bench under SIGTERM: exit $code, twin ${twin:-never started} $(kill -0 "$twin" 2>/dev/null && echo still alive)"; kill -9 "$twin" 2>/dev/null; fi
# verify and the sweep stop on SIGTERM with their own summary
"$nabla" verify --kernels naive >"$tmp/out" 2>&1 &
pid=$!; pids+=("$pid")
# once it is checking (a few rows out; at most 30 s under a sanitizer)
for _ in $(seq 600); do [ "$(grep -c ' OK' "$tmp/out" 2>/dev/null)" -ge 3 ] && break; sleep 0.05; done
kill -TERM "$pid"; wait "$pid"; code=$?
[ $code -eq 143 ] && grep -q "verify: interrupted by SIGTERM after" "$tmp/out" && ok "verify under SIGTERM: exit 143 with a summary" ||
  fail "verify under SIGTERM: exit $code, $(tail -1 "$tmp/out")"
"$nabla" kernels --sweep --kernels naive,blocked --threads 1 --dtypes f64 --sizes 512,1024 --naive-max 1024 --out "$tmp/swi" >"$tmp/out" 2>&1 &
pid=$!; pids+=("$pid")
for _ in $(seq 200); do [ -f "$tmp/swi/sweep.json" ] && break; sleep 0.05; done
kill -HUP "$pid"; wait "$pid"; code=$?
if [ $code -eq 129 ] && grep -q "interrupted by SIGHUP" "$tmp/out" && json "$tmp/swi/sweep.json" 'len(d["rows"])' >/dev/null 2>&1; then
  ok "kernels --sweep under SIGHUP: exit 129, sweep.json whole"
else fail "sweep under SIGHUP: exit $code, $(tail -2 "$tmp/out")"; fi

echo "cli_trust: $cases checks passed, $failures failed"
[ "$failures" -eq 0 ]
