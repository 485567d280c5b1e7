// Tests of the "nn" operator family through the reference CPU engine: hand-computed values for
// small tensors, random inputs against naive reference loops for the blocked/vectorised paths, and
// bad inputs whose errors must name the node and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "edgert/cpu_engine.h"
#include "edgert/network.h"
#include "edgert/op_def.h"
#include "op_test_util.h"

namespace edgert {
namespace {

constexpr const char* kNode = "nn0";

// One input of the node under test: a runtime input, a build-time constant, or absent.
using Arg = testing::OpArg;
Arg Var(Tensor t) { return {std::move(t), false}; }
Arg Const(Tensor t) { return {std::move(t), true}; }
Arg Absent() { return {}; }

Tensor F(const std::vector<float>& v, Shape shape) { return Tensor::FromVector<float>(v, std::move(shape)); }

Tensor Random(Shape shape, std::mt19937& rng) {
  Tensor t = *Tensor::Create(DataType::kFloat32, std::move(shape));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// Builds a one-layer network (support check and shape inference through the op's OpDef, as the
// builder does), runs it on the CPU engine and returns the outputs.
StatusOr<std::vector<Tensor>> RunOp(OpType op, const Attributes& attrs, const std::vector<Arg>& args,
                                    size_t num_outputs = 1, int opset = 17) {
  return testing::RunSingleOp(op, attrs, args, num_outputs, opset, kNode);
}

void ExpectNear(const Tensor& got, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(got.num_elements(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(got.data<float>()[i], want[i], tol * std::max(1.0f, std::fabs(want[i]))) << "element " << i;
  }
}

// Relative L2 error, the project's tolerance measure (NaN never passes).
void ExpectClose(const Tensor& got, const std::vector<float>& want, double tol = 1e-5) {
  ASSERT_EQ(got.num_elements(), static_cast<int64_t>(want.size()));
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got.data<float>()[i];
    ASSERT_FALSE(std::isnan(g)) << "element " << i;
    num += (g - want[i]) * (g - want[i]);
    den += static_cast<double>(want[i]) * want[i];
  }
  EXPECT_LE(std::sqrt(num / std::max(den, 1e-30)), tol);
}

// The error names the node and contains `what`.
void ExpectError(const StatusOr<std::vector<Tensor>>& r, const std::string& what) {
  ASSERT_FALSE(r.ok()) << "expected an error containing: " << what;
  const std::string msg = r.status().message();
  EXPECT_NE(msg.find("node 'nn0'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(what), std::string::npos) << msg;
  EXPECT_EQ(r.status().subject(), kNode);
}

Attributes Attrs(std::initializer_list<std::pair<const char*, AttrValue>> list) {
  Attributes a;
  for (const auto& kv : list) a.Set(kv.first, kv.second);
  return a;
}
using Ints = std::vector<int64_t>;

// Direct-loop 2-D convolution, the reference for the im2col/GEMM and depthwise paths.
std::vector<float> NaiveConv2D(const Tensor& x, const Tensor& w, const float* bias, int64_t group, Ints strides,
                               Ints pads, Ints dilations, int64_t oh, int64_t ow) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t m = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3), mg = m / group;
  std::vector<float> y(static_cast<size_t>(n * m * oh * ow));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < m; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t a = 0; a < kh; ++a)
              for (int64_t e = 0; e < kw; ++e) {
                const int64_t ih = i * strides[0] - pads[0] + a * dilations[0];
                const int64_t iw = j * strides[1] - pads[1] + e * dilations[1];
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                const int64_t ch = (o / mg) * cg + ci;
                acc += static_cast<double>(x.data<float>()[((b * c + ch) * h + ih) * wd + iw]) *
                       w.data<float>()[((o * cg + ci) * kh + a) * kw + e];
              }
          y[static_cast<size_t>(((b * m + o) * oh + i) * ow + j)] = static_cast<float>(acc);
        }
  return y;
}

// ---------------------------------------------------------------------------------------------
// Conv

TEST(OpsNnConv, Basic2DWithAndWithoutPadding) {
  Tensor x = F({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = F({1, 1, 1, 1}, {1, 1, 2, 2});
  auto r = RunOp(OpType::kConv, {}, {Var(x), Const(w)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 1, 2, 2}));
  ExpectNear((*r)[0], {12, 16, 24, 28});

  r = RunOp(OpType::kConv, Attrs({{"pads", Ints{1, 1, 0, 0}}}), {Var(x), Const(w), Const(F({0.5f}, {1}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 1, 3, 3}));
  // Row -1 and column -1 are padding.
  ExpectNear((*r)[0], {1.5f, 3.5f, 5.5f, 5.5f, 12.5f, 16.5f, 11.5f, 24.5f, 28.5f});
}

TEST(OpsNnConv, OneDimensionalStridesDilationsAutoPad) {
  Tensor x = F({1, 2, 3, 4, 5}, {1, 1, 5});
  Tensor w = F({1, 10}, {1, 1, 2});
  auto r = RunOp(OpType::kConv, Attrs({{"dilations", Ints{2}}}), {Var(x), Const(w)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {31, 42, 53});
  r = RunOp(OpType::kConv, Attrs({{"strides", Ints{2}}}), {Var(x), Const(w)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {21, 43});

  Tensor x4 = F({1, 2, 3, 4}, {1, 1, 4});
  // Total padding 1: SAME_UPPER puts it at the end, SAME_LOWER at the beginning.
  r = RunOp(OpType::kConv, Attrs({{"auto_pad", std::string("SAME_UPPER")}}), {Var(x4), Const(w)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {21, 32, 43, 4});
  r = RunOp(OpType::kConv, Attrs({{"auto_pad", std::string("SAME_LOWER")}}), {Var(x4), Const(w)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {10, 21, 32, 43});
  r = RunOp(OpType::kConv, Attrs({{"auto_pad", std::string("VALID")}, {"pads", Ints{5, 5}}}), {Var(x4), Const(w)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {21, 32, 43});
}

TEST(OpsNnConv, GroupsAndDepthwiseByHand) {
  // Two channels, depthwise: channel 0 is scaled by 2, channel 1 by -1, plus a per-channel bias.
  Tensor x = F({1, 2, 3, 4, 5, 6}, {1, 2, 3});
  Tensor w = F({2, -1}, {2, 1, 1});
  auto r = RunOp(OpType::kConv, Attrs({{"group", int64_t{2}}}), {Var(x), Const(w), Const(F({1, 100}, {2}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {3, 5, 7, 96, 95, 94});
  // Two groups of two input channels each, one output channel per group: sums within a group.
  Tensor x4 = F({1, 2, 10, 20, 100, 200, 1000, 2000}, {1, 4, 2});
  Tensor w4 = F({1, 1, 1, -1}, {2, 2, 1});
  r = RunOp(OpType::kConv, Attrs({{"group", int64_t{2}}}), {Var(x4), Const(w4)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {11, 22, -900, -1800});
}

TEST(OpsNnConv, RandomAgainstDirectLoops) {
  std::mt19937 rng(7);
  struct Case {
    int64_t c, m, group, h, w, k;
    Ints strides, pads, dilations;
  };
  const Case cases[] = {
      {3, 8, 1, 13, 11, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}},    // im2col + GEMM
      {8, 8, 8, 12, 12, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}},    // depthwise, strided
      {6, 6, 6, 9, 10, 3, {1, 1}, {2, 2, 2, 2}, {2, 2}},     // depthwise, dilated
      {8, 12, 4, 10, 9, 3, {2, 1}, {0, 1, 2, 0}, {1, 2}},    // grouped, asymmetric pads
      {16, 24, 1, 7, 9, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}},    // pointwise (no im2col)
      {300, 70, 1, 6, 5, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}},   // K > one GEMM block
      {2, 130, 1, 36, 33, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}},  // M and N over one block
  };
  for (const Case& cs : cases) {
    Tensor x = Random({2, cs.c, cs.h, cs.w}, rng);
    Tensor w = Random({cs.m, cs.c / cs.group, cs.k, cs.k}, rng);
    Tensor b = Random({cs.m}, rng);
    auto r =
        RunOp(OpType::kConv,
              Attrs({{"group", cs.group}, {"strides", cs.strides}, {"pads", cs.pads}, {"dilations", cs.dilations}}),
              {Var(x), Const(w), Const(b)});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const Tensor& y = (*r)[0];
    ExpectClose(y, NaiveConv2D(x, w, b.data<float>(), cs.group, cs.strides, {cs.pads[0], cs.pads[1]}, cs.dilations,
                               y.dim(2), y.dim(3)));
  }
}

TEST(OpsNnConv, ThreeDimensional) {
  // A 2x2x2 cube of ones convolved with itself: one output, the sum of the input.
  Tensor x = F({1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 2, 2, 2});
  Tensor w = F({1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 2, 2, 2});
  auto r = RunOp(OpType::kConv, {}, {Var(x), Const(w)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 1, 1, 1, 1}));
  ExpectNear((*r)[0], {36});
}

TEST(OpsNnConv, BadInputsNameTheNode) {
  Tensor x = F({1, 2, 3, 4}, {1, 2, 2});
  ExpectError(RunOp(OpType::kConv, {}, {Var(x), Const(F({1, 1, 1}, {1, 3, 1}))}), "channels");
  ExpectError(RunOp(OpType::kConv, Attrs({{"kernel_shape", Ints{3}}}), {Var(x), Const(F({1, 1}, {1, 2, 1}))}),
              "kernel_shape");
  ExpectError(RunOp(OpType::kConv, Attrs({{"pads", Ints{1}}}), {Var(x), Const(F({1, 1}, {1, 2, 1}))}), "'pads'");
  ExpectError(RunOp(OpType::kConv, Attrs({{"auto_pad", std::string("SAME")}}), {Var(x), Const(F({1, 1}, {1, 2, 1}))}),
              "auto_pad");
  ExpectError(RunOp(OpType::kConv, {}, {Var(x), Const(F({1, 1, 1, 1, 1, 1}, {1, 2, 3}))}), "exceeds");
  ExpectError(
      RunOp(OpType::kConv, Attrs({{"dilations", Ints{int64_t{1} << 40}}}), {Var(x), Const(F({1, 1, 1, 1}, {1, 2, 2}))}),
      "attribute 'dilations' [1099511627776] must lie in [1, 16777216]");
  Tensor xd = *Tensor::Create(DataType::kFloat64, {1, 1, 3});
  auto r = RunOp(OpType::kConv, {}, {Var(xd), Const(F({1}, {1, 1, 1}))});
  ExpectError(r, "float64 inputs are not supported");
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
}

TEST(OpsNnConv, DeclaredOutputShapeMismatchIsAnError) {
  // A network (e.g. from a corrupt plan) that declares a wrong output shape must not reach Run().
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, {1, 1, 4}, Tensor()});
  net.tensors.push_back({"w", DataType::kFloat32, {1, 1, 2}, F({1, 1}, {1, 1, 2})});
  net.tensors.push_back({"y", DataType::kFloat32, {1, 1, 4}, Tensor()});
  LayerDef layer;
  layer.name = kNode;
  layer.op = OpType::kConv;
  layer.opset = 17;
  layer.inputs = {0, 1};
  layer.outputs = {2};
  net.layers.push_back(layer);
  net.inputs = {0};
  net.outputs = {2};
  auto engine = CpuEngine::Create(net);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("node 'nn0': output 0 is declared float32 1x1x4 but the inputs give "
                                           "float32 1x1x3"),
            std::string::npos)
      << engine.status().message();
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose

TEST(OpsNnConvTranspose, OneDimensionalByHand) {
  Tensor x = F({1, 2, 3}, {1, 1, 3});
  Tensor w = F({1, 10}, {1, 1, 2});
  auto r = RunOp(OpType::kConvTranspose, Attrs({{"strides", Ints{2}}}), {Var(x), Const(w)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {1, 10, 2, 20, 3, 30});
  r = RunOp(OpType::kConvTranspose, Attrs({{"strides", Ints{2}}, {"pads", Ints{1, 1}}}), {Var(x), Const(w)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {10, 2, 20, 3});
  r = RunOp(OpType::kConvTranspose, Attrs({{"strides", Ints{2}}, {"output_padding", Ints{1}}}),
            {Var(x), Const(w), Const(F({0.5f}, {1}))});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {1.5f, 10.5f, 2.5f, 20.5f, 3.5f, 30.5f, 0.5f});
  r = RunOp(OpType::kConvTranspose, Attrs({{"strides", Ints{2}}, {"output_shape", Ints{7}}}), {Var(x), Const(w)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {1, 10, 2, 20, 3, 30, 0});
  r = RunOp(OpType::kConvTranspose, Attrs({{"dilations", Ints{2}}}), {Var(x), Const(w)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {1, 2, 13, 20, 30});
  // SAME_UPPER: output = input * stride = 6; total padding 0 here.
  r = RunOp(OpType::kConvTranspose, Attrs({{"strides", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}}),
            {Var(x), Const(w)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {1, 10, 2, 20, 3, 30});
}

TEST(OpsNnConvTranspose, OutputShapeGeneratesPads) {
  // Full output [1, 10, 2, 20, 3, 30]; output_shape 5 means a total padding of 1, placed at the
  // start by default (and for SAME_LOWER), at the end for SAME_UPPER.
  Tensor x = F({1, 2, 3}, {1, 1, 3});
  Tensor w = F({1, 10}, {1, 1, 2});
  auto r = RunOp(OpType::kConvTranspose, Attrs({{"strides", Ints{2}}, {"output_shape", Ints{5}}}), {Var(x), Const(w)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {10, 2, 20, 3, 30});
  r = RunOp(OpType::kConvTranspose,
            Attrs({{"strides", Ints{2}}, {"output_shape", Ints{5}}, {"auto_pad", std::string("SAME_UPPER")}}),
            {Var(x), Const(w)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {1, 10, 2, 20, 3});
  // output_shape may carry N and C too; a larger one appends bias-only elements.
  r = RunOp(OpType::kConvTranspose, Attrs({{"strides", Ints{2}}, {"output_shape", Ints{1, 1, 8}}}),
            {Var(x), Const(w), Const(F({-1}, {1}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {0, 9, 1, 19, 2, 29, -1, -1});
  // SAME_UPPER with stride 3 and a 2-tap kernel: in * stride (9) exceeds the full output (8); the
  // output keeps the full extent.
  r = RunOp(OpType::kConvTranspose, Attrs({{"strides", Ints{3}}, {"auto_pad", std::string("SAME_UPPER")}}),
            {Var(x), Const(w)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {1, 10, 0, 2, 20, 0, 3, 30});
}

TEST(OpsNnConvTranspose, GroupsByHand) {
  // Two groups of one channel; group 0 doubles, group 1 copies into two output channels.
  Tensor x = F({1, 2, 3, 4}, {1, 2, 2});
  Tensor w = F({2, 0, 1, -1}, {2, 2, 1});
  auto r = RunOp(OpType::kConvTranspose, Attrs({{"group", int64_t{2}}}), {Var(x), Const(w)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 4, 2}));
  ExpectNear((*r)[0], {2, 4, 0, 0, 3, 4, -3, -4});
}

TEST(OpsNnConvTranspose, RandomAgainstScatterLoops) {
  std::mt19937 rng(11);
  const int64_t c = 4, mg = 3, group = 2, h = 5, wd = 6, k = 3;
  const Ints strides = {2, 3}, pads = {1, 0, 0, 2}, dil = {1, 2}, out_pad = {1, 1};
  Tensor x = Random({2, c, h, wd}, rng);
  Tensor w = Random({c, mg, k, k}, rng);
  auto r = RunOp(
      OpType::kConvTranspose,
      Attrs({{"group", group}, {"strides", strides}, {"pads", pads}, {"dilations", dil}, {"output_padding", out_pad}}),
      {Var(x), Const(w)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const int64_t oh = strides[0] * (h - 1) + out_pad[0] + (k - 1) * dil[0] + 1 - pads[0] - pads[2];
  const int64_t ow = strides[1] * (wd - 1) + out_pad[1] + (k - 1) * dil[1] + 1 - pads[1] - pads[3];
  ASSERT_EQ((*r)[0].shape(), (Shape{2, mg * group, oh, ow}));
  std::vector<float> want(static_cast<size_t>(2 * mg * group * oh * ow), 0.0f);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < wd; ++j)
          for (int64_t mo = 0; mo < mg; ++mo)
            for (int64_t a = 0; a < k; ++a)
              for (int64_t e = 0; e < k; ++e) {
                const int64_t y0 = i * strides[0] - pads[0] + a * dil[0];
                const int64_t y1 = j * strides[1] - pads[1] + e * dil[1];
                if (y0 < 0 || y0 >= oh || y1 < 0 || y1 >= ow) continue;
                const int64_t oc = (ci / (c / group)) * mg + mo;
                want[static_cast<size_t>(((b * mg * group + oc) * oh + y0) * ow + y1)] +=
                    x.data<float>()[((b * c + ci) * h + i) * wd + j] *
                    w.data<float>()[((ci * mg + mo) * k + a) * k + e];
              }
  ExpectClose((*r)[0], want);
}

TEST(OpsNnConvTranspose, BadInputsNameTheNode) {
  Tensor x = F({1, 2, 3}, {1, 1, 3});
  ExpectError(RunOp(OpType::kConvTranspose, {}, {Var(x), Const(F({1, 1}, {2, 1, 1}))}), "channels");
  ExpectError(
      RunOp(OpType::kConvTranspose, Attrs({{"output_padding", Ints{1, 1}}}), {Var(x), Const(F({1}, {1, 1, 1}))}),
      "'output_padding' has 2 values");
  ExpectError(RunOp(OpType::kConvTranspose, Attrs({{"pads", Ints{3, 3}}}), {Var(x), Const(F({1}, {1, 1, 1}))}),
              "would be");
  ExpectError(RunOp(OpType::kConvTranspose, Attrs({{"strides", Ints{-2}}}), {Var(x), Const(F({1}, {1, 1, 1}))}),
              "attribute 'strides' [-2] must lie in");
}

// ---------------------------------------------------------------------------------------------
// Normalisation

TEST(OpsNnBatchNormalization, InferenceByHand) {
  // Channel 0: (x - 1) / sqrt(3 + 1) * 2 + 0.5; channel 1: (x - 0) / sqrt(0 + 1) * 1 - 1.
  Tensor x = F({1, 3, 5, 7, 2, 4, 6, 8}, {2, 2, 2});
  auto r =
      RunOp(OpType::kBatchNormalization, Attrs({{"epsilon", 1.0f}}),
            {Var(x), Const(F({2, 1}, {2})), Const(F({0.5f, -1}, {2})), Const(F({1, 0}, {2})), Const(F({3, 0}, {2}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {0.5f, 2.5f, 4, 6, 1.5f, 3.5f, 5, 7});
}

TEST(OpsNnBatchNormalization, BadInputsNameTheNode) {
  Tensor x = F({1, 2, 3, 4}, {1, 2, 2});
  Tensor p = F({1, 1}, {2});
  ExpectError(RunOp(OpType::kBatchNormalization, Attrs({{"training_mode", int64_t{1}}}),
                    {Var(x), Const(p), Const(p), Const(p), Const(p)}),
              "training_mode");
  ExpectError(RunOp(OpType::kBatchNormalization, {}, {Var(x), Const(p), Const(p), Const(p), Const(F({1, 1, 1}, {3}))}),
              "input 'input_var' has shape 3");
}

TEST(OpsNnInstanceNormalization, PerPlaneStatistics) {
  // Plane (0,0) = [1, 3]: mean 2, variance 1. Plane (0,1) = [0, 4]: mean 2, variance 4.
  Tensor x = F({1, 3, 0, 4}, {1, 2, 2});
  auto r = RunOp(OpType::kInstanceNormalization, Attrs({{"epsilon", 0.0f}}),
                 {Var(x), Const(F({2, 1}, {2})), Const(F({0, 10}, {2}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {-2, 2, 9, 11});
  ExpectError(RunOp(OpType::kInstanceNormalization, {}, {Var(x), Const(F({1}, {1})), Const(F({0, 0}, {2}))}),
              "input 'scale' has shape 1");
}

TEST(OpsNnLayerNormalization, AxisBiasAndStatistics) {
  // Rows [1, 3] and [0, 4] normalised over the last axis (epsilon 0): [-1, 1] and [-1, 1].
  Tensor x = F({1, 3, 0, 4}, {2, 2});
  auto r = RunOp(OpType::kLayerNormalization, Attrs({{"epsilon", 0.0f}}),
                 {Var(x), Const(F({1, 2}, {2})), Const(F({0, 1}, {2}))}, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {-1, 3, -1, 3});
  EXPECT_EQ((*r)[1].shape(), (Shape{2, 1}));
  ExpectNear((*r)[1], {2, 2});
  ExpectNear((*r)[2], {1, 0.5f});
  // axis 0: all four values together (mean 2, variance 2.5), the bias input left empty.
  r = RunOp(OpType::kLayerNormalization, Attrs({{"epsilon", 0.0f}, {"axis", int64_t{0}}}),
            {Var(x), Const(F({1, 1, 1, 1}, {2, 2})), Absent()});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const float s = 1.0f / std::sqrt(2.5f);
  ExpectNear((*r)[0], {-s, s, -2 * s, 2 * s});
  // Scale broadcast over the normalized shape [2, 2]: one scale per row of it.
  r = RunOp(OpType::kLayerNormalization, Attrs({{"epsilon", 0.0f}, {"axis", int64_t{-2}}}),
            {Var(x), Const(F({1, 10}, {2, 1}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {-s, s, -20 * s, 20 * s});
}

TEST(OpsNnLayerNormalization, BadInputsNameTheNode) {
  Tensor x = F({1, 3, 0, 4}, {2, 2});
  ExpectError(RunOp(OpType::kLayerNormalization, {}, {Var(x), Const(F({1, 2, 3}, {3}))}), "input 'Scale'");
  ExpectError(RunOp(OpType::kLayerNormalization, Attrs({{"axis", int64_t{2}}}), {Var(x), Const(F({1, 2}, {2}))}),
              "axis");
}

// ---------------------------------------------------------------------------------------------
// Pooling

TEST(OpsNnMaxPool, ValuesAndIndices) {
  Tensor x = F({1, 9, 2, 8, 3, 7, 4, 6, 5}, {1, 1, 3, 3});
  auto r = RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2, 2}}}), {Var(x)}, 2, 12);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {9, 9, 8, 7});
  ASSERT_EQ((*r)[1].dtype(), DataType::kInt64);
  EXPECT_EQ((*r)[1].data<int64_t>()[0], 1);
  EXPECT_EQ((*r)[1].data<int64_t>()[1], 1);
  EXPECT_EQ((*r)[1].data<int64_t>()[2], 3);
  EXPECT_EQ((*r)[1].data<int64_t>()[3], 5);
  // Column-major indices: element (h, w) has index w * 3 + h.
  r = RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2, 2}}, {"storage_order", int64_t{1}}}), {Var(x)}, 2, 12);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[1].data<int64_t>()[0], 3);
  EXPECT_EQ((*r)[1].data<int64_t>()[2], 1);
  EXPECT_EQ((*r)[1].data<int64_t>()[3], 7);
}

TEST(OpsNnMaxPool, PadsCeilModeDilationsBatchIndices) {
  Tensor x = F({1, 2, 3, 4, 5, -1, -2, -3, -4, -5}, {1, 2, 5});
  // Padding never wins, even against negative values.
  auto r = RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2}}, {"strides", Ints{2}}, {"pads", Ints{1, 0}}}),
                 {Var(x)}, 2, 12);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {1, 3, 5, -1, -2, -4});
  EXPECT_EQ((*r)[1].data<int64_t>()[3], 5);  // flat index across the channel dimension
  r = RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2}}, {"strides", Ints{2}}, {"ceil_mode", int64_t{1}}}),
            {Var(x)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {2, 4, 5, -1, -3, -5});
  r = RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2}}, {"dilations", Ints{3}}}), {Var(x)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {4, 5, -1, -2});
  r = RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_LOWER")}}), {Var(x)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {1, 2, 3, 4, 5, -1, -1, -2, -3, -4});
}

TEST(OpsNnMaxPool, Uint8) {
  Tensor x = Tensor::FromVector<uint8_t>({10, 200, 30, 40}, {1, 1, 4});
  auto r = RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2}}}), {Var(x)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ((*r)[0].dtype(), DataType::kUInt8);
  EXPECT_EQ((*r)[0].data<uint8_t>()[0], 200);
  EXPECT_EQ((*r)[0].data<uint8_t>()[1], 200);
  EXPECT_EQ((*r)[0].data<uint8_t>()[2], 40);
}

TEST(OpsNnMaxPool, BadInputsNameTheNode) {
  Tensor x = F({1, 2, 3, 4}, {1, 1, 4});
  ExpectError(RunOp(OpType::kMaxPool, {}, {Var(x)}), "kernel_shape");
  ExpectError(RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2}}, {"pads", Ints{2, 0}}}), {Var(x)}),
              "smaller than kernel_shape");
  ExpectError(RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2}}, {"strides", Ints{0}}}), {Var(x)}), "'strides'");
  ExpectError(RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2, 2}}}), {Var(x)}), "kernel has 2 dimensions");
  ExpectError(RunOp(OpType::kMaxPool, Attrs({{"kernel_shape", Ints{2}}}), {Var(F({1, 2}, {2}))}), "expected N x C");
}

TEST(OpsNnAveragePool, CountIncludePadCeilModeDilations) {
  Tensor x = F({1, 2, 3, 4, 5, 6}, {1, 1, 6});
  // Windows start at -1, 1, 3, 5; the first and last overlap the padding.
  auto r = RunOp(OpType::kAveragePool, Attrs({{"kernel_shape", Ints{3}}, {"strides", Ints{2}}, {"pads", Ints{1, 2}}}),
                 {Var(x)}, 1, 19);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {1.5f, 3, 5, 6});
  r = RunOp(
      OpType::kAveragePool,
      Attrs({{"kernel_shape", Ints{3}}, {"strides", Ints{2}}, {"pads", Ints{1, 2}}, {"count_include_pad", int64_t{1}}}),
      {Var(x)}, 1, 19);
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {1, 3, 5, 2});
  r = RunOp(OpType::kAveragePool, Attrs({{"kernel_shape", Ints{4}}, {"strides", Ints{4}}, {"ceil_mode", int64_t{1}}}),
            {Var(x)}, 1, 19);
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {2.5f, 5.5f});
  r = RunOp(OpType::kAveragePool, Attrs({{"kernel_shape", Ints{2}}, {"dilations", Ints{3}}}), {Var(x)}, 1, 19);
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {2.5f, 3.5f, 4.5f});
  r = RunOp(OpType::kAveragePool, Attrs({{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}}), {Var(x)},
            1, 19);
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6});
}

TEST(OpsNnAveragePool, TwoDimensionalAndBadInput) {
  Tensor x = F({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {1, 1, 3, 4});
  auto r = RunOp(OpType::kAveragePool, Attrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{1, 2}}}), {Var(x)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 1, 2, 2}));
  ExpectNear((*r)[0], {3.5f, 5.5f, 7.5f, 9.5f});
  ExpectError(
      RunOp(OpType::kAveragePool, Attrs({{"kernel_shape", Ints{2, 2}}, {"count_include_pad", int64_t{2}}}), {Var(x)}),
      "count_include_pad");
  ExpectError(RunOp(OpType::kAveragePool, Attrs({{"kernel_shape", Ints{5, 1}}}), {Var(x)}), "exceeds");
}

TEST(OpsNnGlobalPool, AverageAndMax) {
  Tensor x = F({1, 2, 3, 4, -1, -2, -3, -8}, {1, 2, 2, 2});
  auto r = RunOp(OpType::kGlobalAveragePool, {}, {Var(x)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 2, 1, 1}));
  ExpectNear((*r)[0], {2.5f, -3.5f});
  r = RunOp(OpType::kGlobalMaxPool, {}, {Var(x)});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {4, -1});
  ExpectError(RunOp(OpType::kGlobalAveragePool, {}, {Var(F({1, 2}, {1, 2}))}), "rank >= 3");
}

// ---------------------------------------------------------------------------------------------
// Gemm, MatMul

TEST(OpsNnGemm, AttributesAndBroadcastBias) {
  Tensor a = F({1, 2, 3, 4}, {2, 2});
  Tensor b = F({5, 6, 7, 8}, {2, 2});
  auto r = RunOp(OpType::kGemm, {}, {Var(a), Const(b)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {19, 22, 43, 50});
  // alpha 2, beta 0.5, transA, transB, C a row vector: 2 * A^T B^T + 0.5 * [10, 20].
  r = RunOp(OpType::kGemm, Attrs({{"alpha", 2.0f}, {"beta", 0.5f}, {"transA", int64_t{1}}, {"transB", int64_t{1}}}),
            {Var(a), Const(b), Const(F({10, 20}, {2}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {2 * 23 + 5, 2 * 31 + 10, 2 * 34 + 5, 2 * 46 + 10});
  // C a column [2, 1] and a scalar.
  r = RunOp(OpType::kGemm, {}, {Var(a), Const(b), Const(F({1, 2}, {2, 1}))});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {20, 23, 45, 52});
  r = RunOp(OpType::kGemm, {}, {Var(a), Const(b), Const(Tensor::Scalar<float>(1))});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {20, 23, 44, 51});
}

TEST(OpsNnGemm, RandomLargeAgainstNaive) {
  std::mt19937 rng(3);
  const int64_t m = 70, k = 300, n = 1100;
  Tensor a = Random({m, k}, rng);
  Tensor b = Random({n, k}, rng);
  Tensor c = Random({n}, rng);
  auto r = RunOp(OpType::kGemm, Attrs({{"transB", int64_t{1}}, {"beta", 0.25f}}), {Var(a), Const(b), Const(c)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<float> want(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.25 * c.data<float>()[j];
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<double>(a.data<float>()[i * k + p]) * b.data<float>()[j * k + p];
      want[static_cast<size_t>(i * n + j)] = static_cast<float>(acc);
    }
  ExpectClose((*r)[0], want);
}

TEST(OpsNnGemm, BadInputsNameTheNode) {
  ExpectError(RunOp(OpType::kGemm, {}, {Var(F({1, 2, 3}, {1, 3})), Const(F({1, 2}, {2, 1}))}), "inner dimensions");
  ExpectError(RunOp(OpType::kGemm, {}, {Var(F({1, 2}, {1, 2})), Const(F({1, 2}, {2, 1})), Const(F({1, 2, 3}, {3}))}),
              "input C");
  ExpectError(RunOp(OpType::kGemm, {}, {Var(F({1, 2}, {2})), Const(F({1, 2}, {2, 1}))}), "input A");
}

TEST(OpsNnMatMul, BatchedBroadcastAndVectors) {
  // [2, 1, 2] x [2, 2] -> [2, 1, 2].
  Tensor a = F({1, 2, 3, 4}, {2, 1, 2});
  Tensor b = F({1, 10, 100, 1000}, {2, 2});
  auto r = RunOp(OpType::kMatMul, {}, {Var(a), Const(b)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 1, 2}));
  ExpectNear((*r)[0], {201, 2010, 403, 4030});
  // Vector x matrix and matrix x vector drop the unit dimension.
  r = RunOp(OpType::kMatMul, {}, {Var(F({1, 2}, {2})), Const(b)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].shape(), (Shape{2}));
  ExpectNear((*r)[0], {201, 2010});
  r = RunOp(OpType::kMatMul, {}, {Var(b), Const(F({1, 2}, {2}))});
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {21, 2100});
  r = RunOp(OpType::kMatMul, {}, {Var(F({1, 2}, {2})), Var(F({3, 4}, {2}))});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].shape(), (Shape{}));
  ExpectNear((*r)[0], {11});
  // Batch broadcast both ways: [2, 1, 1, 2] x [3, 2, 1] -> [2, 3, 1, 1].
  Tensor bb = F({1, 1, 1, -1, 2, 0}, {3, 2, 1});
  r = RunOp(OpType::kMatMul, {}, {Var(*a.Reshaped({2, 1, 1, 2})), Var(bb)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 3, 1, 1}));
  ExpectNear((*r)[0], {3, -1, 2, 7, -1, 6});
}

TEST(OpsNnMatMul, BadInputsNameTheNode) {
  ExpectError(RunOp(OpType::kMatMul, {}, {Var(F({1, 2, 3}, {1, 3})), Var(F({1, 2}, {2, 1}))}), "inner dimensions");
  ExpectError(RunOp(OpType::kMatMul, {}, {Var(F({1, 2, 3, 4}, {2, 1, 2})), Var(F({1, 2, 3, 4, 5, 6}, {3, 2, 1}))}),
              "cannot be broadcast");
}

// ---------------------------------------------------------------------------------------------
// Softmax, LogSoftmax

TEST(OpsNnSoftmax, LastAxisAndLog) {
  Tensor x = F({0, std::log(2.0f), std::log(3.0f), 1000, 1000, 1000}, {2, 3});
  auto r = RunOp(OpType::kSoftmax, {}, {Var(x)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {1.0f / 6, 2.0f / 6, 3.0f / 6, 1.0f / 3, 1.0f / 3, 1.0f / 3});
  r = RunOp(OpType::kLogSoftmax, {}, {Var(x)});
  ASSERT_TRUE(r.ok());
  const float l6 = std::log(6.0f), l3 = std::log(3.0f);
  ExpectNear((*r)[0], {-l6, std::log(2.0f) - l6, l3 - l6, -l3, -l3, -l3});
}

TEST(OpsNnSoftmax, InnerAxisAndLegacyCoercion) {
  Tensor x = F({0, 0, std::log(3.0f), 0}, {2, 2});
  // opset 13, axis 0: each column separately.
  auto r = RunOp(OpType::kSoftmax, Attrs({{"axis", int64_t{0}}}), {Var(x)}, 1, 13);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], {0.25f, 0.5f, 0.75f, 0.5f});
  // opset 11, axis 0: the whole tensor is one row.
  r = RunOp(OpType::kSoftmax, Attrs({{"axis", int64_t{0}}}), {Var(x)}, 1, 11);
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {1.0f / 6, 1.0f / 6, 3.0f / 6, 1.0f / 6});
  // opset 11 default axis 1 on [1, 2, 2]: coerced to [1, 4].
  r = RunOp(OpType::kLogSoftmax, {}, {Var(*x.Reshaped({1, 2, 2}))}, 1, 11);
  ASSERT_TRUE(r.ok());
  const float l6 = std::log(6.0f);
  ExpectNear((*r)[0], {-l6, -l6, std::log(3.0f) - l6, -l6});
  // opset 13 default axis -1 on [1, 2, 2]: rows of two.
  r = RunOp(OpType::kLogSoftmax, {}, {Var(*x.Reshaped({1, 2, 2}))}, 1, 13);
  ASSERT_TRUE(r.ok());
  ExpectNear((*r)[0], {-std::log(2.0f), -std::log(2.0f), std::log(0.75f), std::log(0.25f)});
}

TEST(OpsNnSoftmax, BadInputsNameTheNode) {
  ExpectError(RunOp(OpType::kSoftmax, Attrs({{"axis", int64_t{2}}}), {Var(F({1, 2}, {1, 2}))}), "out of range");
  ExpectError(RunOp(OpType::kLogSoftmax, Attrs({{"axis", std::string("x")}}), {Var(F({1, 2}, {1, 2}))}),
              "attribute 'axis'");
  Tensor xi = Tensor::FromVector<int32_t>({1, 2}, {2});
  ExpectError(RunOp(OpType::kSoftmax, {}, {Var(xi)}), "int32 inputs are not supported");
}

}  // namespace
}  // namespace edgert
