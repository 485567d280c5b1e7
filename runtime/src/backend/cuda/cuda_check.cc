#include "cuda_check.h"

#include <cublasLt.h>
#include <cudnn.h>

#include <cstdlib>
#include <cstring>

namespace edgert {
namespace cuda {

Status CudaStatus(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return Status::Ok();
  return Internal(std::string(call) + " failed: " + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")");
}

Status CudnnStatus(int status, const char* call) {
  if (status == 0) return Status::Ok();
  return Internal(std::string(call) + " failed: " + cudnnGetErrorString(static_cast<cudnnStatus_t>(status)) +
                  " (cuDNN status " + std::to_string(status) + ")");
}

Status CublasStatus(int status, const char* call) {
  if (status == 0) return Status::Ok();
  return Internal(std::string(call) + " failed: " + cublasLtGetStatusString(static_cast<cublasStatus_t>(status)) +
                  " (cuBLAS status " + std::to_string(status) + ")");
}

Status CurrentDeviceFacts(DeviceFacts* facts) {
  EDGERT_CUDA_RETURN_IF_ERROR(cudaGetDevice(&facts->device));
  EDGERT_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&facts->sm_count, cudaDevAttrMultiProcessorCount, facts->device));
  EDGERT_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&facts->cc_major, cudaDevAttrComputeCapabilityMajor, facts->device));
  EDGERT_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&facts->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, facts->device));
  return Status::Ok();
}

bool ProgrammaticLaunchEnabled(cudaStream_t stream) {
  static const bool disabled = [] {
    const char* v = std::getenv("EDGERT_PDL");
    return v != nullptr && std::strcmp(v, "0") == 0;
  }();
  if (disabled || stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread) return false;
  int device = 0;
  int major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    return false;
  }
  return major >= 9;
}

}  // namespace cuda
}  // namespace edgert
