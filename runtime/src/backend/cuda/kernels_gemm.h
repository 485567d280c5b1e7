// Device helpers of the Gemm/MatMul family (kernels_gemm.cc drives cuBLASLt; kernels_gemm.cu holds
// the one elementwise kernel it needs).
//
// EnqueueBroadcastFill writes y[i * cols + j] = scale * c[i * c_row_stride + j * c_col_stride] for
// a row-major [rows, cols] y (Gemm's C broadcast to the output: strides 0 on broadcast dimensions),
// or 0 everywhere when `c` is nullptr. `y` and `c` share `dtype` (float32 or float16); values are
// scaled in float. One launch; no allocation; capturable.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {
namespace cuda {

Status EnqueueBroadcastFill(cudaStream_t stream, DataType dtype, void* y, int64_t rows, int64_t cols, const void* c,
                            int64_t c_row_stride, int64_t c_col_stride, float scale);

}  // namespace cuda
}  // namespace edgert
