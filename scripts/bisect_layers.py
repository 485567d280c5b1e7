#!/usr/bin/env python3
"""Finds the first node of an ONNX model whose output, computed by edgert, departs from ONNX Runtime.

For a node-output tensor T, the model is cut to the subgraph from the inputs to T
(onnx.utils.extract_model), run by ONNX Runtime (CPU) and by `edgert run` with the given options on
the same random input, and the relative L2 error of T is taken. The errors along the node order are
assumed to jump once (a first bad layer); a binary search over the node outputs finds it, then the
neighbourhood is printed. A developer tool for precision and kernel bugs:

  python3 scripts/bisect_layers.py --edgert build/builder/edgert --model m.onnx --work /tmp/b \\
      --edgert-args "--device cuda --fp16" --threshold 0.05
"""
import argparse
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import onnx
import onnx.utils


def error_at(args, model, tensor, x, input_name):
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", tensor)[-80:]
    d = os.path.join(args.work, safe)
    os.makedirs(os.path.join(d, "ref"), exist_ok=True)
    sub = os.path.join(d, "model.onnx")
    onnx.utils.extract_model(model, sub, [input_name], [tensor])
    import onnxruntime as ort
    sess = ort.InferenceSession(sub, providers=["CPUExecutionProvider"])
    ref = sess.run(None, {input_name: x})[0]
    np.save(os.path.join(d, "ref", "output_0.npy"), ref)
    np.save(os.path.join(d, "input.npy"), x)
    p = subprocess.run([args.edgert, "run", sub, "--inputs", os.path.join(d, "input.npy"), "--compare",
                        os.path.join(d, "ref"), "--rtol", "1"] + shlex.split(args.edgert_args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    m = re.search(r"rel L2 ([0-9.eE+-]+|nan|inf)", p.stdout)
    err = float(m.group(1)) if m else float("inf")
    nan = "NaN mismatches" in p.stdout
    return (float("inf") if nan else err), float(np.abs(ref).max()), p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgert", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--edgert-args", default="--device cuda --fp16")
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shape", default="", help="input shape for dynamic models, e.g. 1x3x640x640")
    args = ap.parse_args()
    model = onnx.load(args.model)
    inp = model.graph.input[0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    if args.shape:
        shape = [int(v) for v in args.shape.split("x")]
    elif any(v <= 0 for v in shape):
        ap.error(f"input '{inp.name}' has dynamic dimensions {shape}: give --shape")
    x = np.random.default_rng(args.seed).standard_normal(shape).astype(np.float32)
    tensors = [o for n in model.graph.node if n.op_type not in ("Constant",) for o in n.output[:1]]
    cache = {}

    def err(i):
        if i not in cache:
            cache[i] = error_at(args, args.model, tensors[i], x, inp.name)
            print(f"  node {i:4d} {tensors[i]:<60} rel L2 {cache[i][0]:.3g} (|ref| max {cache[i][1]:.3g})",
                  flush=True)
        return cache[i][0]

    lo, hi = 0, len(tensors) - 1
    if err(hi) <= args.threshold:
        print("the last node is within the threshold: nothing to find")
        return 0
    if err(lo) > args.threshold:
        hi = lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if err(mid) > args.threshold:
            hi = mid
        else:
            lo = mid
    bad = next(n for n in model.graph.node if tensors[hi] in n.output)
    print(f"\nfirst bad node: #{hi} {bad.op_type} '{bad.name}' -> {tensors[hi]}")
    print("\n".join(cache[hi][2].splitlines()[-12:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
