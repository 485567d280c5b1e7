// DecodeDetectionsCuda and DetectionWorkspace in a build without CUDA: Unsupported, so callers fall
// back to Decode on host outputs.
#include "edgert/vision/decode.h"

#ifndef EDGERT_HAVE_CUDA
namespace edgert::vision {

DetectionWorkspace::~DetectionWorkspace() { Release(); }

void DetectionWorkspace::Release() {}

Status DetectionWorkspace::Reserve(int64_t /*anchors*/) {
  return Unsupported("DetectionWorkspace needs CUDA: this edgert was built without it (EDGERT_WITH_CUDA=OFF)",
                     "DetectionWorkspace");
}

Status DecodeDetectionsCuda(const ModelConfig& /*config*/, const std::vector<const float*>& /*device_outputs*/,
                            const std::vector<Shape>& /*shapes*/, const std::vector<std::string>& /*names*/,
                            const InputTransform& /*transform*/, DetectionWorkspace* /*workspace*/, void* /*stream*/,
                            FrameResults* /*results*/) {
  return Unsupported(
      "DecodeDetectionsCuda needs CUDA: this edgert was built without it (EDGERT_WITH_CUDA=OFF); use "
      "Decode",
      "DecodeDetectionsCuda");
}

}  // namespace edgert::vision
#endif
