// edgertoverlay's CUDA path on a GPU, against the host drawing (DrawResults with text off) as the
// reference: the outline kernel on pitched device frames, and the element on memory:CUDAMemory
// buffers. Built with CUDA only (edgert_overlay_gpu_tests, not registered with ctest); skips
// without a GPU unless EDGERT_REQUIRE_GPU is set, where a missing GPU fails.
#include <cuda_runtime.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "edgert/gst/edgert_meta.h"
#include "edgertoverlay.h"

#if defined(EDGERT_OVERLAY_GST_CUDA)
#include <gst/cuda/gstcudaloader.h>
#include <gst/cuda/gstcudamemory.h>
#endif

namespace {

using edgert::vision::Detection;
using edgert::vision::FrameResults;
using edgert::vision::PixelFormat;

#define REQUIRE_GPU()                                                               \
  do {                                                                              \
    int count = 0;                                                                  \
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {                  \
      if (std::getenv("EDGERT_REQUIRE_GPU") != nullptr) FAIL() << "no CUDA device"; \
      GTEST_SKIP() << "no CUDA device";                                             \
    }                                                                               \
  } while (0)

// `n` boxes with random corners (some partly or wholly outside the frame, some degenerate) and
// class ids.
FrameResults RandomBoxes(int n, int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> x(-20.f, width + 20.f), y(-20.f, height + 20.f), size(0.f, 80.f);
  std::uniform_int_distribution<int> cls(-3, 90);
  FrameResults r;
  for (int i = 0; i < n; ++i) {
    Detection d;
    d.x0 = x(rng);
    d.y0 = y(rng);
    d.x1 = d.x0 + size(rng);
    d.y1 = d.y0 + size(rng);
    d.class_id = cls(rng);
    d.score = 0.5f;
    r.detections.push_back(d);
  }
  return r;
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// The host reference: outlines only.
std::vector<uint8_t> HostReference(const FrameResults& results, PixelFormat format, int width, int height, int stride,
                                   int line_width, std::vector<uint8_t> pixels) {
  edgert::overlay::DrawOptions options;
  options.draw_labels = false;
  options.draw_scores = false;
  options.mask_alpha = 0.0;
  options.line_width = line_width;
  edgert::overlay::MutableFrame frame;
  frame.format = format;
  frame.width = width;
  frame.height = height;
  frame.planes[0] = pixels.data();
  frame.strides[0] = stride;
  const edgert::Status status = edgert::overlay::DrawResults(results, options, frame);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return pixels;
}

TEST(OverlayCuda, KernelMatchesHostOutlines) {
  REQUIRE_GPU();
  const int width = 203, height = 157;
  for (const bool bgr : {false, true}) {
    for (const int line_width : {1, 3, 8}) {
      SCOPED_TRACE(std::string(bgr ? "BGRx" : "RGBA") + " line width " + std::to_string(line_width));
      // 150 boxes: three launches of at most 64.
      const FrameResults results = RandomBoxes(150, width, height, 7 + line_width);
      uint8_t* device = nullptr;
      size_t pitch = 0;
      ASSERT_EQ(cudaMallocPitch(reinterpret_cast<void**>(&device), &pitch, width * 4, height), cudaSuccess);
      const std::vector<uint8_t> input = RandomBytes(pitch * height, 99);
      ASSERT_EQ(cudaMemcpy(device, input.data(), input.size(), cudaMemcpyHostToDevice), cudaSuccess);
      const auto boxes = edgert::overlay::CudaBoxesFor(results, width, height, line_width, bgr);
      EXPECT_GT(boxes.size(), 64u);
      edgert::Status status =
          edgert::overlay::DrawBoxesCuda(device, static_cast<int>(pitch), width, height, boxes, nullptr);
      ASSERT_TRUE(status.ok()) << status.ToString();
      status = edgert::overlay::SynchronizeCuda(nullptr);
      ASSERT_TRUE(status.ok()) << status.ToString();
      std::vector<uint8_t> got(input.size());
      ASSERT_EQ(cudaMemcpy(got.data(), device, got.size(), cudaMemcpyDeviceToHost), cudaSuccess);
      cudaFree(device);
      const std::vector<uint8_t> want = HostReference(results, bgr ? PixelFormat::kBGRx : PixelFormat::kRGBA, width,
                                                      height, static_cast<int>(pitch), line_width, input);
      ASSERT_NE(want, input);  // the boxes drew something
      for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width * 4; ++x) {
          const size_t i = static_cast<size_t>(y) * pitch + x;
          ASSERT_EQ(got[i], want[i]) << "pixel " << x / 4 << "," << y << " byte " << x % 4;
        }
        // Padding beyond the row is never written.
        for (size_t x = static_cast<size_t>(width) * 4; x < pitch; ++x) {
          ASSERT_EQ(got[static_cast<size_t>(y) * pitch + x], input[static_cast<size_t>(y) * pitch + x]);
        }
      }
    }
  }
}

TEST(OverlayCuda, RejectsBadFrames) {
  const std::vector<edgert::overlay::CudaBox> boxes;
  EXPECT_FALSE(edgert::overlay::DrawBoxesCuda(nullptr, 64, 16, 16, boxes, nullptr).ok());
  uint8_t dummy = 0;
  EXPECT_FALSE(edgert::overlay::DrawBoxesCuda(&dummy, 32, 16, 16, boxes, nullptr).ok());
}

#if defined(EDGERT_OVERLAY_GST_CUDA)
gboolean PluginInit(GstPlugin* plugin) { return GST_ELEMENT_REGISTER(edgertoverlay, plugin); }

// The element on memory:CUDAMemory: the buffer keeps its CUDA memory and its pixels equal the host
// reference (text off).
TEST(OverlayCuda, ElementDrawsOnCudaMemory) {
  REQUIRE_GPU();
  gst_init(nullptr, nullptr);
  ASSERT_TRUE(gst_cuda_load_library());
  static bool registered = gst_plugin_register_static(GST_VERSION_MAJOR, GST_VERSION_MINOR, "edgertoverlaygputest",
                                                      "edgertoverlay for GPU tests", PluginInit, "0.1", "LGPL",
                                                      "edgert", "edgert", "https://example.invalid/edgert");
  ASSERT_TRUE(registered);
  gst_cuda_memory_init_once();
  GstCudaContext* context = gst_cuda_context_new(0);
  ASSERT_NE(context, nullptr);
  GstAllocator* allocator = gst_allocator_find(GST_CUDA_MEMORY_TYPE_NAME);
  ASSERT_NE(allocator, nullptr);

  for (const char* format : {"RGBA", "BGRx"}) {
    SCOPED_TRACE(format);
    const int width = 160, height = 90;
    GstVideoInfo info;
    gst_video_info_set_format(&info, gst_video_format_from_string(format), width, height);
    GstMemory* mem = gst_cuda_allocator_alloc(GST_CUDA_ALLOCATOR(allocator), context, &info);
    ASSERT_NE(mem, nullptr);
    GstVideoInfo* mem_info = &reinterpret_cast<GstCudaMemory*>(mem)->info;
    const int stride = GST_VIDEO_INFO_PLANE_STRIDE(mem_info, 0);
    GstBuffer* buffer = gst_buffer_new();
    gst_buffer_append_memory(buffer, mem);
    gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&info), width, height, 1,
                                   mem_info->offset, mem_info->stride);
    const std::vector<uint8_t> input = RandomBytes(static_cast<size_t>(stride) * height, 5);
    GstMapInfo map;
    ASSERT_TRUE(gst_buffer_map(buffer, &map, GST_MAP_WRITE));
    std::copy(input.begin(), input.end(), map.data);
    gst_buffer_unmap(buffer, &map);
    FrameResults results = RandomBoxes(20, width, height, 11);
    edgert_meta_results(gst_buffer_add_edgert_meta(buffer))->detections = results.detections;

    GstHarness* h = gst_harness_new("edgertoverlay");
    g_object_set(h->element, "draw-labels", FALSE, "draw-scores", FALSE, "line-width", 3, nullptr);
    gst_harness_set_src_caps_str(
        h, (std::string("video/x-raw(memory:CUDAMemory),format=") + format + ",width=160,height=90,framerate=30/1")
               .c_str());
    GstBuffer* out = gst_harness_push_and_pull(h, buffer);
    ASSERT_NE(out, nullptr);
    EXPECT_TRUE(gst_is_cuda_memory(gst_buffer_peek_memory(out, 0)));
    ASSERT_TRUE(gst_buffer_map(out, &map, GST_MAP_READ));
    const std::vector<uint8_t> got(map.data, map.data + input.size());
    gst_buffer_unmap(out, &map);
    const std::vector<uint8_t> want =
        HostReference(results, std::string(format) == "BGRx" ? PixelFormat::kBGRx : PixelFormat::kRGBA, width, height,
                      stride, 3, input);
    ASSERT_NE(want, input);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width * 4; ++x) {
        const size_t i = static_cast<size_t>(y) * stride + x;
        ASSERT_EQ(got[i], want[i]) << "pixel " << x / 4 << "," << y << " byte " << x % 4;
      }
    }
    gst_buffer_unref(out);
    gst_harness_teardown(h);
  }
  gst_object_unref(allocator);
  gst_object_unref(context);
}
#endif

}  // namespace
