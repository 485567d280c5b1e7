// edgert-app's command line: --validate (exit status, every error with file:line:column on
// stderr), --print-pipeline (the gst-launch-1.0 lines), usage errors. Runs the built binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct AppRun {
  int status = -1;
  std::string output;  // stdout, then stderr
};

// Runs edgert-app with `args` (shell words), capturing stdout and stderr separately.
AppRun RunApp(const std::string& args, const fs::path& dir) {
  const std::string err = (dir / ("stderr_" + std::to_string(::getpid()) + ".txt")).string();
  const std::string command = std::string(EDGERT_APP_PATH) + " " + args + " 2>" + err;
  AppRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return run;
  std::array<char, 4096> buffer;
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err);
  run.output += std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return run;
}

class AppCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("edgert_app_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "net.onnx") << "only its existence is checked here";
    std::ofstream(dir_ / "net.yaml") << "model: net.onnx\ntype: classifier\ninput: {width: 32, height: 32}\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(AppCliTest, ValidateGoodConfig) {
  const std::string path = Write("good.yaml",
                                 "sources:\n  - uri: test://pattern\n  - uri: test://pattern\ninference:\n  config: "
                                 "net.yaml\nsinks:\n  - type: fake\n");
  const AppRun run = RunApp("--validate " + path, dir_);
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output, path + ": valid (2 sources, 1 sink)\n");
}

TEST_F(AppCliTest, ValidateReportsEveryError) {
  const std::string path = Write("bad.yaml",
                                 "sources:\n"
                                 "  - uri: test://pattern\n"
                                 "    framerate: 0\n"
                                 "inference:\n"
                                 "  config: net.yaml\n"
                                 "  batch-size: 100\n"
                                 "  devise: cpu\n"
                                 "sinks:\n"
                                 "  - type: json\n");
  const AppRun run = RunApp("--validate " + path, dir_);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, path +
                            ":3:16: key 'sources[0].framerate': '0' is not a frame rate; write frames per second in "
                            "1..1000, e.g. 30 or 30000/1001\n" +
                            path + ":7:3: key 'inference.devise': unknown key; did you mean 'device'?\n" + path +
                            ":6:15: key 'inference.batch-size': 100 is out of range; write a value in 1..64\n" + path +
                            ":9:5: key 'sinks[0].path': is missing; write path: results.jsonl (or \"-\" for stdout)\n");
}

TEST_F(AppCliTest, ValidateChecksFilesUnlessSkipped) {
  Write("net2.yaml", "model: absent.onnx\ntype: raw\n");
  const std::string path =
      Write("app.yaml", "sources:\n  - uri: test://pattern\ninference:\n  config: net2.yaml\nsinks:\n  - type: fake\n");
  AppRun run = RunApp("--validate " + path, dir_);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, (dir_ / "net2.yaml").string() + ":1:8: key 'model': the model file '" +
                            (dir_ / "absent.onnx").string() +
                            "' does not exist; write a path relative to the YAML's directory (" + dir_.string() +
                            ") or an absolute one\n");
  run = RunApp("--validate --skip-file-checks " + path, dir_);
  EXPECT_EQ(run.status, 0) << run.output;
}

TEST_F(AppCliTest, PrintPipeline) {
  const std::string path = Write("app.yaml",
                                 "sources:\n"
                                 "  - name: a\n"
                                 "    uri: test://pattern?pattern=ball\n"
                                 "    width: 320\n"
                                 "    height: 240\n"
                                 "  - name: b\n"
                                 "    uri: test://pattern\n"
                                 "inference:\n"
                                 "  config: net.yaml\n"
                                 "  device: cpu\n"
                                 "sinks:\n"
                                 "  - type: fake\n");
  const AppRun run = RunApp("--print-pipeline " + path, dir_);
  EXPECT_EQ(run.status, 0) << run.output;
  const std::string infer = "edgertinfer name=infer config=" + (dir_ / "net.yaml").string() + " device=cpu";
  EXPECT_EQ(run.output,
            "# a\ngst-launch-1.0 -e videotestsrc name=src is-live=true pattern=ball ! videoconvert ! videoscale ! "
            "video/x-raw,width=320,height=240 ! " +
                infer +
                " ! tee name=t t. ! queue ! fakesink sync=false\n"
                "# b\ngst-launch-1.0 -e videotestsrc name=src is-live=true pattern=smpte ! videoconvert ! " +
                infer + " ! tee name=t t. ! queue ! fakesink sync=false\n");
}

// With gst-rtsp-server the rtsp sink is an H.264 branch ending in the appsink the server reads;
// without it the sink is refused, naming the package.
TEST_F(AppCliTest, RtspSink) {
  const std::string path =
      Write("app.yaml", "sources:\n  - uri: test://pattern\ninference:\n  config: net.yaml\nsinks:\n  - type: rtsp\n");
  const AppRun run = RunApp("--print-pipeline " + path, dir_);
#ifdef EDGERT_APP_HAVE_RTSP_SERVER
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find(" ! edgertoverlay name=overlay ! tee name=t t. ! queue ! videoconvert ! "),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find(" ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=rtsp0 "
                            "sync=false max-buffers=30 drop=true\n"),
            std::string::npos)
      << run.output;
#else
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.output.find("edgert-app: the rtsp sink needs gst-rtsp-server (Debian libgstrtspserver-1.0-dev)"),
            std::string::npos)
      << run.output;
#endif
}

TEST_F(AppCliTest, UsageErrors) {
  AppRun run = RunApp("", dir_);
  EXPECT_EQ(run.status, 2);
  EXPECT_NE(run.output.find("usage: edgert-app CONFIG.yaml"), std::string::npos);
  run = RunApp("--frobnicate x.yaml", dir_);
  EXPECT_EQ(run.status, 2);
  EXPECT_NE(run.output.find("edgert-app: unknown option '--frobnicate'"), std::string::npos);
  run = RunApp("--max-frames -3 x.yaml", dir_);
  EXPECT_EQ(run.status, 2);
  EXPECT_NE(run.output.find("--max-frames needs a positive integer, got '-3'"), std::string::npos);
  run = RunApp("--validate " + (dir_ / "absent.yaml").string(), dir_);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "cannot open the app config '" + (dir_ / "absent.yaml").string() + "'; check the path\n");
}

// Every shipped app config passes --validate (without the models and videos, which CI lacks).
TEST(AppCliShipped, ValidateShippedConfigs) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(EDGERT_SOURCE_DIR) / "configs" / "apps")) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    const AppRun run = RunApp("--validate --skip-file-checks " + entry.path().string(), fs::temp_directory_path());
    EXPECT_EQ(run.status, 0) << run.output;
  }
  EXPECT_GE(count, 3);
}

}  // namespace
