// edgert's channels-last convolution kernels (contracts in kernels_conv_nhwc.h).
//
// DirectConvNhwcKernel (any layer), grid-stride over the output in memory order:
//   1. Output element i = ((n * P + p) * Q + q) * K + k: consecutive threads take consecutive
//      output channels of one pixel, so the Y (and residual) accesses of a warp are coalesced and
//      its X reads (one pixel, the group's channels) are the same addresses for every thread of a
//      group (broadcast).
//   2. acc = B[k]; over the taps (r, s) inside the input, over the group's channels c:
//      acc += X[n, ih, iw, g*Cg + c] * W[k, r, s, c] (both contiguous in c), in float; the channel
//      loop reads V = 4, 2 or 1 elements at once (host: V divides Cg, X and W aligned to V).
//   3. Y[i] = act(acc + Z[i]) (act(acc) + Z[i] with the residual after the activation).
// Depthwise (group == C == K, W [C, R, S, 1]): PlanDepthwiseNhwc picks one of two kernels.
// DepthwiseTiledKernel<T, V, KS, SW>: square KS x KS filters (KS = 3, 5, 7), stride_w SW = 1 or 2,
// dilation_w 1 (stride_h, dilation_h and pads any), every index < 2^31 (32-bit index math).
//   1. Work unit, a pixel block: kTileQ consecutive output pixels q0.. of one output row (n, p)
//      and V consecutive channels, V * sizeof(T) <= 16 bytes (8 / 4 / 2 halves, 4 / 2 floats; V
//      divides C and X, B, Z, Y are aligned to it); kTileQ = 2 for 16-byte vectors, else 4
//      (TiledTileQ: registers). Blocks are numbered b = (n * P + p) * ceil(Q / kTileQ) + q0 /
//      kTileQ; outputs q >= Q of a row's last block are skipped.
//   2. CTA = cs x py threads: threadIdx.x is the channel vector inside the CTA's channel slice
//      (blockIdx.x), threadIdx.y a pixel block. A slice has at most 32 vectors (16 for 7x7; 256
//      halves or 128 floats) so that its weights fit in static shared memory; slices =
//      ceil(C / V / 32) and cs = ceil(C / V / slices), so at most slices - 1 lanes idle (C = 96
//      halves: 1 x 12, C = 1152: 5 x 29 vectors). py = 256 / cs, down to 64 / cs when the layer has
//      fewer CTAs than SMs.
//   3. The CTA stages its slice's weights once: W[c, r, s] (contiguous over the slice, so the
//      loads coalesce) -> shared float ws[tap][V / G][cs][G], G = min(V, 4): a thread reads its V
//      weights of a tap as V / G float4 (float2) at consecutive 16-byte addresses across the warp
//      (conflict-free; lanes of the same vector broadcast), converted once, not per use.
//   4. Grid-stride over pixel blocks: CTA y takes blocks y * py + ty + k * gridDim.y * py, so the
//      resident CTAs sweep the tensor together and the input rows that neighbouring blocks share
//      hit L2. gridDim.y = ceil(groups / it) with it = ceil(groups / resident CTAs per slice)
//      (occupancy queried once per kernel and CTA size): one wave in which every CTA does `it`
//      groups of py blocks (the last CTA fewer), so large batches have no partial last wave.
//   5. Per block: acc[t][j] = B[c + j]; the residual vectors are loaded first (their latency hides
//      under the input loads); for each filter row r (unrolled) with ih inside X: load the row's
//      (kTileQ - 1) * SW + KS input vectors X[n, ih, q0 * SW - left + i, c..c+V) once (columns
//      outside X read 0): with 4 pixels, 6 loads for 4 outputs instead of 12 for 3x3/s1, 9 instead
//      of 12 for 3x3/s2, 8 / 11 for 5x5, 10 / 13 for 7x7 (with 2: 4 / 5 for 3x3); read the row's
//      KS weight vectors from shared memory; then acc[t] += x[t * SW + s] * w[r, s] in float,
//      every index compile-time so that x, w and acc stay in registers and each loaded vector is
//      converted to float once.
//   6. Epilogue in registers: acc + Z, act, one V-wide (16-byte) store per output pixel.
// DepthwiseGenericKernel<T, V, Index> (any other depthwise layer, or a forced one): one thread per
// output pixel and V consecutive channels, index ((n * P + p) * Q + q) * (C / V) + c / V, so a warp
// reads and writes V * 32 consecutive channels of one pixel with vector accesses; the V taps
// W[c + j, r, s, 0] are scalar reads (stride R * S, cached). Index is int32_t unless an index could
// reach 2^31 (then int64_t).
// Host (PlanDepthwiseNhwc): V is the widest vector that divides C with every pointer aligned,
// halved (not below 2) while the layer has fewer than 1024 threads per SM: batch 1 at 7x7 with
// C = 1152 and 5x5 has 14 blocks x 144 vectors = 2016 threads at V = 8, 8064 at V = 2.
// Contracts: every output element is written once per launch; no allocation; the direct kernel
// uses int64 indices.
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "activations.cuh"
#include "cuda_check.h"
#include "cuda_device.cuh"
#include "kernels_conv_nhwc.h"

namespace edgert {
namespace cuda {
namespace {

template <typename T, int V>
__global__ void DirectConvNhwcKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                     const T* __restrict__ residual, T* __restrict__ y, NhwcConvGeometry g,
                                     DeviceActivation act) {
  GridDependencySync();
  using P = VecPack<T, V>;
  const int64_t total = g.n * g.p * g.q * g.k;
  const int64_t cg = g.c / g.group;
  const int64_t kg = g.k / g.group;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rest = i;
    const int64_t k = rest % g.k;
    rest /= g.k;
    const int64_t oq = rest % g.q;
    rest /= g.q;
    const int64_t op = rest % g.p;
    const int64_t img = rest / g.p;
    const T* xg = x + img * g.h * g.w * g.c + (k / kg) * cg;
    const T* wk = w + k * g.r * g.s * cg;
    float acc = bias != nullptr ? Load(bias + k) : 0.0f;
    for (int64_t r = 0; r < g.r; ++r) {
      const int64_t ih = op * g.stride_h - g.pad_top + r * g.dilation_h;
      if (ih < 0 || ih >= g.h) continue;
      for (int64_t s = 0; s < g.s; ++s) {
        const int64_t iw = oq * g.stride_w - g.pad_left + s * g.dilation_w;
        if (iw < 0 || iw >= g.w) continue;
        const T* xp = xg + (ih * g.w + iw) * g.c;
        const T* wp = wk + (r * g.s + s) * cg;
        for (int64_t c = 0; c < cg; c += V) {
          const P xv = *reinterpret_cast<const P*>(xp + c);
          const P wv = *reinterpret_cast<const P*>(wp + c);
#pragma unroll
          for (int j = 0; j < V; ++j) acc += Load(&xv.v[j]) * Load(&wv.v[j]);
        }
      }
    }
    Store(y + i, act.Finish(acc, residual != nullptr ? Load(residual + i) : kNoResidual));
  }
}

// Outputs per thread along a row in the tiled kernel, and its largest CTA.
constexpr int kMaxTileQ = 4;
// Output pixels per work unit: 2 for 16-byte vectors (8 halves, 4 floats), 4 otherwise. With 4
// pixels the 16-byte instances took 121-170 registers (2 CTAs of 256 threads per SM: in an H100
// profile of MobileNetV2 at batch 32 its 3x3 layers kept DRAM 14% busy with 0.6 eligible warps
// per scheduler); with 2 the 3x3 ones fit 3 CTAs (TiledMinBlocks: at most 85 registers; no
// spills but 16 bytes for 3x3 stride 2). 5x5 and 7x7 keep the compiler's choice (capping them
// spills 20-84 bytes).
constexpr int TiledTileQ(size_t vector_bytes) { return vector_bytes == 16 ? 2 : kMaxTileQ; }
constexpr int TiledMinBlocks(size_t vector_bytes, int ks) { return vector_bytes == 16 && ks == 3 ? 3 : 1; }
constexpr int kTiledMaxThreads = 256;
constexpr int kTiledMinThreads = 64;
// Below this many threads per SM, PlanDepthwiseNhwc narrows the channel vector.
constexpr int64_t kSmallLayerThreadsPerSm = 1024;
constexpr int64_t kMaxInt32 = 2147483647;
// The largest step of a grid-stride loop (GridSize's 65535 * 8 blocks of kBlockSize threads; the
// tiled kernel's 65535 x 256).
constexpr int64_t kGridStrideSlack = int64_t{65535} * 8 * kBlockSize;

// Channel vectors of one CTA's slice (its weights live in static shared memory: KS * KS * 32 * V
// floats, 25.6 KB for 5x5 with 8 halves; 7x7 halves the slice to stay below 48 KB).
__host__ __device__ constexpr int MaxSliceVectors(int ks) { return ks >= 7 ? 16 : 32; }

// The tiled kernel's geometry in 32-bit integers (the host checked that everything fits).
struct DepthwiseTiledArgs {
  int h, w, c;  // X [N, H, W, C]
  int p, q;     // Y [N, P, Q, C]
  int stride_h, dilation_h, pad_top, pad_left;
  int q_blocks;  // ceil(Q / kTileQ)
  int blocks;    // N * P * q_blocks
};

template <typename T, int V, int KS, int SW>
__global__ void __launch_bounds__(kTiledMaxThreads, TiledMinBlocks(sizeof(T) * V, KS))
    DepthwiseTiledKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                         const T* __restrict__ residual, T* __restrict__ y, DepthwiseTiledArgs a,
                         DeviceActivation act) {
  GridDependencySync();
  constexpr int kTaps = KS * KS;
  constexpr int kG = V < 4 ? V : 4;  // floats per shared-memory weight read
  constexpr int kChunks = V / kG;
  constexpr int kTileQ = TiledTileQ(sizeof(T) * V);
  constexpr int kCols = (kTileQ - 1) * SW + KS;  // input columns of one filter row
  using P = VecPack<T, V>;
  using WP = VecPack<float, kG>;
  __shared__ WP ws[kTaps * kChunks * MaxSliceVectors(KS)];

  // Step 3: stage the slice's weights (tap fastest in global memory: coalesced reads).
  const int cs = static_cast<int>(blockDim.x);
  const int c_base = static_cast<int>(blockIdx.x) * cs * V;
  const int slice_taps = cs * V * kTaps;
  const int tid = static_cast<int>(threadIdx.y) * cs + static_cast<int>(threadIdx.x);
  const int nthreads = cs * static_cast<int>(blockDim.y);
  for (int i = tid; i < slice_taps; i += nthreads) {
    const int cl = i / kTaps;
    const int tap = i - cl * kTaps;
    const int cv = cl / V;
    const int j = cl - cv * V;
    ws[(tap * kChunks + j / kG) * cs + cv].v[j % kG] = c_base + cl < a.c ? Load(w + (c_base * kTaps + i)) : 0.0f;
  }
  __syncthreads();
  const int c = c_base + static_cast<int>(threadIdx.x) * V;
  if (c >= a.c) return;  // an idle lane of the last slice (no barrier follows)

  float b[V];
  if (bias != nullptr) {
    const P bv = *reinterpret_cast<const P*>(bias + c);
#pragma unroll
    for (int j = 0; j < V; ++j) b[j] = Load(&bv.v[j]);
  } else {
#pragma unroll
    for (int j = 0; j < V; ++j) b[j] = 0.0f;
  }
  const WP* wt = ws + threadIdx.x;
  const int row_stride = a.w * a.c;
  const int step = static_cast<int>(gridDim.y * blockDim.y);
  // Step 4: grid-stride over pixel blocks.
  for (int blk = static_cast<int>(blockIdx.y * blockDim.y + threadIdx.y); blk < a.blocks; blk += step) {
    const int qb = blk % a.q_blocks;
    const int row = blk / a.q_blocks;  // n * P + p
    const int n = row / a.p;
    const int p = row - n * a.p;
    const int q0 = qb * kTileQ;
    const int out0 = (row * a.q + q0) * a.c + c;
    // Step 5.
    float acc[kTileQ][V];
#pragma unroll
    for (int t = 0; t < kTileQ; ++t) {
#pragma unroll
      for (int j = 0; j < V; ++j) acc[t][j] = b[j];
    }
    P z[kTileQ];
    if (residual != nullptr) {
#pragma unroll
      for (int t = 0; t < kTileQ; ++t) {
        if (q0 + t < a.q) z[t] = *reinterpret_cast<const P*>(residual + out0 + t * a.c);
      }
    }
    const T* xn = x + n * a.h * row_stride + c;
    const int ih0 = p * a.stride_h - a.pad_top;
    const int iw0 = q0 * SW - a.pad_left;
#pragma unroll
    for (int r = 0; r < KS; ++r) {
      const int ih = ih0 + r * a.dilation_h;
      if (static_cast<unsigned>(ih) >= static_cast<unsigned>(a.h)) continue;
      const T* xr = xn + ih * row_stride;
      P xv[kCols];
#pragma unroll
      for (int i = 0; i < kCols; ++i) {
        const int iw = iw0 + i;
        if (static_cast<unsigned>(iw) < static_cast<unsigned>(a.w)) {
          xv[i] = *reinterpret_cast<const P*>(xr + iw * a.c);
        } else {
#pragma unroll
          for (int j = 0; j < V; ++j) Store(&xv[i].v[j], 0.0f);
        }
      }
      float wr[KS][V];
#pragma unroll
      for (int s = 0; s < KS; ++s) {
#pragma unroll
        for (int k = 0; k < kChunks; ++k) {
          const WP wv = wt[((r * KS + s) * kChunks + k) * cs];
#pragma unroll
          for (int e = 0; e < kG; ++e) wr[s][k * kG + e] = wv.v[e];
        }
      }
#pragma unroll
      for (int i = 0; i < kCols; ++i) {
        float xf[V];
#pragma unroll
        for (int j = 0; j < V; ++j) xf[j] = Load(&xv[i].v[j]);
#pragma unroll
        for (int s = 0; s < KS; ++s) {
          const int d = i - s;  // = t * SW for the output t that reads column i with tap s
          if (d >= 0 && d % SW == 0 && d / SW < kTileQ) {
#pragma unroll
            for (int j = 0; j < V; ++j) acc[d / SW][j] = fmaf(xf[j], wr[s][j], acc[d / SW][j]);
          }
        }
      }
    }
    // Step 6.
#pragma unroll
    for (int t = 0; t < kTileQ; ++t) {
      if (q0 + t >= a.q) break;
      P out;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        Store(&out.v[j], act.Finish(acc[t][j], residual != nullptr ? Load(&z[t].v[j]) : kNoResidual));
      }
      *reinterpret_cast<P*>(y + out0 + t * a.c) = out;
    }
  }
}

template <typename T, int V, typename Index>
__global__ void DepthwiseGenericKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                       const T* __restrict__ residual, T* __restrict__ y, NhwcConvGeometry geom,
                                       DeviceActivation act) {
  GridDependencySync();
  using P = VecPack<T, V>;
  const Index h = static_cast<Index>(geom.h), wd = static_cast<Index>(geom.w), c = static_cast<Index>(geom.c);
  const Index pp = static_cast<Index>(geom.p), qq = static_cast<Index>(geom.q);
  const Index r_taps = static_cast<Index>(geom.r), s_taps = static_cast<Index>(geom.s);
  const Index sh = static_cast<Index>(geom.stride_h), sw = static_cast<Index>(geom.stride_w);
  const Index dh = static_cast<Index>(geom.dilation_h), dw = static_cast<Index>(geom.dilation_w);
  const Index top = static_cast<Index>(geom.pad_top), left = static_cast<Index>(geom.pad_left);
  const Index cv = c / V;
  const Index total = static_cast<Index>(geom.n) * pp * qq * cv;
  const Index taps = r_taps * s_taps;
  for (Index i = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x);
       i < total; i += static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x)) {
    Index rest = i;
    const Index c0 = (rest % cv) * V;
    rest /= cv;
    const Index oq = rest % qq;
    rest /= qq;
    const Index op = rest % pp;
    const Index img = rest / pp;
    float acc[V];
    if (bias != nullptr) {
      const P b = *reinterpret_cast<const P*>(bias + c0);
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] = Load(&b.v[j]);
    } else {
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] = 0.0f;
    }
    const T* xn = x + img * h * wd * c + c0;
    const T* wc = w + c0 * taps;
    for (Index r = 0; r < r_taps; ++r) {
      const Index ih = op * sh - top + r * dh;
      if (ih < 0 || ih >= h) continue;
      for (Index s = 0; s < s_taps; ++s) {
        const Index iw = oq * sw - left + s * dw;
        if (iw < 0 || iw >= wd) continue;
        const P xv = *reinterpret_cast<const P*>(xn + (ih * wd + iw) * c);
        const Index tap = r * s_taps + s;
#pragma unroll
        for (int j = 0; j < V; ++j) acc[j] += Load(&xv.v[j]) * Load(wc + j * taps + tap);
      }
    }
    const Index out = i * V;  // ((img * P + op) * Q + oq) * C + c0
    float zf[V];
#pragma unroll
    for (int j = 0; j < V; ++j) zf[j] = kNoResidual;
    if (residual != nullptr) {
      const P z = *reinterpret_cast<const P*>(residual + out);
#pragma unroll
      for (int j = 0; j < V; ++j) zf[j] = Load(&z.v[j]);
    }
    P result;
#pragma unroll
    for (int j = 0; j < V; ++j) Store(&result.v[j], act.Finish(acc[j], zf[j]));
    *reinterpret_cast<P*>(y + out) = result;
  }
}

template <typename T>
using DepthwiseTiledFn = void (*)(const T*, const T*, const T*, const T*, T*, DepthwiseTiledArgs, DeviceActivation);
template <typename T>
using DepthwiseGenericFn = void (*)(const T*, const T*, const T*, const T*, T*, NhwcConvGeometry, DeviceActivation);

template <typename T, int V>
DepthwiseTiledFn<T> TiledKernelForVector(int ks, int sw) {
  switch (ks) {
    case 3:
      return sw == 1 ? &DepthwiseTiledKernel<T, V, 3, 1> : &DepthwiseTiledKernel<T, V, 3, 2>;
    case 5:
      return sw == 1 ? &DepthwiseTiledKernel<T, V, 5, 1> : &DepthwiseTiledKernel<T, V, 5, 2>;
    case 7:
      return sw == 1 ? &DepthwiseTiledKernel<T, V, 7, 1> : &DepthwiseTiledKernel<T, V, 7, 2>;
    default:
      return nullptr;
  }
}

// The tiled instance for (V, KS, SW): V in {8, 4, 2} halves or {4, 2} floats; null otherwise.
template <typename T>
DepthwiseTiledFn<T> TiledKernelFor(int v, int ks, int sw) {
  if constexpr (sizeof(T) == 2) {
    if (v == 8) return TiledKernelForVector<T, 8>(ks, sw);
  }
  if (v == 4) return TiledKernelForVector<T, 4>(ks, sw);
  if (v == 2) return TiledKernelForVector<T, 2>(ks, sw);
  return nullptr;
}

template <typename T, typename Index>
DepthwiseGenericFn<T> GenericKernelForIndex(int v) {
  if constexpr (sizeof(T) == 2) {
    if (v == 8) return &DepthwiseGenericKernel<T, 8, Index>;
  }
  if (v == 4) return &DepthwiseGenericKernel<T, 4, Index>;
  if (v == 2) return &DepthwiseGenericKernel<T, 2, Index>;
  return &DepthwiseGenericKernel<T, 1, Index>;
}

// The widest channel vector (16 bytes: 8 halves, 4 floats; then 4, 2, 1 elements) dividing C with
// every pointer aligned to it.
int DepthwiseVector(const NhwcConvGeometry& g, size_t elem, const void* x, const void* bias, const void* residual,
                    const void* y) {
  for (int v = static_cast<int>(16 / elem); v > 1; v /= 2) {
    const size_t bytes = elem * static_cast<size_t>(v);
    if (g.c % v == 0 && Aligned(x, bytes) && Aligned(bias, bytes) && Aligned(residual, bytes) && Aligned(y, bytes)) {
      return v;
    }
  }
  return 1;
}

// Whether every index the 32-bit kernels compute fits: element counts of X, Y and W, a grid-stride
// loop's last increment past the output, and the extreme input coordinates of the windows
// (leading pads included).
bool FitsInt32(const NhwcConvGeometry& g) {
  const auto fits = [](int64_t v) { return v >= 0 && v <= kMaxInt32; };
  return fits(g.n * g.h * g.w * g.c) && fits(g.n * g.p * g.q * g.c) && fits(g.c * g.r * g.s) &&
         fits(g.n * g.p * g.q * g.c + kGridStrideSlack) && fits(g.pad_top) && fits(g.pad_left) &&
         fits((g.p - 1) * g.stride_h + (g.r - 1) * g.dilation_h + g.pad_top) &&
         fits((g.q + kMaxTileQ) * g.stride_w + (g.s - 1) * g.dilation_w + g.pad_left);
}

// Whether the tiled kernel has an instance for the filter (vector aside).
bool TiledShape(const NhwcConvGeometry& g) {
  return g.r == g.s && (g.s == 3 || g.s == 5 || g.s == 7) && (g.stride_w == 1 || g.stride_w == 2) &&
         g.dilation_w == 1 && FitsInt32(g);
}

// The widest vector (4, 2, 1) of the direct kernel's channel loop: it divides C / group (then
// every X and W offset the loop reads is a multiple of it, C being a multiple of C / group) and X
// and W are aligned to it.
int DirectVector(const NhwcConvGeometry& g, size_t elem, const void* x, const void* w) {
  const int64_t cg = g.c / g.group;
  for (int v : {4, 2}) {
    const size_t bytes = elem * static_cast<size_t>(v);
    if (cg % v == 0 && Aligned(x, bytes) && Aligned(w, bytes)) return v;
  }
  return 1;
}

// Host: resident CTAs per SM of a tiled kernel with `threads` threads (static shared memory only),
// cached per (kernel, device, threads); thread-safe.
template <typename T>
StatusOr<int> CtasPerSm(DepthwiseTiledFn<T> kernel, int device, int threads) {
  struct Entry {
    const void* kernel;
    int device;
    int threads;
    int ctas;
  };
  static std::mutex mu;
  static std::vector<Entry> cache;
  const void* key = reinterpret_cast<const void*>(kernel);
  std::lock_guard<std::mutex> lock(mu);
  for (const Entry& e : cache) {
    if (e.kernel == key && e.device == device && e.threads == threads) return e.ctas;
  }
  int ctas = 0;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&ctas, kernel, threads, 0));
  if (ctas < 1) {
    return Internal("DepthwiseTiledKernel: no CTA of " + std::to_string(threads) + " threads fits on an SM");
  }
  cache.push_back(Entry{key, device, threads, ctas});
  return ctas;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <typename T>
StatusOr<DepthwiseNhwcConfig> PlanFor(const NhwcConvGeometry& g, const void* x, const void* bias, const void* residual,
                                      const void* y, const DepthwiseNhwcOptions& o) {
  constexpr int kMaxVector = static_cast<int>(16 / sizeof(T));
  const int widest = DepthwiseVector(g, sizeof(T), x, bias, residual, y);
  if (o.vector != 0 &&
      (o.vector < 0 || o.vector > kMaxVector || (o.vector & (o.vector - 1)) != 0 || o.vector > widest)) {
    // Every power of two up to `widest` divides C and keeps the pointers aligned; no wider one does.
    return InvalidArgument("DepthwiseConvNhwc: a vector of " + std::to_string(o.vector) +
                               " channels does not fit C = " + std::to_string(g.c) + " with these pointers (widest " +
                               std::to_string(widest) + ")",
                           "vector");
  }
  DeviceFacts dev;
  EDGERT_RETURN_IF_ERROR(CurrentDeviceFacts(&dev));
  const int device = dev.device;
  const int sms = dev.sm_count;
  const int64_t pixels = g.n * g.p * g.q;
  // Pixel blocks of the tiled kernel with vector v (TiledTileQ).
  auto blocks_for = [&](int v) { return g.n * g.p * CeilDiv(g.q, int64_t{TiledTileQ(v * sizeof(T))}); };
  DepthwiseNhwcConfig cfg;
  cfg.tiled = o.allow_tiled && TiledShape(g) && (o.vector != 0 ? o.vector : widest) >= 2;
  // A small layer takes a narrower vector (more threads, less serial work each), never below 2.
  int v = o.vector != 0 ? o.vector : widest;
  if (o.vector == 0) {
    // (Counted in 4-pixel blocks whatever the vector, so that a layer narrows as it did before
    // 16-byte vectors took 2-pixel blocks.)
    const int64_t items = cfg.tiled ? g.n * g.p * CeilDiv(g.q, int64_t{kMaxTileQ}) : pixels;
    while (v > 2 && items * (g.c / v) < int64_t{sms} * kSmallLayerThreadsPerSm) v /= 2;
  }
  cfg.vector = v;
  if (!cfg.tiled) {
    cfg.wide_index = o.wide_index || !FitsInt32(g);
    cfg.block_x = kBlockSize;
    cfg.block_y = 1;
    cfg.grid_x = GridSize(pixels * (g.c / v));
    cfg.grid_y = 1;
    return cfg;
  }
  cfg.kernel = static_cast<int>(g.s);
  cfg.stride_w = static_cast<int>(g.stride_w);
  const int64_t blocks = blocks_for(v);
  // Step 2: slices of at most MaxSliceVectors vectors, balanced; CTAs of 256 threads, fewer when
  // the layer has fewer CTAs than SMs.
  const int64_t vectors = g.c / v;
  const int64_t slices = CeilDiv(vectors, MaxSliceVectors(cfg.kernel));
  const int64_t cs = CeilDiv(vectors, slices);
  int64_t threads = kTiledMaxThreads;
  int64_t py = threads / cs;
  int64_t groups = CeilDiv(blocks, py);
  while (threads > kTiledMinThreads && slices * groups < sms) {
    threads /= 2;
    py = threads / cs;
    groups = CeilDiv(blocks, py);
  }
  const DepthwiseTiledFn<T> kernel = TiledKernelFor<T>(v, cfg.kernel, cfg.stride_w);
  if (kernel == nullptr) return Internal("DepthwiseTiledKernel: no instance for vector " + std::to_string(v));
  // Step 4: one wave; every CTA does `it` groups (the last fewer).
  EDGERT_ASSIGN_OR_RETURN(const int per_sm, CtasPerSm<T>(kernel, device, static_cast<int>(cs * py)));
  const int64_t per_slice = std::max<int64_t>(1, int64_t{per_sm} * sms / slices);
  int64_t it = std::max<int64_t>(1, CeilDiv(groups, per_slice));
  int64_t grid_y = std::max<int64_t>(1, CeilDiv(groups, it));
  const int64_t max_grid_y = o.max_grid_y > 0 ? std::min<int64_t>(o.max_grid_y, 65535) : 65535;
  if (grid_y > max_grid_y) {
    grid_y = max_grid_y;
    it = CeilDiv(groups, grid_y);
  }
  cfg.block_x = static_cast<unsigned>(cs);
  cfg.block_y = static_cast<unsigned>(py);
  cfg.grid_x = static_cast<unsigned>(slices);
  cfg.grid_y = static_cast<unsigned>(grid_y);
  cfg.iterations = static_cast<int>(it);
  return cfg;
}

template <typename T>
Status LaunchFor(cudaStream_t stream, const DepthwiseNhwcConfig& cfg, const NhwcConvGeometry& g, const void* x,
                 const void* w, const void* bias, const void* residual, void* y, const DeviceActivation& act) {
  const T* xt = static_cast<const T*>(x);
  const T* wt = static_cast<const T*>(w);
  const T* bt = static_cast<const T*>(bias);
  const T* rt = static_cast<const T*>(residual);
  T* yt = static_cast<T*>(y);
  if (cfg.tiled) {
    const DepthwiseTiledFn<T> kernel = TiledKernelFor<T>(cfg.vector, cfg.kernel, cfg.stride_w);
    if (kernel == nullptr) return Internal("DepthwiseTiledKernel: no instance for " + cfg.Describe());
    DepthwiseTiledArgs a;
    a.h = static_cast<int>(g.h);
    a.w = static_cast<int>(g.w);
    a.c = static_cast<int>(g.c);
    a.p = static_cast<int>(g.p);
    a.q = static_cast<int>(g.q);
    a.stride_h = static_cast<int>(g.stride_h);
    a.dilation_h = static_cast<int>(g.dilation_h);
    a.pad_top = static_cast<int>(g.pad_top);
    a.pad_left = static_cast<int>(g.pad_left);
    a.q_blocks = static_cast<int>(CeilDiv(g.q, int64_t{TiledTileQ(cfg.vector * sizeof(T))}));
    a.blocks = static_cast<int>(g.n * g.p * a.q_blocks);
    return LaunchDependent("DepthwiseTiledKernel", kernel, dim3(cfg.grid_x, cfg.grid_y), dim3(cfg.block_x, cfg.block_y),
                           0, stream, xt, wt, bt, rt, yt, a, act);
  }
  const DepthwiseGenericFn<T> kernel =
      cfg.wide_index ? GenericKernelForIndex<T, int64_t>(cfg.vector) : GenericKernelForIndex<T, int32_t>(cfg.vector);
  return LaunchDependent("DepthwiseGenericKernel", kernel, dim3(cfg.grid_x), dim3(cfg.block_x), 0, stream, xt, wt, bt,
                         rt, yt, g, act);
}

}  // namespace

std::string DepthwiseNhwcConfig::Describe() const {
  std::string s =
      tiled ? "tiled " + std::to_string(kernel) + "x" + std::to_string(kernel) + "/s" + std::to_string(stride_w)
            : std::string("generic");
  s += " v" + std::to_string(vector);
  if (tiled) {
    s += " cta " + std::to_string(block_x) + "x" + std::to_string(block_y) + " grid " + std::to_string(grid_x) + "x" +
         std::to_string(grid_y) + " x" + std::to_string(iterations);
  } else {
    s += std::string(wide_index ? " int64" : " int32") + " grid " + std::to_string(grid_x);
  }
  return s;
}

Status EnqueueDirectConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                             const void* w, const void* bias, const void* residual, void* y, const FusedEpilogue& act) {
  const int64_t total = g.n * g.p * g.q * g.k;
  if (total == 0) return Status::Ok();
  const DeviceActivation dact = ToDevice(act);
  Status s;
  const bool ok = DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    const T* wt = static_cast<const T*>(w);
    const T* bt = static_cast<const T*>(bias);
    const T* rt = static_cast<const T*>(residual);
    T* yt = static_cast<T*>(y);
    const int v = DirectVector(g, sizeof(T), x, w);
    auto* kernel = v == 4   ? DirectConvNhwcKernel<T, 4>
                   : v == 2 ? DirectConvNhwcKernel<T, 2>
                            : DirectConvNhwcKernel<T, 1>;
    s = LaunchDependent("DirectConvNhwcKernel", kernel, GridSize(total), kBlockSize, 0, stream, xt, wt, bt, rt, yt, g,
                        dact);
  });
  if (!ok) return Internal(std::string("DirectConvNhwcKernel: unsupported dtype ") + DataTypeName(dtype));
  return s;
}

bool DepthwiseNhwcSupported(const NhwcConvGeometry& g) {
  return g.group == g.c && g.k == g.c && g.c > 0 && g.r > 0 && g.s > 0 && g.stride_h > 0 && g.stride_w > 0 &&
         g.dilation_h > 0 && g.dilation_w > 0;
}

StatusOr<DepthwiseNhwcConfig> PlanDepthwiseNhwc(DataType dtype, const NhwcConvGeometry& g, const void* x,
                                                const void* bias, const void* residual, const void* y,
                                                const DepthwiseNhwcOptions& options) {
  if (!DepthwiseNhwcSupported(g)) return Internal("DepthwiseConvNhwc: not a depthwise layer");
  StatusOr<DepthwiseNhwcConfig> cfg =
      Internal(std::string("DepthwiseConvNhwc: unsupported dtype ") + DataTypeName(dtype));
  DispatchFloat(dtype, [&](auto tag) { cfg = PlanFor<decltype(tag)>(g, x, bias, residual, y, options); });
  return cfg;
}

Status EnqueueDepthwiseConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                                const void* w, const void* bias, const void* residual, void* y,
                                const FusedEpilogue& act) {
  return EnqueueDepthwiseConvNhwc(stream, dtype, g, x, w, bias, residual, y, act, DepthwiseNhwcOptions{});
}

Status EnqueueDepthwiseConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                                const void* w, const void* bias, const void* residual, void* y,
                                const FusedEpilogue& act, const DepthwiseNhwcOptions& options) {
  if (!DepthwiseNhwcSupported(g)) return Internal("DepthwiseConvNhwc: not a depthwise layer");
  if (g.n * g.p * g.q == 0) return Status::Ok();
  EDGERT_ASSIGN_OR_RETURN(const DepthwiseNhwcConfig cfg, PlanDepthwiseNhwc(dtype, g, x, bias, residual, y, options));
  const DeviceActivation dact = ToDevice(act);
  Status status = Internal(std::string("DepthwiseConvNhwc: unsupported dtype ") + DataTypeName(dtype));
  DispatchFloat(dtype,
                [&](auto tag) { status = LaunchFor<decltype(tag)>(stream, cfg, g, x, w, bias, residual, y, dact); });
  return status;
}

}  // namespace cuda
}  // namespace edgert
