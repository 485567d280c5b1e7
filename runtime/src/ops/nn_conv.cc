// Conv and ConvTranspose (float32, 1 to 3 spatial dimensions, groups, dilations, pads, auto_pad).
//
// Algorithms (spatial dimensions are left-padded with 1s to three, so one code path serves 1-D,
// 2-D and 3-D):
//   Conv, general:   per image and group, im2col builds col[(C/g) * K][out] (K = kernel taps), then
//                    Y_g[M/g][out] = W_g[M/g][(C/g) * K] * col, on top of the bias.
//   Conv, 1x1 with unit strides and no padding: the input already is col; no im2col.
//   Conv, depthwise (one input and one output channel per group): direct loops, one kernel tap at
//                    a time, the innermost loop over a contiguous output row.
//   ConvTranspose:   per image and group, col[(M/g) * K][in] = W_g^T * X_g, then col2im scatters
//                    col into Y (initialised with the bias): y[i * s - pad + k * d] += col.
//                    Output extent: full = s * (in - 1) + output_padding + (k - 1) * d + 1 less the
//                    pads; with output_shape or SAME_*, the spec's total padding
//                    full - output_shape (output_shape defaults to in * s for SAME_*) is split with
//                    the odd element at the end for SAME_UPPER and at the start otherwise, and, as
//                    ONNX Runtime does, a negative total counts as 0 (output_shape then extends the
//                    output with bias-only elements at the end; SAME_* without output_shape yields
//                    min(full, in * s)).
#include <algorithm>
#include <cstring>

#include "fused_activation.h"
#include "nhwc.h"
#include "nn_common.h"
#include "op_util.h"

namespace edgert {
namespace {

// The column buffer holds rows x cols floats; refuse sizes a Tensor could not hold either.
Status CheckScratch(const OpContext& ctx, int64_t rows, int64_t cols) {
  const double bytes = static_cast<double>(rows) * static_cast<double>(cols) * sizeof(float);
  if (bytes > static_cast<double>(Tensor::kMaxBytes)) {
    return OutOfRange(std::string(OpTypeName(ctx.op())) + " node '" + ctx.name() + "': the column buffer would need " +
                          std::to_string(static_cast<int64_t>(bytes / (1 << 20))) + " MiB",
                      ctx.name());
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Conv

// Conv and ConvTranspose: X is N x C x D1 [x D2 [x D3]] and W has the same rank.
Status CheckConvRanks(const OpContext& ctx, const Shape& x, const Shape& w) {
  if (x.size() < 3 || x.size() > 5) {
    return ctx.NotSupported("input X has shape " + ShapeToString(x) +
                            ", expected N x C x D1 [x D2 [x D3]] (1 to 3 spatial dimensions)");
  }
  if (w.size() != x.size()) {
    return ctx.Error("weight W has shape " + ShapeToString(w) + ", expected rank " + std::to_string(x.size()) +
                     " like input X " + ShapeToString(x));
  }
  return Status::Ok();
}

struct ConvShape {
  int64_t n = 0, c = 0, m = 0, group = 1;
  WindowGeometry window;
};

// The checks Conv and EdgertConvNhwc share, whatever the layout: X has `c` channels, W (shape `w`)
// has `m` output channels, `w_channels` input channels per group and the taps `kernel`; the group
// attribute, kernel_shape and bias B must agree. Returns the group.
StatusOr<int64_t> CheckConvWeights(const OpContext& ctx, int64_t c, int64_t m, int64_t w_channels, const Shape& w,
                                   const std::vector<int64_t>& kernel) {
  EDGERT_ASSIGN_OR_RETURN(int64_t group, AttrInt(ctx, "group", 1));
  if (group < 1) return ctx.Error("attribute 'group' is " + std::to_string(group) + ", expected >= 1");
  if (w_channels * group != c) {
    return ctx.Error("input X has " + std::to_string(c) + " channels but weight W " + ShapeToString(w) +
                     " with group " + std::to_string(group) + " expects " + std::to_string(w_channels * group));
  }
  if (m % group != 0) {
    return ctx.Error("weight W has " + std::to_string(m) + " output channels, not divisible by group " +
                     std::to_string(group));
  }
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> kattr, AttrInts(ctx, "kernel_shape", kernel));
  if (kattr != kernel) {
    return ctx.Error("attribute 'kernel_shape' " + IntsToString(kattr) + " does not match weight W " +
                     ShapeToString(w));
  }
  if (ctx.has_input(2)) {
    const Shape& b = ctx.input(2).shape;
    if (b.size() != 1 || b[0] != m) {
      return ctx.Error("bias B has shape " + ShapeToString(b) + ", expected " + std::to_string(m));
    }
  }
  return group;
}

StatusOr<ConvShape> ResolveConv(const OpContext& ctx) {
  const Shape& x = ctx.input(0).shape;
  const Shape& w = ctx.input(1).shape;
  EDGERT_RETURN_IF_ERROR(CheckConvRanks(ctx, x, w));
  ConvShape cs;
  cs.n = x[0];
  cs.c = x[1];
  cs.m = w[0];
  const std::vector<int64_t> kernel(w.begin() + 2, w.end());
  EDGERT_ASSIGN_OR_RETURN(cs.group, CheckConvWeights(ctx, cs.c, cs.m, w[1], w, kernel));
  std::vector<int64_t> in_spatial(x.begin() + 2, x.end());
  EDGERT_ASSIGN_OR_RETURN(cs.window, ResolveWindow(ctx, in_spatial, kernel, false));
  return cs;
}

Status ConvSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 0, "X"));
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 1, "W"));
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 2, "B"));
  EDGERT_ASSIGN_OR_RETURN(int64_t group, AttrInt(ctx, "group", 1));
  if (group < 1) return ctx.Error("attribute 'group' is " + std::to_string(group) + ", expected >= 1");
  EDGERT_RETURN_IF_ERROR(ParseAutoPad(ctx).status());
  // The fused epilogue (edgert/fused_activation.h) exists for Conv and EdgertConvNhwc only.
  if (ctx.op() != OpType::kConvTranspose) {
    EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 3, "residual"));
    EDGERT_RETURN_IF_ERROR(ParseFusedEpilogue(ctx).status());
  } else if (ctx.attrs().Has(kActivationAttr) || ctx.attrs().Has(kResidualAfterActivationAttr)) {
    return ctx.NotSupported("a fused activation is only supported on Conv");
  }
  return Status::Ok();
}

Status ConvInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(ConvShape cs, ResolveConv(ctx));
  Shape out = {cs.n, cs.m};
  out.insert(out.end(), cs.window.out.begin(), cs.window.out.end());
  if (ctx.has_input(3) && ctx.input(3).shape != out) {
    return ctx.Error("residual input has shape " + ShapeToString(ctx.input(3).shape) + ", expected the output shape " +
                     ShapeToString(out));
  }
  ctx.SetOutput(0, DataType::kFloat32, out);
  return Status::Ok();
}

class ConvKernel : public CpuKernel {
 public:
  static constexpr int64_t kEpilogueCols = 256;  // a multiple of the GEMM's column strip

  ConvKernel(const ConvShape& cs, Geometry3 g, FusedEpilogue epilogue)
      : n_(cs.n), c_(cs.c), m_(cs.m), group_(cs.group), g_(g), epilogue_(epilogue) {
    cg_ = c_ / group_;
    mg_ = m_ / group_;
    kdim_ = cg_ * g_.k_size();
    depthwise_ = cg_ == 1 && mg_ == 1;
    pointwise_ = g_.k_size() == 1;
    for (int i = 0; i < 3; ++i) {
      pointwise_ = pointwise_ && g_.s[i] == 1 && g_.pb[i] == 0 && g_.in[i] == g_.out[i];
    }
    if (!depthwise_) {
      if (!pointwise_) col_.resize(static_cast<size_t>(kdim_ * g_.out_size()));
      gemm_.Reserve(mg_, g_.out_size(), kdim_);
    }
  }

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* bias = inputs.size() > 2 && inputs[2] != nullptr ? inputs[2]->data<float>() : nullptr;
    const float* residual = inputs.size() > 3 && inputs[3] != nullptr ? inputs[3]->data<float>() : nullptr;
    Compute(inputs[0]->data<float>(), inputs[1]->data<float>(), bias, residual, outputs[0]->data<float>());
    return Status::Ok();
  }

  // The layer on NCHW x, KCRS w, optional bias and NCHW residual, into NCHW y.
  void Compute(const float* x, const float* w, const float* bias, const float* residual, float* y) {
    const int64_t in_size = g_.in_size();
    const int64_t out_size = g_.out_size();
    for (int64_t img = 0; img < n_; ++img) {
      const float* xi = x + img * c_ * in_size;
      float* yi = y + img * m_ * out_size;
      const float* ri = residual ? residual + img * m_ * out_size : nullptr;
      for (int64_t oc = 0; oc < m_; ++oc) {
        std::fill(yi + oc * out_size, yi + (oc + 1) * out_size, bias ? bias[oc] : 0.0f);
      }
      if (depthwise_) {
        for (int64_t ch = 0; ch < c_; ++ch) {
          Depthwise(xi + ch * in_size, w + ch * g_.k_size(), yi + ch * out_size);
          epilogue_.Apply(yi + ch * out_size, ri ? ri + ch * out_size : nullptr, out_size);
        }
        continue;
      }
      for (int64_t grp = 0; grp < group_; ++grp) {
        const float* xg = xi + grp * cg_ * in_size;
        const float* cols = xg;
        if (!pointwise_) {
          Im2Col(xg);
          cols = col_.data();
        }
        float* yg = yi + grp * mg_ * out_size;
        if (epilogue_.kind == FusedEpilogue::Kind::kNone && ri == nullptr) {
          Sgemm(false, false, mg_, out_size, kdim_, 1.0f, w + grp * mg_ * kdim_, kdim_, cols, out_size, true, yg,
                out_size, gemm_);
          continue;
        }
        // Fused epilogue: GEMM over kEpilogueCols output positions at a time, then the epilogue on
        // that [mg x cols] tile while it is still in cache (per-element sums are unchanged).
        const float* rg = ri ? ri + grp * mg_ * out_size : nullptr;
        for (int64_t j0 = 0; j0 < out_size; j0 += kEpilogueCols) {
          const int64_t len = std::min(kEpilogueCols, out_size - j0);
          Sgemm(false, false, mg_, len, kdim_, 1.0f, w + grp * mg_ * kdim_, kdim_, cols + j0, out_size, true, yg + j0,
                out_size, gemm_);
          for (int64_t oc = 0; oc < mg_; ++oc) {
            epilogue_.Apply(yg + oc * out_size + j0, rg ? rg + oc * out_size + j0 : nullptr, len);
          }
        }
      }
    }
  }

 private:
  // col[(c * K + tap)][out position] = x at the tap's input position, 0 in the padding.
  void Im2Col(const float* x) {
    const Geometry3& g = g_;
    const int64_t out_size = g.out_size();
    float* dst = col_.data();
    for (int64_t ch = 0; ch < cg_; ++ch) {
      const float* xc = x + ch * g.in_size();
      for (int64_t kd = 0; kd < g.k[0]; ++kd) {
        for (int64_t kh = 0; kh < g.k[1]; ++kh) {
          for (int64_t kw = 0; kw < g.k[2]; ++kw) {
            const int64_t w_off = kw * g.d[2] - g.pb[2];
            int64_t w_lo, w_hi;
            ValidRange(g.out[2], g.s[2], w_off, g.in[2], &w_lo, &w_hi);
            float* row = dst;
            dst += out_size;
            for (int64_t od = 0; od < g.out[0]; ++od) {
              const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
              for (int64_t oh = 0; oh < g.out[1]; ++oh) {
                float* o = row + (od * g.out[1] + oh) * g.out[2];
                const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
                if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
                  std::fill(o, o + g.out[2], 0.0f);
                  continue;
                }
                const float* src = xc + (id * g.in[1] + ih) * g.in[2];
                std::fill(o, o + w_lo, 0.0f);
                if (g.s[2] == 1) {
                  std::memcpy(o + w_lo, src + w_lo + w_off, static_cast<size_t>(w_hi - w_lo) * sizeof(float));
                } else {
                  for (int64_t ow = w_lo; ow < w_hi; ++ow) o[ow] = src[ow * g.s[2] + w_off];
                }
                std::fill(o + w_hi, o + g.out[2], 0.0f);
              }
            }
          }
        }
      }
    }
  }

  // y (already holding the bias) += the convolution of one channel with its own filter.
  void Depthwise(const float* x, const float* w, float* y) const {
    const Geometry3& g = g_;
    for (int64_t kd = 0; kd < g.k[0]; ++kd) {
      for (int64_t kh = 0; kh < g.k[1]; ++kh) {
        for (int64_t kw = 0; kw < g.k[2]; ++kw) {
          const float wv = w[(kd * g.k[1] + kh) * g.k[2] + kw];
          const int64_t w_off = kw * g.d[2] - g.pb[2];
          int64_t w_lo, w_hi;
          ValidRange(g.out[2], g.s[2], w_off, g.in[2], &w_lo, &w_hi);
          int64_t d_lo, d_hi, h_lo, h_hi;
          ValidRange(g.out[0], g.s[0], kd * g.d[0] - g.pb[0], g.in[0], &d_lo, &d_hi);
          ValidRange(g.out[1], g.s[1], kh * g.d[1] - g.pb[1], g.in[1], &h_lo, &h_hi);
          for (int64_t od = d_lo; od < d_hi; ++od) {
            const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
            for (int64_t oh = h_lo; oh < h_hi; ++oh) {
              const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
              const float* src = x + (id * g.in[1] + ih) * g.in[2];
              float* o = y + (od * g.out[1] + oh) * g.out[2];
              if (g.s[2] == 1) {
                const float* srow = src + w_lo + w_off;
                float* orow = o + w_lo;
                const int64_t len = w_hi - w_lo;
                for (int64_t j = 0; j < len; ++j) orow[j] += wv * srow[j];
              } else {
                const int64_t s = g.s[2];
                for (int64_t ow = w_lo; ow < w_hi; ++ow) o[ow] += wv * src[ow * s + w_off];
              }
            }
          }
        }
      }
    }
  }

  int64_t n_, c_, m_, group_;
  Geometry3 g_;
  int64_t cg_ = 0, mg_ = 0, kdim_ = 0;
  bool depthwise_ = false;
  bool pointwise_ = false;
  std::vector<float> col_;
  GemmScratch gemm_;
  FusedEpilogue epilogue_;
};

StatusOr<std::unique_ptr<CpuKernel>> ConvCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, ConvInfer));
  EDGERT_ASSIGN_OR_RETURN(ConvShape cs, ResolveConv(ctx));
  const WindowGeometry& wg = cs.window;
  Geometry3 g = Widen(wg.in, wg.out, wg.kernel, wg.strides, wg.dilations, wg.pad_begin);
  EDGERT_RETURN_IF_ERROR(CheckScratch(ctx, (cs.c / cs.group) * g.k_size(), g.out_size()));
  EDGERT_ASSIGN_OR_RETURN(FusedEpilogue epilogue, ParseFusedEpilogue(ctx));
  return std::unique_ptr<CpuKernel>(new ConvKernel(cs, g, epilogue));
}

// ---------------------------------------------------------------------------------------------
// EdgertConvNhwc (contract in nhwc.h): the NCHW kernel above between layout conversions. The
// reference favours agreement with Conv over speed: X, W and Z are permuted into scratch buffers
// sized at creation, the NCHW layer runs, and Y is permuted back.

Status ConvNhwcInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(NhwcConvParams p, ResolveConvNhwc(ctx));
  ctx.SetOutput(0, DataType::kFloat32, {p.n, p.window.out[0], p.window.out[1], p.k});
  return Status::Ok();
}

// dst[n][c][i] = src[n][i][c] for `n` blocks of `inner` x `c` (NHWC -> NCHW, KRSC -> KCRS).
void ChannelsFirst(const float* src, int64_t n, int64_t inner, int64_t c, float* dst) {
  for (int64_t b = 0; b < n; ++b) {
    const float* s = src + b * inner * c;
    float* d = dst + b * inner * c;
    for (int64_t i = 0; i < inner; ++i) {
      for (int64_t ch = 0; ch < c; ++ch) d[ch * inner + i] = s[i * c + ch];
    }
  }
}

// dst[n][i][c] = src[n][c][i] (NCHW -> NHWC).
void ChannelsLast(const float* src, int64_t n, int64_t inner, int64_t c, float* dst) {
  for (int64_t b = 0; b < n; ++b) {
    const float* s = src + b * inner * c;
    float* d = dst + b * inner * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t i = 0; i < inner; ++i) d[i * c + ch] = s[ch * inner + i];
    }
  }
}

class ConvNhwcKernel : public CpuKernel {
 public:
  ConvNhwcKernel(const NhwcConvParams& p, std::unique_ptr<ConvKernel> nchw, bool residual)
      : p_(p), nchw_(std::move(nchw)) {
    const int64_t out = p.window.out[0] * p.window.out[1];
    x_.resize(static_cast<size_t>(p.n * p.h * p.w * p.c));
    w_.resize(static_cast<size_t>(p.k * p.r * p.s * (p.c / p.group)));
    y_.resize(static_cast<size_t>(p.n * out * p.k));
    if (residual) z_.resize(y_.size());
  }

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const NhwcConvParams& p = p_;
    const int64_t out = p.window.out[0] * p.window.out[1];
    ChannelsFirst(inputs[0]->data<float>(), p.n, p.h * p.w, p.c, x_.data());
    ChannelsFirst(inputs[1]->data<float>(), p.k, p.r * p.s, p.c / p.group, w_.data());
    const float* bias = inputs.size() > 2 && inputs[2] != nullptr ? inputs[2]->data<float>() : nullptr;
    const bool residual = inputs.size() > 3 && inputs[3] != nullptr;
    if (residual) ChannelsFirst(inputs[3]->data<float>(), p.n, out, p.k, z_.data());
    nchw_->Compute(x_.data(), w_.data(), bias, residual ? z_.data() : nullptr, y_.data());
    ChannelsLast(y_.data(), p.n, out, p.k, outputs[0]->data<float>());
    return Status::Ok();
  }

 private:
  NhwcConvParams p_;
  std::unique_ptr<ConvKernel> nchw_;
  std::vector<float> x_, w_, z_, y_;
};

StatusOr<std::unique_ptr<CpuKernel>> ConvNhwcCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, ConvNhwcInfer));
  EDGERT_ASSIGN_OR_RETURN(NhwcConvParams p, ResolveConvNhwc(ctx));
  const WindowGeometry& wg = p.window;
  const Geometry3 g = Widen(wg.in, wg.out, wg.kernel, wg.strides, wg.dilations, wg.pad_begin);
  EDGERT_RETURN_IF_ERROR(CheckScratch(ctx, (p.c / p.group) * g.k_size(), g.out_size()));
  ConvShape cs;
  cs.n = p.n;
  cs.c = p.c;
  cs.m = p.k;
  cs.group = p.group;
  cs.window = wg;
  auto nchw = std::make_unique<ConvKernel>(cs, g, p.epilogue);
  return std::unique_ptr<CpuKernel>(new ConvNhwcKernel(p, std::move(nchw), ctx.has_input(3)));
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose

struct ConvTransposeShape {
  int64_t n = 0, c = 0, m = 0, group = 1;
  std::vector<int64_t> in, out, kernel, strides, dilations, pad_begin;
};

StatusOr<ConvTransposeShape> ResolveConvTranspose(const OpContext& ctx) {
  const Shape& x = ctx.input(0).shape;
  const Shape& w = ctx.input(1).shape;
  EDGERT_RETURN_IF_ERROR(CheckConvRanks(ctx, x, w));
  const size_t nd = x.size() - 2;
  ConvTransposeShape cs;
  cs.n = x[0];
  cs.c = x[1];
  EDGERT_ASSIGN_OR_RETURN(cs.group, AttrInt(ctx, "group", 1));
  if (cs.group < 1) return ctx.Error("attribute 'group' is " + std::to_string(cs.group) + ", expected >= 1");
  if (w[0] != cs.c || cs.c % cs.group != 0) {
    return ctx.Error("input X has " + std::to_string(cs.c) + " channels but weight W " + ShapeToString(w) +
                     " (C x M/group x kernel) with group " + std::to_string(cs.group) + " does not match");
  }
  cs.m = w[1] * cs.group;
  cs.in.assign(x.begin() + 2, x.end());
  cs.kernel.assign(w.begin() + 2, w.end());
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> kattr, AttrInts(ctx, "kernel_shape", cs.kernel));
  if (kattr != cs.kernel) {
    return ctx.Error("attribute 'kernel_shape' " + IntsToString(kattr) + " does not match weight W " +
                     ShapeToString(w));
  }
  if (ctx.has_input(2)) {
    const Shape& b = ctx.input(2).shape;
    if (b.size() != 1 || b[0] != cs.m) {
      return ctx.Error("bias B has shape " + ShapeToString(b) + ", expected " + std::to_string(cs.m));
    }
  }
  EDGERT_ASSIGN_OR_RETURN(cs.strides, AttrInts(ctx, "strides", std::vector<int64_t>(nd, 1)));
  EDGERT_ASSIGN_OR_RETURN(cs.dilations, AttrInts(ctx, "dilations", std::vector<int64_t>(nd, 1)));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> pads, AttrInts(ctx, "pads", std::vector<int64_t>(2 * nd, 0)));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> out_pad, AttrInts(ctx, "output_padding", std::vector<int64_t>(nd, 0)));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> out_shape, AttrInts(ctx, "output_shape", {}));
  EDGERT_ASSIGN_OR_RETURN(AutoPad auto_pad, ParseAutoPad(ctx));
  auto check_size = [&](const std::vector<int64_t>& v, size_t want, const char* name) -> Status {
    if (v.size() != want) {
      return ctx.Error(std::string("attribute '") + name + "' has " + std::to_string(v.size()) + " values, expected " +
                       std::to_string(want));
    }
    return Status::Ok();
  };
  EDGERT_RETURN_IF_ERROR(check_size(cs.strides, nd, "strides"));
  EDGERT_RETURN_IF_ERROR(check_size(cs.dilations, nd, "dilations"));
  EDGERT_RETURN_IF_ERROR(check_size(pads, 2 * nd, "pads"));
  EDGERT_RETURN_IF_ERROR(check_size(out_pad, nd, "output_padding"));
  if (out_shape.size() == nd + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (!out_shape.empty()) EDGERT_RETURN_IF_ERROR(check_size(out_shape, nd, "output_shape"));
  EDGERT_RETURN_IF_ERROR(CheckWindowValues(ctx, "kernel_shape", cs.kernel, 1));
  EDGERT_RETURN_IF_ERROR(CheckWindowValues(ctx, "strides", cs.strides, 1));
  EDGERT_RETURN_IF_ERROR(CheckWindowValues(ctx, "dilations", cs.dilations, 1));
  EDGERT_RETURN_IF_ERROR(CheckWindowValues(ctx, "pads", pads, 0));
  EDGERT_RETURN_IF_ERROR(CheckWindowValues(ctx, "output_padding", out_pad, 0));
  EDGERT_RETURN_IF_ERROR(CheckWindowValues(ctx, "output_shape", out_shape, 1));
  cs.out.assign(nd, 0);
  cs.pad_begin.assign(nd, 0);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t s = cs.strides[i], d = cs.dilations[i], k = cs.kernel[i];
    const int64_t full = s * (cs.in[i] - 1) + out_pad[i] + (k - 1) * d + 1;
    if (!out_shape.empty() || auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
      const int64_t target = out_shape.empty() ? cs.in[i] * s : out_shape[i];
      const int64_t total = std::max<int64_t>(0, full - target);
      cs.pad_begin[i] = auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
      cs.out[i] = out_shape.empty() ? full - total : target;
    } else {
      if (auto_pad == AutoPad::kNotSet) cs.pad_begin[i] = pads[i];
      const int64_t pad_end = auto_pad == AutoPad::kNotSet ? pads[i + nd] : 0;
      cs.out[i] = full - cs.pad_begin[i] - pad_end;
    }
    if (cs.out[i] < 1) {
      return ctx.Error("output spatial dimension " + std::to_string(i) + " would be " + std::to_string(cs.out[i]) +
                       " (input " + std::to_string(cs.in[i]) + ", pads " + IntsToString(pads) + ")");
    }
  }
  return cs;
}

Status ConvTransposeInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(ConvTransposeShape cs, ResolveConvTranspose(ctx));
  Shape out = {cs.n, cs.m};
  out.insert(out.end(), cs.out.begin(), cs.out.end());
  ctx.SetOutput(0, DataType::kFloat32, out);
  return Status::Ok();
}

class ConvTransposeKernel : public CpuKernel {
 public:
  ConvTransposeKernel(const ConvTransposeShape& cs, Geometry3 g)
      : n_(cs.n), c_(cs.c), m_(cs.m), group_(cs.group), g_(g) {
    cg_ = c_ / group_;
    mg_ = m_ / group_;
    rows_ = mg_ * g_.k_size();
    col_.resize(static_cast<size_t>(rows_ * g_.in_size()));
    gemm_.Reserve(rows_, g_.in_size(), cg_);
  }

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* x = inputs[0]->data<float>();
    const float* w = inputs[1]->data<float>();
    const float* bias = inputs.size() > 2 && inputs[2] != nullptr ? inputs[2]->data<float>() : nullptr;
    float* y = outputs[0]->data<float>();
    const int64_t in_size = g_.in_size();
    const int64_t out_size = g_.out_size();
    for (int64_t img = 0; img < n_; ++img) {
      float* yi = y + img * m_ * out_size;
      for (int64_t oc = 0; oc < m_; ++oc) {
        std::fill(yi + oc * out_size, yi + (oc + 1) * out_size, bias ? bias[oc] : 0.0f);
      }
      for (int64_t grp = 0; grp < group_; ++grp) {
        const float* xg = x + (img * c_ + grp * cg_) * in_size;
        const float* wg = w + grp * cg_ * rows_;
        Sgemm(true, false, rows_, in_size, cg_, 1.0f, wg, rows_, xg, in_size, false, col_.data(), in_size, gemm_);
        Col2Im(yi + grp * mg_ * out_size);
      }
    }
    return Status::Ok();
  }

 private:
  void Col2Im(float* y) const {
    const Geometry3& g = g_;
    const int64_t in_size = g.in_size();
    const int64_t out_size = g.out_size();
    const float* src = col_.data();
    for (int64_t oc = 0; oc < mg_; ++oc) {
      float* yc = y + oc * out_size;
      for (int64_t kd = 0; kd < g.k[0]; ++kd) {
        for (int64_t kh = 0; kh < g.k[1]; ++kh) {
          for (int64_t kw = 0; kw < g.k[2]; ++kw) {
            const float* row = src;
            src += in_size;
            int64_t d_lo, d_hi, h_lo, h_hi, w_lo, w_hi;
            const int64_t d_off = kd * g.d[0] - g.pb[0];
            const int64_t h_off = kh * g.d[1] - g.pb[1];
            const int64_t w_off = kw * g.d[2] - g.pb[2];
            ValidRange(g.in[0], g.s[0], d_off, g.out[0], &d_lo, &d_hi);
            ValidRange(g.in[1], g.s[1], h_off, g.out[1], &h_lo, &h_hi);
            ValidRange(g.in[2], g.s[2], w_off, g.out[2], &w_lo, &w_hi);
            for (int64_t id = d_lo; id < d_hi; ++id) {
              const int64_t od = id * g.s[0] + d_off;
              for (int64_t ih = h_lo; ih < h_hi; ++ih) {
                const int64_t oh = ih * g.s[1] + h_off;
                const float* r = row + (id * g.in[1] + ih) * g.in[2];
                float* o = yc + (od * g.out[1] + oh) * g.out[2];
                const int64_t s = g.s[2];
                for (int64_t iw = w_lo; iw < w_hi; ++iw) o[iw * s + w_off] += r[iw];
              }
            }
          }
        }
      }
    }
  }

  int64_t n_, c_, m_, group_;
  Geometry3 g_;
  int64_t cg_ = 0, mg_ = 0, rows_ = 0;
  std::vector<float> col_;
  GemmScratch gemm_;
};

StatusOr<std::unique_ptr<CpuKernel>> ConvTransposeCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, ConvTransposeInfer));
  EDGERT_ASSIGN_OR_RETURN(ConvTransposeShape cs, ResolveConvTranspose(ctx));
  Geometry3 g = Widen(cs.in, cs.out, cs.kernel, cs.strides, cs.dilations, cs.pad_begin);
  EDGERT_RETURN_IF_ERROR(CheckScratch(ctx, (cs.m / cs.group) * g.k_size(), g.in_size()));
  return std::unique_ptr<CpuKernel>(new ConvTransposeKernel(cs, g));
}

}  // namespace

StatusOr<NhwcConvParams> ResolveConvNhwc(const OpContext& ctx) {
  if (ctx.num_inputs() < 2 || !ctx.has_input(0) || !ctx.has_input(1)) return ctx.Error("needs inputs X and W");
  const Shape& x = ctx.input(0).shape;
  const Shape& w = ctx.input(1).shape;
  if (x.size() != 4) {
    return ctx.NotSupported("input X has shape " + ShapeToString(x) + ", expected N x H x W x C (2-D, channels last)");
  }
  if (w.size() != 4) return ctx.Error("weight W has shape " + ShapeToString(w) + ", expected K x R x S x C/group");
  NhwcConvParams p;
  p.n = x[0];
  p.h = x[1];
  p.w = x[2];
  p.c = x[3];
  p.k = w[0];
  p.r = w[1];
  p.s = w[2];
  const std::vector<int64_t> kernel = {p.r, p.s};
  EDGERT_ASSIGN_OR_RETURN(p.group, CheckConvWeights(ctx, p.c, p.k, w[3], w, kernel));
  EDGERT_ASSIGN_OR_RETURN(p.window, ResolveWindow(ctx, {p.h, p.w}, kernel, false));
  if (ctx.has_input(3)) {
    const Shape want = {p.n, p.window.out[0], p.window.out[1], p.k};
    if (ctx.input(3).shape != want) {
      return ctx.Error("residual Z has shape " + ShapeToString(ctx.input(3).shape) + ", expected the output shape " +
                       ShapeToString(want));
    }
  }
  EDGERT_ASSIGN_OR_RETURN(p.epilogue, ParseFusedEpilogue(ctx));
  return p;
}

void RegisterNnConvOps(OpRegistry& registry) {
  registry.Register(OpType::kConvNhwc, OpDef{ConvSupports, ConvNhwcInfer, ConvNhwcCreate});
  registry.Register(OpType::kConv, OpDef{ConvSupports, ConvInfer, ConvCreate});
  registry.Register(OpType::kConvTranspose, OpDef{ConvSupports, ConvTransposeInfer, ConvTransposeCreate});
}

}  // namespace edgert
