// The text of a plan layer's kTacticLabelAttr (edgert/network.h), shared by its writer and
// readers: the CUDA convolution kernel (kernels_conv.cu), the CUDA engine (cuda_engine.cc) and
// `edgert inspect`.
#pragma once

#include <cstdint>
#include <string>

namespace edgert {

// kTacticLabelAttr's text "<candidates>/<label>" ("8/cudnn-fused engine 12"), split. False when the
// text is not of that form: no '/', a count that is empty, not decimal or above 9 digits, an empty
// label.
struct RecordedTacticLabel {
  int64_t candidates = 0;  // the length of the candidate list the label was chosen from
  std::string label;       // the candidate ("cudnn-fused engine 12", "direct-nhwc")
};
inline bool ParseTacticLabel(const std::string& text, RecordedTacticLabel* out) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash > 9 || slash + 1 == text.size() ||
      text.find_first_not_of("0123456789") != slash) {
    return false;
  }
  out->candidates = std::stoll(text.substr(0, slash));
  out->label = text.substr(slash + 1);
  return true;
}

// Whether a kTacticBlobAttr text records a cuDNN engine config's knob choices (a line
// "cudnn-knobs ..." after the first) rather than cuDNN's serialized (JSON) plan.
inline bool TacticBlobIsEngineConfig(const std::string& blob) {
  return blob.find("\ncudnn-knobs") != std::string::npos;
}

}  // namespace edgert
