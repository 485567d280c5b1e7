// edgertoverlay in a GstHarness: box outlines in the class colour (every pixel of the frame checked
// against a hand-computed outline), text and class lines, the mask blend, frames without a meta
// passing untouched, and the drawing helpers.
//
// The element is registered from the test (a static plugin whose init calls
// GST_ELEMENT_REGISTER(edgertoverlay, plugin)), as libgstedgert's plugin.cc does.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "edgert/gst/edgert_meta.h"
#include "edgertoverlay.h"

namespace {

using edgert::vision::Classification;
using edgert::vision::Detection;
using edgert::vision::FrameResults;

gboolean PluginInit(GstPlugin* plugin) { return GST_ELEMENT_REGISTER(edgertoverlay, plugin); }

constexpr int kWidth = 64;
constexpr int kHeight = 48;
// The test box: (10.3, 12.6)-(40.4, 36.2) covers the pixels [10, 40) x [13, 36).
constexpr int kX0 = 10, kY0 = 13, kX1 = 40, kY1 = 36;
constexpr int kClass = 2;
constexpr std::array<uint8_t, 3> kClassRgb = {44, 160, 44};  // palette[2]
// BT.601 limited range of (44, 160, 44), by hand: Y = 16 + (65.481*44 + 128.553*160 + 24.966*44)/255
// = 112.27, U = 128 + (-37.797*44 - 74.203*160 + 112*44)/255 = 94.24, V = 128 + (112*44 -
// 93.786*160 - 18.214*44)/255 = 85.34.
constexpr uint8_t kClassY = 112, kClassU = 94, kClassV = 85;

class OverlayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    static bool registered = false;
    if (!registered) {
      registered = gst_plugin_register_static(GST_VERSION_MAJOR, GST_VERSION_MINOR, "edgertoverlaytest",
                                              "edgertoverlay for tests", PluginInit, "0.1", "LGPL", "edgert", "edgert",
                                              "https://example.invalid/edgert");
    }
    ASSERT_TRUE(registered);
  }

  void TearDown() override {
    if (harness_ != nullptr) gst_harness_teardown(harness_);
  }

  // A harness with edgertoverlay negotiated to `format` at kWidth x kHeight.
  GstHarness* Start(const char* format) {
    harness_ = gst_harness_new("edgertoverlay");
    gst_video_info_set_format(&info_, gst_video_format_from_string(format), kWidth, kHeight);
    GstCaps* caps = gst_video_info_to_caps(&info_);
    gst_caps_set_simple(caps, "framerate", GST_TYPE_FRACTION, 30, 1, nullptr);
    gst_harness_set_src_caps(harness_, caps);
    return harness_;
  }

  // A frame whose every byte differs from its neighbours (so that no drawn pixel goes unnoticed).
  GstBuffer* PatternFrame() {
    GstBuffer* buffer = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info_), nullptr);
    GstMapInfo map;
    EXPECT_TRUE(gst_buffer_map(buffer, &map, GST_MAP_WRITE));
    for (gsize i = 0; i < map.size; ++i) map.data[i] = static_cast<uint8_t>((i * 37 + i / 7) & 0xFF);
    gst_buffer_unmap(buffer, &map);
    return buffer;
  }

  static std::vector<uint8_t> Bytes(GstBuffer* buffer) {
    GstMapInfo map;
    EXPECT_TRUE(gst_buffer_map(buffer, &map, GST_MAP_READ));
    std::vector<uint8_t> bytes(map.data, map.data + map.size);
    gst_buffer_unmap(buffer, &map);
    return bytes;
  }

  static void AddBox(GstBuffer* buffer) {
    EdgertMeta* meta = gst_buffer_add_edgert_meta(buffer);
    edgert_meta_results(meta)->detections = {Detection{10.3f, 12.6f, 40.4f, 36.2f, kClass, 0.87f, "car"}};
  }

  GstHarness* harness_ = nullptr;
  GstVideoInfo info_;
};

bool OnOutline(int x, int y, int line_width) {
  if (x < kX0 || x >= kX1 || y < kY0 || y >= kY1) return false;
  return x < kX0 + line_width || x >= kX1 - line_width || y < kY0 + line_width || y >= kY1 - line_width;
}

// RGB-like formats: pixels on the outline hold the class colour in the format's byte order (and
// alpha / x = 255); every other byte of the frame is unchanged.
void CheckPackedFormat(const char* format, std::array<int, 3> rgb_offsets, int pixel_bytes, int line_width,
                       const GstVideoInfo& info, const std::vector<uint8_t>& in, const std::vector<uint8_t>& out) {
  ASSERT_EQ(in.size(), out.size());
  const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
  int outline_pixels = 0;
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      const size_t p = static_cast<size_t>(y) * stride + static_cast<size_t>(x) * pixel_bytes;
      if (OnOutline(x, y, line_width)) {
        ++outline_pixels;
        for (int c = 0; c < 3; ++c) {
          ASSERT_EQ(out[p + rgb_offsets[c]], kClassRgb[c]) << format << " channel " << c << " at " << x << "," << y;
        }
        if (pixel_bytes == 4) {
          ASSERT_EQ(out[p + 3], 255) << format << " at " << x << "," << y;
        }
      } else {
        for (int c = 0; c < pixel_bytes; ++c) {
          ASSERT_EQ(out[p + c], in[p + c]) << format << " changed at " << x << "," << y;
        }
      }
    }
  }
  // 30x23 box, 2 px: 2*30*2 + 2*(23-4)*2 = 196 pixels.
  EXPECT_EQ(outline_pixels, line_width == 2 ? 196 : outline_pixels);
}

struct PackedCase {
  const char* format;
  std::array<int, 3> rgb_offsets;
  int pixel_bytes;
};

TEST_F(OverlayTest, BoxOutlineInClassColourOnPackedFormats) {
  const PackedCase cases[] = {
      {"RGB", {0, 1, 2}, 3}, {"BGR", {2, 1, 0}, 3}, {"RGBA", {0, 1, 2}, 4}, {"BGRx", {2, 1, 0}, 4}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.format);
    GstHarness* h = Start(c.format);
    g_object_set(h->element, "draw-labels", FALSE, "draw-scores", FALSE, nullptr);
    GstBuffer* in = PatternFrame();
    AddBox(in);
    const std::vector<uint8_t> in_bytes = Bytes(in);
    GstBuffer* out = gst_harness_push_and_pull(h, in);
    ASSERT_NE(out, nullptr);
    CheckPackedFormat(c.format, c.rgb_offsets, c.pixel_bytes, 2, info_, in_bytes, Bytes(out));
    gst_buffer_unref(out);
    gst_harness_teardown(h);
    harness_ = nullptr;
  }
}

TEST_F(OverlayTest, LineWidthProperty) {
  GstHarness* h = Start("RGB");
  g_object_set(h->element, "draw-labels", FALSE, "draw-scores", FALSE, "line-width", 5, nullptr);
  GstBuffer* in = PatternFrame();
  AddBox(in);
  const std::vector<uint8_t> in_bytes = Bytes(in);
  GstBuffer* out = gst_harness_push_and_pull(h, in);
  ASSERT_NE(out, nullptr);
  CheckPackedFormat("RGB", {0, 1, 2}, 3, 5, info_, in_bytes, Bytes(out));
  gst_buffer_unref(out);
}

// NV12: the outline's luma is Y(class colour); chroma samples whose 2x2 luma block touches the
// outline hold (U, V); everything else is unchanged.
TEST_F(OverlayTest, BoxOutlineOnNv12LumaAndChroma) {
  GstHarness* h = Start("NV12");
  g_object_set(h->element, "draw-labels", FALSE, "draw-scores", FALSE, nullptr);
  GstBuffer* in = PatternFrame();
  AddBox(in);
  const std::vector<uint8_t> in_bytes = Bytes(in);
  GstBuffer* out = gst_harness_push_and_pull(h, in);
  ASSERT_NE(out, nullptr);
  const std::vector<uint8_t> out_bytes = Bytes(out);
  const int y_stride = GST_VIDEO_INFO_PLANE_STRIDE(&info_, 0);
  const int uv_stride = GST_VIDEO_INFO_PLANE_STRIDE(&info_, 1);
  const size_t uv_offset = GST_VIDEO_INFO_PLANE_OFFSET(&info_, 1);
  int luma_outline = 0;
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      const size_t p = static_cast<size_t>(y) * y_stride + x;
      if (OnOutline(x, y, 2)) {
        ++luma_outline;
        ASSERT_EQ(out_bytes[p], kClassY) << x << "," << y;
      } else {
        ASSERT_EQ(out_bytes[p], in_bytes[p]) << "luma changed at " << x << "," << y;
      }
    }
  }
  EXPECT_EQ(luma_outline, 196);
  int chroma_outline = 0;
  for (int cy = 0; cy < kHeight / 2; ++cy) {
    for (int cx = 0; cx < kWidth / 2; ++cx) {
      bool touched = false;
      for (int dy = 0; dy < 2; ++dy) {
        for (int dx = 0; dx < 2; ++dx) touched = touched || OnOutline(2 * cx + dx, 2 * cy + dy, 2);
      }
      const size_t p = uv_offset + static_cast<size_t>(cy) * uv_stride + 2 * static_cast<size_t>(cx);
      if (touched) {
        ++chroma_outline;
        ASSERT_EQ(out_bytes[p], kClassU) << cx << "," << cy;
        ASSERT_EQ(out_bytes[p + 1], kClassV) << cx << "," << cy;
      } else {
        ASSERT_EQ(out_bytes[p], in_bytes[p]) << "chroma changed at " << cx << "," << cy;
        ASSERT_EQ(out_bytes[p + 1], in_bytes[p + 1]) << "chroma changed at " << cx << "," << cy;
      }
    }
  }
  EXPECT_GT(chroma_outline, 0);
  gst_buffer_unref(out);
}

// Odd NV12 sizes: the chroma plane rounds up, and its last column and row are drawn too.
TEST_F(OverlayTest, OddSizedNv12) {
  harness_ = gst_harness_new("edgertoverlay");
  g_object_set(harness_->element, "draw-labels", FALSE, "draw-scores", FALSE, nullptr);
  gst_video_info_set_format(&info_, GST_VIDEO_FORMAT_NV12, 63, 47);
  gst_harness_set_src_caps_str(harness_, "video/x-raw,format=NV12,width=63,height=47,framerate=30/1");
  GstBuffer* in = PatternFrame();
  EdgertMeta* meta = gst_buffer_add_edgert_meta(in);
  edgert_meta_results(meta)->detections = {Detection{0.f, 0.f, 63.f, 47.f, kClass, 0.5f, "all"}};
  const std::vector<uint8_t> in_bytes = Bytes(in);
  GstBuffer* out = gst_harness_push_and_pull(harness_, in);
  ASSERT_NE(out, nullptr);
  const std::vector<uint8_t> out_bytes = Bytes(out);
  const int y_stride = GST_VIDEO_INFO_PLANE_STRIDE(&info_, 0);
  const int uv_stride = GST_VIDEO_INFO_PLANE_STRIDE(&info_, 1);
  const size_t uv_offset = GST_VIDEO_INFO_PLANE_OFFSET(&info_, 1);
  EXPECT_EQ(out_bytes[0], kClassY);
  EXPECT_EQ(out_bytes[static_cast<size_t>(46) * y_stride + 62], kClassY);
  EXPECT_EQ(out_bytes[static_cast<size_t>(20) * y_stride + 30], in_bytes[static_cast<size_t>(20) * y_stride + 30]);
  const size_t last_chroma = uv_offset + static_cast<size_t>(23) * uv_stride + 2 * 31;
  EXPECT_EQ(out_bytes[last_chroma], kClassU);
  EXPECT_EQ(out_bytes[last_chroma + 1], kClassV);
  const size_t middle_chroma = uv_offset + static_cast<size_t>(10) * uv_stride + 2 * 15;
  EXPECT_EQ(out_bytes[middle_chroma], in_bytes[middle_chroma]);
  gst_buffer_unref(out);
}

TEST_F(OverlayTest, NoMetaPassesTheSameBufferUnchanged) {
  for (const char* format : {"RGB", "BGRx", "NV12"}) {
    SCOPED_TRACE(format);
    GstHarness* h = Start(format);
    GstBuffer* in = PatternFrame();
    const std::vector<uint8_t> in_bytes = Bytes(in);
    // An extra reference makes the buffer non-writable: it must still not be copied.
    gst_buffer_ref(in);
    ASSERT_EQ(gst_harness_push(h, in), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(h);
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(out, in);
    EXPECT_EQ(Bytes(out), in_bytes);
    gst_buffer_unref(out);
    gst_buffer_unref(in);
    gst_harness_teardown(h);
    harness_ = nullptr;
  }
}

// A shared (non-writable) frame with a meta is copied before drawing: the sender's pixels stay.
TEST_F(OverlayTest, SharedFrameIsCopiedBeforeDrawing) {
  GstHarness* h = Start("RGBA");
  GstBuffer* in = PatternFrame();
  AddBox(in);
  const std::vector<uint8_t> in_bytes = Bytes(in);
  gst_buffer_ref(in);
  ASSERT_EQ(gst_harness_push(h, in), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(h);
  ASSERT_NE(out, nullptr);
  EXPECT_NE(out, in);
  EXPECT_EQ(Bytes(in), in_bytes);
  EXPECT_NE(Bytes(out), in_bytes);
  ASSERT_NE(gst_buffer_get_edgert_meta(out), nullptr);
  gst_buffer_unref(out);
  gst_buffer_unref(in);
}

// "car 0.87" goes on a class-coloured rectangle just above the box; the box's inside is untouched.
TEST_F(OverlayTest, LabelAboveTheBox) {
  GstHarness* h = Start("RGB");
  g_object_set(h->element, "font-scale", 0.3, nullptr);
  GstBuffer* in = PatternFrame();
  EdgertMeta* meta = gst_buffer_add_edgert_meta(in);
  edgert_meta_results(meta)->detections = {Detection{10.f, 30.f, 60.f, 46.f, kClass, 0.87f, "car"}};
  const std::vector<uint8_t> in_bytes = Bytes(in);
  GstBuffer* out = gst_harness_push_and_pull(h, in);
  ASSERT_NE(out, nullptr);
  const std::vector<uint8_t> out_bytes = Bytes(out);
  const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info_, 0);
  auto px = [&](const std::vector<uint8_t>& b, int x, int y) { return &b[static_cast<size_t>(y) * stride + 3 * x]; };
  // Just above the box's top-left corner: the label's background.
  for (int c = 0; c < 3; ++c) EXPECT_EQ(px(out_bytes, 10, 29)[c], kClassRgb[c]);
  // Inside the label rectangle some pixels are ink (not the background colour).
  int ink = 0, changed_above = 0;
  for (int y = 0; y < 30; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      const uint8_t* o = px(out_bytes, x, y);
      if (std::equal(o, o + 3, px(in_bytes, x, y))) continue;
      ++changed_above;
      if (!std::equal(o, o + 3, kClassRgb.begin())) ++ink;
      EXPECT_GE(x, 10) << "label starts at the box's left edge";
    }
  }
  EXPECT_GT(ink, 10);
  EXPECT_GT(changed_above, 50);
  // Rows far above the label are untouched.
  EXPECT_TRUE(std::equal(px(out_bytes, 0, 0), px(out_bytes, 0, 5), px(in_bytes, 0, 0)));
  // The inside of the box (2 px outline) is unchanged.
  for (int y = 32; y < 44; ++y) {
    for (int x = 12; x < 58; ++x) {
      ASSERT_TRUE(std::equal(px(out_bytes, x, y), px(out_bytes, x, y) + 3, px(in_bytes, x, y))) << x << "," << y;
    }
  }
  gst_buffer_unref(out);
}

// Classes are written from the top-left: the first line's background is the class colour.
TEST_F(OverlayTest, ClassesAtTopLeft) {
  GstHarness* h = Start("BGRx");
  g_object_set(h->element, "font-scale", 0.3, nullptr);
  GstBuffer* in = PatternFrame();
  EdgertMeta* meta = gst_buffer_add_edgert_meta(in);
  edgert_meta_results(meta)->classes = {Classification{3, 0.9f, "cat"}, Classification{0, 0.05f, "dog"}};
  const std::vector<uint8_t> in_bytes = Bytes(in);
  GstBuffer* out = gst_harness_push_and_pull(h, in);
  ASSERT_NE(out, nullptr);
  const std::vector<uint8_t> out_bytes = Bytes(out);
  const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info_, 0);
  // palette[3] = (214, 39, 40), BGRx order.
  EXPECT_EQ(out_bytes[0], 40);
  EXPECT_EQ(out_bytes[1], 39);
  EXPECT_EQ(out_bytes[2], 214);
  // The second line's background: palette[0] = (31, 119, 180) at the left edge below the first.
  int y = 0;
  while (y < kHeight && out_bytes[static_cast<size_t>(y) * stride + 2] == 214) ++y;
  ASSERT_LT(y, kHeight);
  EXPECT_EQ(out_bytes[static_cast<size_t>(y) * stride + 0], 180);
  EXPECT_EQ(out_bytes[static_cast<size_t>(y) * stride + 2], 31);
  // The bottom rows are untouched.
  const size_t bottom = static_cast<size_t>(kHeight - 4) * stride;
  EXPECT_TRUE(std::equal(out_bytes.begin() + bottom, out_bytes.end(), in_bytes.begin() + bottom));
  gst_buffer_unref(out);
}

// A 2x2 mask over a 64x48 frame: each cell covers a 32x24 quadrant; 255 is not drawn.
TEST_F(OverlayTest, MaskBlend) {
  GstHarness* h = Start("RGB");
  g_object_set(h->element, "mask-alpha", 0.4, nullptr);
  GstBuffer* in = PatternFrame();
  EdgertMeta* meta = gst_buffer_add_edgert_meta(in);
  FrameResults* r = edgert_meta_results(meta);
  r->mask.width = 2;
  r->mask.height = 2;
  r->mask.classes = {0, 255, 255, 1};
  const std::vector<uint8_t> in_bytes = Bytes(in);
  GstBuffer* out = gst_harness_push_and_pull(h, in);
  ASSERT_NE(out, nullptr);
  const std::vector<uint8_t> out_bytes = Bytes(out);
  const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info_, 0);
  const uint8_t colours[2][3] = {{31, 119, 180}, {255, 127, 14}};  // palette[0], palette[1]
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      const int cell = (y / 24) * 2 + x / 32;
      const size_t p = static_cast<size_t>(y) * stride + 3 * x;
      for (int c = 0; c < 3; ++c) {
        int expected = in_bytes[p + c];
        if (cell == 0 || cell == 3) {
          expected = static_cast<int>(std::lround(0.6 * in_bytes[p + c] + 0.4 * colours[cell == 0 ? 0 : 1][c]));
        }
        ASSERT_EQ(out_bytes[p + c], expected) << x << "," << y << " channel " << c;
      }
    }
  }
  gst_buffer_unref(out);
}

TEST_F(OverlayTest, MaskAlphaZeroLeavesTheFrame) {
  GstHarness* h = Start("RGB");
  g_object_set(h->element, "mask-alpha", 0.0, nullptr);
  GstBuffer* in = PatternFrame();
  EdgertMeta* meta = gst_buffer_add_edgert_meta(in);
  FrameResults* r = edgert_meta_results(meta);
  r->mask.width = 1;
  r->mask.height = 1;
  r->mask.classes = {4};
  const std::vector<uint8_t> in_bytes = Bytes(in);
  GstBuffer* out = gst_harness_push_and_pull(h, in);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(Bytes(out), in_bytes);
  gst_buffer_unref(out);
}

TEST_F(OverlayTest, PropertiesRoundTrip) {
  GstHarness* h = Start("RGB");
  gboolean labels = FALSE, scores = FALSE;
  gint width = 0;
  gdouble font = 0, alpha = 0;
  g_object_get(h->element, "draw-labels", &labels, "draw-scores", &scores, "line-width", &width, "font-scale", &font,
               "mask-alpha", &alpha, nullptr);
  EXPECT_TRUE(labels);
  EXPECT_TRUE(scores);
  EXPECT_EQ(width, 2);
  EXPECT_DOUBLE_EQ(font, 0.5);
  EXPECT_DOUBLE_EQ(alpha, 0.4);
  g_object_set(h->element, "draw-labels", FALSE, "line-width", 7, "mask-alpha", 0.25, nullptr);
  g_object_get(h->element, "draw-labels", &labels, "line-width", &width, "mask-alpha", &alpha, nullptr);
  EXPECT_FALSE(labels);
  EXPECT_EQ(width, 7);
  EXPECT_DOUBLE_EQ(alpha, 0.25);
}

// A mask whose grid does not match its class count is an error (not a crash).
TEST_F(OverlayTest, InconsistentMaskIsAnError) {
  GstHarness* h = Start("RGB");
  GstBuffer* in = PatternFrame();
  EdgertMeta* meta = gst_buffer_add_edgert_meta(in);
  FrameResults* r = edgert_meta_results(meta);
  r->mask.width = 4;
  r->mask.height = 4;
  r->mask.classes = {1, 2, 3};
  EXPECT_EQ(gst_harness_push(h, in), GST_FLOW_ERROR);
}

TEST(OverlayDraw, PixelBoxRoundsAndClips) {
  using edgert::overlay::PixelBox;
  using edgert::overlay::ToPixelBox;
  PixelBox b = ToPixelBox(Detection{10.3f, 12.6f, 40.4f, 36.2f, 0, 1.f, ""}, 64, 48);
  EXPECT_EQ(b.x0, 10);
  EXPECT_EQ(b.y0, 13);
  EXPECT_EQ(b.x1, 40);
  EXPECT_EQ(b.y1, 36);
  b = ToPixelBox(Detection{-5.f, -100.f, 1000.f, 47.6f, 0, 1.f, ""}, 64, 48);
  EXPECT_EQ(b.x0, 0);
  EXPECT_EQ(b.y0, 0);
  EXPECT_EQ(b.x1, 64);
  EXPECT_EQ(b.y1, 48);
  b = ToPixelBox(Detection{NAN, 0.f, 10.f, 10.f, 0, 1.f, ""}, 64, 48);
  EXPECT_GE(b.x0, b.x1);
}

TEST(OverlayDraw, PaletteWrapsForAnyClassId) {
  using edgert::overlay::ClassColor;
  EXPECT_EQ(ClassColor(2).r, 44);
  EXPECT_EQ(ClassColor(2).g, 160);
  EXPECT_EQ(ClassColor(22).g, ClassColor(2).g);
  EXPECT_EQ(ClassColor(-1).r, ClassColor(19).r);
  EXPECT_EQ(ClassColor(-1).b, ClassColor(19).b);
}

TEST(OverlayDraw, RejectsUnsupportedFormats) {
  std::vector<uint8_t> pixels(16 * 16);
  edgert::overlay::MutableFrame frame;
  frame.format = edgert::vision::PixelFormat::kGRAY8;
  frame.width = 16;
  frame.height = 16;
  frame.planes[0] = pixels.data();
  frame.strides[0] = 16;
  const edgert::Status status = edgert::overlay::DrawResults(FrameResults{}, {}, frame);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("GRAY8"), std::string::npos) << status.ToString();
}

}  // namespace
