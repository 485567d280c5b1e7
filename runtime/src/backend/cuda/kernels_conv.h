// Conv / ConvTranspose CUDA kernels (kernels_conv.cu): the path a created kernel took, for logs
// and reports.
#pragma once

#include <string>

#include "cuda_kernel.h"

namespace edgert {
namespace cuda {

// "cudnn-fused" (conv + bias/residual/activation in one cuDNN plan), "cudnn" (a cuDNN plan with
// nothing to fuse), "cudnn+epilogue" (cuDNN convolution, then EnqueueEpilogue),
// "direct" (edgert's own convolution kernel); nullptr when `kernel` is not a Conv/ConvTranspose
// kernel.
const char* ConvKernelPath(const CudaKernel& kernel);

// Why a faster path was not taken (the failing cuDNN call or the missing cuDNN activation mode),
// "" when the first path tried was taken or `kernel` is not a Conv/ConvTranspose kernel.
std::string ConvKernelNote(const CudaKernel& kernel);

}  // namespace cuda
}  // namespace edgert
