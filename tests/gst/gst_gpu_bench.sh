#!/bin/bash
# The 1080p pipeline against the bare engine, on the GPU machine (run by gst_gpu_device.sh with the
# GStreamer environment set): the real PP-OCRv4 text detector at 640x640 in FP16.
#   1. edgert build -> det.plan (tactics timed), then `edgert bench det.plan` (the bare engine:
#      inferences/s with H2D/D2H of the network's own input and output, CUDA graphs);
#   2. videotestsrc 1920x1080 NV12 -> edgertinfer (same plan; GPU preprocessing: letterbox, color
#      conversion, normalisation; DBNet decoding on the host) -> fakesink, frames from
#      a) the element's pinned, device-mapped pool (zero copies) and b) cudaupload (CUDA memory),
#      with the SMPTE or the black pattern, with and without a queue after the source, pipelined
#      (the default: host decoding of frame N overlaps the GPU work of frame N+1) and not;
#      frames/s from the first frame leaving the element to end-of-stream.
# Target: the pipeline >= 90% of the bare engine's frame rate. Prints a table last.
# usage: gst_gpu_bench.sh BUILD_DIR MODELS_DIR [FRAMES]
set -u
build=$(cd "$1" && pwd)
models=$(cd "$2" && pwd)
frames=${3:-600}
work=$(mktemp -d /tmp/edgert_gst_bench.XXXXXX)
export EDGERT_CACHE_DIR=$work/cache
export GST_PLUGIN_PATH=$build/plugins_gst/plugin GST_REGISTRY=$work/registry.bin
edgert=$build/builder/edgert
dump=$build/tests/gst/edgert_gst_meta_dump
"$edgert" build "$models/ch_PP-OCRv4_det_infer.onnx" --shapes x:1x3x640x640 --device cuda --fp16 \
  -o "$work/det.plan" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$edgert" bench "$work/det.plan" --duration 5 > "$work/bench.log" 2>&1 || { cat "$work/bench.log"; exit 1; }
engine_fps=$(sed -n 's/^Throughput: \([0-9.]*\).*/\1/p' "$work/bench.log")
cat > "$work/det.yaml" <<YAML
model: det.plan
type: detector
input: {name: x, width: 640, height: 640, resize: letterbox, color: bgr, scale: 0.00392156862745098,
        mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], pad-value: 0}
labels: [text]
decoder: {kind: dbnet, binary-threshold: 0.3, box-threshold: 0.5, unclip-ratio: 1.6}
YAML
declare -A fps copies
# videotestsrc draws every 1080p frame on the CPU (a few ms for SMPTE bars): a queue puts that on
# its own thread; "black" is the cheapest pattern. The rows show how much the source limits.
# The element pipelines by default here (CUDA, host DBNet decode): "-nopipe" rows turn it off.
modes="smpte-pinned black-pinned black-pinned-nopipe black-pinned-queue black-pinned-queue-nopipe black-cudaupload-queue"
for mode in $modes; do
  pattern=${mode%%-*}
  infer="edgertinfer name=infer config=$work/det.yaml device=cuda"
  case $mode in *nopipe*) infer="$infer pipeline=off" ;; esac
  p="videotestsrc num-buffers=$frames pattern=$pattern ! video/x-raw,format=NV12,width=1920,height=1080,framerate=1000/1"
  case $mode in *queue*) p="$p ! queue max-size-buffers=4" ;; esac
  case $mode in *cudaupload*) p="$p ! cudaupload ! video/x-raw(memory:CUDAMemory)" ;; esac
  p="$p ! $infer ! fakesink sync=false"
  "$dump" --quiet "$p" > "$work/$mode.json" 2> "$work/$mode.err" || { tail -5 "$work/$mode.err"; }
  read -r f s c < <(python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); \
print(d['frames'], d['seconds'], d['frame_copies'])" "$work/$mode.json" 2>/dev/null || echo "0 0 -1")
  fps[$mode]=$(python3 -c "print(f'{$f/$s:.1f}' if $s > 0 else '0')")
  copies[$mode]=$c
done
grep -E "^(Latency|GPU Compute Time):" "$work/bench.log"
echo
printf '%-34s %10s %8s %12s\n' "run (PP-OCRv4 det 640, fp16)" "frames/s" "vs bare" "frame-copies"
printf '%-34s %10s %8s %12s\n' "bare engine (edgert bench)" "$engine_fps" "100%" "-"
for mode in $modes; do
  ratio=$(python3 -c "print(f'{100*${fps[$mode]}/$engine_fps:.0f}%' if $engine_fps > 0 else '-')")
  printf '%-34s %10s %8s %12s\n' "1080p NV12 $mode" "${fps[$mode]}" "$ratio" "${copies[$mode]}"
done
