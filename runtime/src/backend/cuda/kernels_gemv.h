// Matrix-vector products for Gemm layers with few rows (a classifier's fc layer at batch 1..4):
// Y[m, n] = act(alpha * sum_k X[m, k] * W[n, k] + beta * bias[n]) in float16 storage with float32
// accumulation, W row-major [N, K] (Gemm transB = 1: the layout ONNX exporters write for Linear).
//
// cuBLASLt's heuristic picks tile algorithms for these shapes that spread ResNet-50's fc layer
// (M 1, K 2048, N 1000: a 4 MB weight read) over 16 CTAs, 7.7 us on an H100; the read alone
// needs ~1.5 us at the HBM's bandwidth when every SM takes part. Here one warp owns one output
// column n for all M rows, reading W's row n once in 16-byte vectors (coalesced across the warp)
// and X's rows from L1/L2; a warp shuffle sums the lanes' partials.
//
// Thread rules: host functions are thread-safe; the launch is asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "edgert/status.h"
#include "fused_activation.h"

namespace edgert {
namespace cuda {

// Rows of X one launch handles (Y's rows beyond it take further launches).
inline constexpr int64_t kGemvMaxRows = 4;

struct GemvShape {
  int64_t m = 0;  // rows of X and Y
  int64_t k = 0;  // columns of X = columns of W
  int64_t n = 0;  // rows of W = columns of Y
  float alpha = 1.0f;
  float beta = 1.0f;  // scale of the bias (ignored without one)
};

// Whether EnqueueGemvFp16 takes the shape and pointers: 1 <= m, 8 <= k with k % 8 == 0, 1 <= n,
// k and n below 2^31, X and W 16-byte aligned (rows of K halves stay aligned as K % 8 == 0).
bool GemvSupported(const GemvShape& s, const void* x, const void* w);

// Y = act(alpha * X W^T + beta * bias), all float16 (bias may be null; Y must not alias X or W).
// `weights_constant`: W is written before any kernel on `stream` that this launch may overlap
// (the engine's weights), so with a programmatic launch the kernel loads its first W vectors
// before waiting for the preceding kernel. Internal when GemvSupported refuses the operands.
Status EnqueueGemvFp16(cudaStream_t stream, const GemvShape& s, const void* x, const void* w, const void* bias, void* y,
                       const FusedEpilogue& act, bool weights_constant);

}  // namespace cuda
}  // namespace edgert
