// RAII and checked-attribute helpers for the cuDNN backend API (contracts in cudnn_util.h).
#include "cudnn_util.h"

#include <string>

#include "cuda_check.h"

namespace edgert {
namespace cuda {

StatusOr<BackendDescriptor> BackendDescriptor::Create(cudnnBackendDescriptorType_t type, const char* what) {
  BackendDescriptor d;
  const cudnnStatus_t st = cudnnBackendCreateDescriptor(type, &d.desc_);
  if (st != CUDNN_STATUS_SUCCESS) {
    d.desc_ = nullptr;
    return CudnnStatus(st, (std::string("cudnnBackendCreateDescriptor(") + what + ")").c_str());
  }
  return d;
}

void BackendDescriptor::Reset() {
  if (desc_ != nullptr) {
    cudnnBackendDestroyDescriptor(desc_);
    desc_ = nullptr;
  }
}

Status SetAttr(const BackendDescriptor& desc, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
               int64_t count, const void* values, const char* what) {
  const cudnnStatus_t st = cudnnBackendSetAttribute(desc.get(), name, type, count, values);
  if (st == CUDNN_STATUS_SUCCESS) return Status::Ok();
  return CudnnStatus(st, (std::string("cudnnBackendSetAttribute(") + what + ")").c_str());
}

Status Finalize(const BackendDescriptor& desc, const char* what) {
  const cudnnStatus_t st = cudnnBackendFinalize(desc.get());
  if (st == CUDNN_STATUS_SUCCESS) return Status::Ok();
  return CudnnStatus(st, (std::string("cudnnBackendFinalize(") + what + ")").c_str());
}

}  // namespace cuda
}  // namespace edgert
