#include "cuda_check.h"

#include <cublasLt.h>
#include <cudnn.h>

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

}  // namespace cuda
}  // namespace edgert
