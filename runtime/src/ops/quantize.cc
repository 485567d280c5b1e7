// QuantizeLinear and DequantizeLinear (ONNX opsets 10, 13, 19 and 21), the operators of explicit
// (Q/DQ) quantization and of the builder's simulated INT8 (builder/src/calib/fake_quant.cc).
//
//   QuantizeLinear:   y = saturate(round_half_to_even(x / y_scale) + y_zero_point)
//   DequantizeLinear: y = (x - x_zero_point) * x_scale
//
// Scale granularity (the same rules for both operators):
//   1. per tensor: the scale has one element (a scalar, or opset 13+'s 1-D of length 1);
//   2. per axis (opset 13+): a 1-D scale of length x.shape[axis] (`axis` defaults to 1);
//   3. blocked (opset 21, `block_size` > 0): the scale has x's rank, x's dims except
//      ceil(x.shape[axis] / block_size) on `axis`; element i along `axis` uses block i / block_size.
// The zero point, when given, has the scale's shape; its dtype is the quantized dtype (int8, uint8,
// int16, uint16; DequantizeLinear also reads int32 with a zero point of 0). Without a zero point
// QuantizeLinear writes `output_dtype` (opset 21) or uint8. Scales are float32 or float16; float
// inputs are float32 or float16 (opset 19+), and QuantizeLinear-10 also takes int32 inputs.
// Arithmetic is in float32 as ONNX Runtime does it: x / scale in float32, rounded half to even
// (std::nearbyint in the default rounding mode), then the zero point added and the result clamped
// to the quantized range; NaN quantizes to the zero point. Float8 and 4-bit types are not supported.
#include <cfenv>
#include <cmath>
#include <limits>

#include "op_util.h"
#include "quantize_layout.h"
#include "registry.h"
#include "tensor_util.h"

namespace edgert {
namespace {

using KernelOr = StatusOr<std::unique_ptr<CpuKernel>>;

bool IsQuantType(DataType t) {
  return t == DataType::kInt8 || t == DataType::kUInt8 || t == DataType::kInt16 || t == DataType::kUInt16;
}
bool IsScaleType(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16; }

// ---- QuantizeLinear --------------------------------------------------------------------------

StatusOr<DataType> QuantizeOutputType(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(int64_t attr, AttrInt(ctx, "output_dtype", 0));
  DataType from_attr = DataTypeFromOnnx(static_cast<int32_t>(attr));
  if (ctx.has_input(2)) {
    DataType zp = ctx.input(2).dtype;
    if (attr != 0 && from_attr != zp) {
      return ctx.Error(std::string("attribute 'output_dtype' (") + std::to_string(attr) +
                       ") disagrees with the zero point's dtype " + DataTypeName(zp));
    }
    return zp;
  }
  return attr == 0 ? DataType::kUInt8 : from_attr;
}

Status SupportsQuantize(const OpContext& ctx) {
  DataType x = ctx.input(0).dtype;
  if (!IsScaleType(x) && x != DataType::kInt32) {
    return ctx.NotSupported(std::string("input x of dtype ") + DataTypeName(x) +
                            " is not supported (float32, float16, int32)");
  }
  if (!IsScaleType(ctx.input(1).dtype)) {
    return ctx.NotSupported(std::string("scale of dtype ") + DataTypeName(ctx.input(1).dtype) +
                            " is not supported (float32, float16)");
  }
  EDGERT_ASSIGN_OR_RETURN(int64_t saturate, AttrInt(ctx, "saturate", 1));
  (void)saturate;  // only meaningful for float8 outputs, which are refused below
  EDGERT_ASSIGN_OR_RETURN(DataType out, QuantizeOutputType(ctx));
  if (!IsQuantType(out)) {
    return ctx.NotSupported(std::string("quantized dtype ") + DataTypeName(out) +
                            " is not supported (int8, uint8, int16, uint16; float8 and 4-bit types are not)");
  }
  return Status::Ok();
}

Status InferQuantize(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(DataType out, QuantizeOutputType(ctx));
  EDGERT_RETURN_IF_ERROR(ResolveQuantLayout(ctx, ctx.input(0).shape, ctx.input(1).shape).status());
  EDGERT_RETURN_IF_ERROR(CheckQuantZeroPointShape(ctx));
  ctx.SetOutput(0, out, ctx.input(0).shape);
  return Status::Ok();
}

// Element k of a float32 / float16 / int32 tensor as float.
inline float LoadFloat(const Tensor& t, int64_t k) {
  switch (t.dtype()) {
    case DataType::kFloat16:
      return HalfToFloat(t.data<uint16_t>()[k]);
    case DataType::kInt32:
      return static_cast<float>(t.data<int32_t>()[k]);
    default:
      return t.data<float>()[k];
  }
}

inline int64_t LoadInt(const Tensor* t, int64_t k) { return t == nullptr ? 0 : t->GetAsInt64(k); }

template <typename Q>
void QuantizeLoop(const Tensor& x, const Tensor& scale, const Tensor* zp, const QuantLayout& l, Q* out) {
  const float lo = static_cast<float>(std::numeric_limits<Q>::min());
  const float hi = static_cast<float>(std::numeric_limits<Q>::max());
  int64_t k = 0;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t a = 0; a < l.extent; ++a) {
      for (int64_t i = 0; i < l.inner; ++i, ++k) {
        const int64_t s = l.ScaleIndex(o, a, i);
        const float z = static_cast<float>(LoadInt(zp, s));
        const float v = LoadFloat(x, k) / LoadFloat(scale, s);
        float q = std::isnan(v) ? z : std::nearbyint(v) + z;
        q = q < lo ? lo : q > hi ? hi : q;
        out[k] = static_cast<Q>(q);
      }
    }
  }
}

class QuantizeKernel : public CpuKernel {
 public:
  explicit QuantizeKernel(QuantLayout layout) : layout_(layout) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& scale = *inputs[1];
    const Tensor* zp = inputs.size() > 2 ? inputs[2] : nullptr;
    Tensor& y = *outputs[0];
    switch (y.dtype()) {
      case DataType::kInt8:
        QuantizeLoop(x, scale, zp, layout_, y.data<int8_t>());
        break;
      case DataType::kUInt8:
        QuantizeLoop(x, scale, zp, layout_, y.data<uint8_t>());
        break;
      case DataType::kInt16:
        QuantizeLoop(x, scale, zp, layout_, y.data<int16_t>());
        break;
      case DataType::kUInt16:
        QuantizeLoop(x, scale, zp, layout_, y.data<uint16_t>());
        break;
      default:
        return Internal(std::string("QuantizeLinear: unexpected output dtype ") + DataTypeName(y.dtype()));
    }
    return Status::Ok();
  }

 private:
  QuantLayout layout_;
};

KernelOr CreateQuantize(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(QuantLayout layout, ResolveQuantLayout(ctx, ctx.input(0).shape, ctx.input(1).shape));
  return std::unique_ptr<CpuKernel>(new QuantizeKernel(layout));
}

// ---- DequantizeLinear ------------------------------------------------------------------------

Status SupportsDequantize(const OpContext& ctx) {
  DataType x = ctx.input(0).dtype;
  if (!IsQuantType(x) && x != DataType::kInt32) {
    return ctx.NotSupported(std::string("input x of dtype ") + DataTypeName(x) +
                            " is not supported (int8, uint8, int16, uint16, int32; float8 and 4-bit types are not)");
  }
  if (!IsScaleType(ctx.input(1).dtype)) {
    return ctx.NotSupported(std::string("scale of dtype ") + DataTypeName(ctx.input(1).dtype) +
                            " is not supported (float32, float16)");
  }
  if (ctx.has_input(2) && ctx.input(2).dtype != x) {
    return ctx.Error(std::string("zero point dtype ") + DataTypeName(ctx.input(2).dtype) + " differs from x's " +
                     DataTypeName(x));
  }
  return Status::Ok();
}

Status InferDequantize(OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(ResolveQuantLayout(ctx, ctx.input(0).shape, ctx.input(1).shape).status());
  EDGERT_RETURN_IF_ERROR(CheckQuantZeroPointShape(ctx));
  ctx.SetOutput(0, ctx.input(1).dtype, ctx.input(0).shape);
  return Status::Ok();
}

class DequantizeKernel : public CpuKernel {
 public:
  explicit DequantizeKernel(QuantLayout layout) : layout_(layout) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& scale = *inputs[1];
    const Tensor* zp = inputs.size() > 2 ? inputs[2] : nullptr;
    Tensor& y = *outputs[0];
    const QuantLayout& l = layout_;
    int64_t k = 0;
    for (int64_t o = 0; o < l.outer; ++o) {
      for (int64_t a = 0; a < l.extent; ++a) {
        for (int64_t i = 0; i < l.inner; ++i, ++k) {
          const int64_t s = l.ScaleIndex(o, a, i);
          // x - zp is exact in int64; the product rounds once in float32, as ONNX Runtime's does.
          const float v = static_cast<float>(x.GetAsInt64(k) - LoadInt(zp, s)) * LoadFloat(scale, s);
          if (y.dtype() == DataType::kFloat16) {
            y.data<uint16_t>()[k] = FloatToHalf(v);
          } else {
            y.data<float>()[k] = v;
          }
        }
      }
    }
    return Status::Ok();
  }

 private:
  QuantLayout layout_;
};

KernelOr CreateDequantize(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(QuantLayout layout, ResolveQuantLayout(ctx, ctx.input(0).shape, ctx.input(1).shape));
  return std::unique_ptr<CpuKernel>(new DequantizeKernel(layout));
}

}  // namespace

void RegisterQuantizeOps(OpRegistry& registry) {
  RegisterChecked<SupportsQuantize, InferQuantize, CreateQuantize>(registry, OpType::kQuantizeLinear);
  RegisterChecked<SupportsDequantize, InferDequantize, CreateDequantize>(registry, OpType::kDequantizeLinear);
}

}  // namespace edgert
