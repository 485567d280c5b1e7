// PreprocessCuda against PreprocessCpu (the reference): every pixel format x every resize mode x
// every color order, on odd sizes and ratios (downscaling HD, odd frame sizes, upscaling) with
// padded strides; the destination is poisoned with NaN so an unwritten element fails. Also the
// zero-copy path (frame in cudaHostAlloc mapped memory, passed by its device pointer), the legacy
// default stream, and the argument checks.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../vision/frame_test_util.h"
#include "edgert/vision/preprocess.h"
#include "gpu_test_util.h"

namespace edgert::vision {
namespace {

using testing::RandomFrame;
using testing::TestFrame;

#define ASSERT_CUDA_OK(call) ASSERT_EQ((call), cudaSuccess) << #call << ": " << cudaGetErrorString(cudaGetLastError())

// Device memory freed on destruction.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) {
    if (cudaMalloc(&ptr_, bytes) != cudaSuccess) ptr_ = nullptr;
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* get() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

constexpr PixelFormat kFormats[] = {PixelFormat::kRGB,  PixelFormat::kBGR,  PixelFormat::kRGBA, PixelFormat::kBGRx,
                                    PixelFormat::kNV12, PixelFormat::kI420, PixelFormat::kGRAY8};
constexpr ResizeMode kModes[] = {ResizeMode::kStretch, ResizeMode::kLetterbox, ResizeMode::kCenterCrop};
constexpr ColorOrder kColors[] = {ColorOrder::kRGB, ColorOrder::kBGR, ColorOrder::kGray};

const char* ModeName(ResizeMode m) {
  return m == ResizeMode::kStretch ? "stretch" : m == ResizeMode::kLetterbox ? "letterbox" : "center-crop";
}
const char* ColorName(ColorOrder c) { return c == ColorOrder::kRGB ? "rgb" : c == ColorOrder::kBGR ? "bgr" : "gray"; }

PreprocessConfig Config(int width, int height, ResizeMode mode, ColorOrder color) {
  PreprocessConfig c;
  c.width = width;
  c.height = height;
  c.resize = mode;
  c.color = color;
  c.scale = 1.f / 255.f;
  c.mean[0] = 0.1f, c.mean[1] = 0.2f, c.mean[2] = 0.3f;  // std 1: the tolerance is in normalised units
  c.pad_value = 114.f;
  return c;
}

size_t OutputElements(const PreprocessConfig& c) {
  return static_cast<size_t>(c.color == ColorOrder::kGray ? 1 : 3) * c.width * c.height;
}

// Max |got - want|; any NaN in `got` counts as infinite.
double MaxAbsDiff(const std::vector<float>& got, const std::vector<float>& want) {
  double m = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - want[i]);
    if (std::isnan(got[i])) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

// Runs PreprocessCuda on `device_frame` into a NaN-poisoned buffer on `stream`, waits, and
// returns the result (empty on failure, with a test failure recorded).
std::vector<float> RunCuda(const FrameView& device_frame, const PreprocessConfig& config, cudaStream_t stream,
                           InputTransform* transform) {
  const size_t n = OutputElements(config);
  DeviceBuffer dst(n * sizeof(float));
  EXPECT_NE(dst.get<float>(), nullptr) << "cudaMalloc of the destination failed";
  if (dst.get<float>() == nullptr) return {};
  EXPECT_EQ(cudaMemsetAsync(dst.get<float>(), 0xFF, n * sizeof(float), stream), cudaSuccess);
  const Status s = PreprocessCuda(device_frame, config, dst.get<float>(), stream, transform);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return {};
  std::vector<float> out(n);
  EXPECT_EQ(cudaMemcpyAsync(out.data(), dst.get<float>(), n * sizeof(float), cudaMemcpyDeviceToHost, stream),
            cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  return out;
}

std::vector<float> RunCpu(const FrameView& frame, const PreprocessConfig& config, InputTransform* transform) {
  std::vector<float> out(OutputElements(config), NAN);
  const Status s = PreprocessCpu(frame, config, out.data(), transform);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

void ExpectSameTransform(const InputTransform& a, const InputTransform& b) {
  EXPECT_EQ(a.scale_x, b.scale_x);
  EXPECT_EQ(a.scale_y, b.scale_y);
  EXPECT_EQ(a.pad_x, b.pad_x);
  EXPECT_EQ(a.pad_y, b.pad_y);
  EXPECT_EQ(a.frame_width, b.frame_width);
  EXPECT_EQ(a.input_height, b.input_height);
}

TEST(VisionPreprocessGpu, MatchesCpuForEveryFormatModeAndColor) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Case {
    int w, h, out_w, out_h, extra;
  };
  // NV12 and I420 need even frame sizes: odd sizes are rounded up for them.
  const Case cases[] = {{1920, 1080, 640, 640, 64}, {641, 479, 224, 224, 13}, {97, 55, 300, 201, 3}};
  cudaStream_t stream = nullptr;
  ASSERT_CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  uint32_t seed = 1;
  for (const Case& k : cases) {
    for (PixelFormat f : kFormats) {
      const bool yuv = f == PixelFormat::kNV12 || f == PixelFormat::kI420;
      const int w = yuv ? (k.w + 1) / 2 * 2 : k.w, h = yuv ? (k.h + 1) / 2 * 2 : k.h;
      const TestFrame frame = RandomFrame(f, w, h, k.extra, seed++);
      FrameView device_view = frame.view;
      device_view.on_device = true;
      std::vector<std::unique_ptr<DeviceBuffer>> planes;
      for (int p = 0; p < PlaneCount(f); ++p) {
        const size_t bytes = frame.planes[p].size();
        planes.push_back(std::make_unique<DeviceBuffer>(bytes));
        ASSERT_NE(planes.back()->get<uint8_t>(), nullptr);
        // On the preprocessing stream: a pageable cudaMemcpy may return before its DMA lands, and
        // the non-blocking stream would not wait for the legacy stream.
        ASSERT_CUDA_OK(cudaMemcpyAsync(planes.back()->get<uint8_t>(), frame.planes[p].data(), bytes,
                                       cudaMemcpyHostToDevice, stream));
        device_view.planes[p] = planes.back()->get<uint8_t>();
      }
      for (ResizeMode mode : kModes) {
        for (ColorOrder color : kColors) {
          SCOPED_TRACE(std::string(PixelFormatName(f)) + " " + std::to_string(w) + "x" + std::to_string(h) + " -> " +
                       std::to_string(k.out_w) + "x" + std::to_string(k.out_h) + " " + ModeName(mode) + " " +
                       ColorName(color));
          const PreprocessConfig config = Config(k.out_w, k.out_h, mode, color);
          InputTransform cpu_t, cuda_t;
          const std::vector<float> want = RunCpu(frame.view, config, &cpu_t);
          const std::vector<float> got = RunCuda(device_view, config, stream, &cuda_t);
          ASSERT_EQ(got.size(), want.size());
          EXPECT_LE(MaxAbsDiff(got, want), 1e-3);
          ExpectSameTransform(cuda_t, cpu_t);
        }
      }
    }
  }
  ASSERT_CUDA_OK(cudaStreamDestroy(stream));
}

// The frame lives in mapped pinned host memory and the kernel reads it through its device pointer
// (the zero-copy path of edgertinfer's buffer pool); the legacy default stream (nullptr) is used.
TEST(VisionPreprocessGpu, ZeroCopyMappedHostFrame) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (PixelFormat f : {PixelFormat::kNV12, PixelFormat::kRGBA, PixelFormat::kI420}) {
    SCOPED_TRACE(PixelFormatName(f));
    const TestFrame frame = RandomFrame(f, 1280, 720, 32, 100 + static_cast<uint32_t>(f));
    FrameView host_view = frame.view, device_view = frame.view;
    device_view.on_device = true;
    std::vector<void*> pinned;
    for (int p = 0; p < PlaneCount(f); ++p) {
      void* host = nullptr;
      ASSERT_CUDA_OK(cudaHostAlloc(&host, frame.planes[p].size(), cudaHostAllocMapped));
      pinned.push_back(host);
      std::memcpy(host, frame.planes[p].data(), frame.planes[p].size());
      void* device = nullptr;
      ASSERT_CUDA_OK(cudaHostGetDevicePointer(&device, host, 0));
      host_view.planes[p] = static_cast<const uint8_t*>(host);
      device_view.planes[p] = static_cast<const uint8_t*>(device);
    }
    for (ColorOrder color : kColors) {
      const PreprocessConfig config = Config(416, 416, ResizeMode::kLetterbox, color);
      const std::vector<float> want = RunCpu(host_view, config, nullptr);
      const std::vector<float> got = RunCuda(device_view, config, nullptr, nullptr);
      ASSERT_EQ(got.size(), want.size());
      EXPECT_LE(MaxAbsDiff(got, want), 1e-3) << ColorName(color);
    }
    for (void* host : pinned) ASSERT_CUDA_OK(cudaFreeHost(host));
  }
}

TEST(VisionPreprocessGpu, RejectsHostFramesAndBadArguments) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const TestFrame frame = RandomFrame(PixelFormat::kRGB, 8, 8, 0, 5);
  DeviceBuffer dst(3 * 4 * 4 * sizeof(float));
  const PreprocessConfig config = Config(4, 4, ResizeMode::kStretch, ColorOrder::kRGB);
  Status s = PreprocessCuda(frame.view, config, dst.get<float>(), nullptr);  // on_device is false
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("on_device"), std::string::npos) << s.ToString();
  FrameView device_view = frame.view;
  device_view.on_device = true;
  s = PreprocessCuda(device_view, config, nullptr, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  device_view.planes[0] = nullptr;
  s = PreprocessCuda(device_view, config, dst.get<float>(), nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("plane 0"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace edgert::vision
