// RTSP output for edgert-app (built when gst-rtsp-server, Debian libgstrtspserver-1.0-dev, is found;
// EDGERT_APP_HAVE_RTSP_SERVER).
//
// Algorithm:
//   1. The source pipeline encodes the annotated frames to H.264 and ends that branch in an appsink
//      (pipeline_description.h: "appsink name=rtsp<N>").
//   2. One GstRTSPServer per port, attached to the default main context; each source's stream is a
//      shared media factory at its mount ("mount" for one source, "mount/<source>" for several)
//      whose pipeline is "( appsrc name=src ! h264parse ! rtph264pay name=pay0 )".
//   3. The appsink's new-sample callback (the source's streaming thread) pushes each access unit,
//      re-timestamped by the appsrc (do-timestamp), into the appsrc of the prepared media, if any
//      client is watching; media-configure / unprepared (main thread) set and clear that appsrc.
//
// Threads: `mutex` guards the appsrc pointer and the caps; everything else is main-thread only.
#pragma once

#include <gst/gst.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app_config.h"
#include "edgert/status.h"

namespace edgert::app {

class RtspOut {
 public:
  RtspOut();
  ~RtspOut();
  RtspOut(const RtspOut&) = delete;
  RtspOut& operator=(const RtspOut&) = delete;

  // Serves the H.264 stream of `appsink` (owned by the source's pipeline, which outlives this
  // object's use of it) at rtsp://0.0.0.0:<port><mount>.
  Status Serve(int port, const std::string& mount, GstElement* appsink);
  // "rtsp://<host>:<port><mount>" of every stream (for the startup message).
  const std::vector<std::string>& urls() const { return urls_; }

  struct Stream;  // one served stream (defined in rtsp_out.cc)

 private:
  std::map<int, GObject*> servers_;  // port -> GstRTSPServer (ref)
  std::vector<guint> server_sources_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<std::string> urls_;
};

}  // namespace edgert::app
