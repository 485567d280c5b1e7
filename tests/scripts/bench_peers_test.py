#!/usr/bin/env python3
"""Tests of scripts/bench_peers.py that need neither torch nor a GPU: the rounds' combination, the
ratio's range, the table, the dry run, and edgert's rounds through a stand-in `edgert` executable."""
import os
import stat
import subprocess
import sys
import tempfile
import types
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "bench_peers.py")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import bench_peers  # noqa: E402


def case_with(edgert, peers, batch=1):
    return {"model": "resnet50", "batch": batch, "precision": "fp16", "edgert": edgert, "peers": peers}


class CombineRounds(unittest.TestCase):
    def test_median_of_the_rounds_and_each_round_kept(self):
        rounds = [{"compute_median_ms": v, "log": f"r{i}"} for i, v in enumerate([0.31, 0.30, 0.33])]
        combined = bench_peers.combine_rounds(rounds, "compute_median_ms")
        self.assertAlmostEqual(combined["compute_median_ms"], 0.31)
        self.assertEqual(combined["rounds_ms"], [0.31, 0.30, 0.33])
        self.assertEqual(combined["log"], "r0")

    def test_one_round_is_returned_as_it_is(self):
        combined = bench_peers.combine_rounds([{"compute_median_ms": 0.5}], "compute_median_ms")
        self.assertEqual(combined, {"compute_median_ms": 0.5})

    def test_a_failed_round_fails_the_whole(self):
        rounds = [{"compute_median_ms": 0.3}, {"error": "n/a (exit 1)", "detail": "no GPU"}]
        self.assertEqual(bench_peers.combine_rounds(rounds, "compute_median_ms")["error"], "n/a (exit 1)")

    def test_timed_result_takes_the_median_round(self):
        result = bench_peers.timed_result(4, [0.5, 0.4, 0.45], 0.39, 50, compile_s=12.0)
        self.assertAlmostEqual(result["median_ms"], 0.45)
        self.assertEqual(result["rounds_ms"], [0.5, 0.4, 0.45])
        self.assertEqual(result["compile_s"], 12.0)
        self.assertAlmostEqual(result["images_per_s"], 4 * 1000 / 0.45)
        self.assertNotIn("rounds_ms", bench_peers.timed_result(1, [0.5], 0.4, 50))


class Summary(unittest.TestCase):
    def test_ratio_and_its_range_over_the_rounds(self):
        case = case_with({"compute_median_ms": 0.30, "rounds_ms": [0.29, 0.30, 0.32]},
                         {"eager": {"median_ms": 4.0, "rounds_ms": [4.0, 4.1, 3.9]},
                          "compile": {"median_ms": 0.45, "rounds_ms": [0.44, 0.45, 0.47]}})
        bench_peers.summarize(case)
        self.assertEqual(case["best_peer"], "compile")
        self.assertAlmostEqual(case["ratio"], 0.45 / 0.30)
        low, high = case["ratio_range"]
        self.assertAlmostEqual(low, 0.44 / 0.32)
        self.assertAlmostEqual(high, 0.47 / 0.29)
        table = bench_peers.markdown_table([case], ["eager", "compile"])
        self.assertIn("ratio range over rounds", table.splitlines()[0])
        self.assertIn(f"| {low:.2f}x-{high:.2f}x |", table)

    def test_no_range_with_one_round(self):
        case = case_with({"compute_median_ms": 0.30}, {"eager": {"median_ms": 4.0}, "compile": {"median_ms": 0.45}})
        bench_peers.summarize(case)
        self.assertNotIn("ratio_range", case)
        self.assertNotIn("ratio range", bench_peers.markdown_table([case], ["eager", "compile"]))
        self.assertIn("| 1.50x |", bench_peers.markdown_table([case], ["eager", "compile"]))

    def test_failed_edgert_has_no_ratio(self):
        case = case_with({"error": "n/a (exit 1)"}, {"eager": {"median_ms": 4.0, "rounds_ms": [4.0, 4.0]}})
        bench_peers.summarize(case)
        self.assertIsNone(case["ratio"])
        self.assertNotIn("ratio_range", case)


FAKE_EDGERT = """#!/bin/sh
# Stands in for `edgert bench`: the calls print medians 0.31, 0.30, then 0.33 (counted in a file).
n=$(cat "{counter}" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "{counter}"
case $n in 1) m=0.31;; 2) m=0.30;; *) m=0.33;; esac
echo "engine: ready in 150.0 ms"
echo "Throughput: 3000.0 inferences/s"
echo "Latency: min = 0.4 ms, mean = 0.4 ms, median = 0.4$n ms, percentile(90%) = 0.5 ms"
echo "GPU Compute Time: min = 0.2 ms, mean = 0.3 ms, median = $m ms, percentile(90%) = 0.4 ms"
"""


class EdgertRounds(unittest.TestCase):
    def test_each_round_is_a_run_of_its_own(self):
        with tempfile.TemporaryDirectory() as tmp:
            fake = os.path.join(tmp, "edgert")
            with open(fake, "w") as f:
                f.write(FAKE_EDGERT.format(counter=os.path.join(tmp, "count")))
            os.chmod(fake, os.stat(fake).st_mode | stat.S_IXUSR)
            args = types.SimpleNamespace(edgert=fake, duration=1.0, warmup=0.2, rounds=3, io="model")
            result = bench_peers.run_edgert(args, os.path.join(tmp, "m.onnx"), "fp16", 1,
                                            os.path.join(tmp, "b1_fp16.log"))
            self.assertNotIn("error", result)
            self.assertEqual(result["rounds_ms"], [0.31, 0.30, 0.33])
            self.assertAlmostEqual(result["compute_median_ms"], 0.31)
            self.assertAlmostEqual(result["images_per_s"], 1000 / 0.31)
            for k in (1, 2, 3):
                self.assertTrue(os.path.exists(os.path.join(tmp, f"b1_fp16.r{k}.log")))

    def test_a_failing_edgert_is_an_error_entry(self):
        with tempfile.TemporaryDirectory() as tmp:
            fake = os.path.join(tmp, "edgert")
            with open(fake, "w") as f:
                f.write("#!/bin/sh\necho 'error: no CUDA device'\nexit 1\n")
            os.chmod(fake, os.stat(fake).st_mode | stat.S_IXUSR)
            args = types.SimpleNamespace(edgert=fake, duration=1.0, warmup=0.2, rounds=2, io="model")
            result = bench_peers.run_edgert(args, os.path.join(tmp, "m.onnx"), "fp32", 1, os.path.join(tmp, "x.log"))
            self.assertEqual(result["error"], "n/a (exit 1)")
            self.assertIn("no CUDA device", result["detail"])


class EdgertCommand(unittest.TestCase):
    def args(self, io):
        return types.SimpleNamespace(edgert="edgert", duration=1.0, warmup=0.2, rounds=1, io=io)

    def test_model_bindings_by_default(self):
        cmd = bench_peers.edgert_command(self.args("model"), "m.onnx", "fp16")
        self.assertEqual(cmd[:5], ["edgert", "bench", "m.onnx", "--device", "cuda"])
        self.assertIn("--fp16", cmd)
        self.assertNotIn("--input-format", cmd)
        self.assertNotIn("--output-format", cmd)

    def test_peer_bindings_take_what_pytorch_is_fed(self):
        cmd = bench_peers.edgert_command(self.args("peer"), "m.onnx", "fp16")
        self.assertEqual(cmd[cmd.index("--input-format") + 1], "fp16:hwc")
        self.assertEqual(cmd[cmd.index("--output-format") + 1], "fp16")
        cmd = bench_peers.edgert_command(self.args("peer"), "m.onnx", "fp32")
        self.assertNotIn("--fp16", cmd)
        self.assertEqual(cmd[cmd.index("--input-format") + 1], "fp32:hwc")
        self.assertEqual(cmd[cmd.index("--output-format") + 1], "fp32")


class CommandLine(unittest.TestCase):
    def run_script(self, *extra):
        return subprocess.run([sys.executable, SCRIPT, "--dry-run", "--models", "resnet50", "--batches", "1,128",
                               "--precisions", "fp16", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=tempfile.gettempdir())

    def test_dry_run_lists_the_cases_and_rounds(self):
        p = self.run_script("--rounds", "3")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("2 cases", p.stdout)
        self.assertIn("3 round(s)", p.stdout)
        self.assertIn("resnet50 batch 128 fp16", p.stdout)
        self.assertIn("bench", p.stdout)

    def test_dry_run_shows_the_peer_bindings(self):
        p = self.run_script("--io", "peer")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("--input-format fp16:hwc --output-format fp16", p.stdout)

    def test_rounds_below_one_are_refused(self):
        p = self.run_script("--rounds", "0")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--rounds must be at least 1", p.stderr)


if __name__ == "__main__":
    unittest.main()
