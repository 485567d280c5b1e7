// Preprocessing: CPU reference, the input transform, and the parameter checks shared with the CUDA
// kernel (preprocess_cuda.cu). Both backends evaluate the same per-pixel code
// (preprocess_sampler.h), so they agree to float rounding.
//
// Semantics, for a frame of w x h pixels and a network input of W x H (config.width/height):
//
// 1. Color. RGB, BGR, RGBA and BGRx are read directly (alpha / x ignored); GRAY8 replicates its value
//    into R, G and B. NV12 and I420 convert each source pixel with BT.601 limited range, taking the
//    chroma sample at (x/2, y/2):
//      R = 1.164 (Y-16) + 1.596 (V-128)
//      G = 1.164 (Y-16) - 0.392 (U-128) - 0.813 (V-128)
//      B = 1.164 (Y-16) + 2.017 (U-128)
//    each clamped to [0, 255] (in float: no rounding to integers).
// 2. Geometry. The frame is placed into the W x H input with a scale and an offset ("pad"):
//    - stretch:     scale_x = W/w, scale_y = H/h, pad 0;
//    - letterbox:   s = min(W/w, H/h); the content is round(w*s) x round(h*s) pixels; the spare
//                   pixels are split with the smaller half (floor) on the left / top: pad_x =
//                   floor((W - round(w*s)) / 2), likewise pad_y; pixels outside the content take
//                   config.pad_value for R, G and B;
//    - center-crop: s = max(W/w, H/h); the content round(w*s) x round(h*s) overflows the input and
//                   is cropped with the smaller half on the left / top: pad_x =
//                   -floor((round(w*s) - W) / 2) (negative), likewise pad_y.
//    Each input pixel (x, y) inside the content samples the frame bilinearly with half-pixel
//    centres: sx = (x + 0.5 - pad_x) * (1 / scale_x) - 0.5 (1/scale computed in double, rounded to
//    float); i0 = floor(sx), weight sx - i0 on tap i0 + 1; a coordinate below 0 or at/after the
//    last pixel clamps to the edge (weight 0). Each of the two rows is interpolated horizontally,
//    then the two results vertically — what cv::resize INTER_LINEAR does on float images
//    (upscaling, and downscaling without antialiasing).
//    Interpolation runs on the R, G, B values of step 1 (after YUV conversion at each tap).
// 3. Gray output (config.color == kGray): v = 0.299 R + 0.587 G + 0.114 B of the interpolated values.
// 4. Output. Channel c of the input gets (v * config.scale - mean[c]) / std[c], where v is the
//    channel's value in the input's order (R, G, B for kRGB; B, G, R for kBGR; one channel for
//    kGray, which uses mean[0] and std[0]); mean and std are indexed by input channel. Layout:
//    planar CHW float32, plane c at dst + c * W * H.
//
// InputTransform records scale_x/scale_y (input pixels per frame pixel) and pad_x/pad_y, so
// ToFrameX(x) = (x - pad_x) / scale_x maps an input coordinate back into the frame.
#include "edgert/vision/preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "preprocess_sampler.h"

namespace edgert::vision {

namespace {

struct Placement {
  InputTransform transform;
  float inv_scale_x = 1.f, inv_scale_y = 1.f;
  int content_width = 0, content_height = 0;
  int pad_x = 0, pad_y = 0;
};

Placement Place(int frame_width, int frame_height, const PreprocessConfig& config) {
  Placement p;
  InputTransform& t = p.transform;
  t.frame_width = frame_width;
  t.frame_height = frame_height;
  t.input_width = config.width;
  t.input_height = config.height;
  if (frame_width <= 0 || frame_height <= 0 || config.width <= 0 || config.height <= 0) return p;
  const double w = frame_width, h = frame_height, in_w = config.width, in_h = config.height;
  if (config.resize == ResizeMode::kStretch) {
    t.scale_x = static_cast<float>(in_w / w);
    t.scale_y = static_cast<float>(in_h / h);
    p.inv_scale_x = static_cast<float>(w / in_w);
    p.inv_scale_y = static_cast<float>(h / in_h);
    p.content_width = config.width;
    p.content_height = config.height;
    return p;
  }
  const double s =
      config.resize == ResizeMode::kLetterbox ? std::min(in_w / w, in_h / h) : std::max(in_w / w, in_h / h);
  t.scale_x = t.scale_y = static_cast<float>(s);
  p.inv_scale_x = p.inv_scale_y = static_cast<float>(1.0 / s);
  p.content_width = static_cast<int>(std::lround(w * s));
  p.content_height = static_cast<int>(std::lround(h * s));
  if (config.resize == ResizeMode::kLetterbox) {
    p.pad_x = (config.width - p.content_width) / 2;  // both non-negative: integer division is floor
    p.pad_y = (config.height - p.content_height) / 2;
  } else {
    p.pad_x = -((p.content_width - config.width) / 2);
    p.pad_y = -((p.content_height - config.height) / 2);
  }
  t.pad_x = static_cast<float>(p.pad_x);
  t.pad_y = static_cast<float>(p.pad_y);
  return p;
}

}  // namespace

InputTransform ComputeInputTransform(int frame_width, int frame_height, const PreprocessConfig& config) {
  return Place(frame_width, frame_height, config).transform;
}

namespace detail {

Status MakeSamplerParams(const FrameView& frame, const PreprocessConfig& config, const float* dst, bool on_device,
                         const char* who, SamplerParams* params, InputTransform* transform) {
  const std::string caller = who;
  EDGERT_RETURN_IF_ERROR(ValidateFrame(frame));
  if (frame.on_device != on_device) {
    return InvalidArgument(caller + (on_device ? " needs a frame in device (or mapped) memory; frame.on_device is false"
                                               : " needs a frame in host memory; frame.on_device is true"),
                           "frame.on_device");
  }
  if (config.width <= 0 || config.height <= 0) {
    return InvalidArgument(caller + ": input size " + std::to_string(config.width) + "x" +
                               std::to_string(config.height) + " is not positive",
                           "input.width/height");
  }
  const int channels = config.color == ColorOrder::kGray ? 1 : 3;
  for (int c = 0; c < channels; ++c) {
    if (!(config.std[c] != 0.f) || !std::isfinite(config.std[c]) || !std::isfinite(config.mean[c])) {
      return InvalidArgument(caller + ": std[" + std::to_string(c) + "] must be finite and non-zero, mean[" +
                                 std::to_string(c) + "] finite",
                             "input.std");
    }
  }
  if (!std::isfinite(config.scale) || !std::isfinite(config.pad_value)) {
    return InvalidArgument(caller + ": scale and pad-value must be finite", "input.scale");
  }
  if (dst == nullptr) return InvalidArgument(caller + ": the destination is null", "dst");

  const Placement place = Place(frame.width, frame.height, config);
  SamplerParams& p = *params;
  p = SamplerParams();
  p.out_width = config.width;
  p.out_height = config.height;
  p.src_width = frame.width;
  p.src_height = frame.height;
  p.pad_x = static_cast<float>(place.pad_x);
  p.pad_y = static_cast<float>(place.pad_y);
  p.content_x0 = std::max(0, place.pad_x);
  p.content_x1 = std::min(config.width, place.pad_x + place.content_width);
  p.content_y0 = std::max(0, place.pad_y);
  p.content_y1 = std::min(config.height, place.pad_y + place.content_height);
  p.inv_scale_x = place.inv_scale_x;
  p.inv_scale_y = place.inv_scale_y;
  p.channels = channels;
  p.bgr = config.color == ColorOrder::kBGR;
  p.gray = config.color == ColorOrder::kGray;
  p.scale = config.scale;
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = config.mean[c];
    p.std[c] = config.std[c];
  }
  p.pad_value = config.pad_value;
  if (transform != nullptr) *transform = place.transform;
  return Status::Ok();
}

}  // namespace detail

namespace {

// The format is a template argument so the per-pixel switch folds away.
template <PixelFormat kFormat>
void RunCpu(const detail::SamplerParams& p, const FrameView& frame, float* dst) {
  for (int y = 0; y < p.out_height; ++y) {
    for (int x = 0; x < p.out_width; ++x) detail::PreprocessPixel(p, kFormat, frame.planes, frame.strides, x, y, dst);
  }
}

}  // namespace

Status PreprocessCpu(const FrameView& frame, const PreprocessConfig& config, float* dst, InputTransform* transform) {
  detail::SamplerParams p;
  EDGERT_RETURN_IF_ERROR(
      detail::MakeSamplerParams(frame, config, dst, /*on_device=*/false, "PreprocessCpu", &p, transform));
  switch (frame.format) {
    case PixelFormat::kRGB:
      RunCpu<PixelFormat::kRGB>(p, frame, dst);
      break;
    case PixelFormat::kBGR:
      RunCpu<PixelFormat::kBGR>(p, frame, dst);
      break;
    case PixelFormat::kRGBA:
      RunCpu<PixelFormat::kRGBA>(p, frame, dst);
      break;
    case PixelFormat::kBGRx:
      RunCpu<PixelFormat::kBGRx>(p, frame, dst);
      break;
    case PixelFormat::kNV12:
      RunCpu<PixelFormat::kNV12>(p, frame, dst);
      break;
    case PixelFormat::kI420:
      RunCpu<PixelFormat::kI420>(p, frame, dst);
      break;
    case PixelFormat::kGRAY8:
      RunCpu<PixelFormat::kGRAY8>(p, frame, dst);
      break;
  }
  return Status::Ok();
}

#if !defined(EDGERT_HAVE_CUDA)
Status PreprocessCuda(const FrameView&, const PreprocessConfig&, float*, void*, InputTransform*) {
  return Unsupported("PreprocessCuda: this build has no CUDA backend (configure with -DEDGERT_WITH_CUDA=ON)",
                     "PreprocessCuda");
}
#endif

}  // namespace edgert::vision
