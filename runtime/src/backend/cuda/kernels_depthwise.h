// edgert's own depthwise convolution (kernels_depthwise.cu): Conv with group == C_in == C_out
// (channel multiplier 1), 1-D (as 2-D with H = 1) or 2-D, NCHW, float32 or float16 storage with
// float32 accumulation, any kernel size, strides, asymmetric pads and dilations, and the fused
// epilogue y = act(conv + bias[c] + residual) in the same launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "edgert/status.h"
#include "edgert/tensor.h"
#include "fused_activation.h"

namespace edgert {
namespace cuda {

// Geometry of one depthwise layer (2-D; a 1-D layer has in_h = out_h = kernel_h = 1, stride_h =
// dilation_h = 1, pad_top = 0).
struct DepthwiseParams {
  int64_t n = 0;
  int64_t c = 0;
  int64_t in_h = 1, in_w = 1;
  int64_t out_h = 1, out_w = 1;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;  // leading pads; trailing pads only shape out_h / out_w
};

// Whether the kernel takes `p` (positive extents and steps, planes below 2^31 elements).
bool DepthwiseSupported(const DepthwiseParams& p);

// y[n][c][oh][ow] = act(bias[c] + sum_{kh, kw} x[n][c][oh * sh - pt + kh * dh][ow * sw - pl + kw * dw]
//                       * w[c][0][kh][kw] + residual[n][c][oh][ow]), taps outside the input reading 0.
// x, w, bias, residual and y share `dtype` (float32 or float16); bias and residual may be null.
// One launch, no allocation; the error names the failing launch.
Status EnqueueDepthwiseConv(cudaStream_t stream, DataType dtype, const DepthwiseParams& p, const void* x, const void* w,
                            const void* bias, const void* residual, void* y, const FusedEpilogue& act);

}  // namespace cuda
}  // namespace edgert
