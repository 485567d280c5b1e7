// Model config YAML parser (schema: model_config.h).
//
// Algorithm:
//   1. yaml-cpp parses the text into a node tree (a syntax error becomes one path:line:column error;
//      no yaml-cpp exception leaves this file).
//   2. Each mapping is walked key by key against a table of known keys: an unknown key is an error
//      with a did-you-mean suggestion when a known key is within a small edit distance.
//   3. Every scalar is converted by hand (strtol/strtod with full consumption), so a wrong type or
//      an out-of-range value produces an error naming the key, the mark of the value and the fix.
//   4. Cross-field checks: decoder kind against network type, mean/std channel counts against the
//      color order, labels file and model file relative to the YAML's directory.
//   5. All errors are collected (not only the first) and returned as one InvalidArgument whose
//      message holds one error per line: "path:line:column: key 'x': what is wrong; what to write".
#include "edgert/vision/model_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "edgert/vision/config_text.h"
#include "edgert/vision/yaml_errors.h"

namespace edgert::vision {

namespace fs = std::filesystem;

const char* NetworkTypeName(NetworkType type) {
  switch (type) {
    case NetworkType::kClassifier:
      return "classifier";
    case NetworkType::kDetector:
      return "detector";
    case NetworkType::kSegmentation:
      return "segmentation";
    case NetworkType::kRaw:
      return "raw";
  }
  return "unknown";
}

const char* DecoderKindName(DecoderKind kind) {
  switch (kind) {
    case DecoderKind::kNone:
      return "none";
    case DecoderKind::kSoftmaxTopK:
      return "softmax-topk";
    case DecoderKind::kTopK:
      return "topk";
    case DecoderKind::kYoloV8:
      return "yolov8";
    case DecoderKind::kYoloV5:
      return "yolov5";
    case DecoderKind::kSsd:
      return "ssd";
    case DecoderKind::kDbNet:
      return "dbnet";
    case DecoderKind::kArgMax:
      return "argmax";
  }
  return "unknown";
}

std::string ModelConfig::Label(int class_id) const {
  if (class_id >= 0 && static_cast<size_t>(class_id) < labels.size()) return labels[class_id];
  return "class " + std::to_string(class_id);
}

namespace {

// Errors collect with their marks; see the message format at the top of this file.
using Errors = YamlErrors;

// Typed readers: each returns false (after adding an error) when the value does not convert.
class Reader {
 public:
  explicit Reader(Errors* errors) : errors_(errors) {}

  bool String(const YAML::Node& node, const std::string& key, std::string* out) {
    if (!node.IsScalar()) {
      errors_->Add(node.Mark(), key,
                   std::string("expected a string, got ") + YamlNodeKind(node) + "; write e.g. " + key + ": value");
      return false;
    }
    *out = node.Scalar();
    return true;
  }

  bool Int(const YAML::Node& node, const std::string& key, long lo, long hi, int* out) {
    if (!node.IsScalar()) {
      errors_->Add(node.Mark(), key,
                   std::string("expected an integer, got ") + YamlNodeKind(node) + "; write e.g. " + key + ": " +
                       std::to_string(lo));
      return false;
    }
    const std::string& text = node.Scalar();
    errno = 0;
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE) {
      errors_->Add(node.Mark(), key,
                   "'" + text + "' is not an integer; write a whole number in " + std::to_string(lo) + ".." +
                       std::to_string(hi));
      return false;
    }
    if (v < lo || v > hi) {
      errors_->Add(
          node.Mark(), key,
          std::to_string(v) + " is out of range; write a value in " + std::to_string(lo) + ".." + std::to_string(hi));
      return false;
    }
    *out = static_cast<int>(v);
    return true;
  }

  // A number, or a fraction "a/b" (e.g. scale: 1/255).
  bool Float(const YAML::Node& node, const std::string& key, float* out) {
    if (!node.IsScalar()) {
      errors_->Add(node.Mark(), key,
                   std::string("expected a number, got ") + YamlNodeKind(node) + "; write e.g. " + key + ": 0.5");
      return false;
    }
    double v = 0.0;
    if (!ParseNumber(node.Scalar(), &v)) {
      errors_->Add(node.Mark(), key, "'" + node.Scalar() + "' is not a number; write e.g. 0.5 or 1/255");
      return false;
    }
    *out = static_cast<float>(v);
    return true;
  }

  bool FloatIn(const YAML::Node& node, const std::string& key, float lo, float hi, float* out) {
    float v = 0.f;
    if (!Float(node, key, &v)) return false;
    if (!(v >= lo && v <= hi)) {
      std::ostringstream s;
      s << node.Scalar() << " is out of range; write a value in [" << lo << ", " << hi << "]";
      errors_->Add(node.Mark(), key, s.str());
      return false;
    }
    *out = v;
    return true;
  }

  bool Bool(const YAML::Node& node, const std::string& key, bool* out) {
    if (node.IsScalar()) {
      std::string t = node.Scalar();
      std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
      if (t == "true" || t == "yes" || t == "on") {
        *out = true;
        return true;
      }
      if (t == "false" || t == "no" || t == "off") {
        *out = false;
        return true;
      }
    }
    errors_->Add(node.Mark(), key,
                 "'" + (node.IsScalar() ? node.Scalar() : std::string(YamlNodeKind(node))) +
                     "' is not a boolean; write true or false");
    return false;
  }

  // One of `names` (mapped to values); an error lists them and suggests the closest.
  template <typename E>
  bool Enum(const YAML::Node& node, const std::string& key, const std::vector<std::pair<std::string, E>>& names,
            E* out) {
    std::vector<std::string> words;
    for (const auto& [name, value] : names) words.push_back(name);
    if (node.IsScalar()) {
      for (const auto& [name, value] : names) {
        if (node.Scalar() == name) {
          *out = value;
          return true;
        }
      }
      const std::string guess = ClosestWord(node.Scalar(), words);
      errors_->Add(node.Mark(), key,
                   "unknown value '" + node.Scalar() + "'; " +
                       (guess.empty() ? "write " + JoinAlternatives(words)
                                      : "did you mean '" + guess + "'? (one of " + JoinAlternatives(words) + ")"));
      return false;
    }
    errors_->Add(node.Mark(), key,
                 std::string("expected one of ") + JoinAlternatives(words) + ", got " + YamlNodeKind(node));
    return false;
  }

  // A mapping whose keys are all in `known`; unknown keys are reported (with a suggestion).
  bool Map(const YAML::Node& node, const std::string& key, const std::vector<std::string>& known) {
    if (!node.IsMap()) {
      errors_->Add(node.Mark(), key,
                   std::string("expected a mapping, got ") + YamlNodeKind(node) + "; write the keys indented below '" +
                       key + ":'");
      return false;
    }
    for (const auto& kv : node) {
      const std::string name = kv.first.Scalar();
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      const std::string guess = ClosestWord(name, known);
      const std::string prefix = key.empty() ? "" : key + ".";
      errors_->Add(kv.first.Mark(), prefix + name,
                   "unknown key; " + (guess.empty() ? "known keys here: " + JoinAlternatives(known)
                                                    : "did you mean '" + guess + "'?"));
    }
    return true;
  }

  static bool ParseNumber(const std::string& text, double* out) {
    const size_t slash = text.find('/');
    if (slash != std::string::npos) {
      double num = 0.0, den = 0.0;
      if (!ParseNumber(text.substr(0, slash), &num) || !ParseNumber(text.substr(slash + 1), &den) || den == 0.0) {
        return false;
      }
      *out = num / den;
      return true;
    }
    if (text.empty()) return false;
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (*end != '\0' || errno == ERANGE || !std::isfinite(v)) return false;
    *out = v;
    return true;
  }

 private:
  Errors* errors_;
};

const std::vector<std::pair<std::string, NetworkType>> kTypeNames = {{"classifier", NetworkType::kClassifier},
                                                                     {"detector", NetworkType::kDetector},
                                                                     {"segmentation", NetworkType::kSegmentation},
                                                                     {"raw", NetworkType::kRaw}};
const std::vector<std::pair<std::string, ResizeMode>> kResizeNames = {
    {"stretch", ResizeMode::kStretch}, {"letterbox", ResizeMode::kLetterbox}, {"center-crop", ResizeMode::kCenterCrop}};
const std::vector<std::pair<std::string, ColorOrder>> kColorNames = {
    {"rgb", ColorOrder::kRGB}, {"bgr", ColorOrder::kBGR}, {"gray", ColorOrder::kGray}};
const std::vector<std::pair<std::string, DecoderKind>> kDecoderNames = {
    {"none", DecoderKind::kNone},     {"softmax-topk", DecoderKind::kSoftmaxTopK},
    {"topk", DecoderKind::kTopK},     {"yolov8", DecoderKind::kYoloV8},
    {"yolov5", DecoderKind::kYoloV5}, {"ssd", DecoderKind::kSsd},
    {"dbnet", DecoderKind::kDbNet},   {"argmax", DecoderKind::kArgMax}};

const std::vector<std::string> kTopKeys = {"model", "type", "input", "labels", "decoder"};
const std::vector<std::string> kInputKeys = {"name", "width", "height", "resize",   "color",
                                             "mean", "std",   "scale",  "pad-value"};
const std::vector<std::string> kDecoderKeys = {
    "kind",          "top-k",        "threshold",  "nms-iou",    "max-detections",   "class-agnostic-nms",
    "boxes",         "scores",       "box-format", "normalized", "background-class", "binary-threshold",
    "box-threshold", "unclip-ratio", "min-size"};

// The decoder kinds that fit a network type (the first is the default when `decoder` is absent;
// detectors have no default).
std::vector<DecoderKind> KindsFor(NetworkType type) {
  switch (type) {
    case NetworkType::kClassifier:
      return {DecoderKind::kSoftmaxTopK, DecoderKind::kTopK};
    case NetworkType::kDetector:
      return {DecoderKind::kYoloV8, DecoderKind::kYoloV5, DecoderKind::kSsd, DecoderKind::kDbNet};
    case NetworkType::kSegmentation:
      return {DecoderKind::kArgMax};
    case NetworkType::kRaw:
      return {DecoderKind::kNone};
  }
  return {};
}

std::string KindList(NetworkType type) {
  std::vector<std::string> words;
  for (DecoderKind k : KindsFor(type)) words.push_back(DecoderKindName(k));
  return JoinAlternatives(words);
}

// Resolves `file` against the directory of the YAML at `yaml_path` (cwd when the path is empty),
// as an absolute, lexically normal path.
std::string Resolve(const std::string& yaml_path, const std::string& file) {
  fs::path p(file);
  if (p.is_relative()) {
    const fs::path dir = yaml_path.empty() ? fs::path() : fs::path(yaml_path).parent_path();
    p = dir / p;
  }
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = p;
  return abs.lexically_normal().string();
}

void ParseMeanStd(Reader& reader, Errors& errors, const YAML::Node& node, const std::string& key, bool is_std,
                  float out[3], int* count) {
  std::vector<float> values;
  if (node.IsScalar()) {
    float v = 0.f;
    if (!reader.Float(node, key, &v)) return;
    values.assign(1, v);
  } else if (node.IsSequence()) {
    bool ok = true;
    for (const auto& item : node) {
      float v = 0.f;
      ok = reader.Float(item, key, &v) && ok;
      values.push_back(v);
    }
    if (!ok) return;
    if (values.size() != 1 && values.size() != 3) {
      errors.Add(node.Mark(), key,
                 "has " + std::to_string(values.size()) +
                     " values; write 3 (one per channel, e.g. [0.485, 0.456, 0.406]) or 1 (all channels)");
      return;
    }
  } else {
    errors.Add(node.Mark(), key,
               std::string("expected a number or a list of 3 numbers, got ") + YamlNodeKind(node) + "; write e.g. " +
                   key + ": [0.5, 0.5, 0.5]");
    return;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (is_std && values[i] == 0.f) {
      errors.Add(node.IsSequence() ? node[i].Mark() : node.Mark(), key,
                 "0 is not a valid standard deviation (the input is divided by it); write a non-zero value such as 1");
      return;
    }
  }
  for (int c = 0; c < 3; ++c) out[c] = values.size() == 1 ? values[0] : values[c];
  *count = static_cast<int>(values.size());
}

void ParseInput(Reader& reader, Errors& errors, const YAML::Node& node, PreprocessConfig* in) {
  if (!reader.Map(node, "input", kInputKeys)) return;
  if (node["name"]) reader.String(node["name"], "input.name", &in->input_name);
  if (node["width"]) reader.Int(node["width"], "input.width", 1, 8192, &in->width);
  if (node["height"]) reader.Int(node["height"], "input.height", 1, 8192, &in->height);
  if (node["resize"]) reader.Enum(node["resize"], "input.resize", kResizeNames, &in->resize);
  if (node["color"]) reader.Enum(node["color"], "input.color", kColorNames, &in->color);
  if (node["scale"]) {
    float scale = 0.f;
    if (reader.Float(node["scale"], "input.scale", &scale)) {
      if (scale <= 0.f) {
        errors.Add(node["scale"].Mark(), "input.scale",
                   node["scale"].Scalar() + " must be positive; write e.g. 1/255 (0..255 pixels to 0..1) or 1");
      } else {
        in->scale = scale;
      }
    }
  }
  int mean_count = 0, std_count = 0;
  if (node["mean"]) ParseMeanStd(reader, errors, node["mean"], "input.mean", false, in->mean, &mean_count);
  if (node["std"]) ParseMeanStd(reader, errors, node["std"], "input.std", true, in->std, &std_count);
  if (node["pad-value"]) reader.FloatIn(node["pad-value"], "input.pad-value", 0.f, 255.f, &in->pad_value);
  if (in->color == ColorOrder::kGray) {
    const std::pair<const char*, const float*> per_channel[] = {{"mean", in->mean}, {"std", in->std}};
    for (const auto& [key, v] : per_channel) {
      const int count = std::string(key) == "mean" ? mean_count : std_count;
      if (count == 3 && (v[0] != v[1] || v[1] != v[2])) {
        errors.Add(node[key].Mark(), std::string("input.") + key,
                   "has 3 different values but color is gray (one channel); write one value");
      }
    }
  }
}

void ParseDecoder(Reader& reader, Errors& errors, const YAML::Node& node, DecoderConfig* d, bool* has_kind) {
  if (!reader.Map(node, "decoder", kDecoderKeys)) return;
  if (node["kind"]) *has_kind = reader.Enum(node["kind"], "decoder.kind", kDecoderNames, &d->kind);
  if (node["top-k"]) reader.Int(node["top-k"], "decoder.top-k", 1, 1000000, &d->top_k);
  if (node["threshold"]) reader.FloatIn(node["threshold"], "decoder.threshold", 0.f, 1.f, &d->threshold);
  if (node["nms-iou"]) reader.FloatIn(node["nms-iou"], "decoder.nms-iou", 0.f, 1.f, &d->nms_iou);
  if (node["max-detections"]) {
    reader.Int(node["max-detections"], "decoder.max-detections", 1, 1000000, &d->max_detections);
  }
  if (node["class-agnostic-nms"])
    reader.Bool(node["class-agnostic-nms"], "decoder.class-agnostic-nms", &d->class_agnostic_nms);
  if (node["boxes"]) reader.String(node["boxes"], "decoder.boxes", &d->boxes_output);
  if (node["scores"]) reader.String(node["scores"], "decoder.scores", &d->scores_output);
  if (node["box-format"]) {
    reader.Enum<bool>(node["box-format"], "decoder.box-format", {{"xyxy", false}, {"cxcywh", true}}, &d->boxes_cxcywh);
  }
  if (node["normalized"]) reader.Bool(node["normalized"], "decoder.normalized", &d->boxes_normalized);
  if (node["background-class"]) {
    reader.Bool(node["background-class"], "decoder.background-class", &d->scores_have_background);
  }
  if (node["binary-threshold"]) {
    reader.FloatIn(node["binary-threshold"], "decoder.binary-threshold", 0.f, 1.f, &d->binary_threshold);
  }
  if (node["box-threshold"])
    reader.FloatIn(node["box-threshold"], "decoder.box-threshold", 0.f, 1.f, &d->box_threshold);
  if (node["unclip-ratio"]) {
    float ratio = 0.f;
    if (reader.Float(node["unclip-ratio"], "decoder.unclip-ratio", &ratio)) {
      if (ratio < 0.f || ratio > 100.f) {
        errors.Add(node["unclip-ratio"].Mark(), "decoder.unclip-ratio",
                   node["unclip-ratio"].Scalar() + " is out of range; write a value in [0, 100] (PaddleOCR uses 1.6)");
      } else {
        d->unclip_ratio = ratio;
      }
    }
  }
  if (node["min-size"]) reader.Int(node["min-size"], "decoder.min-size", 0, 8192, &d->min_size);

  // Keys that only one decoder kind reads are errors elsewhere: they would be silently ignored.
  if (!*has_kind) return;
  struct Only {
    const char* key;
    std::vector<DecoderKind> kinds;
  };
  const std::vector<Only> only = {
      {"top-k", {DecoderKind::kSoftmaxTopK, DecoderKind::kTopK}},
      {"nms-iou", {DecoderKind::kYoloV8, DecoderKind::kYoloV5, DecoderKind::kSsd}},
      {"class-agnostic-nms", {DecoderKind::kYoloV8, DecoderKind::kYoloV5, DecoderKind::kSsd}},
      {"max-detections", {DecoderKind::kYoloV8, DecoderKind::kYoloV5, DecoderKind::kSsd, DecoderKind::kDbNet}},
      {"boxes", {DecoderKind::kSsd}},
      {"scores", {DecoderKind::kSsd}},
      {"box-format", {DecoderKind::kSsd}},
      {"normalized", {DecoderKind::kSsd}},
      {"background-class", {DecoderKind::kSsd}},
      {"binary-threshold", {DecoderKind::kDbNet}},
      {"box-threshold", {DecoderKind::kDbNet}},
      {"unclip-ratio", {DecoderKind::kDbNet}},
      {"min-size", {DecoderKind::kDbNet}},
  };
  for (const Only& o : only) {
    if (!node[o.key]) continue;
    if (std::find(o.kinds.begin(), o.kinds.end(), d->kind) != o.kinds.end()) continue;
    std::vector<std::string> names;
    for (DecoderKind k : o.kinds) names.push_back(DecoderKindName(k));
    errors.Add(node[o.key].Mark(), std::string("decoder.") + o.key,
               std::string("is not used by the '") + DecoderKindName(d->kind) + "' decoder (only by " +
                   JoinAlternatives(names) + "); remove it");
  }
}

void ParseLabels(Reader& reader, Errors& errors, const YAML::Node& node, const std::string& path,
                 std::vector<std::string>* labels) {
  if (node.IsSequence()) {
    for (const auto& item : node) {
      std::string label;
      if (reader.String(item, "labels", &label)) labels->push_back(label);
    }
    return;
  }
  if (!node.IsScalar()) {
    errors.Add(node.Mark(), "labels",
               std::string("expected a file name or a list, got ") + YamlNodeKind(node) +
                   "; write labels: labels.txt (one label per line) or labels: [cat, dog]");
    return;
  }
  const std::string file = Resolve(path, node.Scalar());
  std::ifstream in(file);
  if (!in) {
    errors.Add(node.Mark(), "labels",
               "cannot read the labels file '" + file +
                   "'; write a path relative to the YAML's directory, or an inline list [a, b, ...]");
    return;
  }
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) labels->push_back(line);
  }
  if (labels->empty()) {
    errors.Add(node.Mark(), "labels",
               "the labels file '" + file + "' has no labels; write one label per line, or remove 'labels'");
  }
}

}  // namespace

StatusOr<ModelConfig> ParseModelConfig(const std::string& yaml_text, const std::string& path, bool check_files) {
  const std::string name = path.empty() ? std::string("<model config>") : path;
  Errors errors(name);
  YAML::Node loaded;
  try {
    loaded = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    errors.Add(e.mark, "", "YAML syntax error: " + e.msg + "; fix the indentation or quoting there");
    return InvalidArgument(errors.Joined(), name);
  }

  ModelConfig config;
  config.path = path;
  const YAML::Node& root = loaded;  // const: lookups of absent keys must not insert them
  try {
    Reader reader(&errors);
    if (!root.IsMap()) {
      errors.Add(root.Mark(), "",
                 std::string("the model config must be a mapping, got ") + YamlNodeKind(root) +
                     "; write keys such as 'type: classifier' and 'input:'");
      return InvalidArgument(errors.Joined(), name);
    }
    reader.Map(root, "", kTopKeys);

    if (root["model"]) {
      const YAML::Node m = root["model"];
      std::string model;
      if (reader.String(m, "model", &model)) {
        if (model.empty()) {
          errors.Add(m.Mark(), "model", "is empty; write the ONNX model or plan file, relative to this YAML");
        } else {
          config.model = Resolve(path, model);
          std::error_code ec;
          if (check_files && !fs::is_regular_file(config.model, ec)) {
            errors.Add(m.Mark(), "model",
                       "the model file '" + config.model +
                           "' does not exist; write a path relative to the YAML's directory (" +
                           fs::path(Resolve(path, "x")).parent_path().string() + ") or an absolute one");
          }
        }
      }
    }

    bool has_type = false;
    if (root["type"]) has_type = reader.Enum(root["type"], "type", kTypeNames, &config.type);
    if (root["input"]) ParseInput(reader, errors, root["input"], &config.input);
    if (root["labels"]) ParseLabels(reader, errors, root["labels"], path, &config.labels);

    bool has_kind = false;
    if (root["decoder"]) ParseDecoder(reader, errors, root["decoder"], &config.decoder, &has_kind);

    // Decoder kind against the network type.
    const bool type_ok = has_type || !root["type"];
    if (type_ok) {
      const std::vector<DecoderKind> kinds = KindsFor(config.type);
      if (has_kind) {
        if (std::find(kinds.begin(), kinds.end(), config.decoder.kind) == kinds.end()) {
          errors.Add(root["decoder"]["kind"].Mark(), "decoder.kind",
                     std::string("'") + DecoderKindName(config.decoder.kind) + "' does not decode a " +
                         NetworkTypeName(config.type) + " network; write " + KindList(config.type) +
                         " (or change 'type')");
        }
      } else if (!root["decoder"] || !root["decoder"]["kind"]) {
        if (config.type == NetworkType::kDetector) {
          const YAML::Mark mark = root["decoder"] ? root["decoder"].Mark() : root["type"].Mark();
          errors.Add(mark, "decoder.kind",
                     "a detector needs a decoder kind; write decoder: {kind: yolov8} (or yolov5, ssd, dbnet)");
        } else {
          config.decoder.kind = kinds.front();
        }
      }
    }
  } catch (const YAML::Exception& e) {
    errors.Add(e.mark, "", std::string("cannot read the YAML: ") + e.what() + "; check the file's structure");
  }
  if (!errors.empty()) return InvalidArgument(errors.Joined(), name);
  return config;
}

StatusOr<ModelConfig> ParseModelConfig(const std::string& yaml_text, const std::string& path) {
  return ParseModelConfig(yaml_text, path, /*check_files=*/true);
}

StatusOr<ModelConfig> LoadModelConfig(const std::string& path, bool check_files) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open the model config '" + path + "'; check the path", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return IoError("reading the model config '" + path + "' failed", path);
  return ParseModelConfig(text.str(), path, check_files);
}

StatusOr<ModelConfig> LoadModelConfig(const std::string& path) { return LoadModelConfig(path, true); }

}  // namespace edgert::vision
