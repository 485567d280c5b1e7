// Pipeline descriptions for edgert-app (layout: pipeline_description.h).
#include "pipeline_description.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace edgert::app {

std::string PackageOf(const std::string& factory) {
  static const std::map<std::string, std::string> kPackages = {
      {"edgertinfer",
       "the edgert GStreamer plugin libgstedgert.so (build target gstedgert; set GST_PLUGIN_PATH "
       "to its directory or install edgert's gst package)"},
      {"edgertoverlay",
       "the edgert GStreamer plugin libgstedgert.so (build target gstedgert; set GST_PLUGIN_PATH "
       "to its directory or install edgert's gst package)"},
      {"tee", "libgstreamer1.0-0"},
      {"queue", "libgstreamer1.0-0"},
      {"fakesink", "libgstreamer1.0-0"},
      {"appsink", "gstreamer1.0-plugins-base"},
      {"rtph264pay", "gstreamer1.0-plugins-good"},
      {"filesink", "libgstreamer1.0-0"},
      {"videoconvert", "gstreamer1.0-plugins-base"},
      {"videoscale", "gstreamer1.0-plugins-base"},
      {"videorate", "gstreamer1.0-plugins-base"},
      {"videotestsrc", "gstreamer1.0-plugins-base"},
      {"uridecodebin", "gstreamer1.0-plugins-base"},
      {"decodebin", "gstreamer1.0-plugins-base"},
      {"v4l2src", "gstreamer1.0-plugins-good"},
      {"rtspsrc", "gstreamer1.0-plugins-good"},
      {"autovideosink", "gstreamer1.0-plugins-good"},
      {"mp4mux", "gstreamer1.0-plugins-good"},
      {"matroskamux", "gstreamer1.0-plugins-good"},
      {"vp8enc", "gstreamer1.0-plugins-good"},
      {"x264enc", "gstreamer1.0-plugins-ugly"},
      {"openh264enc", "gstreamer1.0-plugins-bad"},
      {"h264parse", "gstreamer1.0-plugins-bad"},
      {"nvv4l2h264enc", "nvidia-l4t-gstreamer (JetPack)"},
      {"nvvidconv", "nvidia-l4t-gstreamer (JetPack)"},
  };
  const auto it = kPackages.find(factory);
  return it == kPackages.end() ? std::string("an unknown package") : it->second;
}

std::string QuoteValue(const std::string& value) {
  const bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string("/._-+:,=").find(c) != std::string::npos;
  });
  if (plain) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

Status CheckFactories(const std::vector<std::string>& factories, const HasFactory& has_factory) {
  for (const std::string& f : factories) {
    if (!has_factory(f)) {
      return NotFound("the GStreamer element '" + f + "' is not installed; it comes with " + PackageOf(f), f);
    }
  }
  return Status::Ok();
}

namespace {

class Builder {
 public:
  // Appends "factory props" (no link).
  Builder& Element(const std::string& factory, const std::string& props = "") {
    out_ << factory;
    if (!props.empty()) out_ << ' ' << props;
    if (std::find(factories_.begin(), factories_.end(), factory) == factories_.end()) factories_.push_back(factory);
    return *this;
  }
  Builder& Link() {
    out_ << " ! ";
    return *this;
  }
  Builder& Raw(const std::string& text) {
    out_ << text;
    return *this;
  }
  // A factory used outside this description (the RTSP media's payloader).
  Builder& Require(const std::string& factory) {
    if (std::find(factories_.begin(), factories_.end(), factory) == factories_.end()) factories_.push_back(factory);
    return *this;
  }
  PipelineDescription Done() { return {out_.str(), factories_}; }

 private:
  std::ostringstream out_;
  std::vector<std::string> factories_;
};

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// The encoder (+ parser) for a file or rtsp sink: the first available, else the portable default
// (so the missing-element check names it). `vp8_ok`: .mkv files; `rtsp`: keyframes every 30 frames
// so that a client joining the stream starts within a second. The software H.264 encoders get 4:2:0
// frames: from RGB, x264enc would otherwise pick High 4:4:4, which most players and hardware
// decoders cannot play.
void Encoder(Builder& b, bool vp8_ok, bool rtsp, const HasFactory& has) {
  if (has("nvv4l2h264enc") && has("nvvidconv")) {
    b.Element("nvvidconv").Link().Element("nvv4l2h264enc", rtsp ? "iframeinterval=30 insert-sps-pps=true" : "");
    b.Link().Element("h264parse");
  } else if (has("x264enc") || !((has("openh264enc")) || (vp8_ok && has("vp8enc")))) {
    b.Raw("video/x-raw,format=I420").Link();
    b.Element("x264enc", std::string("tune=zerolatency speed-preset=veryfast") + (rtsp ? " key-int-max=30" : ""));
    b.Link().Element("h264parse");
  } else if (has("openh264enc")) {
    b.Raw("video/x-raw,format=I420").Link();
    b.Element("openh264enc", rtsp ? "gop-size=30" : "").Link().Element("h264parse");
  } else {
    b.Element("vp8enc", "deadline=1");
  }
}

}  // namespace

std::string RtspMount(const std::string& mount, const std::string& source, size_t source_count) {
  if (source_count <= 1) return mount;
  return (mount.size() > 1 && mount.back() == '/' ? mount : mount + "/") + source;
}

StatusOr<PipelineDescription> DescribePipeline(const AppConfig& app, const SourceConfig& source,
                                               const HasFactory& has_factory, bool rtsp_server) {
  Builder b;
  // 1. The source, decoded to raw video ("src" and "decode": edgert-app restarts a live source
  //    after errors of these elements only).
  switch (source.kind) {
    case SourceKind::kV4l2:
      b.Element("v4l2src", "name=src device=" + QuoteValue(source.location)).Link().Element("decodebin", "name=decode");
      break;
    case SourceKind::kFile:
      b.Element("uridecodebin", "name=src uri=" + QuoteValue("file://" + source.location) +
                                    " caps=video/x-raw expose-all-streams=false");
      break;
    case SourceKind::kRtsp:
      b.Element("rtspsrc", "name=src location=" + QuoteValue(source.location) + " latency=200")
          .Link()
          .Element("decodebin", "name=decode");
      break;
    case SourceKind::kTest:
      b.Element("videotestsrc", "name=src is-live=true pattern=" + source.location);
      break;
  }
  b.Link().Element("videoconvert");
  // 2. Optional size and rate.
  if (source.width > 0 || source.fps_num > 0) {
    std::string caps = "video/x-raw";
    if (source.width > 0) {
      b.Link().Element("videoscale");
      caps += ",width=" + std::to_string(source.width) + ",height=" + std::to_string(source.height);
    }
    if (source.fps_num > 0) {
      b.Link().Element("videorate");
      caps += ",framerate=" + std::to_string(source.fps_num) + "/" + std::to_string(source.fps_den);
    }
    b.Link().Raw(caps);
  }
  // 3. Inference.
  const InferenceConfig& inf = app.inference;
  std::string props = "name=infer";
  auto prop = [&](const char* name, const std::string& value) {
    if (!value.empty()) props += std::string(" ") + name + "=" + QuoteValue(value);
  };
  auto int_prop = [&](const char* name, int value) {
    if (value > 0) props += std::string(" ") + name + "=" + std::to_string(value);
  };
  prop("model", inf.model);
  prop("plan", inf.plan);
  prop("config", inf.config);
  prop("precision", inf.precision);
  int_prop("batch-size", inf.batch_size);
  int_prop("interval", inf.interval);
  prop("device", inf.device);
  prop("cache-dir", inf.cache_dir);
  int_prop("calibration-frames", inf.calibration.frames);
  int_prop("calibration-interval", inf.calibration.interval);
  prop("calibration-dir", inf.calibration.dir);
  b.Link().Element("edgertinfer", props);

  bool visual = false;
  for (const SinkConfig& s : app.sinks) {
    if (s.type == SinkType::kRtsp && !rtsp_server) {
      return Unsupported(
          "the rtsp sink needs gst-rtsp-server (Debian libgstrtspserver-1.0-dev), which this edgert-app was built "
          "without; use a file or display sink, or serve a file sink's output with another RTSP server",
          "rtsp");
    }
    visual = visual || s.type == SinkType::kDisplay || s.type == SinkType::kFile || s.type == SinkType::kRtsp;
  }
  if (visual && inf.overlay) b.Link().Element("edgertoverlay", "name=overlay");
  b.Link().Element("tee", "name=t");

  // 4. One branch per sink (json sinks are pad probes; a json-only config still needs a sink).
  bool any_branch = false;
  for (size_t i = 0; i < app.sinks.size(); ++i) {
    const SinkConfig& s = app.sinks[i];
    switch (s.type) {
      case SinkType::kDisplay:
        b.Raw(" t. ! ").Element("queue").Link().Element("videoconvert").Link().Element("autovideosink");
        any_branch = true;
        break;
      case SinkType::kFile: {
        const bool mkv = s.path.size() >= 4 && s.path.compare(s.path.size() - 4, 4, ".mkv") == 0;
        b.Raw(" t. ! ").Element("queue").Link().Element("videoconvert").Link();
        Encoder(b, mkv, false, has_factory);
        b.Link().Element(mkv ? "matroskamux" : "mp4mux").Link();
        b.Element("filesink", "location=" + QuoteValue(Replace(s.path, "{source}", source.name)));
        any_branch = true;
        break;
      }
      case SinkType::kFake:
        b.Raw(" t. ! ").Element("queue").Link().Element("fakesink", "sync=false");
        any_branch = true;
        break;
      case SinkType::kRtsp:
        b.Raw(" t. ! ").Element("queue").Link().Element("videoconvert").Link();
        Encoder(b, false, true, has_factory);
        b.Link().Raw("video/x-h264,stream-format=byte-stream,alignment=au ! ");
        b.Element("appsink", "name=rtsp" + std::to_string(i) + " sync=false max-buffers=30 drop=true");
        b.Require("rtph264pay");
        any_branch = true;
        break;
      case SinkType::kJson:
        break;
    }
  }
  if (!any_branch) b.Raw(" t. ! ").Element("queue").Link().Element("fakesink", "name=jsonsink sync=false");
  return b.Done();
}

}  // namespace edgert::app
