// Model config parser: defaults, every error path (exact line:column, key and fix), relative paths
// for the model and labels files, and every shipped configs/models/*.yaml.
#include "edgert/vision/model_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace edgert::vision {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the test temp dir, removed at the end of the test.
class ModelConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("edgert_model_config_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "models");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }
  // The error message of parsing `yaml` as <dir>/cfg.yaml (check_files off unless asked).
  std::string Error(const std::string& yaml, bool check_files = false) {
    StatusOr<ModelConfig> c = ParseModelConfig(yaml, (dir_ / "cfg.yaml").string(), check_files);
    EXPECT_FALSE(c.ok()) << yaml;
    if (c.ok()) return "";
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    return c.status().message();
  }
  std::string P() const { return (dir_ / "cfg.yaml").string(); }

  fs::path dir_;
};

TEST_F(ModelConfigTest, Names) {
  EXPECT_STREQ(NetworkTypeName(NetworkType::kClassifier), "classifier");
  EXPECT_STREQ(NetworkTypeName(NetworkType::kDetector), "detector");
  EXPECT_STREQ(NetworkTypeName(NetworkType::kSegmentation), "segmentation");
  EXPECT_STREQ(NetworkTypeName(NetworkType::kRaw), "raw");
  EXPECT_STREQ(DecoderKindName(DecoderKind::kNone), "none");
  EXPECT_STREQ(DecoderKindName(DecoderKind::kSoftmaxTopK), "softmax-topk");
  EXPECT_STREQ(DecoderKindName(DecoderKind::kTopK), "topk");
  EXPECT_STREQ(DecoderKindName(DecoderKind::kYoloV8), "yolov8");
  EXPECT_STREQ(DecoderKindName(DecoderKind::kYoloV5), "yolov5");
  EXPECT_STREQ(DecoderKindName(DecoderKind::kSsd), "ssd");
  EXPECT_STREQ(DecoderKindName(DecoderKind::kDbNet), "dbnet");
  EXPECT_STREQ(DecoderKindName(DecoderKind::kArgMax), "argmax");
}

TEST_F(ModelConfigTest, Label) {
  ModelConfig c;
  c.labels = {"cat", "dog"};
  EXPECT_EQ(c.Label(0), "cat");
  EXPECT_EQ(c.Label(1), "dog");
  EXPECT_EQ(c.Label(2), "class 2");
  EXPECT_EQ(c.Label(-1), "class -1");
}

TEST_F(ModelConfigTest, DefaultsOfAnEmptyMapping) {
  StatusOr<ModelConfig> c = ParseModelConfig("{}", P());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->path, P());
  EXPECT_EQ(c->model, "");
  EXPECT_EQ(c->type, NetworkType::kRaw);
  EXPECT_EQ(c->decoder.kind, DecoderKind::kNone);
  EXPECT_EQ(c->input.width, 224);
  EXPECT_EQ(c->input.height, 224);
  EXPECT_EQ(c->input.resize, ResizeMode::kStretch);
  EXPECT_EQ(c->input.color, ColorOrder::kRGB);
  EXPECT_FLOAT_EQ(c->input.scale, 1.f / 255.f);
  EXPECT_FLOAT_EQ(c->input.mean[0], 0.f);
  EXPECT_FLOAT_EQ(c->input.std[2], 1.f);
  EXPECT_FLOAT_EQ(c->input.pad_value, 114.f);
  EXPECT_TRUE(c->labels.empty());
  EXPECT_EQ(c->decoder.top_k, 5);
  EXPECT_FLOAT_EQ(c->decoder.threshold, 0.25f);
  EXPECT_FLOAT_EQ(c->decoder.nms_iou, 0.45f);
  EXPECT_EQ(c->decoder.max_detections, 100);
}

TEST_F(ModelConfigTest, DefaultDecoderPerType) {
  StatusOr<ModelConfig> c = ParseModelConfig("type: classifier\n", P());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->decoder.kind, DecoderKind::kSoftmaxTopK);
  c = ParseModelConfig("type: segmentation\n", P());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->decoder.kind, DecoderKind::kArgMax);
  c = ParseModelConfig("type: raw\n", P());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->decoder.kind, DecoderKind::kNone);
  EXPECT_EQ(Error("type: detector\n"),
            P() +
                ":1:7: key 'decoder.kind': a detector needs a decoder kind; write decoder: {kind: yolov8} (or "
                "yolov5, ssd, dbnet)");
}

TEST_F(ModelConfigTest, FullConfigAndRelativePaths) {
  Write(dir_ / "models" / "net.onnx", "not really onnx; only its existence is checked");
  Write(dir_ / "labels" / "names.txt", "cat\r\ndog  \n\nbird\n");
  const std::string yaml =
      "model: models/net.onnx\n"
      "type: detector\n"
      "input:\n"
      "  name: images\n"
      "  width: 640\n"
      "  height: 480\n"
      "  resize: letterbox\n"
      "  color: bgr\n"
      "  mean: [0.485, 0.456, 0.406]\n"
      "  std: 0.5\n"
      "  scale: 2/255\n"
      "  pad-value: 0\n"
      "labels: labels/names.txt\n"
      "decoder:\n"
      "  kind: ssd\n"
      "  threshold: 0.4\n"
      "  nms-iou: 0.6\n"
      "  max-detections: 7\n"
      "  class-agnostic-nms: yes\n"
      "  boxes: loc\n"
      "  scores: conf\n"
      "  box-format: cxcywh\n"
      "  normalized: false\n"
      "  background-class: true\n";
  StatusOr<ModelConfig> c = ParseModelConfig(yaml, P());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->model, (dir_ / "models" / "net.onnx").string());
  EXPECT_EQ(c->type, NetworkType::kDetector);
  EXPECT_EQ(c->input.input_name, "images");
  EXPECT_EQ(c->input.width, 640);
  EXPECT_EQ(c->input.height, 480);
  EXPECT_EQ(c->input.resize, ResizeMode::kLetterbox);
  EXPECT_EQ(c->input.color, ColorOrder::kBGR);
  EXPECT_FLOAT_EQ(c->input.mean[0], 0.485f);
  EXPECT_FLOAT_EQ(c->input.mean[1], 0.456f);
  EXPECT_FLOAT_EQ(c->input.mean[2], 0.406f);
  for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(c->input.std[i], 0.5f);
  EXPECT_FLOAT_EQ(c->input.scale, 2.f / 255.f);
  EXPECT_FLOAT_EQ(c->input.pad_value, 0.f);
  EXPECT_EQ(c->labels, (std::vector<std::string>{"cat", "dog", "bird"}));
  EXPECT_EQ(c->decoder.kind, DecoderKind::kSsd);
  EXPECT_FLOAT_EQ(c->decoder.threshold, 0.4f);
  EXPECT_FLOAT_EQ(c->decoder.nms_iou, 0.6f);
  EXPECT_EQ(c->decoder.max_detections, 7);
  EXPECT_TRUE(c->decoder.class_agnostic_nms);
  EXPECT_EQ(c->decoder.boxes_output, "loc");
  EXPECT_EQ(c->decoder.scores_output, "conf");
  EXPECT_TRUE(c->decoder.boxes_cxcywh);
  EXPECT_FALSE(c->decoder.boxes_normalized);
  EXPECT_TRUE(c->decoder.scores_have_background);
}

TEST_F(ModelConfigTest, ModelPathsAreNormalisedAndAbsolute) {
  Write(dir_ / "net.plan", "x");
  fs::create_directories(dir_ / "sub");
  StatusOr<ModelConfig> c = ParseModelConfig("model: ../net.plan\n", (dir_ / "sub" / "m.yaml").string());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->model, (dir_ / "net.plan").string());
  const std::string absolute = (dir_ / "net.plan").string();
  c = ParseModelConfig("model: " + absolute + "\n", "/nonexistent/dir/m.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->model, absolute);
}

TEST_F(ModelConfigTest, MissingModelFileIsAnErrorNamingIt) {
  const std::string missing = (dir_ / "models" / "absent.onnx").string();
  EXPECT_EQ(Error("type: raw\nmodel: models/absent.onnx\n", /*check_files=*/true),
            P() + ":2:8: key 'model': the model file '" + missing +
                "' does not exist; write a path relative to the YAML's directory (" + dir_.string() +
                ") or an absolute one");
  // Without the check the path is still resolved.
  StatusOr<ModelConfig> c = ParseModelConfig("model: models/absent.onnx\n", P(), false);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->model, missing);
  // A directory is not a model file either.
  EXPECT_NE(Error("model: models\n", true).find("key 'model': the model file"), std::string::npos);
}

TEST_F(ModelConfigTest, LabelsFileErrors) {
  EXPECT_EQ(Error("labels: nope.txt\n"),
            P() + ":1:9: key 'labels': cannot read the labels file '" + (dir_ / "nope.txt").string() +
                "'; write a path relative to the YAML's directory, or an inline list [a, b, ...]");
  Write(dir_ / "empty.txt", "\n\n");
  EXPECT_EQ(Error("labels: empty.txt\n"), P() + ":1:9: key 'labels': the labels file '" +
                                              (dir_ / "empty.txt").string() +
                                              "' has no labels; write one label per line, or remove 'labels'");
  EXPECT_EQ(Error("labels: {a: 1}\n"),
            P() +
                ":1:9: key 'labels': expected a file name or a list, got a mapping; write labels: labels.txt "
                "(one label per line) or labels: [cat, dog]");
  EXPECT_EQ(Error("labels: [a, [b]]\n"),
            P() + ":1:13: key 'labels': expected a string, got a list; write e.g. labels: value");
  StatusOr<ModelConfig> c = ParseModelConfig("labels: [\"0\", \"180\"]\n", P());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->labels, (std::vector<std::string>{"0", "180"}));
}

TEST_F(ModelConfigTest, UnknownKeysWithSuggestions) {
  EXPECT_EQ(Error("modle: x.onnx\n"), P() + ":1:1: key 'modle': unknown key; did you mean 'model'?");
  EXPECT_EQ(Error("input:\n  widht: 3\n"), P() + ":2:3: key 'input.widht': unknown key; did you mean 'width'?");
  EXPECT_EQ(Error("decoder:\n  top_k: 3\n"), P() + ":2:3: key 'decoder.top_k': unknown key; did you mean 'top-k'?");
  EXPECT_EQ(Error("zzzzzz: 1\n"),
            P() + ":1:1: key 'zzzzzz': unknown key; known keys here: model, type, input, labels or decoder");
}

TEST_F(ModelConfigTest, WrongTypes) {
  EXPECT_EQ(Error("input:\n  width: abc\n"),
            P() + ":2:10: key 'input.width': 'abc' is not an integer; write a whole number in 1..8192");
  EXPECT_EQ(Error("input:\n  width: 2.5\n"),
            P() + ":2:10: key 'input.width': '2.5' is not an integer; write a whole number in 1..8192");
  EXPECT_EQ(Error("input:\n  height: [1]\n"),
            P() + ":2:11: key 'input.height': expected an integer, got a list; write e.g. input.height: 1");
  EXPECT_EQ(Error("input:\n  scale: big\n"),
            P() + ":2:10: key 'input.scale': 'big' is not a number; write e.g. 0.5 or 1/255");
  EXPECT_EQ(Error("input:\n  scale: 1/0\n"),
            P() + ":2:10: key 'input.scale': '1/0' is not a number; write e.g. 0.5 or 1/255");
  EXPECT_EQ(Error("input: 5\n"),
            P() + ":1:8: key 'input': expected a mapping, got a scalar; write the keys indented below 'input:'");
  EXPECT_EQ(Error("input:\n  name: [a]\n"),
            P() + ":2:9: key 'input.name': expected a string, got a list; write e.g. input.name: value");
  EXPECT_EQ(Error("type: detector\ndecoder:\n  kind: yolov8\n  class-agnostic-nms: maybe\n"),
            P() + ":4:23: key 'decoder.class-agnostic-nms': 'maybe' is not a boolean; write true or false");
  EXPECT_EQ(Error("- a\n- b\n"), P() +
                                     ":1:1: the model config must be a mapping, got a list; write keys such as 'type: "
                                     "classifier' and 'input:'");
  EXPECT_EQ(Error("input:\n  mean: {r: 1}\n"),
            P() +
                ":2:9: key 'input.mean': expected a number or a list of 3 numbers, got a mapping; write e.g. "
                "input.mean: [0.5, 0.5, 0.5]");
  EXPECT_EQ(Error("input:\n  mean: [0.1, x, 0.3]\n"),
            P() + ":2:15: key 'input.mean': 'x' is not a number; write e.g. 0.5 or 1/255");
}

TEST_F(ModelConfigTest, EnumValues) {
  EXPECT_EQ(Error("type: clasifier\n"),
            P() +
                ":1:7: key 'type': unknown value 'clasifier'; did you mean 'classifier'? (one of classifier, "
                "detector, segmentation or raw)");
  EXPECT_EQ(Error("type: banana\n"),
            P() + ":1:7: key 'type': unknown value 'banana'; write classifier, detector, segmentation or raw");
  EXPECT_EQ(Error("input:\n  resize: letterbx\n"),
            P() +
                ":2:11: key 'input.resize': unknown value 'letterbx'; did you mean 'letterbox'? (one of stretch, "
                "letterbox or center-crop)");
  EXPECT_EQ(Error("input:\n  color: [rgb]\n"),
            P() + ":2:10: key 'input.color': expected one of rgb, bgr or gray, got a list");
  EXPECT_EQ(Error("type: detector\ndecoder:\n  kind: yolo8\n"),
            P() +
                ":3:9: key 'decoder.kind': unknown value 'yolo8'; did you mean 'yolov8'? (one of none, "
                "softmax-topk, topk, yolov8, yolov5, ssd, dbnet or argmax)");
  EXPECT_EQ(Error("type: detector\ndecoder:\n  kind: ssd\n  box-format: xywh\n"),
            P() +
                ":4:15: key 'decoder.box-format': unknown value 'xywh'; did you mean 'xyxy'? (one of xyxy or "
                "cxcywh)");
}

TEST_F(ModelConfigTest, OutOfRange) {
  EXPECT_EQ(Error("input:\n  width: 0\n"),
            P() + ":2:10: key 'input.width': 0 is out of range; write a value in 1..8192");
  EXPECT_EQ(Error("input:\n  height: 8193\n"),
            P() + ":2:11: key 'input.height': 8193 is out of range; write a value in 1..8192");
  EXPECT_EQ(Error("input:\n  std: [0.2, 0, 0.2]\n"),
            P() +
                ":2:14: key 'input.std': 0 is not a valid standard deviation (the input is divided by it); write a "
                "non-zero value such as 1");
  EXPECT_EQ(Error("input:\n  std: 0\n"),
            P() +
                ":2:8: key 'input.std': 0 is not a valid standard deviation (the input is divided by it); write a "
                "non-zero value such as 1");
  EXPECT_EQ(Error("input:\n  mean: [1, 2]\n"),
            P() +
                ":2:9: key 'input.mean': has 2 values; write 3 (one per channel, e.g. [0.485, 0.456, 0.406]) or 1 "
                "(all channels)");
  EXPECT_EQ(Error("input:\n  scale: -1\n"),
            P() + ":2:10: key 'input.scale': -1 must be positive; write e.g. 1/255 (0..255 pixels to 0..1) or 1");
  EXPECT_EQ(Error("input:\n  pad-value: 300\n"),
            P() + ":2:14: key 'input.pad-value': 300 is out of range; write a value in [0, 255]");
  EXPECT_EQ(Error("type: classifier\ndecoder:\n  threshold: 1.5\n"),
            P() + ":3:14: key 'decoder.threshold': 1.5 is out of range; write a value in [0, 1]");
  EXPECT_EQ(Error("type: classifier\ndecoder:\n  top-k: 0\n"),
            P() + ":3:10: key 'decoder.top-k': 0 is out of range; write a value in 1..1000000");
  EXPECT_EQ(Error("type: detector\ndecoder:\n  kind: yolov8\n  nms-iou: -0.1\n"),
            P() + ":4:12: key 'decoder.nms-iou': -0.1 is out of range; write a value in [0, 1]");
  EXPECT_EQ(Error("type: detector\ndecoder:\n  kind: dbnet\n  box-threshold: 2\n"),
            P() + ":4:18: key 'decoder.box-threshold': 2 is out of range; write a value in [0, 1]");
  EXPECT_EQ(Error("type: detector\ndecoder:\n  kind: dbnet\n  binary-threshold: -1\n"),
            P() + ":4:21: key 'decoder.binary-threshold': -1 is out of range; write a value in [0, 1]");
  EXPECT_EQ(Error("type: detector\ndecoder:\n  kind: dbnet\n  unclip-ratio: 101\n"),
            P() +
                ":4:17: key 'decoder.unclip-ratio': 101 is out of range; write a value in [0, 100] (PaddleOCR "
                "uses 1.6)");
  EXPECT_EQ(Error("type: detector\ndecoder:\n  kind: yolov5\n  max-detections: 0\n"),
            P() + ":4:19: key 'decoder.max-detections': 0 is out of range; write a value in 1..1000000");
  EXPECT_EQ(Error("input:\n  color: gray\n  mean: [0.1, 0.2, 0.3]\n"),
            P() + ":3:9: key 'input.mean': has 3 different values but color is gray (one channel); write one value");
}

TEST_F(ModelConfigTest, DecoderKindMustFitTheType) {
  EXPECT_EQ(Error("type: classifier\ndecoder:\n  kind: yolov8\n"),
            P() +
                ":3:9: key 'decoder.kind': 'yolov8' does not decode a classifier network; write softmax-topk or "
                "topk (or change 'type')");
  EXPECT_EQ(Error("type: detector\ndecoder:\n  kind: argmax\n"),
            P() +
                ":3:9: key 'decoder.kind': 'argmax' does not decode a detector network; write yolov8, yolov5, "
                "ssd or dbnet (or change 'type')");
  EXPECT_EQ(Error("type: segmentation\ndecoder:\n  kind: topk\n"),
            P() +
                ":3:9: key 'decoder.kind': 'topk' does not decode a segmentation network; write argmax (or "
                "change 'type')");
  EXPECT_EQ(Error("decoder:\n  kind: softmax-topk\n"),
            P() +
                ":2:9: key 'decoder.kind': 'softmax-topk' does not decode a raw network; write none (or change "
                "'type')");
  EXPECT_EQ(Error("type: detector\ndecoder:\n  threshold: 0.5\n"),
            P() +
                ":3:3: key 'decoder.kind': a detector needs a decoder kind; write decoder: {kind: yolov8} (or "
                "yolov5, ssd, dbnet)");
  // A key the chosen kind does not read.
  EXPECT_EQ(Error("type: detector\ndecoder:\n  kind: yolov8\n  top-k: 3\n"),
            P() +
                ":4:10: key 'decoder.top-k': is not used by the 'yolov8' decoder (only by softmax-topk or topk); "
                "remove it");
  EXPECT_EQ(Error("type: classifier\ndecoder:\n  kind: topk\n  unclip-ratio: 2\n"),
            P() + ":4:17: key 'decoder.unclip-ratio': is not used by the 'topk' decoder (only by dbnet); remove it");
}

TEST_F(ModelConfigTest, CollectsEveryError) {
  const std::string message = Error(
      "type: detector\n"
      "input:\n"
      "  width: 0\n"
      "  height: x\n"
      "colour: rgb\n"
      "decoder:\n"
      "  kind: yolov8\n"
      "  threshold: 2\n");
  EXPECT_EQ(message, P() + ":5:1: key 'colour': unknown key; known keys here: model, type, input, labels or decoder\n" +
                         P() + ":3:10: key 'input.width': 0 is out of range; write a value in 1..8192\n" + P() +
                         ":4:11: key 'input.height': 'x' is not an integer; write a whole number in 1..8192\n" + P() +
                         ":8:14: key 'decoder.threshold': 2 is out of range; write a value in [0, 1]");
}

TEST_F(ModelConfigTest, YamlSyntaxErrors) {
  const std::string message = Error("input:\n  width: [1, 2\n");
  EXPECT_EQ(message.rfind(P() + ":3:1: YAML syntax error: ", 0), 0u) << message;
  EXPECT_NE(message.find("; fix the indentation or quoting there"), std::string::npos);
  StatusOr<ModelConfig> c = ParseModelConfig("", P());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("the model config must be a mapping, got empty"), std::string::npos);
}

TEST_F(ModelConfigTest, LoadFromFile) {
  Write(dir_ / "m.yaml", "type: classifier\nlabels: [a]\n");
  StatusOr<ModelConfig> c = LoadModelConfig((dir_ / "m.yaml").string());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->Label(0), "a");
  c = LoadModelConfig((dir_ / "absent.yaml").string());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("absent.yaml"), std::string::npos);
}

// Every shipped model config validates (models are not in CI, so the file check is off) and has
// the values its comment promises.
TEST(ShippedModelConfigs, AllValidate) {
  const fs::path root = fs::path(EDGERT_SOURCE_DIR) / "configs" / "models";
  int count = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    StatusOr<ModelConfig> c = LoadModelConfig(entry.path().string(), /*check_files=*/false);
    EXPECT_TRUE(c.ok()) << entry.path() << ": " << c.status().ToString();
    if (c.ok()) {
      EXPECT_EQ(fs::path(c->model).parent_path().filename(), "models") << entry.path();
    }
  }
  EXPECT_GE(count, 4);

  StatusOr<ModelConfig> det = LoadModelConfig((root / "ppocr_det.yaml").string(), false);
  ASSERT_TRUE(det.ok());
  EXPECT_EQ(det->decoder.kind, DecoderKind::kDbNet);
  EXPECT_EQ(det->input.resize, ResizeMode::kLetterbox);
  EXPECT_FLOAT_EQ(det->input.scale, 1.f / 255.f);
  EXPECT_FLOAT_EQ(det->input.mean[1], 0.5f);
  EXPECT_FLOAT_EQ(det->input.std[2], 0.5f);
  EXPECT_FLOAT_EQ(det->decoder.unclip_ratio, 1.6f);
  EXPECT_EQ(fs::path(det->model).filename(), "ch_PP-OCRv4_det_infer.onnx");
  EXPECT_EQ(fs::path(det->model),
            (fs::path(EDGERT_SOURCE_DIR) / "build/models/ch_PP-OCRv4_det_infer.onnx").lexically_normal());

  StatusOr<ModelConfig> yolo = LoadModelConfig((root / "yolov8n.yaml").string(), false);
  ASSERT_TRUE(yolo.ok());
  ASSERT_EQ(yolo->labels.size(), 80u);
  EXPECT_EQ(yolo->labels[0], "person");
  EXPECT_EQ(yolo->labels[79], "toothbrush");
  EXPECT_EQ(yolo->decoder.kind, DecoderKind::kYoloV8);

  StatusOr<ModelConfig> cls = LoadModelConfig((root / "ppocr_cls.yaml").string(), false);
  ASSERT_TRUE(cls.ok());
  EXPECT_EQ(cls->decoder.kind, DecoderKind::kTopK);
  EXPECT_EQ(cls->input.width, 192);
  EXPECT_EQ(cls->input.height, 48);
  EXPECT_EQ(cls->labels, (std::vector<std::string>{"0", "180"}));

  StatusOr<ModelConfig> resnet = LoadModelConfig((root / "resnet50.yaml").string(), false);
  ASSERT_TRUE(resnet.ok());
  EXPECT_EQ(resnet->decoder.kind, DecoderKind::kSoftmaxTopK);
  EXPECT_EQ(resnet->input.resize, ResizeMode::kCenterCrop);
  EXPECT_FLOAT_EQ(resnet->input.std[0], 0.229f);
}

}  // namespace
}  // namespace edgert::vision
