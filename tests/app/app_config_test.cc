// edgert-app's config parser and pipeline descriptions: exact error lines and columns (all errors
// collected, the model config's included), resolved paths, the gst-launch lines, and every shipped
// configs/apps/*.yaml.
#include "app_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "pipeline_description.h"

namespace edgert::app {
namespace {

namespace fs = std::filesystem;

class AppConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("edgert_app_config_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Write(dir_ / "net.yaml", "type: classifier\nlabels: [a, b]\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }
  std::string P() const { return (dir_ / "app.yaml").string(); }
  std::string Error(const std::string& yaml) {
    StatusOr<AppConfig> c = ParseAppConfig(yaml, P(), AppConfigOptions{false});
    EXPECT_FALSE(c.ok()) << yaml;
    return c.ok() ? std::string() : c.status().message();
  }
  // A valid config with `sources`/`sinks` replaced.
  static std::string With(const std::string& sources, const std::string& sinks = "sinks:\n  - type: fake\n",
                          const std::string& inference = "inference:\n  model: net.onnx\n  config: net.yaml\n") {
    return sources + inference + sinks;
  }

  fs::path dir_;
};

const char kOneSource[] = "sources:\n  - uri: test://pattern\n";

TEST_F(AppConfigTest, ParsesEverything) {
  Write(dir_ / "net.onnx", "x");
  Write(dir_ / "clip.mp4", "x");
  const std::string yaml =
      "sources:\n"
      "  - name: cam\n"
      "    uri: v4l2:///dev/video2\n"
      "    width: 640\n"
      "    height: 480\n"
      "    framerate: 30000/1001\n"
      "  - uri: file://clip.mp4\n"
      "  - uri: rtsp://10.0.0.1:8554/live\n"
      "  - uri: test://pattern?pattern=ball\n"
      "inference:\n"
      "  model: net.onnx\n"
      "  config: net.yaml\n"
      "  precision: int8\n"
      "  batch-size: 4\n"
      "  interval: 3\n"
      "  device: cuda\n"
      "  cache-dir: plans\n"
      "  overlay: false\n"
      "  calibration:\n"
      "    frames: 100\n"
      "    interval: 5\n"
      "    dir: calib\n"
      "sinks:\n"
      "  - type: display\n"
      "  - type: file\n"
      "    path: out/{source}.mkv\n"
      "  - type: rtsp\n"
      "    port: 9000\n"
      "    mount: /x\n"
      "  - type: fake\n"
      "  - type: json\n"
      "    path: \"-\"\n"
      "telemetry:\n"
      "  interval-seconds: 2.5\n";
  StatusOr<AppConfig> c = ParseAppConfig(yaml, P());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->sources.size(), 4u);
  EXPECT_EQ(c->sources[0].name, "cam");
  EXPECT_EQ(c->sources[0].kind, SourceKind::kV4l2);
  EXPECT_EQ(c->sources[0].location, "/dev/video2");
  EXPECT_EQ(c->sources[0].width, 640);
  EXPECT_EQ(c->sources[0].height, 480);
  EXPECT_EQ(c->sources[0].fps_num, 30000);
  EXPECT_EQ(c->sources[0].fps_den, 1001);
  EXPECT_EQ(c->sources[1].name, "source1");
  EXPECT_EQ(c->sources[1].kind, SourceKind::kFile);
  EXPECT_EQ(c->sources[1].location, (dir_ / "clip.mp4").string());
  EXPECT_FALSE(c->sources[1].live());
  EXPECT_EQ(c->sources[2].kind, SourceKind::kRtsp);
  EXPECT_EQ(c->sources[2].location, "rtsp://10.0.0.1:8554/live");
  EXPECT_TRUE(c->sources[2].live());
  EXPECT_EQ(c->sources[3].kind, SourceKind::kTest);
  EXPECT_EQ(c->sources[3].location, "ball");
  const InferenceConfig& inf = c->inference;
  EXPECT_EQ(inf.model, (dir_ / "net.onnx").string());
  EXPECT_EQ(inf.config, (dir_ / "net.yaml").string());
  EXPECT_EQ(inf.precision, "int8");
  EXPECT_EQ(inf.batch_size, 4);
  EXPECT_EQ(inf.interval, 3);
  EXPECT_EQ(inf.device, "cuda");
  EXPECT_EQ(inf.cache_dir, (dir_ / "plans").string());
  EXPECT_FALSE(inf.overlay);
  EXPECT_EQ(inf.calibration.frames, 100);
  EXPECT_EQ(inf.calibration.interval, 5);
  EXPECT_EQ(inf.calibration.dir, (dir_ / "calib").string());
  ASSERT_EQ(c->sinks.size(), 5u);
  EXPECT_EQ(c->sinks[0].type, SinkType::kDisplay);
  EXPECT_EQ(c->sinks[1].type, SinkType::kFile);
  EXPECT_EQ(c->sinks[1].path, (dir_ / "out" / "{source}.mkv").string());
  EXPECT_EQ(c->sinks[2].type, SinkType::kRtsp);
  EXPECT_EQ(c->sinks[2].port, 9000);
  EXPECT_EQ(c->sinks[2].mount, "/x");
  EXPECT_EQ(c->sinks[4].type, SinkType::kJson);
  EXPECT_EQ(c->sinks[4].path, "-");
  EXPECT_DOUBLE_EQ(c->telemetry_interval_s, 2.5);
}

TEST_F(AppConfigTest, Defaults) {
  StatusOr<AppConfig> c = ParseAppConfig(With(kOneSource), P(), AppConfigOptions{false});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sources[0].name, "source0");
  EXPECT_EQ(c->sources[0].location, "smpte");
  EXPECT_EQ(c->sources[0].width, 0);
  EXPECT_EQ(c->sources[0].fps_num, 0);
  EXPECT_EQ(c->inference.batch_size, 0);
  EXPECT_EQ(c->inference.precision, "");
  EXPECT_TRUE(c->inference.overlay);
  EXPECT_DOUBLE_EQ(c->telemetry_interval_s, 0.0);
}

TEST_F(AppConfigTest, MissingSectionsAndUnknownKeys) {
  EXPECT_EQ(Error("source:\n  - uri: test://pattern\n"),
            P() + ":1:1: key 'source': unknown key; did you mean 'sources'?\n" + P() +
                ":1:1: key 'sources': is missing; see the schema at the top of pipelines/app_config.h\n" + P() +
                ":1:1: key 'inference': is missing; see the schema at the top of pipelines/app_config.h\n" + P() +
                ":1:1: key 'sinks': is missing; see the schema at the top of pipelines/app_config.h");
  EXPECT_EQ(Error(With("sources:\n  - uri: test://pattern\n    widht: 3\n")),
            P() + ":3:5: key 'sources[0].widht': unknown key; did you mean 'width'?");
  EXPECT_EQ(Error("[1]\n"), P() +
                                ":1:1: the app config must be a mapping, got a list; write the keys sources, "
                                "inference and sinks");
}

TEST_F(AppConfigTest, SourceErrors) {
  EXPECT_EQ(Error(With("sources: []\n")),
            P() +
                ":1:10: key 'sources': expected a non-empty list, got an empty one; write sources: [{name: cam0, "
                "uri: v4l2:///dev/video0}]");
  EXPECT_EQ(Error(With("sources:\n  - name: a\n")),
            P() +
                ":2:5: key 'sources[0].uri': is missing; write uri: v4l2:///dev/video0 (or file://, rtsp://, "
                "test://)");
  EXPECT_EQ(Error(With("sources:\n  - uri: http://x/y\n")),
            P() +
                ":2:10: key 'sources[0].uri': 'http://x/y' has an unsupported scheme; write v4l2:///dev/video0, "
                "file:///path.mp4, rtsp://host/path or test://pattern");
  EXPECT_EQ(Error(With("sources:\n  - uri: test://pattern?pattern=bal\n")),
            P() + ":2:10: key 'sources[0].uri': unknown test pattern 'bal'; did you mean 'ball'?");
  EXPECT_EQ(Error(With("sources:\n  - uri: test://patern\n")),
            P() +
                ":2:10: key 'sources[0].uri': 'test://patern' is not a test source; write test://pattern or "
                "test://pattern?pattern=ball");
  EXPECT_EQ(Error(With("sources:\n  - uri: v4l2://video0\n")),
            P() + ":2:10: key 'sources[0].uri': 'v4l2://video0' does not name a device; write v4l2:///dev/video0");
  EXPECT_EQ(Error(With("sources:\n  - uri: rtsp:///x\n")),
            P() + ":2:10: key 'sources[0].uri': 'rtsp:///x' names no host; write rtsp://host[:port]/path");
  EXPECT_EQ(Error(With("sources:\n  - {uri: test://pattern, width: 0, height: 99999}\n")),
            P() + ":2:34: key 'sources[0].width': 0 is out of range; write a value in 1..8192\n" + P() +
                ":2:45: key 'sources[0].height': 99999 is out of range; write a value in 1..8192");
  EXPECT_EQ(Error(With("sources:\n  - uri: test://pattern\n    width: 64\n")),
            P() +
                ":3:12: key 'sources[0].width': is given without height; write both (or neither, to keep the "
                "source's size)");
  EXPECT_EQ(Error(With("sources:\n  - uri: test://pattern\n    framerate: fast\n")),
            P() +
                ":3:16: key 'sources[0].framerate': 'fast' is not a frame rate; write frames per second in "
                "1..1000, e.g. 30 or 30000/1001");
  EXPECT_EQ(Error(With("sources:\n  - {name: a, uri: test://pattern}\n  - {name: a, uri: test://pattern}\n")),
            P() + ":3:12: key 'sources[1].name': 'a' is used by an earlier source; write a unique name");
  StatusOr<AppConfig> c =
      ParseAppConfig(With("sources:\n  - uri: file://nope.mp4\n"), P(), AppConfigOptions{/*check_files=*/true});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(P() + ":2:10: key 'sources[0].uri': the video file '" +
                                      (dir_ / "nope.mp4").string() + "' does not exist"),
            std::string::npos)
      << c.status().message();
}

TEST_F(AppConfigTest, InferenceErrors) {
  EXPECT_EQ(Error(With(kOneSource, "sinks:\n  - type: fake\n", "inference:\n  device: gpu\n")),
            P() + ":4:3: key 'inference': no model to run; write model: path/to/model.onnx (and config: model.yaml)\n" +
                P() +
                ":4:11: key 'inference.device': unknown value 'gpu'; did you mean 'cpu'? (one of auto, cpu or cuda)");
  EXPECT_EQ(Error(With(kOneSource, "sinks:\n  - type: fake\n",
                       "inference:\n  model: m.onnx\n  precision: fp61\n  batch-size: 0\n  interval: x\n")),
            P() +
                ":5:14: key 'inference.precision': unknown value 'fp61'; did you mean 'fp16'? (one of fp32, fp16, "
                "int8 or best)\n" +
                P() + ":6:15: key 'inference.batch-size': 0 is out of range; write a value in 1..64\n" + P() +
                ":7:13: key 'inference.interval': 'x' is not an integer; write a whole number in 1..1000");
  EXPECT_EQ(Error(With(kOneSource, "sinks:\n  - type: fake\n",
                       "inference:\n  model: m.onnx\n  plan: m.plan\n  calibration:\n    frames: 10\n")),
            P() + ":5:9: key 'inference.plan': is given together with 'model'; write one of them\n" + P() +
                ":7:5: key 'inference.calibration.dir': is missing; write dir: calib (where the frames go)");
  // The model config's own errors come with its file, line and column.
  Write(dir_ / "bad.yaml", "type: classifier\ninput:\n  width: -3\n");
  EXPECT_EQ(Error(With(kOneSource, "sinks:\n  - type: fake\n", "inference:\n  config: bad.yaml\n")),
            (dir_ / "bad.yaml").string() + ":3:10: key 'input.width': -3 is out of range; write a value in 1..8192");
  EXPECT_EQ(Error(With(kOneSource, "sinks:\n  - type: fake\n", "inference:\n  config: none.yaml\n")),
            P() + ":4:11: key 'inference.config': cannot read the model config '" + (dir_ / "none.yaml").string() +
                "'; write a path relative to the YAML's directory");
  EXPECT_EQ(Error(With(kOneSource, "sinks:\n  - type: fake\n", "inference:\n  config: net.yaml\n")),
            P() +
                ":4:11: key 'inference.config': no model to run: neither 'model', 'plan' nor this model config's "
                "'model' names one; write model: path/to/model.onnx");
  // A model file that does not exist (checked unless check_files is off).
  StatusOr<AppConfig> c = ParseAppConfig(With(kOneSource), P(), AppConfigOptions{true});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), P() + ":4:10: key 'inference.model': the file '" + (dir_ / "net.onnx").string() +
                                      "' does not exist; write a path relative to the YAML's directory or an "
                                      "absolute one");
}

TEST_F(AppConfigTest, SinkAndTelemetryErrors) {
  EXPECT_EQ(Error(With(kOneSource, "sinks:\n  - type: screen\n")),
            P() + ":7:11: key 'sinks[0].type': unknown value 'screen'; write display, file, rtsp, fake or json");
  EXPECT_EQ(Error(With(kOneSource, "sinks:\n  - type: file\n    path: out.avi\n  - type: json\n")),
            P() +
                ":8:11: key 'sinks[0].path': 'out.avi' has no .mp4 or .mkv extension (the container comes from "
                "it); write e.g. out.mp4\n" +
                P() + ":9:5: key 'sinks[1].path': is missing; write path: results.jsonl (or \"-\" for stdout)");
  EXPECT_EQ(Error(With(kOneSource, "sinks:\n  - type: display\n    path: x.mp4\n")),
            P() + ":8:11: key 'sinks[0].path': is not used by a 'display' sink; remove it");
  EXPECT_EQ(Error(With(kOneSource, "sinks:\n  - type: rtsp\n    port: 70000\n    mount: live\n")),
            P() + ":8:11: key 'sinks[0].port': 70000 is out of range; write a value in 1..65535\n" + P() +
                ":9:12: key 'sinks[0].mount': 'live' does not start with '/'; write e.g. /edgert");
  EXPECT_EQ(Error(With("sources:\n  - uri: test://pattern\n  - uri: test://pattern\n",
                       "sinks:\n  - type: file\n    path: out.mp4\n")),
            P() +
                ":9:11: key 'sinks[0].path': every source would write the same file; write a path with {source}, "
                "e.g. out_{source}.mp4");
  EXPECT_EQ(Error(With(kOneSource) + "telemetry:\n  interval-seconds: 0\n"),
            P() + ":9:21: key 'telemetry.interval-seconds': '0' is not a positive number of seconds; write e.g. 5");
}

TEST_F(AppConfigTest, YamlSyntaxError) {
  const std::string message = Error("sources: [\n");
  EXPECT_EQ(message.rfind(P() + ":2:1: YAML syntax error: ", 0), 0u) << message;
}

// A desktop machine: everything but the JetPack elements.
bool Everything(const std::string& f) { return f.rfind("nv", 0) != 0; }
bool OnlyBase(const std::string& f) { return f != "x264enc" && f != "nvv4l2h264enc" && f != "openh264enc"; }

TEST_F(AppConfigTest, PipelineDescriptions) {
  Write(dir_ / "clip.mp4", "x");
  const std::string yaml =
      "sources:\n"
      "  - {name: cam, uri: v4l2:///dev/video1, width: 640, height: 480, framerate: 15}\n"
      "  - {name: clip, uri: file://clip.mp4}\n"
      "  - {name: net, uri: rtsp://h/s}\n"
      "  - {name: ball, uri: \"test://pattern?pattern=ball\", framerate: 30}\n"
      "inference:\n"
      "  model: net.onnx\n"
      "  config: net.yaml\n"
      "  precision: fp16\n"
      "  batch-size: 2\n"
      "  interval: 2\n"
      "  device: cpu\n"
      "  cache-dir: /c\n"
      "  calibration: {frames: 9, interval: 3, dir: /cal}\n"
      "sinks:\n"
      "  - type: display\n"
      "  - type: file\n"
      "    path: /o/{source} x.mp4\n"
      "  - type: fake\n"
      "  - type: json\n"
      "    path: \"-\"\n";
  StatusOr<AppConfig> c = ParseAppConfig(yaml, P(), AppConfigOptions{false});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const std::string d = dir_.string();
  const std::string infer = "edgertinfer name=infer model=" + d + "/net.onnx config=" + d +
                            "/net.yaml precision=fp16 batch-size=2 interval=2 device=cpu cache-dir=/c "
                            "calibration-frames=9 calibration-interval=3 calibration-dir=/cal";
  const std::string tail =
      " ! edgertoverlay name=overlay ! tee name=t t. ! queue ! videoconvert ! autovideosink "
      "t. ! queue ! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=veryfast ! h264parse ! "
      "mp4mux ! filesink location=\"/o/";
  const std::string after = " x.mp4\" t. ! queue ! fakesink sync=false";
  StatusOr<PipelineDescription> p = DescribePipeline(*c, c->sources[0], Everything);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->launch,
            "v4l2src name=src device=/dev/video1 ! decodebin name=decode ! videoconvert ! videoscale ! videorate ! "
            "video/x-raw,width=640,height=480,framerate=15/1 ! " +
                infer + tail + "cam" + after);
  EXPECT_EQ(p->factories, (std::vector<std::string>{"v4l2src", "decodebin", "videoconvert", "videoscale", "videorate",
                                                    "edgertinfer", "edgertoverlay", "tee", "queue", "autovideosink",
                                                    "x264enc", "h264parse", "mp4mux", "filesink", "fakesink"}));
  p = DescribePipeline(*c, c->sources[1], Everything);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->launch, "uridecodebin name=src uri=file://" + d +
                           "/clip.mp4 caps=video/x-raw expose-all-streams=false ! videoconvert ! " + infer + tail +
                           "clip" + after);
  p = DescribePipeline(*c, c->sources[2], Everything);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->launch, "rtspsrc name=src location=rtsp://h/s latency=200 ! decodebin name=decode ! videoconvert ! " +
                           infer + tail + "net" + after);
  p = DescribePipeline(*c, c->sources[3], Everything);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->launch,
            "videotestsrc name=src is-live=true pattern=ball ! videoconvert ! videorate ! "
            "video/x-raw,framerate=30/1 ! " +
                infer + tail + "ball" + after);
  // Without any H.264 encoder the portable one is named, and CheckFactories says where it comes from.
  p = DescribePipeline(*c, c->sources[3], OnlyBase);
  ASSERT_TRUE(p.ok());
  Status missing = CheckFactories(p->factories, OnlyBase);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.message(),
            "the GStreamer element 'x264enc' is not installed; it comes with "
            "gstreamer1.0-plugins-ugly");
}

TEST_F(AppConfigTest, JsonOnlyAndRtspAndMkv) {
  StatusOr<AppConfig> c =
      ParseAppConfig(With(kOneSource, "sinks:\n  - type: json\n    path: r.jsonl\n", "inference:\n  plan: p.plan\n"),
                     P(), AppConfigOptions{false});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  StatusOr<PipelineDescription> p = DescribePipeline(*c, c->sources[0], Everything);
  ASSERT_TRUE(p.ok());
  // No visual sink: no overlay; the json sink's frames end in a fakesink.
  EXPECT_EQ(p->launch,
            "videotestsrc name=src is-live=true pattern=smpte ! videoconvert ! edgertinfer name=infer plan=" +
                dir_.string() + "/p.plan ! tee name=t t. ! queue ! fakesink name=jsonsink sync=false");

  c = ParseAppConfig(With(kOneSource, "sinks:\n  - type: rtsp\n"), P(), AppConfigOptions{false});
  ASSERT_TRUE(c.ok());
  p = DescribePipeline(*c, c->sources[0], Everything);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(p.status().message().find("gst-rtsp-server (Debian libgstrtspserver-1.0-dev)"), std::string::npos);

  c = ParseAppConfig(With(kOneSource, "sinks:\n  - type: file\n    path: a.mkv\n"), P(), AppConfigOptions{false});
  ASSERT_TRUE(c.ok());
  p = DescribePipeline(*c, c->sources[0], [](const std::string& f) { return f == "vp8enc"; });
  ASSERT_TRUE(p.ok());
  EXPECT_NE(
      p->launch.find("videoconvert ! vp8enc deadline=1 ! matroskamux ! filesink location=" + dir_.string() + "/a.mkv"),
      std::string::npos)
      << p->launch;
}

TEST(QuoteValue, Quotes) {
  EXPECT_EQ(QuoteValue("/a/b.onnx"), "/a/b.onnx");
  EXPECT_EQ(QuoteValue("a b"), "\"a b\"");
  EXPECT_EQ(QuoteValue("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
  EXPECT_EQ(QuoteValue(""), "\"\"");
}

// Every shipped app config validates (their models and videos are not in CI).
TEST(ShippedAppConfigs, AllValidate) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(EDGERT_SOURCE_DIR) / "configs" / "apps")) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    StatusOr<AppConfig> c = LoadAppConfig(entry.path().string(), AppConfigOptions{false});
    EXPECT_TRUE(c.ok()) << entry.path() << ": " << c.status().message();
    if (!c.ok()) continue;
    for (const SourceConfig& s : c->sources) {
      StatusOr<PipelineDescription> p = DescribePipeline(*c, s, Everything);
      EXPECT_TRUE(p.ok()) << entry.path() << ": " << p.status().message();
    }
  }
  EXPECT_GE(count, 3);
}

}  // namespace
}  // namespace edgert::app
