// Cast on CUDA: converts every element between the device dtypes the CPU Cast accepts: float16/32/64,
// 8- to 64-bit signed and unsigned integers and bool (CastKernel<S, D>, grid-stride loop,
// contiguous in and out).
//
// Conversion rules are the CPU Cast's (ops/tensor_ops.cc, ConvertTo): float16 reads as float;
// float to integer truncates toward zero and saturates, NaN gives 0; anything to bool is
// value != 0; to float16 goes through float with round-to-nearest-even; integer to integer wraps
// like static_cast. The dtypes are the device's, so in an FP16 engine a float32 -> int32 Cast
// converts from float16 and an int64 -> float32 Cast writes float16. Equal device dtypes (e.g.
// float32 -> float16 in an FP16 engine) are one device-to-device copy.
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "cuda_check.h"
#include "kernels_elementwise.cuh"

namespace edgert {
namespace cuda {
namespace ew {
namespace {

using CastDeviceTypes =
    DeviceTypes<float, __half, double, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t, bool>;

template <typename D, typename V>
__host__ __device__ __forceinline__ D ConvertTo(V v) {
  if constexpr (std::is_same_v<D, bool>) {
    return v != V(0);
  } else if constexpr (std::is_same_v<D, __half>) {
    return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<V>) {
    if (v != v) return D(0);
    if (v <= static_cast<V>(std::numeric_limits<D>::min())) return std::numeric_limits<D>::min();
    if (v >= static_cast<V>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

template <typename S, typename D>
__global__ void CastKernel(const S* __restrict__ in, D* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = ConvertTo<D>(LoadC(in + i));
  }
}

template <typename S, typename D>
void LaunchCast(const void* in, void* out, int64_t n, cudaStream_t stream) {
  CastKernel<S, D><<<GridSize(n), kBlockSize, 0, stream>>>(static_cast<const S*>(in), static_cast<D*>(out), n);
}

class CastLaunch : public CudaKernel {
 public:
  using LaunchFn = void (*)(const void*, void*, int64_t, cudaStream_t);
  // launch == nullptr: the dtypes are equal and `bytes` are copied.
  CastLaunch(LaunchFn launch, const void* in, void* out, int64_t n, size_t bytes)
      : launch_(launch), in_(in), out_(out), n_(n), bytes_(bytes) {}

  Status Enqueue(cudaStream_t stream) override {
    if (n_ <= 0) return Status::Ok();
    if (launch_ == nullptr) {
      EDGERT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out_, in_, bytes_, cudaMemcpyDeviceToDevice, stream));
      return Status::Ok();
    }
    launch_(in_, out_, n_, stream);
    return LaunchStatus("elementwise CastKernel");
  }

 private:
  LaunchFn launch_;
  const void* in_;
  void* out_;
  int64_t n_;
  size_t bytes_;
};

}  // namespace

StatusOr<CudaKernelPtr> CreateCastKernel(const CudaOpContext& ctx) {
  const CudaTensor& in = ctx.input(0);
  const CudaTensor& out = ctx.output(0);
  if (in.num_elements() != out.num_elements()) {
    return ctx.Error("output has " + std::to_string(out.num_elements()) + " elements, input " +
                     std::to_string(in.num_elements()));
  }
  const bool known_in = DispatchDevice(CastDeviceTypes{}, in.dtype, [](auto) {});
  if (!known_in) return DtypeNotSupported(ctx, in.dtype, "input dtype");
  const bool known_out = DispatchDevice(CastDeviceTypes{}, out.dtype, [](auto) {});
  if (!known_out) return DtypeNotSupported(ctx, out.dtype, "output dtype");
  CastLaunch::LaunchFn launch = nullptr;
  if (in.dtype != out.dtype) {
    DispatchDevice(CastDeviceTypes{}, in.dtype, [&](auto tag_in) {
      DispatchDevice(CastDeviceTypes{}, out.dtype,
                     [&](auto tag_out) { launch = &LaunchCast<decltype(tag_in), decltype(tag_out)>; });
    });
  }
  return CudaKernelPtr(new CastLaunch(launch, in.data, out.data, in.num_elements(), in.bytes()));
}

}  // namespace ew
}  // namespace cuda
}  // namespace edgert
