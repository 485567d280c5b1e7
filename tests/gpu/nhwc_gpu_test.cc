// The channels-last layers EdgertConvNhwc and EdgertMaxPoolNhwc (ops/nhwc.h) on CUDA against the
// CPU reference, FP32 and FP16 (rel-L2 tolerances of gpu_test_util.h, poisoned outputs):
//   - through the engine (ExpectOpMatches): 1x1, 3x3 pad 1 stride 1 / 2, the 7x7 stride-2 stem
//     with C = 3, groups, depthwise, dilations, asymmetric pads, auto_pad, bias / residual / every
//     fused activation, batch > 1, C and K not multiples of 8, a CUDA-graph replay; MaxPoolNhwc
//     3x3 s2 p1, 2x2 s2, ceil_mode, dilations;
//   - through CreateConvKernel (NhwcConvHarness, as conv_gpu_test.cc's ConvHarness): every tactic
//     candidate forced by index (none of them an NCHW kernel), the timed selection, and the path
//     an FP16 ResNet-like 3x3 layer takes (a cuDNN one: a silent fallback to the direct kernel
//     fails).
// The CPU references are themselves checked against the NCHW operators (Conv, MaxPool) on the
// permuted tensors (exactly for MaxPool, 1e-5 for Conv), so a GPU kernel and a CPU reference
// cannot agree on a wrong layout.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/kernels_conv.h"
#include "edgert/fused_activation.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

using Ints = std::vector<int64_t>;

Tensor Rand(Shape shape, uint32_t seed) { return RandomTensor(DataType::kFloat32, std::move(shape), seed); }

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
struct NhwcCase {
  Shape x;
  Shape w;
  bool bias = true;
  bool residual = false;
  Attributes attrs;
};

// X and the residual are fed at run time; W and B are constants (as in real networks).
std::vector<OpArg> NhwcArgs(const NhwcCase& c, const Shape& y_shape, uint32_t seed) {
  std::vector<OpArg> args;
  args.push_back(OpArg{Rand(c.x, seed), false});
  args.push_back(OpArg{Rand(c.w, seed + 1), true});
  const int64_t k = c.w[0];
  if (c.bias || c.residual) args.push_back(OpArg{c.bias ? Rand({k}, seed + 2) : Tensor{}, true});
  if (c.residual) args.push_back(OpArg{Rand(y_shape, seed + 3), false});
  return args;
}

// The CPU reference of EdgertConvNhwc on `args`, checked against ONNX Conv on the permuted
// tensors (W KRSC -> KCRS is the same permutation as NHWC -> NCHW).
void NhwcReference(const NhwcCase& c, const std::vector<OpArg>& args, const Shape& y_shape, Tensor* want) {
  StatusOr<std::vector<Tensor>> got = RunSingleOp(OpType::kConvNhwc, c.attrs, args, 1, 17, "conv_nhwc");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ((*got)[0].shape(), y_shape);
  std::vector<OpArg> nchw = args;
  nchw[0].value = Permute(args[0].value, true);
  nchw[1].value = Permute(args[1].value, true);
  if (nchw.size() > 3) nchw[3].value = Permute(args[3].value, true);
  StatusOr<std::vector<Tensor>> conv = RunSingleOp(OpType::kConv, c.attrs, nchw, 1, 17, "conv");
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  ExpectTensorsClose((*got)[0], Permute((*conv)[0], false), 1e-5, "CPU EdgertConvNhwc vs Conv on permuted tensors");
  *want = std::move((*got)[0]);
}

// Engine-level check (CPU reference vs CUDA engine, FP32 and FP16, poisoned arena).
void ExpectNhwcConv(const NhwcCase& c, const Shape& y_shape, uint32_t seed = 1) {
  const std::vector<OpArg> args = NhwcArgs(c, y_shape, seed);
  Tensor want;
  ASSERT_NO_FATAL_FAILURE(NhwcReference(c, args, y_shape, &want));
  ExpectOpMatches(OpType::kConvNhwc, c.attrs, args);
}

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

const ActCase kActivations[] = {
    {"Relu", false, 0, false, 0},
    {"Clip", true, 0.0f, true, 6.0f},
    {"Clip", true, -0.5f, true, 0.5f},
    {"LeakyRelu", true, 0.1f, false, 0},
    {"SiLU", false, 0, false, 0},
    {"HardSwish", false, 0, false, 0},
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
      BuildSingleOp(OpType::kConvNhwc, c.attrs, NhwcArgs(c, {2, 9, 9, 16}, 11), 1, 17, "op");
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    ExpectCudaMatchesCpu(single->net, single->feeds, p, -1, /*cuda_graphs=*/true);
  }
}

// ---- EdgertConvNhwc through CreateConvKernel: tactics and paths -----------------------------

// One EdgertConvNhwc layer outside an engine: the CPU reference output, device copies of the
// inputs in the precision's device dtype, and a CudaOpContext over them.
class NhwcConvHarness {
 public:
  NhwcConvHarness(NhwcCase c, Shape y_shape, Precision precision, uint32_t seed)
      : case_(std::move(c)), y_shape_(std::move(y_shape)), precision_(precision) {
    args_ = NhwcArgs(case_, y_shape_, seed);
    dtype_ = precision == Precision::kFp16 ? DataType::kFloat16 : DataType::kFloat32;
  }
  ~NhwcConvHarness() {
    for (void* p : buffers_) cudaFree(p);
  }
  NhwcConvHarness(const NhwcConvHarness&) = delete;
  NhwcConvHarness& operator=(const NhwcConvHarness&) = delete;

  // Computes the reference and uploads the inputs; call once, under ASSERT_NO_FATAL_FAILURE.
  void Init() {
    ASSERT_NO_FATAL_FAILURE(NhwcReference(case_, args_, y_shape_, &want_));
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
      ASSERT_NO_FATAL_FAILURE(Upload(v, &tensors_[i].data));
    }
    op_ = std::make_unique<OpContext>(OpType::kConvNhwc, "conv_nhwc", case_.attrs, 17, ptrs, 1);
    op_->SetOutput(0, DataType::kFloat32, y_shape_);
    output_.dtype = dtype_;
    output_.shape = y_shape_;
    ASSERT_NO_FATAL_FAILURE(Alloc(output_.bytes(), &output_.data));
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

  std::vector<std::string> Paths(int level) const {
    StatusOr<std::vector<std::string>> paths = cuda::ConvCandidatePaths(Context(-1, false, level));
    EXPECT_TRUE(paths.ok()) << paths.status().ToString();
    return paths.ok() ? *paths : std::vector<std::string>{};
  }

  // Creates the kernel with (tactic, select, level), runs it once on a NaN-poisoned output and
  // compares with the CPU reference; `kernel` keeps it for further checks.
  void RunAndCheck(int tactic, bool select, int level, cuda::CudaKernelPtr* kernel) {
    StatusOr<cuda::CudaKernelPtr> created = cuda::CreateConvKernel(Context(tactic, select, level));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    cuda::CudaKernelPtr k = std::move(*created);
    void* workspace = nullptr;
    if (k->WorkspaceBytes() > 0) {
      ASSERT_NO_FATAL_FAILURE(Alloc(k->WorkspaceBytes(), &workspace));
    }
    k->SetWorkspace(workspace);
    ASSERT_EQ(cudaMemset(output_.data, 0xFF, output_.bytes()), cudaSuccess);
    const Status s = k->Enqueue(nullptr);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    Tensor got = *Tensor::Create(DataType::kFloat32, y_shape_);
    ASSERT_NO_FATAL_FAILURE(Download(output_.data, &got));
    ExpectTensorsClose(got, want_, DefaultTolerance(precision_),
                       std::string(PrecisionName(precision_)) + " " + k->Describe());
    *kernel = std::move(k);
  }

 private:
  void Alloc(size_t bytes, void** p) {
    ASSERT_EQ(cudaMalloc(p, std::max<size_t>(bytes, 1)), cudaSuccess);
    buffers_.push_back(*p);
  }
  void Upload(const Tensor& v, void** p) {
    const int64_t n = v.num_elements();
    ASSERT_NO_FATAL_FAILURE(Alloc(static_cast<size_t>(n) * DataTypeSize(dtype_), p));
    if (dtype_ == DataType::kFloat16) {
      std::vector<__half> h(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) h[static_cast<size_t>(i)] = __float2half(v.data<float>()[i]);
      ASSERT_EQ(cudaMemcpy(*p, h.data(), h.size() * sizeof(__half), cudaMemcpyHostToDevice), cudaSuccess);
    } else {
      ASSERT_EQ(cudaMemcpy(*p, v.data<float>(), static_cast<size_t>(n) * sizeof(float), cudaMemcpyHostToDevice),
                cudaSuccess);
    }
  }
  void Download(const void* p, Tensor* t) {
    const int64_t n = t->num_elements();
    if (dtype_ == DataType::kFloat16) {
      std::vector<__half> h(static_cast<size_t>(n));
      ASSERT_EQ(cudaMemcpy(h.data(), p, h.size() * sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
      for (int64_t i = 0; i < n; ++i) t->data<float>()[i] = __half2float(h[static_cast<size_t>(i)]);
    } else {
      ASSERT_EQ(cudaMemcpy(t->data<float>(), p, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost),
                cudaSuccess);
    }
  }

  NhwcCase case_;
  Shape y_shape_;
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
  std::vector<void*> buffers_;
};

int IndexOf(const std::vector<std::string>& paths, const std::string& prefix) {
  for (size_t i = 0; i < paths.size(); ++i) {
    if (paths[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
  }
  return -1;
}

// Every candidate of a layer, forced by index, matches the CPU reference; the list is stable,
// ends with the NHWC direct kernel, has the NHWC depthwise kernel iff `depthwise`, and never an
// NCHW kernel ("direct", "depthwise").
void ExpectEveryCandidate(const NhwcCase& c, const Shape& y_shape, uint32_t seed, bool depthwise) {
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    NhwcConvHarness h(c, y_shape, p, seed);
    ASSERT_NO_FATAL_FAILURE(h.Init());
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
    for (size_t i = 0; i < paths.size(); ++i) {
      SCOPED_TRACE("candidate " + std::to_string(i) + ": " + paths[i]);
      cuda::CudaKernelPtr kernel;
      ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(static_cast<int>(i), false, 1, &kernel));
      EXPECT_EQ(kernel->Tactic(), static_cast<int>(i));
      ASSERT_NE(cuda::ConvKernelPath(*kernel), nullptr);
      EXPECT_EQ(paths[i].rfind(cuda::ConvKernelPath(*kernel), 0), 0u) << kernel->Describe();
    }
    // An index past the list falls back to candidate 0.
    cuda::CudaKernelPtr kernel;
    ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(1000, false, 1, &kernel));
    EXPECT_EQ(kernel->Tactic(), 0);
  }
}

TEST(NhwcConvTactics, EveryCandidateMatches) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  {
    SCOPED_TRACE("3x3 C=16 K=32 + bias");
    ExpectEveryCandidate({{2, 10, 12, 16}, {32, 3, 3, 16}, true, false, Conv2dAttrs({1, 1, 1, 1})}, {2, 10, 12, 32}, 21,
                         false);
  }
  {
    SCOPED_TRACE("1x1 + bias + residual + Relu");
    ExpectEveryCandidate({{2, 9, 9, 16}, {8, 1, 1, 16}, true, true, WithActivation(Attributes{}, kActivations[0])},
                         {2, 9, 9, 8}, 22, false);
  }
  {
    SCOPED_TRACE("stem 7x7 stride 2 C=3 + bias + Relu");
    ExpectEveryCandidate({{1, 32, 32, 3},
                          {16, 7, 7, 3},
                          true,
                          false,
                          WithActivation(Conv2dAttrs({3, 3, 3, 3}, {2, 2}), kActivations[0])},
                         {1, 16, 16, 16}, 23, false);
  }
  {
    SCOPED_TRACE("3x3 C=5 K=3 stride 2, no bias");
    ExpectEveryCandidate({{2, 9, 8, 5}, {3, 3, 3, 5}, false, false, Conv2dAttrs({1, 1, 1, 1}, {2, 2})}, {2, 5, 4, 3},
                         24, false);
  }
  {
    SCOPED_TRACE("grouped 3x3, 4 groups, dilation 2");
    ExpectEveryCandidate({{1, 11, 11, 16}, {16, 3, 3, 4}, true, false, Conv2dAttrs({2, 2, 2, 2}, {1, 1}, {2, 2}, 4)},
                         {1, 11, 11, 16}, 25, false);
  }
  {
    SCOPED_TRACE("depthwise 3x3 C=16 + bias + Clip(0, 6)");
    ExpectEveryCandidate({{2, 14, 14, 16},
                          {16, 3, 3, 1},
                          true,
                          false,
                          WithActivation(Conv2dAttrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 16), kActivations[1])},
                         {2, 14, 14, 16}, 26, true);
  }
  {
    SCOPED_TRACE("depthwise 5x5 stride 2 C=6 (2-channel vectors) + residual + HardSwish");
    ExpectEveryCandidate({{1, 15, 15, 6},
                          {6, 5, 5, 1},
                          true,
                          true,
                          WithActivation(Conv2dAttrs({2, 2, 2, 2}, {2, 2}, {1, 1}, 6), kActivations[5])},
                         {1, 8, 8, 6}, 27, true);
  }
  {
    SCOPED_TRACE("depthwise 3x3 C=5 (scalar), asymmetric pads, dilation 2, no bias");
    // H: (12 + 0 + 2 - 5) / 1 + 1 = 10; W: (13 + 2 + 1 - 5) / 2 + 1 = 6.
    ExpectEveryCandidate({{2, 12, 13, 5}, {5, 3, 3, 1}, false, false, Conv2dAttrs({0, 2, 2, 1}, {1, 2}, {2, 2}, 5)},
                         {2, 10, 6, 5}, 28, true);
  }
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

// Timed selection: a valid tactic is chosen, at least one candidate was timed and the result
// (on the layer's real inputs, after the timing on test data) matches the reference.
void ExpectSelection(const NhwcCase& c, const Shape& y_shape, uint32_t seed) {
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    NhwcConvHarness h(c, y_shape, p, seed);
    ASSERT_NO_FATAL_FAILURE(h.Init());
    cuda::CudaKernelPtr kernel;
    ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(-1, true, 1, &kernel));
    EXPECT_GE(kernel->Tactic(), 0);
    const cuda::CudaKernel::TacticReport report = kernel->Tactics();
    EXPECT_GE(report.timed, 1) << kernel->Describe();
    EXPECT_GE(report.chosen_ms, 0.0) << kernel->Describe();
    EXPECT_LE(report.chosen_ms, report.default_ms > 0 ? report.default_ms : report.chosen_ms) << kernel->Describe();
    EXPECT_EQ(kernel->Describe().rfind("tactic " + std::to_string(kernel->Tactic()) + "/", 0), 0u)
        << kernel->Describe();
    // Level 0: candidate 0 only, nothing timed.
    cuda::CudaKernelPtr untimed;
    ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(-1, true, 0, &untimed));
    EXPECT_EQ(untimed->Tactic(), 0);
    EXPECT_EQ(untimed->Tactics().timed, 0);
  }
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
