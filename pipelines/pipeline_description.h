// The GStreamer pipeline of one edgert-app source, in gst-launch-1.0 syntax (what --print-pipeline
// prints and what the app hands to gst_parse_launch, so the two never differ):
//
//   SOURCE ! videoconvert [! videoscale ! videorate ! video/x-raw,width=W,height=H,framerate=F]
//     ! edgertinfer name=infer PROPERTIES [! edgertoverlay name=overlay] ! tee name=t
//     t. ! queue ! SINK ...  (one branch per display/file/fake sink; a json-only config gets a
//                             fakesink: JSON lines come from a pad probe on infer's src pad)
//
// SOURCE: v4l2src device=... ! decodebin | uridecodebin uri=file://... caps=video/x-raw
// expose-all-streams=false | rtspsrc location=... latency=200 ! decodebin | videotestsrc
// is-live=true pattern=... . File sinks encode with the first available H.264 encoder
// (nvv4l2h264enc on Jetson, x264enc, openh264enc; .mkv also vp8enc) into mp4mux / matroskamux.
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

// The pipeline of `source`. Unsupported: an rtsp sink (this build has no gst-rtsp-server).
StatusOr<PipelineDescription> DescribePipeline(const AppConfig& app, const SourceConfig& source,
                                               const HasFactory& has_factory);

// NotFound naming the first missing factory and the package that provides it.
Status CheckFactories(const std::vector<std::string>& factories, const HasFactory& has_factory);

// The Debian package (or build target) providing an element factory.
std::string PackageOf(const std::string& factory);

// Quotes a property value for gst-launch syntax when needed ("a b" -> "\"a b\"").
std::string QuoteValue(const std::string& value);

}  // namespace edgert::app
