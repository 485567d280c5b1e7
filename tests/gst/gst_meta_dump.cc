// edgert_gst_meta_dump: runs a gst-launch style pipeline that contains an edgertinfer named "infer"
// and prints one JSON line per buffer leaving it: frame number, stale flag, the results as
// edgert_meta_to_json writes them, and the raw output tensors (output-tensors=true). The last line
// holds the element's frame-copies and backend, the frames that left it and the seconds from the
// first of them leaving to end-of-stream (the pipeline's steady frame rate, build time excluded). Used by gst_gpu_check.sh to compare device=cuda
// against device=cpu on the same frames.
//
// Frames are held at the element's sink pad until it posts "edgert-build" stage=ready, so every
// frame gets results whatever the build time. Exit status: 0 at EOS, 1 on a pipeline error.
#include <gst/gst.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include "edgert/gst/edgert_meta.h"

namespace {

std::mutex g_mutex;
std::condition_variable g_cv;
bool g_ready = false;
bool g_failed = false;
bool g_quiet = false;  // --quiet: no line per frame (benchmarks)
int64_t g_frames = 0;
std::chrono::steady_clock::time_point g_first;

GstBusSyncReply OnSyncMessage(GstBus*, GstMessage* msg, gpointer) {
  const GstStructure* s = gst_message_get_structure(msg);
  const bool ready = GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT && s != nullptr &&
                     gst_structure_has_name(s, "edgert-build") &&
                     g_strcmp0(gst_structure_get_string(s, "stage"), "ready") == 0;
  if (ready || GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_ready = g_ready || ready;
    g_failed = g_failed || GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR;
    g_cv.notify_all();
  }
  return GST_BUS_PASS;
}

GstPadProbeReturn HoldUntilReady(GstPad*, GstPadProbeInfo*, gpointer) {
  std::unique_lock<std::mutex> lock(g_mutex);
  g_cv.wait(lock, [] { return g_ready || g_failed; });
  return GST_PAD_PROBE_REMOVE;
}

GstPadProbeReturn PrintMeta(GstPad*, GstPadProbeInfo* info, gpointer) {
  if (g_frames++ == 0) g_first = std::chrono::steady_clock::now();
  if (g_quiet) return GST_PAD_PROBE_OK;
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  EdgertMeta* meta = gst_buffer_get_edgert_meta(buf);
  if (meta == nullptr) {
    std::printf("{\"pts\":%" G_GUINT64_FORMAT ",\"meta\":null}\n", GST_BUFFER_PTS(buf));
    return GST_PAD_PROBE_OK;
  }
  gchar* json = edgert_meta_to_json(meta);
  std::string tensors = "[";
  for (guint i = 0; i < edgert_meta_num_tensors(meta); ++i) {
    EdgertTensor t;
    if (!edgert_meta_get_tensor(meta, i, &t)) continue;
    gint64 n = 1;
    for (guint d = 0; d < t.rank; ++d) n *= t.dims[d];
    tensors += std::string(i ? "," : "") + "{\"name\":\"" + t.name + "\",\"data\":[";
    for (gint64 k = 0; k < n; ++k) {
      char num[32];
      std::snprintf(num, sizeof(num), "%s%.7g", k ? "," : "", static_cast<double>(t.data[k]));
      tensors += num;
    }
    tensors += "]}";
  }
  tensors += "]";
  std::printf("{\"pts\":%" G_GUINT64_FORMAT ",\"frame\":%" G_GUINT64_FORMAT
              ",\"stale\":%s,\"results\":%s,"
              "\"tensors\":%s}\n",
              GST_BUFFER_PTS(buf), meta->frame_number, meta->stale ? "true" : "false", json, tensors.c_str());
  g_free(json);
  return GST_PAD_PROBE_OK;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  if (argc == 3 && std::string(argv[1]) == "--quiet") {
    g_quiet = true;
    argv[1] = argv[2];
    argc = 2;
  }
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s [--quiet] 'PIPELINE with edgertinfer name=infer'\n", argv[0]);
    return 2;
  }
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(argv[1], &err);
  if (pipeline == nullptr || err != nullptr) {
    std::fprintf(stderr, "parse error: %s\n", err ? err->message : "?");
    return 2;
  }
  GstElement* infer = gst_bin_get_by_name(GST_BIN(pipeline), "infer");
  if (infer == nullptr) {
    std::fprintf(stderr, "no element named infer\n");
    return 2;
  }
  GstPad* sink = gst_element_get_static_pad(infer, "sink");
  GstPad* src = gst_element_get_static_pad(infer, "src");
  gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_BUFFER, HoldUntilReady, nullptr, nullptr);
  gst_pad_add_probe(src, GST_PAD_PROBE_TYPE_BUFFER, PrintMeta, nullptr, nullptr);
  GstBus* bus = gst_element_get_bus(pipeline);
  gst_bus_set_sync_handler(bus, OnSyncMessage, nullptr, nullptr);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE,
                                               static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  int rc = 0;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(msg, &e, &debug);
    std::fprintf(stderr, "ERROR: %s (%s)\n", e->message, debug ? debug : "");
    g_error_free(e);
    g_free(debug);
    rc = 1;
  }
  gst_message_unref(msg);
  const double seconds =
      g_frames > 0 ? std::chrono::duration<double>(std::chrono::steady_clock::now() - g_first).count() : 0.0;
  gint64 copies = -1;
  gchar* backend = nullptr;
  g_object_get(infer, "frame-copies", &copies, "backend", &backend, nullptr);
  std::printf("{\"frame_copies\":%" G_GINT64_FORMAT ",\"backend\":\"%s\",\"frames\":%lld,\"seconds\":%.6f}\n", copies,
              backend ? backend : "", static_cast<long long>(g_frames), seconds);
  g_free(backend);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(src);
  gst_object_unref(infer);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  return rc;
}
