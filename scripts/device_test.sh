#!/usr/bin/env bash
# The one-call GPU run (through the device tool, on the GPU machine): runs the CUDA test suite on a
# build carried from a developer machine (scripts/device_prepare.sh makes build-device/carry) and
# prints a short table last. Logs go to $OUT/logs.tar.gz and the table to $OUT/summary.txt (the
# device tool brings them back).
#
#   device tool:  bash scripts/device_test.sh            carry: ["build-device/carry"]
#   steps (EDGERT_DEVICE_STEPS, default all, in this order):
#     gpu          edgert_gpu_tests (engine, every kernel family vs the CPU reference, FP32 + FP16)
#     conformance  the ONNX backend node tests on the CUDA engine, FP32 (tolerance 1e-3; every case of
#                  tests/conformance/expected_pass.txt must pass) and FP16 (1e-2; counted, not gated)
#     models       tests/models/run_models.py on CUDA, FP32 (rtol 1e-3) and FP16 (1e-2), plan round trip
#     zoo          torchvision/timm models and a YOLOv8n-style detector exported here
#                  (scripts/device_models.py), FP32 and FP16 vs ONNX Runtime, device memory per model
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARRY=${EDGERT_CARRY:-$ROOT/build-device/carry}
OUT=${OUT:-/tmp/edgert-device}
STEPS=${EDGERT_DEVICE_STEPS:-gpu conformance models zoo}
WORK=${EDGERT_DEVICE_WORK:-/tmp/edgert-work}  # models and plans: large, not brought back
mkdir -p "$OUT" "$WORK"
export LD_LIBRARY_PATH="$CARRY/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export EDGERT_CACHE_DIR="$WORK/cache"
export EDGERT_REQUIRE_GPU=1
BIN="$CARRY/bin"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
row() { printf '%-22s %-6s %s\n' "$1" "$2" "$3" | tee -a "$SUMMARY" >/dev/null; }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/device.txt" 2>&1
echo "device: $(cat "$OUT/device.txt")"

has_step() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if has_step gpu; then
  start=$SECONDS
  timeout 600 "$BIN/edgert_gpu_tests" --gtest_output="xml:$OUT/gpu_tests.xml" > "$OUT/gpu_tests.log" 2>&1
  rc=$?
  passed=$(grep -c '^\[       OK \]' "$OUT/gpu_tests.log")
  failed=$(grep -c '^\[  FAILED  \] [A-Za-z]' "$OUT/gpu_tests.log")
  row "gpu tests" "$([ $rc = 0 ] && echo ok || echo FAIL)" "$passed passed, $((failed / 2)) failed ($((SECONDS - start)) s)"
  grep '^\[  FAILED  \] [A-Za-z]' "$OUT/gpu_tests.log" | sort -u | head -40 > "$OUT/gpu_failed.txt"
fi

if has_step conformance; then
  NODE=/tmp/edgert-onnx-node
  if [ ! -d "$NODE/node" ]; then mkdir -p "$NODE" && tar -C "$NODE" -xzf "$CARRY/onnx_node_tests.tar.gz"; fi
  for mode in fp32 fp16; do
    start=$SECONDS
    args=(--backend cuda)
    [ $mode = fp16 ] && args+=(--fp16)
    [ $mode = fp32 ] && args+=(--expected "$ROOT/tests/conformance/expected_pass.txt" --known-failures "$ROOT/tests/conformance/cuda_known_failures.txt")
    timeout 900 "$BIN/edgert_conformance" "$NODE/node" "${args[@]}" > "$OUT/conformance_$mode.log" 2>&1
    rc=$?
    counts=$(grep -E '^conformance: [0-9]+ passed' "$OUT/conformance_$mode.log" | tail -1 | sed 's/^conformance: //')
    row "conformance $mode" "$([ $rc = 0 ] && echo ok || echo FAIL)" "${counts:-no summary (rc $rc)} ($((SECONDS - start)) s)"
  done
fi

if has_step models; then
  for mode in fp32 fp16; do
    start=$SECONDS
    # One timing cache per mode: the ONNX run and the plan build choose the same tactics, so the
    # plan round trip stays bit-identical.
    cache="--timing-cache $WORK/timing_$mode.cache"
    if [ $mode = fp32 ]; then extra="--device cuda $cache"; rtol=1e-3; else extra="--device cuda --fp16 $cache"; rtol=1e-2; fi
    timeout 600 python3 "$ROOT/tests/models/run_models.py" --edgert "$BIN/edgert" --work "$WORK/models_$mode" \
      --rtol $rtol "--edgert-args=$extra" > "$OUT/models_$mode.log" 2>&1
    rc=$?
    row "models $mode" "$([ $rc = 0 ] && echo ok || echo FAIL)" "$(grep -c ' ok$' "$OUT/models_$mode.log") ok, $(grep -c ' FAIL$' "$OUT/models_$mode.log") failed ($((SECONDS - start)) s)"
  done
  # Real trained models (PP-OCRv4 text detector and classifier) on rendered text, vs ONNX Runtime.
  for mode in fp32 fp16; do
    if [ $mode = fp32 ]; then extra=("--edgert-args=--device cuda" --rtol 1e-3); else extra=("--edgert-args=--device cuda --fp16" --rtol 1e-2); fi
    timeout 300 python3 "$ROOT/tests/models/real_models.py" --edgert "$BIN/edgert" --work "$WORK/real_$mode" \
      --models "$CARRY/models" --frame "$CARRY/models/text_frame.rgb" "${extra[@]}" > "$OUT/real_models_$mode.log" 2>&1
    rc=$?
    row "real models $mode" "$([ $rc = 0 ] && echo ok || echo FAIL)" "$(tr '\n' ' ' < "$OUT/real_models_$mode.log" | grep -o 'rel L2 [0-9.e+-]*' | tr '\n' ' ')"
  done
fi

if has_step zoo; then
  start=$SECONDS
  timeout 900 python3 "$ROOT/scripts/device_models.py" --edgert "$BIN/edgert" --work "$WORK/zoo" \
    > "$OUT/zoo.log" 2>&1
  rc=$?
  mkdir -p "$OUT/zoo_logs"
  for d in "$WORK"/zoo/*/; do
    for f in "$d"edgert_*.log; do [ -f "$f" ] && cp "$f" "$OUT/zoo_logs/$(basename "$d")_$(basename "$f")"; done
  done
  row "zoo" "$([ $rc = 0 ] && echo ok || echo FAIL)" "see zoo.log ($((SECONDS - start)) s)"
  sed -n '/^model /,$p' "$OUT/zoo.log"
fi

# The device tool brings back a few files per call: pack every log into one archive.
tar -C "$OUT" -czf "$WORK/logs.tar.gz" --exclude=summary.txt . && \
  find "$OUT" -mindepth 1 ! -name summary.txt -delete && mv "$WORK/logs.tar.gz" "$OUT/logs.tar.gz"
echo
cat "$OUT/summary.txt"
