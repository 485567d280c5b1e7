// CUDA Gemm and MatMul (kernels_gemm.cc) against the CPU reference, in FP32 and FP16
// (ExpectOpMatches: rel-L2 1e-3 / 1e-2, poisoned arena so an unwritten element fails).
//
// Coverage: Gemm with every transA/transB pair, alpha/beta, C of each broadcast shape (none,
// scalar, [1], [N], [1,N], [M,1], [M,N]; the bias epilogue when [N] and beta == 1), constant and
// runtime B, fused activations (cuBLASLt-fused Relu / GeluTanh, with and without bias, and the
// separate epilogue for Gelu / Sigmoid / LeakyRelu / Tanh), odd sizes; MatMul 2-D, batched
// 3-D / 4-D, broadcast batch groups, a broadcast A (stride 0), 1-D operands; CUDA-graph capture and
// replay of the launches.
//
// Tactics (cuBLASLt algorithm candidates): layers driven directly through CreateGemmKernel with a
// hand-built CudaOpContext and cudaMalloc'ed tensors (DirectLayer): every candidate forced through
// ctx.tactic matches the CPU, a dry run declares the same workspace, an out-of-range tactic falls
// back to candidate 0; with ctx.select_tactics the chosen candidate is timed, no slower than the
// default, reproducible through ctx.tactic, and matches the CPU; constants are uploaded once, so a
// selection that wrote them would fail the comparison. Through the engine: the layer attribute
// kTacticAttr with every candidate index matches the CPU, and the engine's tactic pass
// (CudaEngineOptions::select_tactics) records a timed choice whose result matches the CPU. The own
// matrix-vector kernel is candidate 1 of float16 Gemm layers with few rows. EnqueueCompare, the
// candidates' check, against a float64 host computation and its non-finite rules.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_kernel.h"
#include "backend/cuda/kernels_gemm.h"
#include "edgert/fused_activation.h"
#include "edgert/network.h"
#include "gpu_test_util.h"
#include "op_util.h"

namespace edgert {
namespace testing {
namespace {

Tensor Rand(Shape shape, uint32_t seed) { return RandomTensor(DataType::kFloat32, std::move(shape), seed); }

struct GemmCase {
  int64_t m = 1, n = 1, k = 1;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 1.0f;
  bool has_c = false;
  Shape c_shape;
  bool b_constant = true;
  bool c_constant = true;
  std::string activation;
  float activation_alpha = 0.0f;
  bool has_activation_alpha = false;
};

GemmCase Sizes(int64_t m, int64_t n, int64_t k) {
  GemmCase g;
  g.m = m;
  g.n = n;
  g.k = k;
  return g;
}

void ExpectGemm(const GemmCase& g) {
  Attributes attrs;
  if (g.trans_a) attrs.Set("transA", int64_t{1});
  if (g.trans_b) attrs.Set("transB", int64_t{1});
  if (g.alpha != 1.0f) attrs.Set("alpha", g.alpha);
  if (g.beta != 1.0f) attrs.Set("beta", g.beta);
  if (!g.activation.empty()) attrs.Set(kActivationAttr, g.activation);
  if (g.has_activation_alpha) attrs.Set(kActivationAlphaAttr, g.activation_alpha);
  std::vector<OpArg> args;
  args.push_back(OpArg{Rand(g.trans_a ? Shape{g.k, g.m} : Shape{g.m, g.k}, 1), false});
  args.push_back(OpArg{Rand(g.trans_b ? Shape{g.n, g.k} : Shape{g.k, g.n}, 2), g.b_constant});
  if (g.has_c) args.push_back(OpArg{Rand(g.c_shape, 3), g.c_constant});
  ExpectOpMatches(OpType::kGemm, attrs, args);
}

TEST(GemmGpu, Transposes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE("transA=" + std::to_string(ta) + " transB=" + std::to_string(tb));
      GemmCase g = Sizes(33, 20, 17);
      g.trans_a = ta;
      g.trans_b = tb;
      g.has_c = true;
      g.c_shape = {20};
      ExpectGemm(g);
      g.b_constant = false;
      g.has_c = false;
      ExpectGemm(g);
    }
  }
}

TEST(GemmGpu, AlphaBeta) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  GemmCase g = Sizes(16, 24, 32);
  g.alpha = 0.5f;
  g.beta = 2.0f;
  g.has_c = true;
  for (const Shape& c : std::vector<Shape>{{24}, {16, 24}, {16, 1}, {}}) {
    SCOPED_TRACE("C " + ShapeToString(c));
    g.c_shape = c;
    ExpectGemm(g);
  }
  g.beta = 0.0f;  // C is ignored
  g.c_shape = {16, 24};
  ExpectGemm(g);
}

TEST(GemmGpu, CBroadcastShapes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const Shape& c : std::vector<Shape>{{}, {1}, {40}, {1, 40}, {12, 1}, {1, 1}, {12, 40}}) {
    SCOPED_TRACE("C " + ShapeToString(c));
    GemmCase g = Sizes(12, 40, 24);
    g.has_c = true;
    g.c_shape = c;
    ExpectGemm(g);
    g.c_constant = false;  // C as a runtime input
    g.b_constant = false;
    ExpectGemm(g);
  }
}

TEST(GemmGpu, FusedActivations) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Act {
    const char* name;
    bool has_alpha;
    float alpha;
  };
  const Act acts[] = {{"Relu", false, 0.0f},    {"GeluTanh", false, 0.0f}, {"Gelu", false, 0.0f},
                      {"Sigmoid", false, 0.0f}, {"LeakyRelu", true, 0.2f}, {"Tanh", false, 0.0f}};
  for (const Act& act : acts) {
    for (const Shape& c : std::vector<Shape>{{48}, {10, 48}, {10, 1}}) {
      SCOPED_TRACE(std::string(act.name) + " C " + ShapeToString(c));
      GemmCase g = Sizes(10, 48, 64);
      g.trans_b = true;
      g.has_c = true;
      g.c_shape = c;
      g.activation = act.name;
      g.has_activation_alpha = act.has_alpha;
      g.activation_alpha = act.alpha;
      ExpectGemm(g);
    }
    SCOPED_TRACE(std::string(act.name) + " without C");
    GemmCase g = Sizes(10, 48, 64);
    g.activation = act.name;
    g.has_activation_alpha = act.has_alpha;
    g.activation_alpha = act.alpha;
    ExpectGemm(g);
  }
}

TEST(GemmGpu, ReluBiasWithScaledBeta) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  GemmCase g = Sizes(8, 32, 16);
  g.has_c = true;
  g.c_shape = {32};
  g.beta = 0.5f;  // not a plain bias: C is written first, then accumulated with beta
  g.activation = "Relu";
  ExpectGemm(g);
}

TEST(GemmGpu, OddSizes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  {
    SCOPED_TRACE("M=1 N=1000 K=2048");
    GemmCase g = Sizes(1, 1000, 2048);
    g.trans_b = true;
    g.has_c = true;
    g.c_shape = {1000};
    ExpectGemm(g);
  }
  {
    SCOPED_TRACE("M=7 N=3 K=5");
    GemmCase g = Sizes(7, 3, 5);
    g.has_c = true;
    g.c_shape = {7, 3};
    ExpectGemm(g);
    g.trans_a = true;
    g.trans_b = true;
    g.c_shape = {3};
    g.activation = "Relu";
    ExpectGemm(g);
  }
  {
    SCOPED_TRACE("N=1");
    GemmCase g = Sizes(9, 1, 13);
    g.has_c = true;
    g.c_shape = {1};
    ExpectGemm(g);
  }
}

void ExpectMatMul(const Shape& a, const Shape& b, bool b_constant = false) {
  SCOPED_TRACE("A " + ShapeToString(a) + " x B " + ShapeToString(b));
  ExpectOpMatches(OpType::kMatMul, Attributes{}, {OpArg{Rand(a, 4), false}, OpArg{Rand(b, 5), b_constant}});
}

TEST(MatMulGpu, TwoD) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectMatMul({31, 17}, {17, 45});
  ExpectMatMul({64, 128}, {128, 96}, true);
  ExpectMatMul({7, 5}, {5, 3});
}

TEST(MatMulGpu, Batched) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectMatMul({4, 9, 12}, {4, 12, 10});        // equal batches: packed strides
  ExpectMatMul({2, 3, 9, 12}, {2, 3, 12, 10});  // 4-D, merged into one batch of 6
  ExpectMatMul({4, 9, 12}, {12, 10}, true);     // weight matrix: batch folded into M
  ExpectMatMul({2, 3, 9, 12}, {1, 3, 12, 10});  // B broadcast over the outer dim
  ExpectMatMul({9, 12}, {4, 12, 10});           // A broadcast: stride 0
  ExpectMatMul({1, 3, 9, 12}, {2, 3, 12, 10});  // A broadcast over the outer dim
}

TEST(MatMulGpu, BroadcastBatch) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectMatMul({2, 1, 4, 5}, {3, 5, 6});
  ExpectMatMul({3, 1, 4, 5}, {1, 2, 5, 6});
  ExpectMatMul({2, 1, 3, 4, 5}, {1, 2, 1, 5, 6});
}

TEST(MatMulGpu, OneD) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectMatMul({5}, {5, 6});     // 1-D x 2-D
  ExpectMatMul({5, 6}, {6});     // 2-D x 1-D
  ExpectMatMul({3, 4, 6}, {6});  // batched x 1-D
  ExpectMatMul({6}, {3, 6, 4});  // 1-D x batched
  ExpectMatMul({64}, {64});      // dot product
}

// cuBLASLt launches, the C fill and the activation epilogue inside a captured CUDA graph: the
// first run is eager, the second captures, the third replays; every run matches the CPU.
void ExpectGraphReplayMatches(OpType op, const Attributes& attrs, const std::vector<OpArg>& args) {
  StatusOr<SingleOpNetwork> single = BuildSingleOp(op, attrs, args, 1, 17, "op");
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  StatusOr<std::unique_ptr<CpuEngine>> cpu = CpuEngine::Create(single->net);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  std::vector<Tensor> want;
  Status s = (*cpu)->Run(single->feeds, &want);
  ASSERT_TRUE(s.ok()) << s.ToString();
  CudaEngineOptions options;
  options.cuda_graphs = true;
  StatusOr<std::shared_ptr<CudaEngine>> engine = CudaEngine::Create(single->net, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  StatusOr<std::unique_ptr<CudaExecutionContext>> context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  (*context)->SetPoisonArena(true);
  for (int run = 0; run < 3; ++run) {
    std::vector<Tensor> got;
    s = RunOnHost(**context, single->feeds, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(got.size(), 1u);
    ExpectTensorsClose(got[0], want[0], DefaultTolerance(Precision::kFp32), "run " + std::to_string(run));
  }
  EXPECT_EQ((*context)->graph_error(), "");
  EXPECT_GE((*context)->graph_captures(), 1);
}

TEST(GemmGpu, CudaGraphReplay) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes relu;
  relu.Set(kActivationAttr, std::string("Relu"));
  ExpectGraphReplayMatches(
      OpType::kGemm, relu,
      {OpArg{Rand({16, 32}, 1), false}, OpArg{Rand({32, 24}, 2), true}, OpArg{Rand({24}, 3), true}});
  Attributes sigmoid;
  sigmoid.Set(kActivationAttr, std::string("Sigmoid"));
  ExpectGraphReplayMatches(
      OpType::kGemm, sigmoid,
      {OpArg{Rand({16, 32}, 1), false}, OpArg{Rand({32, 24}, 2), true}, OpArg{Rand({16, 1}, 3), true}});
  ExpectGraphReplayMatches(OpType::kMatMul, Attributes{},
                           {OpArg{Rand({2, 1, 4, 5}, 4), false}, OpArg{Rand({3, 5, 6}, 5), false}});
}

// ---------------------------------------------------------------------------------------------
// Tactics

// One Gemm/MatMul layer run through CreateGemmKernel outside any engine: its own cuBLASLt handle and
// cudaMalloc'ed tensors of the precision's device dtype. Constant inputs are uploaded once (Init);
// runtime inputs before every Run, and the output is poisoned (0xFF bytes: NaN in float32 and
// float16) first. The CPU reference is computed from the same values.
class DirectLayer {
 public:
  DirectLayer(OpType op, Attributes attrs, std::vector<OpArg> args, Precision precision)
      : op_(op), attrs_(std::move(attrs)), args_(std::move(args)), precision_(precision) {}
  DirectLayer(const DirectLayer&) = delete;
  DirectLayer& operator=(const DirectLayer&) = delete;
  ~DirectLayer() {
    for (void* p : buffers_) cudaFree(p);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    cuda::DestroyCublasLtHandle(resources_.cublaslt);
  }

  Status Init() {
    EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> outs, RunSingleOp(op_, attrs_, args_, 1, 17, "op"));
    want_ = outs[0];
    infos_.resize(args_.size());
    std::vector<const ValueInfo*> ptrs;
    for (size_t i = 0; i < args_.size(); ++i) {
      infos_[i] = ValueInfo{args_[i].value.dtype(), args_[i].value.shape(),
                            args_[i].constant ? &args_[i].value : nullptr};
      ptrs.push_back(&infos_[i]);
    }
    op_ctx_ = std::make_unique<OpContext>(op_, "op", attrs_, 17, ptrs, 1);
    op_ctx_->SetOutput(0, want_.dtype(), want_.shape());

    cudaDeviceProp prop;
    EDGERT_RETURN_IF_ERROR(Cuda(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties"));
    resources_.sm_count = prop.multiProcessorCount;
    resources_.cc_major = prop.major;
    resources_.cc_minor = prop.minor;
    EDGERT_ASSIGN_OR_RETURN(resources_.cublaslt, cuda::CreateCublasLtHandle());
    EDGERT_RETURN_IF_ERROR(Cuda(cudaStreamCreate(&stream_), "cudaStreamCreate"));

    const DataType dtype = cuda::DeviceDtype(DataType::kFloat32, precision_);
    tensors_.resize(args_.size() + 1);
    for (size_t i = 0; i < args_.size(); ++i) {
      cuda::CudaTensor& t = tensors_[i];
      t.dtype = dtype;
      t.shape = args_[i].value.shape();
      t.host = args_[i].constant ? &args_[i].value : nullptr;
      EDGERT_ASSIGN_OR_RETURN(t.data, Allocate(t.bytes()));
      if (t.is_constant()) EDGERT_RETURN_IF_ERROR(UploadInput(i));
    }
    cuda::CudaTensor& out = tensors_.back();
    out.dtype = dtype;
    out.shape = want_.shape();
    EDGERT_ASSIGN_OR_RETURN(out.data, Allocate(out.bytes()));
    return Status::Ok();
  }

  // The context CreateGemmKernel sees (the engine's fields; tactic fields as given).
  cuda::CudaOpContext Context(int tactic, bool select_tactics, int tactic_level, bool dry_run = false) const {
    cuda::CudaOpContext ctx;
    ctx.op = op_ctx_.get();
    for (size_t i = 0; i < args_.size(); ++i) {
      ctx.inputs.push_back(&tensors_[i]);
    }
    ctx.outputs.push_back(&tensors_.back());
    ctx.precision = precision_;
    ctx.resources = const_cast<cuda::CudaResources*>(&resources_);
    ctx.dry_run = dry_run;
    ctx.tactic = tactic;
    ctx.select_tactics = select_tactics;
    ctx.tactic_level = tactic_level;
    if (dry_run) {  // activations have no address in a dry run
      dry_inputs_.clear();
      for (size_t i = 0; i < args_.size(); ++i) {
        dry_inputs_.push_back(tensors_[i]);
        if (!dry_inputs_[i].is_constant()) dry_inputs_[i].data = nullptr;
      }
      dry_output_ = tensors_.back();
      dry_output_.data = nullptr;
      for (size_t i = 0; i < args_.size(); ++i) ctx.inputs[i] = &dry_inputs_[i];
      ctx.outputs[0] = &dry_output_;
    }
    return ctx;
  }

  // Uploads the runtime inputs, poisons the output, runs `kernel` once with a workspace of its
  // declared size and returns the output as float32.
  StatusOr<Tensor> Run(cuda::CudaKernel& kernel) {
    for (size_t i = 0; i < args_.size(); ++i) {
      if (!tensors_[i].is_constant()) EDGERT_RETURN_IF_ERROR(UploadInput(i));
    }
    const cuda::CudaTensor& out = tensors_.back();
    EDGERT_RETURN_IF_ERROR(Cuda(cudaMemset(out.data, 0xFF, out.bytes()), "cudaMemset"));
    void* workspace = nullptr;
    if (kernel.WorkspaceBytes() > 0) {
      EDGERT_RETURN_IF_ERROR(Cuda(cudaMalloc(&workspace, kernel.WorkspaceBytes()), "cudaMalloc"));
    }
    kernel.SetWorkspace(workspace);
    Status s = kernel.Enqueue(stream_);
    const cudaError_t sync = cudaStreamSynchronize(stream_);
    if (workspace != nullptr) cudaFree(workspace);
    EDGERT_RETURN_IF_ERROR(s);
    EDGERT_RETURN_IF_ERROR(Cuda(sync, "cudaStreamSynchronize"));
    Tensor got = *Tensor::Create(DataType::kFloat32, out.shape);
    if (out.bytes() == 0) return got;
    if (out.dtype == DataType::kFloat32) {
      EDGERT_RETURN_IF_ERROR(Cuda(cudaMemcpy(got.data<float>(), out.data, out.bytes(), cudaMemcpyDeviceToHost),
                                  "cudaMemcpy"));
    } else {
      std::vector<uint16_t> half(static_cast<size_t>(out.num_elements()));
      EDGERT_RETURN_IF_ERROR(Cuda(cudaMemcpy(half.data(), out.data, out.bytes(), cudaMemcpyDeviceToHost), "cudaMemcpy"));
      for (size_t k = 0; k < half.size(); ++k) got.data<float>()[k] = HalfToFloat(half[k]);
    }
    return got;
  }

  const Tensor& want() const { return want_; }
  double tolerance() const { return DefaultTolerance(precision_); }

 private:
  static Status Cuda(cudaError_t err, const char* what) {
    return err == cudaSuccess ? Status::Ok() : Internal(std::string(what) + ": " + cudaGetErrorString(err));
  }

  StatusOr<void*> Allocate(size_t bytes) {
    void* p = nullptr;
    EDGERT_RETURN_IF_ERROR(Cuda(cudaMalloc(&p, std::max<size_t>(bytes, 256)), "cudaMalloc"));
    buffers_.push_back(p);
    return p;
  }

  Status UploadInput(size_t i) {
    const Tensor& value = args_[i].value;
    const cuda::CudaTensor& t = tensors_[i];
    if (t.bytes() == 0) return Status::Ok();
    if (t.dtype == DataType::kFloat32) {
      return Cuda(cudaMemcpy(t.data, value.data<float>(), t.bytes(), cudaMemcpyHostToDevice), "cudaMemcpy");
    }
    std::vector<uint16_t> half(static_cast<size_t>(value.num_elements()));
    for (size_t k = 0; k < half.size(); ++k) half[k] = FloatToHalf(value.data<float>()[k]);
    return Cuda(cudaMemcpy(t.data, half.data(), t.bytes(), cudaMemcpyHostToDevice), "cudaMemcpy");
  }

  OpType op_;
  Attributes attrs_;
  std::vector<OpArg> args_;
  Precision precision_;
  Tensor want_;
  std::vector<ValueInfo> infos_;
  std::unique_ptr<OpContext> op_ctx_;
  cuda::CudaResources resources_;
  cudaStream_t stream_ = nullptr;
  std::vector<cuda::CudaTensor> tensors_;  // the inputs, then the output
  mutable std::vector<cuda::CudaTensor> dry_inputs_;
  mutable cuda::CudaTensor dry_output_;
  std::vector<void*> buffers_;
};

// The layers the tactic tests cover.
struct TacticLayer {
  std::string name;
  OpType op;
  Attributes attrs;
  std::vector<OpArg> args;
};

std::vector<TacticLayer> TacticLayers() {
  std::vector<TacticLayer> layers;
  {
    Attributes attrs;  // a Linear layer: A [256, 512] x B^T [1024, 512] + bias, Relu (RELU_BIAS)
    attrs.Set("transB", int64_t{1});
    attrs.Set(kActivationAttr, std::string("Relu"));
    layers.push_back({"Gemm 256x1024x512 bias+Relu", OpType::kGemm, attrs,
                      {OpArg{Rand({256, 512}, 11), false}, OpArg{Rand({1024, 512}, 12), true},
                       OpArg{Rand({1024}, 13), true}}});
  }
  layers.push_back({"MatMul [8,64,128]x[8,128,64]", OpType::kMatMul, Attributes{},
                    {OpArg{Rand({8, 64, 128}, 14), false}, OpArg{Rand({8, 128, 64}, 15), false}}});
  {
    Attributes attrs;
    attrs.Set("transB", int64_t{1});
    layers.push_back({"Gemm M=1 N=1000 K=2048", OpType::kGemm, attrs,
                      {OpArg{Rand({1, 2048}, 16), false}, OpArg{Rand({1000, 2048}, 17), true},
                       OpArg{Rand({1000}, 18), true}}});
  }
  {
    Attributes attrs;  // runtime C matrix with beta, and an activation run after the matmul
    attrs.Set("beta", 0.5f);
    attrs.Set(kActivationAttr, std::string("Sigmoid"));
    layers.push_back({"Gemm 64x96x80 runtime C [64,96] Sigmoid", OpType::kGemm, attrs,
                      {OpArg{Rand({64, 80}, 19), false}, OpArg{Rand({80, 96}, 20), true},
                       OpArg{Rand({64, 96}, 21), false}}});
  }
  {
    Attributes attrs;  // C broadcast by the fill kernel before the matmul accumulates onto it
    attrs.Set(kActivationAttr, std::string("Relu"));
    layers.push_back({"Gemm 48x40x72 C [48,1] Relu", OpType::kGemm, attrs,
                      {OpArg{Rand({48, 72}, 22), false}, OpArg{Rand({72, 40}, 23), false},
                       OpArg{Rand({48, 1}, 24), true}}});
  }
  layers.push_back({"MatMul [2,3,16,24]x[1,3,24,8] (several calls)", OpType::kMatMul, Attributes{},
                    {OpArg{Rand({2, 3, 16, 24}, 25), false}, OpArg{Rand({1, 3, 24, 8}, 26), false}}});
  return layers;
}

// The tactic layers whose float16 candidate list holds the own matrix-vector kernel (Gemm, transA
// 0, transB 1, at most 8 rows, K % 8 == 0, C a vector along N).
bool IsGemvLayer(const TacticLayer& l) { return l.name == "Gemm M=1 N=1000 K=2048"; }

void ExpectKernelMatches(DirectLayer& layer, cuda::CudaKernel& kernel, const std::string& what) {
  StatusOr<Tensor> got = layer.Run(kernel);
  ASSERT_TRUE(got.ok()) << what << ": " << got.status().ToString();
  ExpectTensorsClose(*got, layer.want(), layer.tolerance(), what);
}

TEST(GemmTactics, EveryCandidateMatchesCpu) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const TacticLayer& l : TacticLayers()) {
    for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
      SCOPED_TRACE(l.name + " " + PrecisionName(precision));
      DirectLayer layer(l.op, l.attrs, l.args, precision);
      Status s = layer.Init();
      ASSERT_TRUE(s.ok()) << s.ToString();
      StatusOr<int> count = cuda::GemmCandidateCount(layer.Context(-1, false, 2));
      ASSERT_TRUE(count.ok()) << count.status().ToString();
      ASSERT_GE(*count, 1);
      ASSERT_LE(*count, 32);
      for (int t = 0; t < *count; ++t) {
        const std::string what = "tactic " + std::to_string(t) + " of " + std::to_string(*count);
        StatusOr<cuda::CudaKernelPtr> kernel = cuda::CreateGemmKernel(layer.Context(t, false, 1));
        ASSERT_TRUE(kernel.ok()) << what << ": " << kernel.status().ToString();
        EXPECT_EQ((*kernel)->Tactic(), t) << what;
        EXPECT_EQ((*kernel)->Tactics().timed, 0) << what;
        // Candidate 1 of a float16 layer with few rows is the own matrix-vector kernel.
        const bool gemv = precision == Precision::kFp16 && t == 1 && IsGemvLayer(l);
        const std::string label = (gemv ? "gemv tactic " : "cublasLt algo ") + std::to_string(t) + "/";
        EXPECT_NE((*kernel)->Describe().find(label), std::string::npos) << what << ": " << (*kernel)->Describe();
        // The engine sizes the shared workspace in a dry run: it must see the same need.
        StatusOr<cuda::CudaKernelPtr> dry = cuda::CreateGemmKernel(layer.Context(t, false, 1, true));
        ASSERT_TRUE(dry.ok()) << what << " (dry run): " << dry.status().ToString();
        EXPECT_EQ((*dry)->Tactic(), t) << what;
        EXPECT_EQ((*dry)->WorkspaceBytes(), (*kernel)->WorkspaceBytes()) << what;
        ExpectKernelMatches(layer, **kernel, what);
      }
      if (*count < 32) {  // a tactic past the list: the default
        StatusOr<cuda::CudaKernelPtr> kernel = cuda::CreateGemmKernel(layer.Context(*count, false, 1));
        ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
        EXPECT_EQ((*kernel)->Tactic(), 0);
        ExpectKernelMatches(layer, **kernel, "tactic past the list");
      }
      StatusOr<int> level0 = cuda::GemmCandidateCount(layer.Context(-1, false, 0));
      ASSERT_TRUE(level0.ok()) << level0.status().ToString();
      EXPECT_EQ(*level0, 1);
    }
  }
}

TEST(GemmTactics, SelectTacticsMatchesCpu) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const TacticLayer& l : TacticLayers()) {
    for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
      SCOPED_TRACE(l.name + " " + PrecisionName(precision));
      DirectLayer layer(l.op, l.attrs, l.args, precision);
      Status s = layer.Init();
      ASSERT_TRUE(s.ok()) << s.ToString();
      StatusOr<int> count = cuda::GemmCandidateCount(layer.Context(-1, false, 1));
      ASSERT_TRUE(count.ok()) << count.status().ToString();

      // The selection writes test data into the runtime inputs; Run uploads the real ones again.
      StatusOr<cuda::CudaKernelPtr> selected = cuda::CreateGemmKernel(layer.Context(-1, true, 1));
      ASSERT_TRUE(selected.ok()) << selected.status().ToString();
      const int chosen = (*selected)->Tactic();
      const cuda::CudaKernel::TacticReport report = (*selected)->Tactics();
      const std::string describe = (*selected)->Describe();
      EXPECT_GE(chosen, 0) << describe;
      EXPECT_LT(chosen, *count) << describe;
      EXPECT_GE(report.timed, 1) << describe;
      EXPECT_LE(report.timed + report.rejected, *count) << describe;
      EXPECT_GT(report.default_ms, 0.0) << describe;
      EXPECT_GT(report.chosen_ms, 0.0) << describe;
      EXPECT_LE(report.chosen_ms, report.default_ms) << describe;
      EXPECT_TRUE(describe.find("cublasLt algo") != std::string::npos ||
                  describe.find("gemv tactic") != std::string::npos)
          << describe;
      ASSERT_EQ(report.candidates.size(), static_cast<size_t>(*count)) << describe;
      EXPECT_NE(describe.find("timed"), std::string::npos) << describe;
      ExpectKernelMatches(layer, **selected, "selected tactic " + std::to_string(chosen) + ": " + describe);

      // A plan stores the choice; loading it forces the same candidate without timing.
      StatusOr<cuda::CudaKernelPtr> forced = cuda::CreateGemmKernel(layer.Context(chosen, false, 1));
      ASSERT_TRUE(forced.ok()) << forced.status().ToString();
      EXPECT_EQ((*forced)->Tactic(), chosen);
      EXPECT_EQ((*forced)->Tactics().timed, 0);
      EXPECT_EQ((*forced)->WorkspaceBytes(), (*selected)->WorkspaceBytes());
      ExpectKernelMatches(layer, **forced, "forced tactic " + std::to_string(chosen));

      // Level 0: the heuristic's first choice, nothing timed.
      StatusOr<cuda::CudaKernelPtr> untimed = cuda::CreateGemmKernel(layer.Context(-1, true, 0));
      ASSERT_TRUE(untimed.ok()) << untimed.status().ToString();
      EXPECT_EQ((*untimed)->Tactic(), 0);
      EXPECT_EQ((*untimed)->Tactics().timed, 0);
      ExpectKernelMatches(layer, **untimed, "level 0");
    }
  }
}

// The own matrix-vector kernel is candidate 1 of float16 Gemm layers with transB 1 and at most 8
// rows (any activation, alpha, beta, C a vector or absent), never of float32 ones or of layers with
// more rows; forced, it matches the CPU with no workspace; timed, it is checked against cuBLASLt's
// candidate 0 and not rejected.
TEST(GemmTactics, GemvIsCandidateOneOfFewRowLayers) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Case {
    std::string name;
    Attributes attrs;
    std::vector<OpArg> args;
    bool gemv_in_fp16;
  };
  std::vector<Case> cases;
  {
    Attributes attrs;
    attrs.Set("transB", int64_t{1});
    attrs.Set("alpha", 0.5f);
    attrs.Set("beta", 2.0f);
    attrs.Set(kActivationAttr, std::string("Sigmoid"));
    cases.push_back({"M 3, alpha 0.5, beta 2, Sigmoid", attrs,
                     {OpArg{Rand({3, 64}, 31), false}, OpArg{Rand({40, 64}, 32), true}, OpArg{Rand({40}, 33), true}},
                     true});
  }
  {
    Attributes attrs;
    attrs.Set("transB", int64_t{1});
    attrs.Set(kActivationAttr, std::string("Relu"));
    cases.push_back({"M 8, no C, runtime B, Relu", attrs,
                     {OpArg{Rand({8, 136}, 34), false}, OpArg{Rand({24, 136}, 35), false}}, true});
  }
  {
    Attributes attrs;
    attrs.Set("transB", int64_t{1});
    cases.push_back({"M 9 (too many rows)", attrs,
                     {OpArg{Rand({9, 64}, 36), false}, OpArg{Rand({40, 64}, 37), true}, OpArg{Rand({40}, 38), true}},
                     false});
  }
  {
    Attributes attrs;  // transB 0: W is [K, N]
    cases.push_back({"M 1, transB 0", attrs,
                     {OpArg{Rand({1, 64}, 39), false}, OpArg{Rand({64, 40}, 40), true}, OpArg{Rand({40}, 41), true}},
                     false});
  }
  for (const Case& c : cases) {
    for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
      SCOPED_TRACE(c.name + " " + PrecisionName(precision));
      const bool gemv = c.gemv_in_fp16 && precision == Precision::kFp16;
      DirectLayer layer(OpType::kGemm, c.attrs, c.args, precision);
      Status s = layer.Init();
      ASSERT_TRUE(s.ok()) << s.ToString();
      StatusOr<int> count = cuda::GemmCandidateCount(layer.Context(-1, false, 1));
      ASSERT_TRUE(count.ok()) << count.status().ToString();
      ASSERT_GE(*count, gemv ? 2 : 1);
      StatusOr<int> level0 = cuda::GemmCandidateCount(layer.Context(-1, false, 0));
      ASSERT_TRUE(level0.ok()) << level0.status().ToString();
      EXPECT_EQ(*level0, 1);  // level 0: cuBLASLt's first choice only
      if (*count < 2) continue;
      StatusOr<cuda::CudaKernelPtr> forced = cuda::CreateGemmKernel(layer.Context(1, false, 1));
      ASSERT_TRUE(forced.ok()) << forced.status().ToString();
      const std::string describe = (*forced)->Describe();
      EXPECT_EQ((*forced)->Tactic(), 1) << describe;
      EXPECT_EQ(describe.find("gemv tactic 1/") != std::string::npos, gemv) << describe;
      if (gemv) {
        EXPECT_EQ((*forced)->WorkspaceBytes(), 0u) << describe;
      }
      ExpectKernelMatches(layer, **forced, "forced tactic 1: " + describe);
      if (!gemv) continue;
      StatusOr<cuda::CudaKernelPtr> selected = cuda::CreateGemmKernel(layer.Context(-1, true, 1));
      ASSERT_TRUE(selected.ok()) << selected.status().ToString();
      const cuda::CudaKernel::TacticReport report = (*selected)->Tactics();
      ASSERT_EQ(report.candidates.size(), static_cast<size_t>(*count)) << (*selected)->Describe();
      EXPECT_EQ(report.candidates[1].label, "gemv");
      EXPECT_FALSE(report.candidates[1].rejected) << "the own kernel disagreed with cuBLASLt's candidate 0";
      EXPECT_GT(report.candidates[1].ms, 0.0) << (*selected)->Describe();
      ExpectKernelMatches(layer, **selected, "selected: " + (*selected)->Describe());
    }
  }
}

// EnqueueCompare, the check every Gemm and convolution tactic candidate passes against the first
// candidate's output: its sums over a million elements (several blocks per thread's stride) in
// float32 and float16 against a float64 host computation over the same stored values, and its
// non-finite rules (a NaN reference is skipped; NaN or infinity against a finite reference, and
// anything but the same infinity against an infinite one, count as bad).
TEST(TacticCompare, SumsAndNonFiniteRules) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const int64_t n = int64_t{1} << 20;
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
    SCOPED_TRACE(DataTypeName(dtype));
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      want[i] = dist(rng);
      got[i] = want[i] + (i % 3 == 0 ? 0.01f * dist(rng) : 0.0f);
    }
    // Stored values: float16 rounds them; the host sums use what the device reads.
    std::vector<__half> want_h(static_cast<size_t>(n)), got_h(static_cast<size_t>(n));
    auto stored = [&](std::vector<float>& v, std::vector<__half>& h) {
      for (int64_t i = 0; i < n; ++i) {
        h[i] = __float2half_rn(v[i]);
        if (dtype == DataType::kFloat16) v[i] = __half2float(h[i]);
      }
    };
    const size_t bytes = static_cast<size_t>(n) * DataTypeSize(dtype);
    DeviceAllocations mem;
    void* dg = mem.Alloc(bytes);
    void* dw = mem.Alloc(bytes);
    auto* sums = static_cast<double*>(mem.Alloc(3 * sizeof(double)));
    ASSERT_TRUE(dg != nullptr && dw != nullptr && sums != nullptr);
    auto compare = [&](double out[3]) {
      stored(want, want_h);
      stored(got, got_h);
      const void* hw = dtype == DataType::kFloat16 ? static_cast<const void*>(want_h.data()) : want.data();
      const void* hg = dtype == DataType::kFloat16 ? static_cast<const void*>(got_h.data()) : got.data();
      ASSERT_EQ(cudaMemcpy(dw, hw, bytes, cudaMemcpyHostToDevice), cudaSuccess);
      ASSERT_EQ(cudaMemcpy(dg, hg, bytes, cudaMemcpyHostToDevice), cudaSuccess);
      const Status st = cuda::EnqueueCompare(nullptr, dtype, dg, dw, n, sums);
      ASSERT_TRUE(st.ok()) << st.ToString();
      ASSERT_EQ(cudaMemcpy(out, sums, 3 * sizeof(double), cudaMemcpyDeviceToHost), cudaSuccess);
    };
    double out[3] = {0, 0, 0};
    ASSERT_NO_FATAL_FAILURE(compare(out));
    double diff2 = 0, ref2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(got[i]) - want[i];
      diff2 += d * d;
      ref2 += static_cast<double>(want[i]) * want[i];
    }
    EXPECT_GT(diff2, 0.0);
    EXPECT_NEAR(out[0], diff2, 1e-9 * diff2);
    EXPECT_NEAR(out[1], ref2, 1e-9 * ref2);
    EXPECT_EQ(out[2], 0.0);
    // Non-finite elements: each pair (want, got) and whether it counts as bad.
    const struct {
      float want, got;
      bool bad;
    } specials[] = {{nan, 5.0f, false}, {inf, inf, false}, {-inf, 3.0f, true},
                    {-inf, nan, true},  {1.5f, nan, true}, {1.5f, inf, true}};
    for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); ++k) {
      want[10 + k] = specials[k].want;
      got[10 + k] = specials[k].got;
    }
    ASSERT_NO_FATAL_FAILURE(compare(out));
    diff2 = ref2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(want[i]) || !std::isfinite(got[i])) continue;
      const double d = static_cast<double>(got[i]) - want[i];
      diff2 += d * d;
      ref2 += static_cast<double>(want[i]) * want[i];
    }
    EXPECT_NEAR(out[0], diff2, 1e-9 * diff2);
    EXPECT_NEAR(out[1], ref2, 1e-9 * ref2);
    EXPECT_EQ(out[2], 4.0);
  }
}

TEST(GemmTactics, NoMatmulHasNoTactic) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  DirectLayer layer(OpType::kMatMul, Attributes{}, {OpArg{Rand({4, 0}, 27), false}, OpArg{Rand({0, 5}, 28), false}},
                    Precision::kFp32);
  Status s = layer.Init();
  ASSERT_TRUE(s.ok()) << s.ToString();
  StatusOr<cuda::CudaKernelPtr> kernel = cuda::CreateGemmKernel(layer.Context(-1, true, 2));
  ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
  EXPECT_EQ((*kernel)->Tactic(), -1);
  EXPECT_EQ((*kernel)->Tactics().timed, 0);
  StatusOr<int> count = cuda::GemmCandidateCount(layer.Context(-1, false, 1));
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(*count, 0);
  StatusOr<Tensor> got = layer.Run(**kernel);  // K == 0: zeros (the poison overwritten)
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->num_elements(), 20);
  for (int64_t i = 0; i < got->num_elements(); ++i) EXPECT_EQ(got->data<float>()[i], 0.0f) << "element " << i;
}

// Through the engine: the layer attribute kTacticAttr (what a plan stores) with every candidate
// index, and one past the list, matches the CPU in FP32 and FP16.
TEST(GemmTactics, TacticAttributeMatchesCpu) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const TacticLayer& l : TacticLayers()) {
    SCOPED_TRACE(l.name);
    DirectLayer layer(l.op, l.attrs, l.args, Precision::kFp32);
    Status s = layer.Init();
    ASSERT_TRUE(s.ok()) << s.ToString();
    StatusOr<int> count = cuda::GemmCandidateCount(layer.Context(-1, false, 1));
    ASSERT_TRUE(count.ok()) << count.status().ToString();
    for (int t = 0; t <= *count; ++t) {
      SCOPED_TRACE("tactic " + std::to_string(t));
      Attributes attrs = l.attrs;
      attrs.Set(kTacticAttr, int64_t{t});
      ExpectOpMatches(l.op, attrs, l.args);
    }
  }
}

// Through the engine's tactic pass (CudaEngineOptions::select_tactics, levels 1 and 2): the layer
// gets a timed tactic, the network records it as kTacticAttr, and the result matches the CPU.
TEST(GemmTactics, EngineSelectionMatchesCpu) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const TacticLayer& l : TacticLayers()) {
    for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
      for (int level : {1, 2}) {
        SCOPED_TRACE(l.name + " " + PrecisionName(precision) + " level " + std::to_string(level));
        StatusOr<SingleOpNetwork> single = BuildSingleOp(l.op, l.attrs, l.args, 1, 17, "op");
        ASSERT_TRUE(single.ok()) << single.status().ToString();
        StatusOr<std::vector<Tensor>> want = RunSingleOp(l.op, l.attrs, l.args, 1, 17, "op");
        ASSERT_TRUE(want.ok()) << want.status().ToString();
        CudaEngineOptions options;
        options.precision = precision;
        options.select_tactics = true;
        options.tactic_level = level;
        StatusOr<std::shared_ptr<CudaEngine>> engine = CudaEngine::Create(single->net, options);
        ASSERT_TRUE(engine.ok()) << engine.status().ToString();
        ASSERT_EQ((*engine)->tactics().size(), 1u);
        const LayerTactic& tactic = (*engine)->tactics()[0];
        EXPECT_GE(tactic.tactic, 0);
        EXPECT_GE(tactic.timed, 1);
        EXPECT_LE(tactic.chosen_ms, tactic.default_ms);
        StatusOr<int64_t> attr = (*engine)->network().layers[0].attrs.GetIntOr(kTacticAttr, -1);
        ASSERT_TRUE(attr.ok()) << attr.status().ToString();
        EXPECT_EQ(*attr, tactic.tactic);
        StatusOr<std::unique_ptr<CudaExecutionContext>> context = (*engine)->CreateContext();
        ASSERT_TRUE(context.ok()) << context.status().ToString();
        (*context)->SetPoisonArena(true);
        std::vector<Tensor> got;
        Status s = RunOnHost(**context, single->feeds, &got);
        ASSERT_TRUE(s.ok()) << s.ToString();
        ASSERT_EQ(got.size(), 1u);
        ExpectTensorsClose(got[0], (*want)[0], DefaultTolerance(precision), "tactic " + std::to_string(tactic.tactic));
      }
    }
  }
}

}  // namespace
}  // namespace testing
}  // namespace edgert
