// The channels-last stem kernel "stem-nhwc" (kernels_conv_stem.h: tensor-core implicit GEMM for
// float16 EdgertConvNhwc layers with C <= 8) against the CPU reference (FP16 rel-L2 tolerance of
// gpu_test_util.h, NaN-poisoned outputs):
//   - StemNhwcSupported on its own (no GPU needed): which layers it takes (the patch limit too);
//   - the candidate list (ConvCandidatePaths): "stem-nhwc" right before "direct-nhwc" for an FP16
//     stem, absent in FP32, for C = 16, for groups, K % 8 != 0 and R * S * C > 256;
//   - the candidate forced by index (CreateConvKernel with a hand-built CudaOpContext:
//     ConvLayerHarness, conv_gpu_test_util.h): the ResNet stem (7x7 s2 p3, C 3, K 64) at N = 1 and 2,
//     the YOLOv8n stem (3x3 s2 p1, K 16, 640x640), the MobileNetV2 stem (K 32), odd extents,
//     asymmetric pads, strides and dilations per axis, C = 1 / 2 / 4 / 5 / 8, K = 8 / 24 / 40 / 72,
//     the largest GEMM-K (256), bias / residual / every fused activation;
//   - EnqueueStemConvNhwc directly on pointers that are not 16-byte aligned (the scalar
//     epilogue) and on a layer it refuses (an error, nothing launched);
//   - every candidate of a small stem forced (they all agree), a CUDA-graph capture and replay of
//     the forced kernel, the engine with CUDA graphs;
//   - the timed selection on the ResNet stem at N = 32: its Describe() is printed (whether
//     stem-nhwc wins is for the reader; nothing is asserted about time) and its output matches the
//     direct-nhwc kernel's (an independent GPU oracle: the CPU reference would be slow there);
//   - the ResNet (N = 32), YOLOv8n (640, N = 1 and 8) and MobileNetV2 (N = 32) stems: stem-nhwc
//     against direct-nhwc, then every candidate forced and timed, one "[ stem-time ]" line each
//     (printed only).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backend/cuda/kernels_conv_stem.h"
#include "conv_gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

// One EdgertConvNhwc layer: X [N, H, W, C], W [K, R, S, C / group] (KRSC), Y [N, P, Q, K].
struct StemCase {
  Shape x;
  Shape w;
  Shape y;
  bool bias = true;
  bool residual = false;
  Attributes attrs;
};

ConvLayerCase Layer(const StemCase& c) { return {c.x, c.w, c.bias, c.residual, c.attrs}; }

// X and the residual are fed at run time; W and B are constants (as in real networks).
std::vector<OpArg> StemArgs(const StemCase& c, uint32_t seed) { return ConvLayerArgs(Layer(c), c.y, seed); }

// The CPU reference of EdgertConvNhwc (itself checked against Conv on permuted tensors in
// nhwc_gpu_test.cc).
void CpuReference(const StemCase& c, const std::vector<OpArg>& args, Tensor* want) {
  ASSERT_NO_FATAL_FAILURE(SingleOpReference(OpType::kConvNhwc, "stem", c.attrs, args, c.y, want));
}

// One EdgertConvNhwc layer outside an engine (ConvLayerHarness, conv_gpu_test_util.h), with
// CpuReference as its reference.
class StemHarness : public ConvLayerHarness {
 public:
  StemHarness(const StemCase& c, Precision precision, uint32_t seed)
      : ConvLayerHarness(OpType::kConvNhwc, "stem", Layer(c), c.y, precision, seed) {}

  // Forces the stem-nhwc candidate (it must be listed) and checks it against the reference.
  void ExpectStemMatches() {
    const std::vector<std::string> paths = Paths();
    const int index = IndexOf(paths, "stem-nhwc");
    ASSERT_GE(index, 0) << "stem-nhwc is not a candidate";
    cuda::CudaKernelPtr kernel;
    ASSERT_NO_FATAL_FAILURE(RunAndCheck(index, false, 1, &kernel));
    EXPECT_EQ(kernel->Tactic(), index);
    EXPECT_STREQ(cuda::ConvKernelPath(*kernel), "stem-nhwc") << kernel->Describe();
  }
};

void ExpectStem(const StemCase& c, uint32_t seed) {
  StemHarness h(c, Precision::kFp16, seed);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  h.ExpectStemMatches();
}

// The networks' stems.
// The ResNet stem's layer (7x7 stride 2 pad 3, K 64, bias, Relu, an optional residual) on X
// [n, h, w, 3]; the output extents p and q (= (h + 6 - 7) / 2 + 1, likewise q) are given by hand.
StemCase Stem7x7S2(int64_t n, int64_t h, int64_t w, int64_t p, int64_t q, bool residual = false) {
  return {{n, h, w, 3}, {64, 7, 7, 3}, {n, p, q, 64},
          true,         residual,      WithActivation(Conv2dAttrs({3, 3, 3, 3}, {2, 2}), kRelu)};
}

// (224 + 6 - 7) / 2 + 1 = 112.
StemCase ResNetStem(int64_t n) { return Stem7x7S2(n, 224, 224, 112, 112); }

// The 3x3 stride-2 pad-1 stem of YOLOv8 / MobileNetV2 / EfficientNet: X [n, hw, hw, 3], K `k`, bias,
// `act`, an optional residual; the output extent `pq` (= (hw + 2 - 3) / 2 + 1) is given by hand.
StemCase Stem3x3S2(int64_t n, int64_t hw, int64_t pq, int64_t k, const ActCase& act, bool residual = false) {
  return {{n, hw, hw, 3}, {k, 3, 3, 3}, {n, pq, pq, k},
          true,           residual,     WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), act)};
}

// ---- StemNhwcSupported ------------------------------------------------------------------------

TEST(StemNhwc, SupportedLayers) {
  const cuda::NhwcConvGeometry resnet = SquareNhwcGeometry(128, 224, 3, 64, 7, 112, 2, 3);
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, resnet));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat32, resnet));
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 640, 3, 16, 3, 320, 2, 1)));
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 9, 1, 8, 1, 9, 1, 0)));  // 1x1, C 1
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 16, 8, 72, 5, 16, 1, 2)));
  // 7x7x5 = 245 -> 256 = kStemMaxGemmK; 6x6x8 = 288 and 11x11x3 = 363 are over it.
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 16, 5, 16, 7, 16, 1, 3)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 16, 8, 16, 6, 11, 1, 0)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 224, 3, 96, 11, 54, 4, 0)));
  // The input patch of a 128-pixel tile must fit kStemMaxPatch = 16384 halves. 7x7 C 3: stride 6
  // (pq (224 + 6 - 7) / 6 + 1 = 38) takes 8 x 16 pixels, a 49 x 97 x 3 = 14259-half patch;
  // stride 7 (pq 32) needs 18816 or more with every shape. 7x7 C 5: stride 4 (pq 56) 35 x 67 x 5 =
  // 11725 halves; stride 5 (pq 45) 42 x 82 x 5 = 17220 or more.
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 224, 3, 16, 7, 38, 6, 3)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 224, 3, 16, 7, 32, 7, 3)));
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 224, 5, 16, 7, 56, 4, 3)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 224, 5, 16, 7, 45, 5, 3)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 32, 9, 16, 1, 32, 1, 0)));   // C 9
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 32, 16, 16, 3, 32, 1, 1)));  // C 16
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 32, 3, 12, 3, 32, 1, 1)));   // K 12
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 32, 3, 4, 3, 32, 1, 1)));    // K 4
  cuda::NhwcConvGeometry grouped = SquareNhwcGeometry(1, 32, 4, 16, 3, 32, 1, 1);
  grouped.group = 2;
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, grouped));
  // Batch is 64-bit: a huge N is fine; one image beyond 32-bit offsets is not.
  EXPECT_TRUE(
      cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(int64_t{1} << 20, 224, 3, 64, 7, 112, 2, 3)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 40000, 3, 16, 3, 20000, 2, 1)));
}

// ---- The candidate list -------------------------------------------------------------------------

TEST(StemNhwcGpu, CandidateListHasStemForFp16SmallChannelsOnly) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const StemCase small = Stem7x7S2(1, 32, 32, 16, 16);
  {
    SCOPED_TRACE("FP16 ResNet stem");
    StemHarness h(small, Precision::kFp16, 1);
    ASSERT_NO_FATAL_FAILURE(h.Init(false));
    for (int level : {0, 1, 2}) {
      SCOPED_TRACE("level " + std::to_string(level));
      const std::vector<std::string> paths = h.Paths(level);
      ASSERT_GE(paths.size(), 2u);
      EXPECT_EQ(paths.back(), "direct-nhwc");
      EXPECT_EQ(paths[paths.size() - 2], "stem-nhwc") << "stem-nhwc must come right before direct-nhwc";
      EXPECT_EQ(IndexOf(paths, "depthwise-nhwc"), -1);
    }
  }
  {
    SCOPED_TRACE("FP32 ResNet stem");
    StemHarness h(small, Precision::kFp32, 1);
    ASSERT_NO_FATAL_FAILURE(h.Init(false));
    const std::vector<std::string> paths = h.Paths();
    ASSERT_FALSE(paths.empty());
    EXPECT_EQ(IndexOf(paths, "stem-nhwc"), -1);
    EXPECT_EQ(paths.back(), "direct-nhwc");
  }
  const struct {
    const char* name;
    StemCase c;
  } refused[] = {
      {"C = 16", {{1, 16, 16, 16}, {32, 3, 3, 16}, {1, 16, 16, 32}, true, false, Conv2dAttrs({1, 1, 1, 1})}},
      {"K = 12", {{1, 16, 16, 3}, {12, 3, 3, 3}, {1, 16, 16, 12}, true, false, Conv2dAttrs({1, 1, 1, 1})}},
      {"group 2",
       {{1, 16, 16, 4}, {16, 3, 3, 2}, {1, 16, 16, 16}, true, false, Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 2)}},
      // 11 x 11 x 3 = 363 > 256.
      {"R * S * C = 363",
       {{1, 32, 32, 3}, {16, 11, 11, 3}, {1, 6, 6, 16}, true, false, Conv2dAttrs({0, 0, 0, 0}, {4, 4})}},
  };
  for (const auto& r : refused) {
    SCOPED_TRACE(r.name);
    StemHarness h(r.c, Precision::kFp16, 2);
    ASSERT_NO_FATAL_FAILURE(h.Init(false));
    const std::vector<std::string> paths = h.Paths();
    ASSERT_FALSE(paths.empty());
    EXPECT_EQ(IndexOf(paths, "stem-nhwc"), -1);
    EXPECT_EQ(paths.back(), "direct-nhwc");
  }
}

// ---- The candidate forced ------------------------------------------------------------------------

TEST(StemNhwcGpu, ResNetStem) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  {
    SCOPED_TRACE("N = 1");
    ExpectStem(ResNetStem(1), 11);
  }
  {
    SCOPED_TRACE("N = 2");
    ExpectStem(ResNetStem(2), 12);
  }
}

TEST(StemNhwcGpu, YoloV8nStem640) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // (640 + 2 - 3) / 2 + 1 = 320; K = 16; SiLU. 800 pixel tiles: more than the CTAs that run at
  // once, so the persistent loop takes several tiles per CTA.
  ExpectStem(Stem3x3S2(1, 640, 320, 16, kSilu), 13);
}

// W * C = 641 * 3 is odd: the patch rows are not whole 4-byte words, so the kernel copies the
// patch half by half (its scalar path) instead of with cp.async words; 861 pixel tiles, so the
// persistent loop runs several tiles per CTA through both patch buffers on that path too.
TEST(StemNhwcGpu, OddRowLengthTakesTheScalarPatchPath) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // (641 + 2 - 3) / 2 + 1 = 321.
  ExpectStem(Stem3x3S2(1, 641, 321, 16, kSilu), 14);
}

TEST(StemNhwcGpu, MobileNetStem) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // (224 + 2 - 3) / 2 + 1 = 112; K = 32; ReLU6 (MobileNetV2), then SiLU (EfficientNet-B0).
  ExpectStem(Stem3x3S2(1, 224, 112, 32, kRelu6), 14);
  ExpectStem(Stem3x3S2(2, 224, 112, 32, kSilu), 15);
}

TEST(StemNhwcGpu, OddShapes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const struct {
    const char* name;
    StemCase c;
  } cases[] = {
      // H: (23 + 2 + 1 - 5) / 2 + 1 = 11; W: (19 + 1 + 2 - 5) / 1 + 1 = 18.
      {"5x5, odd H W, asymmetric pads, strides (2, 1), K 24, residual + HardSwish",
       {{2, 23, 19, 3},
        {24, 5, 5, 3},
        {2, 11, 18, 24},
        true,
        true,
        WithActivation(Conv2dAttrs({2, 1, 1, 2}, {2, 1}), kHardSwish)}},
      // (17 + 4 - 5) / 1 + 1 = 17, (15 + 4 - 5) + 1 = 15.
      {"3x3 dilation 2, C 4, K 8, no bias",
       {{1, 17, 15, 4}, {8, 3, 3, 4}, {1, 17, 15, 8}, false, false, Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {2, 2})}},
      // H: (31 + 2 - 3) / 2 + 1 = 16; W: (29 + 2 - 3) / 2 + 1 = 15. K 72: two K tiles of 64,
      // the second with 8 channels.
      {"C 1, K 72, bias + residual + Relu",
       {{1, 31, 29, 1},
        {72, 3, 3, 1},
        {1, 16, 15, 72},
        true,
        true,
        WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), kRelu)}},
      // (20 + 4 - 5) / 2 + 1 = 10; R * S * C = 200 -> 208; K 40: column tile 3 of 4 is half used.
      {"C 8, 5x5, K 40, SiLU",
       {{2, 20, 20, 8},
        {40, 5, 5, 8},
        {2, 10, 10, 40},
        true,
        false,
        WithActivation(Conv2dAttrs({2, 2, 2, 2}, {2, 2}), kSilu)}},
      // (12 + 6 - 7) / 2 + 1 = 6, (14 + 6 - 7) / 2 + 1 = 7.
      {"7x7 s2, K 8, bias only",
       {{1, 12, 14, 3}, {8, 7, 7, 3}, {1, 6, 7, 8}, true, false, Conv2dAttrs({3, 3, 3, 3}, {2, 2})}},
      // H: (11 + 1 + 2 - 4) / 1 + 1 = 11; W: (10 + 0 + 1 - 2) / 2 + 1 = 5; dilation (1, 3):
      // W: (10 + 1 - 4) / 2 + 1 = 4.
      {"4x2 kernel, C 2, K 24, strides (1, 2), dilations (1, 3), residual + Clip(-0.5, 0.5)",
       {{3, 11, 10, 2},
        {24, 4, 2, 2},
        {3, 11, 4, 24},
        true,
        true,
        WithActivation(Conv2dAttrs({1, 0, 2, 1}, {1, 2}, {1, 3}), kClipHalf)}},
      // 7x7x5 = 245 -> GEMM-K 256, the largest.
      {"7x7 C 5, GEMM-K 256, K 16",
       {{1, 16, 16, 5}, {16, 7, 7, 5}, {1, 16, 16, 16}, true, false, Conv2dAttrs({3, 3, 3, 3})}},
      // A 1x1 layer with C 3: GEMM-K 3 -> 16.
      {"1x1 C 3, K 32", {{2, 9, 7, 3}, {32, 1, 1, 3}, {2, 9, 7, 32}, false, true, Attributes{}}},
      // Pads larger than the kernel reach: whole rows of zero taps. (5 + 8 - 3) / 3 + 1 = 4.
      {"pads 4 stride 3, K 16",
       {{1, 5, 5, 3}, {16, 3, 3, 3}, {1, 4, 4, 16}, true, false, Conv2dAttrs({4, 4, 4, 4}, {3, 3})}},
      // (19 + 4 - 5) / 1 + 1 = 19, (21 + 4 - 5) + 1 = 21. K 136: three K tiles of 64, the last with
      // 8 channels (one mma n-tile); R * S * C = 18 -> GEMM-K 32: the last k-step's columns
      // 18 .. 31 are masked.
      {"3x3 dilation 2, C 2, K 136, bias + residual + Relu",
       {{1, 19, 21, 2},
        {136, 3, 3, 2},
        {1, 19, 21, 136},
        true,
        true,
        WithActivation(Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {2, 2}), kRelu)}},
      // 1x1 C 8: GEMM-K 8 -> 16, one (masked) k-step; Q = 9 takes 8 x 16-pixel tiles, so pixels
      // 9 .. 15 of each tile row are dropped.
      {"1x1 C 8, K 8, residual + SiLU",
       {{2, 7, 9, 8}, {8, 1, 1, 8}, {2, 7, 9, 8}, false, true, WithActivation(Attributes{}, kSilu)}},
  };
  uint32_t seed = 20;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectStem(c.c, seed++);
  }
}

TEST(StemNhwcGpu, EveryActivationWithBiasAndResidual) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 40;
  for (const ActCase& act : kActivations) {
    SCOPED_TRACE(act.name);
    // (21 + 2 - 3) / 2 + 1 = 11.
    ExpectStem(Stem3x3S2(2, 21, 11, 32, act, /*residual=*/true), seed++);
  }
}

// Every candidate of a small FP16 stem, forced by index, matches the reference (stem-nhwc
// included), and an index past the list falls back to candidate 0.
TEST(StemNhwcGpu, EveryCandidateMatches) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  StemHarness h(Stem7x7S2(2, 40, 36, 20, 18), Precision::kFp16, 50);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  const std::vector<std::string> paths = h.Paths();
  ASSERT_GE(IndexOf(paths, "stem-nhwc"), 0);
  ExpectEveryCandidateMatches(h, paths);
}

// ---- EnqueueStemConvNhwc directly ---------------------------------------------------------------

// X, W, B, Z and Y each one half past a 16-byte boundary: the kernel's scalar epilogue (and
// unaligned gathers), against the CPU reference.
TEST(StemNhwcGpu, UnalignedPointersTakeTheScalarEpilogue) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // (19 + 4 - 5) / 2 + 1 = 10.
  const StemCase c = {{2, 19, 19, 3}, {16, 5, 5, 3}, {2, 10, 10, 16},
                      true,           true,          WithActivation(Conv2dAttrs({2, 2, 2, 2}, {2, 2}), kHardSwish)};
  const std::vector<OpArg> args = StemArgs(c, 60);
  Tensor want;
  ASSERT_NO_FATAL_FAILURE(CpuReference(c, args, &want));
  const cuda::NhwcConvGeometry g = SquareNhwcGeometry(2, 19, 3, 16, 5, 10, 2, 2);
  ASSERT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, g));
  FusedEpilogue act;
  act.kind = FusedEpilogue::Kind::kHardSwish;
  ExpectMisalignedLaunchMatches(
      args, want,
      [&](const __half* x, const __half* w, const __half* b, const __half* z, __half* y) {
        return cuda::EnqueueStemConvNhwc(nullptr, DataType::kFloat16, g, x, w, b, z, y, act);
      },
      "unaligned stem-nhwc");
}

TEST(StemNhwcGpu, RefusedLayerIsAnErrorWithoutLaunch) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const cuda::NhwcConvGeometry g = SquareNhwcGeometry(1, 8, 3, 16, 3, 8, 1, 1);
  // FP32 is refused before any pointer is touched (null pointers would fault in a launch).
  const Status s =
      cuda::EnqueueStemConvNhwc(nullptr, DataType::kFloat32, g, nullptr, nullptr, nullptr, nullptr, nullptr, {});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("StemConvNhwcKernel"), std::string::npos) << s.ToString();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  // An empty batch launches nothing and succeeds.
  cuda::NhwcConvGeometry empty = SquareNhwcGeometry(0, 8, 3, 16, 3, 8, 1, 1);
  EXPECT_TRUE(
      cuda::EnqueueStemConvNhwc(nullptr, DataType::kFloat16, empty, nullptr, nullptr, nullptr, nullptr, nullptr, {})
          .ok());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

// ---- CUDA graphs --------------------------------------------------------------------------------

// The forced stem kernel's Enqueue captured into a graph (thread-local mode, as the engine does;
// the capture is the kernel's first launch for this layer and its shared memory is above 48 KB)
// and replayed twice on a poisoned output.
TEST(StemNhwcGpu, CudaGraphCaptureAndReplay) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // (64 + 6 - 7) / 2 + 1 = 32; GEMM-K 160, 64 channels, a 21 x 37 x 3 patch: 68 KB of shared memory.
  StemHarness h(Stem7x7S2(2, 64, 64, 32, 32, /*residual=*/true), Precision::kFp16, 70);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  ExpectForcedCandidateGraphReplays(h, "stem-nhwc");
}

// The engine (whatever candidate it picks for the stem) with CUDA graphs, FP16 and FP32.
TEST(StemNhwcGpu, EngineWithCudaGraphs) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const StemCase c = Stem3x3S2(2, 48, 24, 32, kSilu, /*residual=*/true);
  StatusOr<SingleOpNetwork> single = BuildSingleOp(OpType::kConvNhwc, c.attrs, StemArgs(c, 80), 1, 17, "op");
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    ExpectCudaMatchesCpu(single->net, single->feeds, p, -1, /*cuda_graphs=*/true);
  }
}

// ---- Timed selection --------------------------------------------------------------------------

// The ResNet-50 stem at N = 32 through the timed selection: the chosen candidate's output matches
// the direct-nhwc kernel's (forced; an independent implementation), and the tactic report is
// printed so that a reader sees whether stem-nhwc wins. No timing is asserted.
TEST(StemNhwcGpu, TimedSelectionResNetStemBatch32) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  StemHarness h(ResNetStem(32), Precision::kFp16, 90);
  ASSERT_NO_FATAL_FAILURE(h.Init(false));
  const std::vector<std::string> paths = h.Paths();
  ASSERT_GE(IndexOf(paths, "stem-nhwc"), 0);
  const int direct = IndexOf(paths, "direct-nhwc");
  ASSERT_GE(direct, 0);
  cuda::CudaKernelPtr oracle;
  Tensor want;
  ASSERT_NO_FATAL_FAILURE(h.Run(direct, false, 1, &oracle, &want));
  cuda::CudaKernelPtr selected;
  Tensor got;
  ASSERT_NO_FATAL_FAILURE(h.Run(-1, true, 1, &selected, &got));
  const cuda::CudaKernel::TacticReport report = selected->Tactics();
  std::printf("[ stem     ] ResNet-50 stem FP16 N=32 candidates:");
  for (size_t i = 0; i < paths.size(); ++i) std::printf(" %zu=%s", i, paths[i].c_str());
  std::printf("\n[ stem     ] selected: %s (timed %d, rejected %d)\n", selected->Describe().c_str(), report.timed,
              report.rejected);
  EXPECT_GE(report.timed, 1) << selected->Describe();
  ExpectTensorsClose(got, want, DefaultTolerance(Precision::kFp16), "selected vs direct-nhwc: " + selected->Describe());
  // The stem kernel forced on the same inputs agrees with the oracle too.
  cuda::CudaKernelPtr stem;
  Tensor stem_out;
  ASSERT_NO_FATAL_FAILURE(h.Run(IndexOf(paths, "stem-nhwc"), false, 1, &stem, &stem_out));
  EXPECT_STREQ(cuda::ConvKernelPath(*stem), "stem-nhwc");
  ExpectTensorsClose(stem_out, want, DefaultTolerance(Precision::kFp16), "stem-nhwc vs direct-nhwc");
}

// ---- Timing (printed, never asserted) ----------------------------------------------------------

// The networks' stems at serving batch sizes: stem-nhwc's output first checked against the
// direct-nhwc kernel's (forced; an independent GPU oracle), then every candidate forced by index
// and timed (3 warm-up launches, the median of 21, CUDA events on one stream), one line per
// candidate: "[ stem-time ] <case> <index>:<path> <ms>". Nothing about time is asserted: the
// lines are for the reader (stem-nhwc against cuDNN's engines in one run).
TEST(StemNhwcGpu, TimeEveryCandidateOnNetworkStems) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const struct {
    const char* name;
    StemCase c;
  } cases[] = {
      {"resnet50-7x7s2-K64-N32", ResNetStem(32)},
      {"yolov8n-3x3s2-K16-640-N1", Stem3x3S2(1, 640, 320, 16, kSilu)},
      {"yolov8n-3x3s2-K16-640-N8", Stem3x3S2(8, 640, 320, 16, kSilu)},
      {"mobilenetv2-3x3s2-K32-N32", Stem3x3S2(32, 224, 112, 32, kRelu6)},
  };
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  uint32_t seed = 100;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    StemHarness h(c.c, Precision::kFp16, seed++);
    ASSERT_NO_FATAL_FAILURE(h.Init(false));
    ASSERT_NO_FATAL_FAILURE(ExpectForcedMatchesDirect(h, "stem-nhwc"));
    ASSERT_NO_FATAL_FAILURE(PrintEveryCandidateTime(h, "stem-time", c.name, stream));
  }
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace testing
}  // namespace edgert
