#!/usr/bin/env bash
# tests/cli_bench_dims.sh — `nabla bench`'s two extra dimensions (issue 15): busy neighbours
# (--neighbours LIST) and network sizes (--batch/--d-in/--hidden/--d-out LISTs). Every run of a
# neighbour count goes under a subreaper, so a neighbour that outlives nabla (never killed, or
# killed and never reaped) is re-parented to the test and counted, instead of vanishing into
# init; runs stopped by SIGINT and SIGKILL must leave none running either. The usage errors of
# both flags are rows of tests/cli_bad_inputs.sh.
# usage: tests/cli_bench_dims.sh path/to/nabla
set -u
nabla=$(readlink -f "${1:?usage: tests/cli_bench_dims.sh path/to/nabla}")
python=/usr/bin/python3
tmp=$(mktemp -d)
# readable by the unprivileged user of the fork-failure case (its --out is a 0777 directory inside)
chmod 755 "$tmp"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
# a private registry of running measurements (src/harness/overlap.h): another nabla run on the
# machine must not add its overlap warning to what these cases read
export XDG_RUNTIME_DIR="$tmp/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
failures=0
cases=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }
json() { "$python" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# reaper.py MODE LOG -- COMMAND...: runs COMMAND as the child of a subreaper (PR_SET_CHILD_SUBREAPER)
# and prints one JSON object: rc, orphans (children of COMMAND re-parented here once it ended,
# with how each ended), running (orphans still alive 2 s later, then killed), seen (PIDs of
# COMMAND's children seen before the signal) and spinning (whether those took CPU time).
# MODE run: wait for the end. MODE int / kill: wait until COMMAND has 2 live children, check
# that they use CPU, then send SIGINT / SIGKILL.
cat >"$tmp/reaper.py" <<'EOF'
import ctypes, json, os, signal, subprocess, sys, time

mode, log, argv = sys.argv[1], sys.argv[2], sys.argv[4:]
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    print(json.dumps({"error": "prctl(PR_SET_CHILD_SUBREAPER) failed"}))
    sys.exit(0)


def stat(pid):
    """(ppid, state, utime + stime in ticks) of pid, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0], int(fields[11]) + int(fields[12])


def live_children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = stat(int(d))
            if s and s[0] == pid and s[1] != "Z":
                kids.append(int(d))
    return sorted(kids)


with open(log, "w") as out:
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
seen, spinning = [], False
if mode in ("int", "kill"):
    deadline = time.time() + 20
    while time.time() < deadline and p.poll() is None and not spinning:
        kids = live_children(p.pid)
        if len(kids) < 2:
            time.sleep(0.02)
            continue
        before = {k: stat(k) for k in kids}
        time.sleep(0.5)
        after = {k: stat(k) for k in kids}
        # the same processes, still children of nabla, with more CPU time than before
        spinning = all(after[k] and after[k][0] == p.pid and after[k][2] > before[k][2] for k in kids)
        seen += [k for k in kids if k not in seen]
    p.send_signal(signal.SIGINT if mode == "int" else signal.SIGKILL)
rc = p.wait()
orphans, running = [], []
deadline = time.time() + 2
while True:
    try:
        pid, status = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break  # no child at all
    if pid:
        orphans.append({"pid": pid, "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None})
        continue
    if time.time() > deadline:
        for k in live_children(os.getpid()):
            running.append(k)
            os.kill(k, signal.SIGKILL)
        deadline = float("inf")
    time.sleep(0.05)
gone = all(stat(k) is None for k in seen)
print(json.dumps({"rc": rc, "orphans": orphans, "running": running, "seen": seen, "spinning": spinning,
                  "seen_gone": gone}))
EOF
reaped() { "$python" "$tmp/reaper.py" "$@"; }
field() { "$python" -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"; }

tiny=(--no-torch --variants tensors --kernels blocked)

# ---- neighbours: records, and none left behind -------------------------------------------------
cases=$((cases + 1))
r=$(reaped run "$tmp/n01.log" -- "$nabla" bench --neighbours 0,1 --iters 5 --repeats 2 "${tiny[@]}" --out "$tmp/n01")
if [ "$(field "$r" 'd["rc"], d["orphans"], d["running"]')" != "0 [] []" ]; then
  fail "--neighbours 0,1: $r; $(tail -n 3 "$tmp/n01.log")"
else
  # each thread count once alone and once beside one neighbour; one neighbour started per round
  # (1 warm-up + 2 timed), in the json, the csv and the md alike
  got=$(json "$tmp/n01/bench.json" 'sorted(c["neighbours"] for c in d["cases"]) == sorted([0, 1] * (len(d["cases"]) // 2)),
    len(d["cases"]) >= 2, d["config"]["neighbours"], d["config"]["neighbours_started"],
    len(d["context"]["loadavg_start"]) == 3 and all(x >= 0 for x in d["context"]["loadavg_start"])')
  csv=$("$python" -c 'import csv,sys; print(sorted({r["neighbours"] for r in csv.DictReader(open(sys.argv[1]))}))' "$tmp/n01/bench.csv")
  if [ "$got" = "True True 0,1 3 True" ] && [ "$csv" = "['0', '1']" ] && grep -q '^| tensors | blocked | 1 | 1 | ' "$tmp/n01/bench.md" &&
     grep -q '^tensors  *blocked  *1 .* +1nb$' "$tmp/n01.log" && grep -q '^tensors  *blocked  *1 .*[0-9-]$' "$tmp/n01.log"; then
    ok "--neighbours 0,1: cases of 0 and 1 neighbours (json, csv, md, +1nb in the table), 3 started, none left"
  else fail "--neighbours 0,1 records: $got, csv $csv; $(cat "$tmp/n01/bench.md")"; fi
fi

# the neighbours really run: their CPU time (wait4's) over two timed rounds without warm-up is a
# real share of the time the loops took beside them, not the few microseconds of a process that
# only starts (one that slept would have those)
cases=$((cases + 1))
r=$(reaped run "$tmp/cpu.log" -- "$nabla" bench --neighbours 1 --iters 300 --repeats 2 --warmup 0 --threads 1 "${tiny[@]}" --out "$tmp/cpu")
got=$(json "$tmp/cpu/bench.json" 'd["config"]["neighbours_started"], d["config"]["neighbours_cpu_s"] > 0.1 * sum(sum(c["samples_s"]) for c in d["cases"])' 2>&1)
if [ "$(field "$r" 'd["rc"], d["orphans"]')" = "0 []" ] && [ "$got" = "2 True" ]; then
  ok "--neighbours 1: 2 neighbours started, their CPU time over a tenth of the loops' time, none left"
else fail "--neighbours 1 CPU time: $got; $r; $(tail -n 3 "$tmp/cpu.log")"; fi

# stopped midway: SIGINT kills and reaps them (exit 130); SIGKILL leaves it to the kernel
# (PR_SET_PDEATHSIG): the orphans must all be dead at once, none still spinning
long=(--neighbours 2 --iters 100000 --repeats 2 --warmup 0 --threads 1 "${tiny[@]}")
cases=$((cases + 1))
r=$(reaped int "$tmp/int.log" -- "$nabla" bench "${long[@]}" --out "$tmp/int")
if [ "$(field "$r" 'd["rc"], len(d["seen"]), d["spinning"], d["orphans"], d["running"], d["seen_gone"]')" = "130 2 True [] [] True" ]; then
  ok "SIGINT: 2 spinning neighbours seen, exit 130, both killed and reaped by nabla"
else fail "SIGINT with neighbours: $r; $(tail -n 3 "$tmp/int.log")"; fi
cases=$((cases + 1))
r=$(reaped kill "$tmp/kill.log" -- "$nabla" bench "${long[@]}" --out "$tmp/kill")
if [ "$(field "$r" 'd["rc"], len(d["seen"]), d["spinning"], d["running"], d["seen_gone"], sorted(o["signal"] for o in d["orphans"])')" = "-9 2 True [] True [9, 9]" ]; then
  ok "SIGKILL: the 2 orphaned neighbours were killed with nabla (SIGKILL), none left running"
else fail "SIGKILL with neighbours: $r"; fi

# fork fails (no process left under RLIMIT_NPROC, which root ignores: run as nobody): exit 1, one line
cases=$((cases + 1))
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  mkdir -m 777 "$tmp/nproc"
  mkdir -m 700 "$tmp/nobody-run" && chown 65534:65534 "$tmp/nobody-run" # its registry (overlap.h), not /tmp's
  # (LeakSanitizer, under make sanitize, needs a thread of its own at exit: not in this case)
  XDG_RUNTIME_DIR="$tmp/nobody-run" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" setpriv --reuid=65534 --regid=65534 --clear-groups \
    bash -c 'ulimit -u 1 && exec "$@"' _ "$nabla" bench --neighbours 1 --iters 5 --repeats 1 --threads 1 "${tiny[@]}" \
    --out "$tmp/nproc" >"$tmp/out" 2>"$tmp/err"
  code=$?
  if [ $code -eq 1 ] && [ "$(grep -c . "$tmp/err")" -eq 1 ] &&
     grep -q "^nabla bench: cannot start busy neighbour 1 of 1: fork: Resource temporarily unavailable$" "$tmp/err"; then
    ok "fork refused (ulimit -u): exit 1, one line: $(cat "$tmp/err")"
  else fail "fork refused: exit $code, stderr: $(cat "$tmp/err")"; fi
else ok "(skipped: the fork failure case needs root and setpriv)"; fi

# --compare: the N=0 cases keep their keys, those with neighbours pair only among themselves
cases=$((cases + 1))
"$nabla" bench --iters 5 --repeats 2 "${tiny[@]}" --out "$tmp/n0" >"$tmp/n0.log" 2>&1
"$nabla" bench --compare "$tmp/n0/bench.json" "$tmp/n01/bench.json" >"$tmp/out" 2>&1
code=$?
if [ $code -eq 0 ] && grep -q "^note: neighbours: 0 vs 0,1 (allowed" "$tmp/out" && grep -q "^tensors blocked 1  " "$tmp/out" &&
   grep -q "^only in NEW: tensors blocked 1 +1nb" "$tmp/out" && ! grep -q "^only in OLD" "$tmp/out" &&
   head -n 1 "$tmp/n0/bench.md" | grep -q '^| variant | kernel | threads | median ms |'; then
  ok "--compare: 0 vs 0,1 noted, N=0 cases paired by their old keys, +1nb only in NEW; seed md layout unchanged"
else fail "--compare neighbours: exit $code: $(cat "$tmp/out")"; fi

# ---- sizes --------------------------------------------------------------------------------------
cases=$((cases + 1))
"$nabla" bench --hidden 7,9 --iters 3 --repeats 1 --warmup 0 "${tiny[@]}" --out "$tmp/h79" >"$tmp/h79.log" 2>&1
code=$?
"$nabla" bench --iters 3 --repeats 1 --warmup 0 "${tiny[@]}" --out "$tmp/s0" >"$tmp/s0.log" 2>&1
got=$(json "$tmp/h79/bench.json" '[(c["threads"], c["hidden"], c["batch"], c["d_in"], c["d_out"]) for c in d["cases"]], d["config"]["hidden"]' 2>&1)
n0=$(json "$tmp/s0/bench.json" 'len(d["cases"])' 2>&1)
"$nabla" bench --compare "$tmp/s0/bench.json" "$tmp/h79/bench.json" >"$tmp/out" 2>&1
if [ $code -eq 0 ] && [ "$(json "$tmp/h79/bench.json" 'len(d["cases"])')" = "$((2 * n0))" ] &&
   [ "$(json "$tmp/h79/bench.json" 'sorted({c["hidden"] for c in d["cases"]})')" = "[7, 9]" ] &&
   [ "$(json "$tmp/h79/bench.json" 'd["config"]["hidden"], {(c["batch"], c["d_in"], c["d_out"]) for c in d["cases"]}')" = "100 {(64, 1000, 10)}" ] &&
   grep -q '^tensors  *blocked  *1 .* H7$' "$tmp/h79.log" && grep -q '^tensors  *blocked  *1 .* H9$' "$tmp/h79.log" &&
   grep -q '^| tensors | blocked | 1 | H9 | ' "$tmp/h79/bench.md" &&
   grep -q "^only in OLD: tensors blocked 1" "$tmp/out" && grep -q "^no case appears in both files" "$tmp/out" &&
   grep -q "^only in NEW: .*tensors blocked 1 H7.*tensors blocked 1 H9" "$tmp/out"; then
  ok "--hidden 7,9: twice the seed's cases, labelled H7 and H9 (table, md, --compare keys), seed sizes in config"
else fail "--hidden 7,9: exit $code, cases $got (the seed's: $n0); $(cat "$tmp/out")"; fi

# the twin gets the sizes too: its matmul FLOPs are those of the network nabla ran
cases=$((cases + 1))
if "$python" -c "import torch" 2>/dev/null; then
  "$nabla" bench --batch 8 --d-in 33 --hidden 7 --d-out 5 --iters 3 --repeats 1 --warmup 0 --variants tensors \
    --kernels blocked --threads 1 --out "$tmp/twin" >"$tmp/twin.log" 2>&1
  code=$?
  got=$(json "$tmp/twin/bench.json" 'sorted((c["kernel"], c["matmul_flops"], c["hidden"]) for c in d["cases"])' 2>&1)
  # 3 steps x 2 x (2 N D H + 3 N H O)
  want="[('blocked', 27216, 7), ('torch', 27216, 7)]"
  if [ $code -eq 0 ] && [ "$got" = "$want" ]; then ok "the twin ran N8 D33 H7 O5: $got"
  else fail "twin sizes: exit $code, $got, expected $want; $(tail -n 3 "$tmp/twin.log")"; fi
else ok "(skipped: no torch for the twin's sizes)"; fi

echo "$cases cases, $failures failures"
[ "$failures" -eq 0 ]
