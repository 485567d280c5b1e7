// The per-pixel arithmetic of preprocessing, shared verbatim by the CPU reference (preprocess.cc)
// and the CUDA kernel (preprocess_cuda.cu) so both compute the same values: reading one source
// pixel as float RGB (any format), bilinear taps with half-pixel centres, and the output value of
// one network-input pixel. The semantics are stated in preprocess.cc's header comment.
//
// Internal header: plain structs and inline functions, no allocation, no Status.
#pragma once

#include <cmath>
#include <cstdint>

#include "edgert/status.h"
#include "edgert/vision/frame.h"
#include "edgert/vision/model_config.h"

#if defined(__CUDACC__)
#define EDGERT_HD __host__ __device__ __forceinline__
#else
#define EDGERT_HD inline
#endif

namespace edgert::vision::detail {

// Everything one output pixel needs, computed once per call on the host (MakeSamplerParams).
struct SamplerParams {
  int out_width = 0, out_height = 0;
  int src_width = 0, src_height = 0;
  // Output pixels with content_x0 <= x < content_x1 and content_y0 <= y < content_y1 sample the
  // frame; the others (letterbox borders) take the pad value.
  int content_x0 = 0, content_x1 = 0, content_y0 = 0, content_y1 = 0;
  float pad_x = 0.f, pad_y = 0.f;              // output pixels of padding left / top (negative: crop)
  float inv_scale_x = 1.f, inv_scale_y = 1.f;  // frame pixels per output pixel
  int channels = 3;
  bool bgr = false;   // output channel order B, G, R
  bool gray = false;  // one output channel: 0.299 R + 0.587 G + 0.114 B
  float scale = 1.f;
  float mean[3] = {0.f, 0.f, 0.f};
  float std[3] = {1.f, 1.f, 1.f};
  float pad_value = 0.f;
};

// Checks `frame` (ValidateFrame, and that its memory is where the caller says: `on_device` for the
// CUDA path, host for the CPU path), `config` and `dst`, then fills `params` and, when non-null,
// `transform`. Defined in preprocess.cc; `who` names the caller in messages.
Status MakeSamplerParams(const FrameView& frame, const PreprocessConfig& config, const float* dst, bool on_device,
                         const char* who, SamplerParams* params, InputTransform* transform);

// Saturates to [0, 255].
EDGERT_HD float Clamp255(float v) { return v < 0.f ? 0.f : (v > 255.f ? 255.f : v); }

// BT.601 limited range YUV -> RGB, each channel clamped to [0, 255].
EDGERT_HD void YuvToRgb(float y, float u, float v, float rgb[3]) {
  const float c = 1.164f * (y - 16.f);
  const float d = u - 128.f;
  const float e = v - 128.f;
  rgb[0] = Clamp255(c + 1.596f * e);
  rgb[1] = Clamp255(c - 0.392f * d - 0.813f * e);
  rgb[2] = Clamp255(c + 2.017f * d);
}

// Frame pixel (x, y) as float R, G, B (0..255). `planes`/`strides` as FrameView's; the caller
// keeps x in [0, width) and y in [0, height).
EDGERT_HD void LoadRgb(PixelFormat format, const uint8_t* const planes[3], const int strides[3], int x, int y,
                       float rgb[3]) {
  const uint8_t* row = planes[0] + static_cast<int64_t>(y) * strides[0];
  switch (format) {
    case PixelFormat::kRGB: {
      const uint8_t* p = row + 3 * x;
      rgb[0] = p[0], rgb[1] = p[1], rgb[2] = p[2];
      return;
    }
    case PixelFormat::kBGR: {
      const uint8_t* p = row + 3 * x;
      rgb[0] = p[2], rgb[1] = p[1], rgb[2] = p[0];
      return;
    }
    case PixelFormat::kRGBA: {
      const uint8_t* p = row + 4 * x;
      rgb[0] = p[0], rgb[1] = p[1], rgb[2] = p[2];
      return;
    }
    case PixelFormat::kBGRx: {
      const uint8_t* p = row + 4 * x;
      rgb[0] = p[2], rgb[1] = p[1], rgb[2] = p[0];
      return;
    }
    case PixelFormat::kGRAY8: {
      rgb[0] = rgb[1] = rgb[2] = row[x];
      return;
    }
    case PixelFormat::kNV12: {
      const uint8_t* uv = planes[1] + static_cast<int64_t>(y / 2) * strides[1] + 2 * (x / 2);
      YuvToRgb(row[x], uv[0], uv[1], rgb);
      return;
    }
    case PixelFormat::kI420: {
      const int64_t chroma = static_cast<int64_t>(y / 2);
      const float u = planes[1][chroma * strides[1] + x / 2];
      const float v = planes[2][chroma * strides[2] + x / 2];
      YuvToRgb(row[x], u, v, rgb);
      return;
    }
  }
  rgb[0] = rgb[1] = rgb[2] = 0.f;
}

// One axis of bilinear sampling with half-pixel centres, as cv::resize INTER_LINEAR:
// src = (dst + 0.5 - pad) * inv_scale - 0.5, i0 = floor(src), weight w1 = src - i0 of tap i0 + 1;
// below 0 or at/after the last pixel the coordinate clamps to the edge (w1 = 0).
EDGERT_HD void Taps(int dst, float pad, float inv_scale, int size, int* i0, int* i1, float* w1) {
  const float src = (static_cast<float>(dst) + 0.5f - pad) * inv_scale - 0.5f;
  int i = static_cast<int>(floorf(src));
  float w = src - static_cast<float>(i);
  if (i < 0) {
    i = 0;
    w = 0.f;
  }
  if (i >= size - 1) {
    i = size - 1;
    w = 0.f;
  }
  *i0 = i;
  *i1 = i + 1 < size ? i + 1 : size - 1;
  *w1 = w;
}

// Writes output pixel (x, y) into `dst` (planar CHW, channels() planes of out_width x out_height).
EDGERT_HD void PreprocessPixel(const SamplerParams& p, PixelFormat format, const uint8_t* const planes[3],
                               const int strides[3], int x, int y, float* dst) {
  float rgb[3];
  if (x < p.content_x0 || x >= p.content_x1 || y < p.content_y0 || y >= p.content_y1) {
    rgb[0] = rgb[1] = rgb[2] = p.pad_value;
  } else {
    int x0, x1, y0, y1;
    float ax, ay;
    Taps(x, p.pad_x, p.inv_scale_x, p.src_width, &x0, &x1, &ax);
    Taps(y, p.pad_y, p.inv_scale_y, p.src_height, &y0, &y1, &ay);
    float p00[3], p01[3], p10[3], p11[3];
    LoadRgb(format, planes, strides, x0, y0, p00);
    LoadRgb(format, planes, strides, x1, y0, p01);
    LoadRgb(format, planes, strides, x0, y1, p10);
    LoadRgb(format, planes, strides, x1, y1, p11);
    for (int c = 0; c < 3; ++c) {
      const float top = p00[c] * (1.f - ax) + p01[c] * ax;
      const float bottom = p10[c] * (1.f - ax) + p11[c] * ax;
      rgb[c] = top * (1.f - ay) + bottom * ay;
    }
  }
  const int64_t plane = static_cast<int64_t>(p.out_width) * p.out_height;
  float* out = dst + static_cast<int64_t>(y) * p.out_width + x;
  if (p.gray) {
    const float v = 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2];
    out[0] = (v * p.scale - p.mean[0]) / p.std[0];
    return;
  }
  for (int c = 0; c < 3; ++c) {
    const float v = rgb[p.bgr ? 2 - c : c];
    out[c * plane] = (v * p.scale - p.mean[c]) / p.std[c];
  }
}

}  // namespace edgert::vision::detail
