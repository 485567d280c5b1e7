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

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "edgert/version.h"
#include "backend/network_check.h"

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

StatusOr<std::shared_ptr<Engine>> Engine::Create(NetworkDef network, const NetworkMemoryOptions& memory_options) {
  std::shared_ptr<Engine> engine(new Engine());
  engine->network_ = std::move(network);
  const NetworkDef& net = engine->network_;
  EDGERT_RETURN_IF_ERROR(CheckNetworkIndices(net));
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

  for (int32_t t : net.inputs) {
    const TensorDef& def = net.tensors[static_cast<size_t>(t)];
    engine->io_.push_back({def.name, def.dtype, def.shape, true});
    engine->io_tensor_index_.push_back(t);
  }
  for (int32_t t : net.outputs) {
    const TensorDef& def = net.tensors[static_cast<size_t>(t)];
    engine->io_.push_back({def.name, def.dtype, def.shape, false});
    engine->io_tensor_index_.push_back(t);
  }
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

  const NetworkDef& net = network_;
  context->tensors_.resize(net.tensors.size());
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    const TensorDef& def = net.tensors[i];
    if (def.is_constant()) {
      context->tensors_[i] = def.value;
    } else if (memory_plan_.tensors[i].kind != TensorMemoryKind::kNone) {
      context->tensors_[i] = Tensor::View(def.dtype, def.shape, context->arena_ + memory_plan_.tensors[i].offset);
    }
  }
  EDGERT_RETURN_IF_ERROR(
      PrepareKernels(net, &context->tensors_, &context->kernels_, &context->layer_inputs_, &context->layer_outputs_));
  context->bindings_.assign(io_.size(), nullptr);
  return context;
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
  EDGERT_RETURN_IF_ERROR(CheckAllBound(engine.IOTensors(), bindings_));
  if (poison_arena_) std::memset(arena_, 0xFF, engine.ArenaBytes());
  for (int i = 0; i < n_io; ++i) {
    if (!engine.IOTensor(i).is_input) continue;
    Tensor& dst = tensors_[static_cast<size_t>(engine.IOTensorIndex(i))];
    if (dst.bytes()) std::memcpy(dst.raw(), bindings_[static_cast<size_t>(i)], dst.bytes());
  }
  const std::vector<uint8_t>& elided = engine.memory_plan().layer_elided;
  for (size_t l = 0; l < kernels_.size(); ++l) {
    if (elided[l]) continue;
    Status s = kernels_[l]->Run(layer_inputs_[l], layer_outputs_[l]);
    if (!s.ok()) return s.WithContext("layer '" + engine.network().layers[l].name + "'");
  }
  for (int i = 0; i < n_io; ++i) {
    if (engine.IOTensor(i).is_input) continue;
    const Tensor& src = tensors_[static_cast<size_t>(engine.IOTensorIndex(i))];
    if (src.bytes()) std::memcpy(bindings_[static_cast<size_t>(i)], src.raw(), src.bytes());
  }
  return Status::Ok();
}

}  // namespace edgert
