#include "elementwise_util.h"

namespace edgert {
namespace ew {

std::string NodeLabel(const OpContext& ctx) { return std::string(OpTypeName(ctx.op())) + " node '" + ctx.name() + "'"; }

Status CheckSameDtype(const OpContext& ctx, size_t a, size_t b) {
  DataType da = ctx.input(a).dtype;
  DataType db = ctx.input(b).dtype;
  if (da == db) return Status::Ok();
  return ctx.Error("inputs " + std::to_string(a) + " and " + std::to_string(b) + " must have the same dtype, got " +
                   DataTypeName(da) + " and " + DataTypeName(db));
}

BroadcastWalker::BroadcastWalker(const std::vector<Shape>& inputs, const Shape& out) {
  const size_t rank = out.size();
  const size_t n = inputs.size();
  inner_steps_.assign(n, 1);
  outer_strides_.assign(n, {});
  if (NumElements(out) == 0) {
    empty_ = true;
    return;
  }
  // 1. Broadcast flags per (input, output dim), after left-padding.
  auto broadcast = [&](size_t k, size_t d) {
    const Shape& s = inputs[k];
    size_t pad = rank - s.size();
    int64_t dim = d < pad ? 1 : s[d - pad];
    return dim == 1 && out[d] != 1;
  };
  // 2. Merge dims with equal flags, dropping size-1 output dims.
  struct Merged {
    int64_t size;
    std::vector<bool> flags;
  };
  std::vector<Merged> merged;
  for (size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    std::vector<bool> flags(n);
    for (size_t k = 0; k < n; ++k) flags[k] = broadcast(k, d);
    if (!merged.empty() && merged.back().flags == flags) {
      merged.back().size *= out[d];
    } else {
      merged.push_back({out[d], flags});
    }
  }
  if (merged.empty()) return;  // every dim is 1: one run of one element
  // 3. The last merged dim is the inner run; the others are walked.
  inner_ = merged.back().size;
  for (size_t k = 0; k < n; ++k) inner_steps_[k] = merged.back().flags[k] ? 0 : 1;
  for (size_t m = 0; m + 1 < merged.size(); ++m) outer_.push_back(merged[m].size);
  for (size_t k = 0; k < n; ++k) {
    Shape in_shape;
    for (const Merged& m : merged) in_shape.push_back(m.flags[k] ? 1 : m.size);
    std::vector<int64_t> strides = ContiguousStrides(in_shape);
    for (size_t m = 0; m + 1 < merged.size(); ++m) {
      outer_strides_[k].push_back(merged[m].flags[k] ? 0 : strides[m]);
    }
  }
}

}  // namespace ew
}  // namespace edgert
