// Engine and ExecutionContext of the CPU backend.
//  1. Engine::Create(): check every tensor index, plan the network's memory (PlanNetworkMemory),
//     prepare every layer once (OpContext from the tensor definitions, support check, CPU kernel;
//     elided layers too, so an invalid layer is still reported) and discard those kernels; record
//     the I/O tensors, the arena size and alignment and the weight bytes.
//  2. CreateContext(): take the caller's arena (checked for size and alignment) or make one aligned
//     allocation; bind every planned tensor as a Tensor::View at its offset and every constant as
//     the engine's tensor (same bytes); prepare the context's own kernels against those tensors.
//  3. Enqueue(): check every I/O tensor is bound, optionally poison the arena, copy the inputs in,
//     run the kernels in order except the layers the plan elides, copy the outputs out.
#include "edgert/engine.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "backend/network_check.h"
#include "core/io_convert.h"
#include "edgert/version.h"

namespace edgert {
namespace {

// Prepares one kernel per layer of `net` against `tensors` (one per network tensor) and records
// each layer's input and output tensor pointers. Indices must have been checked.
Status PrepareKernels(const NetworkDef& net, std::vector<Tensor>* tensors,
                      std::vector<std::unique_ptr<CpuKernel>>* kernels,
                      std::vector<std::vector<const Tensor*>>* layer_inputs,
                      std::vector<std::vector<Tensor*>>* layer_outputs) {
  std::vector<ValueInfo> infos(net.tensors.size());
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    const TensorDef& def = net.tensors[i];
    infos[i].dtype = def.dtype;
    infos[i].shape = def.shape;
    if (def.is_constant()) infos[i].value = &def.value;
  }
  kernels->clear();
  layer_inputs->clear();
  layer_outputs->clear();
  kernels->reserve(net.layers.size());
  layer_inputs->reserve(net.layers.size());
  layer_outputs->reserve(net.layers.size());
  for (const LayerDef& layer : net.layers) {
    std::vector<const ValueInfo*> in_infos;
    std::vector<const Tensor*> in_tensors;
    for (int32_t t : layer.inputs) {
      in_infos.push_back(t < 0 ? nullptr : &infos[static_cast<size_t>(t)]);
      in_tensors.push_back(t < 0 ? nullptr : &(*tensors)[static_cast<size_t>(t)]);
    }
    OpContext ctx(layer.op, layer.name, layer.attrs, layer.opset, in_infos, layer.outputs.size());
    std::vector<Tensor*> out_tensors;
    for (size_t k = 0; k < layer.outputs.size(); ++k) {
      const size_t t = static_cast<size_t>(layer.outputs[k]);
      ctx.SetOutput(k, infos[t].dtype, infos[t].shape);
      out_tensors.push_back(&(*tensors)[t]);
    }
    EDGERT_RETURN_IF_ERROR(CheckSupported(ctx));
    EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> kernel, GetOpDef(layer.op)->create_cpu(ctx));
    kernels->push_back(std::move(kernel));
    layer_inputs->push_back(std::move(in_tensors));
    layer_outputs->push_back(std::move(out_tensors));
  }
  return Status::Ok();
}

}  // namespace

Status CheckNetworkIndices(const NetworkDef& net) {
  const int32_t n_tensors = static_cast<int32_t>(net.tensors.size());
  auto valid = [&](int32_t t) { return t >= 0 && t < n_tensors; };
  for (int32_t t : net.inputs) {
    if (!valid(t)) return Corrupt("network input refers to tensor " + std::to_string(t) + " which does not exist");
  }
  for (int32_t t : net.outputs) {
    if (!valid(t)) return Corrupt("network output refers to tensor " + std::to_string(t) + " which does not exist");
  }
  for (const LayerDef& layer : net.layers) {
    for (int32_t t : layer.inputs) {
      if (t != -1 && !valid(t)) return Corrupt("layer input refers to a tensor that does not exist", layer.name);
    }
    for (int32_t t : layer.outputs) {
      if (!valid(t)) return Corrupt("layer output refers to a tensor that does not exist", layer.name);
      if (net.tensors[static_cast<size_t>(t)].is_constant())
        return Corrupt("layer writes to constant '" + net.tensors[static_cast<size_t>(t)].name + "'", layer.name);
    }
  }
  return Status::Ok();
}

int FindIOTensorIndex(const std::vector<IOTensorInfo>& io, const std::string& name) {
  for (size_t i = 0; i < io.size(); ++i) {
    if (io[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

Status CheckCallerArena(const void* arena, size_t bytes, size_t need, size_t alignment) {
  if (bytes < need) {
    return InvalidArgument("the arena given to CreateContext has " + std::to_string(bytes) +
                           " bytes; the engine needs " + std::to_string(need) + " (ArenaBytes())");
  }
  if (reinterpret_cast<uintptr_t>(arena) % alignment != 0) {
    return InvalidArgument("the arena given to CreateContext is not aligned to " + std::to_string(alignment) +
                           " bytes (ArenaAlignment())");
  }
  return Status::Ok();
}

Status CheckTensorAddress(const std::vector<IOTensorInfo>& io, int index, const void* data) {
  if (index < 0 || index >= static_cast<int>(io.size())) {
    return OutOfRange("I/O tensor index " + std::to_string(index) + " is out of range (the engine has " +
                      std::to_string(io.size()) + ")");
  }
  const std::string& name = io[static_cast<size_t>(index)].name;
  if (data == nullptr) return InvalidArgument("null address for tensor '" + name + "'", name);
  return Status::Ok();
}

Status CheckAllBound(const std::vector<IOTensorInfo>& io, const std::vector<void*>& bindings) {
  for (size_t i = 0; i < io.size(); ++i) {
    if (bindings[i] == nullptr) {
      return InvalidArgument(std::string(io[i].is_input ? "input" : "output") + " '" + io[i].name +
                                 "' has no address; call SetTensorAddress first",
                             io[i].name);
    }
  }
  return Status::Ok();
}

std::vector<IOTensorInfo> NetworkIOTensors(const NetworkDef& net) {
  std::vector<IOTensorInfo> io;
  auto batched = [&](int32_t t) {
    const std::vector<int32_t>& b = net.profile.batch_tensors;
    return std::binary_search(b.begin(), b.end(), t);
  };
  for (int32_t t : net.inputs) {
    const TensorDef& def = net.tensors[static_cast<size_t>(t)];
    io.push_back({def.name, BindingDtype(def), BindingShape(def), true, batched(t), def.binding.channels_last});
  }
  for (int32_t t : net.outputs) {
    const TensorDef& def = net.tensors[static_cast<size_t>(t)];
    io.push_back({def.name, BindingDtype(def), BindingShape(def), false, batched(t), def.binding.channels_last});
  }
  return io;
}

Status CheckBatchSize(const BatchProfile& profile, int64_t fixed_batch, int64_t batch) {
  if (!profile.enabled()) {
    if (batch == fixed_batch) return Status::Ok();
    return InvalidArgument("batch " + std::to_string(batch) + " asked of an engine with fixed shapes (batch " +
                           std::to_string(fixed_batch) +
                           "); build the plan with --min-shapes/--opt-shapes/--max-shapes for a range");
  }
  if (batch < profile.min || batch > profile.max) {
    return OutOfRange("batch " + std::to_string(batch) + " is outside the engine's profile [" +
                      std::to_string(profile.min) + ", " + std::to_string(profile.max) + "]");
  }
  return Status::Ok();
}

StatusOr<int64_t> BatchOfInputShape(const std::vector<IOTensorInfo>& io, const BatchProfile& profile,
                                    const std::string& name, const Shape& shape) {
  const int index = FindIOTensorIndex(io, name);
  if (index < 0 || !io[static_cast<size_t>(index)].is_input) {
    return NotFound("'" + name + "' is not an input of the engine", name);
  }
  const IOTensorInfo& info = io[static_cast<size_t>(index)];
  Shape expected = info.shape;
  bool matches = shape.size() == expected.size();
  for (size_t d = 0; matches && d < shape.size(); ++d) matches = d == 0 && info.batched ? true : shape[d] == expected[d];
  if (!matches) {
    std::string allowed = ShapeToString(expected);
    if (info.batched) {
      expected[0] = profile.min;
      allowed = ShapeToString(expected) + " to " + allowed;
    }
    return InvalidArgument("input '" + name + "' cannot take shape " + ShapeToString(shape) + "; the engine accepts " +
                               allowed,
                           name);
  }
  if (!info.batched) return int64_t{-1};
  EDGERT_RETURN_IF_ERROR(CheckBatchSize(profile, 0, shape[0]).WithContext("input '" + name + "'"));
  return shape[0];
}

Shape IOShapeAtBatch(const IOTensorInfo& info, int64_t batch) {
  Shape shape = info.shape;
  if (info.batched && !shape.empty()) shape[0] = batch;
  return shape;
}

int64_t DefaultBatch(const NetworkDef& net) {
  if (net.profile.enabled()) return net.profile.max;
  if (net.inputs.empty()) return 0;
  const Shape& shape = net.tensors[static_cast<size_t>(net.inputs[0])].shape;
  return shape.empty() ? 0 : shape[0];
}

StatusOr<std::shared_ptr<Engine>> Engine::Create(NetworkDef network, const NetworkMemoryOptions& memory_options) {
  std::shared_ptr<Engine> engine(new Engine());
  engine->network_ = std::move(network);
  const NetworkDef& net = engine->network_;
  EDGERT_RETURN_IF_ERROR(CheckNetworkIndices(net));
  for (const TensorDef& t : net.tensors) {
    if (t.is_narrowed()) {
      return Unsupported("constant '" + t.name +
                             "' is stored as float16 (the weights of a GPU FP16 plan); the CPU backend needs its "
                             "float32 value",
                         t.name);
    }
  }
  EDGERT_RETURN_IF_ERROR(ValidateBatchProfile(net));
  EDGERT_RETURN_IF_ERROR(ValidateIoFormats(net));
  // With a batch profile the network holds the max batch's shapes: the plan fits every batch (a
  // smaller batch only shrinks dim 0 of tensors, in place at the same offsets).
  EDGERT_ASSIGN_OR_RETURN(engine->memory_plan_, PlanNetworkMemory(net, memory_options));

  // The base is aligned like the plan's offsets (at least to the GPU default of 256 bytes; a plan
  // alignment that is not a power of two up to 4096 gets 256), so every offset keeps its
  // alignment. Never zero bytes, so an empty tensor still has a non-null data pointer.
  const size_t plan_alignment = engine->memory_plan_.alignment;
  engine->arena_alignment_ = (plan_alignment > kDefaultMemoryAlignment && plan_alignment <= 4096 &&
                              (plan_alignment & (plan_alignment - 1)) == 0)
                                 ? plan_alignment
                                 : kDefaultMemoryAlignment;
  const size_t plan_bytes = engine->memory_plan_.figures.arena_bytes;
  if (!AlignUp(plan_bytes > 0 ? plan_bytes : 1, engine->arena_alignment_, &engine->arena_bytes_)) {
    return OutOfRange("the activation arena of " + std::to_string(plan_bytes) + " bytes is too large");
  }

  // Validation: prepare every layer once against unbound views (kernels never touch data when
  // prepared), then drop those kernels; each context prepares its own.
  std::vector<Tensor> tensors(net.tensors.size());
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    const TensorDef& def = net.tensors[i];
    tensors[i] = def.is_constant() ? def.value : Tensor::View(def.dtype, def.shape, nullptr);
    if (def.is_constant()) engine->weights_bytes_ += def.value.bytes();
  }
  std::vector<std::unique_ptr<CpuKernel>> kernels;
  std::vector<std::vector<const Tensor*>> layer_inputs;
  std::vector<std::vector<Tensor*>> layer_outputs;
  EDGERT_RETURN_IF_ERROR(PrepareKernels(net, &tensors, &kernels, &layer_inputs, &layer_outputs));

  // A profile's smallest batch gets the same check (kernels may refuse shapes the max accepts).
  if (net.profile.enabled() && net.profile.min != net.profile.max) {
    EDGERT_ASSIGN_OR_RETURN(NetworkDef at_min, SpecializeBatch(net, net.profile.min));
    std::vector<Tensor> min_tensors(at_min.tensors.size());
    for (size_t i = 0; i < at_min.tensors.size(); ++i) {
      const TensorDef& def = at_min.tensors[i];
      min_tensors[i] = def.is_constant() ? def.value : Tensor::View(def.dtype, def.shape, nullptr);
    }
    Status s = PrepareKernels(at_min, &min_tensors, &kernels, &layer_inputs, &layer_outputs);
    if (!s.ok()) return s.WithContext("at the profile's min batch " + std::to_string(net.profile.min));
  }

  engine->io_ = NetworkIOTensors(net);
  engine->io_tensor_index_ = net.inputs;
  engine->io_tensor_index_.insert(engine->io_tensor_index_.end(), net.outputs.begin(), net.outputs.end());
  return engine;
}

StatusOr<std::shared_ptr<Engine>> Engine::CreateFromPlan(const std::string& path) {
  EDGERT_RETURN_IF_ERROR(ValidatePlan(path, CpuDeviceKey(), EDGERT_VERSION_STRING));
  EDGERT_ASSIGN_OR_RETURN(LoadedPlan plan, LoadedPlan::Open(path));
  auto shared_plan = std::make_shared<const LoadedPlan>(std::move(plan));
  StatusOr<std::shared_ptr<Engine>> engine = Create(shared_plan->network());
  if (!engine.ok()) return engine.status().WithContext(path);
  (*engine)->plan_ = std::move(shared_plan);
  return engine;
}

int Engine::FindIOTensor(const std::string& name) const { return FindIOTensorIndex(io_, name); }

StatusOr<std::unique_ptr<ExecutionContext>> Engine::CreateContext(void* arena, size_t bytes) const {
  std::unique_ptr<ExecutionContext> context(new ExecutionContext(shared_from_this()));
  if (arena != nullptr) {
    EDGERT_RETURN_IF_ERROR(CheckCallerArena(arena, bytes, arena_bytes_, arena_alignment_));
    context->arena_ = static_cast<char*>(arena);
  } else {
    context->owned_arena_ = std::aligned_alloc(arena_alignment_, arena_bytes_);
    if (context->owned_arena_ == nullptr) {
      return OutOfRange("out of host memory allocating the activation arena of " + std::to_string(arena_bytes_) +
                        " bytes");
    }
    context->arena_ = static_cast<char*>(context->owned_arena_);
  }

  EDGERT_RETURN_IF_ERROR(context->Bind(network_));
  context->batch_ = DefaultBatch(network_);
  context->bindings_.assign(io_.size(), nullptr);
  return context;
}

Status ExecutionContext::Bind(const NetworkDef& net) {
  const NetworkMemoryPlan& plan = engine_->memory_plan();
  tensors_.assign(net.tensors.size(), Tensor());
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    const TensorDef& def = net.tensors[i];
    if (def.is_constant()) {
      tensors_[i] = def.value;
    } else if (plan.tensors[i].kind != TensorMemoryKind::kNone) {
      tensors_[i] = Tensor::View(def.dtype, def.shape, arena_ + plan.tensors[i].offset);
    }
  }
  return PrepareKernels(net, &tensors_, &kernels_, &layer_inputs_, &layer_outputs_);
}

Status ExecutionContext::SetBatchSize(int64_t batch) {
  const Engine& engine = *engine_;
  EDGERT_RETURN_IF_ERROR(CheckBatchSize(engine.profile(), DefaultBatch(engine.network()), batch));
  if (batch == batch_) return Status::Ok();
  const BatchProfile& profile = engine.profile();
  Status s;
  if (batch == profile.max) {
    specialized_ = NetworkDef();
    s = Bind(engine.network());
  } else {
    StatusOr<NetworkDef> net = SpecializeBatch(engine.network(), batch);
    if (!net.ok()) return net.status();
    specialized_ = std::move(*net);
    s = Bind(specialized_);
  }
  // On a failure the context keeps no half-made kernels: it is unusable until a batch binds.
  batch_ = s.ok() ? batch : -1;
  return s;
}

Status ExecutionContext::SetInputShape(const std::string& name, const Shape& shape) {
  EDGERT_ASSIGN_OR_RETURN(int64_t batch, BatchOfInputShape(engine_->IOTensors(), engine_->profile(), name, shape));
  return batch < 0 ? Status::Ok() : SetBatchSize(batch);
}

Shape ExecutionContext::TensorShape(int io_index) const {
  if (io_index < 0 || io_index >= engine_->NumIOTensors()) return {};
  return IOShapeAtBatch(engine_->IOTensor(io_index), batch_);
}

ExecutionContext::~ExecutionContext() { std::free(owned_arena_); }

Status ExecutionContext::SetTensorAddress(const std::string& name, void* data) {
  const int index = engine_->FindIOTensor(name);
  if (index < 0) return NotFound("'" + name + "' is not an input or output of the engine", name);
  return SetTensorAddress(index, data);
}

Status ExecutionContext::SetTensorAddress(int io_index, void* data) {
  EDGERT_RETURN_IF_ERROR(CheckTensorAddress(engine_->IOTensors(), io_index, data));
  bindings_[static_cast<size_t>(io_index)] = data;
  return Status::Ok();
}

Status ExecutionContext::Enqueue() {
  const Engine& engine = *engine_;
  const int n_io = engine.NumIOTensors();
  if (batch_ < 0) return InvalidArgument("the last SetBatchSize failed; set a batch that the engine accepts");
  EDGERT_RETURN_IF_ERROR(CheckAllBound(engine.IOTensors(), bindings_));
  if (poison_arena_) std::memset(arena_, 0xFF, engine.ArenaBytes());
  for (int i = 0; i < n_io; ++i) {
    if (!engine.IOTensor(i).is_input) continue;
    const int32_t t = engine.IOTensorIndex(i);
    Tensor& dst = tensors_[static_cast<size_t>(t)];
    if (dst.bytes()) {
      CopyBindingToTensor(bindings_[static_cast<size_t>(i)], engine.network().tensors[static_cast<size_t>(t)].binding,
                          dst.dtype(), dst.shape(), dst.raw());
    }
  }
  const std::vector<uint8_t>& elided = engine.memory_plan().layer_elided;
  for (size_t l = 0; l < kernels_.size(); ++l) {
    if (elided[l]) continue;
    Status s = kernels_[l]->Run(layer_inputs_[l], layer_outputs_[l]);
    if (!s.ok()) return s.WithContext("layer '" + engine.network().layers[l].name + "'");
  }
  for (int i = 0; i < n_io; ++i) {
    if (engine.IOTensor(i).is_input) continue;
    const int32_t t = engine.IOTensorIndex(i);
    const Tensor& src = tensors_[static_cast<size_t>(t)];
    if (src.bytes()) {
      CopyTensorToBinding(src.raw(), src.dtype(), src.shape(), engine.network().tensors[static_cast<size_t>(t)].binding,
                          bindings_[static_cast<size_t>(i)]);
    }
  }
  return Status::Ok();
}

}  // namespace edgert
