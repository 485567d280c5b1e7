// The bias + residual + activation epilogue of Conv and Gemm layers, for the cases the libraries
// cannot fuse (edgert/fused_activation.h has the contract):
//   y[i] = act(y[i] + bias[(i / inner) % channels] + residual[i])
// with `bias` and `residual` optional (nullptr). Conv NCHW: inner = H*W (product of spatial dims),
// channels = C; Gemm rows of N: inner = 1, channels = N. `y`, `bias` and `residual` share `dtype`
// (float32 or float16). One launch; no allocation.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "fused_activation.h"
#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {
namespace cuda {

Status EnqueueEpilogue(cudaStream_t stream, DataType dtype, void* y, int64_t n, const void* bias, int64_t inner,
                       int64_t channels, const void* residual, const FusedEpilogue& act);

}  // namespace cuda
}  // namespace edgert
