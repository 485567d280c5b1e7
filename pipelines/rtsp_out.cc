// RTSP output (rtsp_out.h).
#include "rtsp_out.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/rtsp-server/rtsp-server.h>

#include <mutex>

namespace edgert::app {

struct RtspOut::Stream {
  std::mutex mutex;
  GstElement* appsrc = nullptr;  // of the prepared media (ref), or null
  GstCaps* caps = nullptr;       // the appsink's caps once known (ref)
};

namespace {

GstFlowReturn OnSample(GstAppSink* sink, gpointer data) {
  auto* stream = static_cast<RtspOut::Stream*>(data);
  GstSample* sample = gst_app_sink_pull_sample(sink);
  if (!sample) return GST_FLOW_EOS;
  GstElement* appsrc = nullptr;
  {
    std::lock_guard<std::mutex> lock(stream->mutex);
    if (!stream->caps) {
      GstCaps* caps = gst_sample_get_caps(sample);
      if (caps) stream->caps = gst_caps_ref(caps);
      if (stream->appsrc && stream->caps) g_object_set(stream->appsrc, "caps", stream->caps, nullptr);
    }
    if (stream->appsrc) appsrc = GST_ELEMENT(gst_object_ref(stream->appsrc));
  }
  if (appsrc) {
    // The media runs on its own clock: the appsrc stamps each access unit when it is pushed.
    GstBuffer* buffer = gst_buffer_copy(gst_sample_get_buffer(sample));
    GST_BUFFER_PTS(buffer) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DTS(buffer) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION(buffer) = GST_CLOCK_TIME_NONE;
    gst_app_src_push_buffer(GST_APP_SRC(appsrc), buffer);
    gst_object_unref(appsrc);
  }
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

void OnUnprepared(GstRTSPMedia*, gpointer data) {
  auto* stream = static_cast<RtspOut::Stream*>(data);
  std::lock_guard<std::mutex> lock(stream->mutex);
  if (stream->appsrc) gst_object_unref(stream->appsrc);
  stream->appsrc = nullptr;
}

void OnMediaConfigure(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer data) {
  auto* stream = static_cast<RtspOut::Stream*>(data);
  GstElement* bin = gst_rtsp_media_get_element(media);
  GstElement* appsrc = gst_bin_get_by_name_recurse_up(GST_BIN(bin), "src");
  gst_object_unref(bin);
  if (!appsrc) return;
  g_object_set(appsrc, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", TRUE, nullptr);
  std::lock_guard<std::mutex> lock(stream->mutex);
  if (stream->caps) g_object_set(appsrc, "caps", stream->caps, nullptr);
  if (stream->appsrc) gst_object_unref(stream->appsrc);
  stream->appsrc = appsrc;  // takes the reference
  g_signal_connect(media, "unprepared", G_CALLBACK(OnUnprepared), stream);
}

}  // namespace

RtspOut::RtspOut() = default;

RtspOut::~RtspOut() {
  for (guint id : server_sources_) g_source_remove(id);
  for (auto& [port, server] : servers_) g_object_unref(server);
  for (auto& stream : streams_) {
    if (stream->appsrc) gst_object_unref(stream->appsrc);
    if (stream->caps) gst_caps_unref(stream->caps);
  }
}

Status RtspOut::Serve(int port, const std::string& mount, GstElement* appsink) {
  GstRTSPServer* server = nullptr;
  auto it = servers_.find(port);
  if (it == servers_.end()) {
    server = gst_rtsp_server_new();
    gst_rtsp_server_set_service(server, std::to_string(port).c_str());
    GError* error = nullptr;
    GSocket* socket = gst_rtsp_server_create_socket(server, nullptr, &error);
    if (!socket) {
      std::string message = error ? error->message : "unknown error";
      if (error) g_error_free(error);
      g_object_unref(server);
      return IoError(
          "the RTSP server cannot listen on port " + std::to_string(port) + ": " + message + "; choose another port",
          "port");
    }
    g_object_unref(socket);  // create_socket only probes; attach binds again
    const guint id = gst_rtsp_server_attach(server, nullptr);
    if (id == 0) {
      g_object_unref(server);
      return IoError("the RTSP server cannot listen on port " + std::to_string(port) + "; choose another port", "port");
    }
    server_sources_.push_back(id);
    servers_[port] = G_OBJECT(server);
  } else {
    server = GST_RTSP_SERVER(it->second);
  }
  streams_.push_back(std::make_unique<Stream>());
  Stream* stream = streams_.back().get();

  GstRTSPMediaFactory* factory = gst_rtsp_media_factory_new();
  gst_rtsp_media_factory_set_launch(factory,
                                    "( appsrc name=src ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )");
  gst_rtsp_media_factory_set_shared(factory, TRUE);
  g_signal_connect(factory, "media-configure", G_CALLBACK(OnMediaConfigure), stream);
  GstRTSPMountPoints* mounts = gst_rtsp_server_get_mount_points(server);
  gst_rtsp_mount_points_add_factory(mounts, mount.c_str(), factory);  // takes the factory
  g_object_unref(mounts);

  GstAppSinkCallbacks callbacks = {};
  callbacks.new_sample = OnSample;
  gst_app_sink_set_callbacks(GST_APP_SINK(appsink), &callbacks, stream, nullptr);
  urls_.push_back("rtsp://0.0.0.0:" + std::to_string(port) + mount);
  return Status::Ok();
}

}  // namespace edgert::app
