// NmsCuda (plugins_gst/vision/src/nms_cuda.cu) against the host Nms on random score-sorted boxes:
// the same keep set for n = 1, 63, 64, 65, 1000 and 4096 (row-block boundaries of the 64-bit mask),
// class-aware and class-agnostic, with dense and sparse overlap; plus the argument checks.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "edgert/cuda_engine.h"
#include "edgert/vision/decode.h"
#include "gpu_test_util.h"

namespace edgert::vision {
namespace {

struct DeviceBuffer {
  void* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
};

struct Case {
  std::vector<float> boxes, scores;
  std::vector<int> classes;
};

// Random boxes sorted by descending score (ties kept in generation order; some scores repeat).
Case RandomCase(int n, uint32_t seed, float extent, int num_classes) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> pos(0.f, extent), size(1.f, 40.f), score(0.f, 1.f);
  std::uniform_int_distribution<int> cls(0, num_classes - 1);
  Case raw;
  for (int i = 0; i < n; ++i) {
    const float x = pos(rng), y = pos(rng);
    raw.boxes.insert(raw.boxes.end(), {x, y, x + size(rng), y + size(rng)});
    raw.scores.push_back(i % 7 == 3 && i > 0 ? raw.scores.back() : score(rng));
    raw.classes.push_back(cls(rng));
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return raw.scores[a] > raw.scores[b]; });
  Case sorted;
  for (int i : order) {
    sorted.boxes.insert(sorted.boxes.end(), raw.boxes.begin() + 4 * i, raw.boxes.begin() + 4 * i + 4);
    sorted.scores.push_back(raw.scores[i]);
    sorted.classes.push_back(raw.classes[i]);
  }
  return sorted;
}

void ExpectSameAsHost(const Case& c, bool with_classes, float iou) {
  const int n = static_cast<int>(c.scores.size());
  DeviceBuffer boxes, scores, classes, keep;
  ASSERT_EQ(cudaMalloc(&boxes.ptr, c.boxes.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&scores.ptr, c.scores.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&classes.ptr, c.classes.size() * sizeof(int)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&keep.ptr, n * sizeof(int)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(boxes.ptr, c.boxes.data(), c.boxes.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(scores.ptr, c.scores.data(), c.scores.size() * sizeof(float), cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(classes.ptr, c.classes.data(), c.classes.size() * sizeof(int), cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemset(keep.ptr, 0x7f, n * sizeof(int)), cudaSuccess);  // poison: every flag must be written
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  int num_kept = -1;
  Status s = NmsCuda(static_cast<const float*>(boxes.ptr), static_cast<const float*>(scores.ptr),
                     with_classes ? static_cast<const int*>(classes.ptr) : nullptr, n, iou, static_cast<int*>(keep.ptr),
                     &num_kept, stream);
  cudaStreamDestroy(stream);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<int> flags(n);
  ASSERT_EQ(cudaMemcpy(flags.data(), keep.ptr, n * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);

  const std::vector<int> want = Nms(c.boxes, c.scores, with_classes ? c.classes : std::vector<int>{}, iou, 0);
  std::vector<int> got;
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(flags[i] == 0 || flags[i] == 1) << "keep[" << i << "] = " << flags[i];
    if (flags[i]) got.push_back(i);
  }
  std::vector<int> want_sorted = want;
  std::sort(want_sorted.begin(), want_sorted.end());
  EXPECT_EQ(got, want_sorted) << "n " << n << (with_classes ? " per class" : " class-agnostic");
  EXPECT_EQ(num_kept, static_cast<int>(want.size()));
}

TEST(VisionNmsGpu, MatchesHostNms) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 1;
  for (int n : {1, 63, 64, 65, 1000, 4096}) {
    for (bool with_classes : {false, true}) {
      // Dense (many suppressions, long suppression chains) and sparse layouts.
      for (float extent : {100.f, 1000.f}) {
        SCOPED_TRACE(::testing::Message() << "n=" << n << " classes=" << with_classes << " extent=" << extent);
        const Case c = RandomCase(n, seed++, extent, 3);
        ExpectSameAsHost(c, with_classes, 0.45f);
        ExpectSameAsHost(c, with_classes, 0.1f);
      }
    }
  }
}

TEST(VisionNmsGpu, ArgumentChecks) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  int num_kept = -1;
  Status s = NmsCuda(nullptr, nullptr, nullptr, 0, 0.5f, nullptr, &num_kept, nullptr);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(num_kept, 0);
  s = NmsCuda(nullptr, nullptr, nullptr, 4097, 0.5f, nullptr, &num_kept, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("4096"), std::string::npos) << s.message();
  // Caller scratch below NmsCudaScratchBytes(n) is refused before anything runs.
  int dummy = 0;
  s = NmsCuda(reinterpret_cast<const float*>(&dummy), nullptr, nullptr, 100, 0.5f, &dummy, &num_kept, nullptr, &dummy,
              NmsCudaScratchBytes(100) - 1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.subject(), "scratch");
}

}  // namespace
}  // namespace edgert::vision
