// CUDA Resize (opset 10-19) and Upsample (opset 7-9, Resize with asymmetric coordinates), matching
// the CPU reference (runtime/src/ops/tensor_resize.cc).
//
// Host (creation): the parameters exactly as the CPU derives them: output size from `scales`
// (floor(in * scale)) or `sizes` (with keep_aspect_ratio_policy), optionally restricted to `axes`;
// the per-axis scale of the coordinate transform (given scale, or out / in for sizes); the roi of
// tf_crop_and_resize. Everything is passed to the kernels by value; no tables are uploaded.
// Device: the generic kernels compute every source coordinate and tap on the fly in double
// precision with explicitly rounded operations (no fused multiply-add), so nearest picks the same
// source index as the CPU; the integer up-scaling kernels use integer division only, valid because
// creation proved that it gives the CPU's indices.
//   nearest, integer up-scaling (the fast path; YOLO's 2x Upsample): taken when, at creation,
//     1. every axis has out = f * in for an integer f >= 1 and the CPU reference's own index map
//        (ResizeNearestIndexMaps, tensor_resize.h) sends every output index x to exactly x / f:
//        asymmetric + floor (torch's export) and Upsample do whenever the scale is exactly f, other
//        modes sometimes (half_pixel / align_corners with round_prefer_* at f = 2, ...): the check
//        is index by index, nothing is assumed per mode; tf_crop_and_resize never takes the path;
//     2. the axes with f > 1 lie within 3 consecutive axes: the tensor is viewed as [outer,
//        a0, a1, a2, inner] (span padded at the front with extent-1 axes), inner = the product of
//        the trailing unchanged axes (C for NHWC, 1 for NCHW);
//     3. inner = 1 and f of the last axis 2 or 4 ("expand"): each thread loads V consecutive
//        input elements (one aligned vector), widens them to E = V * f in registers and stores one
//        W-byte vector (W = 16, 8, 4 or 2, the widest that the row length and both pointers'
//        alignment allow; float16 f = 2: 8 bytes in, 16 out) into each of the a0 * a1 output rows
//        it feeds;
//     4. otherwise ("rows"): each thread loads one chunk of an inner row (16, 8, 4, 2 or 1 bytes:
//        the widest dividing the row's bytes and both pointers' alignment) and stores it to its
//        f0 * f1 * f2 output places;
//     integer index math (32-bit when the output has fewer than 2^31 vectors/chunks, else 64-bit),
//     grid-stride loops, one launch, no host work at enqueue.
//   nearest, generic: one kernel over the output, one source index per axis rounded by
//     nearest_mode, clamped to the input; tf_crop_and_resize positions outside the input take
//     extrapolation_value. Moves elements by size, so every dtype works.
//   linear / cubic (float32 and float16): separable like the CPU, one pass per resized axis
//     (last axis first, unchanged axes skipped), each output element a weighted sum of the taps
//     of its axis: triangle (linear) or Keys cubic with cubic_coeff_a; antialias stretches the
//     kernel by 1/scale when shrinking and normalises; exclude_outside drops taps outside the input
//     and renormalises; remaining taps are clamped to the edge. Intermediate passes are float32 in
//     the workspace (two ping-pong buffers); the first pass reads the input dtype, the last writes
//     the output dtype; accumulation is in double.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "kernels_tensor.cuh"
#include "kernels_tensor_resize.h"
#include "op_util.h"
#include "tensor_resize.h"
#include "tensor_util.h"

namespace edgert {
namespace cuda {
namespace {

enum ResizeModeId : int { kModeNearest = 0, kModeLinear = 1, kModeCubic = 2 };
enum CoordModeId : int {
  kCoordHalfPixel = 0,
  kCoordHalfPixelSymmetric,
  kCoordPytorchHalfPixel,
  kCoordAlignCorners,
  kCoordAsymmetric,
  kCoordTfCropAndResize
};
enum NearestModeId : int { kRoundPreferFloor = 0, kRoundPreferCeil, kFloor, kCeil, kSimple };

// One axis: input and output length, the transform's scale, the roi (normalised coordinates).
struct AxisParams {
  int64_t in = 1;
  int64_t out = 1;
  double scale = 1.0;
  double roi_start = 0.0;
  double roi_end = 1.0;
  bool identity = false;  // unchanged axis (nearest: output index x reads input index x)
};

struct ResizeParams {
  int mode = kModeNearest;
  int coord = kCoordHalfPixel;
  int nearest = kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  float extrapolation = 0.0f;
  Shape in, out;
  std::vector<double> scales, roi_start, roi_end;
};

// ---- Device math --------------------------------------------------------------------------------

// Source coordinate of output index x (CPU SourceCoord); *extrapolate for tf_crop_and_resize
// positions outside the input.
__device__ double SourceCoord(int coord, const AxisParams& a, int64_t x, bool* extrapolate) {
  const double in = static_cast<double>(a.in);
  const double scale = a.scale;
  const double out_width = __dmul_rn(scale, in);
  const double xr = static_cast<double>(x);
  *extrapolate = false;
  switch (coord) {
    case kCoordAlignCorners:
      return out_width == 1.0 ? 0.0 : __ddiv_rn(__dmul_rn(xr, in - 1.0), __dsub_rn(out_width, 1.0));
    case kCoordAsymmetric:
      return __ddiv_rn(xr, scale);
    case kCoordPytorchHalfPixel:
      return out_width == 1.0 ? -0.5 : __dsub_rn(__ddiv_rn(__dadd_rn(xr, 0.5), scale), 0.5);
    case kCoordHalfPixel:
      return __dsub_rn(__ddiv_rn(__dadd_rn(xr, 0.5), scale), 0.5);
    case kCoordHalfPixelSymmetric: {
      const double adjustment = __ddiv_rn(static_cast<double>(a.out), out_width);
      const double offset = __dmul_rn(__ddiv_rn(in, 2.0), __dsub_rn(1.0, adjustment));
      return __dsub_rn(__dadd_rn(offset, __ddiv_rn(__dadd_rn(xr, 0.5), scale)), 0.5);
    }
    case kCoordTfCropAndResize: {
      const double span = __dmul_rn(__dsub_rn(a.roi_end, a.roi_start), in - 1.0);
      double v = out_width == 1.0 ? __ddiv_rn(span, 2.0) : __ddiv_rn(__dmul_rn(xr, span), __dsub_rn(out_width, 1.0));
      v = __dadd_rn(v, __dmul_rn(a.roi_start, in - 1.0));
      *extrapolate = v < 0.0 || v > in - 1.0;
      return v;
    }
    default:
      return xr;
  }
}

__device__ __forceinline__ int64_t ClampIndex(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

__device__ int64_t NearestIndex(int nearest, const AxisParams& a, double xo) {
  const double base = floor(xo);
  const double frac = xo - base;
  const int64_t i0 = static_cast<int64_t>(base);
  int64_t k = i0;
  if (frac != 0.0) {
    switch (nearest) {
      case kRoundPreferFloor:
        k = frac <= 0.5 ? i0 : i0 + 1;
        break;
      case kRoundPreferCeil:
        k = frac < 0.5 ? i0 : i0 + 1;
        break;
      case kFloor:
        k = i0;
        break;
      case kCeil:
        k = i0 + 1;
        break;
      default:
        k = a.scale < 1.0 ? i0 + 1 : i0;
        break;
    }
  }
  return ClampIndex(k, a.in);
}

struct NearestGeometry {
  int rank = 0;
  int coord = kCoordHalfPixel;
  int nearest = kRoundPreferFloor;
  AxisParams axis[kMaxRank];
  int64_t in_strides[kMaxRank] = {};
};

template <typename T>
__global__ void ResizeNearestKernel(const T* __restrict__ in, T* __restrict__ out, int64_t n, NearestGeometry g,
                                    T fill) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t linear = i;
    int64_t src = 0;
    bool extrapolated = false;
    for (int d = g.rank - 1; d >= 0; --d) {
      const AxisParams& a = g.axis[d];
      const int64_t x = linear % a.out;
      linear /= a.out;
      if (a.identity) {
        src += x * g.in_strides[d];
        continue;
      }
      bool extra = false;
      const double xo = SourceCoord(g.coord, a, x, &extra);
      extrapolated = extrapolated || extra;
      src += NearestIndex(g.nearest, a, xo) * g.in_strides[d];
    }
    out[i] = extrapolated ? fill : in[src];
  }
}

// ---- Integer up-scaling (nearest, every source index floor(x / f)) ------------------------------

// The tensor as [outer, in[0], in[1], in[2], inner] -> [outer, in[0]*f[0], in[1]*f[1], in[2]*f[2],
// inner]: the three view axes span the resized axes (padded at the front with extent 1, factor 1).
struct UpscaleGeometry {
  int64_t in[3] = {1, 1, 1};
  int64_t f[3] = {1, 1, 1};
  // Rows kernel: chunks per inner row. Expand kernel (inner = 1): input vectors per row of view
  // axis 2 (in[2] / V), which is also the output vectors per output row.
  int64_t row = 1;
  int64_t units = 0;  // work items (threads' worth): input chunks (rows) or input vectors (expand)
};

// Every input chunk (C: 1 to 16 bytes of an inner row) to its f[0] * f[1] * f[2] output places.
// I: the index type (uint32_t when the output has fewer than 2^31 chunks, else uint64_t).
template <typename C, typename I>
__global__ void UpscaleRowsKernel(const C* __restrict__ in, C* __restrict__ out, UpscaleGeometry g) {
  const I n = static_cast<I>(g.units), row = static_cast<I>(g.row);
  const I i0 = static_cast<I>(g.in[0]), i1 = static_cast<I>(g.in[1]), i2 = static_cast<I>(g.in[2]);
  const I f0 = static_cast<I>(g.f[0]), f1 = static_cast<I>(g.f[1]), f2 = static_cast<I>(g.f[2]);
  const I o0 = i0 * f0, o1 = i1 * f1, o2 = i2 * f2;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const C v = in[i];
    I t = i;
    const I k = t % row;
    t /= row;
    const I x2 = t % i2;
    t /= i2;
    const I x1 = t % i1;
    t /= i1;
    const I x0 = t % i0;
    const I o = t / i0;
    for (I a = 0; a < f0; ++a) {
      const I r0 = o * o0 + x0 * f0 + a;
      for (I b = 0; b < f1; ++b) {
        C* dst = out + ((r0 * o1 + x1 * f1 + b) * o2 + x2 * f2) * row + k;
        for (I c = 0; c < f2; ++c) dst[c * row] = v;
      }
    }
  }
}

// Inner size 1, view axis 2 the tensor's last axis with factor kF: every vector of kE / kF input
// elements of a row becomes kE output elements (each input element kF times) in registers, stored
// as one vector to the f[0] * f[1] output rows it feeds.
template <typename T, int kE, int kF, typename I>
__global__ void UpscaleExpandKernel(const T* __restrict__ in, T* __restrict__ out, UpscaleGeometry g) {
  constexpr int kV = kE / kF;
  using InVec = VecPack<T, kV>;
  using OutVec = VecPack<T, kE>;
  const InVec* src = reinterpret_cast<const InVec*>(in);
  OutVec* dst = reinterpret_cast<OutVec*>(out);
  const I n = static_cast<I>(g.units), row = static_cast<I>(g.row);
  const I i0 = static_cast<I>(g.in[0]), i1 = static_cast<I>(g.in[1]);
  const I f0 = static_cast<I>(g.f[0]), f1 = static_cast<I>(g.f[1]);
  const I o0 = i0 * f0, o1 = i1 * f1;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const InVec v = src[i];
    OutVec w;
#pragma unroll
    for (int m = 0; m < kE; ++m) w.v[m] = v.v[m / kF];
    I t = i;
    const I xv = t % row;
    t /= row;
    const I x1 = t % i1;
    t /= i1;
    const I x0 = t % i0;
    const I o = t / i0;
    for (I a = 0; a < f0; ++a) {
      const I r0 = o * o0 + x0 * f0 + a;
      for (I b = 0; b < f1; ++b) dst[(r0 * o1 + x1 * f1 + b) * row + xv] = w;
    }
  }
}

struct InterpPass {
  int mode = kModeLinear;
  int coord = kCoordHalfPixel;
  bool exclude_outside = false;
  bool antialias = false;
  double cubic_a = -0.75;
  float extrapolation = 0.0f;
  AxisParams axis;
  int64_t outer = 1;
  int64_t inner = 1;
};

__device__ __forceinline__ double TapWeight(int mode, double x, double a) {
  x = fabs(x);
  if (mode == kModeLinear) return fmax(0.0, 1.0 - x);
  if (x <= 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
  return 0.0;
}

// [outer, in_len, inner] -> [outer, out_len, inner] along the pass's axis.
template <typename Src, typename Dst>
__global__ void ResizeInterpKernel(const Src* __restrict__ in, Dst* __restrict__ out, InterpPass p) {
  const AxisParams& a = p.axis;
  const int64_t n = p.outer * a.out * p.inner;
  const double support = p.antialias ? fmin(a.scale, 1.0) : 1.0;
  const double radius = p.mode == kModeLinear ? 1.0 : 2.0;
  const int64_t first = static_cast<int64_t>(floor(-radius / support)) + 1;
  const int64_t taps = 2 - 2 * first;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i % p.inner;
    const int64_t t = i / p.inner;
    const int64_t x = t % a.out;
    const int64_t o = t / a.out;
    bool extra = false;
    const double xo = SourceCoord(p.coord, a, x, &extra);
    if (extra) {
      Store(out + i, p.extrapolation);
      continue;
    }
    const double base = floor(xo);
    const double frac = xo - base;
    const int64_t i0 = static_cast<int64_t>(base);
    // Normalisers: the raw kernel sum (antialias), then the sum of the kept taps (exclude_outside).
    double sum_raw = 0.0;
    if (p.antialias) {
      for (int64_t k = 0; k < taps; ++k) {
        sum_raw += TapWeight(p.mode, support * (static_cast<double>(first + k) - frac), p.cubic_a);
      }
    }
    const bool norm_raw = p.antialias && sum_raw != 0.0;
    double sum_kept = 0.0;
    if (p.exclude_outside) {
      for (int64_t k = 0; k < taps; ++k) {
        const int64_t src = i0 + first + k;
        if (src < 0 || src >= a.in) continue;
        double w = TapWeight(p.mode, support * (static_cast<double>(first + k) - frac), p.cubic_a);
        if (norm_raw) w /= sum_raw;
        sum_kept += w;
      }
    }
    const bool norm_kept = p.exclude_outside && sum_kept != 0.0;
    const Src* row = in + o * a.in * p.inner + r;
    double acc = 0.0;
    for (int64_t k = 0; k < taps; ++k) {
      const int64_t src = i0 + first + k;
      if (p.exclude_outside && (src < 0 || src >= a.in)) continue;
      double w = TapWeight(p.mode, support * (static_cast<double>(first + k) - frac), p.cubic_a);
      if (norm_raw) w /= sum_raw;
      if (norm_kept) w /= sum_kept;
      if (w == 0.0) continue;
      acc += w * static_cast<double>(Load(row + ClampIndex(src, a.in) * p.inner));
    }
    Store(out + i, static_cast<float>(acc));
  }
}

// ---- Host parameters (as ComputeResize in tensor_resize.cc) -----------------------------------

Status ParseAttributes(const OpContext& op, ResizeParams* p) {
  EDGERT_ASSIGN_OR_RETURN(std::string m, AttrString(op, "mode", "nearest"));
  if (m == "nearest") {
    p->mode = kModeNearest;
  } else if (m == "linear" || m == "bilinear") {
    p->mode = kModeLinear;
  } else if (m == "cubic" && op.op() == OpType::kResize) {
    p->mode = kModeCubic;
  } else {
    return op.Error("mode '" + m + "' is not supported");
  }
  if (op.op() == OpType::kUpsample || op.opset() < 11) {
    p->coord = kCoordAsymmetric;
    p->nearest = kSimple;
    return Status::Ok();
  }
  EDGERT_ASSIGN_OR_RETURN(std::string c, AttrString(op, "coordinate_transformation_mode", "half_pixel"));
  const std::pair<const char*, int> coords[] = {{"half_pixel", kCoordHalfPixel},
                                                {"half_pixel_symmetric", kCoordHalfPixelSymmetric},
                                                {"pytorch_half_pixel", kCoordPytorchHalfPixel},
                                                {"align_corners", kCoordAlignCorners},
                                                {"asymmetric", kCoordAsymmetric},
                                                {"tf_crop_and_resize", kCoordTfCropAndResize}};
  p->coord = -1;
  for (const auto& [name, id] : coords) {
    if (c == name) p->coord = id;
  }
  if (p->coord < 0) return op.Error("coordinate_transformation_mode '" + c + "' is not supported");
  EDGERT_ASSIGN_OR_RETURN(std::string n, AttrString(op, "nearest_mode", "round_prefer_floor"));
  const std::pair<const char*, int> nearests[] = {{"round_prefer_floor", kRoundPreferFloor},
                                                  {"round_prefer_ceil", kRoundPreferCeil},
                                                  {"floor", kFloor},
                                                  {"ceil", kCeil}};
  p->nearest = -1;
  for (const auto& [name, id] : nearests) {
    if (n == name) p->nearest = id;
  }
  if (p->nearest < 0) return op.Error("nearest_mode '" + n + "' is not supported");
  EDGERT_ASSIGN_OR_RETURN(float a, AttrFloat(op, "cubic_coeff_a", -0.75f));
  p->cubic_a = a;
  EDGERT_ASSIGN_OR_RETURN(int64_t ex, AttrInt(op, "exclude_outside", 0));
  p->exclude_outside = ex != 0;
  EDGERT_ASSIGN_OR_RETURN(p->extrapolation, AttrFloat(op, "extrapolation_value", 0.0f));
  EDGERT_ASSIGN_OR_RETURN(int64_t antialias, AttrInt(op, "antialias", 0));
  p->antialias = antialias != 0;
  if (p->antialias && p->mode == kModeNearest) {
    return op.Error("antialias=1 applies to the linear and cubic modes, not nearest");
  }
  return Status::Ok();
}

bool HasNonEmptyInput(const OpContext& op, size_t i) { return op.has_input(i) && NumElements(op.input(i).shape) > 0; }

StatusOr<ResizeParams> ComputeParams(const OpContext& op, const Shape& in_shape) {
  ResizeParams p;
  EDGERT_RETURN_IF_ERROR(ParseAttributes(op, &p));
  p.in = in_shape;
  const int64_t rank = static_cast<int64_t>(p.in.size());
  const bool new_layout = op.op() == OpType::kResize && op.opset() >= 11;
  const size_t scales_at = new_layout ? 2 : 1;
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  if (HasNonEmptyInput(op, scales_at)) {
    EDGERT_ASSIGN_OR_RETURN(scales, ConstInputFloats(op, scales_at, "scales"));
  } else if (op.op() == OpType::kUpsample && op.attrs().Has("scales")) {
    EDGERT_ASSIGN_OR_RETURN(scales, op.attrs().GetFloats("scales", op.name()));
  }
  if (new_layout && HasNonEmptyInput(op, 3)) {
    EDGERT_ASSIGN_OR_RETURN(sizes, ConstInputInts(op, 3, "sizes"));
  }
  if (scales.empty() == sizes.empty()) return op.Error("exactly one of 'scales' and 'sizes' must be given");
  std::vector<int64_t> axes;
  if (new_layout && op.attrs().Has("axes")) {
    EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> raw, AttrInts(op, "axes", {}));
    EDGERT_ASSIGN_OR_RETURN(axes, NormalizeAxes(op, raw, rank));
  } else {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  const size_t n_axes = axes.size();
  p.scales.assign(static_cast<size_t>(rank), 1.0);
  p.out = p.in;
  if (!scales.empty()) {
    if (scales.size() != n_axes) return op.Error("scales has " + std::to_string(scales.size()) + " values");
    for (size_t i = 0; i < n_axes; ++i) {
      if (!(scales[i] > 0.0f) || !std::isfinite(scales[i])) return op.Error("scales must be positive");
      const size_t d = static_cast<size_t>(axes[i]);
      p.scales[d] = scales[i];
      p.out[d] = static_cast<int64_t>(std::floor(static_cast<double>(scales[i]) * static_cast<double>(p.in[d])));
    }
  } else {
    if (sizes.size() != n_axes) return op.Error("sizes has " + std::to_string(sizes.size()) + " values");
    for (size_t i = 0; i < n_axes; ++i) {
      if (sizes[i] <= 0) return op.Error("sizes must be positive");
      if (p.in[static_cast<size_t>(axes[i])] == 0) return op.Error("cannot resize an empty axis");
    }
    EDGERT_ASSIGN_OR_RETURN(std::string policy, AttrString(op, "keep_aspect_ratio_policy", "stretch"));
    if (policy == "stretch") {
      for (size_t i = 0; i < n_axes; ++i) {
        const size_t d = static_cast<size_t>(axes[i]);
        p.out[d] = sizes[i];
        p.scales[d] = static_cast<double>(sizes[i]) / static_cast<double>(p.in[d]);
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      double scale = 0.0;
      for (size_t i = 0; i < n_axes; ++i) {
        const double s = static_cast<double>(sizes[i]) / static_cast<double>(p.in[static_cast<size_t>(axes[i])]);
        scale = i == 0 ? s : (policy == "not_larger" ? std::min(scale, s) : std::max(scale, s));
      }
      for (int64_t d : axes) {
        p.scales[static_cast<size_t>(d)] = scale;
        p.out[static_cast<size_t>(d)] =
            static_cast<int64_t>(scale * static_cast<double>(p.in[static_cast<size_t>(d)]) + 0.5);
      }
    } else {
      return op.Error("keep_aspect_ratio_policy '" + policy + "' is not supported");
    }
  }
  p.roi_start.assign(static_cast<size_t>(rank), 0.0);
  p.roi_end.assign(static_cast<size_t>(rank), 1.0);
  if (p.coord == kCoordTfCropAndResize) {
    if (!HasNonEmptyInput(op, 1)) return op.Error("coordinate_transformation_mode tf_crop_and_resize needs 'roi'");
    EDGERT_ASSIGN_OR_RETURN(std::vector<float> roi, ConstInputFloats(op, 1, "roi"));
    if (roi.size() != 2 * n_axes) return op.Error("roi has " + std::to_string(roi.size()) + " values");
    for (size_t i = 0; i < n_axes; ++i) {
      p.roi_start[static_cast<size_t>(axes[i])] = roi[i];
      p.roi_end[static_cast<size_t>(axes[i])] = roi[i + n_axes];
    }
  }
  return p;
}

AxisParams MakeAxis(const ResizeParams& p, size_t d) {
  AxisParams a;
  a.in = p.in[d];
  a.out = p.out[d];
  a.scale = p.scales[d];
  a.roi_start = p.roi_start[d];
  a.roi_end = p.roi_end[d];
  return a;
}

// The integer up-scaling view of a nearest resize, or false when it does not qualify: every axis
// has out = f * in (f >= 1) and the CPU reference's source index of every output index x (its own
// index maps, ResizeNearestIndexMaps) is exactly x / f; the axes with f > 1 lie within three
// consecutive axes; nothing is empty. `*outer` / `*inner` get the products of the axes before /
// after that span.
bool IntegerUpscaleView(const OpContext& op, const ResizeParams& p, UpscaleGeometry* g, int64_t* outer,
                        int64_t* inner) {
  if (p.mode != kModeNearest || p.coord == kCoordTfCropAndResize) return false;
  if (NumElements(p.in) <= 0 || NumElements(p.out) <= 0) return false;
  if (!op.has_input(0) || op.input(0).shape != p.in) return false;
  StatusOr<std::vector<std::vector<int64_t>>> maps = ResizeNearestIndexMaps(op);
  const size_t rank = p.in.size();
  if (!maps.ok() || maps->size() != rank) return false;
  std::vector<int64_t> factor(rank, 1);
  int first = -1, last = -1;
  for (size_t d = 0; d < rank; ++d) {
    const int64_t in = p.in[d], out = p.out[d];
    if (out % in != 0) return false;
    const int64_t f = out / in;
    const std::vector<int64_t>& map = (*maps)[d];
    if (static_cast<int64_t>(map.size()) != out) return false;
    for (int64_t x = 0; x < out; ++x) {
      if (map[static_cast<size_t>(x)] != x / f) return false;
    }
    factor[d] = f;
    if (f > 1) {
      if (first < 0) first = static_cast<int>(d);
      last = static_cast<int>(d);
    }
  }
  if (first < 0 || last - first + 1 > 3) return false;
  *outer = 1;
  *inner = 1;
  for (int d = 0; d < first; ++d) *outer *= p.in[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(last) + 1; d < rank; ++d) *inner *= p.in[d];
  *g = UpscaleGeometry{};
  const int span = last - first + 1;
  for (int j = 0; j < span; ++j) {
    g->in[3 - span + j] = p.in[static_cast<size_t>(first + j)];
    g->f[3 - span + j] = factor[static_cast<size_t>(first + j)];
  }
  return true;
}

// ---- Kernels ------------------------------------------------------------------------------------

class NearestResizeKernel : public CudaKernel {
 public:
  NearestResizeKernel(const void* in, void* out, size_t elem, int64_t n, NearestGeometry g, const unsigned char fill[8])
      : in_(in), out_(out), elem_(elem), n_(n), g_(g) {
    std::memcpy(fill_, fill, 8);
  }
  Status Enqueue(cudaStream_t stream) override {
    if (n_ <= 0) return Status::Ok();
    DispatchBySize(elem_, [&](auto tag) {
      using T = decltype(tag);
      ResizeNearestKernel<T><<<GridSize(n_), kBlockSize, 0, stream>>>(static_cast<const T*>(in_), static_cast<T*>(out_),
                                                                      n_, g_, ElemFromBytes<T>(fill_));
    });
    return LaunchStatus("ResizeNearestKernel");
  }
  std::string Describe() const override { return "nearest"; }

 private:
  const void* in_;
  void* out_;
  size_t elem_;
  int64_t n_;
  NearestGeometry g_;
  unsigned char fill_[8];
};

using UpscaleLaunch = void (*)(const void* in, void* out, const UpscaleGeometry& g, cudaStream_t stream);

template <typename C, typename I>
void LaunchUpscaleRows(const void* in, void* out, const UpscaleGeometry& g, cudaStream_t stream) {
  UpscaleRowsKernel<C, I>
      <<<GridSize(g.units), kBlockSize, 0, stream>>>(static_cast<const C*>(in), static_cast<C*>(out), g);
}

template <typename T, int kE, int kF, typename I>
void LaunchUpscaleExpand(const void* in, void* out, const UpscaleGeometry& g, cudaStream_t stream) {
  UpscaleExpandKernel<T, kE, kF, I>
      <<<GridSize(g.units), kBlockSize, 0, stream>>>(static_cast<const T*>(in), static_cast<T*>(out), g);
}

// The rows launcher for chunks of `chunk` bytes (16, 8, 4, 2 or 1).
template <typename I>
UpscaleLaunch RowsLauncher(size_t chunk) {
  switch (chunk) {
    case 16:
      return &LaunchUpscaleRows<ElemOfSize<16>::Type, I>;
    case 8:
      return &LaunchUpscaleRows<ElemOfSize<8>::Type, I>;
    case 4:
      return &LaunchUpscaleRows<ElemOfSize<4>::Type, I>;
    case 2:
      return &LaunchUpscaleRows<ElemOfSize<2>::Type, I>;
    default:
      return &LaunchUpscaleRows<ElemOfSize<1>::Type, I>;
  }
}

// The expand launcher for kE output elements of T per vector, or nullptr when that vector is not
// 2 to 16 bytes holding whole groups of kF.
template <typename T, int kE, int kF, typename I>
UpscaleLaunch ExpandIf() {
  if constexpr (kE >= kF && kE % kF == 0 && kE * sizeof(T) <= 16) {
    return &LaunchUpscaleExpand<T, kE, kF, I>;
  } else {
    return nullptr;
  }
}

template <typename T, int kF, typename I>
UpscaleLaunch ExpandLauncherE(int64_t e) {
  switch (e) {
    case 16:
      return ExpandIf<T, 16, kF, I>();
    case 8:
      return ExpandIf<T, 8, kF, I>();
    case 4:
      return ExpandIf<T, 4, kF, I>();
    case 2:
      return ExpandIf<T, 2, kF, I>();
    default:
      return nullptr;
  }
}

template <typename I>
UpscaleLaunch ExpandLauncher(size_t elem, int64_t factor, int64_t e) {
  UpscaleLaunch launch = nullptr;
  DispatchBySize(elem, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (sizeof(T) <= 8) {
      if (factor == 2) launch = ExpandLauncherE<T, 2, I>(e);
      if (factor == 4) launch = ExpandLauncherE<T, 4, I>(e);
    }
  });
  return launch;
}

// Nearest integer up-scaling (IntegerUpscaleView): one launch, everything fixed at creation.
class IntegerUpscaleKernel : public CudaKernel {
 public:
  IntegerUpscaleKernel(const void* in, void* out, UpscaleGeometry g, UpscaleLaunch launch, bool expand,
                       std::string describe)
      : in_(in), out_(out), g_(g), launch_(launch), expand_(expand), describe_(std::move(describe)) {}
  Status Enqueue(cudaStream_t stream) override {
    launch_(in_, out_, g_, stream);
    return LaunchStatus(expand_ ? "UpscaleExpandKernel" : "UpscaleRowsKernel");
  }
  std::string Describe() const override { return describe_; }
  bool expand() const { return expand_; }

 private:
  const void* in_;
  void* out_;
  UpscaleGeometry g_;
  UpscaleLaunch launch_;
  bool expand_;
  std::string describe_;
};

// The integer up-scaling kernel of the view (g's in/f set, outer/inner as IntegerUpscaleView gave)
// for tensors of `elem`-byte elements at `in` / `out`.
CudaKernelPtr MakeIntegerUpscaleKernel(const void* in, void* out, size_t elem, UpscaleGeometry g, int64_t outer,
                                       int64_t inner, int64_t out_bytes) {
  const std::string factors = std::to_string(g.f[0]) + "x" + std::to_string(g.f[1]) + "x" + std::to_string(g.f[2]);
  // Expand: inner 1, the widest output vector of W bytes (E = W / elem elements, whole groups of
  // f[2]) that divides an output row, with the output aligned to W and the input to W / f[2].
  if (inner == 1 && (g.f[2] == 2 || g.f[2] == 4)) {
    for (int64_t w : {16, 8, 4, 2}) {
      if (w % static_cast<int64_t>(elem) != 0) continue;
      const int64_t e = w / static_cast<int64_t>(elem);
      if (e < g.f[2] || e % g.f[2] != 0) continue;
      const int64_t v = e / g.f[2];
      if (g.in[2] % v != 0 || !Aligned(out, static_cast<size_t>(w)) || !Aligned(in, static_cast<size_t>(v) * elem)) {
        continue;
      }
      const bool narrow = out_bytes / w <= int64_t{0x7fffffff};
      const UpscaleLaunch launch =
          narrow ? ExpandLauncher<uint32_t>(elem, g.f[2], e) : ExpandLauncher<uint64_t>(elem, g.f[2], e);
      if (launch == nullptr) continue;
      g.row = g.in[2] / v;
      g.units = outer * g.in[0] * g.in[1] * g.row;
      return std::make_unique<IntegerUpscaleKernel>(
          in, out, g, launch, true,
          "nearest-integer-expand " + std::to_string(v * static_cast<int64_t>(elem)) + "->" + std::to_string(w) +
              " bytes, factors " + factors + (narrow ? ", 32-bit index" : ", 64-bit index"));
    }
  }
  // Rows: the widest chunk that divides an inner row and both pointers' alignment.
  const int64_t row_bytes = inner * static_cast<int64_t>(elem);
  int64_t chunk = 1;
  for (int64_t c : {16, 8, 4, 2}) {
    if (row_bytes % c == 0 && Aligned(in, static_cast<size_t>(c)) && Aligned(out, static_cast<size_t>(c))) {
      chunk = c;
      break;
    }
  }
  const bool narrow = out_bytes / chunk <= int64_t{0x7fffffff};
  g.row = row_bytes / chunk;
  g.units = outer * g.in[0] * g.in[1] * g.in[2] * g.row;
  const UpscaleLaunch launch =
      narrow ? RowsLauncher<uint32_t>(static_cast<size_t>(chunk)) : RowsLauncher<uint64_t>(static_cast<size_t>(chunk));
  return std::make_unique<IntegerUpscaleKernel>(in, out, g, launch, false,
                                                "nearest-integer-rows " + std::to_string(chunk) + "-byte chunks x" +
                                                    std::to_string(g.row) + ", factors " + factors +
                                                    (narrow ? ", 32-bit index" : ", 64-bit index"));
}

size_t RoundUp256(size_t bytes) { return (bytes + 255) / 256 * 256; }

class InterpResizeKernel : public CudaKernel {
 public:
  InterpResizeKernel(const void* in, void* out, DataType dtype, size_t out_bytes, std::vector<InterpPass> passes,
                     size_t buffer_bytes)
      : in_(in),
        out_(out),
        dtype_(dtype),
        out_bytes_(out_bytes),
        passes_(std::move(passes)),
        buffer_bytes_(buffer_bytes) {}
  size_t WorkspaceBytes() const override { return passes_.size() > 1 ? 2 * buffer_bytes_ : 0; }
  void SetWorkspace(void* workspace) override { workspace_ = workspace; }

  Status Enqueue(cudaStream_t stream) override {
    if (passes_.empty()) {
      if (out_bytes_ > 0 && in_ != out_) {
        EDGERT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out_, in_, out_bytes_, cudaMemcpyDeviceToDevice, stream));
      }
      return Status::Ok();
    }
    float* buffers[2] = {static_cast<float*>(workspace_),
                         reinterpret_cast<float*>(static_cast<char*>(workspace_) + buffer_bytes_)};
    const size_t last = passes_.size() - 1;
    DispatchFloat(dtype_, [&](auto tag) {
      using T = decltype(tag);
      for (size_t k = 0; k < passes_.size(); ++k) {
        const InterpPass& p = passes_[k];
        const int64_t n = p.outer * p.axis.out * p.inner;
        if (n <= 0) continue;
        const unsigned grid = GridSize(n);
        float* scratch_out = buffers[k % 2];
        const float* scratch_in = k > 0 ? buffers[(k - 1) % 2] : nullptr;
        if (k == 0 && k == last) {
          ResizeInterpKernel<T, T>
              <<<grid, kBlockSize, 0, stream>>>(static_cast<const T*>(in_), static_cast<T*>(out_), p);
        } else if (k == 0) {
          ResizeInterpKernel<T, float><<<grid, kBlockSize, 0, stream>>>(static_cast<const T*>(in_), scratch_out, p);
        } else if (k == last) {
          ResizeInterpKernel<float, T><<<grid, kBlockSize, 0, stream>>>(scratch_in, static_cast<T*>(out_), p);
        } else {
          ResizeInterpKernel<float, float><<<grid, kBlockSize, 0, stream>>>(scratch_in, scratch_out, p);
        }
      }
    });
    return LaunchStatus("ResizeInterpKernel");
  }
  std::string Describe() const override { return "interp"; }

 private:
  const void* in_;
  void* out_;
  DataType dtype_;
  size_t out_bytes_;
  std::vector<InterpPass> passes_;
  size_t buffer_bytes_;
  void* workspace_ = nullptr;
};

}  // namespace

StatusOr<CudaKernelPtr> CreateResizeKernel(const CudaOpContext& ctx) { return CreateResizeKernel(ctx, true); }

const char* ResizeKernelPath(const CudaKernel& kernel) {
  if (const auto* k = dynamic_cast<const IntegerUpscaleKernel*>(&kernel)) {
    return k->expand() ? "nearest-integer-expand" : "nearest-integer-rows";
  }
  if (dynamic_cast<const NearestResizeKernel*>(&kernel) != nullptr) return "nearest";
  if (dynamic_cast<const InterpResizeKernel*>(&kernel) != nullptr) return "interp";
  return nullptr;
}

StatusOr<CudaKernelPtr> CreateResizeKernel(const CudaOpContext& ctx, bool allow_integer_path) {
  const CudaTensor& x = ctx.input(0);
  const CudaTensor& y = ctx.output(0);
  EDGERT_ASSIGN_OR_RETURN(ResizeParams p, ComputeParams(*ctx.op, x.shape));
  if (p.out != y.shape) {
    return ctx.Error("resized shape " + ShapeToString(p.out) + " disagrees with the output " + ShapeToString(y.shape));
  }
  if (x.dtype != y.dtype) return ctx.Error("input and output differ in dtype");
  const size_t rank = p.in.size();
  if (rank > static_cast<size_t>(kMaxRank)) {
    return ctx.NotSupported("input rank " + std::to_string(rank) + " is above " + std::to_string(kMaxRank));
  }
  if (p.mode == kModeNearest) {
    const size_t elem = DataTypeSize(x.dtype);
    if (elem != 1 && elem != 2 && elem != 4 && elem != 8) {
      return ctx.NotSupported(std::string("nearest mode cannot move dtype ") + DataTypeName(x.dtype));
    }
    UpscaleGeometry up;
    int64_t outer = 1, inner = 1;
    if (allow_integer_path && IntegerUpscaleView(*ctx.op, p, &up, &outer, &inner)) {
      return MakeIntegerUpscaleKernel(x.data, y.data, elem, up, outer, inner, static_cast<int64_t>(y.bytes()));
    }
    NearestGeometry g;
    g.rank = static_cast<int>(rank);
    g.coord = p.coord;
    g.nearest = p.nearest;
    const std::vector<int64_t> strides = ContiguousStrides(p.in);
    for (size_t d = 0; d < rank; ++d) {
      g.axis[d] = MakeAxis(p, d);
      // Every coordinate mode but tf_crop_and_resize maps an unchanged axis onto itself exactly.
      g.axis[d].identity = p.in[d] == p.out[d] && p.scales[d] == 1.0 && p.coord != kCoordTfCropAndResize;
      g.in_strides[d] = strides[d];
    }
    unsigned char fill[8];
    ScalarToBytes(p.extrapolation, x.dtype, fill);
    const int64_t n = NumElements(p.in) > 0 ? y.num_elements() : 0;
    return CudaKernelPtr(std::make_unique<NearestResizeKernel>(x.data, y.data, elem, n, g, fill));
  }
  if (x.dtype != DataType::kFloat32 && x.dtype != DataType::kFloat16) {
    return ctx.NotSupported(std::string("linear and cubic modes support float32 and float16, not ") +
                            DataTypeName(x.dtype));
  }
  std::vector<InterpPass> passes;
  size_t buffer_bytes = 0;
  if (NumElements(p.in) > 0 && NumElements(p.out) > 0) {
    Shape cur = p.in;
    for (size_t d = rank; d-- > 0;) {
      if (p.in[d] == p.out[d] && p.scales[d] == 1.0 && p.coord != kCoordTfCropAndResize) continue;
      InterpPass pass;
      pass.mode = p.mode;
      pass.coord = p.coord;
      pass.exclude_outside = p.exclude_outside;
      pass.antialias = p.antialias;
      pass.cubic_a = p.cubic_a;
      pass.extrapolation = p.extrapolation;
      pass.axis = MakeAxis(p, d);
      int64_t outer = 1, inner = 1;
      for (size_t i = 0; i < d; ++i) outer *= cur[i];
      for (size_t i = d + 1; i < rank; ++i) inner *= cur[i];
      pass.outer = outer;
      pass.inner = inner;
      cur[d] = p.out[d];
      passes.push_back(pass);
      buffer_bytes = std::max(buffer_bytes, RoundUp256(static_cast<size_t>(NumElements(cur)) * sizeof(float)));
    }
  }
  return CudaKernelPtr(
      std::make_unique<InterpResizeKernel>(x.data, y.data, x.dtype, y.bytes(), std::move(passes), buffer_bytes));
}

}  // namespace cuda
}  // namespace edgert
