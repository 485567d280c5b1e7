// EdgertInt8Conv and EdgertQuantizeNhwc on the reference CPU backend (contracts in int8_conv.h).
//
// Algorithm: for each output pixel (n, p, q) the receptive field is gathered once into an int16
// patch [R*S*C] (zeros outside the input); each output channel is a dot product of the patch with
// its KRSC weight row (int16 operands, int32 products and sum: what compilers vectorise as
// multiply-add of 16-bit pairs), exact in int32 (|acc| <= 128 * 128 * R*S*C). The float epilogue then
// runs over the pixel's K values in the contract's order.
#include "int8_conv.h"

#include <algorithm>
#include <string>
#include <vector>

#include "op_util.h"
#include "registry.h"

namespace edgert {

namespace {

Status PositiveScale(const OpContext& ctx, const char* name, float* out) {
  EDGERT_ASSIGN_OR_RETURN(*out, ctx.attrs().GetFloat(name, ctx.name()));
  if (!(*out > 0.0f) || !std::isfinite(*out)) {
    return ctx.Error(std::string("attribute '") + name + "' must be a positive finite scale, not " +
                     std::to_string(*out));
  }
  return Status::Ok();
}

Status Int8ConvSupports(const OpContext& ctx) {
  if (ctx.num_inputs() < 4 || !ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(3)) {
    return ctx.Error("needs inputs X, W, (B), W_scale and optionally Z");
  }
  if (ctx.input(0).dtype != DataType::kInt8) return ctx.NotSupported("input X must be int8");
  if (ctx.input(1).dtype != DataType::kInt8) return ctx.NotSupported("input W must be int8");
  if (ctx.has_input(2) && ctx.input(2).dtype != DataType::kFloat32) return ctx.NotSupported("input B must be float32");
  if (ctx.input(3).dtype != DataType::kFloat32) return ctx.NotSupported("input W_scale must be float32");
  if (ctx.has_input(4) && ctx.input(4).dtype != DataType::kInt8) return ctx.NotSupported("input Z must be int8");
  EDGERT_ASSIGN_OR_RETURN(FusedEpilogue epilogue, ParseFusedEpilogue(ctx));
  if (epilogue.residual_after_activation) {  // the builder keeps such layers float
    return ctx.NotSupported(std::string("attribute '") + kResidualAfterActivationAttr +
                            "': the INT8 convolution adds Z before the activation only");
  }
  return Status::Ok();
}

Status Int8ConvInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(Int8ConvParams p, ResolveInt8Conv(ctx));
  ctx.SetOutput(0, p.int8_output ? DataType::kInt8 : DataType::kFloat32, Int8ConvOutputShape(p));
  return Status::Ok();
}

class Int8ConvKernel final : public CpuKernel {
 public:
  Int8ConvKernel(const Int8ConvParams& p, const Tensor& w, const Tensor* bias, const Tensor& w_scale) : p_(p) {
    const int64_t k = p.k;
    const int64_t taps = p.r * p.s * p.c;
    weights_.resize(static_cast<size_t>(k * taps));
    const int8_t* wd = w.data<int8_t>();
    for (size_t i = 0; i < weights_.size(); ++i) weights_[i] = static_cast<int16_t>(wd[i]);
    multiplier_.resize(static_cast<size_t>(k));
    bias_.assign(static_cast<size_t>(k), 0.0f);
    for (int64_t j = 0; j < k; ++j) {
      multiplier_[static_cast<size_t>(j)] = p.x_scale * w_scale.data<float>()[j];
      if (bias != nullptr) bias_[static_cast<size_t>(j)] = bias->data<float>()[j];
    }
  }

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const Int8ConvParams& p = p_;
    const int8_t* x = inputs[0]->data<int8_t>();
    const int8_t* z = (inputs.size() > 4 && inputs[4] != nullptr) ? inputs[4]->data<int8_t>() : nullptr;
    const int64_t taps = p.r * p.s * p.c;
    std::vector<int16_t> patch(static_cast<size_t>(taps));
    std::vector<float> v(static_cast<size_t>(p.k)), t(static_cast<size_t>(p.k));
    for (int64_t n = 0; n < p.n; ++n) {
      for (int64_t op = 0; op < p.p; ++op) {
        for (int64_t oq = 0; oq < p.q; ++oq) {
          // Gather the receptive field (RSC order, as the weights).
          int16_t* dst = patch.data();
          for (int64_t r = 0; r < p.r; ++r) {
            const int64_t ih = op * p.stride_h - p.pad_top + r * p.dil_h;
            for (int64_t s = 0; s < p.s; ++s, dst += p.c) {
              const int64_t iw = oq * p.stride_w - p.pad_left + s * p.dil_w;
              if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) {
                std::fill(dst, dst + p.c, int16_t{0});
                continue;
              }
              const int8_t* src = x + ((n * p.h + ih) * p.w + iw) * p.c;
              for (int64_t c = 0; c < p.c; ++c) dst[c] = src[c];
            }
          }
          const int64_t pixel = (n * p.p + op) * p.q + oq;
          for (int64_t k = 0; k < p.k; ++k) {
            const int16_t* wr = weights_.data() + k * taps;
            const int16_t* pa = patch.data();
            int32_t acc = 0;
            for (int64_t i = 0; i < taps; ++i) acc += static_cast<int32_t>(pa[i]) * static_cast<int32_t>(wr[i]);
            const float scaled = static_cast<float>(acc) * multiplier_[static_cast<size_t>(k)];
            v[static_cast<size_t>(k)] = scaled + bias_[static_cast<size_t>(k)];
            if (z != nullptr) t[static_cast<size_t>(k)] = p.z_scale * static_cast<float>(z[pixel * p.k + k]);
          }
          p.epilogue.Apply(v.data(), z != nullptr ? t.data() : nullptr, p.k);
          if (p.int8_output) {
            int8_t* y = outputs[0]->data<int8_t>() + pixel * p.k;
            for (int64_t k = 0; k < p.k; ++k) y[k] = QuantizeToInt8(v[static_cast<size_t>(k)], p.y_scale);
          } else {
            float* y = outputs[0]->data<float>();
            const int64_t plane = p.p * p.q;
            for (int64_t k = 0; k < p.k; ++k) {
              y[(n * p.k + k) * plane + op * p.q + oq] = v[static_cast<size_t>(k)];
            }
          }
        }
      }
    }
    return Status::Ok();
  }

 private:
  Int8ConvParams p_;
  std::vector<int16_t> weights_;
  std::vector<float> multiplier_;
  std::vector<float> bias_;
};

StatusOr<std::unique_ptr<CpuKernel>> Int8ConvCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(Int8ConvSupports(ctx));
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, &Int8ConvInfer));
  EDGERT_ASSIGN_OR_RETURN(Int8ConvParams p, ResolveInt8Conv(ctx));
  return std::unique_ptr<CpuKernel>(
      new Int8ConvKernel(p, *ctx.input(1).value, ctx.has_input(2) ? ctx.input(2).value : nullptr, *ctx.input(3).value));
}

}  // namespace

StatusOr<Int8ConvParams> ResolveInt8Conv(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(Int8ConvSupports(ctx));
  Int8ConvParams p;
  const Shape& xs = ctx.input(0).shape;
  const Shape& ws = ctx.input(1).shape;
  if (xs.size() != 4) return ctx.Error("input X must be 4-D NHWC, got rank " + std::to_string(xs.size()));
  if (ws.size() != 4) return ctx.Error("input W must be 4-D KRSC, got rank " + std::to_string(ws.size()));
  for (size_t i : {size_t{1}, size_t{2}, size_t{3}}) {
    if (ctx.has_input(i) && ctx.input(i).value == nullptr) {
      return ctx.NotSupported(std::string("input ") +
                              (i == 1   ? "W"
                               : i == 2 ? "B"
                                        : "W_scale") +
                              " must be a constant");
    }
  }
  p.n = xs[0];
  p.h = xs[1];
  p.w = xs[2];
  p.c = xs[3];
  p.k = ws[0];
  p.r = ws[1];
  p.s = ws[2];
  if (ws[3] != p.c) {
    return ctx.Error("W has " + std::to_string(ws[3]) + " input channels, X has " + std::to_string(p.c));
  }
  if (p.c % 16 != 0) {
    return ctx.NotSupported("input channels must be a multiple of 16, got " + std::to_string(p.c));
  }
  if (p.k <= 0 || p.r <= 0 || p.s <= 0) return ctx.Error("W has an empty dimension");
  for (size_t i : {size_t{2}, size_t{3}}) {
    if (ctx.has_input(i) && ctx.input(i).shape != Shape{p.k}) {
      return ctx.Error(std::string("input ") + (i == 2 ? "B" : "W_scale") + " must have shape [" + std::to_string(p.k) +
                       "]");
    }
  }
  const float* ws_data = ctx.input(3).value->data<float>();
  for (int64_t j = 0; j < p.k; ++j) {
    if (!(ws_data[j] > 0.0f) || !std::isfinite(ws_data[j])) {
      return ctx.Error("W_scale[" + std::to_string(j) + "] must be a positive finite scale");
    }
  }
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> strides, ctx.attrs().GetIntsOr("strides", {1, 1}, ctx.name()));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ctx.attrs().GetIntsOr("pads", {0, 0, 0, 0}, ctx.name()));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> dil, ctx.attrs().GetIntsOr("dilations", {1, 1}, ctx.name()));
  if (strides.size() != 2 || strides[0] < 1 || strides[1] < 1)
    return ctx.Error("attribute 'strides' must be 2 positive values");
  if (dil.size() != 2 || dil[0] < 1 || dil[1] < 1) return ctx.Error("attribute 'dilations' must be 2 positive values");
  if (pads.size() != 4 || *std::min_element(pads.begin(), pads.end()) < 0) {
    return ctx.Error("attribute 'pads' must be 4 non-negative values [top, left, bottom, right]");
  }
  p.stride_h = strides[0];
  p.stride_w = strides[1];
  p.dil_h = dil[0];
  p.dil_w = dil[1];
  p.pad_top = pads[0];
  p.pad_left = pads[1];
  p.pad_bottom = pads[2];
  p.pad_right = pads[3];
  const int64_t eff_r = (p.r - 1) * p.dil_h + 1, eff_s = (p.s - 1) * p.dil_w + 1;
  const int64_t hp = p.h + p.pad_top + p.pad_bottom, wp = p.w + p.pad_left + p.pad_right;
  if (hp < eff_r || wp < eff_s) return ctx.Error("the kernel is larger than the padded input");
  p.p = (hp - eff_r) / p.stride_h + 1;
  p.q = (wp - eff_s) / p.stride_w + 1;
  EDGERT_RETURN_IF_ERROR(PositiveScale(ctx, "x_scale", &p.x_scale));
  p.has_bias = ctx.has_input(2);
  p.has_residual = ctx.has_input(4);
  if (p.has_residual) {
    EDGERT_RETURN_IF_ERROR(PositiveScale(ctx, "z_scale", &p.z_scale));
    const Shape want{p.n, p.p, p.q, p.k};
    if (ctx.input(4).shape != want) return ctx.Error("input Z must have the output's NHWC shape");
  } else if (ctx.attrs().Has("z_scale")) {
    return ctx.Error("attribute 'z_scale' is given without input Z");
  }
  p.int8_output = ctx.attrs().Has("y_scale");
  if (p.int8_output) EDGERT_RETURN_IF_ERROR(PositiveScale(ctx, "y_scale", &p.y_scale));
  EDGERT_ASSIGN_OR_RETURN(p.epilogue, ParseFusedEpilogue(ctx));  // Int8ConvSupports refused residual-after
  return p;
}

Shape Int8ConvOutputShape(const Int8ConvParams& p) {
  return p.int8_output ? Shape{p.n, p.p, p.q, p.k} : Shape{p.n, p.k, p.p, p.q};
}

StatusOr<float> ResolveQuantizeNhwc(const OpContext& ctx) {
  if (ctx.num_inputs() != 1 || !ctx.has_input(0)) return ctx.Error("needs one input");
  if (ctx.input(0).dtype != DataType::kFloat32) return ctx.NotSupported("input X must be float32");
  if (!ctx.input(0).shape.empty() && ctx.input(0).shape.size() != 4) {
    return ctx.Error("input X must be 4-D NCHW, got rank " + std::to_string(ctx.input(0).shape.size()));
  }
  float scale = 0;
  EDGERT_RETURN_IF_ERROR(PositiveScale(ctx, "scale", &scale));
  return scale;
}

namespace {

Status QuantizeNhwcSupports(const OpContext& ctx) { return ResolveQuantizeNhwc(ctx).status(); }

Status QuantizeNhwcInfer(OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(ResolveQuantizeNhwc(ctx).status());
  const Shape& x = ctx.input(0).shape;
  if (x.size() != 4) return ctx.Error("input X must be 4-D NCHW");
  ctx.SetOutput(0, DataType::kInt8, {x[0], x[2], x[3], x[1]});
  return Status::Ok();
}

class QuantizeNhwcKernel final : public CpuKernel {
 public:
  explicit QuantizeNhwcKernel(float scale) : scale_(scale) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const Tensor& x = *inputs[0];
    const int64_t n = x.dim(0), c = x.dim(1), plane = x.dim(2) * x.dim(3);
    const float* src = x.data<float>();
    int8_t* dst = outputs[0]->data<int8_t>();
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* row = src + (i * c + ch) * plane;
        int8_t* out = dst + i * plane * c + ch;
        for (int64_t k = 0; k < plane; ++k) out[k * c] = QuantizeToInt8(row[k], scale_);
      }
    }
    return Status::Ok();
  }

 private:
  float scale_;
};

StatusOr<std::unique_ptr<CpuKernel>> QuantizeNhwcCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, &QuantizeNhwcInfer));
  EDGERT_ASSIGN_OR_RETURN(float scale, ResolveQuantizeNhwc(ctx));
  return std::unique_ptr<CpuKernel>(new QuantizeNhwcKernel(scale));
}

}  // namespace

void RegisterInt8ConvOp(OpRegistry& registry) {
  registry.Register(OpType::kInt8Conv, OpDef{&Int8ConvSupports, &Int8ConvInfer, &Int8ConvCreate});
  registry.Register(OpType::kQuantizeNhwc, OpDef{&QuantizeNhwcSupports, &QuantizeNhwcInfer, &QuantizeNhwcCreate});
}

}  // namespace edgert
