// Placeholder until the family lands (being written in parallel).
#include "cuda_kernel.h"

namespace edgert {
namespace cuda {

StatusOr<CudaKernelPtr> CreateGemmKernel(const CudaOpContext& ctx) {
  return ctx.NotSupported("has no CUDA kernel yet");
}

}  // namespace cuda
}  // namespace edgert
