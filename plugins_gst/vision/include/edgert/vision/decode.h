// Decoders: turn a network's host output tensors into FrameResults, in frame coordinates.
//   softmax-topk / topk : one output [1,C] (or [C], [1,C,1,1]); top-k classes above threshold.
//   yolov8 : one output [1, 4+C, N] (or [1, N, 4+C]; the smaller dimension is 4+C): cx,cy,w,h in
//            network pixels and C class scores (already sigmoid); best class per anchor.
//   yolov5 : one output [1, N, 5+C]: cx,cy,w,h, objectness, C class scores; score = obj * cls.
//   ssd    : boxes [1,N,4] and scores [1,N,C] (names in the config, else outputs 0 and 1).
//   dbnet  : probability map [1,1,H,W]: threshold, connected regions (8-connectivity), mean score,
//            each region's box expanded by unclip_ratio, mapped to the frame (class 0 "text").
//   argmax : segmentation; [1,C,H,W] -> class per pixel, or [1,1,H,W] -> 1 where > threshold.
// Detectors then run NMS per class (or class-agnostic) and keep max_detections.
#pragma once

#include <vector>

#include "edgert/status.h"
#include "edgert/tensor.h"
#include "edgert/vision/frame.h"
#include "edgert/vision/model_config.h"
#include "edgert/vision/results.h"

namespace edgert::vision {

// `outputs` and `output_names` in the engine's output order (host float32 tensors, batch 1 — the
// caller slices batches). `transform` maps network coordinates to the frame. Errors name the output
// and the shape the decoder expected.
Status Decode(const ModelConfig& config, const std::vector<Tensor>& outputs,
              const std::vector<std::string>& output_names, const InputTransform& transform, FrameResults* results);

// Greedy NMS over `boxes` (x0,y0,x1,y1 each) with `scores`: indices kept, highest score first; a box
// is dropped when its IoU with a kept box of the same class (all classes when `class_ids` is empty)
// exceeds `iou_threshold`. At most `max_keep` (<= 0: no limit).
std::vector<int> Nms(const std::vector<float>& boxes, const std::vector<float>& scores,
                     const std::vector<int>& class_ids, float iou_threshold, int max_keep);

// The same on the GPU for up to 4096 boxes already in device memory, sorted by descending score
// (boxes: 4 floats each; class
// ids may be null for class-agnostic): one bitmask kernel and one reduction; `keep` (device, n ints)
// receives 1 for kept boxes, 0 otherwise, and *num_kept (host) is written after a synchronise of
// `stream`. Unsupported in a build without CUDA.
Status NmsCuda(const float* boxes, const float* scores, const int* class_ids, int n, float iou_threshold,
               int* keep, int* num_kept, void* stream);

}  // namespace edgert::vision
