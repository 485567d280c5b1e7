// The model config: one YAML file saying how frames become the network's input and how its outputs
// become results. Shared by edgertinfer (`config` property), edgert-app and the INT8 image
// calibration source. Example (configs/models/*.yaml hold real ones):
//
//   model: resnet18.onnx          # ONNX model or plan, relative to this file (optional: edgertinfer's
//                                 # `model`/`plan` property may name it instead)
//   type: classifier              # classifier | detector | segmentation | raw (default raw)
//   input:
//     name: input                 # optional: the model's first input
//     width: 224                  # network input size (NCHW, float32), 1..8192 (default 224)
//     height: 224
//     resize: stretch             # stretch | letterbox | center-crop (default stretch)
//     color: rgb                  # rgb | bgr | gray (default rgb)
//     mean: [0.485, 0.456, 0.406] # in [0,1] units, after `scale`; 3 values or 1 for all (default 0)
//     std: [0.229, 0.224, 0.225]  # non-zero; 3 values or 1 (default 1)
//     scale: 1/255                # multiplies the 0..255 pixel first; a number or a fraction a/b
//                                 # (default 1/255)
//     pad-value: 114              # letterbox border, in 0..255 pixel units (default 114)
//   labels: imagenet_labels.txt   # one label per line (relative to this file), or an inline list
//   decoder:
//     kind: softmax-topk          # classifier: softmax-topk | topk (default softmax-topk)
//                                 # detector: yolov8 | yolov5 | ssd | dbnet (required)
//                                 # segmentation: argmax (default) · raw: none (default)
//     top-k: 5                    # >= 1 (classifiers)
//     threshold: 0.25             # [0,1]
//     nms-iou: 0.45               # [0,1] (yolov8, yolov5, ssd)
//     max-detections: 100         # >= 1 (detectors)
//     class-agnostic-nms: false   # (yolov8, yolov5, ssd)
//     # ssd: boxes: NAME, scores: NAME, box-format: xyxy|cxcywh, normalized: true,
//     #      background-class: false (class 0 of the scores is background)
//     # dbnet: binary-threshold: 0.3, box-threshold: 0.5 (both [0,1]), unclip-ratio: 1.6 ([0,100]),
//     #        min-size: 3 (0..8192)
//
// Every value is validated; every error (all of them, not only the first) names the file, the line
// and column, the key and the fix: "path:line:column: key 'x': what is wrong; what to write instead".
// Unknown keys get a did-you-mean when a known key is close; a key that the chosen decoder kind does
// not read (e.g. top-k for yolov8) is an error rather than silently ignored.
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
  int top_k = 5;             // classifiers
  float threshold = 0.25f;   // min score kept (classifiers: reported classes; detectors: boxes)
  float nms_iou = 0.45f;     // detectors: IoU above which the lower-scoring box of a class is dropped
  int max_detections = 100;  // detectors: kept after NMS, highest scores first
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
  std::string path;   // the YAML file (for messages and relative paths)
  std::string model;  // absolute or relative to the YAML file's directory, as resolved
  NetworkType type = NetworkType::kRaw;
  PreprocessConfig input;
  std::vector<std::string> labels;  // may be empty (labels are then "class N")
  DecoderConfig decoder;

  // labels[id] when present, else "class <id>".
  std::string Label(int class_id) const;
};

// Parses `yaml_text`; `path` is used for messages and to resolve `model` and a labels file relative
// to its directory (the current directory when `path` is empty); `model` comes back absolute and
// lexically normalised. Unknown keys, wrong types, out-of-range values and a decoder that does not
// fit the type are errors naming path:line:column and the key; the InvalidArgument's message holds
// every error found, one per line. A labels file is always read (a missing one is an error).
// `check_files` (default true): a `model` file that does not exist is an error naming it; false
// skips that check (validating configs on a machine without the models, e.g. CI, `--validate`).
StatusOr<ModelConfig> ParseModelConfig(const std::string& yaml_text, const std::string& path);
StatusOr<ModelConfig> ParseModelConfig(const std::string& yaml_text, const std::string& path, bool check_files);
// Reads the file, then ParseModelConfig. A file that cannot be opened is NotFound.
StatusOr<ModelConfig> LoadModelConfig(const std::string& path);
StatusOr<ModelConfig> LoadModelConfig(const std::string& path, bool check_files);

}  // namespace edgert::vision
