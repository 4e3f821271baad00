#!/usr/bin/env bash
# tests/cli_compare.sh — `nabla bench --compare OLD NEW [--force]` compares only runs that
# measured the same thing on the same machine and build (issue 13): one real pair of tiny runs,
# then hand-written bench.json files that vary one setting at a time.
# usage: tests/cli_compare.sh path/to/nabla
set -u
nabla=${1:?usage: tests/cli_compare.sh path/to/nabla}
failures=0
cases=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# a private registry of running measurements (src/harness/overlap.h): another nabla run on the
# machine must not put an overlap warning into the runs compared here
export XDG_RUNTIME_DIR="$tmp/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"

# compare <expected exit> OLD NEW [--force]: runs the comparison into $tmp/out and $tmp/err,
# returns 0 when the exit code is the one expected
compare() {
  local want=$1; shift
  cases=$((cases + 1))
  "$nabla" bench --compare "$@" >"$tmp/out" 2>"$tmp/err"
  code=$?
  if [ "$code" -ne "$want" ]; then
    fail "--compare $*: exit $code, expected $want; stdout: $(cat "$tmp/out"); stderr: $(cat "$tmp/err")"
    return 1
  fi
}
# has FILE TEXT...: every TEXT is a line fragment of $tmp/FILE (fixed strings)
has() {
  local file=$1; shift
  for text in "$@"; do
    if ! grep -qF -- "$text" "$tmp/$file"; then
      fail "$file lacks '$text': $(cat "$tmp/$file")"
      return 1
    fi
  done
}
# refused NAME OLD NEW LINE...: exit 1, each LINE on stderr before the refusal, no table
refused() {
  local name=$1 old=$2 new=$3; shift 3
  compare 1 "$old" "$new" || return
  has err "$@" "not comparable" "--force" || return
  if grep -q "geometric mean" "$tmp/out"; then fail "$name: a table printed although refused"; return; fi
  # the refusal is the last line, after the differences
  if ! tail -1 "$tmp/err" | grep -q '^nabla bench: '; then fail "$name: the refusal is not the last line"; return; fi
  echo "ok   refused: $name ($(head -1 "$tmp/err"))"
}

# mk FILE [name=value...]: a bench.json as `nabla bench` writes it, every setting overridable.
# new=0 leaves out what older files lack (sizes, seed, lr, config.environment, usable_cpus,
# NABLA_ISA); extra=1 adds a case "tensors naive 1".
mk() {
  local out=$1; shift
  local dtype=f32 iters=50 repeats=3 warmup=1 rounds_done=3 interrupted=false batch=64 d_in=1000 hidden=100 \
        d_out=10 seed=0 lr=1e-06 cpu_model="AMD EPYC" online=2 coretype='"Haswell"' omp_threads=null \
        wait_policy=null torch=null rev=1f1ce40 date=2026-11-27T16:24:11Z new=1 extra=0 \
        s1='0.0101, 0.0102, 0.0103' s2='0.0201, 0.0202, 0.0203' c_flags="-O2 -Wall -Wextra -ffp-contract=off" \
        overlapped=
  local kv
  for kv in "$@"; do local "$kv"; done
  local ctx_new="" cfg_new="" extra_case=""
  if [ "$new" = 1 ]; then
    ctx_new='"usable_cpus": '$online', '
    [ -n "$overlapped" ] && ctx_new="$ctx_new\"overlapped_by\": $overlapped, "
    cfg_new=', "batch": '$batch', "d_in": '$d_in', "hidden": '$hidden', "d_out": '$d_out', "seed": '$seed',
    "lr": {"tensors": '$lr'}, "environment": {"OMP_WAIT_POLICY": '$wait_policy', "NABLA_ALLOC_CACHE": null}'
  fi
  if [ "$extra" = 1 ]; then
    extra_case=', {"variant": "tensors", "kernel": "naive", "threads": 1, "samples_s": ['$s2']}'
  fi
  cat >"$out" <<EOF
{"context": {"cpu_model": "$cpu_model", "online_cpus": $online, $ctx_new
  "environment": {"OPENBLAS_CORETYPE": $coretype, "OPENBLAS_NUM_THREADS": null, "OPENBLAS_L2_SIZE": "512",
                  "OMP_NUM_THREADS": $omp_threads, "NABLA_KERNEL": null$([ "$new" = 1 ] && echo ', "NABLA_ISA": null')},
  "openblas_config": "OpenBLAS 0.3.21 USE_OPENMP Haswell", "openblas_core": "Haswell", "openblas_threading": "openmp",
  "compiler": "gcc 12.2.0", "c_flags": "$c_flags", "build_type": "Release", "nabla_version": "0.1.0",
  "git_revision": "$rev", "git_dirty": false, "date": "$date", "torch_version": $torch},
 "config": {"dtype": "$dtype", "iters": $iters, "repeats": $repeats, "warmup": $warmup,
  "rounds_done": $rounds_done, "interrupted": $interrupted $cfg_new},
 "cases": [{"variant": "tensors", "kernel": "blocked", "threads": 1, "samples_s": [$s1]} $extra_case]}
EOF
}

# ---- one real pair of tiny runs ---------------------------------------------------------------
tiny=(bench --no-torch --variants tensors --kernels blocked --threads 1 --repeats 2 --warmup 0)
cases=$((cases + 1))
if "$nabla" "${tiny[@]}" --iters 20 --out "$tmp/r1" >"$tmp/out" 2>&1 \
   && "$nabla" "${tiny[@]}" --iters 20 --out "$tmp/r2" >"$tmp/out" 2>&1 \
   && "$nabla" "${tiny[@]}" --iters 50 --out "$tmp/r3" >"$tmp/out" 2>&1; then
  echo "ok   three tiny runs"
else fail "tiny runs: $(tail -3 "$tmp/out")"; fi
if compare 0 "$tmp/r1/bench.json" "$tmp/r2/bench.json" \
   && has out "tensors blocked 1" "geometric mean of new/old" "samples" "old: nabla" "new: nabla"; then
  if grep -q "warning" "$tmp/out"; then fail "two runs of this nabla warn: $(cat "$tmp/out")"
  else echo "ok   same settings: exit 0, a table, no warning"; fi
fi
refused "real runs of 20 and 50 steps" "$tmp/r1/bench.json" "$tmp/r3/bench.json" "iters: 20 vs 50"
# what a run records beyond the settings the comparison reads: sizes, seed, lr, timing variables
cases=$((cases + 1))
if /usr/bin/python3 - "$tmp/r1/bench.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["config"]
assert (c["batch"], c["d_in"], c["hidden"], c["d_out"], c["seed"]) == (64, 1000, 100, 10, 0), c
assert c["lr"]["tensors"] > 0 and "OMP_WAIT_POLICY" in c["environment"], c
EOF
then echo "ok   bench.json records sizes, seed, lr and the timing variables"
else fail "bench.json config: $(cat "$tmp/r1/bench.json")"; fi

# ---- hand-written files, one difference at a time -----------------------------------------------
mk "$tmp/base.json"
if compare 0 "$tmp/base.json" "$tmp/base.json" && has out "geometric mean of new/old: 1.000"; then
  echo "ok   a file against itself: exit 0, 1.000"
fi
mk "$tmp/iters.json" iters=20
refused "iters" "$tmp/base.json" "$tmp/iters.json" "iters: 50 vs 20"
mk "$tmp/f64.json" dtype=f64
refused "dtype" "$tmp/base.json" "$tmp/f64.json" "dtype: f32 vs f64"
mk "$tmp/sizes.json" hidden=200 batch=128
refused "network sizes" "$tmp/base.json" "$tmp/sizes.json" "hidden: 100 vs 200" "batch: 64 vs 128"
mk "$tmp/warm.json" warmup=0
refused "warm-up" "$tmp/base.json" "$tmp/warm.json" "warmup: 1 vs 0"
mk "$tmp/seed.json" seed=7 lr=1e-05
refused "seed and lr" "$tmp/base.json" "$tmp/seed.json" "seed: 0 vs 7" "lr tensors: 1e-06 vs 1e-05"
mk "$tmp/wait.json" wait_policy='"passive"'
refused "OMP_WAIT_POLICY" "$tmp/base.json" "$tmp/wait.json" "OMP_WAIT_POLICY: unset vs passive"
mk "$tmp/cpu.json" cpu_model="Intel Xeon"
refused "cpu_model" "$tmp/base.json" "$tmp/cpu.json" "cpu_model: AMD EPYC vs Intel Xeon" "different machine or build"
mk "$tmp/core.json" coretype=null online=4 c_flags="-O3"
refused "OpenBLAS core type, CPU count, flags" "$tmp/base.json" "$tmp/core.json" "OPENBLAS_CORETYPE: Haswell vs unset" \
  "online_cpus: 2 vs 4" "c_flags: -O2 -Wall -Wextra -ffp-contract=off vs -O3"
mk "$tmp/torch1.json" torch='"2.1.0"'
mk "$tmp/torch2.json" torch='"2.2.0"'
refused "torch_version" "$tmp/torch1.json" "$tmp/torch2.json" "torch_version: 2.1.0 vs 2.2.0"
if compare 0 "$tmp/base.json" "$tmp/torch1.json"; then echo "ok   no twin on one side (torch_version null): compared"; fi

# several differences: one line each, in the file's order, then the refusal
mk "$tmp/many.json" iters=20 dtype=f64 cpu_model="Intel Xeon"
if compare 1 "$tmp/base.json" "$tmp/many.json" && [ "$(wc -l <"$tmp/err")" -eq 4 ] \
   && has err "dtype: f32 vs f64" "iters: 50 vs 20" "cpu_model: AMD EPYC vs Intel Xeon" "3 settings above"; then
  echo "ok   three differences: three lines and the refusal"
fi

# --force: the table under a heading that lists the differences
if compare 0 "$tmp/base.json" "$tmp/many.json" --force \
   && has out "--force: compared although these settings differ" "  iters: 50 vs 20" "  dtype: f32 vs f64" \
              "  cpu_model: AMD EPYC vs Intel Xeon" "tensors blocked 1" "geometric mean"; then
  echo "ok   --force: table printed under the differences"
fi
if compare 0 --force "$tmp/base.json" "$tmp/many.json"; then echo "ok   --force before the files"; fi

# allowed to differ: revision and date (printed), repeats and OMP_NUM_THREADS (noted)
mk "$tmp/later.json" rev=def4567 date=2026-12-01T10:00:00Z
if compare 0 "$tmp/base.json" "$tmp/later.json" && has out "old: nabla 0.1.0, rev 1f1ce40, 2026-11-27T16:24:11Z" \
   "new: nabla 0.1.0, rev def4567, 2026-12-01T10:00:00Z" "geometric mean"; then
  echo "ok   another revision and date: printed, compared"
fi
mk "$tmp/rep.json" repeats=5 rounds_done=5 s1='0.0101, 0.0102, 0.0103, 0.0104, 0.0105' omp_threads='"2"'
if compare 0 "$tmp/base.json" "$tmp/rep.json" && has out "note: repeats: 3 vs 5" "note: OMP_NUM_THREADS: unset vs 2" \
   "3/5*" "unequal sample counts"; then
  echo "ok   repeats and OMP_NUM_THREADS differ: noted, compared, counts marked"
fi

# a run that another nabla measurement overlapped: compared, with a warning naming it
mk "$tmp/ovl.json" overlapped='["nabla tune (pid 4242)"]'
if compare 0 "$tmp/base.json" "$tmp/ovl.json" &&
   has out "warning: NEW was measured while other nabla measurements ran (nabla tune (pid 4242))"; then
  echo "ok   an overlapped run: compared, warned, the other run named"
fi
mk "$tmp/ovl-none.json" overlapped='[]'
mk "$tmp/ovl-unknown.json" overlapped='"unknown"'
if compare 0 "$tmp/ovl-none.json" "$tmp/ovl-unknown.json" && ! grep -q "measured while" "$tmp/out"; then
  echo "ok   no overlap, or unknown: no warning"
elif [ "$code" -eq 0 ]; then fail "a warning without an overlap: $(cat "$tmp/out")"; fi
mk "$tmp/ovl-bad.json" overlapped='[3]'
compare 1 "$tmp/base.json" "$tmp/ovl-bad.json" && has err "overlapped_by" && echo "ok   a malformed overlapped_by: refused"

# interrupted runs
mk "$tmp/zero.json" rounds_done=0 interrupted=true s1='0.0101'
if compare 1 "$tmp/base.json" "$tmp/zero.json" && has err "holds no complete round" \
   && compare 1 "$tmp/zero.json" "$tmp/base.json" --force && has err "OLD" "holds no complete round"; then
  echo "ok   rounds_done 0: refused, --force or not"
fi
mk "$tmp/cut.json" rounds_done=2 interrupted=true s1='0.0101, 0.0102' extra=1 s2='0.0201, 0.0202, 0.0203'
mk "$tmp/base2.json" extra=1
if compare 0 "$tmp/base2.json" "$tmp/cut.json" && has out "warning: NEW was interrupted after 2 of 3 rounds" \
   "3/2*" "3/3 " "geometric mean"; then
  echo "ok   interrupted after 2 of 3 rounds: compared, warned, unequal counts marked"
fi
mk "$tmp/killed.json" rounds_done=2 s1='0.0101, 0.0102'
if compare 0 "$tmp/base.json" "$tmp/killed.json" && has out "warning: NEW stopped before its last round"; then
  echo "ok   killed after 2 of 3 rounds (interrupted false): warned"
fi

# an older bench.json, without the new settings: compared with a warning naming them
mk "$tmp/old.json" new=0
if compare 0 "$tmp/old.json" "$tmp/base.json" \
   && has out "warning: batch, d_in, hidden, d_out, seed, usable_cpus, NABLA_ISA, lr, environment not recorded in OLD" \
   "geometric mean"; then
  echo "ok   an older bench.json: compared, missing settings warned about"
fi
mk "$tmp/old20.json" new=0 iters=20
refused "an older bench.json still checks what it records" "$tmp/old.json" "$tmp/old20.json" "iters: 50 vs 20"

# cases in one file only are listed, not dropped
if compare 0 "$tmp/base.json" "$tmp/base2.json" && has out "only in NEW: tensors naive 1"; then
  echo "ok   a case only in NEW is listed"
fi

# busy neighbours and sizes (issue 15): a case's key gets " +Nnb" and each size that differs from
# the config's seed network; a record that states the seed's sizes and no neighbours keeps the plain
# key, so it pairs with a file from before either existed; the neighbours list is noted, not refused
# dims FILE NEIGHBOURS_LIST CASE_FIELDS: base.json with config.neighbours and fields added to its case
dims() {
  /usr/bin/python3 - "$tmp/base.json" "$@" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
if sys.argv[3]:
    doc["config"]["neighbours"] = sys.argv[3]
doc["cases"][0].update(json.loads(sys.argv[4]))
json.dump(doc, open(sys.argv[2], "w"))
PY
}
dims "$tmp/dim-seed.json" 0 '{"neighbours": 0, "batch": 64, "d_in": 1000, "hidden": 100, "d_out": 10}'
dims "$tmp/dim-nb.json" 0,2 '{"neighbours": 2, "batch": 64, "d_in": 1000, "hidden": 1024, "d_out": 10}'
if compare 0 "$tmp/base.json" "$tmp/dim-seed.json" && has out "tensors blocked 1 " "geometric mean of new/old: 1.000 over 1 cases" &&
   ! grep -q "only in" "$tmp/out"; then
  echo "ok   neighbours 0 and the seed's sizes: the plain key, paired with an older file's case"
fi
if compare 0 "$tmp/dim-seed.json" "$tmp/dim-nb.json" && has out "note: neighbours: 0 vs 0,2 (allowed"    "only in OLD: tensors blocked 1" "only in NEW: tensors blocked 1 +2nb H1024" "no case appears in both files"; then
  echo "ok   2 neighbours and H1024: key 'tensors blocked 1 +2nb H1024', the lists noted, not refused"
fi
dims "$tmp/dim-all.json" "" '{"batch": 512, "d_in": 2048, "hidden": 1024, "d_out": 100}'
if compare 0 "$tmp/base.json" "$tmp/dim-all.json" && has out "only in NEW: tensors blocked 1 N512 D2048 H1024 O100"; then
  echo "ok   four sizes off the seed: N512 D2048 H1024 O100"
fi
for bad in '{"neighbours": -1}|neighbours that is not an integer in 0..1024' '{"neighbours": 1.5}|neighbours that is not' \
           '{"hidden": 0}|hidden that is not a positive integer' '{"d_in": "1000"}|d_in that is not a positive integer'; do
  dims "$tmp/dim-bad.json" "" "${bad%%|*}"
  if compare 1 "$tmp/base.json" "$tmp/dim-bad.json" && has err "${bad#*|}"; then echo "ok   a case with ${bad%%|*}: refused"; fi
done

# a malformed setting is a data error naming the field; a wrong argument count a usage error
sed 's/"iters": 50/"iters": "50"/' "$tmp/base.json" >"$tmp/bad.json"
if compare 1 "$tmp/base.json" "$tmp/bad.json" && has err "config.iters must be an integer"; then
  echo "ok   iters as a string: exit 1 naming config.iters"
fi
for args in "$tmp/base.json" "$tmp/base.json $tmp/base.json $tmp/base.json" "$tmp/base.json $tmp/base.json --bogus"; do
  # shellcheck disable=SC2086
  if compare 2 $args && has err "--compare takes two files" && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
    echo "ok   usage error: --compare $(echo $args | sed "s|$tmp/||g")"
  fi
done

echo "$cases cases, $failures failures"
[ "$failures" -eq 0 ]
