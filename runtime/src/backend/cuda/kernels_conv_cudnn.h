// A cuDNN backend (graph API) execution plan for one Conv (forward) or ConvTranspose (backward
// data) layer, with optional fused pointwise operations after a forward convolution:
//   conv -> [ADD bias (1 x K x 1 x 1)] -> [ADD residual (output shape)] -> [activation]
//   (the residual's ADD after the activation with act.residual_after_activation)
// where every intermediate is a virtual FLOAT tensor. Tensors are NCHW / NCDHW, fully packed, or
// with `channels_last` (2-D forward only: EdgertConvNhwc, ops/nhwc.h) channels-last: the
// dimensions stay N, C, H, W (filter K, C/g, R, S; bias 1, K, 1, 1) and the strides describe NHWC
// memory, {H*W*C, 1, W*C, C} for x, y, the residual and the virtual intermediates, KRSC
// {R*S*Cg, 1, S*Cg, Cg} for the filter; data type FLOAT or HALF, compute type FLOAT. A 1-D
// convolution is passed in as 2-D with H = 1.
//
// Plan selection: engine configs from heuristics mode A, then the fallback list (an engine already
// taken is skipped); Create() keeps the first that passes the numerical-note filter and finalizes
// into an execution plan, CreateAll() up to `max_plans` of them in that order (the tactic
// candidates of kernels_conv.cu). Filter: FLOAT data
// rejects engines noting DOWN_CONVERT_INPUTS or TENSOR_CORE (TF32); any data type rejects
// REDUCED_PRECISION_REDUCTION (compute must stay FP32).
//
// Create() builds the graph and the plan (host work only; no device allocation by us, cuDNN may
// compile runtime-fusion kernels). A plan load recreates one recorded plan (CreateForEngine):
// from cuDNN's JSON serialization of a runtime-compiled plan (Serialize()), which skips the
// compilation, or from the engine index and its recorded knob choices (KnobText()), which skips
// the heuristics; else by its engine's global index from the same heuristics lists. BindPointers() builds the variant
// pack once the device pointers and the workspace are known; Execute() is cudnnSetStream + cudnnBackendExecute
// (graph-capturable).
#pragma once

#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cudnn_util.h"
#include "edgert/status.h"
#include "fused_activation.h"

namespace edgert {
namespace cuda {

struct CudnnConvSpec {
  bool backward_data = false;  // ConvTranspose: x_dims is dx (the layer output), y_dims dy (its input)
  // Channels-last memory (header comment); dims are given in N, C, H, W order all the same.
  // Forward 2-D only: CreateAll() refuses it (kUnsupported) with backward_data or another rank.
  bool channels_last = false;
  cudnnDataType_t io_type = CUDNN_DATA_FLOAT;
  std::vector<int64_t> x_dims;                                   // N, C, spatial...
  std::vector<int64_t> w_dims;                                   // K, C / group, kernel...
  std::vector<int64_t> y_dims;                                   // N, K, spatial...
  std::vector<int64_t> strides, dilations, pre_pads, post_pads;  // one per spatial dimension
  // Fused epilogue (forward only): bias add, residual add, activation (act.residual_after_activation:
  // activation, then the residual add).
  bool bias = false;
  bool residual = false;
  FusedEpilogue act;
  // Byte alignment claimed per tensor (x, w, y, bias, residual): 16 or the pointer's actual
  // power-of-two alignment when smaller.
  int64_t align_x = 16, align_w = 16, align_y = 16, align_b = 16, align_r = 16;
  // Execution plans asking for more workspace are skipped (CudaOpContext::max_workspace_bytes).
  int64_t max_workspace_bytes = int64_t{64} << 20;
};

// Every field of `spec` as one line of text ("fwd nhwc half x=1,64,56,56 w=... bias act=2/0/0 ..."):
// what a serialized plan is bound to, compared before CreateForEngine restores it.
std::string CudnnConvSpecText(const CudnnConvSpec& spec);

// True when `act` has a cuDNN pointwise mode (Relu, LeakyRelu, Clip with finite bounds, Sigmoid,
// SiLU, Tanh, Gelu, GeluTanh).
bool CudnnSupportsActivation(const FusedEpilogue& act);

class CudnnConvPlan {
 public:
  // The plan for `spec`, or an error (kUnsupported when no engine config finalizes; kInternal for
  // a failed descriptor call), naming the cuDNN call. The handle must outlive the plan.
  static StatusOr<std::unique_ptr<CudnnConvPlan>> Create(cudnnHandle_t handle, const CudnnConvSpec& spec);
  // Up to `max_plans` (>= 1) plans in preference order; the same error as Create() when none.
  static StatusOr<std::vector<std::unique_ptr<CudnnConvPlan>>> CreateAll(cudnnHandle_t handle,
                                                                         const CudnnConvSpec& spec, int max_plans);

  // The plan of engine `engine_index` (CUDNN_ATTR_ENGINE_GLOBAL_INDEX) for `spec`, as an earlier
  // build chose and recorded it (a plan file's layer), from `serialized`, the text of the same
  // layer's plan: Serialize()'s JSON (a runtime-compiled engine; restoring it skips the
  // compilation) or KnobText() (any other engine: its engine config is built straight from the
  // engine index and the knob choices, which skips cuDNN's heuristics). When `serialized` is empty
  // or cuDNN does not take it (a malformed text, an engine config that no longer finalizes or
  // that the precision filter refuses): the engine's config from the heuristics lists, finalized
  // alone (not the configs before it). kNotFound when the engine no longer offers a plan (another
  // cuDNN or GPU): the caller builds the candidate list again. The caller guarantees that
  // `serialized` was made for this spec.
  static StatusOr<std::unique_ptr<CudnnConvPlan>> CreateForEngine(cudnnHandle_t handle, const CudnnConvSpec& spec,
                                                                  int64_t engine_index, const std::string& serialized);

  // cuDNN's JSON text of a runtime-compiled plan (CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION;
  // it carries the compiled kernel), "" for other engines or when cuDNN gives none.
  std::string Serialize() const;
  // The engine config's knob choices of a plan that is not runtime-compiled, as text:
  // "cudnn-knobs" then " <type>=<value>" per choice (cudnnBackendKnobType_t and its value, in
  // cuDNN's order); "" for a runtime-compiled plan or when cuDNN does not tell.
  std::string KnobText() const;
  // Whether the engine compiles its kernel when the plan is finalized; whether the plan was
  // restored from JSON / built from recorded knob choices (CreateForEngine).
  bool runtime_compiled() const { return runtime_compiled_; }
  bool from_json() const { return from_json_; }
  bool from_knobs() const { return from_knobs_; }

  int64_t workspace_bytes() const { return workspace_bytes_; }
  // CUDNN_ATTR_ENGINE_GLOBAL_INDEX of the plan's engine, -1 when unknown.
  int64_t engine_index() const { return engine_index_; }
  cudnnHandle_t handle() const { return handle_; }

  // Builds the variant pack: x, w, y as in the spec (for backward data x = dx = output, y = dy =
  // input), bias/residual when fused (else ignored), workspace (may be null when
  // workspace_bytes() is 0).
  Status BindPointers(const void* x, const void* w, void* y, const void* bias, const void* residual, void* workspace);

  Status Execute(cudaStream_t stream) const;

 private:
  CudnnConvPlan() = default;
  // CreateAll's list; with `only_engine` >= 0 only configs of that engine are tried.
  static StatusOr<std::vector<std::unique_ptr<CudnnConvPlan>>> CreatePlans(cudnnHandle_t handle,
                                                                           const CudnnConvSpec& spec, int max_plans,
                                                                           int64_t only_engine);
  static StatusOr<std::unique_ptr<CudnnConvPlan>> FromJson(cudnnHandle_t handle, const CudnnConvSpec& spec,
                                                           int64_t engine_index, const std::string& json);
  static StatusOr<std::unique_ptr<CudnnConvPlan>> FromKnobs(cudnnHandle_t handle, const CudnnConvSpec& spec,
                                                            int64_t engine_index, const std::string& text);
  // The finalized operation graph of `spec` (last) and the descriptors it refers to.
  static StatusOr<std::shared_ptr<std::vector<BackendDescriptor>>> MakeGraph(cudnnHandle_t handle,
                                                                             const CudnnConvSpec& spec);
  // An execution plan of `graph` from `cfg` (kUnsupported past the spec's workspace limit).
  static StatusOr<std::unique_ptr<CudnnConvPlan>> FinalizePlan(
      cudnnHandle_t handle, const CudnnConvSpec& spec, const std::shared_ptr<std::vector<BackendDescriptor>>& graph,
      BackendDescriptor cfg, int64_t engine_index);

  cudnnHandle_t handle_ = nullptr;
  bool bias_ = false;
  bool residual_ = false;
  int64_t workspace_bytes_ = 0;
  int64_t engine_index_ = -1;
  bool runtime_compiled_ = false;
  bool from_json_ = false;
  bool from_knobs_ = false;
  // The graph's descriptors (tensors, operations, operation graph), shared by the plans of one
  // graph, and this plan's engine config, kept alive as long as the plan; declared first so that
  // the plan and the variant pack go first.
  std::shared_ptr<std::vector<BackendDescriptor>> graph_;
  BackendDescriptor config_;
  BackendDescriptor plan_;
  BackendDescriptor variant_pack_;
};

}  // namespace cuda
}  // namespace edgert
