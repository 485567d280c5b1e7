// `edgert bench`, run as a child process on a small model and on its plan: every metric line is
// printed with numbers, exit codes 0 and 2.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "onnx_test_util.h"

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

CliResult RunCli(const TempDir& dir, const std::string& args) {
  CliResult r;
  const std::string out = dir.File("cli.out"), err = dir.File("cli.err");
  const std::string cmd = "'" + EdgertBinary() + "' " + args + " > '" + out + "' 2> '" + err + "'";
  int status = std::system(cmd.c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

std::string Q(const std::string& s) { return "'" + s + "'"; }

// y = Relu(Conv(x, w, b)), x float [1, 3, 8, 8] (batch dynamic in the model), w [4, 3, 3, 3].
onnx::ModelProto ConvModel() {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> w(4 * 3 * 3 * 3), b(4);
  for (float& v : w) v = u(rng);
  for (float& v : b) v = u(rng);
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 3, 8, 8});
  AddFloatInitializer(m, "w", {4, 3, 3, 3}, w);
  AddFloatInitializer(m, "b", {4}, b);
  AddNode(m, "Conv", {"x", "w", "b"}, {"c"}, "conv");
  AddNode(m, "Relu", {"c"}, {"y"}, "relu");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {-1, 4, 6, 6});
  return m;
}

// Every metric line, each with its numbers.
void ExpectMetrics(const std::string& out, int timed_runs) {
  const std::string num = "[0-9]+(\\.[0-9]+)?";
  const std::vector<std::string> patterns = {
      "Throughput: " + num + " inferences/s",
      "Latency: min = " + num + " ms, mean = " + num + " ms, median = " + num + " ms, percentile\\(90%\\) = " + num +
          " ms, percentile\\(99%\\) = " + num + " ms, max = " + num + " ms",
      "Enqueue Time: min = " + num + " ms, mean = " + num + " ms, median = " + num +
          " ms \\(the same as latency on the CPU backend",
      "H2D Latency: n/a on the CPU backend",
      "D2H Latency: n/a on the CPU backend",
      "arena: [1-9][0-9]* bytes per context",
      "weights: " + std::to_string((4 * 3 * 3 * 3 + 4) * 4) + " bytes",
      std::to_string(timed_runs) + " timed runs in " + num + " s",
  };
  for (const std::string& p : patterns) {
    EXPECT_TRUE(std::regex_search(out, std::regex(p))) << "missing /" << p << "/ in:\n" << out;
  }
}

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(EdgertBinary().c_str(), X_OK) != 0) GTEST_SKIP() << "edgert binary not built: " << EdgertBinary();
    model_ = SaveModel(ConvModel(), dir_.File("conv.onnx"));
  }
  TempDir dir_;
  std::string model_;
};

TEST_F(BenchCli, ModelPrintsEveryMetric) {
  CliResult r = RunCli(dir_, "bench " + Q(model_) + " --shapes x:1x3x8x8 --iterations 5 --warmup 0");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ExpectMetrics(r.out, 5);
  EXPECT_NE(r.out.find("built from ONNX"), std::string::npos) << r.out;
}

TEST_F(BenchCli, PlanWithSeveralContexts) {
  const std::string plan = dir_.File("conv.plan");
  CliResult r = RunCli(dir_, "build " + Q(model_) + " --shapes x:2x3x8x8 -o " + Q(plan));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "bench " + Q(plan) + " --iterations 5 --warmup 0 --contexts 3");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ExpectMetrics(r.out, 15);
  EXPECT_NE(r.out.find("contexts: 3"), std::string::npos) << r.out;
  // A plan's shapes are fixed.
  r = RunCli(dir_, "bench " + Q(plan) + " --iterations 1 --shapes x:1x3x8x8");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("plan shapes are fixed"), std::string::npos) << r.err;
}

TEST_F(BenchCli, UsageErrorsExitTwo) {
  const std::vector<std::string> bad = {
      "bench",
      "bench " + Q(model_) + " --iterations",
      "bench " + Q(model_) + " --iterations 0",
      "bench " + Q(model_) + " --iterations five",
      "bench " + Q(model_) + " --duration -1",
      "bench " + Q(model_) + " --warmup x",
      "bench " + Q(model_) + " --contexts 0",
      "bench " + Q(model_) + " --frobnicate",
      "bench " + Q(model_) + " " + Q(model_),
      "bench " + Q(model_) + " --shapes x:1x3x8x8 --shapes x:1x3x8x8",
  };
  for (const std::string& args : bad) {
    CliResult r = RunCli(dir_, args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("edgert help bench"), std::string::npos) << args << "\n" << r.err;
  }
  CliResult r = RunCli(dir_, "bench " + Q(dir_.File("missing.onnx")) + " --iterations 1");
  EXPECT_EQ(r.code, 1) << r.err;
  r = RunCli(dir_, "help bench");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--contexts K"), std::string::npos);
}

// --load-threads: a count from 0 (automatic) to 256; anything else is a usage error naming the
// option. The CPU engine accepts and ignores it; `edgert help bench` lists it.
TEST_F(BenchCli, LoadThreadsOption) {
  for (const std::string v : {"-1", "x", "257", "2.5", ""}) {
    CliResult r = RunCli(dir_, "bench " + Q(model_) + " --iterations 1 --load-threads " + Q(v));
    EXPECT_EQ(r.code, 2) << v << "\n" << r.err;
    EXPECT_NE(r.err.find("--load-threads '" + v + "' is not a number of threads"), std::string::npos) << r.err;
  }
  CliResult r = RunCli(dir_, "bench " + Q(model_) + " --shapes x:1x3x8x8 --iterations 2 --warmup 0 --load-threads 4");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ExpectMetrics(r.out, 2);
  r = RunCli(dir_, "help bench");
  EXPECT_NE(r.out.find("--load-threads N"), std::string::npos) << r.out;
}

// --aux-streams: 0 or 1; anything else is a usage error naming the option. The CPU engine runs
// one layer at a time and accepts and ignores it; `edgert help bench` and `help run` list it.
TEST_F(BenchCli, AuxStreamsOption) {
  for (const std::string v : {"2", "-1", "x", ""}) {
    CliResult r = RunCli(dir_, "bench " + Q(model_) + " --iterations 1 --aux-streams " + Q(v));
    EXPECT_EQ(r.code, 2) << v << "\n" << r.err;
    EXPECT_NE(r.err.find("--aux-streams '" + v + "' is not 0 or 1"), std::string::npos) << r.err;
  }
  CliResult r = RunCli(dir_, "bench " + Q(model_) + " --iterations 1 --aux-streams");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--aux-streams needs a value"), std::string::npos) << r.err;
  for (const char* v : {"0", "1"}) {
    r = RunCli(dir_, "bench " + Q(model_) + " --shapes x:1x3x8x8 --iterations 2 --warmup 0 --aux-streams " + v);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    ExpectMetrics(r.out, 2);
  }
  for (const char* command : {"help bench", "help run"}) {
    r = RunCli(dir_, command);
    EXPECT_NE(r.out.find("--aux-streams 0|1"), std::string::npos) << command << "\n" << r.out;
  }
}

}  // namespace
}  // namespace edgert
