// Decoders (decode.cc) on hand-built output tensors with hand-computed expectations, and
// ResultsToJson (results.cc).
#include "edgert/vision/decode.h"

#include <gtest/gtest.h>

#include <clocale>
#include <cmath>
#include <string>
#include <vector>

#include "edgert/vision/results.h"

namespace edgert::vision {
namespace {

ModelConfig Config(DecoderKind kind, std::vector<std::string> labels = {}) {
  ModelConfig c;
  c.decoder.kind = kind;
  c.labels = std::move(labels);
  return c;
}

Tensor FloatTensor(const std::vector<float>& values, Shape shape) { return Tensor::FromVector<float>(values, shape); }

InputTransform Transform(float scale_x, float scale_y, float pad_x, float pad_y, int frame_w, int frame_h, int in_w,
                         int in_h) {
  InputTransform t;
  t.scale_x = scale_x;
  t.scale_y = scale_y;
  t.pad_x = pad_x;
  t.pad_y = pad_y;
  t.frame_width = frame_w;
  t.frame_height = frame_h;
  t.input_width = in_w;
  t.input_height = in_h;
  return t;
}

// 1280x720 frame letterboxed into 640x640: scale 0.5, 140 rows of padding on top.
InputTransform Letterbox1280x720() { return Transform(0.5f, 0.5f, 0.f, 140.f, 1280, 720, 640, 640); }

void ExpectBox(const Detection& d, float x0, float y0, float x1, float y1, int cls, float score) {
  EXPECT_NEAR(d.x0, x0, 1e-3f);
  EXPECT_NEAR(d.y0, y0, 1e-3f);
  EXPECT_NEAR(d.x1, x1, 1e-3f);
  EXPECT_NEAR(d.y1, y1, 1e-3f);
  EXPECT_EQ(d.class_id, cls);
  EXPECT_NEAR(d.score, score, 1e-6f);
}

// ---- classifiers ---------------------------------------------------------------------------------

TEST(DecodeClassifier, SoftmaxTopKValuesAndOrder) {
  ModelConfig c = Config(DecoderKind::kSoftmaxTopK, {"a", "b", "c"});
  c.decoder.top_k = 5;
  c.decoder.threshold = 0.1f;
  FrameResults r;
  // softmax(1,3,2,0): e^-2, 1, e^-1, e^-3 over their sum 1.5530010.
  Status s = Decode(c, {FloatTensor({1, 3, 2, 0}, {1, 4})}, {"prob"}, InputTransform{}, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(r.classes.size(), 2u);  // 0.0871 and 0.0321 are below 0.1
  EXPECT_EQ(r.classes[0].class_id, 1);
  EXPECT_EQ(r.classes[0].label, "b");
  EXPECT_NEAR(r.classes[0].score, 0.6439142f, 1e-6f);
  EXPECT_EQ(r.classes[1].class_id, 2);
  EXPECT_EQ(r.classes[1].label, "c");
  EXPECT_NEAR(r.classes[1].score, 0.2368828f, 1e-6f);

  c.decoder.top_k = 3;
  c.decoder.threshold = 0.f;
  ASSERT_TRUE(Decode(c, {FloatTensor({1, 3, 2, 0}, {4})}, {"prob"}, InputTransform{}, &r).ok());
  ASSERT_EQ(r.classes.size(), 3u);
  EXPECT_EQ(r.classes[2].class_id, 0);
  EXPECT_NEAR(r.classes[2].score, 0.0871443f, 1e-6f);
}

TEST(DecodeClassifier, SoftmaxIsStableForLargeLogits) {
  ModelConfig c = Config(DecoderKind::kSoftmaxTopK);
  c.decoder.threshold = 0.f;
  FrameResults r;
  // exp(1000) overflows float; softmax(1000, 1001) = (1/(1+e), e/(1+e)).
  ASSERT_TRUE(Decode(c, {FloatTensor({1000.f, 1001.f}, {1, 2, 1, 1})}, {"logits"}, InputTransform{}, &r).ok());
  ASSERT_EQ(r.classes.size(), 2u);
  EXPECT_EQ(r.classes[0].class_id, 1);
  EXPECT_NEAR(r.classes[0].score, 0.7310586f, 1e-6f);
  EXPECT_NEAR(r.classes[1].score, 0.2689414f, 1e-6f);
  EXPECT_EQ(r.classes[1].label, "class 0");  // no labels
}

TEST(DecodeClassifier, TopKRawScoresTiesLowerIdFirst) {
  ModelConfig c = Config(DecoderKind::kTopK, {"a", "b", "c"});
  c.decoder.top_k = 3;
  c.decoder.threshold = 0.2f;
  FrameResults r;
  ASSERT_TRUE(Decode(c, {FloatTensor({0.1f, 0.9f, 0.5f, 0.9f, 0.3f}, {1, 5, 1, 1})}, {"s"}, InputTransform{}, &r).ok());
  ASSERT_EQ(r.classes.size(), 3u);
  EXPECT_EQ(r.classes[0].class_id, 1);
  EXPECT_EQ(r.classes[1].class_id, 3);
  EXPECT_EQ(r.classes[1].label, "class 3");  // beyond the 3 labels
  EXPECT_EQ(r.classes[2].class_id, 2);
  EXPECT_FLOAT_EQ(r.classes[2].score, 0.5f);
}

TEST(DecodeClassifier, ShapeErrorNamesOutputAndShape) {
  ModelConfig c = Config(DecoderKind::kSoftmaxTopK);
  FrameResults r;
  Status s = Decode(c, {FloatTensor(std::vector<float>(8, 0.f), {2, 4})}, {"fc_out"}, InputTransform{}, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.subject(), "fc_out");
  EXPECT_NE(s.message().find("'fc_out'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("2x4"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("[1,C], [C] or [1,C,1,1]"), std::string::npos) << s.message();

  // Not float32.
  s = Decode(c, {Tensor::FromVector<int32_t>({1, 2}, {1, 2})}, {"fc_out"}, InputTransform{}, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("int32"), std::string::npos) << s.message();
  // No output at all.
  s = Decode(c, {}, {}, InputTransform{}, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("0 output"), std::string::npos) << s.message();
}

// ---- YOLOv8 --------------------------------------------------------------------------------------

struct Anchor {
  float cx, cy, w, h;
  std::vector<float> cls;
};

// [1, 4+C, N] (channels_first) or [1, N, 4+C].
Tensor YoloV8Tensor(const std::vector<Anchor>& anchors, bool channels_first) {
  const int64_t n = static_cast<int64_t>(anchors.size());
  const int64_t ch = 4 + static_cast<int64_t>(anchors[0].cls.size());
  std::vector<float> v(static_cast<size_t>(n * ch));
  for (int64_t a = 0; a < n; ++a) {
    std::vector<float> row = {anchors[a].cx, anchors[a].cy, anchors[a].w, anchors[a].h};
    row.insert(row.end(), anchors[a].cls.begin(), anchors[a].cls.end());
    for (int64_t k = 0; k < ch; ++k) v[channels_first ? k * n + a : a * ch + k] = row[k];
  }
  return FloatTensor(v, channels_first ? Shape{1, ch, n} : Shape{1, n, ch});
}

// a0 and a1 overlap (IoU 2016/2784 = 0.724 in network pixels); a2 sticks out of the frame's right
// edge. Letterbox 1280x720 -> 640x640: frame = (net - (0,140)) / 0.5.
std::vector<Anchor> ThreeAnchors(int a1_class) {
  std::vector<float> a1 = {0.05f, 0.05f};
  a1[a1_class] = 0.8f;
  return {{100, 200, 40, 60, {0.9f, 0.1f}}, {104, 204, 40, 60, a1}, {600, 300, 100, 50, {0.2f, 0.7f}}};
}

TEST(DecodeYoloV8, ChannelsFirstLetterboxAndNms) {
  ModelConfig c = Config(DecoderKind::kYoloV8, {"person", "car"});
  FrameResults r;
  Status s = Decode(c, {YoloV8Tensor(ThreeAnchors(0), true)}, {"output0"}, Letterbox1280x720(), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(r.detections.size(), 2u);
  // a0: net [80,170,120,230] -> frame [160,60,240,180]; a1 (same class) suppressed.
  ExpectBox(r.detections[0], 160, 60, 240, 180, 0, 0.9f);
  EXPECT_EQ(r.detections[0].label, "person");
  // a2: net [550,275,650,325] -> frame [1100,270,1300,370], clipped to x1 = 1280.
  ExpectBox(r.detections[1], 1100, 270, 1280, 370, 1, 0.7f);
  EXPECT_EQ(r.detections[1].label, "car");
}

TEST(DecodeYoloV8, ChannelsLastSameResult) {
  ModelConfig c = Config(DecoderKind::kYoloV8, {"person", "car"});
  FrameResults r;
  ASSERT_TRUE(Decode(c, {YoloV8Tensor(ThreeAnchors(0), false)}, {"output0"}, Letterbox1280x720(), &r).ok());
  ASSERT_EQ(r.detections.size(), 2u);
  ExpectBox(r.detections[0], 160, 60, 240, 180, 0, 0.9f);
  ExpectBox(r.detections[1], 1100, 270, 1280, 370, 1, 0.7f);
}

TEST(DecodeYoloV8, LayoutFromSmallerDimensionWithoutLabels) {
  std::vector<Anchor> anchors = ThreeAnchors(0);
  for (int i = 0; i < 5; ++i) anchors.push_back({10.f * i, 10, 5, 5, {0.01f, 0.02f}});  // below threshold
  ModelConfig c = Config(DecoderKind::kYoloV8);
  for (bool first : {true, false}) {
    FrameResults r;
    ASSERT_TRUE(Decode(c, {YoloV8Tensor(anchors, first)}, {"output0"}, Letterbox1280x720(), &r).ok());
    ASSERT_EQ(r.detections.size(), 2u) << first;
    ExpectBox(r.detections[0], 160, 60, 240, 180, 0, 0.9f);
    EXPECT_EQ(r.detections[1].label, "class 1");
  }
}

TEST(DecodeYoloV8, DifferentClassesSurviveNmsUnlessClassAgnostic) {
  ModelConfig c = Config(DecoderKind::kYoloV8, {"person", "car"});
  FrameResults r;
  ASSERT_TRUE(Decode(c, {YoloV8Tensor(ThreeAnchors(1), true)}, {"output0"}, Letterbox1280x720(), &r).ok());
  ASSERT_EQ(r.detections.size(), 3u);
  ExpectBox(r.detections[0], 160, 60, 240, 180, 0, 0.9f);
  ExpectBox(r.detections[1], 168, 68, 248, 188, 1, 0.8f);  // a1: net [84,174,124,234]
  ExpectBox(r.detections[2], 1100, 270, 1280, 370, 1, 0.7f);

  c.decoder.class_agnostic_nms = true;
  ASSERT_TRUE(Decode(c, {YoloV8Tensor(ThreeAnchors(1), true)}, {"output0"}, Letterbox1280x720(), &r).ok());
  ASSERT_EQ(r.detections.size(), 2u);
  EXPECT_FLOAT_EQ(r.detections[1].score, 0.7f);

  // IoU 0.724 is below nms_iou 0.75: both kept again.
  c.decoder.nms_iou = 0.75f;
  ASSERT_TRUE(Decode(c, {YoloV8Tensor(ThreeAnchors(0), true)}, {"output0"}, Letterbox1280x720(), &r).ok());
  EXPECT_EQ(r.detections.size(), 3u);
}

TEST(DecodeYoloV8, ThresholdAndMaxDetections) {
  ModelConfig c = Config(DecoderKind::kYoloV8, {"person", "car"});
  c.decoder.threshold = 0.75f;
  FrameResults r;
  ASSERT_TRUE(Decode(c, {YoloV8Tensor(ThreeAnchors(1), true)}, {"output0"}, Letterbox1280x720(), &r).ok());
  ASSERT_EQ(r.detections.size(), 2u);  // 0.9 and 0.8; 0.7 is below
  EXPECT_FLOAT_EQ(r.detections[1].score, 0.8f);

  c.decoder.threshold = 0.25f;
  c.decoder.max_detections = 1;
  ASSERT_TRUE(Decode(c, {YoloV8Tensor(ThreeAnchors(1), true)}, {"output0"}, Letterbox1280x720(), &r).ok());
  ASSERT_EQ(r.detections.size(), 1u);
  EXPECT_FLOAT_EQ(r.detections[0].score, 0.9f);
}

TEST(DecodeYoloV8, BoxEntirelyOutsideTheFrameIsDropped) {
  ModelConfig c = Config(DecoderKind::kYoloV8, {"person"});
  FrameResults r;
  // Net y in [20,60]: all of it in the letterbox's top padding (< 140).
  ASSERT_TRUE(Decode(c, {YoloV8Tensor({{300, 40, 50, 40, {0.9f}}}, true)}, {"o"}, Letterbox1280x720(), &r).ok());
  EXPECT_TRUE(r.detections.empty());
}

TEST(DecodeYoloV8, ShapeErrorsNameOutputAndExpectedShape) {
  ModelConfig c = Config(DecoderKind::kYoloV8, {"a", "b", "c"});
  FrameResults r;
  Status s = Decode(c, {YoloV8Tensor(ThreeAnchors(0), true)}, {"output0"}, Letterbox1280x720(), &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.subject(), "output0");
  EXPECT_NE(s.message().find("'output0' has shape [1x6x3]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("[1,4+C,N] or [1,N,4+C] with C = 3 labels"), std::string::npos) << s.message();

  c.labels.clear();
  s = Decode(c, {FloatTensor(std::vector<float>(24, 0.f), {6, 4})}, {"output0"}, Letterbox1280x720(), &r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("yolov8"), std::string::npos) << s.message();

  // A detector needs the frame transform.
  c.labels = {"person", "car"};
  s = Decode(c, {YoloV8Tensor(ThreeAnchors(0), true)}, {"output0"}, InputTransform{}, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.subject(), "transform");
}

// ---- YOLOv5 --------------------------------------------------------------------------------------

TEST(DecodeYoloV5, ScoreIsObjectnessTimesClassStretch) {
  ModelConfig c = Config(DecoderKind::kYoloV5, {"a", "b"});
  c.decoder.threshold = 0.5f;
  // 1920x1080 stretched to 640x640: frame x = net x * 3, frame y = net y * 1.6875.
  const InputTransform tr = Transform(1.f / 3.f, 640.f / 1080.f, 0, 0, 1920, 1080, 640, 640);
  const Tensor out = FloatTensor({320, 320, 64, 32, 0.8f,  0.5f, 0.9f,   // 0.8 * 0.9 = 0.72, class 1
                                  100, 100, 20, 20, 0.5f,  0.9f, 0.2f,   // 0.45 < 0.5
                                  330, 322, 64, 32, 0.95f, 0.6f, 0.1f},  // class 0, 0.57, overlaps but kept
                                 {1, 3, 7});
  FrameResults r;
  Status s = Decode(c, {out}, {"output"}, tr, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(r.detections.size(), 2u);
  ExpectBox(r.detections[0], 864, 513, 1056, 567, 1, 0.72f);
  ExpectBox(r.detections[1], 894, 516.375f, 1086, 570.375f, 0, 0.57f);

  s = Decode(c, {FloatTensor(std::vector<float>(24, 0.f), {1, 3, 8})}, {"output"}, tr, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("[1,N,5+C] with C = 2 labels"), std::string::npos) << s.message();
}

// ---- SSD -----------------------------------------------------------------------------------------

TEST(DecodeSsd, CxCyWhNormalizedWithBackgroundByName) {
  ModelConfig c = Config(DecoderKind::kSsd, {"background", "cat", "dog"});
  c.decoder.boxes_output = "boxes";
  c.decoder.scores_output = "scores";
  c.decoder.boxes_cxcywh = true;
  c.decoder.boxes_normalized = true;
  c.decoder.scores_have_background = true;
  c.decoder.threshold = 0.3f;
  // 600x600 frame stretched to 300x300.
  const InputTransform tr = Transform(0.5f, 0.5f, 0, 0, 600, 600, 300, 300);
  const Tensor boxes = FloatTensor({0.5f, 0.5f, 0.2f, 0.4f,   // net [120,90,180,210]
                                    0.2f, 0.2f, 0.1f, 0.1f,   // background wins
                                    0.9f, 0.1f, 0.2f, 0.2f},  // net [240,0,300,60]
                                   {1, 3, 4});
  const Tensor scores = FloatTensor({0.1f, 0.2f, 0.7f,    //
                                     0.9f, 0.05f, 0.05f,  //
                                     0.2f, 0.4f, 0.35f},
                                    {1, 3, 3});
  FrameResults r;
  // Outputs in the other order: found by name.
  Status s = Decode(c, {scores, boxes}, {"scores", "boxes"}, tr, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(r.detections.size(), 2u);
  ExpectBox(r.detections[0], 240, 180, 360, 420, 2, 0.7f);
  EXPECT_EQ(r.detections[0].label, "dog");
  ExpectBox(r.detections[1], 480, 0, 600, 120, 1, 0.4f);
  EXPECT_EQ(r.detections[1].label, "cat");
}

TEST(DecodeSsd, XyxyPixelsByPositionAndErrors) {
  ModelConfig c = Config(DecoderKind::kSsd);
  c.decoder.boxes_normalized = false;
  c.decoder.threshold = 0.5f;
  const InputTransform tr = Transform(1, 1, 0, 0, 320, 240, 320, 240);
  const Tensor boxes = FloatTensor({10, 20, 50, 60, 12, 22, 52, 62}, {1, 2, 4});
  const Tensor scores = FloatTensor({0.1f, 0.9f, 0.2f, 0.6f}, {1, 2, 2});
  FrameResults r;
  ASSERT_TRUE(Decode(c, {boxes, scores}, {"b", "s"}, tr, &r).ok());
  ASSERT_EQ(r.detections.size(), 1u);  // IoU 1444/1756 = 0.82, same class 1
  ExpectBox(r.detections[0], 10, 20, 50, 60, 1, 0.9f);

  c.decoder.scores_output = "nope";
  Status s = Decode(c, {boxes, scores}, {"b", "s"}, tr, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.subject(), "nope");
  EXPECT_NE(s.message().find("'b', 's'"), std::string::npos) << s.message();

  c.decoder.scores_output.clear();
  s = Decode(c, {boxes, FloatTensor(std::vector<float>(6, 0.f), {1, 3, 2})}, {"b", "s"}, tr, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.subject(), "s");
  EXPECT_NE(s.message().find("scores [1,2,C]"), std::string::npos) << s.message();
  s = Decode(c, {FloatTensor(std::vector<float>(6, 0.f), {1, 2, 3}), scores}, {"b", "s"}, tr, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.subject(), "b");
  EXPECT_NE(s.message().find("boxes [1,N,4]"), std::string::npos) << s.message();
}

// ---- DBNet ---------------------------------------------------------------------------------------

void FillRect(std::vector<float>* map, int w, int y0, int y1, int x0, int x1, float v) {
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) (*map)[y * w + x] = v;
  }
}

TEST(DecodeDbNet, TwoRectanglesWithUnclip) {
  const int w = 48, h = 32;
  std::vector<float> map(w * h, 0.05f);
  FillRect(&map, w, 4, 7, 5, 24, 0.9f);     // A: 20 x 4 pixels
  FillRect(&map, w, 20, 25, 30, 39, 0.8f);  // B: 10 x 6 pixels
  FillRect(&map, w, 12, 14, 2, 10, 0.4f);   // above binary 0.3, mean 0.4 < box 0.5: dropped
  FillRect(&map, w, 28, 29, 44, 45, 0.9f);  // 2 x 2: shorter side < min_size 3: dropped
  ModelConfig c = Config(DecoderKind::kDbNet);
  c.decoder.binary_threshold = 0.3f;
  c.decoder.box_threshold = 0.5f;
  c.decoder.unclip_ratio = 1.5f;
  c.decoder.min_size = 3;
  // The map is the 48x32 network input; the frame is twice as large.
  const InputTransform tr = Transform(0.5f, 0.5f, 0, 0, 96, 64, 48, 32);
  FrameResults r;
  Status s = Decode(c, {FloatTensor(map, {1, 1, h, w})}, {"sigmoid_0.tmp_0"}, tr, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(r.detections.size(), 2u);
  // A: box [5,4,25,8], d = 80 * 1.5 / 48 = 2.5 -> [2.5,1.5,27.5,10.5] -> frame x2.
  ExpectBox(r.detections[0], 5, 3, 55, 21, 0, 0.9f);
  EXPECT_EQ(r.detections[0].label, "text");
  // B: box [30,20,40,26], d = 60 * 1.5 / 32 = 2.8125 -> [27.1875,17.1875,42.8125,28.8125] -> x2.
  ExpectBox(r.detections[1], 54.375f, 34.375f, 85.625f, 57.625f, 0, 0.8f);

  // The same map at half the network resolution (96x64 input, frame = input): same frame boxes.
  const InputTransform tr_half = Transform(1, 1, 0, 0, 96, 64, 96, 64);
  ASSERT_TRUE(Decode(c, {FloatTensor(map, {1, 1, h, w})}, {"sigmoid_0.tmp_0"}, tr_half, &r).ok());
  ASSERT_EQ(r.detections.size(), 2u);
  ExpectBox(r.detections[0], 5, 3, 55, 21, 0, 0.9f);

  // max_detections 1 keeps A; box_threshold 0.85 drops B.
  c.decoder.max_detections = 1;
  ASSERT_TRUE(Decode(c, {FloatTensor(map, {1, 1, h, w})}, {"p"}, tr, &r).ok());
  ASSERT_EQ(r.detections.size(), 1u);
  EXPECT_FLOAT_EQ(r.detections[0].score, 0.9f);
  c.decoder.max_detections = 100;
  c.decoder.box_threshold = 0.85f;
  ASSERT_TRUE(Decode(c, {FloatTensor(map, {1, 1, h, w})}, {"p"}, tr, &r).ok());
  ASSERT_EQ(r.detections.size(), 1u);
  EXPECT_FLOAT_EQ(r.detections[0].score, 0.9f);
  // min_size 5 also drops A (4 pixels high).
  c.decoder.box_threshold = 0.5f;
  c.decoder.min_size = 5;
  ASSERT_TRUE(Decode(c, {FloatTensor(map, {1, 1, h, w})}, {"p"}, tr, &r).ok());
  ASSERT_EQ(r.detections.size(), 1u);
  EXPECT_FLOAT_EQ(r.detections[0].score, 0.8f);
}

TEST(DecodeDbNet, EightConnectivityAndMeanScore) {
  const int w = 10, h = 8;
  std::vector<float> map(w * h, 0.f);
  FillRect(&map, w, 0, 2, 0, 2, 0.9f);
  FillRect(&map, w, 3, 5, 3, 5, 0.6f);  // touches the first block only at a corner
  ModelConfig c = Config(DecoderKind::kDbNet, {"word"});
  c.decoder.unclip_ratio = 0.f;
  c.decoder.box_threshold = 0.5f;
  const InputTransform tr = Transform(1, 1, 0, 0, w, h, w, h);
  FrameResults r;
  ASSERT_TRUE(Decode(c, {FloatTensor(map, {1, 1, h, w})}, {"p"}, tr, &r).ok());
  ASSERT_EQ(r.detections.size(), 1u);
  ExpectBox(r.detections[0], 0, 0, 6, 6, 0, 0.75f);  // one component, mean of 9 x 0.9 and 9 x 0.6
  EXPECT_EQ(r.detections[0].label, "word");

  Status s = Decode(c, {FloatTensor(map, {1, 2, 4, w})}, {"p"}, tr, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'p' has shape [1x2x4x10]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("[1,1,H,W]"), std::string::npos) << s.message();
}

// ---- argmax --------------------------------------------------------------------------------------

TEST(DecodeArgMax, ClassPerPixelAndBinaryMap) {
  ModelConfig c = Config(DecoderKind::kArgMax);
  // [1,3,2,2]: pixel p's scores are (ch0[p], ch1[p], ch2[p]).
  const Tensor scores = FloatTensor({0.1f, 5.f, 0.3f, 2.f,  //
                                     0.2f, 1.f, 0.3f, 2.f,  //
                                     0.9f, 4.f, 0.1f, 1.f},
                                    {1, 3, 2, 2});
  FrameResults r;
  ASSERT_TRUE(Decode(c, {scores}, {"seg"}, InputTransform{}, &r).ok());
  EXPECT_EQ(r.mask.width, 2);
  EXPECT_EQ(r.mask.height, 2);
  EXPECT_EQ(r.mask.classes, (std::vector<uint8_t>{2, 0, 0, 0}));  // ties: first class

  c.decoder.threshold = 0.5f;
  ASSERT_TRUE(
      Decode(c, {FloatTensor({0.2f, 0.6f, 0.5f, 0.9f, 0.f, 1.f}, {1, 1, 2, 3})}, {"seg"}, InputTransform{}, &r).ok());
  EXPECT_EQ(r.mask.width, 3);
  EXPECT_EQ(r.mask.height, 2);
  EXPECT_EQ(r.mask.classes, (std::vector<uint8_t>{255, 0, 255, 0, 255, 0}));

  Status s = Decode(c, {FloatTensor({1, 2}, {1, 2})}, {"seg"}, InputTransform{}, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("[1,C,H,W]"), std::string::npos) << s.message();
}

TEST(Decode, NoDecoderIsAnError) {
  FrameResults r;
  Status s = Decode(Config(DecoderKind::kNone), {FloatTensor({1}, {1})}, {"x"}, InputTransform{}, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.subject(), "decoder.kind");
}

// ---- JSON ----------------------------------------------------------------------------------------

TEST(ResultsToJson, FixedKeysFourDecimalsAndEscapes) {
  FrameResults r;
  EXPECT_EQ(ResultsToJson(r), R"({"classes":[],"detections":[],"mask":null,"inference_ms":0.0000})");

  r.classes.push_back({3, 0.123456f, "tabby \"cat\""});
  r.classes.push_back({7, 1.f, "a\\b\n\x01"});
  r.detections.push_back({1.5f, 2.25f, 100.f, 200.125f, 0, 0.5f, "person"});
  r.mask.width = 4;
  r.mask.height = 3;
  r.inference_ms = 12.5;
  EXPECT_EQ(ResultsToJson(r),
            R"({"classes":[{"id":3,"label":"tabby \"cat\"","score":0.1235},)"
            R"({"id":7,"label":"a\\b\n\u0001","score":1.0000}],)"
            R"("detections":[{"id":0,"label":"person","score":0.5000,"box":[1.5000,2.2500,100.0000,200.1250]}],)"
            R"("mask":{"width":4,"height":3},"inference_ms":12.5000})");
}

TEST(ResultsToJson, Utf8PassesInvalidBytesReplacedNonFiniteNull) {
  FrameResults r;
  r.classes.push_back({0, NAN, "caf\xc3\xa9 \xff"});
  r.inference_ms = -0.00001;
  EXPECT_EQ(ResultsToJson(r),
            "{\"classes\":[{\"id\":0,\"label\":\"caf\xc3\xa9 \\ufffd\",\"score\":null}],"
            "\"detections\":[],\"mask\":null,\"inference_ms\":0.0000}");
}

TEST(ResultsToJson, IgnoresTheProcessLocale) {
  const char* old = std::setlocale(LC_NUMERIC, nullptr);
  const std::string saved = old ? old : "C";
  if (std::setlocale(LC_NUMERIC, "de_DE.UTF-8") == nullptr && std::setlocale(LC_NUMERIC, "fr_FR.UTF-8") == nullptr) {
    GTEST_SKIP() << "no locale with a decimal comma is installed";
  }
  FrameResults r;
  r.inference_ms = 1.25;
  const std::string json = ResultsToJson(r);
  std::setlocale(LC_NUMERIC, saved.c_str());
  EXPECT_NE(json.find("\"inference_ms\":1.2500}"), std::string::npos) << json;
}

}  // namespace
}  // namespace edgert::vision
