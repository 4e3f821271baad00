#!/usr/bin/env bash
# tests/concurrency.sh — nabla runs at the same time, and a tuning table that cannot be saved
# (issue 13): concurrent `nabla tune` and first-time `--kernel auto` runs on one table keep
# every run's entries and say when they timed each other; an unwritable table stops `nabla
# tune` before it measures, while `train --kernel auto` trains anyway with one warning.
# usage: tests/concurrency.sh path/to/nabla
set -u
nabla=${1:?usage: tests/concurrency.sh path/to/nabla}
failures=0
cases=0
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# A runtime directory of its own: the overlaps seen are between this script's runs only, not
# with whatever else runs nabla on the machine.
export XDG_RUNTIME_DIR=$tmp/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
runs=$XDG_RUNTIME_DIR/nabla/runs

# How many rows `nabla tune --show` prints for dtype $2 at $3 threads of table $1.
rows() { NABLA_TUNE_FILE=$1 "$nabla" tune --show 2>/dev/null | grep -cE "^[0-9]+x[0-9]+x[0-9]+:[nt]{2} +$2 +$3 "; }

nseed=13 # the seed's products (src/harness/tune.c, seed_shapes)
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# 1. Two `nabla tune` at once on one table, f32 and f64: the table holds both sets, and the
#    runs warn that they measured each other. The second starts once the first has registered,
#    that is once its measurement has begun (--min-time 0.02 makes it last a few seconds).
cases=$((cases + 1))
table=$tmp/tune/tune.json
NABLA_TUNE_FILE=$table "$nabla" tune --quick --dtypes f32 --threads 1 --min-time 0.02 >"$tmp/a.out" 2>"$tmp/a.err" &
first=$!
pids+=("$first")
for _ in $(seq 1 1000); do compgen -G "$runs/*.run" >/dev/null && break; sleep 0.01; done
NABLA_TUNE_FILE=$table "$nabla" tune --quick --dtypes f64 --threads 1 >"$tmp/b.out" 2>"$tmp/b.err"
second_code=$?
wait "$first"
first_code=$?
pids=()
warning='^nabla tune: another nabla measurement ran at the same time \(nabla tune, pid [0-9]+\): these timings measured each other$'
f32=$(rows "$table" f32 1)
f64=$(rows "$table" f64 1)
if [ "$first_code" -eq 0 ] && [ "$second_code" -eq 0 ] && [ "$f32" -eq $nseed ] && [ "$f64" -eq $nseed ] \
   && cat "$tmp/a.err" "$tmp/b.err" | grep -Eq "$warning" && [ -e "$table.lock" ]; then
  echo "ok   two tunes at once keep both sets ($f32 f32 + $f64 f64 rows); $(cat "$tmp/a.err" "$tmp/b.err" | grep -Ec "$warning") warned"
else
  fail "two tunes at once: exits $first_code $second_code, $f32 f32 and $f64 f64 rows; stderr: $(cat "$tmp/a.err" "$tmp/b.err")"
fi
cases=$((cases + 1))
if grep -q '"overlapped":[[:space:]]*true' "$table" && grep -q '"overlapped_by":[[:space:]]*"nabla tune (pid ' "$table" \
   && NABLA_TUNE_FILE=$table "$nabla" tune --show | grep -q 'timed while another nabla measurement ran'; then
  echo "ok   the table records which entries were timed during the other run"
else fail "no overlap recorded in $table: $(grep -c overlapped "$table") overlapped fields"; fi

# 2. Three first-time `--kernel auto` runs at once on a new table, each needing its own
#    entries: all train, and the table ends with all three sets (they take turns measuring).
cases=$((cases + 1))
table=$tmp/auto/tune.json
small=(--batch 8 --d-in 33 --hidden 17 --d-out 5 --iters 2 --print-every 0)
i=0
for run in "--dtype f32 --threads 1" "--dtype f64 --threads 1" "--dtype f32 --threads 2"; do
  # shellcheck disable=SC2086 # $run is two flags and their values
  NABLA_TUNE_FILE=$table "$nabla" train "${small[@]}" --kernel auto $run >"$tmp/auto$i.out" 2>"$tmp/auto$i.err" &
  pids+=("$!")
  i=$((i + 1))
done
codes=""
for p in "${pids[@]}"; do wait "$p"; codes="$codes $?"; done
pids=()
a=$(rows "$table" f32 1)
b=$(rows "$table" f64 1)
c=$(rows "$table" f32 2)
if [ "$codes" = " 0 0 0" ] && [ "$a" -eq $nseed ] && [ "$b" -eq $nseed ] && [ "$c" -eq $nseed ] \
   && [ "$(cat "$tmp"/auto?.out | grep -c '^summary: .*kernel=auto')" -eq 3 ]; then
  echo "ok   three first-time --kernel auto runs keep all three sets ($a + $b + $c rows)"
else
  fail "three --kernel auto runs: exits$codes, rows $a $b $c; stderr: $(cat "$tmp"/auto?.err)"
fi

# 3. A table that cannot be saved (/proc takes no new file, even from root).
nowhere=/proc/nabla-no/tune.json
cases=$((cases + 1))
NABLA_TUNE_FILE=$nowhere "$nabla" train --kernel auto --iters 3 --print-every 1 >"$tmp/out" 2>"$tmp/err"
code=$?
losses=$(grep -c '^epoch: *[0-9]* *loss: ' "$tmp/out")
warnings=$(grep -c 'warning' "$tmp/err")
if [ $code -eq 0 ] && [ "$losses" -eq 3 ] && [ "$warnings" -eq 1 ] \
   && grep -q "^nabla: warning: cannot save the tuning table $nowhere (.*)" "$tmp/err"; then
  echo "ok   train --kernel auto with an unwritable table trains: $(grep warning "$tmp/err")"
else fail "train --kernel auto, unwritable table: exit $code, $losses losses, $warnings warnings: $(cat "$tmp/err")"; fi

cases=$((cases + 1))
start=$(now_ms)
NABLA_TUNE_FILE=$nowhere "$nabla" tune --quick >"$tmp/out" 2>"$tmp/err"
code=$?
elapsed=$(($(now_ms) - start))
if [ $code -eq 1 ] && [ "$elapsed" -lt 1000 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] \
   && grep -qF "nabla tune: cannot write the tuning table $nowhere: " "$tmp/err" && ! grep -q '^64x' "$tmp/out"; then
  echo "ok   tune to an unwritable table: exit 1 before measuring, in $elapsed ms: $(cat "$tmp/err")"
else fail "tune, unwritable table: exit $code after $elapsed ms: $(cat "$tmp/err")"; fi

echo "$cases cases, $failures failures"
[ "$failures" -eq 0 ]
