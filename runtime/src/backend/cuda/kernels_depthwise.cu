// edgert's depthwise convolution (contract in kernels_depthwise.h).
//
// Algorithm (DepthwiseTiledKernel, one launch):
//   1. The host picks an output tile per thread block: TW columns (one per threadIdx.x, a power of
//      two from 8 to 256, wide for 1-D layers) by TY * RPT rows (threadIdx.y, RPT rows per
//      thread, 1/2/4 by the output height), at most 256 threads; the staged input region
//      ((TY * RPT - 1) * sh + (kh - 1) * dh + 1) x ((TW - 1) * sw + (kw - 1) * dw + 1) plus the
//      kernel taps must fit 48 KB of shared memory as float (else the tile shrinks: RPT, then TY,
//      then TW; if even 8 x 1 does not fit, step 6).
//   2. Grid: x = one (n, c) plane per block column, y = tiles of that plane (grid-stride over
//      tiles beyond 65535).
//   3. The block loads the channel's kernel taps into shared memory (float) and, per tile, the
//      input region with its halo, zero outside the image (the pads), converting fp16 to float
//      once per element (rows by threadIdx.y, columns by threadIdx.x: coalesced along W, no
//      division; fp16 by __half2 pairs when W is even and X 4-byte aligned: the staged region
//      then starts one column early when the window's first column is odd (TileArgs::shift), so
//      that every pair is aligned and wholly inside or outside the row).
//   4. Each thread computes its RPT outputs of one column from shared memory, accumulating in
//      float; square 3x3 / 5x5 / 7x7 kernels are compile-time sizes (unrolled), others loop.
//   5. Epilogue in registers: + bias[c], + residual, activation (DeviceActivation::Finish: the residual
//      before or after it), one store.
//   6. DepthwiseDirectKernel: one thread per output reading global memory, for windows too large
//      to stage (huge kernels or dilations).
// Contracts: every output element is written once per launch; no allocation; planes and offsets
// within a plane fit int32 (DepthwiseSupported), plane bases are int64.
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "activations.cuh"
#include "cuda_check.h"
#include "cuda_device.cuh"
#include "kernels_depthwise.h"

namespace edgert {
namespace cuda {
namespace {

constexpr int kMaxThreads = 256;
constexpr int64_t kMaxSharedFloats = (48 * 1024) / sizeof(float);

struct TileArgs {
  int c = 0;
  int in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int kh = 0, kw = 0, sh = 0, sw = 0, dh = 0, dw = 0, pt = 0, pl = 0;
  int tile_h = 0, tile_w = 0;        // output tile (tile_w == blockDim.x, tile_h == blockDim.y * RPT)
  int in_tile_h = 0, in_tile_w = 0;  // staged input region
  int tiles_w = 0, num_tiles = 0;    // tiles per plane
  bool half2 = false;                // fp16 staging by pairs (even in_w, 4-byte aligned x)
  int shift = 0;                     // half2: 1 when the window's first column is odd (staged one earlier)
};

template <typename T, int K, int RPT>
__global__ void __launch_bounds__(kMaxThreads)
    DepthwiseTiledKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                         const T* __restrict__ residual, T* __restrict__ y, TileArgs a, DeviceActivation act) {
  extern __shared__ float smem[];
  const int kh = K > 0 ? K : a.kh;
  const int kw = K > 0 ? K : a.kw;
  const int taps = kh * kw;
  float* s_w = smem;
  float* s_in = smem + taps;
  const int64_t plane = blockIdx.x;
  const int ch = static_cast<int>(plane % a.c);
  const int tid = threadIdx.y * blockDim.x + threadIdx.x;
  for (int i = tid; i < taps; i += blockDim.x * blockDim.y) s_w[i] = Load(w + static_cast<int64_t>(ch) * taps + i);
  const float b = bias != nullptr ? Load(bias + ch) : 0.0f;
  const T* xp = x + plane * a.in_h * a.in_w;
  const int64_t out_base = plane * a.out_h * a.out_w;
  for (int tile = blockIdx.y; tile < a.num_tiles; tile += gridDim.y) {
    const int oh0 = (tile / a.tiles_w) * a.tile_h;
    const int ow0 = (tile % a.tiles_w) * a.tile_w;
    const int ih0 = oh0 * a.sh - a.pt;
    const int iw0 = ow0 * a.sw - a.pl - a.shift;  // the staged region's first column
    __syncthreads();  // the previous tile's reads are done
    for (int r = threadIdx.y; r < a.in_tile_h; r += blockDim.y) {
      const int ih = ih0 + r;
      const bool row_in = ih >= 0 && ih < a.in_h;
      const T* xrow = xp + static_cast<int64_t>(row_in ? ih : 0) * a.in_w;
      float* srow = s_in + r * a.in_tile_w;
      if constexpr (std::is_same_v<T, __half>) {
        if (a.half2) {
          // iw0 and in_w even: a pair is wholly inside or wholly outside the row.
          for (int col = 2 * threadIdx.x; col < a.in_tile_w; col += 2 * blockDim.x) {
            const int iw = iw0 + col;
            float2 v = make_float2(0.0f, 0.0f);
            if (row_in && iw >= 0 && iw < a.in_w) v = __half22float2(*reinterpret_cast<const __half2*>(xrow + iw));
            srow[col] = v.x;
            if (col + 1 < a.in_tile_w) srow[col + 1] = v.y;
          }
          continue;
        }
      }
      for (int col = threadIdx.x; col < a.in_tile_w; col += blockDim.x) {
        const int iw = iw0 + col;
        srow[col] = (row_in && iw >= 0 && iw < a.in_w) ? Load(xrow + iw) : 0.0f;
      }
    }
    __syncthreads();
    const int ow_l = threadIdx.x;
    const int ow = ow0 + ow_l;
    if (ow >= a.out_w) continue;
#pragma unroll
    for (int r = 0; r < RPT; ++r) {
      const int oh_l = threadIdx.y * RPT + r;
      const int oh = oh0 + oh_l;
      if (oh >= a.out_h) break;
      const float* base = s_in + oh_l * a.sh * a.in_tile_w + ow_l * a.sw + a.shift;
      float acc = b;
      if (K > 0) {
#pragma unroll
        for (int i = 0; i < (K > 0 ? K : 1); ++i) {
          const float* row = base + i * a.dh * a.in_tile_w;
#pragma unroll
          for (int j = 0; j < (K > 0 ? K : 1); ++j) acc += row[j * a.dw] * s_w[i * K + j];
        }
      } else {
        for (int i = 0; i < kh; ++i) {
          const float* row = base + i * a.dh * a.in_tile_w;
          const float* wr = s_w + i * kw;
          for (int j = 0; j < kw; ++j) acc += row[j * a.dw] * wr[j];
        }
      }
      const int64_t idx = out_base + oh * a.out_w + ow;
      Store(y + idx, act.Finish(acc, residual != nullptr ? Load(residual + idx) : kNoResidual));
    }
  }
}

template <typename T>
__global__ void DepthwiseDirectKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                      const T* __restrict__ residual, T* __restrict__ y, DepthwiseParams p,
                                      DeviceActivation act) {
  const int64_t out_plane = p.out_h * p.out_w;
  const int64_t total = p.n * p.c * out_plane;
  const int64_t taps = p.kernel_h * p.kernel_w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = i / out_plane;
    const int64_t o = i - plane * out_plane;
    const int64_t oh = o / p.out_w;
    const int64_t ow = o - oh * p.out_w;
    const int64_t ch = plane % p.c;
    const T* xp = x + plane * p.in_h * p.in_w;
    const T* wp = w + ch * taps;
    float acc = bias != nullptr ? Load(bias + ch) : 0.0f;
    for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
      const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
      if (ih < 0 || ih >= p.in_h) continue;
      for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
        const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
        if (iw < 0 || iw >= p.in_w) continue;
        acc += Load(xp + ih * p.in_w + iw) * Load(wp + kh * p.kernel_w + kw);
      }
    }
    Store(y + i, act.Finish(acc, residual != nullptr ? Load(residual + i) : kNoResidual));
  }
}

int NextPow2(int64_t v) {
  int p = 1;
  while (p < v && p < (1 << 30)) p *= 2;
  return p;
}

int64_t SharedFloats(const DepthwiseParams& p, int tile_w, int tile_h) {
  const int64_t in_tile_h = (tile_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1;
  const int64_t in_tile_w = (tile_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1;
  return p.kernel_h * p.kernel_w + in_tile_h * (in_tile_w + 1);  // + 1: the half2 shift
}

template <typename T, int K>
void LaunchTiled(cudaStream_t stream, int rpt, dim3 grid, dim3 block, size_t shared, const T* x, const T* w,
                 const T* bias, const T* residual, T* y, const TileArgs& a, DeviceActivation act) {
  switch (rpt) {
    case 4:
      DepthwiseTiledKernel<T, K, 4><<<grid, block, shared, stream>>>(x, w, bias, residual, y, a, act);
      break;
    case 2:
      DepthwiseTiledKernel<T, K, 2><<<grid, block, shared, stream>>>(x, w, bias, residual, y, a, act);
      break;
    default:
      DepthwiseTiledKernel<T, K, 1><<<grid, block, shared, stream>>>(x, w, bias, residual, y, a, act);
      break;
  }
}

}  // namespace

bool DepthwiseSupported(const DepthwiseParams& p) {
  const int64_t kInt = int64_t{1} << 30;
  if (p.n < 1 || p.c < 1 || p.in_h < 1 || p.in_w < 1 || p.out_h < 1 || p.out_w < 1) return false;
  if (p.kernel_h < 1 || p.kernel_w < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1)
    return false;
  if (p.pad_top < 0 || p.pad_left < 0 || p.pad_top >= kInt || p.pad_left >= kInt) return false;
  if (p.n * p.c >= kInt * 2 - 1) return false;
  if (p.in_h * p.in_w >= kInt || p.out_h * p.out_w >= kInt || p.kernel_h * p.kernel_w >= kInt) return false;
  // Input coordinates of the last output's last tap stay in int32.
  return p.out_h * p.stride_h + p.kernel_h * p.dilation_h < kInt &&
         p.out_w * p.stride_w + p.kernel_w * p.dilation_w < kInt;
}

Status EnqueueDepthwiseConv(cudaStream_t stream, DataType dtype, const DepthwiseParams& p, const void* x, const void* w,
                            const void* bias, const void* residual, void* y, const FusedEpilogue& act) {
  if (!DepthwiseSupported(p)) return Internal("depthwise convolution: unsupported geometry");
  const DeviceActivation dact = ToDevice(act);
  // Step 1: the tile.
  int rpt = p.out_h >= 64 ? 4 : (p.out_h >= 16 ? 2 : 1);
  const int tw0 = std::min(32, std::max(8, NextPow2(p.out_w)));
  int ty = std::min(kMaxThreads / tw0, NextPow2((p.out_h + rpt - 1) / rpt));
  int tw = std::min(std::max(8, NextPow2(p.out_w)), kMaxThreads / ty);
  while (SharedFloats(p, tw, ty * rpt) > kMaxSharedFloats) {
    if (rpt > 1) {
      rpt /= 2;
    } else if (ty > 1) {
      ty /= 2;
    } else if (tw > 8) {
      tw /= 2;
    } else {
      break;
    }
  }
  const bool staged = SharedFloats(p, tw, ty * rpt) <= kMaxSharedFloats;
  bool ok = false;
  if (!staged) {
    // Step 6.
    const int64_t total = p.n * p.c * p.out_h * p.out_w;
    ok = DispatchFloat(dtype, [&](auto tag) {
      using T = decltype(tag);
      DepthwiseDirectKernel<T><<<GridSize(total), kBlockSize, 0, stream>>>(
          static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
          static_cast<const T*>(residual), static_cast<T*>(y), p, dact);
    });
    if (!ok) return Internal(std::string("depthwise convolution: unsupported dtype ") + DataTypeName(dtype));
    return LaunchStatus("DepthwiseDirectKernel");
  }
  TileArgs a;
  a.c = static_cast<int>(p.c);
  a.in_h = static_cast<int>(p.in_h);
  a.in_w = static_cast<int>(p.in_w);
  a.out_h = static_cast<int>(p.out_h);
  a.out_w = static_cast<int>(p.out_w);
  a.kh = static_cast<int>(p.kernel_h);
  a.kw = static_cast<int>(p.kernel_w);
  a.sh = static_cast<int>(p.stride_h);
  a.sw = static_cast<int>(p.stride_w);
  a.dh = static_cast<int>(p.dilation_h);
  a.dw = static_cast<int>(p.dilation_w);
  a.pt = static_cast<int>(p.pad_top);
  a.pl = static_cast<int>(p.pad_left);
  a.tile_w = tw;
  a.tile_h = ty * rpt;
  a.in_tile_h = (a.tile_h - 1) * a.sh + (a.kh - 1) * a.dh + 1;
  a.in_tile_w = (a.tile_w - 1) * a.sw + (a.kw - 1) * a.dw + 1;
  a.half2 = dtype == DataType::kFloat16 && p.in_w % 2 == 0 && reinterpret_cast<uintptr_t>(x) % 4 == 0;
  a.shift = a.half2 ? static_cast<int>(p.pad_left % 2) : 0;
  a.in_tile_w += a.shift;
  a.tiles_w = static_cast<int>((p.out_w + tw - 1) / tw);
  const int tiles_h = static_cast<int>((p.out_h + a.tile_h - 1) / a.tile_h);
  a.num_tiles = a.tiles_w * tiles_h;
  // Step 2.
  const dim3 grid(static_cast<unsigned>(p.n * p.c), static_cast<unsigned>(std::min(a.num_tiles, 65535)));
  const dim3 block(static_cast<unsigned>(tw), static_cast<unsigned>(ty));
  const size_t shared = static_cast<size_t>(SharedFloats(p, tw, a.tile_h)) * sizeof(float);
  const int k = (p.kernel_h == p.kernel_w && (p.kernel_h == 3 || p.kernel_h == 5 || p.kernel_h == 7))
                    ? static_cast<int>(p.kernel_h)
                    : 0;
  ok = DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    const T* wt = static_cast<const T*>(w);
    const T* bt = static_cast<const T*>(bias);
    const T* rt = static_cast<const T*>(residual);
    T* yt = static_cast<T*>(y);
    switch (k) {
      case 3:
        LaunchTiled<T, 3>(stream, rpt, grid, block, shared, xt, wt, bt, rt, yt, a, dact);
        break;
      case 5:
        LaunchTiled<T, 5>(stream, rpt, grid, block, shared, xt, wt, bt, rt, yt, a, dact);
        break;
      case 7:
        LaunchTiled<T, 7>(stream, rpt, grid, block, shared, xt, wt, bt, rt, yt, a, dact);
        break;
      default:
        LaunchTiled<T, 0>(stream, rpt, grid, block, shared, xt, wt, bt, rt, yt, a, dact);
        break;
    }
  });
  if (!ok) return Internal(std::string("depthwise convolution: unsupported dtype ") + DataTypeName(dtype));
  return LaunchStatus("DepthwiseTiledKernel");
}

}  // namespace cuda
}  // namespace edgert
