// Shared pieces of the CUDA "tensor" family (kernels_tensor.cu, kernels_tensor_resize.cu).
//
// Data movement is dtype-agnostic: kernels are templated on an element type chosen by size
// (1, 2, 4, 8 bytes, and 16 bytes when contiguous runs allow moving several elements at once), so
// one instantiation serves every device dtype (float16 included). Geometry (strides, index maps,
// coordinate transforms) is computed on the host at creation and passed to kernels by value.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cuda_check.h"
#include "cuda_device.cuh"
#include "cuda_kernel.h"

namespace edgert {
namespace cuda {

// The unsigned element type of `kBytes` bytes (uint4 for 16).
template <int kBytes>
struct ElemOfSize;
template <>
struct ElemOfSize<1> {
  using Type = uint8_t;
};
template <>
struct ElemOfSize<2> {
  using Type = uint16_t;
};
template <>
struct ElemOfSize<4> {
  using Type = uint32_t;
};
template <>
struct ElemOfSize<8> {
  using Type = unsigned long long;
};
template <>
struct ElemOfSize<16> {
  using Type = uint4;
};

// Host: calls fn(T{}) with the element type of `bytes` bytes (1, 2, 4, 8 or 16); false otherwise.
template <typename Fn>
bool DispatchBySize(size_t bytes, Fn&& fn) {
  switch (bytes) {
    case 1:
      fn(ElemOfSize<1>::Type{});
      return true;
    case 2:
      fn(ElemOfSize<2>::Type{});
      return true;
    case 4:
      fn(ElemOfSize<4>::Type{});
      return true;
    case 8:
      fn(ElemOfSize<8>::Type{});
      return true;
    case 16:
      fn(ElemOfSize<16>::Type{});
      return true;
    default:
      return false;
  }
}

// Host: the element stored in the first sizeof(T) of 8 `bytes` as a T (a 16-byte T, never used
// for a single value, takes the 8 bytes zero-extended).
template <typename T>
T ElemFromBytes(const unsigned char bytes[8]) {
  T v{};
  std::memcpy(&v, bytes, sizeof(T) < 8 ? sizeof(T) : 8);
  return v;
}

// Host: the bytes of element `i` of the host tensor `t` as `device_dtype` (an FP16 engine stores
// float32 values as float16): a raw copy when the dtypes agree, otherwise converted like
// ScalarToBytes (tensor_util.h). At most 8 bytes are written.
void HostElementBytes(const Tensor& t, int64_t i, DataType device_dtype, unsigned char bytes[8]);

// Resize and Upsample (kernels_tensor_resize.cu).
StatusOr<CudaKernelPtr> CreateResizeKernel(const CudaOpContext& ctx);

}  // namespace cuda
}  // namespace edgert
