// Shared by the elementwise CUDA family (kernels_elementwise*.cu): device dtype dispatch, compute
// types, wrapping integer arithmetic, broadcast operand maps and the per-file factories.
//
//   - Storage vs compute type: float32 and float16 storage compute in float (Compute<T>); integer
//     and bool storage compute in their own type, with the CPU's wrapping semantics (WrapAdd ...).
//   - Operand maps: each input of a broadcasting kernel gets an OperandMap chosen on the host:
//     kSame (as many elements as the output: offset = output index, no index math), kScalar (one
//     element: offset 0) or kStrided (a StridedMap over the output's dims with broadcast dims
//     collapsed, see MakeOperandMaps). Maps over fewer than 2^31 output elements use 32-bit index
//     math (`small`).
//   - Factories: CreateElementwiseKernel (kernels_elementwise.cu) routes each op to one of the
//     Create*Kernel functions declared below.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda_device.cuh"
#include "cuda_kernel.h"

namespace edgert {
namespace cuda {
namespace ew {

// ---- Dtypes ---------------------------------------------------------------------------------------

template <typename T>
inline constexpr DataType kDeviceDtype = DataTypeOf<T>::value;
template <>
inline constexpr DataType kDeviceDtype<__half> = DataType::kFloat16;

template <typename... Ts>
struct DeviceTypes {};

using FloatDeviceTypes = DeviceTypes<float, __half>;
// The CPU's NumericTypes (float, int32, int64) with float16 storage for FP16 engines.
using NumericDeviceTypes = DeviceTypes<float, __half, int32_t, int64_t>;
// The CPU's OrderedTypes: NumericTypes and int8, int16.
using OrderedDeviceTypes = DeviceTypes<float, __half, int32_t, int64_t, int8_t, int16_t>;
// The CPU's ValueTypes: OrderedTypes and bool.
using ValueDeviceTypes = DeviceTypes<float, __half, int32_t, int64_t, int8_t, int16_t, bool>;

// Host: calls fn(T{}) for the T of the list stored as `dtype` on the device; false when none is.
template <typename... Ts, typename Fn>
bool DispatchDevice(DeviceTypes<Ts...>, DataType dtype, Fn&& fn) {
  bool hit = false;
  (void)((kDeviceDtype<Ts> == dtype ? (fn(Ts{}), hit = true) : false) || ...);
  return hit;
}

template <typename T>
inline constexpr bool kIsFloatStorage = std::is_same_v<T, float> || std::is_same_v<T, __half>;

template <typename T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<__half> {
  using type = float;
};
template <typename T>
using Compute = typename ComputeOf<T>::type;

template <typename T>
__host__ __device__ __forceinline__ Compute<T> LoadC(const T* p) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(*p);
  } else {
    return *p;
  }
}
template <typename T>
__host__ __device__ __forceinline__ void StoreC(T* p, Compute<T> v) {
  if constexpr (std::is_same_v<T, __half>) {
    *p = __float2half_rn(v);
  } else {
    *p = v;
  }
}

// ---- Wrapping integer arithmetic (the CPU's ew::Wrap* helpers) --------------------------------
// The scalar functions here and in the .cu files are __host__ __device__ so they can be checked
// against the CPU operators on a machine without a GPU.

template <typename T>
using WrapU = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <typename T>
__host__ __device__ __forceinline__ T WrapAdd(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return static_cast<T>(static_cast<WrapU<T>>(static_cast<WrapU<T>>(a) + static_cast<WrapU<T>>(b)));
  } else {
    return a + b;
  }
}
template <typename T>
__host__ __device__ __forceinline__ T WrapSub(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return static_cast<T>(static_cast<WrapU<T>>(static_cast<WrapU<T>>(a) - static_cast<WrapU<T>>(b)));
  } else {
    return a - b;
  }
}
template <typename T>
__host__ __device__ __forceinline__ T WrapMul(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return static_cast<T>(static_cast<WrapU<T>>(static_cast<WrapU<T>>(a) * static_cast<WrapU<T>>(b)));
  } else {
    return a * b;
  }
}
template <typename T>
__host__ __device__ __forceinline__ T WrapNeg(T a) {
  return WrapSub(T(0), a);
}

// ---- Vector access ----------------------------------------------------------------------------------

// Four consecutive elements, loaded and stored as one vector access (16 bytes for float32).
template <typename T>
using Pack4 = VecPack<T, 4>;

// ---- Operand maps -------------------------------------------------------------------------------

enum class MapKind : int32_t { kSame, kScalar, kStrided };

struct OperandMap {
  MapKind kind = MapKind::kSame;
  StridedMap map;
};

__host__ __device__ __forceinline__ int64_t OperandOffset(const OperandMap& m, int64_t i, bool small) {
  if (m.kind == MapKind::kSame) return i;
  if (m.kind == MapKind::kScalar) return 0;
  // Inner dims by division; what is left of the index is the outermost coordinate (no division).
  if (small) {
    uint32_t linear = static_cast<uint32_t>(i);
    uint32_t off = 0;
    for (int d = m.map.rank - 1; d > 0; --d) {
      const uint32_t dim = static_cast<uint32_t>(m.map.dims[d]);
      const uint32_t q = linear / dim;
      off += (linear - q * dim) * static_cast<uint32_t>(m.map.strides[d]);
      linear = q;
    }
    return off + linear * static_cast<uint32_t>(m.map.strides[0]);
  }
  int64_t linear = i;
  int64_t off = 0;
  for (int d = m.map.rank - 1; d > 0; --d) {
    const int64_t q = linear / m.map.dims[d];
    off += (linear - q * m.map.dims[d]) * m.map.strides[d];
    linear = q;
  }
  return off + linear * m.map.strides[0];
}

// Host: the maps of `inputs` broadcast against `out` (numpy rules, every input broadcastable, as
// infer() checked). Output dims of size 1 are dropped and adjacent dims merged where every input
// is contiguous across both or broadcast in both, so a per-channel operand of NCHW walks
// [N, C, H*W]. False when the collapsed rank still exceeds kMaxRank.
inline bool MakeOperandMaps(const std::vector<Shape>& inputs, const Shape& out, std::vector<OperandMap>* maps) {
  const size_t rank = out.size();
  const size_t n_in = inputs.size();
  const int64_t out_elems = NumElements(out);
  // Element strides of every input over the output's dims (0 where broadcast).
  std::vector<std::vector<int64_t>> strides(n_in, std::vector<int64_t>(rank, 0));
  for (size_t k = 0; k < n_in; ++k) {
    const Shape& in = inputs[k];
    const size_t lead = rank - in.size();
    int64_t stride = 1;
    for (size_t d = rank; d-- > lead;) {
      const int64_t dim = in[d - lead];
      strides[k][d] = dim == 1 ? 0 : stride;
      stride *= dim;
    }
  }
  // Collapse, outermost first.
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> cstrides(n_in);
  for (size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; merge && k < n_in; ++k) merge = cstrides[k].back() == strides[k][d] * out[d];
    if (merge) {
      dims.back() *= out[d];
      for (size_t k = 0; k < n_in; ++k) cstrides[k].back() = strides[k][d];
    } else {
      dims.push_back(out[d]);
      for (size_t k = 0; k < n_in; ++k) cstrides[k].push_back(strides[k][d]);
    }
  }
  maps->assign(n_in, OperandMap{});
  for (size_t k = 0; k < n_in; ++k) {
    OperandMap& m = (*maps)[k];
    const int64_t elems = NumElements(inputs[k]);
    if (elems == out_elems) {
      m.kind = MapKind::kSame;
    } else if (elems == 1) {
      m.kind = MapKind::kScalar;
    } else {
      if (dims.size() > static_cast<size_t>(kMaxRank)) return false;
      m.kind = MapKind::kStrided;
      m.map = MakeStridedMap(dims, cstrides[k]);
    }
  }
  return true;
}

// Index math may run in 32 bits.
inline bool SmallIndex(int64_t n) { return n < (int64_t{1} << 31); }

// ---- Factories ------------------------------------------------------------------------------------

// kernels_elementwise.cu: Relu ... Ceil, Not, Clip, EdgertFusedElementwise.
StatusOr<CudaKernelPtr> CreateUnaryKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateFusedElementwiseKernel(const CudaOpContext& ctx);
// kernels_elementwise_binary.cu: Add, Sub, Mul, Div, Pow, PRelu, comparisons, And, Or; the
// variadic Min, Max, Sum, Mean; Where.
StatusOr<CudaKernelPtr> CreateBinaryKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateVariadicKernel(const CudaOpContext& ctx);
StatusOr<CudaKernelPtr> CreateWhereKernel(const CudaOpContext& ctx);
// kernels_elementwise_cast.cu
StatusOr<CudaKernelPtr> CreateCastKernel(const CudaOpContext& ctx);

// "dtype float64 has no CUDA kernel" as an Unsupported error naming the node.
inline Status DtypeNotSupported(const CudaOpContext& ctx, DataType dtype, const char* what = "dtype") {
  return ctx.NotSupported(std::string(what) + " " + DataTypeName(dtype) + " has no CUDA kernel");
}

}  // namespace ew
}  // namespace cuda
}  // namespace edgert
