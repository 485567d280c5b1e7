#!/bin/bash
# edgertinfer on the GPU (run by the lead on a lent device; GStreamer is not in the GPU test binary).
# Runs the same 20 NV12 frames through edgertinfer with device=cpu and three CUDA paths and compares
# each frame's logits and top class with the CPU run:
#   cuda-pinned  system memory from the element's pinned, device-mapped pool  -> frame-copies 0
#   cuda-memory  cudaupload -> video/x-raw(memory:CUDAMemory) -> edgertinfer  -> frame-copies 0
#   cuda-batch4  system memory, batch-size 4 (order and per-frame results)
#   cuda-copy    identity drop-allocation=true (buffers not from its pool)    -> frame-copies 20
#   cuda-nopipe  as cuda-pinned with pipeline=off (the four runs above pipeline: each must log
#                "pipelining on", and this one "pipelining off")
# and a tiny YOLOv8-style detector (make_models.py's detector.yaml, decoded on the GPU with
# DecodeDetectionsCuda on CUDA sessions) against device=cpu (host Decode) per frame: the same count,
# classes and order, boxes within 0.5 px, scores within 1e-3:
#   det-cuda, det-cuda-memory (cudaupload), det-cuda-batch4 (batch item offsets); each must log
#   "detector decode on the GPU"; det-cuda-pipe (pipeline=on: the host decode, pipelined) must log
#   "detector decode on the host".
# usage: tests/gst/gst_gpu_check.sh BUILD_DIR   (a build with EDGERT_WITH_CUDA=ON, EDGERT_WITH_GST=ON;
#        on the lent GPU machine: gst_gpu_stage.sh here, then gst_gpu_device.sh there)
# Needs: gst-launch's plugins base (videotestsrc), bad (cudaupload), python3 with onnx and numpy.
# Exit status 0 when every check passes; prints a table last.
set -u
build=$(cd "${1:?usage: gst_gpu_check.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/edgert_gst_gpu.XXXXXX)
export GST_PLUGIN_PATH=$build/plugins_gst/plugin
export GST_REGISTRY=$work/registry.bin
export EDGERT_CACHE_DIR=$work/cache
dump=$build/tests/gst/edgert_gst_meta_dump
python3 "$here/make_models.py" "$work" || exit 1
[ -x "$dump" ] || { echo "missing $dump (build the edgert_gst_meta_dump target)"; exit 1; }

src="videotestsrc num-buffers=20 pattern=ball ! video/x-raw,format=NV12,width=320,height=240,framerate=30/1"
infer="edgertinfer name=infer config=$work/classifier.yaml output-tensors=true precision=fp32"
status=0
run() {  # name pipeline
  echo "== $1: $2"
  if ! "$dump" "$2" >"$work/$1.jsonl" 2>"$work/$1.err"; then
    cat "$work/$1.err"; echo "FAIL $1: pipeline error"; status=1
  fi
  tail -1 "$work/$1.jsonl"
}
run cpu "$src ! $infer device=cpu ! fakesink"
GST_DEBUG=edgertinfer:4 run cuda-pinned "$src ! $infer device=cuda ! fakesink"
GST_DEBUG=edgertinfer:4 run cuda-memory "$src ! cudaupload ! video/x-raw(memory:CUDAMemory) ! $infer device=cuda ! fakesink"
GST_DEBUG=edgertinfer:4 run cuda-batch4 "$src ! $infer device=cuda batch-size=4 ! fakesink"
GST_DEBUG=edgertinfer:4 run cuda-copy "$src ! identity drop-allocation=true ! $infer device=cuda ! fakesink"
GST_DEBUG=edgertinfer:4 run cuda-nopipe "$src ! $infer device=cuda pipeline=off ! fakesink"
for name in cuda-pinned cuda-memory cuda-batch4 cuda-copy; do
  grep -q "pipelining on" "$work/$name.err" || { echo "FAIL $name: not pipelined"; status=1; }
done
grep -q "pipelining off" "$work/cuda-nopipe.err" || { echo "FAIL cuda-nopipe: pipelined"; status=1; }
det="edgertinfer name=infer config=$work/detector.yaml precision=fp32"
run det-cpu "$src ! $det device=cpu ! fakesink"
GST_DEBUG=edgertinfer:4 run det-cuda "$src ! $det device=cuda ! fakesink"
GST_DEBUG=edgertinfer:4 run det-cuda-memory "$src ! cudaupload ! video/x-raw(memory:CUDAMemory) ! $det device=cuda ! fakesink"
GST_DEBUG=edgertinfer:4 run det-cuda-batch4 "$src ! $det device=cuda batch-size=4 ! fakesink"
GST_DEBUG=edgertinfer:4 run det-cuda-pipe "$src ! $det device=cuda pipeline=on ! fakesink"
for name in det-cuda det-cuda-memory det-cuda-batch4; do
  if ! grep -q "detector decode on the GPU" "$work/$name.err"; then
    echo "FAIL $name: the element did not decode on the GPU"; status=1
  fi
done
grep -q "detector decode on the host" "$work/det-cuda-pipe.err" || { echo "FAIL det-cuda-pipe: not on the host"; status=1; }

python3 - "$work" <<'PY' || status=1
import json, math, sys
work = sys.argv[1]
def load(name):
    lines = [json.loads(l) for l in open(f"{work}/{name}.jsonl")]
    return lines[:-1], lines[-1]
ref, ref_tail = load("cpu")
ok = True
rows = [("run", "backend", "frames", "max rel L2", "top-1 agree", "frame-copies", "verdict")]
expected_copies = {"cuda-pinned": 0, "cuda-memory": 0, "cuda-batch4": 0, "cuda-copy": 20, "cuda-nopipe": 0}
for name in ["cuda-pinned", "cuda-memory", "cuda-batch4", "cuda-copy", "cuda-nopipe"]:
    try:
        got, tail = load(name)
    except Exception as e:
        rows.append((name, "-", 0, "-", "-", "-", f"FAIL ({e})")); ok = False; continue
    worst, agree, verdict = 0.0, 0, "ok"
    if len(got) != len(ref) or len(ref) != 20:
        verdict = f"FAIL: {len(got)} frames vs {len(ref)}"
    else:
        for r, g in zip(ref, got):
            if g.get("meta", 1) is None or r.get("meta", 1) is None or r["pts"] != g["pts"] or g["stale"]:
                verdict = "FAIL: missing meta, stale or out of order"; break
            a, b = r["tensors"][0]["data"], g["tensors"][0]["data"]
            num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
            den = math.sqrt(sum(x * x for x in a)) or 1.0
            rel = num / den
            if not math.isfinite(rel): rel = float("inf")
            worst = max(worst, rel)
            agree += int(a.index(max(a)) == b.index(max(b)))
        if verdict == "ok" and worst > 5e-3: verdict = "FAIL: logits differ"
        if verdict == "ok" and agree != len(ref): verdict = "FAIL: top-1 differs"
    if verdict == "ok" and tail["frame_copies"] != expected_copies[name]:
        verdict = f"FAIL: frame-copies {tail['frame_copies']} != {expected_copies[name]}"
    if verdict == "ok" and not tail["backend"].startswith("cuda"):
        verdict = "FAIL: backend " + tail["backend"]
    ok = ok and verdict == "ok"
    rows.append((name, tail.get("backend", "")[:40], len(got), f"{worst:.2e}", f"{agree}/{len(ref)}", tail.get("frame_copies"), verdict))
for r in rows:
    print("| " + " | ".join(str(c) for c in r) + " |")

# Detector: GPU decode (CUDA sessions) against the host decode (CPU session), frame by frame.
ref, _ = load("det-cpu")
total = sum(len(r["results"]["detections"]) for r in ref)
print(f"det-cpu: {len(ref)} frames, {total} detections")
if len(ref) != 20 or total == 0:
    print("FAIL det-cpu: expected 20 frames with some detections"); ok = False
rows = [("run", "frames", "detections", "max box diff px", "max score diff", "verdict")]
for name in ["det-cuda", "det-cuda-memory", "det-cuda-batch4", "det-cuda-pipe"]:
    try:
        got, tail = load(name)
    except Exception as e:
        rows.append((name, 0, "-", "-", "-", f"FAIL ({e})")); ok = False; continue
    verdict, box_diff, score_diff, count = "ok", 0.0, 0.0, 0
    if len(got) != len(ref):
        verdict = f"FAIL: {len(got)} frames vs {len(ref)}"
    for r, g in zip(ref, got):
        if verdict != "ok": break
        if r["pts"] != g["pts"] or g["stale"]:
            verdict = "FAIL: stale or out of order"; break
        a, b = r["results"]["detections"], g["results"]["detections"]
        count += len(b)
        if len(a) != len(b):
            verdict = f"FAIL: frame pts {r['pts']}: {len(b)} detections vs {len(a)}"; break
        for x, y in zip(a, b):
            if x["id"] != y["id"] or x["label"] != y["label"]:
                verdict = f"FAIL: frame pts {r['pts']}: class {y['id']} vs {x['id']}"; break
            box_diff = max(box_diff, max(abs(p - q) for p, q in zip(x["box"], y["box"])))
            score_diff = max(score_diff, abs(x["score"] - y["score"]))
    if verdict == "ok" and box_diff > 0.5: verdict = "FAIL: boxes differ"
    if verdict == "ok" and score_diff > 1e-3: verdict = "FAIL: scores differ"
    if verdict == "ok" and not tail["backend"].startswith("cuda"): verdict = "FAIL: backend " + tail["backend"]
    ok = ok and verdict == "ok"
    rows.append((name, len(got), count, f"{box_diff:.2e}", f"{score_diff:.2e}", verdict))
for r in rows:
    print("| " + " | ".join(str(c) for c in r) + " |")
sys.exit(0 if ok else 1)
PY
echo "work dir: $work"
[ $status -eq 0 ] && echo "gst_gpu_check: PASS" || echo "gst_gpu_check: FAIL"
exit $status
