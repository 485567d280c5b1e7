// PreprocessCpu (the reference) and ComputeInputTransform: hand-computed small frames in every
// pixel format (padded strides), BT.601 conversion against a double-precision formula, bilinear
// taps, letterbox and center-crop placement, channel order, normalisation, and stretch resizing of
// random images against cv::resize (INTER_LINEAR on float images) as an independent oracle.
#include "edgert/vision/preprocess.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string>
#include <vector>

#include "frame_test_util.h"

namespace edgert::vision {
namespace {

using testing::PackRgb;
using testing::PackYuv;
using testing::RandomFrame;
using testing::ReferenceYuvToRgb;
using testing::TestFrame;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// scale 1, mean 0, std 1: outputs are pixel values.
PreprocessConfig RawConfig(int width, int height, ResizeMode resize = ResizeMode::kStretch,
                           ColorOrder color = ColorOrder::kRGB) {
  PreprocessConfig c;
  c.width = width;
  c.height = height;
  c.resize = resize;
  c.color = color;
  c.scale = 1.f;
  return c;
}

// Runs PreprocessCpu into a NaN-poisoned buffer (so an unwritten element shows) and returns it.
std::vector<float> Preprocess(const FrameView& frame, const PreprocessConfig& config,
                              InputTransform* transform = nullptr) {
  const int channels = config.color == ColorOrder::kGray ? 1 : 3;
  std::vector<float> out(static_cast<size_t>(channels) * config.width * config.height, kNaN);
  const Status s = PreprocessCpu(frame, config, out.data(), transform);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

float At(const std::vector<float>& out, const PreprocessConfig& config, int c, int x, int y) {
  return out[(static_cast<size_t>(c) * config.height + y) * config.width + x];
}

// 4x2 frame: pixel (x, y) = (R, G, B) with R = 10 + 30 x + 120 y, G = R + 10, B = R + 20.
std::vector<uint8_t> Pixels4x2() {
  std::vector<uint8_t> rgb;
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 4; ++x) {
      const int r = 10 + 30 * x + 120 * y;
      rgb.insert(rgb.end(), {static_cast<uint8_t>(r), static_cast<uint8_t>(r + 10), static_cast<uint8_t>(r + 20)});
    }
  }
  return rgb;
}

TEST(PreprocessCpu, IdentitySizeStretchReadsEveryPackedFormatExactly) {
  const std::vector<uint8_t> rgb = Pixels4x2();
  const PreprocessConfig config = RawConfig(4, 2);
  for (PixelFormat f : {PixelFormat::kRGB, PixelFormat::kBGR, PixelFormat::kRGBA, PixelFormat::kBGRx}) {
    SCOPED_TRACE(PixelFormatName(f));
    const TestFrame frame = PackRgb(f, 4, 2, rgb, /*extra=*/5);
    const std::vector<float> out = Preprocess(frame.view, config);
    for (int y = 0; y < 2; ++y) {
      for (int x = 0; x < 4; ++x) {
        for (int c = 0; c < 3; ++c) EXPECT_EQ(At(out, config, c, x, y), rgb[(y * 4 + x) * 3 + c]) << x << "," << y;
      }
    }
  }
}

TEST(PreprocessCpu, Gray8IsReplicatedIntoEveryChannel) {
  const std::vector<uint8_t> rgb = Pixels4x2();
  const TestFrame frame = PackRgb(PixelFormat::kGRAY8, 4, 2, rgb, /*extra=*/3);
  const PreprocessConfig config = RawConfig(4, 2);
  const std::vector<float> out = Preprocess(frame.view, config);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 4; ++x) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(At(out, config, c, x, y), rgb[(y * 4 + x) * 3]);
    }
  }
  // Gray in, gray out: 0.299 v + 0.587 v + 0.114 v = v.
  const PreprocessConfig gray = RawConfig(4, 2, ResizeMode::kStretch, ColorOrder::kGray);
  const std::vector<float> g = Preprocess(frame.view, gray);
  ASSERT_EQ(g.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(g[i], rgb[i * 3], 1e-4);
}

// NV12 and I420 against the BT.601 formula in double, with the chroma sample at (x/2, y/2): a 4x4
// frame with four different chroma blocks, values that clamp at both ends, padded strides.
TEST(PreprocessCpu, YuvFormatsFollowBt601LimitedRange) {
  const int w = 4, h = 4;
  const std::vector<uint8_t> y = {16, 235, 100, 255, 0, 128, 81, 145, 50, 60, 70, 80, 200, 210, 220, 230};
  const std::vector<uint8_t> u = {128, 90, 240, 16};
  const std::vector<uint8_t> v = {128, 240, 30, 170};
  const PreprocessConfig config = RawConfig(w, h);
  for (PixelFormat f : {PixelFormat::kNV12, PixelFormat::kI420}) {
    SCOPED_TRACE(PixelFormatName(f));
    const TestFrame frame = PackYuv(f, w, h, y, u, v, /*extra=*/3);
    const std::vector<float> out = Preprocess(frame.view, config);
    for (int r = 0; r < h; ++r) {
      for (int c = 0; c < w; ++c) {
        double want[3];
        const int k = (r / 2) * 2 + c / 2;
        ReferenceYuvToRgb(y[r * w + c], u[k], v[k], want);
        for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(At(out, config, ch, c, r), want[ch], 1e-3) << c << "," << r;
      }
    }
  }
  // Hand values: with neutral chroma Y=16 is black, Y=235 is 1.164 * 219 = 254.916, Y=255 clamps;
  // pixel (0,2): Y=50, U=240, V=30: R = 39.576 - 156.408 -> 0, G = 39.576 - 43.904 + 79.674 =
  // 75.346, B = 39.576 + 225.904 -> 255; pixel (2,2): Y=70, U=16, V=170: R = 62.856 + 67.032 =
  // 129.888, G = 62.856 + 43.904 - 34.146 = 72.614, B = 62.856 - 225.904 -> 0.
  double rgb[3];
  ReferenceYuvToRgb(16, 128, 128, rgb);
  EXPECT_EQ(rgb[0], 0.0);
  ReferenceYuvToRgb(235, 128, 128, rgb);
  EXPECT_NEAR(rgb[1], 254.916, 1e-9);
  ReferenceYuvToRgb(255, 128, 128, rgb);
  EXPECT_EQ(rgb[2], 255.0);
  const TestFrame i420 = PackYuv(PixelFormat::kI420, w, h, y, u, v, 0);
  const std::vector<float> out = Preprocess(i420.view, config);
  EXPECT_EQ(At(out, config, 0, 0, 0), 0.f);
  EXPECT_NEAR(At(out, config, 1, 1, 0), 254.916, 1e-3);
  EXPECT_EQ(At(out, config, 0, 3, 0), 255.f);           // Y=255, V=240: 278.196 + 178.752 clamps
  EXPECT_NEAR(At(out, config, 2, 3, 0), 201.55, 1e-3);  // U=90: 278.196 - 76.646
  EXPECT_EQ(At(out, config, 0, 0, 2), 0.f);
  EXPECT_NEAR(At(out, config, 1, 0, 2), 75.346, 1e-3);
  EXPECT_EQ(At(out, config, 2, 0, 2), 255.f);
  EXPECT_NEAR(At(out, config, 0, 2, 2), 129.888, 1e-3);
  EXPECT_NEAR(At(out, config, 1, 2, 2), 72.614, 1e-3);
  EXPECT_EQ(At(out, config, 2, 2, 2), 0.f);
}

TEST(PreprocessCpu, ColorOrderBgrAndGray) {
  const std::vector<uint8_t> rgb = Pixels4x2();
  const TestFrame frame = PackRgb(PixelFormat::kRGBA, 4, 2, rgb, 0);
  const PreprocessConfig bgr = RawConfig(4, 2, ResizeMode::kStretch, ColorOrder::kBGR);
  const std::vector<float> out = Preprocess(frame.view, bgr);
  const PreprocessConfig gray = RawConfig(4, 2, ResizeMode::kStretch, ColorOrder::kGray);
  const std::vector<float> g = Preprocess(frame.view, gray);
  ASSERT_EQ(g.size(), 8u);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 4; ++x) {
      const uint8_t* p = &rgb[(y * 4 + x) * 3];
      EXPECT_EQ(At(out, bgr, 0, x, y), p[2]);
      EXPECT_EQ(At(out, bgr, 1, x, y), p[1]);
      EXPECT_EQ(At(out, bgr, 2, x, y), p[0]);
      EXPECT_NEAR(At(g, gray, 0, x, y), 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2], 1e-4);
    }
  }
}

TEST(PreprocessCpu, NormalisationUsesScaleMeanStdPerInputChannel) {
  const std::vector<uint8_t> rgb = Pixels4x2();
  const TestFrame frame = PackRgb(PixelFormat::kRGB, 4, 2, rgb, 0);
  PreprocessConfig config = RawConfig(4, 2, ResizeMode::kStretch, ColorOrder::kBGR);
  config.scale = 1.f / 255.f;
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c) config.mean[c] = mean[c], config.std[c] = stdv[c];
  const std::vector<float> out = Preprocess(frame.view, config);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 4; ++x) {
      for (int c = 0; c < 3; ++c) {
        const double v = rgb[(y * 4 + x) * 3 + (2 - c)];  // BGR: input channel 0 is blue
        EXPECT_NEAR(At(out, config, c, x, y), (v / 255.0 - mean[c]) / stdv[c], 1e-5);
      }
    }
  }
  PreprocessConfig gray = config;
  gray.color = ColorOrder::kGray;
  const std::vector<float> g = Preprocess(frame.view, gray);
  const double v = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
  EXPECT_NEAR(g[0], (v / 255.0 - mean[0]) / stdv[0], 1e-5);
}

// Bilinear taps with half-pixel centres, hand-computed: upscaling 2x1 -> 4x1 samples x = -0.25
// (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1); downscaling 4x2 -> 2x1 samples (0.5, 0.5) and
// (2.5, 0.5), the means of 2x2 blocks.
TEST(PreprocessCpu, BilinearTapsHandComputed) {
  const std::vector<uint8_t> two = {0, 100, 200, 100, 0, 255};
  const TestFrame up_frame = PackRgb(PixelFormat::kRGB, 2, 1, two, 1);
  const PreprocessConfig up = RawConfig(4, 1);
  const std::vector<float> out = Preprocess(up_frame.view, up);
  const float want[3][4] = {{0, 25, 75, 100}, {100, 75, 25, 0}, {200, 213.75f, 241.25f, 255}};
  for (int c = 0; c < 3; ++c) {
    for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(At(out, up, c, x, 0), want[c][x]) << c << "," << x;
  }

  const TestFrame down_frame = PackRgb(PixelFormat::kBGR, 4, 2, Pixels4x2(), 2);
  const PreprocessConfig down = RawConfig(2, 1);
  const std::vector<float> d = Preprocess(down_frame.view, down);
  // R of the left block: (10 + 40 + 130 + 160) / 4 = 85; right block: (70 + 100 + 190 + 220) / 4 = 145.
  for (int c = 0; c < 3; ++c) {
    EXPECT_FLOAT_EQ(At(d, down, c, 0, 0), 85.f + 10 * c);
    EXPECT_FLOAT_EQ(At(d, down, c, 1, 0), 145.f + 10 * c);
  }
}

// 4x2 -> 8x8 letterbox: s = 2, content 8x4, pad_y = 2: rows 0, 1, 6, 7 are padding.
TEST(PreprocessCpu, LetterboxPadsAndMapsBack) {
  const TestFrame frame = PackRgb(PixelFormat::kRGB, 4, 2, Pixels4x2(), 0);
  PreprocessConfig config = RawConfig(8, 8, ResizeMode::kLetterbox);
  config.pad_value = 114.f;
  InputTransform t;
  const std::vector<float> out = Preprocess(frame.view, config, &t);
  EXPECT_FLOAT_EQ(t.scale_x, 2.f);
  EXPECT_FLOAT_EQ(t.scale_y, 2.f);
  EXPECT_FLOAT_EQ(t.pad_x, 0.f);
  EXPECT_FLOAT_EQ(t.pad_y, 2.f);
  EXPECT_EQ(t.frame_width, 4);
  EXPECT_EQ(t.frame_height, 2);
  EXPECT_EQ(t.input_width, 8);
  EXPECT_EQ(t.input_height, 8);
  for (int y : {0, 1, 6, 7}) {
    for (int x = 0; x < 8; ++x) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(At(out, config, c, x, y), 114.f) << x << "," << y;
    }
  }
  // Content pixel (3, 3) samples frame (1.25, 0.25): R = 0.75 (0.75*40 + 0.25*70) + 0.25 (0.75*160 +
  // 0.25*190) = 77.5.
  for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(At(out, config, c, 3, 3), 77.5f + 10 * c);
  // First and last content rows/columns clamp to the frame's edge pixels.
  EXPECT_FLOAT_EQ(At(out, config, 0, 0, 2), 10.f);
  EXPECT_FLOAT_EQ(At(out, config, 0, 7, 5), 220.f);
  // The transform maps the pixel centre back to the sampled frame coordinate, and the content's
  // edges to the frame's edges.
  EXPECT_FLOAT_EQ(t.ToFrameX(3.5f) - 0.5f, 1.25f);
  EXPECT_FLOAT_EQ(t.ToFrameY(3.5f) - 0.5f, 0.25f);
  EXPECT_FLOAT_EQ(t.ToFrameX(8.f), 4.f);
  EXPECT_FLOAT_EQ(t.ToFrameY(2.f), 0.f);
  EXPECT_FLOAT_EQ(t.ToFrameY(6.f), 2.f);
  EXPECT_EQ(ComputeInputTransform(4, 2, config).pad_y, t.pad_y);
}

// Odd spare rows go to the bottom (floor on top), spare columns on both sides; the pad value is
// normalised like a pixel.
TEST(PreprocessCpu, LetterboxSplitsPaddingWithFloorOnTopAndLeft) {
  const std::vector<uint8_t> rgb = {200, 200, 200, 200, 200, 200, 200, 200, 200};
  const TestFrame frame = PackRgb(PixelFormat::kRGB, 3, 1, rgb, 0);
  PreprocessConfig config = RawConfig(4, 4, ResizeMode::kLetterbox);
  config.scale = 1.f / 255.f;
  config.mean[0] = config.mean[1] = config.mean[2] = 0.5f;
  config.std[0] = config.std[1] = config.std[2] = 0.25f;
  config.pad_value = 114.f;
  InputTransform t;
  const std::vector<float> out = Preprocess(frame.view, config, &t);
  EXPECT_FLOAT_EQ(t.pad_y, 1.f);  // (4 - round(1 * 4/3)) / 2 = 1.5 -> 1
  const double pad = (114.0 / 255.0 - 0.5) / 0.25, content = (200.0 / 255.0 - 0.5) / 0.25;
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) EXPECT_NEAR(At(out, config, 1, x, y), y == 1 ? content : pad, 1e-5) << x << "," << y;
  }

  // 2x4 -> 8x8: s = 2, content 4x8, pad_x = 2: columns 0, 1, 6, 7 are padding.
  const std::vector<uint8_t> tall(2 * 4 * 3, 50);
  const TestFrame tall_frame = PackRgb(PixelFormat::kBGRx, 2, 4, tall, 4);
  const PreprocessConfig raw = RawConfig(8, 8, ResizeMode::kLetterbox);
  const std::vector<float> o = Preprocess(tall_frame.view, raw, &t);
  EXPECT_FLOAT_EQ(t.pad_x, 2.f);
  EXPECT_FLOAT_EQ(t.pad_y, 0.f);
  for (int x = 0; x < 8; ++x) {
    EXPECT_EQ(At(o, raw, 2, x, 5), x >= 2 && x < 6 ? 50.f : raw.pad_value) << x;
  }

  // 1920x1080 -> 640x640: s = 1/3, content 640x360, pad_y = 140.
  const InputTransform hd = ComputeInputTransform(1920, 1080, RawConfig(640, 640, ResizeMode::kLetterbox));
  EXPECT_FLOAT_EQ(hd.scale_x, 1.f / 3.f);
  EXPECT_FLOAT_EQ(hd.pad_x, 0.f);
  EXPECT_FLOAT_EQ(hd.pad_y, 140.f);
  EXPECT_NEAR(hd.ToFrameY(140.f + 180.f), 540.f, 1e-3);
}

// 5x2 -> 2x2 center-crop: s = 1, three spare columns, one cropped on the left: frame columns 1, 2.
TEST(PreprocessCpu, CenterCropKeepsTheMiddle) {
  std::vector<uint8_t> rgb;
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 5; ++x) rgb.insert(rgb.end(), {uint8_t(10 * x + 100 * y), uint8_t(1 + x), uint8_t(2 + y)});
  }
  const TestFrame frame = PackRgb(PixelFormat::kRGB, 5, 2, rgb, 3);
  const PreprocessConfig config = RawConfig(2, 2, ResizeMode::kCenterCrop);
  InputTransform t;
  const std::vector<float> out = Preprocess(frame.view, config, &t);
  EXPECT_FLOAT_EQ(t.scale_x, 1.f);
  EXPECT_FLOAT_EQ(t.pad_x, -1.f);
  EXPECT_FLOAT_EQ(t.pad_y, 0.f);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 2; ++x) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(At(out, config, c, x, y), rgb[(y * 5 + x + 1) * 3 + c]) << x << "," << y;
    }
  }
  EXPECT_FLOAT_EQ(t.ToFrameX(0.5f) - 0.5f, 1.f);

  // 1920x1080 -> 224x224: s = 224/1080, content round(1920 s) = 398 wide, 174 cropped, 87 on the left.
  const InputTransform hd = ComputeInputTransform(1920, 1080, RawConfig(224, 224, ResizeMode::kCenterCrop));
  EXPECT_FLOAT_EQ(hd.scale_y, 224.f / 1080.f);
  EXPECT_FLOAT_EQ(hd.pad_x, -87.f);
  EXPECT_FLOAT_EQ(hd.pad_y, 0.f);
}

// The same picture in RGB, BGR, RGBA and BGRx (and GRAY8 vs an RGB frame with R = G = B) gives
// bit-identical inputs, for every resize mode and color order.
TEST(PreprocessCpu, PackedFormatsAgreeUnderResize) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  const int w = 13, h = 7;
  std::vector<uint8_t> rgb(w * h * 3), gray_rgb(w * h * 3);
  for (auto& b : rgb) b = static_cast<uint8_t>(byte(rng));
  for (int i = 0; i < w * h; ++i) gray_rgb[3 * i] = gray_rgb[3 * i + 1] = gray_rgb[3 * i + 2] = rgb[3 * i];
  const TestFrame ref = PackRgb(PixelFormat::kRGB, w, h, rgb, 0);
  const TestFrame gray_ref = PackRgb(PixelFormat::kRGB, w, h, gray_rgb, 0);
  const TestFrame gray8 = PackRgb(PixelFormat::kGRAY8, w, h, rgb, 9);
  for (ResizeMode mode : {ResizeMode::kStretch, ResizeMode::kLetterbox, ResizeMode::kCenterCrop}) {
    for (ColorOrder color : {ColorOrder::kRGB, ColorOrder::kBGR, ColorOrder::kGray}) {
      const PreprocessConfig config = RawConfig(9, 5, mode, color);
      const std::vector<float> want = Preprocess(ref.view, config);
      for (PixelFormat f : {PixelFormat::kBGR, PixelFormat::kRGBA, PixelFormat::kBGRx}) {
        const TestFrame frame = PackRgb(f, w, h, rgb, 7);
        EXPECT_EQ(Preprocess(frame.view, config), want) << PixelFormatName(f) << " mode " << static_cast<int>(mode);
      }
      EXPECT_EQ(Preprocess(gray8.view, config), Preprocess(gray_ref.view, config))
          << "GRAY8 mode " << static_cast<int>(mode);
    }
  }
}

// Stretch resizing of random RGB images (down- and upscaling, non-integer ratios, both axes
// independent) against cv::resize INTER_LINEAR on the float image, normalised the same way.
TEST(PreprocessCpu, StretchMatchesOpenCvResize) {
  struct Case {
    int w, h, out_w, out_h;
  };
  const Case cases[] = {{97, 73, 40, 30}, {37, 23, 80, 50}, {64, 48, 64, 31}, {50, 50, 71, 29}};
  uint32_t seed = 1;
  for (const Case& k : cases) {
    SCOPED_TRACE(std::to_string(k.w) + "x" + std::to_string(k.h) + " -> " + std::to_string(k.out_w) + "x" +
                 std::to_string(k.out_h));
    const TestFrame frame = RandomFrame(PixelFormat::kRGB, k.w, k.h, 5, seed++);
    cv::Mat u8(k.h, k.w, CV_8UC3, const_cast<uint8_t*>(frame.view.planes[0]), frame.view.strides[0]);
    cv::Mat f32, resized;
    u8.convertTo(f32, CV_32FC3);
    cv::resize(f32, resized, cv::Size(k.out_w, k.out_h), 0, 0, cv::INTER_LINEAR);
    PreprocessConfig config = RawConfig(k.out_w, k.out_h);
    config.scale = 1.f / 255.f;
    config.mean[0] = 0.1f, config.mean[1] = 0.2f, config.mean[2] = 0.3f;
    const std::vector<float> out = Preprocess(frame.view, config);
    double max_diff = 0;
    for (int y = 0; y < k.out_h; ++y) {
      for (int x = 0; x < k.out_w; ++x) {
        const cv::Vec3f px = resized.at<cv::Vec3f>(y, x);
        for (int c = 0; c < 3; ++c) {
          const double want = px[c] / 255.0 - config.mean[c];
          max_diff = std::max(max_diff, std::abs(At(out, config, c, x, y) - want));
        }
      }
    }
    EXPECT_LT(max_diff, 1e-4);
  }
}

TEST(PreprocessCpu, RejectsBadFramesAndArguments) {
  std::vector<float> out(3 * 4 * 4);
  const PreprocessConfig config = RawConfig(4, 4);

  TestFrame nv12 = PackYuv(PixelFormat::kNV12, 4, 2, std::vector<uint8_t>(8, 16), {128, 128}, {128, 128}, 0);
  nv12.view.planes[1] = nullptr;
  Status s = ValidateFrame(nv12.view);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("plane 1"), std::string::npos) << s.ToString();
  EXPECT_EQ(PreprocessCpu(nv12.view, config, out.data()).code(), StatusCode::kInvalidArgument);

  const TestFrame odd_frame = PackYuv(PixelFormat::kNV12, 4, 2, std::vector<uint8_t>(8, 16), {128, 128}, {128, 128}, 0);
  FrameView odd = odd_frame.view;
  odd.width = 3;
  s = ValidateFrame(odd);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("even"), std::string::npos) << s.ToString();
  odd.width = 4;
  odd.height = 1;
  EXPECT_FALSE(ValidateFrame(odd).ok());

  TestFrame rgb = PackRgb(PixelFormat::kRGB, 4, 2, Pixels4x2(), 0);
  rgb.view.strides[0] = 11;
  s = PreprocessCpu(rgb.view, config, out.data());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("stride 11"), std::string::npos) << s.ToString();
  rgb.view.strides[0] = 12;
  ASSERT_TRUE(PreprocessCpu(rgb.view, config, out.data()).ok());

  s = PreprocessCpu(rgb.view, config, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.subject(), "dst");

  FrameView device = rgb.view;
  device.on_device = true;
  s = PreprocessCpu(device, config, out.data());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("on_device"), std::string::npos) << s.ToString();

  PreprocessConfig zero_std = config;
  zero_std.std[2] = 0.f;
  s = PreprocessCpu(rgb.view, zero_std, out.data());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("std[2]"), std::string::npos) << s.ToString();

  PreprocessConfig empty = config;
  empty.width = 0;
  EXPECT_EQ(PreprocessCpu(rgb.view, empty, out.data()).code(), StatusCode::kInvalidArgument);

#if !defined(EDGERT_HAVE_CUDA)
  device.on_device = true;
  s = PreprocessCuda(device, config, out.data(), nullptr);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("no CUDA backend"), std::string::npos) << s.ToString();
#endif
}

}  // namespace
}  // namespace edgert::vision
