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
//   3. acc += Z[i]; Y[i] = act(acc).
// DepthwiseConvNhwcKernel<T, V> (group == C == K): one thread per output pixel and V consecutive
// channels (V = 4, 2 or 1, chosen on the host: V divides C and every pointer is aligned to V
// elements), index ((n * P + p) * Q + q) * (C / V) + c / V, so a warp reads and writes V * 32
// consecutive channels of one pixel with vector accesses; the V taps W[c + j, r, s, 0] are scalar
// reads (stride R * S, cached). Epilogue in registers, one vector store.
// Contracts: every output element is written once per launch; no allocation; int64 indices.
#include <cstdint>
#include <string>

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
    if (residual != nullptr) acc += Load(residual + i);
    Store(y + i, act.Apply(acc));
  }
}

template <typename T, int V>
__global__ void DepthwiseConvNhwcKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                        const T* __restrict__ residual, T* __restrict__ y, NhwcConvGeometry g,
                                        DeviceActivation act) {
  using P = VecPack<T, V>;
  const int64_t cv = g.c / V;
  const int64_t total = g.n * g.p * g.q * cv;
  const int64_t taps = g.r * g.s;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rest = i;
    const int64_t c0 = (rest % cv) * V;
    rest /= cv;
    const int64_t oq = rest % g.q;
    rest /= g.q;
    const int64_t op = rest % g.p;
    const int64_t img = rest / g.p;
    float acc[V];
    if (bias != nullptr) {
      const P b = *reinterpret_cast<const P*>(bias + c0);
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] = Load(&b.v[j]);
    } else {
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] = 0.0f;
    }
    const T* xn = x + img * g.h * g.w * g.c + c0;
    const T* wc = w + c0 * taps;
    for (int64_t r = 0; r < g.r; ++r) {
      const int64_t ih = op * g.stride_h - g.pad_top + r * g.dilation_h;
      if (ih < 0 || ih >= g.h) continue;
      for (int64_t s = 0; s < g.s; ++s) {
        const int64_t iw = oq * g.stride_w - g.pad_left + s * g.dilation_w;
        if (iw < 0 || iw >= g.w) continue;
        const P xv = *reinterpret_cast<const P*>(xn + (ih * g.w + iw) * g.c);
        const int64_t tap = r * g.s + s;
#pragma unroll
        for (int j = 0; j < V; ++j) acc[j] += Load(&xv.v[j]) * Load(wc + j * taps + tap);
      }
    }
    const int64_t out = i * V;  // ((img * P + op) * Q + oq) * C + c0
    if (residual != nullptr) {
      const P z = *reinterpret_cast<const P*>(residual + out);
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += Load(&z.v[j]);
    }
    P result;
#pragma unroll
    for (int j = 0; j < V; ++j) Store(&result.v[j], act.Apply(acc[j]));
    *reinterpret_cast<P*>(y + out) = result;
  }
}

// The widest channel vector (4, 2, 1) dividing C with every pointer aligned to it.
int DepthwiseVector(const NhwcConvGeometry& g, size_t elem, const void* x, const void* bias, const void* residual,
                    const void* y) {
  for (int v : {4, 2}) {
    const size_t bytes = elem * static_cast<size_t>(v);
    if (g.c % v == 0 && Aligned(x, bytes) && Aligned(bias, bytes) && Aligned(residual, bytes) && Aligned(y, bytes)) {
      return v;
    }
  }
  return 1;
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

}  // namespace

Status EnqueueDirectConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                             const void* w, const void* bias, const void* residual, void* y, const FusedEpilogue& act) {
  const int64_t total = g.n * g.p * g.q * g.k;
  if (total == 0) return Status::Ok();
  const DeviceActivation dact = ToDevice(act);
  const bool ok = DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    const T* wt = static_cast<const T*>(w);
    const T* bt = static_cast<const T*>(bias);
    const T* rt = static_cast<const T*>(residual);
    T* yt = static_cast<T*>(y);
    const int v = DirectVector(g, sizeof(T), x, w);
    if (v == 4) {
      DirectConvNhwcKernel<T, 4><<<GridSize(total), kBlockSize, 0, stream>>>(xt, wt, bt, rt, yt, g, dact);
    } else if (v == 2) {
      DirectConvNhwcKernel<T, 2><<<GridSize(total), kBlockSize, 0, stream>>>(xt, wt, bt, rt, yt, g, dact);
    } else {
      DirectConvNhwcKernel<T, 1><<<GridSize(total), kBlockSize, 0, stream>>>(xt, wt, bt, rt, yt, g, dact);
    }
  });
  if (!ok) return Internal(std::string("DirectConvNhwcKernel: unsupported dtype ") + DataTypeName(dtype));
  return LaunchStatus("DirectConvNhwcKernel");
}

bool DepthwiseNhwcSupported(const NhwcConvGeometry& g) {
  return g.group == g.c && g.k == g.c && g.c > 0 && g.r > 0 && g.s > 0 && g.stride_h > 0 && g.stride_w > 0 &&
         g.dilation_h > 0 && g.dilation_w > 0;
}

Status EnqueueDepthwiseConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                                const void* w, const void* bias, const void* residual, void* y,
                                const FusedEpilogue& act) {
  if (!DepthwiseNhwcSupported(g)) return Internal("DepthwiseConvNhwcKernel: not a depthwise layer");
  const int64_t pixels = g.n * g.p * g.q;
  if (pixels == 0) return Status::Ok();
  const DeviceActivation dact = ToDevice(act);
  const bool ok = DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    const T* wt = static_cast<const T*>(w);
    const T* bt = static_cast<const T*>(bias);
    const T* rt = static_cast<const T*>(residual);
    T* yt = static_cast<T*>(y);
    const int v = DepthwiseVector(g, sizeof(T), x, bias, residual, y);
    const int64_t threads = pixels * (g.c / v);
    if (v == 4) {
      DepthwiseConvNhwcKernel<T, 4><<<GridSize(threads), kBlockSize, 0, stream>>>(xt, wt, bt, rt, yt, g, dact);
    } else if (v == 2) {
      DepthwiseConvNhwcKernel<T, 2><<<GridSize(threads), kBlockSize, 0, stream>>>(xt, wt, bt, rt, yt, g, dact);
    } else {
      DepthwiseConvNhwcKernel<T, 1><<<GridSize(threads), kBlockSize, 0, stream>>>(xt, wt, bt, rt, yt, g, dact);
    }
  });
  if (!ok) return Internal(std::string("DepthwiseConvNhwcKernel: unsupported dtype ") + DataTypeName(dtype));
  return LaunchStatus("DepthwiseConvNhwcKernel");
}

}  // namespace cuda
}  // namespace edgert
