// edgert's own channels-last convolution kernels (kernels_conv_nhwc.cu) for EdgertConvNhwc
// (ops/nhwc.h): the fallback that takes any layer (direct) and the depthwise kernel, both with
// the fused epilogue y = act(conv + bias[k] + residual) inline, float32 or float16 storage with
// float32 accumulation. kernels_conv.cu offers them as tactic candidates next to cuDNN's plans.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "edgert/status.h"
#include "edgert/tensor.h"
#include "fused_activation.h"

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

// Y[n, p, q, k] = act(B[k] + sum_{r, s, c} X[n, p*sh - top + r*dh, q*sw - left + s*dw, g*Cg + c]
//                     * W[k, r, s, c] + Z[n, p, q, k]), g = k / (K / group), taps outside X read 0.
// Any geometry (one thread per output element, channels innermost so that a warp's X reads are
// shared and its Y writes coalesced). x, w, bias, residual and y share `dtype` (float32 or
// float16); bias and residual may be null. One launch, no allocation.
Status EnqueueDirectConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                             const void* w, const void* bias, const void* residual, void* y, const FusedEpilogue& act);

// Whether EnqueueDepthwiseConvNhwc takes `g`: group == C == K (channel multiplier 1).
bool DepthwiseNhwcSupported(const NhwcConvGeometry& g);

// The depthwise case (W [C, R, S, 1]): one thread per output pixel and group of 4, 2 or 1
// consecutive channels (the widest that divides C and keeps every pointer aligned to the vector:
// half2 / 4 x half, float2 / float4 loads and stores). Same formula and contract as above.
Status EnqueueDepthwiseConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                                const void* w, const void* bias, const void* residual, void* y,
                                const FusedEpilogue& act);

}  // namespace cuda
}  // namespace edgert
