// Test frames for the preprocessing tests (CPU: tests/vision, GPU: tests/gpu): owned planes of any
// pixel format with padded strides, built from given pixels or random bytes, and an independent
// double-precision BT.601 conversion to check YUV results against.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "edgert/vision/frame.h"

namespace edgert::vision::testing {

constexpr uint8_t kPaddingByte = 0xEE;  // fills the bytes between a row's end and the next row

// A frame that owns its planes. Move-only: `view` points into `planes`.
struct TestFrame {
  std::vector<uint8_t> planes[3];
  FrameView view;

  TestFrame() = default;
  TestFrame(const TestFrame&) = delete;
  TestFrame& operator=(const TestFrame&) = delete;
  TestFrame(TestFrame&&) = default;
  TestFrame& operator=(TestFrame&&) = default;
};

// Bytes per row (without padding) and rows of plane `p`.
inline int RowBytes(PixelFormat f, int width, int p) {
  switch (f) {
    case PixelFormat::kRGB:
    case PixelFormat::kBGR:
      return 3 * width;
    case PixelFormat::kRGBA:
    case PixelFormat::kBGRx:
      return 4 * width;
    case PixelFormat::kGRAY8:
      return width;
    case PixelFormat::kNV12:
      return width;
    case PixelFormat::kI420:
      return p == 0 ? width : width / 2;
  }
  return 0;
}
inline int PlaneRows(PixelFormat f, int height, int p) {
  return p == 0 || (f != PixelFormat::kNV12 && f != PixelFormat::kI420) ? height : height / 2;
}

// A frame of `f` with every row `extra` bytes longer than needed (padding = kPaddingByte); plane
// contents are zero.
inline TestFrame AllocFrame(PixelFormat f, int width, int height, int extra) {
  TestFrame t;
  t.view.format = f;
  t.view.width = width;
  t.view.height = height;
  for (int p = 0; p < PlaneCount(f); ++p) {
    const int stride = RowBytes(f, width, p) + extra;
    t.planes[p].assign(static_cast<size_t>(stride) * PlaneRows(f, height, p), kPaddingByte);
    for (int r = 0; r < PlaneRows(f, height, p); ++r) {
      std::fill_n(t.planes[p].begin() + static_cast<size_t>(r) * stride, RowBytes(f, width, p), uint8_t{0});
    }
    t.view.strides[p] = stride;
  }
  for (int p = 0; p < PlaneCount(f); ++p) t.view.planes[p] = t.planes[p].data();
  return t;
}

// Packs `rgb` (width * height * 3 bytes, R G B) into an RGB, BGR, RGBA (alpha 77), BGRx (x 99) or
// GRAY8 frame (GRAY8 takes the R byte).
inline TestFrame PackRgb(PixelFormat f, int width, int height, const std::vector<uint8_t>& rgb, int extra) {
  TestFrame t = AllocFrame(f, width, height, extra);
  for (int y = 0; y < height; ++y) {
    uint8_t* row = t.planes[0].data() + static_cast<size_t>(y) * t.view.strides[0];
    for (int x = 0; x < width; ++x) {
      const uint8_t* s = &rgb[(static_cast<size_t>(y) * width + x) * 3];
      switch (f) {
        case PixelFormat::kRGB:
          row[3 * x] = s[0], row[3 * x + 1] = s[1], row[3 * x + 2] = s[2];
          break;
        case PixelFormat::kBGR:
          row[3 * x] = s[2], row[3 * x + 1] = s[1], row[3 * x + 2] = s[0];
          break;
        case PixelFormat::kRGBA:
          row[4 * x] = s[0], row[4 * x + 1] = s[1], row[4 * x + 2] = s[2], row[4 * x + 3] = 77;
          break;
        case PixelFormat::kBGRx:
          row[4 * x] = s[2], row[4 * x + 1] = s[1], row[4 * x + 2] = s[0], row[4 * x + 3] = 99;
          break;
        case PixelFormat::kGRAY8:
          row[x] = s[0];
          break;
        default:
          break;
      }
    }
  }
  return t;
}

// An NV12 or I420 frame from full-resolution `y` (width * height) and half-resolution `u`, `v`
// ((width/2) * (height/2) each).
inline TestFrame PackYuv(PixelFormat f, int width, int height, const std::vector<uint8_t>& y,
                         const std::vector<uint8_t>& u, const std::vector<uint8_t>& v, int extra) {
  TestFrame t = AllocFrame(f, width, height, extra);
  for (int r = 0; r < height; ++r) {
    std::copy_n(&y[static_cast<size_t>(r) * width], width,
                t.planes[0].data() + static_cast<size_t>(r) * t.view.strides[0]);
  }
  const int cw = width / 2;
  for (int r = 0; r < height / 2; ++r) {
    for (int c = 0; c < cw; ++c) {
      const uint8_t uu = u[static_cast<size_t>(r) * cw + c], vv = v[static_cast<size_t>(r) * cw + c];
      if (f == PixelFormat::kNV12) {
        uint8_t* row = t.planes[1].data() + static_cast<size_t>(r) * t.view.strides[1];
        row[2 * c] = uu;
        row[2 * c + 1] = vv;
      } else {
        t.planes[1][static_cast<size_t>(r) * t.view.strides[1] + c] = uu;
        t.planes[2][static_cast<size_t>(r) * t.view.strides[2] + c] = vv;
      }
    }
  }
  return t;
}

// Random pixel bytes in every plane (padding stays kPaddingByte).
inline TestFrame RandomFrame(PixelFormat f, int width, int height, int extra, uint32_t seed) {
  TestFrame t = AllocFrame(f, width, height, extra);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int p = 0; p < PlaneCount(f); ++p) {
    for (int r = 0; r < PlaneRows(f, height, p); ++r) {
      uint8_t* row = t.planes[p].data() + static_cast<size_t>(r) * t.view.strides[p];
      for (int c = 0; c < RowBytes(f, width, p); ++c) row[c] = static_cast<uint8_t>(byte(rng));
    }
  }
  return t;
}

// BT.601 limited range, in double, clamped to [0, 255].
inline void ReferenceYuvToRgb(int y, int u, int v, double rgb[3]) {
  const double c = 1.164 * (y - 16), d = u - 128, e = v - 128;
  const double r = c + 1.596 * e, g = c - 0.392 * d - 0.813 * e, b = c + 2.017 * d;
  rgb[0] = std::clamp(r, 0.0, 255.0);
  rgb[1] = std::clamp(g, 0.0, 255.0);
  rgb[2] = std::clamp(b, 0.0, 255.0);
}

}  // namespace edgert::vision::testing
