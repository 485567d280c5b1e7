#!/usr/bin/env python3
"""Real trained models against ONNX Runtime, on a rendered image with real text.

The models are PaddleOCR's PP-OCRv4 text detector and text-direction classifier from the PyPI wheel
rapidocr-onnxruntime (scripts/fetch_models.py). GStreamer's textoverlay renders "SPEED LIMIT 50"
on a white 640x480 frame; the frame is normalised as PaddleOCR does ((x/255 - 0.5) / 0.5) and run by
`edgert run` and by ONNX Runtime (CPU):
  - detector: relative L2 of the probability map <= rtol, and the map must see the text (between
    0.5% and 20% of the pixels above 0.3, all inside the rendered text's rows);
  - classifier: a 48x192 crop of the text, relative L2 of the two probabilities <= rtol.
Exit status 0 when every check passes.
"""
import argparse
import os
import shlex
import subprocess
import sys

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def render_text_frame(path, width=640, height=480):
    cmd = ["gst-launch-1.0", "-q", "videotestsrc", "pattern=white", "num-buffers=1", "!",
           f"video/x-raw,width={width},height={height},format=RGB", "!", "textoverlay", "text=SPEED LIMIT 50",
           "font-desc=Sans Bold 40", "color=0xff000000", "valignment=center", "halignment=center", "!",
           "videoconvert", "!", "video/x-raw,format=RGB", "!", "filesink", f"location={path}"]
    subprocess.run(cmd, check=True)
    return np.fromfile(path, np.uint8).reshape(height, width, 3)


def run_edgert(args, model, x, name):
    d = os.path.join(args.work, name)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "input.npy"), x)
    cmd = [args.edgert, "run", model, "--inputs", os.path.join(d, "input.npy"), "--save-outputs", d] + \
        shlex.split(args.edgert_args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        print(p.stdout)
        raise SystemExit(f"edgert run {model} failed")
    return np.load(os.path.join(d, "output_0.npy"))


def rel_l2(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b.astype(np.float64)), 1e-30))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgert", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", default=os.path.join(ROOT, "build", "models"))
    ap.add_argument("--edgert-args", default="--device cpu")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--frame", help="a 640x480 RGB frame rendered earlier (raw bytes), for machines "
                    "without GStreamer's textoverlay")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "fetch_models.py"), "--out", args.models]).returncode:
        return 1
    if args.frame:
        frame = np.fromfile(args.frame, np.uint8).reshape(480, 640, 3)
    else:
        frame = render_text_frame(os.path.join(args.work, "frame.rgb"))
    text_rows = np.nonzero((frame < 128).all(axis=2).any(axis=1))[0]
    failures = 0

    det = os.path.join(args.models, "ch_PP-OCRv4_det_infer.onnx")
    x = ((frame.astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)[None].copy()
    ref = ort.InferenceSession(det, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    out = run_edgert(args, det, x, "det")
    err = rel_l2(out, ref)
    mask = out[0, 0] > 0.3
    rows = np.nonzero(mask.any(axis=1))[0]
    sees_text = 0.005 <= mask.mean() <= 0.2 and rows.size and rows.min() >= text_rows.min() and \
        rows.max() <= text_rows.max()
    ok = err <= args.rtol and sees_text
    failures += not ok
    print(f"PP-OCRv4 detector   rel L2 {err:.3g}  text pixels {mask.mean() * 100:.2f}%  "
          f"{'ok' if ok else 'FAIL'}")

    cls = os.path.join(args.models, "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = max(ys.min() - 12, 0), ys.max() + 12, max(xs.min() - 12, 0), xs.max() + 12
    crop = frame[y0:y1, x0:x1].astype(np.float32)
    h, w = crop.shape[:2]
    cw = min(192, int(np.ceil(48 * w / h)))
    resized = crop[(np.arange(48) * h // 48)][:, (np.arange(cw) * w // cw)]
    c = np.zeros((48, 192, 3), np.float32)
    c[:, :cw] = (resized / 255 - 0.5) / 0.5
    xc = c.transpose(2, 0, 1)[None].copy()
    ref = ort.InferenceSession(cls, providers=["CPUExecutionProvider"]).run(None, {"x": xc})[0]
    out = run_edgert(args, cls, xc, "cls")
    err = rel_l2(out, ref)
    ok = err <= args.rtol and abs(float(out.sum()) - 1.0) < 1e-4
    failures += not ok
    print(f"PP-OCR direction cls rel L2 {err:.3g}  probabilities {np.round(out[0], 4).tolist()}  "
          f"{'ok' if ok else 'FAIL'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
