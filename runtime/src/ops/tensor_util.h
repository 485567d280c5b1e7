// Helpers shared by the "tensor" operator family (shape and data movement): dtype-agnostic
// element copies and the per-file registration functions called by RegisterTensorOps.
//
// Data-movement kernels move elements by size (1, 2, 4 or 8 bytes), so one kernel serves every
// dtype a Tensor can hold. Strides and offsets are in elements, never bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgert/op_def.h"
#include "op_util.h"
#include "registry.h"

namespace edgert {

// Copies an N-D block element by element: for every index i over `shape`,
//   out[out_offset(i)] = in[in_offset(i)],  offset(i) = sum_d i[d] * strides[d]
// Strides may be zero (broadcast) or negative (reversed walk); `in` and `out` point at element
// (0, ..., 0). Dimensions that are contiguous in both views are merged, and runs that are
// contiguous in both are copied with memcpy.
void StridedCopy(size_t elem_size, const Shape& shape, const void* in, const std::vector<int64_t>& in_strides,
                 void* out, const std::vector<int64_t>& out_strides);

// Fills `count` elements of `elem_size` bytes at `out` with the element at `value`.
void FillElements(void* out, size_t elem_size, int64_t count, const void* value);

// Writes a contiguous `out` of `out_shape` (same rank as `in_shape`) where element (i0, ..., in)
// comes from in[maps[0][i0], ..., maps[n][in]]; an entry of -1 in any map writes `fill` (one
// element of `elem_size` bytes) instead. Runs of consecutive source indices in the innermost
// map are copied with memcpy. Used by Pad (all modes) and nearest Resize.
void IndexMapCopy(size_t elem_size, const Shape& in_shape, const void* in, const Shape& out_shape,
                  const std::vector<std::vector<int64_t>>& maps, const void* fill, void* out);

// The bytes of `value` converted to `dtype` (float16 via round-to-nearest-even, integers by
// truncation toward zero with saturation, bool as value != 0); at most 8 bytes are used.
void ScalarToBytes(double value, DataType dtype, unsigned char bytes[8]);

// True for the dtypes data-movement kernels copy by size.
bool IsCopyableType(DataType dtype);
// Error naming input `i` of the node when its dtype cannot be moved by size.
Status CheckCopyableInput(const OpContext& ctx, size_t i);

// A kernel that copies input 0 into output 0 unchanged (Flatten, Reshape, Squeeze, Unsqueeze,
// Identity): outputs never alias inputs, so even pure reshapes copy their bytes.
class CopyKernel : public CpuKernel {
 public:
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override;
};

// create_cpu wrapper: CheckDeclaredOutputs (op_util.h), then Create.
template <Status (*Infer)(OpContext&), StatusOr<std::unique_ptr<CpuKernel>> (*Create)(const OpContext&)>
StatusOr<std::unique_ptr<CpuKernel>> CreateChecked(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, Infer));
  return Create(ctx);
}

// Registers `op` with supports, infer and the output-checked create_cpu.
template <Status (*Supports)(const OpContext&), Status (*Infer)(OpContext&),
          StatusOr<std::unique_ptr<CpuKernel>> (*Create)(const OpContext&)>
void RegisterChecked(OpRegistry& registry, OpType op) {
  registry.Register(op, {Supports, Infer, CreateChecked<Infer, Create>});
}

// Registration of the operators defined in each file of the family.
void RegisterTensorShapeOps(OpRegistry& registry);   // tensor_ops.cc
void RegisterTensorMoveOps(OpRegistry& registry);    // tensor_move.cc
void RegisterTensorResizeOps(OpRegistry& registry);  // tensor_resize.cc

}  // namespace edgert
