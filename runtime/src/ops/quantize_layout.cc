// ResolveQuantLayout and CheckQuantZeroPointShape (quantize_layout.h).
#include "quantize_layout.h"

#include "op_util.h"

namespace edgert {

StatusOr<QuantLayout> ResolveQuantLayout(const OpContext& ctx, const Shape& x, const Shape& scale) {
  QuantLayout layout;
  const int64_t rank = static_cast<int64_t>(x.size());
  const int64_t scale_count = NumElements(scale);
  EDGERT_ASSIGN_OR_RETURN(int64_t block, AttrInt(ctx, "block_size", 0));
  if (block < 0) return ctx.Error("attribute 'block_size' must be >= 0, not " + std::to_string(block));
  if (block > 0 && ctx.opset() < 21) return ctx.Error("attribute 'block_size' needs opset 21");
  if (block == 0 && scale_count == 1 && scale.size() <= 1) {  // per tensor: one run over every element
    layout.inner = NumElements(x);
    return layout;
  }
  if (ctx.opset() < 13) {
    return ctx.Error("opset " + std::to_string(ctx.opset()) + " needs a scalar scale, not shape " +
                     ShapeToString(scale));
  }
  EDGERT_ASSIGN_OR_RETURN(int64_t axis_attr, AttrInt(ctx, "axis", 1));
  if (rank == 0) return ctx.Error("a scale of shape " + ShapeToString(scale) + " needs an input of rank >= 1");
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, axis_attr, rank));
  for (int64_t d = 0; d < rank; ++d) (d < axis ? layout.outer : d > axis ? layout.inner : layout.extent) *= x[d];
  layout.extent = x[axis];
  if (block == 0) {
    if (scale.size() != 1 || scale[0] != x[axis]) {
      return ctx.Error("per-axis scale of shape " + ShapeToString(scale) + " does not match input dimension " +
                       std::to_string(axis) + " of " + ShapeToString(x));
    }
    layout.kind = QuantLayout::kPerAxis;
    return layout;
  }
  layout.kind = QuantLayout::kBlocked;
  layout.block = block;
  layout.blocks = (x[axis] + block - 1) / block;
  Shape want = x;
  want[axis] = layout.blocks;
  if (scale != want) {
    return ctx.Error("blocked scale of shape " + ShapeToString(scale) + " does not match " + ShapeToString(want) +
                     " (input " + ShapeToString(x) + ", axis " + std::to_string(axis) + ", block_size " +
                     std::to_string(block) + ")");
  }
  return layout;
}

Status CheckQuantZeroPointShape(const OpContext& ctx) {
  if (!ctx.has_input(2)) return Status::Ok();
  if (ctx.input(2).shape != ctx.input(1).shape &&
      !(NumElements(ctx.input(2).shape) == 1 && NumElements(ctx.input(1).shape) == 1)) {
    return ctx.Error("zero point shape " + ShapeToString(ctx.input(2).shape) + " differs from scale shape " +
                     ShapeToString(ctx.input(1).shape));
  }
  return Status::Ok();
}

}  // namespace edgert
