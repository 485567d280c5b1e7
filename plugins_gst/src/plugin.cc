// libgstedgert: registers edgertinfer and edgertoverlay. Registration touches no CUDA, so
// gst-inspect-1.0 edgert works on a machine without a GPU.
#include <gst/gst.h>

#include "edgert/version.h"
#include "edgertinfer.h"

#ifdef EDGERT_HAVE_OVERLAY
G_BEGIN_DECLS
GST_ELEMENT_REGISTER_DECLARE(edgertoverlay);
G_END_DECLS
#endif

#ifndef PACKAGE
#define PACKAGE "edgert"
#endif

static gboolean plugin_init(GstPlugin* plugin) {
  gboolean ok = GST_ELEMENT_REGISTER(edgertinfer, plugin);
#ifdef EDGERT_HAVE_OVERLAY
  ok = GST_ELEMENT_REGISTER(edgertoverlay, plugin) && ok;
#endif
  return ok;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, edgert,
                  "edgert inference: edgertinfer runs ONNX models and plans on video frames, edgertoverlay draws "
                  "the results",
                  plugin_init, EDGERT_VERSION_STRING, "Proprietary", "edgert", "https://github.com/edgert/edgert")
