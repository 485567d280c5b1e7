// The channels-last stem kernel "stem-nhwc" (kernels_conv_stem.h: tensor-core implicit GEMM for
// float16 EdgertConvNhwc layers with C <= 8) against the CPU reference (FP16 rel-L2 tolerance of
// gpu_test_util.h, NaN-poisoned outputs):
//   - StemNhwcSupported on its own (no GPU needed): which layers it takes (the patch limit too);
//   - the candidate list (ConvCandidatePaths): "stem-nhwc" right before "direct-nhwc" for an FP16
//     stem, absent in FP32, for C = 16, for groups, K % 8 != 0 and R * S * C > 256;
//   - the candidate forced by index (CreateConvKernel with a hand-built CudaOpContext, as
//     nhwc_gpu_test.cc's NhwcConvHarness): the ResNet stem (7x7 s2 p3, C 3, K 64) at N = 1 and 2,
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
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/kernels_conv.h"
#include "backend/cuda/kernels_conv_stem.h"
#include "edgert/fused_activation.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

using Ints = std::vector<int64_t>;

Tensor Rand(Shape shape, uint32_t seed) { return RandomTensor(DataType::kFloat32, std::move(shape), seed); }

// One EdgertConvNhwc layer: X [N, H, W, C], W [K, R, S, C / group] (KRSC), Y [N, P, Q, K].
struct StemCase {
  Shape x;
  Shape w;
  Shape y;
  bool bias = true;
  bool residual = false;
  Attributes attrs;
};

Attributes Conv2dAttrs(Ints pads, Ints strides = {1, 1}, Ints dilations = {1, 1}, int64_t group = 1) {
  Attributes a;
  a.Set("pads", std::move(pads));
  a.Set("strides", std::move(strides));
  a.Set("dilations", std::move(dilations));
  a.Set("group", group);
  return a;
}

struct ActCase {
  const char* name;
  bool has_alpha;
  float alpha;
  bool has_beta;
  float beta;
};

const ActCase kRelu = {"Relu", false, 0, false, 0};
const ActCase kRelu6 = {"Clip", true, 0.0f, true, 6.0f};
const ActCase kClipHalf = {"Clip", true, -0.5f, true, 0.5f};
const ActCase kSilu = {"SiLU", false, 0, false, 0};
const ActCase kHardSwish = {"HardSwish", false, 0, false, 0};
const ActCase kActivations[] = {
    kRelu,
    kRelu6,
    kClipHalf,
    {"LeakyRelu", true, 0.1f, false, 0},
    kSilu,
    kHardSwish,
    {"Gelu", false, 0, false, 0},
    {"GeluTanh", false, 0, false, 0},
    {"Sigmoid", false, 0, false, 0},
    {"Tanh", false, 0, false, 0},
    {"HardSigmoid", true, 0.2f, true, 0.5f},
};

Attributes WithActivation(Attributes a, const ActCase& act) {
  a.Set(kActivationAttr, std::string(act.name));
  if (act.has_alpha) a.Set(kActivationAlphaAttr, act.alpha);
  if (act.has_beta) a.Set(kActivationBetaAttr, act.beta);
  return a;
}

// X and the residual are fed at run time; W and B are constants (as in real networks).
std::vector<OpArg> StemArgs(const StemCase& c, uint32_t seed) {
  std::vector<OpArg> args;
  args.push_back(OpArg{Rand(c.x, seed), false});
  args.push_back(OpArg{Rand(c.w, seed + 1), true});
  if (c.bias || c.residual) args.push_back(OpArg{c.bias ? Rand({c.w[0]}, seed + 2) : Tensor{}, true});
  if (c.residual) args.push_back(OpArg{Rand(c.y, seed + 3), false});
  return args;
}

// The CPU reference of EdgertConvNhwc (itself checked against Conv on permuted tensors in
// nhwc_gpu_test.cc).
void CpuReference(const StemCase& c, const std::vector<OpArg>& args, Tensor* want) {
  StatusOr<std::vector<Tensor>> got = RunSingleOp(OpType::kConvNhwc, c.attrs, args, 1, 17, "stem");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ((*got)[0].shape(), c.y);
  *want = std::move((*got)[0]);
}

// Device buffers freed at scope exit.
class DeviceBuffers {
 public:
  DeviceBuffers() = default;
  DeviceBuffers(const DeviceBuffers&) = delete;
  DeviceBuffers& operator=(const DeviceBuffers&) = delete;
  ~DeviceBuffers() {
    for (void* p : buffers_) cudaFree(p);
  }
  void Alloc(size_t bytes, void** p) {
    ASSERT_EQ(cudaMalloc(p, std::max<size_t>(bytes, 1)), cudaSuccess);
    buffers_.push_back(*p);
  }

 private:
  std::vector<void*> buffers_;
};

// Float32 host values to a device buffer of `dtype` (float16 or float32) at `dst`.
void CopyToDevice(const Tensor& v, DataType dtype, void* dst) {
  const int64_t n = v.num_elements();
  if (dtype == DataType::kFloat16) {
    std::vector<__half> h(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) h[static_cast<size_t>(i)] = __float2half(v.data<float>()[i]);
    ASSERT_EQ(cudaMemcpy(dst, h.data(), h.size() * sizeof(__half), cudaMemcpyHostToDevice), cudaSuccess);
  } else {
    ASSERT_EQ(cudaMemcpy(dst, v.data<float>(), static_cast<size_t>(n) * sizeof(float), cudaMemcpyHostToDevice),
              cudaSuccess);
  }
}

// A device buffer of `dtype` at `src` into a float32 tensor of t's shape.
void CopyFromDevice(const void* src, DataType dtype, Tensor* t) {
  const int64_t n = t->num_elements();
  if (dtype == DataType::kFloat16) {
    std::vector<__half> h(static_cast<size_t>(n));
    ASSERT_EQ(cudaMemcpy(h.data(), src, h.size() * sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
    for (int64_t i = 0; i < n; ++i) t->data<float>()[i] = __half2float(h[static_cast<size_t>(i)]);
  } else {
    ASSERT_EQ(cudaMemcpy(t->data<float>(), src, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost),
              cudaSuccess);
  }
}

int IndexOf(const std::vector<std::string>& paths, const std::string& prefix) {
  for (size_t i = 0; i < paths.size(); ++i) {
    if (paths[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
  }
  return -1;
}

// One EdgertConvNhwc layer outside an engine: device copies of the inputs in the precision's
// dtype, a CudaOpContext over them, and (optionally) the CPU reference output.
class StemHarness {
 public:
  StemHarness(StemCase c, Precision precision, uint32_t seed) : case_(std::move(c)), precision_(precision) {
    args_ = StemArgs(case_, seed);
    dtype_ = precision == Precision::kFp16 ? DataType::kFloat16 : DataType::kFloat32;
  }

  // Uploads the inputs and, with `cpu_reference`, computes the reference; call once, under
  // ASSERT_NO_FATAL_FAILURE.
  void Init(bool cpu_reference = true) {
    if (cpu_reference) {
      ASSERT_NO_FATAL_FAILURE(CpuReference(case_, args_, &want_));
    }
    infos_.resize(args_.size());
    std::vector<const ValueInfo*> ptrs(args_.size(), nullptr);
    tensors_.resize(args_.size());
    for (size_t i = 0; i < args_.size(); ++i) {
      if (!args_[i].value.defined()) continue;
      const Tensor& v = args_[i].value;
      infos_[i] = ValueInfo{v.dtype(), v.shape(), args_[i].constant ? &v : nullptr};
      ptrs[i] = &infos_[i];
      tensors_[i].dtype = dtype_;
      tensors_[i].shape = v.shape();
      tensors_[i].host = args_[i].constant ? &v : nullptr;
      ASSERT_NO_FATAL_FAILURE(
          buffers_.Alloc(static_cast<size_t>(v.num_elements()) * DataTypeSize(dtype_), &tensors_[i].data));
      ASSERT_NO_FATAL_FAILURE(CopyToDevice(v, dtype_, tensors_[i].data));
    }
    op_ = std::make_unique<OpContext>(OpType::kConvNhwc, "stem", case_.attrs, 17, ptrs, 1);
    op_->SetOutput(0, DataType::kFloat32, case_.y);
    output_.dtype = dtype_;
    output_.shape = case_.y;
    ASSERT_NO_FATAL_FAILURE(buffers_.Alloc(output_.bytes(), &output_.data));
    cudnn_ = cuda::CreateCudnnHandle();
    ASSERT_NE(cudnn_, nullptr) << "cudnnCreate failed";
    resources_.cudnn = cudnn_.get();
  }

  cuda::CudaOpContext Context(int tactic, bool select, int level) const {
    cuda::CudaOpContext ctx;
    ctx.op = op_.get();
    for (const cuda::CudaTensor& t : tensors_) ctx.inputs.push_back(t.data != nullptr ? &t : nullptr);
    ctx.outputs.push_back(&output_);
    ctx.precision = precision_;
    ctx.resources = &resources_;
    ctx.tactic = tactic;
    ctx.select_tactics = select;
    ctx.tactic_level = level;
    return ctx;
  }

  std::vector<std::string> Paths(int level = 1) const {
    StatusOr<std::vector<std::string>> paths = cuda::ConvCandidatePaths(Context(-1, false, level));
    EXPECT_TRUE(paths.ok()) << paths.status().ToString();
    return paths.ok() ? *paths : std::vector<std::string>{};
  }

  // Creates the kernel with (tactic, select, level), runs it once on a NaN-poisoned output and
  // returns the output (float32) in `got`; `kernel` keeps the kernel.
  void Run(int tactic, bool select, int level, cuda::CudaKernelPtr* kernel, Tensor* got) {
    StatusOr<cuda::CudaKernelPtr> created = cuda::CreateConvKernel(Context(tactic, select, level));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    cuda::CudaKernelPtr k = std::move(*created);
    void* workspace = nullptr;
    if (k->WorkspaceBytes() > 0) {
      ASSERT_NO_FATAL_FAILURE(buffers_.Alloc(k->WorkspaceBytes(), &workspace));
    }
    k->SetWorkspace(workspace);
    ASSERT_EQ(cudaMemset(output_.data, 0xFF, output_.bytes()), cudaSuccess);
    const Status s = k->Enqueue(nullptr);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    *got = *Tensor::Create(DataType::kFloat32, case_.y);
    ASSERT_NO_FATAL_FAILURE(CopyFromDevice(output_.data, dtype_, got));
    *kernel = std::move(k);
  }

  // Run, then the comparison with the CPU reference.
  void RunAndCheck(int tactic, bool select, int level, cuda::CudaKernelPtr* kernel) {
    Tensor got;
    ASSERT_NO_FATAL_FAILURE(Run(tactic, select, level, kernel, &got));
    ExpectTensorsClose(got, want_, DefaultTolerance(precision_),
                       std::string(PrecisionName(precision_)) + " " + (*kernel)->Describe());
  }

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

  // Creates candidate `tactic` (forced), launches it kWarmup times on `stream`, then kTimed times
  // each between two CUDA events, and returns the median in milliseconds in `ms` (-1 when the
  // candidate could not be created or enqueued: the failure is reported, not timed).
  void TimeCandidate(int tactic, cudaStream_t stream, double* ms) {
    constexpr int kWarmup = 3;
    constexpr int kTimed = 21;
    *ms = -1;
    StatusOr<cuda::CudaKernelPtr> created = cuda::CreateConvKernel(Context(tactic, false, 1));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    cuda::CudaKernelPtr k = std::move(*created);
    void* workspace = nullptr;
    if (k->WorkspaceBytes() > 0) {
      ASSERT_NO_FATAL_FAILURE(buffers_.Alloc(k->WorkspaceBytes(), &workspace));
    }
    k->SetWorkspace(workspace);
    for (int i = 0; i < kWarmup; ++i) {
      const Status s = k->Enqueue(stream);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    cudaEvent_t start = nullptr, stop = nullptr;
    ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
    ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
    std::vector<float> times;
    for (int i = 0; i < kTimed; ++i) {
      EXPECT_EQ(cudaEventRecord(start, stream), cudaSuccess);
      const Status s = k->Enqueue(stream);
      EXPECT_EQ(cudaEventRecord(stop, stream), cudaSuccess);
      EXPECT_TRUE(s.ok()) << s.ToString();
      float t = 0;
      if (cudaEventSynchronize(stop) == cudaSuccess && cudaEventElapsedTime(&t, start, stop) == cudaSuccess) {
        times.push_back(t);
      }
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    ASSERT_EQ(times.size(), static_cast<size_t>(kTimed));
    std::sort(times.begin(), times.end());
    *ms = times[times.size() / 2];
  }

  const Tensor& want() const { return want_; }
  const cuda::CudaTensor& output() const { return output_; }
  DataType dtype() const { return dtype_; }

 private:
  StemCase case_;
  Precision precision_;
  DataType dtype_ = DataType::kFloat32;
  std::vector<OpArg> args_;
  Tensor want_;
  std::vector<ValueInfo> infos_;
  std::unique_ptr<OpContext> op_;
  std::vector<cuda::CudaTensor> tensors_;
  cuda::CudaTensor output_;
  std::shared_ptr<cudnnContext> cudnn_;
  mutable cuda::CudaResources resources_;
  DeviceBuffers buffers_;
};

void ExpectStem(const StemCase& c, uint32_t seed) {
  StemHarness h(c, Precision::kFp16, seed);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  h.ExpectStemMatches();
}

// The networks' stems.
StemCase ResNetStem(int64_t n) {
  // (224 + 6 - 7) / 2 + 1 = 112.
  return {{n, 224, 224, 3},
          {64, 7, 7, 3},
          {n, 112, 112, 64},
          true,
          false,
          WithActivation(Conv2dAttrs({3, 3, 3, 3}, {2, 2}), kRelu)};
}

cuda::NhwcConvGeometry Geometry(int64_t n, int64_t hw, int64_t c, int64_t k, int64_t rs, int64_t pq, int64_t stride,
                                int64_t pad) {
  cuda::NhwcConvGeometry g;
  g.n = n;
  g.h = g.w = hw;
  g.c = c;
  g.k = k;
  g.r = g.s = rs;
  g.p = g.q = pq;
  g.stride_h = g.stride_w = stride;
  g.pad_top = g.pad_left = pad;
  return g;
}

// ---- StemNhwcSupported ------------------------------------------------------------------------

TEST(StemNhwc, SupportedLayers) {
  const cuda::NhwcConvGeometry resnet = Geometry(128, 224, 3, 64, 7, 112, 2, 3);
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, resnet));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat32, resnet));
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 640, 3, 16, 3, 320, 2, 1)));
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 9, 1, 8, 1, 9, 1, 0)));  // 1x1, C 1
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 16, 8, 72, 5, 16, 1, 2)));
  // 7x7x5 = 245 -> 256 = kStemMaxGemmK; 6x6x8 = 288 and 11x11x3 = 363 are over it.
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 16, 5, 16, 7, 16, 1, 3)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 16, 8, 16, 6, 11, 1, 0)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 224, 3, 96, 11, 54, 4, 0)));
  // The input patch of a 128-pixel tile must fit kStemMaxPatch = 16384 halves. 7x7 C 3: stride 6
  // (pq (224 + 6 - 7) / 6 + 1 = 38) takes 8 x 16 pixels, a 49 x 97 x 3 = 14259-half patch;
  // stride 7 (pq 32) needs 18816 or more with every shape. 7x7 C 5: stride 4 (pq 56) 35 x 67 x 5 =
  // 11725 halves; stride 5 (pq 45) 42 x 82 x 5 = 17220 or more.
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 224, 3, 16, 7, 38, 6, 3)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 224, 3, 16, 7, 32, 7, 3)));
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 224, 5, 16, 7, 56, 4, 3)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 224, 5, 16, 7, 45, 5, 3)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 32, 9, 16, 1, 32, 1, 0)));   // C 9
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 32, 16, 16, 3, 32, 1, 1)));  // C 16
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 32, 3, 12, 3, 32, 1, 1)));   // K 12
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 32, 3, 4, 3, 32, 1, 1)));    // K 4
  cuda::NhwcConvGeometry grouped = Geometry(1, 32, 4, 16, 3, 32, 1, 1);
  grouped.group = 2;
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, grouped));
  // Batch is 64-bit: a huge N is fine; one image beyond 32-bit offsets is not.
  EXPECT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(int64_t{1} << 20, 224, 3, 64, 7, 112, 2, 3)));
  EXPECT_FALSE(cuda::StemNhwcSupported(DataType::kFloat16, Geometry(1, 40000, 3, 16, 3, 20000, 2, 1)));
}

// ---- The candidate list -------------------------------------------------------------------------

TEST(StemNhwcGpu, CandidateListHasStemForFp16SmallChannelsOnly) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const StemCase small = {{1, 32, 32, 3}, {64, 7, 7, 3}, {1, 16, 16, 64},
                          true,           false,         WithActivation(Conv2dAttrs({3, 3, 3, 3}, {2, 2}), kRelu)};
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
  ExpectStem({{1, 640, 640, 3},
              {16, 3, 3, 3},
              {1, 320, 320, 16},
              true,
              false,
              WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), kSilu)},
             13);
}

// W * C = 641 * 3 is odd: the patch rows are not whole 4-byte words, so the kernel copies the
// patch half by half (its scalar path) instead of with cp.async words; 861 pixel tiles, so the
// persistent loop runs several tiles per CTA through both patch buffers on that path too.
TEST(StemNhwcGpu, OddRowLengthTakesTheScalarPatchPath) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // (641 + 2 - 3) / 2 + 1 = 321.
  ExpectStem({{1, 641, 641, 3},
              {16, 3, 3, 3},
              {1, 321, 321, 16},
              true,
              false,
              WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), kSilu)},
             14);
}

TEST(StemNhwcGpu, MobileNetStem) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // (224 + 2 - 3) / 2 + 1 = 112; K = 32; ReLU6 (MobileNetV2), then SiLU (EfficientNet-B0).
  ExpectStem({{1, 224, 224, 3},
              {32, 3, 3, 3},
              {1, 112, 112, 32},
              true,
              false,
              WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), kRelu6)},
             14);
  ExpectStem({{2, 224, 224, 3},
              {32, 3, 3, 3},
              {2, 112, 112, 32},
              true,
              false,
              WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), kSilu)},
             15);
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
    ExpectStem({{2, 21, 21, 3},
                {32, 3, 3, 3},
                {2, 11, 11, 32},
                true,
                true,
                WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), act)},
               seed++);
  }
}

// Every candidate of a small FP16 stem, forced by index, matches the reference (stem-nhwc
// included), and an index past the list falls back to candidate 0.
TEST(StemNhwcGpu, EveryCandidateMatches) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  StemHarness h({{2, 40, 36, 3},
                 {64, 7, 7, 3},
                 {2, 20, 18, 64},
                 true,
                 false,
                 WithActivation(Conv2dAttrs({3, 3, 3, 3}, {2, 2}), kRelu)},
                Precision::kFp16, 50);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  const std::vector<std::string> paths = h.Paths();
  ASSERT_GE(IndexOf(paths, "stem-nhwc"), 0);
  for (size_t i = 0; i < paths.size(); ++i) {
    SCOPED_TRACE("candidate " + std::to_string(i) + ": " + paths[i]);
    cuda::CudaKernelPtr kernel;
    ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(static_cast<int>(i), false, 1, &kernel));
    EXPECT_EQ(kernel->Tactic(), static_cast<int>(i));
    ASSERT_NE(cuda::ConvKernelPath(*kernel), nullptr);
    EXPECT_EQ(paths[i].rfind(cuda::ConvKernelPath(*kernel), 0), 0u) << kernel->Describe();
  }
  cuda::CudaKernelPtr kernel;
  ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(1000, false, 1, &kernel));
  EXPECT_EQ(kernel->Tactic(), 0);
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
  DeviceBuffers buffers;
  std::vector<__half*> dev(4, nullptr);
  for (size_t i = 0; i < 4; ++i) {
    void* p = nullptr;
    ASSERT_NO_FATAL_FAILURE(
        buffers.Alloc((static_cast<size_t>(args[i].value.num_elements()) + 8) * sizeof(__half), &p));
    dev[i] = static_cast<__half*>(p) + 1;
    ASSERT_NO_FATAL_FAILURE(CopyToDevice(args[i].value, DataType::kFloat16, dev[i]));
  }
  void* y_base = nullptr;
  ASSERT_NO_FATAL_FAILURE(buffers.Alloc((static_cast<size_t>(want.num_elements()) + 8) * sizeof(__half), &y_base));
  __half* y = static_cast<__half*>(y_base) + 1;
  ASSERT_EQ(cudaMemset(y_base, 0xFF, (static_cast<size_t>(want.num_elements()) + 8) * sizeof(__half)), cudaSuccess);
  cuda::NhwcConvGeometry g = Geometry(2, 19, 3, 16, 5, 10, 2, 2);
  ASSERT_TRUE(cuda::StemNhwcSupported(DataType::kFloat16, g));
  FusedEpilogue act;
  act.kind = FusedEpilogue::Kind::kHardSwish;
  const Status s = cuda::EnqueueStemConvNhwc(nullptr, DataType::kFloat16, g, dev[0], dev[1], dev[2], dev[3], y, act);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  Tensor got = *Tensor::Create(DataType::kFloat32, c.y);
  ASSERT_NO_FATAL_FAILURE(CopyFromDevice(y, DataType::kFloat16, &got));
  ExpectTensorsClose(got, want, DefaultTolerance(Precision::kFp16), "unaligned stem-nhwc");
  // The halves around Y were not written (still the 0xFFFF NaN poison).
  __half edges[2];
  ASSERT_EQ(cudaMemcpy(&edges[0], y_base, sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(&edges[1], y + want.num_elements(), sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_TRUE(std::isnan(__half2float(edges[0])));
  EXPECT_TRUE(std::isnan(__half2float(edges[1])));
}

TEST(StemNhwcGpu, RefusedLayerIsAnErrorWithoutLaunch) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const cuda::NhwcConvGeometry g = Geometry(1, 8, 3, 16, 3, 8, 1, 1);
  // FP32 is refused before any pointer is touched (null pointers would fault in a launch).
  const Status s =
      cuda::EnqueueStemConvNhwc(nullptr, DataType::kFloat32, g, nullptr, nullptr, nullptr, nullptr, nullptr, {});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("StemConvNhwcKernel"), std::string::npos) << s.ToString();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  // An empty batch launches nothing and succeeds.
  cuda::NhwcConvGeometry empty = Geometry(0, 8, 3, 16, 3, 8, 1, 1);
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
  StemHarness h({{2, 64, 64, 3},
                 {64, 7, 7, 3},
                 {2, 32, 32, 64},
                 true,
                 true,
                 WithActivation(Conv2dAttrs({3, 3, 3, 3}, {2, 2}), kRelu)},
                Precision::kFp16, 70);
  ASSERT_NO_FATAL_FAILURE(h.Init());
  const int index = IndexOf(h.Paths(), "stem-nhwc");
  ASSERT_GE(index, 0);
  StatusOr<cuda::CudaKernelPtr> created = cuda::CreateConvKernel(h.Context(index, false, 1));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  cuda::CudaKernelPtr kernel = std::move(*created);
  ASSERT_STREQ(cuda::ConvKernelPath(*kernel), "stem-nhwc");
  ASSERT_EQ(kernel->WorkspaceBytes(), 0u);
  kernel->SetWorkspace(nullptr);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  const Status s = kernel->Enqueue(stream);
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(end, cudaSuccess) << cudaGetErrorString(end);
  if (s.ok() && end == cudaSuccess && graph != nullptr) {
    EXPECT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (int replay = 0; exec != nullptr && replay < 2; ++replay) {
      SCOPED_TRACE("replay " + std::to_string(replay));
      ASSERT_EQ(cudaMemsetAsync(h.output().data, 0xFF, h.output().bytes(), stream), cudaSuccess);
      ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      Tensor got = *Tensor::Create(DataType::kFloat32, h.want().shape());
      ASSERT_NO_FATAL_FAILURE(CopyFromDevice(h.output().data, h.dtype(), &got));
      ExpectTensorsClose(got, h.want(), DefaultTolerance(Precision::kFp16), "graph replay");
    }
  }
  if (exec != nullptr) cudaGraphExecDestroy(exec);
  if (graph != nullptr) cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

// The engine (whatever candidate it picks for the stem) with CUDA graphs, FP16 and FP32.
TEST(StemNhwcGpu, EngineWithCudaGraphs) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const StemCase c = {{2, 48, 48, 3}, {32, 3, 3, 3}, {2, 24, 24, 32},
                      true,           true,          WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), kSilu)};
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
  const StemCase yolo1 = {{1, 640, 640, 3},
                          {16, 3, 3, 3},
                          {1, 320, 320, 16},
                          true,
                          false,
                          WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), kSilu)};
  StemCase yolo8 = yolo1;
  yolo8.x[0] = yolo8.y[0] = 8;
  const StemCase mobilenet32 = {{32, 224, 224, 3},
                                {32, 3, 3, 3},
                                {32, 112, 112, 32},
                                true,
                                false,
                                WithActivation(Conv2dAttrs({1, 1, 1, 1}, {2, 2}), kRelu6)};
  const struct {
    const char* name;
    StemCase c;
  } cases[] = {
      {"resnet50-7x7s2-K64-N32", ResNetStem(32)},
      {"yolov8n-3x3s2-K16-640-N1", yolo1},
      {"yolov8n-3x3s2-K16-640-N8", yolo8},
      {"mobilenetv2-3x3s2-K32-N32", mobilenet32},
  };
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  uint32_t seed = 100;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    StemHarness h(c.c, Precision::kFp16, seed++);
    ASSERT_NO_FATAL_FAILURE(h.Init(false));
    const std::vector<std::string> paths = h.Paths();
    const int stem = IndexOf(paths, "stem-nhwc");
    const int direct = IndexOf(paths, "direct-nhwc");
    ASSERT_GE(stem, 0);
    ASSERT_GE(direct, 0);
    cuda::CudaKernelPtr oracle;
    Tensor want;
    ASSERT_NO_FATAL_FAILURE(h.Run(direct, false, 1, &oracle, &want));
    cuda::CudaKernelPtr stem_kernel;
    Tensor got;
    ASSERT_NO_FATAL_FAILURE(h.Run(stem, false, 1, &stem_kernel, &got));
    ExpectTensorsClose(got, want, DefaultTolerance(Precision::kFp16), "stem-nhwc vs direct-nhwc");
    for (size_t i = 0; i < paths.size(); ++i) {
      SCOPED_TRACE("candidate " + std::to_string(i) + ": " + paths[i]);
      double ms = -1;
      ASSERT_NO_FATAL_FAILURE(h.TimeCandidate(static_cast<int>(i), stream, &ms));
      std::string label = std::to_string(i) + ":" + paths[i];
      std::replace(label.begin(), label.end(), ' ', '_');
      std::printf("[ stem-time ] %s %s %.4f\n", c.name, label.c_str(), ms);
    }
    std::fflush(stdout);
  }
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace testing
}  // namespace edgert
