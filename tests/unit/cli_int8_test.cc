// `edgert build --int8` and `edgert calibrate` as child processes: captured frames in, a TensorRT
// calibration cache + key out, the accuracy gate's lines, cache reuse and invalidation.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "edgert/builder.h"
#include "edgert/calibration.h"
#include "edgert/cpu_engine.h"
#include "edgert/plan.h"
#include "onnx/tensor_file.h"
#include "onnx_test_util.h"

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT

bool Contains(const std::string& s, const std::string& w) { return s.find(w) != std::string::npos; }

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

// x [1, 3, 8, 8] -> Conv(16 filters, 3x3, pad 1) -> Relu -> Conv(2 filters, 1x1) -> y. The first
// convolution has 3 input channels (no INT8 kernel: it stays float), the second 16 (INT8).
onnx::ModelProto ConvModel(float w_scale) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> w1(16 * 3 * 3 * 3), w2(2 * 16);
  for (float& v : w1) v = u(rng) * w_scale;
  for (float& v : w2) v = u(rng);
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {1, 3, 8, 8});
  AddFloatInitializer(m, "w1", {16, 3, 3, 3}, w1);
  AddFloatInitializer(m, "w2", {2, 16, 1, 1}, w2);
  onnx::NodeProto* c1 = AddNode(m, "Conv", {"x", "w1"}, {"c1"}, "conv1");
  onnx::AttributeProto* pads = c1->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
  AddNode(m, "Relu", {"c1"}, {"r1"}, "relu1");
  AddNode(m, "Conv", {"r1", "w2"}, {"y"}, "conv2");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {1, 2, 8, 8});
  return m;
}

void WriteFrames(const TempDir& dir, const std::string& sub, int count) {
  ASSERT_EQ(std::system(("mkdir -p '" + dir.File(sub) + "'").c_str()), 0);
  std::mt19937 rng(11);
  std::normal_distribution<float> n(0.f, 1.f);
  for (int i = 0; i < count; ++i) {
    std::vector<float> v(3 * 8 * 8);
    for (float& f : v) f = n(rng);
    char name[32];
    std::snprintf(name, sizeof(name), "/%06d.npy", i);
    ASSERT_TRUE(WriteNpy(dir.File(sub) + name, Tensor::FromVector<float>(v, {1, 3, 8, 8})).ok());
  }
}

TEST(CliInt8, BuildCalibratesWritesTheCacheAndGates) {
  TempDir dir;
  SaveModel(ConvModel(0.5f), dir.File("m.onnx"));
  WriteFrames(dir, "frames", 10);
  const std::string args = "build '" + dir.File("m.onnx") + "' -o '" + dir.File("m.plan") +
                           "' --device cpu --int8 --calib '" + dir.File("frames") + "' --int8-error-budget 0.3";
  CliResult r = RunCli(dir, args);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "8 batches calibrate, 2 held out")) << r.out;
  EXPECT_TRUE(Contains(r.out, "calibration cache: wrote " + dir.File("m.calib"))) << r.out;
  EXPECT_TRUE(Contains(r.out, "int8 accuracy gate (2 held-out batches, budget 0.3")) << r.out;
  EXPECT_TRUE(Contains(r.out,
                       "int8: 1 layers INT8, 1 candidate layers float; 0 tensors flow as int8, 1 float "
                       "tensors quantized for INT8 readers; other layers fp32"))
      << r.out;
  EXPECT_TRUE(Contains(r.out, "float Conv")) << r.out;  // the gate's line for conv1 (3 input channels)
  // The plan holds the INT8 convolution and computes what the FP32 model does, within INT8 error.
  StatusOr<LoadedPlan> plan = LoadedPlan::Open(dir.File("m.plan"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  int int8_layers = 0;
  for (const LayerDef& l : plan->network().layers) int8_layers += l.op == OpType::kInt8Conv ? 1 : 0;
  EXPECT_EQ(int8_layers, 1);
  StatusOr<NetworkDef> fp32 = BuildNetwork(dir.File("m.onnx"), BuildOptions());
  ASSERT_TRUE(fp32.ok()) << fp32.status().message();
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> xv(3 * 8 * 8);
  for (float& f : xv) f = n(rng);
  const Tensor x = Tensor::FromVector<float>(xv, {1, 3, 8, 8});
  std::vector<Tensor> want, got;
  ASSERT_TRUE((*CpuEngine::Create(*fp32))->Run({x}, &want).ok());
  ASSERT_TRUE((*CpuEngine::Create(plan->network()))->Run({x}, &got).ok());
  EXPECT_GT(RelativeL2(got, want), 0.0);
  EXPECT_LT(RelativeL2(got, want), 0.3);
  StatusOr<CalibrationCache> cache = ReadCalibrationCache(dir.File("m.calib"));
  ASSERT_TRUE(cache.ok()) << cache.status().message();
  EXPECT_EQ(cache->header, "TRT-8601-EntropyCalibration2");
  ASSERT_NE(cache->Find("x"), nullptr);
  EXPECT_GT(cache->Find("x")->scale(), 0.f);
  EXPECT_TRUE(Contains(ReadFile(dir.File("m.calib.key")), "edgert-calib-key "));

  // inspect says what is INT8.
  CliResult inspect = RunCli(dir, "inspect '" + dir.File("m.plan") + "'");
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  EXPECT_TRUE(Contains(inspect.out, "precision:          int8 (1 INT8 layers), other layers fp32")) << inspect.out;
  inspect = RunCli(dir, "inspect '" + dir.File("m.plan") + "' --json");
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  EXPECT_TRUE(Contains(inspect.out, "\"int8_layers\": 1,")) << inspect.out;

  // The gate's decision is stored beside the cache; a build from the cache alone (no data) keeps it
  // for the same budget and says so, and does not for another budget.
  const std::string gate = ReadFile(dir.File("m.calib.gate"));
  EXPECT_EQ(gate.rfind("edgert-int8-gate v1\nkey ", 0), 0u) << gate;
  EXPECT_TRUE(Contains(gate, "\nbudget 0.29999999999999999\n")) << gate;
  EXPECT_TRUE(Contains(gate, "\nfloat conv1+relu1\n")) << gate;
  const std::string from_cache = "build '" + dir.File("m.onnx") + "' -o '" + dir.File("c.plan") +
                                 "' --device cpu --int8 --calib-cache '" + dir.File("m.calib") + "'";
  r = RunCli(dir, from_cache + " --int8-error-budget 0.3");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "with the accuracy gate's decision in " + dir.File("m.calib.gate"))) << r.out;
  EXPECT_TRUE(Contains(r.out, "int8: 1 layers INT8, 1 candidate layers float")) << r.out;
  r = RunCli(dir, from_cache);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "the stored gate decision is for budget 0.3, so every eligible layer is INT8")) << r.out;

  // Same network, calibrator and data: the cache is reused.
  r = RunCli(dir, args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "calibration cache: hit")) << r.out;
  // Another calibrator: recalibrated, the header says which.
  r = RunCli(dir, args + " --calibrator minmax");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "recalibrating")) << r.out;
  EXPECT_EQ(ReadCalibrationCache(dir.File("m.calib"))->header, "TRT-8601-MinMaxCalibration");
  // Changed weights: the stale scales are not reused.
  SaveModel(ConvModel(0.25f), dir.File("m.onnx"));
  r = RunCli(dir, args + " --calibrator minmax");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "recalibrating")) << r.out;
}

TEST(CliInt8, CalibrateCommandAndUserCache) {
  TempDir dir;
  SaveModel(ConvModel(0.5f), dir.File("m.onnx"));
  WriteFrames(dir, "frames", 5);
  CliResult r = RunCli(dir, "calibrate '" + dir.File("m.onnx") + "' --calib '" + dir.File("frames") + "' -o '" +
                                dir.File("c.cache") + "' --calibrator percentile --percentile 99.9");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(ReadCalibrationCache(dir.File("c.cache"))->header, "TRT-8601-PercentileCalibration");
  // A cache brought from TensorRT (no key file) is used as given when named.
  WriteFile(dir.File("trt.cache"), "TRT-8601-EntropyCalibration2\nx: 3c800000\nc1: 3d000000\n");
  r = RunCli(dir, "build '" + dir.File("m.onnx") + "' -o '" + dir.File("m.plan") +
                      "' --device cpu --int8 --calib-cache '" + dir.File("trt.cache") + "'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "using " + dir.File("trt.cache") + " as given")) << r.out;
  EXPECT_EQ(ReadFile(dir.File("trt.cache")), "TRT-8601-EntropyCalibration2\nx: 3c800000\nc1: 3d000000\n");
  // Usage errors.
  EXPECT_EQ(RunCli(dir, "build '" + dir.File("m.onnx") + "' -o x.plan --calib d").code, 2);
  EXPECT_EQ(RunCli(dir, "calibrate '" + dir.File("m.onnx") + "' --calibrator kl --calib d").code, 2);
  r = RunCli(dir, "build '" + dir.File("m.onnx") + "' -o '" + dir.File("n.plan") + "' --device cpu --int8");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(Contains(r.err, "--calib")) << r.err;
}

}  // namespace
}  // namespace edgert
