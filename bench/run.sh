#!/usr/bin/env bash
# bench/run.sh — `make bench`: trains the tutorial's network (variant `tensors`, 500 steps)
# with every matmul kernel, printing each run's losses and summary, then times the kernels
# side by side on the seed's first product and on 1024^3.
# usage: bench/run.sh path/to/nabla [extra `nabla train` flags]
set -euo pipefail
nabla=${1:?usage: bench/run.sh path/to/nabla [train flags]}
shift

echo "== machine: $(nproc) CPUs, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
summaries=()
for kernel in $("$nabla" kernels | awk '{print $1}'); do
  echo "== nabla train --variant tensors --kernel $kernel $*"
  out=$("$nabla" train --variant tensors --kernel "$kernel" "$@")
  echo "$out"
  summaries+=("$(grep '^summary:' <<<"$out")")
done

echo "== training loops side by side"
printf '%s\n' "${summaries[@]}"

echo "== nabla kernels --bench (GEMM per call, interleaved repeats)"
"$nabla" kernels --bench
