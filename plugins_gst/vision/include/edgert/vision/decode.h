// Decoders: turn a network's host output tensors into FrameResults, in frame coordinates.
//   softmax-topk / topk : one output [1,C] (or [C], [1,C,1,1]); top-k classes with score >= threshold
//            (softmax-topk: a numerically stable softmax first), highest first, lower id on ties.
//   yolov8 : one output [1, 4+C, N] or [1, N, 4+C]: cx,cy,w,h in network pixels and C class scores
//            (already sigmoid); best class per anchor. The layout is the dimension equal to 4 + the
//            number of labels when labels are given, else the smaller dimension is 4+C.
//   yolov5 : one output [1, N, 5+C] (C = the number of labels when given): cx,cy,w,h, objectness,
//            C class scores; score = obj * best cls.
//   ssd    : boxes [1,N,4] and scores [1,N,C] (by name from decoder.boxes_output/scores_output,
//            else outputs 0 and 1); xyxy or cx,cy,w,h; in [0,1] of the network input or in pixels.
//            With scores_have_background, column 0 is never reported and class ids stay column
//            indices (so labels[0] is the background's label).
//   dbnet  : probability map [1,1,H,W] (H x W may be smaller than the input; it is scaled to it):
//            pixels > binary_threshold, 8-connected regions, mean probability of the region >=
//            box_threshold, the region's axis-aligned box (shorter side >= min_size map pixels)
//            expanded on each side by area * unclip_ratio / perimeter of that box, mapped to the
//            frame; class 0, label labels[0] or "text". No NMS (regions are disjoint, as PaddleOCR).
//   argmax : segmentation; [1,C,H,W] -> first class of highest score per pixel (C <= 255), or
//            [1,1,H,W] -> class 0 where the value > threshold, else 255. results.mask is on the output
//            grid (H x W); no boxes.
// Detector boxes are mapped with InputTransform::ToFrameX/Y, clipped to the frame (boxes with no
// area left are dropped), then greedy NMS per class (all classes with class_agnostic_nms) keeps at
// most max_detections, highest score first. Scores that are NaN never pass the threshold.
//
// GPU decode (DecodeDetectionsCuda, yolov8 and yolov5): the same decoder on device outputs. One
// thread per anchor finds the best class (yolov5: objectness * best class score), maps and clips the
// box to the frame exactly as Decode does (IEEE-rounded operations, no FMA) and appends the passing
// anchors; a radix sort orders them by descending score (lower anchor first on ties, Decode's order);
// NmsCuda suppresses the first 4096 of them; only the kept boxes (at most max_detections) come back
// to the host. The results equal Decode's whenever at most 4096 anchors pass the threshold; beyond
// that the GPU path considers only the 4096 highest-scoring candidates (documented cap).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgert/status.h"
#include "edgert/tensor.h"
#include "edgert/vision/frame.h"
#include "edgert/vision/model_config.h"
#include "edgert/vision/results.h"

namespace edgert::vision {

// `outputs` and `output_names` in the engine's output order (host float32 tensors, batch 1 — the
// caller slices batches). `transform` maps network coordinates to the frame; detectors need its frame
// size and scale (an error otherwise), classifiers and argmax ignore it. Decode replaces
// results->classes, detections and mask and leaves tensors and inference_ms alone. Errors name the
// output (its name is the Status subject) and the shape the decoder expected. Thread-safe: no state.
Status Decode(const ModelConfig& config, const std::vector<Tensor>& outputs,
              const std::vector<std::string>& output_names, const InputTransform& transform, FrameResults* results);

// Greedy NMS over `boxes` (x0,y0,x1,y1 each) with `scores`: indices kept, highest score first; a box
// is dropped when its IoU with a kept box of the same class (all classes when `class_ids` is empty)
// exceeds `iou_threshold` (IoU = intersection / union, areas without +1; 0 for an empty union).
// Ties in score keep the lower index first. `class_ids` is empty or holds one id per box. At most
// `max_keep` (<= 0: no limit).
std::vector<int> Nms(const std::vector<float>& boxes, const std::vector<float>& scores,
                     const std::vector<int>& class_ids, float iou_threshold, int max_keep);

// The same on the GPU for up to 4096 boxes already in device memory, sorted by descending score
// (boxes: 4 floats each; class ids may be null for class-agnostic; `scores` is not read, the order
// carries it): one bitmask kernel and one single-block reduction; `keep` (device, n ints) receives 1
// for kept boxes, 0 otherwise, and *num_kept (host) is written after a synchronise of `stream` (a
// cudaStream_t; nullptr = legacy default stream). Keeps exactly what Nms keeps for the same input.
// Scratch (NmsCudaScratchBytes(n)) is `scratch` when given (device memory of at least
// `scratch_bytes` >= NmsCudaScratchBytes(n); nothing is allocated), else it comes from the
// stream-ordered allocator (cudaMallocAsync). Unsupported in a build without CUDA.
Status NmsCuda(const float* boxes, const float* scores, const int* class_ids, int n, float iou_threshold, int* keep,
               int* num_kept, void* stream, void* scratch = nullptr, size_t scratch_bytes = 0);

// Device scratch for DecodeDetectionsCuda: candidate keys, per-anchor boxes, the radix sort's
// temporary storage, NmsCuda's mask and a pinned host block for the results. Reserve() allocates it
// for up to `anchors` anchors (growing releases the old block after a device synchronise);
// DecodeDetectionsCuda reserves what it needs, so steady state allocates nothing. Freed by the
// destructor. One workspace serves one stream at a time (not thread-safe). Without CUDA, Reserve()
// is Unsupported.
class DetectionWorkspace {
 public:
  DetectionWorkspace() = default;
  ~DetectionWorkspace();
  DetectionWorkspace(const DetectionWorkspace&) = delete;
  DetectionWorkspace& operator=(const DetectionWorkspace&) = delete;

  Status Reserve(int64_t anchors);
  int64_t capacity() const { return anchors_; }         // anchors reserved so far
  int64_t allocations() const { return allocations_; }  // Reserve() calls that allocated

  // Internal layout, used by DecodeDetectionsCuda.
  void* device() const { return device_; }
  void* host() const { return host_; }
  size_t sort_temp_bytes() const { return sort_temp_bytes_; }

 private:
  void Release();
  void* device_ = nullptr;  // one cudaMalloc block
  void* host_ = nullptr;    // one cudaHostAlloc block
  int64_t anchors_ = 0;
  size_t sort_temp_bytes_ = 0;
  int64_t allocations_ = 0;
};

// The largest number of candidates DecodeDetectionsCuda sorts into NmsCuda (its box limit).
constexpr int kMaxGpuDetectionCandidates = 4096;

// Detector decode on the GPU for decoder kinds yolov8 and yolov5: `device_outputs` are device
// pointers to float32 outputs (batch item 0 of each, or the item's slice), with `shapes` (batch 1,
// the shapes Decode checks) and `names` in the engine's output order; `stream` is the cudaStream_t
// the outputs were written on (nullptr: the legacy default stream): the outputs must be complete in
// that stream's order (written by work queued on it, or ordered before it by an event or a
// synchronise). A synchronous cudaMemcpy from pageable memory is not enough for a
// cudaStreamNonBlocking stream: it may return before its DMA lands and that stream does not wait
// for the legacy stream it ran on. Replaces results->classes,
// detections and mask like Decode, and gives Decode's detections (same boxes within float rounding,
// same order, same count; see the 4096 cap above). Errors (wrong kind, shape, transform) name the
// output like Decode's; CUDA errors name the call. Synchronises `stream` before returning.
// Unsupported in a build without CUDA.
Status DecodeDetectionsCuda(const ModelConfig& config, const std::vector<const float*>& device_outputs,
                            const std::vector<Shape>& shapes, const std::vector<std::string>& names,
                            const InputTransform& transform, DetectionWorkspace* workspace, void* stream,
                            FrameResults* results);

// Bytes of device scratch NmsCuda needs for n boxes (the mask words and the count).
size_t NmsCudaScratchBytes(int n);

}  // namespace edgert::vision
