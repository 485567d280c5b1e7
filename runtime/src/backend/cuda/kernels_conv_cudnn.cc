// cuDNN backend-API plans for Conv / ConvTranspose (contracts in kernels_conv_cudnn.h).
//
// Graph: tensors get fixed uids (x 1, w 2, y 3, bias 4, residual 5, virtual intermediates 10+);
// strides are fully packed NC[D]HW, or channels-last (NHWC / KRSC, ChannelsLastStrides) with
// CudnnConvSpec::channels_last, the dimensions staying in N, C, H, W order. The operation graph
// is finalized once; heuristics mode A and the fallback list provide engine configs in preference
// order; each candidate's engine is read back to check its numerical notes (and its global
// index, to skip an engine the fallback list repeats) before an execution plan is finalized from
// it. The graph's descriptors are shared by every plan built from it (shared_ptr) and stay alive
// as long as the last of them.
#include "kernels_conv_cudnn.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "cuda_check.h"

namespace edgert {
namespace cuda {
namespace {

constexpr int64_t kUidX = 1;
constexpr int64_t kUidW = 2;
constexpr int64_t kUidY = 3;
constexpr int64_t kUidBias = 4;
constexpr int64_t kUidResidual = 5;
constexpr int64_t kUidVirtual = 10;
// Engine configs tried per heuristics mode (each costs a plan finalization at most).
constexpr int64_t kMaxConfigs = 64;
// The first word of KnobText(): what CreateForEngine tells apart from cuDNN's JSON plans.
constexpr char kKnobsTag[] = "cudnn-knobs";

std::vector<int64_t> PackedStrides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return strides;
}

// Channels-last strides of dims (N, C, spatial...): C innermost, then the spatial dimensions from
// the last, N outermost. [N, C, H, W] -> {H*W*C, 1, W*C, C}; a filter [K, Cg, R, S] ->
// {R*S*Cg, 1, S*Cg, Cg} (KRSC); a bias [1, K, 1, 1] -> {K, 1, K, K}.
std::vector<int64_t> ChannelsLastStrides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> strides(dims.size(), 1);
  if (dims.size() < 3) return PackedStrides(dims);
  int64_t stride = dims[1];
  for (size_t i = dims.size(); i-- > 2;) {
    strides[i] = stride;
    stride *= dims[i];
  }
  strides[1] = 1;
  strides[0] = stride;
  return strides;
}

StatusOr<BackendDescriptor> MakeTensor(int64_t uid, cudnnDataType_t type, const std::vector<int64_t>& dims,
                                       int64_t alignment, bool is_virtual, bool channels_last) {
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor t, BackendDescriptor::Create(CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor"));
  EDGERT_RETURN_IF_ERROR(SetDataType(t, CUDNN_ATTR_TENSOR_DATA_TYPE, type, "CUDNN_ATTR_TENSOR_DATA_TYPE"));
  EDGERT_RETURN_IF_ERROR(SetInt64s(t, CUDNN_ATTR_TENSOR_DIMENSIONS, dims, "CUDNN_ATTR_TENSOR_DIMENSIONS"));
  EDGERT_RETURN_IF_ERROR(SetInt64s(t, CUDNN_ATTR_TENSOR_STRIDES,
                                   channels_last ? ChannelsLastStrides(dims) : PackedStrides(dims),
                                   "CUDNN_ATTR_TENSOR_STRIDES"));
  EDGERT_RETURN_IF_ERROR(SetInt64(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, uid, "CUDNN_ATTR_TENSOR_UNIQUE_ID"));
  EDGERT_RETURN_IF_ERROR(SetInt64(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, alignment, "CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT"));
  const bool v = is_virtual;
  EDGERT_RETURN_IF_ERROR(
      SetAttr(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v, "CUDNN_ATTR_TENSOR_IS_VIRTUAL"));
  EDGERT_RETURN_IF_ERROR(Finalize(t, "tensor descriptor"));
  return t;
}

// The pointwise descriptor of an activation (CudnnSupportsActivation(act) holds) or of ADD.
StatusOr<BackendDescriptor> MakePointwiseDesc(cudnnPointwiseMode_t mode, const FusedEpilogue* act) {
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor p,
                          BackendDescriptor::Create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise"));
  EDGERT_RETURN_IF_ERROR(
      SetAttr(p, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "CUDNN_ATTR_POINTWISE_MODE"));
  EDGERT_RETURN_IF_ERROR(
      SetDataType(p, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_DATA_FLOAT, "CUDNN_ATTR_POINTWISE_MATH_PREC"));
  if (act != nullptr) {
    switch (act->kind) {
      case FusedEpilogue::Kind::kLeakyRelu:
        EDGERT_RETURN_IF_ERROR(
            SetFloat(p, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, 0.0f, "CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP"));
        EDGERT_RETURN_IF_ERROR(SetFloat(p, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE, act->alpha,
                                        "CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE"));
        break;
      case FusedEpilogue::Kind::kClip:
        EDGERT_RETURN_IF_ERROR(
            SetFloat(p, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, act->alpha, "CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP"));
        EDGERT_RETURN_IF_ERROR(
            SetFloat(p, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP, act->beta, "CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP"));
        break;
      case FusedEpilogue::Kind::kSilu:
        EDGERT_RETURN_IF_ERROR(SetFloat(p, CUDNN_ATTR_POINTWISE_SWISH_BETA, 1.0f, "CUDNN_ATTR_POINTWISE_SWISH_BETA"));
        break;
      default:
        break;
    }
  }
  EDGERT_RETURN_IF_ERROR(Finalize(p, "pointwise descriptor"));
  return p;
}

cudnnPointwiseMode_t ActivationMode(FusedEpilogue::Kind kind) {
  switch (kind) {
    case FusedEpilogue::Kind::kSigmoid:
      return CUDNN_POINTWISE_SIGMOID_FWD;
    case FusedEpilogue::Kind::kSilu:
      return CUDNN_POINTWISE_SWISH_FWD;
    case FusedEpilogue::Kind::kTanh:
      return CUDNN_POINTWISE_TANH_FWD;
    case FusedEpilogue::Kind::kGelu:
      return CUDNN_POINTWISE_GELU_FWD;
    case FusedEpilogue::Kind::kGeluTanh:
      return CUDNN_POINTWISE_GELU_APPROX_TANH_FWD;
    default:
      return CUDNN_POINTWISE_RELU_FWD;  // Relu, LeakyRelu, Clip
  }
}

// y = pw(x [, b]) as an operation descriptor.
StatusOr<BackendDescriptor> MakePointwiseOp(const BackendDescriptor& pw, const BackendDescriptor& x,
                                            const BackendDescriptor* b, const BackendDescriptor& y) {
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor op, BackendDescriptor::Create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR,
                                                                          "pointwise operation"));
  EDGERT_RETURN_IF_ERROR(SetDescriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw,
                                       "CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR"));
  EDGERT_RETURN_IF_ERROR(
      SetDescriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x, "CUDNN_ATTR_OPERATION_POINTWISE_XDESC"));
  if (b != nullptr) {
    EDGERT_RETURN_IF_ERROR(
        SetDescriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b, "CUDNN_ATTR_OPERATION_POINTWISE_BDESC"));
  }
  EDGERT_RETURN_IF_ERROR(
      SetDescriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y, "CUDNN_ATTR_OPERATION_POINTWISE_YDESC"));
  EDGERT_RETURN_IF_ERROR(Finalize(op, "pointwise operation"));
  return op;
}

// Whether the engine of `cfg` keeps the arithmetic we promise (header comment).
StatusOr<bool> EngineAcceptable(const BackendDescriptor& cfg, cudnnDataType_t io_type) {
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor engine,
                          BackendDescriptor::Create(CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine"));
  cudnnBackendDescriptor_t engine_handle = engine.get();
  int64_t count = 0;
  EDGERT_CUDNN_RETURN_IF_ERROR(cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE,
                                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &engine_handle));
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  int64_t num_notes = 0;
  EDGERT_CUDNN_RETURN_IF_ERROR(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                                        CUDNN_TYPE_NUMERICAL_NOTE, CUDNN_NUMERICAL_NOTE_TYPE_COUNT,
                                                        &num_notes, notes));
  for (int64_t i = 0; i < num_notes && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; ++i) {
    if (notes[i] == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) return false;
    if (io_type == CUDNN_DATA_FLOAT &&
        (notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS || notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE)) {
      return false;
    }
  }
  return true;
}

// CUDNN_ATTR_ENGINE_GLOBAL_INDEX of the engine of `cfg`, or -1 when cuDNN does not tell.
int64_t EngineGlobalIndex(const BackendDescriptor& cfg) {
  StatusOr<BackendDescriptor> engine = BackendDescriptor::Create(CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine");
  if (!engine.ok()) return -1;
  cudnnBackendDescriptor_t engine_handle = engine->get();
  int64_t count = 0;
  if (cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                               &engine_handle) != CUDNN_STATUS_SUCCESS) {
    return -1;
  }
  int64_t index = -1;
  if (cudnnBackendGetAttribute(engine->get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &count, &index) !=
      CUDNN_STATUS_SUCCESS) {
    return -1;
  }
  return index;
}

// Whether the engine of `cfg` compiles its kernel at plan finalization
// (CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION): the plans worth serializing.
bool RuntimeCompiled(const BackendDescriptor& cfg) {
  StatusOr<BackendDescriptor> engine = BackendDescriptor::Create(CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine");
  if (!engine.ok()) return false;
  cudnnBackendDescriptor_t engine_handle = engine->get();
  int64_t count = 0;
  if (cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                               &engine_handle) != CUDNN_STATUS_SUCCESS) {
    return false;
  }
  cudnnBackendBehaviorNote_t notes[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  int64_t num_notes = 0;
  if (cudnnBackendGetAttribute(engine->get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &num_notes, notes) != CUDNN_STATUS_SUCCESS) {
    return false;
  }
  for (int64_t i = 0; i < num_notes && i < CUDNN_BEHAVIOR_NOTE_TYPE_COUNT; ++i) {
    if (notes[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) return true;
  }
  return false;
}

// The descriptors of array attribute `name` of `desc`, at most `max`, each made as a `type`
// descriptor (`what`) for cuDNN to fill, in cuDNN's order; an error when one cannot be made or
// cuDNN refuses the query.
StatusOr<std::vector<BackendDescriptor>> GetDescriptors(cudnnBackendDescriptor_t desc, cudnnBackendAttributeName_t name,
                                                        cudnnBackendDescriptorType_t type, const char* what,
                                                        int64_t max) {
  std::vector<BackendDescriptor> descriptors;
  std::vector<cudnnBackendDescriptor_t> handles;
  for (int64_t i = 0; i < max; ++i) {
    EDGERT_ASSIGN_OR_RETURN(BackendDescriptor d, BackendDescriptor::Create(type, what));
    handles.push_back(d.get());
    descriptors.push_back(std::move(d));
  }
  int64_t returned = 0;
  EDGERT_CUDNN_RETURN_IF_ERROR(
      cudnnBackendGetAttribute(desc, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, max, &returned, handles.data()));
  if (returned < 0 || returned > max) {
    return Internal("cuDNN returned " + std::to_string(returned) + " " + what + " descriptors for " +
                    std::to_string(max));
  }
  descriptors.resize(static_cast<size_t>(returned));
  return descriptors;
}

// Engine configs for `graph` from heuristics `mode`, best first (none when the heuristics
// refuse the graph).
std::vector<BackendDescriptor> HeuristicConfigs(const BackendDescriptor& graph, cudnnBackendHeurMode_t mode) {
  StatusOr<BackendDescriptor> heur = BackendDescriptor::Create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "heuristics");
  if (!heur.ok()) return {};
  if (!SetDescriptor(*heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph, "CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH")
           .ok() ||
      !SetAttr(*heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "CUDNN_ATTR_ENGINEHEUR_MODE").ok() ||
      !Finalize(*heur, "heuristics").ok()) {
    return {};
  }
  int64_t available = 0;
  if (cudnnBackendGetAttribute(heur->get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &available,
                               nullptr) != CUDNN_STATUS_SUCCESS ||
      available <= 0) {
    return {};
  }
  if (available > kMaxConfigs) available = kMaxConfigs;
  StatusOr<std::vector<BackendDescriptor>> results = GetDescriptors(
      heur->get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config", available);
  return results.ok() ? std::move(*results) : std::vector<BackendDescriptor>{};
}

}  // namespace

std::string CudnnConvSpecText(const CudnnConvSpec& spec) {
  auto ints = [](const char* name, const std::vector<int64_t>& v) {
    std::string out = std::string(" ") + name + "=";
    for (size_t i = 0; i < v.size(); ++i) out += (i > 0 ? "," : "") + std::to_string(v[i]);
    return out;
  };
  char act[96];
  std::snprintf(act, sizeof(act), " act=%d/%.9g/%.9g%s", static_cast<int>(spec.act.kind), spec.act.alpha, spec.act.beta,
                spec.act.residual_after_activation ? "/residual-after" : "");
  return std::string(spec.backward_data ? "bwd" : "fwd") + (spec.channels_last ? " nhwc" : " nchw") + " type" +
         std::to_string(static_cast<int>(spec.io_type)) + ints("x", spec.x_dims) + ints("w", spec.w_dims) +
         ints("y", spec.y_dims) + ints("stride", spec.strides) + ints("dilation", spec.dilations) +
         ints("pre", spec.pre_pads) + ints("post", spec.post_pads) + (spec.bias ? " bias" : "") +
         (spec.residual ? " residual" : "") + act +
         ints("align", {spec.align_x, spec.align_w, spec.align_y, spec.align_b, spec.align_r}) +
         " ws=" + std::to_string(spec.max_workspace_bytes);
}

bool CudnnSupportsActivation(const FusedEpilogue& act) {
  switch (act.kind) {
    case FusedEpilogue::Kind::kRelu:
    case FusedEpilogue::Kind::kSigmoid:
    case FusedEpilogue::Kind::kSilu:
    case FusedEpilogue::Kind::kTanh:
    case FusedEpilogue::Kind::kGelu:
    case FusedEpilogue::Kind::kGeluTanh:
      return true;
    case FusedEpilogue::Kind::kLeakyRelu:
      return std::isfinite(act.alpha);
    case FusedEpilogue::Kind::kClip:
      return std::isfinite(act.alpha) && std::isfinite(act.beta) && act.alpha <= act.beta;
    default:
      return false;
  }
}

StatusOr<std::vector<std::unique_ptr<CudnnConvPlan>>> CudnnConvPlan::CreateAll(cudnnHandle_t handle,
                                                                              const CudnnConvSpec& spec,
                                                                              int max_plans) {
  return CreatePlans(handle, spec, max_plans, -1);
}

StatusOr<std::unique_ptr<CudnnConvPlan>> CudnnConvPlan::CreateForEngine(cudnnHandle_t handle, const CudnnConvSpec& spec,
                                                                        int64_t engine_index,
                                                                        const std::string& serialized) {
  if (engine_index < 0) return InvalidArgument("no cuDNN engine index recorded");
  if (serialized.compare(0, sizeof(kKnobsTag) - 1, kKnobsTag) == 0) {
    StatusOr<std::unique_ptr<CudnnConvPlan>> restored = FromKnobs(handle, spec, engine_index, serialized);
    if (restored.ok()) return restored;
  } else if (!serialized.empty()) {
    StatusOr<std::unique_ptr<CudnnConvPlan>> restored = FromJson(handle, spec, engine_index, serialized);
    if (restored.ok()) return restored;
  }
  EDGERT_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<CudnnConvPlan>> plans,
                          CreatePlans(handle, spec, 1, engine_index));
  return std::move(plans.front());
}

StatusOr<std::unique_ptr<CudnnConvPlan>> CudnnConvPlan::FromJson(cudnnHandle_t handle, const CudnnConvSpec& spec,
                                                                 int64_t engine_index, const std::string& json) {
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor plan,
                          BackendDescriptor::Create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, "execution plan"));
  EDGERT_RETURN_IF_ERROR(SetHandle(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, handle, "CUDNN_ATTR_EXECUTION_PLAN_HANDLE"));
  EDGERT_RETURN_IF_ERROR(SetAttr(plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION, CUDNN_TYPE_CHAR,
                                 static_cast<int64_t>(json.size()), json.data(),
                                 "CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION"));
  EDGERT_RETURN_IF_ERROR(Finalize(plan, "execution plan (from JSON)"));
  int64_t workspace = 0;
  int64_t count = 0;
  EDGERT_CUDNN_RETURN_IF_ERROR(cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                        CUDNN_TYPE_INT64, 1, &count, &workspace));
  if (workspace > spec.max_workspace_bytes) {
    return Unsupported("the serialized plan's workspace " + std::to_string(workspace) + " bytes exceeds the limit");
  }
  std::unique_ptr<CudnnConvPlan> p(new CudnnConvPlan());
  p->handle_ = handle;
  p->bias_ = !spec.backward_data && spec.bias;
  p->residual_ = !spec.backward_data && spec.residual;
  p->engine_index_ = engine_index;
  p->workspace_bytes_ = workspace < 0 ? 0 : workspace;
  p->runtime_compiled_ = true;
  p->from_json_ = true;
  p->plan_ = std::move(plan);
  return p;
}

StatusOr<std::unique_ptr<CudnnConvPlan>> CudnnConvPlan::FromKnobs(cudnnHandle_t handle, const CudnnConvSpec& spec,
                                                                  int64_t engine_index, const std::string& text) {
  // "cudnn-knobs" then " <type>=<value>" per knob choice, decimal integers (KnobText()).
  std::vector<std::pair<int64_t, int64_t>> knobs;
  size_t at = sizeof(kKnobsTag) - 1;
  while (at < text.size()) {
    if (text[at] != ' ') return InvalidArgument("malformed cuDNN knob text");
    const size_t eq = text.find('=', at + 1);
    const size_t end = std::min(text.find(' ', at + 1), text.size());
    if (eq == std::string::npos || eq > end || eq == at + 1 || eq + 1 == end || eq - at > 10 || end - eq > 20) {
      return InvalidArgument("malformed cuDNN knob text");
    }
    const std::string type = text.substr(at + 1, eq - at - 1);
    const std::string value = text.substr(eq + 1, end - eq - 1);
    const bool negative = value[0] == '-';
    if (type.find_first_not_of("0123456789") != std::string::npos ||
        value.find_first_not_of("0123456789", negative ? 1 : 0) != std::string::npos ||
        value.size() == (negative ? 1u : 0u)) {
      return InvalidArgument("malformed cuDNN knob text");
    }
    knobs.emplace_back(std::atoll(type.c_str()), std::atoll(value.c_str()));
    at = end;
  }
  if (knobs.size() > static_cast<size_t>(CUDNN_KNOB_TYPE_COUNTS)) return InvalidArgument("too many cuDNN knobs");
  for (const auto& k : knobs) {
    if (k.first < 0 || k.first >= CUDNN_KNOB_TYPE_COUNTS) return InvalidArgument("unknown cuDNN knob type");
  }
  EDGERT_ASSIGN_OR_RETURN(std::shared_ptr<std::vector<BackendDescriptor>> graph, MakeGraph(handle, spec));
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor engine,
                          BackendDescriptor::Create(CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine"));
  EDGERT_RETURN_IF_ERROR(
      SetDescriptor(engine, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph->back(), "CUDNN_ATTR_ENGINE_OPERATION_GRAPH"));
  EDGERT_RETURN_IF_ERROR(
      SetInt64(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, engine_index, "CUDNN_ATTR_ENGINE_GLOBAL_INDEX"));
  EDGERT_RETURN_IF_ERROR(Finalize(engine, "engine"));
  std::vector<BackendDescriptor> choices;
  std::vector<cudnnBackendDescriptor_t> handles;
  for (const auto& k : knobs) {
    EDGERT_ASSIGN_OR_RETURN(BackendDescriptor choice,
                            BackendDescriptor::Create(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, "knob choice"));
    const auto type = static_cast<cudnnBackendKnobType_t>(k.first);
    EDGERT_RETURN_IF_ERROR(SetAttr(choice, CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &type,
                                   "CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE"));
    EDGERT_RETURN_IF_ERROR(
        SetInt64(choice, CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, k.second, "CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE"));
    EDGERT_RETURN_IF_ERROR(Finalize(choice, "knob choice"));
    handles.push_back(choice.get());
    choices.push_back(std::move(choice));
  }
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor cfg,
                          BackendDescriptor::Create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config"));
  EDGERT_RETURN_IF_ERROR(SetDescriptor(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, engine, "CUDNN_ATTR_ENGINECFG_ENGINE"));
  if (!handles.empty()) {
    EDGERT_RETURN_IF_ERROR(SetAttr(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                   static_cast<int64_t>(handles.size()), handles.data(),
                                   "CUDNN_ATTR_ENGINECFG_KNOB_CHOICES"));
  }
  EDGERT_RETURN_IF_ERROR(Finalize(cfg, "engine config"));
  EDGERT_ASSIGN_OR_RETURN(bool acceptable, EngineAcceptable(cfg, spec.io_type));
  if (!acceptable) return Unsupported("the recorded cuDNN engine config reduces precision");
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CudnnConvPlan> plan,
                          FinalizePlan(handle, spec, graph, std::move(cfg), engine_index));
  if (plan->runtime_compiled_)
    return Unsupported("the recorded engine compiles at runtime (its JSON plan is recorded instead)");
  plan->from_knobs_ = true;
  return plan;
}

std::string CudnnConvPlan::KnobText() const {
  if (runtime_compiled_ || !config_.valid()) return {};
  StatusOr<std::vector<BackendDescriptor>> choices =
      GetDescriptors(config_.get(), CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR,
                     "knob choice", CUDNN_KNOB_TYPE_COUNTS);
  if (!choices.ok()) return {};
  std::string text = kKnobsTag;
  for (const BackendDescriptor& choice : *choices) {
    cudnnBackendKnobType_t type;
    int64_t value = 0;
    int64_t n = 0;
    if (cudnnBackendGetAttribute(choice.get(), CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &n, &type) !=
            CUDNN_STATUS_SUCCESS ||
        cudnnBackendGetAttribute(choice.get(), CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &n, &value) !=
            CUDNN_STATUS_SUCCESS) {
      return {};
    }
    text += " " + std::to_string(static_cast<int>(type)) + "=" + std::to_string(value);
  }
  return text;
}

std::string CudnnConvPlan::Serialize() const {
  if (!runtime_compiled_ || !plan_.valid()) return {};
  int64_t size = 0;
  if (cudnnBackendGetAttribute(plan_.get(), CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, 0, &size,
                               nullptr) != CUDNN_STATUS_SUCCESS ||
      size <= 0) {
    return {};
  }
  std::string json(static_cast<size_t>(size), '\0');
  int64_t returned = 0;
  if (cudnnBackendGetAttribute(plan_.get(), CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, size,
                               &returned, json.data()) != CUDNN_STATUS_SUCCESS) {
    return {};
  }
  json.resize(static_cast<size_t>(std::clamp<int64_t>(returned, 0, size)));
  while (!json.empty() && json.back() == '\0') json.pop_back();
  return json;
}

StatusOr<std::shared_ptr<std::vector<BackendDescriptor>>> CudnnConvPlan::MakeGraph(cudnnHandle_t handle,
                                                                                   const CudnnConvSpec& spec) {
  const bool fused_act = !spec.backward_data && spec.act.kind != FusedEpilogue::Kind::kNone;
  const bool fuse_bias = !spec.backward_data && spec.bias;
  const bool fuse_residual = !spec.backward_data && spec.residual;
  if (fused_act && !CudnnSupportsActivation(spec.act)) {
    return Unsupported("the fused activation has no cuDNN pointwise mode");
  }
  if (spec.channels_last && (spec.backward_data || spec.x_dims.size() != 4)) {
    return Unsupported("channels-last cuDNN plans are 2-D forward convolutions only");
  }
  const bool cl = spec.channels_last;
  const size_t nd = spec.x_dims.size() - 2;
  std::vector<BackendDescriptor> keep;

  const int num_pointwise = (fuse_bias ? 1 : 0) + (fuse_residual ? 1 : 0) + (fused_act ? 1 : 0);
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor x, MakeTensor(kUidX, spec.io_type, spec.x_dims, spec.align_x, false, cl));
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor w, MakeTensor(kUidW, spec.io_type, spec.w_dims, spec.align_w, false, cl));
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor y, MakeTensor(kUidY, spec.io_type, spec.y_dims, spec.align_y, false, cl));

  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor conv,
                          BackendDescriptor::Create(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, "convolution"));
  const int64_t spatial = static_cast<int64_t>(nd);
  const cudnnConvolutionMode_t conv_mode = CUDNN_CROSS_CORRELATION;
  EDGERT_RETURN_IF_ERROR(
      SetInt64(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, spatial, "CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS"));
  EDGERT_RETURN_IF_ERROR(
      SetDataType(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_DATA_FLOAT, "CUDNN_ATTR_CONVOLUTION_COMP_TYPE"));
  EDGERT_RETURN_IF_ERROR(SetAttr(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &conv_mode,
                                 "CUDNN_ATTR_CONVOLUTION_CONV_MODE"));
  EDGERT_RETURN_IF_ERROR(
      SetInt64s(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, spec.dilations, "CUDNN_ATTR_CONVOLUTION_DILATIONS"));
  EDGERT_RETURN_IF_ERROR(
      SetInt64s(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, spec.strides, "CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES"));
  EDGERT_RETURN_IF_ERROR(
      SetInt64s(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, spec.pre_pads, "CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS"));
  EDGERT_RETURN_IF_ERROR(
      SetInt64s(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, spec.post_pads, "CUDNN_ATTR_CONVOLUTION_POST_PADDINGS"));
  EDGERT_RETURN_IF_ERROR(Finalize(conv, "convolution descriptor"));

  const float alpha = 1.0f;
  const float beta = 0.0f;
  std::vector<cudnnBackendDescriptor_t> ops;
  if (spec.backward_data) {
    EDGERT_ASSIGN_OR_RETURN(BackendDescriptor op,
                            BackendDescriptor::Create(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
                                                      "convolution backward data"));
    EDGERT_RETURN_IF_ERROR(SetAttr(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha,
                                   "CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA"));
    EDGERT_RETURN_IF_ERROR(SetAttr(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, CUDNN_TYPE_FLOAT, 1, &beta,
                                   "CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA"));
    EDGERT_RETURN_IF_ERROR(SetDescriptor(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, conv,
                                         "CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC"));
    EDGERT_RETURN_IF_ERROR(SetDescriptor(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, w,
                                         "CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W"));
    EDGERT_RETURN_IF_ERROR(SetDescriptor(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, x,
                                         "CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX"));
    EDGERT_RETURN_IF_ERROR(SetDescriptor(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, y,
                                         "CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY"));
    EDGERT_RETURN_IF_ERROR(Finalize(op, "convolution backward data operation"));
    ops.push_back(op.get());
    keep.push_back(std::move(op));
  } else {
    // conv writes y directly, or the first virtual intermediate of the pointwise chain.
    int64_t next_virtual = kUidVirtual;
    auto make_virtual = [&]() { return MakeTensor(next_virtual++, CUDNN_DATA_FLOAT, spec.y_dims, 16, true, cl); };
    BackendDescriptor conv_out;
    if (num_pointwise > 0) {
      EDGERT_ASSIGN_OR_RETURN(conv_out, make_virtual());
    }
    const BackendDescriptor& conv_y = num_pointwise > 0 ? conv_out : y;
    EDGERT_ASSIGN_OR_RETURN(
        BackendDescriptor op,
        BackendDescriptor::Create(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, "convolution forward"));
    EDGERT_RETURN_IF_ERROR(SetAttr(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha,
                                   "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA"));
    EDGERT_RETURN_IF_ERROR(SetAttr(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta,
                                   "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA"));
    EDGERT_RETURN_IF_ERROR(SetDescriptor(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv,
                                         "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC"));
    EDGERT_RETURN_IF_ERROR(
        SetDescriptor(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x, "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X"));
    EDGERT_RETURN_IF_ERROR(
        SetDescriptor(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w, "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W"));
    EDGERT_RETURN_IF_ERROR(SetDescriptor(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, conv_y,
                                         "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y"));
    EDGERT_RETURN_IF_ERROR(Finalize(op, "convolution forward operation"));
    ops.push_back(op.get());
    keep.push_back(std::move(op));

    // The pointwise chain: each stage reads the previous virtual tensor; the last writes y.
    int remaining = num_pointwise;
    BackendDescriptor current = std::move(conv_out);
    auto add_stage = [&](cudnnPointwiseMode_t mode, const FusedEpilogue* act,
                         const BackendDescriptor* operand) -> Status {
      --remaining;
      BackendDescriptor out;
      if (remaining > 0) {
        EDGERT_ASSIGN_OR_RETURN(out, make_virtual());
      }
      const BackendDescriptor& stage_y = remaining > 0 ? out : y;
      EDGERT_ASSIGN_OR_RETURN(BackendDescriptor pw, MakePointwiseDesc(mode, act));
      EDGERT_ASSIGN_OR_RETURN(BackendDescriptor pw_op, MakePointwiseOp(pw, current, operand, stage_y));
      ops.push_back(pw_op.get());
      keep.push_back(std::move(pw));
      keep.push_back(std::move(pw_op));
      keep.push_back(std::move(current));
      current = std::move(out);
      return Status::Ok();
    };
    if (fuse_bias) {
      std::vector<int64_t> b_dims(spec.y_dims.size(), 1);
      b_dims[1] = spec.y_dims[1];
      EDGERT_ASSIGN_OR_RETURN(BackendDescriptor b, MakeTensor(kUidBias, spec.io_type, b_dims, spec.align_b, false, cl));
      EDGERT_RETURN_IF_ERROR(add_stage(CUDNN_POINTWISE_ADD, nullptr, &b));
      keep.push_back(std::move(b));
    }
    auto add_residual = [&]() -> Status {
      EDGERT_ASSIGN_OR_RETURN(BackendDescriptor r,
                              MakeTensor(kUidResidual, spec.io_type, spec.y_dims, spec.align_r, false, cl));
      EDGERT_RETURN_IF_ERROR(add_stage(CUDNN_POINTWISE_ADD, nullptr, &r));
      keep.push_back(std::move(r));
      return Status::Ok();
    };
    const bool residual_after = spec.act.residual_after_activation;
    if (fuse_residual && !residual_after) EDGERT_RETURN_IF_ERROR(add_residual());
    if (fused_act) {
      EDGERT_RETURN_IF_ERROR(add_stage(ActivationMode(spec.act.kind), &spec.act, nullptr));
    }
    if (fuse_residual && residual_after) EDGERT_RETURN_IF_ERROR(add_residual());
  }
  keep.push_back(std::move(x));
  keep.push_back(std::move(w));
  keep.push_back(std::move(y));
  keep.push_back(std::move(conv));

  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor graph,
                          BackendDescriptor::Create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph"));
  EDGERT_RETURN_IF_ERROR(SetAttr(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                 static_cast<int64_t>(ops.size()), ops.data(), "CUDNN_ATTR_OPERATIONGRAPH_OPS"));
  EDGERT_RETURN_IF_ERROR(
      SetHandle(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, handle, "CUDNN_ATTR_OPERATIONGRAPH_HANDLE"));
  EDGERT_RETURN_IF_ERROR(Finalize(graph, "operation graph"));

  // Every plan shares the graph's descriptors; each keeps its own engine config.
  auto shared = std::make_shared<std::vector<BackendDescriptor>>(std::move(keep));
  shared->push_back(std::move(graph));
  return shared;
}

StatusOr<std::unique_ptr<CudnnConvPlan>> CudnnConvPlan::FinalizePlan(
    cudnnHandle_t handle, const CudnnConvSpec& spec, const std::shared_ptr<std::vector<BackendDescriptor>>& graph,
    BackendDescriptor cfg, int64_t engine_index) {
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor candidate,
                          BackendDescriptor::Create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, "execution plan"));
  EDGERT_RETURN_IF_ERROR(
      SetHandle(candidate, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, handle, "CUDNN_ATTR_EXECUTION_PLAN_HANDLE"));
  EDGERT_RETURN_IF_ERROR(SetDescriptor(candidate, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, cfg,
                                       "CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG"));
  EDGERT_RETURN_IF_ERROR(Finalize(candidate, "execution plan"));
  int64_t workspace = 0;
  int64_t count = 0;
  if (cudnnBackendGetAttribute(candidate.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &count,
                               &workspace) != CUDNN_STATUS_SUCCESS) {
    return Internal("cudnnBackendGetAttribute(CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE) failed");
  }
  if (workspace > spec.max_workspace_bytes) {  // Jetsons share 4-8 GB with the CPU: take a leaner engine
    return Unsupported("engine workspace " + std::to_string(workspace) + " bytes exceeds the limit of " +
                       std::to_string(spec.max_workspace_bytes) + " bytes");
  }
  std::unique_ptr<CudnnConvPlan> plan(new CudnnConvPlan());
  plan->handle_ = handle;
  plan->bias_ = !spec.backward_data && spec.bias;
  plan->residual_ = !spec.backward_data && spec.residual;
  plan->engine_index_ = engine_index;
  plan->runtime_compiled_ = RuntimeCompiled(cfg);
  plan->workspace_bytes_ = workspace < 0 ? 0 : workspace;
  plan->graph_ = graph;
  plan->config_ = std::move(cfg);
  plan->plan_ = std::move(candidate);
  return plan;
}

StatusOr<std::vector<std::unique_ptr<CudnnConvPlan>>> CudnnConvPlan::CreatePlans(cudnnHandle_t handle,
                                                                                 const CudnnConvSpec& spec,
                                                                                 int max_plans, int64_t only_engine) {
  if (max_plans < 1) return Internal("CudnnConvPlan::CreateAll needs max_plans >= 1");
  EDGERT_ASSIGN_OR_RETURN(std::shared_ptr<std::vector<BackendDescriptor>> shared, MakeGraph(handle, spec));
  const BackendDescriptor& graph_ref = shared->back();
  std::vector<std::unique_ptr<CudnnConvPlan>> plans;
  std::vector<int64_t> engines_taken;
  Status last = Unsupported("cuDNN heuristics offered no engine config");
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    if (static_cast<int>(plans.size()) >= max_plans) break;
    std::vector<BackendDescriptor> configs = HeuristicConfigs(graph_ref, mode);
    for (BackendDescriptor& cfg : configs) {
      if (static_cast<int>(plans.size()) >= max_plans) break;
      StatusOr<bool> acceptable = EngineAcceptable(cfg, spec.io_type);
      if (!acceptable.ok()) {
        last = acceptable.status();
        continue;
      }
      if (!*acceptable) {
        last = Unsupported("every cuDNN engine config offered reduces precision (TF32 or FP16 accumulation)");
        continue;
      }
      const int64_t engine_index = EngineGlobalIndex(cfg);
      if (engine_index >= 0 &&
          std::find(engines_taken.begin(), engines_taken.end(), engine_index) != engines_taken.end()) {
        continue;  // the fallback list repeats engines of mode A
      }
      if (only_engine >= 0 && engine_index != only_engine) continue;
      StatusOr<std::unique_ptr<CudnnConvPlan>> plan = FinalizePlan(handle, spec, shared, std::move(cfg), engine_index);
      if (!plan.ok()) {
        last = plan.status();
        continue;
      }
      plans.push_back(std::move(*plan));
      if (engine_index >= 0) engines_taken.push_back(engine_index);
    }
  }
  if (plans.empty() && only_engine >= 0) {
    return Status(StatusCode::kNotFound, "cuDNN engine " + std::to_string(only_engine) +
                                             " offers no execution plan for this layer (last: " + last.message() + ")");
  }
  if (plans.empty()) {
    return Status(StatusCode::kUnsupported, "no cuDNN execution plan finalized (last: " + last.message() + ")");
  }
  return plans;
}

StatusOr<std::unique_ptr<CudnnConvPlan>> CudnnConvPlan::Create(cudnnHandle_t handle, const CudnnConvSpec& spec) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<CudnnConvPlan>> plans, CreateAll(handle, spec, 1));
  return std::move(plans.front());
}

Status CudnnConvPlan::BindPointers(const void* x, const void* w, void* y, const void* bias, const void* residual,
                                   void* workspace) {
  std::vector<int64_t> uids = {kUidX, kUidW, kUidY};
  std::vector<void*> ptrs = {const_cast<void*>(x), const_cast<void*>(w), y};
  if (bias_) {
    uids.push_back(kUidBias);
    ptrs.push_back(const_cast<void*>(bias));
  }
  if (residual_) {
    uids.push_back(kUidResidual);
    ptrs.push_back(const_cast<void*>(residual));
  }
  EDGERT_ASSIGN_OR_RETURN(BackendDescriptor pack,
                          BackendDescriptor::Create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack"));
  EDGERT_RETURN_IF_ERROR(SetAttr(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64,
                                 static_cast<int64_t>(uids.size()), uids.data(), "CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS"));
  EDGERT_RETURN_IF_ERROR(SetAttr(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
                                 static_cast<int64_t>(ptrs.size()), ptrs.data(),
                                 "CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS"));
  EDGERT_RETURN_IF_ERROR(SetAttr(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace,
                                 "CUDNN_ATTR_VARIANT_PACK_WORKSPACE"));
  EDGERT_RETURN_IF_ERROR(Finalize(pack, "variant pack"));
  variant_pack_ = std::move(pack);
  return Status::Ok();
}

Status CudnnConvPlan::Execute(cudaStream_t stream) const {
  if (!variant_pack_.valid()) return Internal("cuDNN convolution executed before its pointers were bound");
  EDGERT_CUDNN_RETURN_IF_ERROR(cudnnSetStream(handle_, stream));
  EDGERT_CUDNN_RETURN_IF_ERROR(cudnnBackendExecute(handle_, plan_.get(), variant_pack_.get()));
  return Status::Ok();
}

}  // namespace cuda
}  // namespace edgert
