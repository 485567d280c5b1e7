#include "engine_kernels.h"

#include "cuda_check.h"
#include "cuda_device.cuh"

namespace edgert {
namespace cuda {
namespace {

template <typename S, typename D>
__global__ void ConvertKernel(const S* src, D* dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Store(dst + i, Load(src + i));
  }
}

}  // namespace

Status EnqueueConvert(cudaStream_t stream, const void* src, DataType src_dtype, void* dst, DataType dst_dtype,
                      int64_t n) {
  if (n <= 0) return Status::Ok();
  if (src_dtype == dst_dtype) {
    EDGERT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * DataTypeSize(src_dtype),
                                                cudaMemcpyDeviceToDevice, stream));
    return Status::Ok();
  }
  if (src_dtype == DataType::kFloat32 && dst_dtype == DataType::kFloat16) {
    ConvertKernel<<<GridSize(n), kBlockSize, 0, stream>>>(static_cast<const float*>(src), static_cast<__half*>(dst), n);
  } else if (src_dtype == DataType::kFloat16 && dst_dtype == DataType::kFloat32) {
    ConvertKernel<<<GridSize(n), kBlockSize, 0, stream>>>(static_cast<const __half*>(src), static_cast<float*>(dst), n);
  } else {
    return Internal(std::string("no conversion from ") + DataTypeName(src_dtype) + " to " + DataTypeName(dst_dtype));
  }
  return LaunchStatus("ConvertKernel");
}

}  // namespace cuda
}  // namespace edgert
