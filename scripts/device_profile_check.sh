#!/usr/bin/env bash
# GPU checks of batch profiles on a real model, run on the device from the repository root with
# build-device/carry (scripts/device_prepare.sh) carried:
#   1. build the PP-OCR direction classifier (input x, 3x48x192) as a profile plan (min 1, opt 8,
#      max 32) and as fixed plans at batches 1, 8 and 32, FP16;
#   2. run the profile plan at batches 1, 5, 8 and 32 against the fixed plan (or the fixed-shape
#      model run) at the same batch and seed: relative L2 of the output;
#   3. edgert bench the profile plan at batches 1, 8, 32 next to the fixed plans (GPU compute time).
# Prints a table last. usage: device_profile_check.sh [CARRY] (default build-device/carry)
set -uo pipefail
carry=${1:-build-device/carry}
out=${OUT:-/tmp/profile_check}
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/$carry/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
edgert="$carry/bin/edgert"
model="$carry/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"
dims=3x48x192
"$edgert" build "$model" -o "$out/profile.plan" --fp16 --min-shapes x:1x$dims --opt-shapes x:8x$dims \
  --max-shapes x:32x$dims > "$out/build_profile.log" 2>&1 || { cat "$out/build_profile.log"; exit 1; }
for b in 1 8 32; do
  "$edgert" build "$model" -o "$out/fixed$b.plan" --fp16 --shapes x:${b}x$dims > "$out/build_fixed$b.log" 2>&1 ||
    { cat "$out/build_fixed$b.log"; exit 1; }
done
rows=()
for b in 1 5 8 32; do
  ref="$out/ref$b"
  rm -rf "$ref"
  "$edgert" run "$model" --fp16 --shapes x:${b}x$dims --seed 11 --save-outputs "$ref" > "$out/ref$b.log" 2>&1
  "$edgert" run "$out/profile.plan" --shapes x:${b}x$dims --seed 11 --compare "$ref" --rtol 1e-2 > "$out/cmp$b.log" 2>&1
  rows+=("compare batch $b: $(grep -o 'rel L2 [^ ]*' "$out/cmp$b.log" | head -1) $(tail -1 "$out/cmp$b.log")")
done
median() { grep -o "GPU Compute Time: .*median = [0-9.]*" "$1" | sed 's/.*median = //'; }
for b in 1 8 32; do
  "$edgert" bench "$out/profile.plan" --shapes x:${b}x$dims --duration 2 > "$out/bench_profile$b.log" 2>&1
  "$edgert" bench "$out/fixed$b.plan" --duration 2 > "$out/bench_fixed$b.log" 2>&1
  rows+=("bench batch $b: profile plan $(median "$out/bench_profile$b.log") ms, fixed plan $(median "$out/bench_fixed$b.log") ms (GPU compute median)")
done
grep -h "batch profile\|tactics" "$out/build_profile.log"
printf '%s\n' "${rows[@]}"
