// DecodeDetectionsCuda (plugins_gst/vision/src/decode_cuda.cu) against the host Decode on the same
// outputs: a hand-computed YOLOv8 case, then random YOLOv8 [1,4+C,N] / [1,N,4+C] and YOLOv5
// [1,N,5+C] tensors (N up to 8400, C = 80) with a letterbox transform, class-aware and
// class-agnostic NMS and thresholds giving 0, a few and more than 1000 candidates (with many tied
// scores and some NaNs): the same count, order, classes, scores and labels, boxes within 1e-4. The
// workspace is allocated once for the largest N. Plus the errors.
//
// Every head is uploaded with cudaMemcpyAsync on the stream the decode then runs on (as the engine
// writes its outputs on the session's stream), onto device memory first poisoned with NaN on that
// stream. A plain cudaMemcpy would not do: it is queued on the legacy default stream and, from
// pageable memory, may return once the data is staged, before the DMA has reached device memory
// (CUDA runtime API, "API synchronization behavior"); a cudaStreamNonBlocking stream does not wait
// for the legacy stream, so the decode could read a partly written head.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "edgert/vision/decode.h"
#include "gpu_test_util.h"

namespace edgert::vision {
namespace {

// `host` in device memory, written on `stream`: NaN bytes first (a decode not ordered after the
// upload reads NaN, so no anchor passes, instead of an earlier head left at the same address), then
// the values. Work queued on `stream` after the constructor sees the values.
struct DeviceFloats {
  float* ptr = nullptr;
  DeviceFloats(const std::vector<float>& host, cudaStream_t stream) {
    const size_t bytes = host.size() * sizeof(float);
    EXPECT_EQ(cudaMalloc(&ptr, bytes), cudaSuccess);
    EXPECT_EQ(cudaMemsetAsync(ptr, 0xff, bytes, stream), cudaSuccess);
    EXPECT_EQ(cudaMemcpyAsync(ptr, host.data(), bytes, cudaMemcpyHostToDevice, stream), cudaSuccess);
  }
  ~DeviceFloats() {
    if (ptr != nullptr) cudaFree(ptr);  // synchronises the device first
  }
};

ModelConfig DetectorConfig(DecoderKind kind, int num_labels, float threshold, bool agnostic, int max_detections) {
  ModelConfig c;
  c.type = NetworkType::kDetector;
  c.decoder.kind = kind;
  c.decoder.threshold = threshold;
  c.decoder.nms_iou = 0.45f;
  c.decoder.class_agnostic_nms = agnostic;
  c.decoder.max_detections = max_detections;
  for (int i = 0; i < num_labels; ++i) c.labels.push_back("c" + std::to_string(i));
  return c;
}

// 1280x720 frame letterboxed into 640x640: scale 0.5, 140 rows of padding on top.
InputTransform Letterbox() {
  InputTransform t;
  t.scale_x = t.scale_y = 0.5f;
  t.pad_x = 0.f;
  t.pad_y = 140.f;
  t.frame_width = 1280;
  t.frame_height = 720;
  t.input_width = t.input_height = 640;
  return t;
}

// Uploads `host` and decodes it on one stream: a cudaStreamNonBlocking stream like the session's,
// or the legacy default stream (nullptr) with `legacy_stream`.
Status RunGpu(const ModelConfig& config, const std::vector<float>& host, const Shape& shape,
              const InputTransform& transform, DetectionWorkspace* workspace, FrameResults* results,
              bool legacy_stream = false) {
  cudaStream_t stream = nullptr;
  if (!legacy_stream) {
    EXPECT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  }
  Status s;
  {
    DeviceFloats device(host, stream);
    s = DecodeDetectionsCuda(config, {device.ptr}, {shape}, {"output0"}, transform, workspace, stream, results);
  }
  if (stream != nullptr) cudaStreamDestroy(stream);
  return s;
}

// Decode on the host and DecodeDetectionsCuda on the device must agree; returns the count.
size_t ExpectSameAsDecode(const ModelConfig& config, const std::vector<float>& host, const Shape& shape,
                          DetectionWorkspace* workspace) {
  const InputTransform transform = Letterbox();
  Tensor t = Tensor::View(DataType::kFloat32, shape, const_cast<float*>(host.data()));
  FrameResults want;
  Status s = Decode(config, {t}, {"output0"}, transform, &want);
  EXPECT_TRUE(s.ok()) << s.ToString();
  FrameResults got;
  got.detections.push_back(Detection{});  // replaced, not appended to
  s = RunGpu(config, host, shape, transform, workspace, &got);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got.detections.size(), want.detections.size());
  const size_t n = std::min(got.detections.size(), want.detections.size());
  for (size_t i = 0; i < n; ++i) {
    const Detection& g = got.detections[i];
    const Detection& w = want.detections[i];
    EXPECT_EQ(g.class_id, w.class_id) << "detection " << i;
    EXPECT_EQ(g.score, w.score) << "detection " << i;
    EXPECT_EQ(g.label, w.label) << "detection " << i;
    EXPECT_NEAR(g.x0, w.x0, 1e-4) << "detection " << i;
    EXPECT_NEAR(g.y0, w.y0, 1e-4) << "detection " << i;
    EXPECT_NEAR(g.x1, w.x1, 1e-4) << "detection " << i;
    EXPECT_NEAR(g.y1, w.y1, 1e-4) << "detection " << i;
  }
  return want.detections.size();
}

// Random head output of N anchors and C classes: boxes in network pixels (some in the padding,
// some past the edges), class scores in [0, 0.2) with one peak class per anchor whose score is a
// multiple of 1/64 (many ties), optionally times an objectness (yolov5), a few NaNs.
struct Head {
  std::vector<float> values;
  Shape shape;
};

Head RandomHead(DecoderKind kind, bool channels_first, int anchors, int classes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> pos(-20.f, 660.f), size(4.f, 200.f), low(0.f, 0.2f), unit(0.f, 1.f);
  std::uniform_int_distribution<int> pick(0, classes - 1);
  const int first_class = kind == DecoderKind::kYoloV5 ? 5 : 4;
  const int channels = first_class + classes;
  Head h;
  h.values.assign(static_cast<size_t>(anchors) * channels, 0.f);
  auto at = [&](int a, int k) -> float& {
    return h.values[channels_first ? static_cast<size_t>(k) * anchors + a : static_cast<size_t>(a) * channels + k];
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int a = 0; a < anchors; ++a) {
    at(a, 0) = pos(rng);
    at(a, 1) = pos(rng);
    at(a, 2) = size(rng);
    at(a, 3) = size(rng);
    if (first_class == 5) at(a, 4) = std::floor(unit(rng) * 16.f) / 16.f;
    for (int k = 0; k < classes; ++k) at(a, first_class + k) = low(rng);
    at(a, first_class + pick(rng)) = std::floor(unit(rng) * 64.f) / 64.f;
    if (a % 997 == 5) at(a, first_class + 1) = nan;  // ignored unless it is class 0
    if (a % 1499 == 7) at(a, first_class) = nan;     // NaN best score: never passes
    if (a % 1733 == 9) at(a, 2) = nan;               // NaN box: dropped
  }
  h.shape = kind == DecoderKind::kYoloV5 || !channels_first ? Shape{1, anchors, channels} : Shape{1, channels, anchors};
  return h;
}

TEST(VisionDecodeGpu, HandMadeYoloV8) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // [1, 4+2, 3]: anchor 0 class 0 (0.9); anchor 1 overlaps it (IoU 0.82) in class 0 with 0.8 and is
  // suppressed; anchor 2 class 1 (0.7) runs past the frame's right edge and is clipped.
  const std::vector<float> x = {20,   21,   80,     // cx
                                30,   30,   40,     // cy
                                10,   10,   60,     // w
                                20,   20,   20,     // h
                                0.9f, 0.8f, 0.1f,   // class 0
                                0.1f, 0.2f, 0.7f};  // class 1
  InputTransform t;
  t.scale_x = t.scale_y = 0.5f;
  t.pad_y = 10.f;
  t.frame_width = 200;
  t.frame_height = 100;
  t.input_width = 100;
  t.input_height = 64;
  ModelConfig config = DetectorConfig(DecoderKind::kYoloV8, 2, 0.5f, false, 100);
  config.labels = {"a", "b"};
  DetectionWorkspace workspace;
  FrameResults r;
  Status s = RunGpu(config, x, {1, 6, 3}, t, &workspace, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(r.detections.size(), 2u);
  const Detection& d0 = r.detections[0];
  EXPECT_EQ(d0.class_id, 0);
  EXPECT_EQ(d0.label, "a");
  EXPECT_FLOAT_EQ(d0.score, 0.9f);
  EXPECT_FLOAT_EQ(d0.x0, 30.f);
  EXPECT_FLOAT_EQ(d0.y0, 20.f);
  EXPECT_FLOAT_EQ(d0.x1, 50.f);
  EXPECT_FLOAT_EQ(d0.y1, 60.f);
  const Detection& d1 = r.detections[1];
  EXPECT_EQ(d1.class_id, 1);
  EXPECT_EQ(d1.label, "b");
  EXPECT_FLOAT_EQ(d1.score, 0.7f);
  EXPECT_FLOAT_EQ(d1.x0, 100.f);
  EXPECT_FLOAT_EQ(d1.y0, 40.f);
  EXPECT_FLOAT_EQ(d1.x1, 200.f);
  EXPECT_FLOAT_EQ(d1.y1, 80.f);
  // The same on the legacy default stream (stream nullptr).
  FrameResults legacy;
  s = RunGpu(config, x, {1, 6, 3}, t, &workspace, &legacy, true);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(legacy.detections.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(legacy.detections[i].class_id, r.detections[i].class_id) << i;
    EXPECT_EQ(legacy.detections[i].score, r.detections[i].score) << i;
    EXPECT_EQ(legacy.detections[i].x0, r.detections[i].x0) << i;
    EXPECT_EQ(legacy.detections[i].y0, r.detections[i].y0) << i;
    EXPECT_EQ(legacy.detections[i].x1, r.detections[i].x1) << i;
    EXPECT_EQ(legacy.detections[i].y1, r.detections[i].y1) << i;
  }
  // max_detections 1 keeps the best box only.
  config.decoder.max_detections = 1;
  ASSERT_TRUE(RunGpu(config, x, {1, 6, 3}, t, &workspace, &r).ok());
  ASSERT_EQ(r.detections.size(), 1u);
  EXPECT_EQ(r.detections[0].class_id, 0);
  // Threshold above every score: nothing.
  config.decoder.threshold = 0.95f;
  ASSERT_TRUE(RunGpu(config, x, {1, 6, 3}, t, &workspace, &r).ok());
  EXPECT_TRUE(r.detections.empty());
}

TEST(VisionDecodeGpu, RandomHeadsMatchTheHostDecode) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  DetectionWorkspace workspace;
  ASSERT_TRUE(workspace.Reserve(8400).ok());
  const int64_t allocations = workspace.allocations();
  uint32_t seed = 100;
  struct Layout {
    DecoderKind kind;
    bool channels_first;
  };
  for (const Layout layout :
       {Layout{DecoderKind::kYoloV8, true}, Layout{DecoderKind::kYoloV8, false}, Layout{DecoderKind::kYoloV5, false}}) {
    for (int anchors : {8400, 2100, 100}) {
      const Head head = RandomHead(layout.kind, layout.channels_first, anchors, 80, seed++);
      // Thresholds: none pass, a few pass, many pass (> 1000 candidates at 8400 anchors, <= 4096).
      const bool v5 = layout.kind == DecoderKind::kYoloV5;
      const float many = v5 ? 0.4f : 0.7f;
      for (float threshold : {1.5f, v5 ? 0.85f : 0.98f, many}) {
        for (bool agnostic : {false, true}) {
          for (int max_detections : {100, 0}) {
            for (int labels : {80, 0}) {
              SCOPED_TRACE(::testing::Message()
                           << DecoderKindName(layout.kind) << " channels_first " << layout.channels_first << " anchors "
                           << anchors << " threshold " << threshold << " agnostic " << agnostic << " max "
                           << max_detections << " labels " << labels);
              const ModelConfig config = DetectorConfig(layout.kind, labels, threshold, agnostic, max_detections);
              const size_t count = ExpectSameAsDecode(config, head.values, head.shape, &workspace);
              if (threshold > 1.f) {
                EXPECT_EQ(count, 0u);
              }
              if (threshold == many && anchors == 8400 && max_detections == 0 && !agnostic) {
                EXPECT_GT(count, 100u);
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(workspace.allocations(), allocations);  // reserved once, reused for every decode
}

TEST(VisionDecodeGpu, ManyCandidatesBeforeNms) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // Thresholds giving more than 1000 candidates before NMS: check that there are that many on the
  // host, then compare.
  DetectionWorkspace workspace;
  const Head head = RandomHead(DecoderKind::kYoloV8, true, 8400, 80, 7);
  int passing = 0;
  for (int a = 0; a < 8400; ++a) {
    float best = head.values[4 * 8400 + a];
    for (int k = 1; k < 80; ++k) best = std::max(best, head.values[static_cast<size_t>(4 + k) * 8400 + a]);
    if (best >= 0.7f) ++passing;
  }
  EXPECT_GT(passing, 1000);
  EXPECT_LE(passing, kMaxGpuDetectionCandidates);
  const ModelConfig config = DetectorConfig(DecoderKind::kYoloV8, 80, 0.7f, false, 0);
  EXPECT_GT(ExpectSameAsDecode(config, head.values, head.shape, &workspace), 500u);
}

TEST(VisionDecodeGpu, Errors) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  DetectionWorkspace workspace;
  FrameResults r;
  const std::vector<float> x(6 * 10, 0.5f);
  ModelConfig config = DetectorConfig(DecoderKind::kYoloV8, 3, 0.25f, false, 100);
  Status s = RunGpu(config, x, {1, 6, 10}, Letterbox(), &workspace, &r);  // 4+2 channels, 3 labels
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.subject(), "output0");
  config.labels.resize(2);
  s = RunGpu(config, x, {1, 6, 10}, InputTransform{}, &workspace, &r);  // no frame size
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  config.decoder.kind = DecoderKind::kSsd;
  s = RunGpu(config, x, {1, 6, 10}, Letterbox(), &workspace, &r);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  config.decoder.kind = DecoderKind::kYoloV5;
  s = RunGpu(config, x, {1, 10, 6}, Letterbox(), &workspace, &r);  // 5+1 channels, 2 labels
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgert::vision
