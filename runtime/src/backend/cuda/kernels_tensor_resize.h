// Resize / Upsample CUDA kernels (kernels_tensor_resize.cu): the path a created kernel took and a
// creation that can leave the integer up-scaling path out, for tests and timing.
#pragma once

#include "cuda_kernel.h"

namespace edgert {
namespace cuda {

// As CreateResizeKernel (kernels_tensor.cuh); with `allow_integer_path` false a nearest Resize
// always takes the generic kernel (the baseline the integer path is timed and checked against).
StatusOr<CudaKernelPtr> CreateResizeKernel(const CudaOpContext& ctx, bool allow_integer_path);

// "nearest-integer-rows" (integer up-scaling, whole inner rows moved in chunks),
// "nearest-integer-expand" (integer up-scaling of the last axis, inner size 1: vectors widened in
// registers), "nearest" (the generic per-element kernel), "interp" (linear / cubic); nullptr when
// `kernel` is not a Resize/Upsample kernel.
const char* ResizeKernelPath(const CudaKernel& kernel);

}  // namespace cuda
}  // namespace edgert
