#!/usr/bin/env python3
"""Plots a scripts/bench_peers.py result: images/s of edgert and of each PyTorch peer, one group of
bars per (model, batch, precision) case, on a log scale.

Steps:
  1. Reads RESULTS.json (bench_peers.py --json): its cases and the peers it timed.
  2. One bar per runtime in each case; a runtime that failed or was skipped in a case has no bar
     there (its error is listed under the chart).
  3. Writes OUT.png (the format follows OUT's extension), titled with the device, torch's version
     and the edgert commit.
Needs matplotlib (`pip install matplotlib`), which the GPU machine does not: run it on your own.
"""
import argparse
import json
import sys

LABELS = {"edgert": "edgert", "eager": "PyTorch eager", "compile": "torch.compile (reduce-overhead)",
          "max_autotune": "torch.compile (max-autotune)"}


def series(results):
    """The runtimes in plotting order and, per runtime, its images/s in each case (None: no bar)."""
    cases = results["cases"]
    runtimes = ["edgert"] + list(results.get("peers", []))
    values = {r: [] for r in runtimes}
    missing = []
    for c in cases:
        for r in runtimes:
            entry = c["edgert"] if r == "edgert" else c.get("peers", {}).get(r, {"error": "not run"})
            value = entry.get("images_per_s")
            values[r].append(value if value and value > 0 and "error" not in entry else None)
            if values[r][-1] is None:
                missing.append(f"{case_label(c, ' ')}: {LABELS.get(r, r)} {entry.get('error', 'no number')}")
    return runtimes, values, missing


def case_label(case, sep="\n"):
    return f"{case['model']}{sep}b{case['batch']} {case['precision']}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="JSON written by bench_peers.py --json")
    parser.add_argument("out", help="image to write, e.g. bench.png")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_bench.py needs matplotlib: pip install matplotlib", file=sys.stderr)
        return 2
    with open(args.results) as f:
        results = json.load(f)
    if not results.get("cases"):
        print(f"{args.results} has no cases", file=sys.stderr)
        return 1

    runtimes, values, missing = series(results)
    cases = results["cases"]
    width = 0.8 / len(runtimes)
    fig, ax = plt.subplots(figsize=(min(24.0, max(8.0, 0.25 * len(cases) * len(runtimes) + 2)), 6))
    for i, r in enumerate(runtimes):
        xs = [k + (i - (len(runtimes) - 1) / 2) * width for k, v in enumerate(values[r]) if v is not None]
        ys = [v for v in values[r] if v is not None]
        ax.bar(xs, ys, width, label=LABELS.get(r, r))
    ax.set_yscale("log")
    ax.set_ylabel("images/s (log scale)")
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([case_label(c) for c in cases], fontsize=7, rotation=30, ha="right")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    env = results.get("environment", {})
    ax.set_title(f"{env.get('device', '?')}, torch {env.get('torch', '?')}, edgert {env.get('commit') or '?'}"
                 f" ({env.get('date', '')})\nedgert: median GPU compute time; PyTorch: median per-iteration "
                 "CUDA-event time", fontsize=10)
    if missing:
        shown = missing[:8] + ([f"... and {len(missing) - 8} more"] if len(missing) > 8 else [])
        fig.text(0.01, 0.01, "no bar: " + "; ".join(shown), fontsize=6, wrap=True)
    fig.tight_layout(rect=(0, 0.05 if missing else 0, 1, 1))
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out} ({len(cases)} cases, {len(runtimes)} runtimes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
