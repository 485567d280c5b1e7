// edgert's tensor-core implicit-GEMM convolution for float16 channels-last layers with C and K
// multiples of 8 (kernels_conv_igemm.cu): the 1x1 and 3x3 layers of ResNet-style networks, whose
// small-M layers (late stages at batch 1) it spreads over the GPU with a split-K over thread-block
// clusters (sm_90). kernels_conv.cu offers it as the tactic candidate "igemm-nhwc" of
// EdgertConvNhwc (ops/nhwc.h) next to cuDNN's plans and the other own NHWC kernels
// (kernels_conv_nhwc.h, kernels_conv_stem.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "edgert/status.h"
#include "edgert/tensor.h"
#include "fused_activation.h"
#include "kernels_conv_nhwc.h"

namespace edgert {
namespace cuda {

// The CTA tile: kIgemmBM output pixels x kIgemmBN output channels, kIgemmBK GEMM-K values per
// pipeline stage ("chunk").
inline constexpr int kIgemmBM = 64;
inline constexpr int kIgemmBN = 64;
inline constexpr int kIgemmBK = 32;
// The largest split-K: CTAs of one cluster, 8 (the portable cluster size) or, where the device
// allows the non-portable size (IgemmNhwcMaxSplits; H100: yes), 16.
inline constexpr int kIgemmPortableSplits = 8;
inline constexpr int kIgemmMaxSplits = 16;

// Whether EnqueueIgemmConvNhwc takes the layer: float16 storage, group == 1, C and K positive
// multiples of 8 (K at most 65535 * kIgemmBN), positive R / S / strides / dilations,
// non-negative leading pads, and extents for which every element offset of X (N * H * W * C), Y
// (N * P * Q * K) and W (K * R * S * C) and every window coordinate fits in 32 bits. Pointer
// alignment is not a condition (see EnqueueIgemmConvNhwc).
bool IgemmNhwcSupported(DataType dtype, const NhwcConvGeometry& g);

// How EnqueueIgemmConvNhwc runs a layer (PlanIgemmNhwc; the design is at the top of
// kernels_conv_igemm.cu): a grid of tiles_m x tiles_n CTA tiles x `splits` CTAs per tile, each of
// the split CTAs taking a contiguous range of `chunks_per_split` of the layer's `chunks` GEMM-K
// chunks; splits > 1 launches clusters of (1, 1, splits) CTAs that reduce their partial tiles
// through distributed shared memory.
struct IgemmNhwcConfig {
  int splits = 1;
  int64_t tiles_m = 0, tiles_n = 0;
  int64_t chunks = 0;            // ceil(R * S * C / kIgemmBK)
  int64_t chunks_per_split = 0;  // ceil(chunks / splits)

  // e.g. "igemm 64x64x32 split 4 grid 4x4x4".
  std::string Describe() const;
};

// Launch options (the defaults are what EnqueueIgemmConvNhwc without options does): `splits` is a
// test override; ConvKernel (kernels_conv.cu) sets `weights_constant` for a constant W.
struct IgemmNhwcOptions {
  int splits = 0;  // 0: the heuristic; else 1, 2, 4, 8 or 16, at most IgemmNhwcMaxSplits()
  // Where ProgrammaticLaunchEnabled(stream) (cuda_check.h: sm_90+, a created stream, EDGERT_PDL
  // not "0"): launch as a programmatic dependent launch (the kernel's CTAs may be scheduled while
  // the stream's preceding kernel finishes; they wait for its completion before any memory
  // access, kernels_conv_igemm.cu), or an ordinary launch where the driver refuses it. False: an
  // ordinary launch.
  bool programmatic_launch = true;
  // W is a constant that no kernel of the stream writes (a network weight): with a programmatic
  // launch the first pipeline stages' weight copies are issued before the wait for the preceding
  // kernel. False: W is read only after that wait, like X.
  bool weights_constant = false;
};

// The largest split count EnqueueIgemmConvNhwc may use on the current device: 1 below compute
// capability 9.0 (no clusters) or where the split-K kernel's 80 KB of shared memory exceed the
// device's per-block opt-in maximum, 16 where a 16-CTA cluster of it fits
// (cudaOccupancyMaxActiveClusters with the non-portable cluster size allowed), else 8. Queried
// once per device (a mutex-guarded cache; the query sets the split-K kernel's
// cudaFuncAttributeMaxDynamicSharedMemorySize and NonPortableClusterSizeAllowed); thread-safe.
StatusOr<int> IgemmNhwcMaxSplits();

// The plan for `g` on a device of `sm_count` SMs whose clusters allow `max_splits` (1, 8 or 16:
// IgemmNhwcMaxSplits). Heuristic: the smallest power of two up to max_splits for which
// tiles_m * tiles_n * splits reaches 90% of sm_count (the GPU is full), doubled only while every
// split keeps at least 2 chunks. A forced split count must be 1, 2, 4, 8 or 16 and at most
// max_splits (InvalidArgument, subject "splits"); a split may then get no chunk (its CTAs add
// zeros). Internal for a layer IgemmNhwcSupported refuses.
StatusOr<IgemmNhwcConfig> PlanIgemmNhwc(const NhwcConvGeometry& g, int sm_count, int max_splits,
                                        const IgemmNhwcOptions& options = {});

// Same formula and contract as EnqueueDirectConvNhwc (kernels_conv_nhwc.h): Y[n, p, q, k] =
// act(B[k] + sum_{r, s, c} X[n, p*sh - top + r*dh, q*sw - left + s*dw, c] * W[k, r, s, c] +
// Z[n, p, q, k]), taps outside X read 0; x, w, bias, residual and y are float16 (bias and
// residual may be null), float32 accumulation, deterministic (no atomics; the split-K sums its
// partial tiles in a fixed order). One launch, no allocation, no global workspace; it queries the
// device (SM count, compute capability, IgemmNhwcMaxSplits) and launches (on sm_90
// cudaLaunchKernelEx: a programmatic dependent launch that waits for the stream's preceding
// kernel before touching memory other than a constant W, with clusters for a split-K), nothing
// that synchronises, so it may be captured into a CUDA graph. Internal, without launching, for a
// layer IgemmNhwcSupported refuses. Where x or w is not 16-byte aligned or y or residual not
// 4-byte aligned (the kernel's 16-byte copies and half2 epilogue), it runs EnqueueDirectConvNhwc
// instead (same result, slower); the bias may have any alignment.
Status EnqueueIgemmConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                            const void* w, const void* bias, const void* residual, void* y, const FusedEpilogue& act);
// The same with test overrides (InvalidArgument for a forced split count PlanIgemmNhwc refuses).
Status EnqueueIgemmConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                            const void* w, const void* bias, const void* residual, void* y, const FusedEpilogue& act,
                            const IgemmNhwcOptions& options);

}  // namespace cuda
}  // namespace edgert
