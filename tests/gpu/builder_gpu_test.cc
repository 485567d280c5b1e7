// The builder's output on the CUDA engine: an ONNX model with the patterns the optimizer rewrites
// (Conv+BatchNormalization+Relu, a residual Add, SiLU as Sigmoid*Mul, sibling 1x1 convolutions,
// Gemm, Softmax) gives the same results optimized and unoptimized, in FP32 and FP16, and matches the
// CPU reference; plans for this GPU go through the plan cache (built once, then hit) and load.
#include <cmath>
#include <random>

#include "../unit/onnx_test_util.h"
#include "edgert/builder.h"
#include "edgert/plan_cache.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

using namespace testing_util;  // NOLINT

std::vector<float> RandomValues(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

void AddConv(onnx::ModelProto& m, const std::string& x, const std::string& y, int64_t cin, int64_t cout, int64_t k,
             uint32_t seed, bool bn) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(cin * k * k));
  AddFloatInitializer(m, y + "_w", {cout, cin, k, k},
                      RandomValues(static_cast<size_t>(cout * cin * k * k), seed, -scale, scale));
  AddFloatInitializer(m, y + "_b", {cout}, RandomValues(static_cast<size_t>(cout), seed + 1, -0.1f, 0.1f));
  onnx::NodeProto* conv = AddNode(m, "Conv", {x, y + "_w", y + "_b"}, {bn ? y + "_conv" : y}, y + "_conv_node");
  onnx::AttributeProto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(k / 2);
  if (!bn) return;
  const size_t c = static_cast<size_t>(cout);
  AddFloatInitializer(m, y + "_scale", {cout}, RandomValues(c, seed + 2, 0.5f, 1.5f));
  AddFloatInitializer(m, y + "_shift", {cout}, RandomValues(c, seed + 3, -0.2f, 0.2f));
  AddFloatInitializer(m, y + "_mean", {cout}, RandomValues(c, seed + 4, -0.2f, 0.2f));
  AddFloatInitializer(m, y + "_var", {cout}, RandomValues(c, seed + 5, 0.5f, 1.5f));
  AddNode(m, "BatchNormalization", {y + "_conv", y + "_scale", y + "_shift", y + "_mean", y + "_var"}, {y},
          y + "_bn_node");
}

// x[1,8,32,32] -> Conv3x3+BN+Relu (a) -> Conv1x1+BN (b) -> Add(a) -> Relu (r)
//   -> two sibling Conv1x1 on r (horizontal fusion), Sigmoid*Mul on one (SiLU), Add them (s)
//   -> GlobalAveragePool -> Flatten -> Gemm(16->10) -> Softmax = "probs".
std::string WriteTestModel(const std::string& dir) {
  onnx::ModelProto m = NewModel(17);
  AddInput(m, "x", onnx::TensorProto::FLOAT, {1, 8, 32, 32});
  AddConv(m, "x", "a_pre", 8, 16, 3, 10, true);
  AddNode(m, "Relu", {"a_pre"}, {"a"}, "relu_a");
  AddConv(m, "a", "b", 16, 16, 1, 20, true);
  AddNode(m, "Add", {"b", "a"}, {"sum"}, "residual");
  AddNode(m, "Relu", {"sum"}, {"r"}, "relu_r");
  AddConv(m, "r", "p", 16, 16, 1, 30, false);
  AddConv(m, "r", "q", 16, 16, 1, 40, false);
  AddNode(m, "Sigmoid", {"p"}, {"p_sig"}, "sig");
  AddNode(m, "Mul", {"p", "p_sig"}, {"p_silu"}, "silu");
  AddNode(m, "Add", {"p_silu", "q"}, {"s"}, "join");
  AddNode(m, "GlobalAveragePool", {"s"}, {"g"}, "gap");
  AddNode(m, "Flatten", {"g"}, {"f"}, "flatten");
  AddFloatInitializer(m, "fc_w", {10, 16}, RandomValues(160, 50, -0.5f, 0.5f));
  AddFloatInitializer(m, "fc_b", {10}, RandomValues(10, 51, -0.1f, 0.1f));
  onnx::NodeProto* gemm = AddNode(m, "Gemm", {"f", "fc_w", "fc_b"}, {"logits"}, "fc");
  onnx::AttributeProto* tb = gemm->add_attribute();
  tb->set_name("transB");
  tb->set_type(onnx::AttributeProto::INT);
  tb->set_i(1);
  AddNode(m, "Softmax", {"logits"}, {"probs"}, "softmax");
  AddOutput(m, "probs", onnx::TensorProto::FLOAT, {1, 10});
  AddOutput(m, "s", onnx::TensorProto::FLOAT, {1, 16, 32, 32});
  return SaveModel(m, dir + "/model.onnx");
}

StatusOr<std::vector<Tensor>> RunCuda(const NetworkDef& net, const std::vector<Tensor>& feeds, Precision p) {
  CudaEngineOptions options;
  options.precision = p;
  EDGERT_ASSIGN_OR_RETURN(std::shared_ptr<CudaEngine> engine, CudaEngine::Create(net, options));
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CudaExecutionContext> context, engine->CreateContext());
  context->SetPoisonArena(true);
  std::vector<Tensor> outs;
  EDGERT_RETURN_IF_ERROR(RunOnHost(*context, feeds, &outs));
  return outs;
}

TEST(BuilderGpu, OptimizedAndUnoptimizedNetworksAgreeOnCuda) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  TempDir dir;
  const std::string model = WriteTestModel(dir.path());
  BuildReport fused_report, plain_report;
  BuildOptions options;
  auto fused = BuildNetwork(model, options, &fused_report);
  ASSERT_TRUE(fused.ok()) << fused.status().ToString();
  options.optimize = false;
  auto plain = BuildNetwork(model, options, &plain_report);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  ASSERT_LT(fused_report.layers, plain_report.layers) << "the optimizer fused nothing";

  const std::vector<Tensor> feeds = {RandomTensor(DataType::kFloat32, {1, 8, 32, 32}, 3)};
  auto cpu = CpuEngine::Create(*plain);
  ASSERT_TRUE(cpu.ok());
  std::vector<Tensor> want;
  ASSERT_TRUE((*cpu)->Run(feeds, &want).ok());
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    auto a = RunCuda(*fused, feeds, p);
    auto b = RunCuda(*plain, feeds, p);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    for (size_t k = 0; k < want.size(); ++k) {
      ExpectTensorsClose((*a)[k], want[k], DefaultTolerance(p), "fused output " + std::to_string(k));
      ExpectTensorsClose((*b)[k], want[k], DefaultTolerance(p), "unfused output " + std::to_string(k));
      ExpectTensorsClose((*a)[k], (*b)[k], DefaultTolerance(p), "fused vs unfused output " + std::to_string(k));
    }
  }
}

TEST(BuilderGpu, PlanCacheBuildsOnceForThisGpuAndPlansLoad) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  TempDir dir;
  const std::string model = WriteTestModel(dir.path());
  auto key = CudaDeviceKey(0);
  ASSERT_TRUE(key.ok());
  PlanCacheOptions cache;
  cache.dir = dir.path() + "/cache";
  BuildOptions options;
  options.precision = Precision::kFp16;
  auto first = GetOrBuildPlan(model, options, *key, cache);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->outcome, CacheOutcome::kBuilt);
  auto second = GetOrBuildPlan(model, options, *key, cache);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->outcome, CacheOutcome::kHit);
  EXPECT_EQ(second->path, first->path);
  EXPECT_EQ(second->plan.metadata().precision, Precision::kFp16);

  // FP32 is another entry.
  options.precision = Precision::kFp32;
  auto fp32 = GetOrBuildPlan(model, options, *key, cache);
  ASSERT_TRUE(fp32.ok());
  EXPECT_NE(fp32->path, first->path);

  auto engine = CudaEngine::CreateFromPlan(first->path);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->precision(), Precision::kFp16);
  auto context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok());
  const std::vector<Tensor> feeds = {RandomTensor(DataType::kFloat32, {1, 8, 32, 32}, 4)};
  std::vector<Tensor> got;
  ASSERT_TRUE(RunOnHost(**context, feeds, &got).ok());
  auto built = BuildNetwork(model, BuildOptions{});
  ASSERT_TRUE(built.ok());
  auto cpu = CpuEngine::Create(*built);
  std::vector<Tensor> want;
  ASSERT_TRUE((*cpu)->Run(feeds, &want).ok());
  for (size_t k = 0; k < want.size(); ++k) ExpectTensorsClose(got[k], want[k], 1e-2, "output " + std::to_string(k));

  // The same plan is refused by the CPU engine with the reason (it names the GPU it was built for).
  auto cpu_engine = Engine::CreateFromPlan(first->path);
  ASSERT_FALSE(cpu_engine.ok());
  EXPECT_NE(cpu_engine.status().message().find(key->gpu_name), std::string::npos) << cpu_engine.status().message();
}

}  // namespace
}  // namespace testing
}  // namespace edgert
