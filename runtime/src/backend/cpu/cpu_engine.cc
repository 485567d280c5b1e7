// CPU engine: Create() builds an Engine and one ExecutionContext with its own arena (poisoning
// on); Run() sets a profile engine's batch from the inputs, checks the inputs against the network, binds them and
// freshly allocated outputs by I/O index, and enqueues the context.
#include "edgert/cpu_engine.h"

#include <string>

#include "backend/network_check.h"

namespace edgert {

StatusOr<std::unique_ptr<CpuEngine>> CpuEngine::Create(NetworkDef network, const NetworkMemoryOptions& memory_options) {
  std::unique_ptr<CpuEngine> cpu_engine(new CpuEngine());
  EDGERT_ASSIGN_OR_RETURN(cpu_engine->engine_, Engine::Create(std::move(network), memory_options));
  EDGERT_ASSIGN_OR_RETURN(cpu_engine->context_, cpu_engine->engine_->CreateContext());
  cpu_engine->context_->SetPoisonArena(true);
  return cpu_engine;
}

Status CpuEngine::Run(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) {
  const NetworkDef& net = engine_->network();
  if (inputs.size() != net.inputs.size()) {
    return InvalidArgument("expected " + std::to_string(net.inputs.size()) + " inputs, got " +
                           std::to_string(inputs.size()));
  }
  // With a batch profile, the inputs' dim 0 picks the batch (every batched input must agree).
  EDGERT_RETURN_IF_ERROR(SetBatchFromInputs(*context_, engine_->IOTensors(), engine_->profile(), inputs));
  // Tensor storage is never null (even for empty tensors), so every binding below succeeds.
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorDef& def = net.tensors[static_cast<size_t>(net.inputs[i])];
    const Shape shape = context_->TensorShape(static_cast<int>(i));  // the binding's
    const DataType dtype = BindingDtype(def);
    if (inputs[i].dtype() != dtype || inputs[i].shape() != shape) {
      return InvalidArgument("input '" + def.name + "' must be " + DataTypeName(dtype) + " " + ShapeToString(shape) +
                                 ", got " + DataTypeName(inputs[i].dtype()) + " " + ShapeToString(inputs[i].shape()),
                             def.name);
    }
    // The context only reads bound inputs.
    EDGERT_RETURN_IF_ERROR(context_->SetTensorAddress(static_cast<int>(i), const_cast<void*>(inputs[i].raw())));
  }
  std::vector<Tensor> results;
  results.reserve(net.outputs.size());
  for (size_t k = 0; k < net.outputs.size(); ++k) {
    const TensorDef& def = net.tensors[static_cast<size_t>(net.outputs[k])];
    EDGERT_ASSIGN_OR_RETURN(
        Tensor out, Tensor::Create(BindingDtype(def), context_->TensorShape(static_cast<int>(net.inputs.size() + k))));
    EDGERT_RETURN_IF_ERROR(context_->SetTensorAddress(static_cast<int>(net.inputs.size() + k), out.raw()));
    results.push_back(std::move(out));
  }
  EDGERT_RETURN_IF_ERROR(context_->Enqueue());
  *outputs = std::move(results);
  return Status::Ok();
}

}  // namespace edgert
