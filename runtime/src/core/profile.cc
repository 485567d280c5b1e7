// Batch profiles of a NetworkDef (network.h): validation and specialization to one batch size.
//  1. ValidateBatchProfile(): range checks of every index and value the profile holds, so a corrupt
//     plan gives a Status, never an out-of-range access.
//  2. SpecializeBatch(): a copy of the network in which dim 0 of every batch tensor and every batch
//     value is the requested batch. Constants holding batch values are cloned (their bytes may be
//     read-only plan memory); all other constants keep sharing their bytes.
#include <algorithm>
#include <cstdint>
#include <string>

#include "edgert/network.h"

namespace edgert {
namespace {

std::string TensorLabel(const NetworkDef& net, int32_t t) {
  if (t >= 0 && static_cast<size_t>(t) < net.tensors.size()) return net.tensors[static_cast<size_t>(t)].name;
  return "#" + std::to_string(t);
}

}  // namespace

Status ValidateBatchProfile(const NetworkDef& net) {
  const BatchProfile& p = net.profile;
  if (!p.enabled()) {
    if (p.min != 0 || p.opt != 0 || !p.batch_tensors.empty() || !p.batch_values.empty())
      return Corrupt("the batch profile has no maximum but holds values");
    return Status::Ok();
  }
  if (p.min < 1 || p.min > p.opt || p.opt > p.max) {
    return Corrupt("the batch profile min " + std::to_string(p.min) + ", opt " + std::to_string(p.opt) + ", max " +
                   std::to_string(p.max) + " is not ordered 1 <= min <= opt <= max");
  }
  const int32_t n = static_cast<int32_t>(net.tensors.size());
  int32_t previous = -1;
  for (int32_t t : p.batch_tensors) {
    if (t < 0 || t >= n)
      return Corrupt("the batch profile names tensor " + TensorLabel(net, t) + ", which does not exist");
    if (t <= previous) return Corrupt("the batch profile's tensors are not in ascending order", TensorLabel(net, t));
    previous = t;
    const TensorDef& def = net.tensors[static_cast<size_t>(t)];
    if (def.is_constant()) return Corrupt("the batch profile scales constant '" + def.name + "'", def.name);
    if (def.shape.empty() || def.shape[0] != p.max) {
      return Corrupt("batch tensor '" + def.name + "' has shape " + ShapeToString(def.shape) +
                         ", whose dim 0 is not the profile's max " + std::to_string(p.max),
                     def.name);
    }
  }
  for (const BatchValue& v : p.batch_values) {
    if (v.tensor < 0 || v.tensor >= n) {
      return Corrupt("the batch profile names tensor " + TensorLabel(net, v.tensor) + ", which does not exist");
    }
    const TensorDef& def = net.tensors[static_cast<size_t>(v.tensor)];
    if (!def.is_constant() || (def.dtype != DataType::kInt64 && def.dtype != DataType::kInt32)) {
      return Corrupt("batch value in '" + def.name + "', which is not an int32/int64 constant", def.name);
    }
    if (v.element < 0 || v.element >= def.value.num_elements() || def.value.GetAsInt64(v.element) != p.max) {
      return Corrupt("batch value at element " + std::to_string(v.element) + " of '" + def.name +
                         "' is not the profile's max " + std::to_string(p.max),
                     def.name);
    }
  }
  bool input_scales = false;
  for (int32_t t : net.inputs) {
    input_scales = input_scales || std::binary_search(p.batch_tensors.begin(), p.batch_tensors.end(), t);
  }
  if (!input_scales) return Corrupt("the batch profile scales no graph input");
  return Status::Ok();
}

StatusOr<NetworkDef> SpecializeBatch(const NetworkDef& net, int64_t batch) {
  const BatchProfile& p = net.profile;
  if (!p.enabled()) return InvalidArgument("the network has fixed shapes (it was built without a batch profile)");
  EDGERT_RETURN_IF_ERROR(ValidateBatchProfile(net));
  if (batch < p.min || batch > p.max) {
    return OutOfRange("batch " + std::to_string(batch) + " is outside the plan's profile [" + std::to_string(p.min) +
                      ", " + std::to_string(p.max) + "]");
  }
  NetworkDef out;
  out.tensors = net.tensors;
  out.layers = net.layers;
  out.inputs = net.inputs;
  out.outputs = net.outputs;
  if (batch == p.max) return out;
  for (int32_t t : p.batch_tensors) out.tensors[static_cast<size_t>(t)].shape[0] = batch;
  std::vector<int32_t> cloned;
  for (const BatchValue& v : p.batch_values) {
    TensorDef& def = out.tensors[static_cast<size_t>(v.tensor)];
    if (std::find(cloned.begin(), cloned.end(), v.tensor) == cloned.end()) {
      def.value = def.value.Clone();
      cloned.push_back(v.tensor);
    }
    if (def.dtype == DataType::kInt64) {
      def.value.data<int64_t>()[v.element] = batch;
    } else {
      def.value.data<int32_t>()[v.element] = static_cast<int32_t>(batch);
    }
  }
  return out;
}

}  // namespace edgert
