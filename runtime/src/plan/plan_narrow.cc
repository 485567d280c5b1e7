// NarrowWeightsForPlan (edgert/plan.h):
//  1. Mark each tensor read in a slot whose kernels use only the device copy (IsWeightSlot) and
//     clear the mark of any tensor read elsewhere, written out as a graph output or named by the
//     batch profile.
//  2. Replace each marked float32 constant that the device holds as float16 by a float16 copy
//     (FloatsToHalves: round to nearest even on up to 8 threads, the CUDA engine's own upload
//     conversion, so a plan's weights and an engine's agree bit for bit); the tensor keeps its
//     float32 declaration (a narrowed constant).
#include <algorithm>
#include <utility>
#include <vector>

#include "core/parallel.h"
#include "edgert/plan.h"
#include "op_util.h"

namespace edgert {
namespace {

// Whether input `slot` of a layer of `op` is one whose kernels read only the device copy.
bool IsWeightSlot(OpType op, size_t slot) {
  switch (op) {
    case OpType::kConv:
    case OpType::kConvNhwc:
    case OpType::kConvTranspose:
    case OpType::kGemm:
      return slot == 1 || slot == 2;
    case OpType::kMatMul:
      return slot == 1;
    default:
      return false;
  }
}

}  // namespace

StatusOr<NetworkDef> NarrowWeightsForPlan(const NetworkDef& network, const std::vector<DataType>& device_dtypes,
                                          uint64_t* bytes_saved) {
  if (bytes_saved != nullptr) *bytes_saved = 0;
  const size_t n = network.tensors.size();
  if (device_dtypes.size() != n) {
    return InvalidArgument("NarrowWeightsForPlan: " + std::to_string(device_dtypes.size()) +
                           " device dtypes for a network of " + std::to_string(n) + " tensors");
  }
  // Step 1. 0: not read, 1: read in weight slots only, 2: read elsewhere too (or never narrowed).
  std::vector<uint8_t> use(n, 0);
  auto never = [&](int32_t t) {
    if (t >= 0 && static_cast<size_t>(t) < n) use[static_cast<size_t>(t)] = 2;
  };
  for (const LayerDef& layer : network.layers) {
    for (size_t k = 0; k < layer.inputs.size(); ++k) {
      const int32_t t = layer.inputs[k];
      if (t < 0 || static_cast<size_t>(t) >= n) continue;
      uint8_t& u = use[static_cast<size_t>(t)];
      u = IsWeightSlot(layer.op, k) ? std::max<uint8_t>(u, 1) : 2;
    }
  }
  for (int32_t t : network.outputs) never(t);
  for (int32_t t : network.profile.batch_tensors) never(t);
  for (const BatchValue& v : network.profile.batch_values) never(v.tensor);

  // Step 2.
  NetworkDef out = network;
  std::vector<size_t> chosen;
  for (size_t i = 0; i < n; ++i) {
    const TensorDef& t = network.tensors[i];
    if (use[i] == 1 && t.is_constant() && t.dtype == DataType::kFloat32 && t.value.dtype() == DataType::kFloat32 &&
        device_dtypes[i] == DataType::kFloat16) {
      chosen.push_back(i);
    }
  }
  uint64_t saved = 0;
  std::vector<HalfConversion> jobs;
  for (size_t i : chosen) {
    const Tensor& value = network.tensors[i].value;
    EDGERT_ASSIGN_OR_RETURN(Tensor half, Tensor::Create(DataType::kFloat16, value.shape()));
    out.tensors[i].value = std::move(half);
    saved += value.bytes() - out.tensors[i].value.bytes();
    jobs.push_back(
        {value.data<float>(), out.tensors[i].value.data<uint16_t>(), static_cast<size_t>(value.num_elements())});
  }
  FloatsToHalves(jobs, HostThreads(8));  // tens of millions of weights in a large model
  if (bytes_saved != nullptr) *bytes_saved = saved;
  return out;
}

}  // namespace edgert
