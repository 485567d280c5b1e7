// Helpers shared by the INT8 passes of builder/src/calib (the gate's simulation, the lowering) and
// the layout pass (passes/nhwc_layout.cc): one definition of a float activation, of appending a
// tensor, of dropping unused tensors, and of per-channel weight quantization, so the simulated and
// the lowered network quantize the same way.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "edgert/network.h"
#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {
namespace calib {

// A float32 tensor computed at run time (not a constant); false for an absent input (-1).
inline bool IsFloatActivation(const NetworkDef& net, int32_t t) {
  if (t < 0) return false;
  const TensorDef& def = net.tensors[static_cast<size_t>(t)];
  return def.dtype == DataType::kFloat32 && !def.is_constant();
}

// Appends a tensor to `net` and returns its index.
inline int32_t AddTensor(NetworkDef& net, std::string name, DataType dtype, Shape shape, Tensor value = {}) {
  net.tensors.push_back({std::move(name), dtype, std::move(shape), std::move(value)});
  return static_cast<int32_t>(net.tensors.size() - 1);
}

// Drops the tensors no layer, input or output refers to any more (the float weights of lowered
// layers, their float outputs) and renumbers the rest, the batch profile's lists included. Used by
// the lowerings that rewrite a finished network (LowerInt8, LowerNhwc). (int8_lower.cc)
void DropUnusedTensors(NetworkDef& net);

// Per-channel symmetric int8 quantization of a float32 weight along `axis`: scale_c = max|W_c| / 127
// (1 for an all-zero channel), q = clamp(round_half_even(w / scale_c), -128, 127). `q` has the
// weight's shape and layout. (int8_gate.cc)
struct ChannelQuantized {
  Tensor q;                  // int8
  std::vector<float> scale;  // one per channel of `axis`
};
StatusOr<ChannelQuantized> QuantizePerChannel(const Tensor& weight, int64_t axis);

}  // namespace calib
}  // namespace edgert
