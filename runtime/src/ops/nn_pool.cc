// MaxPool (with the optional Indices output), AveragePool, GlobalAveragePool, GlobalMaxPool.
//
// Algorithm: spatial dimensions are widened to three (see Geometry3). For every output position
// and spatial dimension, the window's first input position is o * s - pad_begin; the taps
// k in [0, kernel) read position first + k * d. Taps outside the input are skipped: MaxPool takes
// the maximum of the rest (the first maximum wins, its flat input index is the Indices value),
// AveragePool divides the sum of the rest by their count or, with count_include_pad, by the full
// number of kernel taps. For windows that ceil_mode lets overhang the end padding this follows the
// ONNX reference implementation and backend test data (the overhang counts as padding); ONNX
// Runtime and PyTorch instead clip the divisor at the end of the padding.
#include <algorithm>
#include <limits>

#include "nhwc.h"
#include "nn_common.h"
#include "op_util.h"

namespace edgert {
namespace {

Status CheckPoolInput(const OpContext& ctx) {
  const Shape& x = ctx.input(0).shape;
  if (x.size() < 3 || x.size() > 5) {
    return ctx.NotSupported("input X has shape " + ShapeToString(x) +
                            ", expected N x C x D1 [x D2 [x D3]] (1 to 3 spatial dimensions)");
  }
  return Status::Ok();
}

// The window of a pooling layer over `in_spatial` (either layout): kernel_shape is required, and
// like ONNX Runtime, pads must be smaller than the kernel (a window made only of padding has no
// value).
StatusOr<WindowGeometry> ResolvePoolWindow(const OpContext& ctx, const std::vector<int64_t>& in_spatial) {
  if (!ctx.attrs().Has("kernel_shape")) return ctx.Error("required attribute 'kernel_shape' is missing");
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, AttrInts(ctx, "kernel_shape", {}));
  EDGERT_ASSIGN_OR_RETURN(WindowGeometry g, ResolveWindow(ctx, in_spatial, kernel, true));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> pads, AttrInts(ctx, "pads", {}));
  for (size_t i = 0; i < pads.size(); ++i) {
    if (pads[i] >= kernel[i % kernel.size()]) {
      return ctx.Error("attribute 'pads' " + IntsToString(pads) + " must be smaller than kernel_shape " +
                       IntsToString(kernel));
    }
  }
  return g;
}

StatusOr<WindowGeometry> ResolvePool(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckPoolInput(ctx));
  const Shape& x = ctx.input(0).shape;
  return ResolvePoolWindow(ctx, std::vector<int64_t>(x.begin() + 2, x.end()));
}

Shape PoolOutputShape(const Shape& x, const std::vector<int64_t>& out_spatial) {
  Shape out = {x[0], x[1]};
  out.insert(out.end(), out_spatial.begin(), out_spatial.end());
  return out;
}

// Per spatial dimension and output position o, the taps [lo, hi) whose input position
// o * s - pad_begin + k * d lies inside the input. Computed once per kernel (divisions are slow).
// Also, per tap kw of the innermost dimension, the output positions [ow_lo, ow_hi) for which it
// is inside the input.
struct TapRanges {
  std::vector<int64_t> lo[3], hi[3];
  std::vector<int64_t> ow_lo, ow_hi;
  explicit TapRanges(const Geometry3& g) {
    for (int dim = 0; dim < 3; ++dim) {
      lo[dim].resize(static_cast<size_t>(g.out[dim]));
      hi[dim].resize(static_cast<size_t>(g.out[dim]));
      for (int64_t o = 0; o < g.out[dim]; ++o) {
        ValidRange(g.k[dim], g.d[dim], o * g.s[dim] - g.pb[dim], g.in[dim], &lo[dim][o], &hi[dim][o]);
      }
    }
    ow_lo.resize(static_cast<size_t>(g.k[2]));
    ow_hi.resize(static_cast<size_t>(g.k[2]));
    for (int64_t kw = 0; kw < g.k[2]; ++kw) {
      ValidRange(g.out[2], g.s[2], kw * g.d[2] - g.pb[2], g.in[2], &ow_lo[kw], &ow_hi[kw]);
    }
  }
};

// Row-wise pooling of one plane: for every output row (od, oh) and every valid tap row (kd, kh),
// and every tap kw, fold(y[ow], x[ow * s + kw * d - pad]) over the output positions where the tap
// is inside the input. The innermost loop runs over a contiguous output row. `y` must be
// initialised by the caller.
template <typename T, typename Fold>
void PoolPlaneRows(const Geometry3& g, const TapRanges& t, const T* x, T* y, Fold fold) {
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      T* yrow = y + (od * g.out[1] + oh) * g.out[2];
      for (int64_t kd = t.lo[0][od]; kd < t.hi[0][od]; ++kd) {
        const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
        for (int64_t kh = t.lo[1][oh]; kh < t.hi[1][oh]; ++kh) {
          const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
          const T* xrow = x + (id * g.in[1] + ih) * g.in[2];
          for (int64_t kw = 0; kw < g.k[2]; ++kw) {
            const int64_t off = kw * g.d[2] - g.pb[2];
            const int64_t lo = t.ow_lo[kw], hi = t.ow_hi[kw];
            if (g.s[2] == 1) {
              for (int64_t ow = lo; ow < hi; ++ow) fold(yrow[ow], xrow[ow + off]);
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) fold(yrow[ow], xrow[ow * g.s[2] + off]);
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// MaxPool

Status MaxPoolSupports(const OpContext& ctx) {
  DataType dt = ctx.input(0).dtype;
  if (dt != DataType::kFloat32 && dt != DataType::kUInt8 && dt != DataType::kInt8) {
    return ctx.NotSupported(std::string(DataTypeName(dt)) +
                            " inputs are not supported (input 'X' must be float32, uint8 or int8)");
  }
  EDGERT_ASSIGN_OR_RETURN(int64_t order, AttrInt(ctx, "storage_order", 0));
  if (order != 0 && order != 1) {
    return ctx.Error("attribute 'storage_order' is " + std::to_string(order) + ", expected 0 or 1");
  }
  if (!ctx.attrs().Has("kernel_shape")) return ctx.Error("required attribute 'kernel_shape' is missing");
  EDGERT_RETURN_IF_ERROR(ParseAutoPad(ctx).status());
  return Status::Ok();
}

Status MaxPoolInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(WindowGeometry g, ResolvePool(ctx));
  Shape out = PoolOutputShape(ctx.input(0).shape, g.out);
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  if (ctx.num_outputs() > 1) ctx.SetOutput(1, DataType::kInt64, out);
  return Status::Ok();
}

template <typename T>
class MaxPoolKernel : public CpuKernel {
 public:
  MaxPoolKernel(int64_t planes, Geometry3 g, bool column_major)
      : planes_(planes), g_(g), column_major_(column_major), taps_(g) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const T* x = inputs[0]->data<T>();
    T* y = outputs[0]->data<T>();
    int64_t* indices = outputs.size() > 1 && outputs[1] != nullptr ? outputs[1]->data<int64_t>() : nullptr;
    const Geometry3& g = g_;
    const int64_t in_size = g.in_size();
    if (indices == nullptr) {
      const int64_t out_size = g.out_size();
      std::fill(y, y + planes_ * out_size, std::numeric_limits<T>::lowest());
      for (int64_t p = 0; p < planes_; ++p) {
        PoolPlaneRows(g, taps_, x + p * in_size, y + p * out_size, [](T& acc, T v) { acc = v > acc ? v : acc; });
      }
      return Status::Ok();
    }
    for (int64_t p = 0; p < planes_; ++p) {
      const T* xp = x + p * in_size;
      for (int64_t od = 0; od < g.out[0]; ++od) {
        const int64_t sd = od * g.s[0] - g.pb[0];
        const int64_t d_lo = taps_.lo[0][od], d_hi = taps_.hi[0][od];
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          const int64_t sh = oh * g.s[1] - g.pb[1];
          const int64_t h_lo = taps_.lo[1][oh], h_hi = taps_.hi[1][oh];
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            const int64_t sw = ow * g.s[2] - g.pb[2];
            const int64_t w_lo = taps_.lo[2][ow], w_hi = taps_.hi[2][ow];
            T best = std::numeric_limits<T>::lowest();
            int64_t best_at = -1;  // row-major offset inside the plane
            for (int64_t kd = d_lo; kd < d_hi; ++kd) {
              const int64_t id = sd + kd * g.d[0];
              for (int64_t kh = h_lo; kh < h_hi; ++kh) {
                const int64_t row = (id * g.in[1] + sh + kh * g.d[1]) * g.in[2];
                for (int64_t kw = w_lo; kw < w_hi; ++kw) {
                  const int64_t at = row + sw + kw * g.d[2];
                  if (xp[at] > best || best_at < 0) {
                    best = xp[at];
                    best_at = at;
                  }
                }
              }
            }
            const int64_t o = (p * g.out[0] + od) * g.out[1] * g.out[2] + oh * g.out[2] + ow;
            y[o] = best;
            if (indices) indices[o] = best_at < 0 ? -1 : p * in_size + Index(best_at);
          }
        }
      }
    }
    return Status::Ok();
  }

 private:
  // The Indices value of row-major plane offset `at`: itself, or its column-major offset.
  int64_t Index(int64_t at) const {
    if (!column_major_) return at;
    const Geometry3& g = g_;
    const int64_t iw = at % g.in[2];
    const int64_t ih = (at / g.in[2]) % g.in[1];
    const int64_t id = at / (g.in[2] * g.in[1]);
    return (iw * g.in[1] + ih) * g.in[0] + id;
  }

  int64_t planes_;
  Geometry3 g_;
  bool column_major_;
  TapRanges taps_;
};

StatusOr<std::unique_ptr<CpuKernel>> MaxPoolCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, MaxPoolInfer));
  EDGERT_ASSIGN_OR_RETURN(WindowGeometry wg, ResolvePool(ctx));
  EDGERT_ASSIGN_OR_RETURN(int64_t order, AttrInt(ctx, "storage_order", 0));
  const Shape& x = ctx.input(0).shape;
  Geometry3 g = Widen(wg.in, wg.out, wg.kernel, wg.strides, wg.dilations, wg.pad_begin);
  const int64_t planes = x[0] * x[1];
  switch (ctx.input(0).dtype) {
    case DataType::kUInt8:
      return std::unique_ptr<CpuKernel>(new MaxPoolKernel<uint8_t>(planes, g, order == 1));
    case DataType::kInt8:
      return std::unique_ptr<CpuKernel>(new MaxPoolKernel<int8_t>(planes, g, order == 1));
    default:
      return std::unique_ptr<CpuKernel>(new MaxPoolKernel<float>(planes, g, order == 1));
  }
}

// ---------------------------------------------------------------------------------------------
// EdgertMaxPoolNhwc (contract in nhwc.h): per output pixel, the valid taps' channel rows are
// folded into the output row (innermost loop over contiguous channels).

Status MaxPoolNhwcSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 0, "X"));
  if (ctx.num_outputs() > 1) return ctx.NotSupported("has no Indices output");
  EDGERT_ASSIGN_OR_RETURN(int64_t order, AttrInt(ctx, "storage_order", 0));
  if (order != 0) return ctx.Error("attribute 'storage_order' is " + std::to_string(order) + ", expected 0");
  if (!ctx.attrs().Has("kernel_shape")) return ctx.Error("required attribute 'kernel_shape' is missing");
  return ParseAutoPad(ctx).status();
}

Status MaxPoolNhwcInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(WindowGeometry g, ResolveMaxPoolNhwc(ctx));
  const Shape& x = ctx.input(0).shape;
  ctx.SetOutput(0, ctx.input(0).dtype, {x[0], g.out[0], g.out[1], x[3]});
  return Status::Ok();
}

class MaxPoolNhwcKernel : public CpuKernel {
 public:
  MaxPoolNhwcKernel(int64_t n, int64_t c, Geometry3 g) : n_(n), c_(c), g_(g), taps_(g) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* x = inputs[0]->data<float>();
    float* y = outputs[0]->data<float>();
    const Geometry3& g = g_;  // widened: spatial dimensions 1 and 2 are H and W
    for (int64_t img = 0; img < n_; ++img) {
      const float* xi = x + img * g.in[1] * g.in[2] * c_;
      for (int64_t oh = 0; oh < g.out[1]; ++oh) {
        for (int64_t ow = 0; ow < g.out[2]; ++ow) {
          float* yrow = y + ((img * g.out[1] + oh) * g.out[2] + ow) * c_;
          std::fill(yrow, yrow + c_, std::numeric_limits<float>::lowest());
          for (int64_t kh = taps_.lo[1][oh]; kh < taps_.hi[1][oh]; ++kh) {
            const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
            for (int64_t kw = taps_.lo[2][ow]; kw < taps_.hi[2][ow]; ++kw) {
              const int64_t iw = ow * g.s[2] - g.pb[2] + kw * g.d[2];
              const float* xrow = xi + (ih * g.in[2] + iw) * c_;
              for (int64_t ch = 0; ch < c_; ++ch) yrow[ch] = xrow[ch] > yrow[ch] ? xrow[ch] : yrow[ch];
            }
          }
        }
      }
    }
    return Status::Ok();
  }

 private:
  int64_t n_, c_;
  Geometry3 g_;
  TapRanges taps_;
};

StatusOr<std::unique_ptr<CpuKernel>> MaxPoolNhwcCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, MaxPoolNhwcInfer));
  EDGERT_ASSIGN_OR_RETURN(WindowGeometry wg, ResolveMaxPoolNhwc(ctx));
  const Shape& x = ctx.input(0).shape;
  const Geometry3 g = Widen(wg.in, wg.out, wg.kernel, wg.strides, wg.dilations, wg.pad_begin);
  return std::unique_ptr<CpuKernel>(new MaxPoolNhwcKernel(x[0], x[3], g));
}

// ---------------------------------------------------------------------------------------------
// AveragePool

Status AveragePoolSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 0, "X"));
  if (!ctx.attrs().Has("kernel_shape")) return ctx.Error("required attribute 'kernel_shape' is missing");
  EDGERT_RETURN_IF_ERROR(ParseAutoPad(ctx).status());
  EDGERT_ASSIGN_OR_RETURN(int64_t cip, AttrInt(ctx, "count_include_pad", 0));
  if (cip != 0 && cip != 1) {
    return ctx.Error("attribute 'count_include_pad' is " + std::to_string(cip) + ", expected 0 or 1");
  }
  return Status::Ok();
}

Status AveragePoolInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(WindowGeometry g, ResolvePool(ctx));
  ctx.SetOutput(0, DataType::kFloat32, PoolOutputShape(ctx.input(0).shape, g.out));
  return Status::Ok();
}

class AveragePoolKernel : public CpuKernel {
 public:
  AveragePoolKernel(int64_t planes, Geometry3 g, bool count_include_pad)
      : planes_(planes), g_(g), count_include_pad_(count_include_pad), taps_(g) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* x = inputs[0]->data<float>();
    float* y = outputs[0]->data<float>();
    const Geometry3& g = g_;
    const TapRanges& t = taps_;
    const int64_t in_size = g.in_size();
    const int64_t out_size = g.out_size();
    std::fill(y, y + planes_ * out_size, 0.0f);
    for (int64_t p = 0; p < planes_; ++p) {
      float* yp = y + p * out_size;
      PoolPlaneRows(g, t, x + p * in_size, yp, [](float& acc, float v) { acc += v; });
      for (int64_t od = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          float* yrow = yp + (od * g.out[1] + oh) * g.out[2];
          const int64_t rows = (t.hi[0][od] - t.lo[0][od]) * (t.hi[1][oh] - t.lo[1][oh]);
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            const int64_t count = count_include_pad_ ? g.k_size() : rows * (t.hi[2][ow] - t.lo[2][ow]);
            yrow[ow] = count > 0 ? yrow[ow] / static_cast<float>(count) : 0.0f;
          }
        }
      }
    }
    return Status::Ok();
  }

 private:
  int64_t planes_;
  Geometry3 g_;
  bool count_include_pad_;
  TapRanges taps_;
};

StatusOr<std::unique_ptr<CpuKernel>> AveragePoolCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, AveragePoolInfer));
  EDGERT_ASSIGN_OR_RETURN(WindowGeometry wg, ResolvePool(ctx));
  EDGERT_ASSIGN_OR_RETURN(int64_t cip, AttrInt(ctx, "count_include_pad", 0));
  const Shape& x = ctx.input(0).shape;
  Geometry3 g = Widen(wg.in, wg.out, wg.kernel, wg.strides, wg.dilations, wg.pad_begin);
  return std::unique_ptr<CpuKernel>(new AveragePoolKernel(x[0] * x[1], g, cip == 1));
}

// ---------------------------------------------------------------------------------------------
// GlobalAveragePool, GlobalMaxPool

Status GlobalPoolSupports(const OpContext& ctx) { return RequireFloat32Input(ctx, 0, "X"); }

Status GlobalPoolInfer(OpContext& ctx) {
  const Shape& x = ctx.input(0).shape;
  if (x.size() < 3) {
    return ctx.Error("input X has shape " + ShapeToString(x) + ", expected N x C x D1 x ... (rank >= 3)");
  }
  Shape out(x.size(), 1);
  out[0] = x[0];
  out[1] = x[1];
  ctx.SetOutput(0, DataType::kFloat32, out);
  return Status::Ok();
}

class GlobalPoolKernel : public CpuKernel {
 public:
  GlobalPoolKernel(int64_t planes, int64_t size, bool is_max) : planes_(planes), size_(size), is_max_(is_max) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* x = inputs[0]->data<float>();
    float* y = outputs[0]->data<float>();
    for (int64_t p = 0; p < planes_; ++p) {
      const float* xp = x + p * size_;
      if (is_max_) {
        float best = size_ > 0 ? xp[0] : 0.0f;
        for (int64_t i = 1; i < size_; ++i) best = xp[i] > best ? xp[i] : best;
        y[p] = best;
      } else {
        double sum = 0.0;
        for (int64_t i = 0; i < size_; ++i) sum += xp[i];
        y[p] = size_ > 0 ? static_cast<float>(sum / static_cast<double>(size_)) : 0.0f;
      }
    }
    return Status::Ok();
  }

 private:
  int64_t planes_, size_;
  bool is_max_;
};

StatusOr<std::unique_ptr<CpuKernel>> GlobalPoolCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, GlobalPoolInfer));
  const Shape& x = ctx.input(0).shape;
  int64_t size = 1;
  for (size_t i = 2; i < x.size(); ++i) size *= x[i];
  return std::unique_ptr<CpuKernel>(new GlobalPoolKernel(x[0] * x[1], size, ctx.op() == OpType::kGlobalMaxPool));
}

}  // namespace

StatusOr<WindowGeometry> ResolveMaxPoolNhwc(const OpContext& ctx) {
  if (ctx.num_inputs() != 1 || !ctx.has_input(0)) return ctx.Error("needs one input X");
  const Shape& x = ctx.input(0).shape;
  if (x.size() != 4) {
    return ctx.NotSupported("input X has shape " + ShapeToString(x) + ", expected N x H x W x C (2-D, channels last)");
  }
  return ResolvePoolWindow(ctx, {x[1], x[2]});
}

void RegisterNnPoolOps(OpRegistry& registry) {
  registry.Register(OpType::kMaxPoolNhwc, OpDef{MaxPoolNhwcSupports, MaxPoolNhwcInfer, MaxPoolNhwcCreate});
  registry.Register(OpType::kMaxPool, OpDef{MaxPoolSupports, MaxPoolInfer, MaxPoolCreate});
  registry.Register(OpType::kAveragePool, OpDef{AveragePoolSupports, AveragePoolInfer, AveragePoolCreate});
  registry.Register(OpType::kGlobalAveragePool, OpDef{GlobalPoolSupports, GlobalPoolInfer, GlobalPoolCreate});
  registry.Register(OpType::kGlobalMaxPool, OpDef{GlobalPoolSupports, GlobalPoolInfer, GlobalPoolCreate});
}

}  // namespace edgert
