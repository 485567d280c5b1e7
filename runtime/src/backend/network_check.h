// Checks shared by the engines of every backend.
#pragma once

#include <string>
#include <vector>

#include "edgert/engine.h"
#include "edgert/network.h"
#include "edgert/status.h"

namespace edgert {

// Every tensor index of `net` in range, and no layer writing a constant (kCorrupt otherwise).
Status CheckNetworkIndices(const NetworkDef& net);

// Index of the first of `io` named `name`, or -1.
int FindIOTensorIndex(const std::vector<IOTensorInfo>& io, const std::string& name);

// A caller's arena for CreateContext: at least `need` bytes (`bytes` given) and aligned to
// `alignment`; an InvalidArgument naming ArenaBytes()/ArenaAlignment() otherwise.
Status CheckCallerArena(const void* arena, size_t bytes, size_t need, size_t alignment);

// SetTensorAddress(index, data): `index` in range and `data` non-null.
Status CheckTensorAddress(const std::vector<IOTensorInfo>& io, int index, const void* data);

// Enqueue(): every I/O tensor bound; the error names the first unbound one.
Status CheckAllBound(const std::vector<IOTensorInfo>& io, const std::vector<void*>& bindings);

// The I/O tensors of `net` (inputs, then outputs), with IOTensorInfo::batched from its profile.
std::vector<IOTensorInfo> NetworkIOTensors(const NetworkDef& net);

// SetBatchSize(batch): ok when `batch` lies in the profile, or, without a profile, equals
// `fixed_batch` (the engine's only batch); otherwise an error giving the allowed range.
Status CheckBatchSize(const BatchProfile& profile, int64_t fixed_batch, int64_t batch);

// SetInputShape(name, shape): the batch `shape` asks for (-1 for an input whose dim 0 is not the
// batch: the shape is the engine's and changes nothing). `shape` must equal the engine's shape of
// input `name` except dim 0 of a batched input; errors name the input and the allowed shapes.
StatusOr<int64_t> BatchOfInputShape(const std::vector<IOTensorInfo>& io, const BatchProfile& profile,
                                    const std::string& name, const Shape& shape);

// For the run-on-host conveniences (CpuEngine::Run, RunOnHost): with a batch profile, sets
// `context`'s batch from dim 0 of the batched `inputs` (one per engine input, in order), which must
// agree; nothing for a fixed-shape engine. `Context` is the CPU or CUDA execution context.
template <typename Context>
Status SetBatchFromInputs(Context& context, const std::vector<IOTensorInfo>& io, const BatchProfile& profile,
                          const std::vector<Tensor>& inputs) {
  if (!profile.enabled()) return Status::Ok();
  int64_t batch = -1;
  for (size_t i = 0; i < inputs.size() && i < io.size(); ++i) {
    if (!io[i].is_input || !io[i].batched || inputs[i].rank() == 0) continue;
    if (batch >= 0 && inputs[i].dim(0) != batch) {
      return InvalidArgument("input '" + io[i].name + "' has batch " + std::to_string(inputs[i].dim(0)) +
                                 " but an earlier input has batch " + std::to_string(batch),
                             io[i].name);
    }
    batch = inputs[i].dim(0);
    EDGERT_RETURN_IF_ERROR(context.SetInputShape(io[i].name, inputs[i].shape()));
  }
  return Status::Ok();
}

// The shape of `info` at `batch` (its own shape unless it is batched).
Shape IOShapeAtBatch(const IOTensorInfo& info, int64_t batch);

// The batch a new context runs at: the profile's max, or dim 0 of the first input (0 if none).
int64_t DefaultBatch(const NetworkDef& net);

}  // namespace edgert
