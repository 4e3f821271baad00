#!/usr/bin/env bash
# tests/cli.sh — the `nabla` command line, table-driven: every bad flag or value gives exit
# 2, exactly one line on stderr naming the culprit, and nothing on stdout; good invocations
# succeed; the same seed, kernel and threads reproduce the same losses bit for bit.
# usage: tests/cli.sh path/to/nabla
set -u
nabla=${1:?usage: tests/cli.sh path/to/nabla}
failures=0
cases=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A private registry of running measurements (src/harness/overlap.h): another nabla run on the
# machine must not add its overlap warning to the stderr these cases count.
export XDG_RUNTIME_DIR="$tmp/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# usage_error "<expected text in the message>" args...  (env from the caller's prefix)
usage_error() {
  local expect=$1; shift
  cases=$((cases + 1))
  "$nabla" "$@" >"$tmp/out" 2>"$tmp/err"
  local code=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$code" -ne 2 ]; then fail "nabla $* exited $code, expected 2"; return; fi
  if [ "$lines" -ne 1 ]; then fail "nabla $* printed $lines lines on stderr, expected 1"; cat "$tmp/err"; return; fi
  if ! grep -qF -- "$expect" "$tmp/err"; then fail "nabla $*: message lacks '$expect': $(cat "$tmp/err")"; return; fi
  if [ -s "$tmp/out" ]; then fail "nabla $* wrote to stdout on a usage error"; return; fi
  echo "ok   exit 2: nabla $*  ->  $(cat "$tmp/err")"
}

succeeds() {
  cases=$((cases + 1))
  if "$nabla" "$@" >"$tmp/out" 2>"$tmp/err"; then echo "ok   exit 0: nabla $*"; else fail "nabla $* exited $?: $(cat "$tmp/err")"; fi
}

small=(--batch 8 --d-in 33 --hidden 17 --d-out 5 --iters 20 --print-every 0)
# The registry's lists, from the binary, so a new variant or kernel is covered without an edit
# here: `nabla train --help`'s "variants:" line, and `nabla kernels`, one kernel a line (its
# name first). An empty list means the parsing broke, which must not pass as "nothing to check".
variants=$("$nabla" train --help 2>&1 | sed -n 's/^variants: *//p' | tr -d ',')
kernel_list=$("$nabla" kernels 2>/dev/null | awk 'NF { printf "%s%s", sep, $1; sep = ", " }')
if [ -z "$variants" ] || [ -z "$kernel_list" ]; then
  fail "no variants in nabla train --help ('$variants') or no kernels in nabla kernels ('$kernel_list')"
fi

usage_error "unknown command 'frobnicate'" frobnicate
usage_error "unknown flag '--bogus'" train --bogus
usage_error "unknown flag '--bogus'" train --bogus=3
usage_error "unexpected argument 'stray'" train stray
usage_error "unknown variant 'nope'" train --variant nope
usage_error "unknown kernel 'nope'" train --kernel nope
usage_error "--batch 0 is out of range" train --batch 0
usage_error "--batch -5 is out of range" train --batch -5
usage_error "--hidden expects an integer, got 'abc'" train --hidden abc
usage_error "--d-in expects an integer, got '12x'" train --d-in 12x
usage_error "--d-out 99999999999999999999 is out of range" train --d-out 99999999999999999999
usage_error "needs more memory than this machine has" train --batch 16777216 --d-in 16777216
usage_error "--iters needs a value" train --iters
usage_error "--lr must be finite, got 'nan'" train --lr nan
usage_error "--lr must be finite, got 'inf'" train --lr inf
usage_error "--lr -1 is out of range" train --lr -1
usage_error "--threads 0 is out of range" train --threads 0
usage_error "--threads 1000000 is out of range" train --threads 1000000
usage_error "--dtype must be f32 or f64, got 'f16'" train --dtype f16
usage_error "--seed expects a non-negative integer, got '-1'" train --seed -1
usage_error "--json takes no value" train --json=1
usage_error "sizes in '0x1x1' must be within 1..32768" kernels --bench --shapes 0x1x1
usage_error "shape '64x100'" kernels --bench --shapes 64x100
usage_error "unknown kernel 'nope'" kernels --bench --kernels nope
usage_error "--threads wants up to 16 counts in 1..1024, got '0'" bench --threads 0
usage_error "unknown variant 'nope' in --variants" bench --variants nope
usage_error "unknown kernel 'nope' in --kernels" bench --kernels nope
usage_error "--compare takes two files" bench --compare only-one.json
usage_error "unknown variant 'nope'" profile --variant nope
usage_error "unknown kernel 'nope'" profile --kernel nope
usage_error "--iters 0 is out of range" profile --iters 0
usage_error "unknown name 'nope' in --kernels" verify --kernels nope
usage_error "unknown name 'nope' in --variants" verify --variants tensors,nope
usage_error "--dtype must be f64, f32 or all" verify --dtype f16
usage_error "exclude each other" verify --ops-only --models-only
usage_error "exclude each other" verify --grad-only --reference-only

cases=$((cases + 1))
NABLA_KERNEL=nope "$nabla" train "${small[@]}" >"$tmp/out" 2>"$tmp/err"; code=$?
if [ $code -eq 2 ] && grep -qF "unknown kernel 'nope' in NABLA_KERNEL" "$tmp/err"; then
  echo "ok   exit 2: NABLA_KERNEL=nope nabla train"
else fail "NABLA_KERNEL=nope: exit $code, $(cat "$tmp/err")"; fi

succeeds --help
succeeds --version
succeeds train --help
succeeds kernels
succeeds train "${small[@]}"
# every variant (tensors, the default, again, and static-graph also below, are cheap at this size)
for v in $variants; do succeeds train "${small[@]}" --variant "$v"; done
succeeds verify --kernels naive --variants dynamic --models-only --grad-only
succeeds verify --kernels blas --variants tensors --reference-only
succeeds profile --variant autograd --kernel naive --iters 5

# nabla bench writes its three reports, and --compare reads them back.
cases=$((cases + 1))
if "$nabla" bench --quick --variants tensors --kernels blas --threads 1 --no-torch --out "$tmp/bench" >"$tmp/out" 2>&1 \
   && [ -s "$tmp/bench/bench.json" ] && [ -s "$tmp/bench/bench.csv" ] && grep -q '^| tensors | blas | 1 |' "$tmp/bench/bench.md" \
   && "$nabla" bench --compare "$tmp/bench/bench.json" "$tmp/bench/bench.json" | grep -q "geometric mean of new/old: 1.000"; then
  echo "ok   bench writes json, csv and md; --compare reads them"
else fail "bench --quick or --compare: $(tail -3 "$tmp/out")"; fi

# A missing fixture directory is a failure to run (exit 1) that names it and the remedy.
cases=$((cases + 1))
"$nabla" verify --reference-only --fixtures "$tmp/none" >"$tmp/out" 2>"$tmp/err"; code=$?
if [ $code -eq 1 ] && grep -qF "$tmp/none" "$tmp/err" && grep -qF "make reference" "$tmp/err"; then
  echo "ok   exit 1: verify --fixtures missing-dir"
else fail "verify with a missing fixture dir: exit $code, $(cat "$tmp/err")"; fi

# The test-only switch NABLA_TEST_PERTURB_GEMM adds 1e-3 to one element of every product: a
# wrong kernel, which nabla verify must catch (exit 1, FAIL rows).
cases=$((cases + 1))
NABLA_TEST_PERTURB_GEMM=1e-3 "$nabla" verify --kernels blas --variants tensors --reference-only >"$tmp/out" 2>&1; code=$?
if [ $code -eq 1 ] && grep -q "FAIL" "$tmp/out"; then echo "ok   exit 1: verify catches a kernel perturbed by 1e-3"
else fail "a perturbed kernel was not caught: exit $code"; fi

# The tutorial's epoch lines and the summary line.
cases=$((cases + 1))
"$nabla" train --batch 8 --d-in 33 --hidden 17 --d-out 5 --iters 100 --kernel naive >"$tmp/out" 2>&1
if [ "$(grep -c '^epoch:  [0-9]*   loss: ' "$tmp/out")" -eq 2 ] && grep -q '^epoch:  100   loss: ' "$tmp/out" \
   && grep -q '^summary: variant=tensors kernel=naive .* steps=100 ' "$tmp/out"; then
  echo "ok   epoch lines every 50 steps and a summary line"
else fail "unexpected train output: $(cat "$tmp/out")"; fi

# NABLA_KERNEL selects the kernel when --kernel is absent; --kernel wins over it.
cases=$((cases + 1))
k1=$(NABLA_KERNEL=naive "$nabla" train "${small[@]}" | grep -o 'kernel=[a-z]*')
k2=$(NABLA_KERNEL=naive "$nabla" train "${small[@]}" --kernel blocked | grep -o 'kernel=[a-z]*')
if [ "$k1" = "kernel=naive" ] && [ "$k2" = "kernel=blocked" ]; then echo "ok   kernel selection order"
else fail "kernel selection: env gave '$k1', --kernel gave '$k2'"; fi

# Same seed, kernel and threads: the same losses, bit for bit (JSON prints shortest
# round-trip decimals, so equal text means equal doubles).
for kernel in $("$nabla" kernels | awk '$1 != "auto" {print $1}'); do
  for dtype in f32 f64; do
    cases=$((cases + 1))
    a=$("$nabla" train "${small[@]}" --kernel "$kernel" --dtype "$dtype" --threads 2 --seed 7 --json | grep -o '"losses":\[[^]]*\]')
    b=$("$nabla" train "${small[@]}" --kernel "$kernel" --dtype "$dtype" --threads 2 --seed 7 --json | grep -o '"losses":\[[^]]*\]')
    c=$("$nabla" train "${small[@]}" --kernel "$kernel" --dtype "$dtype" --threads 2 --seed 8 --json | grep -o '"losses":\[[^]]*\]')
    if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ]; then echo "ok   reproducible: $kernel $dtype"
    else fail "$kernel $dtype: two runs with seed 7 differ, or seed 8 gave the same losses"; fi
  done
done

# nabla graph: usage errors, the dump, the DOT file; the static-graph variant trains with
# every flag of nabla train and gives the autograd variant's losses bit for bit.
usage_error "nothing to do: give --dump, --dot FILE or --schedule" graph
usage_error "unknown flag '--bogus'" graph --dump --bogus
usage_error "--hidden 0 is out of range" graph --dump --hidden 0
usage_error "--dtype must be f32 or f64, got 'f16'" graph --dump --dtype f16
usage_error "--dot needs a value" graph --dot
usage_error "--lr must be finite, got 'nan'" graph --dump --lr nan
usage_error "needs more memory than this machine has" graph --dump --batch 16777216 --d-in 16777216
usage_error "unexpected argument 'x'" graph --dump x
cases=$((cases + 1))
if "$nabla" graph --dump --dot "$tmp/plan.dot" >"$tmp/out" 2>"$tmp/err" \
   && grep -q '^static graph plan: f32, .* (5 GEMM calls, 5 fused)' "$tmp/out" \
   && grep -q 'sub_sq_sum' "$tmp/out" && grep -q 'clamp_mask' "$tmp/out" && grep -q 'sgd_update' "$tmp/out" \
   && grep -q 'planned peak 429696' "$tmp/out" && [ "$(head -c 7 "$tmp/plan.dot")" = "digraph" ] \
   && [ ! -s "$tmp/err" ]; then echo "ok   nabla graph --dump --dot: the plan, fused groups, peak bytes, a DOT file"
else fail "nabla graph --dump --dot: $(head -3 "$tmp/out") $(cat "$tmp/err")"; fi
cases=$((cases + 1))
if "$nabla" graph --dot "$tmp/small.dot" --batch 3 --d-in 5 --hidden 4 --d-out 2 --dtype f64 --no-fusion --grad-x \
     >"$tmp/out" 2>"$tmp/err" && grep -q "^wrote $tmp/small.dot: " "$tmp/out" && grep -q '^digraph' "$tmp/small.dot" \
   && ! grep -q fillcolor "$tmp/small.dot"; then echo "ok   nabla graph --dot alone, unfused f64"
else fail "nabla graph --dot: $(cat "$tmp/out" "$tmp/err")"; fi
cases=$((cases + 1))
# /proc takes no new entry even from root (a missing directory would now be created)
"$nabla" graph --dump --dot /proc/nabla-no-dir/plan.dot >"$tmp/out" 2>"$tmp/err"
code=$?
if [ "$code" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'cannot create /proc/nabla-no-dir' "$tmp/err" &&
   [ ! -s "$tmp/out" ]; then
  echo "ok   exit 1: an unwritable DOT file"
else fail "unwritable DOT file: exit $code, $(cat "$tmp/err")"; fi
# --schedule: the per-thread plan; a block-invariant kernel's products are cut, blas's are not
cases=$((cases + 1))
if "$nabla" graph --schedule --threads 2 --kernel team >"$tmp/out" 2>"$tmp/err" \
   && grep -q '^schedule: 2 members, [0-9]* phases' "$tmp/out" && grep -Eq 'mm\[(rows|cols)\]' "$tmp/out" \
   && "$nabla" graph --schedule --threads 3 --kernel blas >"$tmp/out2" 2>>"$tmp/err" \
   && grep -q '^schedule: 3 members' "$tmp/out2" && ! grep -Eq 'mm\[(rows|cols)\]' "$tmp/out2" && [ ! -s "$tmp/err" ]; then
  echo "ok   nabla graph --schedule: team's products cut, blas's whole"
else fail "nabla graph --schedule: $(cat "$tmp/out" "$tmp/out2" "$tmp/err")"; fi

# Where train's thread count comes from: --threads, OMP_NUM_THREADS, or measured (or one CPU)
cases=$((cases + 1))
choice() { "$@" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); c=d["threads_choice"]; assert c["threads"]==d["config"]["threads"]; print(c["source"], len(c.get("measured", [])))'; }
given=$(choice env -u OMP_NUM_THREADS "$nabla" train "${small[@]}" --threads 2 --json)
omp=$(choice env OMP_NUM_THREADS=1 "$nabla" train "${small[@]}" --json)
measured=$(choice env -u OMP_NUM_THREADS "$nabla" train "${small[@]}" --json)
if [ "$given" = "--threads 0" ] && [ "$omp" = "OMP_NUM_THREADS 0" ] \
   && { [ "$measured" = "one CPU 0" ] || { [ "${measured%% *}" = "measured" ] && [ "${measured##* }" -ge 2 ]; }; }; then
  echo "ok   train's thread count: --threads, OMP_NUM_THREADS, else measured ($measured candidates)"
else fail "threads_choice: given '$given', omp '$omp', measured '$measured'"; fi

for dtype in f32 f64; do
  cases=$((cases + 1))
  a=$("$nabla" train "${small[@]}" --variant autograd --kernel blocked --dtype "$dtype" --seed 5 --lr 1e-4 --json | grep -o '"losses":\[[^]]*\]')
  b=$("$nabla" train "${small[@]}" --variant static-graph --kernel blocked --dtype "$dtype" --seed 5 --lr 1e-4 --json | grep -o '"losses":\[[^]]*\]')
  if [ -n "$a" ] && [ "$a" = "$b" ]; then echo "ok   static-graph equals autograd: $dtype, --lr, --seed"
  else fail "static-graph $dtype: losses differ from autograd's"; fi
done
cases=$((cases + 1))
"$nabla" train --variant static-graph --batch 8 --d-in 33 --hidden 17 --d-out 5 --iters 100 --kernel naive >"$tmp/out" 2>&1
if [ "$(grep -c '^epoch:  [0-9]*   loss: ' "$tmp/out")" -eq 2 ] \
   && grep -q '^summary: variant=static-graph kernel=naive .* steps=100 ' "$tmp/out"; then
  echo "ok   static-graph prints like the others"
else fail "unexpected static-graph output: $(cat "$tmp/out")"; fi

# kernels --sweep and --peak: bad values exit 2 with one line; a --quick sweep (seed products
# and squares 64, 256; f32 and f64; 1 thread) writes its three reports, and sweep.json holds
# one row per kernel and product, each with pct_peak (a number wherever the probe ran).
usage_error "unknown kernel 'nope'" kernels --sweep --kernels blas,nope
usage_error "--sizes wants sizes in 1..32768, got '0'" kernels --sweep --sizes 64,0
usage_error "--dtypes wants f32 and/or f64, got 'f16'" kernels --sweep --dtypes f16
usage_error "--threads wants counts in 1..1024, got '0'" kernels --sweep --threads 0
usage_error "--threads wants counts in 1..1024, got '0'" kernels --peak --threads 1,0
usage_error "--bench takes one --threads count" kernels --bench --threads 1,2
usage_error "--sizes goes with --sweep" kernels --bench --sizes 64
usage_error "--naive-max goes with --sweep" kernels --naive-max 4
usage_error "exclude each other" kernels --sweep --peak
usage_error "leave nothing to sweep" kernels --sweep --no-seed --no-squares
succeeds kernels --peak --threads 1 --dtypes f32
cases=$((cases + 1))
nkernels=$("$nabla" kernels | grep -vc "^auto ")
if "$nabla" kernels --sweep --quick --out "$tmp/sweep" >"$tmp/out" 2>"$tmp/err" \
   && [ -s "$tmp/sweep/sweep.csv" ] && grep -q '^| seed | h = x w1 | 64x100x1000:nn | f32 | 1 | ' "$tmp/sweep/sweep.md" \
   && /usr/bin/python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
rows, want = doc["rows"], (6 + 2) * 2 * int(sys.argv[2])
assert len(rows) == want, f"{len(rows)} rows, expected {want}"
assert doc["complete"] and doc["config"]["threads"] == [1] and doc["config"]["sizes"] == [64, 256]
assert all("pct_peak" in r for r in rows), "a row lacks pct_peak"
if doc["peak"]:
    assert all(isinstance(r["pct_peak"], (int, float)) and r["pct_peak"] > 0 for r in rows), "pct_peak not a number"
assert sorted({r["product"] for r in rows if r["group"] == "seed"}) == sorted([
    "h = x w1", "y = h_relu w2", "grad_w2 = h_relu^T grad_y", "grad_h_relu = grad_y w2^T",
    "grad_w1 = x^T grad_h", "grad_x = grad_h w1^T"])
' "$tmp/sweep/sweep.json" "$nkernels" 2>"$tmp/err"; then
  echo "ok   kernels --sweep --quick writes json, csv and md; $(tail -1 "$tmp/out")"
else fail "kernels --sweep --quick: $(tail -2 "$tmp/out") $(cat "$tmp/err")"; fi

# tune and --kernel auto: every run names its own table through NABLA_TUNE_FILE, never the
# user's cache. tune --quick writes the table; train, profile and verify use it; a broken table
# is exit 1 with one line and stays as it was; a stale one (another CPU) is measured again.
tune_file="$tmp/tune/tune.json"
usage_error "--threads wants up to 16 counts in 1..1024, got '0'" tune --threads 0
usage_error "--dtypes wants f32 and/or f64, got 'f16'" tune --dtypes f32,f16
usage_error "shape '64x100'" tune --shapes 64x100
usage_error "--repeats 0 is out of range" tune --repeats 0
usage_error "--min-time -1 is out of range" tune --min-time -1
usage_error "--show measures nothing" tune --show --quick
usage_error "unknown flag '--bogus'" tune --bogus
usage_error "unknown kernel 'nope' (expected one of: $kernel_list)" train --kernel nope
cases=$((cases + 1))
if NABLA_TUNE_FILE=$tune_file "$nabla" tune --quick >"$tmp/out" 2>"$tmp/err" && [ ! -s "$tmp/err" ] \
   && grep -q '^64x100x1000:nn  *f32  *1 ' "$tmp/out" && grep -q "^wrote $tune_file: " "$tmp/out" \
   && grep -q '"format":[[:space:]]*"nabla-tune"' "$tune_file"; then
  echo "ok   tune --quick writes the table"
else fail "tune --quick: $(tail -2 "$tmp/out") $(cat "$tmp/err")"; fi
cases=$((cases + 1))
if NABLA_TUNE_FILE=$tune_file "$nabla" tune --show >"$tmp/out" 2>"$tmp/err" && grep -q '^status: current' "$tmp/out" \
   && grep -q '^100x1000x64:tn  *f64 ' "$tmp/out"; then echo "ok   tune --show: the table is current"
else fail "tune --show: $(head -3 "$tmp/out") $(cat "$tmp/err")"; fi
cases=$((cases + 1))
if NABLA_TUNE_FILE=$tune_file "$nabla" train "${small[@]}" --kernel auto --threads 1 >"$tmp/out" 2>"$tmp/err" \
   && [ ! -s "$tmp/err" ] && grep -q '^summary: variant=tensors kernel=auto threads=1 ' "$tmp/out" \
   && NABLA_TUNE_FILE=$tune_file NABLA_KERNEL=auto "$nabla" train "${small[@]}" --variant nn --dtype f64 >"$tmp/out" 2>"$tmp/err" \
   && [ ! -s "$tmp/err" ] && grep -q '^summary: variant=nn kernel=auto .* dtype=f64 ' "$tmp/out"; then
  echo "ok   train --kernel auto and NABLA_KERNEL=auto use the table silently"
else fail "train --kernel auto: $(cat "$tmp/out" "$tmp/err")"; fi
cases=$((cases + 1))
# auto picks one of the concrete kernels, whichever the binary has (`nabla kernels`, not auto)
concrete=$("$nabla" kernels | awk '$2 != "dispatch" {print $1}' | paste -sd'|')
if NABLA_TUNE_FILE=$tune_file "$nabla" profile --kernel auto --variant dynamic --iters 3 --threads 1 >"$tmp/out" 2>"$tmp/err" \
   && [ -n "$concrete" ] && grep -q "^auto's choices" "$tmp/out" \
   && grep -Eq "^64x100x100:nt +f32 +1 +($concrete) +[0-9]+\$" "$tmp/out"; then
  echo "ok   profile --kernel auto shows the kernel per product"
else fail "profile --kernel auto: $(tail -4 "$tmp/out") $(cat "$tmp/err")"; fi
cases=$((cases + 1))
if NABLA_TUNE_FILE=$tune_file "$nabla" verify --kernels auto --variants dynamic --models-only --grad-only >"$tmp/out" 2>&1 \
   && grep -q 'model dynamic auto ' "$tmp/out" && grep -q '^verify: [1-9][0-9]* checks, 0 failed' "$tmp/out"; then
  echo "ok   verify --kernels auto runs the checks with auto"
else fail "verify --kernels auto: $(tail -2 "$tmp/out")"; fi
cases=$((cases + 1))
sed -E 's/("cpu_model":[[:space:]]*")[^"]*"/\1Imaginary CPU"/' "$tune_file" >"$tmp/stale.json" && cp "$tmp/stale.json" "$tune_file"
if NABLA_TUNE_FILE=$tune_file "$nabla" train "${small[@]}" --kernel auto --threads 1 >"$tmp/out" 2>"$tmp/err" \
   && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF "is stale: the CPU changed from 'Imaginary CPU'" "$tmp/err" \
   && grep -q '^summary: .*kernel=auto' "$tmp/out" && ! grep -q 'Imaginary CPU' "$tune_file"; then
  echo "ok   a stale table is measured again: $(cat "$tmp/err")"
else fail "stale tune table: $(cat "$tmp/err")"; fi
printf '{"format": "nabla-tune", "version": 1, "context": {' >"$tune_file"
cp "$tune_file" "$tmp/broken.json"
for args in "train --batch 8 --d-in 33 --hidden 17 --d-out 5 --iters 2" "profile --iters 1"; do
  cases=$((cases + 1))
  cmd=${args%% *}
  NABLA_TUNE_FILE=$tune_file "$nabla" $args --kernel auto >"$tmp/out" 2>"$tmp/err"; code=$?
  if [ $code -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF "$tune_file: not valid JSON" "$tmp/err" \
     && grep -qF "nabla tune" "$tmp/err" && cmp -s "$tune_file" "$tmp/broken.json"; then
    echo "ok   exit 1: $cmd --kernel auto with a broken table -> $(cat "$tmp/err")"
  else fail "$cmd --kernel auto, broken table: exit $code, $(cat "$tmp/err")"; fi
done

echo "$cases cases, $failures failures"
[ "$failures" -eq 0 ]
