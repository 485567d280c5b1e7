// edgert's tensor-core kernel for the small-channel first convolution of a network (the "stem":
// ResNet's 7x7 stride-2 C = 3, YOLO / MobileNet's 3x3 stride-2 C = 3) in channels-last float16,
// an implicit GEMM on mma.sync whose A fragments are gathered straight from a staged input patch
// (kernels_conv_stem.cu). kernels_conv.cu offers it as the tactic
// candidate "stem-nhwc" of EdgertConvNhwc (ops/nhwc.h) next to cuDNN's plans and the other own
// NHWC kernels (kernels_conv_nhwc.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "edgert/status.h"
#include "edgert/tensor.h"
#include "fused_activation.h"
#include "kernels_conv_nhwc.h"

namespace edgert {
namespace cuda {

// The largest GEMM-K (R * S * C rounded up to a multiple of 16) the stem kernel takes.
inline constexpr int64_t kStemMaxGemmK = 256;
// The largest input channel count C the stem kernel takes.
inline constexpr int64_t kStemMaxChannels = 8;
// The largest input patch (halves) of one tile of 128 output pixels: rows ((TP - 1) * sh +
// (R - 1) * dh + 1) x columns ((TQ - 1) * sw + (S - 1) * dw + 1) x C, TP * TQ = 128, TQ a power
// of two from 8 to 128 (the ResNet stem: 2331 halves; a 7x7 window fits strides up to 6 with
// C = 3, up to 4 with C = 5).
inline constexpr int64_t kStemMaxPatch = 16384;

// Whether EnqueueStemConvNhwc takes the layer: float16 storage, group == 1, 1 <= C <= 8, K a
// positive multiple of 8, R * S * C rounded up to 16 at most kStemMaxGemmK, positive strides and
// dilations, non-negative leading pads, a 128-pixel tile rectangle whose input patch is at most
// kStemMaxPatch halves (this bounds strides and dilations), and extents for which every per-image
// offset, window coordinate and tile count fits in 32 bits (the batch offset is 64-bit: any N).
bool StemNhwcSupported(DataType dtype, const NhwcConvGeometry& g);

// Same formula and contract as EnqueueDirectConvNhwc (kernels_conv_nhwc.h): Y[n, p, q, k] =
// act(B[k] + sum_{r, s, c} X[n, p*sh - top + r*dh, q*sw - left + s*dw, c] * W[k, r, s, c] +
// Z[n, p, q, k]), taps outside X read 0; x, w, bias, residual and y are float16 (bias and
// residual may be null), accumulation in float32. One launch, no allocation; on a layer that
// StemNhwcSupported refuses it returns Internal, and Unsupported where the layer's shared memory
// (weights, tap table, bias and two patch buffers) exceeds the device's per-block maximum (never
// on sm_80 / sm_90; on 99 KB devices such as sm_86 / sm_89 only K > 32 with patches near
// kStemMaxPatch), both without launching. Thread-safe; besides the launch it only queries the
// device and sets the kernel's dynamic shared-memory limit (cudaFuncSetAttribute, the device's opt-in maximum: one
// value per kernel instantiation and device), nothing that synchronises, so it may be captured into a CUDA graph.
Status EnqueueStemConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x, const void* w,
                           const void* bias, const void* residual, void* y, const FusedEpilogue& act);

}  // namespace cuda
}  // namespace edgert
