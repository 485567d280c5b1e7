// edgert-app CONFIG.yaml: runs edgertinfer on every source of an app config (app_config.h).
//
//   edgert-app CONFIG.yaml [--validate] [--skip-file-checks] [--print-pipeline] [--max-frames N]
//
// Algorithm:
//   1. Parse the config (every error printed as file:line:column; exit 1). --validate stops here
//      (exit 0 when valid); --print-pipeline prints each source's gst-launch-1.0 line and stops.
//   2. gst_init; check that every element factory exists (a missing one names its package); one
//      pipeline per source from gst_parse_launch of the same description.
//   3. A pad probe on edgertinfer's src pad sees each frame: frames carrying an EdgertMeta count
//      towards --max-frames, feed telemetry (inference_ms of non-stale results) and become JSON
//      lines for the json sinks. Frames before the model is loaded carry no meta and are skipped.
//      File sources hold their frames at edgertinfer's sink pad until its session is ready
//      ("edgert-build" stage=ready), so no frame of a file passes without results.
//   4. Each pipeline's bus is watched on the main loop. An error or an end-of-stream of a live
//      source (camera, RTSP, test pattern) restarts that pipeline alone after a backoff that
//      starts at 1 s and doubles up to 30 s (reset after 10 s of frames); errors outside the source
//      part (edgertinfer's model, an encoder, a sink) end the source instead. File sources end at
//      EOS.
//   5. SIGINT/SIGTERM (and --max-frames) send EOS into the pipelines and wait for it to reach the
//      sinks, so MP4 files are finalised; a second signal or 10 s without EOS stops at once.
//   6. Exit status: 0 when every source ended normally, 1 otherwise.
//
// Threads: JSON writing and statistics run on streaming threads (one per pipeline) under the
// writer's / the source's mutex; everything else runs on the main loop's thread.
#include <glib-unix.h>
#include <gst/gst.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "app_config.h"
#include "edgert/gst/edgert_meta.h"
#include "pipeline_description.h"
#ifdef EDGERT_APP_HAVE_RTSP_SERVER
#include "rtsp_out.h"
#endif

namespace edgert::app {
namespace {

using Clock = std::chrono::steady_clock;

#ifdef EDGERT_APP_HAVE_RTSP_SERVER
constexpr bool kRtspServer = true;
#else
constexpr bool kRtspServer = false;
#endif
constexpr int kInitialBackoffMs = 1000;
constexpr int kMaxBackoffMs = 30000;
constexpr double kHealthyRunSeconds = 10.0;
constexpr guint kShutdownTimeoutS = 10;

bool HasFactory(const std::string& name) {
  GstElementFactory* f = gst_element_factory_find(name.c_str());
  if (!f) return false;
  gst_object_unref(f);
  return true;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// One JSON-lines output (a file or stdout), shared by every source writing to it.
class JsonWriter {
 public:
  static StatusOr<std::shared_ptr<JsonWriter>> Open(const std::string& path) {
    if (path == "-") return std::make_shared<JsonWriter>(stdout, false);
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return IoError("cannot write the JSON sink '" + path + "': " + std::strerror(errno), path);
    return std::make_shared<JsonWriter>(f, true);
  }
  JsonWriter(FILE* file, bool owned) : file_(file), owned_(owned) {}
  ~JsonWriter() {
    if (owned_) std::fclose(file_);
  }
  void WriteLine(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }

 private:
  std::mutex mutex_;
  FILE* file_;
  bool owned_;
};

// "name: key=value key=value" with strings unquoted (for edgert-build progress lines).
std::string FormatFields(const GstStructure* s) {
  std::string out = gst_structure_get_name(s);
  out += ":";
  const int n = gst_structure_n_fields(s);
  for (int i = 0; i < n; ++i) {
    const char* field = gst_structure_nth_field_name(s, i);
    const GValue* value = gst_structure_get_value(s, field);
    out += std::string(" ") + field + "=";
    if (G_VALUE_HOLDS_STRING(value)) {
      const char* text = g_value_get_string(value);
      out += text ? text : "";
    } else {
      gchar* text = gst_value_serialize(value);
      out += text ? text : "?";
      g_free(text);
    }
  }
  return out;
}

class App;

// One source's pipeline, its restart policy and its statistics.
class SourceRunner {
 public:
  SourceRunner(App* app, SourceConfig source, std::string launch)
      : app_(app), source_(std::move(source)), launch_(std::move(launch)) {}
  ~SourceRunner();

  Status Create(const std::vector<std::shared_ptr<JsonWriter>>& writers, long max_frames);
  void Start();
  // Sends EOS (or finishes at once when not running); used by signals and --max-frames.
  void RequestEos();
  void ForceStop();
  bool finished() const { return finished_; }
  bool failed() const { return failed_; }
  const std::string& name() const { return source_.name; }
  GstElement* pipeline() const { return pipeline_; }
  void Report(double elapsed_s);

 private:
  static GstPadProbeReturn OnBuffer(GstPad* pad, GstPadProbeInfo* info, gpointer self);
  static gboolean OnBusMessage(GstBus* bus, GstMessage* message, gpointer self);
  static gboolean OnRestart(gpointer self);
  static gboolean OnMaxFrames(gpointer self);
  void HandleFailure(const std::string& why, bool retry);
  // Whether `object` is the source element ("src"), its decoder ("decode") or inside them.
  bool FromSourcePart(GstObject* object) const {
    for (const char* name : {"src", "decode"}) {
      GstElement* e = gst_bin_get_by_name(GST_BIN(pipeline_), name);
      if (!e) continue;
      const bool inside = object == GST_OBJECT(e) || gst_object_has_as_ancestor(object, GST_OBJECT(e));
      gst_object_unref(e);
      if (inside) return true;
    }
    return false;
  }
  void ReleaseHold() {
    if (hold_probe_) gst_pad_remove_probe(infer_sink_, hold_probe_);
    hold_probe_ = 0;
  }
  void Finish(bool failed);

  App* app_;
  SourceConfig source_;
  std::string launch_;
  GstElement* pipeline_ = nullptr;
  guint bus_watch_ = 0;
  GstPad* infer_sink_ = nullptr;  // file sources: where frames wait for the model (hold_probe_)
  gulong hold_probe_ = 0;
  guint restart_timer_ = 0;
  int backoff_ms_ = kInitialBackoffMs;
  Clock::time_point started_;
  bool eos_requested_ = false;
  bool finished_ = false;
  bool failed_ = false;
  long max_frames_ = 0;
  std::vector<std::shared_ptr<JsonWriter>> writers_;

  // Streaming thread state, guarded by stats_mutex_.
  std::mutex stats_mutex_;
  uint64_t frames_with_results_ = 0;  // counts towards --max-frames; the JSON "frame" index
  uint64_t window_frames_ = 0;        // every frame since the last report
  uint64_t frames_since_start_ = 0;
  std::vector<double> window_latencies_ms_;
  bool max_frames_posted_ = false;
};

class App {
 public:
  explicit App(const AppConfig& config) : config_(config) {}

  int Run(long max_frames) {
    loop_ = g_main_loop_new(nullptr, FALSE);
    // First: a signal that arrives while the pipelines are built waits for the main loop.
    const guint sigint = g_unix_signal_add(SIGINT, OnSignal, this);
    const guint sigterm = g_unix_signal_add(SIGTERM, OnSignal, this);
    int status = 0;
    if (!Build(max_frames)) {
      status = 1;
    } else {
      guint telemetry = 0;
      if (config_.telemetry_interval_s > 0) {
        telemetry = g_timeout_add(static_cast<guint>(config_.telemetry_interval_s * 1000), OnTelemetry, this);
        last_report_ = Clock::now();
      }
      for (auto& r : runners_) r->Start();
      if (!AllFinished()) g_main_loop_run(loop_);
      if (telemetry) g_source_remove(telemetry);
    }
    g_source_remove(sigint);
    g_source_remove(sigterm);
    for (auto& r : runners_) {
      r->ForceStop();
      if (r->failed()) status = 1;
    }
    runners_.clear();
#ifdef EDGERT_APP_HAVE_RTSP_SERVER
    rtsp_.reset();
#endif
    g_main_loop_unref(loop_);
    return status;
  }

  // Opens the JSON outputs and builds one runner per source; false after printing why not.
  bool Build(long max_frames) {
    std::map<std::string, std::shared_ptr<JsonWriter>> writers_by_path;
    std::vector<std::shared_ptr<JsonWriter>> writers;
    for (const SinkConfig& s : config_.sinks) {
      if (s.type != SinkType::kJson) continue;
      auto& w = writers_by_path[s.path];
      if (!w) {
        StatusOr<std::shared_ptr<JsonWriter>> opened = JsonWriter::Open(s.path);
        if (!opened.ok()) {
          std::fprintf(stderr, "edgert-app: %s\n", opened.status().message().c_str());
          return false;
        }
        w = *opened;
        writers.push_back(w);
      }
    }
    for (const SourceConfig& source : config_.sources) {
      StatusOr<PipelineDescription> d = DescribePipeline(config_, source, HasFactory, kRtspServer);
      if (!d.ok()) {
        std::fprintf(stderr, "edgert-app: %s\n", d.status().message().c_str());
        return false;
      }
      Status present = CheckFactories(d->factories, HasFactory);
      if (!present.ok()) {
        std::fprintf(stderr, "edgert-app: source '%s': %s\n", source.name.c_str(), present.message().c_str());
        return false;
      }
      runners_.push_back(std::make_unique<SourceRunner>(this, source, d->launch));
      Status created = runners_.back()->Create(writers, max_frames);
      if (created.ok()) created = ServeRtsp(source, runners_.back()->pipeline());
      if (!created.ok()) {
        std::fprintf(stderr, "edgert-app: source '%s': %s\n", source.name.c_str(), created.message().c_str());
        return false;
      }
    }
    return true;
  }

  // Hands each rtsp sink's appsink of `pipeline` to the RTSP server.
  Status ServeRtsp(const SourceConfig& source, GstElement* pipeline) {
    for (size_t i = 0; i < config_.sinks.size(); ++i) {
      const SinkConfig& sink = config_.sinks[i];
      if (sink.type != SinkType::kRtsp) continue;
#ifdef EDGERT_APP_HAVE_RTSP_SERVER
      if (!rtsp_) rtsp_ = std::make_unique<RtspOut>();
      GstElement* appsink = gst_bin_get_by_name(GST_BIN(pipeline), ("rtsp" + std::to_string(i)).c_str());
      if (!appsink) return Internal("the pipeline has no appsink for sinks[" + std::to_string(i) + "]");
      const std::string mount = RtspMount(sink.mount, source.name, config_.sources.size());
      Status served = rtsp_->Serve(sink.port, mount, appsink);
      gst_object_unref(appsink);
      if (!served.ok()) return served;
      std::fprintf(stderr, "edgert-app: source '%s': serving rtsp://<this host>:%d%s\n", source.name.c_str(), sink.port,
                   mount.c_str());
#else
      (void)pipeline;
      return Unsupported("the rtsp sink needs gst-rtsp-server", "rtsp");
#endif
    }
    return Status::Ok();
  }

  // Called by a runner whose source ended for good.
  void SourceFinished() {
    if (AllFinished()) g_main_loop_quit(loop_);
  }
  bool shutting_down() const { return shutting_down_; }

 private:
  bool AllFinished() const {
    return std::all_of(runners_.begin(), runners_.end(), [](const auto& r) { return r->finished(); });
  }

  static gboolean OnSignal(gpointer data) {
    App* app = static_cast<App*>(data);
    if (app->shutting_down_) {
      std::fprintf(stderr, "edgert-app: second signal, stopping now\n");
      g_main_loop_quit(app->loop_);
      return G_SOURCE_CONTINUE;
    }
    std::fprintf(stderr, "edgert-app: stopping (end-of-stream sent to every source)\n");
    app->shutting_down_ = true;
    for (auto& r : app->runners_) r->RequestEos();
    g_timeout_add_seconds(kShutdownTimeoutS, OnShutdownTimeout, app);
    if (app->AllFinished()) g_main_loop_quit(app->loop_);
    return G_SOURCE_CONTINUE;
  }

  static gboolean OnShutdownTimeout(gpointer data) {
    App* app = static_cast<App*>(data);
    std::fprintf(stderr, "edgert-app: no end-of-stream after %u s, stopping now\n", kShutdownTimeoutS);
    g_main_loop_quit(app->loop_);
    return G_SOURCE_REMOVE;
  }

  static gboolean OnTelemetry(gpointer data) {
    App* app = static_cast<App*>(data);
    const Clock::time_point now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - app->last_report_).count();
    app->last_report_ = now;
    for (auto& r : app->runners_) r->Report(elapsed);
    return G_SOURCE_CONTINUE;
  }

  const AppConfig& config_;
  GMainLoop* loop_ = nullptr;
  std::vector<std::unique_ptr<SourceRunner>> runners_;
#ifdef EDGERT_APP_HAVE_RTSP_SERVER
  std::unique_ptr<RtspOut> rtsp_;  // reset after the pipelines that feed it
#endif
  bool shutting_down_ = false;
  Clock::time_point last_report_;
};

SourceRunner::~SourceRunner() { ForceStop(); }

Status SourceRunner::Create(const std::vector<std::shared_ptr<JsonWriter>>& writers, long max_frames) {
  writers_ = writers;
  max_frames_ = max_frames;
  GError* error = nullptr;
  pipeline_ = gst_parse_launch(launch_.c_str(), &error);
  if (error) {
    std::string message = error->message;
    g_error_free(error);
    if (pipeline_) gst_object_unref(pipeline_);
    pipeline_ = nullptr;
    return InvalidArgument("cannot build the pipeline: " + message + " (pipeline: " + launch_ + ")");
  }
  gst_element_set_name(pipeline_, source_.name.c_str());
  GstElement* infer = gst_bin_get_by_name(GST_BIN(pipeline_), "infer");
  if (!infer) return Internal("the pipeline has no element named infer");
  GstPad* pad = gst_element_get_static_pad(infer, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, OnBuffer, this, nullptr);
  gst_object_unref(pad);
  if (!source_.live()) {
    // A file would otherwise run through edgertinfer before its model is loaded: hold its frames
    // until the element reports the session ready (or an error ends the pipeline).
    infer_sink_ = gst_element_get_static_pad(infer, "sink");
    hold_probe_ = gst_pad_add_probe(
        infer_sink_, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER),
        [](GstPad*, GstPadProbeInfo*, gpointer) { return GST_PAD_PROBE_OK; }, nullptr, nullptr);
  }
  gst_object_unref(infer);
  GstBus* bus = gst_element_get_bus(pipeline_);
  bus_watch_ = gst_bus_add_watch(bus, OnBusMessage, this);
  gst_object_unref(bus);
  return Status::Ok();
}

void SourceRunner::Start() {
  restart_timer_ = 0;
  started_ = Clock::now();
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    frames_since_start_ = 0;
  }
  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    // The element that failed posted an error on the bus; OnBusMessage handles it.
    std::fprintf(stderr, "edgert-app: source '%s': the pipeline did not start\n", source_.name.c_str());
  }
}

void SourceRunner::RequestEos() {
  if (finished_) return;
  if (restart_timer_) {  // waiting to restart: nothing is running
    g_source_remove(restart_timer_);
    restart_timer_ = 0;
    Finish(false);
    return;
  }
  eos_requested_ = true;
  ReleaseHold();  // a file still waiting for its model: let the EOS through
  gst_element_send_event(pipeline_, gst_event_new_eos());
}

void SourceRunner::ForceStop() {
  if (restart_timer_) g_source_remove(restart_timer_);
  restart_timer_ = 0;
  if (bus_watch_) g_source_remove(bus_watch_);
  bus_watch_ = 0;
  ReleaseHold();
  if (infer_sink_) gst_object_unref(infer_sink_);
  infer_sink_ = nullptr;
  if (pipeline_) {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
  }
}

GstPadProbeReturn SourceRunner::OnBuffer(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* self = static_cast<SourceRunner*>(data);
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  EdgertMeta* meta = buffer ? gst_buffer_get_edgert_meta(buffer) : nullptr;
  uint64_t index = 0;
  {
    std::lock_guard<std::mutex> lock(self->stats_mutex_);
    ++self->window_frames_;
    ++self->frames_since_start_;
    if (!meta) return GST_PAD_PROBE_OK;  // the model is still loading
    if (self->max_frames_ > 0 && self->frames_with_results_ >= static_cast<uint64_t>(self->max_frames_)) {
      return GST_PAD_PROBE_DROP;  // EOS is on its way
    }
    index = self->frames_with_results_++;
    if (!meta->stale) self->window_latencies_ms_.push_back(meta->inference_ms);
    if (self->max_frames_ > 0 && self->frames_with_results_ == static_cast<uint64_t>(self->max_frames_) &&
        !self->max_frames_posted_) {
      self->max_frames_posted_ = true;
      g_idle_add(OnMaxFrames, self);
    }
  }
  if (!self->writers_.empty()) {
    std::string line =
        "{\"source\":" + JsonString(self->source_.name) + ",\"frame\":" + std::to_string(index) + ",\"pts\":";
    line += GST_BUFFER_PTS_IS_VALID(buffer) ? std::to_string(GST_BUFFER_PTS(buffer)) : std::string("null");
    line += meta->stale ? ",\"stale\":true" : ",\"stale\":false";
    gchar* results = edgert_meta_to_json(meta);
    std::string body = results ? results : "{}";
    g_free(results);
    // Merge the results object's members into this line's object.
    if (body.size() > 2 && body.front() == '{') {
      line += "," + body.substr(1);
    } else {
      line += "}";
    }
    for (const auto& w : self->writers_) w->WriteLine(line);
  }
  return GST_PAD_PROBE_OK;
}

gboolean SourceRunner::OnMaxFrames(gpointer data) {
  auto* self = static_cast<SourceRunner*>(data);
  self->RequestEos();
  return G_SOURCE_REMOVE;
}

gboolean SourceRunner::OnBusMessage(GstBus*, GstMessage* message, gpointer data) {
  auto* self = static_cast<SourceRunner*>(data);
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_EOS:
      if (self->eos_requested_ || self->app_->shutting_down() || !self->source_.live()) {
        self->Finish(false);
      } else {
        self->HandleFailure("the source ended", true);
      }
      break;
    case GST_MESSAGE_ERROR: {
      GError* error = nullptr;
      gchar* debug = nullptr;
      gst_message_parse_error(message, &error, &debug);
      const std::string element = GST_OBJECT_NAME(GST_MESSAGE_SRC(message));
      std::string why = "error from " + element + ": " + (error ? error->message : "unknown");
      if (debug) why += std::string(" (") + debug + ")";
      if (error) g_error_free(error);
      g_free(debug);
      // Only the source part of a live pipeline is restarted: the model, an encoder or a sink that
      // fails is not cured by reconnecting the camera.
      const bool retry =
          self->source_.live() && self->FromSourcePart(GST_MESSAGE_SRC(message)) && !self->app_->shutting_down();
      self->HandleFailure(why, retry);
      break;
    }
    case GST_MESSAGE_WARNING: {
      GError* error = nullptr;
      gst_message_parse_warning(message, &error, nullptr);
      std::fprintf(stderr, "edgert-app: source '%s': warning from %s: %s\n", self->source_.name.c_str(),
                   GST_OBJECT_NAME(GST_MESSAGE_SRC(message)), error ? error->message : "unknown");
      if (error) g_error_free(error);
      break;
    }
    case GST_MESSAGE_ELEMENT: {
      const GstStructure* s = gst_message_get_structure(message);
      const char* stage = s ? gst_structure_get_string(s, "stage") : nullptr;
      if (s && gst_structure_has_name(s, "edgert-build") && stage && std::strcmp(stage, "ready") == 0) {
        self->ReleaseHold();
      }
      if (s && (gst_structure_has_name(s, "edgert-build") || gst_structure_has_name(s, "edgert-calibration"))) {
        std::fprintf(stderr, "edgert-app: source '%s': %s\n", self->source_.name.c_str(), FormatFields(s).c_str());
      }
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

void SourceRunner::HandleFailure(const std::string& why, bool retry) {
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  if (!retry) {
    std::fprintf(stderr, "edgert-app: source '%s': %s\n", source_.name.c_str(), why.c_str());
    Finish(true);
    return;
  }
  const double ran_s = std::chrono::duration<double>(Clock::now() - started_).count();
  bool had_frames = false;
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    had_frames = frames_since_start_ > 0;
  }
  if (had_frames && ran_s >= kHealthyRunSeconds) backoff_ms_ = kInitialBackoffMs;
  std::fprintf(stderr, "edgert-app: source '%s': %s; restarting in %.0f s\n", source_.name.c_str(), why.c_str(),
               backoff_ms_ / 1000.0);
  restart_timer_ = g_timeout_add(backoff_ms_, OnRestart, this);
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
}

gboolean SourceRunner::OnRestart(gpointer data) {
  auto* self = static_cast<SourceRunner*>(data);
  self->restart_timer_ = 0;
  self->Start();
  return G_SOURCE_REMOVE;
}

void SourceRunner::Finish(bool failed) {
  if (finished_) return;
  finished_ = true;
  failed_ = failed;
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  app_->SourceFinished();
}

void SourceRunner::Report(double elapsed_s) {
  uint64_t frames = 0;
  std::vector<double> latencies;
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    frames = window_frames_;
    window_frames_ = 0;
    latencies.swap(window_latencies_ms_);
  }
  const double fps = elapsed_s > 0 ? frames / elapsed_s : 0.0;
  if (latencies.empty()) {
    std::fprintf(stderr, "telemetry: %s: %.1f fps, inference -\n", source_.name.c_str(), fps);
    return;
  }
  // Nearest-rank percentiles.
  auto percentile = [&](double p) {
    const size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(p / 100.0 * latencies.size())));
    std::nth_element(latencies.begin(), latencies.begin() + (rank - 1), latencies.end());
    return latencies[rank - 1];
  };
  const double p50 = percentile(50), p99 = percentile(99);
  std::fprintf(stderr, "telemetry: %s: %.1f fps, inference p50 %.2f ms p99 %.2f ms (%zu inferences)\n",
               source_.name.c_str(), fps, p50, p99, latencies.size());
}

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: edgert-app CONFIG.yaml [--validate] [--skip-file-checks] [--print-pipeline] [--max-frames N]\n"
               "  --validate          check the config (and its model config): every error as file:line:column;\n"
               "                      exit 0 when valid, 1 otherwise\n"
               "  --skip-file-checks  do not require the model / video files to exist (CI)\n"
               "  --print-pipeline    print each source's gst-launch-1.0 pipeline and exit\n"
               "  --max-frames N      stop each source after N frames with results\n");
}

int Main(int argc, char** argv) {
  std::string config_path;
  bool validate = false, print_pipeline = false;
  AppConfigOptions options;
  long max_frames = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--validate") {
      validate = true;
    } else if (arg == "--print-pipeline") {
      print_pipeline = true;
    } else if (arg == "--skip-file-checks") {
      options.check_files = false;
    } else if (arg == "--max-frames" && i + 1 < argc) {
      char* end = nullptr;
      max_frames = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || max_frames < 1) {
        std::fprintf(stderr, "edgert-app: --max-frames needs a positive integer, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (arg == "-h" || arg == "--help") {
      Usage(stdout);
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "edgert-app: unknown option '%s'\n", arg.c_str());
      Usage(stderr);
      return 2;
    } else if (config_path.empty()) {
      config_path = arg;
    } else {
      std::fprintf(stderr, "edgert-app: one config file expected, got '%s' and '%s'\n", config_path.c_str(),
                   arg.c_str());
      return 2;
    }
  }
  if (config_path.empty()) {
    Usage(stderr);
    return 2;
  }
  StatusOr<AppConfig> config = LoadAppConfig(config_path, options);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().message().c_str());
    return 1;
  }
  if (validate) {
    std::printf("%s: valid (%zu source%s, %zu sink%s)\n", config_path.c_str(), config->sources.size(),
                config->sources.size() == 1 ? "" : "s", config->sinks.size(), config->sinks.size() == 1 ? "" : "s");
    return 0;
  }
  gst_init(&argc, &argv);
  if (print_pipeline) {
    for (const SourceConfig& source : config->sources) {
      StatusOr<PipelineDescription> d = DescribePipeline(*config, source, HasFactory, kRtspServer);
      if (!d.ok()) {
        std::fprintf(stderr, "edgert-app: %s\n", d.status().message().c_str());
        return 1;
      }
      std::printf("# %s\ngst-launch-1.0 -e %s\n", source.name.c_str(), d->launch.c_str());
    }
    return 0;
  }
  App app(*config);
  return app.Run(max_frames);
}

}  // namespace
}  // namespace edgert::app

int main(int argc, char** argv) { return edgert::app::Main(argc, argv); }
