#!/usr/bin/env bash
# tests/verify_cases.sh — `nabla verify` checks the reference cases it expects (reference/cases.txt,
# compiled in), not whatever the fixtures directory holds (issue 13): a missing manifest or case
# directory fails the run with one line naming it, an unknown extra case is named, an intact copy
# passes; and the case count README states is the count of cases.txt and of reference/fixtures/.
# usage: tests/verify_cases.sh path/to/nabla path/to/source-dir
set -u
nabla=$(readlink -f "${1:?usage: tests/verify_cases.sh path/to/nabla path/to/source}")
src=$(readlink -f "${2:?usage: tests/verify_cases.sh path/to/nabla path/to/source}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
cases=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { cases=$((cases + 1)); echo "ok   $*"; }

fixtures=$src/reference/fixtures
# A small case of the variant the runs select, and one of another variant: a --variants filter
# must not hide a broken case either.
small=tensors-f64-s1-7x13x5x3-i60
other=nn-f32-s42-7x13x5x3-i60
# One kernel, one variant: five small-to-seed-size cases, well under a second.
run=(verify --reference-only --kernels blocked --variants tensors --quiet)

# fresh: $tmp/F <- an intact copy of the committed fixtures
fresh() { rm -rf "$tmp/F" && cp -r "$fixtures" "$tmp/F"; }

# refused "<what>" "<text the one line must hold>"...: verify on $tmp/F exits 1, says nothing
# passed, and prints exactly one line on stderr holding every text given.
refused() {
  local what=$1; shift
  "$nabla" "${run[@]}" --fixtures "$tmp/F" >"$tmp/out" 2>"$tmp/err"
  local code=$? lines; lines=$(wc -l <"$tmp/err")
  if [ $code -ne 1 ]; then fail "$what: exit $code, expected 1 ($(tail -1 "$tmp/out"))"; return; fi
  if [ "$lines" -ne 1 ]; then fail "$what: $lines lines on stderr, expected 1:"; cat "$tmp/err"; return; fi
  for text in "$@"; do
    if ! grep -qF -- "$text" "$tmp/err"; then fail "$what: the message lacks '$text': $(cat "$tmp/err")"; return; fi
  done
  if grep -q '^verify: .* checks' "$tmp/out"; then fail "$what: a summary was printed as if the run had finished"; return; fi
  ok "$what: exit 1 -> $(cat "$tmp/err")"
}

# ---- (d) the intact copy passes, and names no extra case ----
fresh
if "$nabla" "${run[@]}" --fixtures "$tmp/F" >"$tmp/out" 2>"$tmp/err"; then
  if [ -s "$tmp/err" ]; then fail "intact copy: passed but printed on stderr: $(cat "$tmp/err")"
  elif ! grep -q '^verify: 5 checks, 0 failed' "$tmp/out"; then fail "intact copy: summary $(tail -1 "$tmp/out"), expected 5 checks"
  else ok "intact copy: $(tail -1 "$tmp/out")"; fi
else
  fail "intact copy: exit $?: $(cat "$tmp/err")"
fi

# ---- (a) a deleted manifest.json: exit 1, one line naming the case and the file ----
fresh
rm "$tmp/F/$small/manifest.json"
refused "manifest.json of $small deleted" "$small/manifest.json" "make reference"
fresh
rm "$tmp/F/$other/manifest.json"
refused "manifest.json of $other (a variant not selected) deleted" "$other/manifest.json" "make reference"
fresh
printf '{"format": "nabla-reference/1", "case": ' >"$tmp/F/$small/manifest.json"
refused "a truncated manifest.json of $small" "$small/manifest.json" "not valid JSON" "make reference"

# ---- (b) a deleted case directory: exit 1, one line naming the case ----
fresh
rm -rf "${tmp:?}/F/$small"
refused "case directory $small deleted" "reference case $small is missing" "make reference"
fresh
rm -rf "${tmp:?}/F/$other"
refused "case directory $other (a variant not selected) deleted" "reference case $other is missing" "make reference"

# ---- a directory whose manifest is another case's: it is not the case nabla looks for ----
fresh
rm -rf "${tmp:?}/F/$small" && cp -r "$fixtures/tensors-f32-s42-7x13x5x3-i60" "$tmp/F/$small"
refused "$small holding another case" "$small/manifest.json" "tensors-f32-s42-7x13x5x3-i60" "make reference"

# ---- (c) an unknown extra case folder: named, one line, and skipped (the run still passes) ----
fresh
extra=tensors-f64-s7-7x13x5x3-i60
cp -r "$fixtures/$small" "$tmp/F/$extra"
if "$nabla" "${run[@]}" --fixtures "$tmp/F" >"$tmp/out" 2>"$tmp/err"; then
  if [ "$(grep -c "$extra: not in nabla's expected list" "$tmp/err")" -ne 1 ] || [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
    fail "extra case $extra: expected one line naming it on stderr, got: $(cat "$tmp/err")"
  elif grep -q "$extra" "$tmp/out"; then fail "extra case $extra: it was run"
  else ok "extra case $extra -> $(cat "$tmp/err")"; fi
else
  fail "extra case $extra: exit $?: $(cat "$tmp/err")"
fi

# ---- (e) the counts README states match cases.txt and the fixtures on disk ----
listed=$(grep -cv '^#' "$src/reference/cases.txt")
on_disk=$(find "$fixtures" -mindepth 2 -maxdepth 2 -name manifest.json | wc -l)
if [ "$listed" -eq 0 ]; then fail "reference/cases.txt lists no case"; fi
if diff <(grep -v '^#' "$src/reference/cases.txt" | sort) <(ls "$fixtures" | sort) >"$tmp/diff"; then
  ok "reference/cases.txt names exactly the $on_disk directories of reference/fixtures/"
else
  fail "reference/cases.txt and reference/fixtures/ differ (< cases.txt, > on disk):"; cat "$tmp/diff"
fi
# The list is generate.py's: --list prints it without torch, so any python3 will do (and no
# __pycache__ is left in the source tree).
if command -v python3 >/dev/null; then
  if PYTHONDONTWRITEBYTECODE=1 python3 "$src/reference/generate.py" --list | diff - <(grep -v '^#' "$src/reference/cases.txt") >"$tmp/diff"; then
    ok "reference/cases.txt is what reference/generate.py --list prints"
  else
    fail "reference/cases.txt is not what generate.py makes (< generate.py, > cases.txt; run make reference):"; cat "$tmp/diff"
  fi
fi
# README: "`reference/fixtures/`: N cases" in the verify paragraph; reference/README.md: "That
# makes N cases". Every occurrence counts; none at all means the phrase changed under the test.
count_check() {
  local file=$1 phrase=$2 numbers n
  numbers=$(grep -o "$phrase" "$src/$file" | grep -o '[0-9][0-9]*')
  if [ -z "$numbers" ]; then fail "$file: no '$phrase' found (the phrase changed?)"; return; fi
  for n in $numbers; do
    if [ "$n" -ne "$listed" ] || [ "$n" -ne "$on_disk" ]; then
      fail "$file says $n cases; reference/cases.txt lists $listed, reference/fixtures/ holds $on_disk"; return
    fi
  done
  ok "$file says $n cases, as cases.txt and reference/fixtures/ have"
}
count_check README.md '`reference/fixtures/`: [0-9]* cases'
count_check reference/README.md 'That makes [0-9]* cases'

# ---- --cases: narrows the expected cases, never to nothing, and a selected missing case fails ----
fresh
rm -rf "$tmp/F/$other"
"$nabla" verify --reference-only --kernels blocked --quiet --cases '*-7x13x5x3-*' --fixtures "$tmp/F" >"$tmp/out" 2>"$tmp/err"
code=$?
if [ $code -eq 1 ] && grep -qF "$other" "$tmp/err"; then ok "--cases selecting a missing case: exit 1 naming it"
else fail "--cases with $other missing: exit $code, $(cat "$tmp/err")"; fi
"$nabla" verify --reference-only --kernels blocked --quiet --cases '*-1x3x8x1-*' --fixtures "$tmp/F" >"$tmp/out" 2>"$tmp/err"
code=$?
if [ $code -eq 0 ] && grep -q '^verify: 8 checks, 0 failed' "$tmp/out"; then
  ok "--cases selecting only present cases: $(tail -1 "$tmp/out")"
else fail "--cases '*-1x3x8x1-*': exit $code, $(tail -1 "$tmp/out") $(cat "$tmp/err")"; fi
"$nabla" verify --reference-only --cases 'tensors-f16-*' >"$tmp/out" 2>"$tmp/err"
code=$?
if [ $code -eq 2 ] && grep -q "selects none of the" "$tmp/err"; then ok "a --cases glob that selects nothing: exit 2"
else fail "--cases selecting nothing: exit $code, $(cat "$tmp/err")"; fi

echo "verify_cases: $cases ok, $failures failed"
[ "$failures" -eq 0 ]
