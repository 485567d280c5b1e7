// edgert-app config parser (schema: app_config.h).
//
// Algorithm:
//   1. yaml-cpp parses the text (a syntax error is one path:line:column error; no yaml-cpp
//      exception leaves this file).
//   2. Each mapping is checked against its known keys (unknown keys: did-you-mean), each scalar is
//      converted by hand so that wrong types and ranges name the key, the value's mark and the fix.
//   3. Cross-field checks: source names unique, width/height together, a model to run (model, plan
//      or the model config's `model`), files that must exist.
//   4. The model config named by inference.config is parsed by edgert::vision::LoadModelConfig and
//      its error lines are appended (they carry their own file:line:column).
//   5. Every error is collected; the result is one InvalidArgument with one error per line.
#include "app_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "edgert/vision/config_text.h"
#include "edgert/vision/model_config.h"
#include "edgert/vision/yaml_errors.h"

namespace edgert::app {

namespace fs = std::filesystem;

const char* SinkTypeName(SinkType type) {
  switch (type) {
    case SinkType::kDisplay:
      return "display";
    case SinkType::kFile:
      return "file";
    case SinkType::kRtsp:
      return "rtsp";
    case SinkType::kFake:
      return "fake";
    case SinkType::kJson:
      return "json";
  }
  return "unknown";
}

namespace {

// The shared error collector plus the typed readers of the app config.
class Checker : public vision::YamlErrors {
 public:
  explicit Checker(std::string path) : YamlErrors(std::move(path)) {}

  bool Map(const YAML::Node& node, const std::string& key, const std::vector<std::string>& known) {
    if (!node.IsMap()) {
      Add(node.Mark(), key,
          std::string("expected a mapping, got ") + vision::YamlNodeKind(node) + "; write the keys indented below '" +
              key + ":'");
      return false;
    }
    for (const auto& kv : node) {
      const std::string name = kv.first.Scalar();
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      const std::string guess = vision::ClosestWord(name, known);
      Add(kv.first.Mark(), key.empty() ? name : key + "." + name,
          "unknown key; " + (guess.empty() ? "known keys here: " + vision::JoinAlternatives(known)
                                           : "did you mean '" + guess + "'?"));
    }
    return true;
  }

  bool String(const YAML::Node& node, const std::string& key, std::string* out) {
    if (!node.IsScalar() || node.Scalar().empty()) {
      Add(node.Mark(), key,
          std::string("expected a non-empty string, got ") +
              (node.IsScalar() ? "an empty one" : vision::YamlNodeKind(node)) + "; write e.g. " +
              key.substr(key.rfind('.') + 1) + ": value");
      return false;
    }
    *out = node.Scalar();
    return true;
  }

  bool Int(const YAML::Node& node, const std::string& key, long lo, long hi, int* out) {
    const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
    if (!node.IsScalar()) {
      Add(node.Mark(), key,
          std::string("expected an integer, got ") + vision::YamlNodeKind(node) + "; write a number in " + range);
      return false;
    }
    const std::string& text = node.Scalar();
    errno = 0;
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE) {
      Add(node.Mark(), key, "'" + text + "' is not an integer; write a whole number in " + range);
      return false;
    }
    if (v < lo || v > hi) {
      Add(node.Mark(), key, std::to_string(v) + " is out of range; write a value in " + range);
      return false;
    }
    *out = static_cast<int>(v);
    return true;
  }

  bool Bool(const YAML::Node& node, const std::string& key, bool* out) {
    if (node.IsScalar()) {
      std::string t = node.Scalar();
      std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
      if (t == "true" || t == "yes" || t == "on") return *out = true, true;
      if (t == "false" || t == "no" || t == "off") return *out = false, true;
    }
    Add(node.Mark(), key,
        "'" + (node.IsScalar() ? node.Scalar() : std::string(vision::YamlNodeKind(node))) +
            "' is not a boolean; write true or false");
    return false;
  }

  bool Enum(const YAML::Node& node, const std::string& key, const std::vector<std::string>& names, std::string* out) {
    if (!node.IsScalar()) {
      Add(node.Mark(), key,
          "expected one of " + vision::JoinAlternatives(names) + ", got " + vision::YamlNodeKind(node));
      return false;
    }
    if (std::find(names.begin(), names.end(), node.Scalar()) != names.end()) {
      *out = node.Scalar();
      return true;
    }
    const std::string guess = vision::ClosestWord(node.Scalar(), names);
    Add(node.Mark(), key,
        "unknown value '" + node.Scalar() + "'; " +
            (guess.empty() ? "write " + vision::JoinAlternatives(names)
                           : "did you mean '" + guess + "'? (one of " + vision::JoinAlternatives(names) + ")"));
    return false;
  }
};

std::string Resolve(const std::string& yaml_path, const std::string& file) {
  fs::path p(file);
  if (p.is_relative()) p = (yaml_path.empty() ? fs::path() : fs::path(yaml_path).parent_path()) / p;
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = p;
  return abs.lexically_normal().string();
}

const std::vector<std::string> kTopKeys = {"sources", "inference", "sinks", "telemetry"};
const std::vector<std::string> kSourceKeys = {"name", "uri", "width", "height", "framerate"};
const std::vector<std::string> kInferenceKeys = {"model",    "plan",   "config",    "precision", "batch-size",
                                                 "interval", "device", "cache-dir", "overlay",   "calibration"};
const std::vector<std::string> kCalibrationKeys = {"frames", "interval", "dir"};
const std::vector<std::string> kSinkKeys = {"type", "path", "port", "mount"};
const std::vector<std::string> kTelemetryKeys = {"interval-seconds"};
const std::vector<std::string> kTestPatterns = {"smpte",
                                                "snow",
                                                "black",
                                                "white",
                                                "red",
                                                "green",
                                                "blue",
                                                "checkers-1",
                                                "checkers-2",
                                                "checkers-4",
                                                "checkers-8",
                                                "circular",
                                                "blink",
                                                "smpte75",
                                                "zone-plate",
                                                "gamut",
                                                "chroma-zone-plate",
                                                "solid-color",
                                                "ball",
                                                "smpte100",
                                                "bar",
                                                "pinwheel",
                                                "spokes",
                                                "gradient",
                                                "colors"};

// "30", "30/1", "30000/1001".
bool ParseFramerate(const std::string& text, int* num, int* den) {
  const size_t slash = text.find('/');
  const std::string a = text.substr(0, slash);
  const std::string b = slash == std::string::npos ? "1" : text.substr(slash + 1);
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(a.c_str(), &end, 10);
  if (a.empty() || *end != '\0' || errno) return false;
  const long d = std::strtol(b.c_str(), &end, 10);
  if (b.empty() || *end != '\0' || errno || d <= 0 || n <= 0 || n > 1000000 || d > 1000000) return false;
  *num = static_cast<int>(n);
  *den = static_cast<int>(d);
  return true;
}

void ParseUri(Checker& c, const YAML::Node& node, const std::string& key, const std::string& path, bool check_files,
              SourceConfig* s) {
  if (!c.String(node, key, &s->uri)) return;
  const std::string& uri = s->uri;
  const size_t sep = uri.find("://");
  const std::string scheme = sep == std::string::npos ? "" : uri.substr(0, sep);
  const std::string rest = sep == std::string::npos ? "" : uri.substr(sep + 3);
  if (scheme == "v4l2") {
    s->kind = SourceKind::kV4l2;
    s->location = rest.empty() ? "/dev/video0" : rest;
    if (s->location.rfind("/dev/", 0) != 0) {
      c.Add(node.Mark(), key, "'" + uri + "' does not name a device; write v4l2:///dev/video0");
    }
  } else if (scheme == "file") {
    s->kind = SourceKind::kFile;
    if (rest.empty()) {
      c.Add(node.Mark(), key, "'" + uri + "' names no file; write file:///absolute/path.mp4 or file://relative.mp4");
      return;
    }
    s->location = Resolve(path, rest);
    std::error_code ec;
    if (check_files && !fs::is_regular_file(s->location, ec)) {
      c.Add(node.Mark(), key,
            "the video file '" + s->location +
                "' does not exist; write file:///absolute/path or a path relative to the YAML's directory");
    }
  } else if (scheme == "rtsp" || scheme == "rtsps") {
    s->kind = SourceKind::kRtsp;
    s->location = uri;
    if (rest.empty() || rest[0] == '/') {
      c.Add(node.Mark(), key, "'" + uri + "' names no host; write rtsp://host[:port]/path");
    }
  } else if (scheme == "test") {
    s->kind = SourceKind::kTest;
    // test://pattern[?pattern=NAME]
    std::string host = rest, query;
    const size_t q = rest.find('?');
    if (q != std::string::npos) {
      host = rest.substr(0, q);
      query = rest.substr(q + 1);
    }
    s->location = "smpte";
    if (host != "pattern") {
      c.Add(node.Mark(), key,
            "'" + uri + "' is not a test source; write test://pattern or test://pattern?pattern=ball");
      return;
    }
    if (!query.empty()) {
      if (query.rfind("pattern=", 0) != 0) {
        c.Add(node.Mark(), key, "unknown test source option '" + query + "'; write test://pattern?pattern=ball");
        return;
      }
      const std::string name = query.substr(8);
      if (std::find(kTestPatterns.begin(), kTestPatterns.end(), name) == kTestPatterns.end()) {
        const std::string guess = vision::ClosestWord(name, kTestPatterns);
        c.Add(node.Mark(), key,
              "unknown test pattern '" + name + "'; " +
                  (guess.empty() ? "write one of " + vision::JoinAlternatives(kTestPatterns)
                                 : "did you mean '" + guess + "'?"));
        return;
      }
      s->location = name;
    }
  } else {
    c.Add(node.Mark(), key,
          "'" + uri +
              "' has an unsupported scheme; write v4l2:///dev/video0, file:///path.mp4, rtsp://host/path or "
              "test://pattern");
  }
}

void ParseSources(Checker& c, const YAML::Node& node, const std::string& path, bool check_files, AppConfig* app) {
  if (!node.IsSequence() || node.size() == 0) {
    c.Add(node.Mark(), "sources",
          std::string("expected a non-empty list, got ") +
              (node.IsSequence() ? "an empty one" : vision::YamlNodeKind(node)) +
              "; write sources: [{name: cam0, uri: v4l2:///dev/video0}]");
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string key = "sources[" + std::to_string(i) + "]";
    SourceConfig s;
    s.name = "source" + std::to_string(i);
    if (!c.Map(item, key, kSourceKeys)) continue;
    if (item["name"] && c.String(item["name"], key + ".name", &s.name)) {
      if (!names.insert(s.name).second) {
        c.Add(item["name"].Mark(), key + ".name", "'" + s.name + "' is used by an earlier source; write a unique name");
      }
    } else {
      names.insert(s.name);
    }
    if (!item["uri"]) {
      c.Add(item.Mark(), key + ".uri", "is missing; write uri: v4l2:///dev/video0 (or file://, rtsp://, test://)");
    } else {
      ParseUri(c, item["uri"], key + ".uri", path, check_files, &s);
    }
    if (item["width"]) c.Int(item["width"], key + ".width", 1, 8192, &s.width);
    if (item["height"]) c.Int(item["height"], key + ".height", 1, 8192, &s.height);
    if (static_cast<bool>(item["width"]) != static_cast<bool>(item["height"])) {
      const char* given = item["width"] ? "width" : "height";
      const char* absent = item["width"] ? "height" : "width";
      c.Add(item[given].Mark(), key + "." + given,
            std::string("is given without ") + absent + "; write both (or neither, to keep the source's size)");
    }
    if (item["framerate"]) {
      const YAML::Node f = item["framerate"];
      if (!f.IsScalar() || !ParseFramerate(f.Scalar(), &s.fps_num, &s.fps_den) ||
          static_cast<double>(s.fps_num) / s.fps_den > 1000.0) {
        c.Add(f.Mark(), key + ".framerate",
              "'" + (f.IsScalar() ? f.Scalar() : std::string(vision::YamlNodeKind(f))) +
                  "' is not a frame rate; write frames per second in 1..1000, e.g. 30 or 30000/1001");
        s.fps_num = 0;
        s.fps_den = 1;
      }
    }
    app->sources.push_back(s);
  }
}

void ParseInference(Checker& c, const YAML::Node& node, const std::string& path, bool check_files, AppConfig* app) {
  InferenceConfig& inf = app->inference;
  if (!c.Map(node, "inference", kInferenceKeys)) return;
  std::error_code ec;
  for (const char* key : {"model", "plan"}) {
    std::string value;
    if (!node[key] || !c.String(node[key], std::string("inference.") + key, &value)) continue;
    const std::string resolved = Resolve(path, value);
    (std::string(key) == "model" ? inf.model : inf.plan) = resolved;
    if (check_files && !fs::is_regular_file(resolved, ec)) {
      c.Add(node[key].Mark(), std::string("inference.") + key,
            "the file '" + resolved +
                "' does not exist; write a path relative to the YAML's directory or an absolute one");
    }
  }
  if (node["model"] && node["plan"]) {
    c.Add(node["plan"].Mark(), "inference.plan", "is given together with 'model'; write one of them");
  }
  bool config_ok = false;
  std::string model_from_config;
  if (node["config"]) {
    std::string value;
    if (c.String(node["config"], "inference.config", &value)) {
      inf.config = Resolve(path, value);
      std::ifstream probe(inf.config);
      if (!probe) {
        c.Add(node["config"].Mark(), "inference.config",
              "cannot read the model config '" + inf.config + "'; write a path relative to the YAML's directory");
      } else {
        StatusOr<vision::ModelConfig> mc = vision::LoadModelConfig(inf.config, check_files);
        if (!mc.ok()) {
          c.AddLines(mc.status().message());
        } else {
          config_ok = true;
          model_from_config = mc->model;
        }
      }
    }
  }
  if (!node["model"] && !node["plan"]) {
    if (!node["config"]) {
      c.Add(node.Mark(), "inference", "no model to run; write model: path/to/model.onnx (and config: model.yaml)");
    } else if (config_ok && model_from_config.empty()) {
      c.Add(node["config"].Mark(), "inference.config",
            "no model to run: neither 'model', 'plan' nor this model config's 'model' names one; write model: "
            "path/to/model.onnx");
    }
  }
  if (node["precision"])
    c.Enum(node["precision"], "inference.precision", {"fp32", "fp16", "int8", "best"}, &inf.precision);
  if (node["batch-size"]) c.Int(node["batch-size"], "inference.batch-size", 1, 64, &inf.batch_size);
  if (node["interval"]) c.Int(node["interval"], "inference.interval", 1, 1000, &inf.interval);
  if (node["device"]) c.Enum(node["device"], "inference.device", {"auto", "cpu", "cuda"}, &inf.device);
  if (node["cache-dir"] && c.String(node["cache-dir"], "inference.cache-dir", &inf.cache_dir)) {
    inf.cache_dir = Resolve(path, inf.cache_dir);
  }
  if (node["overlay"]) c.Bool(node["overlay"], "inference.overlay", &inf.overlay);
  if (node["calibration"]) {
    const YAML::Node cal = node["calibration"];
    if (c.Map(cal, "inference.calibration", kCalibrationKeys)) {
      if (cal["frames"]) c.Int(cal["frames"], "inference.calibration.frames", 1, 1000000, &inf.calibration.frames);
      if (cal["interval"]) {
        c.Int(cal["interval"], "inference.calibration.interval", 1, 1000000, &inf.calibration.interval);
      }
      if (cal["dir"] && c.String(cal["dir"], "inference.calibration.dir", &inf.calibration.dir)) {
        inf.calibration.dir = Resolve(path, inf.calibration.dir);
      }
      if (!cal["frames"]) {
        c.Add(cal.Mark(), "inference.calibration.frames", "is missing; write frames: 500 (frames to capture)");
      }
      if (!cal["dir"]) {
        c.Add(cal.Mark(), "inference.calibration.dir", "is missing; write dir: calib (where the frames go)");
      }
    }
  }
}

void ParseSinks(Checker& c, const YAML::Node& node, const std::string& path, AppConfig* app) {
  if (!node.IsSequence() || node.size() == 0) {
    c.Add(node.Mark(), "sinks",
          std::string("expected a non-empty list, got ") +
              (node.IsSequence() ? "an empty one" : vision::YamlNodeKind(node)) + "; write sinks: [{type: display}]");
    return;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string key = "sinks[" + std::to_string(i) + "]";
    if (!c.Map(item, key, kSinkKeys)) continue;
    SinkConfig sink;
    std::string type;
    if (!item["type"]) {
      c.Add(item.Mark(), key + ".type", "is missing; write type: display, file, rtsp, fake or json");
      continue;
    }
    if (!c.Enum(item["type"], key + ".type", {"display", "file", "rtsp", "fake", "json"}, &type)) continue;
    sink.type = type == "display" ? SinkType::kDisplay
                : type == "file"  ? SinkType::kFile
                : type == "rtsp"  ? SinkType::kRtsp
                : type == "fake"  ? SinkType::kFake
                                  : SinkType::kJson;
    auto only = [&](const char* k, std::vector<SinkType> types) {
      if (!item[k] || std::find(types.begin(), types.end(), sink.type) != types.end()) return;
      c.Add(item[k].Mark(), key + "." + k, "is not used by a '" + type + "' sink; remove it");
    };
    only("path", {SinkType::kFile, SinkType::kJson});
    only("port", {SinkType::kRtsp});
    only("mount", {SinkType::kRtsp});
    if (sink.type == SinkType::kFile || sink.type == SinkType::kJson) {
      if (!item["path"]) {
        c.Add(item.Mark(), key + ".path",
              sink.type == SinkType::kFile ? "is missing; write path: out.mp4 (or .mkv)"
                                           : "is missing; write path: results.jsonl (or \"-\" for stdout)");
      } else if (c.String(item["path"], key + ".path", &sink.path)) {
        if (sink.type == SinkType::kFile) {
          const std::string ext = fs::path(sink.path).extension().string();
          if (ext != ".mp4" && ext != ".mkv") {
            c.Add(
                item["path"].Mark(), key + ".path",
                "'" + sink.path + "' has no .mp4 or .mkv extension (the container comes from it); write e.g. out.mp4");
          }
        }
        if (sink.path != "-") sink.path = Resolve(path, sink.path);
      }
    }
    if (sink.type == SinkType::kRtsp) {
      if (item["port"]) c.Int(item["port"], key + ".port", 1, 65535, &sink.port);
      if (item["mount"] && c.String(item["mount"], key + ".mount", &sink.mount) && sink.mount[0] != '/') {
        c.Add(item["mount"].Mark(), key + ".mount", "'" + sink.mount + "' does not start with '/'; write e.g. /edgert");
      }
    }
    app->sinks.push_back(sink);
  }
}

}  // namespace

StatusOr<AppConfig> ParseAppConfig(const std::string& yaml_text, const std::string& path,
                                   const AppConfigOptions& options) {
  const std::string name = path.empty() ? std::string("<app config>") : path;
  Checker c(name);
  YAML::Node loaded;
  try {
    loaded = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    c.Add(e.mark, "", "YAML syntax error: " + e.msg + "; fix the indentation or quoting there");
    return InvalidArgument(c.Joined(), name);
  }
  AppConfig app;
  app.path = path;
  const YAML::Node& root = loaded;  // const: lookups of absent keys must not insert them
  try {
    if (!root.IsMap()) {
      c.Add(root.Mark(), "",
            std::string("the app config must be a mapping, got ") + vision::YamlNodeKind(root) +
                "; write the keys sources, inference and sinks");
      return InvalidArgument(c.Joined(), name);
    }
    c.Map(root, "", kTopKeys);
    for (const char* key : {"sources", "inference", "sinks"}) {
      if (!root[key]) c.Add(root.Mark(), key, "is missing; see the schema at the top of pipelines/app_config.h");
    }
    if (root["sources"]) ParseSources(c, root["sources"], path, options.check_files, &app);
    if (root["inference"]) ParseInference(c, root["inference"], path, options.check_files, &app);
    if (root["sinks"]) ParseSinks(c, root["sinks"], path, &app);
    if (root["telemetry"]) {
      const YAML::Node t = root["telemetry"];
      if (c.Map(t, "telemetry", kTelemetryKeys) && t["interval-seconds"]) {
        const YAML::Node v = t["interval-seconds"];
        char* end = nullptr;
        const double seconds = v.IsScalar() ? std::strtod(v.Scalar().c_str(), &end) : 0.0;
        if (!v.IsScalar() || v.Scalar().empty() || *end != '\0' || !(seconds > 0.0 && seconds <= 86400.0)) {
          c.Add(v.Mark(), "telemetry.interval-seconds",
                "'" + (v.IsScalar() ? v.Scalar() : std::string(vision::YamlNodeKind(v))) +
                    "' is not a positive number of seconds; write e.g. 5");
        } else {
          app.telemetry_interval_s = seconds;
        }
      }
    }
    // A file sink's path is shared by every source unless it contains "{source}".
    for (size_t i = 0; i < app.sinks.size(); ++i) {
      const SinkConfig& s = app.sinks[i];
      if (s.type == SinkType::kFile && app.sources.size() > 1 && s.path.find("{source}") == std::string::npos) {
        c.Add(root["sinks"][i]["path"].Mark(), "sinks[" + std::to_string(i) + "].path",
              "every source would write the same file; write a path with {source}, e.g. out_{source}.mp4");
      }
    }
  } catch (const YAML::Exception& e) {
    c.Add(e.mark, "", std::string("cannot read the YAML: ") + e.what() + "; check the file's structure");
  }
  if (!c.empty()) return InvalidArgument(c.Joined(), name);
  return app;
}

StatusOr<AppConfig> LoadAppConfig(const std::string& path, const AppConfigOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open the app config '" + path + "'; check the path", path);
  std::ostringstream text;
  text << in.rdbuf();
  return ParseAppConfig(text.str(), path, options);
}

}  // namespace edgert::app
