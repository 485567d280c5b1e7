// CUDA, cuDNN and cuBLAS status codes as edgert Status values naming the call (host code).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "edgert/status.h"

namespace edgert {
namespace cuda {

// Ok for cudaSuccess; otherwise kInternal "<call> failed: <cudaGetErrorString> (<name>)".
Status CudaStatus(cudaError_t err, const char* call);
// The same for cudnnStatus_t / cublasStatus_t (passed as int so this header needs neither library).
Status CudnnStatus(int status, const char* call);
Status CublasStatus(int status, const char* call);

// Status of the last kernel launch (cudaGetLastError), naming `what` (e.g. the kernel's name).
inline Status LaunchStatus(const char* what) { return CudaStatus(cudaGetLastError(), what); }

// Whether kernels written for programmatic dependent launch (cuda_device.cuh: LaunchDependent,
// GridDependencySync; the igemm-nhwc convolution) are launched with it on `stream` and the current
// device: a created stream (the legacy and per-thread default streams keep ordinary launches) on
// compute capability 9.0 or newer (earlier GPUs have no such launch), unless the environment
// variable EDGERT_PDL is "0" (read once per process; for comparisons and debugging). False when the
// device cannot be queried.
bool ProgrammaticLaunchEnabled(cudaStream_t stream);

// The current device and the facts edgert's own kernels size their launches with.
struct DeviceFacts {
  int device = 0;
  int sm_count = 0;
  int cc_major = 0;
  int smem_optin = 0;  // opt-in shared memory per block, bytes
};
// cudaGetDevice, then one cudaDeviceGetAttribute per fact; the failing call's Status.
Status CurrentDeviceFacts(DeviceFacts* facts);

}  // namespace cuda
}  // namespace edgert

// Evaluates a CUDA runtime call and returns its Status from the enclosing function on failure.
#define EDGERT_CUDA_RETURN_IF_ERROR(call)                                            \
  do {                                                                               \
    const cudaError_t edgert_cuda_err_ = (call);                                     \
    if (edgert_cuda_err_ != cudaSuccess) return ::edgert::cuda::CudaStatus(edgert_cuda_err_, #call); \
  } while (0)
#define EDGERT_CUDNN_RETURN_IF_ERROR(call)                                           \
  do {                                                                               \
    const int edgert_cudnn_st_ = static_cast<int>(call);                             \
    if (edgert_cudnn_st_ != 0) return ::edgert::cuda::CudnnStatus(edgert_cudnn_st_, #call); \
  } while (0)
#define EDGERT_CUBLAS_RETURN_IF_ERROR(call)                                          \
  do {                                                                               \
    const int edgert_cublas_st_ = static_cast<int>(call);                            \
    if (edgert_cublas_st_ != 0) return ::edgert::cuda::CublasStatus(edgert_cublas_st_, #call); \
  } while (0)
