// CUDA EdgertInt8Conv (runtime/src/backend/cuda/kernels_int8_conv.cu) against the CPU reference
// (runtime/src/ops/int8_conv.cc), on one-layer networks with random int8 X / W / Z and random
// per-channel W_scale and bias, with a poisoned arena.
//
//   - FP32 engines: int8 outputs exactly equal for activations without transcendental functions
//     (none, Relu, Clip, LeakyRelu, HardSigmoid, HardSwish), at most one step off on at most 0.1% of
//     the elements for Sigmoid / SiLU; float32 outputs bit-identical (within 1e-6 relative for
//     Sigmoid / SiLU).
//   - FP16 engines (CudaInt8ConvFp16): int8 outputs as in FP32 (B and W_scale must stay float32 on
//     the device, nothing else is float); float outputs are float16 on the device, within the FP16
//     tolerance.
//   - Every candidate (tactic: a tile configuration, single-pass or split-K) forced through the
//     layer's kTacticAttr gives the same output as the CPU; the default engine build times the
//     candidates (the tactic pass) and none is rejected (all produce the same bytes).
//   - Batch-1 late layers (BatchOneLateLayers: ResNet-50's 7x7 and 14x14 stages, M = 49 or 196
//     rows, K_gemm up to 4608; plus batch 2 and an odd K): the split-K candidates really split
//     (their kernel description says "split-K"), the untimed default picks split-K tactic 6 where
//     the rule says so (grid <= half the SMs, K_gemm >= 1024) and single-pass tactic 0 otherwise,
//     and repeated runs of one context (eager, CUDA graph capture, graph replay with new bindings)
//     give the same exact output.
//   - Geometry: 1x1 stride 1 / 2, 3x3 pad 1 stride 1 / 2, 7x7 stride 2 pad 3, dilation 2,
//     asymmetric pads and strides; C = 16 .. 256, K = 8 .. 256 (100: not a multiple of 8), M not a
//     multiple of any tile, batch 1, 2 and 4, with and without residual. (B is always given: the op table
//     makes inputs 0..3 required, so a layer without bias cannot be built.)
// The disabled benchmark (DISABLED_Int8ConvBenchmark) prints time and TOPS of ResNet-50-like layers
// (three large-batch ones and the batch-1 late layers) for every candidate, the tactic pass's choice
// and the FP16 Conv of the same shape.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "edgert/fused_activation.h"
#include "edgert/network.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

// The kernel's tactic candidates: 0..5 single-pass tile configurations, 6..12 split-K and small-M
// ones (kernels_int8_conv.cu, Candidates()); 6 is the split-K default.
constexpr int kNumTactics = 13;
constexpr int kFirstExtraTactic = 6;
constexpr int kSplitDefaultTactic = 6;
// The candidates that are split-K by construction (11 is the single-pass 32x64 tile).
bool IsSplitTactic(int t) { return t >= kFirstExtraTactic && t != 11; }

OpArg In(Tensor t) { return OpArg{std::move(t), false}; }
OpArg Const(Tensor t) { return OpArg{std::move(t), true}; }

struct ConvCase {
  std::string name;
  int64_t n, h, w, c, k, r, s;
  std::vector<int64_t> strides{1, 1};
  std::vector<int64_t> pads{0, 0, 0, 0};
  std::vector<int64_t> dilations{1, 1};
  bool residual = false;
};

struct Activation {
  std::string name;  // empty: none
  float alpha = 0, beta = 0;
  bool has_params = false;
  bool transcendental = false;
};

int64_t OutExtent(int64_t in, int64_t k, int64_t stride, int64_t pad0, int64_t pad1, int64_t dil) {
  return (in + pad0 + pad1 - ((k - 1) * dil + 1)) / stride + 1;
}

Tensor RandomInt8(Shape shape, uint32_t seed) {
  Tensor t = *Tensor::Create(DataType::kInt8, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-128, 127);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(dist(rng));
  return t;
}

// The one-layer network of `cc` with activation `act`; int8 output when `int8_out`.
SingleOpNetwork BuildCase(const ConvCase& cc, const Activation& act, bool int8_out, uint32_t seed) {
  const int64_t p = OutExtent(cc.h, cc.r, cc.strides[0], cc.pads[0], cc.pads[2], cc.dilations[0]);
  const int64_t q = OutExtent(cc.w, cc.s, cc.strides[1], cc.pads[1], cc.pads[3], cc.dilations[1]);
  const int64_t kg = cc.r * cc.s * cc.c;
  // |acc| ~ sqrt(taps) * 74 * 74 for uniform int8 operands: scale v to roughly N(0, 1).
  const float x_scale = 0.05f;
  const double unit = 1.0 / (x_scale * std::sqrt(static_cast<double>(kg)) * 5500.0);
  Tensor w_scale = RandomTensor(DataType::kFloat32, {cc.k}, seed + 3, 0.5 * unit, 1.5 * unit);
  Attributes attrs;
  attrs.Set("x_scale", x_scale);
  attrs.Set("strides", cc.strides);
  attrs.Set("pads", cc.pads);
  attrs.Set("dilations", cc.dilations);
  if (int8_out) attrs.Set("y_scale", act.name == "Sigmoid" ? 1.0f / 120.0f : 1.0f / 40.0f);
  if (cc.residual) attrs.Set("z_scale", 1.0f / 128.0f);
  if (!act.name.empty()) {
    attrs.Set(kActivationAttr, act.name);
    if (act.has_params) {
      attrs.Set(kActivationAlphaAttr, act.alpha);
      attrs.Set(kActivationBetaAttr, act.beta);
    }
  }
  std::vector<OpArg> args{
      In(RandomInt8({cc.n, cc.h, cc.w, cc.c}, seed + 1)), Const(RandomInt8({cc.k, cc.r, cc.s, cc.c}, seed + 2)),
      Const(RandomTensor(DataType::kFloat32, {cc.k}, seed + 4, -0.5, 0.5)), Const(std::move(w_scale))};
  if (cc.residual) args.push_back(In(RandomInt8({cc.n, p, q, cc.k}, seed + 5)));
  StatusOr<SingleOpNetwork> single = BuildSingleOp(OpType::kInt8Conv, attrs, args, 1, 1, "int8conv");
  EXPECT_TRUE(single.ok()) << single.status().ToString();
  return single.ok() ? std::move(*single) : SingleOpNetwork{};
}

// How RunCuda builds and runs the engine.
struct RunOptions {
  bool select_tactics = true;  // false: the untimed default (or the layer's forced tactic)
  int runs = 1;                // > 1: runs on one context (eager, graph capture, replay), all equal
};

// Runs `net` on a CUDA engine of `precision` (arena poisoned); the first output in *out. `engine`
// receives the engine and `kernel` the layer's kernel description (CudaExecutionContext::
// LayerKernel) when not null.
void RunCuda(const NetworkDef& net, const std::vector<Tensor>& feeds, Precision precision, Tensor* out,
             std::shared_ptr<CudaEngine>* engine_out = nullptr, std::string* kernel = nullptr,
             RunOptions run = RunOptions{}) {
  CudaEngineOptions options;
  options.precision = precision;
  options.select_tactics = run.select_tactics;
  StatusOr<std::shared_ptr<CudaEngine>> engine = CudaEngine::Create(net, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  StatusOr<std::unique_ptr<CudaExecutionContext>> context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  (*context)->SetPoisonArena(true);
  for (int r = 0; r < run.runs; ++r) {
    std::vector<Tensor> got;
    Status s = RunOnHost(**context, feeds, &got);
    ASSERT_TRUE(s.ok()) << "run " << r << ": " << s.ToString();
    ASSERT_EQ(got.size(), 1u);
    if (r == 0) {
      *out = got[0];
    } else {
      ASSERT_EQ(got[0].bytes(), out->bytes());
      EXPECT_EQ(std::memcmp(got[0].raw(), out->raw(), out->bytes()), 0) << "run " << r << " differs from run 0";
    }
  }
  if (run.runs > 2) {
    EXPECT_TRUE((*context)->cuda_graphs()) << "the context turned CUDA graphs off";
    EXPECT_GE((*context)->graph_captures(), 1) << "repeated runs captured no CUDA graph";
  }
  if (kernel != nullptr) *kernel = (*context)->LayerKernel(0);
  if (engine_out != nullptr) *engine_out = *engine;
}

// Compares a CUDA output with the CPU's per the rules at the top of the file.
void ExpectMatches(const Tensor& got, const Tensor& want, Precision precision, const Activation& act,
                   const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const int64_t n = want.num_elements();
  if (want.dtype() == DataType::kInt8) {
    int64_t off_by_one = 0, worse = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int d = std::abs(static_cast<int>(got.data<int8_t>()[i]) - static_cast<int>(want.data<int8_t>()[i]));
      if (d == 0) continue;
      if (d == 1 && act.transcendental) {
        ++off_by_one;
        continue;
      }
      if (worse++ < 5) {
        ADD_FAILURE() << what << ": element " << i << " is " << static_cast<int>(got.data<int8_t>()[i])
                      << ", reference " << static_cast<int>(want.data<int8_t>()[i]);
      }
    }
    EXPECT_EQ(worse, 0) << what;
    EXPECT_LE(off_by_one * 1000, n) << what << ": " << off_by_one << " of " << n << " elements one step off";
    return;
  }
  ASSERT_EQ(want.dtype(), DataType::kFloat32) << what;
  if (precision == Precision::kFp16) {
    ExpectTensorsClose(got, want, DefaultTolerance(precision), what);
    return;
  }
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float g = got.data<float>()[i], w = want.data<float>()[i];
    bool ok;
    if (act.transcendental) {
      ok = std::isfinite(g) && std::fabs(g - w) <= 1e-6f * std::max(1.0f, std::fabs(w));
    } else {
      ok = std::memcmp(&g, &w, sizeof(float)) == 0;
    }
    if (!ok && bad++ < 5) ADD_FAILURE() << what << ": element " << i << " is " << g << ", reference " << w;
  }
  EXPECT_EQ(bad, 0) << what << ": elements that differ";
}

// The case on the CPU engine and on CUDA engines of `precisions`: the default build (tactic pass)
// and every tactic forced. `kernels` (when not null) receives the kernel description of every
// forced tactic (the first precision's), in tactic order.
void CheckCase(const ConvCase& cc, const Activation& act, bool int8_out, uint32_t seed,
               std::vector<Precision> precisions = {Precision::kFp32}, std::vector<std::string>* kernels = nullptr) {
  SCOPED_TRACE(cc.name + (act.name.empty() ? "" : " + " + act.name) + (int8_out ? ", int8 output" : ", float output"));
  const SingleOpNetwork single = BuildCase(cc, act, int8_out, seed);
  ASSERT_EQ(single.net.layers.size(), 1u);
  StatusOr<std::unique_ptr<CpuEngine>> cpu = CpuEngine::Create(single.net);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  std::vector<Tensor> want;
  Status s = (*cpu)->Run(single.feeds, &want);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(want.size(), 1u);
  // A degenerate reference (all saturated or all zero) would not test much.
  if (want[0].dtype() == DataType::kInt8) {
    int64_t distinct = 0;
    std::vector<bool> seen(256, false);
    for (int64_t i = 0; i < want[0].num_elements(); ++i) {
      const int v = want[0].data<int8_t>()[i] + 128;
      if (!seen[static_cast<size_t>(v)]) ++distinct;
      seen[static_cast<size_t>(v)] = true;
    }
    ASSERT_GE(distinct, std::min<int64_t>(20, want[0].num_elements() / 4)) << "the test data spans too few values";
  }
  for (Precision precision : precisions) {
    SCOPED_TRACE(PrecisionName(precision));
    Tensor got;
    std::shared_ptr<CudaEngine> engine;
    RunCuda(single.net, single.feeds, precision, &got, &engine);
    if (::testing::Test::HasFatalFailure()) return;
    ExpectMatches(got, want[0], precision, act, "default build");
    ASSERT_EQ(engine->tactics().size(), 1u);
    EXPECT_GE(engine->tactics()[0].tactic, 0);
    EXPECT_GE(engine->tactics()[0].timed, 1) << "the tactic pass timed no candidate";
    EXPECT_EQ(engine->tactics()[0].rejected, 0) << "a tile configuration disagreed with the default";
    const bool record = kernels != nullptr && precision == precisions[0];
    if (record) kernels->clear();
    for (int t = 0; t < kNumTactics; ++t) {
      SCOPED_TRACE("tactic " + std::to_string(t));
      NetworkDef forced = single.net;
      forced.layers[0].attrs.Set(kTacticAttr, int64_t{t});
      std::string kernel;
      RunCuda(forced, single.feeds, precision, &got, nullptr, &kernel);
      if (::testing::Test::HasFatalFailure()) return;
      ExpectMatches(got, want[0], precision, act, "forced tactic");
      // The forced tactic is the one in use (an index past the list would fall back to the default).
      EXPECT_NE(kernel.find("tactic " + std::to_string(t) + "/" + std::to_string(kNumTactics)), std::string::npos)
          << kernel;
      if (record) kernels->push_back(kernel);
    }
  }
}

// The untimed default engine of the case (three runs on one context: eager, graph capture, graph
// replay), compared with the CPU; its kernel description in *kernel.
void CheckDefault(const ConvCase& cc, const Activation& act, bool int8_out, uint32_t seed, std::string* kernel) {
  SCOPED_TRACE(cc.name + ", untimed default" + (int8_out ? ", int8 output" : ", float output"));
  const SingleOpNetwork single = BuildCase(cc, act, int8_out, seed);
  ASSERT_EQ(single.net.layers.size(), 1u);
  StatusOr<std::unique_ptr<CpuEngine>> cpu = CpuEngine::Create(single.net);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  std::vector<Tensor> want;
  Status s = (*cpu)->Run(single.feeds, &want);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(want.size(), 1u);
  Tensor got;
  RunOptions run;
  run.select_tactics = false;
  run.runs = 3;
  RunCuda(single.net, single.feeds, Precision::kFp32, &got, nullptr, kernel, run);
  if (::testing::Test::HasFatalFailure()) return;
  ExpectMatches(got, want[0], Precision::kFp32, act, "untimed default");
}

int DeviceSmCount() {
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return sms;
}

const Activation kNone{};
const Activation kRelu{"Relu"};
const Activation kClip{"Clip", -0.75f, 1.25f, true};
const Activation kLeaky{"LeakyRelu", 0.1f, 0.0f, true};
const Activation kHardSigmoid{"HardSigmoid", 0.3f, 0.45f, true};
const Activation kHardSwish{"HardSwish"};
const Activation kSigmoid{"Sigmoid", 0, 0, false, true};
const Activation kSilu{"SiLU", 0, 0, false, true};

TEST(CudaInt8Conv, OneByOneStrideOne) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ConvCase cc{"1x1 s1", 1, 7, 9, 64, 24, 1, 1};
  CheckCase(cc, kNone, true, 10);
  CheckCase(cc, kRelu, false, 11);
  CheckCase(cc, kNone, false, 12);
}

// The shape INT8 Gemms lower to (a 1x1 convolution of A [N, C] seen as [N, 1, 1, C]): M = N rows.
TEST(CudaInt8Conv, GemmShapedOneByOnePixel) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  CheckCase(ConvCase{"gemm 1x2048 -> 1000", 1, 1, 1, 2048, 1000, 1, 1}, kNone, false, 70);
  CheckCase(ConvCase{"gemm 5x256 -> 96", 5, 1, 1, 256, 96, 1, 1}, kRelu, true, 71);
}

TEST(CudaInt8Conv, OneByOneStrideTwoBatch4) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ConvCase cc{"1x1 s2", 4, 14, 14, 256, 64, 1, 1};
  cc.strides = {2, 2};
  cc.residual = true;
  CheckCase(cc, kRelu, true, 20);
  CheckCase(cc, kLeaky, false, 21);
}

TEST(CudaInt8Conv, ThreeByThreePadOneStrideOne) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ConvCase cc{"3x3 p1 s1", 1, 13, 11, 32, 100, 3, 3};
  cc.pads = {1, 1, 1, 1};
  cc.residual = true;
  CheckCase(cc, kRelu, true, 30);
  CheckCase(cc, kClip, true, 31);
  CheckCase(cc, kNone, false, 32);
  CheckCase(cc, kHardSwish, true, 33);
}

TEST(CudaInt8Conv, ThreeByThreePadOneStrideTwo) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ConvCase cc{"3x3 p1 s2", 4, 15, 15, 48, 256, 3, 3};
  cc.strides = {2, 2};
  cc.pads = {1, 1, 1, 1};
  CheckCase(cc, kRelu, true, 40);
  CheckCase(cc, kHardSigmoid, false, 41);
}

TEST(CudaInt8Conv, SevenBySevenStrideTwoStem) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ConvCase cc{"7x7 s2 p3", 1, 32, 30, 16, 8, 7, 7};
  cc.strides = {2, 2};
  cc.pads = {3, 3, 3, 3};
  CheckCase(cc, kRelu, true, 50);
  CheckCase(cc, kNone, false, 51);
}

TEST(CudaInt8Conv, DilationTwo) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ConvCase cc{"3x3 d2 p2", 2, 17, 19, 32, 64, 3, 3};
  cc.pads = {2, 2, 2, 2};
  cc.dilations = {2, 2};
  CheckCase(cc, kLeaky, true, 60);
  CheckCase(cc, kRelu, false, 61);
}

TEST(CudaInt8Conv, AsymmetricPadsAndStrides) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ConvCase cc{"3x2 asymmetric", 1, 12, 21, 16, 24, 3, 2};
  cc.strides = {1, 2};
  cc.pads = {0, 1, 2, 0};
  cc.dilations = {1, 3};
  cc.residual = true;
  CheckCase(cc, kNone, true, 70);
  CheckCase(cc, kClip, false, 71);
}

TEST(CudaInt8Conv, LargeLayerUsesEveryTile) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // M = 2 * 14 * 14 = 392 (not a multiple of 64 or 128), K_gemm = 2304 (36 K tiles), K = 256.
  ConvCase cc{"3x3 C256 K256", 2, 14, 14, 256, 256, 3, 3};
  cc.pads = {1, 1, 1, 1};
  cc.residual = true;
  CheckCase(cc, kRelu, true, 80);
  cc.residual = false;
  CheckCase(cc, kNone, false, 81);
}

TEST(CudaInt8Conv, TranscendentalActivations) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ConvCase cc{"3x3 p1 sigmoid", 1, 10, 10, 48, 64, 3, 3};
  cc.pads = {1, 1, 1, 1};
  CheckCase(cc, kSigmoid, true, 90);
  CheckCase(cc, kSigmoid, false, 91);
  cc.residual = true;
  CheckCase(cc, kSilu, true, 92);
  CheckCase(cc, kSilu, false, 93);
}

// K_gemm not a multiple of the 64-byte K tile (C = 16 and 48 with 1x1 / 3x3 filters) and K past the
// last full column tile.
TEST(CudaInt8Conv, PartialKTiles) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ConvCase a{"1x1 C16", 4, 5, 6, 16, 100, 1, 1};
  CheckCase(a, kRelu, true, 100);
  ConvCase b{"1x1 C48 K8", 1, 9, 9, 48, 8, 1, 1};
  CheckCase(b, kNone, true, 101);
  CheckCase(b, kNone, false, 102);
}

// Batch-1 late layers of ResNet-50 (M = 49 or 196 output pixels, a handful of column tiles, a long
// K_gemm), where split-K matters, plus batch 2 with an odd K (the scalar partial and store paths).
// Every candidate (forced) against the CPU, the split ones really splitting; the untimed default
// per the rule (tactic 6 split-K when tactic 0's grid has at most SMs / 2 blocks and K_gemm >=
// 1024, else tactic 0), run three times on one context (CUDA graph capture and replay).
TEST(CudaInt8Conv, BatchOneLateLayers) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const int sms = DeviceSmCount();
  ASSERT_GT(sms, 0);
  struct LateCase {
    ConvCase cc;
    bool split_default;  // the rule picks tactic 6
    bool all_split;      // every split candidate has >= 2 slices (on >= 100 SMs)
  };
  ConvCase a{"7x7 C512 K512 3x3 p1 b1", 1, 7, 7, 512, 512, 3, 3};
  a.pads = {1, 1, 1, 1};
  ConvCase b{"7x7 C2048 K512 1x1 b1", 1, 7, 7, 2048, 512, 1, 1};
  ConvCase c{"14x14 C1024 K256 1x1 b1", 1, 14, 14, 1024, 256, 1, 1};
  ConvCase d{"7x7 C512 K2048 1x1 +Z b1", 1, 7, 7, 512, 2048, 1, 1};
  d.residual = true;
  ConvCase e{"7x7 C256 K99 3x3 p1 b2", 2, 7, 7, 256, 99, 3, 3};
  e.pads = {1, 1, 1, 1};
  e.residual = true;
  uint32_t seed = 200;
  for (const LateCase& lc : {LateCase{a, true, true}, LateCase{b, true, true}, LateCase{c, true, true},
                             LateCase{d, false, false}, LateCase{e, true, true}}) {
    SCOPED_TRACE(lc.cc.name);
    for (bool int8_out : {true, false}) {
      const Activation& act = int8_out ? kRelu : (lc.cc.k % 2 == 1 ? kClip : kNone);
      std::vector<std::string> kernels;
      CheckCase(lc.cc, act, int8_out, seed++, {Precision::kFp32}, &kernels);
      if (::testing::Test::HasFatalFailure()) return;
      ASSERT_EQ(kernels.size(), static_cast<size_t>(kNumTactics));
      for (int t = 0; t < kNumTactics; ++t) {
        const bool split = kernels[static_cast<size_t>(t)].find("split-K") != std::string::npos;
        if (!IsSplitTactic(t)) {
          EXPECT_FALSE(split) << "tactic " << t << ": " << kernels[static_cast<size_t>(t)];
        } else if ((lc.all_split && sms >= 100) || t == 6 || t == 7) {
          EXPECT_TRUE(split) << "tactic " << t << " does not split on " << sms
                             << " SMs: " << kernels[static_cast<size_t>(t)];
        }
      }
      std::string kernel;
      CheckDefault(lc.cc, act, int8_out, seed++, &kernel);
      if (::testing::Test::HasFatalFailure()) return;
      const std::string want =
          "tactic " + std::to_string(lc.split_default ? kSplitDefaultTactic : 0) + "/" + std::to_string(kNumTactics);
      EXPECT_NE(kernel.find(want), std::string::npos) << "default on " << sms << " SMs: " << kernel;
      EXPECT_EQ(kernel.find("split-K") != std::string::npos, lc.split_default) << kernel;
    }
  }
  // FP16 engine, float16 output through the split-K reduction (tactic 6 forced among the others).
  CheckCase(a, kNone, false, seed++, {Precision::kFp16});
}

// FP16 engines: float32 tensors live as float16 on the device, except B and W_scale of
// EdgertInt8Conv, which the engine keeps float32 (the kernel refuses anything else): int8 outputs
// are still exact, float outputs (float16 on the device) within the FP16 tolerance.
TEST(CudaInt8ConvFp16, Int8AndFloatOutputs) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const std::vector<Precision> fp16{Precision::kFp16};
  ConvCase a{"3x3 p1 s1", 2, 13, 11, 32, 100, 3, 3};
  a.pads = {1, 1, 1, 1};
  a.residual = true;
  CheckCase(a, kRelu, true, 110, fp16);
  CheckCase(a, kLeaky, false, 111, fp16);
  ConvCase b{"1x1 s2", 4, 14, 14, 256, 64, 1, 1};
  b.strides = {2, 2};
  CheckCase(b, kNone, true, 112, fp16);
  CheckCase(b, kSilu, false, 113, fp16);
}

// Median time of one Enqueue of `net` (device buffers bound, inputs uploaded once, CUDA graphs as
// the engine's default) on an engine built with `options`; the engine's first layer tactic in
// *tactic. Negative on failure (reported as a test failure).
double TimeEngineMs(const NetworkDef& net, const std::vector<Tensor>& feeds, const CudaEngineOptions& options,
                    int* tactic, std::string* kernel = nullptr) {
  auto engine = CudaEngine::Create(net, options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  if (!engine.ok()) return -1;
  *tactic = (*engine)->tactics().empty() ? -1 : (*engine)->tactics()[0].tactic;
  auto context = (*engine)->CreateContext();
  EXPECT_TRUE(context.ok()) << context.status().ToString();
  if (!context.ok()) return -1;
  if (kernel != nullptr) *kernel = (*context)->LayerKernel(0);
  std::vector<void*> buffers;
  double median = -1;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  bool ok = cudaStreamCreate(&stream) == cudaSuccess && cudaEventCreate(&start) == cudaSuccess &&
            cudaEventCreate(&stop) == cudaSuccess;
  size_t fed = 0;
  for (int io = 0; ok && io < (*engine)->NumIOTensors(); ++io) {
    const IOTensorInfo& info = (*engine)->IOTensor(io);
    const size_t bytes = static_cast<size_t>(NumElements(info.shape)) * DataTypeSize(info.dtype);
    void* p = nullptr;
    ok = cudaMalloc(&p, bytes) == cudaSuccess;
    if (!ok) break;
    buffers.push_back(p);
    if (info.is_input) {
      // Float inputs of an FP16 engine are float16 on the device: the timing does not need the
      // values, only defined memory.
      ok = fed < feeds.size() &&
           (feeds[fed].bytes() == bytes ? cudaMemcpy(p, feeds[fed].raw(), bytes, cudaMemcpyHostToDevice)
                                        : cudaMemset(p, 0, bytes)) == cudaSuccess;
      ++fed;
    }
    ok = ok && (*context)->SetTensorAddress(io, p).ok();
  }
  std::vector<float> times;
  for (int i = 0; ok && i < 3; ++i) ok = (*context)->Enqueue(stream).ok();
  constexpr int kBatches = 5, kRuns = 10;
  for (int b = 0; ok && b < kBatches; ++b) {
    ok = cudaEventRecord(start, stream) == cudaSuccess;
    for (int i = 0; ok && i < kRuns; ++i) ok = (*context)->Enqueue(stream).ok();
    float ms = 0;
    ok = ok && cudaEventRecord(stop, stream) == cudaSuccess && cudaEventSynchronize(stop) == cudaSuccess &&
         cudaEventElapsedTime(&ms, start, stop) == cudaSuccess;
    times.push_back(ms / kRuns);
  }
  EXPECT_TRUE(ok) << "benchmark run failed";
  if (ok) {
    std::sort(times.begin(), times.end());
    median = times[times.size() / 2];
  }
  if (stream != nullptr) cudaStreamSynchronize(stream);
  for (void* p : buffers) cudaFree(p);
  if (start != nullptr) cudaEventDestroy(start);
  if (stop != nullptr) cudaEventDestroy(stop);
  if (stream != nullptr) cudaStreamDestroy(stream);
  return median;
}

// Prints the time and int8 TOPS (2 * M * K * K_gemm per launch) of ResNet-50-like layers (large
// batches, then batch-1 late layers) for every tactic with its kernel description, for the untimed
// default, for the engine's own choice (tactic pass), and for the same convolution in FP16 through
// the Conv kernel (cuDNN; NCHW float16, bias + Relu, no residual) for comparison. Times are of one
// whole-engine Enqueue (CUDA graph), so they include the engine's input and output copies. Run with
// --gtest_also_run_disabled_tests --gtest_filter='*Int8ConvBenchmark*'.
TEST(CudaInt8Conv, DISABLED_Int8ConvBenchmark) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Layer {
    const char* name;
    int64_t n, hw, c, k, rs;
  };
  for (const Layer& l :
       {Layer{"3x3 C256 K256 56x56 b32", 32, 56, 256, 256, 3},
        Layer{"1x1 C1024 K256 14x14 b128", 128, 14, 1024, 256, 1}, Layer{"1x1 C64 K256 56x56 b32", 32, 56, 64, 256, 1},
        Layer{"3x3 C512 K512 7x7 b1", 1, 7, 512, 512, 3}, Layer{"1x1 C2048 K512 7x7 b1", 1, 7, 2048, 512, 1},
        Layer{"1x1 C512 K2048 7x7 +Z b1", 1, 7, 512, 2048, 1}, Layer{"1x1 C1024 K256 14x14 b1", 1, 14, 1024, 256, 1},
        Layer{"3x3 C256 K256 14x14 b1", 1, 14, 256, 256, 3}, Layer{"3x3 C128 K128 28x28 b1", 1, 28, 128, 128, 3}}) {
    ConvCase cc{l.name, l.n, l.hw, l.hw, l.c, l.k, l.rs, l.rs};
    if (l.rs == 3) cc.pads = {1, 1, 1, 1};
    cc.residual = std::strstr(l.name, "+Z") != nullptr;
    const SingleOpNetwork single = BuildCase(cc, kRelu, true, 7);
    const double ops = 2.0 * l.n * l.hw * l.hw * l.k * l.rs * l.rs * l.c;
    auto report = [&](const std::string& what, double ms, int tactic, const std::string& kernel = {}) {
      std::printf("%-28s %-22s tactic %2d: %8.4f ms  %7.1f TOPS  %s\n", l.name, what.c_str(), tactic, ms,
                  ops / (ms * 1e-3) / 1e12, kernel.c_str());
    };
    int tactic = -1;
    std::string kernel;
    for (int t = 0; t < kNumTactics; ++t) {
      NetworkDef forced = single.net;
      forced.layers[0].attrs.Set(kTacticAttr, int64_t{t});
      const double ms = TimeEngineMs(forced, single.feeds, CudaEngineOptions{}, &tactic, &kernel);
      report("int8 forced", ms, tactic, kernel);
    }
    CudaEngineOptions untimed;
    untimed.select_tactics = false;
    const double default_ms = TimeEngineMs(single.net, single.feeds, untimed, &tactic, &kernel);
    report("int8 untimed default", default_ms, tactic, kernel);
    const double tuned_ms = TimeEngineMs(single.net, single.feeds, CudaEngineOptions{}, &tactic, &kernel);
    report("int8 tactic pass", tuned_ms, tactic, kernel);
    Attributes conv;
    conv.Set("pads", cc.pads);
    conv.Set(kActivationAttr, std::string("Relu"));
    StatusOr<SingleOpNetwork> fp =
        BuildSingleOp(OpType::kConv, conv,
                      {In(RandomTensor(DataType::kFloat32, {l.n, l.c, l.hw, l.hw}, 1)),
                       Const(RandomTensor(DataType::kFloat32, {l.k, l.c, l.rs, l.rs}, 2, -0.1, 0.1)),
                       Const(RandomTensor(DataType::kFloat32, {l.k}, 3))},
                      1, 17, "conv");
    ASSERT_TRUE(fp.ok()) << fp.status().ToString();
    CudaEngineOptions fp16;
    fp16.precision = Precision::kFp16;
    const double fp16_ms = TimeEngineMs(fp->net, fp->feeds, fp16, &tactic);
    report("fp16 Conv (cuDNN)", fp16_ms, tactic);
  }
}

}  // namespace
}  // namespace testing
}  // namespace edgert
