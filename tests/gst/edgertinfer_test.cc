// edgertinfer on the CPU backend: GstHarness and pipeline tests with the small models that
// make_models.py writes (a 5-class classifier with dynamic N/H/W, a static one, an Einsum model).
//
// Reference: for each frame the element saw, the test preprocesses the same bytes with
// PreprocessCpu, runs a batch-1 Session on the CPU and compares the logits (raw tensors in the meta,
// output-tensors=true) and the decoded classes; the class order is also checked against an argmax of
// the reference logits.
#include <fcntl.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "edgert/gst/edgert_meta.h"
#include "edgert/session.h"
#include "edgert/vision/decode.h"
#include "edgert/vision/model_config.h"
#include "edgert/vision/preprocess.h"

namespace {

namespace vision = edgert::vision;

std::string Work() { return EDGERT_GST_WORK_DIR; }
std::string ModelPath(const std::string& name) { return Work() + "/" + name; }

class EdgertInferTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("GST_PLUGIN_PATH", EDGERT_GST_PLUGIN_DIR, 0);
    setenv("GST_REGISTRY", (Work() + "/registry.bin").c_str(), 0);
    setenv("EDGERT_CACHE_DIR", (Work() + "/cache").c_str(), 0);
    const std::string cmd = std::string(EDGERT_PYTHON3) + " " + EDGERT_GST_MAKE_MODELS + " " + Work();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    gst_init(nullptr, nullptr);
  }
};

// A frame of `format` with random bytes (seeded by `seed`) laid out as GstVideoInfo says.
GstBuffer* RandomFrame(const GstVideoInfo& info, unsigned seed, GstClockTime pts) {
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  std::mt19937 rng(seed);
  for (gsize i = 0; i < map.size; ++i) map.data[i] = static_cast<guint8>(rng() & 0xff);
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_PTS(buf) = pts;
  GST_BUFFER_DURATION(buf) = GST_SECOND / 30;
  return buf;
}

vision::FrameView ViewOf(const GstVideoFrame& frame) {
  vision::FrameView view;
  const std::string name = gst_video_format_to_string(GST_VIDEO_FRAME_FORMAT(&frame));
  view.format = *vision::ParsePixelFormat(name);
  view.width = GST_VIDEO_FRAME_WIDTH(&frame);
  view.height = GST_VIDEO_FRAME_HEIGHT(&frame);
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(&frame); ++p) {
    view.planes[p] = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, p));
    view.strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p);
  }
  return view;
}

// The reference: PreprocessCpu + a batch-1 CPU session + Decode.
class Reference {
 public:
  Reference() {
    auto config = vision::LoadModelConfig(ModelPath("classifier.yaml"));
    EXPECT_TRUE(config.ok()) << config.status().message();
    config_ = *config;
    edgert::SessionOptions o;
    o.model = ModelPath("classifier.onnx");
    o.device = "cpu";
    o.use_cache = false;
    o.shapes["x"] = {1, 3, config_.input.height, config_.input.width};
    auto session = edgert::Session::Open(o);
    EXPECT_TRUE(session.ok()) << session.status().message();
    session_ = std::move(*session);
  }
  const vision::ModelConfig& config() const { return config_; }

  std::vector<float> Preprocess(GstBuffer* buf, const GstVideoInfo& info, vision::InputTransform* t = nullptr) {
    GstVideoFrame frame;
    EXPECT_TRUE(gst_video_frame_map(&frame, &info, buf, GST_MAP_READ));
    std::vector<float> input(static_cast<size_t>(3 * config_.input.height * config_.input.width));
    edgert::Status st = vision::PreprocessCpu(ViewOf(frame), config_.input, input.data(), t);
    EXPECT_TRUE(st.ok()) << st.message();
    gst_video_frame_unmap(&frame);
    return input;
  }

  // Logits and decoded results for one frame.
  std::vector<float> Run(GstBuffer* buf, const GstVideoInfo& info, vision::FrameResults* results) {
    vision::InputTransform t;
    std::vector<float> input = Preprocess(buf, info, &t);
    EXPECT_TRUE(session_->CopyInputFromHost(0, input.data(), input.size() * sizeof(float)).ok());
    EXPECT_TRUE(session_->Run().ok());
    const edgert::Tensor& out = session_->Output(0);
    std::vector<float> logits(out.data<float>(), out.data<float>() + out.num_elements());
    edgert::Status st = vision::Decode(config_, {out}, {"logits"}, t, results);
    EXPECT_TRUE(st.ok()) << st.message();
    return logits;
  }

 private:
  vision::ModelConfig config_;
  std::unique_ptr<edgert::Session> session_;
};

// Waits for the element's "edgert-build" ready message (or an error) on `bus`.
void WaitReady(GstBus* bus) {
  for (;;) {
    GstMessage* msg = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
                                                 static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR));
    ASSERT_NE(msg, nullptr) << "no edgert-build ready message";
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      GError* err = nullptr;
      gst_message_parse_error(msg, &err, nullptr);
      const std::string text = err->message;
      g_error_free(err);
      gst_message_unref(msg);
      FAIL() << "error: " << text;
    }
    const GstStructure* s = gst_message_get_structure(msg);
    const bool ready =
        gst_structure_has_name(s, "edgert-build") && g_strcmp0(gst_structure_get_string(s, "stage"), "ready") == 0;
    gst_message_unref(msg);
    if (ready) return;
  }
}

struct Harness {
  GstHarness* h = nullptr;
  GstBus* bus = nullptr;
  GstElement* element = nullptr;
  GstVideoInfo info;

  // `props`: "name=value ..." as gst-launch writes them. `wait_ready`: return once the session is
  // ready (the "edgert-build" ready message); otherwise at once, the bus untouched.
  Harness(const std::string& props, const std::string& caps, bool wait_ready = true) {
    const std::string desc = "edgertinfer " + props;
    GError* err = nullptr;
    element = gst_parse_launch(desc.c_str(), &err);
    EXPECT_EQ(err, nullptr) << (err ? err->message : "");
    gst_object_ref_sink(element);
    bus = gst_bus_new();
    gst_element_set_bus(element, bus);
    h = gst_harness_new_with_element(element, "sink", "src");
    gst_harness_set_src_caps_str(h, caps.c_str());
    GstCaps* c = gst_caps_from_string(caps.c_str());
    gst_video_info_from_caps(&info, c);
    gst_caps_unref(c);
    if (wait_ready) WaitReady(bus);
  }
  ~Harness() {
    gst_harness_teardown(h);
    gst_object_unref(element);
    gst_object_unref(bus);
  }
};

// Pops every event the harness's sink received; true when one was EOS.
bool DrainEventsSawEos(GstHarness* h) {
  bool saw_eos = false;
  while (GstEvent* ev = gst_harness_try_pull_event(h)) {
    saw_eos = saw_eos || GST_EVENT_TYPE(ev) == GST_EVENT_EOS;
    gst_event_unref(ev);
  }
  return saw_eos;
}

const std::string kConfigProps() {
  return "config=" + ModelPath("classifier.yaml") + " device=cpu output-tensors=true";
}

void ExpectMatchesReference(GstBuffer* out, GstBuffer* in, const GstVideoInfo& info, Reference* ref) {
  EdgertMeta* meta = gst_buffer_get_edgert_meta(out);
  ASSERT_NE(meta, nullptr);
  vision::FrameResults expected;
  std::vector<float> logits = ref->Run(in, info, &expected);
  const vision::FrameResults* got = edgert_meta_results(meta);
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(got->tensors.size(), 1u);
  EXPECT_EQ(got->tensors[0].first, "logits");
  const edgert::Tensor& t = got->tensors[0].second;
  ASSERT_EQ(t.num_elements(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(t.data<float>()[i], logits[static_cast<size_t>(i)], 1e-4f) << i;
  // Decoded classes: as Decode on the reference, and the best one is the argmax of the logits.
  ASSERT_EQ(got->classes.size(), expected.classes.size());
  ASSERT_EQ(got->classes.size(), 3u);
  for (size_t i = 0; i < got->classes.size(); ++i) {
    EXPECT_EQ(got->classes[i].class_id, expected.classes[i].class_id);
    EXPECT_NEAR(got->classes[i].score, expected.classes[i].score, 1e-5f);
    EXPECT_EQ(got->classes[i].label, std::string(1, static_cast<char>('a' + expected.classes[i].class_id)));
  }
  const int argmax = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  EXPECT_EQ(got->classes[0].class_id, argmax);
  EXPECT_FALSE(meta->stale);
}

TEST_F(EdgertInferTest, EveryFormatNegotiatesAndMatchesTheCpuReference) {
  Reference ref;
  for (const char* format : {"RGB", "BGR", "RGBA", "BGRx", "NV12", "I420", "GRAY8"}) {
    SCOPED_TRACE(format);
    Harness hx(kConfigProps(), std::string("video/x-raw,format=") + format + ",width=66,height=50,framerate=30/1");
    GstBuffer* in = RandomFrame(hx.info, 11, 0);
    GstBuffer* keep = gst_buffer_copy_deep(in);
    ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr);
    ExpectMatchesReference(out, keep, hx.info, &ref);
    EdgertMeta* meta = gst_buffer_get_edgert_meta(out);
    EXPECT_EQ(meta->frame_number, 0u);
    EXPECT_GE(meta->inference_ms, 0.0);
    // The frame itself is untouched (in place, passthrough of pixels).
    GstMapInfo a, b;
    gst_buffer_map(out, &a, GST_MAP_READ);
    gst_buffer_map(keep, &b, GST_MAP_READ);
    ASSERT_EQ(a.size, b.size);
    EXPECT_EQ(memcmp(a.data, b.data, a.size), 0);
    gst_buffer_unmap(out, &a);
    gst_buffer_unmap(keep, &b);
    gint64 copies = -1;
    gchar* backend = nullptr;
    g_object_get(hx.element, "frame-copies", &copies, "backend", &backend, nullptr);
    EXPECT_EQ(copies, 0);
    EXPECT_TRUE(g_str_has_prefix(backend, "cpu")) << backend;
    g_free(backend);
    gst_buffer_unref(out);
    gst_buffer_unref(keep);
  }
}

TEST_F(EdgertInferTest, PlanWithoutConfigFeedsThePlansInputSize) {
  // A plan of the static model (1x3x32x32) from the cache, then the element on that plan alone:
  // stretch to 32x32, RGB, pixels / 255 (the defaults), raw outputs only.
  edgert::SessionOptions o;
  o.model = ModelPath("static.onnx");
  o.device = "cpu";
  o.cache_dir = Work() + "/plan_cache";
  auto session = edgert::Session::Open(o);
  ASSERT_TRUE(session.ok()) << session.status().message();
  const std::string plan = (*session)->info().plan_path;
  ASSERT_FALSE(plan.empty());

  Harness hx("plan=" + plan + " device=cpu output-tensors=true", "video/x-raw,format=BGRx,width=40,height=30");
  GstBuffer* in = RandomFrame(hx.info, 77, 0);
  GstBuffer* keep = gst_buffer_copy_deep(in);
  ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(hx.h);
  EdgertMeta* meta = gst_buffer_get_edgert_meta(out);
  ASSERT_NE(meta, nullptr);
  const vision::FrameResults* r = edgert_meta_results(meta);
  EXPECT_TRUE(r->classes.empty());  // no config: no decoder
  ASSERT_EQ(r->tensors.size(), 1u);

  vision::PreprocessConfig pre;
  pre.width = 32;
  pre.height = 32;
  GstVideoFrame frame;
  ASSERT_TRUE(gst_video_frame_map(&frame, &hx.info, keep, GST_MAP_READ));
  std::vector<float> input(3 * 32 * 32);
  ASSERT_TRUE(vision::PreprocessCpu(ViewOf(frame), pre, input.data()).ok());
  gst_video_frame_unmap(&frame);
  ASSERT_TRUE((*session)->CopyInputFromHost(0, input.data(), input.size() * sizeof(float)).ok());
  ASSERT_TRUE((*session)->Run().ok());
  const edgert::Tensor& want = (*session)->Output(0);
  const edgert::Tensor& got = r->tensors[0].second;
  ASSERT_EQ(got.num_elements(), want.num_elements());
  for (int64_t i = 0; i < want.num_elements(); ++i) EXPECT_NEAR(got.data<float>()[i], want.data<float>()[i], 1e-5f);
  gst_buffer_unref(out);
  gst_buffer_unref(keep);
}

TEST_F(EdgertInferTest, WithoutOutputTensorsTheMetaHoldsOnlyResults) {
  Harness hx("config=" + ModelPath("classifier.yaml") + " device=cpu",
             "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  ASSERT_EQ(gst_harness_push(hx.h, RandomFrame(hx.info, 5, 0)), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(hx.h);
  EdgertMeta* meta = gst_buffer_get_edgert_meta(out);
  ASSERT_NE(meta, nullptr);
  EXPECT_EQ(edgert_meta_num_tensors(meta), 0u);
  EXPECT_EQ(edgert_meta_num_classifications(meta), 3u);
  gst_buffer_unref(out);
}

TEST_F(EdgertInferTest, ThresholdPropertyOverridesTheConfig) {
  Harness hx(kConfigProps() + " threshold=0.999", "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  ASSERT_EQ(gst_harness_push(hx.h, RandomFrame(hx.info, 3, 0)), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(hx.h);
  EdgertMeta* meta = gst_buffer_get_edgert_meta(out);
  ASSERT_NE(meta, nullptr);
  // Softmax over 5 random logits never reaches 0.999 here (checked by the tensor below).
  const vision::FrameResults* r = edgert_meta_results(meta);
  float max_logit = -1e30f, sum = 0.f;
  const float* l = r->tensors.at(0).second.data<float>();
  for (int i = 0; i < 5; ++i) max_logit = std::max(max_logit, l[i]);
  for (int i = 0; i < 5; ++i) sum += std::exp(l[i] - max_logit);
  ASSERT_LT(1.f / sum, 0.999f);
  EXPECT_EQ(edgert_meta_num_classifications(meta), 0u);
  gst_buffer_unref(out);
}

TEST_F(EdgertInferTest, IntervalMarksSkippedFramesStale) {
  Reference ref;
  Harness hx(kConfigProps() + " interval=3", "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  std::vector<float> last;
  for (int i = 0; i < 7; ++i) {
    GstBuffer* in =
        RandomFrame(hx.info, 100 + static_cast<unsigned>(i), static_cast<GstClockTime>(i) * GST_SECOND / 30);
    GstBuffer* keep = gst_buffer_copy_deep(in);
    ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(hx.h);
    EdgertMeta* meta = gst_buffer_get_edgert_meta(out);
    ASSERT_NE(meta, nullptr) << i;
    EXPECT_EQ(meta->frame_number, static_cast<guint64>(i));
    const edgert::Tensor& t = edgert_meta_results(meta)->tensors.at(0).second;
    std::vector<float> logits(t.data<float>(), t.data<float>() + 5);
    if (i % 3 == 0) {
      EXPECT_FALSE(meta->stale) << i;
      ExpectMatchesReference(out, keep, hx.info, &ref);
      last = logits;
    } else {
      EXPECT_TRUE(meta->stale) << i;
      EXPECT_EQ(logits, last) << i;  // the last inferred frame's results
    }
    gst_buffer_unref(out);
    gst_buffer_unref(keep);
  }
}

TEST_F(EdgertInferTest, BatchOfFourKeepsOrderTimestampsAndPerFrameResults) {
  Reference ref;
  // A long timeout: batches run when full, the last partial one at EOS.
  Harness hx(kConfigProps() + " batch-size=4 batch-timeout=60000",
             "video/x-raw,format=NV12,width=64,height=48,framerate=30/1");
  std::vector<GstBuffer*> inputs;
  for (int i = 0; i < 10; ++i) {
    GstBuffer* in =
        RandomFrame(hx.info, 200 + static_cast<unsigned>(i), static_cast<GstClockTime>(i) * GST_SECOND / 30);
    inputs.push_back(gst_buffer_copy_deep(in));
    ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
    // Nothing comes out before a batch is full.
    EXPECT_EQ(gst_harness_buffers_in_queue(hx.h), static_cast<guint>((i + 1) / 4 * 4)) << i;
  }
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
  for (int i = 0; i < 10; ++i) {
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr) << i;
    EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(i) * GST_SECOND / 30) << i;
    EdgertMeta* meta = gst_buffer_get_edgert_meta(out);
    ASSERT_NE(meta, nullptr) << i;
    EXPECT_EQ(meta->frame_number, static_cast<guint64>(i));
    ExpectMatchesReference(out, inputs[static_cast<size_t>(i)], hx.info, &ref);
    gst_buffer_unref(out);
  }
  // EOS follows the drained frames.
  EXPECT_TRUE(DrainEventsSawEos(hx.h));
  for (GstBuffer* b : inputs) gst_buffer_unref(b);
}

TEST_F(EdgertInferTest, BatchTimeoutRunsAPartialBatch) {
  Harness hx(kConfigProps() + " batch-size=4 batch-timeout=20",
             "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  ASSERT_EQ(gst_harness_push(hx.h, RandomFrame(hx.info, 1, 0)), GST_FLOW_OK);
  ASSERT_EQ(gst_harness_push(hx.h, RandomFrame(hx.info, 2, GST_SECOND / 30)), GST_FLOW_OK);
  // No EOS: the timer runs the two frames (gst_harness_pull waits for them).
  for (int i = 0; i < 2; ++i) {
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(i) * GST_SECOND / 30);
    EXPECT_NE(gst_buffer_get_edgert_meta(out), nullptr);
    gst_buffer_unref(out);
  }
}

TEST_F(EdgertInferTest, FlushDiscardsQueuedFrames) {
  Harness hx(kConfigProps() + " batch-size=4 batch-timeout=60000",
             "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  for (int i = 0; i < 2; ++i) ASSERT_EQ(gst_harness_push(hx.h, RandomFrame(hx.info, 1, 0)), GST_FLOW_OK);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_flush_stop(TRUE)));
  // A segment after the flush, then a full batch of new frames: only those come out.
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_segment(&segment)));
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(gst_harness_push(hx.h, RandomFrame(hx.info, 2, static_cast<GstClockTime>(10 + i) * GST_SECOND)),
              GST_FLOW_OK);
  }
  EXPECT_EQ(gst_harness_buffers_in_queue(hx.h), 4u);
  for (int i = 0; i < 4; ++i) {
    GstBuffer* out = gst_harness_pull(hx.h);
    EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(10 + i) * GST_SECOND);
    EdgertMeta* meta = gst_buffer_get_edgert_meta(out);
    ASSERT_NE(meta, nullptr);
    EXPECT_EQ(meta->frame_number, static_cast<guint64>(2 + i));  // frames seen, flushed ones included
    gst_buffer_unref(out);
  }
}

TEST_F(EdgertInferTest, OddSizedNv12CapsAreAnError) {
  Harness hx(kConfigProps(), "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  gst_harness_set_src_caps_str(hx.h, "video/x-raw,format=NV12,width=65,height=49,framerate=30/1");
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_NV12, 65, 49);
  EXPECT_EQ(gst_harness_push(hx.h, RandomFrame(info, 1, 0)), GST_FLOW_NOT_NEGOTIATED);
  GstMessage* msg = gst_bus_pop_filtered(hx.bus, GST_MESSAGE_ERROR);
  ASSERT_NE(msg, nullptr);
  GError* err = nullptr;
  gst_message_parse_error(msg, &err, nullptr);
  EXPECT_NE(std::string(err->message).find("even width and height"), std::string::npos) << err->message;
  g_error_free(err);
  gst_message_unref(msg);
}

TEST_F(EdgertInferTest, LatencyQueryAddsTheBatchTimeout) {
  Harness hx(kConfigProps() + " batch-size=2 batch-timeout=40",
             "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  gst_harness_set_upstream_latency(hx.h, 10 * GST_MSECOND);
  EXPECT_EQ(gst_harness_query_latency(hx.h), 50 * GST_MSECOND);
}

// Reads a float32 .npy written by the element: checks the header and returns the values.
std::vector<float> ReadNpy(const std::string& path, std::string* header) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << path;
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 6), std::string("\x93NUMPY"));
  EXPECT_EQ(bytes[6], 1);
  EXPECT_EQ(bytes[7], 0);
  const size_t len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + len) % 64, 0u);
  *header = bytes.substr(10, len);
  std::vector<float> values((bytes.size() - 10 - len) / sizeof(float));
  memcpy(values.data(), bytes.data() + 10 + len, values.size() * sizeof(float));
  return values;
}

TEST_F(EdgertInferTest, CalibrationCaptureWritesPreprocessedInputs) {
  Reference ref;
  const std::string dir = Work() + "/calib";
  ASSERT_EQ(std::system(("rm -rf " + dir).c_str()), 0);
  Harness hx(kConfigProps() + " calibration-frames=3 calibration-interval=2 calibration-dir=" + dir,
             "video/x-raw,format=I420,width=64,height=48,framerate=30/1");
  std::vector<std::vector<float>> expected;
  for (int i = 0; i < 9; ++i) {
    GstBuffer* in = RandomFrame(hx.info, 300 + static_cast<unsigned>(i), 0);
    if (i % 2 == 0) expected.push_back(ref.Preprocess(in, hx.info));
    ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
    gst_buffer_unref(gst_harness_pull(hx.h));
  }
  for (int n = 0; n < 3; ++n) {
    char name[32];
    std::snprintf(name, sizeof(name), "/%06d.npy", n);
    std::string header;
    std::vector<float> values = ReadNpy(dir + name, &header);
    EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
    EXPECT_NE(header.find("'fortran_order': False"), std::string::npos) << header;
    EXPECT_NE(header.find("'shape': (1, 3, 32, 48)"), std::string::npos) << header;
    ASSERT_EQ(values.size(), expected[static_cast<size_t>(n)].size());
    for (size_t k = 0; k < values.size(); ++k)
      ASSERT_EQ(values[k], expected[static_cast<size_t>(n)][k]) << n << " " << k;
  }
  EXPECT_FALSE(g_file_test((dir + "/000003.npy").c_str(), G_FILE_TEST_EXISTS));
  // The element said so once it had them.
  bool posted = false;
  while (GstMessage* msg = gst_bus_pop_filtered(hx.bus, GST_MESSAGE_ELEMENT)) {
    const GstStructure* s = gst_message_get_structure(msg);
    if (gst_structure_has_name(s, "edgert-calibration")) {
      int frames = 0;
      EXPECT_TRUE(gst_structure_get_int(s, "frames", &frames));
      EXPECT_EQ(frames, 3);
      EXPECT_EQ(std::string(gst_structure_get_string(s, "dir")), dir);
      posted = true;
    }
    gst_message_unref(msg);
  }
  EXPECT_TRUE(posted);
}

// Runs `desc` to EOS or error; returns the error text ("" at EOS).
std::string RunPipeline(const std::string& desc, bool* saw_eos = nullptr) {
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  EXPECT_EQ(err, nullptr) << (err ? err->message : "");
  if (pipeline == nullptr) return "parse";
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  std::string error;
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
                                               static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  EXPECT_NE(msg, nullptr) << "pipeline hung: " << desc;
  if (msg != nullptr && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(msg, &e, &debug);
    error = std::string(e->message) + " | " + (debug ? debug : "");
    g_error_free(e);
    g_free(debug);
  }
  if (saw_eos != nullptr) *saw_eos = msg != nullptr && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS;
  if (msg != nullptr) gst_message_unref(msg);
  EXPECT_EQ(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  return error;
}

std::string Source() { return "videotestsrc num-buffers=5 ! video/x-raw,format=RGB,width=64,height=48 ! "; }

TEST_F(EdgertInferTest, MissingModelIsAnErrorNamingTheFile) {
  const std::string error = RunPipeline(Source() + "edgertinfer device=cpu model=" + Work() + "/nope.onnx ! fakesink");
  EXPECT_NE(error.find("nope.onnx"), std::string::npos) << error;
}

TEST_F(EdgertInferTest, MissingConfigIsAnErrorNamingTheFile) {
  const std::string error = RunPipeline(Source() + "edgertinfer device=cpu config=" + Work() + "/nope.yaml ! fakesink");
  EXPECT_NE(error.find("nope.yaml"), std::string::npos) << error;
}

TEST_F(EdgertInferTest, BadConfigKeyIsAnErrorNamingTheKey) {
  const std::string error =
      RunPipeline(Source() + "edgertinfer device=cpu config=" + ModelPath("bad_key.yaml") + " ! fakesink");
  EXPECT_NE(error.find("bogus-key"), std::string::npos) << error;
}

TEST_F(EdgertInferTest, UnsupportedOpIsAnErrorNamingTheOp) {
  const std::string error =
      RunPipeline(Source() + "edgertinfer device=cpu model=" + ModelPath("einsum.onnx") + " ! fakesink");
  EXPECT_NE(error.find("Einsum"), std::string::npos) << error;
}

TEST_F(EdgertInferTest, Int8WithoutCalibrationIsAnError) {
  std::string error = RunPipeline(
      Source() + "edgertinfer device=cpu precision=int8 config=" + ModelPath("classifier.yaml") + " ! fakesink");
  EXPECT_NE(error.find("calibration-dir"), std::string::npos) << error;
  const std::string empty = Work() + "/int8_empty";
  ASSERT_EQ(std::system(("rm -rf " + empty + " && mkdir -p " + empty).c_str()), 0);
  error = RunPipeline(Source() + "edgertinfer device=cpu precision=int8 calibration-dir=" + empty +
                      " config=" + ModelPath("classifier.yaml") + " ! fakesink");
  EXPECT_NE(error.find("holds no captured frame"), std::string::npos) << error;
}

// Waits for the "edgert-build" message of `stage`; errors and warnings go to `warnings`, the
// "message" field of the build messages before it (progress, the int8 stage's lines) to
// `messages`, and its "int8" field to `int8`. False on an error or after 60 s.
bool WaitStage(GstBus* bus, const char* stage, std::string* warnings = nullptr, std::string* messages = nullptr,
               bool* int8 = nullptr) {
  for (;;) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, 60 * GST_SECOND,
        static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
    if (msg == nullptr) return false;
    if (GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ELEMENT) {
      GError* err = nullptr;
      const bool error = GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR;
      if (error) {
        gst_message_parse_error(msg, &err, nullptr);
      } else {
        gst_message_parse_warning(msg, &err, nullptr);
      }
      if (warnings != nullptr) *warnings += std::string(err->message) + "\n";
      g_error_free(err);
      gst_message_unref(msg);
      if (error) return false;
      continue;
    }
    const GstStructure* s = gst_message_get_structure(msg);
    bool found = false;
    if (gst_structure_has_name(s, "edgert-build")) {
      const char* message = gst_structure_get_string(s, "message");
      if (messages != nullptr && message != nullptr) *messages += std::string(message) + "\n";
      found = g_strcmp0(gst_structure_get_string(s, "stage"), stage) == 0;
      gboolean flag = FALSE;
      if (found && int8 != nullptr) *int8 = gst_structure_get_boolean(s, "int8", &flag) && flag;
    }
    gst_message_unref(msg);
    if (found) return true;
  }
}

std::string Backend(GstElement* element) {
  gchar* backend = nullptr;
  g_object_get(element, "backend", &backend, nullptr);
  std::string text = backend != nullptr ? backend : "";
  g_free(backend);
  return text;
}

TEST_F(EdgertInferTest, Int8PlanFromCapturedFramesReplacesTheSessionWhileFramesFlow) {
  const std::string dir = Work() + "/int8_frames", cache = Work() + "/int8_cache";
  ASSERT_EQ(std::system(("rm -rf " + dir + " " + cache).c_str()), 0);
  const std::string props = "config=" + ModelPath("classifier16.yaml") +
                            " device=cpu precision=int8 calibration-frames=6 calibration-interval=1 "
                            "calibration-dir=" +
                            dir + " cache-dir=" + cache;
  const std::string caps = "video/x-raw,format=RGB,width=64,height=48,framerate=30/1";
  {
    Harness hx(props, caps);  // ready at "best" (fp32 on the CPU) while it captures
    EXPECT_EQ(Backend(hx.element), "cpu (reference engine)");
    for (int i = 0; i < 6; ++i) {
      ASSERT_EQ(gst_harness_push(hx.h, RandomFrame(hx.info, 700 + static_cast<unsigned>(i), 0)), GST_FLOW_OK);
      gst_buffer_unref(gst_harness_pull(hx.h));
    }
    std::string lines;
    bool int8 = false;
    ASSERT_TRUE(WaitStage(hx.bus, "ready", nullptr, &lines, &int8)) << lines;
    EXPECT_TRUE(int8);
    EXPECT_NE(lines.find("6 tensor files"), std::string::npos) << lines;
    EXPECT_NE(lines.find("int8 accuracy gate"), std::string::npos) << lines;
    EXPECT_NE(lines.find("int8: 1 layers INT8"), std::string::npos) << lines;
    EXPECT_EQ(Backend(hx.element), "cpu (reference engine, int8)");
    // Frames keep flowing through the INT8 session, with results.
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(gst_harness_push(hx.h, RandomFrame(hx.info, 800 + static_cast<unsigned>(i), 0)), GST_FLOW_OK);
      GstBuffer* out = gst_harness_pull(hx.h);
      ASSERT_NE(out, nullptr);
      EXPECT_NE(gst_buffer_get_edgert_meta(out), nullptr);
      gst_buffer_unref(out);
    }
  }
  // The calibration cache sits beside the plans; a restart finds the frames and opens INT8 at once.
  EXPECT_TRUE(g_file_test((cache + "/classifier16.calib").c_str(), G_FILE_TEST_EXISTS));
  Harness again(props, caps);
  EXPECT_EQ(Backend(again.element), "cpu (reference engine, int8)");
  EXPECT_FALSE(g_file_test((dir + "/000006.npy").c_str(), G_FILE_TEST_EXISTS));
}

TEST_F(EdgertInferTest, BadDeviceAndPrecisionAreErrorsNamingTheProperty) {
  const std::string config = " config=" + ModelPath("classifier.yaml") + " ! fakesink";
  std::string error = RunPipeline(Source() + "edgertinfer device=gpu" + config);
  EXPECT_NE(error.find("device 'gpu'"), std::string::npos) << error;
  error = RunPipeline(Source() + "edgertinfer device=cpu precision=fp8" + config);
  EXPECT_NE(error.find("precision 'fp8'"), std::string::npos) << error;
  error = RunPipeline(Source() + "edgertinfer device=cpu precision=fp16" + config);
  EXPECT_NE(error.find("precision fp16 needs the CUDA backend"), std::string::npos) << error;
  error = RunPipeline(Source() + "edgertinfer device=cpu pipeline=maybe" + config);
  EXPECT_NE(error.find("pipeline 'maybe' is not auto, on or off"), std::string::npos) << error;
}

TEST_F(EdgertInferTest, WrongFixedInputSizeIsAnError) {
  // static.onnx takes 1x3x32x32; the classifier config feeds 32x48.
  const std::string yaml = Work() + "/static_wrong.yaml";
  std::ofstream(yaml) << "model: static.onnx\ntype: classifier\ninput:\n  width: 48\n  height: 32\n"
                         "decoder:\n  kind: softmax-topk\n";
  const std::string error = RunPipeline(Source() + "edgertinfer device=cpu config=" + yaml + " ! fakesink");
  EXPECT_NE(error.find("width"), std::string::npos) << error;
}

TEST_F(EdgertInferTest, PlayingNullPlayingCycles) {
  GError* err = nullptr;
  const std::string desc =
      "videotestsrc num-buffers=8 ! video/x-raw,format=BGRx,width=64,height=48 ! "
      "edgertinfer name=infer device=cpu config=" +
      ModelPath("classifier.yaml") + " ! fakesink";
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  ASSERT_EQ(err, nullptr);
  GstBus* bus = gst_element_get_bus(pipeline);
  for (int cycle = 0; cycle < 3; ++cycle) {
    SCOPED_TRACE(cycle);
    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    bool eos = false, ready = false;
    while (!eos || !ready) {
      GstMessage* msg = gst_bus_timed_pop_filtered(
          bus, 60 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT));
      ASSERT_NE(msg, nullptr);
      ASSERT_NE(GST_MESSAGE_TYPE(msg), GST_MESSAGE_ERROR);
      if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) eos = true;
      const GstStructure* s = gst_message_get_structure(msg);
      if (s != nullptr && gst_structure_has_name(s, "edgert-build") &&
          g_strcmp0(gst_structure_get_string(s, "stage"), "ready") == 0) {
        ready = true;
      }
      gst_message_unref(msg);
    }
    ASSERT_EQ(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    gst_bus_set_flushing(bus, TRUE);
    gst_bus_set_flushing(bus, FALSE);
  }
  gst_object_unref(bus);
  gst_object_unref(pipeline);
}

}  // namespace

namespace {

// Counts the buffers leaving `infer` and those that carry a fresh (non-stale) EdgertMeta.
struct MetaCounter {
  int buffers = 0;
  int with_results = 0;
};

GstPadProbeReturn CountMeta(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* counter = static_cast<MetaCounter*>(data);
  EdgertMeta* meta = gst_buffer_get_edgert_meta(GST_PAD_PROBE_INFO_BUFFER(info));
  ++counter->buffers;
  if (meta != nullptr && !meta->stale) ++counter->with_results;
  return GST_PAD_PROBE_OK;
}

// An empty directory under the test's work directory (a plan cache no other test shares).
std::string FreshDir() {
  std::string tmpl = Work() + "/cache_XXXXXX";
  return mkdtemp(tmpl.data()) != nullptr ? tmpl : Work() + "/cache_fallback";
}

// Runs `desc` (an edgertinfer named "infer") to EOS with an empty plan cache, so the plan is built
// while frames arrive, and counts what left the element.
MetaCounter RunWithColdCache(const std::string& desc, const std::string& cache) {
  MetaCounter counter;
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  EXPECT_EQ(err, nullptr) << (err ? err->message : "");
  if (pipeline == nullptr) return counter;
  GstElement* infer = gst_bin_get_by_name(GST_BIN(pipeline), "infer");
  g_object_set(infer, "cache-dir", cache.c_str(), nullptr);
  GstPad* src = gst_element_get_static_pad(infer, "src");
  gst_pad_add_probe(src, GST_PAD_PROBE_TYPE_BUFFER, CountMeta, &counter, nullptr);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
                                               static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  EXPECT_NE(msg, nullptr) << "pipeline hung: " << desc;
  if (msg != nullptr) {
    EXPECT_EQ(GST_MESSAGE_TYPE(msg), GST_MESSAGE_EOS) << desc;
    gst_message_unref(msg);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(infer);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  return counter;
}

// A file or test source is not live: its frames wait for the model (the plan is built on the first
// start here), so every one of them carries results, as with a prebuilt plan.
TEST_F(EdgertInferTest, NonLiveFramesWaitForTheModel) {
  const std::string cache = FreshDir();
  const MetaCounter c = RunWithColdCache(
      "videotestsrc num-buffers=6 ! video/x-raw,format=RGB,width=64,height=48 ! edgertinfer name=infer " +
          kConfigProps() + " ! fakesink",
      cache);
  EXPECT_EQ(c.buffers, 6);
  EXPECT_EQ(c.with_results, 6);
}

// A live source keeps flowing while the plan builds: frames before the session is ready pass
// through without results, the later ones carry them.
TEST_F(EdgertInferTest, LiveFramesPassThroughWhileTheModelOpens) {
  const std::string cache = FreshDir();
  const MetaCounter c = RunWithColdCache(
      "videotestsrc is-live=true num-buffers=30 ! video/x-raw,format=RGB,width=64,height=48,framerate=100/1 ! "
      "edgertinfer name=infer " +
          kConfigProps() + " ! fakesink sync=false",
      cache);
  EXPECT_EQ(c.buffers, 30);
  EXPECT_GT(c.with_results, 0);
}

// A CPU plan of `model` (through a private plan cache), for fallback-plan.
std::string PlanOf(const std::string& model, const std::string& cache, int height, int width) {
  edgert::SessionOptions o;
  o.model = ModelPath(model);
  o.device = "cpu";
  o.cache_dir = cache;
  o.shapes["x"] = {1, 3, height, width};
  auto session = edgert::Session::Open(o);
  EXPECT_TRUE(session.ok()) << session.status().message();
  return session.ok() ? (*session)->info().plan_path : std::string();
}

// The logits a CPU session of `model` gives for frame `buf` (the classifier config's preprocessing).
std::vector<float> LogitsOf(const std::string& model, GstBuffer* buf, const GstVideoInfo& info) {
  Reference ref;  // the config and its preprocessing
  edgert::SessionOptions o;
  o.model = ModelPath(model);
  o.device = "cpu";
  o.use_cache = false;
  o.shapes["x"] = {1, 3, ref.config().input.height, ref.config().input.width};
  auto session = edgert::Session::Open(o);
  EXPECT_TRUE(session.ok()) << session.status().message();
  if (!session.ok()) return {};
  std::vector<float> input = ref.Preprocess(buf, info);
  EXPECT_TRUE((*session)->CopyInputFromHost(0, input.data(), input.size() * sizeof(float)).ok());
  EXPECT_TRUE((*session)->Run().ok());
  const edgert::Tensor& out = (*session)->Output(0);
  return std::vector<float>(out.data<float>(), out.data<float>() + out.num_elements());
}

std::vector<float> MetaLogits(GstBuffer* out) {
  EdgertMeta* meta = gst_buffer_get_edgert_meta(out);
  if (meta == nullptr) return {};
  const vision::FrameResults* r = edgert_meta_results(meta);
  if (r == nullptr || r->tensors.empty()) return {};
  const edgert::Tensor& t = r->tensors[0].second;
  return std::vector<float>(t.data<float>(), t.data<float>() + t.num_elements());
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4f) << i;
}

// Pushes a random frame (`seed`, `pts`) through the harness and expects the meta's logits to be
// those a CPU session of `model` gives for it: which model served the frame.
void ExpectFrameRunsOn(const Harness& hx, unsigned seed, GstClockTime pts, const std::string& model) {
  GstBuffer* in = RandomFrame(hx.info, seed, pts);
  GstBuffer* keep = gst_buffer_copy_deep(in);
  ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(hx.h);
  ExpectNear(MetaLogits(out), LogitsOf(model, keep, hx.info));
  gst_buffer_unref(out);
  gst_buffer_unref(keep);
}

// fallback-plan serves while the model's plan is built, then the model's session replaces it
// between frames. The build is held back deterministically: the test holds the plan cache's lock
// on the model's entry (found by a first build into the same cache, whose plan is then deleted).
void ExpectFallbackServesUntilReady(const std::string& extra_props) {
  const std::string fallback = PlanOf("classifier_b.onnx", FreshDir(), 32, 48);
  ASSERT_FALSE(fallback.empty());
  const std::string cache = FreshDir();
  const std::string entry = PlanOf("classifier.onnx", cache, 32, 48);
  ASSERT_FALSE(entry.empty());
  ASSERT_EQ(std::remove(entry.c_str()), 0);
  const std::string lock_path = entry.substr(0, entry.size() - 5) + ".lock";
  const int lock_fd = open(lock_path.c_str(), O_RDWR);
  ASSERT_GE(lock_fd, 0) << lock_path;
  ASSERT_EQ(flock(lock_fd, LOCK_EX), 0);

  Harness hx(kConfigProps() + " cache-dir=" + cache + " fallback-plan=" + fallback + " " + extra_props,
             "video/x-raw,format=RGB,width=64,height=48", false);
  // Declared after the harness: on an early return the lock goes first, so the element's build
  // (and with it the harness's teardown) is never left waiting.
  struct Unlock {
    int fd;
    void Release() {
      if (fd >= 0) close(fd);
      fd = -1;
    }
    ~Unlock() { Release(); }
  } unlock{lock_fd};
  ASSERT_TRUE(WaitStage(hx.bus, "fallback"));
  GValue value = G_VALUE_INIT;
  g_value_init(&value, G_TYPE_STRING);
  g_object_get_property(G_OBJECT(hx.element), "backend", &value);
  EXPECT_EQ(std::string(g_value_get_string(&value)).rfind("fallback: ", 0), 0u) << g_value_get_string(&value);
  g_value_unset(&value);
  // The model's build waits on the lock: these frames get the fallback's results.
  for (unsigned i = 0; i < 3; ++i) {
    ExpectFrameRunsOn(hx, 300 + i, i * GST_SECOND / 30, "classifier_b.onnx");
    if (::testing::Test::HasFatalFailure()) return;
  }
  // Let the build go: once "ready" is posted, the next frame runs on the model's own plan.
  unlock.Release();
  ASSERT_TRUE(WaitStage(hx.bus, "ready"));
  ExpectFrameRunsOn(hx, 400, GST_SECOND, "classifier.onnx");
}

TEST_F(EdgertInferTest, FallbackPlanServesUntilTheModelsPlanIsReady) { ExpectFallbackServesUntilReady(""); }

// The same with pipelining: the swap waits until nothing is in flight.
TEST_F(EdgertInferTest, FallbackPlanWithPipelining) { ExpectFallbackServesUntilReady("pipeline=on"); }

// A fallback plan that cannot serve (here: another input size) is a warning naming it; the model's
// own plan still opens and serves.
TEST_F(EdgertInferTest, FallbackPlanThatCannotServeIsAWarning) {
  const std::string fallback = PlanOf("static.onnx", FreshDir(), 32, 32);
  ASSERT_FALSE(fallback.empty());
  Harness hx(kConfigProps() + " fallback-plan=" + fallback, "video/x-raw,format=RGB,width=64,height=48", false);
  std::string warnings;
  ASSERT_TRUE(WaitStage(hx.bus, "ready", &warnings)) << warnings;
  EXPECT_NE(warnings.find("fallback-plan " + fallback + " cannot serve"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("1x3x32x32"), std::string::npos) << warnings;
  ExpectFrameRunsOn(hx, 500, 0, "classifier.onnx");
}

// pipeline=on (forced on the CPU here; auto turns it on for CUDA sessions with a host decoder): a
// finisher thread decodes and pushes each batch while the next one is prepared. Every frame comes
// out once, in order, with its own results, the stale ones with the latest results before them, and
// EOS after the last frame.
void ExpectPipelinedRun(const std::string& props, int frames, int interval) {
  Reference ref;
  Harness hx(kConfigProps() + " pipeline=on " + props, "video/x-raw,format=NV12,width=64,height=48,framerate=30/1");
  std::vector<GstBuffer*> inputs;
  for (int i = 0; i < frames; ++i) {
    GstBuffer* in =
        RandomFrame(hx.info, 600 + static_cast<unsigned>(i), static_cast<GstClockTime>(i) * GST_SECOND / 30);
    inputs.push_back(gst_buffer_copy_deep(in));
    ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK) << i;
  }
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
  std::vector<float> last;
  for (int i = 0; i < frames; ++i) {
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr) << i;
    EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(i) * GST_SECOND / 30) << i;
    EdgertMeta* meta = gst_buffer_get_edgert_meta(out);
    ASSERT_NE(meta, nullptr) << i;
    EXPECT_EQ(meta->frame_number, static_cast<guint64>(i));
    const std::vector<float> logits = MetaLogits(out);
    if (i % interval == 0) {
      EXPECT_FALSE(meta->stale) << i;
      ExpectMatchesReference(out, inputs[static_cast<size_t>(i)], hx.info, &ref);
      last = logits;
    } else {
      EXPECT_TRUE(meta->stale) << i;
      EXPECT_EQ(logits, last) << i;
    }
    gst_buffer_unref(out);
  }
  EXPECT_EQ(gst_harness_try_pull(hx.h), nullptr);  // nothing twice
  EXPECT_TRUE(DrainEventsSawEos(hx.h));
  for (GstBuffer* b : inputs) gst_buffer_unref(b);
}

TEST_F(EdgertInferTest, PipelinedFramesKeepOrderAndResults) { ExpectPipelinedRun("", 12, 1); }

TEST_F(EdgertInferTest, PipelinedBatchesWithIntervalKeepOrderAndStaleResults) {
  ExpectPipelinedRun("batch-size=3 batch-timeout=60000 interval=2", 13, 2);
}

TEST_F(EdgertInferTest, PipelinedFlushDiscardsLaunchedFrames) {
  Harness hx(kConfigProps() + " pipeline=on batch-size=2 batch-timeout=60000",
             "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(gst_harness_push(hx.h, RandomFrame(hx.info, 1, 0)), GST_FLOW_OK);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_flush_stop(TRUE)));
  // Frames launched before the flush may have been pushed before it: drop whatever came out.
  while (GstBuffer* b = gst_harness_try_pull(hx.h)) gst_buffer_unref(b);
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_segment(&segment)));
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(gst_harness_push(hx.h, RandomFrame(hx.info, 2, static_cast<GstClockTime>(10 + i) * GST_SECOND)),
              GST_FLOW_OK);
  }
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
  for (int i = 0; i < 4; ++i) {
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr) << i;
    EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(10 + i) * GST_SECOND);
    EXPECT_NE(gst_buffer_get_edgert_meta(out), nullptr);
    gst_buffer_unref(out);
  }
  EXPECT_EQ(gst_harness_try_pull(hx.h), nullptr);
}

TEST_F(EdgertInferTest, PipelinedGstLaunchGivesEveryFrameResults) {
  const MetaCounter c = RunWithColdCache(
      "videotestsrc num-buffers=40 ! video/x-raw,format=I420,width=64,height=48 ! edgertinfer name=infer "
      "pipeline=on " +
          kConfigProps() + " ! fakesink",
      FreshDir());
  EXPECT_EQ(c.buffers, 40);
  EXPECT_EQ(c.with_results, 40);
}

}  // namespace
