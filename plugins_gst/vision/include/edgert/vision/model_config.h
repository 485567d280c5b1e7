// The model config: one YAML file saying how frames become the network's input and how its outputs
// become results. Shared by edgertinfer (`config` property), edgert-app and the INT8 image
// calibration source. Example (configs/*.yaml hold real ones):
//
//   model: resnet18.onnx          # ONNX model or plan, relative to this file
//   type: classifier              # classifier | detector | segmentation | raw
//   input:
//     name: input                 # optional: the model's first input
//     width: 224                  # network input size (NCHW, float32)
//     height: 224
//     resize: stretch             # stretch | letterbox | center-crop
//     color: rgb                  # rgb | bgr | gray
//     mean: [0.485, 0.456, 0.406] # in [0,1] units, after `scale`
//     std: [0.229, 0.224, 0.225]
//     scale: 0.00392156862        # multiplies the 0..255 pixel first (default 1/255)
//     pad-value: 114              # letterbox border, in 0..255 pixel units
//   labels: imagenet_labels.txt   # one label per line, or an inline list
//   decoder:
//     kind: softmax-topk          # softmax-topk | topk | yolov8 | yolov5 | ssd | dbnet | argmax
//     top-k: 5
//     threshold: 0.25
//     nms-iou: 0.45
//     max-detections: 100
//     # dbnet: binary-threshold: 0.3, box-threshold: 0.5, unclip-ratio: 1.6, min-size: 3
//     # ssd: boxes: NAME, scores: NAME, box-format: xyxy|cxcywh, normalized: true
//
// Every value is validated; an error names the file, the line and column, the key and the fix.
#pragma once

#include <string>
#include <vector>

#include "edgert/status.h"

namespace edgert::vision {

enum class NetworkType { kClassifier, kDetector, kSegmentation, kRaw };
enum class ResizeMode { kStretch, kLetterbox, kCenterCrop };
enum class ColorOrder { kRGB, kBGR, kGray };
// softmax-topk/topk: classifiers; yolov8/yolov5/ssd/dbnet: detectors; argmax: segmentation (class
// per pixel of a [1,C,H,W] output, or the values of a [1,1,H,W] probability map above threshold).
enum class DecoderKind { kNone, kSoftmaxTopK, kTopK, kYoloV8, kYoloV5, kSsd, kDbNet, kArgMax };

const char* NetworkTypeName(NetworkType type);  // "classifier", ...
const char* DecoderKindName(DecoderKind kind);  // "softmax-topk", ... ("none" for kNone)

struct PreprocessConfig {
  std::string input_name;  // empty: the model's first input
  int width = 224;
  int height = 224;
  ResizeMode resize = ResizeMode::kStretch;
  ColorOrder color = ColorOrder::kRGB;
  float scale = 1.f / 255.f;  // value = (pixel * scale - mean[c]) / std[c]
  float mean[3] = {0.f, 0.f, 0.f};
  float std[3] = {1.f, 1.f, 1.f};
  float pad_value = 114.f;  // letterbox border (0..255)
};

struct DecoderConfig {
  DecoderKind kind = DecoderKind::kNone;
  int top_k = 5;               // classifiers
  float threshold = 0.25f;     // min score kept (classifiers: reported classes; detectors: boxes)
  float nms_iou = 0.45f;       // detectors: IoU above which the lower-scoring box of a class is dropped
  int max_detections = 100;    // detectors: kept after NMS, highest scores first
  bool class_agnostic_nms = false;
  // SSD-style: the names of the boxes and scores outputs (empty: outputs 0 and 1), the box layout
  // and whether boxes are in [0,1] of the network input.
  std::string boxes_output, scores_output;
  bool boxes_cxcywh = false;
  bool boxes_normalized = true;
  bool scores_have_background = false;  // class 0 is background (skipped)
  // DBNet text detection: pixel threshold of the probability map, mean score a box needs, the
  // expansion of each region's box (area * ratio / perimeter, as PaddleOCR), smallest side kept.
  float binary_threshold = 0.3f;
  float box_threshold = 0.5f;
  float unclip_ratio = 1.6f;
  int min_size = 3;
};

struct ModelConfig {
  std::string path;        // the YAML file (for messages and relative paths)
  std::string model;       // absolute or relative to the YAML file's directory, as resolved
  NetworkType type = NetworkType::kRaw;
  PreprocessConfig input;
  std::vector<std::string> labels;  // may be empty (labels are then "class N")
  DecoderConfig decoder;

  // labels[id] when present, else "class <id>".
  std::string Label(int class_id) const;
};

// Parses `yaml_text`; `path` is used for messages and to resolve `model` and a labels file relative
// to its directory. Unknown keys, wrong types, out-of-range values and a decoder that does not fit
// the type are errors naming path:line:column and the key.
StatusOr<ModelConfig> ParseModelConfig(const std::string& yaml_text, const std::string& path);
// Reads the file, then ParseModelConfig.
StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

}  // namespace edgert::vision
