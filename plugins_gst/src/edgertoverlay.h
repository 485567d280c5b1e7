// edgertoverlay: draws the EdgertMeta of each frame (boxes, labels, classes, segmentation mask) onto
// the frame, in place. See edgertoverlay.cc for the element's documentation.
#pragma once

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>

#include <cstdint>
#include <vector>

#include "edgert/status.h"
#include "edgert/vision/frame.h"
#include "edgert/vision/results.h"
#include "overlay_cuda.h"

G_BEGIN_DECLS

#define GST_TYPE_EDGERT_OVERLAY (gst_edgert_overlay_get_type())
G_DECLARE_FINAL_TYPE(GstEdgertOverlay, gst_edgert_overlay, GST, EDGERT_OVERLAY, GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE(edgertoverlay);

G_END_DECLS

namespace edgert::overlay {

// How results are drawn (the element's properties).
struct DrawOptions {
  bool draw_labels = true;  // the label (or "class N") before the score
  bool draw_scores = true;  // the score with two decimals
  int line_width = 2;       // box outline, pixels, drawn inside the box
  double font_scale = 0.5;  // OpenCV Hershey simplex scale
  double mask_alpha = 0.4;  // segmentation mask blend weight (0: no mask)
};

// An RGB colour, 0..255 per channel.
struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// The fixed palette colour of `class_id` (any int; negative ids wrap too).
Rgb ClassColor(int class_id);

// The pixel rectangle [x0, x1) x [y0, y1) a box covers in a width x height frame: corners rounded
// to the nearest pixel edge and clipped; empty (x0 >= x1 or y0 >= y1) when the box is outside.
struct PixelBox {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};
PixelBox ToPixelBox(const edgert::vision::Detection& detection, int width, int height);

// A frame in host memory to draw on: format is one of "RGB", "BGR", "RGBA", "BGRx", "NV12"
// (PixelFormat names); planes[1] is NV12's interleaved UV plane.
struct MutableFrame {
  edgert::vision::PixelFormat format = edgert::vision::PixelFormat::kRGB;
  int width = 0, height = 0;
  uint8_t* planes[2] = {nullptr, nullptr};
  int strides[2] = {0, 0};
};

// Draws `results` on `frame` (host memory): mask blend first, then each box outline (line_width
// pixels inside the box, class colour), then "label score" above each box (inside when there is no
// room above) and the classes as lines at the top-left. NV12: boxes on both planes, text on luma.
// Fails (InvalidArgument) for another format or an invalid frame; never throws.
edgert::Status DrawResults(const edgert::vision::FrameResults& results, const DrawOptions& options,
                           const MutableFrame& frame);

#if defined(EDGERT_HAVE_CUDA)
// The boxes of `results` for DrawBoxesCuda on a width x height RGBA (bgr false) or BGRx (bgr true)
// frame: pixel boxes as ToPixelBox, empty ones left out, colours as DrawResults writes them.
std::vector<CudaBox> CudaBoxesFor(const edgert::vision::FrameResults& results, int width, int height, int line_width,
                                  bool bgr);
#endif

}  // namespace edgert::overlay
