// Conv and ConvTranspose on the CUDA engine against the CPU reference (FP32 and FP16, rel-L2
// tolerances of gpu_test_util.h): kernel sizes 1/3/7, strides, symmetric and asymmetric pads,
// auto_pad, dilations, groups and depthwise, 1-D/2-D/3-D, with and without bias, every fused
// activation (edgert/fused_activation.h) with and without a residual 4th input, CUDA-graph replay;
// ConvTranspose with strides, pads, output_padding, output_shape, auto_pad, dilations and groups.
// Whichever path a layer takes (fused cuDNN plan, cuDNN + epilogue, depthwise kernel, direct
// kernel) must match. Tactics: ConvHarness (a ConvLayerHarness of conv_gpu_test_util.h) creates the
// Conv kernel directly (CreateConvKernel with a hand-built CudaOpContext and cudaMalloc'ed tensors)
// to force each candidate of ConvCandidatePaths by index (ctx.tactic) and to run the timed
// selection (ctx.select_tactics).
#include <cstdio>
#include <string>
#include <vector>

#include "conv_gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

using ConvCase = ConvLayerCase;

void ExpectConv(const ConvCase& c, const Shape& y_shape, uint32_t seed = 1) {
  ExpectOpMatches(OpType::kConv, c.attrs, ConvLayerArgs(c, y_shape, seed));
}

TEST(ConvGpu, Conv3x3Pad1WithBias) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectConv({{2, 8, 10, 12}, {16, 8, 3, 3}, true, false, Conv2dAttrs({1, 1, 1, 1})}, {2, 16, 10, 12});
}

TEST(ConvGpu, Conv1x1NoBias) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectConv({{1, 16, 7, 9}, {8, 16, 1, 1}, false, false, Attributes{}}, {1, 8, 7, 9});
}

TEST(ConvGpu, Conv7x7Stride2Pad3) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectConv({{1, 3, 23, 23}, {8, 3, 7, 7}, true, false, Conv2dAttrs({3, 3, 3, 3}, {2, 2})}, {1, 8, 12, 12});
}

TEST(ConvGpu, AsymmetricPadsAndStrides) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // H: (9 + 0 + 2 - 3) / 1 + 1 = 9; W: (11 + 1 + 1 - 3) / 2 + 1 = 6.
  ExpectConv({{1, 4, 9, 11}, {6, 4, 3, 3}, true, false, Conv2dAttrs({0, 1, 2, 1}, {1, 2})}, {1, 6, 9, 6});
}

TEST(ConvGpu, AutoPadSameUpperAndLower) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER"}) {
    SCOPED_TRACE(mode);
    Attributes a;
    a.Set("auto_pad", std::string(mode));
    a.Set("strides", Ints{2, 2});
    ExpectConv({{1, 5, 10, 9}, {7, 5, 4, 4}, true, false, a}, {1, 7, 5, 5});
  }
}

TEST(ConvGpu, AutoPadValid) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes a;
  a.Set("auto_pad", std::string("VALID"));
  ExpectConv({{1, 3, 8, 8}, {4, 3, 3, 3}, false, false, a}, {1, 4, 6, 6});
}

TEST(ConvGpu, Dilation2) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectConv({{1, 6, 13, 13}, {8, 6, 3, 3}, true, false, Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {2, 2})}, {1, 8, 13, 13});
  // Dilation and stride together, different per axis.
  ExpectConv({{1, 4, 15, 12}, {5, 4, 3, 2}, true, false, Conv2dAttrs({1, 0, 1, 0}, {2, 1}, {3, 2})}, {1, 5, 6, 10}, 7);
}

TEST(ConvGpu, Groups) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectConv({{2, 8, 9, 9}, {12, 2, 3, 3}, true, false, Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 4)}, {2, 12, 9, 9});
}

TEST(ConvGpu, Depthwise) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectConv({{1, 16, 10, 10}, {16, 1, 3, 3}, true, false, Conv2dAttrs({1, 1, 1, 1}, {2, 2}, {1, 1}, 16)},
             {1, 16, 5, 5});
  // Channel multiplier 2 (two outputs per input channel).
  ExpectConv({{1, 8, 7, 7}, {16, 1, 5, 5}, false, false, Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {1, 1}, 8)}, {1, 16, 7, 7},
             3);
}

TEST(ConvGpu, Conv1D) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes a;
  a.Set("pads", Ints{2, 1});
  a.Set("strides", Ints{2});
  // (20 + 3 - 5) / 2 + 1 = 10.
  ExpectConv({{2, 6, 20}, {4, 6, 5}, true, false, a}, {2, 4, 10});
  Attributes dw;
  dw.Set("group", int64_t{6});
  dw.Set("dilations", Ints{2});
  ExpectConv({{1, 6, 16}, {6, 1, 3}, false, false, dw}, {1, 6, 12}, 5);
}

TEST(ConvGpu, Conv3D) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes a;
  a.Set("pads", Ints{1, 1, 1, 1, 1, 1});
  a.Set("strides", Ints{1, 2, 1});
  ExpectConv({{1, 4, 6, 7, 8}, {6, 4, 3, 3, 3}, true, false, a}, {1, 6, 6, 4, 8});
}

TEST(ConvGpu, FusedActivationsWithBias) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const ActCase& act : kActivations) {
    SCOPED_TRACE(act.name);
    ExpectConv({{1, 8, 9, 9}, {16, 8, 3, 3}, true, false, WithActivation(Conv2dAttrs({1, 1, 1, 1}), act)},
               {1, 16, 9, 9});
  }
}

TEST(ConvGpu, FusedActivationsWithResidual) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const ActCase& act : kActivations) {
    SCOPED_TRACE(act.name);
    ExpectConv({{2, 8, 6, 6}, {8, 8, 1, 1}, true, true, WithActivation(Attributes{}, act)}, {2, 8, 6, 6});
  }
}

TEST(ConvGpu, ResidualWithoutActivationOrBias) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectConv({{1, 8, 8, 8}, {8, 8, 3, 3}, true, true, Conv2dAttrs({1, 1, 1, 1})}, {1, 8, 8, 8});
  ExpectConv({{1, 8, 8, 8}, {8, 8, 3, 3}, false, true, Conv2dAttrs({1, 1, 1, 1})}, {1, 8, 8, 8}, 9);
}

TEST(ConvGpu, FusedActivationWithoutBias) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectConv({{1, 8, 8, 8}, {8, 8, 3, 3}, false, false, WithActivation(Conv2dAttrs({1, 1, 1, 1}), kActivations[0])},
             {1, 8, 8, 8});
}

TEST(ConvGpu, FusedOnDepthwise1DAnd3D) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectConv({{1, 16, 10, 10},
              {16, 1, 3, 3},
              true,
              true,
              WithActivation(Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 16), kActivations[1])},
             {1, 16, 10, 10});
  Attributes a1;
  a1.Set("pads", Ints{1, 1});
  ExpectConv({{2, 6, 12}, {8, 6, 3}, true, true, WithActivation(a1, kActivations[4])}, {2, 8, 12}, 4);
  Attributes a3;
  a3.Set("pads", Ints{0, 1, 1, 0, 1, 1});
  ExpectConv({{1, 4, 4, 5, 6}, {4, 4, 1, 3, 3}, true, false, WithActivation(a3, kActivations[6])}, {1, 4, 4, 5, 6}, 6);
}

TEST(ConvGpu, CudaGraphReplay) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const ConvCase c{{1, 8, 9, 9}, {16, 8, 3, 3}, true, true, WithActivation(Conv2dAttrs({1, 1, 1, 1}), kActivations[0])};
  StatusOr<SingleOpNetwork> single =
      BuildSingleOp(OpType::kConv, c.attrs, ConvLayerArgs(c, {1, 16, 9, 9}, 11), 1, 17, "op");
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    ExpectCudaMatchesCpu(single->net, single->feeds, p, -1, /*cuda_graphs=*/true);
  }
}

// --- ConvTranspose ---------------------------------------------------------------------------

std::vector<OpArg> ConvTransposeArgs(const Shape& x, const Shape& w, bool bias, int64_t m, uint32_t seed) {
  std::vector<OpArg> args;
  args.push_back(OpArg{Rand(x, seed), false});
  args.push_back(OpArg{Rand(w, seed + 1), true});
  if (bias) args.push_back(OpArg{Rand({m}, seed + 2), true});
  return args;
}

void ExpectConvTranspose(const Shape& x, const Shape& w, int64_t group, bool bias, const Attributes& attrs,
                         uint32_t seed = 1) {
  ExpectOpMatches(OpType::kConvTranspose, attrs, ConvTransposeArgs(x, w, bias, w[1] * group, seed));
}

TEST(ConvTransposeGpu, Stride2Pads1OutputPadding1) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes a;
  a.Set("strides", Ints{2, 2});
  a.Set("pads", Ints{1, 1, 1, 1});
  a.Set("output_padding", Ints{1, 1});
  ExpectConvTranspose({1, 8, 5, 6}, {8, 4, 3, 3}, 1, true, a);
}

TEST(ConvTransposeGpu, NoPadsNoBias) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes a;
  a.Set("strides", Ints{2, 2});
  ExpectConvTranspose({2, 6, 4, 4}, {6, 5, 2, 2}, 1, false, a);
}

TEST(ConvTransposeGpu, AsymmetricPadsAndDilation) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes a;
  a.Set("strides", Ints{3, 2});
  a.Set("pads", Ints{0, 2, 1, 0});
  a.Set("dilations", Ints{1, 2});
  a.Set("output_padding", Ints{2, 0});
  ExpectConvTranspose({1, 4, 5, 5}, {4, 3, 3, 3}, 1, true, a);
}

TEST(ConvTransposeGpu, Groups) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes a;
  a.Set("strides", Ints{2, 2});
  a.Set("pads", Ints{1, 1, 1, 1});
  a.Set("group", int64_t{2});
  ExpectConvTranspose({1, 8, 6, 6}, {8, 3, 4, 4}, 2, true, a);
  Attributes dw;
  dw.Set("strides", Ints{2, 2});
  dw.Set("group", int64_t{8});
  ExpectConvTranspose({1, 8, 5, 5}, {8, 1, 3, 3}, 8, true, dw, 4);
}

TEST(ConvTransposeGpu, OutputShapeAndAutoPad) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes os;
  os.Set("strides", Ints{2, 2});
  os.Set("output_shape", Ints{10, 11});
  ExpectConvTranspose({1, 4, 5, 5}, {4, 6, 3, 3}, 1, true, os);
  // output_shape beyond the full extent: bias-only elements at the end.
  Attributes big;
  big.Set("strides", Ints{2, 2});
  big.Set("output_shape", Ints{14, 12});
  ExpectConvTranspose({1, 4, 5, 5}, {4, 6, 3, 3}, 1, true, big, 2);
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER"}) {
    SCOPED_TRACE(mode);
    Attributes same;
    same.Set("strides", Ints{2, 2});
    same.Set("auto_pad", std::string(mode));
    ExpectConvTranspose({1, 4, 5, 6}, {4, 6, 4, 3}, 1, true, same, 3);
  }
}

TEST(ConvTransposeGpu, OneAndThreeSpatialDims) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes a1;
  a1.Set("strides", Ints{3});
  a1.Set("pads", Ints{1, 2});
  a1.Set("output_padding", Ints{1});
  ExpectConvTranspose({2, 5, 9}, {5, 4, 4}, 1, true, a1);
  Attributes a3;
  a3.Set("strides", Ints{2, 1, 2});
  a3.Set("pads", Ints{1, 0, 1, 1, 0, 1});
  ExpectConvTranspose({1, 4, 3, 4, 5}, {4, 3, 3, 2, 3}, 1, true, a3, 5);
}

// WithActivation by name (only Clip takes alpha and beta), beside the ActCase overload.
using testing::WithActivation;
// The layer shapes of MobileNetV2/V3, EfficientNet-B0 and ConvNeXt at 224x224 (cuDNN picks other
// engines for these sizes than for the small cases above).
Attributes WithActivation(Attributes a, const char* act, float alpha = 0.0f, float beta = 0.0f) {
  a.Set(kActivationAttr, std::string(act));
  if (std::string(act) == "Clip") {
    a.Set(kActivationAlphaAttr, alpha);
    a.Set(kActivationBetaAttr, beta);
  }
  return a;
}

TEST(ConvGpu, MobileNetDepthwiseBlocksAtFullSize) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  {
    SCOPED_TRACE("depthwise 3x3 C=32 112x112 + Relu6");
    ExpectConv({{1, 32, 112, 112}, {32, 1, 3, 3}, true, false,
                WithActivation(Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 32), "Clip", 0.0f, 6.0f)},
               {1, 32, 112, 112});
  }
  {
    SCOPED_TRACE("depthwise 3x3 C=96 112x112 stride 2 + Relu6");
    ExpectConv({{1, 96, 112, 112}, {96, 1, 3, 3}, true, false,
                WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}, {1, 1}, 96), "Clip", 0.0f, 6.0f)},
               {1, 96, 56, 56});
  }
  {
    SCOPED_TRACE("depthwise 3x3 C=144 56x56 + SiLU");
    ExpectConv({{1, 144, 56, 56}, {144, 1, 3, 3}, true, false,
                WithActivation(Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 144), "SiLU")},
               {1, 144, 56, 56});
  }
  {
    SCOPED_TRACE("depthwise 5x5 C=240 28x28 + HardSwish");
    ExpectConv({{1, 240, 28, 28}, {240, 1, 5, 5}, true, false,
                WithActivation(Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {1, 1}, 240), "HardSwish")},
               {1, 240, 28, 28});
  }
  {
    SCOPED_TRACE("depthwise 7x7 C=96 56x56, no activation (ConvNeXt)");
    ExpectConv({{1, 96, 56, 56}, {96, 1, 7, 7}, true, false, Conv2dAttrs({3, 3, 3, 3}, {1, 1}, {1, 1}, 96)},
               {1, 96, 56, 56});
  }
  {
    SCOPED_TRACE("pointwise 1x1 32->16 112x112, linear bottleneck");
    ExpectConv({{1, 32, 112, 112}, {16, 32, 1, 1}, true, false, Attributes{}}, {1, 16, 112, 112});
  }
  {
    SCOPED_TRACE("pointwise 1x1 144->24 56x56 + residual");
    ExpectConv({{1, 144, 56, 56}, {24, 144, 1, 1}, true, true, Attributes{}}, {1, 24, 56, 56});
  }
  {
    SCOPED_TRACE("stem 3x3 stride 2 3->32 224x224 + Relu6");
    ExpectConv({{1, 3, 224, 224}, {32, 3, 3, 3}, true, false,
                WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), "Clip", 0.0f, 6.0f)},
               {1, 32, 112, 112});
  }
}

// --- Tactics and the depthwise kernel, through CreateConvKernel ------------------------------

// One Conv layer outside an engine (ConvLayerHarness, conv_gpu_test_util.h): the CPU reference
// output, device copies of the inputs in the precision's device dtype, and a CudaOpContext over
// them.
class ConvHarness : public ConvLayerHarness {
 public:
  ConvHarness(ConvCase c, Shape y_shape, Precision precision, uint32_t seed)
      : ConvLayerHarness(OpType::kConv, "conv", std::move(c), std::move(y_shape), precision, seed) {}

  // The median time in ms of `runs` launches of the kernel forced to `tactic` (after 2 warm-up
  // launches), on the legacy stream with CUDA events.
  void TimeTactic(int tactic, int runs, double* ms) {
    ASSERT_NO_FATAL_FAILURE(TimeCandidate(tactic, nullptr, 2, runs, ms));
  }
};

// The own depthwise kernel, forced through its tactic index, in FP32 and FP16.
void ExpectDepthwise(const ConvCase& c, const Shape& y_shape, uint32_t seed = 1) {
  ForEachFloatPrecision<ConvHarness>(c, y_shape, seed, [](ConvHarness& h) {
    const std::vector<std::string> paths = h.Paths(1);
    const int index = IndexOf(paths, "depthwise");
    ASSERT_GE(index, 0) << "no depthwise candidate";
    EXPECT_EQ(paths.back(), "direct");
    cuda::CudaKernelPtr kernel;
    ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(index, false, 1, &kernel));
    EXPECT_EQ(kernel->Tactic(), index);
    EXPECT_STREQ(cuda::ConvKernelPath(*kernel), "depthwise");
    EXPECT_EQ(kernel->Tactics().timed, 0);
  });
}

Attributes Depthwise2d(int64_t c, Ints pads, Ints strides = {1, 1}, Ints dilations = {1, 1}) {
  return Conv2dAttrs(std::move(pads), std::move(strides), std::move(dilations), c);
}

TEST(ConvTactics, DepthwiseKernel3x3Stride1And2) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectDepthwise({{2, 8, 33, 37}, {8, 1, 3, 3}, true, false, Depthwise2d(8, {1, 1, 1, 1})}, {2, 8, 33, 37});
  ExpectDepthwise({{1, 4, 112, 112}, {4, 1, 3, 3}, true, false, Depthwise2d(4, {1, 1, 1, 1})}, {1, 4, 112, 112}, 2);
  ExpectDepthwise({{1, 4, 112, 112}, {4, 1, 3, 3}, true, false, Depthwise2d(4, {0, 0, 1, 1}, {2, 2})},
                  {1, 4, 56, 56}, 3);
  ExpectDepthwise({{2, 6, 7, 7}, {6, 1, 3, 3}, false, false, Depthwise2d(6, {1, 1, 1, 1}, {2, 2})}, {2, 6, 4, 4}, 4);
}

TEST(ConvTactics, DepthwiseKernel5x5And7x7) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectDepthwise({{1, 6, 28, 30}, {6, 1, 5, 5}, true, false, Depthwise2d(6, {2, 2, 2, 2})}, {1, 6, 28, 30});
  ExpectDepthwise({{1, 3, 56, 56}, {3, 1, 7, 7}, true, false, Depthwise2d(3, {3, 3, 3, 3})}, {1, 3, 56, 56}, 5);
  ExpectDepthwise({{1, 4, 29, 29}, {4, 1, 7, 7}, true, false, Depthwise2d(4, {3, 3, 3, 3}, {2, 2})}, {1, 4, 15, 15},
                  6);
}

TEST(ConvTactics, DepthwiseKernelAsymmetricPadsDilationAndShapes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // H: (17 + 0 + 2 - 3) / 1 + 1 = 17; W: (19 + 1 + 0 - 3) / 2 + 1 = 9.
  ExpectDepthwise({{1, 5, 17, 19}, {5, 1, 3, 3}, true, false, Depthwise2d(5, {0, 1, 2, 0}, {1, 2})}, {1, 5, 17, 9});
  // Dilation 2: (20 + 4 - 5) / 1 + 1 = 20.
  ExpectDepthwise({{2, 4, 20, 20}, {4, 1, 3, 3}, true, false, Depthwise2d(4, {2, 2, 2, 2}, {1, 1}, {2, 2})},
                  {2, 4, 20, 20}, 7);
  // A 3x5 kernel (runtime-sized loop), stride 2 x 1.
  ExpectDepthwise({{1, 3, 15, 16}, {3, 1, 3, 5}, true, false, Depthwise2d(3, {1, 2, 1, 2}, {2, 1})}, {1, 3, 8, 16},
                  8);
  // A window too large to stage: (130 - 121) / 1 + 1 = 10 (the global-memory kernel).
  ExpectDepthwise({{1, 2, 130, 130}, {2, 1, 3, 3}, true, false, Depthwise2d(2, {0, 0, 0, 0}, {1, 1}, {60, 60})},
                  {1, 2, 10, 10}, 9);
  // 1-D: (300 + 2 - 3) / 1 + 1 = 300.
  Attributes a1;
  a1.Set("pads", Ints{1, 1});
  a1.Set("group", int64_t{6});
  ExpectDepthwise({{2, 6, 300}, {6, 1, 3}, true, false, a1}, {2, 6, 300}, 10);
}

TEST(ConvTactics, DepthwiseKernelEpilogue) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const ActCase& act : kActivations) {
    SCOPED_TRACE(act.name);
    ExpectDepthwise({{1, 8, 19, 21}, {8, 1, 3, 3}, true, true, WithActivation(Depthwise2d(8, {1, 1, 1, 1}), act)},
                    {1, 8, 19, 21}, 11);
  }
  // Residual without bias.
  ExpectDepthwise({{2, 4, 14, 14}, {4, 1, 3, 3}, false, true, Depthwise2d(4, {1, 1, 1, 1})}, {2, 4, 14, 14}, 12);
}

// The tiled depthwise kernel against the generic one-thread-per-output direct kernel on
// MobileNet-like layers (both forced by tactic index), printed for bench/RESULTS.md (speed is
// judged by benchmarks, not asserted: a busy or throttled GPU can invert one small layer).
TEST(ConvTactics, TimeDepthwiseAgainstDirect) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Layer {
    const char* name;
    ConvCase c;
    Shape y;
  };
  const Layer layers[] = {
      {"3x3 s1 112x112",
       {{8, 32, 112, 112}, {32, 1, 3, 3}, true, false, Depthwise2d(32, {1, 1, 1, 1})},
       {8, 32, 112, 112}},
      {"3x3 s2 112x112",
       {{8, 32, 112, 112}, {32, 1, 3, 3}, true, false, Depthwise2d(32, {0, 0, 1, 1}, {2, 2})},
       {8, 32, 56, 56}},
      {"7x7 s1 56x56", {{8, 64, 56, 56}, {64, 1, 7, 7}, true, false, Depthwise2d(64, {3, 3, 3, 3})}, {8, 64, 56, 56}},
  };
  for (const Layer& layer : layers) {
    for (Precision p : {Precision::kFp32, Precision::kFp16}) {
      SCOPED_TRACE(std::string(layer.name) + " " + PrecisionName(p));
      ConvHarness h(layer.c, layer.y, p, 41);
      ASSERT_NO_FATAL_FAILURE(h.Init());
      const std::vector<std::string> paths = h.Paths(1);
      const int dw = IndexOf(paths, "depthwise");
      ASSERT_GE(dw, 0);
      const int direct = static_cast<int>(paths.size()) - 1;
      double dw_ms = 0, direct_ms = 0;
      ASSERT_NO_FATAL_FAILURE(h.TimeTactic(dw, 20, &dw_ms));
      ASSERT_NO_FATAL_FAILURE(h.TimeTactic(direct, 20, &direct_ms));
      std::printf("[ depthwise ] %s %s: depthwise %.4f ms, direct %.4f ms (%.1fx)\n", layer.name, PrecisionName(p),
                  dw_ms, direct_ms, dw_ms > 0 ? direct_ms / dw_ms : 0.0);
      EXPECT_GT(dw_ms, 0.0);
      EXPECT_GT(direct_ms, 0.0);
    }
  }
}

// Every candidate of a layer, forced by index, matches the CPU reference; the list is stable.
void ExpectEveryCandidate(const ConvCase& c, const Shape& y_shape, uint32_t seed, bool depthwise) {
  ForEachFloatPrecision<ConvHarness>(c, y_shape, seed, [depthwise](ConvHarness& h) {
    const std::vector<std::string> paths = h.Paths(1);
    ASSERT_FALSE(paths.empty());
    ASSERT_LE(paths.size(), 8u);
    EXPECT_EQ(h.Paths(1), paths) << "the candidate list must be deterministic";
    EXPECT_EQ(paths.back(), "direct");
    EXPECT_EQ(IndexOf(paths, "depthwise") >= 0, depthwise);
    ExpectEveryCandidateMatches(h, paths);
  });
}

TEST(ConvTactics, EveryCandidateMatches) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  {
    SCOPED_TRACE("3x3 conv + bias");
    ExpectEveryCandidate({{2, 8, 10, 12}, {16, 8, 3, 3}, true, false, Conv2dAttrs({1, 1, 1, 1})}, {2, 16, 10, 12}, 21,
                         false);
  }
  {
    SCOPED_TRACE("depthwise 3x3 + bias + Clip(0, 6)");
    ExpectEveryCandidate({{2, 16, 14, 14}, {16, 1, 3, 3}, true, false,
                          WithActivation(Depthwise2d(16, {1, 1, 1, 1}), kActivations[1])},
                         {2, 16, 14, 14}, 22, true);
  }
  {
    SCOPED_TRACE("1x1 + bias + residual + Relu");
    ExpectEveryCandidate({{2, 16, 9, 9}, {8, 16, 1, 1}, true, true, WithActivation(Attributes{}, kActivations[0])},
                         {2, 8, 9, 9}, 23, false);
  }
  // The residual after the activation (kResidualAfterActivationAttr): act(conv + bias) + z.
  {
    SCOPED_TRACE("3x3 + bias + SiLU, then + residual");
    Attributes a = WithActivation(Conv2dAttrs({1, 1, 1, 1}), kSilu);
    a.Set(kResidualAfterActivationAttr, int64_t{1});
    ExpectEveryCandidate({{2, 8, 10, 12}, {16, 8, 3, 3}, true, true, a}, {2, 16, 10, 12}, 24, false);
  }
  {
    SCOPED_TRACE("depthwise 3x3 + bias + Clip(0, 6), then + residual");
    Attributes a = WithActivation(Depthwise2d(16, {1, 1, 1, 1}), kActivations[1]);
    a.Set(kResidualAfterActivationAttr, int64_t{1});
    ExpectEveryCandidate({{2, 16, 14, 14}, {16, 1, 3, 3}, true, true, a}, {2, 16, 14, 14}, 25, true);
  }
}

// Timed selection (ExpectTimedSelection) in FP32 and FP16.
void ExpectSelection(const ConvCase& c, const Shape& y_shape, uint32_t seed) {
  ForEachFloatPrecision<ConvHarness>(c, y_shape, seed, ExpectTimedSelection);
}

TEST(ConvTactics, SelectionPicksAValidTactic) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  {
    SCOPED_TRACE("3x3 conv + bias + Relu");
    ExpectSelection(
        {{2, 16, 28, 28}, {32, 16, 3, 3}, true, false, WithActivation(Conv2dAttrs({1, 1, 1, 1}), kActivations[0])},
        {2, 32, 28, 28}, 31);
  }
  {
    SCOPED_TRACE("depthwise 3x3 stride 2 + bias + HardSwish");
    ExpectSelection({{2, 32, 56, 56}, {32, 1, 3, 3}, true, false,
                     WithActivation(Depthwise2d(32, {1, 1, 1, 1}, {2, 2}), kActivations[5])},
                    {2, 32, 28, 28}, 32);
  }
}

}  // namespace
}  // namespace testing
}  // namespace edgert
