#include "epilogue.h"

#include "activations.cuh"
#include "cuda_check.h"
#include "cuda_device.cuh"

namespace edgert {
namespace cuda {
namespace {

template <typename T>
__global__ void EpilogueKernel(T* y, int64_t n, const T* bias, int64_t inner, int64_t channels, const T* residual,
                               DeviceActivation act) {
  GridDependencySync();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = Load(y + i);
    if (bias != nullptr) v += Load(bias + (i / inner) % channels);
    Store(y + i, act.Finish(v, residual != nullptr ? Load(residual + i) : kNoResidual));
  }
}

}  // namespace

Status EnqueueEpilogue(cudaStream_t stream, DataType dtype, void* y, int64_t n, const void* bias, int64_t inner,
                       int64_t channels, const void* residual, const FusedEpilogue& act) {
  if (n <= 0) return Status::Ok();
  if (bias == nullptr && residual == nullptr && act.kind == FusedEpilogue::Kind::kNone) return Status::Ok();
  const DeviceActivation dact = ToDevice(act);
  Status s;
  const bool ok = DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    s = LaunchDependent("EpilogueKernel", EpilogueKernel<T>, GridSize(n), kBlockSize, 0, stream, static_cast<T*>(y), n,
                        static_cast<const T*>(bias), inner > 0 ? inner : 1, channels > 0 ? channels : 1,
                        static_cast<const T*>(residual), dact);
  });
  if (!ok) return Internal(std::string("bias/activation epilogue: unsupported dtype ") + DataTypeName(dtype));
  return s;
}

}  // namespace cuda
}  // namespace edgert
