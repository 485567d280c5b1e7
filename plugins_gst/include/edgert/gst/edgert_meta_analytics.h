/* Mirrors an EdgertMeta into GStreamer's analytics metadata (GstAnalyticsRelationMeta, GStreamer
 * >= 1.24, library gstreamer-analytics-1.0), so that elements written for that API (trackers,
 * overlays, encoders of analytics) can read edgert's results.
 *
 * Only declared when edgert was built against GStreamer >= 1.24 with gstreamer-analytics-1.0
 * (EDGERT_HAVE_GST_ANALYTICS); the implementation is untested in edgert's CI, which has 1.22.
 */
#pragma once

#include <gst/gst.h>

#include "edgert/gst/edgert_meta.h"

#if defined(EDGERT_HAVE_GST_ANALYTICS) && GST_CHECK_VERSION(1, 24, 0)
#include <gst/analytics/analytics.h>

G_BEGIN_DECLS

/* Adds to `buffer` (writable) a GstAnalyticsRelationMeta (or uses the one it has) holding:
 *  - one object-detection record per detection of `meta`: type = g_quark_from_string(label)
 *    ("class<N>" when the label is empty), the box rounded to integer pixels (x, y, w, h),
 *    confidence = score; and one classification record (the same class and score) related to it
 *    with GST_ANALYTICS_REL_TYPE_RELATE_TO;
 *  - one classification record with all of `meta`'s classes (highest score first), when it has any.
 * Returns FALSE when `buffer` is not writable or a record could not be added (records added before
 * the failure stay). */
gboolean edgert_meta_add_analytics(GstBuffer* buffer, const EdgertMeta* meta);

G_END_DECLS
#endif
