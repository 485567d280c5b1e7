// Gemm's C operand broadcast into the output (contract in kernels_gemm.h): a grid-stride loop over
// the output elements; each reads its C element through the row/column strides (0 = broadcast).
#include "cuda_check.h"
#include "cuda_device.cuh"
#include "kernels_gemm.h"

namespace edgert {
namespace cuda {
namespace {

template <typename T>
__global__ void BroadcastFillKernel(T* y, int64_t rows, int64_t cols, const T* c, int64_t c_row_stride,
                                    int64_t c_col_stride, float scale) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = 0.0f;
    if (c != nullptr) {
      const int64_t r = i / cols;
      const int64_t col = i - r * cols;
      v = scale * Load(c + r * c_row_stride + col * c_col_stride);
    }
    Store(y + i, v);
  }
}

}  // namespace

Status EnqueueBroadcastFill(cudaStream_t stream, DataType dtype, void* y, int64_t rows, int64_t cols, const void* c,
                            int64_t c_row_stride, int64_t c_col_stride, float scale) {
  const int64_t n = rows * cols;
  if (n <= 0) return Status::Ok();
  const bool ok = DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    BroadcastFillKernel<T><<<GridSize(n), kBlockSize, 0, stream>>>(
        static_cast<T*>(y), rows, cols, static_cast<const T*>(c), c_row_stride, c_col_stride, scale);
  });
  if (!ok) return Internal(std::string("Gemm C broadcast: unsupported dtype ") + DataTypeName(dtype));
  return LaunchStatus("BroadcastFillKernel");
}

}  // namespace cuda
}  // namespace edgert
