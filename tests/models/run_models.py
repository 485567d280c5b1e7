#!/usr/bin/env python3
"""Whole-model test: edgert (the CPU engine, or the backend --edgert-args selects) against ONNX Runtime
on the models of make_models.py.

Steps:
  1. Write the models and their reference data (fresh random inputs) into WORK.
  2. For each model: `edgert check` must exit 0; `edgert run --inputs ... --compare ... --rtol R
     --save-outputs DIR` must exit 0, and the saved outputs are compared here too (relative L2
     against ONNX Runtime's outputs, which must be <= R).
  3. Plan round trip: `edgert build -o model.plan`, then `edgert run model.plan` on the same inputs
     must reproduce the outputs of the ONNX run exactly and pass the same comparison.
  4. `edgert check` on a model with an unknown operator must exit 1 and name the operator and node.
Prints a table (model, nodes, max relative L2, time) and exits 1 if any check failed.
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models  # noqa: E402


def run(cmd, cwd):
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc.returncode, proc.stdout, time.monotonic() - start


def load_tensor_file(path):
    if path.endswith(".npy"):
        return np.load(path)
    return numpy_helper.to_array(onnx.load_tensor(path))


def saved_outputs(out_dir, names):
    """Output arrays saved by `edgert run --save-outputs`, in model output order: files named after
    the output tensor, else output_K / K-th file by index."""
    files = sorted(glob.glob(os.path.join(out_dir, "*.npy")) + glob.glob(os.path.join(out_dir, "*.pb")))
    by_stem = {os.path.splitext(os.path.basename(f))[0]: f for f in files}
    arrays = []
    for k, name in enumerate(names):
        path = by_stem.get(name) or by_stem.get(f"output_{k}")
        if path is None and len(files) == len(names):
            path = files[k]
        if path is None:
            raise RuntimeError(f"no saved file for output {k} ('{name}') in {out_dir}: {os.listdir(out_dir)}")
        arrays.append(load_tensor_file(path))
    return arrays


def relative_l2(out, ref):
    if out.shape != ref.shape:
        raise RuntimeError(f"shape {out.shape}, expected {ref.shape}")
    out = out.astype(np.float64)
    ref = ref.astype(np.float64)
    if np.isnan(out).any() or np.isnan(ref).any():
        return float("inf")
    norm = np.linalg.norm(ref)
    diff = np.linalg.norm(out - ref)
    return float(diff / norm) if norm > 0 else float(diff)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edgert", required=True, help="path of the edgert CLI")
    parser.add_argument("--work", required=True, help="directory for the models and outputs")
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--input-seed", type=int, default=None)
    parser.add_argument("--edgert-args", default="",
                        help="extra options for every `edgert run` and `edgert build` of a model, e.g. "
                             "'--device cuda --fp16' (plans then carry the backend and precision)")
    args = parser.parse_args()
    extra = shlex.split(args.edgert_args)
    edgert = os.path.abspath(args.edgert)
    work = os.path.abspath(args.work)
    seed = args.input_seed if args.input_seed is not None else int.from_bytes(os.urandom(4), "little")
    print(f"input seed {seed} (rerun with --input-seed {seed})")
    manifest = make_models.write_all(work, seed)

    failures = []
    rows = []

    def check_and_run(label, info, shapes, check=True):
        """`edgert check` then `edgert run --compare`; appends a table row and any failures."""
        failures_before = len(failures)
        # Commands run from WORK, not the model's folder: external data must resolve from the model.
        if check:
            rc, text, _ = run([edgert, "check", info["model"]] + shapes, work)
            if rc != 0:
                failures.append(f"{label}: `edgert check` exited {rc}:\n{text}")
        data_dir = os.path.join(info["dir"], "test_data_set_0")
        inputs = sorted(glob.glob(os.path.join(data_dir, "input_*.pb")))
        out_dir = os.path.join(info["dir"], "edgert_outputs")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        cmd = [edgert, "run", info["model"]] + shapes + extra + ["--inputs"] + inputs + \
              ["--compare", data_dir, "--rtol", repr(args.rtol), "--save-outputs", out_dir]
        rc, text, seconds = run(cmd, work)
        error = float("nan")
        if rc != 0:
            failures.append(f"{label}: `edgert run` exited {rc}:\n{text}")
        else:
            try:
                refs = [load_tensor_file(p) for p in sorted(glob.glob(os.path.join(data_dir, "output_*.pb")))]
                outs = saved_outputs(out_dir, info["outputs"])
                if len(outs) != len(refs):
                    raise RuntimeError(f"{len(outs)} outputs saved, expected {len(refs)}")
                error = max(relative_l2(o, r) for o, r in zip(outs, refs))
                if not error <= args.rtol:
                    failures.append(f"{label}: relative L2 {error:.3g} > {args.rtol:g}\n{text}")
            except (RuntimeError, ValueError, OSError) as e:
                failures.append(f"{label}: {e}\n{text}")
        rows.append((label, info["nodes"], error, seconds, "ok" if len(failures) == failures_before else "FAIL"))
        if check and len(failures) == failures_before:
            plan_round_trip(label, info, shapes, inputs, data_dir, out_dir)

    def plan_round_trip(label, info, shapes, inputs, data_dir, onnx_out_dir):
        """build -> plan file -> run the plan: bit-identical to the ONNX run, within rtol of ORT."""
        label = f"{label} plan"
        failures_before = len(failures)
        plan = os.path.join(info["dir"], "model.plan")
        rc, text, build_seconds = run([edgert, "build", info["model"]] + shapes + extra + ["-o", plan], work)
        if rc != 0:
            failures.append(f"{label}: `edgert build` exited {rc}:\n{text}")
            rows.append((label, info["nodes"], float("nan"), build_seconds, "FAIL"))
            return
        out_dir = os.path.join(info["dir"], "edgert_plan_outputs")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        rc, text, seconds = run([edgert, "run", plan, "--inputs"] + inputs +
                                ["--compare", data_dir, "--rtol", repr(args.rtol), "--save-outputs", out_dir], work)
        error = float("nan")
        if rc != 0:
            failures.append(f"{label}: `edgert run` of the plan exited {rc}:\n{text}")
        else:
            try:
                from_plan = saved_outputs(out_dir, info["outputs"])
                from_onnx = saved_outputs(onnx_out_dir, info["outputs"])
                error = max(relative_l2(a, b) for a, b in zip(from_plan, from_onnx))
                if error != 0.0:
                    failures.append(f"{label}: outputs differ from the ONNX run (relative L2 {error:.3g})")
            except (RuntimeError, ValueError, OSError) as e:
                failures.append(f"{label}: {e}\n{text}")
        rows.append((label, info["nodes"], error, build_seconds + seconds,
                     "ok" if len(failures) == failures_before else "FAIL"))

    def random_shapes(info):
        """`edgert run --shapes` with random inputs at another batch size: outputs must follow."""
        label = f"{info['name']} (random, batch 3)"
        failures_before = len(failures)
        name, dims = info["shapes"].split(":")
        dims = dims.split("x")
        dims[0] = "3"
        out_dir = os.path.join(info["dir"], "edgert_random_outputs")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        rc, text, seconds = run([edgert, "run", info["model"], "--shapes", f"{name}:{'x'.join(dims)}", "--seed", "7",
                                 "--save-outputs", out_dir] + extra, work)
        if rc != 0:
            failures.append(f"{label}: `edgert run` exited {rc}:\n{text}")
        else:
            try:
                outs = saved_outputs(out_dir, info["outputs"])
                if outs[0].shape[0] != 3 or not np.isfinite(outs[0]).all():
                    failures.append(f"{label}: output shape {outs[0].shape} (batch 3 expected) or non-finite values")
            except (RuntimeError, ValueError, OSError) as e:
                failures.append(f"{label}: {e}\n{text}")
        rows.append((label, info["nodes"], float("nan"), seconds, "ok" if len(failures) == failures_before else "FAIL"))

    for info in manifest["models"]:
        if info["shapes"]:
            check_and_run(f"{info['name']} (--shapes)", info, ["--shapes", info["shapes"]])
            # Without --shapes, dynamic dimensions take the shapes of the given inputs.
            check_and_run(f"{info['name']} (from inputs)", info, [], check=False)
            random_shapes(info)
        else:
            check_and_run(info["name"], info, [])

    # An unknown operator: exit code 1, and the message names the operator and the node.
    bad = manifest["unknown_op"]
    failures_before = len(failures)
    rc, text, _ = run([edgert, "check", bad["model"]], work)
    if rc != 1:
        failures.append(f"unknown_op: `edgert check` exited {rc}, expected 1:\n{text}")
    elif not (re.search(re.escape(bad["op"]), text) and re.search(re.escape(bad["node"]), text)):
        failures.append(f"unknown_op: the report does not name {bad['op']} and node {bad['node']}:\n{text}")
    rows.append(("unknown_op (check)", 2, float("nan"), 0.0, "ok" if len(failures) == failures_before else "FAIL"))

    print(f"\n{'model':<31} {'nodes':>5} {'max rel L2':>11} {'time s':>7}  result")
    for name, nodes, error, seconds, result in rows:
        err_text = "-" if np.isnan(error) else f"{error:.2e}"
        print(f"{name:<31} {nodes:>5} {err_text:>11} {seconds:>7.2f}  {result}")
    if failures:
        print("\nFAILURES:")
        for f in failures:
            print(f"- {f.rstrip()}")
        return 1
    print(f"\nall {len(rows)} model checks passed (rtol {args.rtol:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
