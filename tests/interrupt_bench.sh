#!/usr/bin/env bash
# tests/interrupt_bench.sh — `nabla bench` stopped midway. SIGINT: the running loop stops
# before its next step, nothing more starts, the files hold every whole sample (marked
# "interrupted"), a partial summary table goes to stdout, and the exit code is 130. SIGKILL:
# whatever the moment, bench.json, .csv and .md are the last complete round's (they are
# replaced by rename after each round), never truncated or half-written.
# usage: tests/interrupt_bench.sh path/to/nabla
set -u
nabla=${1:?usage: tests/interrupt_bench.sh path/to/nabla}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0
cases=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# a private registry of running measurements (src/harness/overlap.h): another nabla measurement
# on the machine (a test beside this one under ctest -j) must not add its overlap warning to the
# stderr checked below
export XDG_RUNTIME_DIR="$tmp/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"

# Slow enough to be caught midway (naive: ~0.4 s a loop), 4 cases a round, 20 rounds.
bench_args=(bench --no-torch --variants tensors,autograd --kernels naive,blocked --threads 1 --iters 50
            --warmup 0 --repeats 20)

# Waits until bench.json in $1 reports at least $2 finished rounds (10 s at most).
wait_rounds() {
  for _ in $(seq 200); do
    if [ -f "$1/bench.json" ] && /usr/bin/python3 -c '
import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["config"]["rounds_done"] >= int(sys.argv[2]) else 1)' "$1/bench.json" "$2" 2>/dev/null
    then return 0; fi
    sleep 0.05
  done
  return 1
}

# check_files DIR INTERRUPTED: the three files parse and agree; every case has rounds_done
# samples (SIGKILL: exactly; SIGINT: at least, the cut round's finished cases one more).
check_files() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import csv, json, os, sys
d, interrupted = sys.argv[1], sys.argv[2] == "1"
doc = json.load(open(os.path.join(d, "bench.json")))
cfg, cases = doc["config"], doc["cases"]
rounds = cfg["rounds_done"]
assert rounds >= 1, f"rounds_done {rounds}"
assert cfg["interrupted"] == interrupted, f"interrupted is {cfg['interrupted']}"
assert len(cases) == 4, f"{len(cases)} cases"
for c in cases:
    n = len(c["samples_s"])
    assert "error" not in c, c["error"]
    if interrupted:
        assert rounds <= n <= rounds + 1, f"{c['variant']} {c['kernel']}: {n} samples, {rounds} rounds"
    else:
        assert n == rounds, f"{c['variant']} {c['kernel']}: {n} samples after {rounds} whole rounds"
    assert all(s > 0 for s in c["samples_s"])
    assert c["median_s"] > 0
rows = list(csv.DictReader(open(os.path.join(d, "bench.csv"))))
assert len(rows) == 4, f"{len(rows)} csv rows"
assert [int(r["samples"]) for r in rows] == [len(c["samples_s"]) for c in cases], "csv and json disagree"
md = open(os.path.join(d, "bench.md")).read().splitlines()
assert len(md) == 2 + 4, f"{len(md)} markdown lines"
stray = [f for f in os.listdir(d) if ".tmp." in f]
print(f"rounds_done {rounds}, samples {[len(c['samples_s']) for c in cases]}" + (f", stray temp files {stray}" if stray else ""))
PY
}

# ---- SIGINT after the first round ----------------------------------------------------------
cases=$((cases + 1))
out=$tmp/int
"$nabla" "${bench_args[@]}" --out "$out" >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!
if ! wait_rounds "$out" 1; then fail "SIGINT: no round finished in 10 s"; else
  t0=$(date +%s%N)
  kill -INT "$pid"
  wait "$pid"; code=$?; pid=
  ms=$((($(date +%s%N) - t0) / 1000000))
  if [ "$code" -ne 130 ]; then fail "SIGINT: exit $code, expected 130: $(cat "$tmp/stderr")"
  elif [ "$ms" -gt 3000 ]; then fail "SIGINT: took $ms ms to stop (a loop should stop at its next step)"
  elif ! grep -q '^interrupted: [0-9]* timed loops kept ([0-9]* complete round' "$tmp/stdout" \
       || ! grep -q '^tensors  *naive  *1 ' "$tmp/stdout" || ! grep -q '^autograd  *blocked  *1 ' "$tmp/stdout" \
       || ! grep -q 'bench.md (partial)$' "$tmp/stdout"; then
    fail "SIGINT: no partial summary on stdout: $(tail -8 "$tmp/stdout")"
  elif [ "$(cat "$tmp/stderr")" != "nabla bench: interrupted by SIGINT" ]; then fail "SIGINT: stderr: $(cat "$tmp/stderr")"
  elif ! summary=$(check_files "$out" 1 2>&1); then fail "SIGINT: files: $summary"
  elif ls "$out" | grep -q '\.tmp\.'; then fail "SIGINT: temporary files left: $(ls "$out")"
  else echo "ok   SIGINT: exit 130 after $ms ms, partial table on stdout, $summary"; fi
fi

# ---- SIGINT before any round finished: an earlier run's files stay as they were -------------
cases=$((cases + 1))
before=$(md5sum "$out/bench.json")
"$nabla" "${bench_args[@]}" --out "$out" >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!
# the header line is flushed once SIGINT is caught; the first loop (naive) takes ~0.4 s
for _ in $(seq 200); do grep -q '^nabla bench: ' "$tmp/stdout" && break; sleep 0.02; done
kill -INT "$pid"; wait "$pid"; code=$?; pid=
if [ "$code" -eq 130 ] && [ "$(md5sum "$out/bench.json")" = "$before" ] && grep -q '^interrupted: 0 timed loops kept' "$tmp/stdout"; then
  echo "ok   SIGINT before the first sample: exit 130, the earlier bench.json untouched"
else fail "SIGINT early: exit $code, bench.json changed or no summary: $(tail -3 "$tmp/stdout")"; fi

# ---- SIGKILL at several moments after the first round -----------------------------------------
for delay in 0 0.13 0.41 0.77 1.9; do
  cases=$((cases + 1))
  out=$tmp/kill-$delay
  "$nabla" "${bench_args[@]}" --out "$out" >/dev/null 2>&1 &
  pid=$!
  if ! wait_rounds "$out" 1; then fail "SIGKILL: no round finished in 10 s"; continue; fi
  sleep "$delay"
  kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
  if summary=$(check_files "$out" 0 2>&1); then echo "ok   SIGKILL ${delay}s after round 1: files whole, $summary"
  else fail "SIGKILL after ${delay}s: $summary"; fi
done

echo "$cases cases, $failures failed"
[ "$failures" -eq 0 ]
