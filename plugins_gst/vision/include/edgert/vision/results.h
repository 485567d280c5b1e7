// What inference found in one frame: classes, detections in frame coordinates, an optional
// segmentation mask and optional raw output tensors. Produced by the decoders (decode.h), carried
// downstream by edgertinfer's GstMeta, printed by edgert-app as JSON lines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgert/tensor.h"

namespace edgert::vision {

struct Classification {
  int class_id = 0;
  float score = 0.f;
  std::string label;
};

// Box corners in frame pixels (x0,y0 top-left; x1,y1 bottom-right), clipped to the frame.
struct Detection {
  float x0 = 0.f, y0 = 0.f, x1 = 0.f, y1 = 0.f;
  int class_id = 0;
  float score = 0.f;
  std::string label;
};

// Class per pixel of the network output grid (row-major), and how that grid maps onto the frame.
struct SegmentationMask {
  int width = 0, height = 0;
  std::vector<uint8_t> classes;  // width * height class ids (255: below threshold / none)
};

struct FrameResults {
  std::vector<Classification> classes;  // highest score first
  std::vector<Detection> detections;    // highest score first
  SegmentationMask mask;                // empty unless the decoder is argmax
  std::vector<std::pair<std::string, Tensor>> tensors;  // raw outputs (host copies) when requested
  double inference_ms = 0.0;            // preprocessing + engine + decoding of this frame's batch
};

// One JSON object (no trailing newline), keys in this order:
//   {"classes":[{"id","label","score"}...],"detections":[{"id","label","score","box":[x0,y0,x1,y1]}...],
//    "mask":{"width","height"} or null,"inference_ms"}
// Floats with 4 decimals whatever the process locale (NaN/inf: null); labels JSON-escaped (invalid
// UTF-8 bytes become U+FFFD). Used by edgert-app's JSON-lines sink and tests.
std::string ResultsToJson(const FrameResults& results);

}  // namespace edgert::vision
