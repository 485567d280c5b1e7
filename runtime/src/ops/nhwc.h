// Channels-last float layers: EdgertConvNhwc and EdgertMaxPoolNhwc. The builder's layout pass
// (builder/src/passes/nhwc_layout.cc) writes them for FP16 builds, where tensor-core convolutions
// read and write NHWC directly and the NCHW<->NHWC conversions around every convolution would
// cost more than the convolution; they are never found in an ONNX model. Shared by the CPU
// reference (nn_conv.cc, nn_pool.cc) and the CUDA kernels (backend/cuda/kernels_conv.cu,
// kernels_norm_pool.cu) so both accept the same layers with the same messages.
//
// Layout: the tensors' shapes in the network are the physical ones. A channels-last activation is
// [N, H, W, C]; elementwise layers between two channels-last layers need no change (their inputs
// are permuted alike); the builder places Transpose layers where an NCHW reader remains.
//
// EdgertConvNhwc: Conv (2-D only) with its fused epilogue (edgert/fused_activation.h):
//   inputs   0  X  float [N, H, W, C]
//            1  W  float [K, R, S, C / group]   (KRSC: the ONNX weight [K, C/g, R, S] permuted)
//            2  B  float [K]                    optional
//            3  Z  float [N, P, Q, K]           optional residual (added before the activation)
//   attributes: those of Conv, with the same meaning and defaults: strides, pads [top, left,
//            bottom, right], dilations, group, auto_pad, kernel_shape (must match W's R, S when
//            given), and the fused activation.
//   output   Y  float [N, P, Q, K]
//   Y[n, p, q, k] = act(B[k] + sum over r, s, c of X[n, ih, iw, g*Cg + c] * W[k, r, s, c] + Z[n, p, q, k])
//   with g = k / (K / group), ih = p*sh - top + r*dh, iw = q*sw - left + s*dw (outside: 0): the
//   ONNX Conv of the NCHW tensors, permuted.
//
// EdgertMaxPoolNhwc: MaxPool (2-D only, one output: no Indices) on [N, H, W, C] -> [N, P, Q, C],
//   with MaxPool's attributes (kernel_shape required, strides, pads, dilations, auto_pad,
//   ceil_mode; storage_order is meaningless without Indices and refused).
#pragma once

#include <cstdint>

#include "edgert/op_def.h"
#include "edgert/status.h"
#include "fused_activation.h"
#include "nn_common.h"

namespace edgert {

// The geometry of a channels-last layer; `window` is ResolveWindow's over [H, W].
struct NhwcConvParams {
  int64_t n = 0, h = 0, w = 0, c = 0;  // X [N, H, W, C]
  int64_t k = 0, r = 0, s = 0;         // W [K, R, S, C / group]
  int64_t group = 1;
  WindowGeometry window;  // window.out = {P, Q}
  FusedEpilogue epilogue;
};

// EdgertConvNhwc's checks (float inputs, ranks 4, W and B against X and group, Z against the
// output, attributes); errors name the layer and the input or attribute.
StatusOr<NhwcConvParams> ResolveConvNhwc(const OpContext& ctx);

// EdgertMaxPoolNhwc's checks; returns the window over [H, W].
StatusOr<WindowGeometry> ResolveMaxPoolNhwc(const OpContext& ctx);

}  // namespace edgert
