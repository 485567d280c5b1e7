// Small kernels of the CUDA engine itself: moving graph inputs and outputs between the caller's
// buffers and the arena.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {
namespace cuda {

// Queues dst[i] = src[i] for n elements: a device-to-device copy when the dtypes are equal, a
// conversion kernel for float32 <-> float16. Any other pair is an Internal error.
Status EnqueueConvert(cudaStream_t stream, const void* src, DataType src_dtype, void* dst, DataType dst_dtype,
                      int64_t n);

}  // namespace cuda
}  // namespace edgert
