#!/usr/bin/env bash
# .ci/install-deps.sh — installs with apt-get what a fresh Debian bookworm lacks to build,
# test and benchmark nabla. As root it installs; otherwise it prints the apt-get line to run
# and fails, so `make` never half-works. Called by `make`, `make test`, `make bench` and CI.
set -euo pipefail

# The OpenMP build of OpenBLAS, deliberately (docs/architecture.md): nabla's own kernels and
# elementwise loops use OpenMP, and one OpenMP runtime for both avoids two thread pools
# spinning against each other on the same cores. PyTorch picks it up too via libblas.so.3.
packages=(
  cmake gcc make pkg-config
  libopenblas-openmp-dev
  libcunit1-dev
  libcjson-dev
  hyperfine
  valgrind   # make valgrind: memcheck over a few steps of every variant
  clang-format   # the format test: one layout for every C file (.clang-format)
  clang libclang-rt-14-dev libomp-14-dev   # make fuzz: clang, its libFuzzer + sanitizer runtimes, its OpenMP
  python3-torch python3-numpy python3-matplotlib
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "nabla: missing Debian packages; install them with:" >&2
  echo "  sudo apt-get update && sudo $cmd" >&2
  exit 1
fi
echo "nabla: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd -qq
