// The matrix-vector kernel for Gemm layers with few rows (kernels_gemv.h), against a float64 host
// reference of the same float16-rounded operands:
//   - ResNet-50's fc layer (M 1, K 2048, N 1000) with a bias, and odd shapes: N not a multiple of
//     the CTA's 8 columns, K of one vector, M of 1 to 9 rows (one launch per 4 rows), alpha and
//     beta other than 1, no bias, Relu and SiLU;
//   - the programmatic launch with the weights read before the wait, on a created stream, equal bit
//     for bit to the launch without it; misaligned operands and K % 8 != 0 refused;
//   - the kernel's time on the fc layer (median of CUDA events over 200 launches; printed, never
//     asserted).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/kernels_gemv.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

struct GemvCase {
  cuda::GemvShape shape;
  bool bias = true;
  FusedEpilogue act;
};

// Host float16 values (rounded) of a uniform [-1, 1) draw.
std::vector<__half> RandomHalves(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<__half> v(n);
  for (__half& h : v) h = __float2half_rn(dist(rng));
  return v;
}

double Activate(const FusedEpilogue& act, double v) {
  switch (act.kind) {
    case FusedEpilogue::Kind::kRelu:
      return v > 0 ? v : 0;
    case FusedEpilogue::Kind::kSilu:
      return v / (1.0 + std::exp(-v));
    default:
      return v;
  }
}

// Runs the case with and without the early weight read and checks both against the reference.
void ExpectGemv(const GemvCase& c, uint32_t seed) {
  const cuda::GemvShape& s = c.shape;
  SCOPED_TRACE("M " + std::to_string(s.m) + " K " + std::to_string(s.k) + " N " + std::to_string(s.n));
  const auto x = RandomHalves(static_cast<size_t>(s.m * s.k), seed);
  const auto w = RandomHalves(static_cast<size_t>(s.n * s.k), seed + 1);
  const auto b = RandomHalves(static_cast<size_t>(s.n), seed + 2);
  DeviceAllocations mem;
  void* dx = mem.Alloc(x.size() * 2);
  void* dw = mem.Alloc(w.size() * 2);
  void* db = mem.Alloc(b.size() * 2);
  void* dy = mem.Alloc(static_cast<size_t>(s.m * s.n) * 2);
  ASSERT_EQ(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(db, b.data(), b.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_TRUE(cuda::GemvSupported(s, dx, dw));
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  std::vector<std::vector<__half>> outputs;
  for (bool early_weights : {false, true}) {
    ASSERT_EQ(cudaMemset(dy, 0xFF, static_cast<size_t>(s.m * s.n) * 2), cudaSuccess);  // NaN poison
    Status st = cuda::EnqueueGemvFp16(stream, s, dx, dw, c.bias ? db : nullptr, dy, c.act, early_weights);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    std::vector<__half> y(static_cast<size_t>(s.m * s.n));
    ASSERT_EQ(cudaMemcpy(y.data(), dy, y.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    outputs.push_back(y);
  }
  cudaStreamDestroy(stream);
  EXPECT_EQ(0, std::memcmp(outputs[0].data(), outputs[1].data(), outputs[0].size() * 2))
      << "the early weight read changed the result";
  double err2 = 0, ref2 = 0;
  int bad = 0;
  for (int64_t m = 0; m < s.m; ++m) {
    for (int64_t n = 0; n < s.n; ++n) {
      double dot = 0;
      for (int64_t k = 0; k < s.k; ++k) {
        dot += static_cast<double>(__half2float(x[m * s.k + k])) * __half2float(w[n * s.k + k]);
      }
      const double want =
          Activate(c.act, s.alpha * dot + (c.bias ? s.beta * static_cast<double>(__half2float(b[n])) : 0.0));
      const double got = __half2float(outputs[0][m * s.n + n]);
      if (!std::isfinite(got)) ++bad;
      err2 += (got - want) * (got - want);
      ref2 += want * want;
    }
  }
  EXPECT_EQ(bad, 0) << "unwritten or non-finite outputs";
  EXPECT_LE(std::sqrt(err2 / std::max(ref2, 1e-30)), 2e-3) << "relative L2 against the float64 reference";
}

FusedEpilogue Act(FusedEpilogue::Kind kind) {
  FusedEpilogue e;
  e.kind = kind;
  return e;
}

TEST(GemvGpu, ResNet50FcLayer) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectGemv({{1, 2048, 1000, 1.0f, 1.0f}, true, {}}, 1);
}

TEST(GemvGpu, OddShapesScalesAndActivations) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectGemv({{1, 8, 1, 1.0f, 1.0f}, true, {}}, 2);                                  // one vector, one column
  ExpectGemv({{2, 520, 37, 0.5f, 2.0f}, true, Act(FusedEpilogue::Kind::kRelu)}, 3);  // N % 8 != 0, K past a chunk
  ExpectGemv({{3, 64, 130, 1.0f, 1.0f}, false, Act(FusedEpilogue::Kind::kSilu)}, 4);
  ExpectGemv({{4, 1280, 1000, 1.0f, 1.0f}, true, {}}, 5);  // MobileNetV2 / EfficientNet-B0 classifier, 4 rows
  ExpectGemv({{9, 136, 24, 1.5f, -1.0f}, true, {}}, 6);    // three launches (4 + 4 + 1 rows)
}

TEST(GemvGpu, RefusedOperands) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  DeviceAllocations mem;
  char* base = static_cast<char*>(mem.Alloc(1 << 16));
  cuda::GemvShape s{1, 64, 8, 1.0f, 1.0f};
  EXPECT_TRUE(cuda::GemvSupported(s, base, base + 4096));
  EXPECT_FALSE(cuda::GemvSupported(s, base + 2, base + 4096));  // X not 16-byte aligned
  EXPECT_FALSE(cuda::GemvSupported(s, base, base + 4098));      // W not 16-byte aligned
  cuda::GemvShape odd = s;
  odd.k = 60;
  EXPECT_FALSE(cuda::GemvSupported(odd, base, base + 4096));
  cuda::GemvShape empty = s;
  empty.m = 0;
  EXPECT_FALSE(cuda::GemvSupported(empty, base, base + 4096));
  Status st = cuda::EnqueueGemvFp16(nullptr, odd, base, base + 4096, nullptr, base + 8192, {}, false);
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_NE(st.message().find("K must be a multiple of 8"), std::string::npos) << st.ToString();
}

TEST(GemvGpu, TimeOnResNet50FcLayer) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const cuda::GemvShape s{1, 2048, 1000, 1.0f, 1.0f};
  DeviceAllocations mem;
  void* dx = mem.Alloc(s.k * 2);
  void* dw = mem.Alloc(static_cast<size_t>(s.n * s.k) * 2);
  void* db = mem.Alloc(s.n * 2);
  void* dy = mem.Alloc(s.n * 2);
  ASSERT_EQ(cudaMemset(dx, 0, s.k * 2), cudaSuccess);
  ASSERT_EQ(cudaMemset(dw, 0, static_cast<size_t>(s.n * s.k) * 2), cudaSuccess);
  ASSERT_EQ(cudaMemset(db, 0, s.n * 2), cudaSuccess);
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  std::vector<float> times;
  for (int i = 0; i < 210; ++i) {
    ASSERT_EQ(cudaEventRecord(start, stream), cudaSuccess);
    ASSERT_TRUE(cuda::EnqueueGemvFp16(stream, s, dx, dw, db, dy, {}, true).ok());
    ASSERT_EQ(cudaEventRecord(stop, stream), cudaSuccess);
    ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
    float ms = 0;
    ASSERT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
    if (i >= 10) times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  std::printf("[gemv] ResNet-50 fc (M 1, K 2048, N 1000): median %.4f ms over %zu launches\n", times[times.size() / 2],
              times.size());
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace testing
}  // namespace edgert
