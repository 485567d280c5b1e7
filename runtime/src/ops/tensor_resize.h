// Resize / Upsample (tensor_resize.cc): what other backends reuse of the CPU reference.
#pragma once

#include <cstdint>
#include <vector>

#include "edgert/op_def.h"
#include "edgert/status.h"

namespace edgert {

// The index maps of a nearest-mode Resize/Upsample node exactly as the CPU kernel computes and uses
// them: one map per input axis, holding for every output index along that axis the source index
// (rounded by nearest_mode and clamped into the input), or -1 where tf_crop_and_resize
// extrapolates. All zeros when the input is empty. An error when the node is invalid or its mode is
// not nearest.
StatusOr<std::vector<std::vector<int64_t>>> ResizeNearestIndexMaps(const OpContext& ctx);

}  // namespace edgert
