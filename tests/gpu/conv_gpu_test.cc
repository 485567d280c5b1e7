// Conv and ConvTranspose on the CUDA engine against the CPU reference (FP32 and FP16, rel-L2
// tolerances of gpu_test_util.h): kernel sizes 1/3/7, strides, symmetric and asymmetric pads,
// auto_pad, dilations, groups and depthwise, 1-D/2-D/3-D, with and without bias, every fused
// activation (edgert/fused_activation.h) with and without a residual 4th input, CUDA-graph replay;
// ConvTranspose with strides, pads, output_padding, output_shape, auto_pad, dilations and groups.
// Whichever path a layer takes (fused cuDNN plan, cuDNN + epilogue, depthwise kernel, direct
// kernel) must match. Tactics: ConvHarness creates the Conv kernel directly (CreateConvKernel with
// a hand-built CudaOpContext and cudaMalloc'ed tensors) to force each candidate of
// ConvCandidatePaths by index (ctx.tactic) and to run the timed selection (ctx.select_tactics).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
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

struct ConvCase {
  Shape x;
  Shape w;
  bool bias = true;
  bool residual = false;
  Attributes attrs;
};

// X and the residual are fed at run time; W and B are constants (as in real networks).
std::vector<OpArg> ConvArgs(const ConvCase& c, const Shape& y_shape, uint32_t seed) {
  std::vector<OpArg> args;
  args.push_back(OpArg{Rand(c.x, seed), false});
  args.push_back(OpArg{Rand(c.w, seed + 1), true});
  const int64_t m = c.w[0];
  if (c.bias || c.residual) args.push_back(OpArg{c.bias ? Rand({m}, seed + 2) : Tensor{}, true});
  if (c.residual) args.push_back(OpArg{Rand(y_shape, seed + 3), false});
  return args;
}

void ExpectConv(const ConvCase& c, const Shape& y_shape, uint32_t seed = 1) {
  ExpectOpMatches(OpType::kConv, c.attrs, ConvArgs(c, y_shape, seed));
}

Attributes Conv2dAttrs(Ints pads, Ints strides = {1, 1}, Ints dilations = {1, 1}, int64_t group = 1) {
  Attributes a;
  a.Set("pads", std::move(pads));
  a.Set("strides", std::move(strides));
  a.Set("dilations", std::move(dilations));
  a.Set("group", group);
  return a;
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
  StatusOr<SingleOpNetwork> single = BuildSingleOp(OpType::kConv, c.attrs, ConvArgs(c, {1, 16, 9, 9}, 11), 1, 17, "op");
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

// One Conv layer outside an engine: the CPU reference output, device copies of the inputs in the
// precision's device dtype, and a CudaOpContext over them.
class ConvHarness {
 public:
  ConvHarness(ConvCase c, Shape y_shape, Precision precision, uint32_t seed)
      : case_(std::move(c)), y_shape_(std::move(y_shape)), precision_(precision) {
    args_ = ConvArgs(case_, y_shape_, seed);
    dtype_ = precision == Precision::kFp16 ? DataType::kFloat16 : DataType::kFloat32;
  }
  ~ConvHarness() {
    for (void* p : buffers_) cudaFree(p);
  }
  ConvHarness(const ConvHarness&) = delete;
  ConvHarness& operator=(const ConvHarness&) = delete;

  // Computes the reference and uploads the inputs; call once, under ASSERT_NO_FATAL_FAILURE.
  void Init() {
    StatusOr<std::vector<Tensor>> want = RunSingleOp(OpType::kConv, case_.attrs, args_, 1, 17, "conv");
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    want_ = std::move((*want)[0]);
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
    op_ = std::make_unique<OpContext>(OpType::kConv, "conv", case_.attrs, 17, ptrs, 1);
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

  // The median time in ms of `runs` launches of the kernel forced to `tactic` (after 2 warm-up
  // launches), on the legacy stream with CUDA events.
  void TimeTactic(int tactic, int runs, double* ms) {
    StatusOr<cuda::CudaKernelPtr> created = cuda::CreateConvKernel(Context(tactic, false, 1));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    cuda::CudaKernelPtr k = std::move(*created);
    void* workspace = nullptr;
    if (k->WorkspaceBytes() > 0) {
      ASSERT_NO_FATAL_FAILURE(Alloc(k->WorkspaceBytes(), &workspace));
    }
    k->SetWorkspace(workspace);
    cudaEvent_t start = nullptr, stop = nullptr;
    ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
    ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
    std::vector<float> times;
    for (int i = 0; i < runs + 2; ++i) {
      ASSERT_EQ(cudaEventRecord(start, nullptr), cudaSuccess);
      const Status s = k->Enqueue(nullptr);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_EQ(cudaEventRecord(stop, nullptr), cudaSuccess);
      ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
      float t = 0;
      ASSERT_EQ(cudaEventElapsedTime(&t, start, stop), cudaSuccess);
      if (i >= 2) times.push_back(t);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    std::sort(times.begin(), times.end());
    *ms = times[times.size() / 2];
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

  ConvCase case_;
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

// The own depthwise kernel, forced through its tactic index, in FP32 and FP16.
void ExpectDepthwise(const ConvCase& c, const Shape& y_shape, uint32_t seed = 1) {
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    ConvHarness h(c, y_shape, p, seed);
    ASSERT_NO_FATAL_FAILURE(h.Init());
    const std::vector<std::string> paths = h.Paths(1);
    const int index = IndexOf(paths, "depthwise");
    ASSERT_GE(index, 0) << "no depthwise candidate";
    EXPECT_EQ(paths.back(), "direct");
    cuda::CudaKernelPtr kernel;
    ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(index, false, 1, &kernel));
    EXPECT_EQ(kernel->Tactic(), index);
    EXPECT_STREQ(cuda::ConvKernelPath(*kernel), "depthwise");
    EXPECT_EQ(kernel->Tactics().timed, 0);
  }
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
// MobileNet-like layers (both forced by tactic index): it must be faster.
TEST(ConvTactics, DepthwiseFasterThanDirect) {
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
      EXPECT_LT(dw_ms, direct_ms);
    }
  }
}

// Every candidate of a layer, forced by index, matches the CPU reference; the list is stable.
void ExpectEveryCandidate(const ConvCase& c, const Shape& y_shape, uint32_t seed, bool depthwise) {
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    ConvHarness h(c, y_shape, p, seed);
    ASSERT_NO_FATAL_FAILURE(h.Init());
    const std::vector<std::string> paths = h.Paths(1);
    ASSERT_FALSE(paths.empty());
    ASSERT_LE(paths.size(), 8u);
    EXPECT_EQ(h.Paths(1), paths) << "the candidate list must be deterministic";
    EXPECT_EQ(paths.back(), "direct");
    EXPECT_EQ(IndexOf(paths, "depthwise") >= 0, depthwise);
    for (size_t i = 0; i < paths.size(); ++i) {
      SCOPED_TRACE("candidate " + std::to_string(i) + ": " + paths[i]);
      cuda::CudaKernelPtr kernel;
      ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(static_cast<int>(i), false, 1, &kernel));
      EXPECT_EQ(kernel->Tactic(), static_cast<int>(i));
      EXPECT_EQ(paths[i].rfind(cuda::ConvKernelPath(*kernel), 0), 0u) << kernel->Describe();
    }
    // An index past the list falls back to candidate 0.
    cuda::CudaKernelPtr kernel;
    ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(1000, false, 1, &kernel));
    EXPECT_EQ(kernel->Tactic(), 0);
  }
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
}

// Timed selection: a valid tactic is chosen, at least one candidate was timed and the result
// (computed on the layer's real inputs after the timing on test data) matches the reference.
void ExpectSelection(const ConvCase& c, const Shape& y_shape, uint32_t seed) {
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    ConvHarness h(c, y_shape, p, seed);
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
