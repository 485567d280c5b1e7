#!/usr/bin/env python3
"""edgert next to its peers on the GPU: the same networks, batch sizes and precisions timed with
`edgert bench`, PyTorch eager and torch.compile, printed as one markdown table and saved as JSON.

Steps:
  1. Each model (scripts/device_models.py: seeded random weights, BatchNorm statistics calibrated)
     is built once on the CPU; every case reuses these weights, so all runtimes see the same network.
  2. Per (model, batch): torch.onnx.export at that batch (static shape) into WORK/MODEL/bBATCH.onnx,
     once for both precisions, traced on the GPU (on the CPU if that fails: tracing YOLO at batch
     128 on the CPU takes long).
  3. Pass 1, per (model, batch, precision):
     a. edgert: `edgert bench MODEL.onnx --device cuda [--fp16] --duration D --warmup W`; parsed from
        its output: the median GPU Compute Time (the number compared), the median Latency, the
        Throughput line and the engine's build time.
     b. PyTorch eager: model.eval().cuda() (.half() for fp16), channels_last, cudnn.benchmark,
        torch.no_grad(); warm-up iterations, then N iterations timed one by one with CUDA events
        (median). FP32 runs with TF32 off (edgert's FP32 is true FP32) unless --tf32.
  4. Pass 2, per case: torch.compile(mode="reduce-overhead") (CUDA graphs), and mode="max-autotune"
     with --max-autotune: the first call's time is reported as the compile time, then timed as in
     3b. Compiling takes far longer than timing, so once --time-budget seconds have passed since the
     start, the remaining compiles are reported as skipped: edgert and eager are always complete.
     The cases are compiled round-robin over the models (every model's first case, then every
     model's second, ...) so that a cut leaves out the same large batches of every model.
  A peer that fails is reported as "n/a (ErrorType)" and the run goes on.
  With --rounds N, every timing is repeated N times: edgert's bench (a fresh process and build each
  time) and each peer's timed iterations (on the same model and compiled graph). Each runtime's
  number is then the median of its N round medians, and the table adds the ratio's range over the
  rounds (the slowest best-peer round over the fastest edgert round, and the reverse), so that a
  ratio near a target can be told apart from the spread between runs.
  With --io peer, edgert's bindings take what PyTorch is fed and returns (float16 channels-last
  input and float16 output for FP16: `--input-format fp16:hwc --output-format fp16`), so that
  neither side times a conversion the other skips; by default edgert binds the model's float32
  NCHW input and float32 output and converts them on the GPU inside its compute time.
  5. The JSON file (--json) holds every number, the device, torch's version, the date and the
     edgert commit (--commit); the markdown table is printed last.

images/s = batch * 1000 / median ms; ratio = the best peer's median ms / edgert's median GPU compute
ms (above 1: edgert is faster). --dry-run prints the planned cases and commands without torch or a GPU.
"""
import argparse
import copy
import datetime
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import device_models  # noqa: E402 - the sibling script, importable once its folder is on the path

DEFAULT_MODELS = ["resnet50", "mobilenet_v2", "efficientnet_b0", "yolov8n_style"]
EDGERT_TIMEOUT_S = 600


def iterations_for(batch):
    """Timed iterations for the PyTorch peers: 50 at batch 1, fewer for large batches."""
    if batch <= 1:
        return 50
    if batch <= 32:
        return 30
    return 20


def warmup_for(batch):
    return 10 if batch <= 32 else 5


def images_per_s(batch, ms):
    return batch * 1000.0 / ms if ms and ms > 0 else None


def error_text(exc):
    return f"n/a ({type(exc).__name__})"


def parse_median(text, label):
    """The median of the stats line that starts with LABEL (`LABEL: min = .., median = X ms, ..`)."""
    m = re.search(rf"^{re.escape(label)}:.*?median = ([0-9.eE+-]+) ms", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def parse_edgert_output(text):
    throughput = re.search(r"^Throughput: ([0-9.eE+-]+) inferences/s", text, re.MULTILINE)
    build = re.search(r"ready in ([0-9.eE+-]+) ms", text)
    graphs = re.search(r"CUDA graphs (.*)$", text, re.MULTILINE)
    return {
        "compute_median_ms": parse_median(text, "GPU Compute Time"),
        "latency_median_ms": parse_median(text, "Latency"),
        "throughput_inferences_per_s": float(throughput.group(1)) if throughput else None,
        "build_ms": float(build.group(1)) if build else None,
        "cuda_graphs": graphs.group(1).strip() if graphs else None,
    }


def edgert_command(args, onnx_path, precision):
    cmd = [args.edgert, "bench", onnx_path, "--device", "cuda"]
    if precision == "fp16":
        cmd.append("--fp16")
    if args.io == "peer":
        # What PyTorch is fed and returns: the precision's dtype, the input channels-last.
        dtype = "fp16" if precision == "fp16" else "fp32"
        cmd += ["--input-format", dtype + ":hwc", "--output-format", dtype]
    return cmd + ["--duration", str(args.duration), "--warmup", str(args.warmup)]


def combine_rounds(results, key):
    """One result from the rounds' RESULTS (dicts with KEY, the median ms of that round): the first
    round's entries with KEY replaced by the median over the rounds and "rounds_ms" listing each
    round's; the first failing round's result instead, when one failed."""
    failed = [r for r in results if "error" in r]
    if failed:
        return failed[0]
    combined = dict(results[0])
    if len(results) > 1:
        combined["rounds_ms"] = [r[key] for r in results]
        combined[key] = statistics.median(combined["rounds_ms"])
    return combined


def run_edgert(args, onnx_path, precision, batch, log_path):
    """Step 3a: --rounds runs of `edgert bench`, combined (combine_rounds)."""
    rounds = []
    for k in range(args.rounds):
        stem, ext = os.path.splitext(log_path)
        path = log_path if args.rounds == 1 else f"{stem}.r{k + 1}{ext}"
        rounds.append(run_edgert_once(args, onnx_path, precision, batch, path))
    result = combine_rounds(rounds, "compute_median_ms")
    if "error" not in result:
        result["images_per_s"] = images_per_s(batch, result["compute_median_ms"])
    return result


def run_edgert_once(args, onnx_path, precision, batch, log_path):
    """One `edgert bench` run; the result holds an "error" entry when it fails."""
    cmd = edgert_command(args, onnx_path, precision)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=EDGERT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": error_text(e), "command": cmd}
    with open(log_path, "w") as f:
        f.write(p.stdout)
    result = parse_edgert_output(p.stdout)
    result["command"] = cmd
    result["log"] = log_path
    if p.returncode != 0 or result["compute_median_ms"] is None:
        tail = " | ".join(p.stdout.strip().splitlines()[-3:])
        result["error"] = f"n/a (exit {p.returncode})"
        result["detail"] = tail
    else:
        result["images_per_s"] = images_per_s(batch, result["compute_median_ms"])
    return result


def cuda_model(base, precision):
    """A GPU copy of BASE for PRECISION in channels_last."""
    import torch
    model = copy.deepcopy(base).cuda()
    if precision == "fp16":
        model = model.half()
    return model.to(memory_format=torch.channels_last).eval()


def cuda_input(shape, precision):
    import torch
    dtype = torch.float16 if precision == "fp16" else torch.float32
    g = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(*shape, device="cuda", dtype=dtype, generator=g)
    return x.contiguous(memory_format=torch.channels_last)


def time_calls(fn, x, warmup, iterations, rounds=1):
    """Runs FN(X) WARMUP times untimed, then ROUNDS times ITERATIONS calls, each between two CUDA
    events; returns each round's median and the minimum over all, in ms."""
    import torch
    for _ in range(warmup):
        fn(x)
    torch.cuda.synchronize()
    medians, fastest = [], None
    for _ in range(rounds):
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(iterations)]
        for start, end in events:
            start.record()
            fn(x)
            end.record()
        torch.cuda.synchronize()
        times = [start.elapsed_time(end) for start, end in events]
        medians.append(statistics.median(times))
        fastest = min(times) if fastest is None else min(fastest, min(times))
    return medians, fastest


def timed_result(batch, medians, fastest, iterations, **extra):
    """A peer's result from time_calls: the median of the round medians ("rounds_ms" with more than
    one round)."""
    median = statistics.median(medians)
    result = {"median_ms": median, "min_ms": fastest, "iterations": iterations, **extra,
              "images_per_s": images_per_s(batch, median)}
    if len(medians) > 1:
        result["rounds_ms"] = medians
    return result


def run_eager(base, shape, precision, rounds=1):
    """Step 3b."""
    import torch
    batch = shape[0]
    model = cuda_model(base, precision)
    x = cuda_input(shape, precision)
    iterations = iterations_for(batch)
    with torch.no_grad():
        medians, fastest = time_calls(model, x, warmup_for(batch), iterations, rounds)
    return timed_result(batch, medians, fastest, iterations)


def run_compiled(base, shape, precision, mode, rounds=1):
    """Step 3c: torch.compile in MODE; the first call (tracing, Inductor, Triton) is the compile time."""
    import torch
    torch._dynamo.reset()
    batch = shape[0]
    model = cuda_model(base, precision)
    x = cuda_input(shape, precision)
    compiled = torch.compile(model, mode=mode)
    iterations = iterations_for(batch)
    with torch.no_grad():
        start = time.monotonic()
        compiled(x)
        torch.cuda.synchronize()
        compile_s = time.monotonic() - start
        # CUDA graphs are recorded on the calls after the first: at least 3 warm-up calls.
        medians, fastest = time_calls(compiled, x, max(3, warmup_for(batch)), iterations, rounds)
    return timed_result(batch, medians, fastest, iterations, compile_s=compile_s)


def run_peer(fn, *fn_args):
    """Runs one peer; any failure (out of memory, a compile error) becomes an "error" entry."""
    import torch
    try:
        return fn(*fn_args)
    except Exception as e:  # noqa: BLE001 - a failing peer is reported, the benchmark goes on
        return {"error": error_text(e), "detail": str(e).strip().splitlines()[0][:300] if str(e).strip() else ""}
    finally:
        gc.collect()
        try:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        except RuntimeError:
            pass  # a broken CUDA context: the next peer reports its own error


def peer_names(args):
    names = ["eager", "compile"]
    if args.max_autotune:
        names.append("max_autotune")
    return names


def summarize(case):
    """The best peer (lowest median ms) and the ratio best-peer time / edgert time."""
    timed = {name: r["median_ms"] for name, r in case["peers"].items() if r.get("median_ms")}
    edgert_ms = case["edgert"].get("compute_median_ms") if "error" not in case["edgert"] else None
    if timed:
        best = min(timed, key=timed.get)
        case["best_peer"] = best
        case["best_peer_ms"] = timed[best]
        case["best_peer_images_per_s"] = images_per_s(case["batch"], timed[best])
        case["ratio"] = timed[best] / edgert_ms if edgert_ms else None
        peer_rounds = case["peers"][best].get("rounds_ms")
        edgert_rounds = case["edgert"].get("rounds_ms") if edgert_ms else None
        if peer_rounds and edgert_rounds:
            case["ratio_range"] = [min(peer_rounds) / max(edgert_rounds), max(peer_rounds) / min(edgert_rounds)]
    else:
        case["best_peer"] = case["best_peer_ms"] = case["best_peer_images_per_s"] = case["ratio"] = None


def fmt_ms(result):
    if "error" in result:
        return result["error"]
    ms = result.get("compute_median_ms", result.get("median_ms"))
    return f"{ms:.3f}" if ms is not None else "-"


def fmt_num(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown_table(cases, names):
    peer_columns = {"eager": "eager ms", "compile": "compile ms", "max_autotune": "max-autotune ms"}
    compile_columns = {"compile": "compile s", "max_autotune": "max-autotune compile s"}
    ranges = any(c.get("ratio_range") for c in cases)
    header = (["model", "batch", "precision", "edgert ms"] + [peer_columns[n] for n in names] +
              ["edgert img/s", "best peer img/s", "best peer", "peer/edgert time"] +
              (["ratio range over rounds"] if ranges else []) + [compile_columns[n] for n in names[1:]])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for c in cases:
        row = [c["model"], str(c["batch"]), c["precision"], fmt_ms(c["edgert"])]
        row += [fmt_ms(c["peers"].get(n, {"error": "skipped"})) for n in names]
        row += [fmt_num(c["edgert"].get("images_per_s")), fmt_num(c["best_peer_images_per_s"]),
                c["best_peer"] or "-", "-" if c["ratio"] is None else f"{c['ratio']:.2f}x"]
        if ranges:
            low_high = c.get("ratio_range")
            row.append(f"{low_high[0]:.2f}x-{low_high[1]:.2f}x" if low_high else "-")
        row += [fmt_num(c["peers"].get(n, {}).get("compile_s"), 1) for n in names[1:]]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def parse_list(text, allowed=None, cast=str):
    items = [cast(v.strip()) for v in text.split(",") if v.strip()]
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {','.join(allowed)}")
    return items


def plan(args):
    return [(m, b, p) for m in args.models for b in args.batches for p in args.precisions]


def with_unit(result):
    text = fmt_ms(result)
    return text if "error" in result else text + " ms"


def progress(start, case):
    print(f"[{time.monotonic() - start:5.0f} s] {case['model']} b{case['batch']} {case['precision']}: edgert "
          f"{with_unit(case['edgert'])}, " + ", ".join(f"{n} {with_unit(r)}" for n, r in case["peers"].items()),
          flush=True)


def export_onnx(base, shape, path):
    """Step 2: exports a GPU copy of BASE; on any failure there, BASE itself on the CPU."""
    import torch
    try:
        model = copy.deepcopy(base).cuda()
        try:
            device_models.export_model(model, shape, path)
            return
        finally:
            del model
            torch.cuda.empty_cache()
    except Exception as e:  # noqa: BLE001 - the CPU export below is the fallback
        print(f"export on the GPU failed ({type(e).__name__}: {e}); exporting on the CPU", flush=True)
    device_models.export_model(base, shape, path)


def measure_edgert_and_eager(args, start):
    """Steps 1-3: returns the cases (edgert and eager filled in) and the CPU models by name."""
    cases, models = [], {}
    for model_name in args.models:
        try:
            base, shape1 = device_models.build_model(model_name)
        except Exception as e:  # noqa: BLE001 - a model that cannot be built skips its own cases only
            print(f"{model_name}: build failed: {e}", flush=True)
            for batch in args.batches:
                for precision in args.precisions:
                    cases.append({"model": model_name, "batch": batch, "precision": precision,
                                  "edgert": {"error": error_text(e)}, "peers": {"eager": {"error": error_text(e)}}})
            continue
        models[model_name] = base
        os.makedirs(os.path.join(args.work, model_name), exist_ok=True)
        for batch in args.batches:
            shape = (batch,) + tuple(shape1[1:])
            onnx_path = os.path.join(args.work, model_name, f"b{batch}.onnx")
            try:
                export_onnx(base, shape, onnx_path)
                export_error = None
            except Exception as e:  # noqa: BLE001 - edgert is skipped for this batch, the peers still run
                export_error = {"error": f"n/a (export {type(e).__name__})", "detail": str(e)[:300]}
            for precision in args.precisions:
                log_path = os.path.join(args.work, model_name, f"b{batch}_{precision}.log")
                case = {"model": model_name, "batch": batch, "precision": precision, "input_shape": list(shape),
                        "edgert": export_error or run_edgert(args, onnx_path, precision, batch, log_path),
                        "peers": {"eager": run_peer(run_eager, base, shape, precision, args.rounds)}}
                cases.append(case)
                progress(start, case)
    return cases, models


def measure_compiled(args, cases, models, names, start):
    """Step 4: the torch.compile peers, until --time-budget runs out."""
    compile_modes = {"compile": "reduce-overhead", "max_autotune": "max-autotune"}
    position = {}
    for index, case in enumerate(cases):
        position[index] = sum(1 for c in cases[:index] if c["model"] == case["model"])
    for index in sorted(range(len(cases)), key=lambda i: (position[i], i)):
        case = cases[index]
        base = models.get(case["model"])
        if base is None:
            continue
        for name in names:
            if args.time_budget and time.monotonic() - start > args.time_budget:
                case["peers"][name] = {"error": "skipped (time budget)"}
                continue
            case["peers"][name] = run_peer(run_compiled, base, tuple(case["input_shape"]), case["precision"],
                                           compile_modes[name], args.rounds)
        progress(start, case)


def set_tf32(enabled):
    """TF32 on or off for FP32 convolutions and matmuls: torch 2.9's fp32_precision settings where
    this torch has them (mixing them with the older allow_tf32 flags is an error), else allow_tf32."""
    import torch
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        torch.backends.cudnn.conv.fp32_precision = "tf32" if enabled else "ieee"
        torch.backends.cuda.matmul.fp32_precision = "tf32" if enabled else "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = enabled
        torch.backends.cuda.matmul.allow_tf32 = enabled


def dry_run(args):
    cases = plan(args)
    args.edgert = args.edgert or "EDGERT"
    print(f"{len(cases)} cases; peers: {', '.join(peer_names(args))}; {args.rounds} round(s); work folder {args.work}")
    for model, batch, precision in cases:
        onnx_path = os.path.join(args.work, model, f"b{batch}.onnx")
        print(f"- {model} batch {batch} {precision}: torch {args.rounds} x {iterations_for(batch)} timed iterations "
              f"after {warmup_for(batch)} warm-up; {args.rounds} x " +
              " ".join(edgert_command(args, onnx_path, precision)))
    return 0


def environment(args):
    import torch
    env = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "commit": args.commit, "edgert": os.path.abspath(args.edgert), "tf32": args.tf32,
           "edgert_duration_s": args.duration, "edgert_warmup_s": args.warmup, "rounds": args.rounds,
           "edgert_io": args.io}
    try:
        import torchvision
        env["torchvision"] = torchvision.__version__
    except ImportError:
        env["torchvision"] = None
    return env


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edgert", help="the edgert binary (required unless --dry-run)")
    parser.add_argument("--work", default="bench_peers_work", help="folder for the ONNX files and edgert logs")
    parser.add_argument("--models", type=lambda t: parse_list(t, device_models.MODELS), default=DEFAULT_MODELS,
                        help=f"comma-separated, from {','.join(device_models.MODELS)} "
                             f"(default: {','.join(DEFAULT_MODELS)})")
    parser.add_argument("--batches", type=lambda t: parse_list(t, cast=int), default=[1, 32, 128],
                        help="comma-separated batch sizes (default: 1,32,128)")
    parser.add_argument("--precisions", type=lambda t: parse_list(t, ["fp32", "fp16"]), default=["fp32", "fp16"],
                        help="comma-separated, fp32 and/or fp16 (default: fp32,fp16)")
    parser.add_argument("--duration", type=float, default=1.0, help="edgert bench --duration in s (default 1)")
    parser.add_argument("--warmup", type=float, default=0.2, help="edgert bench --warmup in s (default 0.2)")
    parser.add_argument("--max-autotune", action="store_true",
                        help="also time torch.compile(mode='max-autotune') (minutes per model)")
    parser.add_argument("--time-budget", type=float, default=420,
                        help="seconds after which the remaining torch.compile runs are skipped (default 420; "
                             "0: no limit)")
    parser.add_argument("--tf32", action="store_true",
                        help="let PyTorch's FP32 use TF32 (off by default: edgert's FP32 is true FP32)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="time every runtime this many times and report the median round and the "
                             "ratio's range (default 1)")
    parser.add_argument("--io", choices=["model", "peer"], default="model",
                        help="edgert's input/output bindings: 'model' (default) as the ONNX model declares "
                             "them (float32, NCHW), 'peer' as PyTorch gets them here (the precision's dtype, "
                             "the input channels-last: --input-format fp16:hwc --output-format fp16)")
    parser.add_argument("--json", help="write every number to this JSON file")
    parser.add_argument("--commit", help="the edgert commit, recorded in the JSON")
    parser.add_argument("--dry-run", action="store_true", help="print the planned cases; no torch, no GPU")
    args = parser.parse_args()
    args.work = os.path.abspath(args.work)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.dry_run:
        return dry_run(args)
    if not args.edgert:
        parser.error("--edgert is required (unless --dry-run)")

    import torch
    if not torch.cuda.is_available():
        print("CUDA is not available to torch", file=sys.stderr)
        return 1
    torch.backends.cudnn.benchmark = True
    set_tf32(args.tf32)
    env = environment(args)
    print(f"device: {env['device']}, torch {env['torch']}, edgert {args.edgert}", flush=True)

    names = peer_names(args)
    start = time.monotonic()
    cases, models = measure_edgert_and_eager(args, start)
    measure_compiled(args, cases, models, names[1:], start)
    for case in cases:
        summarize(case)

    env["total_s"] = time.monotonic() - start
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "peers": names, "cases": cases}, f, indent=2)
        print(f"wrote {args.json}")
    print(f"\n{env['device']}, torch {env['torch']}, edgert {args.commit or '(commit not given)'}; "
          f"edgert ms = median GPU compute, peer ms = median per-iteration CUDA-event time, "
          f"compile s = the first call of the compiled model; "
          f"FP32 TF32 {'on' if args.tf32 else 'off'}; total {env['total_s']:.0f} s\n")
    print(markdown_table(cases, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
