// Session on the CPU backend: model through the plan cache (built, then a hit), a plan file, the
// in-memory build, input copies and errors.
#include "edgert/session.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "edgert/calibration.h"
#include "edgert/cpu_engine.h"
#include "edgert/plan_cache.h"
#include "onnx/tensor_file.h"
#include "onnx_test_util.h"
#include "ops/op_util.h"

namespace edgert {
namespace {

using testing_util::AddFloatInitializer;
using testing_util::AddInput;
using testing_util::AddNode;
using testing_util::AddOutput;
using testing_util::NewModel;
using testing_util::SaveModel;
using testing_util::TempDir;

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// y = Relu(x * w + b), x: [N,4] with a dynamic batch, w: [4,3].
std::string WriteGemmModel(const TempDir& dir) {
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 4});
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {-1, 3});
  AddFloatInitializer(m, "w", {4, 3}, {1, -1, 0.5f, 2, 0, -0.5f, -1, 1, 0.25f, 0.5f, 0.5f, 1});
  AddFloatInitializer(m, "b", {3}, {0.1f, -0.2f, 0.3f});
  AddNode(m, "MatMul", {"x", "w"}, {"xw"});
  AddNode(m, "Add", {"xw", "b"}, {"z"});
  AddNode(m, "Relu", {"z"}, {"y"});
  return SaveModel(m, dir.File("gemm.onnx"));
}

std::vector<float> Expected(const std::vector<float>& x, int rows) {
  const float w[4][3] = {{1, -1, 0.5f}, {2, 0, -0.5f}, {-1, 1, 0.25f}, {0.5f, 0.5f, 1}};
  const float b[3] = {0.1f, -0.2f, 0.3f};
  std::vector<float> y;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < 3; ++c) {
      float acc = b[c];
      for (int k = 0; k < 4; ++k) acc += x[static_cast<size_t>(r * 4 + k)] * w[k][c];
      y.push_back(std::max(acc, 0.f));
    }
  }
  return y;
}

TEST(Session, ModelThroughTheCacheThenAHit) {
  TempDir dir;
  const std::string model = WriteGemmModel(dir);
  SessionOptions o;
  o.model = model;
  o.device = "cpu";
  o.cache_dir = dir.File("cache");
  o.shapes["x"] = {2, 4};
  std::vector<std::string> log;
  o.logger = [&log](const std::string& line) { log.push_back(line); };
  StatusOr<std::unique_ptr<Session>> s = Session::Open(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Session& session = **s;
  EXPECT_EQ(session.info().backend, "cpu");
  EXPECT_EQ(session.info().cache_outcome, "built");
  EXPECT_TRUE(Contains(session.info().plan_path, dir.File("cache"))) << session.info().plan_path;
  ASSERT_EQ(session.NumInputs(), 1);
  ASSERT_EQ(session.NumOutputs(), 1);
  EXPECT_EQ(session.InputInfo(0).shape, (Shape{2, 4}));
  EXPECT_EQ(session.OutputInfo(0).name, "y");
  EXPECT_EQ(session.FindInput("x"), 0);
  EXPECT_EQ(session.FindInput("y"), -1);
  EXPECT_EQ(session.stream(), nullptr);
  EXPECT_FALSE(log.empty());

  const std::vector<float> x = {1, 2, 3, 4, -1, 0.5f, 2, -3};
  std::memcpy(session.InputBuffer(0), x.data(), x.size() * sizeof(float));
  ASSERT_TRUE(session.Run().ok());
  const std::vector<float> want = Expected(x, 2);
  const Tensor& y = session.Output(0);
  ASSERT_EQ(y.shape(), (Shape{2, 3}));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(y.data<float>()[i], want[i], 1e-5) << i;

  // CopyInputFromHost checks the size and copies.
  const std::vector<float> x2 = {0, 0, 0, 1, 1, 1, 1, 1};
  EXPECT_EQ(session.CopyInputFromHost(0, x2.data(), 4).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(session.CopyInputFromHost(0, x2.data(), x2.size() * sizeof(float)).ok());
  ASSERT_TRUE(session.Run().ok());
  const std::vector<float> want2 = Expected(x2, 2);
  for (size_t i = 0; i < want2.size(); ++i) EXPECT_NEAR(session.Output(0).data<float>()[i], want2[i], 1e-5);
  EXPECT_EQ(session.h2d_copies(), 0);

  // Second open: a hit on the same entry.
  StatusOr<std::unique_ptr<Session>> again = Session::Open(o);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->info().cache_outcome, "hit");
  EXPECT_EQ((*again)->info().plan_path, session.info().plan_path);

  // The cached plan opened as a plan file gives the same results.
  SessionOptions p;
  p.plan = session.info().plan_path;
  StatusOr<std::unique_ptr<Session>> from_plan = Session::Open(p);
  ASSERT_TRUE(from_plan.ok()) << from_plan.status().ToString();
  EXPECT_EQ((*from_plan)->info().cache_outcome, "plan file");
  std::memcpy((*from_plan)->InputBuffer(0), x.data(), x.size() * sizeof(float));
  ASSERT_TRUE((*from_plan)->Run().ok());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR((*from_plan)->Output(0).data<float>()[i], want[i], 1e-5);
}

// x [1, 16, 8, 8] -> Conv 3x3 (16 -> 16, pad 1) -> Relu -> Conv 1x1 (16 -> 4) -> y: both
// convolutions can be INT8.
std::string WriteConvModel(const TempDir& dir) {
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {1, 16, 8, 8});
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {1, 4, 8, 8});
  std::vector<float> w1(16 * 16 * 9), w2(4 * 16);
  for (size_t i = 0; i < w1.size(); ++i) w1[i] = std::sin(static_cast<float>(i)) * 0.1f;
  for (size_t i = 0; i < w2.size(); ++i) w2[i] = std::cos(static_cast<float>(i)) * 0.3f;
  AddFloatInitializer(m, "w1", {16, 16, 3, 3}, w1);
  AddFloatInitializer(m, "w2", {4, 16, 1, 1}, w2);
  onnx::NodeProto* c1 = AddNode(m, "Conv", {"x", "w1"}, {"c1"}, "conv1");
  onnx::AttributeProto* pads = c1->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
  AddNode(m, "Relu", {"c1"}, {"r1"}, "relu1");
  AddNode(m, "Conv", {"r1", "w2"}, {"y"}, "conv2");
  return SaveModel(m, dir.File("conv.onnx"));
}

std::vector<float> Frame(int seed) {
  std::vector<float> v(16 * 64);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i * 7 + seed * 13)) * 2.f;
  return v;
}

TEST(Session, Int8PlanFromCapturedFrames) {
  TempDir dir;
  const std::string model = WriteConvModel(dir);
  ASSERT_EQ(std::system(("mkdir -p '" + dir.File("frames") + "'").c_str()), 0);
  for (int i = 0; i < 6; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "/%06d.npy", i);
    ASSERT_TRUE(WriteNpy(dir.File("frames") + name, Tensor::FromVector<float>(Frame(i), {1, 16, 8, 8})).ok());
  }
  SessionOptions o;
  o.model = model;
  o.device = "cpu";
  o.cache_dir = dir.File("cache");
  o.precision = "int8";
  o.int8_calib_dir = dir.File("frames");
  o.int8_cache = dir.File("conv.calib");
  std::vector<std::string> log;
  o.logger = [&log](const std::string& line) { log.push_back(line); };
  StatusOr<std::unique_ptr<Session>> s = Session::Open(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->info().cache_outcome, "built");
  EXPECT_TRUE((*s)->info().int8);
  EXPECT_EQ((*s)->info().backend_line, "cpu (reference engine, int8)");
  std::string all;
  for (const std::string& line : log) all += line + "\n";
  EXPECT_TRUE(Contains(all, "calibration cache: wrote " + dir.File("conv.calib"))) << all;
  EXPECT_TRUE(Contains(all, "int8: 2 layers INT8, 0 candidate layers float, 1 tensors flow as int8")) << all;
  // The INT8 session is close to the FP32 one.
  SessionOptions f = o;
  f.precision = "fp32";
  f.logger = nullptr;
  StatusOr<std::unique_ptr<Session>> fp32 = Session::Open(f);
  ASSERT_TRUE(fp32.ok()) << fp32.status().ToString();
  const std::vector<float> x = Frame(100);
  ASSERT_TRUE((*s)->CopyInputFromHost(0, x.data(), x.size() * sizeof(float)).ok());
  ASSERT_TRUE((*fp32)->CopyInputFromHost(0, x.data(), x.size() * sizeof(float)).ok());
  ASSERT_TRUE((*s)->Run().ok());
  ASSERT_TRUE((*fp32)->Run().ok());
  const double err = RelativeL2({(*s)->Output(0)}, {(*fp32)->Output(0)});
  EXPECT_GT(err, 0.0);
  EXPECT_LT(err, 0.05);
  // Same frames: a hit (and the calibration cache is not touched); another frame: a new plan.
  log.clear();
  StatusOr<std::unique_ptr<Session>> again = Session::Open(o);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->info().cache_outcome, "hit");
  ASSERT_TRUE(WriteNpy(dir.File("frames") + "/000006.npy", Tensor::FromVector<float>(Frame(6), {1, 16, 8, 8})).ok());
  StatusOr<std::unique_ptr<Session>> more = Session::Open(o);
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  EXPECT_EQ((*more)->info().cache_outcome, "built");
  EXPECT_NE((*more)->info().plan_path, (*s)->info().plan_path);
}

TEST(Session, InMemoryBuildStoresNothing) {
  TempDir dir;
  SessionOptions o;
  o.model = WriteGemmModel(dir);
  o.device = "cpu";
  o.use_cache = false;
  o.cache_dir = dir.File("cache");
  o.shapes["x"] = {1, 4};
  StatusOr<std::unique_ptr<Session>> s = Session::Open(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->info().cache_outcome, "in memory");
  EXPECT_TRUE((*s)->info().plan_path.empty());
  const std::vector<float> x = {0.5f, -2, 1, 3};
  std::memcpy((*s)->InputBuffer(0), x.data(), sizeof(float) * 4);
  ASSERT_TRUE((*s)->Run().ok());
  const std::vector<float> want = Expected(x, 1);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR((*s)->Output(0).data<float>()[i], want[i], 1e-5);
}

// SessionOptions::input_formats / output_formats: float16 buffers in and out, values as the
// float32 session computes them (the input is exact in float16); a plan refuses formats.
TEST(Session, Float16InputAndOutputBuffers) {
  TempDir dir;
  SessionOptions o;
  o.model = WriteGemmModel(dir);
  o.device = "cpu";
  o.use_cache = false;
  o.shapes["x"] = {2, 4};
  o.input_formats = {ParseIoFormat("fp16").value()};
  o.output_formats = {ParseIoFormat("fp16").value()};
  StatusOr<std::unique_ptr<Session>> s = Session::Open(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Session& session = **s;
  EXPECT_EQ(session.InputInfo(0).dtype, DataType::kFloat16);
  EXPECT_EQ(session.OutputInfo(0).dtype, DataType::kFloat16);
  const std::vector<float> x = {0.5f, -2, 1, 3, -1, 0.25f, 2, -0.5f};
  std::vector<uint16_t> halves;
  for (float v : x) halves.push_back(FloatToHalf(v));
  ASSERT_TRUE(session.CopyInputFromHost(0, halves.data(), halves.size() * sizeof(uint16_t)).ok());
  ASSERT_TRUE(session.Run().ok());
  const std::vector<float> want = Expected(x, 2);
  ASSERT_EQ(session.Output(0).dtype(), DataType::kFloat16);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(session.Output(0).data<uint16_t>()[i], FloatToHalf(want[i])) << i;
  }

  SessionOptions p;
  p.plan = dir.File("any.plan");
  p.input_formats = o.input_formats;
  StatusOr<std::unique_ptr<Session>> refused = Session::Open(p);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(Contains(refused.status().message(), "formats were chosen when it was built"))
      << refused.status().ToString();
}

// On the CPU, OutputBuffer(i) is Output(i)'s host storage and turning the host copy off changes
// nothing (there is no copy); the flag is per output and range-checked.
TEST(Session, OutputBufferAndHostCopyFlagOnTheCpu) {
  TempDir dir;
  SessionOptions o;
  o.model = WriteGemmModel(dir);
  o.device = "cpu";
  o.use_cache = false;
  o.shapes["x"] = {2, 4};
  StatusOr<std::unique_ptr<Session>> s = Session::Open(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Session& session = **s;
  EXPECT_EQ(session.OutputBuffer(0), session.Output(0).raw());
  EXPECT_TRUE(session.OutputToHost(0));
  ASSERT_TRUE(session.SetOutputToHost(0, false).ok());
  EXPECT_FALSE(session.OutputToHost(0));
  const std::vector<float> x = {0.5f, -2, 1, 3, -1, 0.25f, 2, -0.5f};
  ASSERT_TRUE(session.CopyInputFromHost(0, x.data(), x.size() * sizeof(float)).ok());
  ASSERT_TRUE(session.Run().ok());
  const std::vector<float> want = Expected(x, 2);
  const float* y = static_cast<const float*>(session.OutputBuffer(0));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(y[i], want[i], 1e-5) << i;
  EXPECT_EQ(session.d2h_copies(), 0);
  ASSERT_TRUE(session.SetOutputToHost(0, true).ok());
  EXPECT_TRUE(session.OutputToHost(0));
  for (int bad : {-1, 1}) {
    const Status st = session.SetOutputToHost(bad, false);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(Contains(st.message(), "out of range")) << st.ToString();
  }
}

TEST(Session, ErrorsNameTheCause) {
  TempDir dir;
  const std::string model = WriteGemmModel(dir);
  SessionOptions o;
  o.device = "cpu";
  o.use_cache = false;
  EXPECT_EQ(Session::Open(o).status().code(), StatusCode::kInvalidArgument);  // neither model nor plan
  o.model = dir.File("missing.onnx");
  StatusOr<std::unique_ptr<Session>> s = Session::Open(o);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().ToString(), "missing.onnx")) << s.status().ToString();
  o.model = model;
  s = Session::Open(o);  // dynamic input without shapes
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().ToString(), "'x'")) << s.status().ToString();
  o.shapes["x"] = {1, 4};
  o.device = "tpu";
  s = Session::Open(o);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.status().ToString(), "tpu"));
  o.device = "cpu";
  o.precision = "fp16";
  s = Session::Open(o);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.status().ToString(), "fp16"));
  o.precision = "int8";  // without calibration data or a cache
  s = Session::Open(o);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.status().ToString(), "calibration")) << s.status().ToString();
  o.precision = "fp64";
  EXPECT_EQ(Session::Open(o).status().code(), StatusCode::kInvalidArgument);
  o.precision = "best";
  s = Session::Open(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->info().precision, Precision::kFp32);
  SessionOptions p;
  p.plan = model;  // not a plan
  s = Session::Open(p);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().ToString(), "gemm.onnx")) << s.status().ToString();
}

TEST(Session, ReadModelInputsKeepsDynamicDims) {
  TempDir dir;
  StatusOr<std::vector<ModelInput>> inputs = ReadModelInputs(WriteGemmModel(dir));
  ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
  ASSERT_EQ(inputs->size(), 1u);
  EXPECT_EQ((*inputs)[0].name, "x");
  EXPECT_EQ((*inputs)[0].dtype, DataType::kFloat32);
  EXPECT_EQ((*inputs)[0].shape, (Shape{-1, 4}));
  EXPECT_FALSE(ReadModelInputs(dir.File("nope.onnx")).ok());
}

}  // namespace
}  // namespace edgert
