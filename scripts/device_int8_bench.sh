#!/usr/bin/env bash
# INT8 on the GPU next to FP16, run on the device from the repository root with build-device/carry
# (scripts/device_prepare.sh) carried. Everything runs in one call:
#   1. models: ResNet-50 (scripts/make_bench_models.py: seeded random weights, the same bytes as on
#      the developer machine) and the YOLOv8n-style detector at 640 (scripts/device_models.py,
#      exported by torch at batch 1 and 32);
#   2. calibration at batch 1 with the accuracy gate (`edgert calibrate`, reference CPU engine):
#      ResNet-50 from the cache CARRY/int8/resnet50.calib when carried (calibrated on the developer
#      machine), else from random-normal frames; YOLO from random-normal frames;
#   3. plans (CUDA, tactics at level 1): FP16, and INT8 + FP16 (--int8 --fp16) from the cache; ResNet-50
#      at batch 1 and 128, YOLO at batch 1 and 32;
#   4. `edgert bench` of each plan (GPU compute median, throughput);
#   5. the PP-OCRv4 detector (a real trained model) with CARRY/int8/ppocr_det.calib when carried:
#      its INT8 plan on the GPU against its INT8 plan on the CPU reference engine on the same input
#      (the INT8 kernels against the simulated-quantization reference) and against FP32.
# Prints a table last; logs in $OUT/logs.tar.gz (or /tmp/int8_bench). usage: device_int8_bench.sh [CARRY]
set -uo pipefail
carry=${1:-build-device/carry}
out=${OUT:-/tmp/int8_bench}
work=/tmp/int8_work
mkdir -p "$out" "$work"
export LD_LIBRARY_PATH="$PWD/$carry/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
edgert="$PWD/$carry/bin/edgert"
duration=${BENCH_DURATION:-3}
BENCH_FLAGS=${BENCH_FLAGS:-}  # e.g. --profile: per-layer GPU times in the bench logs
rows=()

frames() {  # frames DIR COUNT SHAPE(python tuple)
  python3 - "$1" "$2" "$3" <<'PY'
import os, sys
import numpy as np
d, n, shape = sys.argv[1], int(sys.argv[2]), eval(sys.argv[3])
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(3)
for i in range(n):
    np.save(os.path.join(d, "%06d.npy" % i), rng.standard_normal(shape).astype(np.float32))
PY
}
median() { grep -o "GPU Compute Time: .*median = [0-9.]*" "$1" | sed 's/.*median = //'; }
throughput() { grep -o "Throughput: [0-9.]*" "$1" | sed 's/Throughput: //'; }

# 1.
python3 scripts/make_bench_models.py "$work" > "$out/models.log" 2>&1
python3 scripts/make_bench_models.py "$work" --batch=128 >> "$out/models.log" 2>&1
python3 - "$work" >> "$out/models.log" 2>&1 <<'PY'
import sys
sys.path.insert(0, "scripts")
import device_models
for b in (1, 32):
    print(device_models.export("yolov8n_style", f"{sys.argv[1]}/yolo_b{b}.onnx", batch=b))
PY

# 2.
if [ -f "$carry/int8/resnet50.calib" ]; then
  cp "$carry/int8/resnet50.calib" "$work/resnet50.calib"
  echo "resnet50: calibration cache carried" > "$out/calib_resnet50.log"
else
  frames "$work/r50_frames" 10 "(1,3,224,224)"
  "$edgert" calibrate "$work/resnet50.onnx" --calib "$work/r50_frames" -o "$work/resnet50.calib" --calibrator minmax \
    > "$out/calib_resnet50.log" 2>&1 || { tail -5 "$out/calib_resnet50.log"; }
fi
frames "$work/yolo_frames" 6 "(1,3,640,640)"
timeout 200 "$edgert" calibrate "$work/yolo_b1.onnx" --calib "$work/yolo_frames" -o "$work/yolo.calib" \
  > "$out/calib_yolo.log" 2>&1 || { tail -5 "$out/calib_yolo.log"; }
cp "$work"/*.calib "$out/" 2>/dev/null

# 3-4.
bench_pair() {  # bench_pair NAME MODEL SHAPES CACHE
  local name=$1 model=$2 shapes=$3 cache=$4
  "$edgert" build "$model" -o "$work/$name.fp16.plan" --device cuda --fp16 --shapes "$shapes" \
    > "$out/build_$name.fp16.log" 2>&1 || { tail -3 "$out/build_$name.fp16.log"; }
  "$edgert" build "$model" -o "$work/$name.int8.plan" --device cuda --fp16 --shapes "$shapes" --int8 --calib-cache "$cache" \
    > "$out/build_$name.int8.log" 2>&1 || { tail -3 "$out/build_$name.int8.log"; }
  for p in fp16 int8; do
    "$edgert" bench "$work/$name.$p.plan" --duration "$duration" $BENCH_FLAGS > "$out/bench_$name.$p.log" 2>&1 ||
      tail -3 "$out/bench_$name.$p.log"
  done
  local f i
  f=$(median "$out/bench_$name.fp16.log")
  i=$(median "$out/bench_$name.int8.log")
  rows+=("| $name | ${f:-n/a} | ${i:-n/a} | $(python3 -c "print('%.2f' % ($f/$i))" 2>/dev/null || echo n/a) | $(throughput "$out/bench_$name.fp16.log") | $(throughput "$out/bench_$name.int8.log") | $(grep -o '^int8: [0-9]* layers INT8, [0-9]* candidate layers float; [0-9]* tensors flow as int8' "$out/build_$name.int8.log") |")
}
bench_pair resnet50_b1 "$work/resnet50.onnx" input:1x3x224x224 "$work/resnet50.calib"
bench_pair resnet50_b128 "$work/resnet50_b128.onnx" input:128x3x224x224 "$work/resnet50.calib"
bench_pair yolo_b1 "$work/yolo_b1.onnx" input:1x3x640x640 "$work/yolo.calib"
bench_pair yolo_b32 "$work/yolo_b32.onnx" input:32x3x640x640 "$work/yolo.calib"

# 5.
det="$carry/models/ch_PP-OCRv4_det_infer.onnx"
if [ -f "$carry/int8/ppocr_det.calib" ] && [ -f "$det" ]; then
  s=x:1x3x640x640
  "$edgert" build "$det" -o "$work/det.cpu.int8.plan" --device cpu --shapes $s --int8 --calib-cache "$carry/int8/ppocr_det.calib" > "$out/build_det_cpu.log" 2>&1
  "$edgert" build "$det" -o "$work/det.cuda.int8.plan" --device cuda --fp16 --shapes $s --int8 --calib-cache "$carry/int8/ppocr_det.calib" > "$out/build_det_cuda.log" 2>&1
  "$edgert" build "$det" -o "$work/det.cuda32.int8.plan" --device cuda --shapes $s --int8 --calib-cache "$carry/int8/ppocr_det.calib" > "$out/build_det_cuda32.log" 2>&1
  rm -rf "$work/det_cpu" "$work/det_fp32"
  "$edgert" run "$work/det.cpu.int8.plan" --seed 5 --save-outputs "$work/det_cpu" > "$out/run_det_cpu.log" 2>&1
  "$edgert" run "$det" --device cpu --shapes $s --seed 5 --save-outputs "$work/det_fp32" > "$out/run_det_fp32.log" 2>&1
  "$edgert" run "$work/det.cuda32.int8.plan" --seed 5 --compare "$work/det_cpu" --rtol 1e-3 > "$out/cmp_det_int8.log" 2>&1
  "$edgert" run "$work/det.cuda.int8.plan" --seed 5 --compare "$work/det_cpu" --rtol 1 > "$out/cmp_det_int8_fp16.log" 2>&1
  "$edgert" run "$work/det.cuda.int8.plan" --seed 5 --compare "$work/det_fp32" --rtol 1e-1 > "$out/cmp_det_fp32.log" 2>&1
  "$edgert" build "$det" -o "$work/det.fp16.plan" --device cuda --fp16 --shapes $s > "$out/build_det_fp16.log" 2>&1
  for p in fp16 cuda.int8; do "$edgert" bench "$work/det.$p.plan" --duration "$duration" > "$out/bench_det.$p.log" 2>&1; done
  rows+=("| ppocr_det_640 | $(median "$out/bench_det.fp16.log") | $(median "$out/bench_det.cuda.int8.log") | | $(throughput "$out/bench_det.fp16.log") | $(throughput "$out/bench_det.cuda.int8.log") | $(grep -o '^int8: [0-9]* layers INT8, [0-9]* candidate layers float; [0-9]* tensors flow as int8' "$out/build_det_cuda.log") |")
  rows+=("ppocr det INT8 (FP32 float layers) GPU vs INT8 CPU reference: $(grep -io 'rel[a-z ]*L2[^,;]*' "$out/cmp_det_int8.log" | head -1) $(tail -1 "$out/cmp_det_int8.log")")
  rows+=("ppocr det INT8 + FP16 GPU vs INT8 CPU reference: $(grep -io 'rel[a-z ]*L2[^,;]*' "$out/cmp_det_int8_fp16.log" | head -1)")
  rows+=("ppocr det INT8 GPU vs FP32 CPU: $(grep -io 'rel[a-z ]*L2[^,;]*' "$out/cmp_det_fp32.log" | head -1) $(tail -1 "$out/cmp_det_fp32.log")")
fi

grep -h "int8 accuracy gate" "$out"/calib_*.log
tar -C "$out" -czf "$out/logs.tar.gz" --exclude logs.tar.gz . && find "$out" -name '*.log' -delete
echo "| case | FP16 GPU ms | INT8 GPU ms | INT8 speed-up | FP16 inf/s | INT8 inf/s | INT8 layers |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
