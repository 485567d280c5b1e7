// Small kernels of the CUDA engine itself: moving graph inputs and outputs between the caller's
// buffers and the arena.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {
namespace cuda {

// Queues dst[i] = src[i] for n elements: a copy when the dtypes are equal (a kernel of 16-byte
// vectors when both addresses and the size allow, cudaMemcpyAsync otherwise), a conversion kernel
// for float32 <-> float16. Any other pair is an Internal error.
Status EnqueueConvert(cudaStream_t stream, const void* src, DataType src_dtype, void* dst, DataType dst_dtype,
                      int64_t n);

// True when EnqueueConvertTranspose moves `src_dtype` to `dst_dtype` (float32 / float16, either way
// or unchanged).
bool ConvertTransposeSupported(DataType src_dtype, DataType dst_dtype);
// Queues dst[b][c][r] = src[b][r][c] (converted) for src [batches, rows, cols] and dst
// [batches, cols, rows]: a graph input's copy that also moves it from channels-first to
// channels-last ([N, C, spatial...] -> [N, spatial..., C]: rows = C, cols = the spatial size), or
// a channels-last binding's back (rows = the spatial size, cols = C); an output's to a
// channels-last binding.
// Rows up to 8 (image channels): a thread per (b, c) reads its rows (coalesced along c) and
// writes them next to each other; more rows: 32 x 32 tiles through shared memory.
Status EnqueueConvertTranspose(cudaStream_t stream, const void* src, DataType src_dtype, void* dst, DataType dst_dtype,
                               int64_t batches, int64_t rows, int64_t cols);

}  // namespace cuda
}  // namespace edgert
