// The "tensor" family, part 3: resampling (Resize, opset 10-19, and Upsample, opset 7-9, which
// is Resize with asymmetric coordinates).
//
// Algorithm:
//  1. Parameters (build time): output size from `scales` (floor(in * scale)) or `sizes` (with
//     keep_aspect_ratio_policy), both optionally restricted to `axes`; the per-axis scale used by
//     the coordinate transform is the given scale, or out / in when sizes are given.
//  2. Per resized axis, a tap table: for every output index, the source coordinate x_ori from the
//     coordinate_transformation_mode, then the source indices and weights of the mode: nearest
//     (1 tap, rounded by nearest_mode), linear (2 taps, triangle kernel), cubic (4 taps, Keys
//     kernel with cubic_coeff_a); with antialias the linear/cubic kernel is stretched by
//     1/scale when shrinking and normalised; exclude_outside drops taps outside the input and
//     renormalises. Remaining indices outside the input are clamped to the edge. tf_crop_and_resize marks coordinates
//     outside the input as extrapolated (they take extrapolation_value).
//  3. Kernel: nearest copies elements by size through one index map per axis (any dtype);
//     linear and cubic are separable, so they run one pass per resized axis over float data,
//     each pass a weighted sum of whole inner rows (float16 is converted to float and back).
#include "tensor_resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "op_util.h"
#include "registry.h"
#include "tensor_util.h"

namespace edgert {
namespace {

using KernelOr = StatusOr<std::unique_ptr<CpuKernel>>;

enum class ResizeMode { kNearest, kLinear, kCubic };
enum class CoordMode {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfCropAndResize
};
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

struct Taps {
  std::vector<int64_t> index;  // n per output position, clamped into the input
  std::vector<double> weight;  // n per output position
  std::vector<bool> extrapolate;
  int n = 1;
};

struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;  // linear/cubic: widen the filter by 1/scale when shrinking
  float extrapolation = 0.0f;
  Shape in, out;
  std::vector<double> scales;              // per dimension
  std::vector<double> roi_start, roi_end;  // per dimension, normalised coordinates
};

StatusOr<ResizeMode> ParseMode(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::string m, ctx.attrs().GetStringOr("mode", "nearest", ctx.name()));
  if (m == "nearest") return ResizeMode::kNearest;
  if (m == "linear" || m == "bilinear") return ResizeMode::kLinear;
  if (m == "cubic" && ctx.op() == OpType::kResize) return ResizeMode::kCubic;
  return ctx.Error("mode '" + m + "' is not one of nearest, linear" +
                   std::string(ctx.op() == OpType::kResize ? ", cubic" : ""));
}

Status ParseAttributes(const OpContext& ctx, ResizeParams* p) {
  EDGERT_ASSIGN_OR_RETURN(p->mode, ParseMode(ctx));
  if (ctx.op() == OpType::kUpsample || ctx.opset() < 11) {
    // Upsample and Resize-10: asymmetric coordinates; nearest truncates (rounds up when shrinking).
    p->coord = CoordMode::kAsymmetric;
    p->nearest = NearestMode::kSimple;
    return Status::Ok();
  }
  EDGERT_ASSIGN_OR_RETURN(std::string c,
                          ctx.attrs().GetStringOr("coordinate_transformation_mode", "half_pixel", ctx.name()));
  if (c == "half_pixel") {
    p->coord = CoordMode::kHalfPixel;
  } else if (c == "half_pixel_symmetric") {
    p->coord = CoordMode::kHalfPixelSymmetric;
  } else if (c == "pytorch_half_pixel") {
    p->coord = CoordMode::kPytorchHalfPixel;
  } else if (c == "align_corners") {
    p->coord = CoordMode::kAlignCorners;
  } else if (c == "asymmetric") {
    p->coord = CoordMode::kAsymmetric;
  } else if (c == "tf_crop_and_resize") {
    p->coord = CoordMode::kTfCropAndResize;
  } else {
    return ctx.Error("coordinate_transformation_mode '" + c + "' is not supported");
  }
  EDGERT_ASSIGN_OR_RETURN(std::string n, ctx.attrs().GetStringOr("nearest_mode", "round_prefer_floor", ctx.name()));
  if (n == "round_prefer_floor") {
    p->nearest = NearestMode::kRoundPreferFloor;
  } else if (n == "round_prefer_ceil") {
    p->nearest = NearestMode::kRoundPreferCeil;
  } else if (n == "floor") {
    p->nearest = NearestMode::kFloor;
  } else if (n == "ceil") {
    p->nearest = NearestMode::kCeil;
  } else {
    return ctx.Error("nearest_mode '" + n + "' is not one of round_prefer_floor, round_prefer_ceil, floor, ceil");
  }
  EDGERT_ASSIGN_OR_RETURN(float a, ctx.attrs().GetFloatOr("cubic_coeff_a", -0.75f, ctx.name()));
  p->cubic_a = a;
  EDGERT_ASSIGN_OR_RETURN(int64_t ex, ctx.attrs().GetIntOr("exclude_outside", 0, ctx.name()));
  p->exclude_outside = ex != 0;
  EDGERT_ASSIGN_OR_RETURN(p->extrapolation, ctx.attrs().GetFloatOr("extrapolation_value", 0.0f, ctx.name()));
  EDGERT_ASSIGN_OR_RETURN(int64_t antialias, ctx.attrs().GetIntOr("antialias", 0, ctx.name()));
  p->antialias = antialias != 0;
  if (p->antialias && p->mode == ResizeMode::kNearest) {
    return ctx.Error("antialias=1 applies to the linear and cubic modes, not nearest");
  }
  return Status::Ok();
}

Status SupportsResize(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckCopyableInput(ctx, 0));
  ResizeParams p;
  EDGERT_RETURN_IF_ERROR(ParseAttributes(ctx, &p));
  DataType t = ctx.input(0).dtype;
  if (p.mode != ResizeMode::kNearest && t != DataType::kFloat32 && t != DataType::kFloat16) {
    return ctx.NotSupported(std::string("linear and cubic modes support float32 and float16 input, not ") +
                            DataTypeName(t));
  }
  return Status::Ok();
}

// A parameter input treated as absent when not connected or empty ("" placeholders and the
// empty tensors opset 11-12 exporters write).
bool HasNonEmptyInput(const OpContext& ctx, size_t i) {
  return ctx.has_input(i) && NumElements(ctx.input(i).shape) > 0;
}

StatusOr<ResizeParams> ComputeResize(const OpContext& ctx) {
  ResizeParams p;
  EDGERT_RETURN_IF_ERROR(ParseAttributes(ctx, &p));
  p.in = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(p.in.size());

  // Where each parameter lives: Upsample-9 and Resize-10 take (X, scales); Resize-11+ takes
  // (X, roi, scales, sizes); Upsample-7 has a scales attribute.
  const bool new_layout = ctx.op() == OpType::kResize && ctx.opset() >= 11;
  const size_t scales_at = new_layout ? 2 : 1;
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  if (HasNonEmptyInput(ctx, scales_at)) {
    EDGERT_ASSIGN_OR_RETURN(scales, ConstInputFloats(ctx, scales_at, "scales"));
  } else if (ctx.op() == OpType::kUpsample && ctx.attrs().Has("scales")) {
    EDGERT_ASSIGN_OR_RETURN(scales, ctx.attrs().GetFloats("scales", ctx.name()));
  }
  if (new_layout && HasNonEmptyInput(ctx, 3)) {
    EDGERT_ASSIGN_OR_RETURN(sizes, ConstInputInts(ctx, 3, "sizes"));
  }
  if (scales.empty() && sizes.empty()) {
    return ctx.Error("neither 'scales' nor 'sizes' is given; one of them is required");
  }
  if (!scales.empty() && !sizes.empty()) return ctx.Error("'scales' and 'sizes' are both given; give only one");

  std::vector<int64_t> axes;
  if (new_layout && ctx.attrs().Has("axes")) {
    EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> raw, ctx.attrs().GetInts("axes", ctx.name()));
    EDGERT_ASSIGN_OR_RETURN(axes, NormalizeAxes(ctx, raw, rank));
  } else {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  const size_t n_axes = axes.size();

  p.scales.assign(static_cast<size_t>(rank), 1.0);
  p.out = p.in;
  if (!scales.empty()) {
    if (scales.size() != n_axes) {
      return ctx.Error("scales has " + std::to_string(scales.size()) + " values, expected " + std::to_string(n_axes) +
                       " (one per resized axis of input " + ShapeToString(p.in) + ")");
    }
    for (size_t i = 0; i < n_axes; ++i) {
      if (!(scales[i] > 0.0f) || !std::isfinite(scales[i])) {
        return ctx.Error("scales[" + std::to_string(i) + "] is " + std::to_string(scales[i]) +
                         "; scales must be positive");
      }
      const int64_t d = axes[i];
      p.scales[d] = scales[i];
      // Bound the product before converting: a huge scale must be an error, not an int64 overflow.
      const double extent = std::floor(static_cast<double>(scales[i]) * static_cast<double>(p.in[d]));
      if (extent > static_cast<double>(int64_t{1} << 40)) {
        return ctx.Error("scales[" + std::to_string(i) + "] = " + std::to_string(scales[i]) + " makes axis " +
                         std::to_string(d) + " too large");
      }
      p.out[d] = static_cast<int64_t>(extent);
    }
  } else {
    if (sizes.size() != n_axes) {
      return ctx.Error("sizes has " + std::to_string(sizes.size()) + " values, expected " + std::to_string(n_axes) +
                       " (one per resized axis of input " + ShapeToString(p.in) + ")");
    }
    for (size_t i = 0; i < n_axes; ++i) {
      if (sizes[i] <= 0)
        return ctx.Error("sizes[" + std::to_string(i) + "] is " + std::to_string(sizes[i]) +
                         "; sizes must be positive");
      if (p.in[axes[i]] == 0) return ctx.Error("cannot resize the empty axis " + std::to_string(axes[i]));
    }
    EDGERT_ASSIGN_OR_RETURN(std::string policy,
                            ctx.attrs().GetStringOr("keep_aspect_ratio_policy", "stretch", ctx.name()));
    if (policy == "stretch") {
      for (size_t i = 0; i < n_axes; ++i) {
        const int64_t d = axes[i];
        p.out[d] = sizes[i];
        p.scales[d] = static_cast<double>(sizes[i]) / static_cast<double>(p.in[d]);
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      double scale = 0.0;
      for (size_t i = 0; i < n_axes; ++i) {
        double s = static_cast<double>(sizes[i]) / static_cast<double>(p.in[axes[i]]);
        if (i == 0) {
          scale = s;
        } else {
          scale = policy == "not_larger" ? std::min(scale, s) : std::max(scale, s);
        }
      }
      for (int64_t d : axes) {
        p.scales[d] = scale;
        p.out[d] = static_cast<int64_t>(scale * static_cast<double>(p.in[d]) + 0.5);
      }
    } else {
      return ctx.Error("keep_aspect_ratio_policy '" + policy + "' is not one of stretch, not_larger, not_smaller");
    }
  }
  for (int64_t d = 0; d < rank; ++d) {
    if (p.out[d] < 0) return ctx.Error("output size on axis " + std::to_string(d) + " is negative");
  }

  p.roi_start.assign(static_cast<size_t>(rank), 0.0);
  p.roi_end.assign(static_cast<size_t>(rank), 1.0);
  if (p.coord == CoordMode::kTfCropAndResize) {
    if (!HasNonEmptyInput(ctx, 1))
      return ctx.Error("coordinate_transformation_mode tf_crop_and_resize needs the 'roi' input");
    EDGERT_ASSIGN_OR_RETURN(std::vector<float> roi, ConstInputFloats(ctx, 1, "roi"));
    if (roi.size() != 2 * n_axes) {
      return ctx.Error("roi has " + std::to_string(roi.size()) + " values, expected " + std::to_string(2 * n_axes));
    }
    for (size_t i = 0; i < n_axes; ++i) {
      p.roi_start[axes[i]] = roi[i];
      p.roi_end[axes[i]] = roi[i + n_axes];
    }
  }
  return p;
}

Status InferResize(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(ResizeParams p, ComputeResize(ctx));
  ctx.SetOutput(0, ctx.input(0).dtype, p.out);
  return Status::Ok();
}

// Source coordinate of output index x on axis d; sets *extrapolate for tf_crop_and_resize
// positions outside the input.
double SourceCoord(const ResizeParams& p, size_t d, int64_t x, bool* extrapolate) {
  const double in = static_cast<double>(p.in[d]);
  const double scale = p.scales[d];
  const double out_width = scale * in;  // the real-valued output length
  const double xr = static_cast<double>(x);
  *extrapolate = false;
  switch (p.coord) {
    case CoordMode::kAlignCorners:
      return out_width == 1.0 ? 0.0 : xr * (in - 1.0) / (out_width - 1.0);
    case CoordMode::kAsymmetric:
      return xr / scale;
    case CoordMode::kPytorchHalfPixel:
      return out_width == 1.0 ? -0.5 : (xr + 0.5) / scale - 0.5;
    case CoordMode::kHalfPixel:
      return (xr + 0.5) / scale - 0.5;
    case CoordMode::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(p.out[d]) / out_width;
      const double offset = in / 2.0 * (1.0 - adjustment);
      return offset + (xr + 0.5) / scale - 0.5;
    }
    case CoordMode::kTfCropAndResize: {
      const double span = (p.roi_end[d] - p.roi_start[d]) * (in - 1.0);
      double v = out_width == 1.0 ? span / 2.0 : xr * span / (out_width - 1.0);
      v += p.roi_start[d] * (in - 1.0);
      *extrapolate = v < 0.0 || v > in - 1.0;
      return v;
    }
  }
  return xr;
}

// Interpolation kernels as functions of the distance to a tap: triangle (linear) and Keys'
// cubic convolution with coefficient a.
double LinearKernel(double x) { return std::max(0.0, 1.0 - std::fabs(x)); }
double CubicKernel(double x, double a) {
  x = std::fabs(x);
  if (x <= 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
  return 0.0;
}

Taps MakeTaps(const ResizeParams& p, size_t d) {
  Taps t;
  const int64_t out = p.out[d], in = p.in[d];
  // Filter support: taps at floor(x) + first ... floor(x) + first + n - 1. Antialiasing stretches
  // the kernel by 1/scale when shrinking (kernel evaluated at scale * distance, then normalised).
  const double support_scale = p.antialias ? std::min(p.scales[d], 1.0) : 1.0;
  int64_t first = 0;
  if (p.mode == ResizeMode::kNearest) {
    t.n = 1;
  } else {
    const double radius = p.mode == ResizeMode::kLinear ? 1.0 : 2.0;
    first = static_cast<int64_t>(std::floor(-radius / support_scale)) + 1;
    t.n = static_cast<int>(2 - 2 * first);
  }
  t.index.assign(static_cast<size_t>(out * t.n), 0);
  t.weight.assign(static_cast<size_t>(out * t.n), 0.0);
  t.extrapolate.assign(static_cast<size_t>(out), false);
  auto clamp = [in](int64_t i) { return std::min(std::max<int64_t>(i, 0), in - 1); };
  for (int64_t x = 0; x < out; ++x) {
    bool extra = false;
    const double xo = SourceCoord(p, d, x, &extra);
    t.extrapolate[x] = extra;
    const double base = std::floor(xo);
    const double frac = xo - base;
    const int64_t i0 = static_cast<int64_t>(base);
    int64_t* idx = &t.index[static_cast<size_t>(x * t.n)];
    double* w = &t.weight[static_cast<size_t>(x * t.n)];
    if (p.mode == ResizeMode::kNearest) {
      int64_t k = i0;
      if (frac != 0.0) {
        switch (p.nearest) {
          case NearestMode::kRoundPreferFloor:
            k = frac <= 0.5 ? i0 : i0 + 1;
            break;
          case NearestMode::kRoundPreferCeil:
            k = frac < 0.5 ? i0 : i0 + 1;
            break;
          case NearestMode::kFloor:
            k = i0;
            break;
          case NearestMode::kCeil:
            k = i0 + 1;
            break;
          case NearestMode::kSimple:
            k = p.scales[d] < 1.0 ? i0 + 1 : i0;
            break;
        }
      }
      idx[0] = clamp(k);
      w[0] = 1.0;
      continue;
    }
    double sum = 0.0;
    for (int k = 0; k < t.n; ++k) {
      const int64_t offset = first + k;
      const double dist = support_scale * (static_cast<double>(offset) - frac);
      w[k] = p.mode == ResizeMode::kLinear ? LinearKernel(dist) : CubicKernel(dist, p.cubic_a);
      sum += w[k];
    }
    if (p.antialias && sum != 0.0) {
      for (int k = 0; k < t.n; ++k) w[k] /= sum;
    }
    sum = 0.0;
    for (int k = 0; k < t.n; ++k) {
      const int64_t src = i0 + first + k;
      if (p.exclude_outside && (src < 0 || src >= in)) w[k] = 0.0;
      sum += w[k];
      idx[k] = clamp(src);
    }
    if (p.exclude_outside && sum != 0.0) {
      for (int k = 0; k < t.n; ++k) w[k] /= sum;
    }
  }
  return t;
}

// True when axis d is left unchanged (same length, unit scale, no crop): no pass is needed.
bool IsIdentityAxis(const ResizeParams& p, size_t d) {
  return p.in[d] == p.out[d] && p.scales[d] == 1.0 && p.coord != CoordMode::kTfCropAndResize;
}

class NearestResizeKernel : public CpuKernel {
 public:
  NearestResizeKernel(std::vector<std::vector<int64_t>> maps, float fill) : maps_(std::move(maps)), fill_value_(fill) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const Tensor& in = *inputs[0];
    Tensor& out = *outputs[0];
    unsigned char fill[8];
    ScalarToBytes(fill_value_, in.dtype(), fill);
    IndexMapCopy(DataTypeSize(in.dtype()), in.shape(), in.raw(), out.shape(), maps_, fill, out.raw());
    return Status::Ok();
  }

 private:
  std::vector<std::vector<int64_t>> maps_;
  float fill_value_;
};

// Separable linear/cubic resampling over float data, one pass per resized axis.
class InterpResizeKernel : public CpuKernel {
 public:
  InterpResizeKernel(ResizeParams p, std::vector<size_t> axes, std::vector<Taps> taps)
      : p_(std::move(p)), axes_(std::move(axes)), taps_(std::move(taps)) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const Tensor& in = *inputs[0];
    Tensor& out = *outputs[0];
    const bool half = in.dtype() == DataType::kFloat16;
    const int64_t n_in = in.num_elements();
    const int64_t n_out = out.num_elements();
    // Source of the first pass: the input itself (float32) or a float copy (float16).
    const float* src = in.data<float>();
    if (half) {
      a_.resize(static_cast<size_t>(n_in));
      for (int64_t i = 0; i < n_in; ++i) a_[i] = HalfToFloat(in.data<uint16_t>()[i]);
      src = a_.data();
    }
    if (axes_.empty()) {
      WriteOut(src, out, half, n_out);
      return Status::Ok();
    }
    Shape cur = p_.in;
    for (size_t k = 0; k < axes_.size(); ++k) {
      const size_t d = axes_[k];
      const bool last = k + 1 == axes_.size();
      Shape next = cur;
      next[d] = p_.out[d];
      const int64_t count = NumElements(next);
      float* dst;
      if (last && !half) {
        dst = out.data<float>();
      } else {
        std::vector<float>& buf = (src == a_.data()) ? b_ : a_;
        buf.resize(static_cast<size_t>(count));
        dst = buf.data();
      }
      Pass(src, cur, d, taps_[k], dst);
      src = dst;
      cur = next;
    }
    if (half) WriteOut(src, out, true, n_out);
    return Status::Ok();
  }

 private:
  void Pass(const float* src, const Shape& shape, size_t d, const Taps& t, float* dst) const {
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < d; ++i) outer *= shape[i];
    for (size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
    const int64_t in_len = shape[d], out_len = p_.out[d];
    const float extra = p_.extrapolation;
    for (int64_t o = 0; o < outer; ++o) {
      const float* s = src + o * in_len * inner;
      float* r = dst + o * out_len * inner;
      for (int64_t x = 0; x < out_len; ++x, r += inner) {
        if (t.extrapolate[x]) {
          std::fill(r, r + inner, extra);
          continue;
        }
        const int64_t* idx = &t.index[static_cast<size_t>(x * t.n)];
        const double* w = &t.weight[static_cast<size_t>(x * t.n)];
        if (inner == 1) {
          double acc = 0.0;
          for (int k = 0; k < t.n; ++k) acc += w[k] * s[idx[k]];
          r[0] = static_cast<float>(acc);
          continue;
        }
        const float w0 = static_cast<float>(w[0]);
        const float* s0 = s + idx[0] * inner;
        for (int64_t i = 0; i < inner; ++i) r[i] = w0 * s0[i];
        for (int k = 1; k < t.n; ++k) {
          if (w[k] == 0.0) continue;
          const float wk = static_cast<float>(w[k]);
          const float* sk = s + idx[k] * inner;
          for (int64_t i = 0; i < inner; ++i) r[i] += wk * sk[i];
        }
      }
    }
  }

  static void WriteOut(const float* src, Tensor& out, bool half, int64_t n) {
    if (half) {
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = FloatToHalf(src[i]);
    } else if (src != out.data<float>()) {
      std::memcpy(out.raw(), src, static_cast<size_t>(n) * sizeof(float));
    }
  }

  ResizeParams p_;
  std::vector<size_t> axes_;
  std::vector<Taps> taps_;
  std::vector<float> a_, b_;  // ping-pong buffers between passes
};

// Per axis, the source index of every output index (-1: extrapolated); zeros for an empty input.
std::vector<std::vector<int64_t>> NearestIndexMaps(const ResizeParams& p) {
  const size_t rank = p.in.size();
  std::vector<std::vector<int64_t>> maps(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (NumElements(p.in) == 0) {
      maps[d].assign(static_cast<size_t>(p.out[d]), 0);
      continue;
    }
    Taps t = MakeTaps(p, d);
    for (int64_t x = 0; x < p.out[d]; ++x) maps[d].push_back(t.extrapolate[x] ? -1 : t.index[x]);
  }
  return maps;
}

KernelOr CreateResize(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(SupportsResize(ctx));
  EDGERT_ASSIGN_OR_RETURN(ResizeParams p, ComputeResize(ctx));
  const size_t rank = p.in.size();
  if (p.mode == ResizeMode::kNearest) {
    return std::unique_ptr<CpuKernel>(new NearestResizeKernel(NearestIndexMaps(p), p.extrapolation));
  }
  std::vector<size_t> axes;
  std::vector<Taps> taps;
  if (NumElements(p.in) > 0 && NumElements(p.out) > 0) {
    for (size_t d = rank; d-- > 0;) {
      if (IsIdentityAxis(p, d)) continue;
      axes.push_back(d);
      taps.push_back(MakeTaps(p, d));
    }
  }
  return std::unique_ptr<CpuKernel>(new InterpResizeKernel(std::move(p), std::move(axes), std::move(taps)));
}

}  // namespace

StatusOr<std::vector<std::vector<int64_t>>> ResizeNearestIndexMaps(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(ResizeParams p, ComputeResize(ctx));
  if (p.mode != ResizeMode::kNearest) return ctx.Error("the index maps exist for mode nearest only");
  return NearestIndexMaps(p);
}

void RegisterTensorResizeOps(OpRegistry& registry) {
  RegisterChecked<SupportsResize, InferResize, CreateResize>(registry, OpType::kResize);
  RegisterChecked<SupportsResize, InferResize, CreateResize>(registry, OpType::kUpsample);
}

}  // namespace edgert
