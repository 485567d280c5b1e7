/**
 * SECTION:element-edgertoverlay
 *
 * Draws the results edgertinfer attached to each frame (EdgertMeta) onto the frame, in place:
 * detection boxes with "label score" above them, the classes as text lines at the top-left and,
 * when the results carry a segmentation mask, the mask blended over the frame. Frames without an
 * EdgertMeta pass through untouched (not even copied).
 *
 *   gst-launch-1.0 v4l2src ! videoconvert ! video/x-raw,format=BGRx ! \
 *       edgertinfer config=configs/models/yolov8n.yaml ! edgertoverlay line-width=3 ! \
 *       videoconvert ! autovideosink
 *
 * Formats: RGB, BGR, RGBA, BGRx and NV12 in system memory; with CUDA (EDGERT_HAVE_CUDA and
 * gstreamer-cuda-1.0) also RGBA and BGRx in memory:CUDAMemory, where only box outlines are drawn
 * (by a CUDA kernel; labels, classes and masks need system memory).
 *
 * Drawing (DrawResults), in order:
 *  1. Mask: each frame pixel (x, y) takes the mask cell (x * mask_w / width, y * mask_h / height)
 *     (nearest); cells other than 255 blend the class colour in: out = (1 - a) * in + a * colour,
 *     a = mask-alpha. NV12: luma per pixel, chroma per 2x2 block (the cell of its top-left pixel).
 *  2. Boxes: the box corners are rounded to pixel edges and clipped (ToPixelBox); the outline is
 *     line-width pixels wide, inside the box, in the class colour (palette[class_id mod 20]).
 *     NV12: the same strips on the luma plane and, halved (rounded outwards), on the UV plane.
 *  3. Box text: "label score" (properties draw-labels / draw-scores) on a filled rectangle of the
 *     class colour just above the box, or inside its top edge when there is no room above; black
 *     or white text, whichever contrasts more. NV12: the rectangle on both planes, the text on luma.
 *  4. Classes: one such text line per classification (highest score first) from the top-left.
 *
 * Threads: properties are read under the object lock once per frame; drawing uses only the frame.
 */
#include "edgertoverlay.h"

#include <gst/video/video.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "edgert/gst/edgert_meta.h"

#if defined(EDGERT_OVERLAY_GST_CUDA)
#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudamemory.h>
#endif

namespace edgert::overlay {
namespace {

using edgert::vision::FrameResults;
using edgert::vision::PixelFormat;

// 20 well-separated colours (Tableau 20 order), RGB.
constexpr Rgb kPalette[] = {
    {31, 119, 180},  {255, 127, 14},  {44, 160, 44},   {214, 39, 40},   {148, 103, 189},
    {140, 86, 75},   {227, 119, 194}, {127, 127, 127}, {188, 189, 34},  {23, 190, 207},
    {174, 199, 232}, {255, 187, 120}, {152, 223, 138}, {255, 152, 150}, {197, 176, 213},
    {196, 156, 148}, {247, 182, 210}, {199, 199, 199}, {219, 219, 141}, {158, 218, 229},
};
constexpr int kPaletteSize = static_cast<int>(sizeof(kPalette) / sizeof(kPalette[0]));
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr int kTextPad = 2;  // pixels between the text and its background's edge

// BT.601 limited range, as edgert's NV12 convention (vision/frame.h).
struct Yuv {
  uint8_t y, u, v;
};
Yuv ToYuv(Rgb c) {
  auto clamp = [](double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); };
  const double r = c.r, g = c.g, b = c.b;
  return {clamp(16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0),
          clamp(128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0),
          clamp(128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0)};
}

bool IsDark(Rgb c) { return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b < 128.0; }

// A drawing surface: the frame's planes as cv::Mat views, and colours in its byte order.
class Canvas {
 public:
  explicit Canvas(const MutableFrame& frame) : frame_(frame) {
    switch (frame.format) {
      case PixelFormat::kRGB:
      case PixelFormat::kBGR:
        main_ = cv::Mat(frame.height, frame.width, CV_8UC3, frame.planes[0], frame.strides[0]);
        break;
      case PixelFormat::kRGBA:
      case PixelFormat::kBGRx:
        main_ = cv::Mat(frame.height, frame.width, CV_8UC4, frame.planes[0], frame.strides[0]);
        break;
      case PixelFormat::kNV12:
        main_ = cv::Mat(frame.height, frame.width, CV_8UC1, frame.planes[0], frame.strides[0]);
        chroma_ = cv::Mat((frame.height + 1) / 2, (frame.width + 1) / 2, CV_8UC2, frame.planes[1], frame.strides[1]);
        break;
      default:
        break;
    }
  }

  bool nv12() const { return frame_.format == PixelFormat::kNV12; }

  // The colour as written into the main plane (NV12: luma).
  cv::Scalar Main(Rgb c) const {
    switch (frame_.format) {
      case PixelFormat::kRGB:
        return cv::Scalar(c.r, c.g, c.b);
      case PixelFormat::kBGR:
        return cv::Scalar(c.b, c.g, c.r);
      case PixelFormat::kRGBA:
        return cv::Scalar(c.r, c.g, c.b, 255);
      case PixelFormat::kBGRx:
        return cv::Scalar(c.b, c.g, c.r, 255);
      default:
        return cv::Scalar(ToYuv(c).y);
    }
  }
  cv::Scalar Chroma(Rgb c) const {
    const Yuv yuv = ToYuv(c);
    return cv::Scalar(yuv.u, yuv.v);
  }

  // Fills the frame pixels [x0, x1) x [y0, y1) (clipped) with `c`.
  void Fill(int x0, int y0, int x1, int y1, Rgb c) {
    const cv::Rect rect = cv::Rect(x0, y0, x1 - x0, y1 - y0) & cv::Rect(0, 0, frame_.width, frame_.height);
    if (rect.empty()) return;
    main_(rect).setTo(Main(c));
    if (nv12()) {
      const int cx0 = rect.x / 2, cy0 = rect.y / 2;
      const int cx1 = (rect.x + rect.width + 1) / 2, cy1 = (rect.y + rect.height + 1) / 2;
      const cv::Rect crect = cv::Rect(cx0, cy0, cx1 - cx0, cy1 - cy0) & cv::Rect(0, 0, chroma_.cols, chroma_.rows);
      if (!crect.empty()) chroma_(crect).setTo(Chroma(c));
    }
  }

  // The outline of `box`, `width` pixels wide, inside the box.
  void Outline(const PixelBox& box, int width, Rgb c) {
    if (box.x0 >= box.x1 || box.y0 >= box.y1 || width <= 0) return;
    Fill(box.x0, box.y0, box.x1, std::min(box.y0 + width, box.y1), c);
    Fill(box.x0, std::max(box.y1 - width, box.y0), box.x1, box.y1, c);
    Fill(box.x0, box.y0, std::min(box.x0 + width, box.x1), box.y1, c);
    Fill(std::max(box.x1 - width, box.x0), box.y0, box.x1, box.y1, c);
  }

  // `text` on a filled rectangle of colour `c` whose top-left corner is (x, y); returns the
  // rectangle's height.
  int Label(const std::string& text, int x, int y, double font_scale, Rgb c) {
    int baseline = 0;
    const cv::Size size = cv::getTextSize(text, kFont, font_scale, 1, &baseline);
    const int height = size.height + baseline + 2 * kTextPad;
    Fill(x, y, x + size.width + 2 * kTextPad, y + height, c);
    const Rgb ink = IsDark(c) ? Rgb{255, 255, 255} : Rgb{0, 0, 0};
    cv::putText(main_, text, cv::Point(x + kTextPad, y + kTextPad + size.height), kFont, font_scale, Main(ink), 1,
                cv::LINE_AA);
    return height;
  }

  int TextHeight(const std::string& text, double font_scale) const {
    int baseline = 0;
    const cv::Size size = cv::getTextSize(text, kFont, font_scale, 1, &baseline);
    return size.height + baseline + 2 * kTextPad;
  }

  // Blends the mask's class colours over the frame with weight `alpha`.
  void BlendMask(const edgert::vision::SegmentationMask& mask, double alpha) {
    const int w = frame_.width, h = frame_.height;
    auto cell = [&](int x, int y) {
      const int mx = static_cast<int>(static_cast<int64_t>(x) * mask.width / w);
      const int my = static_cast<int>(static_cast<int64_t>(y) * mask.height / h);
      return mask.classes[static_cast<size_t>(my) * mask.width + mx];
    };
    auto mix = [alpha](uint8_t in, double colour) {
      return static_cast<uint8_t>(std::clamp(std::lround((1.0 - alpha) * in + alpha * colour), 0L, 255L));
    };
    const int channels = main_.channels();
    for (int y = 0; y < h; ++y) {
      uint8_t* row = main_.ptr<uint8_t>(y);
      for (int x = 0; x < w; ++x) {
        const uint8_t id = cell(x, y);
        if (id == 255) continue;
        const cv::Scalar colour = Main(ClassColor(id));
        uint8_t* px = row + static_cast<size_t>(x) * channels;
        for (int ch = 0; ch < std::min(channels, 3); ++ch) px[ch] = mix(px[ch], colour[ch]);
      }
    }
    if (!nv12()) return;
    for (int cy = 0; cy < chroma_.rows; ++cy) {
      uint8_t* row = chroma_.ptr<uint8_t>(cy);
      for (int cx = 0; cx < chroma_.cols; ++cx) {
        const uint8_t id = cell(2 * cx, 2 * cy);
        if (id == 255) continue;
        const Yuv yuv = ToYuv(ClassColor(id));
        row[2 * cx] = mix(row[2 * cx], yuv.u);
        row[2 * cx + 1] = mix(row[2 * cx + 1], yuv.v);
      }
    }
  }

 private:
  MutableFrame frame_;
  cv::Mat main_;
  cv::Mat chroma_;
};

std::string TextFor(const std::string& label, int class_id, float score, const DrawOptions& options) {
  std::string text;
  if (options.draw_labels) text = label.empty() ? "class " + std::to_string(class_id) : label;
  if (options.draw_scores) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.2f", static_cast<double>(score));
    text += text.empty() ? buf : std::string(" ") + buf;
  }
  return text;
}

Status CheckFrame(const MutableFrame& frame) {
  switch (frame.format) {
    case PixelFormat::kRGB:
    case PixelFormat::kBGR:
    case PixelFormat::kRGBA:
    case PixelFormat::kBGRx:
    case PixelFormat::kNV12:
      break;
    default:
      return InvalidArgument(
          std::string("edgertoverlay cannot draw on ") + edgert::vision::PixelFormatName(frame.format) + " frames",
          "format");
  }
  // Odd NV12 sizes are valid in GStreamer (the chroma plane rounds up), so not ValidateFrame.
  if (frame.width <= 0 || frame.height <= 0) {
    return InvalidArgument(
        "frame size " + std::to_string(frame.width) + "x" + std::to_string(frame.height) + " is not positive", "frame");
  }
  const int bytes_per_pixel = frame.format == PixelFormat::kRGBA || frame.format == PixelFormat::kBGRx ? 4
                              : frame.format == PixelFormat::kNV12                                     ? 1
                                                                                                       : 3;
  const int planes = frame.format == PixelFormat::kNV12 ? 2 : 1;
  for (int i = 0; i < planes; ++i) {
    const int row_bytes = i == 0 ? frame.width * bytes_per_pixel : (frame.width + 1) / 2 * 2;
    if (frame.planes[i] == nullptr || frame.strides[i] < row_bytes) {
      return InvalidArgument("plane " + std::to_string(i) + " is null or its stride " +
                                 std::to_string(frame.strides[i]) + " is below the row size " +
                                 std::to_string(row_bytes),
                             "frame");
    }
  }
  return Status::Ok();
}

}  // namespace

Rgb ClassColor(int class_id) {
  int index = class_id % kPaletteSize;
  if (index < 0) index += kPaletteSize;
  return kPalette[index];
}

PixelBox ToPixelBox(const edgert::vision::Detection& d, int width, int height) {
  auto edge = [](float v, int limit) {
    if (!std::isfinite(v)) return v > 0 ? limit : 0;
    return static_cast<int>(std::clamp(std::lround(v), 0L, static_cast<long>(limit)));
  };
  PixelBox box{edge(d.x0, width), edge(d.y0, height), edge(d.x1, width), edge(d.y1, height)};
  if (std::isnan(d.x0) || std::isnan(d.y0) || std::isnan(d.x1) || std::isnan(d.y1)) return PixelBox{};
  return box;
}

Status DrawResults(const FrameResults& results, const DrawOptions& options, const MutableFrame& frame) {
  Status status = CheckFrame(frame);
  if (!status.ok()) return status;
  const auto& mask = results.mask;
  if (mask.width < 0 || mask.height < 0 ||
      mask.classes.size() != static_cast<size_t>(mask.width) * static_cast<size_t>(mask.height)) {
    return InvalidArgument("the segmentation mask has " + std::to_string(mask.classes.size()) + " classes for a " +
                               std::to_string(mask.width) + "x" + std::to_string(mask.height) + " grid",
                           "mask");
  }
  try {
    Canvas canvas(frame);
    if (options.mask_alpha > 0.0 && !mask.classes.empty()) canvas.BlendMask(mask, options.mask_alpha);
    for (const auto& d : results.detections) {
      canvas.Outline(ToPixelBox(d, frame.width, frame.height), options.line_width, ClassColor(d.class_id));
    }
    for (const auto& d : results.detections) {
      const PixelBox box = ToPixelBox(d, frame.width, frame.height);
      const std::string text = TextFor(d.label, d.class_id, d.score, options);
      if (box.x0 >= box.x1 || box.y0 >= box.y1 || text.empty()) continue;
      const int height = canvas.TextHeight(text, options.font_scale);
      const int top = box.y0 >= height ? box.y0 - height : box.y0;
      canvas.Label(text, box.x0, top, options.font_scale, ClassColor(d.class_id));
    }
    int y = 0;
    for (const auto& c : results.classes) {
      const std::string text = TextFor(c.label, c.class_id, c.score, options);
      if (text.empty()) continue;
      y += canvas.Label(text, 0, y, options.font_scale, ClassColor(c.class_id));
      if (y >= frame.height) break;
    }
  } catch (const cv::Exception& e) {
    return Internal(std::string("OpenCV failed while drawing: ") + e.what(), "edgertoverlay");
  } catch (const std::exception& e) {
    return Internal(std::string("drawing failed: ") + e.what(), "edgertoverlay");
  }
  return Status::Ok();
}

#if defined(EDGERT_HAVE_CUDA)
std::vector<CudaBox> CudaBoxesFor(const FrameResults& results, int width, int height, int line_width, bool bgr) {
  std::vector<CudaBox> boxes;
  for (const auto& d : results.detections) {
    const PixelBox box = ToPixelBox(d, width, height);
    if (box.x0 >= box.x1 || box.y0 >= box.y1) continue;
    const Rgb c = ClassColor(d.class_id);
    CudaBox cbox{box.x0, box.y0, box.x1, box.y1, line_width, {}};
    cbox.bytes[0] = bgr ? c.b : c.r;
    cbox.bytes[1] = c.g;
    cbox.bytes[2] = bgr ? c.r : c.b;
    cbox.bytes[3] = 255;
    boxes.push_back(cbox);
  }
  return boxes;
}
#endif

}  // namespace edgert::overlay

// ---------------------------------------------------------------------------------------------
// The element.

GST_DEBUG_CATEGORY_STATIC(gst_edgert_overlay_debug);
#define GST_CAT_DEFAULT gst_edgert_overlay_debug

struct _GstEdgertOverlay {
  GstVideoFilter parent;
  edgert::overlay::DrawOptions options;  // guarded by the object lock
  gboolean cuda_memory;                  // negotiated memory:CUDAMemory (streaming thread only)
};

enum {
  PROP_0,
  PROP_DRAW_LABELS,
  PROP_DRAW_SCORES,
  PROP_LINE_WIDTH,
  PROP_FONT_SCALE,
  PROP_MASK_ALPHA,
};

constexpr gboolean kDefaultDrawLabels = TRUE;
constexpr gboolean kDefaultDrawScores = TRUE;
constexpr gint kDefaultLineWidth = 2;
constexpr gdouble kDefaultFontScale = 0.5;
constexpr gdouble kDefaultMaskAlpha = 0.4;

#define EDGERT_OVERLAY_SYSTEM_CAPS GST_VIDEO_CAPS_MAKE("{ RGB, BGR, RGBA, BGRx, NV12 }")
#if defined(EDGERT_OVERLAY_GST_CUDA)
#define EDGERT_OVERLAY_CAPS  \
  EDGERT_OVERLAY_SYSTEM_CAPS \
  ";" GST_VIDEO_CAPS_MAKE_WITH_FEATURES(GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY, "{ RGBA, BGRx }")
#else
#define EDGERT_OVERLAY_CAPS EDGERT_OVERLAY_SYSTEM_CAPS
#endif

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(EDGERT_OVERLAY_CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(EDGERT_OVERLAY_CAPS));

G_DEFINE_TYPE(GstEdgertOverlay, gst_edgert_overlay, GST_TYPE_VIDEO_FILTER)
GST_ELEMENT_REGISTER_DEFINE(edgertoverlay, "edgertoverlay", GST_RANK_NONE, GST_TYPE_EDGERT_OVERLAY)

namespace {

edgert::overlay::DrawOptions GetOptions(GstEdgertOverlay* self) {
  GST_OBJECT_LOCK(self);
  const edgert::overlay::DrawOptions options = self->options;
  GST_OBJECT_UNLOCK(self);
  return options;
}

void SetProperty(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_EDGERT_OVERLAY(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_DRAW_LABELS:
      self->options.draw_labels = g_value_get_boolean(value);
      break;
    case PROP_DRAW_SCORES:
      self->options.draw_scores = g_value_get_boolean(value);
      break;
    case PROP_LINE_WIDTH:
      self->options.line_width = g_value_get_int(value);
      break;
    case PROP_FONT_SCALE:
      self->options.font_scale = g_value_get_double(value);
      break;
    case PROP_MASK_ALPHA:
      self->options.mask_alpha = g_value_get_double(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

void GetProperty(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_EDGERT_OVERLAY(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_DRAW_LABELS:
      g_value_set_boolean(value, self->options.draw_labels);
      break;
    case PROP_DRAW_SCORES:
      g_value_set_boolean(value, self->options.draw_scores);
      break;
    case PROP_LINE_WIDTH:
      g_value_set_int(value, self->options.line_width);
      break;
    case PROP_FONT_SCALE:
      g_value_set_double(value, self->options.font_scale);
      break;
    case PROP_MASK_ALPHA:
      g_value_set_double(value, self->options.mask_alpha);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

gboolean SetInfo(GstVideoFilter* filter, GstCaps* incaps, GstVideoInfo* in_info, GstCaps* outcaps,
                 GstVideoInfo* out_info) {
  auto* self = GST_EDGERT_OVERLAY(filter);
  self->cuda_memory = FALSE;
#if defined(EDGERT_OVERLAY_GST_CUDA)
  GstCapsFeatures* features = gst_caps_get_features(incaps, 0);
  self->cuda_memory = features != nullptr && gst_caps_features_contains(features, GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY);
#endif
  GST_DEBUG_OBJECT(self, "drawing on %s %dx%d%s", gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(in_info)),
                   GST_VIDEO_INFO_WIDTH(in_info), GST_VIDEO_INFO_HEIGHT(in_info),
                   self->cuda_memory ? " (CUDA memory)" : "");
  return TRUE;
}

GstFlowReturn TransformFrameIp(GstVideoFilter* filter, GstVideoFrame* frame) {
  auto* self = GST_EDGERT_OVERLAY(filter);
  EdgertMeta* meta = gst_buffer_get_edgert_meta(frame->buffer);
  const edgert::vision::FrameResults* results = edgert_meta_results(meta);
  if (results == nullptr) return GST_FLOW_OK;

  edgert::overlay::MutableFrame target;
  auto format = edgert::vision::ParsePixelFormat(gst_video_format_to_string(GST_VIDEO_FRAME_FORMAT(frame)));
  if (!format.ok()) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("edgertoverlay cannot draw on this format"),
                      ("%s", format.status().ToString().c_str()));
    return GST_FLOW_ERROR;
  }
  target.format = *format;
  target.width = GST_VIDEO_FRAME_WIDTH(frame);
  target.height = GST_VIDEO_FRAME_HEIGHT(frame);
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(frame) && i < 2; ++i) {
    target.planes[i] = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, i));
    target.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE(frame, i);
  }
  const edgert::Status status = edgert::overlay::DrawResults(*results, GetOptions(self), target);
  if (!status.ok()) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("edgertoverlay could not draw the frame's results"),
                      ("%s", status.ToString().c_str()));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

#if defined(EDGERT_OVERLAY_GST_CUDA)
// Box outlines on a frame in CUDA memory: map it for CUDA, make its context current, launch and
// wait (the next element may read the memory from another stream or the host).
GstFlowReturn DrawCudaFrame(GstEdgertOverlay* self, GstBuffer* buffer, const edgert::vision::FrameResults& results) {
  GstVideoFilter* filter = GST_VIDEO_FILTER(self);
  GstMemory* mem = gst_buffer_peek_memory(buffer, 0);
  auto* cmem = reinterpret_cast<GstCudaMemory*>(mem);
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &filter->in_info, buffer,
                           static_cast<GstMapFlags>(GST_MAP_READWRITE | GST_MAP_CUDA))) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("edgertoverlay could not map the CUDA frame"), (nullptr));
    return GST_FLOW_ERROR;
  }
  const int width = GST_VIDEO_FRAME_WIDTH(&frame), height = GST_VIDEO_FRAME_HEIGHT(&frame);
  const bool bgr = GST_VIDEO_FRAME_FORMAT(&frame) == GST_VIDEO_FORMAT_BGRx;
  const edgert::overlay::DrawOptions options = GetOptions(self);
  const std::vector<edgert::overlay::CudaBox> boxes =
      edgert::overlay::CudaBoxesFor(results, width, height, options.line_width, bgr);
  edgert::Status status;
  if (!gst_cuda_context_push(cmem->context)) {
    status = edgert::Status(edgert::StatusCode::kDevice, "gst_cuda_context_push failed", "edgertoverlay");
  } else {
    status = edgert::overlay::DrawBoxesCuda(static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0)),
                                            GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0), width, height, boxes, nullptr);
    if (status.ok()) status = edgert::overlay::SynchronizeCuda(nullptr);
    gst_cuda_context_pop(nullptr);
  }
  gst_video_frame_unmap(&frame);
  if (!status.ok()) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("edgertoverlay could not draw on the CUDA frame"),
                      ("%s", status.ToString().c_str()));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}
#endif

// Frames without results are not made writable: the output buffer is the input, untouched.
GstFlowReturn PrepareOutputBuffer(GstBaseTransform* trans, GstBuffer* input, GstBuffer** output) {
  if (gst_buffer_get_edgert_meta(input) == nullptr) {
    *output = input;
    return GST_FLOW_OK;
  }
  return GST_BASE_TRANSFORM_CLASS(gst_edgert_overlay_parent_class)->prepare_output_buffer(trans, input, output);
}

GstFlowReturn TransformIp(GstBaseTransform* trans, GstBuffer* buffer) {
  auto* self = GST_EDGERT_OVERLAY(trans);
  EdgertMeta* meta = gst_buffer_get_edgert_meta(buffer);
  if (meta == nullptr || edgert_meta_results(meta) == nullptr) return GST_FLOW_OK;
#if defined(EDGERT_OVERLAY_GST_CUDA)
  GstMemory* mem = gst_buffer_n_memory(buffer) > 0 ? gst_buffer_peek_memory(buffer, 0) : nullptr;
  if (self->cuda_memory && mem != nullptr && gst_is_cuda_memory(mem)) {
    return DrawCudaFrame(self, buffer, *edgert_meta_results(meta));
  }
#else
  (void)self;
#endif
  return GST_BASE_TRANSFORM_CLASS(gst_edgert_overlay_parent_class)->transform_ip(trans, buffer);
}

}  // namespace

static void gst_edgert_overlay_class_init(GstEdgertOverlayClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);

  gobject_class->set_property = SetProperty;
  gobject_class->get_property = GetProperty;
  const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  g_object_class_install_property(
      gobject_class, PROP_DRAW_LABELS,
      g_param_spec_boolean("draw-labels", "Draw labels", "Write each box's and class's label", kDefaultDrawLabels,
                           flags));
  g_object_class_install_property(
      gobject_class, PROP_DRAW_SCORES,
      g_param_spec_boolean("draw-scores", "Draw scores", "Write each box's and class's score", kDefaultDrawScores,
                           flags));
  g_object_class_install_property(
      gobject_class, PROP_LINE_WIDTH,
      g_param_spec_int("line-width", "Line width", "Box outline width in pixels (drawn inside the box)", 1, 64,
                       kDefaultLineWidth, flags));
  g_object_class_install_property(
      gobject_class, PROP_FONT_SCALE,
      g_param_spec_double("font-scale", "Font scale", "Text size (OpenCV Hershey simplex scale)", 0.1, 10.0,
                          kDefaultFontScale, flags));
  g_object_class_install_property(
      gobject_class, PROP_MASK_ALPHA,
      g_param_spec_double("mask-alpha", "Mask alpha", "Weight of the segmentation mask colours (0: not drawn)", 0.0,
                          1.0, kDefaultMaskAlpha, flags));

  gst_element_class_set_static_metadata(element_class, "edgert overlay", "Filter/Effect/Video",
                                        "Draws edgert inference results (boxes, labels, classes, masks) on frames",
                                        "edgert");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);

  trans_class->prepare_output_buffer = PrepareOutputBuffer;
  trans_class->transform_ip = TransformIp;
  filter_class->set_info = SetInfo;
  filter_class->transform_frame_ip = TransformFrameIp;

  GST_DEBUG_CATEGORY_INIT(gst_edgert_overlay_debug, "edgertoverlay", 0, "edgert overlay");
}

static void gst_edgert_overlay_init(GstEdgertOverlay* self) {
  self->options.draw_labels = kDefaultDrawLabels;
  self->options.draw_scores = kDefaultDrawScores;
  self->options.line_width = kDefaultLineWidth;
  self->options.font_scale = kDefaultFontScale;
  self->options.mask_alpha = kDefaultMaskAlpha;
  self->cuda_memory = FALSE;
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}
