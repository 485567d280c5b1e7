// edgertinfer: runs an edgert model on video frames and attaches EdgertMeta (see edgertinfer.cc).
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_EDGERT_INFER (gst_edgert_infer_get_type())
G_DECLARE_FINAL_TYPE(GstEdgertInfer, gst_edgert_infer, GST, EDGERT_INFER, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE(edgertinfer);

G_END_DECLS
