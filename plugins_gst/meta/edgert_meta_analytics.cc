// edgert_meta_add_analytics (contract: plugins_gst/include/edgert/gst/edgert_meta_analytics.h).
// Built only against GStreamer >= 1.24 with gstreamer-analytics-1.0; UNTESTED here (the development
// machines and CI have GStreamer 1.22).
//
// 1. Get or add the buffer's GstAnalyticsRelationMeta.
// 2. Per detection: add an object-detection record, then a one-class classification record, and
//    relate the two (RELATE_TO).
// 3. If the frame has classes, add one classification record with all of them.
#include "edgert/gst/edgert_meta_analytics.h"

#if defined(EDGERT_HAVE_GST_ANALYTICS) && GST_CHECK_VERSION(1, 24, 0)

#include <cmath>
#include <string>
#include <vector>

namespace {

GQuark LabelQuark(const std::string& label, int class_id) {
  if (!label.empty()) return g_quark_from_string(label.c_str());
  const std::string name = "class" + std::to_string(class_id);
  return g_quark_from_string(name.c_str());
}

}  // namespace

extern "C" gboolean edgert_meta_add_analytics(GstBuffer* buffer, const EdgertMeta* meta) {
  g_return_val_if_fail(GST_IS_BUFFER(buffer), FALSE);
  const edgert::vision::FrameResults* results = edgert_meta_results(meta);
  if (results == nullptr || !gst_buffer_is_writable(buffer)) return FALSE;
  GstAnalyticsRelationMeta* rmeta = gst_buffer_get_analytics_relation_meta(buffer);
  if (rmeta == nullptr) rmeta = gst_buffer_add_analytics_relation_meta(buffer);
  if (rmeta == nullptr) return FALSE;

  for (const auto& d : results->detections) {
    const GQuark type = LabelQuark(d.label, d.class_id);
    const gint x = static_cast<gint>(std::lround(d.x0)), y = static_cast<gint>(std::lround(d.y0));
    const gint w = static_cast<gint>(std::lround(d.x1)) - x, h = static_cast<gint>(std::lround(d.y1)) - y;
    GstAnalyticsODMtd od;
    if (!gst_analytics_relation_meta_add_od_mtd(rmeta, type, x, y, w, h, d.score, &od)) return FALSE;
    GstAnalyticsClsMtd cls;
    if (!gst_analytics_relation_meta_add_one_cls_mtd(rmeta, d.score, type, &cls)) return FALSE;
    if (!gst_analytics_relation_meta_set_relation(rmeta, GST_ANALYTICS_REL_TYPE_RELATE_TO, od.id, cls.id)) {
      return FALSE;
    }
  }

  if (!results->classes.empty()) {
    std::vector<gfloat> scores;
    std::vector<GQuark> quarks;
    for (const auto& c : results->classes) {
      scores.push_back(c.score);
      quarks.push_back(LabelQuark(c.label, c.class_id));
    }
    GstAnalyticsClsMtd cls;
    if (!gst_analytics_relation_meta_add_cls_mtd(rmeta, scores.size(), scores.data(), quarks.data(), &cls)) {
      return FALSE;
    }
  }
  return TRUE;
}

#endif
