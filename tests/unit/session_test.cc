// Session on the CPU backend: model through the plan cache (built, then a hit), a plan file, the
// in-memory build, input copies and errors.
#include "edgert/session.h"

#include <gtest/gtest.h>

#include <cmath>

#include "edgert/cpu_engine.h"
#include "edgert/plan_cache.h"
#include "onnx_test_util.h"

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
  o.precision = "int8";
  EXPECT_EQ(Session::Open(o).status().code(), StatusCode::kUnsupported);
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
