#!/usr/bin/env bash
# CPU benchmark of the reference backend, with ONNX Runtime (CPU provider) measured in the same run.
#   1. Write ResNet-50 and MobileNetV2 (random weights, 1x3x224x224) with make_bench_models.py.
#   2. edgert build: optimizer counts, arena figures, build time; edgert build --cache twice: the
#      second is a cache hit, timed as a whole process (what a restart costs). The first hit of a
#      model file younger than 2 s hashes the whole file instead (about 0.4 s per 100 MB).
#   3. edgert bench on each plan, and ONNX Runtime on the same models with one thread and with its
#      default threads (median of timed runs after warm-up).
# Prints a table last. Usage: scripts/bench_cpu.sh [BUILD_DIR] (default build/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
edgert=$build/builder/edgert
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[[ -x $edgert ]] || { echo "bench_cpu.sh: $edgert not built (run scripts/test.sh first)" >&2; exit 1; }

python3 "$root/scripts/make_bench_models.py" "$work" >/dev/null
# The cache remembers a model's content hash only for files at least 2 s old (see README): let the
# models age as a deployed model file would have, so the cache-hit time is a restart's.
sleep 3
rows=()
for m in resnet50 mobilenetv2; do
  build_out=$("$edgert" build "$work/$m.onnx" -o "$work/$m.plan")
  layers=$(sed -n 's/^optimizer: \([0-9]*\) model nodes, .* -> \([0-9]*\) layers.*/\1 -> \2/p' <<<"$build_out")
  arena=$(sed -n 's/^memory: arena \([0-9]*\) bytes (lower bound \([0-9]*\), no reuse \([0-9]*\): \(.*\))/\1 \2 \3 \4/p' <<<"$build_out")
  EDGERT_CACHE_DIR=$work/cache "$edgert" build "$work/$m.onnx" --cache >/dev/null
  start=$(date +%s%N)
  hit=$(EDGERT_CACHE_DIR=$work/cache "$edgert" build "$work/$m.onnx" --cache | sed -n 's/^cache: \([a-z]*\).*/\1/p')
  hit_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  bench=$("$edgert" bench "$work/$m.plan" --iterations 30 --warmup 1)
  median=$(sed -n 's/^Latency: .*median = \([0-9.]*\) ms.*/\1/p' <<<"$bench")
  ort=$(python3 - "$work/$m.onnx" <<'PY'
import sys, time
import numpy as np
import onnxruntime as ort
x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
def median_ms(threads):
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    s = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
    for _ in range(5):
        s.run(None, {"input": x})
    t = []
    for _ in range(30):
        a = time.perf_counter(); s.run(None, {"input": x}); t.append((time.perf_counter() - a) * 1e3)
    return float(np.median(t))
print(f"{median_ms(1):.2f} {median_ms(0):.2f}")
PY
)
  rows+=("$m|$layers|$arena|$hit $hit_ms|$median|$ort")
done
echo
echo "model        layers (nodes -> layers)  arena bytes / lower bound / no reuse (arena share)  cache-hit process ms  edgert ms  ORT 1 thread ms  ORT default ms"
for r in "${rows[@]}"; do
  IFS='|' read -r m layers arena hit med ort <<<"$r"
  read -r ort1 ortn <<<"$ort"
  printf '%-12s %-25s %-50s %-21s %-10s %-16s %s\n' "$m" "$layers" "$arena" "$hit" "$med" "$ort1" "$ortn"
done
