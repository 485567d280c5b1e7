// EdgertMeta: registration, life cycle, transforms and the C accessors (contract:
// plugins_gst/include/edgert/gst/edgert_meta.h).
//
// 1. The API type "EdgertMetaAPI" is registered once with the tags "video" and "size": elements
//    that keep the frame's geometry (videoconvert, queues, tees) keep the meta; videoscale calls
//    the scale transform (GStreamer's videoscale/videoconvertscale transform a meta only when it
//    has the "size" tag, and copy a "video"-only meta unchanged, which would leave the boxes in the
//    old frame's pixels); elements that change the geometry in other ways drop it.
// 2. init allocates an empty edgert::vision::FrameResults owned by the meta; free deletes it.
// 3. transform: a copy transform (gst_buffer_copy, make_writable) adds a meta to the destination
//    with a deep copy of the results (tensors cloned, so the copies share no bytes); the video scale
//    transform does the same and then scales each box by out_size / in_size per axis. Every other
//    transform drops the meta (returns FALSE).
// 4. The accessors return views into the meta's C++ results: labels are the std::string buffers,
//    tensor data and dims are the Tensor's storage and Shape. They live as long as the meta.
//
// Threads: registration is guarded by g_once; a meta is used by one thread at a time, like its
// buffer.
#include "edgert/gst/edgert_meta.h"

#include <gst/video/video.h>

#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "edgert/vision/results.h"

namespace {

using edgert::DataType;
using edgert::vision::FrameResults;

static_assert(sizeof(gint64) == sizeof(int64_t) && std::is_signed<gint64>::value,
              "EdgertTensor::dims points into an edgert::Shape");

// A copy of `results` that shares no storage with it (edgert::Tensor copies share their bytes).
FrameResults* DeepCopy(const FrameResults& results) {
  auto* copy = new (std::nothrow) FrameResults();
  if (copy == nullptr) return nullptr;
  try {
    copy->classes = results.classes;
    copy->detections = results.detections;
    copy->mask = results.mask;
    copy->inference_ms = results.inference_ms;
    copy->tensors.reserve(results.tensors.size());
    for (const auto& [name, tensor] : results.tensors) copy->tensors.emplace_back(name, tensor.Clone());
  } catch (const std::exception&) {
    delete copy;
    return nullptr;
  }
  return copy;
}

gboolean EdgertMetaInit(GstMeta* meta, gpointer /*params*/, GstBuffer* /*buffer*/) {
  auto* emeta = reinterpret_cast<EdgertMeta*>(meta);
  emeta->frame_number = 0;
  emeta->inference_ms = 0.0;
  emeta->stale = FALSE;
  emeta->results = new (std::nothrow) FrameResults();
  return emeta->results != nullptr;
}

void EdgertMetaFree(GstMeta* meta, GstBuffer* /*buffer*/) {
  auto* emeta = reinterpret_cast<EdgertMeta*>(meta);
  delete static_cast<FrameResults*>(emeta->results);
  emeta->results = nullptr;
}

// Adds a meta to `dest` holding a deep copy of `src`; nullptr when out of memory.
EdgertMeta* CopyInto(GstBuffer* dest, const EdgertMeta* src) {
  const FrameResults* src_results = edgert_meta_results(src);
  FrameResults* results = src_results ? DeepCopy(*src_results) : new (std::nothrow) FrameResults();
  if (results == nullptr) return nullptr;
  EdgertMeta* out = gst_buffer_add_edgert_meta(dest);
  if (out == nullptr) {
    delete results;
    return nullptr;
  }
  delete edgert_meta_results(out);
  out->results = results;
  out->frame_number = src->frame_number;
  out->inference_ms = src->inference_ms;
  out->stale = src->stale;
  return out;
}

gboolean EdgertMetaTransform(GstBuffer* dest, GstMeta* meta, GstBuffer* /*buffer*/, GQuark type, gpointer data) {
  const auto* src = reinterpret_cast<const EdgertMeta*>(meta);
  if (GST_META_TRANSFORM_IS_COPY(type)) return CopyInto(dest, src) != nullptr;
  if (GST_VIDEO_META_TRANSFORM_IS_SCALE(type)) {
    const auto* trans = static_cast<const GstVideoMetaTransform*>(data);
    const int in_w = GST_VIDEO_INFO_WIDTH(trans->in_info), in_h = GST_VIDEO_INFO_HEIGHT(trans->in_info);
    const int out_w = GST_VIDEO_INFO_WIDTH(trans->out_info), out_h = GST_VIDEO_INFO_HEIGHT(trans->out_info);
    if (in_w <= 0 || in_h <= 0) return FALSE;
    EdgertMeta* out = CopyInto(dest, src);
    if (out == nullptr) return FALSE;
    const float sx = static_cast<float>(out_w) / static_cast<float>(in_w);
    const float sy = static_cast<float>(out_h) / static_cast<float>(in_h);
    for (auto& d : edgert_meta_results(out)->detections) {
      d.x0 *= sx;
      d.x1 *= sx;
      d.y0 *= sy;
      d.y1 *= sy;
    }
    return TRUE;
  }
  return FALSE;
}

}  // namespace

extern "C" {

GType edgert_meta_api_get_type(void) {
  static GType type = 0;
  if (g_once_init_enter(&type)) {
    static const gchar* tags[] = {GST_META_TAG_VIDEO_STR, GST_META_TAG_VIDEO_SIZE_STR, nullptr};
    GType t = gst_meta_api_type_register("EdgertMetaAPI", tags);
    g_once_init_leave(&type, t);
  }
  return type;
}

const GstMetaInfo* edgert_meta_get_info(void) {
  static const GstMetaInfo* info = nullptr;
  if (g_once_init_enter(&info)) {
    const GstMetaInfo* i = gst_meta_register(EDGERT_META_API_TYPE, "EdgertMeta", sizeof(EdgertMeta), EdgertMetaInit,
                                             EdgertMetaFree, EdgertMetaTransform);
    g_once_init_leave(&info, i);
  }
  return info;
}

EdgertMeta* gst_buffer_get_edgert_meta(GstBuffer* buffer) {
  if (buffer == nullptr) return nullptr;
  return reinterpret_cast<EdgertMeta*>(gst_buffer_get_meta(buffer, EDGERT_META_API_TYPE));
}

EdgertMeta* gst_buffer_add_edgert_meta(GstBuffer* buffer) {
  g_return_val_if_fail(GST_IS_BUFFER(buffer), nullptr);
  return reinterpret_cast<EdgertMeta*>(gst_buffer_add_meta(buffer, EDGERT_META_INFO, nullptr));
}

guint edgert_meta_num_classifications(const EdgertMeta* meta) {
  const FrameResults* r = edgert_meta_results(meta);
  return r ? static_cast<guint>(r->classes.size()) : 0;
}

gboolean edgert_meta_get_classification(const EdgertMeta* meta, guint index, EdgertClassification* out) {
  const FrameResults* r = edgert_meta_results(meta);
  if (r == nullptr || out == nullptr || index >= r->classes.size()) return FALSE;
  const auto& c = r->classes[index];
  out->class_id = c.class_id;
  out->score = c.score;
  out->label = c.label.c_str();
  return TRUE;
}

guint edgert_meta_num_detections(const EdgertMeta* meta) {
  const FrameResults* r = edgert_meta_results(meta);
  return r ? static_cast<guint>(r->detections.size()) : 0;
}

gboolean edgert_meta_get_detection(const EdgertMeta* meta, guint index, EdgertDetection* out) {
  const FrameResults* r = edgert_meta_results(meta);
  if (r == nullptr || out == nullptr || index >= r->detections.size()) return FALSE;
  const auto& d = r->detections[index];
  out->x0 = d.x0;
  out->y0 = d.y0;
  out->x1 = d.x1;
  out->y1 = d.y1;
  out->class_id = d.class_id;
  out->score = d.score;
  out->label = d.label.c_str();
  return TRUE;
}

guint edgert_meta_num_tensors(const EdgertMeta* meta) {
  const FrameResults* r = edgert_meta_results(meta);
  return r ? static_cast<guint>(r->tensors.size()) : 0;
}

// Only float32 tensors can be returned (EdgertTensor::data is gfloat*): FALSE for any other dtype.
gboolean edgert_meta_get_tensor(const EdgertMeta* meta, guint index, EdgertTensor* out) {
  const FrameResults* r = edgert_meta_results(meta);
  if (r == nullptr || out == nullptr || index >= r->tensors.size()) return FALSE;
  const auto& [name, tensor] = r->tensors[index];
  if (tensor.dtype() != DataType::kFloat32) return FALSE;
  out->name = name.c_str();
  out->data = tensor.data<float>();
  out->dims = reinterpret_cast<const gint64*>(tensor.shape().data());
  out->rank = static_cast<guint>(tensor.shape().size());
  return TRUE;
}

gchar* edgert_meta_to_json(const EdgertMeta* meta) {
  const FrameResults* r = edgert_meta_results(meta);
  if (r == nullptr) return nullptr;
  try {
    return g_strdup(edgert::vision::ResultsToJson(*r).c_str());
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // extern "C"
