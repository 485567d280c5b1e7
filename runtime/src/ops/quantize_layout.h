// The scale layout of QuantizeLinear / DequantizeLinear (quantize.cc has the rules), shared by the
// CPU kernels and the CUDA kernels (backend/cuda/kernels_quantize.cu), so both accept and refuse
// the same layers with the same messages.
#pragma once

#include <cstdint>

#include "edgert/op_def.h"
#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {

// The walk of x as [outer, extent, inner] around `axis` and the matching scale index.
struct QuantLayout {
  enum Kind { kPerTensor, kPerAxis, kBlocked } kind = kPerTensor;
  int64_t outer = 1;   // product of x's dims before axis
  int64_t extent = 1;  // x.shape[axis]
  int64_t inner = 1;   // product of x's dims after axis
  int64_t block = 0;   // block_size (kBlocked)
  int64_t blocks = 1;  // scale.shape[axis] (kBlocked)

  int64_t ScaleIndex(int64_t o, int64_t a, int64_t i) const {
    switch (kind) {
      case kPerTensor:
        return 0;
      case kPerAxis:
        return a;
      case kBlocked:
        return (o * blocks + a / block) * inner + i;
    }
    return 0;
  }
};

// Reads axis / block_size and checks the scale's shape against x: per tensor, per axis (opset 13+)
// or blocked (opset 21). Errors name the layer and the shapes.
StatusOr<QuantLayout> ResolveQuantLayout(const OpContext& ctx, const Shape& x, const Shape& scale);

// The zero point (input 2), when given, has the scale's shape (or both have one element).
Status CheckQuantZeroPointShape(const OpContext& ctx);

}  // namespace edgert
