// EdgertInt8Conv: a 2-D convolution on INT8 tensors with INT32 accumulation and a fused float
// epilogue (bias, optional INT8 residual, activation, requantization). The builder's INT8 lowering
// writes it for the convolutions that stay INT8 (builder/src/passes/int8_lowering.cc); it is never
// found in an ONNX model. Shared by the CPU reference (int8_conv.cc) and the CUDA kernel
// (backend/cuda/kernels_int8_conv.cu) so both accept the same layers with the same messages.
//
// Layout: INT8 activations are NHWC (channels innermost: what tensor-core INT8 kernels read), the
// weights KRSC. The tensors' shapes in the network are the physical ones ([N, H, W, C]); the
// builder places Transpose + QuantizeLinear in front of a layer whose input comes from float.
//
// Inputs:
//   0  X        int8 [N, H, W, C]               C % 16 == 0 (16-byte vectors of channels)
//   1  W        int8 [K, R, S, C]   constant    symmetric per output channel (no zero point)
//   2  B        float32 [K]         constant    optional (empty input: no bias)
//   3  W_scale  float32 [K]         constant    > 0, the weight scale of each output channel
//   4  Z        int8 [N, P, Q, K]               optional residual, NHWC
// Attributes:
//   x_scale (float > 0, required), z_scale (float > 0, required with Z), y_scale (float > 0:
//   present <=> the output is int8), strides [sh, sw] (default 1, 1), pads [top, left, bottom, right]
//   (default 0), dilations [dh, dw] (default 1, 1); the activation of edgert/fused_activation.h.
// Output:
//   y_scale present: int8 [N, P, Q, K] (NHWC); absent: float32 [N, K, P, Q] (NCHW, what the float
//   layers after it read).
// Semantics (float32 arithmetic, each step rounded, no fused multiply-add, so the CPU and the GPU
// agree bit for bit up to the activation's transcendental functions):
//   acc   = sum over r, s, c of X[n, p*sh - top + r*dh, q*sw - left + s*dw, c] * W[k, r, s, c]
//           (int32; positions outside the input read 0)
//   m[k]  = x_scale * W_scale[k]
//   v     = float(acc) * m[k] + B[k]
//   v     = v + z_scale * float(Z[n, p, q, k])          (with Z)
//   v     = act(v)
//   int8:  Y = clamp(round_half_even(v / y_scale), -128, 127), NaN -> 0 (QuantizeLinear's rule)
//   float: Y[n, k, p, q] = v
//
// EdgertQuantizeNhwc (the conversion the builder puts in front of INT8 layers that read a float
// tensor): X float32 [N, C, H, W] -> Y int8 [N, H, W, C], Y[n, h, w, c] = QuantizeToInt8(X[n, c, h,
// w], scale) with the float attribute `scale` > 0: QuantizeLinear with zero point 0 and the
// transpose to NHWC in one pass.
#pragma once

#include <cmath>
#include <cstdint>

#include "edgert/op_def.h"
#include "edgert/status.h"
#include "fused_activation.h"

namespace edgert {

struct Int8ConvParams {
  int64_t n = 0, h = 0, w = 0, c = 0;  // X [N, H, W, C]
  int64_t k = 0, r = 0, s = 0;         // W [K, R, S, C]
  int64_t p = 0, q = 0;                // output spatial size
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dil_h = 1, dil_w = 1;
  float x_scale = 0, z_scale = 0, y_scale = 0;
  bool has_bias = false;
  bool has_residual = false;
  bool int8_output = false;  // y_scale given
  FusedEpilogue epilogue;
};

// Checks dtypes, shapes, constants and attributes (errors name the layer and the input or
// attribute). Needs the inputs' static shapes; W, B and W_scale must be constants.
StatusOr<Int8ConvParams> ResolveInt8Conv(const OpContext& ctx);

// EdgertQuantizeNhwc's checks (rank 4 float32 input, a positive finite `scale`); returns the scale.
StatusOr<float> ResolveQuantizeNhwc(const OpContext& ctx);

// The output of the layer: int8 [N, P, Q, K] or float32 [N, K, P, Q].
Shape Int8ConvOutputShape(const Int8ConvParams& p);

// QuantizeLinear's rounding for a symmetric int8 value (round half to even, saturate, NaN -> 0).
inline int8_t QuantizeToInt8(float v, float scale) {
  const float x = v / scale;
  if (x != x) return 0;
  const float r = std::nearbyint(x);  // the default rounding mode: half to even
  if (r <= -128.0f) return -128;
  if (r >= 127.0f) return 127;
  return static_cast<int8_t>(r);
}

}  // namespace edgert
