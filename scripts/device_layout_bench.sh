#!/usr/bin/env bash
# FP16 channels-last (the layout pass) next to FP16 NCHW on the GPU, run on the device from the
# repository root with a carried build (scripts/device_prepare.sh). Everything runs in one call:
#   1. models: ResNet-50 (scripts/make_bench_models.py: seeded random weights, batch 1 and 128) and
#      MobileNetV2, EfficientNet-B0 and the YOLOv8n-style detector at 640 (scripts/device_models.py,
#      exported by torch at batch 1 and 32);
#   2. per case, two FP16 plans (CUDA, tactics at level 1): --layout nchw and --layout nhwc, with
#      the build time of each;
#   3. `edgert bench` of each plan (GPU compute median, throughput);
#   4. accuracy at batch 1: each NHWC plan against the FP32 CPU reference engine on one seeded
#      input (relative L2; FP16's budget is 1e-2).
# Prints a table last; logs in $OUT/logs.tar.gz. usage: device_layout_bench.sh [CARRY]
#   LAYOUT_CASES="resnet50_b1 yolo_b32"  only these cases (default: all)
#   BENCH_FLAGS=--profile                per-layer GPU times in the bench logs
#   LAYOUTS=nhwc                         build and bench only these layouts (default: nchw nhwc)
#   BUILD_FLAGS="--enable-pass se-fusion"  extra `edgert build` options (e.g. to compare a fusion)
set -uo pipefail
carry=${1:-build-device/carry}
out=${OUT:-/tmp/layout_bench}
work=/tmp/layout_work
mkdir -p "$out" "$work"
export LD_LIBRARY_PATH="$PWD/$carry/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export EDGERT_CACHE_DIR="$work/cache"
edgert="$PWD/$carry/bin/edgert"
duration=${BENCH_DURATION:-2}
BENCH_FLAGS=${BENCH_FLAGS:-}
BUILD_FLAGS=${BUILD_FLAGS:-}
layouts=${LAYOUTS:-nchw nhwc}
cases=${LAYOUT_CASES:-resnet50_b1 resnet50_b128 mobilenet_v2_b1 mobilenet_v2_b32 efficientnet_b0_b1 efficientnet_b0_b32 yolo_b1 yolo_b32}
rows=()

median() { grep -o "GPU Compute Time: .*median = [0-9.]*" "$1" | sed 's/.*median = //'; }
throughput() { grep -o "Throughput: [0-9.]*" "$1" | sed 's/Throughput: //'; }
wanted() { case " $cases " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# 1.
python3 scripts/make_bench_models.py "$work" > "$out/models.log" 2>&1
wanted resnet50_b128 && python3 scripts/make_bench_models.py "$work" --batch=128 >> "$out/models.log" 2>&1
python3 - "$work" "$cases" >> "$out/models.log" 2>&1 <<'PY'
import sys
sys.path.insert(0, "scripts")
import device_models
work, cases = sys.argv[1], sys.argv[2].split()
for name, model in (("mobilenet_v2", "mobilenet_v2"), ("efficientnet_b0", "efficientnet_b0"), ("yolo", "yolov8n_style")):
    for b in (1, 32):
        if f"{name}_b{b}" in cases:
            print(device_models.export(model, f"{work}/{name}_b{b}.onnx", batch=b))
PY

# 2-4.
bench_case() {  # bench_case NAME MODEL
  local name=$1 model=$2 shapes t0 t_nchw=- t_nhwc=-
  shapes=$(python3 -c "import onnx,sys; m=onnx.load(sys.argv[1], load_external_data=False); i=m.graph.input[0]; print(i.name + ':' + 'x'.join(str(d.dim_value) for d in i.type.tensor_type.shape.dim))" "$model")
  for layout in $layouts; do
    t0=$(date +%s.%N)
    "$edgert" build "$model" -o "$work/$name.$layout.plan" --device cuda --fp16 --layout "$layout" --shapes "$shapes" $BUILD_FLAGS \
      > "$out/build_$name.$layout.log" 2>&1 || tail -3 "$out/build_$name.$layout.log"
    eval "t_$layout=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")"
    "$edgert" bench "$work/$name.$layout.plan" --duration "$duration" $BENCH_FLAGS > "$out/bench_$name.$layout.log" 2>&1 ||
      tail -3 "$out/bench_$name.$layout.log"
  done
  local acc=""
  case $name in *_b1)
    rm -rf "$work/ref_$name"
    "$edgert" run "$model" --device cpu --shapes "$shapes" --seed 5 --save-outputs "$work/ref_$name" > "$out/ref_$name.log" 2>&1
    "$edgert" run "$work/$name.nhwc.plan" --seed 5 --compare "$work/ref_$name" --rtol 1e-2 > "$out/cmp_$name.log" 2>&1
    acc="$(grep -io 'rel[a-z ]*L2[^,;]*' "$out/cmp_$name.log" | head -1) ($(tail -1 "$out/cmp_$name.log" | cut -c1-40))"
    ;;
  esac
  local a b
  a=$(median "$out/bench_$name.nchw.log")
  b=$(median "$out/bench_$name.nhwc.log")
  rows+=("| $name | ${a:-n/a} | ${b:-n/a} | $(python3 -c "print('%.2f' % ($a/$b))" 2>/dev/null || echo n/a) | $(throughput "$out/bench_$name.nhwc.log") | ${t_nchw} / ${t_nhwc} s | $(grep -o 'layout: .*' "$out/build_$name.nhwc.log" | head -1) | $acc |")
}
for c in $cases; do
  case $c in
    resnet50_b1) bench_case "$c" "$work/resnet50.onnx" ;;
    resnet50_b128) bench_case "$c" "$work/resnet50_b128.onnx" ;;
    *) bench_case "$c" "$work/$c.onnx" ;;
  esac
done

tar -C "$out" -czf "$out/logs.tar.gz" --exclude logs.tar.gz . && find "$out" -name '*.log' -delete
echo "| case | FP16 NCHW ms | FP16 NHWC ms | speed-up | NHWC inf/s | build s (nchw / nhwc) | layout | NHWC vs FP32 CPU |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
