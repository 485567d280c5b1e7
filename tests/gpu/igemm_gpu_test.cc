// The channels-last implicit-GEMM kernel "igemm-nhwc" (kernels_conv_igemm.h: float16, C and K
// multiples of 8, mma.sync with a cp.async pipeline and a cluster split-K on sm_90) against the CPU
// reference (FP16 rel-L2 tolerance of gpu_test_util.h, NaN-poisoned outputs):
//   - IgemmNhwcSupported and PlanIgemmNhwc on their own (no GPU needed): which layers it takes,
//     the split heuristic on a 132-SM device with and without clusters, forced split counts;
//   - the candidate list (ConvCandidatePaths): "igemm-nhwc" right before "direct-nhwc" for FP16
//     layers with C and K multiples of 8, absent in FP32, for C % 8 != 0, K % 8 != 0 and groups;
//   - the candidate forced by index (ConvLayerHarness, conv_gpu_test_util.h): the ResNet-50 1x1 /
//     3x3 / strided layers of every stage at N = 1 and N = 2 (the heuristic's split counts, split-K
//     where the device has clusters), odd shapes (M not a multiple of 64, K = 72, C = 8 with a
//     dilated 5x5 window, asymmetric pads and per-axis strides / dilations, GEMM-K not a multiple
//     of 32 and below one chunk), with and without bias and residual, every fused activation;
//   - EnqueueIgemmConvNhwc directly on the harness's buffers with every split count forced (1, 2,
//     4, 8, 16, up to IgemmNhwcMaxSplits: 1 below compute capability 9.0), including splits that
//     get no chunk; on
//     misaligned pointers (its direct-kernel fallback); on a refused layer (an error, no launch);
//   - programmatic dependent launches (sm_90) chained on one stream with read-after-write and
//     write-after-read dependencies: bitwise the results of serialized launches;
//   - every candidate of a small layer forced (they all agree), a CUDA-graph capture and replay of
//     the split-K launch, a recorded tactic label rebuilding the candidate, the engine (tactic
//     timing) with CUDA graphs;
//   - timing (printed, never asserted): every candidate of the ResNet-50 batch-1 28x28 / 14x14 /
//     7x7 stage layers, one "[ igemm-time ]" line each, after igemm-nhwc is checked against
//     direct-nhwc.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backend/cuda/kernels_conv_igemm.h"
#include "conv_gpu_test_util.h"
#include "ops/nhwc.h"

namespace edgert {
namespace testing {
namespace {

// One EdgertConvNhwc layer: X [n, h, w, c], W [k, r, s, c] (KRSC), explicit ONNX pads {top, left,
// bottom, right}, strides and dilations {h, w}; Y's shape follows from them (OutputShape).
struct IgemmCase {
  int64_t n, h, w, c, k, r, s;
  Ints pads;
  Ints strides = {1, 1};
  Ints dilations = {1, 1};
  bool bias = true;
  bool residual = false;
  const ActCase* act = &kRelu;  // null: no activation
};

Shape OutputShape(const IgemmCase& c) {
  const int64_t p = (c.h + c.pads[0] + c.pads[2] - ((c.r - 1) * c.dilations[0] + 1)) / c.strides[0] + 1;
  const int64_t q = (c.w + c.pads[1] + c.pads[3] - ((c.s - 1) * c.dilations[1] + 1)) / c.strides[1] + 1;
  return {c.n, p, q, c.k};
}

ConvLayerCase Layer(const IgemmCase& c) {
  Attributes attrs = Conv2dAttrs(c.pads, c.strides, c.dilations);
  if (c.act != nullptr) attrs = WithActivation(attrs, *c.act);
  return {{c.n, c.h, c.w, c.c}, {c.k, c.r, c.s, c.c}, c.bias, c.residual, attrs};
}

// 1x1 stride `stride`, no pads; 3x3 pad 1 stride `stride`.
IgemmCase Conv1x1(int64_t n, int64_t hw, int64_t c, int64_t k, int64_t stride = 1, bool residual = false) {
  IgemmCase x{n, hw, hw, c, k, 1, 1, {0, 0, 0, 0}, {stride, stride}};
  x.residual = residual;
  return x;
}
IgemmCase Conv3x3(int64_t n, int64_t hw, int64_t c, int64_t k, int64_t stride = 1) {
  return {n, hw, hw, c, k, 3, 3, {1, 1, 1, 1}, {stride, stride}};
}

int ComputeCapabilityMajor() {
  int device = 0;
  int major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    return 0;
  }
  return major;
}

// IgemmNhwcMaxSplits on the current device, 0 (with a failure) when the query fails.
int MaxSplits() {
  const StatusOr<int> max_splits = cuda::IgemmNhwcMaxSplits();
  EXPECT_TRUE(max_splits.ok()) << max_splits.status().ToString();
  return max_splits.ok() ? *max_splits : 0;
}

int SmCount() {
  int device = 0;
  int sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    return 0;
  }
  return sms;
}

// One EdgertConvNhwc layer outside an engine (ConvLayerHarness) in FP16.
class IgemmHarness : public ConvLayerHarness {
 public:
  IgemmHarness(const IgemmCase& c, Precision precision, uint32_t seed)
      : ConvLayerHarness(OpType::kConvNhwc, "igemm", Layer(c), OutputShape(c), precision, seed) {}

  // The layer's geometry as the runtime resolves it (ResolveConvNhwc, shared with the reference).
  cuda::NhwcConvGeometry Geometry() const {
    StatusOr<NhwcConvParams> np = ResolveConvNhwc(op());
    EXPECT_TRUE(np.ok()) << np.status().ToString();
    return np.ok() ? cuda::MakeNhwcConvGeometry(*np) : cuda::NhwcConvGeometry{};
  }

  FusedEpilogue Epilogue() const {
    StatusOr<NhwcConvParams> np = ResolveConvNhwc(op());
    return np.ok() ? np->epilogue : FusedEpilogue{};
  }

  // Forces the igemm-nhwc candidate (it must be listed) and checks it against the reference.
  void ExpectIgemmMatches() {
    const std::vector<std::string> paths = Paths();
    const int index = IndexOf(paths, "igemm-nhwc");
    ASSERT_GE(index, 0) << "igemm-nhwc is not a candidate";
    cuda::CudaKernelPtr kernel;
    ASSERT_NO_FATAL_FAILURE(RunAndCheck(index, false, 1, &kernel));
    EXPECT_EQ(kernel->Tactic(), index);
    EXPECT_STREQ(cuda::ConvKernelPath(*kernel), "igemm-nhwc") << kernel->Describe();
  }

  // EnqueueIgemmConvNhwc on the harness's buffers with `splits` forced, into the poisoned output,
  // against the reference.
  void ExpectSplitMatches(int splits) {
    SCOPED_TRACE("splits " + std::to_string(splits));
    const cuda::NhwcConvGeometry g = Geometry();
    ASSERT_TRUE(cuda::IgemmNhwcSupported(DataType::kFloat16, g));
    const std::vector<cuda::CudaTensor>& in = inputs();
    const void* bias = in.size() > 2 ? in[2].data : nullptr;
    const void* residual = in.size() > 3 ? in[3].data : nullptr;
    ASSERT_EQ(cudaMemset(output().data, 0xFF, output().bytes()), cudaSuccess);
    cuda::IgemmNhwcOptions options;
    options.splits = splits;
    const Status s = cuda::EnqueueIgemmConvNhwc(nullptr, DataType::kFloat16, g, in[0].data, in[1].data, bias, residual,
                                                output().data, Epilogue(), options);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    Tensor got = *Tensor::Create(DataType::kFloat32, y_shape());
    ASSERT_NO_FATAL_FAILURE(CopyFromDevice(output().data, DataType::kFloat16, &got));
    ExpectTensorsClose(got, want(), DefaultTolerance(Precision::kFp16), "igemm split " + std::to_string(splits));
  }

  // ExpectSplitMatches for 1, 2, 4, 8, 16 up to IgemmNhwcMaxSplits.
  void ExpectEverySplitMatches() {
    const int max_splits = MaxSplits();
    ASSERT_GE(max_splits, 1);
    for (int splits : {1, 2, 4, 8, 16}) {
      if (splits > max_splits) continue;
      ASSERT_NO_FATAL_FAILURE(ExpectSplitMatches(splits));
    }
  }
};

void ExpectIgemm(const IgemmCase& c, uint32_t seed, bool every_split = false) {
  IgemmHarness h(c, Precision::kFp16, seed);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  ASSERT_NO_FATAL_FAILURE(h.ExpectIgemmMatches());
  if (every_split) {
    ASSERT_NO_FATAL_FAILURE(h.ExpectEverySplitMatches());
  }
}

// ---- IgemmNhwcSupported / PlanIgemmNhwc --------------------------------------------------------

TEST(IgemmNhwc, SupportedLayers) {
  const cuda::NhwcConvGeometry l3x3 = SquareNhwcGeometry(1, 14, 256, 256, 3, 14, 1, 1);
  EXPECT_TRUE(cuda::IgemmNhwcSupported(DataType::kFloat16, l3x3));
  EXPECT_FALSE(cuda::IgemmNhwcSupported(DataType::kFloat32, l3x3));
  EXPECT_TRUE(cuda::IgemmNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 9, 8, 8, 1, 9, 1, 0)));     // C 8, K 8
  EXPECT_TRUE(cuda::IgemmNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(2, 13, 8, 72, 5, 13, 1, 2)));  // 5x5
  EXPECT_FALSE(cuda::IgemmNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 9, 12, 16, 3, 9, 1, 1)));  // C 12
  EXPECT_FALSE(cuda::IgemmNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 9, 3, 64, 7, 5, 2, 3)));   // C 3
  EXPECT_FALSE(cuda::IgemmNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 9, 16, 12, 3, 9, 1, 1)));  // K 12
  EXPECT_FALSE(cuda::IgemmNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(1, 9, 16, 4, 3, 9, 1, 1)));   // K 4
  cuda::NhwcConvGeometry grouped = SquareNhwcGeometry(1, 14, 64, 64, 3, 14, 1, 1);
  grouped.group = 2;
  EXPECT_FALSE(cuda::IgemmNhwcSupported(DataType::kFloat16, grouped));
  // 32-bit offsets: X of 2^31 halves or more is refused (N * H * W * C), as is Y.
  EXPECT_TRUE(cuda::IgemmNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(256, 56, 256, 64, 1, 56, 1, 0)));
  EXPECT_FALSE(cuda::IgemmNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(4096, 56, 256, 64, 1, 56, 1, 0)));
  EXPECT_FALSE(cuda::IgemmNhwcSupported(DataType::kFloat16, SquareNhwcGeometry(4096, 56, 64, 256, 1, 56, 1, 0)));
}

TEST(IgemmNhwc, PlanSplitsSmallLayersOverClusters) {
  // 14x14 3x3 256 -> 256: 4 x 4 tiles, 72 chunks: 16 * 8 = 128 CTAs on 132 SMs.
  const cuda::NhwcConvGeometry l14 = SquareNhwcGeometry(1, 14, 256, 256, 3, 14, 1, 1);
  StatusOr<cuda::IgemmNhwcConfig> cfg = cuda::PlanIgemmNhwc(l14, 132, 8);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->splits, 8);
  EXPECT_EQ(cfg->tiles_m, 4);
  EXPECT_EQ(cfg->tiles_n, 4);
  EXPECT_EQ(cfg->chunks, 72);
  EXPECT_EQ(cfg->chunks_per_split, 9);
  EXPECT_EQ(cfg->Describe(), "igemm 64x64x32 split 8 grid 4x4x8");
  // 128 CTAs fill 90% of 132 SMs: no 16 where the device allows it.
  cfg = cuda::PlanIgemmNhwc(l14, 132, 16);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->splits, 8);
  // Without clusters (sm_87): no split.
  cfg = cuda::PlanIgemmNhwc(l14, 16, 1);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->splits, 1);
  EXPECT_EQ(cfg->chunks_per_split, 72);
  // 56x56 1x1 64 -> 256: 49 x 4 tiles fill 132 SMs already.
  cfg = cuda::PlanIgemmNhwc(SquareNhwcGeometry(1, 56, 64, 256, 1, 56, 1, 0), 132, 16);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->splits, 1);
  // 28x28 3x3 128 -> 128: 13 x 2 = 26 tiles, 36 chunks: split 4 gives 104 CTAs, still under 132,
  // and 8 splits keep 4.5 chunks each (at least 2), so 8: 208 CTAs.
  cfg = cuda::PlanIgemmNhwc(SquareNhwcGeometry(1, 28, 128, 128, 3, 28, 1, 1), 132, 16);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->splits, 8);
  // 7x7 3x3 512 -> 512: 1 x 8 tiles, 144 chunks: 16 splits (128 CTAs, 9 chunks each) where the
  // device allows them, else 8.
  const cuda::NhwcConvGeometry l7 = SquareNhwcGeometry(1, 7, 512, 512, 3, 7, 1, 1);
  cfg = cuda::PlanIgemmNhwc(l7, 132, 16);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->splits, 16);
  EXPECT_EQ(cfg->chunks_per_split, 9);
  EXPECT_EQ(cfg->Describe(), "igemm 64x64x32 split 16 grid 1x8x16");
  cfg = cuda::PlanIgemmNhwc(l7, 132, 8);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->splits, 8);
  // 7x7 1x1 64 -> 64: 1 tile, 2 chunks: a split would leave a chunk per CTA.
  cfg = cuda::PlanIgemmNhwc(SquareNhwcGeometry(1, 7, 64, 64, 1, 7, 1, 0), 132, 16);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->splits, 1);
  // 4 chunks: split 2 (2 chunks each), not 4.
  cfg = cuda::PlanIgemmNhwc(SquareNhwcGeometry(1, 7, 128, 64, 1, 7, 1, 0), 132, 16);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->splits, 2);
  // Forced split counts.
  cuda::IgemmNhwcOptions options;
  options.splits = 4;
  cfg = cuda::PlanIgemmNhwc(l14, 132, 8, options);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->splits, 4);
  EXPECT_EQ(cfg->chunks_per_split, 18);
  EXPECT_FALSE(cuda::PlanIgemmNhwc(l14, 16, 1, options).ok()) << "split-K needs clusters";
  options.splits = 16;
  EXPECT_FALSE(cuda::PlanIgemmNhwc(l14, 132, 8, options).ok()) << "16 needs the non-portable cluster size";
  cfg = cuda::PlanIgemmNhwc(l14, 132, 16, options);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->chunks_per_split, 5);  // split 15 would start at chunk 75 of 72: it adds zeros
  options.splits = 3;
  const StatusOr<cuda::IgemmNhwcConfig> bad = cuda::PlanIgemmNhwc(l14, 132, 16, options);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  options.splits = 32;
  EXPECT_FALSE(cuda::PlanIgemmNhwc(l14, 132, 16, options).ok());
  // A refused layer.
  EXPECT_FALSE(cuda::PlanIgemmNhwc(SquareNhwcGeometry(1, 9, 12, 16, 3, 9, 1, 1), 132, 16).ok());
}

// ---- The candidate list ------------------------------------------------------------------------

TEST(IgemmNhwcGpu, CandidateListHasIgemmForFp16MultiplesOf8Only) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  {
    SCOPED_TRACE("FP16 3x3 64 -> 64");
    IgemmHarness h(Conv3x3(1, 14, 64, 64), Precision::kFp16, 1);
    ASSERT_NO_FATAL_FAILURE(h.Init(false));
    for (int level : {0, 1, 2}) {
      SCOPED_TRACE("level " + std::to_string(level));
      const std::vector<std::string> paths = h.Paths(level);
      ASSERT_GE(paths.size(), 2u);
      EXPECT_EQ(paths.back(), "direct-nhwc");
      EXPECT_EQ(paths[paths.size() - 2], "igemm-nhwc") << "igemm-nhwc must come right before direct-nhwc";
      EXPECT_EQ(IndexOf(paths, "stem-nhwc"), -1);
      EXPECT_EQ(IndexOf(paths, "depthwise-nhwc"), -1);
    }
  }
  {
    SCOPED_TRACE("FP16 C = 8: stem-nhwc, then igemm-nhwc");
    IgemmHarness h({1, 12, 12, 8, 16, 3, 3, {1, 1, 1, 1}}, Precision::kFp16, 1);
    ASSERT_NO_FATAL_FAILURE(h.Init(false));
    const std::vector<std::string> paths = h.Paths();
    ASSERT_GE(paths.size(), 3u);
    EXPECT_EQ(paths[paths.size() - 3], "stem-nhwc");
    EXPECT_EQ(paths[paths.size() - 2], "igemm-nhwc");
    EXPECT_EQ(paths.back(), "direct-nhwc");
  }
  {
    SCOPED_TRACE("FP32");
    IgemmHarness h(Conv3x3(1, 14, 64, 64), Precision::kFp32, 1);
    ASSERT_NO_FATAL_FAILURE(h.Init(false));
    const std::vector<std::string> paths = h.Paths();
    ASSERT_FALSE(paths.empty());
    EXPECT_EQ(IndexOf(paths, "igemm-nhwc"), -1);
    EXPECT_EQ(paths.back(), "direct-nhwc");
  }
  const struct {
    const char* name;
    IgemmCase c;
    int64_t group;
  } refused[] = {
      {"C = 12", {1, 10, 10, 12, 16, 3, 3, {1, 1, 1, 1}}, 1},
      {"K = 12", {1, 10, 10, 16, 12, 3, 3, {1, 1, 1, 1}}, 1},
      {"group 2", {1, 10, 10, 32, 32, 3, 3, {1, 1, 1, 1}}, 2},
  };
  for (const auto& r : refused) {
    SCOPED_TRACE(r.name);
    ConvLayerCase layer = Layer(r.c);
    if (r.group != 1) {
      layer.w[3] = r.c.c / r.group;
      layer.attrs = WithActivation(Conv2dAttrs(r.c.pads, r.c.strides, r.c.dilations, r.group), kRelu);
    }
    ConvLayerHarness h(OpType::kConvNhwc, "igemm", layer, OutputShape(r.c), Precision::kFp16, 2);
    ASSERT_NO_FATAL_FAILURE(h.Init(false));
    const std::vector<std::string> paths = h.Paths();
    ASSERT_FALSE(paths.empty());
    EXPECT_EQ(IndexOf(paths, "igemm-nhwc"), -1);
    EXPECT_EQ(paths.back(), "direct-nhwc");
  }
}

// ---- The candidate forced: ResNet-50 layers ------------------------------------------------------

// The bottleneck layers of every stage (torchvision ResNet-50 v1.5: the stride in the 3x3 conv
// and the projection shortcut), at N = 1 and N = 2; the 14x14 / 7x7 ones through every split.
struct NamedCase {
  const char* name;
  IgemmCase c;
  bool every_split;
};

std::vector<NamedCase> ResNetLayers(int64_t n) {
  return {
      {"56x56 1x1 64->256 +residual", Conv1x1(n, 56, 64, 256, 1, true), false},
      {"56x56 1x1 256->64", Conv1x1(n, 56, 256, 64), false},
      {"56x56 3x3 64->64", Conv3x3(n, 56, 64, 64), false},
      {"56->28 1x1 s2 256->512", Conv1x1(n, 56, 256, 512, 2), false},
      {"56->28 3x3 s2 128->128", Conv3x3(n, 56, 128, 128, 2), false},
      {"28x28 3x3 128->128", Conv3x3(n, 28, 128, 128), true},
      {"28->14 3x3 s2 256->256", Conv3x3(n, 28, 256, 256, 2), true},
      {"28->14 1x1 s2 512->1024", Conv1x1(n, 28, 512, 1024, 2), false},
      {"14x14 3x3 256->256", Conv3x3(n, 14, 256, 256), true},
      {"14x14 1x1 1024->256", Conv1x1(n, 14, 1024, 256), true},
      {"14x14 1x1 256->1024 +residual", Conv1x1(n, 14, 256, 1024, 1, true), false},
      {"14->7 3x3 s2 512->512", Conv3x3(n, 14, 512, 512, 2), true},
      {"14->7 1x1 s2 1024->2048", Conv1x1(n, 14, 1024, 2048, 2), false},
      {"7x7 3x3 512->512", Conv3x3(n, 7, 512, 512), true},
      {"7x7 1x1 2048->512", Conv1x1(n, 7, 2048, 512), true},
      {"7x7 1x1 512->2048 +residual", Conv1x1(n, 7, 512, 2048, 1, true), false},
  };
}

TEST(IgemmNhwcGpu, ResNet50LayersBatch1) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 10;
  for (const NamedCase& c : ResNetLayers(1)) {
    SCOPED_TRACE(c.name);
    ExpectIgemm(c.c, seed++, c.every_split);
  }
}

TEST(IgemmNhwcGpu, ResNet50LayersBatch2) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 40;
  for (const NamedCase& c : ResNetLayers(2)) {
    SCOPED_TRACE(c.name);
    ExpectIgemm(c.c, seed++, c.every_split);
  }
}

// ---- The candidate forced: odd shapes ------------------------------------------------------------

TEST(IgemmNhwcGpu, OddShapes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  IgemmCase odd_m{1, 9, 11, 16, 72, 3, 3, {1, 1, 1, 1}};  // M = 99, K = 72 (one partial n-tile), GEMM-K 144
  IgemmCase dilated{2, 13, 12, 8, 24, 5, 5, {4, 3, 4, 3}, {1, 1}, {2, 2}};  // C 8, GEMM-K 200
  dilated.act = &kSilu;
  IgemmCase asymmetric{1, 17, 15, 24, 40, 3, 2, {0, 1, 2, 0}, {2, 1}, {1, 2}};
  asymmetric.residual = true;
  asymmetric.act = &kRelu6;
  IgemmCase small_k{3, 5, 7, 16, 8, 1, 1, {0, 0, 0, 0}};  // GEMM-K 16: half a chunk; M = 105
  small_k.bias = false;
  small_k.act = nullptr;
  IgemmCase residual_no_bias{1, 10, 10, 32, 48, 3, 3, {2, 0, 1, 1}, {1, 2}};
  residual_no_bias.bias = false;
  residual_no_bias.residual = true;
  IgemmCase wide_k{1, 6, 6, 8, 200, 2, 2, {1, 1, 0, 0}, {1, 1}, {3, 1}};  // 4 n-tiles, the last of 8 channels
  wide_k.act = &kHardSwish;
  IgemmCase pad_beyond{1, 3, 3, 16, 16, 3, 3, {3, 3, 3, 3}};  // windows wholly in the padding
  const struct {
    const char* name;
    IgemmCase c;
  } cases[] = {
      {"M 99, K 72", odd_m},
      {"C 8, 5x5 dilation 2", dilated},
      {"asymmetric pads, strides, dilations; residual", asymmetric},
      {"GEMM-K 16, no bias, no activation", small_k},
      {"residual without bias", residual_no_bias},
      {"K 200, dilation_h 3", wide_k},
      {"pads wider than the window", pad_beyond},
  };
  uint32_t seed = 70;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectIgemm(c.c, seed++, /*every_split=*/true);
  }
}

TEST(IgemmNhwcGpu, EveryActivationWithResidual) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 90;
  for (const ActCase& act : kActivations) {
    SCOPED_TRACE(act.name);
    IgemmCase c = Conv3x3(1, 9, 32, 40);
    c.residual = true;
    c.act = &act;
    IgemmHarness h(c, Precision::kFp16, seed++);
    ASSERT_NO_FATAL_FAILURE(h.Init());
    ASSERT_NO_FATAL_FAILURE(h.ExpectIgemmMatches());
    // The split-K epilogue applies the activation on its own path.
    if (MaxSplits() >= 2) {
      ASSERT_NO_FATAL_FAILURE(h.ExpectSplitMatches(2));
    }
  }
}

// Every candidate of a small FP16 layer, forced by index, matches the reference (igemm-nhwc
// included), and an index past the list falls back to candidate 0.
TEST(IgemmNhwcGpu, EveryCandidateMatches) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  IgemmCase c = Conv3x3(2, 10, 64, 96);
  c.residual = true;
  IgemmHarness h(c, Precision::kFp16, 100);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  const std::vector<std::string> paths = h.Paths();
  ASSERT_GE(IndexOf(paths, "igemm-nhwc"), 0);
  ExpectEveryCandidateMatches(h, paths);
}

// ---- EnqueueIgemmConvNhwc directly ---------------------------------------------------------------

// X, W, B, Z and Y each one half past a 16-byte boundary: the direct-kernel fallback, against the
// CPU reference; nothing outside Y is written.
TEST(IgemmNhwcGpu, MisalignedPointersFallBackToTheDirectKernel) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  IgemmCase c = Conv3x3(1, 7, 32, 24);
  c.residual = true;
  c.act = &kHardSwish;
  IgemmHarness h(c, Precision::kFp16, 110);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  const cuda::NhwcConvGeometry g = h.Geometry();
  const FusedEpilogue act = h.Epilogue();
  ExpectMisalignedLaunchMatches(
      h.args(), h.want(),
      [&](const __half* x, const __half* w, const __half* b, const __half* z, __half* y) {
        return cuda::EnqueueIgemmConvNhwc(nullptr, DataType::kFloat16, g, x, w, b, z, y, act);
      },
      "misaligned igemm-nhwc");
}

TEST(IgemmNhwcGpu, RefusedLayerIsAnErrorWithoutLaunch) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const cuda::NhwcConvGeometry g = SquareNhwcGeometry(1, 8, 16, 16, 3, 8, 1, 1);
  // FP32 and C = 12 are refused before any pointer is touched (null pointers would fault).
  Status s =
      cuda::EnqueueIgemmConvNhwc(nullptr, DataType::kFloat32, g, nullptr, nullptr, nullptr, nullptr, nullptr, {});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("IgemmConvNhwcKernel"), std::string::npos) << s.ToString();
  s = cuda::EnqueueIgemmConvNhwc(nullptr, DataType::kFloat16, SquareNhwcGeometry(1, 8, 12, 16, 3, 8, 1, 1), nullptr,
                                 nullptr, nullptr, nullptr, nullptr, {});
  EXPECT_FALSE(s.ok());
  // A forced split count that is not a power of two up to 8.
  cuda::IgemmNhwcOptions options;
  options.splits = 3;
  s = cuda::EnqueueIgemmConvNhwc(nullptr, DataType::kFloat16, g, nullptr, nullptr, nullptr, nullptr, nullptr, {},
                                 options);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  // An empty batch launches nothing and succeeds.
  const cuda::NhwcConvGeometry empty = SquareNhwcGeometry(0, 8, 16, 16, 3, 8, 1, 1);
  EXPECT_TRUE(
      cuda::EnqueueIgemmConvNhwc(nullptr, DataType::kFloat16, empty, nullptr, nullptr, nullptr, nullptr, nullptr, {})
          .ok());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

// ---- Programmatic dependent launch ---------------------------------------------------------------

// A chain of layers on one stream, each reading the previous one's output and one overwriting
// the input of the layer before it: X0 = direct(Xpre) (an ordinary kernel before a programmatic
// launch), Y1 = igemm(X0), X0 = igemm(Y1) (a write-after-read on the buffer the previous layer
// reads), Y2 = igemm(X0) + X0 (the first two igemm layers split-K where the device has clusters,
// the third the plain kernel). The chained launches declare the weights constant, so their first
// weight copies are issued before each layer waits for the previous one. Launched back to back with
// programmatic launches (the default), the results are bitwise those of ordinary launches with a
// device synchronization after each layer.
TEST(IgemmNhwcGpu, ProgrammaticLaunchesKeepTheStreamOrder) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const cuda::NhwcConvGeometry g_pre = SquareNhwcGeometry(2, 14, 32, 64, 1, 14, 1, 0);
  const cuda::NhwcConvGeometry g_a = SquareNhwcGeometry(2, 14, 64, 128, 3, 14, 1, 1);
  const cuda::NhwcConvGeometry g_b = SquareNhwcGeometry(2, 14, 128, 64, 3, 14, 1, 1);
  const cuda::NhwcConvGeometry g_c = SquareNhwcGeometry(2, 14, 64, 64, 1, 14, 1, 0);
  const Tensor x_pre = Rand({2, 14, 14, 32}, 140);
  const Tensor w_pre = Rand({64, 1, 1, 32}, 141);
  const Tensor w_a = Rand({128, 3, 3, 64}, 142);
  const Tensor w_b = Rand({64, 3, 3, 128}, 143);
  const Tensor w_c = Rand({64, 1, 1, 64}, 144);
  const Tensor bias = Rand({128}, 145);
  DeviceBuffers buffers;
  auto upload = [&](const Tensor& t, void** p) {
    ASSERT_NO_FATAL_FAILURE(buffers.Alloc(static_cast<size_t>(t.num_elements()) * sizeof(__half), p));
    ASSERT_NO_FATAL_FAILURE(CopyToDevice(t, DataType::kFloat16, *p));
  };
  void *dx_pre = nullptr, *dw_pre = nullptr, *dw_a = nullptr, *dw_b = nullptr, *dw_c = nullptr, *db = nullptr;
  ASSERT_NO_FATAL_FAILURE(upload(x_pre, &dx_pre));
  ASSERT_NO_FATAL_FAILURE(upload(w_pre, &dw_pre));
  ASSERT_NO_FATAL_FAILURE(upload(w_a, &dw_a));
  ASSERT_NO_FATAL_FAILURE(upload(w_b, &dw_b));
  ASSERT_NO_FATAL_FAILURE(upload(w_c, &dw_c));
  ASSERT_NO_FATAL_FAILURE(upload(bias, &db));
  const size_t x0_bytes = 2 * 14 * 14 * 64 * sizeof(__half);
  const size_t y1_bytes = 2 * 14 * 14 * 128 * sizeof(__half);
  FusedEpilogue relu;
  relu.kind = FusedEpilogue::Kind::kRelu;
  struct Outputs {
    std::vector<unsigned char> x0, y1, y2;
  };
  auto run = [&](bool programmatic, Outputs* out) {
    void *x0 = nullptr, *y1 = nullptr, *y2 = nullptr;
    ASSERT_NO_FATAL_FAILURE(buffers.Alloc(x0_bytes, &x0));
    ASSERT_NO_FATAL_FAILURE(buffers.Alloc(y1_bytes, &y1));
    ASSERT_NO_FATAL_FAILURE(buffers.Alloc(x0_bytes, &y2));
    for (void* p : {x0, y1, y2}) ASSERT_EQ(cudaMemset(p, 0xFF, p == y1 ? y1_bytes : x0_bytes), cudaSuccess);
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    cuda::IgemmNhwcOptions options;
    options.programmatic_launch = programmatic;
    options.weights_constant = programmatic;  // the weights were uploaded before: prefetched early
    auto sync = [&]() {
      if (!programmatic) {
        ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      }
    };
    Status s = cuda::EnqueueDirectConvNhwc(stream, DataType::kFloat16, g_pre, dx_pre, dw_pre, db, nullptr, x0, relu);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_NO_FATAL_FAILURE(sync());
    s = cuda::EnqueueIgemmConvNhwc(stream, DataType::kFloat16, g_a, x0, dw_a, db, nullptr, y1, relu, options);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_NO_FATAL_FAILURE(sync());
    s = cuda::EnqueueIgemmConvNhwc(stream, DataType::kFloat16, g_b, y1, dw_b, db, nullptr, x0, relu, options);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_NO_FATAL_FAILURE(sync());
    s = cuda::EnqueueIgemmConvNhwc(stream, DataType::kFloat16, g_c, x0, dw_c, nullptr, x0, y2, {}, options);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    cudaStreamDestroy(stream);
    out->x0.resize(x0_bytes);
    out->y1.resize(y1_bytes);
    out->y2.resize(x0_bytes);
    ASSERT_EQ(cudaMemcpy(out->x0.data(), x0, x0_bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(out->y1.data(), y1, y1_bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(out->y2.data(), y2, x0_bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  };
  Outputs serial, chained;
  ASSERT_NO_FATAL_FAILURE(run(false, &serial));
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_NO_FATAL_FAILURE(run(true, &chained));
    EXPECT_TRUE(chained.y1 == serial.y1) << "Y1 = igemm(X0) differs";
    EXPECT_TRUE(chained.x0 == serial.x0) << "X0 = igemm(Y1) differs";
    EXPECT_TRUE(chained.y2 == serial.y2) << "Y2 = igemm(X0) + X0 differs";
  }
  // The serial results are real values: no NaN poison left in Y2.
  const __half* y2 = reinterpret_cast<const __half*>(serial.y2.data());
  for (size_t i = 0; i < x0_bytes / sizeof(__half); ++i) ASSERT_FALSE(std::isnan(__half2float(y2[i]))) << i;
}

// ---- CUDA graphs ---------------------------------------------------------------------------------

// The forced igemm kernel's Enqueue (the 7x7 512 -> 512 layer: a split-K cluster launch where the
// device has clusters) captured into a graph and replayed twice on a poisoned output.
TEST(IgemmNhwcGpu, CudaGraphCaptureAndReplay) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  IgemmCase c = Conv3x3(1, 7, 512, 512);
  c.residual = true;
  IgemmHarness h(c, Precision::kFp16, 120);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  ExpectForcedCandidateGraphReplays(h, "igemm-nhwc");
}

// ---- Recorded tactics and the engine --------------------------------------------------------------

// A plan's recorded label "<n>/igemm-nhwc" rebuilds the igemm candidate alone (PlanRecorded), which
// then runs correctly.
TEST(IgemmNhwcGpu, RecordedLabelRebuildsIgemm) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  IgemmCase c = Conv3x3(1, 14, 256, 256);
  c.residual = true;
  IgemmHarness h(c, Precision::kFp16, 125);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  const std::vector<std::string> paths = h.Paths();
  const int index = IndexOf(paths, "igemm-nhwc");
  ASSERT_GE(index, 0);
  cuda::CudaOpContext ctx = h.Context(index, false, 1);
  const std::string label = std::to_string(paths.size()) + "/igemm-nhwc";
  ctx.tactic_label = label;
  StatusOr<cuda::CudaKernelPtr> created = cuda::CreateConvKernel(ctx);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  cuda::CudaKernelPtr kernel = std::move(*created);
  ASSERT_STREQ(cuda::ConvKernelPath(*kernel), "igemm-nhwc");
  EXPECT_EQ(kernel->TacticLabel(), label);
  EXPECT_EQ(kernel->Tactic(), index);
  EXPECT_NE(kernel->Describe().find("recorded"), std::string::npos) << kernel->Describe();
  kernel->SetWorkspace(nullptr);
  ASSERT_EQ(cudaMemset(h.output().data, 0xFF, h.output().bytes()), cudaSuccess);
  const Status s = kernel->Enqueue(nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  Tensor got = *Tensor::Create(DataType::kFloat32, h.y_shape());
  ASSERT_NO_FATAL_FAILURE(CopyFromDevice(h.output().data, h.dtype(), &got));
  ExpectTensorsClose(got, h.want(), DefaultTolerance(Precision::kFp16), "recorded igemm-nhwc");
}

// The engine (tactic timing on, whatever candidate it picks) with CUDA graphs on FP16 layers the
// igemm kernel takes: the late-stage ResNet layers whose split-K it is made for.
TEST(IgemmNhwcGpu, EngineWithCudaGraphs) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  IgemmCase l7 = Conv3x3(1, 7, 512, 512);
  l7.residual = true;
  const IgemmCase l14 = Conv1x1(2, 14, 1024, 256);
  uint32_t seed = 127;
  for (const IgemmCase& c : {l7, l14}) {
    StatusOr<SingleOpNetwork> single =
        BuildSingleOp(OpType::kConvNhwc, Layer(c).attrs, ConvLayerArgs(Layer(c), OutputShape(c), seed++), 1, 17, "op");
    ASSERT_TRUE(single.ok()) << single.status().ToString();
    ExpectCudaMatchesCpu(single->net, single->feeds, Precision::kFp16, -1, /*cuda_graphs=*/true);
  }
}

// ---- Timing (printed, never asserted) ------------------------------------------------------------

// The ResNet-50 batch-1 layers of the 28x28, 14x14 and 7x7 stages: igemm-nhwc's output first
// checked against the direct-nhwc kernel's (forced; an independent GPU oracle), then every
// candidate forced by index and timed (3 warm-up launches, the median of 21, CUDA events on one
// stream), one line per candidate: "[ igemm-time ] <case> <index>:<path> <ms>", after a line with
// the igemm plan on this device. Nothing about time is asserted.
TEST(IgemmNhwcGpu, TimeEveryCandidateOnResNet50Batch1) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const struct {
    const char* name;
    IgemmCase c;
  } cases[] = {
      {"28x28-1x1-512-128", Conv1x1(1, 28, 512, 128)},
      {"28x28-3x3-128-128", Conv3x3(1, 28, 128, 128)},
      {"28x28-1x1-128-512-res", Conv1x1(1, 28, 128, 512, 1, true)},
      {"28-14-3x3s2-256-256", Conv3x3(1, 28, 256, 256, 2)},
      {"28-14-1x1s2-512-1024", Conv1x1(1, 28, 512, 1024, 2)},
      {"14x14-1x1-1024-256", Conv1x1(1, 14, 1024, 256)},
      {"14x14-3x3-256-256", Conv3x3(1, 14, 256, 256)},
      {"14x14-1x1-256-1024-res", Conv1x1(1, 14, 256, 1024, 1, true)},
      {"14-7-3x3s2-512-512", Conv3x3(1, 14, 512, 512, 2)},
      {"14-7-1x1s2-1024-2048", Conv1x1(1, 14, 1024, 2048, 2)},
      {"7x7-1x1-2048-512", Conv1x1(1, 7, 2048, 512)},
      {"7x7-3x3-512-512", Conv3x3(1, 7, 512, 512)},
      {"7x7-1x1-512-2048-res", Conv1x1(1, 7, 512, 2048, 1, true)},
  };
  const int sms = SmCount();
  const int max_splits = MaxSplits();
  std::printf("[ igemm-time ] device: %d SMs, compute capability %d, split-K up to %d\n", sms, ComputeCapabilityMajor(),
              max_splits);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  uint32_t seed = 130;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    IgemmHarness h(c.c, Precision::kFp16, seed++);
    ASSERT_NO_FATAL_FAILURE(h.Init(false));
    ASSERT_NO_FATAL_FAILURE(ExpectForcedMatchesDirect(h, "igemm-nhwc"));
    const StatusOr<cuda::IgemmNhwcConfig> cfg = cuda::PlanIgemmNhwc(h.Geometry(), sms, max_splits);
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    std::printf("[ igemm-time ] %s plan: %s\n", c.name, cfg->Describe().c_str());
    ASSERT_NO_FATAL_FAILURE(PrintEveryCandidateTime(h, "igemm-time", c.name, stream));
  }
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace testing
}  // namespace edgert
