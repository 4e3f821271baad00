#!/usr/bin/env bash
# tests/cli_bad_inputs.sh — bad flags and values for every `nabla` subcommand, one table row
# per case: the exit code expected, an extended regex the stderr message must match, and the
# arguments. Every case must give exactly one line on stderr (no crash, abort or sanitizer
# report), nothing on stdout, and leave no file behind in the --out directory it names.
# Usage errors exit 2; a path that cannot be written exits 1 before any work is done.
# usage: tests/cli_bad_inputs.sh path/to/nabla
# NABLA_TEST_WRAPPER runs each case under a checker, e.g. (any report fails the case, by its
# exit code; the 1-second limit is then off):
#   NABLA_TEST_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full
#     --errors-for-leak-kinds=definite,indirect --log-file=/tmp/vg.%p" tests/cli_bad_inputs.sh build/nabla
set -u
read -r -a wrapper <<<"${NABLA_TEST_WRAPPER:-}"
nabla=${1:?usage: tests/cli_bad_inputs.sh path/to/nabla}
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
# Everything a case may name: an empty directory that must stay empty, a regular file that
# must stay as it is, a path under that file (its parent cannot be created: nabla creates
# missing parents of an output), and a path even root cannot create.
export OUT="$tmp/out" FILE="$tmp/file" MISSING="$tmp/file/sub" PROC=/proc/nabla-cannot-create
mkdir "$OUT"
# A private registry of running measurements (src/harness/overlap.h): another nabla run on the
# machine must not add its overlap warning to the stderr these cases count.
export XDG_RUNTIME_DIR="$tmp/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
echo "precious" >"$FILE"
# auto must never read or write the user's tuning table from a test
export NABLA_TUNE_FILE="$tmp/out/tune.json"

failures=0
cases=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# exit | stderr regex | arguments (shell words: quotes and $OUT-style variables work)
table=$(cat <<'EOF'
2 | unknown command 'frobnicate'                         | frobnicate
2 | unknown command ''                                   | ""
# ---- train: names
2 | unknown flag '--bogus'                               | train --bogus
2 | unknown flag '--Variant'                             | train --Variant tensors
2 | unexpected argument '-v'                             | train -v
2 | unexpected argument '--'                             | train --
2 | unexpected argument 'tensors'                        | train tensors
2 | unknown variant 'nope' \(expected one of: tensors,   | train --variant nope
2 | unknown variant 'TENSORS'                            | train --variant TENSORS
2 | --variant needs a value                              | train --variant
2 | --variant needs a value                              | train --variant ""
2 | --variant needs a value                              | train --variant=
2 | unknown kernel 'nope' \(expected one of: naive,      | train --kernel nope
2 | unknown kernel 'blas ' \(                            | train --kernel "blas "
2 | --kernel needs a value                               | train --kernel ""
2 | --dtype must be f32 or f64, got 'f16'                | train --dtype f16
2 | --dtype must be f32 or f64, got 'float16'            | train --dtype float16
2 | --dtype needs a value                                | train --dtype
2 | --json takes no value                                | train --json=1
# ---- train: numbers that are not numbers
2 | --batch expects an integer, got '12abc'              | train --batch 12abc
2 | --batch expects an integer, got '1e400'              | train --batch 1e400
2 | --batch expects an integer, got '0x10'               | train --batch 0x10
2 | --batch expects an integer, got '1.5'                | train --batch 1.5
2 | --batch expects an integer, got ' 64'                | train --batch " 64"
2 | --batch expects an integer, got '64 '                | train --batch "64 "
2 | --batch needs a value                                | train --batch ""
2 | --batch needs a value                                | train --batch
2 | --hidden expects an integer, got 'abc'               | train --hidden abc
2 | --iters expects an integer, got 'NaN'                | train --iters NaN
2 | --print-every expects an integer, got '5x'           | train --print-every 5x
# ---- train: dimensions out of range, overflowing, or beyond this machine's memory
2 | --batch 0 is out of range 1\.\.16777216              | train --batch 0
2 | --batch -1 is out of range                           | train --batch -1
2 | --d-in -9223372036854775808 is out of range          | train --d-in -9223372036854775808
2 | --d-in 16777217 is out of range                      | train --d-in 16777217
2 | --hidden 1099511627776 is out of range               | train --hidden 1099511627776
2 | --d-out 9223372036854775808 is out of range          | train --d-out 9223372036854775808
2 | --d-out 99999999999999999999 is out of range         | train --d-out 99999999999999999999
2 | --batch 1099511627776 is out of range                | train --batch 1099511627776 --d-in 1099511627776
2 | needs more memory than this machine has              | train --batch 16777216 --d-in 16777216
2 | needs more memory than this machine has              | train --batch 1048576 --d-in 1048576
2 | needs more memory than this machine has              | train --d-in 16777216 --hidden 16777216
2 | needs more memory than this machine has              | train --batch 16777216 --hidden 16777216 --dtype f64
2 | needs more memory than this machine has              | train --hidden 16777216 --d-out 16777216
# ---- train: steps, learning rate, threads, seed
2 | --iters 0 is out of range                            | train --iters 0
2 | --iters -5 is out of range                           | train --iters -5
2 | --iters 2147483649 is out of range                   | train --iters 2147483649
2 | --lr must be finite, got 'nan'                       | train --lr nan
2 | --lr must be finite, got 'NAN'                       | train --lr NAN
2 | --lr must be finite, got 'inf'                       | train --lr inf
2 | --lr must be finite, got '-inf'                      | train --lr -inf
2 | --lr must be finite, got '1e400'                     | train --lr 1e400
2 | --lr 1e-400 is out of range                          | train --lr 1e-400
2 | --lr -1 is out of range                              | train --lr -1
2 | --lr expects a number, got '0x10'                    | train --lr 0x10
2 | --lr expects a number, got '1e-3x'                   | train --lr 1e-3x
2 | --lr expects a number, got ' 1'                      | train --lr " 1"
2 | --lr needs a value                                   | train --lr ""
2 | --threads 0 is out of range 1\.\.1024                | train --threads 0
2 | --threads -1 is out of range                         | train --threads -1
2 | --threads 1000000 is out of range                    | train --threads 1000000
2 | --threads expects an integer, got '2.0'              | train --threads 2.0
2 | --seed expects a non-negative integer, got '-1'      | train --seed -1
2 | --seed 18446744073709551616 is out of range          | train --seed 18446744073709551616
2 | --seed expects a non-negative integer, got '0x10'    | train --seed 0x10
2 | --print-every -1 is out of range                     | train --print-every -1
# ---- bench
2 | unknown flag '--bogus'                               | bench --bogus --out "$OUT"
2 | unknown variant 'nope' in --variants                 | bench --variants tensors,nope --out "$OUT"
2 | unknown kernel 'nope' in --kernels                   | bench --kernels nope --out "$OUT"
2 | --variants needs a value                             | bench --variants "" --out "$OUT"
2 | --threads wants up to 16 counts in 1\.\.1024, got '0' | bench --threads 0 --out "$OUT"
2 | --threads wants .* got '-1'                          | bench --threads -1 --out "$OUT"
2 | --threads wants .* got '1000000'                     | bench --threads 1,1000000 --out "$OUT"
2 | --threads wants .* got 'abc'                         | bench --threads 1,abc --out "$OUT"
2 | --threads has an empty entry in '1,'               | bench --threads 1, --out "$OUT"
2 | --repeats 0 is out of range                          | bench --repeats 0 --out "$OUT"
2 | --repeats 101 is out of range                        | bench --repeats 101 --out "$OUT"
2 | --repeats expects an integer, got '1e400'            | bench --repeats 1e400 --out "$OUT"
2 | --warmup -1 is out of range                          | bench --warmup -1 --out "$OUT"
2 | --iters 0 is out of range                            | bench --iters 0 --out "$OUT"
2 | --iters expects an integer, got '12abc'              | bench --iters 12abc --out "$OUT"
2 | --dtype must be f32 or f64                           | bench --dtype f16 --out "$OUT"
2 | --out needs a value                                  | bench --out ""
2 | --compare takes two files                            | bench --compare only-one.json
1 | cannot (create|write) .*file.*Not a directory        | bench --quick --no-torch --variants tensors --kernels blas --threads 1 --out "$MISSING"
1 | cannot (create|write) .*file.*Not a directory        | bench --quick --no-torch --variants tensors --kernels blas --threads 1 --out "$FILE"
1 | cannot (create|write) /proc/nabla-cannot-create      | bench --quick --no-torch --variants tensors --kernels blas --threads 1 --out "$PROC"
2 | --variants has an empty entry in ',tensors'         | bench --variants ,tensors --out "$OUT"
2 | --kernels has an empty entry in 'blas,,naive'        | bench --kernels blas,,naive --out "$OUT"
# ---- bench: busy neighbours and sizes (issue 15), sizes refused as `nabla train` refuses them
2 | --neighbours expects an integer, got 'x'             | bench --neighbours x --out "$OUT"
2 | --neighbours -1 is out of range 0\.\.1024            | bench --neighbours -1 --out "$OUT"
2 | --neighbours 1025 is out of range 0\.\.1024          | bench --neighbours 0,1025 --out "$OUT"
2 | --neighbours lists 1 twice                           | bench --neighbours 1,0,1 --out "$OUT"
2 | --neighbours has an empty entry in '0,'              | bench --neighbours 0, --out "$OUT"
2 | --neighbours needs a value                           | bench --neighbours "" --out "$OUT"
2 | --hidden 0 is out of range 1\.\.16777216              | bench --hidden 0 --out "$OUT"
2 | --hidden has an empty entry in '10,,20'              | bench --hidden 10,,20 --out "$OUT"
2 | --batch expects an integer, got '1e3'                | bench --batch 64,1e3 --out "$OUT"
2 | --d-in 16777217 is out of range 1\.\.16777216         | bench --d-in 16777217 --out "$OUT"
2 | --d-out expects an integer, got '0x10'               | bench --d-out 0x10 --out "$OUT"
2 | --hidden lists 100 twice                             | bench --hidden 100,7,100 --out "$OUT"
2 | --batch takes up to 16 values                        | bench --batch 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17 --out "$OUT"
2 | the matrix holds 1024 cases, more than 512           | bench --variants tensors --kernels blas --threads 1 --no-torch --batch 1,2,3,4,5,6,7,8 --hidden 1,2,3,4,5,6,7,8 --d-in 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 --out "$OUT"
2 | variant tensors, --batch 64 --d-in 16777216 --hidden 16777216 .*needs more memory | bench --variants tensors --hidden 16777216 --d-in 16777216 --out "$OUT"
# ---- profile
2 | unknown flag '--bogus'                               | profile --bogus
2 | unknown variant 'nope'                               | profile --variant nope
2 | unknown kernel 'nope'                                | profile --kernel nope
2 | --iters 0 is out of range                            | profile --iters 0
2 | --iters -1 is out of range                           | profile --iters -1
2 | --iters expects an integer, got '0x10'               | profile --iters 0x10
2 | --threads 0 is out of range                          | profile --threads 0
2 | --threads 1000000 is out of range                    | profile --threads 1000000
2 | --dtype must be f32 or f64                           | profile --dtype f16
# ---- kernels
2 | unknown flag '--bogus'                               | kernels --bogus
2 | unexpected argument 'bench'                          | kernels bench
2 | unknown kernel 'nope'                                | kernels --bench --kernels nope
2 | sizes in '0x1x1' must be within 1\.\.32768           | kernels --bench --shapes 0x1x1
2 | sizes in '-1x2x3' must be within                     | kernels --bench --shapes -1x2x3
2 | sizes in '1099511627776x1099511627776x1' must be within | kernels --bench --shapes 1099511627776x1099511627776x1
2 | shape '64x100'                                       | kernels --bench --shapes 64x100
2 | bad transpose suffix in '2x2x2:zz'                   | kernels --bench --shapes 2x2x2:zz
2 | --shapes needs a value                               | kernels --bench --shapes ""
2 | --threads .*'0'                                      | kernels --bench --threads 0
2 | --threads .*1000000                                  | kernels --bench --threads 1000000
2 | --dtype must be f32 or f64                           | kernels --bench --dtype f16
2 | --repeats 0 is out of range                          | kernels --bench --repeats 0
2 | --min-time must be finite, got 'nan'                 | kernels --bench --min-time nan
2 | --min-time -1 is out of range                        | kernels --bench --min-time -1
2 | --sizes wants sizes in 1\.\.32768, got '0'           | kernels --sweep --sizes 64,0 --out "$OUT"
2 | --sizes wants sizes in 1\.\.32768, got '99999'       | kernels --sweep --sizes 99999 --out "$OUT"
2 | --naive-max -1 is out of range                       | kernels --sweep --naive-max -1 --out "$OUT"
2 | --dtypes wants f32 and/or f64, got 'f16'             | kernels --sweep --dtypes f16 --out "$OUT"
2 | exclude each other                                   | kernels --sweep --peak --out "$OUT"
1 | cannot (create|write) .*file                         | kernels --sweep --quick --kernels blas --out "$FILE"
1 | cannot (create|write) /proc/nabla-cannot-create      | kernels --sweep --quick --kernels blas --out "$PROC"
2 | --sizes has an empty entry in '64,,128'              | kernels --sweep --sizes 64,,128 --out "$OUT"
2 | --threads has an empty entry in '1,'                 | kernels --peak --threads 1,
# ---- verify
2 | unknown flag '--bogus'                               | verify --bogus
2 | unknown name 'nope' in --kernels                     | verify --kernels nope
2 | unknown name 'nope' in --variants                    | verify --variants tensors,nope
2 | --dtype must be f64, f32 or all                      | verify --dtype f16
2 | --fixtures needs a value                             | verify --fixtures ""
2 | exclude each other                                   | verify --grad-only --reference-only
# ---- graph
2 | nothing to do                                        | graph
2 | --batch 0 is out of range                            | graph --dump --batch 0
2 | --hidden -1 is out of range                          | graph --dump --hidden -1
2 | --d-in 1099511627776 is out of range                 | graph --dump --d-in 1099511627776
2 | needs more memory than this machine has              | graph --dump --batch 1048576 --d-in 1048576
2 | --lr must be finite, got 'nan'                       | graph --dump --lr nan
2 | --seed expects a non-negative integer, got '-1'      | graph --dump --seed -1
2 | --dot needs a value                                  | graph --dot ""
2 | --dtype must be f32 or f64                           | graph --dump --dtype f16
2 | --threads 1 is out of range                          | graph --schedule --threads 1
2 | --threads 65 is out of range                         | graph --schedule --threads 65
2 | --threads and --kernel only go with --schedule       | graph --dump --threads 2
2 | unknown kernel 'nope'                                | graph --schedule --kernel nope
1 | cannot (create|write) .*file.*Not a directory        | graph --dot "$MISSING"
1 | cannot write .*out                                   | graph --dot "$OUT"
# ---- tune
2 | unknown flag '--bogus'                               | tune --bogus
2 | --threads wants up to 16 counts in 1\.\.1024, got '0' | tune --threads 0
2 | --threads wants .* got '1000000'                     | tune --threads 1000000
2 | --dtypes wants f32 and/or f64, got 'f16'             | tune --dtypes f32,f16
2 | shape '64x100'                                       | tune --shapes 64x100
2 | --repeats 0 is out of range                          | tune --repeats 0
2 | --threads has an empty entry in ',2'                 | tune --threads ,2
2 | --shapes has an empty entry in '64x100x1000,'        | tune --shapes 64x100x1000,
2 | --min-time -1 is out of range                        | tune --min-time -1
2 | --min-time must be finite, got 'inf'                 | tune --min-time inf
2 | --out wants a path|--out needs a value               | tune --out ""
1 | cannot (create|write) .*file.*Not a directory        | tune --quick --threads 1 --dtypes f32 --out "$FILE/tune.json"
1 | cannot (create|write) .*out                          | tune --quick --threads 1 --dtypes f32 --out "$OUT"
1 | cannot (create|write) /proc/nabla-cannot-create      | tune --quick --threads 1 --dtypes f32 --out "$PROC/tune.json"
EOF
)

while IFS= read -r line; do
  case "$line" in '' | '#'*) continue ;; esac
  # fields are separated by " | " (a regex may use | without spaces around it)
  want=${line%% | *}
  rest=${line#* | }
  regex=$(echo "${rest%% | *}" | sed 's/ *$//')
  args=" ${rest#* | }"
  cases=$((cases + 1))
  eval "set -- $args"
  start=$(date +%s%N)
  # a case the CLI fails to refuse would run a whole workload: cut it off
  timeout 120 "${wrapper[@]}" "$nabla" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  code=$?
  took_ms=$((($(date +%s%N) - start) / 1000000))
  lines=$(wc -l <"$tmp/stderr")
  shown="nabla$args"
  if [ "$code" -ne "$want" ]; then fail "$shown: exit $code, expected $want: $(head -c 300 "$tmp/stderr")"; continue; fi
  if [ "$lines" -ne 1 ]; then fail "$shown: $lines lines on stderr, expected 1:"; head -5 "$tmp/stderr"; continue; fi
  if ! grep -qE -- "$regex" "$tmp/stderr"; then fail "$shown: message does not match /$regex/: $(cat "$tmp/stderr")"; continue; fi
  if grep -qE 'Sanitizer|internal error|Aborted|core dumped' "$tmp/stderr"; then fail "$shown: crashed: $(cat "$tmp/stderr")"; continue; fi
  if [ -s "$tmp/stdout" ]; then fail "$shown: wrote to stdout: $(head -c 200 "$tmp/stdout")"; continue; fi
  # refused up front: no case may train, time or tune before saying no (1 s is generous)
  if [ ${#wrapper[@]} -eq 0 ] && [ "$took_ms" -gt 1000 ]; then fail "$shown: took $took_ms ms: the input was not refused up front"; continue; fi
  if [ -n "$(ls -A "$OUT")" ]; then fail "$shown: left files in --out: $(ls -A "$OUT")"; rm -rf "${OUT:?}"/*; continue; fi
  if [ "$(cat "$FILE")" != "precious" ]; then fail "$shown: overwrote $FILE"; echo "precious" >"$FILE"; continue; fi
  if [ -e "$tmp/missing" ]; then fail "$shown: created $tmp/missing"; rm -rf "$tmp/missing"; continue; fi
  echo "ok   exit $code: nabla$args  ->  $(cat "$tmp/stderr")"
done <<<"$table"

# NABLA_KERNEL is a value too: an unknown one is a usage error naming the variable.
cases=$((cases + 1))
NABLA_KERNEL=nope "$nabla" train --iters 1 >"$tmp/stdout" 2>"$tmp/stderr"; code=$?
if [ $code -eq 2 ] && [ "$(wc -l <"$tmp/stderr")" -eq 1 ] && grep -q "unknown kernel 'nope' in NABLA_KERNEL" "$tmp/stderr"; then
  echo "ok   exit 2: NABLA_KERNEL=nope nabla train  ->  $(cat "$tmp/stderr")"
else fail "NABLA_KERNEL=nope: exit $code: $(cat "$tmp/stderr")"; fi

# ---- numerics: divergence (always on) and --detect-anomaly ------------------------------------
# numeric_case EXIT REGEX EPOCH_LINES [VAR=VALUE ...] -- ARGS: one line on stderr matching REGEX,
# and exactly EPOCH_LINES "epoch:" lines on stdout (the steps that finished before the stop:
# a message naming step k must come after k-1 printed losses, with --print-every 1).
numeric_case() {
  local want=$1 regex=$2 epochs=$3; shift 3
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  cases=$((cases + 1))
  env "${envs[@]}" timeout 600 "${wrapper[@]}" "$nabla" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local code=$? shown="${envs[*]} nabla $*"
  local lines; lines=$(wc -l <"$tmp/stderr")
  local got; got=$(grep -c '^epoch: ' "$tmp/stdout")
  if [ "$code" -ne "$want" ]; then fail "$shown: exit $code, expected $want: $(head -c 300 "$tmp/stderr")"; return; fi
  if [ "$lines" -ne 1 ]; then fail "$shown: $lines lines on stderr, expected 1"; head -3 "$tmp/stderr"; return; fi
  if ! grep -qE -- "$regex" "$tmp/stderr"; then fail "$shown: message does not match /$regex/: $(cat "$tmp/stderr")"; return; fi
  if [ "$got" -ne "$epochs" ]; then fail "$shown: $got epoch lines before the stop, expected $epochs"; return; fi
  echo "ok   exit $code: $shown  ->  $(cat "$tmp/stderr")"
}
p1=(--print-every 1 --threads 1 --kernel blocked)
# A GEMM that writes NaN into its first element (the test-only switch): the first op to see it
# is step 1's first product, h = x w1 (64, 100), whichever variant, and without
# --detect-anomaly the loss of step 1 stops the run.
for v in tensors autograd custom-function static-graph nn dynamic; do
  numeric_case 1 "anomaly at step 1 of 500: nan in the output of mm \(forward pass\), shape \(64, 100\) f32, element 0$" 0 \
    NABLA_TEST_PERTURB_GEMM=nan -- train --variant "$v" "${p1[@]}" --detect-anomaly
  numeric_case 1 "the loss is nan at step 1: training diverged" 0 NABLA_TEST_PERTURB_GEMM=nan -- train --variant "$v" "${p1[@]}"
done
# An lr so large that lr * grad overflows: in f32 the update of step 1 is the first op with an
# inf (w1 is updated first: (1000, 100), or nn.Linear's (100, 1000) weight), by the op or
# optimizer that ran it; no loss is printed. In f64 the update stays finite (1e300 * grad <
# 1.8e308) and step 2's forward overflows in the second product (64, 10), after one loss.
numeric_case 1 "anomaly at step 1 of 500: -?inf in the output of sub_scaled_ \(update pass\), shape \(1000, 100\) f32" 0 \
  -- train --variant tensors --lr 1e300 "${p1[@]}" --detect-anomaly
numeric_case 1 "anomaly at step 1 of 500: -?inf in the output of sgd_update \(update pass\), shape \(1000, 100\) f32" 0 \
  -- train --variant static-graph --lr 1e300 "${p1[@]}" --detect-anomaly
numeric_case 1 "anomaly at step 1 of 500: -?inf in the output of sub_scaled_ \(update pass\), shape \(100, 1000\) f32" 0 \
  -- train --variant nn --lr 1e300 "${p1[@]}" --detect-anomaly
numeric_case 1 "anomaly at step 1 of 500: -?inf in the output of Adam \(update pass\), shape \(100, 1000\) f32" 0 \
  -- train --variant optim --lr 1e300 "${p1[@]}" --detect-anomaly
numeric_case 1 "anomaly at step 1 of 500: -?inf in the output of SGD \(update pass\), shape \(100, 1000\) f32" 0 \
  -- train --variant module --lr 1e300 "${p1[@]}" --detect-anomaly
for v in tensors autograd static-graph nn; do
  numeric_case 1 "anomaly at step 2 of 500: -?inf in the output of mm \(forward pass\), shape \(64, 10\) f64" 1 \
    -- train --variant "$v" --lr 1e300 --dtype f64 "${p1[@]}" --detect-anomaly
done
# Every variant of the binary's registry, from `nabla train --help`'s "variants:" line, so a
# new variant is covered below without an edit here; an empty list means the parsing broke.
variants=$("$nabla" train --help 2>&1 | sed -n 's/^variants: *//p' | tr -d ',')
if [ -z "$variants" ]; then fail "no 'variants:' line in nabla train --help"; fi
# Divergence without non-finite values: the tutorial's network at lr 1e-3 (1000x its own)
# jumps from 2.9e7 to 1.1e16 in one step; every variant, both dtypes, stops at step 2.
for v in $variants; do
  for d in f32 f64; do
    lr=1e-3; case $v in nn | optim | module | dynamic) lr=1e3 ;; esac
    numeric_case 1 "at step 2: training diverged|the loss [0-9.e+]+ at step 2 is more than 1e\+06 times the first step's" 1 \
      -- train --variant "$v" --dtype "$d" --lr "$lr" "${p1[@]}"
  done
done
# --detect-anomaly on a normal run changes nothing: the same losses bit for bit, every variant.
for v in $variants; do
  cases=$((cases + 1))
  a=$("$nabla" train --variant "$v" --iters 30 --threads 1 --kernel blocked --json | grep -o '"losses":\[[^]]*\]')
  b=$("$nabla" train --variant "$v" --iters 30 --threads 1 --kernel blocked --json --detect-anomaly | grep -o '"losses":\[[^]]*\]')
  if [ -n "$a" ] && [ "$a" = "$b" ]; then echo "ok   --detect-anomaly leaves $v's losses unchanged"
  else fail "$v: --detect-anomaly changed the losses or failed"; fi
done

echo "$cases cases, $failures failed"
[ "$failures" -eq 0 ]
