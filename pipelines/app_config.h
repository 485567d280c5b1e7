// edgert-app's configuration: one YAML file naming the video sources, the model and the outputs.
// Example (configs/apps/*.yaml hold real ones):
//
//   sources:                        # one GStreamer pipeline per source (required, >= 1)
//     - name: cam0                  # unique; default "source<N>"
//       uri: v4l2:///dev/video0     # v4l2:///dev/videoN | file:///path.mp4 | file://relative.mp4 |
//                                   # rtsp://host[:port]/path | test://pattern[?pattern=ball]
//       width: 1280                 # optional (both or neither), 1..8192: frames are scaled to it
//       height: 720
//       framerate: 30               # optional, 1..1000, or a fraction "30000/1001"
//   inference:                      # edgertinfer's properties (required)
//     model: ../models/net.onnx     # ONNX model (plan from the plan cache) ... or
//     plan: net.plan                # ... a plan built by edgert; neither: the model config's `model`
//     config: ../models/net.yaml    # model config (edgert/vision/model_config.h), validated too
//     precision: fp16               # fp32 | fp16 | int8 | best
//     batch-size: 1                 # 1..64
//     interval: 1                   # infer every Nth frame (1..1000); the others carry stale results
//     device: auto                  # auto | cpu | cuda
//     cache-dir: /var/cache/edgert  # plan cache (default $EDGERT_CACHE_DIR or ~/.cache/edgert)
//     overlay: true                 # draw results (edgertoverlay) before display/file/rtsp sinks
//     calibration:                  # INT8: capture preprocessed frames for calibration
//       frames: 500                 # >= 1
//       interval: 10                # every Nth inferred frame, >= 1
//       dir: /var/lib/edgert/calib  # where the .npy files go
//   sinks:                          # required, >= 1; every source feeds every sink
//     - type: display               # autovideosink
//     - type: file                  # encoded video; path ends in .mp4 or .mkv; with several
//       path: out.mp4               #   sources, "{source}" in the path is replaced by the name
//     - type: rtsp                  # H.264 over RTSP (edgert-app built with gst-rtsp-server,
//       port: 8554                  #   Debian libgstrtspserver-1.0-dev; refused otherwise), 1..65535
//       mount: /edgert              # starts with '/'; with several sources each is served at
//                                   #   <mount>/<source name>
//     - type: fake                  # fakesink (benchmarks)
//     - type: json                  # one JSON line per frame with results; "-" is stdout
//       path: results.jsonl
//   telemetry:
//     interval-seconds: 5           # per-source fps and inference latency p50/p99 (> 0); absent: off
//
// Relative paths (model, plan, config, cache-dir, calibration.dir, file sources and sink paths) are
// relative to the YAML file's directory. Every error is collected (not only the first), each as
// "path:line:column: key 'x': what is wrong; what to write instead".
#pragma once

#include <string>
#include <vector>

#include "edgert/status.h"

namespace edgert::app {

enum class SourceKind { kV4l2, kFile, kRtsp, kTest };

struct SourceConfig {
  std::string name;
  std::string uri;  // as written
  SourceKind kind = SourceKind::kTest;
  std::string location;  // v4l2: device path; file: absolute path; rtsp: the URI; test: pattern name
  int width = 0;         // 0: the source's own size
  int height = 0;
  int fps_num = 0;  // 0: the source's own rate
  int fps_den = 1;
  // Live sources (cameras, RTSP, test patterns) are restarted when they fail or end; files end.
  bool live() const { return kind != SourceKind::kFile; }
};

struct CalibrationConfig {
  int frames = 0;  // 0: no capture
  int interval = 0;
  std::string dir;
};

// Empty strings / zeros: the property is left at edgertinfer's default.
struct InferenceConfig {
  std::string model, plan, config;  // resolved paths
  std::string precision, device, cache_dir;
  int batch_size = 0;
  int interval = 0;
  bool overlay = true;
  CalibrationConfig calibration;
};

enum class SinkType { kDisplay, kFile, kRtsp, kFake, kJson };

struct SinkConfig {
  SinkType type = SinkType::kFake;
  std::string path;  // file, json ("-": stdout); resolved
  int port = 8554;   // rtsp
  std::string mount = "/edgert";
};

struct AppConfig {
  std::string path;
  std::vector<SourceConfig> sources;
  InferenceConfig inference;
  std::vector<SinkConfig> sinks;
  double telemetry_interval_s = 0.0;  // 0: off
};

struct AppConfigOptions {
  // Files that must exist (model, plan, file sources, model config's model): checked unless false
  // (validating on a machine without the models). The model config itself is always read.
  bool check_files = true;
};

// Parses `yaml_text` (`path` for messages and relative paths). On error the InvalidArgument's
// message holds every error found, one per line (the model config's errors included).
StatusOr<AppConfig> ParseAppConfig(const std::string& yaml_text, const std::string& path,
                                   const AppConfigOptions& options = {});
StatusOr<AppConfig> LoadAppConfig(const std::string& path, const AppConfigOptions& options = {});

const char* SinkTypeName(SinkType type);

}  // namespace edgert::app
