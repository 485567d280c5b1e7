// The GStreamer pipeline of one edgert-app source, in gst-launch-1.0 syntax (what --print-pipeline
// prints and what the app hands to gst_parse_launch, so the two never differ):
//
//   SOURCE ! videoconvert [! videoscale ! videorate ! video/x-raw,width=W,height=H,framerate=F]
//     ! edgertinfer name=infer PROPERTIES [! edgertoverlay name=overlay] ! tee name=t
//     t. ! queue ! SINK ...  (one branch per display/file/rtsp/fake sink; a json-only config gets a
//                             fakesink: JSON lines come from a pad probe on infer's src pad)
//
// SOURCE: v4l2src name=src device=... ! decodebin name=decode | uridecodebin name=src
// uri=file://... caps=video/x-raw expose-all-streams=false | rtspsrc name=src location=...
// latency=200 ! decodebin name=decode | videotestsrc name=src is-live=true pattern=... . File sinks encode with the
// first available H.264 encoder (nvv4l2h264enc on Jetson, x264enc, openh264enc; .mkv also vp8enc) into mp4mux /
// matroskamux. An rtsp sink (sinks[i]) encodes H.264 (keyframes every 30 frames) into "appsink name=rtsp<i>", which
// rtsp_out.h serves.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "app_config.h"
#include "edgert/status.h"

namespace edgert::app {

struct PipelineDescription {
  std::string launch;                  // gst-launch-1.0 syntax, without "gst-launch-1.0"
  std::vector<std::string> factories;  // element factories it uses (for CheckFactories)
};

// Whether an element factory exists (gst_element_factory_find in the app; a fixed set in tests).
using HasFactory = std::function<bool(const std::string&)>;

// The pipeline of `source`. `rtsp_server`: whether this build serves RTSP (gst-rtsp-server found);
// without it an rtsp sink is Unsupported, naming the package.
StatusOr<PipelineDescription> DescribePipeline(const AppConfig& app, const SourceConfig& source,
                                               const HasFactory& has_factory, bool rtsp_server = false);

// The mount of `source`'s stream for an rtsp sink's `mount`: the mount itself with one source,
// "<mount>/<source>" with several.
std::string RtspMount(const std::string& mount, const std::string& source, size_t source_count);

// NotFound naming the first missing factory and the package that provides it.
Status CheckFactories(const std::vector<std::string>& factories, const HasFactory& has_factory);

// The Debian package (or build target) providing an element factory.
std::string PackageOf(const std::string& factory);

// Quotes a property value for gst-launch syntax when needed ("a b" -> "\"a b\"").
std::string QuoteValue(const std::string& value);

}  // namespace edgert::app
