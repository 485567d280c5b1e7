// Shared by the convolution GPU tests (conv_gpu_test.cc, nhwc_gpu_test.cc, stem_gpu_test.cc): the
// layer descriptions (ConvLayerCase, Conv2dAttrs, the fused activations), device buffers and copies
// in the precision's device dtype, and ConvLayerHarness, one Conv or EdgertConvNhwc layer outside an
// engine whose kernel is created through CreateConvKernel with a hand-built CudaOpContext, so that a
// test can force each candidate of ConvCandidatePaths by index (ctx.tactic), run the timed selection
// (ctx.select_tactics) and compare the output with the CPU reference.
//
// Contracts:
//   - Host values are float32 tensors; device copies are float16 under FP16 and float32 otherwise,
//     and outputs come back as float32 tensors.
//   - Device memory belongs to a DeviceBuffers (the harness holds one) and is freed with it; a
//     kernel a harness returns reads and writes that memory and must not outlive the harness.
//   - Failures are GoogleTest failures: call the void functions under ASSERT_NO_FATAL_FAILURE.
//   - Single-threaded, like the tests; the CUDA calls run on the current device.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/kernels_conv.h"
#include "backend/cuda/kernels_conv_nhwc.h"
#include "edgert/fused_activation.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {

using Ints = std::vector<int64_t>;

// Uniform float32 values in [-1, 1) from `seed`.
Tensor Rand(Shape shape, uint32_t seed);

// One convolution layer: X, W (KCRS for Conv, KRSC for EdgertConvNhwc), an optional bias and an
// optional residual (the 4th input, the shape of Y), and the attributes.
struct ConvLayerCase {
  Shape x;
  Shape w;
  bool bias = true;
  bool residual = false;
  Attributes attrs;
};

// The inputs of `c` from `seed` (X seed, W seed + 1, B seed + 2, Z seed + 3): X and the residual
// are fed at run time, W and B are constants (as in real networks). With a residual but no bias,
// input 2 is an undefined tensor (the optional input left out).
std::vector<OpArg> ConvLayerArgs(const ConvLayerCase& c, const Shape& y_shape, uint32_t seed);

// 2-D convolution attributes.
Attributes Conv2dAttrs(Ints pads, Ints strides = {1, 1}, Ints dilations = {1, 1}, int64_t group = 1);

// A fused activation (edgert/fused_activation.h) with its optional alpha and beta.
struct ActCase {
  const char* name;
  bool has_alpha;
  float alpha;
  bool has_beta;
  float beta;
};

inline constexpr ActCase kRelu = {"Relu", false, 0, false, 0};
inline constexpr ActCase kRelu6 = {"Clip", true, 0.0f, true, 6.0f};
inline constexpr ActCase kClipHalf = {"Clip", true, -0.5f, true, 0.5f};
inline constexpr ActCase kSilu = {"SiLU", false, 0, false, 0};
inline constexpr ActCase kHardSwish = {"HardSwish", false, 0, false, 0};
// Every activation kind; the tests index it: 0 Relu, 1 Relu6, 4 SiLU, 5 HardSwish.
inline constexpr ActCase kActivations[] = {
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

// `a` with the fused activation `act` set.
Attributes WithActivation(Attributes a, const ActCase& act);

// The index of the first path that starts with `prefix`, -1 when none does.
int IndexOf(const std::vector<std::string>& paths, const std::string& prefix);

// The CPU reference of a single `op` layer named `name` (opset 17) on `args`; its shape must be
// `y_shape`.
void SingleOpReference(OpType op, const std::string& name, const Attributes& attrs, const std::vector<OpArg>& args,
                       const Shape& y_shape, Tensor* want);

// Device buffers freed at scope exit.
class DeviceBuffers {
 public:
  DeviceBuffers() = default;
  DeviceBuffers(const DeviceBuffers&) = delete;
  DeviceBuffers& operator=(const DeviceBuffers&) = delete;
  ~DeviceBuffers();
  // cudaMalloc of `bytes` (at least 1) into *p, owned by this object.
  void Alloc(size_t bytes, void** p);

 private:
  std::vector<void*> buffers_;
};

// Float32 host values to a device buffer of `dtype` (float16 or float32) at `dst`.
void CopyToDevice(const Tensor& v, DataType dtype, void* dst);

// A device buffer of `dtype` at `src` into the float32 tensor *t (its shape gives the count).
void CopyFromDevice(const void* src, DataType dtype, Tensor* t);

// One Conv or EdgertConvNhwc layer outside an engine: the CPU reference output, device copies of
// the inputs in the precision's device dtype, a poisoned output buffer and a CudaOpContext over
// them (see the contracts at the top).
class ConvLayerHarness {
 public:
  // `op` is kConv or kConvNhwc; `name` names the layer (in the reference's and the kernels'
  // messages); the inputs are ConvLayerArgs(c, y_shape, seed).
  ConvLayerHarness(OpType op, std::string name, ConvLayerCase c, Shape y_shape, Precision precision, uint32_t seed);
  virtual ~ConvLayerHarness() = default;
  ConvLayerHarness(const ConvLayerHarness&) = delete;
  ConvLayerHarness& operator=(const ConvLayerHarness&) = delete;

  // With `cpu_reference`, computes the reference (Reference()); uploads the inputs and creates the
  // layer. Call once, under ASSERT_NO_FATAL_FAILURE, before anything below.
  void Init(bool cpu_reference = true);

  cuda::CudaOpContext Context(int tactic, bool select, int level) const;

  // CreateConvKernel with Context(tactic, select, level) and its workspace (owned by the harness).
  void CreateKernel(int tactic, bool select, int level, cuda::CudaKernelPtr* kernel);

  // ConvCandidatePaths at tactic level `level` (empty, with a failure, when it fails).
  std::vector<std::string> Paths(int level = 1) const;

  // Creates the kernel with (tactic, select, level), runs it once on the legacy stream on a
  // NaN-poisoned output and returns the output (float32) in `got`; `kernel` keeps the kernel.
  void Run(int tactic, bool select, int level, cuda::CudaKernelPtr* kernel, Tensor* got);

  // Run, then the comparison with the CPU reference (Init(true) only) at the precision's default
  // tolerance.
  void RunAndCheck(int tactic, bool select, int level, cuda::CudaKernelPtr* kernel);

  // Creates candidate `tactic` (forced), launches it `warmup` times on `stream`, then `timed` times
  // each between two CUDA events, and returns the median in milliseconds in `ms` (-1 when the
  // candidate could not be created or enqueued: the failure is reported).
  void TimeCandidate(int tactic, cudaStream_t stream, int warmup, int timed, double* ms);

  const ConvLayerCase& layer() const { return case_; }
  const Shape& y_shape() const { return y_shape_; }
  Precision precision() const { return precision_; }
  DataType dtype() const { return dtype_; }
  const std::vector<OpArg>& args() const { return args_; }
  const Tensor& want() const { return want_; }
  const OpContext& op() const { return *op_; }
  const std::vector<cuda::CudaTensor>& inputs() const { return tensors_; }
  const cuda::CudaTensor& output() const { return output_; }

 protected:
  // The CPU reference of the layer: by default SingleOpReference.
  virtual void Reference(Tensor* reference);
  // cudaMalloc owned by the harness.
  void Alloc(size_t bytes, void** p) { buffers_.Alloc(bytes, p); }
  // `v` in the device dtype in a fresh allocation, `offset` elements past its start.
  void UploadAt(const Tensor& v, int64_t offset, void** p);

 private:
  OpType op_type_;
  std::string name_;
  ConvLayerCase case_;
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
  DeviceBuffers buffers_;
};

// Every candidate in `paths` (h.Paths(1)), forced by index, matches the CPU reference, reports its
// index as Tactic() and runs the path it is listed under; an index past the list falls back to
// candidate 0.
void ExpectEveryCandidateMatches(ConvLayerHarness& h, const std::vector<std::string>& paths);

// Candidate `path` of an initialized harness (forced by its index at level 1), its Enqueue captured
// into a CUDA graph on a created stream (thread-local mode, as the engine does) and replayed twice
// on a NaN-poisoned output, each replay matching the CPU reference at the precision's default
// tolerance; the kernel needs no workspace.
void ExpectForcedCandidateGraphReplays(ConvLayerHarness& h, const std::string& path);

// Forced candidate `path` of an initialized harness (Init(false) suffices) against the forced
// direct-nhwc kernel, an independent GPU oracle, at the precision's default tolerance.
void ExpectForcedMatchesDirect(ConvLayerHarness& h, const std::string& path);

// Every candidate of h.Paths(), forced by index and timed on `stream` (3 warm-up launches, the
// median of 21, CUDA events), one line each: "[ <tag> ] <name> <index>:<path> <ms>" (spaces in the
// path as '_'). Nothing about time is asserted.
void PrintEveryCandidateTime(ConvLayerHarness& h, const std::string& tag, const std::string& name, cudaStream_t stream);

// A square channels-last geometry: X [n, hw, hw, c], W [k, rs, rs, c], Y [n, pq, pq, k], one stride
// and one leading pad for both axes, dilation 1, group 1.
cuda::NhwcConvGeometry SquareNhwcGeometry(int64_t n, int64_t hw, int64_t c, int64_t k, int64_t rs, int64_t pq,
                                          int64_t stride, int64_t pad);

// A float16 channels-last convolution launch, `launch(x, w, b, z, y)`, on X, W, B, Z (`args`, in
// that order) and Y each placed one half past a 16-byte boundary, Y inside a NaN-poisoned buffer
// that reaches past it at both ends: the launch succeeds, Y matches `want` at FP16's default
// tolerance (`what` names the comparison) and the halves around Y are still NaN.
using HalfConvLaunch =
    std::function<Status(const __half* x, const __half* w, const __half* b, const __half* z, __half* y)>;
void ExpectMisalignedLaunchMatches(const std::vector<OpArg>& args, const Tensor& want, const HalfConvLaunch& launch,
                                   const std::string& what);

// Timed selection on an initialized harness: a valid tactic is chosen, at least one candidate was
// timed, the chosen time is no worse than the default's, Describe() names the tactic, and the
// result (on the layer's real inputs, after the timing on test data) matches the reference; at
// level 0 candidate 0 runs untimed.
void ExpectTimedSelection(ConvLayerHarness& h);

// For FP32, then FP16: Harness(c, y_shape, precision, seed), initialized with the CPU reference,
// then `check(harness)`; the first fatal failure ends the loop.
template <typename Harness, typename Check>
void ForEachFloatPrecision(const ConvLayerCase& c, const Shape& y_shape, uint32_t seed, Check check) {
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    Harness h(c, y_shape, p, seed);
    ASSERT_NO_FATAL_FAILURE(h.Init());
    ASSERT_NO_FATAL_FAILURE(check(h));
  }
}

}  // namespace testing
}  // namespace edgert
