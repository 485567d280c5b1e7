// EnqueueGemvFp16 (contract in kernels_gemv.h).
//
// GemvKernel<MR, kChunk, kPrefetch>: 256 threads = 8 warps, warp w of CTA b owns output column
// n = 8 * b + w for rows m0 .. m0 + MR - 1 (MR = min(4, M - m0); one launch per 4 rows). kChunk,
// the 16-byte W vectors a lane has in flight, is 8 where a row has more than 128 vectors (K > 1024:
// ResNet-50's 2048-wide row is then read in one round trip) and 4 otherwise.
//   1. With kPrefetch (constant weights), the lane's first chunk of W's row n (vectors lane,
//      lane + 32, ..., up to kChunk of them) is loaded before GridDependencySync, so the weight
//      read overlaps the preceding kernel's tail; then the wait.
//   2. Chunks of kChunk 16-byte vectors per lane (8 halves each) over K: for each vector v the
//      lane loads X[m, 8v .. 8v + 7] of each row (16-byte loads; X is small and shared by all
//      warps, so it comes from L1/L2) and accumulates the 8 products per row in float.
//   3. The 32 lanes' partials are summed with __shfl_xor_sync (fixed order: deterministic);
//      lane 0 applies alpha, the bias (beta) and the activation and writes Y[m, n] per row.
// A warp whose n is past N returns after the wait (no CTA barrier is used).
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "activations.cuh"
#include "cuda_check.h"
#include "cuda_device.cuh"
#include "kernels_gemv.h"

namespace edgert {
namespace cuda {
namespace {

constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;

__device__ __forceinline__ void Fma8(float& acc, const uint4& xv, const uint4& wv) {
  const __half2* xh = reinterpret_cast<const __half2*>(&xv);
  const __half2* wh = reinterpret_cast<const __half2*>(&wv);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 a = __half22float2(xh[i]);
    const float2 b = __half22float2(wh[i]);
    acc = fmaf(a.x, b.x, acc);
    acc = fmaf(a.y, b.y, acc);
  }
}

template <int MR, int kChunk, bool kPrefetch>
__global__ void __launch_bounds__(kGemvThreads)
    GemvKernel(const __half* __restrict__ x, const __half* __restrict__ w, const __half* __restrict__ bias,
               __half* __restrict__ y, int k, int n, float alpha, float beta, DeviceActivation act) {
  const int lane = threadIdx.x % 32;
  const int col = blockIdx.x * kGemvWarps + threadIdx.x / 32;
  const int vectors = k / 8;
  const uint4* wrow = reinterpret_cast<const uint4*>(w) + static_cast<int64_t>(col < n ? col : 0) * vectors;
  uint4 wv[kChunk];
  // Step 1.
  if (kPrefetch && col < n) {
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      const int v = lane + 32 * c;
      if (v < vectors) wv[c] = __ldg(wrow + v);
    }
  }
  GridDependencySync();
  if (col >= n) return;
  const uint4* xrow = reinterpret_cast<const uint4*>(x);
  float acc[MR];
#pragma unroll
  for (int r = 0; r < MR; ++r) acc[r] = 0.0f;
  // Step 2.
  for (int base = 0; base < vectors; base += 32 * kChunk) {
    if (!kPrefetch || base > 0) {
#pragma unroll
      for (int c = 0; c < kChunk; ++c) {
        const int v = base + lane + 32 * c;
        if (v < vectors) wv[c] = __ldg(wrow + v);
      }
    }
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      const int v = base + lane + 32 * c;
      if (v >= vectors) continue;
#pragma unroll
      for (int r = 0; r < MR; ++r) Fma8(acc[r], xrow[static_cast<int64_t>(r) * vectors + v], wv[c]);
    }
  }
  // Step 3.
#pragma unroll
  for (int r = 0; r < MR; ++r) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], offset);
  }
  if (lane != 0) return;
  const float b = bias != nullptr ? beta * __half2float(bias[col]) : 0.0f;
#pragma unroll
  for (int r = 0; r < MR; ++r) y[static_cast<int64_t>(r) * n + col] = __float2half_rn(act.Apply(alpha * acc[r] + b));
}

template <int MR, int kChunk>
Status LaunchGemvChunk(cudaStream_t stream, const __half* x, const __half* w, const __half* bias, __half* y, int k,
                       int n, float alpha, float beta, const DeviceActivation& act, bool prefetch) {
  const dim3 grid(static_cast<unsigned>((n + kGemvWarps - 1) / kGemvWarps));
  return prefetch ? LaunchDependent("GemvKernel", GemvKernel<MR, kChunk, true>, grid, kGemvThreads, 0, stream, x, w,
                                    bias, y, k, n, alpha, beta, act)
                  : LaunchDependent("GemvKernel", GemvKernel<MR, kChunk, false>, grid, kGemvThreads, 0, stream, x, w,
                                    bias, y, k, n, alpha, beta, act);
}

template <int MR>
Status LaunchGemv(cudaStream_t stream, const __half* x, const __half* w, const __half* bias, __half* y, int k, int n,
                  float alpha, float beta, const DeviceActivation& act, bool prefetch) {
  return k / 8 > 32 * 4 ? LaunchGemvChunk<MR, 8>(stream, x, w, bias, y, k, n, alpha, beta, act, prefetch)
                        : LaunchGemvChunk<MR, 4>(stream, x, w, bias, y, k, n, alpha, beta, act, prefetch);
}

}  // namespace

bool GemvSupported(const GemvShape& s, const void* x, const void* w) {
  constexpr int64_t kInt32Max = 0x7fffffff;
  return s.m >= 1 && s.k >= 8 && s.k % 8 == 0 && s.n >= 1 && s.k <= kInt32Max && s.n <= kInt32Max &&
         s.m <= kInt32Max / s.n && Aligned(x, 16) && Aligned(w, 16);
}

Status EnqueueGemvFp16(cudaStream_t stream, const GemvShape& s, const void* x, const void* w, const void* bias, void* y,
                       const FusedEpilogue& act, bool weights_constant) {
  if (!GemvSupported(s, x, w)) {
    return Internal("GemvKernel: unsupported operands (M " + std::to_string(s.m) + ", K " + std::to_string(s.k) +
                    ", N " + std::to_string(s.n) + "; K must be a multiple of 8 and X, W 16-byte aligned)");
  }
  const auto* xh = static_cast<const __half*>(x);
  const auto* wh = static_cast<const __half*>(w);
  const auto* bh = static_cast<const __half*>(bias);
  auto* yh = static_cast<__half*>(y);
  const DeviceActivation dact = ToDevice(act);
  const int k = static_cast<int>(s.k);
  const int n = static_cast<int>(s.n);
  for (int64_t m0 = 0; m0 < s.m; m0 += kGemvMaxRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kGemvMaxRows, s.m - m0));
    const __half* xm = xh + m0 * s.k;
    __half* ym = yh + m0 * s.n;
    Status st;
    switch (rows) {
      case 1:
        st = LaunchGemv<1>(stream, xm, wh, bh, ym, k, n, s.alpha, s.beta, dact, weights_constant);
        break;
      case 2:
        st = LaunchGemv<2>(stream, xm, wh, bh, ym, k, n, s.alpha, s.beta, dact, weights_constant);
        break;
      case 3:
        st = LaunchGemv<3>(stream, xm, wh, bh, ym, k, n, s.alpha, s.beta, dact, weights_constant);
        break;
      default:
        st = LaunchGemv<4>(stream, xm, wh, bh, ym, k, n, s.alpha, s.beta, dact, weights_constant);
        break;
    }
    EDGERT_RETURN_IF_ERROR(st);
  }
  return Status::Ok();
}

}  // namespace cuda
}  // namespace edgert
