/* EdgertMeta: the results edgertinfer attaches to each buffer it ran inference on (or that an
 * `interval` skipped, carrying the last results with `stale` set). A small C API for applications
 * and pad probes; C++ callers can reach the full edgert::vision::FrameResults.
 *
 *   static GstPadProbeReturn probe(GstPad* pad, GstPadProbeInfo* info, gpointer) {
 *     EdgertMeta* meta = gst_buffer_get_edgert_meta(GST_PAD_PROBE_INFO_BUFFER(info));
 *     for (guint i = 0; meta && i < edgert_meta_num_detections(meta); ++i) {
 *       EdgertDetection d;
 *       edgert_meta_get_detection(meta, i, &d);   // d.label points into the meta
 *       g_print("%s %.2f [%.0f,%.0f,%.0f,%.0f]\n", d.label, d.score, d.x0, d.y0, d.x1, d.y1);
 *     }
 *     return GST_PAD_PROBE_OK;
 *   }
 *
 * Lifetime: strings and tensor data returned here belong to the meta and live as long as the
 * buffer holds it. The meta is copied with the buffer (deep copy) and survives transforms that keep
 * the frame's geometry ("video" tag only).
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct {
  gint class_id;
  gfloat score;
  const gchar* label;
} EdgertClassification;

typedef struct {
  gfloat x0, y0, x1, y1; /* frame pixels */
  gint class_id;
  gfloat score;
  const gchar* label;
} EdgertDetection;

typedef struct {
  const gchar* name;
  const gfloat* data; /* float32, row-major */
  const gint64* dims;
  guint rank;
} EdgertTensor;

typedef struct _EdgertMeta {
  GstMeta meta;
  guint64 frame_number;  /* frames seen by the element, from 0 */
  gdouble inference_ms;  /* preprocessing + engine + decoding of this frame's batch */
  gboolean stale;        /* results of an earlier frame (interval > 1) */
  gpointer results;      /* edgert::vision::FrameResults* (owned) */
} EdgertMeta;

GType edgert_meta_api_get_type(void);
#define EDGERT_META_API_TYPE (edgert_meta_api_get_type())
const GstMetaInfo* edgert_meta_get_info(void);
#define EDGERT_META_INFO (edgert_meta_get_info())

/* The buffer's EdgertMeta, or NULL. */
EdgertMeta* gst_buffer_get_edgert_meta(GstBuffer* buffer);
/* Adds an empty meta (the element fills it). */
EdgertMeta* gst_buffer_add_edgert_meta(GstBuffer* buffer);

guint edgert_meta_num_classifications(const EdgertMeta* meta);
gboolean edgert_meta_get_classification(const EdgertMeta* meta, guint index, EdgertClassification* out);
guint edgert_meta_num_detections(const EdgertMeta* meta);
gboolean edgert_meta_get_detection(const EdgertMeta* meta, guint index, EdgertDetection* out);
guint edgert_meta_num_tensors(const EdgertMeta* meta);
gboolean edgert_meta_get_tensor(const EdgertMeta* meta, guint index, EdgertTensor* out);
/* The results as one JSON object (edgert::vision::ResultsToJson); free with g_free. */
gchar* edgert_meta_to_json(const EdgertMeta* meta);

G_END_DECLS

#ifdef __cplusplus
#include "edgert/vision/results.h"
/* The full results (C++). */
inline const edgert::vision::FrameResults* edgert_meta_results(const EdgertMeta* meta) {
  return meta ? static_cast<const edgert::vision::FrameResults*>(meta->results) : nullptr;
}
inline edgert::vision::FrameResults* edgert_meta_results(EdgertMeta* meta) {
  return meta ? static_cast<edgert::vision::FrameResults*>(meta->results) : nullptr;
}
#endif
