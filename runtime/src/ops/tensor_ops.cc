// The "tensor" family, part 1: operators that change only the shape (Flatten, Reshape, Squeeze,
// Unsqueeze, Identity, Dropout in inference), create values from shapes (Shape, ConstantOfShape,
// Range) or convert elements (Cast). RegisterTensorOps also registers the data-movement operators
// of tensor_move.cc and the resampling operators of tensor_resize.cc.
#include <cmath>
#include <cstring>
#include <limits>

#include "op_util.h"
#include "registry.h"
#include "tensor_util.h"

namespace edgert {
namespace {

using KernelOr = StatusOr<std::unique_ptr<CpuKernel>>;

KernelOr MakeCopyKernel(const OpContext&) { return std::unique_ptr<CpuKernel>(new CopyKernel()); }

Status SupportsCopyable(const OpContext& ctx) { return CheckCopyableInput(ctx, 0); }

// ---- Flatten ---------------------------------------------------------------------------------

Status InferFlatten(OpContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().GetIntOr("axis", 1, ctx.name()));
  if (axis < -rank || axis > rank) {
    return ctx.Error("axis " + std::to_string(axis) + " is out of range [" + std::to_string(-rank) + ", " +
                     std::to_string(rank) + "] for input shape " + ShapeToString(in));
  }
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : inner) *= in[d];
  ctx.SetOutput(0, ctx.input(0).dtype, {outer, inner});
  return Status::Ok();
}

// ---- Reshape ---------------------------------------------------------------------------------

Status SupportsReshape(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, 0));
  if (ctx.input(1).dtype != DataType::kInt64) {
    return ctx.Error(std::string("input 'shape' must be int64, not ") + DataTypeName(ctx.input(1).dtype));
  }
  return ctx.attrs().GetIntOr("allowzero", 0, ctx.name()).status();
}

Status InferReshape(OpContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> spec, ConstInputInts(ctx, 1, "shape"));
  EDGERT_ASSIGN_OR_RETURN(int64_t allowzero, ctx.attrs().GetIntOr("allowzero", 0, ctx.name()));
  Shape out(spec.size());
  int64_t infer_at = -1;
  int64_t known = 1;
  bool has_zero = false;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == -1) {
      if (infer_at >= 0) return ctx.Error("shape " + ShapeToString(spec) + " has more than one -1");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    if (d < -1) return ctx.Error("shape has invalid dimension " + std::to_string(d) + " at index " + std::to_string(i));
    if (d == 0) {
      has_zero = true;
      if (!allowzero) {
        if (i >= in.size()) {
          return ctx.Error("shape has 0 at index " + std::to_string(i) + " (copy the input dimension) but the input " +
                           ShapeToString(in) + " has only " + std::to_string(in.size()) + " dimensions");
        }
        d = in[i];
      }
    }
    out[i] = d;
    if (__builtin_mul_overflow(known, d, &known)) {
      return ctx.Error("shape " + ShapeToString(spec) + " has more elements than an int64 can count");
    }
  }
  if (allowzero && has_zero && infer_at >= 0) {
    return ctx.Error("shape " + ShapeToString(spec) + " has both 0 and -1, which allowzero=1 forbids");
  }
  const int64_t total = NumElements(in);
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0) {
      return ctx.Error("cannot reshape input of shape " + ShapeToString(in) + " (" + std::to_string(total) +
                       " elements) to " + ShapeToString(spec));
    }
    out[infer_at] = total / known;
  }
  if (NumElements(out) != total) {
    return ctx.Error("cannot reshape input of shape " + ShapeToString(in) + " (" + std::to_string(total) +
                     " elements) to " + ShapeToString(out) + " (" + std::to_string(NumElements(out)) + " elements)");
  }
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return Status::Ok();
}

// ---- Squeeze / Unsqueeze ---------------------------------------------------------------------

// Axes from input 1 (opset 13+) or the `axes` attribute (earlier); `present` is false when neither.
StatusOr<std::vector<int64_t>> AxesFromInputOrAttr(const OpContext& ctx, bool* present) {
  *present = true;
  if (ctx.has_input(1)) return ConstInputInts(ctx, 1, "axes");
  if (ctx.attrs().Has("axes")) return ctx.attrs().GetInts("axes", ctx.name());
  *present = false;
  return std::vector<int64_t>{};
}

Status InferSqueeze(OpContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  bool present = false;
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesFromInputOrAttr(ctx, &present));
  std::vector<bool> drop(in.size(), false);
  if (!present) {
    for (size_t d = 0; d < in.size(); ++d) drop[d] = in[d] == 1;
  } else {
    EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(ctx, axes, rank));
    for (int64_t a : norm) {
      if (in[a] != 1) {
        return ctx.Error("cannot squeeze axis " + std::to_string(a) + " of input shape " + ShapeToString(in) +
                         ": its size is " + std::to_string(in[a]) + ", not 1");
      }
      drop[a] = true;
    }
  }
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!drop[d]) out.push_back(in[d]);
  }
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return Status::Ok();
}

Status InferUnsqueeze(OpContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  bool present = false;
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesFromInputOrAttr(ctx, &present));
  if (!present) return ctx.Error("axes are required (the 'axes' input or attribute)");
  const int64_t out_rank = static_cast<int64_t>(in.size() + axes.size());
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(ctx, axes, out_rank));
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : norm) inserted[a] = true;
  Shape out;
  size_t next = 0;
  for (int64_t d = 0; d < out_rank; ++d) out.push_back(inserted[d] ? 1 : in[next++]);
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return Status::Ok();
}

// ---- Identity / Dropout ----------------------------------------------------------------------

Status InferIdentity(OpContext& ctx) {
  ctx.SetOutput(0, ctx.input(0).dtype, ctx.input(0).shape);
  return Status::Ok();
}

Status SupportsDropout(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, 0));
  if (ctx.has_input(2) && ctx.input(2).dtype != DataType::kBool) {
    return ctx.Error(std::string("input 'training_mode' must be bool, not ") + DataTypeName(ctx.input(2).dtype));
  }
  if (ctx.has_input(1) && !IsFloatType(ctx.input(1).dtype)) {
    return ctx.Error(std::string("input 'ratio' must be a float tensor, not ") + DataTypeName(ctx.input(1).dtype));
  }
  return ctx.attrs().GetFloatOr("ratio", 0.5f, ctx.name()).status();
}

// Dropout's mask output is bool from opset 10, the data dtype before.
DataType DropoutMaskType(const OpContext& ctx) {
  return ctx.opset() >= 10 || ctx.opset() == 0 ? DataType::kBool : ctx.input(0).dtype;
}

Status InferDropout(OpContext& ctx) {
  ctx.SetOutput(0, ctx.input(0).dtype, ctx.input(0).shape);
  if (ctx.num_outputs() > 1) ctx.SetOutput(1, DropoutMaskType(ctx), ctx.input(0).shape);
  return Status::Ok();
}

// Inference dropout: output = input, mask = all true (all ones). Training mode is accepted only
// when the ratio is 0 (then it is the identity too); random masks are not reproducible.
class DropoutKernel : public CpuKernel {
 public:
  DropoutKernel(std::string name, float attr_ratio, DataType mask_type)
      : name_(std::move(name)), attr_ratio_(attr_ratio), mask_type_(mask_type) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    if (inputs.size() > 2 && inputs[2] != nullptr && inputs[2]->num_elements() > 0 && inputs[2]->data<bool>()[0]) {
      float ratio = attr_ratio_;
      if (inputs[1] != nullptr && inputs[1]->num_elements() > 0) {
        ratio = inputs[1]->dtype() == DataType::kFloat16 ? HalfToFloat(inputs[1]->data<uint16_t>()[0])
                                                         : static_cast<float>(inputs[1]->GetAsDouble(0));
      }
      if (ratio != 0.0f) {
        return Unsupported("Dropout node '" + name_ + "': training_mode is true with ratio " + std::to_string(ratio) +
                               "; only inference (or ratio 0) is supported",
                           name_);
      }
    }
    const Tensor& in = *inputs[0];
    if (in.bytes()) std::memcpy(outputs[0]->raw(), in.raw(), in.bytes());
    if (outputs.size() > 1 && outputs[1] != nullptr) {
      unsigned char one[8];
      ScalarToBytes(1.0, mask_type_, one);
      FillElements(outputs[1]->raw(), DataTypeSize(mask_type_), outputs[1]->num_elements(), one);
    }
    return Status::Ok();
  }

 private:
  std::string name_;
  float attr_ratio_;
  DataType mask_type_;
};

KernelOr CreateDropout(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(float ratio, ctx.attrs().GetFloatOr("ratio", 0.5f, ctx.name()));
  return std::unique_ptr<CpuKernel>(new DropoutKernel(ctx.name(), ratio, DropoutMaskType(ctx)));
}

// ---- Shape -----------------------------------------------------------------------------------

Status SupportsShape(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(ctx.attrs().GetIntOr("start", 0, ctx.name()).status());
  return ctx.attrs().GetIntOr("end", 0, ctx.name()).status();
}

// The [start, end) range of dimensions Shape reports, clamped as ONNX specifies.
StatusOr<std::pair<int64_t, int64_t>> ShapeRange(const OpContext& ctx, int64_t rank) {
  EDGERT_ASSIGN_OR_RETURN(int64_t start, ctx.attrs().GetIntOr("start", 0, ctx.name()));
  EDGERT_ASSIGN_OR_RETURN(int64_t end, ctx.attrs().GetIntOr("end", rank, ctx.name()));
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::min(std::max<int64_t>(start, 0), rank);
  end = std::min(std::max<int64_t>(end, 0), rank);
  if (end < start) end = start;
  return std::make_pair(start, end);
}

Status InferShape(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(auto range, ShapeRange(ctx, static_cast<int64_t>(ctx.input(0).shape.size())));
  ctx.SetOutput(0, DataType::kInt64, {range.second - range.first});
  return Status::Ok();
}

// Reads only the input's shape (the builder may pass a view without data).
class ShapeKernel : public CpuKernel {
 public:
  ShapeKernel(int64_t start, int64_t end) : start_(start), end_(end) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const Shape& s = inputs[0]->shape();
    int64_t* out = outputs[0]->data<int64_t>();
    for (int64_t d = start_; d < end_; ++d) out[d - start_] = s[static_cast<size_t>(d)];
    return Status::Ok();
  }

 private:
  int64_t start_, end_;
};

KernelOr CreateShape(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(auto range, ShapeRange(ctx, static_cast<int64_t>(ctx.input(0).shape.size())));
  return std::unique_ptr<CpuKernel>(new ShapeKernel(range.first, range.second));
}

// ---- ConstantOfShape -------------------------------------------------------------------------

// The fill value: the one-element `value` attribute, or float32 0.
StatusOr<Tensor> ConstantOfShapeValue(const OpContext& ctx) {
  if (!ctx.attrs().Has("value")) return Tensor::Scalar<float>(0.0f);
  EDGERT_ASSIGN_OR_RETURN(Tensor v, ctx.attrs().GetTensor("value", ctx.name()));
  if (v.num_elements() != 1) {
    return ctx.Error("attribute 'value' must hold exactly one element, it has " + std::to_string(v.num_elements()));
  }
  if (!IsCopyableType(v.dtype())) {
    return ctx.NotSupported(std::string("attribute 'value' has dtype ") + DataTypeName(v.dtype()) +
                            ", which edgert cannot hold");
  }
  return v;
}

Status SupportsConstantOfShape(const OpContext& ctx) {
  if (ctx.input(0).dtype != DataType::kInt64) {
    return ctx.Error(std::string("input 'input' (the shape) must be int64, not ") + DataTypeName(ctx.input(0).dtype));
  }
  return ConstantOfShapeValue(ctx).status();
}

Status InferConstantOfShape(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ConstInputInts(ctx, 0, "input"));
  for (int64_t d : shape) {
    if (d < 0) return ctx.Error("shape " + ShapeToString(shape) + " has a negative dimension");
  }
  EDGERT_ASSIGN_OR_RETURN(Tensor v, ConstantOfShapeValue(ctx));
  ctx.SetOutput(0, v.dtype(), shape);
  return Status::Ok();
}

class FillKernel : public CpuKernel {
 public:
  explicit FillKernel(Tensor value) : value_(std::move(value)) {}
  Status Run(const std::vector<const Tensor*>&, const std::vector<Tensor*>& outputs) override {
    Tensor& out = *outputs[0];
    FillElements(out.raw(), DataTypeSize(out.dtype()), out.num_elements(), value_.raw());
    return Status::Ok();
  }

 private:
  Tensor value_;
};

KernelOr CreateConstantOfShape(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(Tensor v, ConstantOfShapeValue(ctx));
  return std::unique_ptr<CpuKernel>(new FillKernel(v));
}

// ---- Range -----------------------------------------------------------------------------------

bool IsRangeType(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kInt16 || t == DataType::kInt32 ||
         t == DataType::kInt64;
}

Status SupportsRange(const OpContext& ctx) {
  DataType t = ctx.input(0).dtype;
  if (!IsRangeType(t)) return ctx.NotSupported(std::string("dtype ") + DataTypeName(t) + " is not supported");
  const char* names[] = {"start", "limit", "delta"};
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.input(i).dtype != t) {
      return ctx.Error(std::string("input '") + names[i] + "' is " + DataTypeName(ctx.input(i).dtype) +
                       " but 'start' is " + DataTypeName(t));
    }
    if (NumElements(ctx.input(i).shape) != 1) {
      return ctx.Error(std::string("input '") + names[i] + "' must be a scalar, its shape is " +
                       ShapeToString(ctx.input(i).shape));
    }
  }
  return Status::Ok();
}

// Number of elements of Range(start, limit, delta): max(ceil((limit - start) / delta), 0).
StatusOr<int64_t> RangeCount(const std::string& name, DataType t, const Tensor& start, const Tensor& limit,
                             const Tensor& delta) {
  if (IsFloatType(t)) {
    double s = start.GetAsDouble(0), l = limit.GetAsDouble(0), d = delta.GetAsDouble(0);
    if (d == 0.0 || !std::isfinite(d) || !std::isfinite(s) || !std::isfinite(l)) {
      return InvalidArgument("Range node '" + name + "': delta must be finite and non-zero (start " +
                                 std::to_string(s) + ", limit " + std::to_string(l) + ", delta " + std::to_string(d) +
                                 ")",
                             name);
    }
    double n = std::ceil((l - s) / d);
    return n > 0 ? static_cast<int64_t>(n) : 0;
  }
  int64_t s = start.GetAsInt64(0), l = limit.GetAsInt64(0), d = delta.GetAsInt64(0);
  if (d == 0) return InvalidArgument("Range node '" + name + "': delta must be non-zero", name);
  // ceil((l - s) / d) in integers without overflow for the ranges int64 shapes use.
  long double diff = static_cast<long double>(l) - static_cast<long double>(s);
  long double n = std::ceil(diff / static_cast<long double>(d));
  return n > 0 ? static_cast<int64_t>(n) : 0;
}

Status InferRange(OpContext& ctx) {
  const char* names[] = {"start", "limit", "delta"};
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.input(i).value == nullptr) {
      return ctx.NotSupported(std::string("input '") + names[i] +
                              "' must be known at build time (the output size depends on it)");
    }
  }
  EDGERT_ASSIGN_OR_RETURN(int64_t n, RangeCount(ctx.name(), ctx.input(0).dtype, *ctx.input(0).value,
                                                *ctx.input(1).value, *ctx.input(2).value));
  ctx.SetOutput(0, ctx.input(0).dtype, {n});
  return Status::Ok();
}

class RangeKernel : public CpuKernel {
 public:
  explicit RangeKernel(std::string name) : name_(std::move(name)) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    Tensor& out = *outputs[0];
    DataType t = out.dtype();
    EDGERT_ASSIGN_OR_RETURN(int64_t n, RangeCount(name_, t, *inputs[0], *inputs[1], *inputs[2]));
    if (n != out.num_elements()) {
      return InvalidArgument("Range node '" + name_ + "': inputs give " + std::to_string(n) +
                                 " elements but the output was built for " + std::to_string(out.num_elements()),
                             name_);
    }
    switch (t) {
      case DataType::kFloat32:
        Fill<float>(inputs, out, n);
        break;
      case DataType::kFloat64:
        Fill<double>(inputs, out, n);
        break;
      case DataType::kInt16:
        Fill<int16_t>(inputs, out, n);
        break;
      case DataType::kInt32:
        Fill<int32_t>(inputs, out, n);
        break;
      case DataType::kInt64:
        Fill<int64_t>(inputs, out, n);
        break;
      default:
        return Internal("Range node '" + name_ + "': unexpected dtype", name_);
    }
    return Status::Ok();
  }

 private:
  template <typename T>
  static void Fill(const std::vector<const Tensor*>& inputs, Tensor& out, int64_t n) {
    T start = inputs[0]->data<T>()[0];
    T delta = inputs[2]->data<T>()[0];
    T* o = out.data<T>();
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(start + static_cast<T>(i) * delta);
  }
  std::string name_;
};

KernelOr CreateRange(const OpContext& ctx) { return std::unique_ptr<CpuKernel>(new RangeKernel(ctx.name())); }

// ---- Cast ------------------------------------------------------------------------------------

bool IsCastType(DataType t) { return IsCopyableType(t); }

// Cast-1 to Cast-5 name the target type as a string ("FLOAT", "INT64", ...).
int64_t OnnxTypeFromName(const std::string& name) {
  static const std::pair<const char*, int64_t> kNames[] = {
      {"FLOAT", 1},  {"UINT8", 2}, {"INT8", 3},     {"UINT16", 4},  {"INT16", 5},   {"INT32", 6},  {"INT64", 7},
      {"STRING", 8}, {"BOOL", 9},  {"FLOAT16", 10}, {"DOUBLE", 11}, {"UINT32", 12}, {"UINT64", 13}};
  for (const auto& [n, id] : kNames) {
    if (name == n) return id;
  }
  return -1;
}

StatusOr<DataType> CastTarget(const OpContext& ctx) {
  int64_t to = 0;
  if (ctx.attrs().Has("to") && std::holds_alternative<std::string>(ctx.attrs().all().at("to"))) {
    const std::string& name = std::get<std::string>(ctx.attrs().all().at("to"));
    to = OnnxTypeFromName(name);
    if (to < 0) return ctx.Error("attribute 'to' names unknown type '" + name + "'");
  } else {
    EDGERT_ASSIGN_OR_RETURN(to, ctx.attrs().GetInt("to", ctx.name()));
  }
  DataType t = DataTypeFromOnnx(static_cast<int32_t>(to));
  if (!IsCastType(t)) {
    return ctx.NotSupported("cast to ONNX type " + std::to_string(to) +
                            " is not supported (float16/32/64, bool and 8- to 64-bit integers are)");
  }
  return t;
}

Status SupportsCast(const OpContext& ctx) {
  if (!IsCastType(ctx.input(0).dtype)) {
    return ctx.NotSupported(std::string("cast from ") + DataTypeName(ctx.input(0).dtype) + " is not supported");
  }
  EDGERT_RETURN_IF_ERROR(ctx.attrs().GetIntOr("saturate", 1, ctx.name()).status());
  return CastTarget(ctx).status();
}

Status InferCast(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(DataType t, CastTarget(ctx));
  ctx.SetOutput(0, t, ctx.input(0).shape);
  return Status::Ok();
}

// float16 travels as its bits; Load/Store convert through float.
struct Half {
  uint16_t bits;
};

template <typename T>
struct Io {
  using Value = T;
  static T Load(const void* p, int64_t i) { return static_cast<const T*>(p)[i]; }
};
template <>
struct Io<Half> {
  using Value = float;
  static float Load(const void* p, int64_t i) { return HalfToFloat(static_cast<const uint16_t*>(p)[i]); }
};

// One element converted to D: floats to integers truncate toward zero and saturate (NaN -> 0),
// anything to bool is value != 0, integers to integers wrap like static_cast.
template <typename D, typename V>
D ConvertTo(V v) {
  if constexpr (std::is_same_v<D, bool>) {
    return v != V(0);
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<V>) {
    if (std::isnan(v)) return 0;
    if (v <= static_cast<V>(std::numeric_limits<D>::min())) return std::numeric_limits<D>::min();
    if (v >= static_cast<V>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

template <typename S, typename D>
void CastLoop(const void* in, void* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    auto v = Io<S>::Load(in, i);
    if constexpr (std::is_same_v<D, Half>) {
      static_cast<uint16_t*>(out)[i] = FloatToHalf(ConvertTo<float>(v));
    } else {
      static_cast<D*>(out)[i] = ConvertTo<D>(v);
    }
  }
}

template <typename S>
bool CastFrom(DataType dst, const void* in, void* out, int64_t n) {
  switch (dst) {
    case DataType::kFloat32:
      CastLoop<S, float>(in, out, n);
      return true;
    case DataType::kFloat64:
      CastLoop<S, double>(in, out, n);
      return true;
    case DataType::kFloat16:
      CastLoop<S, Half>(in, out, n);
      return true;
    case DataType::kBool:
      CastLoop<S, bool>(in, out, n);
      return true;
    case DataType::kUInt8:
      CastLoop<S, uint8_t>(in, out, n);
      return true;
    case DataType::kInt8:
      CastLoop<S, int8_t>(in, out, n);
      return true;
    case DataType::kUInt16:
      CastLoop<S, uint16_t>(in, out, n);
      return true;
    case DataType::kInt16:
      CastLoop<S, int16_t>(in, out, n);
      return true;
    case DataType::kUInt32:
      CastLoop<S, uint32_t>(in, out, n);
      return true;
    case DataType::kInt32:
      CastLoop<S, int32_t>(in, out, n);
      return true;
    case DataType::kUInt64:
      CastLoop<S, uint64_t>(in, out, n);
      return true;
    case DataType::kInt64:
      CastLoop<S, int64_t>(in, out, n);
      return true;
    case DataType::kUndefined:
    case DataType::kString:
      return false;
  }
  return false;
}

bool CastAny(DataType src, DataType dst, const void* in, void* out, int64_t n) {
  switch (src) {
    case DataType::kFloat32:
      return CastFrom<float>(dst, in, out, n);
    case DataType::kFloat64:
      return CastFrom<double>(dst, in, out, n);
    case DataType::kFloat16:
      return CastFrom<Half>(dst, in, out, n);
    case DataType::kBool:
      return CastFrom<bool>(dst, in, out, n);
    case DataType::kUInt8:
      return CastFrom<uint8_t>(dst, in, out, n);
    case DataType::kInt8:
      return CastFrom<int8_t>(dst, in, out, n);
    case DataType::kUInt16:
      return CastFrom<uint16_t>(dst, in, out, n);
    case DataType::kInt16:
      return CastFrom<int16_t>(dst, in, out, n);
    case DataType::kUInt32:
      return CastFrom<uint32_t>(dst, in, out, n);
    case DataType::kInt32:
      return CastFrom<int32_t>(dst, in, out, n);
    case DataType::kUInt64:
      return CastFrom<uint64_t>(dst, in, out, n);
    case DataType::kInt64:
      return CastFrom<int64_t>(dst, in, out, n);
    case DataType::kUndefined:
    case DataType::kString:
      return false;
  }
  return false;
}

class CastKernel : public CpuKernel {
 public:
  explicit CastKernel(std::string name) : name_(std::move(name)) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const Tensor& in = *inputs[0];
    Tensor& out = *outputs[0];
    if (in.dtype() == out.dtype()) {
      if (in.bytes()) std::memcpy(out.raw(), in.raw(), in.bytes());
      return Status::Ok();
    }
    if (!CastAny(in.dtype(), out.dtype(), in.raw(), out.raw(), in.num_elements())) {
      return Unsupported(
          "Cast node '" + name_ + "': cannot cast " + DataTypeName(in.dtype()) + " to " + DataTypeName(out.dtype()),
          name_);
    }
    return Status::Ok();
  }

 private:
  std::string name_;
};

KernelOr CreateCast(const OpContext& ctx) { return std::unique_ptr<CpuKernel>(new CastKernel(ctx.name())); }

}  // namespace

void RegisterTensorShapeOps(OpRegistry& registry) {
  RegisterChecked<SupportsCopyable, InferFlatten, MakeCopyKernel>(registry, OpType::kFlatten);
  RegisterChecked<SupportsReshape, InferReshape, MakeCopyKernel>(registry, OpType::kReshape);
  RegisterChecked<SupportsCopyable, InferSqueeze, MakeCopyKernel>(registry, OpType::kSqueeze);
  RegisterChecked<SupportsCopyable, InferUnsqueeze, MakeCopyKernel>(registry, OpType::kUnsqueeze);
  RegisterChecked<SupportsCopyable, InferIdentity, MakeCopyKernel>(registry, OpType::kIdentity);
  RegisterChecked<SupportsDropout, InferDropout, CreateDropout>(registry, OpType::kDropout);
  RegisterChecked<SupportsShape, InferShape, CreateShape>(registry, OpType::kShape);
  RegisterChecked<SupportsConstantOfShape, InferConstantOfShape, CreateConstantOfShape>(registry,
                                                                                        OpType::kConstantOfShape);
  RegisterChecked<SupportsRange, InferRange, CreateRange>(registry, OpType::kRange);
  RegisterChecked<SupportsCast, InferCast, CreateCast>(registry, OpType::kCast);
}

void RegisterTensorOps(OpRegistry& registry) {
  RegisterTensorShapeOps(registry);
  RegisterTensorMoveOps(registry);
  RegisterTensorResizeOps(registry);
}

}  // namespace edgert
