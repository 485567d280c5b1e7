// CUDA Gemm and MatMul (kernels_gemm.cc) against the CPU reference, in FP32 and FP16
// (ExpectOpMatches: rel-L2 1e-3 / 1e-2, poisoned arena so an unwritten element fails).
//
// Coverage: Gemm with every transA/transB pair, alpha/beta, C of each broadcast shape (none,
// scalar, [1], [N], [1,N], [M,1], [M,N]; the bias epilogue when [N] and beta == 1), constant and
// runtime B, fused activations (cuBLASLt-fused Relu / GeluTanh, with and without bias, and the
// separate epilogue for Gelu / Sigmoid / LeakyRelu / Tanh), odd sizes; MatMul 2-D, batched
// 3-D / 4-D, broadcast batch groups, a broadcast A (stride 0), 1-D operands; CUDA-graph capture and
// replay of the launches.
#include <string>
#include <vector>

#include "edgert/fused_activation.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

Tensor Rand(Shape shape, uint32_t seed) { return RandomTensor(DataType::kFloat32, std::move(shape), seed); }

struct GemmCase {
  int64_t m = 1, n = 1, k = 1;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 1.0f;
  bool has_c = false;
  Shape c_shape;
  bool b_constant = true;
  bool c_constant = true;
  std::string activation;
  float activation_alpha = 0.0f;
  bool has_activation_alpha = false;
};

GemmCase Sizes(int64_t m, int64_t n, int64_t k) {
  GemmCase g;
  g.m = m;
  g.n = n;
  g.k = k;
  return g;
}

void ExpectGemm(const GemmCase& g) {
  Attributes attrs;
  if (g.trans_a) attrs.Set("transA", int64_t{1});
  if (g.trans_b) attrs.Set("transB", int64_t{1});
  if (g.alpha != 1.0f) attrs.Set("alpha", g.alpha);
  if (g.beta != 1.0f) attrs.Set("beta", g.beta);
  if (!g.activation.empty()) attrs.Set(kActivationAttr, g.activation);
  if (g.has_activation_alpha) attrs.Set(kActivationAlphaAttr, g.activation_alpha);
  std::vector<OpArg> args;
  args.push_back(OpArg{Rand(g.trans_a ? Shape{g.k, g.m} : Shape{g.m, g.k}, 1), false});
  args.push_back(OpArg{Rand(g.trans_b ? Shape{g.n, g.k} : Shape{g.k, g.n}, 2), g.b_constant});
  if (g.has_c) args.push_back(OpArg{Rand(g.c_shape, 3), g.c_constant});
  ExpectOpMatches(OpType::kGemm, attrs, args);
}

TEST(GemmGpu, Transposes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE("transA=" + std::to_string(ta) + " transB=" + std::to_string(tb));
      GemmCase g = Sizes(33, 20, 17);
      g.trans_a = ta;
      g.trans_b = tb;
      g.has_c = true;
      g.c_shape = {20};
      ExpectGemm(g);
      g.b_constant = false;
      g.has_c = false;
      ExpectGemm(g);
    }
  }
}

TEST(GemmGpu, AlphaBeta) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  GemmCase g = Sizes(16, 24, 32);
  g.alpha = 0.5f;
  g.beta = 2.0f;
  g.has_c = true;
  for (const Shape& c : std::vector<Shape>{{24}, {16, 24}, {16, 1}, {}}) {
    SCOPED_TRACE("C " + ShapeToString(c));
    g.c_shape = c;
    ExpectGemm(g);
  }
  g.beta = 0.0f;  // C is ignored
  g.c_shape = {16, 24};
  ExpectGemm(g);
}

TEST(GemmGpu, CBroadcastShapes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const Shape& c : std::vector<Shape>{{}, {1}, {40}, {1, 40}, {12, 1}, {1, 1}, {12, 40}}) {
    SCOPED_TRACE("C " + ShapeToString(c));
    GemmCase g = Sizes(12, 40, 24);
    g.has_c = true;
    g.c_shape = c;
    ExpectGemm(g);
    g.c_constant = false;  // C as a runtime input
    g.b_constant = false;
    ExpectGemm(g);
  }
}

TEST(GemmGpu, FusedActivations) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Act {
    const char* name;
    bool has_alpha;
    float alpha;
  };
  const Act acts[] = {{"Relu", false, 0.0f},    {"GeluTanh", false, 0.0f}, {"Gelu", false, 0.0f},
                      {"Sigmoid", false, 0.0f}, {"LeakyRelu", true, 0.2f}, {"Tanh", false, 0.0f}};
  for (const Act& act : acts) {
    for (const Shape& c : std::vector<Shape>{{48}, {10, 48}, {10, 1}}) {
      SCOPED_TRACE(std::string(act.name) + " C " + ShapeToString(c));
      GemmCase g = Sizes(10, 48, 64);
      g.trans_b = true;
      g.has_c = true;
      g.c_shape = c;
      g.activation = act.name;
      g.has_activation_alpha = act.has_alpha;
      g.activation_alpha = act.alpha;
      ExpectGemm(g);
    }
    SCOPED_TRACE(std::string(act.name) + " without C");
    GemmCase g = Sizes(10, 48, 64);
    g.activation = act.name;
    g.has_activation_alpha = act.has_alpha;
    g.activation_alpha = act.alpha;
    ExpectGemm(g);
  }
}

TEST(GemmGpu, ReluBiasWithScaledBeta) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  GemmCase g = Sizes(8, 32, 16);
  g.has_c = true;
  g.c_shape = {32};
  g.beta = 0.5f;  // not a plain bias: C is written first, then accumulated with beta
  g.activation = "Relu";
  ExpectGemm(g);
}

TEST(GemmGpu, OddSizes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  {
    SCOPED_TRACE("M=1 N=1000 K=2048");
    GemmCase g = Sizes(1, 1000, 2048);
    g.trans_b = true;
    g.has_c = true;
    g.c_shape = {1000};
    ExpectGemm(g);
  }
  {
    SCOPED_TRACE("M=7 N=3 K=5");
    GemmCase g = Sizes(7, 3, 5);
    g.has_c = true;
    g.c_shape = {7, 3};
    ExpectGemm(g);
    g.trans_a = true;
    g.trans_b = true;
    g.c_shape = {3};
    g.activation = "Relu";
    ExpectGemm(g);
  }
  {
    SCOPED_TRACE("N=1");
    GemmCase g = Sizes(9, 1, 13);
    g.has_c = true;
    g.c_shape = {1};
    ExpectGemm(g);
  }
}

void ExpectMatMul(const Shape& a, const Shape& b, bool b_constant = false) {
  SCOPED_TRACE("A " + ShapeToString(a) + " x B " + ShapeToString(b));
  ExpectOpMatches(OpType::kMatMul, Attributes{}, {OpArg{Rand(a, 4), false}, OpArg{Rand(b, 5), b_constant}});
}

TEST(MatMulGpu, TwoD) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectMatMul({31, 17}, {17, 45});
  ExpectMatMul({64, 128}, {128, 96}, true);
  ExpectMatMul({7, 5}, {5, 3});
}

TEST(MatMulGpu, Batched) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectMatMul({4, 9, 12}, {4, 12, 10});        // equal batches: packed strides
  ExpectMatMul({2, 3, 9, 12}, {2, 3, 12, 10});  // 4-D, merged into one batch of 6
  ExpectMatMul({4, 9, 12}, {12, 10}, true);     // weight matrix: batch folded into M
  ExpectMatMul({2, 3, 9, 12}, {1, 3, 12, 10});  // B broadcast over the outer dim
  ExpectMatMul({9, 12}, {4, 12, 10});           // A broadcast: stride 0
  ExpectMatMul({1, 3, 9, 12}, {2, 3, 12, 10});  // A broadcast over the outer dim
}

TEST(MatMulGpu, BroadcastBatch) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectMatMul({2, 1, 4, 5}, {3, 5, 6});
  ExpectMatMul({3, 1, 4, 5}, {1, 2, 5, 6});
  ExpectMatMul({2, 1, 3, 4, 5}, {1, 2, 1, 5, 6});
}

TEST(MatMulGpu, OneD) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectMatMul({5}, {5, 6});     // 1-D x 2-D
  ExpectMatMul({5, 6}, {6});     // 2-D x 1-D
  ExpectMatMul({3, 4, 6}, {6});  // batched x 1-D
  ExpectMatMul({6}, {3, 6, 4});  // 1-D x batched
  ExpectMatMul({64}, {64});      // dot product
}

// cuBLASLt launches, the C fill and the activation epilogue inside a captured CUDA graph: the
// first run is eager, the second captures, the third replays; every run matches the CPU.
void ExpectGraphReplayMatches(OpType op, const Attributes& attrs, const std::vector<OpArg>& args) {
  StatusOr<SingleOpNetwork> single = BuildSingleOp(op, attrs, args, 1, 17, "op");
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  StatusOr<std::unique_ptr<CpuEngine>> cpu = CpuEngine::Create(single->net);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  std::vector<Tensor> want;
  Status s = (*cpu)->Run(single->feeds, &want);
  ASSERT_TRUE(s.ok()) << s.ToString();
  CudaEngineOptions options;
  options.cuda_graphs = true;
  StatusOr<std::shared_ptr<CudaEngine>> engine = CudaEngine::Create(single->net, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  StatusOr<std::unique_ptr<CudaExecutionContext>> context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  (*context)->SetPoisonArena(true);
  for (int run = 0; run < 3; ++run) {
    std::vector<Tensor> got;
    s = RunOnHost(**context, single->feeds, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(got.size(), 1u);
    ExpectTensorsClose(got[0], want[0], DefaultTolerance(Precision::kFp32), "run " + std::to_string(run));
  }
  EXPECT_EQ((*context)->graph_error(), "");
  EXPECT_GE((*context)->graph_captures(), 1);
}

TEST(GemmGpu, CudaGraphReplay) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes relu;
  relu.Set(kActivationAttr, std::string("Relu"));
  ExpectGraphReplayMatches(
      OpType::kGemm, relu,
      {OpArg{Rand({16, 32}, 1), false}, OpArg{Rand({32, 24}, 2), true}, OpArg{Rand({24}, 3), true}});
  Attributes sigmoid;
  sigmoid.Set(kActivationAttr, std::string("Sigmoid"));
  ExpectGraphReplayMatches(
      OpType::kGemm, sigmoid,
      {OpArg{Rand({16, 32}, 1), false}, OpArg{Rand({32, 24}, 2), true}, OpArg{Rand({16, 1}, 3), true}});
  ExpectGraphReplayMatches(OpType::kMatMul, Attributes{},
                           {OpArg{Rand({2, 1, 4, 5}, 4), false}, OpArg{Rand({3, 5, 6}, 5), false}});
}

}  // namespace
}  // namespace testing
}  // namespace edgert
