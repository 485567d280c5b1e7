// Optimization passes: per pass, a hand-built graph's node counts and op types after the pass, and
// the results of the optimized network against the unoptimized one through CpuEngine on random
// inputs (fixed seeds, relative L2 <= 1e-5). Negative cases check that a pass leaves alone what it
// must not touch.
#include "passes/passes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "edgert/builder.h"
#include "edgert/cpu_engine.h"
#include "edgert/fused_activation.h"
#include "edgert/plan.h"
#include "ir/graph.h"
#include "ir/infer.h"
#include "ir_test_util.h"
#include "onnx_test_util.h"
#include "passes/pass_util.h"

namespace edgert {
namespace {

using testing::AddConst;
using testing::AddInput;
using testing::AddNode;

Tensor Random(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = *Tensor::Create(DataType::kFloat32, shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

void AddOutput(Graph& g, const std::string& name) { g.outputs.push_back(g.Find(name)); }

// Conv weights and BatchNormalization parameters (variance > 0).
void AddBnParams(Graph& g, const std::string& prefix, int64_t c, uint32_t seed) {
  AddConst(g, prefix + "_gamma", Random({c}, seed, 0.5f, 1.5f));
  AddConst(g, prefix + "_beta", Random({c}, seed + 1));
  AddConst(g, prefix + "_mean", Random({c}, seed + 2));
  AddConst(g, prefix + "_var", Random({c}, seed + 3, 0.1f, 2.0f));
}

Node& AddBn(Graph& g, const std::string& prefix, const std::string& in, const std::string& out) {
  return AddNode(g, "BatchNormalization", prefix,
                 {in, prefix + "_gamma", prefix + "_beta", prefix + "_mean", prefix + "_var"}, {out});
}

std::vector<std::string> LiveOps(const Graph& g) {
  std::vector<std::string> ops;
  for (const Node& n : g.nodes) {
    if (!n.folded) ops.push_back(n.op_type);
  }
  return ops;
}

double RelL2(const Tensor& got, const Tensor& want) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    const double a = got.data<float>()[i];
    const double b = want.data<float>()[i];
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::infinity();
    num += (a - b) * (a - b);
    den += b * b;
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

std::vector<Tensor> RunGraph(const Graph& g, const std::vector<Tensor>& inputs) {
  StatusOr<NetworkDef> net = LowerGraph(g);
  EXPECT_TRUE(net.ok()) << net.status().ToString();
  if (!net.ok()) return {};
  auto engine = CpuEngine::Create(*net);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  if (!engine.ok()) return {};
  std::vector<Tensor> outs;
  Status s = (*engine)->Run(inputs, &outs);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return outs;
}

// Infers `g`, applies `pass` (to a copy) and checks that the optimized graph verifies and computes
// the same outputs on random inputs. Returns the optimized graph.
Graph Optimize(Graph g, const std::function<StatusOr<int>(Graph&)>& pass, int* rewrites = nullptr) {
  Status s = InferGraph(g, {});
  EXPECT_TRUE(s.ok()) << s.ToString();
  Graph opt = g;
  StatusOr<int> n = pass(opt);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  if (rewrites) *rewrites = n.ok() ? *n : -1;
  Status v = VerifyGraph(opt, "test");
  EXPECT_TRUE(v.ok()) << v.ToString();
  std::vector<Tensor> inputs;
  uint32_t seed = 7;
  for (int in : g.inputs) inputs.push_back(Random(g.values[in].shape, seed++));
  std::vector<Tensor> want = RunGraph(g, inputs);
  std::vector<Tensor> got = RunGraph(opt, inputs);
  EXPECT_EQ(got.size(), want.size());
  for (size_t k = 0; k < want.size() && k < got.size(); ++k) {
    EXPECT_EQ(got[k].shape(), want[k].shape());
    EXPECT_LE(RelL2(got[k], want[k]), 1e-5) << "output " << k;
  }
  // Graph outputs keep their names.
  EXPECT_EQ(opt.outputs, g.outputs);
  return opt;
}

StatusOr<int> Pipeline(Graph& g) {
  StatusOr<OptimizeReport> r = OptimizeGraph(g);
  if (!r.ok()) return r.status();
  return r->nodes_before - r->nodes_after;
}

// ---- dead nodes --------------------------------------------------------------------------------

TEST(PassDeadNodes, RemovesUnreachableNodesAndUnusedOutputs) {
  Graph g;
  AddInput(g, "x", {1, 2, 6, 6});
  AddNode(g, "Relu", "dead_relu", {"x"}, {"dead1"});
  AddNode(g, "Sigmoid", "dead_sigmoid", {"dead1"}, {"dead2"});
  Node& pool = AddNode(g, "MaxPool", "pool", {"x"}, {"p", "indices"});
  pool.attrs.Set("kernel_shape", std::vector<int64_t>{2, 2});
  AddNode(g, "Neg", "neg", {"p"}, {"y"});
  AddOutput(g, "y");
  int rewrites = 0;
  Graph opt = Optimize(g, EliminateDeadNodes, &rewrites);
  EXPECT_EQ(rewrites, 3);  // two nodes and one output
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"MaxPool", "Neg"}));
  EXPECT_EQ(opt.nodes[0].outputs.size(), 1u);
  EXPECT_EQ(opt.values[opt.Find("y")].producer, 1);
}

TEST(PassDeadNodes, KeepsSplitOutputsAndGraphOutputs) {
  Graph g;
  AddInput(g, "x", {4, 6});
  AddConst(g, "sizes", Tensor::FromVector<int64_t>({2, 4}, {2}));
  Node& split = AddNode(g, "Split", "split", {"x", "sizes"}, {"a", "b"});
  split.attrs.Set("axis", int64_t{1});
  AddNode(g, "Relu", "relu", {"a"}, {"y"});
  AddOutput(g, "y");
  AddOutput(g, "x");
  int rewrites = 0;
  Graph opt = Optimize(g, EliminateDeadNodes, &rewrites);
  EXPECT_EQ(rewrites, 0);
  EXPECT_EQ(opt.nodes[0].outputs.size(), 2u);
}

// ---- constant folding --------------------------------------------------------------------------

TEST(PassConstantFolding, FoldsNodesWithConstantInputs) {
  Graph g;
  AddInput(g, "x", {2, 3});
  AddConst(g, "w", Random({3, 2}, 1));
  AddNode(g, "Transpose", "wt", {"w"}, {"w_t"});
  AddNode(g, "Neg", "neg", {"w_t"}, {"w_n"});
  AddNode(g, "Add", "add", {"x", "w_n"}, {"y"});
  AddOutput(g, "y");
  ASSERT_TRUE(InferGraph(g, {}).ok());
  // As after a rewrite that made inputs constant: un-fold what inference folded.
  for (Node& n : g.nodes) {
    if (!n.folded) continue;
    n.folded = false;
    for (int o : n.outputs) g.values[o].constant = Tensor();
  }
  ASSERT_EQ(CountLiveNodes(g), 3);
  Graph opt = g;
  StatusOr<int> n = FoldConstants(opt);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Add"}));
  ASSERT_TRUE(VerifyGraph(opt, "test").ok());
  Tensor x = Random({2, 3}, 3);
  std::vector<Tensor> got = RunGraph(opt, {x});
  ASSERT_EQ(got.size(), 1u);
  const Tensor& w = g.values[g.Find("w")].constant;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      EXPECT_FLOAT_EQ(got[0].data<float>()[i * 3 + j], x.data<float>()[i * 3 + j] - w.data<float>()[j * 2 + i]);
    }
  }
}

TEST(PassConstantFolding, LeavesOversizedResultsAsLayers) {
  Graph g;
  AddInput(g, "x", {1});
  AddConst(g, "shape", Tensor::FromVector<int64_t>({kMaxFoldElements + 1}, {1}));
  AddNode(g, "ConstantOfShape", "big", {"shape"}, {"y"});
  AddOutput(g, "y");
  ASSERT_TRUE(InferGraph(g, {}).ok());
  EXPECT_FALSE(g.nodes[0].folded);
  StatusOr<int> n = FoldConstants(g);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 0);
  EXPECT_EQ(CountLiveNodes(g), 1);
}

// ---- identities --------------------------------------------------------------------------------

TEST(PassIdentities, RemovesIdentityDropoutCastAndNoOpReshapes) {
  Graph g;
  AddInput(g, "x", {2, 3, 4});
  AddConst(g, "same_shape", Tensor::FromVector<int64_t>({2, 3, 4}, {3}));
  AddNode(g, "Identity", "id", {"x"}, {"a"});
  AddNode(g, "Relu", "relu", {"a"}, {"b"});
  AddNode(g, "Dropout", "drop", {"b"}, {"c"});
  Node& cast = AddNode(g, "Cast", "cast", {"c"}, {"d"});
  cast.attrs.Set("to", int64_t{1});
  AddNode(g, "Reshape", "reshape", {"d", "same_shape"}, {"e"});
  Node& tr = AddNode(g, "Transpose", "tr", {"e"}, {"f"});
  tr.attrs.Set("perm", std::vector<int64_t>{0, 1, 2});
  AddNode(g, "Identity", "id_out", {"f"}, {"y"});
  AddOutput(g, "y");
  Graph opt = Optimize(g, Pipeline);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Relu"}));
  // The graph output keeps its name: Relu now writes it.
  EXPECT_EQ(opt.nodes[0].outputs[0], opt.Find("y"));
}

TEST(PassIdentities, KeepsIdentityFromInputToOutputAndTrainingDropout) {
  Graph g;
  AddInput(g, "x", {4});
  AddConst(g, "ratio", Tensor::Scalar<float>(0.5f));
  AddConst(g, "training", Tensor::Scalar<bool>(true));
  AddNode(g, "Identity", "id", {"x"}, {"y"});
  AddNode(g, "Identity", "id2", {"x"}, {"z"});
  AddNode(g, "Abs", "abs", {"z"}, {"w"});
  AddOutput(g, "y");
  AddOutput(g, "w");
  Graph opt = Optimize(g, RemoveIdentities);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Identity", "Abs"}));

  Graph t;
  AddInput(t, "x", {4});
  AddConst(t, "ratio", Tensor::Scalar<float>(0.5f));
  AddConst(t, "training", Tensor::Scalar<bool>(true));
  AddNode(t, "Dropout", "drop", {"x", "ratio", "training"}, {"d"});
  AddNode(t, "Abs", "abs", {"d"}, {"y"});
  AddOutput(t, "y");
  ASSERT_TRUE(InferGraph(t, {}).ok());
  int rewrites = -1;
  StatusOr<int> n = RemoveIdentities(t);
  ASSERT_TRUE(n.ok());
  rewrites = *n;
  EXPECT_EQ(rewrites, 0);
}

// ---- transpose / reshape chains ----------------------------------------------------------------

TEST(PassTransposeReshape, CancelsInverseTransposesAndComposesOthers) {
  Graph g;
  AddInput(g, "x", {2, 3, 4, 5});
  Node& t1 = AddNode(g, "Transpose", "nhwc", {"x"}, {"a"});
  t1.attrs.Set("perm", std::vector<int64_t>{0, 2, 3, 1});
  Node& t2 = AddNode(g, "Transpose", "nchw", {"a"}, {"b"});
  t2.attrs.Set("perm", std::vector<int64_t>{0, 3, 1, 2});
  AddNode(g, "Relu", "relu", {"b"}, {"c"});
  Node& t3 = AddNode(g, "Transpose", "t3", {"c"}, {"d"});
  t3.attrs.Set("perm", std::vector<int64_t>{1, 0, 2, 3});
  Node& t4 = AddNode(g, "Transpose", "t4", {"d"}, {"y"});
  t4.attrs.Set("perm", std::vector<int64_t>{0, 1, 3, 2});
  AddOutput(g, "y");
  Graph opt = Optimize(g, Pipeline);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Relu", "Transpose"}));
  EXPECT_EQ(*opt.nodes[1].attrs.GetInts("perm"), (std::vector<int64_t>{1, 0, 3, 2}));
}

TEST(PassTransposeReshape, CollapsesReshapeChains) {
  Graph g;
  AddInput(g, "x", {2, 3, 4});
  AddConst(g, "s1", Tensor::FromVector<int64_t>({6, 4}, {2}));
  AddConst(g, "s2", Tensor::FromVector<int64_t>({4, -1}, {2}));
  AddConst(g, "axes", Tensor::FromVector<int64_t>({0}, {1}));
  AddNode(g, "Reshape", "r1", {"x", "s1"}, {"a"});
  AddNode(g, "Unsqueeze", "u", {"a", "axes"}, {"b"});
  AddNode(g, "Flatten", "f", {"b"}, {"c"});
  AddNode(g, "Reshape", "r2", {"c", "s2"}, {"y"});
  AddOutput(g, "y");
  Graph opt = Optimize(g, Pipeline);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Reshape"}));
  EXPECT_EQ(opt.nodes[0].inputs[0], opt.Find("x"));
  EXPECT_EQ(opt.values[opt.Find("y")].shape, (Shape{4, 6}));
}

// ---- BatchNormalization folding ----------------------------------------------------------------

TEST(PassBatchNorm, FoldsIntoConvWithAndWithoutBias) {
  Graph g;
  AddInput(g, "x", {2, 3, 7, 7});
  AddConst(g, "w1", Random({4, 3, 3, 3}, 11));
  AddConst(g, "b1", Random({4}, 12));
  AddConst(g, "w2", Random({4, 4, 1, 1}, 13));
  AddBnParams(g, "bn1", 4, 20);
  AddBnParams(g, "bn2", 4, 30);
  Node& c1 = AddNode(g, "Conv", "conv1", {"x", "w1", "b1"}, {"c1"});
  c1.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  AddBn(g, "bn1", "c1", "n1");
  AddNode(g, "Relu", "relu", {"n1"}, {"r"});
  AddNode(g, "Conv", "conv2", {"r", "w2"}, {"c2"});
  AddBn(g, "bn2", "c2", "y");
  AddOutput(g, "y");
  int rewrites = 0;
  Graph opt = Optimize(g, FoldBatchNorm, &rewrites);
  EXPECT_EQ(rewrites, 2);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv", "Relu", "Conv"}));
  EXPECT_EQ(opt.nodes[2].outputs[0], opt.Find("y"));
}

TEST(PassBatchNorm, FoldsIntoGroupedConvTranspose) {
  Graph g;
  AddInput(g, "x", {1, 4, 5, 5});
  AddConst(g, "w", Random({4, 3, 3, 3}, 41));  // C=4, M/g=3, g=2 -> M=6
  AddBnParams(g, "bn", 6, 50);
  Node& ct = AddNode(g, "ConvTranspose", "deconv", {"x", "w"}, {"c"});
  ct.attrs.Set("group", int64_t{2});
  ct.attrs.Set("strides", std::vector<int64_t>{2, 2});
  AddBn(g, "bn", "c", "y");
  AddOutput(g, "y");
  int rewrites = 0;
  Graph opt = Optimize(g, FoldBatchNorm, &rewrites);
  EXPECT_EQ(rewrites, 1);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"ConvTranspose"}));
}

TEST(PassBatchNorm, FoldsIntoGemmPerOutputColumn) {
  for (int64_t trans_b : {0, 1}) {
    for (int c_kind = 0; c_kind < 3; ++c_kind) {  // no C, C [N], C [M, N]
      Graph g;
      AddInput(g, "a", {3, 5});
      AddConst(g, "b", Random(trans_b ? Shape{4, 5} : Shape{5, 4}, 61));
      AddConst(g, "cn", Random({4}, 62));
      AddConst(g, "cmn", Random({3, 4}, 63));
      AddBnParams(g, "bn", 4, 70);
      std::vector<std::string> ins = {"a", "b"};
      if (c_kind == 1) ins.push_back("cn");
      if (c_kind == 2) ins.push_back("cmn");
      Node& gemm = AddNode(g, "Gemm", "fc", ins, {"f"});
      gemm.attrs.Set("transB", trans_b);
      gemm.attrs.Set("alpha", 0.75f);
      gemm.attrs.Set("beta", 1.5f);
      AddBn(g, "bn", "f", "y");
      AddOutput(g, "y");
      int rewrites = 0;
      Graph opt = Optimize(g, FoldBatchNorm, &rewrites);
      EXPECT_EQ(rewrites, 1) << "transB " << trans_b << " C kind " << c_kind;
      EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Gemm"}));
    }
  }
}

TEST(PassBatchNorm, NotFoldedWhenConvOutputHasTwoConsumers) {
  Graph g;
  AddInput(g, "x", {1, 2, 5, 5});
  AddConst(g, "w", Random({3, 2, 3, 3}, 81));
  AddBnParams(g, "bn", 3, 90);
  AddNode(g, "Conv", "conv", {"x", "w"}, {"c"});
  AddBn(g, "bn", "c", "y");
  AddNode(g, "Relu", "relu", {"c"}, {"z"});
  AddOutput(g, "y");
  AddOutput(g, "z");
  int rewrites = -1;
  Graph opt = Optimize(g, FoldBatchNorm, &rewrites);
  EXPECT_EQ(rewrites, 0);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv", "BatchNormalization", "Relu"}));

  // Nor when the Conv's output is itself a graph output.
  Graph h;
  AddInput(h, "x", {1, 2, 5, 5});
  AddConst(h, "w", Random({3, 2, 3, 3}, 81));
  AddBnParams(h, "bn", 3, 90);
  AddNode(h, "Conv", "conv", {"x", "w"}, {"c"});
  AddBn(h, "bn", "c", "y");
  AddOutput(h, "c");
  AddOutput(h, "y");
  Graph opt2 = Optimize(h, FoldBatchNorm, &rewrites);
  EXPECT_EQ(rewrites, 0);
}

// ---- per-channel affine folding ----------------------------------------------------------------

StatusOr<int> AffineToFixedPoint(Graph& g) {
  int total = 0;
  for (;;) {
    StatusOr<int> n = FoldConvAffine(g);
    if (!n.ok()) return n.status();
    if (*n == 0) return total;
    total += *n;
  }
}

TEST(PassConvAffine, FoldsScaleAndShiftChains) {
  Graph g;
  AddInput(g, "x", {2, 3, 6, 6});
  AddConst(g, "w", Random({4, 3, 3, 3}, 451));
  AddConst(g, "b", Random({4}, 452));
  AddConst(g, "scale", Random({1, 4, 1, 1}, 453, 0.5f, 2.0f));
  AddConst(g, "shift", Random({4, 1, 1}, 454));
  AddConst(g, "k", Tensor::Scalar<float>(0.25f));
  AddConst(g, "div", Random({1, 4, 1, 1}, 455, 0.5f, 2.0f));
  AddNode(g, "Conv", "conv", {"x", "w", "b"}, {"c"});
  AddNode(g, "Mul", "mul", {"scale", "c"}, {"m"});
  AddNode(g, "Add", "add", {"m", "shift"}, {"a"});
  AddNode(g, "Sub", "rsub", {"k", "a"}, {"s"});
  AddNode(g, "Div", "div", {"s", "div"}, {"y"});
  AddOutput(g, "y");
  int rewrites = 0;
  Graph opt = Optimize(g, AffineToFixedPoint, &rewrites);
  EXPECT_EQ(rewrites, 4);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv"}));
  EXPECT_EQ(opt.nodes[0].outputs[0], opt.Find("y"));
}

TEST(PassConvAffine, SpatialConstantsAndReciprocalsNotFolded) {
  Graph g;
  AddInput(g, "x", {1, 2, 4, 4});
  AddConst(g, "w", Random({3, 2, 1, 1}, 461));
  AddConst(g, "rows", Random({1, 1, 4, 1}, 462));
  AddConst(g, "one", Tensor::Scalar<float>(1.0f));
  AddNode(g, "Conv", "conv", {"x", "w"}, {"c"});
  AddNode(g, "Mul", "mul", {"c", "rows"}, {"y"});
  AddNode(g, "Conv", "conv2", {"x", "w"}, {"c2"});
  AddNode(g, "Div", "rdiv", {"one", "c2"}, {"z"});
  AddOutput(g, "y");
  AddOutput(g, "z");
  int rewrites = -1;
  Optimize(g, FoldConvAffine, &rewrites);
  EXPECT_EQ(rewrites, 0);
}

// ---- Pad folding -------------------------------------------------------------------------------

Graph PadInto(const std::string& op, std::vector<int64_t> pads, float value, uint32_t seed) {
  Graph g;
  AddInput(g, "x", {1, 3, 8, 8});
  AddConst(g, "pads", Tensor::FromVector<int64_t>(pads, {8}));
  AddConst(g, "value", Tensor::Scalar<float>(value));
  AddConst(g, "w", Random({4, 3, 3, 3}, seed));
  AddNode(g, "Pad", "pad", {"x", "pads", "value"}, {"p"});
  if (op == "Conv") {
    Node& n = AddNode(g, "Conv", "conv", {"p", "w"}, {"y"});
    n.attrs.Set("strides", std::vector<int64_t>{2, 1});
    n.attrs.Set("pads", std::vector<int64_t>{0, 1, 0, 1});
  } else {
    Node& n = AddNode(g, op, "pool", {"p"}, {"y"});
    n.attrs.Set("kernel_shape", std::vector<int64_t>{3, 3});
  }
  AddOutput(g, "y");
  return g;
}

TEST(PassPad, FoldsZeroPadIntoConvAndAveragePool) {
  int rewrites = 0;
  Graph conv = Optimize(PadInto("Conv", {0, 0, 1, 2, 0, 0, 2, 1}, 0.0f, 101), FoldPad, &rewrites);
  EXPECT_EQ(rewrites, 1);
  ASSERT_TRUE(EliminateDeadNodes(conv).ok());
  EXPECT_EQ(LiveOps(conv), (std::vector<std::string>{"Conv"}));
  EXPECT_EQ(*conv.nodes[0].attrs.GetInts("pads"), (std::vector<int64_t>{1, 3, 2, 2}));

  Graph pool = Optimize(PadInto("AveragePool", {0, 0, 1, 1, 0, 0, 1, 1}, 0.0f, 102), Pipeline);
  EXPECT_EQ(LiveOps(pool), (std::vector<std::string>{"AveragePool"}));
  EXPECT_EQ(*pool.nodes[0].attrs.GetInt("count_include_pad"), 1);
}

TEST(PassPad, FoldsMinusInfinityPadIntoMaxPoolOnly) {
  Graph max_pool =
      Optimize(PadInto("MaxPool", {0, 0, 1, 1, 0, 0, 1, 1}, -std::numeric_limits<float>::infinity(), 103), Pipeline);
  EXPECT_EQ(LiveOps(max_pool), (std::vector<std::string>{"MaxPool"}));

  int rewrites = -1;
  Optimize(PadInto("MaxPool", {0, 0, 1, 1, 0, 0, 1, 1}, 0.0f, 104), FoldPad, &rewrites);
  EXPECT_EQ(rewrites, 0);
}

TEST(PassPad, NotFoldedForNonZeroValueOrChannelPads) {
  int rewrites = -1;
  Optimize(PadInto("Conv", {0, 0, 1, 1, 0, 0, 1, 1}, 0.5f, 105), FoldPad, &rewrites);
  EXPECT_EQ(rewrites, 0);
  Graph g = PadInto("Conv", {0, 1, 1, 1, 0, 0, 1, 1}, 0.0f, 106);
  // The channel padding changes the conv's input channels: widen its weights to match.
  g.values[g.Find("w")].constant = Random({4, 4, 3, 3}, 106);
  g.values[g.Find("w")].shape = {4, 4, 3, 3};
  Optimize(g, FoldPad, &rewrites);
  EXPECT_EQ(rewrites, 0);
}

// ---- horizontal fusion -------------------------------------------------------------------------

TEST(PassHorizontalFusion, MergesSiblingPointwiseConvs) {
  Graph g;
  AddInput(g, "x", {2, 8, 6, 6});
  AddConst(g, "wa", Random({4, 8, 1, 1}, 121));
  AddConst(g, "ba", Random({4}, 122));
  AddConst(g, "wb", Random({6, 8, 1, 1}, 123));
  AddConst(g, "wc", Random({5, 8, 1, 1}, 124));
  AddConst(g, "bc", Random({5}, 125));
  AddConst(g, "wd", Random({3, 8, 3, 3}, 126));
  AddNode(g, "Conv", "a", {"x", "wa", "ba"}, {"ya"});
  AddNode(g, "Relu", "ra", {"ya"}, {"za"});
  AddNode(g, "Conv", "b", {"x", "wb"}, {"yb"});
  AddNode(g, "Conv", "c", {"x", "wc", "bc"}, {"yc"});
  Node& d = AddNode(g, "Conv", "d", {"x", "wd"}, {"yd"});
  d.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  Node& cat = AddNode(g, "Concat", "cat", {"za", "yb", "yd"}, {"y"});
  cat.attrs.Set("axis", int64_t{1});
  AddOutput(g, "y");
  AddOutput(g, "yc");
  int rewrites = 0;
  Graph opt = Optimize(g, FuseHorizontalConv, &rewrites);
  EXPECT_EQ(rewrites, 1);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv", "Split", "Relu", "Conv", "Concat"}));
  EXPECT_EQ(opt.values[opt.nodes[0].outputs[0]].shape, (Shape{2, 15, 6, 6}));
  EXPECT_EQ(opt.nodes[1].outputs, (std::vector<int>{opt.Find("ya"), opt.Find("yb"), opt.Find("yc")}));
}

TEST(PassHorizontalFusion, SiblingsWithDifferentStridesOrGroupsNotMerged) {
  Graph g;
  AddInput(g, "x", {1, 4, 6, 6});
  AddConst(g, "wa", Random({4, 4, 1, 1}, 131));
  AddConst(g, "wb", Random({4, 4, 1, 1}, 132));
  AddConst(g, "wc", Random({4, 2, 1, 1}, 133));
  AddConst(g, "wd", Random({4, 2, 1, 1}, 134));
  AddNode(g, "Conv", "a", {"x", "wa"}, {"ya"});
  Node& b = AddNode(g, "Conv", "b", {"x", "wb"}, {"yb"});
  b.attrs.Set("strides", std::vector<int64_t>{2, 2});
  Node& c = AddNode(g, "Conv", "c", {"x", "wc"}, {"yc"});
  c.attrs.Set("group", int64_t{2});
  Node& d = AddNode(g, "Conv", "d", {"x", "wd"}, {"yd"});
  d.attrs.Set("group", int64_t{2});
  AddOutput(g, "ya");
  AddOutput(g, "yb");
  AddOutput(g, "yc");
  AddOutput(g, "yd");
  int rewrites = -1;
  Graph opt = Optimize(g, FuseHorizontalConv, &rewrites);
  EXPECT_EQ(rewrites, 0);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv", "Conv", "Conv", "Conv"}));
}

// ---- vertical fusion ---------------------------------------------------------------------------

// x -> Conv(3x3, pad 1) -> <activation nodes built by `add_act` from "c" to "y">.
Graph ConvThen(const std::function<void(Graph&)>& add_act, uint32_t seed) {
  Graph g;
  AddInput(g, "x", {2, 3, 6, 6});
  AddConst(g, "w", Random({5, 3, 3, 3}, seed));
  AddConst(g, "b", Random({5}, seed + 1));
  Node& conv = AddNode(g, "Conv", "conv", {"x", "w", "b"}, {"c"});
  conv.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  add_act(g);
  AddOutput(g, "y");
  return g;
}

TEST(PassVerticalFusion, ConvWithEachActivation) {
  struct Case {
    std::string op;
    std::string fused;
    std::function<void(Graph&)> build;
  };
  std::vector<Case> cases = {
      {"Relu", "Relu", [](Graph& g) { AddNode(g, "Relu", "act", {"c"}, {"y"}); }},
      {"LeakyRelu", "LeakyRelu",
       [](Graph& g) { AddNode(g, "LeakyRelu", "act", {"c"}, {"y"}).attrs.Set("alpha", 0.2f); }},
      {"Clip", "Clip",
       [](Graph& g) {
         AddConst(g, "lo", Tensor::Scalar<float>(0.0f));
         AddConst(g, "hi", Tensor::Scalar<float>(0.5f));
         AddNode(g, "Clip", "act", {"c", "lo", "hi"}, {"y"});
       }},
      {"Sigmoid", "Sigmoid", [](Graph& g) { AddNode(g, "Sigmoid", "act", {"c"}, {"y"}); }},
      {"HardSigmoid", "HardSigmoid",
       [](Graph& g) { AddNode(g, "HardSigmoid", "act", {"c"}, {"y"}).attrs.Set("alpha", 0.3f); }},
      {"HardSwish", "HardSwish", [](Graph& g) { AddNode(g, "HardSwish", "act", {"c"}, {"y"}); }},
      {"Tanh", "Tanh", [](Graph& g) { AddNode(g, "Tanh", "act", {"c"}, {"y"}); }},
      {"Gelu", "Gelu", [](Graph& g) { AddNode(g, "Gelu", "act", {"c"}, {"y"}); }},
      {"GeluTanh", "GeluTanh",
       [](Graph& g) { AddNode(g, "Gelu", "act", {"c"}, {"y"}).attrs.Set("approximate", std::string("tanh")); }},
      {"SiLU", "SiLU",
       [](Graph& g) {
         AddNode(g, "Sigmoid", "sig", {"c"}, {"s"});
         AddNode(g, "Mul", "mul", {"s", "c"}, {"y"});
       }},
  };
  uint32_t seed = 200;
  for (const Case& c : cases) {
    int rewrites = 0;
    Graph opt = Optimize(ConvThen(c.build, seed += 10), FuseVertical, &rewrites);
    EXPECT_EQ(rewrites, 1) << c.op;
    ASSERT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv"})) << c.op;
    EXPECT_EQ(*opt.nodes[0].attrs.GetString(kActivationAttr), c.fused) << c.op;
    EXPECT_EQ(opt.nodes[0].outputs[0], opt.Find("y")) << c.op;
  }
}

TEST(PassVerticalFusion, ResidualAddComputedAfterTheConv) {
  // conv_a -> Add(conv_a, relu(conv_b)) -> Relu, with conv_b's branch after conv_a in node order.
  Graph g;
  AddInput(g, "x", {1, 4, 5, 5});
  AddConst(g, "wa", Random({4, 4, 1, 1}, 301));
  AddConst(g, "wb", Random({4, 4, 3, 3}, 302));
  AddNode(g, "Conv", "conv_a", {"x", "wa"}, {"a"});
  Node& cb = AddNode(g, "Conv", "conv_b", {"x", "wb"}, {"b"});
  cb.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  AddNode(g, "Tanh", "tanh_b", {"b"}, {"bt"});
  AddNode(g, "Add", "add", {"bt", "a"}, {"s"});
  AddNode(g, "Relu", "relu", {"s"}, {"y"});
  AddOutput(g, "y");
  int rewrites = 0;
  Graph opt = Optimize(g, FuseVertical, &rewrites);
  EXPECT_EQ(rewrites, 2);  // conv_a + add + relu, conv_b + tanh_b
  ASSERT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv", "Conv"}));
  EXPECT_EQ(opt.nodes[0].name, "conv_b+tanh_b");
  EXPECT_EQ(opt.nodes[1].name, "conv_a+add+relu");
  ASSERT_EQ(opt.nodes[1].inputs.size(), 4u);
  EXPECT_EQ(opt.nodes[1].inputs[2], -1);
  EXPECT_EQ(opt.nodes[1].inputs[3], opt.Find("bt"));
}

TEST(PassVerticalFusion, EpilogueOnLargeGroupedAndDepthwiseConvs) {
  // 20x15 = 300 output positions: more than one epilogue tile, the last one partial.
  for (int64_t group : {1, 2, 6}) {
    Graph g;
    AddInput(g, "x", {2, 6, 20, 15});
    AddInput(g, "r", {2, 6, 20, 15});
    AddConst(g, "w", Random({6, 6 / group, 3, 3}, 340 + static_cast<uint32_t>(group)));
    AddConst(g, "b", Random({6}, 350));
    Node& conv = AddNode(g, "Conv", "conv", {"x", "w", "b"}, {"c"});
    conv.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
    conv.attrs.Set("group", group);
    AddNode(g, "Add", "add", {"r", "c"}, {"s"});
    AddNode(g, "HardSwish", "act", {"s"}, {"y"});
    AddOutput(g, "y");
    int rewrites = 0;
    Graph opt = Optimize(g, FuseVertical, &rewrites);
    EXPECT_EQ(rewrites, 1) << "group " << group;
    EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv"})) << "group " << group;
  }
}

TEST(PassVerticalFusion, GemmWithActivationAndConvAddWithoutActivation) {
  Graph g;
  AddInput(g, "a", {3, 8});
  AddConst(g, "w", Random({6, 8}, 311));
  AddConst(g, "bias", Random({6}, 312));
  Node& gemm = AddNode(g, "Gemm", "fc", {"a", "w", "bias"}, {"f"});
  gemm.attrs.Set("transB", int64_t{1});
  AddNode(g, "Gelu", "gelu", {"f"}, {"y"});
  AddOutput(g, "y");
  Graph opt = Optimize(g, FuseVertical);
  ASSERT_EQ(LiveOps(opt), (std::vector<std::string>{"Gemm"}));
  EXPECT_EQ(*opt.nodes[0].attrs.GetString(kActivationAttr), "Gelu");

  Graph h;
  AddInput(h, "x", {1, 2, 4, 4});
  AddInput(h, "r", {1, 3, 4, 4});
  AddConst(h, "w", Random({3, 2, 1, 1}, 313));
  AddNode(h, "Conv", "conv", {"x", "w"}, {"c"});
  AddNode(h, "Add", "add", {"c", "r"}, {"y"});
  AddOutput(h, "y");
  Graph opt2 = Optimize(h, FuseVertical);
  ASSERT_EQ(LiveOps(opt2), (std::vector<std::string>{"Conv"}));
  EXPECT_FALSE(opt2.nodes[0].attrs.Has(kActivationAttr));
  EXPECT_EQ(opt2.nodes[0].inputs.size(), 4u);
}

TEST(PassVerticalFusion, NotFusedWhenObservableOrBroadcast) {
  // The conv output is also a graph output.
  Graph g = ConvThen([](Graph& gr) { AddNode(gr, "Relu", "act", {"c"}, {"y"}); }, 321);
  g.outputs.push_back(g.Find("c"));
  int rewrites = -1;
  Optimize(g, FuseVertical, &rewrites);
  EXPECT_EQ(rewrites, 0);
  // The Add broadcasts a per-channel tensor: not a residual, and the Relu after it stays apart.
  Graph h = ConvThen(
      [](Graph& gr) {
        AddConst(gr, "shift", Random({1, 5, 1, 1}, 322));
        AddNode(gr, "Add", "add", {"c", "shift"}, {"s"});
        AddNode(gr, "Relu", "act", {"s"}, {"y"});
      },
      323);
  Graph opt = Optimize(h, FuseVertical, &rewrites);
  EXPECT_EQ(rewrites, 0);
  // Clip with a bound that is not a build-time value.
  Graph k;
  AddInput(k, "x", {1, 2, 4, 4});
  AddInput(k, "hi", {});
  AddConst(k, "w", Random({3, 2, 1, 1}, 324));
  AddNode(k, "Conv", "conv", {"x", "w"}, {"c"});
  AddNode(k, "Clip", "clip", {"c", "", "hi"}, {"y"});
  AddOutput(k, "y");
  Optimize(k, FuseVertical, &rewrites);
  EXPECT_EQ(rewrites, 0);
}

TEST(PassVerticalFusion, ConvValidatesEpilogueAttributesAndResidual) {
  Graph g = ConvThen([](Graph& gr) { AddNode(gr, "Relu", "act", {"c"}, {"y"}); }, 331);
  g.nodes[0].attrs.Set(kActivationAttr, std::string("Swish"));
  Status s = InferGraph(g, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Conv node 'conv'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'Swish'"), std::string::npos) << s.message();

  Graph h = ConvThen([](Graph& gr) { AddNode(gr, "Relu", "act", {"c"}, {"y"}); }, 332);
  AddInput(h, "r", {2, 5, 6, 5});
  h.nodes[0].inputs.push_back(h.Find("r"));
  s = InferGraph(h, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("residual input has shape 2x5x6x5"), std::string::npos) << s.message();
}

// Conv -> SiLU (Sigmoid, Mul) into "<prefix>" from `in`, as YOLO's ConvBnSilu (3x3, pad 1, bias).
void AddConvSilu(Graph& g, const std::string& prefix, const std::string& in, int64_t c, uint32_t seed) {
  AddConst(g, prefix + "_w", Random({c, c, 3, 3}, seed));
  AddConst(g, prefix + "_b", Random({c}, seed + 1));
  Node& conv = AddNode(g, "Conv", prefix + "_conv", {in, prefix + "_w", prefix + "_b"}, {prefix + "_c"});
  conv.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  AddNode(g, "Sigmoid", prefix + "_sig", {prefix + "_c"}, {prefix + "_s"});
  AddNode(g, "Mul", prefix + "_mul", {prefix + "_c", prefix + "_s"}, {prefix});
}

StatusOr<int> VerticalThenActivationResidual(Graph& g) {
  EDGERT_ASSIGN_OR_RETURN(int a, FuseVertical(g));
  EDGERT_ASSIGN_OR_RETURN(int b, FuseActivationResidual(g));
  return a + b;
}

TEST(PassActivationResidual, BottleneckShortcutAfterSiluBecomesOneConv) {
  // YOLOv8's Bottleneck: y = x + silu(conv2(silu(conv1(x)))), the shortcut operand first or second.
  for (bool shortcut_first : {true, false}) {
    Graph g;
    AddInput(g, "x", {2, 4, 6, 5});
    AddConvSilu(g, "m1", "x", 4, 601);
    AddConvSilu(g, "m2", "m1", 4, 611);
    AddNode(g, "Add", "add", shortcut_first ? std::vector<std::string>{"x", "m2"} : std::vector<std::string>{"m2", "x"},
            {"y"});
    AddOutput(g, "y");
    int rewrites = 0;
    // Optimize compares the fused network with the original on the CPU reference (rel L2 <= 1e-5):
    // the residual must be added after the SiLU.
    Graph opt = Optimize(g, VerticalThenActivationResidual, &rewrites);
    EXPECT_EQ(rewrites, 3);  // two Conv+SiLU, then the Add into the second
    ASSERT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv", "Conv"}));
    const Node& fused = opt.nodes[1];
    EXPECT_EQ(fused.name, "m2_conv+m2_sig+m2_mul+add");
    EXPECT_EQ(*fused.attrs.GetString(kActivationAttr), "SiLU");
    EXPECT_EQ(*fused.attrs.GetInt(kResidualAfterActivationAttr), 1);
    ASSERT_EQ(fused.inputs.size(), 4u);
    EXPECT_EQ(fused.inputs[3], opt.Find("x"));
    EXPECT_EQ(fused.outputs[0], opt.Find("y"));
    EXPECT_FALSE(opt.nodes[0].attrs.Has(kResidualAfterActivationAttr));
    // The default pipeline does the same, and counts the pass.
    Graph piped = Optimize(g, Pipeline);
    EXPECT_EQ(LiveOps(piped), (std::vector<std::string>{"Conv", "Conv"}));
    Graph again = g;
    ASSERT_TRUE(InferGraph(again, {}).ok());
    StatusOr<OptimizeReport> r = OptimizeGraph(again);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    int counted = -1;
    for (const PassCount& p : r->passes) counted = p.name == "activation-residual" ? p.rewrites : counted;
    EXPECT_EQ(counted, 1);
    // --disable-pass activation-residual keeps the Add.
    Graph kept = g;
    ASSERT_TRUE(InferGraph(kept, {}).ok());
    ASSERT_TRUE(OptimizeGraph(kept, {"activation-residual"}).ok());
    EXPECT_EQ(LiveOps(kept), (std::vector<std::string>{"Conv", "Conv", "Add"}));
  }
}

TEST(PassActivationResidual, ResidualFromALaterBranchAndWhatIsLeftAlone) {
  // a = relu(conv_a(x)); b = conv_b(x) after it in node order; y = a + b: the fused layer sits at
  // the Add, after conv_b.
  Graph g;
  AddInput(g, "x", {1, 3, 5, 5});
  AddConst(g, "wa", Random({3, 3, 3, 3}, 621));
  AddConst(g, "wb", Random({3, 3, 1, 1}, 622));
  Node& ca = AddNode(g, "Conv", "conv_a", {"x", "wa"}, {"ca"});
  ca.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  AddNode(g, "Relu", "relu_a", {"ca"}, {"a"});
  AddNode(g, "Conv", "conv_b", {"x", "wb"}, {"b"});
  AddNode(g, "Tanh", "tanh_b", {"b"}, {"bt"});
  AddNode(g, "Add", "add", {"a", "bt"}, {"y"});
  AddOutput(g, "y");
  int rewrites = 0;
  Graph opt = Optimize(g, VerticalThenActivationResidual, &rewrites);
  EXPECT_EQ(rewrites, 3);
  ASSERT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv", "Conv"}));
  EXPECT_EQ(opt.nodes[0].name, "conv_b+tanh_b");
  EXPECT_EQ(opt.nodes[1].name, "conv_a+relu_a+add");
  EXPECT_EQ(opt.nodes[1].inputs[3], opt.Find("bt"));

  // Left alone: a broadcast operand, an activation result read twice, a graph output, a Conv
  // without activation (vertical fusion's pre-activation residual takes that one), and a Conv that
  // already has a residual.
  auto fused_count = [](Graph h) {
    int n = -1;
    Optimize(h, VerticalThenActivationResidual, &n);
    Graph once = h;
    EXPECT_TRUE(InferGraph(once, {}).ok());
    EXPECT_TRUE(FuseVertical(once).ok());
    StatusOr<int> r = FuseActivationResidual(once);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : -1;
  };
  Graph broadcast = ConvThen(
      [](Graph& gr) {
        AddNode(gr, "Relu", "act", {"c"}, {"r"});
        AddConst(gr, "shift", Random({1, 5, 1, 1}, 631));
        AddNode(gr, "Add", "add", {"r", "shift"}, {"y"});
      },
      632);
  EXPECT_EQ(fused_count(broadcast), 0);
  Graph twice = ConvThen(
      [](Graph& gr) {
        AddInput(gr, "x2", {2, 5, 6, 6});
        AddNode(gr, "Relu", "act", {"c"}, {"r"});
        AddNode(gr, "Add", "add", {"r", "x2"}, {"y"});
        AddNode(gr, "Neg", "neg", {"r"}, {"z"});
      },
      633);
  twice.outputs.push_back(twice.Find("z"));
  EXPECT_EQ(fused_count(twice), 0);
  Graph observed = ConvThen(
      [](Graph& gr) {
        AddInput(gr, "x2", {2, 5, 6, 6});
        AddNode(gr, "Relu", "act", {"c"}, {"r"});
        AddNode(gr, "Add", "add", {"r", "x2"}, {"y"});
      },
      634);
  observed.outputs.push_back(observed.Find("r"));
  EXPECT_EQ(fused_count(observed), 0);
  Graph both = ConvThen(
      [](Graph& gr) {
        AddInput(gr, "x2", {2, 5, 6, 6});
        AddInput(gr, "x3", {2, 5, 6, 6});
        AddNode(gr, "Add", "pre", {"c", "x2"}, {"p"});
        AddNode(gr, "Relu", "act", {"p"}, {"r"});
        AddNode(gr, "Add", "post", {"r", "x3"}, {"y"});
      },
      635);
  EXPECT_EQ(fused_count(both), 0);
}

TEST(PassActivationResidual, AttributeIsValidatedAndRefusedWhereItHasNoMeaning) {
  Graph g = ConvThen([](Graph& gr) { AddNode(gr, "Relu", "act", {"c"}, {"y"}); }, 641);
  g.nodes[0].attrs.Set(kActivationAttr, std::string("Relu"));
  g.nodes[0].attrs.Set(kResidualAfterActivationAttr, int64_t{2});
  Status s = InferGraph(g, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Conv node 'conv'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'residual_after_activation' is 2, expected 0 or 1"), std::string::npos) << s.message();

  Graph t;
  AddInput(t, "x", {1, 2, 4, 4});
  AddConst(t, "w", Random({2, 3, 3, 3}, 642));
  Node& ct = AddNode(t, "ConvTranspose", "up", {"x", "w"}, {"y"});
  ct.attrs.Set(kResidualAfterActivationAttr, int64_t{1});
  AddOutput(t, "y");
  s = InferGraph(t, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ConvTranspose node 'up'"), std::string::npos) << s.message();
}

// ---- GELU pattern ------------------------------------------------------------------------------

// x -> Relu -> <Erf GELU> -> y; `variant` 0: (h * a) * 0.5 with Div; 1: (h * 0.5) * a with Mul by
// 1/sqrt(2), operands swapped; 2: like 0 but dividing by 2 (not GELU).
Graph GeluGraph(int variant) {
  Graph g;
  AddInput(g, "x", {2, 5, 7});
  AddConst(g, "sqrt2", Tensor::Scalar<float>(variant == 2 ? 2.0f : std::sqrt(2.0f)));
  AddConst(g, "inv_sqrt2", Tensor::Scalar<float>(1.0f / std::sqrt(2.0f)));
  AddConst(g, "one", Tensor::Scalar<float>(1.0f));
  AddConst(g, "half", Tensor::Scalar<float>(0.5f));
  AddNode(g, "Relu", "pre", {"x"}, {"h"});
  if (variant == 1) {
    AddNode(g, "Mul", "scale", {"inv_sqrt2", "h"}, {"d"});
  } else {
    AddNode(g, "Div", "scale", {"h", "sqrt2"}, {"d"});
  }
  AddNode(g, "Erf", "erf", {"d"}, {"e"});
  AddNode(g, "Add", "add1", {"one", "e"}, {"a"});
  if (variant == 1) {
    AddNode(g, "Mul", "half_h", {"h", "half"}, {"hh"});
    AddNode(g, "Mul", "gelu", {"a", "hh"}, {"y"});
  } else {
    AddNode(g, "Mul", "mul", {"h", "a"}, {"m"});
    AddNode(g, "Mul", "gelu", {"m", "half"}, {"y"});
  }
  AddOutput(g, "y");
  return g;
}

TEST(PassGeluPattern, BothExportFormsBecomeOneGelu) {
  for (int variant : {0, 1}) {
    int rewrites = 0;
    Graph opt = Optimize(GeluGraph(variant), FuseGeluPattern, &rewrites);
    EXPECT_EQ(rewrites, 1) << variant;
    EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Relu", "Gelu"})) << variant;
    EXPECT_EQ(opt.nodes[1].inputs[0], opt.Find("h"));
  }
}

TEST(PassGeluPattern, OtherConstantsOrSharedValuesNotFused) {
  int rewrites = -1;
  Optimize(GeluGraph(2), FuseGeluPattern, &rewrites);
  EXPECT_EQ(rewrites, 0);
  Graph g = GeluGraph(0);
  g.outputs.push_back(g.Find("e"));  // an intermediate value is observable
  Optimize(g, FuseGeluPattern, &rewrites);
  EXPECT_EQ(rewrites, 0);
}

// ---- elementwise chains --------------------------------------------------------------------------

TEST(PassElementwiseChains, ScalarArithmeticAndActivationsBecomeOneLayer) {
  Graph g;
  AddInput(g, "x", {2, 3, 5});
  AddConst(g, "half", Tensor::Scalar<float>(0.5f));
  AddConst(g, "one", Tensor::Scalar<float>(1.0f));
  AddConst(g, "two", Tensor::Scalar<float>(2.0f));
  AddConst(g, "lo", Tensor::Scalar<float>(0.1f));
  AddConst(g, "hi", Tensor::Scalar<float>(0.8f));
  AddNode(g, "Mul", "mul", {"x", "half"}, {"a"});
  AddNode(g, "Add", "add", {"one", "a"}, {"b"});
  AddNode(g, "Relu", "relu", {"b"}, {"c"});
  AddNode(g, "Add", "add1", {"c", "one"}, {"c1"});
  AddNode(g, "Div", "rdiv", {"two", "c1"}, {"d"});
  AddNode(g, "Sub", "rsub", {"two", "d"}, {"e"});
  AddNode(g, "Pow", "pow", {"e", "two"}, {"f"});
  AddNode(g, "Clip", "clip", {"f", "lo", "hi"}, {"y"});
  AddOutput(g, "y");
  int rewrites = 0;
  Graph opt = Optimize(g, FuseElementwiseChains, &rewrites);
  EXPECT_EQ(rewrites, 1);
  ASSERT_EQ(LiveOps(opt), (std::vector<std::string>{"EdgertFusedElementwise"}));
  const auto& steps = std::get<std::vector<std::string>>(opt.nodes[0].attrs.all().at("steps"));
  EXPECT_EQ(steps, (std::vector<std::string>{"Mul", "Add", "Relu", "Add", "RDiv", "RSub", "Pow", "Clip"}));
  EXPECT_EQ(opt.nodes[0].outputs[0], opt.Find("y"));
}

TEST(PassElementwiseChains, ChainsStopAtObservableValuesAndTensorOperands) {
  Graph g;
  AddInput(g, "x", {1, 3, 4});
  AddConst(g, "one", Tensor::Scalar<float>(1.0f));
  AddConst(g, "per_channel", Random({1, 3, 1}, 401));
  AddNode(g, "Sigmoid", "s1", {"x"}, {"a"});
  AddNode(g, "Tanh", "t1", {"a"}, {"b"});  // b is a graph output: the chain ends here
  AddNode(g, "Exp", "e1", {"b"}, {"c"});
  AddNode(g, "Neg", "n1", {"c"}, {"d"});
  AddNode(g, "Mul", "m1", {"d", "per_channel"}, {"e"});  // not a scalar: not a step
  AddNode(g, "Abs", "a1", {"e"}, {"y"});
  AddNode(g, "Pow", "p1", {"one", "y"}, {"z"});  // constant base: not a step
  AddOutput(g, "b");
  AddOutput(g, "z");
  int rewrites = 0;
  Graph opt = Optimize(g, FuseElementwiseChains, &rewrites);
  EXPECT_EQ(rewrites, 2);
  EXPECT_EQ(LiveOps(opt),
            (std::vector<std::string>{"EdgertFusedElementwise", "EdgertFusedElementwise", "Mul", "Abs", "Pow"}));
}

TEST(PassElementwiseChains, LayerValidatesSteps) {
  Graph g;
  AddInput(g, "x", {4});
  Node& n = AddNode(g, "EdgertFusedElementwise", "chain", {"x"}, {"y"});
  n.attrs.Set("steps", std::vector<std::string>{"Relu", "Frobnicate"});
  AddOutput(g, "y");
  Status s = InferGraph(g, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("step 'Frobnicate'"), std::string::npos) << s.message();
  g.nodes[0].attrs.Set("steps", std::vector<std::string>{"Relu", "Add"});
  s = InferGraph(g, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("too few for the steps"), std::string::npos) << s.message();
}

// ---- random networks through the whole pipeline --------------------------------------------------

// A random CNN of `blocks` blocks on a 1x4x8x8 input mixing every pattern the passes rewrite:
// Conv (+BN) (+activation), Pad -> Conv, residual Adds, SiLU, Erf GELU, sibling 1x1 convs with a
// Concat, transpose pairs, identities, dead branches, per-channel affine ops, scalar elementwise
// chains; some intermediate values are graph outputs.
Graph RandomNetwork(uint32_t seed, int blocks) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  Graph g;
  AddInput(g, "x", {1, 4, 8, 8});
  std::string cur = "x";
  std::vector<std::string> same_shape = {"x"};  // values of shape 1x4x8x8
  int id = 0;
  auto fresh = [&](const std::string& base) { return base + std::to_string(id++); };
  auto conv = [&](const std::string& in, int64_t m, int64_t k, bool bias) {
    const std::string w = fresh("w");
    AddConst(g, w, Random({m, 4, k, k}, seed * 100 + id));
    std::vector<std::string> ins = {in, w};
    if (bias) {
      ins.push_back(fresh("b"));
      AddConst(g, ins.back(), Random({m}, seed * 100 + id));
    }
    const std::string out = fresh("conv");
    Node& n = AddNode(g, "Conv", out, ins, {out});
    if (k == 3) n.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
    return out;
  };
  auto unary = [&](const std::string& op, const std::string& in) {
    const std::string out = fresh(op);
    AddNode(g, op, out, {in}, {out});
    return out;
  };
  for (int b = 0; b < blocks; ++b) {
    switch (pick(9)) {
      case 0: {  // Conv (+BN) (+activation)
        std::string v = conv(cur, 4, pick(2) ? 3 : 1, pick(2));
        if (pick(2)) {
          const std::string bn = fresh("bn");
          AddBnParams(g, bn, 4, seed * 100 + id);
          AddBn(g, bn, v, bn);
          v = bn;
        }
        const char* acts[] = {"Relu", "Sigmoid", "HardSwish", "Tanh", "Identity"};
        cur = unary(acts[pick(5)], v);
        break;
      }
      case 1: {  // Pad -> Conv 3x3 without own padding
        const std::string pads = fresh("pads");
        AddConst(g, pads, Tensor::FromVector<int64_t>({0, 0, 1, 1, 0, 0, 1, 1}, {8}));
        const std::string p = fresh("pad");
        AddNode(g, "Pad", p, {cur, pads}, {p});
        const std::string w = fresh("w");
        AddConst(g, w, Random({4, 4, 3, 3}, seed * 100 + id));
        cur = fresh("pconv");
        AddNode(g, "Conv", cur, {p, w}, {cur});
        break;
      }
      case 2: {  // residual: Conv + Add(earlier value) + Relu
        const std::string v = conv(cur, 4, 3, true);
        const std::string s = fresh("add");
        AddNode(g, "Add", s, {same_shape[static_cast<size_t>(pick(static_cast<int>(same_shape.size())))], v}, {s});
        cur = unary("Relu", s);
        break;
      }
      case 3: {  // SiLU or Erf GELU on a conv
        const std::string v = conv(cur, 4, 1, true);
        const std::string sg = unary("Sigmoid", v);
        cur = fresh("silu");
        AddNode(g, "Mul", cur, {v, sg}, {cur});
        break;
      }
      case 4: {  // sibling 1x1 convs -> Concat -> 1x1 conv back to 4 channels
        const std::string a = conv(cur, 3, 1, pick(2));
        const std::string c = conv(cur, 5, 1, true);
        const std::string cat = fresh("cat");
        AddNode(g, "Concat", cat, {a, c}, {cat}).attrs.Set("axis", int64_t{1});
        const std::string w = fresh("w");
        AddConst(g, w, Random({4, 8, 1, 1}, seed * 100 + id));
        cur = fresh("squeeze");
        AddNode(g, "Conv", cur, {cat, w}, {cur});
        break;
      }
      case 5: {  // transpose pair + Dropout + dead branch
        const std::string t1 = fresh("t");
        AddNode(g, "Transpose", t1, {cur}, {t1}).attrs.Set("perm", std::vector<int64_t>{0, 2, 3, 1});
        const std::string t2 = fresh("t");
        AddNode(g, "Transpose", t2, {t1}, {t2}).attrs.Set("perm", std::vector<int64_t>{0, 3, 1, 2});
        unary("Exp", t1);  // dead
        cur = unary("Dropout", t2);
        break;
      }
      case 6: {  // Conv -> per-channel Mul -> per-channel Add (a decomposed BatchNormalization)
        const std::string v = conv(cur, 4, 3, pick(2));
        const std::string sc = fresh("scale"), sh = fresh("shift");
        AddConst(g, sc, Random({1, 4, 1, 1}, seed * 100 + id, 0.5f, 1.5f));
        AddConst(g, sh, Random({4, 1, 1}, seed * 100 + id));
        const std::string m = fresh("mul"), a = fresh("add");
        AddNode(g, "Mul", m, {v, sc}, {m});
        AddNode(g, "Add", a, {sh, m}, {a});
        cur = a;
        break;
      }
      case 7: {  // scalar elementwise chain: tanh(x * 0.5 + 1) - 0.25
        const std::string half = fresh("half"), one = fresh("one"), q = fresh("q");
        AddConst(g, half, Tensor::Scalar<float>(0.5f));
        AddConst(g, one, Tensor::Scalar<float>(1.0f));
        AddConst(g, q, Tensor::Scalar<float>(0.25f));
        const std::string m = fresh("mul"), a = fresh("add"), s = fresh("sub");
        AddNode(g, "Mul", m, {cur, half}, {m});
        AddNode(g, "Add", a, {one, m}, {a});
        const std::string t = unary("Tanh", a);
        AddNode(g, "Sub", s, {t, q}, {s});
        cur = s;
        break;
      }
      default: {  // make the current value observable
        if (!IsGraphOutput(g, g.Find(cur))) AddOutput(g, cur);
        cur = unary("Abs", cur);
        break;
      }
    }
    same_shape.push_back(cur);
  }
  AddOutput(g, cur);
  return g;
}

TEST(PassPipeline, RandomNetworksUnchangedAndSmaller) {
  int total_before = 0, total_after = 0;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Graph g = RandomNetwork(seed, 8);
    Graph opt = Optimize(g, Pipeline);
    Graph inferred = g;
    ASSERT_TRUE(InferGraph(inferred, {}).ok());
    total_before += CountLiveNodes(inferred);
    total_after += CountLiveNodes(opt);
    EXPECT_LE(CountLiveNodes(opt), CountLiveNodes(inferred));
    // A second run finds nothing left to do.
    Graph twice = opt;
    StatusOr<OptimizeReport> again = OptimizeGraph(twice);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->nodes_after, again->nodes_before);
  }
  EXPECT_LT(total_after * 2, total_before);
}

// ---- pass manager ------------------------------------------------------------------------------

TEST(PassManager, ResidualBlockCountsPerPass) {
  // Pad -> Conv -> BN -> Relu -> Conv -> BN -> Add(x) -> Relu -> Identity, plus a dead branch.
  Graph g;
  AddInput(g, "x", {1, 4, 6, 6});
  AddConst(g, "pads", Tensor::FromVector<int64_t>({0, 0, 1, 1, 0, 0, 1, 1}, {8}));
  AddConst(g, "w1", Random({4, 4, 3, 3}, 141));
  AddConst(g, "w2", Random({4, 4, 3, 3}, 142));
  AddBnParams(g, "bn1", 4, 150);
  AddBnParams(g, "bn2", 4, 160);
  AddNode(g, "Pad", "pad", {"x", "pads"}, {"p"});
  AddNode(g, "Conv", "conv1", {"p", "w1"}, {"c1"});
  AddBn(g, "bn1", "c1", "n1");
  AddNode(g, "Relu", "relu1", {"n1"}, {"r1"});
  Node& c2 = AddNode(g, "Conv", "conv2", {"r1", "w2"}, {"c2"});
  c2.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  AddBn(g, "bn2", "c2", "n2");
  AddNode(g, "Add", "add", {"n2", "x"}, {"s"});
  AddNode(g, "Relu", "relu2", {"s"}, {"r2"});
  AddNode(g, "Identity", "out", {"r2"}, {"y"});
  AddNode(g, "Sigmoid", "unused", {"r2"}, {"dead"});
  AddOutput(g, "y");
  Graph opt = Optimize(g, Pipeline);
  EXPECT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv", "Conv"}));
  EXPECT_EQ(opt.nodes[1].name, "conv2+add+relu2");

  Graph again = g;
  ASSERT_TRUE(InferGraph(again, {}).ok());
  StatusOr<OptimizeReport> r = OptimizeGraph(again);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->nodes_before, 10);
  EXPECT_EQ(r->nodes_after, 2);
  auto count = [&](const std::string& name) {
    for (const PassCount& p : r->passes) {
      if (p.name == name) return p.rewrites;
    }
    return -1;
  };
  EXPECT_EQ(count("batchnorm-folding"), 2);
  EXPECT_EQ(count("pad-folding"), 1);
  EXPECT_EQ(count("identities"), 1);
  EXPECT_GE(count("dead-nodes"), 2);  // the Sigmoid and the Pad
  EXPECT_EQ(count("vertical-fusion"), 2);
  EXPECT_EQ(count("horizontal-fusion"), 0);
}

TEST(PassManager, VerifyNamesTheBrokenPass) {
  Graph g;
  AddInput(g, "x", {2, 3});
  AddNode(g, "Relu", "relu", {"x"}, {"y"});
  AddOutput(g, "y");
  ASSERT_TRUE(InferGraph(g, {}).ok());
  PassManager pm;
  pm.AddStage({{"breaker",
                [](Graph& graph) -> StatusOr<int> {
                  graph.values[graph.Find("y")].shape = {3, 2};
                  return 1;
                }}},
              false);
  Status s = pm.Run(g, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("after pass breaker"), std::string::npos) << s.message();
  EXPECT_EQ(s.subject(), "relu");
}

// ---- builder ------------------------------------------------------------------------------------

std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Random({static_cast<int64_t>(n)}, seed, lo, hi);
  return std::vector<float>(t.data<float>(), t.data<float>() + n);
}

TEST(PassBuilder, BuildNetworkOptimizesAndReports) {
  namespace tu = testing_util;
  tu::TempDir dir;
  onnx::ModelProto m = tu::NewModel(17);
  tu::AddInput(m, "x", onnx::TensorProto::FLOAT, {1, 2, 5, 5});
  tu::AddOutput(m, "y", onnx::TensorProto::FLOAT, {1, 3, 5, 5});
  tu::AddFloatInitializer(m, "w", {3, 2, 3, 3}, RandomVector(54, 501));
  tu::AddFloatInitializer(m, "gamma", {3}, RandomVector(3, 502, 0.5f, 1.5f));
  tu::AddFloatInitializer(m, "beta", {3}, RandomVector(3, 503));
  tu::AddFloatInitializer(m, "mean", {3}, RandomVector(3, 504));
  tu::AddFloatInitializer(m, "var", {3}, RandomVector(3, 505, 0.1f, 2.0f));
  onnx::NodeProto* conv = tu::AddNode(m, "Conv", {"x", "w"}, {"c"}, "conv");
  onnx::AttributeProto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int k = 0; k < 4; ++k) pads->add_ints(1);
  tu::AddNode(m, "BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"n"}, "bn");
  tu::AddNode(m, "Relu", {"n"}, {"r"}, "relu");
  tu::AddNode(m, "Identity", {"r"}, {"y"}, "out");
  const std::string path = tu::SaveModel(m, dir.File("model.onnx"));

  BuildReport report;
  StatusOr<NetworkDef> net = BuildNetwork(path, {}, &report);
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  EXPECT_EQ(report.model_nodes, 4);
  EXPECT_EQ(report.layers_unoptimized, 4);
  EXPECT_EQ(report.layers, 1);
  ASSERT_EQ(net->layers.size(), 1u);
  EXPECT_EQ(net->layers[0].name, "conv+relu");
  EXPECT_EQ(net->tensors[static_cast<size_t>(net->outputs[0])].name, "y");
  int bn = -1, vertical = -1;
  for (const BuildReport::Pass& p : report.passes) {
    if (p.name == "batchnorm-folding") bn = p.rewrites;
    if (p.name == "vertical-fusion") vertical = p.rewrites;
  }
  EXPECT_EQ(bn, 1);
  EXPECT_EQ(vertical, 1);

  BuildOptions plain;
  plain.optimize = false;
  BuildReport plain_report;
  StatusOr<NetworkDef> unopt = BuildNetwork(path, plain, &plain_report);
  ASSERT_TRUE(unopt.ok()) << unopt.status().ToString();
  EXPECT_EQ(unopt->layers.size(), 4u);
  EXPECT_EQ(plain_report.layers, 4);
  EXPECT_TRUE(plain_report.passes.empty());

  Tensor x = Random({1, 2, 5, 5}, 506);
  std::vector<Tensor> got, want;
  auto a = CpuEngine::Create(*net);
  auto b = CpuEngine::Create(*unopt);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Run({x}, &got).ok());
  ASSERT_TRUE((*b)->Run({x}, &want).ok());
  EXPECT_LE(RelL2(got[0], want[0]), 1e-5);

  // The path `edgert run` takes optimizes too.
  BuildReport run_report;
  StatusOr<NetworkDef> for_inputs = BuildNetworkForInputs(path, {x}, nullptr, &run_report);
  ASSERT_TRUE(for_inputs.ok()) << for_inputs.status().ToString();
  EXPECT_EQ(for_inputs->layers.size(), 1u);
  EXPECT_EQ(run_report.layers, 1);
  StatusOr<NetworkDef> for_inputs_plain = BuildNetworkForInputs(path, {x}, nullptr, nullptr, false);
  ASSERT_TRUE(for_inputs_plain.ok());
  EXPECT_EQ(for_inputs_plain->layers.size(), 4u);
}

TEST(PassBuilder, FusedLayersRoundTripThroughPlans) {
  // A residual Conv + Relu epilogue and an elementwise chain, serialised and loaded again.
  Graph g;
  AddInput(g, "x", {1, 3, 6, 6});
  AddConst(g, "w", Random({3, 3, 3, 3}, 601));
  AddConst(g, "half", Tensor::Scalar<float>(0.5f));
  AddConst(g, "one", Tensor::Scalar<float>(1.0f));
  Node& conv = AddNode(g, "Conv", "conv", {"x", "w"}, {"c"});
  conv.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  AddNode(g, "Add", "add", {"c", "x"}, {"s"});
  AddNode(g, "Relu", "relu", {"s"}, {"r"});
  AddNode(g, "Mul", "mul", {"r", "half"}, {"m"});
  AddNode(g, "Add", "add1", {"m", "one"}, {"a"});
  AddNode(g, "Tanh", "tanh", {"a"}, {"y"});
  AddOutput(g, "y");
  Graph opt = Optimize(g, Pipeline);
  ASSERT_EQ(LiveOps(opt), (std::vector<std::string>{"Conv", "EdgertFusedElementwise"}));
  StatusOr<NetworkDef> net = LowerGraph(opt);
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  PlanMetadata meta;
  meta.edgert_version = "test";
  meta.device = CpuDeviceKey();
  StatusOr<std::vector<uint8_t>> bytes = SerializePlan(*net, meta);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  StatusOr<LoadedPlan> plan = LoadedPlan::OpenBytes(bytes->data(), bytes->size());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->network().layers.size(), 2u);
  EXPECT_EQ(plan->network().layers[0].inputs.size(), 4u);
  auto from_plan = CpuEngine::Create(plan->network());
  auto direct = CpuEngine::Create(*net);
  ASSERT_TRUE(from_plan.ok() && direct.ok());
  Tensor x = Random({1, 3, 6, 6}, 602);
  std::vector<Tensor> got, want;
  ASSERT_TRUE((*from_plan)->Run({x}, &got).ok());
  ASSERT_TRUE((*direct)->Run({x}, &want).ok());
  EXPECT_EQ(RelL2(got[0], want[0]), 0.0);
}

}  // namespace
}  // namespace edgert
