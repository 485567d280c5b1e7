// The channels-last layers EdgertConvNhwc and EdgertMaxPoolNhwc (ops/nhwc.h) on CUDA against the
// CPU reference, FP32 and FP16 (rel-L2 tolerances of gpu_test_util.h, poisoned outputs):
//   - through the engine (ExpectOpMatches): 1x1, 3x3 pad 1 stride 1 / 2, the 7x7 stride-2 stem
//     with C = 3, groups, depthwise, dilations, asymmetric pads, auto_pad, bias / residual / every
//     fused activation, batch > 1, C and K not multiples of 8, a CUDA-graph replay; MaxPoolNhwc
//     3x3 s2 p1, 2x2 s2, ceil_mode, dilations;
//   - through CreateConvKernel (NhwcConvHarness, a ConvLayerHarness of conv_gpu_test_util.h): every
//     tactic candidate forced by index (none of them an NCHW kernel), the timed selection, and the path
//     an FP16 ResNet-like 3x3 layer takes (a cuDNN one: a silent fallback to the direct kernel
//     fails);
//   - the depthwise kernel itself (EnqueueDepthwiseConvNhwc with forced options, NhwcConvHarness::
//     RunDepthwise): every tiled instance (3x3 / 5x5 / 7x7, stride_w 1 / 2, each vector width),
//     the generic kernel (dilation_w, other filters, forced, 64-bit indices), MobileNetV2 /
//     EfficientNet channel counts, C not a multiple of 8, rows shorter than the 4-pixel block,
//     asymmetric pads, every activation with residual, misaligned pointers, looping CTAs, the
//     plan of small layers; each run also checks that nothing outside Y was written.
// The CPU references are themselves checked against the NCHW operators (Conv, MaxPool) on the
// permuted tensors (exactly for MaxPool, 1e-5 for Conv), so a GPU kernel and a CPU reference
// cannot agree on a wrong layout.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda/kernels_conv_nhwc.h"
#include "conv_gpu_test_util.h"
#include "ops/nhwc.h"

namespace edgert {
namespace testing {
namespace {

// [N, A, B, C] -> [N, C, A, B] (to NCHW) or the inverse (to NHWC), float32.
Tensor Permute(const Tensor& t, bool to_nchw) {
  const Shape& s = t.shape();
  const Shape out_shape = to_nchw ? Shape{s[0], s[3], s[1], s[2]} : Shape{s[0], s[2], s[3], s[1]};
  Tensor out = *Tensor::Create(DataType::kFloat32, out_shape);
  const float* src = t.data<float>();
  float* dst = out.data<float>();
  if (to_nchw) {  // s = [N, H, W, C]
    for (int64_t n = 0; n < s[0]; ++n)
      for (int64_t h = 0; h < s[1]; ++h)
        for (int64_t w = 0; w < s[2]; ++w)
          for (int64_t c = 0; c < s[3]; ++c)
            dst[((n * s[3] + c) * s[1] + h) * s[2] + w] = src[((n * s[1] + h) * s[2] + w) * s[3] + c];
  } else {  // s = [N, C, H, W]
    for (int64_t n = 0; n < s[0]; ++n)
      for (int64_t c = 0; c < s[1]; ++c)
        for (int64_t h = 0; h < s[2]; ++h)
          for (int64_t w = 0; w < s[3]; ++w)
            dst[((n * s[2] + h) * s[3] + w) * s[1] + c] = src[((n * s[1] + c) * s[2] + h) * s[3] + w];
  }
  return out;
}

// One EdgertConvNhwc layer: X [N, H, W, C], W [K, R, S, C / group] (KRSC), Y [N, P, Q, K].
using NhwcCase = ConvLayerCase;

// The CPU reference of EdgertConvNhwc on `args`, checked against ONNX Conv on the permuted
// tensors (W KRSC -> KCRS is the same permutation as NHWC -> NCHW).
void NhwcReference(const NhwcCase& c, const std::vector<OpArg>& args, const Shape& y_shape, Tensor* want) {
  Tensor got;
  ASSERT_NO_FATAL_FAILURE(SingleOpReference(OpType::kConvNhwc, "conv_nhwc", c.attrs, args, y_shape, &got));
  std::vector<OpArg> nchw = args;
  nchw[0].value = Permute(args[0].value, true);
  nchw[1].value = Permute(args[1].value, true);
  if (nchw.size() > 3) nchw[3].value = Permute(args[3].value, true);
  StatusOr<std::vector<Tensor>> conv = RunSingleOp(OpType::kConv, c.attrs, nchw, 1, 17, "conv");
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  ExpectTensorsClose(got, Permute((*conv)[0], false), 1e-5, "CPU EdgertConvNhwc vs Conv on permuted tensors");
  *want = std::move(got);
}

// Engine-level check (CPU reference vs CUDA engine, FP32 and FP16, poisoned arena).
void ExpectNhwcConv(const NhwcCase& c, const Shape& y_shape, uint32_t seed = 1) {
  const std::vector<OpArg> args = ConvLayerArgs(c, y_shape, seed);
  Tensor want;
  ASSERT_NO_FATAL_FAILURE(NhwcReference(c, args, y_shape, &want));
  ExpectOpMatches(OpType::kConvNhwc, c.attrs, args);
}

// ---- EdgertConvNhwc through the engine -----------------------------------------------------

TEST(NhwcConvGpu, Conv1x1) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectNhwcConv({{1, 7, 9, 16}, {8, 1, 1, 16}, false, false, Attributes{}}, {1, 7, 9, 8});
  ExpectNhwcConv({{2, 6, 5, 24}, {32, 1, 1, 24}, true, false, Attributes{}}, {2, 6, 5, 32}, 2);
}

TEST(NhwcConvGpu, Conv3x3Pad1Stride1And2) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectNhwcConv({{2, 10, 12, 8}, {16, 3, 3, 8}, true, false, Conv2dAttrs({1, 1, 1, 1})}, {2, 10, 12, 16});
  // (11 + 2 - 3) / 2 + 1 = 6.
  ExpectNhwcConv({{1, 11, 11, 16}, {32, 3, 3, 16}, true, false, Conv2dAttrs({1, 1, 1, 1}, {2, 2})}, {1, 6, 6, 32}, 3);
}

TEST(NhwcConvGpu, Stem7x7Stride2Pad3C3) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // (23 + 6 - 7) / 2 + 1 = 12.
  ExpectNhwcConv({{1, 23, 23, 3}, {8, 7, 7, 3}, true, false, Conv2dAttrs({3, 3, 3, 3}, {2, 2})}, {1, 12, 12, 8});
  ExpectNhwcConv(
      {{2, 32, 32, 3}, {64, 7, 7, 3}, true, false, WithActivation(Conv2dAttrs({3, 3, 3, 3}, {2, 2}), kActivations[0])},
      {2, 16, 16, 64}, 4);
}

TEST(NhwcConvGpu, ChannelsNotMultiplesOf8) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectNhwcConv({{2, 9, 8, 3}, {5, 3, 3, 3}, true, false, Conv2dAttrs({1, 1, 1, 1})}, {2, 9, 8, 5});
  ExpectNhwcConv({{1, 8, 9, 5}, {3, 1, 1, 5}, true, true, Attributes{}}, {1, 8, 9, 3}, 5);
  ExpectNhwcConv({{3, 6, 7, 5}, {7, 3, 3, 5}, false, false, Conv2dAttrs({1, 1, 1, 1}, {2, 2})}, {3, 3, 4, 7}, 6);
}

TEST(NhwcConvGpu, AsymmetricPadsAndStrides) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // H: (9 + 0 + 2 - 3) / 1 + 1 = 9; W: (11 + 1 + 1 - 3) / 2 + 1 = 6.
  ExpectNhwcConv({{1, 9, 11, 4}, {6, 3, 3, 4}, true, false, Conv2dAttrs({0, 1, 2, 1}, {1, 2})}, {1, 9, 6, 6});
}

TEST(NhwcConvGpu, AutoPadSameUpperAndLower) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER"}) {
    SCOPED_TRACE(mode);
    Attributes a;
    a.Set("auto_pad", std::string(mode));
    a.Set("strides", Ints{2, 2});
    ExpectNhwcConv({{1, 10, 9, 5}, {7, 4, 4, 5}, true, false, a}, {1, 5, 5, 7});
  }
}

TEST(NhwcConvGpu, Dilation) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectNhwcConv({{1, 13, 13, 8}, {8, 3, 3, 8}, true, false, Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {2, 2})},
                 {1, 13, 13, 8});
  // Dilation and stride together, different per axis: H (15 + 2 - 7) / 2 + 1 = 6, W (12 - 3) + 1 = 10.
  ExpectNhwcConv({{1, 15, 12, 4}, {5, 3, 2, 4}, true, false, Conv2dAttrs({1, 0, 1, 0}, {2, 1}, {3, 2})}, {1, 6, 10, 5},
                 7);
}

TEST(NhwcConvGpu, Groups) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectNhwcConv({{2, 9, 9, 8}, {12, 3, 3, 2}, true, false, Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 4)},
                 {2, 9, 9, 12});
  // 32 channels in 2 groups of 16 (ResNeXt-like).
  ExpectNhwcConv({{1, 8, 8, 32}, {32, 3, 3, 16}, true, true, Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 2)},
                 {1, 8, 8, 32}, 8);
}

TEST(NhwcConvGpu, Depthwise) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectNhwcConv({{1, 10, 10, 16}, {16, 3, 3, 1}, true, false, Conv2dAttrs({1, 1, 1, 1}, {2, 2}, {1, 1}, 16)},
                 {1, 5, 5, 16});
  ExpectNhwcConv({{2, 7, 7, 6}, {6, 5, 5, 1}, false, true, Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {1, 1}, 6)}, {2, 7, 7, 6},
                 3);
  ExpectNhwcConv({{1, 9, 9, 5}, {5, 3, 3, 1}, true, false, Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {2, 2}, 5)}, {1, 9, 9, 5},
                 4);
  // Channel multiplier 2.
  ExpectNhwcConv({{1, 7, 7, 8}, {16, 3, 3, 1}, true, false, Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 8)},
                 {1, 7, 7, 16}, 5);
}

TEST(NhwcConvGpu, FusedActivationsWithBias) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const ActCase& act : kActivations) {
    SCOPED_TRACE(act.name);
    ExpectNhwcConv({{1, 9, 9, 8}, {16, 3, 3, 8}, true, false, WithActivation(Conv2dAttrs({1, 1, 1, 1}), act)},
                   {1, 9, 9, 16});
  }
}

TEST(NhwcConvGpu, FusedActivationsWithResidual) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const ActCase& act : kActivations) {
    SCOPED_TRACE(act.name);
    ExpectNhwcConv({{2, 6, 6, 8}, {8, 1, 1, 8}, true, true, WithActivation(Attributes{}, act)}, {2, 6, 6, 8});
    ExpectNhwcConv(
        {{1, 8, 8, 16}, {16, 3, 3, 1}, true, true, WithActivation(Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 16), act)},
        {1, 8, 8, 16}, 9);
  }
}

TEST(NhwcConvGpu, ResidualWithoutBiasOrActivation) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectNhwcConv({{1, 8, 8, 8}, {8, 3, 3, 8}, false, true, Conv2dAttrs({1, 1, 1, 1})}, {1, 8, 8, 8});
  ExpectNhwcConv({{1, 8, 8, 8}, {8, 3, 3, 8}, true, true, Conv2dAttrs({1, 1, 1, 1})}, {1, 8, 8, 8}, 2);
}

TEST(NhwcConvGpu, ResNetAndMobileNetLayersAtFullSize) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  {
    SCOPED_TRACE("3x3 64->64 56x56 + bias + residual + Relu");
    ExpectNhwcConv(
        {{1, 56, 56, 64}, {64, 3, 3, 64}, true, true, WithActivation(Conv2dAttrs({1, 1, 1, 1}), kActivations[0])},
        {1, 56, 56, 64});
  }
  {
    SCOPED_TRACE("depthwise 3x3 C=96 112x112 stride 2 + Relu6");
    ExpectNhwcConv({{1, 112, 112, 96},
                    {96, 3, 3, 1},
                    true,
                    false,
                    WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}, {1, 1}, 96), kActivations[1])},
                   {1, 56, 56, 96}, 2);
  }
  {
    SCOPED_TRACE("pointwise 1x1 144->24 56x56 + residual");
    ExpectNhwcConv({{1, 56, 56, 144}, {24, 1, 1, 144}, true, true, Attributes{}}, {1, 56, 56, 24}, 3);
  }
}

TEST(NhwcConvGpu, CudaGraphReplay) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const NhwcCase c{{2, 9, 9, 8}, {16, 3, 3, 8}, true, true, WithActivation(Conv2dAttrs({1, 1, 1, 1}), kActivations[4])};
  StatusOr<SingleOpNetwork> single =
      BuildSingleOp(OpType::kConvNhwc, c.attrs, ConvLayerArgs(c, {2, 9, 9, 16}, 11), 1, 17, "op");
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    ExpectCudaMatchesCpu(single->net, single->feeds, p, -1, /*cuda_graphs=*/true);
  }
}

// ---- EdgertConvNhwc through CreateConvKernel: tactics and paths -----------------------------

// One EdgertConvNhwc layer outside an engine (ConvLayerHarness, conv_gpu_test_util.h) with
// NhwcReference as its reference, and the depthwise kernel run directly.
class NhwcConvHarness : public ConvLayerHarness {
 public:
  NhwcConvHarness(NhwcCase c, Shape y_shape, Precision precision, uint32_t seed)
      : ConvLayerHarness(OpType::kConvNhwc, "conv_nhwc", std::move(c), std::move(y_shape), precision, seed) {}

  // Runs EnqueueDepthwiseConvNhwc directly with `options` on copies of X, B and Z placed `offset`
  // elements past an allocation (so aligned to offset * element size only) and of W at offset + 1
  // (the kernels never need W aligned); Y at `offset` too, NaN-poisoned, with kGuard poisoned
  // elements on either side. Checks Y against the reference and that no byte outside Y was
  // written; `plan` receives PlanDepthwiseNhwc's launch for these pointers.
  void RunDepthwise(const cuda::DepthwiseNhwcOptions& options, int64_t offset, cuda::DepthwiseNhwcConfig* plan) {
    constexpr int64_t kGuard = 64;
    StatusOr<NhwcConvParams> np = ResolveConvNhwc(op());
    ASSERT_TRUE(np.ok()) << np.status().ToString();
    const cuda::NhwcConvGeometry g = Geometry(*np);
    ASSERT_TRUE(cuda::DepthwiseNhwcSupported(g));
    const void* in[4] = {nullptr, nullptr, nullptr, nullptr};
    for (size_t i = 0; i < args().size() && i < 4; ++i) {
      if (!args()[i].value.defined()) continue;
      void* p = nullptr;
      ASSERT_NO_FATAL_FAILURE(UploadAt(args()[i].value, i == 1 ? offset + 1 : offset, &p));
      in[i] = p;
    }
    const size_t elem = DataTypeSize(dtype());
    const int64_t n = want().num_elements();
    const size_t lead = static_cast<size_t>(kGuard + offset) * elem;
    const size_t body = static_cast<size_t>(n) * elem;
    const size_t total = lead + body + static_cast<size_t>(kGuard) * elem;
    void* base = nullptr;
    ASSERT_NO_FATAL_FAILURE(Alloc(total, &base));
    ASSERT_EQ(cudaMemset(base, 0xFF, total), cudaSuccess);
    void* y = static_cast<char*>(base) + lead;
    StatusOr<cuda::DepthwiseNhwcConfig> planned = cuda::PlanDepthwiseNhwc(dtype(), g, in[0], in[2], in[3], y, options);
    ASSERT_TRUE(planned.ok()) << planned.status().ToString();
    const Status s =
        cuda::EnqueueDepthwiseConvNhwc(nullptr, dtype(), g, in[0], in[1], in[2], in[3], y, np->epilogue, options);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    Tensor got = *Tensor::Create(DataType::kFloat32, y_shape());
    ASSERT_NO_FATAL_FAILURE(CopyFromDevice(y, dtype(), &got));
    ExpectTensorsClose(got, want(), DefaultTolerance(precision()),
                       std::string(PrecisionName(precision())) + " " + planned->Describe());
    std::vector<uint8_t> bytes(total);
    ASSERT_EQ(cudaMemcpy(bytes.data(), base, total, cudaMemcpyDeviceToHost), cudaSuccess);
    size_t touched = 0;
    for (size_t i = 0; i < total; ++i) {
      if ((i < lead || i >= lead + body) && bytes[i] != 0xFF) ++touched;
    }
    EXPECT_EQ(touched, 0u) << "bytes written outside Y by " << planned->Describe();
    *plan = *planned;
  }

  // The geometry kernels_conv.cu builds for EdgertConvNhwc.
  static cuda::NhwcConvGeometry Geometry(const NhwcConvParams& np) { return cuda::MakeNhwcConvGeometry(np); }

  // PlanDepthwiseNhwc for the uploaded (aligned) inputs and output.
  StatusOr<cuda::DepthwiseNhwcConfig> PlanDepthwise(const cuda::DepthwiseNhwcOptions& options) const {
    StatusOr<NhwcConvParams> np = ResolveConvNhwc(op());
    if (!np.ok()) return np.status();
    const void* bias = inputs().size() > 2 ? inputs()[2].data : nullptr;
    const void* residual = inputs().size() > 3 ? inputs()[3].data : nullptr;
    return cuda::PlanDepthwiseNhwc(dtype(), Geometry(*np), inputs()[0].data, bias, residual, output().data, options);
  }

 protected:
  void Reference(Tensor* reference) override {
    ASSERT_NO_FATAL_FAILURE(NhwcReference(layer(), args(), y_shape(), reference));
  }
};

// Every candidate of a layer, forced by index, matches the CPU reference; the list is stable,
// ends with the NHWC direct kernel, has the NHWC depthwise kernel iff `depthwise`, and never an
// NCHW kernel ("direct", "depthwise").
void ExpectEveryCandidate(const NhwcCase& c, const Shape& y_shape, uint32_t seed, bool depthwise) {
  ForEachFloatPrecision<NhwcConvHarness>(c, y_shape, seed, [depthwise](NhwcConvHarness& h) {
    const std::vector<std::string> paths = h.Paths(1);
    ASSERT_FALSE(paths.empty());
    ASSERT_LE(paths.size(), 8u);
    EXPECT_EQ(h.Paths(1), paths) << "the candidate list must be deterministic";
    EXPECT_EQ(paths.back(), "direct-nhwc");
    EXPECT_EQ(IndexOf(paths, "depthwise-nhwc") >= 0, depthwise);
    for (const std::string& path : paths) {
      EXPECT_NE(path, "direct") << "an NCHW kernel is a candidate of a channels-last layer";
      EXPECT_NE(path, "depthwise") << "an NCHW kernel is a candidate of a channels-last layer";
    }
    ExpectEveryCandidateMatches(h, paths);
  });
}

// A layer for ExpectEveryCandidate: its case, output shape, input seed and whether
// depthwise-nhwc is among its candidates.
struct CandidateLayer {
  const char* name;
  NhwcCase c;
  Shape y;
  uint32_t seed;
  bool depthwise;
};

void ExpectEveryCandidate(const std::vector<CandidateLayer>& layers) {
  for (const CandidateLayer& l : layers) {
    SCOPED_TRACE(l.name);
    ExpectEveryCandidate(l.c, l.y, l.seed, l.depthwise);
  }
}

TEST(NhwcConvTactics, EveryCandidateMatches) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const std::vector<CandidateLayer> layers = {
      {"3x3 C=16 K=32 + bias",
       {{2, 10, 12, 16}, {32, 3, 3, 16}, true, false, Conv2dAttrs({1, 1, 1, 1})},
       {2, 10, 12, 32},
       21,
       false},
      {"1x1 + bias + residual + Relu",
       {{2, 9, 9, 16}, {8, 1, 1, 16}, true, true, WithActivation(Attributes{}, kActivations[0])},
       {2, 9, 9, 8},
       22,
       false},
      {"stem 7x7 stride 2 C=3 + bias + Relu",
       {{1, 32, 32, 3}, {16, 7, 7, 3}, true, false, WithActivation(Conv2dAttrs({3, 3, 3, 3}, {2, 2}), kActivations[0])},
       {1, 16, 16, 16},
       23,
       false},
      {"3x3 C=5 K=3 stride 2, no bias",
       {{2, 9, 8, 5}, {3, 3, 3, 5}, false, false, Conv2dAttrs({1, 1, 1, 1}, {2, 2})},
       {2, 5, 4, 3},
       24,
       false},
      {"grouped 3x3, 4 groups, dilation 2",
       {{1, 11, 11, 16}, {16, 3, 3, 4}, true, false, Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {2, 2}, 4)},
       {1, 11, 11, 16},
       25,
       false},
      {"depthwise 3x3 C=16 + bias + Clip(0, 6)",
       {{2, 14, 14, 16},
        {16, 3, 3, 1},
        true,
        false,
        WithActivation(Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 16), kActivations[1])},
       {2, 14, 14, 16},
       26,
       true},
      {"depthwise 5x5 stride 2 C=6 (2-channel vectors) + residual + HardSwish",
       {{1, 15, 15, 6},
        {6, 5, 5, 1},
        true,
        true,
        WithActivation(Conv2dAttrs({2, 2, 2, 2}, {2, 2}, {1, 1}, 6), kActivations[5])},
       {1, 8, 8, 6},
       27,
       true},
      {"depthwise 3x3 stride 2 C=96 (16-byte vectors) + bias + Clip(0, 6)",
       {{2, 28, 28, 96},
        {96, 3, 3, 1},
        true,
        false,
        WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}, {1, 1}, 96), kActivations[1])},
       {2, 14, 14, 96},
       29,
       true},
      {"depthwise 5x5 C=672 at 7x7, batch 1 (EfficientNet-B0) + bias + residual + SiLU",
       {{1, 7, 7, 672},
        {672, 5, 5, 1},
        true,
        true,
        WithActivation(Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {1, 1}, 672), kActivations[4])},
       {1, 7, 7, 672},
       30,
       true},
      // H: (12 + 0 + 2 - 5) / 1 + 1 = 10; W: (13 + 2 + 1 - 5) / 2 + 1 = 6.
      {"depthwise 3x3 C=5 (scalar), asymmetric pads, dilation 2, no bias",
       {{2, 12, 13, 5}, {5, 3, 3, 1}, false, false, Conv2dAttrs({0, 2, 2, 1}, {1, 2}, {2, 2}, 5)},
       {2, 10, 6, 5},
       28,
       true},
  };
  ExpectEveryCandidate(layers);
}

// The residual added after the activation (kResidualAfterActivationAttr, the activation-residual
// pass's YOLO bottleneck form): every candidate of each kind of layer, forced, against the CPU
// reference, which computes act(conv) + z. The layers reach cuDNN's fused graph (the ADD after the
// activation), cudnn+epilogue, igemm-nhwc (plain and split-K), stem-nhwc (its scalar epilogue),
// depthwise-nhwc and direct-nhwc.
TEST(NhwcConvTactics, ResidualAfterActivationEveryCandidateMatches) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto after = [](Attributes a, const ActCase& act) {
    a = WithActivation(std::move(a), act);
    a.Set(kResidualAfterActivationAttr, int64_t{1});
    return a;
  };
  const std::vector<CandidateLayer> layers = {
      {"3x3 C=16 K=32 + bias, SiLU, then + residual",
       {{2, 10, 12, 16}, {32, 3, 3, 16}, true, true, after(Conv2dAttrs({1, 1, 1, 1}), kSilu)},
       {2, 10, 12, 32},
       41,
       false},
      {"1x1 C=256 K=64 at 7x7 (split-K) + bias, Relu, then + residual",
       {{1, 7, 7, 256}, {64, 1, 1, 256}, true, true, after(Attributes{}, kRelu)},
       {1, 7, 7, 64},
       42,
       false},
      {"stem 7x7 stride 2 C=3 + bias, HardSwish, then + residual",
       {{1, 32, 32, 3}, {16, 7, 7, 3}, true, true, after(Conv2dAttrs({3, 3, 3, 3}, {2, 2}), kHardSwish)},
       {1, 16, 16, 16},
       43,
       false},
      {"depthwise 3x3 C=16 + bias, Clip(0, 6), then + residual",
       {{2, 14, 14, 16}, {16, 3, 3, 1}, true, true, after(Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 16), kRelu6)},
       {2, 14, 14, 16},
       44,
       true},
      {"depthwise 5x5 C=6 (generic kernel sizes), no bias, Tanh, then + residual",
       {{1, 9, 9, 6}, {6, 5, 5, 1}, false, true, after(Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {1, 1}, 6), kActivations[9])},
       {1, 9, 9, 6},
       45,
       true},
  };
  ExpectEveryCandidate(layers);
}

// Every fused activation on the own kernels, forced: the direct kernel (last candidate) and the
// depthwise one.
TEST(NhwcConvTactics, OwnKernelsEpilogue) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const ActCase& act : kActivations) {
    SCOPED_TRACE(act.name);
    for (Precision p : {Precision::kFp32, Precision::kFp16}) {
      SCOPED_TRACE(PrecisionName(p));
      {
        NhwcConvHarness h({{1, 7, 9, 12}, {10, 3, 3, 12}, true, true, WithActivation(Conv2dAttrs({1, 1, 1, 1}), act)},
                          {1, 7, 9, 10}, p, 31);
        ASSERT_NO_FATAL_FAILURE(h.Init());
        const std::vector<std::string> paths = h.Paths(1);
        ASSERT_FALSE(paths.empty());
        cuda::CudaKernelPtr kernel;
        ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(static_cast<int>(paths.size()) - 1, false, 1, &kernel));
        EXPECT_STREQ(cuda::ConvKernelPath(*kernel), "direct-nhwc");
      }
      {
        NhwcConvHarness h({{2, 9, 9, 12},
                           {12, 3, 3, 1},
                           true,
                           true,
                           WithActivation(Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 12), act)},
                          {2, 9, 9, 12}, p, 32);
        ASSERT_NO_FATAL_FAILURE(h.Init());
        const int index = IndexOf(h.Paths(1), "depthwise-nhwc");
        ASSERT_GE(index, 0);
        cuda::CudaKernelPtr kernel;
        ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(index, false, 1, &kernel));
        EXPECT_STREQ(cuda::ConvKernelPath(*kernel), "depthwise-nhwc");
      }
    }
  }
}

// Timed selection (ExpectTimedSelection) in FP32 and FP16.
void ExpectSelection(const NhwcCase& c, const Shape& y_shape, uint32_t seed) {
  ForEachFloatPrecision<NhwcConvHarness>(c, y_shape, seed, ExpectTimedSelection);
}

TEST(NhwcConvTactics, SelectionPicksAValidTactic) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  {
    SCOPED_TRACE("3x3 C=32 K=64 28x28 + bias + Relu");
    ExpectSelection(
        {{2, 28, 28, 32}, {64, 3, 3, 32}, true, false, WithActivation(Conv2dAttrs({1, 1, 1, 1}), kActivations[0])},
        {2, 28, 28, 64}, 41);
  }
  {
    SCOPED_TRACE("depthwise 3x3 stride 2 C=32 56x56 + bias + HardSwish");
    ExpectSelection({{2, 56, 56, 32},
                     {32, 3, 3, 1},
                     true,
                     false,
                     WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}, {1, 1}, 32), kActivations[5])},
                    {2, 28, 28, 32}, 42);
  }
  {
    SCOPED_TRACE("1x1 C=5 K=3 + residual (no aligned cuDNN engine likely)");
    ExpectSelection({{1, 12, 12, 5}, {3, 1, 1, 5}, true, true, Attributes{}}, {1, 12, 12, 3}, 43);
  }
}

// The point of the channels-last layers: an FP16 ResNet-like 3x3 layer runs on a cuDNN plan
// (fused or with the epilogue) as the default candidate, never silently on the direct kernel;
// conv + bias + Relu must finalize as a fused channels-last graph.
TEST(NhwcConvTactics, Fp16ResNetLayerTakesCudnn) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const struct {
    const char* name;
    NhwcCase c;
    Shape y;
  } layers[] = {
      {"3x3 64->64 56x56 + bias + Relu",
       {{1, 56, 56, 64}, {64, 3, 3, 64}, true, false, WithActivation(Conv2dAttrs({1, 1, 1, 1}), kActivations[0])},
       {1, 56, 56, 64}},
      {"3x3 64->64 56x56 + bias + residual + Relu",
       {{1, 56, 56, 64}, {64, 3, 3, 64}, true, true, WithActivation(Conv2dAttrs({1, 1, 1, 1}), kActivations[0])},
       {1, 56, 56, 64}},
      {"3x3 64->64 56x56, no epilogue",
       {{2, 56, 56, 64}, {64, 3, 3, 64}, false, false, Conv2dAttrs({1, 1, 1, 1})},
       {2, 56, 56, 64}},
  };
  for (const auto& layer : layers) {
    SCOPED_TRACE(layer.name);
    NhwcConvHarness h(layer.c, layer.y, Precision::kFp16, 51);
    ASSERT_NO_FATAL_FAILURE(h.Init());
    cuda::CudaKernelPtr kernel;
    ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(-1, false, 1, &kernel));
    const char* path = cuda::ConvKernelPath(*kernel);
    ASSERT_NE(path, nullptr);
    EXPECT_EQ(std::string(path).rfind("cudnn", 0), 0u)
        << "path " << path << ": " << kernel->Describe() << " / " << cuda::ConvKernelNote(*kernel);
    const std::vector<std::string> paths = h.Paths(1);
    EXPECT_GE(IndexOf(paths, "cudnn"), 0);
    if (layer.c.bias && !layer.c.residual) {  // the classic conv + bias + activation runtime fusion
      EXPECT_GE(IndexOf(paths, "cudnn-fused"), 0) << "no fused channels-last plan: " << cuda::ConvKernelNote(*kernel);
    }
    // Every cuDNN candidate (channels-last strides) matches the reference too.
    for (size_t i = 0; i < paths.size(); ++i) {
      if (paths[i].rfind("cudnn", 0) != 0) continue;
      SCOPED_TRACE("candidate " + std::to_string(i) + ": " + paths[i]);
      cuda::CudaKernelPtr forced;
      ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(static_cast<int>(i), false, 1, &forced));
    }
  }
}

// ---- The depthwise kernel itself (EnqueueDepthwiseConvNhwc with forced options) --------------

// A depthwise layer: X [N, H, W, C], an R x S filter per channel, pads {top, left, bottom, right}.
struct DwLayer {
  Shape x;
  int64_t r = 3, s = 3;
  Ints pads = {1, 1, 1, 1};
  Ints strides = {1, 1};
  Ints dilations = {1, 1};
  bool bias = true;
  bool residual = false;
  const ActCase* act = nullptr;
};

NhwcCase DwNhwcCase(const DwLayer& l) {
  const int64_t c = l.x[3];
  Attributes a = Conv2dAttrs(l.pads, l.strides, l.dilations, c);
  if (l.act != nullptr) a = WithActivation(std::move(a), *l.act);
  return NhwcCase{l.x, {c, l.r, l.s, 1}, l.bias, l.residual, a};
}

// ONNX Conv's output extent, by hand: (in + pads - ((k - 1) * d + 1)) / stride + 1.
Shape DwOutput(const DwLayer& l) {
  const int64_t p = (l.x[1] + l.pads[0] + l.pads[2] - ((l.r - 1) * l.dilations[0] + 1)) / l.strides[0] + 1;
  const int64_t q = (l.x[2] + l.pads[1] + l.pads[3] - ((l.s - 1) * l.dilations[1] + 1)) / l.strides[1] + 1;
  return {l.x[0], p, q, l.x[3]};
}

std::string DwName(const DwLayer& l) {
  std::string s = "X " + ShapeToString(l.x) + " " + std::to_string(l.r) + "x" + std::to_string(l.s) + " pads " +
                  std::to_string(l.pads[0]) + "," + std::to_string(l.pads[1]) + "," + std::to_string(l.pads[2]) + "," +
                  std::to_string(l.pads[3]) + " strides " + std::to_string(l.strides[0]) + "," +
                  std::to_string(l.strides[1]) + " dilations " + std::to_string(l.dilations[0]) + "," +
                  std::to_string(l.dilations[1]);
  if (l.bias) s += " +bias";
  if (l.residual) s += " +residual";
  if (l.act != nullptr) s += std::string(" +") + l.act->name;
  return s;
}

// The path a run must take: tiled or generic, the vector (0: any) and the index width.
struct DwPath {
  bool tiled = true;
  int vector = 0;
  bool wide_index = false;
};

// Runs `l` through EnqueueDepthwiseConvNhwc (options, pointer offset) against the CPU reference
// and checks the planned path; `plan` (optional) receives it.
void ExpectDepthwise(const DwLayer& l, Precision p, const cuda::DepthwiseNhwcOptions& options, int64_t offset,
                     const DwPath& want, uint32_t seed, cuda::DepthwiseNhwcConfig* plan = nullptr) {
  SCOPED_TRACE(DwName(l) + " " + PrecisionName(p) + " vector " + std::to_string(options.vector) + " offset " +
               std::to_string(offset) + (options.allow_tiled ? "" : " generic forced") +
               (options.wide_index ? " int64 forced" : ""));
  NhwcConvHarness h(DwNhwcCase(l), DwOutput(l), p, seed);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  cuda::DepthwiseNhwcConfig got;
  ASSERT_NO_FATAL_FAILURE(h.RunDepthwise(options, offset, &got));
  EXPECT_EQ(got.tiled, want.tiled) << got.Describe();
  if (want.vector > 0) {
    EXPECT_EQ(got.vector, want.vector) << got.Describe();
  }
  EXPECT_EQ(got.wide_index, want.wide_index) << got.Describe();
  if (got.tiled) {
    EXPECT_EQ(got.kernel, l.s) << got.Describe();
    EXPECT_EQ(got.stride_w, l.strides[1]) << got.Describe();
    EXPECT_GE(got.block_x * got.block_y, 32u) << got.Describe();
    EXPECT_LE(got.block_x * got.block_y, 256u) << got.Describe();
    EXPECT_LE(got.block_x, l.s >= 7 ? 16u : 32u) << got.Describe();
    // Slices x vectors cover C with fewer idle lanes than slices.
    const int64_t vectors = l.x[3] / got.vector;
    EXPECT_GE(int64_t{got.grid_x} * got.block_x, vectors) << got.Describe();
    EXPECT_LT(int64_t{got.grid_x} * got.block_x - vectors, int64_t{got.grid_x}) << got.Describe();
  }
  if (plan != nullptr) *plan = got;
}

// The tiled kernel's channel vectors: 16, 8 and 4 bytes.
std::vector<int> TiledVectors(Precision p) {
  return p == Precision::kFp16 ? std::vector<int>{8, 4, 2} : std::vector<int>{4, 2};
}
int WidestVector(Precision p) { return p == Precision::kFp16 ? 8 : 4; }

cuda::DepthwiseNhwcOptions Vector(int v) {
  cuda::DepthwiseNhwcOptions o;
  o.vector = v;
  return o;
}

const Precision kPrecisions[] = {Precision::kFp16, Precision::kFp32};

int SmCount() {
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) return 0;
  return sms;
}

// Every tiled instance (3x3, 5x5, 7x7; stride_w 1 and 2; every vector) on odd extents, N = 2.
TEST(NhwcDepthwiseKernel, TiledEveryFilterStrideAndVector) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 100;
  for (int64_t k : {3, 5, 7}) {
    for (int64_t stride : {1, 2}) {
      DwLayer l;
      l.x = {2, 15, 17, 24};
      l.r = l.s = k;
      l.pads = {k / 2, k / 2, k / 2, k / 2};
      l.strides = {stride, stride};
      l.residual = k == 5;
      l.act = stride == 2 ? &kActivations[1] : nullptr;
      for (Precision p : kPrecisions) {
        for (int v : TiledVectors(p)) {
          ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, Vector(v), 0, {true, v}, ++seed));
        }
        ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, {}, 0, {true, 0}, ++seed));
      }
    }
  }
}

// MobileNetV2 / EfficientNet channel counts (C = 1152 at V = 8: 144 vectors in 5 slices of 29, one
// idle lane; 7x7: slices of 16), with the widest vector and with the automatic one.
TEST(NhwcDepthwiseKernel, ChannelCounts) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 200;
  for (int64_t c : {8, 16, 24, 32, 96, 144, 672, 1152}) {
    DwLayer s1;  // 3x3 stride 1 pad 1, bias + Relu6
    s1.x = {1, 9, 10, c};
    s1.act = &kActivations[1];
    DwLayer s2;  // 5x5 stride 2 pad 2, residual without bias
    s2.x = {1, 11, 9, c};
    s2.r = s2.s = 5;
    s2.pads = {2, 2, 2, 2};
    s2.strides = {2, 2};
    s2.bias = false;
    s2.residual = true;
    DwLayer k7;  // 7x7 stride 1 pad 3 (ConvNeXt-like), SiLU
    k7.x = {1, 8, 7, c};
    k7.r = k7.s = 7;
    k7.pads = {3, 3, 3, 3};
    k7.act = &kActivations[4];
    for (const DwLayer& l : {s1, s2, k7}) {
      for (Precision p : kPrecisions) {
        ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, Vector(WidestVector(p)), 0, {true, WidestVector(p)}, ++seed));
        ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, {}, 0, {true, 0}, ++seed));
      }
    }
  }
}

// C not a multiple of 8: 12 and 20 take 4-wide vectors, 6 takes 2 (all tiled); 5 and 3 take the
// generic kernel with scalar channels.
TEST(NhwcDepthwiseKernel, ChannelsNotMultiplesOf8) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 300;
  const struct {
    int64_t c;
    int widest;
    bool tiled;
  } cases[] = {{12, 4, true}, {20, 4, true}, {6, 2, true}, {5, 1, false}, {3, 1, false}};
  for (const auto& tc : cases) {
    DwLayer l;
    l.x = {2, 9, 11, tc.c};
    l.residual = true;
    l.act = &kActivations[5];
    DwLayer l2 = l;
    l2.r = l2.s = 5;
    l2.pads = {2, 2, 2, 2};
    l2.strides = {2, 2};
    for (const DwLayer& layer : {l, l2}) {
      for (Precision p : kPrecisions) {
        ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(layer, p, Vector(tc.widest), 0, {tc.tiled, tc.widest}, ++seed));
        // Automatic: the widest, narrowed to no less than 2 on these small layers.
        ASSERT_NO_FATAL_FAILURE(
            ExpectDepthwise(layer, p, {}, 0, {tc.tiled, std::min(tc.widest, tc.widest > 1 ? 2 : 1)}, ++seed));
      }
    }
  }
}

// Rows shorter than the 4-pixel block (W = 1, 3, 7 -> Q = 1, 3, 7 at stride 1; 1, 2, 4 at stride
// 2), odd extents, batch 1 and 3.
TEST(NhwcDepthwiseKernel, ShortRowsOddExtentsAndBatch) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 400;
  for (int64_t w : {1, 3, 7, 17}) {
    for (int64_t n : {1, 3}) {
      for (int64_t stride : {1, 2}) {
        for (int64_t k : {3, 5}) {
          DwLayer l;
          l.x = {n, 15, w, 16};
          l.r = l.s = k;
          l.pads = {k / 2, k / 2, k / 2, k / 2};
          l.strides = {stride, stride};
          l.residual = n == 3;
          for (Precision p : kPrecisions) {
            ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, Vector(WidestVector(p)), 0, {true, WidestVector(p)}, ++seed));
          }
        }
      }
    }
  }
}

// Asymmetric pads, no pads, different strides per axis, dilation along H only: all tiled.
TEST(NhwcDepthwiseKernel, AsymmetricPadsStridesAndRowDilation) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 500;
  std::vector<DwLayer> layers;
  {
    DwLayer l;  // 3x3, pads top 0 left 2 bottom 1 right 0, strides (1, 2)
    l.x = {2, 12, 13, 16};
    l.pads = {0, 2, 1, 0};
    l.strides = {1, 2};
    layers.push_back(l);
  }
  {
    DwLayer l;  // 5x5, pads (2, 0, 0, 2), strides (2, 1)
    l.x = {1, 14, 11, 24};
    l.r = l.s = 5;
    l.pads = {2, 0, 0, 2};
    l.strides = {2, 1};
    l.residual = true;
    layers.push_back(l);
  }
  {
    DwLayer l;  // 3x3 stride 2 without pads (TF "VALID")
    l.x = {1, 16, 15, 32};
    l.pads = {0, 0, 0, 0};
    l.strides = {2, 2};
    l.act = &kActivations[0];
    layers.push_back(l);
  }
  {
    DwLayer l;  // 3x3 dilation (2, 1): the tiled kernel takes any dilation_h
    l.x = {1, 13, 12, 16};
    l.pads = {2, 1, 2, 1};
    l.dilations = {2, 1};
    layers.push_back(l);
  }
  {
    DwLayer l;  // 7x7 stride 2 pad 3, stride_h 3
    l.x = {1, 17, 19, 8};
    l.r = l.s = 7;
    l.pads = {3, 3, 3, 3};
    l.strides = {3, 2};
    layers.push_back(l);
  }
  for (const DwLayer& l : layers) {
    for (Precision p : kPrecisions) {
      ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, Vector(WidestVector(p)), 0, {true, WidestVector(p)}, ++seed));
      ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, {}, 0, {true, 0}, ++seed));
    }
  }
}

// What the tiled kernel does not take runs on the generic one: dilation along W, non-square,
// 1x1 and 9x9 filters, stride_w 3.
TEST(NhwcDepthwiseKernel, OtherLayersTakeTheGenericKernel) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 600;
  std::vector<DwLayer> layers;
  {
    DwLayer l;  // dilation 2 (DeepLab-like)
    l.x = {1, 13, 13, 32};
    l.pads = {2, 2, 2, 2};
    l.dilations = {2, 2};
    l.act = &kActivations[1];
    layers.push_back(l);
  }
  {
    DwLayer l;  // dilation (1, 3)
    l.x = {2, 9, 14, 16};
    l.pads = {1, 3, 1, 3};
    l.dilations = {1, 3};
    l.residual = true;
    layers.push_back(l);
  }
  {
    DwLayer l;  // 3x5
    l.x = {1, 10, 11, 24};
    l.r = 3;
    l.s = 5;
    l.pads = {1, 2, 1, 2};
    layers.push_back(l);
  }
  {
    DwLayer l;  // 1x1
    l.x = {1, 6, 7, 16};
    l.r = l.s = 1;
    l.pads = {0, 0, 0, 0};
    layers.push_back(l);
  }
  {
    DwLayer l;  // 9x9 pad 4
    l.x = {1, 12, 12, 8};
    l.r = l.s = 9;
    l.pads = {4, 4, 4, 4};
    layers.push_back(l);
  }
  {
    DwLayer l;  // stride_w 3
    l.x = {1, 10, 16, 16};
    l.strides = {1, 3};
    layers.push_back(l);
  }
  for (const DwLayer& l : layers) {
    for (Precision p : kPrecisions) {
      ASSERT_NO_FATAL_FAILURE(
          ExpectDepthwise(l, p, Vector(WidestVector(p)), 0, {false, WidestVector(p), false}, ++seed));
      ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, {}, 0, {false, 0, false}, ++seed));
    }
  }
}

// The generic kernel forced where the tiled one applies, with 32- and 64-bit indices and every
// vector width.
TEST(NhwcDepthwiseKernel, GenericKernelForcedAndWideIndex) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 700;
  DwLayer l;
  l.x = {2, 13, 11, 32};
  l.strides = {2, 2};
  l.residual = true;
  l.act = &kActivations[4];
  for (Precision p : kPrecisions) {
    for (int v = WidestVector(p); v >= 1; v /= 2) {
      for (bool wide : {false, true}) {
        cuda::DepthwiseNhwcOptions o = Vector(v);
        o.allow_tiled = false;
        o.wide_index = wide;
        ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, o, 0, {false, v, wide}, ++seed));
      }
    }
  }
}

// Every fused activation with bias and residual on both kernels, and residual without bias.
TEST(NhwcDepthwiseKernel, EveryActivationWithResidual) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 800;
  for (const ActCase& act : kActivations) {
    DwLayer l;
    l.x = {2, 8, 9, 16};
    l.residual = true;
    l.act = &act;
    for (Precision p : kPrecisions) {
      ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, Vector(WidestVector(p)), 0, {true, WidestVector(p)}, ++seed));
      cuda::DepthwiseNhwcOptions generic = Vector(WidestVector(p));
      generic.allow_tiled = false;
      ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, generic, 0, {false, WidestVector(p)}, ++seed));
    }
  }
  DwLayer no_bias;
  no_bias.x = {1, 7, 10, 24};
  no_bias.r = no_bias.s = 5;
  no_bias.pads = {2, 2, 2, 2};
  no_bias.bias = false;
  no_bias.residual = true;
  for (Precision p : kPrecisions) {
    ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(no_bias, p, Vector(WidestVector(p)), 0, {true, WidestVector(p)}, ++seed));
  }
}

// X, B, Z and Y `offset` elements past an allocation: the vector follows the alignment (a forced
// wider one is refused), one element off takes the generic kernel with scalar channels.
TEST(NhwcDepthwiseKernel, MisalignedPointers) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 900;
  DwLayer l;
  l.x = {2, 9, 10, 16};
  l.residual = true;
  l.act = &kActivations[0];
  for (Precision p : kPrecisions) {
    const int64_t elem = p == Precision::kFp16 ? 2 : 4;
    for (int64_t offset : {1, 2, 4, 8}) {
      // cudaMalloc aligns to 256 bytes: the widest vector (<= 16 bytes) dividing offset * elem.
      int widest = 1;
      while (widest * 2 <= WidestVector(p) && (offset * elem) % (widest * 2 * elem) == 0) widest *= 2;
      ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, Vector(widest), offset, {widest > 1, widest}, ++seed));
      ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, {}, offset, {widest > 1, std::min(widest, 2)}, ++seed));
    }
  }
}

// A forced vector that does not fit C, the dtype or the alignment is refused by name.
TEST(NhwcDepthwiseKernel, ForcedVectorMustFit) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  DwLayer l;
  l.x = {1, 6, 6, 12};
  for (Precision p : kPrecisions) {
    SCOPED_TRACE(PrecisionName(p));
    NhwcConvHarness h(DwNhwcCase(l), DwOutput(l), p, 950);
    ASSERT_NO_FATAL_FAILURE(h.Init());
    for (int v : {8, 3, 16, -2}) {
      StatusOr<cuda::DepthwiseNhwcConfig> plan = h.PlanDepthwise(Vector(v));
      ASSERT_FALSE(plan.ok()) << "vector " << v << ": " << plan->Describe();
      EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument) << plan.status().ToString();
      EXPECT_NE(plan.status().ToString().find("vector"), std::string::npos) << plan.status().ToString();
    }
    StatusOr<cuda::DepthwiseNhwcConfig> four = h.PlanDepthwise(Vector(4));
    ASSERT_TRUE(four.ok()) << four.status().ToString();
    EXPECT_TRUE(four->tiled);
    EXPECT_EQ(four->vector, 4);
  }
}

// CTAs that loop (grid capped): every pixel-block group, the last one partial, is computed once.
TEST(NhwcDepthwiseKernel, GridStrideIterations) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 1000;
  DwLayer l;
  l.x = {3, 20, 21, 32};
  l.residual = true;
  l.act = &kActivations[5];
  DwLayer l2 = l;
  l2.r = l2.s = 5;
  l2.pads = {2, 2, 2, 2};
  l2.strides = {2, 2};
  for (const DwLayer& layer : {l, l2}) {
    for (Precision p : kPrecisions) {
      for (unsigned cap : {1u, 2u, 3u}) {
        cuda::DepthwiseNhwcOptions o = Vector(WidestVector(p));
        o.max_grid_y = cap;
        cuda::DepthwiseNhwcConfig plan;
        ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(layer, p, o, 0, {true, WidestVector(p)}, ++seed, &plan));
        EXPECT_LE(plan.grid_y, cap) << plan.Describe();
        EXPECT_GE(plan.iterations, 2) << plan.Describe();
      }
    }
  }
}

// EfficientNet-B0's last depthwise layers at batch 1 (7x7, 5x5, C = 672 / 1152): the automatic plan
// narrows the vector and shrinks the CTAs so that most SMs get work.
TEST(NhwcDepthwiseKernel, SmallLayersSpreadOverTheSms) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const int sms = SmCount();
  ASSERT_GT(sms, 0);
  uint32_t seed = 1100;
  for (int64_t c : {672, 1152}) {
    DwLayer l;
    l.x = {1, 7, 7, c};
    l.r = l.s = 5;
    l.pads = {2, 2, 2, 2};
    l.act = &kActivations[4];
    for (Precision p : kPrecisions) {
      cuda::DepthwiseNhwcConfig plan;
      ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, {}, 0, {true, 0}, ++seed, &plan));
      // 14 pixel blocks x C / V vectors stay below 1024 threads per SM on any GPU of 16 SMs or more.
      if (sms >= 16) {
        EXPECT_EQ(plan.vector, 2) << plan.Describe();
      }
      // 64-thread CTAs: C / 2 vectors in slices of <= 32 (1152: 18 x 32, 672: 11 x 31), 2 blocks
      // each, 7 groups: 126 / 77 CTAs.
      if (sms >= 128) {
        EXPECT_EQ(plan.block_x * plan.block_y, 64u - 64u % plan.block_x) << plan.Describe();
        EXPECT_GE(plan.grid_x * plan.grid_y, 64u) << plan.Describe();
      }
    }
  }
}

// The two MobileNetV2 layers of the profile, at batch 2: 3x3 stride 2 112x112 -> 56x56 C = 96 and
// 3x3 stride 1 112x112 C = 32, + Relu6, automatic and with 16-byte vectors.
TEST(NhwcDepthwiseKernel, MobileNetV2Layers) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 1200;
  DwLayer s2;
  s2.x = {2, 112, 112, 96};
  s2.strides = {2, 2};
  s2.act = &kActivations[1];
  DwLayer s1;
  s1.x = {2, 112, 112, 32};
  s1.act = &kActivations[1];
  for (const DwLayer& l : {s2, s1}) {
    for (Precision p : kPrecisions) {
      ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, {}, 0, {true, 0}, ++seed));
      ASSERT_NO_FATAL_FAILURE(ExpectDepthwise(l, p, Vector(WidestVector(p)), 0, {true, WidestVector(p)}, ++seed));
    }
  }
}

// ---- EdgertMaxPoolNhwc -----------------------------------------------------------------------

Attributes PoolAttrs(Ints kernel, Ints strides, Ints pads, Ints dilations = {1, 1}, int64_t ceil_mode = 0) {
  Attributes a;
  a.Set("kernel_shape", std::move(kernel));
  a.Set("strides", std::move(strides));
  a.Set("pads", std::move(pads));
  a.Set("dilations", std::move(dilations));
  a.Set("ceil_mode", ceil_mode);
  return a;
}

// The CPU reference against MaxPool on the permuted input (exactly), then CPU vs CUDA engine in
// FP32 and FP16.
void ExpectMaxPoolNhwc(const Shape& x, const Attributes& attrs, const Shape& y_shape, uint32_t seed = 1) {
  const std::vector<OpArg> args = {OpArg{RandomTensor(DataType::kFloat32, x, seed, -4, 4), false}};
  StatusOr<std::vector<Tensor>> got = RunSingleOp(OpType::kMaxPoolNhwc, attrs, args, 1, 17, "pool_nhwc");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ((*got)[0].shape(), y_shape);
  StatusOr<std::vector<Tensor>> ref =
      RunSingleOp(OpType::kMaxPool, attrs, {OpArg{Permute(args[0].value, true), false}}, 1, 17, "pool");
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  ExpectTensorsClose((*got)[0], Permute((*ref)[0], false), 0.0, "CPU EdgertMaxPoolNhwc vs MaxPool on permuted X");
  ExpectOpMatches(OpType::kMaxPoolNhwc, attrs, args);
}

TEST(NhwcMaxPoolGpu, ThreeByThreeStride2Pad1) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // (112 + 2 - 3) / 2 + 1 = 56 (the ResNet stem pool).
  ExpectMaxPoolNhwc({1, 112, 112, 64}, PoolAttrs({3, 3}, {2, 2}, {1, 1, 1, 1}), {1, 56, 56, 64});
  ExpectMaxPoolNhwc({2, 9, 11, 5}, PoolAttrs({3, 3}, {2, 2}, {1, 1, 1, 1}), {2, 5, 6, 5}, 2);
}

TEST(NhwcMaxPoolGpu, TwoByTwoStride2) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectMaxPoolNhwc({2, 10, 12, 8}, PoolAttrs({2, 2}, {2, 2}, {0, 0, 0, 0}), {2, 5, 6, 8});
  // Odd extents: floor drops the last row / column.
  ExpectMaxPoolNhwc({1, 7, 9, 3}, PoolAttrs({2, 2}, {2, 2}, {0, 0, 0, 0}), {1, 3, 4, 3}, 3);
}

TEST(NhwcMaxPoolGpu, CeilMode) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // ceil((7 - 2) / 2) + 1 = 4, ceil((9 - 2) / 2) + 1 = 5: partial last windows.
  ExpectMaxPoolNhwc({1, 7, 9, 6}, PoolAttrs({2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1), {1, 4, 5, 6});
  // 3x3 s2 p1 ceil: (10 + 2 - 3) / 2 = 4.5 -> 5 + 1 = 6, the last window starts inside: kept.
  ExpectMaxPoolNhwc({2, 10, 10, 4}, PoolAttrs({3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1), {2, 6, 6, 4}, 4);
}

TEST(NhwcMaxPoolGpu, DilationsAndAsymmetricPads) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // H: (12 + 1 + 0 - 5) / 1 + 1 = 9; W: (13 + 0 + 1 - 3) / 2 + 1 = 6.
  ExpectMaxPoolNhwc({1, 12, 13, 7}, PoolAttrs({3, 2}, {1, 2}, {1, 0, 0, 1}, {2, 2}), {1, 9, 6, 7});
  Attributes same;
  same.Set("kernel_shape", Ints{3, 3});
  same.Set("strides", Ints{2, 2});
  same.Set("auto_pad", std::string("SAME_UPPER"));
  ExpectMaxPoolNhwc({2, 11, 8, 16}, same, {2, 6, 4, 16}, 5);
}

// 5x5 windows take the unrolled kernel (KS = 5): YOLO's SPPF pools (stride 1, pads 2, the window
// clipped at every border of a small map), asymmetric pads with stride 2 and ceil mode, and a
// dilated 5x5 that keeps the runtime loop.
TEST(NhwcMaxPoolGpu, FiveByFiveWindows) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectMaxPoolNhwc({1, 20, 20, 128}, PoolAttrs({5, 5}, {1, 1}, {2, 2, 2, 2}), {1, 20, 20, 128}, 11);
  ExpectMaxPoolNhwc({2, 4, 3, 16}, PoolAttrs({5, 5}, {1, 1}, {2, 2, 2, 2}), {2, 4, 3, 16}, 12);
  // H: ceil((9 + 2 + 1 - 5) / 2) + 1 = 5; W: ceil((7 + 0 + 2 - 5) / 2) + 1 = 3.
  ExpectMaxPoolNhwc({2, 9, 7, 24}, PoolAttrs({5, 5}, {2, 2}, {2, 0, 1, 2}, {1, 1}, 1), {2, 5, 3, 24}, 13);
  // (11 + 4 - 9) / 1 + 1 = 7 with dilation 2 (effective window 9).
  ExpectMaxPoolNhwc({1, 11, 11, 8}, PoolAttrs({5, 5}, {1, 1}, {2, 2, 2, 2}, {2, 2}), {1, 7, 7, 8}, 14);
}

TEST(NhwcMaxPoolGpu, CudaGraphReplay) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  StatusOr<SingleOpNetwork> single =
      BuildSingleOp(OpType::kMaxPoolNhwc, PoolAttrs({3, 3}, {2, 2}, {1, 1, 1, 1}),
                    {OpArg{RandomTensor(DataType::kFloat32, {2, 16, 16, 24}, 7, -4, 4), false}}, 1, 17, "op");
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    ExpectCudaMatchesCpu(single->net, single->feeds, p, -1, /*cuda_graphs=*/true);
  }
}

}  // namespace
}  // namespace testing
}  // namespace edgert
