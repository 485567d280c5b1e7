// A video frame as the vision helpers see it: a pixel format, a size and up to three planes with
// their strides, in host or CUDA device memory. Nothing here owns pixels.
#pragma once

#include <cstdint>
#include <string>

#include "edgert/status.h"

namespace edgert::vision {

// The raw video formats edgertinfer accepts (GStreamer's names in comments).
enum class PixelFormat {
  kRGB,    // RGB: 3 bytes per pixel, R G B
  kBGR,    // BGR: 3 bytes per pixel, B G R
  kRGBA,   // RGBA: 4 bytes per pixel, R G B A
  kBGRx,   // BGRx: 4 bytes per pixel, B G R x
  kNV12,   // NV12: Y plane, then one interleaved UV plane at half resolution (BT.601 limited range)
  kI420,   // I420: Y, U, V planes; U and V at half resolution (BT.601 limited range)
  kGRAY8,  // GRAY8: one byte per pixel
};

// "RGB", "BGR", "RGBA", "BGRx", "NV12", "I420", "GRAY8" (GStreamer's format strings).
const char* PixelFormatName(PixelFormat format);
// The inverse of PixelFormatName; an error naming the string otherwise.
StatusOr<PixelFormat> ParsePixelFormat(const std::string& name);
// Number of planes (1, 2 for NV12, 3 for I420).
int PlaneCount(PixelFormat format);

struct FrameView {
  PixelFormat format = PixelFormat::kRGB;
  int width = 0;
  int height = 0;
  const uint8_t* planes[3] = {nullptr, nullptr, nullptr};  // first byte of each plane
  int strides[3] = {0, 0, 0};                              // bytes per row of each plane
  bool on_device = false;                                  // planes are CUDA device (or mapped) pointers
};

// Checks a view: positive size, even width/height for NV12 and I420, non-null planes and strides at
// least the row size. The error names the field.
Status ValidateFrame(const FrameView& frame);

// Maps a point of the network input back into the frame: frame = (net - pad) / scale, per axis.
// Set by preprocessing; used by decoders to put boxes in frame coordinates.
struct InputTransform {
  float scale_x = 1.f, scale_y = 1.f;  // network pixels per frame pixel
  float pad_x = 0.f, pad_y = 0.f;      // network pixels of padding on the left / top
  int frame_width = 0, frame_height = 0;
  int input_width = 0, input_height = 0;
  float ToFrameX(float x) const { return (x - pad_x) / scale_x; }
  float ToFrameY(float y) const { return (y - pad_y) / scale_y; }
};

}  // namespace edgert::vision
