#!/usr/bin/env bash
# tests/format.sh — every C file git tracks is laid out as .clang-format says (one brace style,
# 4-space indents, 120 columns), checked with clang-format --dry-run --Werror; `make format`
# rewrites them. Skipped (77) without clang-format or outside a git checkout, unless
# NABLA_NO_SKIP=1 (CI), where that is a broken install.
set -uo pipefail
root=${1:?usage: tests/format.sh path/to/nabla-source}
skip=77
[ "${NABLA_NO_SKIP:-0}" = 1 ] && skip=1
if ! command -v clang-format >/dev/null; then echo "clang-format is not installed"; exit $skip; fi
cd "$root" || exit 1
if ! files=$(git ls-files '*.c' '*.h' 2>/dev/null) || [ -z "$files" ]; then
  echo "not a git checkout: no list of tracked C files"; exit $skip
fi
# The files clang-format would change, with its first complaint for each.
bad=0
for f in $files; do
  if ! out=$(clang-format --dry-run --Werror "$f" 2>&1); then
    echo "FAIL $f is not formatted: $(printf '%s\n' "$out" | head -1)"
    bad=$((bad + 1))
  fi
done
echo "$(printf '%s\n' $files | wc -l) C files checked, $bad not formatted (make format fixes them)"
exit $((bad > 0))
