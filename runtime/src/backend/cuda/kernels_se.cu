// CUDA kernel: EdgertSqueezeExcite (contract in ops/squeeze_excite.h), float32 or float16 storage
// (X, Y and the four parameter tensors share the device dtype), float arithmetic, both layouts.
// Two launches, no atomics (deterministic), no host work in Enqueue (CUDA-graph capturable):
//  1. Partial channel sums into the workspace, float partial[N][K][C] (K pixel chunks):
//     NHWC: grid (K, channel blocks of `ct` channels, N); a block is rows x ct threads, lane = a
//       channel (coalesced row reads), row = every rows-th pixel of the chunk; the rows' sums are
//       added in shared memory in row order.
//     NCHW: grid (K, C, N); a block reduces its chunk of one (n, c) plane (BlockReduce).
//     K aims at about 2 blocks per SM with at least ~1024 elements per block, and at most 4096
//     partials per image (launch 2 reads them all in every block): at batch 1, 112x112x32 gives
//     128 blocks (NHWC) / 288 (NCHW), 7x7x1152 27 (NHWC; X is only 56K elements) / 1152 (NCHW).
//  2. Gate and scale: grid (J element chunks, N; J ~ 2 blocks per SM, each with at least
//     max(2048, C * Cr / 8) elements, since each block repeats the squeeze); each block
//     a. s[c] = (sum over k of partial[n][k][c]) / (H * W) for every c, into shared memory;
//     b. z[r] = act(B1[r] + W1[r, :] . s), a warp per r, four rows of a warp at once (lanes over
//        C, coalesced W1 rows, read 16 bytes at a time when C allows);
//     c. g[c] = gate(B2[c] + W2[c, :] . z) for the channels its chunk touches, a thread per c (its
//        W2 row in 16-byte packs when Cr allows, the loads unrolled so that one memory latency
//        serves several multiply-adds: a warp per c with a shuffle reduction per channel left the
//        latency of each W2 row exposed, 0.12 ms for C = 1152 on an H100), written over s (no
//        longer needed);
//     d. Y[e] = X[e] * g[channel(e)] over its contiguous chunk of the image, 16 bytes at a time
//        when X, Y, the chunk and the image are 16-byte aligned.
//     Y may be X (the memory plan runs the layer in place): each element is read, then written, by
//     one thread, and no block reads another's chunk (hence no __restrict__ on x and y).
//     Shared memory: (C + Cr) floats, at most 48 KiB (larger layers are refused at creation).
#include <algorithm>
#include <cstdint>
#include <string>

#include "../../ops/squeeze_excite.h"
#include "activations.cuh"
#include "cuda_device.cuh"
#include "kernels_reduce_util.cuh"

namespace edgert {
namespace cuda {
namespace {

using namespace reduce_util;  // NOLINT: BlockReduce, WarpReduce, FloatSum, MakeLaunchKernel

constexpr int kThreads = 256;
constexpr size_t kMaxSharedBytes = 48 * 1024;

template <typename T>
__global__ void SePartialNhwc(const T* __restrict__ x, float* __restrict__ partial, int64_t hw, int64_t c,
                              int64_t pixels, int ct) {
  GridDependencySync();
  extern __shared__ float rows_sum[];
  const int64_t k = blockIdx.x, n = blockIdx.z, chunks = gridDim.x;
  const int lane = threadIdx.x % ct, row = threadIdx.x / ct, rows = blockDim.x / ct;
  const int64_t ch = static_cast<int64_t>(blockIdx.y) * ct + lane;
  const int64_t p0 = k * pixels, p1 = min(hw, p0 + pixels);
  float acc = 0.0f;
  if (ch < c) {
    const T* xi = x + n * hw * c + ch;
    for (int64_t p = p0 + row; p < p1; p += rows) acc += Load(xi + p * c);
  }
  rows_sum[threadIdx.x] = acc;
  __syncthreads();
  if (row == 0 && ch < c) {
    float sum = 0.0f;
    for (int r = 0; r < rows; ++r) sum += rows_sum[r * ct + lane];
    partial[(n * chunks + k) * c + ch] = sum;
  }
}

template <typename T>
__global__ void SePartialNchw(const T* __restrict__ x, float* __restrict__ partial, int64_t hw, int64_t c,
                              int64_t pixels) {
  GridDependencySync();
  __shared__ float smem[32];
  const int64_t k = blockIdx.x, ch = blockIdx.y, n = blockIdx.z, chunks = gridDim.x;
  const T* plane = x + (n * c + ch) * hw;
  const int64_t p0 = k * pixels, p1 = min(hw, p0 + pixels);
  float acc = 0.0f;
  for (int64_t p = p0 + threadIdx.x; p < p1; p += blockDim.x) acc += Load(plane + p);
  acc = BlockReduce(acc, FloatSum(), smem);
  if (threadIdx.x == 0) partial[(n * chunks + k) * c + ch] = acc;
}

struct SeArgs {
  int64_t c = 0, cr = 0, hw = 0;
  int64_t chunks = 0;       // K of launch 1
  int64_t chunk_elems = 0;  // elements per block of launch 2 (a multiple of 16 bytes' worth)
  bool channels_last = false;
  bool vectorized = false;     // X, Y in 16-byte packs (launch 2, step d)
  bool w1_vectorized = false;  // W1's rows in 16-byte packs (step b)
  bool w2_vectorized = false;  // W2's rows in 16-byte packs (step c)
  DeviceActivation act, gate;
};

__device__ __forceinline__ int64_t ChannelOf(const SeArgs& a, int64_t e) {
  return a.channels_last ? e % a.c : e / a.hw;
}

template <typename T>
__global__ void SeGateScale(const T* x, T* y, const float* __restrict__ partial, const T* __restrict__ w1,
                            const T* __restrict__ b1, const T* __restrict__ w2, const T* __restrict__ b2, SeArgs a) {
  GridDependencySync();
  extern __shared__ float buf[];
  float* s = buf;        // [C]: the means, then the gates
  float* z = buf + a.c;  // [Cr]
  const int64_t n = blockIdx.y;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  // a. Means.
  const float inv_hw = 1.0f / static_cast<float>(a.hw);
  const float* pn = partial + n * a.chunks * a.c;
  for (int64_t ch = threadIdx.x; ch < a.c; ch += blockDim.x) {
    float sum = 0.0f;
    for (int64_t k = 0; k < a.chunks; ++k) sum += pn[k * a.c + ch];
    s[ch] = sum * inv_hw;
  }
  __syncthreads();
  // b. Squeeze.
  // A warp takes kRows rows at once (rows r, r + warps, ...), so that their loads are in flight
  // together rather than one row's latency after the other's.
  constexpr int kRows = 4;
  for (int64_t r0 = warp; r0 < a.cr; r0 += static_cast<int64_t>(warps) * kRows) {
    float dot[kRows];
    const T* rows[kRows];
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      dot[i] = 0.0f;
      const int64_t r = r0 + static_cast<int64_t>(i) * warps;
      rows[i] = w1 + (r < a.cr ? r : r0) * a.c;  // a row past Cr repeats row r0 (its result is dropped)
    }
    if (a.w1_vectorized) {
      constexpr int V = 16 / sizeof(T);
      for (int64_t ch = static_cast<int64_t>(lane) * V; ch < a.c; ch += 32 * V) {
        VecPack<T, V> w[kRows];
#pragma unroll
        for (int i = 0; i < kRows; ++i) w[i] = *reinterpret_cast<const VecPack<T, V>*>(rows[i] + ch);
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const float sv = s[ch + j];
#pragma unroll
          for (int i = 0; i < kRows; ++i) dot[i] += Load(&w[i].v[j]) * sv;
        }
      }
    } else {
      for (int64_t ch = lane; ch < a.c; ch += 32) {
        const float sv = s[ch];
#pragma unroll
        for (int i = 0; i < kRows; ++i) dot[i] += Load(rows[i] + ch) * sv;
      }
    }
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const int64_t r = r0 + static_cast<int64_t>(i) * warps;
      const float sum = WarpReduce(dot[i], FloatSum());
      if (lane == 0 && r < a.cr) z[r] = a.act.Apply(Load(b1 + r) + sum);
    }
  }
  __syncthreads();
  // c. Gates of the channels this block's chunk touches.
  const int64_t image = a.c * a.hw;
  const int64_t e0 = static_cast<int64_t>(blockIdx.x) * a.chunk_elems;
  const int64_t e1 = min(image, e0 + a.chunk_elems);
  int64_t lo = 0, hi = a.c - 1;
  if (!a.channels_last) {
    lo = e0 / a.hw;
    hi = (e1 - 1) / a.hw;
  } else if (e1 - e0 < a.c && e0 % a.c <= (e1 - 1) % a.c) {
    lo = e0 % a.c;
    hi = (e1 - 1) % a.c;
  }
  for (int64_t ch = lo + threadIdx.x; ch <= hi; ch += blockDim.x) {
    const T* row = w2 + ch * a.cr;
    float dot = Load(b2 + ch);
    if (a.w2_vectorized) {
      constexpr int V = 16 / sizeof(T);
#pragma unroll 4
      for (int64_t r = 0; r < a.cr; r += V) {
        const VecPack<T, V> w = *reinterpret_cast<const VecPack<T, V>*>(row + r);
#pragma unroll
        for (int j = 0; j < V; ++j) dot += Load(&w.v[j]) * z[r + j];
      }
    } else {
#pragma unroll 8
      for (int64_t r = 0; r < a.cr; ++r) dot += Load(row + r) * z[r];
    }
    s[ch] = a.gate.Apply(dot);
  }
  __syncthreads();
  // d. Scale.
  const T* xi = x + n * image;
  T* yi = y + n * image;
  if (a.vectorized) {
    constexpr int V = 16 / sizeof(T);
    using Pack = VecPack<T, V>;
    for (int64_t e = e0 + static_cast<int64_t>(threadIdx.x) * V; e < e1; e += static_cast<int64_t>(blockDim.x) * V) {
      Pack p = *reinterpret_cast<const Pack*>(xi + e);
#pragma unroll
      for (int j = 0; j < V; ++j) Store(&p.v[j], Load(&p.v[j]) * s[ChannelOf(a, e + j)]);
      *reinterpret_cast<Pack*>(yi + e) = p;
    }
  } else {
    for (int64_t e = e0 + threadIdx.x; e < e1; e += blockDim.x) Store(yi + e, Load(xi + e) * s[ChannelOf(a, e)]);
  }
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

StatusOr<CudaKernelPtr> CreateSqueezeExciteKernel(const CudaOpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(SqueezeExciteParams p, ResolveSqueezeExcite(*ctx.op));
  const DataType dtype = ctx.input(0).dtype;
  static const char* const kNames[] = {"X", "W1", "B1", "W2", "B2"};
  for (size_t i = 1; i < 5; ++i) {
    if (ctx.input(i).dtype != dtype) {
      return ctx.NotSupported(std::string("input ") + kNames[i] + " is " + DataTypeName(ctx.input(i).dtype) +
                              " on the device while X is " + DataTypeName(dtype));
    }
  }
  if (ctx.output(0).dtype != dtype) return ctx.NotSupported("output Y's device dtype differs from X's");
  const size_t shared = static_cast<size_t>(p.c + p.cr) * sizeof(float);
  if (shared > kMaxSharedBytes) {
    return ctx.NotSupported("C + Cr = " + std::to_string(p.c + p.cr) + " exceeds the kernel's shared memory (" +
                            std::to_string(kMaxSharedBytes / sizeof(float)) + " floats)");
  }
  if (p.n > 65535 || p.c > 65535) {
    return ctx.NotSupported("batch " + std::to_string(p.n) + " or channels " + std::to_string(p.c) +
                            " exceed the grid limit 65535");
  }
  const int64_t sm = ctx.resources != nullptr && ctx.resources->sm_count > 0 ? ctx.resources->sm_count : 132;
  const int64_t hw = p.h * p.w;
  const int64_t target = 2 * sm;  // blocks per launch
  // Launch 1 geometry.
  int ct = 32;
  while (ct < 128 && ct < p.c) ct *= 2;
  const int64_t channel_blocks = p.channels_last ? CeilDiv(p.c, ct) : p.c;
  const int64_t min_pixels = p.channels_last ? std::max<int64_t>(kThreads / ct, 1024 / ct) : 1024;
  int64_t chunks = std::max<int64_t>(1, CeilDiv(target, std::max<int64_t>(1, p.n * channel_blocks)));
  // At most 16 KiB of partials per image: every block of launch 2 reads all of its image's.
  chunks = std::min<int64_t>({chunks, 256, std::max<int64_t>(1, hw / min_pixels), std::max<int64_t>(1, 4096 / p.c)});
  const int64_t pixels = CeilDiv(hw, chunks);
  chunks = CeilDiv(hw, pixels);
  // Launch 2 geometry.
  const int64_t image = p.c * hw;
  const int64_t vec = 16 / static_cast<int64_t>(DataTypeSize(dtype));
  // Every block recomputes the squeeze (C * Cr multiply-adds): at least an eighth of that in
  // elements of X per block, and at least 2048.
  const int64_t min_elems = std::max<int64_t>(2048, p.c * p.cr / 8);
  int64_t blocks2 = std::max<int64_t>(1, std::min(CeilDiv(image, min_elems), CeilDiv(target, p.n)));
  int64_t chunk_elems = CeilDiv(CeilDiv(image, blocks2), vec) * vec;
  blocks2 = CeilDiv(image, chunk_elems);
  SeArgs args;
  args.c = p.c;
  args.cr = p.cr;
  args.hw = hw;
  args.chunks = chunks;
  args.chunk_elems = chunk_elems;
  args.channels_last = p.channels_last;
  args.vectorized = image % vec == 0 && Aligned(ctx.input(0).data, 16) && Aligned(ctx.output(0).data, 16);
  args.w1_vectorized = p.c % vec == 0 && Aligned(ctx.input(1).data, 16);
  args.w2_vectorized = p.cr % vec == 0 && Aligned(ctx.input(3).data, 16);
  args.act = ToDevice(p.activation);
  args.gate = ToDevice(p.gate);
  const size_t workspace = static_cast<size_t>(p.n * chunks * p.c) * sizeof(float);
  const void* x = ctx.input(0).data;
  void* y = ctx.output(0).data;
  const void* w1 = ctx.input(1).data;
  const void* b1 = ctx.input(2).data;
  const void* w2 = ctx.input(3).data;
  const void* b2 = ctx.input(4).data;
  const int64_t n = p.n;
  const bool nhwc = p.channels_last;
  StatusOr<CudaKernelPtr> kernel =
      ctx.NotSupported(std::string(DataTypeName(dtype)) + " input is not supported (float32, float16 are)");
  DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    T* yt = static_cast<T*>(y);
    const T* w1t = static_cast<const T*>(w1);
    const T* b1t = static_cast<const T*>(b1);
    const T* w2t = static_cast<const T*>(w2);
    const T* b2t = static_cast<const T*>(b2);
    kernel = MakeLaunchKernel(
        "EdgertSqueezeExcite",
        [=](cudaStream_t stream, void* ws) {
          if (n == 0 || image == 0) return;
          float* partial = static_cast<float*>(ws);
          if (nhwc) {
            const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(channel_blocks),
                            static_cast<unsigned>(n));
            LaunchDependentUnchecked(SePartialNhwc<T>, grid, dim3(kThreads), kThreads * sizeof(float), stream, xt,
                                     partial, hw, args.c, pixels, ct);
          } else {
            const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(args.c), static_cast<unsigned>(n));
            LaunchDependentUnchecked(SePartialNchw<T>, grid, dim3(LineBlockSize(pixels)), 0, stream, xt, partial, hw,
                                     args.c, pixels);
          }
          const dim3 grid2(static_cast<unsigned>(blocks2), static_cast<unsigned>(n));
          // A failed launch stays cudaGetLastError's, which MakeLaunchKernel reads.
          LaunchDependentUnchecked(SeGateScale<T>, grid2, dim3(kThreads), shared, stream, xt, yt, partial, w1t, b1t,
                                   w2t, b2t, args);
        },
        std::max<size_t>(workspace, 16));
  });
  return kernel;
}

}  // namespace cuda
}  // namespace edgert
