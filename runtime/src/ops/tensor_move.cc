// The "tensor" family, part 2: data movement. Every kernel moves elements by size (see
// tensor_util.h), so one implementation serves all dtypes.
//  Transpose, Slice, Expand, Tile, DepthToSpace, SpaceToDepth: a strided view of the input copied
//    into the contiguous output (StridedCopy).
//  Concat, Split, Gather: outer loop x contiguous inner blocks (memcpy).
//  Pad: one source-index map per dimension (IndexMapCopy), which covers every mode.
#include <algorithm>
#include <cstring>
#include <limits>

#include "op_util.h"
#include "registry.h"
#include "tensor_util.h"

namespace edgert {
namespace {

using KernelOr = StatusOr<std::unique_ptr<CpuKernel>>;

int64_t Product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// A kernel that copies a fixed strided view of input 0 into the contiguous output 0.
class ViewCopyKernel : public CpuKernel {
 public:
  ViewCopyKernel(size_t elem, Shape shape, int64_t in_offset, std::vector<int64_t> in_strides)
      : elem_(elem),
        shape_(std::move(shape)),
        in_offset_(in_offset),
        in_strides_(std::move(in_strides)),
        out_strides_(ContiguousStrides(shape_)) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const char* in = static_cast<const char*>(inputs[0]->raw()) + in_offset_ * static_cast<int64_t>(elem_);
    StridedCopy(elem_, shape_, in, in_strides_, outputs[0]->raw(), out_strides_);
    return Status::Ok();
  }

 private:
  size_t elem_;
  Shape shape_;
  int64_t in_offset_;
  std::vector<int64_t> in_strides_;
  std::vector<int64_t> out_strides_;
};

Status SupportsData(const OpContext& ctx) { return CheckCopyableInput(ctx, 0); }

// ---- Transpose -------------------------------------------------------------------------------

StatusOr<std::vector<int64_t>> TransposePerm(const OpContext& ctx) {
  const int64_t rank = static_cast<int64_t>(ctx.input(0).shape.size());
  std::vector<int64_t> def(static_cast<size_t>(rank));
  for (int64_t i = 0; i < rank; ++i) def[i] = rank - 1 - i;
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ctx.attrs().GetIntsOr("perm", def, ctx.name()));
  if (static_cast<int64_t>(perm.size()) != rank) {
    return ctx.Error("perm has " + std::to_string(perm.size()) + " entries but the input has rank " +
                     std::to_string(rank));
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t& p : perm) {
    if (p < -rank || p >= rank) return ctx.Error("perm entry " + std::to_string(p) + " is out of range");
    if (p < 0) p += rank;
    if (seen[p]) return ctx.Error("perm lists axis " + std::to_string(p) + " twice");
    seen[p] = true;
  }
  return perm;
}

Status InferTranspose(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> perm, TransposePerm(ctx));
  const Shape& in = ctx.input(0).shape;
  Shape out;
  for (int64_t p : perm) out.push_back(in[p]);
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return Status::Ok();
}

KernelOr CreateTranspose(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> perm, TransposePerm(ctx));
  const Shape& in = ctx.input(0).shape;
  std::vector<int64_t> strides = ContiguousStrides(in);
  Shape out;
  std::vector<int64_t> in_strides;
  for (int64_t p : perm) {
    out.push_back(in[p]);
    in_strides.push_back(strides[p]);
  }
  return std::unique_ptr<CpuKernel>(
      new ViewCopyKernel(DataTypeSize(ctx.input(0).dtype), out, 0, std::move(in_strides)));
}

// ---- Concat ----------------------------------------------------------------------------------

Status SupportsConcat(const OpContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, i));
    if (ctx.input(i).dtype != ctx.input(0).dtype) {
      return ctx.Error("input " + std::to_string(i) + " is " + DataTypeName(ctx.input(i).dtype) + " but input 0 is " +
                       DataTypeName(ctx.input(0).dtype));
    }
  }
  if (!ctx.attrs().Has("axis") && ctx.opset() >= 4) return ctx.Error("attribute 'axis' is required");
  return ctx.attrs().GetIntOr("axis", 1, ctx.name()).status();
}

StatusOr<int64_t> ConcatAxis(const OpContext& ctx) {
  const int64_t rank = static_cast<int64_t>(ctx.input(0).shape.size());
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().GetIntOr("axis", 1, ctx.name()));
  return NormalizeAxis(ctx, axis, rank);
}

Status InferConcat(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, ConcatAxis(ctx));
  Shape out = ctx.input(0).shape;
  out[axis] = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Shape& s = ctx.input(i).shape;
    bool same = s.size() == out.size();
    for (size_t d = 0; same && d < s.size(); ++d) same = static_cast<int64_t>(d) == axis || s[d] == out[d];
    if (!same) {
      return ctx.Error("input " + std::to_string(i) + " has shape " + ShapeToString(s) + ", which does not match " +
                       ShapeToString(ctx.input(0).shape) + " outside axis " + std::to_string(axis));
    }
    out[axis] += s[axis];
  }
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return Status::Ok();
}

class ConcatKernel : public CpuKernel {
 public:
  ConcatKernel(int64_t outer, std::vector<int64_t> block_bytes) : outer_(outer), block_bytes_(std::move(block_bytes)) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    char* dst = static_cast<char*>(outputs[0]->raw());
    for (int64_t o = 0; o < outer_; ++o) {
      for (size_t i = 0; i < inputs.size(); ++i) {
        const int64_t b = block_bytes_[i];
        if (b == 0) continue;
        std::memcpy(dst, static_cast<const char*>(inputs[i]->raw()) + o * b, static_cast<size_t>(b));
        dst += b;
      }
    }
    return Status::Ok();
  }

 private:
  int64_t outer_;
  std::vector<int64_t> block_bytes_;
};

KernelOr CreateConcat(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, ConcatAxis(ctx));
  const Shape& s0 = ctx.input(0).shape;
  const size_t elem = DataTypeSize(ctx.input(0).dtype);
  const int64_t outer = Product(s0, 0, static_cast<size_t>(axis));
  std::vector<int64_t> blocks;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Shape& s = ctx.input(i).shape;
    blocks.push_back(Product(s, static_cast<size_t>(axis), s.size()) * static_cast<int64_t>(elem));
  }
  return std::unique_ptr<CpuKernel>(new ConcatKernel(outer, std::move(blocks)));
}

// ---- Split -----------------------------------------------------------------------------------

Status SupportsSplit(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, 0));
  if (ctx.has_input(1) && ctx.attrs().Has("num_outputs")) {
    return ctx.Error("give either the 'split' input or the 'num_outputs' attribute, not both");
  }
  return ctx.attrs().GetIntOr("axis", 0, ctx.name()).status();
}

// Sizes of the outputs along the split axis.
StatusOr<std::vector<int64_t>> SplitSizes(const OpContext& ctx, int64_t* axis_out) {
  const Shape& in = ctx.input(0).shape;
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().GetIntOr("axis", 0, ctx.name()));
  EDGERT_ASSIGN_OR_RETURN(axis, NormalizeAxis(ctx, axis, static_cast<int64_t>(in.size())));
  *axis_out = axis;
  const int64_t dim = in[axis];
  const int64_t n_out = static_cast<int64_t>(ctx.num_outputs());
  std::vector<int64_t> sizes;
  if (ctx.has_input(1) || ctx.attrs().Has("split")) {
    if (ctx.has_input(1)) {
      EDGERT_ASSIGN_OR_RETURN(sizes, ConstInputInts(ctx, 1, "split"));
    } else {
      EDGERT_ASSIGN_OR_RETURN(sizes, ctx.attrs().GetInts("split", ctx.name()));
    }
    if (static_cast<int64_t>(sizes.size()) != n_out) {
      return ctx.Error("split has " + std::to_string(sizes.size()) + " sizes but the node has " +
                       std::to_string(n_out) + " outputs");
    }
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) return ctx.Error("split sizes must not be negative, got " + std::to_string(s));
      sum += s;
    }
    if (sum != dim) {
      return ctx.Error("split sizes sum to " + std::to_string(sum) + " but axis " + std::to_string(axis) +
                       " of input shape " + ShapeToString(in) + " has size " + std::to_string(dim));
    }
    return sizes;
  }
  if (ctx.attrs().Has("num_outputs")) {
    EDGERT_ASSIGN_OR_RETURN(int64_t n, ctx.attrs().GetInt("num_outputs", ctx.name()));
    if (n != n_out) {
      return ctx.Error("num_outputs is " + std::to_string(n) + " but the node has " + std::to_string(n_out) +
                       " outputs");
    }
    if (n < 1 || n > std::max<int64_t>(dim, 1)) {
      return ctx.Error("num_outputs " + std::to_string(n) + " cannot split an axis of size " + std::to_string(dim));
    }
    // Equal chunks of ceil(dim / n); the last one takes what is left.
    const int64_t chunk = (dim + n - 1) / n;
    int64_t left = dim;
    for (int64_t i = 0; i < n; ++i) {
      int64_t s = std::min(chunk, left);
      sizes.push_back(s);
      left -= s;
    }
    if (left != 0 || sizes.back() <= 0) {
      return ctx.Error("num_outputs " + std::to_string(n) + " cannot split an axis of size " + std::to_string(dim));
    }
    return sizes;
  }
  if (dim % n_out != 0) {
    return ctx.Error("axis " + std::to_string(axis) + " of size " + std::to_string(dim) + " cannot be split into " +
                     std::to_string(n_out) + " equal parts; give 'split' sizes");
  }
  sizes.assign(static_cast<size_t>(n_out), dim / n_out);
  return sizes;
}

Status InferSplit(OpContext& ctx) {
  int64_t axis = 0;
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, SplitSizes(ctx, &axis));
  for (size_t k = 0; k < sizes.size(); ++k) {
    Shape s = ctx.input(0).shape;
    s[axis] = sizes[k];
    ctx.SetOutput(k, ctx.input(0).dtype, s);
  }
  return Status::Ok();
}

class SplitKernel : public CpuKernel {
 public:
  SplitKernel(int64_t outer, std::vector<int64_t> block_bytes) : outer_(outer), block_bytes_(std::move(block_bytes)) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const char* src = static_cast<const char*>(inputs[0]->raw());
    for (int64_t o = 0; o < outer_; ++o) {
      for (size_t k = 0; k < outputs.size(); ++k) {
        const int64_t b = block_bytes_[k];
        if (b == 0) continue;
        if (outputs[k] != nullptr)
          std::memcpy(static_cast<char*>(outputs[k]->raw()) + o * b, src, static_cast<size_t>(b));
        src += b;
      }
    }
    return Status::Ok();
  }

 private:
  int64_t outer_;
  std::vector<int64_t> block_bytes_;
};

KernelOr CreateSplit(const OpContext& ctx) {
  int64_t axis = 0;
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, SplitSizes(ctx, &axis));
  const Shape& in = ctx.input(0).shape;
  const int64_t elem = static_cast<int64_t>(DataTypeSize(ctx.input(0).dtype));
  const int64_t inner = Product(in, static_cast<size_t>(axis) + 1, in.size());
  std::vector<int64_t> blocks;
  for (int64_t s : sizes) blocks.push_back(s * inner * elem);
  return std::unique_ptr<CpuKernel>(new SplitKernel(Product(in, 0, static_cast<size_t>(axis)), std::move(blocks)));
}

// ---- Slice -----------------------------------------------------------------------------------

struct SliceView {
  Shape out;
  int64_t offset = 0;
  std::vector<int64_t> strides;
};

Status SupportsSlice(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, 0));
  const char* names[] = {"data", "starts", "ends", "axes", "steps"};
  for (size_t i = 1; i < ctx.num_inputs() && i < 5; ++i) {
    if (ctx.has_input(i) && !IsIntegerType(ctx.input(i).dtype)) {
      return ctx.Error(std::string("input '") + names[i] + "' must be int32 or int64, not " +
                       DataTypeName(ctx.input(i).dtype));
    }
  }
  return Status::Ok();
}

// Clamps start/end as ONNX specifies and returns the view of the input the slice selects.
StatusOr<SliceView> ComputeSlice(const OpContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> starts, ConstInputInts(ctx, 1, "starts"));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> ends, ConstInputInts(ctx, 2, "ends"));
  std::vector<int64_t> axes, steps;
  if (ctx.has_input(3)) {
    EDGERT_ASSIGN_OR_RETURN(axes, ConstInputInts(ctx, 3, "axes"));
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (ctx.has_input(4)) {
    EDGERT_ASSIGN_OR_RETURN(steps, ConstInputInts(ctx, 4, "steps"));
  } else {
    steps.assign(starts.size(), 1);
  }
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
    return ctx.Error("starts, ends, axes and steps must have the same length, got " + std::to_string(starts.size()) +
                     ", " + std::to_string(ends.size()) + ", " + std::to_string(axes.size()) + ", " +
                     std::to_string(steps.size()));
  }
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(ctx, axes, rank));
  SliceView v;
  v.out = in;
  std::vector<int64_t> base = ContiguousStrides(in);
  v.strides = base;
  for (size_t i = 0; i < norm.size(); ++i) {
    const int64_t a = norm[i];
    const int64_t dim = in[a];
    if (steps[i] == 0) return ctx.Error("steps[" + std::to_string(i) + "] is 0; a slice step must be non-zero");
    // A step longer than the axis selects at most one element; capping it keeps the arithmetic
    // below free of overflow (e.g. for INT64_MIN).
    const int64_t step = std::clamp<int64_t>(steps[i], -(dim + 1), dim + 1);
    // Negative values count from the end; then clamp as ONNX specifies: [0, dim] for both when
    // stepping forward, start to [0, dim - 1] and end to [-1, dim - 1] when stepping backward.
    // INT64_MIN/INT64_MAX sentinels stay in range because dim >= 0 is only added to negatives.
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t count = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      if (end > start) count = (end - start - 1) / step + 1;
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      if (start > end) count = (start - end - 1) / (-step) + 1;
    }
    v.out[a] = count;
    if (count > 0) v.offset += start * base[a];
    v.strides[a] = base[a] * step;
  }
  return v;
}

Status InferSlice(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(SliceView v, ComputeSlice(ctx));
  ctx.SetOutput(0, ctx.input(0).dtype, v.out);
  return Status::Ok();
}

KernelOr CreateSlice(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(SliceView v, ComputeSlice(ctx));
  return std::unique_ptr<CpuKernel>(
      new ViewCopyKernel(DataTypeSize(ctx.input(0).dtype), v.out, v.offset, std::move(v.strides)));
}

// ---- Gather ----------------------------------------------------------------------------------

Status SupportsGather(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, 0));
  DataType t = ctx.input(1).dtype;
  if (t != DataType::kInt32 && t != DataType::kInt64) {
    return ctx.Error(std::string("input 'indices' must be int32 or int64, not ") + DataTypeName(t));
  }
  return ctx.attrs().GetIntOr("axis", 0, ctx.name()).status();
}

StatusOr<int64_t> GatherAxis(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().GetIntOr("axis", 0, ctx.name()));
  const int64_t rank = static_cast<int64_t>(ctx.input(0).shape.size());
  if (rank == 0) return ctx.Error("input 'data' must have rank 1 or more, it is a scalar");
  return NormalizeAxis(ctx, axis, rank);
}

Status InferGather(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, GatherAxis(ctx));
  const Shape& data = ctx.input(0).shape;
  const Shape& idx = ctx.input(1).shape;
  Shape out(data.begin(), data.begin() + axis);
  out.insert(out.end(), idx.begin(), idx.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  if (ctx.input(1).value != nullptr) {
    const Tensor& t = *ctx.input(1).value;
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      int64_t k = t.GetAsInt64(i);
      if (k < -data[axis] || k >= data[axis]) {
        return ctx.Error("index " + std::to_string(k) + " is out of range for axis " + std::to_string(axis) +
                         " of size " + std::to_string(data[axis]));
      }
    }
  }
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return Status::Ok();
}

class GatherKernel : public CpuKernel {
 public:
  GatherKernel(std::string name, int64_t outer, int64_t dim, int64_t inner_bytes, int64_t num_indices)
      : name_(std::move(name)),
        outer_(outer),
        dim_(dim),
        inner_bytes_(inner_bytes),
        resolved_(static_cast<size_t>(num_indices)) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const Tensor& idx = *inputs[1];
    const int64_t n = idx.num_elements();
    // Resolve and check the indices once per run (they may be a runtime input).
    if (static_cast<size_t>(n) != resolved_.size()) {
      return Internal("Gather node '" + name_ + "': indices have " + std::to_string(n) +
                          " elements, the kernel was prepared for " + std::to_string(resolved_.size()),
                      name_);
    }
    for (int64_t i = 0; i < n; ++i) {
      int64_t k = idx.dtype() == DataType::kInt64 ? idx.data<int64_t>()[i] : idx.data<int32_t>()[i];
      if (k < -dim_ || k >= dim_) {
        return OutOfRange("Gather node '" + name_ + "': index " + std::to_string(k) +
                              " is out of range for an axis of size " + std::to_string(dim_),
                          name_);
      }
      resolved_[i] = k < 0 ? k + dim_ : k;
    }
    const char* src = static_cast<const char*>(inputs[0]->raw());
    char* dst = static_cast<char*>(outputs[0]->raw());
    if (inner_bytes_ == 0) return Status::Ok();
    for (int64_t o = 0; o < outer_; ++o) {
      const char* block = src + o * dim_ * inner_bytes_;
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(dst, block + resolved_[i] * inner_bytes_, static_cast<size_t>(inner_bytes_));
        dst += inner_bytes_;
      }
    }
    return Status::Ok();
  }

 private:
  std::string name_;
  int64_t outer_, dim_, inner_bytes_;
  std::vector<int64_t> resolved_;
};

KernelOr CreateGather(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, GatherAxis(ctx));
  const Shape& data = ctx.input(0).shape;
  const int64_t elem = static_cast<int64_t>(DataTypeSize(ctx.input(0).dtype));
  return std::unique_ptr<CpuKernel>(new GatherKernel(
      ctx.name(), Product(data, 0, static_cast<size_t>(axis)), data[axis],
      Product(data, static_cast<size_t>(axis) + 1, data.size()) * elem, NumElements(ctx.input(1).shape)));
}

// ---- Expand ----------------------------------------------------------------------------------

Status SupportsExpand(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, 0));
  if (ctx.input(1).dtype != DataType::kInt64) {
    return ctx.Error(std::string("input 'shape' must be int64, not ") + DataTypeName(ctx.input(1).dtype));
  }
  return Status::Ok();
}

StatusOr<Shape> ExpandShape(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ConstInputInts(ctx, 1, "shape"));
  for (int64_t d : shape) {
    if (d < 0) return ctx.Error("shape " + ShapeToString(shape) + " has a negative dimension");
  }
  return BroadcastShapes(ctx, {ctx.input(0).shape, shape});
}

Status InferExpand(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(Shape out, ExpandShape(ctx));
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return Status::Ok();
}

KernelOr CreateExpand(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(Shape out, ExpandShape(ctx));
  return std::unique_ptr<CpuKernel>(
      new ViewCopyKernel(DataTypeSize(ctx.input(0).dtype), out, 0, BroadcastStrides(ctx.input(0).shape, out)));
}

// ---- Tile ------------------------------------------------------------------------------------

Status SupportsTile(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, 0));
  if (!IsIntegerType(ctx.input(1).dtype)) {
    return ctx.Error(std::string("input 'repeats' must be int64, not ") + DataTypeName(ctx.input(1).dtype));
  }
  return Status::Ok();
}

StatusOr<std::vector<int64_t>> TileRepeats(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> reps, ConstInputInts(ctx, 1, "repeats"));
  const Shape& in = ctx.input(0).shape;
  if (reps.size() != in.size()) {
    return ctx.Error("repeats has " + std::to_string(reps.size()) + " values but the input " + ShapeToString(in) +
                     " has rank " + std::to_string(in.size()));
  }
  for (int64_t r : reps) {
    if (r < 0) return ctx.Error("repeats must not be negative, got " + std::to_string(r));
  }
  return reps;
}

Status InferTile(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> reps, TileRepeats(ctx));
  Shape out = ctx.input(0).shape;
  for (size_t d = 0; d < out.size(); ++d) out[d] *= reps[d];
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return Status::Ok();
}

// The output of Tile, viewed as [r0, d0, r1, d1, ...], is contiguous; the input is read with
// stride 0 over each repeat dimension.
KernelOr CreateTile(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> reps, TileRepeats(ctx));
  const Shape& in = ctx.input(0).shape;
  std::vector<int64_t> strides = ContiguousStrides(in);
  Shape view;
  std::vector<int64_t> in_strides;
  for (size_t d = 0; d < in.size(); ++d) {
    view.push_back(reps[d]);
    in_strides.push_back(0);
    view.push_back(in[d]);
    in_strides.push_back(strides[d]);
  }
  return std::unique_ptr<CpuKernel>(
      new ViewCopyKernel(DataTypeSize(ctx.input(0).dtype), view, 0, std::move(in_strides)));
}

// ---- Pad -------------------------------------------------------------------------------------

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

struct PadParams {
  PadMode mode = PadMode::kConstant;
  std::vector<int64_t> begin, end;  // per dimension; negative crops
  Shape out;
};

StatusOr<PadMode> ParsePadMode(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::string mode, ctx.attrs().GetStringOr("mode", "constant", ctx.name()));
  if (mode == "constant") return PadMode::kConstant;
  if (mode == "reflect") return PadMode::kReflect;
  if (mode == "edge") return PadMode::kEdge;
  if (mode == "wrap") return PadMode::kWrap;
  return ctx.Error("mode '" + mode + "' is not one of constant, reflect, edge, wrap");
}

Status SupportsPad(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, 0));
  if (ctx.has_input(1) && !IsIntegerType(ctx.input(1).dtype)) {
    return ctx.Error(std::string("input 'pads' must be int64, not ") + DataTypeName(ctx.input(1).dtype));
  }
  if (ctx.has_input(2) && NumElements(ctx.input(2).shape) > 1) {
    return ctx.Error("input 'constant_value' must hold one value, its shape is " + ShapeToString(ctx.input(2).shape));
  }
  if (ctx.has_input(2) && !IsCopyableType(ctx.input(2).dtype)) {
    return ctx.Error(std::string("input 'constant_value' has unsupported dtype ") + DataTypeName(ctx.input(2).dtype));
  }
  return ParsePadMode(ctx).status();
}

StatusOr<PadParams> ComputePad(const OpContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  PadParams p;
  EDGERT_ASSIGN_OR_RETURN(p.mode, ParsePadMode(ctx));
  std::vector<int64_t> pads;
  if (ctx.has_input(1)) {
    EDGERT_ASSIGN_OR_RETURN(pads, ConstInputInts(ctx, 1, "pads"));
  } else if (ctx.attrs().Has("pads") || ctx.attrs().Has("paddings")) {
    const char* key = ctx.attrs().Has("pads") ? "pads" : "paddings";
    EDGERT_ASSIGN_OR_RETURN(pads, ctx.attrs().GetInts(key, ctx.name()));
  } else {
    return ctx.Error("pads are required (the 'pads' input, or attribute before opset 11)");
  }
  std::vector<int64_t> axes;
  if (ctx.has_input(3)) {
    EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> raw, ConstInputInts(ctx, 3, "axes"));
    EDGERT_ASSIGN_OR_RETURN(axes, NormalizeAxes(ctx, raw, rank));
  } else {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  if (pads.size() != 2 * axes.size()) {
    return ctx.Error("pads has " + std::to_string(pads.size()) + " values, expected " +
                     std::to_string(2 * axes.size()) + " (begin and end for each of " + std::to_string(axes.size()) +
                     " axes of input " + ShapeToString(in) + ")");
  }
  p.begin.assign(static_cast<size_t>(rank), 0);
  p.end.assign(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    p.begin[axes[i]] = pads[i];
    p.end[axes[i]] = pads[i + axes.size()];
  }
  p.out = in;
  for (int64_t d = 0; d < rank; ++d) {
    p.out[d] = in[d] + p.begin[d] + p.end[d];
    if (p.out[d] < 0) {
      return ctx.Error("pads " + std::to_string(p.begin[d]) + " and " + std::to_string(p.end[d]) + " on axis " +
                       std::to_string(d) + " of size " + std::to_string(in[d]) + " give a negative size");
    }
    const bool pads_outside = p.begin[d] > 0 || p.end[d] > 0;
    if (pads_outside && p.mode != PadMode::kConstant && in[d] == 0) {
      return ctx.Error("cannot pad the empty axis " + std::to_string(d) + " in a non-constant mode");
    }
    if (pads_outside && p.mode == PadMode::kReflect && in[d] < 2) {
      return ctx.Error("reflect mode needs at least 2 elements on padded axis " + std::to_string(d) + ", it has " +
                       std::to_string(in[d]));
    }
  }
  return p;
}

Status InferPad(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(PadParams p, ComputePad(ctx));
  ctx.SetOutput(0, ctx.input(0).dtype, p.out);
  return Status::Ok();
}

class PadKernel : public CpuKernel {
 public:
  PadKernel(float attr_value, std::vector<std::vector<int64_t>> maps)
      : attr_value_(attr_value), maps_(std::move(maps)) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const Tensor& in = *inputs[0];
    Tensor& out = *outputs[0];
    unsigned char fill[8];
    const Tensor* cv = inputs.size() > 2 ? inputs[2] : nullptr;
    if (cv != nullptr && cv->num_elements() == 1 && cv->dtype() == in.dtype()) {
      std::memcpy(fill, cv->raw(), DataTypeSize(in.dtype()));
    } else if (cv != nullptr && cv->num_elements() == 1) {
      double v = cv->dtype() == DataType::kFloat16 ? HalfToFloat(cv->data<uint16_t>()[0]) : cv->GetAsDouble(0);
      ScalarToBytes(v, in.dtype(), fill);
    } else {
      ScalarToBytes(attr_value_, in.dtype(), fill);
    }
    IndexMapCopy(DataTypeSize(in.dtype()), in.shape(), in.raw(), out.shape(), maps_, fill, out.raw());
    return Status::Ok();
  }

 private:
  float attr_value_;
  std::vector<std::vector<int64_t>> maps_;
};

// Source index of output position `i` on an axis of size `dim` padded by `begin` in front.
int64_t PadSource(PadMode mode, int64_t i, int64_t begin, int64_t dim) {
  int64_t k = i - begin;
  if (k >= 0 && k < dim) return k;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kEdge:
      return k < 0 ? 0 : dim - 1;
    case PadMode::kWrap:
      return ((k % dim) + dim) % dim;
    case PadMode::kReflect: {
      const int64_t period = 2 * (dim - 1);
      int64_t m = ((k % period) + period) % period;
      return m < dim ? m : period - m;
    }
  }
  return -1;
}

KernelOr CreatePad(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(PadParams p, ComputePad(ctx));
  EDGERT_ASSIGN_OR_RETURN(float value, ctx.attrs().GetFloatOr("value", 0.0f, ctx.name()));
  const Shape& in = ctx.input(0).shape;
  std::vector<std::vector<int64_t>> maps(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    for (int64_t i = 0; i < p.out[d]; ++i) maps[d].push_back(PadSource(p.mode, i, p.begin[d], in[d]));
  }
  return std::unique_ptr<CpuKernel>(new PadKernel(value, std::move(maps)));
}

// ---- DepthToSpace / SpaceToDepth -------------------------------------------------------------

struct BlockParams {
  int64_t b = 0;
  bool crd = false;
};

StatusOr<BlockParams> ParseBlock(const OpContext& ctx) {
  BlockParams p;
  EDGERT_ASSIGN_OR_RETURN(p.b, ctx.attrs().GetInt("blocksize", ctx.name()));
  if (p.b < 1) return ctx.Error("blocksize must be at least 1, got " + std::to_string(p.b));
  if (ctx.op() == OpType::kDepthToSpace) {
    EDGERT_ASSIGN_OR_RETURN(std::string mode, ctx.attrs().GetStringOr("mode", "DCR", ctx.name()));
    if (mode != "DCR" && mode != "CRD") return ctx.Error("mode '" + mode + "' is not DCR or CRD");
    p.crd = mode == "CRD";
  }
  const Shape& in = ctx.input(0).shape;
  if (in.size() != 4) return ctx.Error("input must be 4-D (NCHW), its shape is " + ShapeToString(in));
  if (ctx.op() == OpType::kDepthToSpace && in[1] % (p.b * p.b) != 0) {
    return ctx.Error("channels " + std::to_string(in[1]) +
                     " are not divisible by blocksize^2 = " + std::to_string(p.b * p.b));
  }
  if (ctx.op() == OpType::kSpaceToDepth && (in[2] % p.b != 0 || in[3] % p.b != 0)) {
    return ctx.Error("height and width of input " + ShapeToString(in) + " are not divisible by blocksize " +
                     std::to_string(p.b));
  }
  return p;
}

Status SupportsBlock(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, 0));
  return ctx.attrs().GetInt("blocksize", ctx.name()).status();
}

Status InferBlock(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(BlockParams p, ParseBlock(ctx));
  const Shape& in = ctx.input(0).shape;
  Shape out = ctx.op() == OpType::kDepthToSpace ? Shape{in[0], in[1] / (p.b * p.b), in[2] * p.b, in[3] * p.b}
                                                : Shape{in[0], in[1] * p.b * p.b, in[2] / p.b, in[3] / p.b};
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return Status::Ok();
}

// DepthToSpace: output viewed as [N, C', H, b, W, b] reads input channel
//   DCR: (bh * b + bw) * C' + c      CRD: c * b * b + bh * b + bw.
// SpaceToDepth: output viewed as [N, b, b, C, H', W'] reads input (c, h * b + bh, w * b + bw).
KernelOr CreateBlock(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(BlockParams p, ParseBlock(ctx));
  const Shape& in = ctx.input(0).shape;
  const int64_t n = in[0], c = in[1], h = in[2], w = in[3], b = p.b;
  const int64_t sc = h * w, sn = c * h * w;  // input strides of channel and batch
  Shape view;
  std::vector<int64_t> strides;
  if (ctx.op() == OpType::kDepthToSpace) {
    const int64_t co = c / (b * b);
    view = {n, co, h, b, w, b};
    if (p.crd) {
      strides = {sn, b * b * sc, w, b * sc, 1, sc};
    } else {
      strides = {sn, sc, w, b * co * sc, 1, co * sc};
    }
  } else {
    view = {n, b, b, c, h / b, w / b};
    strides = {sn, w, 1, sc, b * w, b};
  }
  return std::unique_ptr<CpuKernel>(new ViewCopyKernel(DataTypeSize(ctx.input(0).dtype), view, 0, std::move(strides)));
}

}  // namespace

void RegisterTensorMoveOps(OpRegistry& registry) {
  RegisterChecked<SupportsData, InferTranspose, CreateTranspose>(registry, OpType::kTranspose);
  RegisterChecked<SupportsConcat, InferConcat, CreateConcat>(registry, OpType::kConcat);
  RegisterChecked<SupportsSplit, InferSplit, CreateSplit>(registry, OpType::kSplit);
  RegisterChecked<SupportsSlice, InferSlice, CreateSlice>(registry, OpType::kSlice);
  RegisterChecked<SupportsGather, InferGather, CreateGather>(registry, OpType::kGather);
  RegisterChecked<SupportsExpand, InferExpand, CreateExpand>(registry, OpType::kExpand);
  RegisterChecked<SupportsTile, InferTile, CreateTile>(registry, OpType::kTile);
  RegisterChecked<SupportsPad, InferPad, CreatePad>(registry, OpType::kPad);
  RegisterChecked<SupportsBlock, InferBlock, CreateBlock>(registry, OpType::kDepthToSpace);
  RegisterChecked<SupportsBlock, InferBlock, CreateBlock>(registry, OpType::kSpaceToDepth);
}

}  // namespace edgert
