// edgert's own channels-last convolution kernels (kernels_conv_nhwc.cu) for EdgertConvNhwc
// (ops/nhwc.h): the fallback that takes any layer (direct) and the depthwise kernel, both with
// the fused epilogue y = act(conv + bias[k] + residual) inline, float32 or float16 storage with
// float32 accumulation. kernels_conv.cu offers them as tactic candidates next to cuDNN's plans.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "edgert/status.h"
#include "edgert/tensor.h"
#include "fused_activation.h"
#include "nhwc.h"

namespace edgert {
namespace cuda {

// Geometry of one channels-last layer: X [N, H, W, C], W [K, R, S, C / group], Y [N, P, Q, K].
struct NhwcConvGeometry {
  int64_t n = 0, h = 1, w = 1, c = 0;
  int64_t k = 0, r = 1, s = 1;
  int64_t p = 1, q = 1;
  int64_t group = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;  // leading pads; trailing pads only shape P / Q
};

// The geometry of an EdgertConvNhwc layer as ResolveConvNhwc (ops/nhwc.h) resolved it.
inline NhwcConvGeometry MakeNhwcConvGeometry(const NhwcConvParams& np) {
  const WindowGeometry& wg = np.window;
  NhwcConvGeometry g;
  g.n = np.n;
  g.h = wg.in[0];
  g.w = wg.in[1];
  g.c = np.c;
  g.k = np.k;
  g.r = wg.kernel[0];
  g.s = wg.kernel[1];
  g.p = wg.out[0];
  g.q = wg.out[1];
  g.group = np.group;
  g.stride_h = wg.strides[0];
  g.stride_w = wg.strides[1];
  g.dilation_h = wg.dilations[0];
  g.dilation_w = wg.dilations[1];
  g.pad_top = wg.pad_begin[0];
  g.pad_left = wg.pad_begin[1];
  return g;
}

// Y[n, p, q, k] = act(B[k] + sum_{r, s, c} X[n, p*sh - top + r*dh, q*sw - left + s*dw, g*Cg + c]
//                     * W[k, r, s, c] + Z[n, p, q, k]), g = k / (K / group), taps outside X read 0.
// Any geometry (one thread per output element, channels innermost so that a warp's X reads are
// shared and its Y writes coalesced). x, w, bias, residual and y share `dtype` (float32 or
// float16); bias and residual may be null. One launch, no allocation.
Status EnqueueDirectConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                             const void* w, const void* bias, const void* residual, void* y, const FusedEpilogue& act);

// Whether EnqueueDepthwiseConvNhwc takes `g`: group == C == K (channel multiplier 1).
bool DepthwiseNhwcSupported(const NhwcConvGeometry& g);

// How EnqueueDepthwiseConvNhwc runs a layer (PlanDepthwiseNhwc; the design is at the top of
// kernels_conv_nhwc.cu):
//   tiled:   square 3x3 / 5x5 / 7x7 filters, stride_w 1 or 2, dilation_w 1 (stride_h,
//            dilation_h and pads any), every index below 2^31, a vector of at least 2 channels. A
//            CTA stages the weights of a channel slice in shared memory; each thread computes 4
//            consecutive output pixels of one row for `vector` channels (32-bit index math).
//   generic: any other depthwise layer: one thread per output pixel and `vector` channels,
//            weights read from global memory, 64-bit index math where an index could reach 2^31
//            (`wide_index`).
struct DepthwiseNhwcConfig {
  bool tiled = false;
  int vector = 1;                     // channels per thread (16 bytes at most)
  bool wide_index = false;            // generic only
  int kernel = 0;                     // tiled: R == S
  int stride_w = 0;                   // tiled: 1 or 2
  unsigned block_x = 0, block_y = 0;  // CTA: tiled slice vectors x pixel blocks; generic block_x
  unsigned grid_x = 0, grid_y = 0;    // tiled: channel slices x pixel-block groups; generic grid_x
  int iterations = 1;                 // tiled: pixel-block groups per CTA

  // e.g. "tiled 3x3/s2 v8 cta 12x21 grid 1x299 x4" or "generic v4 int32 grid 120".
  std::string Describe() const;
};

// Overrides for tests (the defaults are what EnqueueDepthwiseConvNhwc without options does).
struct DepthwiseNhwcOptions {
  int vector = 0;           // channels per thread; 0: the widest allowed, narrowed on small layers
  bool allow_tiled = true;  // false: the generic kernel even where the tiled one applies
  bool wide_index = false;  // generic kernel: 64-bit index math even for small tensors
  unsigned max_grid_y = 0;  // tiled: at most this many CTAs per slice, so that each loops (0: one wave)
};

// The launch EnqueueDepthwiseConvNhwc makes for these pointers on the current device (it asks for
// the device's SM count on every call and for the tiled kernel's occupancy once per kernel, CTA
// size and device: a mutex-guarded cache). The vector is the widest that divides C and keeps X,
// B, Z and Y aligned (8 / 4 / 2 / 1 halves, 4 / 2 / 1 floats), halved down to 2 while the layer
// has fewer than 1024 threads per SM. A forced `vector` of 1 takes the generic kernel;
// InvalidArgument (subject "vector") for one that is not a power of two, does not divide C, is
// not aligned or is wider than 16 bytes; Internal for a non-depthwise layer.
StatusOr<DepthwiseNhwcConfig> PlanDepthwiseNhwc(DataType dtype, const NhwcConvGeometry& g, const void* x,
                                                const void* bias, const void* residual, const void* y,
                                                const DepthwiseNhwcOptions& options = {});

// The depthwise case (W [C, R, S, 1], any alignment of W), as planned by PlanDepthwiseNhwc. Same
// formula and contract as above; no allocation, one launch.
Status EnqueueDepthwiseConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                                const void* w, const void* bias, const void* residual, void* y,
                                const FusedEpilogue& act);
// The same with test overrides.
Status EnqueueDepthwiseConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                                const void* w, const void* bias, const void* residual, void* y,
                                const FusedEpilogue& act, const DepthwiseNhwcOptions& options);

}  // namespace cuda
}  // namespace edgert
