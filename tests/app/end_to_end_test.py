#!/usr/bin/env python3
"""edgert-app end to end: a solid-red test pattern through a generated ONNX classifier on the CPU
backend, --max-frames 5, JSON lines checked against ONNX Runtime; then the other checks below
(--check NAME runs one of them after step 1; ctest registers each as app_end_to_end_<NAME>).

Steps:
  1. Write tiny.onnx: x[1,3,32,32] -> Conv3x3(3->4, pads 1) -> GlobalAveragePool -> Flatten ->
     Softmax (fixed-seed weights; the biases keep the four classes apart), its model config
     (classifier, 32x32 stretch, rgb, x/255, labels a..d, topk: the model ends in Softmax) and the
     app config (test://pattern?pattern=red, device cpu, one json sink).
  2. Run edgert-app CONFIG --max-frames 5 with GST_PLUGIN_PATH at the plugin's directory and a
     private GStreamer registry.
  3. Expect exit status 0 and exactly 5 lines: source "cam", frames 0..4, an integer pts, and the
     four classes in the order and with the scores ONNX Runtime computes for a red image (R=1, G=B=0
     after x/255; tolerance 0.01 for the colour conversion of the test pattern).
  4. SIGINT: a moving-ball source with a file sink (.mp4 when an H.264 encoder is installed, else
     .mkv with VP8) and a json sink runs until 10 JSON lines exist, then gets SIGINT; it must exit 0
     after end-of-stream reached the muxer: the file demuxes completely (an MP4 without its final
     moov box does not) with at least as many frames as JSON lines.
  5. A file source (an 8-frame .mkv of the red pattern): edgert-app ends by itself at end-of-stream
     with exit status 0 and writes exactly 8 lines, every frame with results (file frames wait for
     the model to load).
  6. Restarts: a live RTSP source that cannot connect (127.0.0.1:1) next to a test pattern; once
     stderr shows "restarting in 1 s" and then "restarting in 2 s" (the backoff doubled), SIGINT;
     the pattern's JSON lines kept flowing meanwhile and the exit status is 0.
  7. RTSP out (when edgert-app was built with gst-rtsp-server and an H.264 encoder exists): a
     client (rtspsrc ! rtph264depay) receives 20 H.264 access units; SIGINT; exit status 0.
  8. A sink that fails (a file in a missing directory) ends its live source with exit status 1
     and the sink's error; it is not restarted (only the source part of a pipeline is).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

LABELS = ["a", "b", "c", "d"]


def make_model(path):
    rng = np.random.default_rng(11)
    w = (rng.standard_normal((4, 3, 3, 3)) * 0.2).astype(np.float32)
    b = np.array([0.0, 0.8, 1.6, -0.8], dtype=np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Softmax", ["f"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def expected_scores(model_path):
    x = np.zeros((1, 3, 32, 32), dtype=np.float32)
    x[0, 0] = 1.0  # red, RGB order, scaled by 1/255
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0][0]


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--app", required=True)
    parser.add_argument("--plugin-dir", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--check", choices=["max-frames", "sigint", "file", "restart", "rtsp", "failing-sink", "all"],
                        default="all", help="one check (ctest runs each as its own test), or all")
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    model = os.path.join(args.work, "tiny.onnx")
    make_model(model)
    with open(os.path.join(args.work, "tiny.yaml"), "w") as f:
        f.write("model: tiny.onnx\n"
                "type: classifier\n"
                "input:\n"
                "  name: x\n"
                "  width: 32\n"
                "  height: 32\n"
                "  resize: stretch\n"
                "  color: rgb\n"
                "  scale: 1/255\n"
                "labels: [a, b, c, d]\n"
                "decoder:\n"
                "  kind: topk\n"
                "  top-k: 4\n"
                "  threshold: 0.0\n")
    app_config = os.path.join(args.work, "app.yaml")
    with open(app_config, "w") as f:
        f.write("sources:\n"
                "  - name: cam\n"
                "    uri: test://pattern?pattern=red\n"
                "    width: 64\n"
                "    height: 48\n"
                "    framerate: 30\n"
                "inference:\n"
                "  config: tiny.yaml\n"
                "  device: cpu\n"
                "  cache-dir: cache\n"
                "sinks:\n"
                "  - type: json\n"
                "    path: results.jsonl\n")
    env = dict(os.environ)
    env["GST_PLUGIN_PATH"] = args.plugin_dir
    env["GST_REGISTRY"] = os.path.join(args.work, "registry.bin")
    env["EDGERT_CACHE_DIR"] = os.path.join(args.work, "cache")
    scores = expected_scores(model)
    checks = {
        "sigint": lambda: sigint_finalises_files(args, env),
        "file": lambda: file_source_ends_at_eos(args, env, scores),
        "restart": lambda: failing_live_source_restarts(args, env),
        "rtsp": lambda: rtsp_out(args, env),
        "failing-sink": lambda: failing_sink_is_not_restarted(args, env),
    }
    if args.check in ("max-frames", "all"):
        max_frames(args, env, model, scores, app_config)
    for name, check in checks.items():
        if args.check in (name, "all"):
            check()


def max_frames(args, env, model, scores, app_config):
    try:
        run = subprocess.run([args.app, app_config, "--max-frames", "5"], env=env, capture_output=True, text=True,
                             timeout=45)
    except subprocess.TimeoutExpired as e:
        fail("edgert-app did not stop after 5 frames within 45 s; stderr:\n%s" % (e.stderr or ""))
    if run.returncode != 0:
        fail("edgert-app exited with %d; stderr:\n%s" % (run.returncode, run.stderr))

    with open(os.path.join(args.work, "results.jsonl")) as f:
        lines = f.read().splitlines()
    if len(lines) != 5:
        fail("expected 5 JSON lines, got %d:\n%s" % (len(lines), "\n".join(lines)))
    order = list(np.argsort(-scores))
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record.get("source") != "cam" or record.get("frame") != i:
            fail("line %d: source/frame %r/%r, expected cam/%d" % (i, record.get("source"), record.get("frame"), i))
        if not isinstance(record.get("pts"), int):
            fail("line %d: pts %r is not an integer (nanoseconds)" % (i, record.get("pts")))
        classes = record.get("classes")
        if not isinstance(classes, list) or len(classes) != 4:
            fail("line %d: expected 4 classes, got %r" % (i, classes))
        for rank, c in enumerate(classes):
            want = int(order[rank])
            if c["id"] != want or c["label"] != LABELS[want]:
                fail("line %d rank %d: class %r, expected id %d (%s); ONNX Runtime scores %s" %
                     (i, rank, c, want, LABELS[want], scores))
            if abs(c["score"] - float(scores[want])) > 0.01:
                fail("line %d: class %s score %.4f, ONNX Runtime %.4f" % (i, c["label"], c["score"], scores[want]))
    print("ok: 5 lines; top class %s %.4f (ONNX Runtime %.4f)" %
          (LABELS[order[0]], json.loads(lines[0])["classes"][0]["score"], scores[order[0]]))


def failing_sink_is_not_restarted(args, env):
    app_config = os.path.join(args.work, "sinkfail.yaml")
    with open(app_config, "w") as f:
        f.write("sources:\n"
                "  - uri: test://pattern\n"
                "inference:\n"
                "  config: tiny.yaml\n"
                "  device: cpu\n"
                "  cache-dir: cache\n"
                "sinks:\n"
                "  - type: json\n"
                "    path: /nonexistent-edgert-dir/out.jsonl\n")
    run = subprocess.run([args.app, app_config], env=env, capture_output=True, text=True, timeout=60)
    if run.returncode != 1 or "cannot write the JSON sink '/nonexistent-edgert-dir/out.jsonl'" not in run.stderr:
        fail("failing json sink: status %d, stderr:\n%s" % (run.returncode, run.stderr))
    with open(app_config, "a") as f:
        f.write("  - type: file\n"
                "    path: /nonexistent-edgert-dir/out.mkv\n")
    with open(app_config) as f:
        text = f.read().replace("  - type: json\n    path: /nonexistent-edgert-dir/out.jsonl\n", "")
    with open(app_config, "w") as f:
        f.write(text)
    run = subprocess.run([args.app, app_config], env=env, capture_output=True, text=True, timeout=60)
    if run.returncode != 1 or "error from filesink" not in run.stderr or "restarting" in run.stderr:
        fail("failing file sink: expected exit 1 with the filesink's error and no restart; status %d, stderr:\n%s" %
             (run.returncode, run.stderr))
    print("ok: failing sinks end the source with exit status 1 (no restart)")


def rtsp_out(args, env):
    app_config = os.path.join(args.work, "rtsp.yaml")
    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(app_config, "w") as f:
        f.write("sources:\n"
                "  - name: cam\n"
                "    uri: test://pattern?pattern=ball\n"
                "    width: 96\n"
                "    height: 64\n"
                "    framerate: 30\n"
                "inference:\n"
                "  config: tiny.yaml\n"
                "  device: cpu\n"
                "  cache-dir: cache\n"
                "sinks:\n"
                "  - type: rtsp\n"
                "    port: %d\n"
                "    mount: /edgert\n" % port)
    printed = subprocess.run([args.app, app_config, "--print-pipeline"], env=env, capture_output=True, text=True)
    if printed.returncode != 0:
        if "needs gst-rtsp-server (Debian libgstrtspserver-1.0-dev)" not in printed.stderr:
            fail("rtsp check: --print-pipeline failed without naming gst-rtsp-server:\n%s" % printed.stderr)
        print("skipped the RTSP check: edgert-app was built without gst-rtsp-server")
        return
    if not (has_element("x264enc", env) or has_element("openh264enc", env)):
        print("skipped the RTSP check: no H.264 encoder (x264enc, openh264enc) is installed")
        return
    process = subprocess.Popen([args.app, app_config], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    stderr_lines = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(iter(process.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None and "serving rtsp://" not in "".join(stderr_lines):
        time.sleep(0.05)
    client = subprocess.run(["gst-launch-1.0", "-v", "rtspsrc", "location=rtsp://127.0.0.1:%d/edgert" % port, "!",
                             "rtph264depay", "!", "fakesink", "num-buffers=20", "silent=false"],
                            env=env, capture_output=True, text=True, timeout=60)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        fail("rtsp check: edgert-app did not stop after SIGINT")
    reader.join(timeout=5)
    received = len(re.findall(r"chain", client.stdout))
    if client.returncode != 0 or received != 20:
        fail("rtsp check: the client got %d access units (status %d):\n%s\napp stderr:\n%s" %
             (received, client.returncode, client.stderr, "".join(stderr_lines)))
    if process.returncode != 0:
        fail("rtsp check: exit status %d; stderr:\n%s" % (process.returncode, "".join(stderr_lines)))
    print("ok: an RTSP client received 20 H.264 access units from rtsp://127.0.0.1:%d/edgert" % port)


def failing_live_source_restarts(args, env):
    app_config = os.path.join(args.work, "restart.yaml")
    jsonl = os.path.join(args.work, "restart.jsonl")
    with open(app_config, "w") as f:
        f.write("sources:\n"
                "  - name: good\n"
                "    uri: test://pattern?pattern=red\n"
                "    width: 64\n"
                "    height: 48\n"
                "  - name: dead\n"
                "    uri: rtsp://127.0.0.1:1/none\n"
                "inference:\n"
                "  config: tiny.yaml\n"
                "  device: cpu\n"
                "  cache-dir: cache\n"
                "sinks:\n"
                "  - type: json\n"
                "    path: restart.jsonl\n")
    process = subprocess.Popen([args.app, app_config], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    stderr_lines = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(iter(process.stderr.readline, "")), daemon=True)
    reader.start()
    wanted = ["source 'dead': error from", "restarting in 1 s", "restarting in 2 s"]
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and process.poll() is None:
        text = "".join(stderr_lines)
        if "restarting in 2 s" in text:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        fail("restart check: edgert-app did not stop after SIGINT")
    reader.join(timeout=5)
    text = "".join(stderr_lines)
    positions = [text.find(w) for w in wanted]
    if -1 in positions or positions != sorted(positions):
        fail("restart check: expected %r in this order on stderr:\n%s" % (wanted, text))
    if process.returncode != 0:
        fail("restart check: exit status %d; stderr:\n%s" % (process.returncode, text))
    with open(jsonl) as f:
        sources = {json.loads(line)["source"] for line in f.read().splitlines()}
    if sources != {"good"}:
        fail("restart check: JSON lines came from %r, expected only 'good'" % sorted(sources))
    print("ok: the failing RTSP source was restarted after 1 s, then 2 s; the pattern ran on")


def file_source_ends_at_eos(args, env, scores):
    if subprocess.run(["gst-inspect-1.0", "vp8enc"], env=env, capture_output=True).returncode != 0:
        print("skipped the file source check: vp8enc (gstreamer1.0-plugins-good) is not installed")
        return
    video = os.path.join(args.work, "red.mkv")
    made = subprocess.run(["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=8", "pattern=red", "!",
                           "video/x-raw,width=64,height=48,framerate=10/1", "!", "vp8enc", "deadline=1", "!",
                           "matroskamux", "!", "filesink", "location=" + video],
                          env=env, capture_output=True, text=True, timeout=60)
    if made.returncode != 0:
        fail("cannot write %s: %s" % (video, made.stderr))
    app_config = os.path.join(args.work, "file.yaml")
    with open(app_config, "w") as f:
        f.write("sources:\n"
                "  - name: clip\n"
                "    uri: file://red.mkv\n"
                "inference:\n"
                "  config: tiny.yaml\n"
                "  device: cpu\n"
                "  cache-dir: cache\n"
                "sinks:\n"
                "  - type: json\n"
                "    path: file.jsonl\n")
    run = subprocess.run([args.app, app_config], env=env, capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        fail("file source: exit status %d; stderr:\n%s" % (run.returncode, run.stderr))
    with open(os.path.join(args.work, "file.jsonl")) as f:
        lines = f.read().splitlines()
    if len(lines) != 8:
        fail("file source: expected 8 JSON lines (one per frame), got %d:\n%s" % (len(lines), "\n".join(lines)))
    top = int(np.argmax(scores))
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record["frame"] != i or record["pts"] != i * 100000000:
            fail("file source: line %d has frame %r pts %r" % (i, record["frame"], record["pts"]))
        if not record["classes"] or record["classes"][0]["id"] != top:
            fail("file source: line %d classes %r, expected top id %d" % (i, record["classes"], top))
    print("ok: file source ended at end-of-stream after 8 frames, all with results")


def has_element(name, env):
    return subprocess.run(["gst-inspect-1.0", name], env=env, capture_output=True).returncode == 0


def sigint_finalises_files(args, env):
    h264 = has_element("x264enc", env) or has_element("openh264enc", env)
    if not h264 and not has_element("vp8enc", env):
        print("skipped the SIGINT check: no video encoder (x264enc, openh264enc, vp8enc) is installed")
        return
    extension, demuxer = ("mp4", "qtdemux") if h264 else ("mkv", "matroskademux")
    app_config = os.path.join(args.work, "sigint.yaml")
    jsonl = os.path.join(args.work, "sigint.jsonl")
    video = os.path.join(args.work, "sigint." + extension)
    with open(app_config, "w") as f:
        f.write("sources:\n"
                "  - name: ball\n"
                "    uri: test://pattern?pattern=ball\n"
                "    width: 96\n"
                "    height: 64\n"
                "    framerate: 30\n"
                "inference:\n"
                "  config: tiny.yaml\n"
                "  device: cpu\n"
                "  cache-dir: cache\n"
                "  overlay: false\n"
                "sinks:\n"
                "  - type: file\n"
                "    path: sigint.%s\n"
                "  - type: json\n"
                "    path: sigint.jsonl\n" % extension)
    process = subprocess.Popen([args.app, app_config], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 30
    count = 0
    while time.monotonic() < deadline and process.poll() is None:
        if os.path.exists(jsonl):
            with open(jsonl) as f:
                count = len(f.read().splitlines())
            if count >= 10:
                break
        time.sleep(0.05)
    if count < 10:
        process.kill()
        fail("SIGINT check: only %d JSON lines appeared; stderr:\n%s" % (count, process.communicate()[1]))
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        fail("SIGINT check: edgert-app did not stop after SIGINT")
    if process.returncode != 0:
        fail("SIGINT check: exit status %d; stderr:\n%s" % (process.returncode, stderr))
    if "stopping (end-of-stream sent to every source)" not in stderr:
        fail("SIGINT check: no shutdown message; stderr:\n%s" % stderr)
    with open(jsonl) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        if json.loads(line)["frame"] != i:
            fail("SIGINT check: line %d has frame %r" % (i, json.loads(line)["frame"]))
    decode = subprocess.run(["gst-launch-1.0", "-v", "filesrc", "location=" + video, "!", demuxer, "!",
                             "fakesink", "silent=false", "sync=false"],
                            env=env, capture_output=True, text=True, timeout=60)
    if decode.returncode != 0:
        fail("SIGINT check: %s does not demux:\n%s%s" % (video, decode.stdout[-2000:], decode.stderr))
    frames = len(re.findall(r"chain", decode.stdout))
    if frames < len(lines):
        fail("SIGINT check: %s has %d frames, fewer than the %d JSON lines" % (video, frames, len(lines)))
    print("ok: SIGINT after %d JSON lines; %s holds %d frames" % (len(lines), os.path.basename(video), frames))


if __name__ == "__main__":
    main()
