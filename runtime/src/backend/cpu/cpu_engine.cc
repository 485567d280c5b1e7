// CPU engine.
//  1. Create(): plan the network's memory (PlanNetworkMemory), make ONE allocation of the plan's
//     arena and bind every planned tensor as a Tensor::View at its offset; for each layer build
//     the OpContext from the tensor definitions, check support and prepare the CPU kernel (elided
//     layers too, so an invalid layer is still reported).
//  2. Run(): poison the whole arena (0xFF bytes: NaN for floats) so an element a kernel fails to
//     write shows up, copy the inputs in, run the kernels in order except the layers the plan
//     elides (views aliasing their input, Concats whose inputs already sit in their slices), copy
//     the outputs out.
#include "edgert/cpu_engine.h"

#include <cstdlib>
#include <cstring>

namespace edgert {

void CpuEngine::FreeDeleter::operator()(void* p) const { std::free(p); }

StatusOr<std::unique_ptr<CpuEngine>> CpuEngine::Create(NetworkDef network, const NetworkMemoryOptions& memory_options) {
  std::unique_ptr<CpuEngine> engine(new CpuEngine());
  engine->network_ = std::move(network);
  const NetworkDef& net = engine->network_;
  const int32_t n_tensors = static_cast<int32_t>(net.tensors.size());

  EDGERT_ASSIGN_OR_RETURN(engine->memory_plan_, PlanNetworkMemory(net, memory_options));
  const NetworkMemoryPlan& plan = engine->memory_plan_;
  // The base is aligned like the plan's offsets (at least to the GPU default of 256 bytes; a plan
  // alignment that is not a power of two up to 4096 gets 256), so every offset keeps its
  // alignment. Never zero bytes, so an empty tensor still has a non-null data pointer.
  const size_t plan_alignment = plan.alignment;
  const size_t base_alignment = (plan_alignment > kDefaultMemoryAlignment && plan_alignment <= 4096 &&
                                 (plan_alignment & (plan_alignment - 1)) == 0)
                                    ? plan_alignment
                                    : kDefaultMemoryAlignment;
  size_t arena_bytes = 0;
  if (!AlignUp(plan.figures.arena_bytes > 0 ? plan.figures.arena_bytes : 1, base_alignment, &arena_bytes)) {
    return OutOfRange("the activation arena of " + std::to_string(plan.figures.arena_bytes) + " bytes is too large");
  }
  engine->arena_.reset(std::aligned_alloc(base_alignment, arena_bytes));
  if (!engine->arena_) {
    return OutOfRange("out of host memory allocating the activation arena of " + std::to_string(arena_bytes) +
                      " bytes");
  }
  engine->arena_bytes_ = arena_bytes;
  char* arena = static_cast<char*>(engine->arena_.get());

  engine->tensors_.resize(net.tensors.size());
  std::vector<ValueInfo> infos(net.tensors.size());
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    const TensorDef& def = net.tensors[i];
    infos[i].dtype = def.dtype;
    infos[i].shape = def.shape;
    if (def.is_constant()) {
      engine->tensors_[i] = def.value;
      infos[i].value = &def.value;
    } else if (plan.tensors[i].kind != TensorMemoryKind::kNone) {
      engine->tensors_[i] = Tensor::View(def.dtype, def.shape, arena + plan.tensors[i].offset);
    }
  }
  auto valid = [&](int32_t t) { return t >= 0 && t < n_tensors; };
  for (int32_t t : net.inputs) {
    if (!valid(t)) return Corrupt("network input refers to tensor " + std::to_string(t) + " which does not exist");
  }
  for (int32_t t : net.outputs) {
    if (!valid(t)) return Corrupt("network output refers to tensor " + std::to_string(t) + " which does not exist");
  }

  for (const LayerDef& layer : net.layers) {
    std::vector<const ValueInfo*> in_infos;
    std::vector<const Tensor*> in_tensors;
    for (int32_t t : layer.inputs) {
      if (t != -1 && !valid(t)) return Corrupt("layer input refers to a tensor that does not exist", layer.name);
      in_infos.push_back(t < 0 ? nullptr : &infos[t]);
      in_tensors.push_back(t < 0 ? nullptr : &engine->tensors_[t]);
    }
    OpContext ctx(layer.op, layer.name, layer.attrs, layer.opset, in_infos, layer.outputs.size());
    std::vector<Tensor*> out_tensors;
    for (size_t k = 0; k < layer.outputs.size(); ++k) {
      int32_t t = layer.outputs[k];
      if (!valid(t)) return Corrupt("layer output refers to a tensor that does not exist", layer.name);
      if (net.tensors[t].is_constant())
        return Corrupt("layer writes to constant '" + net.tensors[t].name + "'", layer.name);
      ctx.SetOutput(k, infos[t].dtype, infos[t].shape);
      out_tensors.push_back(&engine->tensors_[t]);
    }
    EDGERT_RETURN_IF_ERROR(CheckSupported(ctx));
    EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> kernel, GetOpDef(layer.op)->create_cpu(ctx));
    engine->kernels_.push_back(std::move(kernel));
    engine->layer_inputs_.push_back(std::move(in_tensors));
    engine->layer_outputs_.push_back(std::move(out_tensors));
  }
  return engine;
}

Status CpuEngine::Run(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) {
  const NetworkDef& net = network_;
  if (inputs.size() != net.inputs.size()) {
    return InvalidArgument("expected " + std::to_string(net.inputs.size()) + " inputs, got " +
                           std::to_string(inputs.size()));
  }
  std::memset(arena_.get(), 0xFF, arena_bytes_);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorDef& def = net.tensors[net.inputs[i]];
    if (inputs[i].dtype() != def.dtype || inputs[i].shape() != def.shape) {
      return InvalidArgument("input '" + def.name + "' must be " + DataTypeName(def.dtype) + " " +
                                 ShapeToString(def.shape) + ", got " + DataTypeName(inputs[i].dtype()) + " " +
                                 ShapeToString(inputs[i].shape()),
                             def.name);
    }
    Tensor& dst = tensors_[net.inputs[i]];
    if (dst.bytes()) std::memcpy(dst.raw(), inputs[i].raw(), dst.bytes());
  }
  for (size_t l = 0; l < kernels_.size(); ++l) {
    if (memory_plan_.layer_elided[l]) continue;
    Status s = kernels_[l]->Run(layer_inputs_[l], layer_outputs_[l]);
    if (!s.ok()) return s.WithContext("layer '" + net.layers[l].name + "'");
  }
  outputs->clear();
  outputs->reserve(net.outputs.size());
  for (int32_t t : net.outputs) outputs->push_back(tensors_[t].Clone());
  return Status::Ok();
}

}  // namespace edgert
