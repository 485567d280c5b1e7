// Conv / ConvTranspose CUDA kernels (kernels_conv.cu): the path a created kernel took, for logs
// and reports.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cuda_kernel.h"

namespace edgert {
namespace cuda {

// "cudnn-fused" (conv + bias/residual/activation in one cuDNN plan), "cudnn" (a cuDNN plan with
// nothing to fuse), "cudnn+epilogue" (cuDNN convolution, then EnqueueEpilogue), "depthwise"
// (edgert's depthwise kernel, kernels_depthwise.h), "direct" (edgert's generic convolution
// kernel), and for EdgertConvNhwc "depthwise-nhwc" / "direct-nhwc" (kernels_conv_nhwc.h) and
// "stem-nhwc" (kernels_conv_stem.h) and "igemm-nhwc" (kernels_conv_igemm.h);
// nullptr when `kernel` is not a Conv/ConvTranspose/EdgertConvNhwc kernel.
const char* ConvKernelPath(const CudaKernel& kernel);

// Why a faster path was not taken (the failing cuDNN call or the missing cuDNN activation mode),
// "" when the first path tried was taken or `kernel` is not a Conv/ConvTranspose kernel.
std::string ConvKernelNote(const CudaKernel& kernel);

// The tactic candidates of a Conv/ConvTranspose layer in index order (CudaOpContext::tactic's
// numbering at ctx.tactic_level, level 0 counting as 1), each as its path with the cuDNN engine's
// global index when known: "cudnn-fused engine 12", "cudnn+epilogue engine 3", "depthwise",
// "direct". Builds the plans (as a kernel creation would), times nothing; for tests and tools.
StatusOr<std::vector<std::string>> ConvCandidatePaths(const CudaOpContext& ctx);

// A cuDNN handle (cudnnCreate, destroyed with the last copy) for tests and tools that create
// Conv kernels outside an engine (CudaResources::cudnn); null when cuDNN cannot be initialised.
std::shared_ptr<cudnnContext> CreateCudnnHandle();

}  // namespace cuda
}  // namespace edgert
