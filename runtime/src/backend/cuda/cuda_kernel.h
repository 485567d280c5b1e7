// The CUDA operator interface: what every CUDA kernel family implements (see DESIGN.md, "Ops").
//
// Per layer and per execution context, CreateCudaKernel() turns a layer into a launch record: a
// CudaKernel whose device pointers (inputs, outputs, weights) are fixed at creation, so Enqueue()
// only launches. Families:
//   kernels_elementwise.cu  unary/binary/variadic elementwise, activations, Where, Cast,
//                           EdgertFusedElementwise, PRelu, Clip
//   kernels_tensor.cu       data movement: Transpose, Concat, Split, Slice, Gather, Expand, Tile,
//                           Pad, Resize, Upsample, DepthToSpace, SpaceToDepth, ConstantOfShape,
//                           Range, Shape, and copies for Reshape/Flatten/Squeeze/Unsqueeze/
//                           Identity/Dropout (when the memory plan does not elide them)
//   kernels_reduce.cu       Reduce*, ArgMax/ArgMin, TopK, Softmax, LogSoftmax
//   kernels_norm_pool.cu    BatchNormalization, InstanceNormalization, LayerNormalization,
//                           MaxPool (with indices), AveragePool, GlobalAveragePool, GlobalMaxPool
//   kernels_conv.cc/.cu     Conv (cuDNN graph API, fused bias/activation/residual), ConvTranspose
//   kernels_gemm.cc/.cu     Gemm, MatMul (cuBLASLt with bias/activation epilogues)
//   kernels_quantize.cu     QuantizeLinear, DequantizeLinear (per-tensor, per-axis, blocked scales),
//                           EdgertQuantizeNhwc
//   kernels_int8_conv.cu    EdgertInt8Conv (INT8 tensor-core implicit GEMM, sm_80+)
//   kernels_se.cu           EdgertSqueezeExcite (pool partials, then gate + scale)
//
// Contracts:
//   - Create: validates what the CPU op's supports()/infer() did not (device dtypes), reads
//     attributes and build-time parameter values (CudaTensor::host, OpContext input values), picks
//     the kernel, declares WorkspaceBytes(). It may allocate host memory and query libraries; it
//     must not allocate device memory (the context owns all device memory: arena + workspace)
//     except library plans/descriptors. With `dry_run` set (engine creation, validation only)
//     activation pointers are null and must not be dereferenced or handed to a library call that
//     checks them.
//   - Enqueue(stream): launches only: no allocation, no host synchronisation, no logging, no string
//     formatting on success. Safe inside CUDA graph capture (no cudaMalloc, no sync, no
//     cudaMemcpy to/from pageable memory; cudaMemsetAsync/cudaMemcpyAsync device-to-device fine).
//   - Every output element is written on every Enqueue (the arena is poisoned in tests).
//   - Float tensors may be float32 or float16 (FP16 engines); kernels accumulate in float.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgert/cuda_engine.h"
#include "edgert/op_def.h"
#include "edgert/precision.h"
#include "edgert/tensor.h"

struct cudnnContext;
struct cublasLtContext;

namespace edgert {
namespace cuda {

// One tensor as a CUDA kernel sees it.
struct CudaTensor {
  DataType dtype = DataType::kUndefined;  // on the device: float16 for float32 tensors of FP16 engines
  Shape shape;                            // as in the network (static)
  void* data = nullptr;                   // device address, fixed for the kernel's life; null in a dry run
                                          // for activations
  const Tensor* host = nullptr;           // constants only: the host value in the network's dtype
                                          // (parameters such as Slice starts, Resize scales, Clip min);
                                          // float16 for a narrowed constant (TensorDef::is_narrowed):
                                          // weights that kernels read on the device only
  bool is_constant() const { return host != nullptr; }
  int64_t num_elements() const { return NumElements(shape); }
  size_t bytes() const { return static_cast<size_t>(num_elements()) * DataTypeSize(dtype); }
};

// Per-context library handles and device facts, owned by the execution context.
struct CudaResources {
  cudnnContext* cudnn = nullptr;       // cudnnHandle_t; kernels call cudnnSetStream before use
  cublasLtContext* cublaslt = nullptr;  // cublasLtHandle_t
  int device_id = 0;
  int sm_count = 0;
  int cc_major = 0;
  int cc_minor = 0;
};

struct CudaOpContext {
  const OpContext* op = nullptr;              // attributes, network dtypes/shapes, build-time values
  std::vector<const CudaTensor*> inputs;      // nullptr for an absent optional input
  std::vector<const CudaTensor*> outputs;
  Precision precision = Precision::kFp32;
  CudaResources* resources = nullptr;
  bool dry_run = false;
  // Tactics (kernel choices among a layer's candidates, e.g. cuDNN execution plans or cuBLASLt
  // algorithms, each with a stable index for this device and library versions):
  //   tactic >= 0      a choice made earlier (a plan's layer attribute kTacticAttr): use candidate
  //                    `tactic` without timing (fall back to the default when it no longer exists);
  //   select_tactics   (never in a dry run) time the candidates on this GPU with CUDA events and
  //                    keep the fastest whose output matches the default candidate's (a fast wrong
  //                    tactic never wins). Only the engine's tactic pass sets it: the tensors then
  //                    live in a scratch arena, so the kernel may fill its inputs with test data and
  //                    may cudaMalloc/cudaFree a temporary workspace for the timing.
  //   tactic_level     how many candidates to time: 0 none (heuristic order only), 1 the top few
  //                    (default), 2 all that the library offers.
  int tactic = -1;
  // With tactic >= 0: what the earlier build recorded of that candidate (CudaKernel::TacticLabel /
  // TacticBlob, a plan's kTacticLabelAttr / kTacticBlobAttr); empty when nothing was recorded.
  std::string tactic_label;
  std::string tactic_blob;
  bool select_tactics = false;
  int tactic_level = 1;
  // Library candidates (cuDNN plans, cuBLASLt algorithms) needing more workspace than this are not
  // used: the budget for one layer's scratch memory (Jetsons share 4-8 GB with the CPU).
  size_t max_workspace_bytes = size_t{64} << 20;

  const std::string& name() const { return op->name(); }
  size_t num_inputs() const { return inputs.size(); }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const CudaTensor& input(size_t i) const { return *inputs[i]; }
  const CudaTensor& output(size_t i) const { return *outputs[i]; }
  // "<Op> node '<name>': <msg>" with the node as subject (OpContext::Error / NotSupported).
  Status Error(const std::string& msg) const { return op->Error(msg); }
  Status NotSupported(const std::string& msg) const { return op->NotSupported(msg); }
};

class CudaKernel {
 public:
  virtual ~CudaKernel() = default;
  // Scratch bytes needed during Enqueue (the context gives every kernel one shared workspace of the
  // largest size asked for, 256-byte aligned; layers run one after another, so it is reused).
  virtual size_t WorkspaceBytes() const { return 0; }
  // Called once after creation (not in a dry run), before the first Enqueue.
  virtual void SetWorkspace(void* /*workspace*/) {}
  virtual Status Enqueue(cudaStream_t stream) = 0;
  // The implementation chosen for this layer (library path, fused epilogue, ...), for
  // `edgert run --verbose` and tests; empty when there is nothing to tell.
  virtual std::string Describe() const { return {}; }
  // The tactic in use (CudaOpContext::tactic's numbering), or -1 for a kernel without tactics.
  // The engine stores it in the plan so later loads skip the timing.
  virtual int Tactic() const { return -1; }
  // What the engine records beside Tactic() so that a later load can recreate the chosen candidate
  // alone (CudaOpContext::tactic_label / tactic_blob); empty for kernels without that shortcut.
  virtual std::string TacticLabel() const { return {}; }
  virtual std::string TacticBlob() const { return {}; }
  // With select_tactics: the median time of the chosen tactic and of the default one, in ms (0
  // when nothing was timed), and how many candidates were timed / rejected as wrong. Kernels that
  // say more (Conv, EdgertConvNhwc) list every candidate they tried, in list order: its label,
  // its median ms (-1 when it failed to run or was rejected), whether its output was rejected,
  // and the wall-clock seconds its check and timing took; and the seconds the candidate list took
  // to build (plan finalization, cuDNN's runtime compilation).
  struct TacticReport {
    double chosen_ms = 0;
    double default_ms = 0;
    int timed = 0;
    int rejected = 0;
    std::vector<TacticCandidateTime> candidates;
    double list_seconds = 0;
  };
  virtual TacticReport Tactics() const { return {}; }
};

using CudaKernelPtr = std::unique_ptr<CudaKernel>;

// The registry: the family for ctx.op->op(); an Unsupported error naming the node for an op
// without a CUDA kernel. (cuda_registry.cc)
StatusOr<CudaKernelPtr> CreateCudaKernel(const CudaOpContext& ctx);

// The families; each returns an Unsupported error naming the node for an op or dtype it lacks.
StatusOr<CudaKernelPtr> CreateElementwiseKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateTensorKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateReduceKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateNormPoolKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateConvKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateGemmKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateQuantizeKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateQuantizeNhwcKernel(const CudaOpContext& ctx);  // kernels_quantize.cu
StatusOr<CudaKernelPtr> CreateInt8ConvKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateSqueezeExciteKernel(const CudaOpContext& ctx);  // kernels_se.cu

// True for the ops whose kernels have tactics (Conv, ConvTranspose, Gemm, MatMul, EdgertInt8Conv):
// the only layers the engine's tactic pass visits. (cuda_registry.cc)
bool OpHasTactics(OpType op);

// Device dtype of a network tensor of `dtype` under `precision`.
inline DataType DeviceDtype(DataType dtype, Precision precision) {
  return (precision == Precision::kFp16 && dtype == DataType::kFloat32) ? DataType::kFloat16 : dtype;
}

}  // namespace cuda
}  // namespace edgert
