#!/usr/bin/env bash
# The main job: a real pipeline with a real trained model, on the GPU when there is one and on the
# reference CPU backend otherwise.
#   1. scripts/setup.sh installs what is missing; configure and build edgert, the GStreamer plugin
#      and edgert-app (preset EDGERT_PRESET, default "default").
#   2. scripts/fetch_models.py fetches PaddleOCR's PP-OCRv4 text detector (DBNet, trained; from the
#      PyPI wheel rapidocr-onnxruntime) into build/models/.
#   3. GStreamer renders build/demo/input.avi: 1280x720, 3 s of text (textoverlay, timeoverlay for a
#      running clock that changes every frame), MJPEG so that Debian's base/good plugins decode it.
#   4. edgert-app configs/apps/text_demo.yaml: uridecodebin -> edgertinfer (the detector; the plan is
#      built once and cached in ~/.cache/edgert) -> edgertoverlay -> build/demo/annotated.mp4, and
#      one JSON line per frame in build/demo/results.jsonl; telemetry (fps, latency) on stdout.
#   5. gst-launch-1.0 runs the same model on the first frame and writes build/demo/annotated.png.
#   6. Prints a summary: frames, boxes per frame, the boxes of the first frame, the files to look at.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
preset=${EDGERT_PRESET:-default}
# The preset's build directory (CMakePresets.json: "default" and "ci" use build/, the others build-NAME/).
case $preset in
  default | ci) build=build ;;
  *) build=build-$preset ;;
esac

bash scripts/setup.sh
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
cmake --preset "$preset"
cmake --build --preset "$preset" -j "${EDGERT_JOBS:-$(nproc)}" --target edgert gstedgert edgert-app

demo=build/demo
mkdir -p "$demo"
python3 scripts/fetch_models.py --out build/models   # where configs/models/ppocr_det.yaml looks
export GST_PLUGIN_PATH=$root/$build/plugins_gst/plugin

echo
echo "== rendering $demo/input.avi (1280x720, 90 frames of text)"
gst-launch-1.0 -q -e videotestsrc pattern=white num-buffers=90 ! \
  video/x-raw,width=1280,height=720,framerate=30/1 ! \
  textoverlay text="edgert on Jetson" font-desc="Sans Bold 26" color=0xff101010 \
    valignment=top halignment=left xpad=80 ypad=60 ! \
  textoverlay text="SPEED LIMIT 50" font-desc="Sans Bold 34" color=0xff101010 \
    valignment=top halignment=left xpad=80 ypad=200 ! \
  textoverlay text="Exit 12B: Airport" font-desc="Sans 24" color=0xff101010 \
    valignment=top halignment=left xpad=80 ypad=360 ! \
  timeoverlay font-desc="Sans 22" color=0xff303030 valignment=bottom halignment=right ! \
  videoconvert ! jpegenc quality=90 ! avimux ! filesink location="$demo/input.avi"

echo
echo "== edgert-app configs/apps/text_demo.yaml"
rm -f "$demo/results.jsonl" "$demo/annotated.mp4"
"$build/pipelines/edgert-app" configs/apps/text_demo.yaml

echo
echo "== gst-launch-1.0: first frame -> edgertinfer -> edgertoverlay -> $demo/annotated.png"
gst-launch-1.0 -q filesrc location="$demo/input.avi" ! decodebin ! videoconvert ! \
  edgertinfer config=configs/models/ppocr_det.yaml precision=best ! edgertoverlay line-width=3 ! \
  videoconvert ! pngenc snapshot=true ! filesink location="$demo/annotated.png"

echo
python3 - "$demo/results.jsonl" <<'PY'
import json, sys
frames = [json.loads(line) for line in open(sys.argv[1])]
if not frames:
    sys.exit("demo: no results were written")
boxes = [len(f["detections"]) for f in frames]
latency = sorted(f["inference_ms"] for f in frames)
print(f"demo: {len(frames)} frames with results, {min(boxes)}-{max(boxes)} text boxes per frame, "
      f"median inference {latency[len(latency) // 2]:.1f} ms per frame")
print("first frame:")
for d in frames[0]["detections"]:
    x0, y0, x1, y1 = d["box"]
    print(f"  {d['label']:<5} {d['score']:.3f}  [{x0:7.1f} {y0:7.1f} {x1:7.1f} {y1:7.1f}]")
if min(boxes) < 4:
    sys.exit("demo: expected the three text lines and the clock in every frame")
PY
echo "demo: look at $demo/annotated.png and $demo/annotated.mp4 (results: $demo/results.jsonl)"
