#!/usr/bin/env python3
"""INT8 accuracy of a real trained model: PaddleOCR's PP-OCRv4 text detector (DBNet) in FP32 and INT8.

Steps:
  1. Render N images (fixed seed) of words with ground-truth boxes: backgrounds are random crops,
     scales, flips and colour shifts of real pictures found on this machine (matplotlib's
     grace_hopper.jpg photo; its terrain elevation samples shaded and colour-mapped) or smooth random
     gradients with noise; words in six Hershey fonts (some italic), several sizes, colours with
     contrast to the local background, rotated by up to +-12 degrees. A word's ground truth is the
     tight box of its rendered glyphs (on the canvas cv2.getTextSize sizes), rotated with the word,
     as an axis-aligned box. The first half calibrates, the second half is evaluated (calibration
     images are never evaluated).
  2. Preprocess like PaddleOCR (BGR as cv2.imread gives it, pixel / 255, mean [0.485, 0.456, 0.406],
     std [0.229, 0.224, 0.225], per channel in that order; `--norm rapidocr` uses RapidOCR's
     mean = std = 0.5), write the calibration tensors ([1,3,S,S] float32 .npy) and build with the
     edgert CLI on the CPU: an FP32 plan, an INT8 plan with the chosen calibrator at the default
     error budget (the gate keeps sensitive layers in float), and an INT8 plan with
     --int8-error-budget 1.0 (every eligible layer INT8, no fallback). Each build's stdout (the gate
     report) is kept in OUT/build_<plan>.log.
  3. Run every evaluation image through each plan (`edgert run PLAN --device cpu`) and through ONNX
     Runtime (an independent FP32 reference), post-process each probability map to boxes and score:
     precision / recall / F-score against the ground truth (one-to-one greedy matching, IoU >= 0.5 on
     axis-aligned boxes; also F at IoU >= 0.3 and the mean IoU of the matches, since the detector's
     boxes are looser than the tight glyph boxes), the same against the FP32 plan's boxes, and the
     relative L2 distance ||p - p_fp32|| / ||p_fp32|| of the map (per image: mean and max; pooled
     over all images as the gate computes it). The plans also run on the gate's held-out
     calibration tensors, to check that the gate's simulated error is what the INT8 plan does.
  4. Write OUT/results.json, an annotated evaluation image (GT blue, FP32 green, INT8 red) and print
     a markdown table last.

Post-processing (PaddleOCR's DBPostProcess defaults, score_mode fast, no dilation): bitmap = map >
0.3; each external contour's minimum-area rectangle (skipped when its short side < 3); box score =
mean probability inside that rectangle; kept when >= 0.6; unclipped by d = area * 1.5 / perimeter on
every side (PaddleOCR offsets the polygon with pyclipper by the same d; for a rectangle the minimum-
area rectangle of that offset is exactly the rectangle grown by d, so this is the same box); short
side < 5 after unclipping is dropped; the rotated rectangle becomes its axis-aligned bounding box.
"""

import argparse
import concurrent.futures
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

try:
    import cv2
except ImportError:
    sys.exit("int8_accuracy.py needs OpenCV's Python bindings: pip install opencv-python-headless")

DEFAULT_MODEL = "/tmp/pipx/rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
FONTS = [
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
    cv2.FONT_HERSHEY_PLAIN,
]
WORDS = (
    "edge tensor jetson camera stream model plan engine layer scale quant int8 float batch "
    "street market coffee open closed exit entrance parking north south total price sale "
    "invoice number date station platform train bus ticket hotel bakery pharmacy welcome "
    "OCR DBNet PaddleOCR TensorRT GStreamer NVIDIA Orin Xavier Nano"
).split()

# ---- step 1: rendering ------------------------------------------------------------------------------


def find_photos():
    """Real pictures shipped with packages on this machine (matplotlib's sample data)."""
    photos, terrains = [], []
    try:
        import matplotlib

        sample = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data")
        for path in sorted(glob.glob(os.path.join(sample, "*.jpg")) + glob.glob(os.path.join(sample, "*.jpeg"))):
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is not None:
                photos.append((os.path.basename(path), img))
        for name, key in (("topobathy.npz", "topo"), ("jacksboro_fault_dem.npz", "elevation")):
            path = os.path.join(sample, name)
            if os.path.exists(path):
                with np.load(path) as z:
                    arr = z[key]
                terrains.append((name, np.asarray(arr, dtype=np.float64)))
    except ImportError:
        pass
    return photos, terrains


def shade_terrain(elev, rng):
    """Hill-shaded, colour-mapped elevation: a real, textured natural surface."""
    e = (elev - elev.min()) / max(elev.max() - elev.min(), 1e-9)
    gy, gx = np.gradient(e * rng.uniform(20, 80))
    az, alt = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(25, 60))
    slope = np.pi / 2 - np.arctan(np.hypot(gx, gy))
    aspect = np.arctan2(-gx, gy)
    shade = np.sin(alt) * np.sin(slope) + np.cos(alt) * np.cos(slope) * np.cos(az - aspect)
    shade = np.clip(shade, 0, 1)
    cmap = [cv2.COLORMAP_TERRAIN if hasattr(cv2, "COLORMAP_TERRAIN") else cv2.COLORMAP_JET,
            cv2.COLORMAP_OCEAN, cv2.COLORMAP_BONE, cv2.COLORMAP_PINK, cv2.COLORMAP_SUMMER][rng.integers(5)]
    color = cv2.applyColorMap((e * 255).astype(np.uint8), cmap).astype(np.float32)
    return np.clip(color * (0.35 + 0.65 * shade[..., None]), 0, 255).astype(np.uint8)


def random_crop(img, size, rng):
    h, w = img.shape[:2]
    scale = rng.uniform(0.6, 2.5) * size / min(h, w)
    img = cv2.resize(img, (max(size, int(round(w * scale))), max(size, int(round(h * scale)))),
                     interpolation=cv2.INTER_LINEAR)
    h, w = img.shape[:2]
    y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    img = img[y:y + size, x:x + size]
    if rng.random() < 0.5:
        img = img[:, ::-1]
    gain = rng.uniform(0.7, 1.2, size=3)
    return np.clip(img.astype(np.float32) * gain + rng.uniform(-25, 25), 0, 255).astype(np.uint8)


def gradient_background(size, rng):
    low = rng.uniform(0, 255, size=(rng.integers(2, 6), rng.integers(2, 6), 3)).astype(np.float32)
    img = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, rng.uniform(2, 12), size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_background(size, rng, photos, terrains):
    kinds = (["photo"] * 2 if photos else []) + (["terrain"] if terrains else []) + ["gradient"]
    kind = kinds[rng.integers(len(kinds))]
    if kind == "photo":
        name, img = photos[rng.integers(len(photos))]
        return random_crop(img, size, rng), name
    if kind == "terrain":
        name, elev = terrains[rng.integers(len(terrains))]
        return random_crop(shade_terrain(elev, rng), size, rng), name
    return gradient_background(size, rng), "gradient"


def random_word(rng):
    r = rng.random()
    if r < 0.55:
        w = WORDS[rng.integers(len(WORDS))]
        return w.upper() if rng.random() < 0.25 else w
    if r < 0.8:
        return "".join(str(rng.integers(10)) for _ in range(rng.integers(3, 9)))
    letters = "ABCDEFGHJKLMNPRSTUVWXYZabcdefghkmnpqrstuvwxyz0123456789"
    return "".join(letters[rng.integers(len(letters))] for _ in range(rng.integers(4, 10)))


def render_word(text, font, height_px, thickness):
    """The word's glyph mask on a padded canvas sized by cv2.getTextSize, and the glyphs' tight box."""
    scale = height_px / max(cv2.getTextSize("Hg", font, 1.0, thickness)[0][1], 1)
    (w, h), base = cv2.getTextSize(text, font, scale, thickness)
    pad = thickness + 4
    canvas = np.zeros((h + base + 2 * pad, w + 2 * pad), np.uint8)
    cv2.putText(canvas, text, (pad, pad + h), font, scale, 255, thickness, cv2.LINE_AA)
    ys, xs = np.nonzero(canvas > 64)
    if len(xs) == 0:
        return None, None
    return canvas, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def render_image(size, rng, photos, terrains):
    img, source = make_background(size, rng, photos, terrains)
    out = img.astype(np.float32)
    taken = []  # axis-aligned boxes (with margins) already used
    boxes = []
    target = rng.integers(5, 13)
    for _ in range(target * 15):
        if len(boxes) >= target:
            break
        text = random_word(rng)
        font = FONTS[rng.integers(len(FONTS))] | (cv2.FONT_ITALIC if rng.random() < 0.15 else 0)
        height = float(rng.uniform(12, 44) * size / 640)
        thickness = int(max(1, round(height / rng.uniform(9, 16))))
        mask, tight = render_word(text, font, height, thickness)
        if mask is None:
            continue
        angle = rng.uniform(-12, 12) if rng.random() < 0.6 else 0.0
        mh, mw = mask.shape
        diag = int(math.ceil(math.hypot(mh, mw))) + 2
        if diag >= size - 4:
            continue
        cx, cy = rng.uniform(diag / 2 + 2, size - diag / 2 - 2, size=2)
        # Rotation about the canvas centre, then translation to (cx, cy) in the image.
        m = cv2.getRotationMatrix2D((mw / 2, mh / 2), angle, 1.0)
        m[:, 2] += (cx - mw / 2, cy - mh / 2)
        x0, y0, x1, y1 = tight
        corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], np.float64) @ m.T
        bx0, by0 = corners.min(axis=0)
        bx1, by1 = corners.max(axis=0)
        margin = 0.8 * height + 4
        cand = (bx0 - margin, by0 - margin, bx1 + margin, by1 + margin)
        if any(cand[0] < t[2] and t[0] < cand[2] and cand[1] < t[3] and t[1] < cand[3] for t in taken):
            continue
        warped = cv2.warpAffine(mask, m, (size, size), flags=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        region = out[int(by0):int(math.ceil(by1)), int(bx0):int(math.ceil(bx1))]
        bg = region.reshape(-1, 3).mean(axis=0) if region.size else np.array([128, 128, 128])
        lum = 0.114 * bg[0] + 0.587 * bg[1] + 0.299 * bg[2]
        for _ in range(20):  # a colour with enough contrast to the local background
            color = rng.uniform(0, 255, size=3)
            if abs(0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2] - lum) > 90:
                break
        else:
            color = np.zeros(3) if lum > 127 else np.full(3, 255.0)
        alpha = warped[..., None] * rng.uniform(0.85, 1.0)
        out = out * (1 - alpha) + color[None, None, :] * alpha
        taken.append(cand)
        boxes.append([float(bx0), float(by0), float(bx1), float(by1)])
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 0.9))
    out += rng.normal(0, rng.uniform(0, 5), size=out.shape)
    return np.clip(out, 0, 255).astype(np.uint8), boxes, source


# ---- step 2: preprocessing and builds -----------------------------------------------------------------


def preprocess(bgr, norm):
    if norm == "paddle":
        mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    else:
        mean, std = np.full(3, 0.5, np.float32), np.full(3, 0.5, np.float32)
    x = (bgr.astype(np.float32) / 255.0 - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def run_cmd(cmd, log_path=None):
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if log_path:
        with open(log_path, "w") as f:
            f.write("$ " + " ".join(cmd) + "\n" + p.stdout)
    if p.returncode != 0:
        sys.exit("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stdout[-4000:]))
    return p.stdout, time.time() - t0


# ---- step 3: post-processing and scoring ----------------------------------------------------------------


def db_boxes(prob, thresh=0.3, box_thresh=0.6, unclip_ratio=1.5, min_size=3, max_candidates=1000):
    """PaddleOCR DBPostProcess (fast score, no dilation) -> [(x0, y0, x1, y1, score)] axis-aligned."""
    h, w = prob.shape
    bitmap = (prob > thresh).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for contour in contours[:max_candidates]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < min_size:
            continue
        pts = cv2.boxPoints(rect)
        x0, x1 = int(np.clip(np.floor(pts[:, 0].min()), 0, w - 1)), int(np.clip(np.ceil(pts[:, 0].max()), 0, w - 1))
        y0, y1 = int(np.clip(np.floor(pts[:, 1].min()), 0, h - 1)), int(np.clip(np.ceil(pts[:, 1].max()), 0, h - 1))
        mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
        cv2.fillPoly(mask, [np.round(pts - [x0, y0]).astype(np.int32)], 1)
        score = float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])
        if score < box_thresh:
            continue
        rw, rh = rect[1]
        d = rw * rh * unclip_ratio / (2 * (rw + rh))
        grown = (rect[0], (rw + 2 * d, rh + 2 * d), rect[2])
        if min(grown[1]) < min_size + 2:
            continue
        gp = cv2.boxPoints(grown)
        out.append((float(np.clip(gp[:, 0].min(), 0, w)), float(np.clip(gp[:, 1].min(), 0, h)),
                    float(np.clip(gp[:, 0].max(), 0, w)), float(np.clip(gp[:, 1].max(), 0, h)), score))
    return out


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(pred, ref, thr=0.5):
    """Greedy one-to-one matching by IoU (largest first); returns the matched pairs' IoUs."""
    pairs = sorted(((iou(p, r), i, j) for i, p in enumerate(pred) for j, r in enumerate(ref)), reverse=True)
    used_p, used_r, matched = set(), set(), []
    for v, i, j in pairs:
        if v < thr:
            break
        if i in used_p or j in used_r:
            continue
        used_p.add(i)
        used_r.add(j)
        matched.append(v)
    return matched


def prf(tp, n_pred, n_ref):
    p = tp / n_pred if n_pred else (1.0 if n_ref == 0 else 0.0)
    r = tp / n_ref if n_ref else 1.0
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


# ---- main --------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edgert", default="build/builder/edgert")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default="build/int8_accuracy")
    ap.add_argument("-n", "--num-images", type=int, default=40, help="rendered images; half calibrate, half evaluate")
    ap.add_argument("--size", type=int, default=640, help="square input side (a multiple of 32)")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--norm", choices=["paddle", "rapidocr"], default="paddle")
    ap.add_argument("--calibrator", choices=["entropy", "percentile", "minmax"], default="entropy")
    ap.add_argument("--jobs", type=int, default=2, help="edgert run processes at once (the CPU engine is single-threaded)")
    ap.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime FP32 reference")
    args = ap.parse_args()
    if args.size % 32:
        sys.exit("--size must be a multiple of 32 (DBNet downsamples by 32)")
    if args.num_images < 2:
        sys.exit("--num-images must be at least 2")
    edgert = os.path.abspath(args.edgert)
    if not os.access(edgert, os.X_OK):
        sys.exit("edgert CLI not found at %s (build it, or pass --edgert)" % edgert)
    t_start = time.time()
    out = os.path.abspath(args.out)
    for sub in ("images", "calib", "eval_inputs", "maps"):
        shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
        os.makedirs(os.path.join(out, sub))
    for stale in glob.glob(os.path.join(out, "annotated_*.png")):
        os.remove(stale)
    shape = "x:1x3x%dx%d" % (args.size, args.size)

    # Step 1.
    rng = np.random.default_rng(args.seed)
    photos, terrains = find_photos()
    n_calib = args.num_images // 2
    images, gts, sources = [], [], []
    for i in range(args.num_images):
        img, boxes, source = render_image(args.size, rng, photos, terrains)
        cv2.imwrite(os.path.join(out, "images", "%03d.png" % i), img)
        images.append(img)
        gts.append(boxes)
        sources.append(source)
    eval_ids = list(range(n_calib, args.num_images))
    print("rendered %d images %dx%d (backgrounds: %s); %d calibrate, %d evaluate; %d ground-truth words to find"
          % (args.num_images, args.size, args.size,
             ", ".join("%s %d" % (s, sources.count(s)) for s in sorted(set(sources))),
             n_calib, len(eval_ids), sum(len(gts[i]) for i in eval_ids)), flush=True)

    # Step 2.
    for i in range(n_calib):
        np.save(os.path.join(out, "calib", "%06d.npy" % i), preprocess(images[i], args.norm))
    for i in eval_ids:
        np.save(os.path.join(out, "eval_inputs", "%03d.npy" % i), preprocess(images[i], args.norm))
    plans = {
        "fp32": [],
        "int8_%s" % args.calibrator: ["--int8", "--calib", os.path.join(out, "calib"), "--calibrator", args.calibrator],
        "int8_all": ["--int8", "--calib", os.path.join(out, "calib"), "--calibrator", args.calibrator,
                     "--int8-error-budget", "1.0"],
    }
    build_info = {}
    for name, extra in plans.items():
        plan = os.path.join(out, name + ".plan")
        for stale in glob.glob(plan + "*") + glob.glob(os.path.join(out, name + ".calib*")):
            os.remove(stale)
        cmd = [edgert, "build", args.model, "-o", plan, "--device", "cpu", "--shapes", shape] + extra
        text, secs = run_cmd(cmd, os.path.join(out, "build_%s.log" % name))
        lines = text.splitlines()
        summary = [l for l in lines if "int8 accuracy gate" in l or l.startswith(("calibration", "int8:"))]
        info = {"seconds": round(secs, 1), "gate_summary": summary, "log": "build_%s.log" % name,
                "layers_int8": sum(1 for l in lines if l.startswith("  int8 ")),
                "layers_float": sum(1 for l in lines if l.startswith("  float ")),
                "layers_float_by_gate": sum(1 for l in lines if l.startswith("  float ") and "most sensitive" in l)}
        gate = [re.search(r"all INT8 ([0-9.eE+-]+|inf|nan), final ([0-9.eE+-]+|inf|nan)", l) for l in summary]
        gate = [g for g in gate if g]
        if gate:
            info["gate_error_all_int8"], info["gate_error_final"] = float(gate[0].group(1)), float(gate[0].group(2))
        held = re.search(r"(\d+) batches calibrate, (\d+) held out", text)
        if held:
            info["gate_held_out"] = int(held.group(2))
        build_info[name] = info
        print("built %s in %.1f s%s" % (name, secs, "".join("\n  " + l for l in summary)), flush=True)

    # Step 3: maps.
    def run_one(name, i):
        d = os.path.join(out, "maps", "%s_%03d" % (name, i))
        x = os.path.join(out, "eval_inputs", "%03d.npy" % i) if i >= n_calib else os.path.join(out, "calib", "%06d.npy" % i)
        cmd = [edgert, "run", os.path.join(out, name + ".plan"), "--device", "cpu", "--inputs", x, "--save-outputs", d]
        _, secs = run_cmd(cmd)
        return name, i, np.load(os.path.join(d, "output_0.npy")).reshape(args.size, args.size), secs

    # The gate's held-out tensors are the last calibration files: running the plans on them checks
    # that the gate's simulated error is what the lowered INT8 plan really does.
    held_out = max(build_info[n].get("gate_held_out", 0) for n in plans)
    gate_ids = list(range(n_calib - held_out, n_calib))
    maps = {name: {} for name in plans}
    gate_maps = {name: {} for name in plans}
    run_secs = {name: [] for name in plans}
    t_runs = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_one, name, i) for i in eval_ids + gate_ids for name in plans]
        for f in concurrent.futures.as_completed(futures):
            name, i, prob, secs = f.result()
            if i in eval_ids:
                maps[name][i] = prob
                run_secs[name].append(secs)
            else:
                gate_maps[name][i] = prob
    t_runs = time.time() - t_runs
    if not args.no_ort:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
        maps["onnxruntime"] = {}
        for i in eval_ids:
            x = np.load(os.path.join(out, "eval_inputs", "%03d.npy" % i))
            maps["onnxruntime"][i] = sess.run(None, {"x": x})[0].reshape(args.size, args.size)

    # Step 3: scores.
    boxes = {name: {i: db_boxes(maps[name][i]) for i in eval_ids} for name in maps}
    def pooled_rel_l2(got, ref, ids):
        num = sum(float(np.sum((got[i].astype(np.float64) - ref[i]) ** 2)) for i in ids)
        den = sum(float(np.sum(ref[i].astype(np.float64) ** 2)) for i in ids)
        return math.sqrt(num / den) if den > 0 else 0.0

    results = {}
    for name in maps:
        iou_gt, iou_gt_loose, iou_ref = [], [], []
        npred = ngt = nref = 0
        rel = []
        for i in eval_ids:
            pred = boxes[name][i]
            iou_gt += match(pred, gts[i])
            iou_gt_loose += match(pred, gts[i], 0.3)
            iou_ref += match(pred, boxes["fp32"][i])
            npred += len(pred)
            ngt += len(gts[i])
            nref += len(boxes["fp32"][i])
            ref = maps["fp32"][i].astype(np.float64)
            rel.append(float(np.linalg.norm(maps[name][i] - ref) / max(np.linalg.norm(ref), 1e-12)))
        p, r, f = prf(len(iou_gt), npred, ngt)
        pf, rf, ff = prf(len(iou_ref), npred, nref)
        results[name] = {
            "precision": p, "recall": r, "fscore": f, "true_positives": len(iou_gt), "detections": npred,
            "ground_truth": ngt, "mean_iou_matched_gt": float(np.mean(iou_gt)) if iou_gt else 0.0,
            "fscore_iou_0.3": prf(len(iou_gt_loose), npred, ngt)[2],
            "vs_fp32": {"precision": pf, "recall": rf, "fscore": ff, "matched": len(iou_ref), "fp32_detections": nref,
                        "mean_iou_matched": float(np.mean(iou_ref)) if iou_ref else 0.0},
            "rel_l2_vs_fp32_mean": float(np.mean(rel)), "rel_l2_vs_fp32_max": float(np.max(rel)),
            "rel_l2_vs_fp32_pooled": pooled_rel_l2(maps[name], maps["fp32"], eval_ids),
            "max_abs_vs_fp32": float(max(np.abs(maps[name][i] - maps["fp32"][i]).max() for i in eval_ids)),
        }
        if name in run_secs:
            info = build_info[name]
            results[name]["run_seconds_median"] = float(np.median(run_secs[name]))
            results[name]["layers_int8"] = info["layers_int8"]
            results[name]["layers_float"] = info["layers_float"]
            results[name]["layers_float_by_gate"] = info["layers_float_by_gate"]
            if gate_ids and "gate_error_final" in info:
                results[name]["gate_check"] = {
                    "held_out_calibration_images": gate_ids, "gate_error_final": info["gate_error_final"],
                    "plan_rel_l2_pooled": pooled_rel_l2(gate_maps[name], gate_maps["fp32"], gate_ids)}

    # Step 4: annotated images: the gated INT8 plan on the evaluation image with the most words, and
    # the all-INT8 plan on the image where its boxes differ most from FP32's.
    int8_name = "int8_%s" % args.calibrator

    def annotate(i, name):
        vis = images[i].copy()
        for color, width, bxs in (((255, 0, 0), 3, gts[i]), ((0, 255, 0), 2, boxes["fp32"][i]),
                                  ((0, 0, 255), 1, boxes[name][i])):
            for b in bxs:
                cv2.rectangle(vis, (int(b[0]), int(b[1])), (int(round(b[2])), int(round(b[3]))), color, width)
        path = os.path.join(out, "annotated_%s_%03d.png" % (name, i))
        cv2.imwrite(path, vis)
        return path

    annotated = annotate(max(eval_ids, key=lambda i: len(gts[i])), int8_name)
    worst = min(eval_ids, key=lambda i: (prf(len(match(boxes["int8_all"][i], boxes["fp32"][i])),
                                             len(boxes["int8_all"][i]), len(boxes["fp32"][i]))[2], -len(gts[i])))
    annotated_all = annotate(worst, "int8_all")

    total = time.time() - t_start
    doc = {
        "model": args.model, "size": args.size, "seed": args.seed, "norm": args.norm, "calibrator": args.calibrator,
        "images": args.num_images, "calibration_images": n_calib, "evaluation_images": len(eval_ids),
        "backgrounds": {s: sources.count(s) for s in sorted(set(sources))},
        "postprocess": {"thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5, "iou_match": 0.5},
        "builds": build_info, "results": results,
        "annotated": [os.path.basename(annotated), os.path.basename(annotated_all)],
        "seconds": {"total": round(total, 1), "eval_runs_wall": round(t_runs, 1), "jobs": args.jobs},
    }
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(doc, f, indent=2)
    print("annotated %s and %s (GT blue, FP32 green, INT8 red); numbers in %s; total %.1f s"
          % (annotated, annotated_all, os.path.join(out, "results.json"), total))
    print()
    for name, r in results.items():
        g = r.get("gate_check")
        if g:
            print("gate check %s: gate's final error %.4g on calibration images %s (held out), the plan's %.4g"
                  % (name, g["gate_error_final"], ",".join(map(str, g["held_out_calibration_images"])),
                     g["plan_rel_l2_pooled"]))
    print()
    print("Evaluation: %d held-out images %dx%d, %d words; DB post-processing thresh 0.3, box 0.6, unclip 1.5; "
          "match IoU >= 0.5 (F@0.3: IoU >= 0.3)" % (len(eval_ids), args.size, args.size, sum(len(gts[i]) for i in eval_ids)))
    print()
    print("| plan | convs INT8 / float (by the gate) | P | R | F | F@0.3 | mean IoU | F vs FP32 boxes "
          "| rel. L2 of map vs FP32: mean / max / pooled | CPU run s/img |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        layers = ("%d / %d (%d)" % (r["layers_int8"], r["layers_float"], r["layers_float_by_gate"])
                  if "layers_int8" in r and name != "fp32" else "none (FP32)")
        if name == "onnxruntime":
            layers = "ONNX Runtime FP32"
        secs = "%.2f" % r["run_seconds_median"] if "run_seconds_median" in r else "-"
        print("| %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3g / %.3g / %.3g | %s |"
              % (name, layers, r["precision"], r["recall"], r["fscore"], r["fscore_iou_0.3"], r["mean_iou_matched_gt"],
                 r["vs_fp32"]["fscore"], r["rel_l2_vs_fp32_mean"], r["rel_l2_vs_fp32_max"],
                 r["rel_l2_vs_fp32_pooled"], secs))


if __name__ == "__main__":
    main()
