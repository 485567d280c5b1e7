// Host copies between a graph input's or output's binding (its IoFormat, edgert/network.h) and the
// network's tensor of the same values: float32 <-> float16 (round to nearest even) and
// channels-last [N, d..., C] <-> [N, C, d...]. `dtype` and `shape` are the network tensor's (at the
// batch in use); a default format is a plain copy. (core/io_format.cc)
#pragma once

#include "edgert/network.h"

namespace edgert {

void CopyBindingToTensor(const void* binding, const IoFormat& format, DataType dtype, const Shape& shape, void* dst);
void CopyTensorToBinding(const void* src, DataType dtype, const Shape& shape, const IoFormat& format, void* binding);

}  // namespace edgert
