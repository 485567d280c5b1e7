// Pixel format names and frame view checks.
#include "edgert/vision/frame.h"

namespace edgert::vision {

namespace {
struct FormatInfo {
  PixelFormat format;
  const char* name;
  int planes;
  int bytes_per_pixel;  // of plane 0
};
constexpr FormatInfo kFormats[] = {
    {PixelFormat::kRGB, "RGB", 1, 3},   {PixelFormat::kBGR, "BGR", 1, 3},   {PixelFormat::kRGBA, "RGBA", 1, 4},
    {PixelFormat::kBGRx, "BGRx", 1, 4}, {PixelFormat::kNV12, "NV12", 2, 1}, {PixelFormat::kI420, "I420", 3, 1},
    {PixelFormat::kGRAY8, "GRAY8", 1, 1},
};
const FormatInfo& Info(PixelFormat format) {
  for (const FormatInfo& f : kFormats) {
    if (f.format == format) return f;
  }
  return kFormats[0];
}
}  // namespace

const char* PixelFormatName(PixelFormat format) { return Info(format).name; }

StatusOr<PixelFormat> ParsePixelFormat(const std::string& name) {
  for (const FormatInfo& f : kFormats) {
    if (name == f.name) return f.format;
  }
  return InvalidArgument("unsupported pixel format '" + name + "' (expected RGB, BGR, RGBA, BGRx, NV12, I420 or GRAY8)",
                         name);
}

int PlaneCount(PixelFormat format) { return Info(format).planes; }

Status ValidateFrame(const FrameView& frame) {
  const FormatInfo& info = Info(frame.format);
  if (frame.width <= 0 || frame.height <= 0) {
    return InvalidArgument("frame size " + std::to_string(frame.width) + "x" + std::to_string(frame.height) +
                               " is not positive",
                           "width/height");
  }
  const bool subsampled = frame.format == PixelFormat::kNV12 || frame.format == PixelFormat::kI420;
  if (subsampled && (frame.width % 2 != 0 || frame.height % 2 != 0)) {
    return InvalidArgument(std::string(info.name) + " frames need an even width and height, got " +
                               std::to_string(frame.width) + "x" + std::to_string(frame.height),
                           "width/height");
  }
  for (int p = 0; p < info.planes; ++p) {
    const std::string plane = "plane " + std::to_string(p);
    if (frame.planes[p] == nullptr) return InvalidArgument(plane + " of the " + info.name + " frame is null", plane);
    int row_bytes = frame.width * info.bytes_per_pixel;
    if (p > 0) row_bytes = frame.format == PixelFormat::kNV12 ? frame.width : frame.width / 2;
    if (frame.strides[p] < row_bytes) {
      return InvalidArgument(plane + " stride " + std::to_string(frame.strides[p]) + " is below its row size " +
                                 std::to_string(row_bytes),
                             plane);
    }
  }
  return Status::Ok();
}

}  // namespace edgert::vision
