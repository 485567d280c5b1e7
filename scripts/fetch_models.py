#!/usr/bin/env python3
"""Fetches the real trained models the demo and the model configs use, from a registry package.

PaddleOCR's PP-OCRv4 text detector (DBNet, ~4.7 MB) and its text-direction classifier (~0.6 MB)
ship inside the PyPI wheel rapidocr-onnxruntime 1.4.4 (Apache-2.0, github.com/RapidAI/RapidOCR).
The wheel is downloaded with pip (no dependencies installed), checked against its SHA-256, and the
two ONNX files are extracted into OUT (default build/models) and checked too. Nothing is fetched
when the files are already there with the right hashes.

  python3 scripts/fetch_models.py [--out build/models]
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
WHEEL_REQUIREMENT = "rapidocr-onnxruntime==1.4.4"
WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"
MODELS = {
    "ch_PP-OCRv4_det_infer.onnx": "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="build/models")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    missing = [n for n, h in MODELS.items()
               if not os.path.exists(os.path.join(args.out, n)) or sha256(os.path.join(args.out, n)) != h]
    if not missing:
        print(f"fetch_models: {', '.join(MODELS)} present in {args.out}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
               "-d", tmp, WHEEL_REQUIREMENT]
        print("fetch_models: " + " ".join(cmd[2:]))
        if subprocess.run(cmd).returncode != 0:
            print(f"fetch_models: pip could not download {WHEEL_REQUIREMENT} (is PyPI reachable?)", file=sys.stderr)
            return 1
        wheel = os.path.join(tmp, WHEEL)
        if not os.path.exists(wheel) or sha256(wheel) != WHEEL_SHA256:
            print(f"fetch_models: {WHEEL} is missing or its SHA-256 differs from {WHEEL_SHA256}", file=sys.stderr)
            return 1
        with zipfile.ZipFile(wheel) as z:
            for name in missing:
                data = z.read("rapidocr_onnxruntime/models/" + name)
                if hashlib.sha256(data).hexdigest() != MODELS[name]:
                    print(f"fetch_models: {name} in the wheel has an unexpected SHA-256", file=sys.stderr)
                    return 1
                dest = os.path.join(args.out, name)
                with open(dest + ".tmp", "wb") as f:
                    f.write(data)
                os.replace(dest + ".tmp", dest)
                print(f"fetch_models: wrote {dest} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
