// Nms (nms.cc): hand-computed cases and, on random boxes, the two properties that define greedy NMS
// (each kept box overlaps no earlier kept box of its class by more than the threshold; each dropped
// box does overlap one), checked with an IoU computed here in double precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "edgert/vision/decode.h"

namespace edgert::vision {
namespace {

TEST(Nms, SuppressesOverlapsOfTheSameClassOnly) {
  const std::vector<float> boxes = {
      0,  0,  10, 10,  // 0: 0.9
      1,  1,  11, 11,  // 1: 0.8, IoU with 0 = 81 / 119 = 0.68
      20, 20, 30, 30,  // 2: 0.7
      0,  0,  10, 10,  // 3: 0.95, class 1
  };
  const std::vector<float> scores = {0.9f, 0.8f, 0.7f, 0.95f};
  EXPECT_EQ(Nms(boxes, scores, {0, 0, 0, 1}, 0.5f, 0), (std::vector<int>{3, 0, 2}));
  EXPECT_EQ(Nms(boxes, scores, {}, 0.5f, 0), (std::vector<int>{3, 2}));                  // class-agnostic
  EXPECT_EQ(Nms(boxes, scores, {0, 0, 0, 1}, 0.7f, 0), (std::vector<int>{3, 0, 1, 2}));  // 0.68 <= 0.7
  EXPECT_EQ(Nms(boxes, scores, {0, 0, 0, 1}, 0.5f, 2), (std::vector<int>{3, 0}));        // max_keep
  EXPECT_TRUE(Nms({}, {}, {}, 0.5f, 0).empty());
}

TEST(Nms, IouEqualToThresholdIsKeptAndTiesKeepLowerIndex) {
  // IoU([0,0,10,10], [0,0,10,5]) = 50 / 100 = 0.5 exactly: not above 0.5.
  EXPECT_EQ(Nms({0, 0, 10, 10, 0, 0, 10, 5}, {0.9f, 0.8f}, {}, 0.5f, 0), (std::vector<int>{0, 1}));
  EXPECT_EQ(Nms({0, 0, 10, 10, 0, 0, 10, 5}, {0.9f, 0.8f}, {}, 0.49f, 0), (std::vector<int>{0}));
  // Identical boxes and scores: the lower index survives, whatever the order of the others.
  EXPECT_EQ(Nms({5, 5, 9, 9, 0, 0, 1, 1, 5, 5, 9, 9}, {0.5f, 0.9f, 0.5f}, {}, 0.3f, 0), (std::vector<int>{1, 0}));
  // Degenerate boxes have IoU 0 with everything.
  EXPECT_EQ(Nms({3, 3, 3, 3, 3, 3, 3, 3}, {0.9f, 0.8f}, {}, 0.f, 0), (std::vector<int>{0, 1}));
}

double IouDouble(const std::vector<float>& b, int i, int j) {
  const double iw = std::max(0.0, double(std::min(b[4 * i + 2], b[4 * j + 2])) - std::max(b[4 * i], b[4 * j]));
  const double ih = std::max(0.0, double(std::min(b[4 * i + 3], b[4 * j + 3])) - std::max(b[4 * i + 1], b[4 * j + 1]));
  const double inter = iw * ih;
  const double a = double(b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
  const double c = double(b[4 * j + 2] - b[4 * j]) * (b[4 * j + 3] - b[4 * j + 1]);
  return inter / (a + c - inter);
}

TEST(Nms, RandomBoxesSatisfyTheGreedyProperties) {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> pos(0.f, 100.f), size(2.f, 30.f), score(0.f, 1.f);
  std::uniform_int_distribution<int> cls(0, 2);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 200;
    std::vector<float> boxes, scores;
    std::vector<int> classes;
    for (int i = 0; i < n; ++i) {
      const float x = pos(rng), y = pos(rng);
      boxes.insert(boxes.end(), {x, y, x + size(rng), y + size(rng)});
      scores.push_back(score(rng));
      classes.push_back(cls(rng));
    }
    const bool per_class = trial % 2 == 0;
    const float thr = 0.3f;
    const std::vector<int> kept = Nms(boxes, scores, per_class ? classes : std::vector<int>{}, thr, 0);
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
    // Kept boxes come out in score order; walk that order and check each decision.
    std::vector<int> kept_so_far;
    size_t next = 0;
    for (int i : order) {
      bool overlaps = false;
      for (int k : kept_so_far) {
        if ((!per_class || classes[k] == classes[i]) && IouDouble(boxes, k, i) > thr + 1e-6) overlaps = true;
      }
      const bool is_kept = next < kept.size() && kept[next] == i;
      EXPECT_EQ(is_kept, !overlaps) << "trial " << trial << " box " << i;
      if (is_kept) {
        kept_so_far.push_back(i);
        ++next;
      }
    }
    EXPECT_EQ(next, kept.size());
    EXPECT_GT(kept.size(), 10u);
    EXPECT_LT(kept.size(), static_cast<size_t>(n));
  }
}

TEST(NmsCuda, UnsupportedWithoutCuda) {
#ifdef EDGERT_HAVE_CUDA
  GTEST_SKIP() << "CUDA build: tests/gpu/vision_nms_gpu_test.cc covers NmsCuda";
#else
  int kept = -1;
  Status s = NmsCuda(nullptr, nullptr, nullptr, 0, 0.5f, nullptr, &kept, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("without"), std::string::npos) << s.message();
#endif
}

// One 64-bit mask word per box and block of 64 boxes, then the count (an int).
TEST(NmsCuda, ScratchBytes) {
  EXPECT_EQ(NmsCudaScratchBytes(0), 4u);
  EXPECT_EQ(NmsCudaScratchBytes(1), 1u * 1 * 8 + 4);
  EXPECT_EQ(NmsCudaScratchBytes(64), 64u * 1 * 8 + 4);
  EXPECT_EQ(NmsCudaScratchBytes(65), 65u * 2 * 8 + 4);
  EXPECT_EQ(NmsCudaScratchBytes(4096), 4096u * 64 * 8 + 4);
}

TEST(DecodeDetectionsCuda, UnsupportedWithoutCuda) {
#ifdef EDGERT_HAVE_CUDA
  GTEST_SKIP() << "CUDA build: tests/gpu/vision_decode_gpu_test.cc covers DecodeDetectionsCuda";
#else
  DetectionWorkspace workspace;
  EXPECT_EQ(workspace.Reserve(100).code(), StatusCode::kUnsupported);
  EXPECT_EQ(workspace.capacity(), 0);
  ModelConfig config;
  config.decoder.kind = DecoderKind::kYoloV8;
  FrameResults results;
  Status s = DecodeDetectionsCuda(config, {nullptr}, {Shape{1, 84, 8400}}, {"output0"}, InputTransform{}, &workspace,
                                  nullptr, &results);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("Decode"), std::string::npos) << s.message();
#endif
}

}  // namespace
}  // namespace edgert::vision
