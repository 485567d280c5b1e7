// QuantizeLinear and DequantizeLinear on CUDA (ONNX opsets 10, 13, 19, 21): the CPU reference's
// semantics (runtime/src/ops/quantize.cc), element for element.
//
//   QuantizeLinear:   y = saturate(round_half_to_even(x / y_scale) + y_zero_point)
//   DequantizeLinear: y = (x - x_zero_point) * x_scale
//
// Algorithm:
//   1. Create (host): the op's support check (the CPU registry's, run by the engine before
//      CreateCudaKernel) has accepted the dtypes; Create reads `axis` / `block_size` and resolves
//      the scale granularity exactly as the CPU does (per tensor, per axis of opset 13+, blocked of
//      opset 21) into a QuantLayout: x walked as [outer, extent, inner] around the axis.
//   2. Create picks the kernel instance for the device dtypes: x float32 / float16 / int32
//      (QuantizeLinear) or int8 / uint8 / int16 / uint16 / int32 (DequantizeLinear); scale float32 /
//      float16; output the quantized dtype (QuantizeLinear; the zero point, when present, has it) or
//      the scale's float dtype (DequantizeLinear). In an FP16 engine float32 tensors (x, scale,
//      DequantizeLinear's output) live as float16 on the device, so the kernel reads and writes
//      float16 there and computes in float32 as everywhere else.
//   3. Each thread of a grid-stride loop takes element k, finds its scale / zero-point index
//      (ScaleIndex) and computes in float32 with explicitly IEEE-rounded operations (no FMA
//      contraction, no fast-math): QuantizeLinear divides (__fdiv_rn, as the CPU divides), rounds
//      half to even (rintf, the CPU's std::nearbyint in the default rounding mode), adds the zero
//      point (__fadd_rn), clamps to the quantized range; NaN gives the zero point.
//      DequantizeLinear subtracts the zero point in int64 (exact), converts once to float32
//      (round to nearest even) and multiplies by the scale (__fmul_rn); float16 outputs round to
//      nearest even. Results are therefore bit-identical to the CPU's for the same device inputs.
// Scale and zero point may be constants (the engine's device copy) or activations: the kernel reads
// both through their device pointers.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "../../ops/op_util.h"
#include "../../ops/int8_conv.h"
#include "../../ops/quantize_layout.h"
#include "cuda_check.h"
#include "kernels_elementwise.cuh"

namespace edgert {
namespace cuda {
namespace {

using ew::DeviceTypes;
using ew::DispatchDevice;

// Scale granularity: the CPU's QuantLayout (ops/quantize_layout.h), passed to the kernels by value.
// The element k of x has coordinates (o, a, i) = (k / (extent * inner), (k / inner) % extent,
// k % inner).

__device__ __forceinline__ int64_t ScaleIndex(const QuantLayout& l, int64_t k) {
  if (l.kind == QuantLayout::kPerTensor) return 0;
  const int64_t t = k / l.inner;
  if (l.kind == QuantLayout::kPerAxis) return t % l.extent;
  const int64_t i = k - t * l.inner;
  const int64_t o = t / l.extent;
  const int64_t a = t - o * l.extent;
  return (o * l.blocks + a / l.block) * l.inner + i;
}

// Element of a float32 / float16 / int32 tensor as float32 (int32 rounds to nearest even, as the
// CPU's static_cast<float>).
template <typename T>
__device__ __forceinline__ float ToFloat(T v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else if constexpr (std::is_same_v<T, int32_t>) {
    return __int2float_rn(v);
  } else {
    return v;
  }
}

template <typename Y>
__device__ __forceinline__ void StoreFloat(Y* p, float v) {
  if constexpr (std::is_same_v<Y, __half>) {
    *p = __float2half_rn(v);
  } else {
    *p = v;
  }
}

// y[k] = saturate(rint(x[k] / scale[s]) + zp[s]); zp may be null (zero point 0).
template <typename X, typename S, typename Q>
__global__ void QuantizeKernel(const X* __restrict__ x, const S* __restrict__ scale, const Q* __restrict__ zp,
                               Q* __restrict__ y, int64_t n, QuantLayout l) {
  constexpr float kLo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float kHi = static_cast<float>(std::numeric_limits<Q>::max());
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t s = ScaleIndex(l, k);
    const float z = zp == nullptr ? 0.0f : static_cast<float>(zp[s]);
    const float v = __fdiv_rn(ToFloat(x[k]), ToFloat(scale[s]));
    float q = v != v ? z : __fadd_rn(rintf(v), z);
    q = q < kLo ? kLo : q > kHi ? kHi : q;
    y[k] = static_cast<Q>(static_cast<int32_t>(q));
  }
}

// y[k] = float(x[k] - zp[s]) * scale[s]; zp may be null (zero point 0).
template <typename X, typename S, typename Y>
__global__ void DequantizeKernel(const X* __restrict__ x, const S* __restrict__ scale, const X* __restrict__ zp,
                                 Y* __restrict__ y, int64_t n, QuantLayout l) {
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t s = ScaleIndex(l, k);
    const int64_t d = static_cast<int64_t>(x[k]) - (zp == nullptr ? int64_t{0} : static_cast<int64_t>(zp[s]));
    StoreFloat(y + k, __fmul_rn(__ll2float_rn(d), ToFloat(scale[s])));
  }
}

using LaunchFn = void (*)(const void* x, const void* scale, const void* zp, void* y, int64_t n,
                          const QuantLayout& layout, cudaStream_t stream);

template <typename X, typename S, typename Q>
void LaunchQuantize(const void* x, const void* scale, const void* zp, void* y, int64_t n, const QuantLayout& layout,
                    cudaStream_t stream) {
  QuantizeKernel<X, S, Q><<<GridSize(n), kBlockSize, 0, stream>>>(
      static_cast<const X*>(x), static_cast<const S*>(scale), static_cast<const Q*>(zp), static_cast<Q*>(y), n, layout);
}

template <typename X, typename S, typename Y>
void LaunchDequantize(const void* x, const void* scale, const void* zp, void* y, int64_t n, const QuantLayout& layout,
                      cudaStream_t stream) {
  DequantizeKernel<X, S, Y><<<GridSize(n), kBlockSize, 0, stream>>>(
      static_cast<const X*>(x), static_cast<const S*>(scale), static_cast<const X*>(zp), static_cast<Y*>(y), n, layout);
}

// The launch record: device pointers fixed at creation (zp null without a zero point).
class QuantizeLaunch : public CudaKernel {
 public:
  QuantizeLaunch(LaunchFn launch, const char* what, const void* x, const void* scale, const void* zp, void* y,
                 int64_t n, const QuantLayout& layout)
      : launch_(launch), what_(what), x_(x), scale_(scale), zp_(zp), y_(y), n_(n), layout_(layout) {}

  Status Enqueue(cudaStream_t stream) override {
    if (n_ <= 0) return Status::Ok();
    launch_(x_, scale_, zp_, y_, n_, layout_, stream);
    return LaunchStatus(what_);
  }

  std::string Describe() const override {
    switch (layout_.kind) {
      case QuantLayout::kPerTensor:
        return "per-tensor scale";
      case QuantLayout::kPerAxis:
        return "per-axis scale";
      case QuantLayout::kBlocked:
        return "blocked scale (block_size " + std::to_string(layout_.block) + ")";
    }
    return {};
  }

 private:
  LaunchFn launch_;
  const char* what_;
  const void* x_;
  const void* scale_;
  const void* zp_;
  void* y_;
  int64_t n_;
  QuantLayout layout_;
};

// Step 1: the CPU's layout and zero-point checks, on the layer's (possibly batch-specialized)
// shapes: the same layers are accepted and refused with the same messages.
StatusOr<QuantLayout> ResolveLayout(const CudaOpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckQuantZeroPointShape(*ctx.op));
  return ResolveQuantLayout(*ctx.op, ctx.input(0).shape, ctx.input(1).shape);
}

Status DtypeNotSupported(const CudaOpContext& ctx, const char* what, DataType dtype) {
  return ctx.NotSupported(std::string(what) + " of device dtype " + DataTypeName(dtype) + " has no CUDA kernel");
}

using QuantizeInputTypes = DeviceTypes<float, __half, int32_t>;
using ScaleTypes = DeviceTypes<float, __half>;
using QuantTypes = DeviceTypes<int8_t, uint8_t, int16_t, uint16_t>;
using DequantizeInputTypes = DeviceTypes<int8_t, uint8_t, int16_t, uint16_t, int32_t>;

StatusOr<CudaKernelPtr> CreateQuantize(const CudaOpContext& ctx, const QuantLayout& layout) {
  const CudaTensor& x = ctx.input(0);
  const CudaTensor& scale = ctx.input(1);
  const CudaTensor& y = ctx.output(0);
  const void* zp = nullptr;
  if (ctx.has_input(2)) {
    if (ctx.input(2).dtype != y.dtype) {
      return ctx.Error(std::string("zero point dtype ") + DataTypeName(ctx.input(2).dtype) +
                       " differs from the output's " + DataTypeName(y.dtype));
    }
    zp = ctx.input(2).data;
  }
  LaunchFn launch = nullptr;
  if (!DispatchDevice(QuantizeInputTypes{}, x.dtype, [&](auto tx) {
        DispatchDevice(ScaleTypes{}, scale.dtype, [&](auto ts) {
          DispatchDevice(QuantTypes{}, y.dtype,
                         [&](auto ty) { launch = &LaunchQuantize<decltype(tx), decltype(ts), decltype(ty)>; });
        });
      })) {
    return DtypeNotSupported(ctx, "input x", x.dtype);
  }
  if (launch == nullptr) {
    if (!DispatchDevice(ScaleTypes{}, scale.dtype, [](auto) {})) return DtypeNotSupported(ctx, "scale", scale.dtype);
    return DtypeNotSupported(ctx, "output", y.dtype);
  }
  return CudaKernelPtr(
      new QuantizeLaunch(launch, "QuantizeKernel", x.data, scale.data, zp, y.data, x.num_elements(), layout));
}

StatusOr<CudaKernelPtr> CreateDequantize(const CudaOpContext& ctx, const QuantLayout& layout) {
  const CudaTensor& x = ctx.input(0);
  const CudaTensor& scale = ctx.input(1);
  const CudaTensor& y = ctx.output(0);
  const void* zp = nullptr;
  if (ctx.has_input(2)) {
    if (ctx.input(2).dtype != x.dtype) {
      return ctx.Error(std::string("zero point dtype ") + DataTypeName(ctx.input(2).dtype) + " differs from x's " +
                       DataTypeName(x.dtype));
    }
    zp = ctx.input(2).data;
  }
  LaunchFn launch = nullptr;
  if (!DispatchDevice(DequantizeInputTypes{}, x.dtype, [&](auto tx) {
        DispatchDevice(ScaleTypes{}, scale.dtype, [&](auto ts) {
          DispatchDevice(ScaleTypes{}, y.dtype,
                         [&](auto ty) { launch = &LaunchDequantize<decltype(tx), decltype(ts), decltype(ty)>; });
        });
      })) {
    return DtypeNotSupported(ctx, "input x", x.dtype);
  }
  if (launch == nullptr) {
    if (!DispatchDevice(ScaleTypes{}, scale.dtype, [](auto) {})) return DtypeNotSupported(ctx, "scale", scale.dtype);
    return DtypeNotSupported(ctx, "output", y.dtype);
  }
  return CudaKernelPtr(
      new QuantizeLaunch(launch, "DequantizeKernel", x.data, scale.data, zp, y.data, x.num_elements(), layout));
}

}  // namespace

namespace {

// ---- EdgertQuantizeNhwc (ops/int8_conv.h): float NCHW -> int8 NHWC in one pass -------------------
// Tiled transpose: a 32 x 32 tile of (channel, pixel) is read along pixels (coalesced NCHW rows),
// quantized in float32 as QuantizeLinear does (__fdiv_rn, rintf half to even, NaN -> 0, saturate
// to [-128, 127]), staged in shared memory and written along channels (coalesced NHWC rows).
constexpr int kTile = 32;
constexpr int kTileRows = 8;

template <typename X>
__global__ void QuantizeNhwcKernel(const X* __restrict__ x, int8_t* __restrict__ y, int64_t channels, int64_t plane,
                                   float scale) {
  __shared__ int8_t tile[kTile][kTile + 4];
  const int64_t n = blockIdx.z;
  const int64_t p0 = static_cast<int64_t>(blockIdx.x) * kTile, c0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const X* xn = x + n * channels * plane;
  for (int r = threadIdx.y; r < kTile; r += kTileRows) {
    const int64_t c = c0 + r, p = p0 + threadIdx.x;
    int8_t q = 0;
    if (c < channels && p < plane) {
      const float v = __fdiv_rn(static_cast<float>(xn[c * plane + p]), scale);
      if (v == v) q = static_cast<int8_t>(fminf(fmaxf(rintf(v), -128.0f), 127.0f));
    }
    tile[r][threadIdx.x] = q;
  }
  __syncthreads();
  int8_t* yn = y + n * plane * channels;
  for (int r = threadIdx.y; r < kTile; r += kTileRows) {
    const int64_t p = p0 + r, c = c0 + threadIdx.x;
    if (p < plane && c < channels) yn[p * channels + c] = tile[threadIdx.x][r];
  }
}

class QuantizeNhwcLaunch : public CudaKernel {
 public:
  QuantizeNhwcLaunch(const void* x, bool half, int8_t* y, int64_t n, int64_t c, int64_t plane, float scale)
      : x_(x), half_(half), y_(y), n_(n), c_(c), plane_(plane), scale_(scale) {}

  Status Enqueue(cudaStream_t stream) override {
    if (n_ * c_ * plane_ == 0) return Status::Ok();
    const dim3 grid(static_cast<unsigned>((plane_ + kTile - 1) / kTile), static_cast<unsigned>((c_ + kTile - 1) / kTile),
                    static_cast<unsigned>(n_));
    const dim3 block(kTile, kTileRows);
    if (half_) {
      QuantizeNhwcKernel<__half><<<grid, block, 0, stream>>>(static_cast<const __half*>(x_), y_, c_, plane_, scale_);
    } else {
      QuantizeNhwcKernel<float><<<grid, block, 0, stream>>>(static_cast<const float*>(x_), y_, c_, plane_, scale_);
    }
    return LaunchStatus("EdgertQuantizeNhwc kernel");
  }
  std::string Describe() const override { return "quantize + NCHW->NHWC, 32x32 tiles"; }

 private:
  const void* x_;
  bool half_;
  int8_t* y_;
  int64_t n_, c_, plane_;
  float scale_;
};

}  // namespace

StatusOr<CudaKernelPtr> CreateQuantizeNhwcKernel(const CudaOpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(float scale, ResolveQuantizeNhwc(*ctx.op));
  if (!ctx.has_input(0) || ctx.outputs.size() != 1) return ctx.Error("needs one input and one output");
  const CudaTensor& x = ctx.input(0);
  const CudaTensor& y = ctx.output(0);
  if (x.dtype != DataType::kFloat32 && x.dtype != DataType::kFloat16) {
    return ctx.NotSupported(std::string("input X is ") + DataTypeName(x.dtype) + " on the device, not float32/float16");
  }
  if (y.dtype != DataType::kInt8 || x.shape.size() != 4 ||
      y.shape != Shape{x.shape[0], x.shape[2], x.shape[3], x.shape[1]}) {
    return ctx.Error("output must be int8 [N, H, W, C] of input [N, C, H, W]");
  }
  if (x.shape[0] > 65535 || (x.shape[1] + kTile - 1) / kTile > 65535) {
    return ctx.NotSupported("batch or channel count beyond one launch's grid");
  }
  return CudaKernelPtr(new QuantizeNhwcLaunch(x.data, x.dtype == DataType::kFloat16, static_cast<int8_t*>(y.data),
                                              x.shape[0], x.shape[1], x.shape[2] * x.shape[3], scale));
}

StatusOr<CudaKernelPtr> CreateQuantizeKernel(const CudaOpContext& ctx) {
  const OpType op = ctx.op->op();
  if (op != OpType::kQuantizeLinear && op != OpType::kDequantizeLinear) {
    return ctx.NotSupported("is not a QuantizeLinear / DequantizeLinear layer");
  }
  if (ctx.num_inputs() < 2 || !ctx.has_input(0) || !ctx.has_input(1) || ctx.outputs.size() != 1) {
    return ctx.Error("needs inputs x and scale and one output");
  }
  if (ctx.input(0).num_elements() != ctx.output(0).num_elements()) {
    return ctx.Error("output has " + std::to_string(ctx.output(0).num_elements()) + " elements, input " +
                     std::to_string(ctx.input(0).num_elements()));
  }
  EDGERT_ASSIGN_OR_RETURN(QuantLayout layout, ResolveLayout(ctx));
  return op == OpType::kQuantizeLinear ? CreateQuantize(ctx, layout) : CreateDequantize(ctx, layout);
}

}  // namespace cuda
}  // namespace edgert
