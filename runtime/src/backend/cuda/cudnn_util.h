// Small helpers for the cuDNN backend (graph) API (host code):
//   - BackendDescriptor: owns one cudnnBackendDescriptor_t and destroys it
//     (cudnnBackendDestroyDescriptor) when it goes out of scope; move-only.
//   - SetAttr* / Finalize: one checked call each; a failure is a kInternal Status naming the
//     call, the attribute and cuDNN's error string (callers prefix the node).
// Attribute types follow the backend API: int64 for dims/strides/uids/paddings, descriptor
// references as CUDNN_TYPE_BACKEND_DESCRIPTOR, data types as CUDNN_TYPE_DATA_TYPE, etc.
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <vector>

#include "edgert/status.h"

namespace edgert {
namespace cuda {

class BackendDescriptor {
 public:
  BackendDescriptor() = default;
  ~BackendDescriptor() { Reset(); }
  BackendDescriptor(BackendDescriptor&& other) noexcept : desc_(other.desc_) { other.desc_ = nullptr; }
  BackendDescriptor& operator=(BackendDescriptor&& other) noexcept {
    if (this != &other) {
      Reset();
      desc_ = other.desc_;
      other.desc_ = nullptr;
    }
    return *this;
  }
  BackendDescriptor(const BackendDescriptor&) = delete;
  BackendDescriptor& operator=(const BackendDescriptor&) = delete;

  // A new, unfinalized descriptor of `type`; `what` names it in errors.
  static StatusOr<BackendDescriptor> Create(cudnnBackendDescriptorType_t type, const char* what);

  cudnnBackendDescriptor_t get() const { return desc_; }
  bool valid() const { return desc_ != nullptr; }
  void Reset();

 private:
  cudnnBackendDescriptor_t desc_ = nullptr;
};

// cudnnBackendSetAttribute(desc, name, type, count, values); `what` names the attribute.
Status SetAttr(const BackendDescriptor& desc, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
               int64_t count, const void* values, const char* what);

inline Status SetInt64(const BackendDescriptor& d, cudnnBackendAttributeName_t name, int64_t v, const char* what) {
  return SetAttr(d, name, CUDNN_TYPE_INT64, 1, &v, what);
}
inline Status SetInt64s(const BackendDescriptor& d, cudnnBackendAttributeName_t name, const std::vector<int64_t>& v,
                        const char* what) {
  return SetAttr(d, name, CUDNN_TYPE_INT64, static_cast<int64_t>(v.size()), v.data(), what);
}
inline Status SetDataType(const BackendDescriptor& d, cudnnBackendAttributeName_t name, cudnnDataType_t v,
                          const char* what) {
  return SetAttr(d, name, CUDNN_TYPE_DATA_TYPE, 1, &v, what);
}
inline Status SetFloat(const BackendDescriptor& d, cudnnBackendAttributeName_t name, float v, const char* what) {
  return SetAttr(d, name, CUDNN_TYPE_FLOAT, 1, &v, what);
}
inline Status SetDescriptor(const BackendDescriptor& d, cudnnBackendAttributeName_t name, const BackendDescriptor& ref,
                            const char* what) {
  cudnnBackendDescriptor_t r = ref.get();
  return SetAttr(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r, what);
}
inline Status SetHandle(const BackendDescriptor& d, cudnnBackendAttributeName_t name, cudnnHandle_t handle,
                        const char* what) {
  return SetAttr(d, name, CUDNN_TYPE_HANDLE, 1, &handle, what);
}

// cudnnBackendFinalize(desc); `what` names the descriptor.
Status Finalize(const BackendDescriptor& desc, const char* what);

}  // namespace cuda
}  // namespace edgert
