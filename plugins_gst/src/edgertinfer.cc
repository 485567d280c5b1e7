/**
 * SECTION:element-edgertinfer
 * @title: edgertinfer
 *
 * Runs an edgert model (ONNX model through the plan cache, or a plan) on raw video frames and
 * attaches an #EdgertMeta with the decoded results (classes, detections, mask, optionally the raw
 * output tensors) to each buffer. Frames pass through unchanged (in place).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=30 ! video/x-raw,format=NV12,width=640,height=480 ! \
 *     edgertinfer config=configs/models/ppocr_det.yaml device=cpu ! fakesink
 * gst-launch-1.0 videotestsrc ! video/x-raw,format=NV12,width=640,height=480 ! cudaupload ! \
 *     edgertinfer config=configs/models/yolov8n.yaml device=cuda ! cudadownload ! \
 *     edgertoverlay ! videoconvert ! autovideosink
 * ]|
 * (scripts/fetch_models.py puts the models the configs name into build/models.) `-m` prints the
 * "edgert-build" messages: progress, the plan-cache line and the session's backend once ready.
 *
 * Algorithm:
 *   1. start(): copy the properties, load the model config (its `model` is used when the model
 *      property is unset), read the model's inputs (shapes for dynamic dimensions come from the
 *      config: {batch-size, channels, height, width}), check that every op is supported
 *      (CheckModel: an unsupported op fails here, naming it), resolve the device, share a CUDA context
 *      (GstContext, as cudaupload does) and open the Session on a worker thread. Progress and the
 *      plan-cache line are posted as "edgert-build" element messages. Until the session is ready,
 *      frames of a live source pass through without results (the video keeps flowing while a plan
 *      builds) and frames of a non-live source (files, test sources: upstream's latency query says
 *      not live) wait for it, so every frame gets results; the session is swapped in between frames.
 *      With fallback-plan, that plan is opened first and serves (frames get its results) until the
 *      model's session is ready and replaces it between frames ("edgert-build" stage "fallback",
 *      then "ready"); a fallback that cannot serve (missing, foreign, another input) is a warning.
 *   2. set_caps(): the frame format and size (system memory or memory:CUDAMemory).
 *   3. Each frame: map it, preprocess straight into the session's input buffer at the frame's
 *      batch slot (CUDA sessions: PreprocessCuda on the session's stream from CUDA memory or from
 *      the pinned pool's device-mapped pointer, otherwise PreprocessCpu into host staging and one
 *      copy, counted in frame-copies), Run(), Decode() each batch item with its InputTransform and
 *      attach EdgertMeta. GPU decode: a CUDA session whose decoder is yolov8 or yolov5 (and
 *      output-tensors off) runs without copying output 0 to the host; each batch item b is decoded
 *      by vision::DecodeDetectionsCuda from the device output at offset b * (elements per item) on
 *      the session's stream (candidates, sort and NMS on the GPU, only the kept boxes come back),
 *      with a DetectionWorkspace allocated on the first frame and kept until stop(). Every other
 *      decoder and the CPU backend decode host outputs with Decode(). With `interval` N, only
 *      every Nth frame runs; the others carry the last results with stale=TRUE.
 *   4. batch-size N > 1: frames queue in order (generate_output hands them downstream once their
 *      batch ran); a timer thread runs a partial batch after batch-timeout ms; serialized events
 *      (EOS, segment, caps, ...) run the partial batch first, flushes discard the queue. The
 *      latency query adds batch-timeout.
 *   4b. pipeline (auto: CUDA sessions whose decoder runs on the host): frames also take the queued
 *      path; a full batch is launched (Session::Launch into one of two host output sets, waiting
 *      while both are in flight) and handed to the finisher thread, which waits for its outputs
 *      (Session::Wait), decodes them without the mutex, attaches the metas and pushes the frames,
 *      in launch order. Frames that must follow launched ones (stale or pass-through) queue behind
 *      them. Serialized events wait until nothing is in flight; flushes wait for the GPU and
 *      discard; a session is swapped in only when nothing is in flight.
 *   5. propose_allocation(): for system memory and a CUDA session, a pool of pinned device-mapped
 *      host memory (pinned_pool.h); Jetson's zero-copy path. NVMM (Jetson's memory:NVMM surfaces) is
 *      designed to enter through the same FrameView (device-readable planes and strides) but is
 *      neither in the caps nor tested: there is no Jetson in CI.
 *   6. calibration-frames N: every calibration-interval-th inferred frame's preprocessed input is
 *      written to calibration-dir as NNNNNN.npy until N exist, then an "edgert-calibration" message
 *      is posted. precision int8: when calibration-dir already holds N frames (or N is 0 and it
 *      holds any), the INT8 plan opens at once (Session precision int8: calibrated on those frames,
 *      gated, cached; the calibration cache beside the plans as <cache-dir>/<model>.calib).
 *      Otherwise the element runs at precision best while it captures, then the int8 worker builds
 *      the INT8 plan in the background (its lines, the gate's per-layer decisions included, go to
 *      the bus as "edgert-build" stage "int8" messages) and the INT8 session replaces the running
 *      one between frames ("edgert-build" stage "ready", int8 TRUE). A failed INT8 build is a
 *      warning: the element keeps running at best.
 *
 * Threads: properties are guarded by the object lock; the session, the queue and all per-frame
 * state by `mutex` (taken by the streaming thread, the batch timer, the finisher and the event
 * handler; the finisher decodes without it, on a batch nobody else touches until it is popped);
 * the worker only produces the pending session (guarded by `pending_mutex`). CUDA is touched only
 * in start() when the device resolves to cuda, so gst-inspect-1.0 works without a GPU.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "calib_capture.h"
#include "edgert/builder.h"
#include "edgert/gst/edgert_meta.h"
#include "edgert/plan_cache.h"
#include "edgert/session.h"
#include "edgert/vision/decode.h"
#include "edgert/vision/model_config.h"
#include "edgert/vision/preprocess.h"
#include "edgertinfer.h"
#include "pinned_pool.h"

#ifdef EDGERT_HAVE_CUDA
#include <cuda_runtime.h>

#include "edgert/cuda_engine.h"
#endif
#ifdef EDGERT_HAVE_GST_CUDA
#include <dlfcn.h>
#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudaloader.h>
#include <gst/cuda/gstcudamemory.h>
#include <gst/cuda/gstcudautils.h>
#endif

GST_DEBUG_CATEGORY_STATIC(gst_edgert_infer_debug);
#define GST_CAT_DEFAULT gst_edgert_infer_debug

#define EDGERT_FORMATS "{ RGB, BGR, RGBA, BGRx, NV12, I420, GRAY8 }"
#ifdef EDGERT_HAVE_GST_CUDA
#define EDGERT_INFER_CAPS \
  GST_VIDEO_CAPS_MAKE_WITH_FEATURES("memory:CUDAMemory", EDGERT_FORMATS) "; " GST_VIDEO_CAPS_MAKE(EDGERT_FORMATS)
#else
#define EDGERT_INFER_CAPS GST_VIDEO_CAPS_MAKE(EDGERT_FORMATS)
#endif

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(EDGERT_INFER_CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(EDGERT_INFER_CAPS));

namespace {

namespace vision = edgert::vision;
using edgert::Session;
using edgert::Shape;
using edgert::Status;
using edgert::StatusOr;
using edgert::Tensor;
using Clock = std::chrono::steady_clock;

enum {
  PROP_0,
  PROP_MODEL,
  PROP_PLAN,
  PROP_CONFIG,
  PROP_PRECISION,
  PROP_BATCH_SIZE,
  PROP_BATCH_TIMEOUT,
  PROP_INTERVAL,
  PROP_DEVICE,
  PROP_DEVICE_ID,
  PROP_THRESHOLD,
  PROP_NMS_IOU,
  PROP_CACHE_DIR,
  PROP_OUTPUT_TENSORS,
  PROP_CALIBRATION_FRAMES,
  PROP_CALIBRATION_INTERVAL,
  PROP_CALIBRATION_DIR,
  PROP_FRAME_COPIES,
  PROP_BACKEND,
  PROP_FALLBACK_PLAN,
  PROP_PIPELINE,
};

constexpr int kDefaultBatchSize = 1;
constexpr guint kDefaultBatchTimeoutMs = 40;
constexpr guint kDefaultInterval = 1;
constexpr guint kDefaultCalibrationInterval = 1;

// The properties (guarded by the object lock; copied at start()).
struct Settings {
  std::string model, plan, config;
  std::string precision = "fp32";
  int batch_size = kDefaultBatchSize;
  guint batch_timeout_ms = kDefaultBatchTimeoutMs;
  guint interval = kDefaultInterval;
  std::string device = "auto";
  int device_id = 0;
  double threshold = -1.0;  // < 0: the config's value
  double nms_iou = -1.0;
  std::string cache_dir;
  std::string fallback_plan;      // serves while the model's plan is opened or built
  std::string pipeline = "auto";  // auto | on | off
  bool output_tensors = false;
  guint calibration_frames = 0;
  guint calibration_interval = kDefaultCalibrationInterval;
  std::string calibration_dir;
};

// One frame held by the element until its batch ran.
struct Entry {
  GstBuffer* buffer = nullptr;  // owned reference
  guint64 frame_number = 0;
  bool infer = false;  // false: carries the latest results, stale
  int slot = -1;       // batch slot (infer only)
  vision::InputTransform transform;
  GstVideoFrame frame;  // kept mapped while a GPU kernel may still read it
  bool mapped = false;
};

}  // namespace

// Element state (C++). Owned by the GObject instance: created in init, deleted in finalize.
struct EdgertInferState {
  Settings settings;  // object lock

  // Fixed between start() and stop().
  Settings active;
  vision::ModelConfig config;
  std::string model_path;  // ONNX model, or empty when a plan is used
  std::string device;      // resolved: cpu | cuda
  int channels = 3;

  // Worker thread and the session it produces.
  std::thread worker;
  // precision int8 with a capture still to do: the options the INT8 session is opened with once
  // the capture is done, by int8_worker (started from the streaming thread, joined in stop()).
  bool int8_after_capture = false;
  edgert::SessionOptions int8_options;
  std::thread int8_worker;
  std::mutex pending_mutex;
  std::unique_ptr<Session> pending;
  bool open_failed = false;  // pending_mutex

  // Streaming state (mutex).
  std::mutex mutex;
  std::condition_variable cv;
  std::unique_ptr<Session> session;
  bool gpu_decode = false;  // decode output 0 on the GPU (DecodeDetectionsCuda), no host copy of it
  std::unique_ptr<vision::DetectionWorkspace> detection_workspace;  // gpu_decode; freed in stop()
  int input_index = 0;
  size_t slot_elements = 0;    // C*H*W
  std::vector<float> staging;  // host preprocessing for CUDA sessions without device-readable frames
  GstVideoInfo video_info;
  bool have_caps = false;
  bool cuda_caps = false;
  guint64 frames_seen = 0;
  guint64 frames_since_ready = 0;
  bool have_results = false;
  vision::FrameResults last_results;
  std::deque<Entry> queue;
  int queued_slots = 0;
  double queued_pre_ms = 0;
  Clock::time_point batch_start;
  std::deque<GstBuffer*> ready;  // queued mode: buffers handed downstream by generate_output
  // Pipelining (`pipelined`, fixed between start() and stop()): batches launched with
  // Session::Launch(set), in launch order; the finisher thread waits for the front one's outputs,
  // decodes them outside the mutex, attaches the metas and pushes its frames, then pops it. Batches
  // without inference (slots 0: frames passing through behind launched ones) keep their place.
  bool pipelined = false;
  bool queued_mode = false;  // batch-size > 1 or pipelined: frames go through generate_output
  struct Launched {
    std::deque<Entry> entries;
    int slots = 0;
    int set = 0;
    double pre_ms = 0;
    Clock::time_point t0;
  };
  std::deque<Launched> launched;
  int next_set = 0;
  bool finisher_busy = false;           // the finisher works on launched.front() without the mutex
  std::condition_variable finisher_cv;  // launched changed, or the finisher went idle
  std::thread finisher;
  GstFlowReturn timer_flow = GST_FLOW_OK;
  std::atomic<bool> flushing{false};
  bool quit = false;
  int upstream_live = -1;  // -1: not asked yet; 0/1: the upstream latency query's answer
  std::thread timer;
  edgert::gst::CalibrationCapture calibration;
  bool calibration_posted = false;

  std::atomic<gint64> frame_copies{0};
  std::string backend;  // object lock

#ifdef EDGERT_HAVE_GST_CUDA
  GstCudaContext* cuda_context = nullptr;  // object lock
  gpointer primary_handle = nullptr;       // CUcontext of the runtime's primary context
#endif
};

struct _GstEdgertInfer {
  GstBaseTransform parent;
  EdgertInferState* state;
};

#define gst_edgert_infer_parent_class parent_class
G_DEFINE_TYPE(GstEdgertInfer, gst_edgert_infer, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE(edgertinfer, "edgertinfer", GST_RANK_NONE, GST_TYPE_EDGERT_INFER,
                                      GST_DEBUG_CATEGORY_INIT(gst_edgert_infer_debug, "edgertinfer", 0,
                                                              "edgert inference element"));

namespace {

// Posts `status` as an element error; the GError domain follows the status code.
void PostError(GstEdgertInfer* self, const Status& status, const char* what) {
  const std::string text = std::string(what) + ": " + status.message();
  const std::string debug = status.subject().empty()
                                ? std::string(edgert::StatusCodeName(status.code()))
                                : std::string(edgert::StatusCodeName(status.code())) + " (" + status.subject() + ")";
  switch (status.code()) {
    case edgert::StatusCode::kNotFound:
      GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("%s", text.c_str()), ("%s", debug.c_str()));
      break;
    case edgert::StatusCode::kIoError:
      GST_ELEMENT_ERROR(self, RESOURCE, READ, ("%s", text.c_str()), ("%s", debug.c_str()));
      break;
    case edgert::StatusCode::kInvalidArgument:
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", text.c_str()), ("%s", debug.c_str()));
      break;
    case edgert::StatusCode::kUnsupported:
      GST_ELEMENT_ERROR(self, CORE, NOT_IMPLEMENTED, ("%s", text.c_str()), ("%s", debug.c_str()));
      break;
    default:
      GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("%s", text.c_str()), ("%s", debug.c_str()));
      break;
  }
}

void PostBuildMessage(GstEdgertInfer* self, GstStructure* s) {
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

bool FileExists(const std::string& path) { return g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR); }

StatusOr<vision::PixelFormat> FormatOf(GstVideoFormat format) {
  switch (format) {
    case GST_VIDEO_FORMAT_RGB:
      return vision::PixelFormat::kRGB;
    case GST_VIDEO_FORMAT_BGR:
      return vision::PixelFormat::kBGR;
    case GST_VIDEO_FORMAT_RGBA:
      return vision::PixelFormat::kRGBA;
    case GST_VIDEO_FORMAT_BGRx:
      return vision::PixelFormat::kBGRx;
    case GST_VIDEO_FORMAT_NV12:
      return vision::PixelFormat::kNV12;
    case GST_VIDEO_FORMAT_I420:
      return vision::PixelFormat::kI420;
    case GST_VIDEO_FORMAT_GRAY8:
      return vision::PixelFormat::kGRAY8;
    default:
      return edgert::InvalidArgument(std::string("video format ") + gst_video_format_to_string(format) +
                                         " is not one of RGB, BGR, RGBA, BGRx, NV12, I420, GRAY8",
                                     "caps");
  }
}

// --- start(): config, model inputs, device ------------------------------------------------------

// Fills state->config / model_path / channels and the SessionOptions shapes from the settings.
Status PrepareModel(EdgertInferState* st, edgert::SessionOptions* options) {
  const Settings& s = st->active;
  st->config = vision::ModelConfig();
  bool have_config = false;
  if (!s.config.empty()) {
    if (!FileExists(s.config)) {
      return edgert::NotFound("config file " + s.config + " does not exist", s.config);
    }
    StatusOr<vision::ModelConfig> config = vision::LoadModelConfig(s.config);
    if (!config.ok()) return config.status();
    st->config = std::move(*config);
    have_config = true;
  }
  if (s.threshold >= 0) st->config.decoder.threshold = static_cast<float>(s.threshold);
  if (s.nms_iou >= 0) st->config.decoder.nms_iou = static_cast<float>(s.nms_iou);

  // The model or plan: properties first, then the config's `model` (a plan when it ends in .plan).
  st->model_path.clear();
  std::string plan = s.plan;
  if (plan.empty()) {
    st->model_path = !s.model.empty() ? s.model : st->config.model;
    if (st->model_path.empty()) {
      return edgert::InvalidArgument("no model: set the model, plan or config property", "model");
    }
    if (g_str_has_suffix(st->model_path.c_str(), ".plan")) {
      plan = st->model_path;
      st->model_path.clear();
    }
  }
  const std::string& file = plan.empty() ? st->model_path : plan;
  if (!FileExists(file)) {
    return edgert::NotFound((plan.empty() ? "model file " : "plan file ") + file + " does not exist", file);
  }
  options->model = st->model_path;
  options->plan = plan;

  vision::PreprocessConfig& pre = st->config.input;
  if (!st->model_path.empty()) {
    StatusOr<std::vector<edgert::ModelInput>> inputs = edgert::ReadModelInputs(st->model_path);
    if (!inputs.ok()) return inputs.status().WithContext(st->model_path);
    if (inputs->empty()) return edgert::InvalidArgument(st->model_path + " has no graph input", st->model_path);
    const edgert::ModelInput* input = &inputs->front();
    if (!pre.input_name.empty()) {
      input = nullptr;
      for (const edgert::ModelInput& in : *inputs) {
        if (in.name == pre.input_name) input = &in;
      }
      if (input == nullptr) {
        return edgert::InvalidArgument(
            s.config + ": input.name '" + pre.input_name + "' is not an input of " + st->model_path, "input.name");
      }
    }
    pre.input_name = input->name;
    const Shape& shape = input->shape;
    if (shape.size() != 4) {
      return edgert::InvalidArgument("input '" + input->name + "' of " + st->model_path + " has shape " +
                                         edgert::ShapeToString(shape) + "; edgertinfer feeds NCHW images (rank 4)",
                                     input->name);
    }
    if (!have_config) {
      // No config: the network's own size and channel count, stretched, pixels scaled to [0,1].
      if (shape[2] <= 0 || shape[3] <= 0) {
        return edgert::InvalidArgument("input '" + input->name + "' of " + st->model_path +
                                           " has a dynamic height/width: set a config with input width and height",
                                       "config");
      }
      pre.height = static_cast<int>(shape[2]);
      pre.width = static_cast<int>(shape[3]);
      if (shape[1] == 1) pre.color = vision::ColorOrder::kGray;
    }
    st->channels = pre.color == vision::ColorOrder::kGray ? 1 : 3;
    const Shape want = {s.batch_size, st->channels, pre.height, pre.width};
    bool dynamic = false;
    for (size_t i = 0; i < 4; ++i) {
      if (shape[i] < 0) {
        dynamic = true;
      } else if (shape[i] != want[i]) {
        static const char* kWhat[] = {"batch (batch-size)", "channels (config input.color)",
                                      "height (config input.height)", "width (config input.width)"};
        return edgert::InvalidArgument("input '" + input->name + "' of " + st->model_path + " has fixed shape " +
                                           edgert::ShapeToString(shape) + " but the element feeds " +
                                           edgert::ShapeToString(want) + ": the " + kWhat[i] + " differs",
                                       input->name);
      }
    }
    if (dynamic) options->shapes[input->name] = want;
    // Unsupported ops fail here, before any frame flows, rather than later on the worker thread.
    edgert::BuildOptions check_options;
    check_options.shapes = options->shapes;
    StatusOr<edgert::SupportReport> report = edgert::CheckModel(st->model_path, check_options);
    if (!report.ok()) return report.status().WithContext(st->model_path);
    if (!report->AllSupported()) {
      std::string list;
      for (const edgert::SupportEntry& e : report->nodes) {
        if (e.status.ok()) continue;
        if (!list.empty()) list += "; ";
        list += "node '" + e.node_name + "' (" + e.op_type + "): " + e.status.message();
      }
      return edgert::Unsupported(st->model_path + " has nodes edgert cannot build: " + list, st->model_path);
    }
  } else {
    st->channels = pre.color == vision::ColorOrder::kGray ? 1 : 3;
  }
  return Status::Ok();
}

#ifdef EDGERT_HAVE_GST_CUDA
// A GstCudaContext wrapping the CUDA runtime's primary context of `device_id` (the one the session
// uses), so upstream CUDA elements allocate memory the session's kernels can read. cuCtxGetCurrent
// comes from the already-loaded driver library (no link-time dependency on libcuda).
GstCudaContext* NewPrimaryCudaContext(int device_id, gpointer* handle) {
  if (!gst_cuda_load_library()) return nullptr;
  if (cudaSetDevice(device_id) != cudaSuccess || cudaFree(nullptr) != cudaSuccess) return nullptr;
  void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
  if (lib == nullptr) return nullptr;
  using CtxGetCurrent = int (*)(CUcontext*);
  auto get_current = reinterpret_cast<CtxGetCurrent>(dlsym(lib, "cuCtxGetCurrent"));
  CUcontext ctx = nullptr;
  const bool ok = get_current != nullptr && get_current(&ctx) == 0 && ctx != nullptr;
  dlclose(lib);
  if (!ok) return nullptr;
  *handle = ctx;
  return gst_cuda_context_new_wrapped(ctx, static_cast<CUdevice>(device_id));
}
#endif

// --- per-frame work (state->mutex held) ---------------------------------------------------------

void UnmapEntry(Entry* e) {
  if (e->mapped) {
    gst_video_frame_unmap(&e->frame);
    e->mapped = false;
  }
}

// Drops the queued and launched frames. `lock` holds st->mutex: waits for the finisher to put its
// batch down and for the GPU to finish with the launched frames before unmapping them.
void DiscardQueue(EdgertInferState* st, std::unique_lock<std::mutex>& lock) {
  st->finisher_cv.wait(lock, [st] { return !st->finisher_busy; });
  for (EdgertInferState::Launched& batch : st->launched) {
    if (batch.slots > 0 && st->session) (void)st->session->Wait(batch.set);
    for (Entry& e : batch.entries) {
      UnmapEntry(&e);
      gst_buffer_unref(e.buffer);
    }
  }
  st->launched.clear();
  st->finisher_cv.notify_all();
  for (Entry& e : st->queue) {
    UnmapEntry(&e);
    gst_buffer_unref(e.buffer);
  }
  st->queue.clear();
  st->queued_slots = 0;
  st->queued_pre_ms = 0;
  for (GstBuffer* b : st->ready) gst_buffer_unref(b);
  st->ready.clear();
}

#ifdef EDGERT_HAVE_CUDA
Status CudaCheck(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return Status::Ok();
  return edgert::Internal(std::string(call) + " failed: " + cudaGetErrorString(err), call);
}
#endif

void Int8Worker(GstEdgertInfer* self, EdgertInferState* st, edgert::SessionOptions options);

// Writes the calibration copy of the input at `slot` (host pointer `host`, or device memory when
// `host` is null on a CUDA session).
Status CaptureCalibration(GstEdgertInfer* self, EdgertInferState* st, const float* host, const float* device) {
  if (!st->calibration.Offer()) return Status::Ok();
  const vision::PreprocessConfig& pre = st->config.input;
  std::vector<float> copy;
  if (host == nullptr) {
#ifdef EDGERT_HAVE_CUDA
    copy.resize(st->slot_elements);
    auto stream = static_cast<cudaStream_t>(st->session->stream());
    EDGERT_RETURN_IF_ERROR(
        CudaCheck(cudaMemcpyAsync(copy.data(), device, copy.size() * sizeof(float), cudaMemcpyDeviceToHost, stream),
                  "cudaMemcpyAsync (calibration)"));
    EDGERT_RETURN_IF_ERROR(CudaCheck(cudaStreamSynchronize(stream), "cudaStreamSynchronize (calibration)"));
    host = copy.data();
#else
    return edgert::Internal("device input without the CUDA backend");
#endif
  }
  EDGERT_RETURN_IF_ERROR(st->calibration.Write(host, {1, st->channels, pre.height, pre.width}));
  if (st->calibration.done() && !st->calibration_posted) {
    st->calibration_posted = true;
    GST_INFO_OBJECT(self, "calibration capture: %d frames in %s", st->calibration.written(),
                    st->calibration.dir().c_str());
    PostBuildMessage(self, gst_structure_new("edgert-calibration", "frames", G_TYPE_INT, st->calibration.written(),
                                             "dir", G_TYPE_STRING, st->calibration.dir().c_str(), "note", G_TYPE_STRING,
                                             st->int8_after_capture
                                                 ? "preprocessed inputs ([1,C,H,W] float32 .npy); building the INT8 "
                                                   "plan from them"
                                                 : "preprocessed inputs ([1,C,H,W] float32 .npy), the INT8 "
                                                   "calibration data of edgert build --int8 --calib DIR",
                                             nullptr));
    if (st->int8_after_capture && !st->int8_worker.joinable()) {
      st->int8_worker = std::thread(Int8Worker, self, st, st->int8_options);
    }
  }
  return Status::Ok();
}

// Maps e->buffer and preprocesses it into the session input at e->slot (steps in the file comment).
Status PrepareSlot(GstEdgertInfer* self, EdgertInferState* st, Entry* e) {
  const auto t0 = Clock::now();
  Session& session = *st->session;
  const vision::PreprocessConfig& pre = st->config.input;
  auto* input =
      static_cast<float*>(session.InputBuffer(st->input_index)) + static_cast<size_t>(e->slot) * st->slot_elements;
  GstBuffer* buf = e->buffer;
  bool cuda_memory = false;
  bool device_map = false;
#ifdef EDGERT_HAVE_GST_CUDA
  GstMemory* mem0 = gst_buffer_n_memory(buf) > 0 ? gst_buffer_peek_memory(buf, 0) : nullptr;
  cuda_memory = mem0 != nullptr && gst_is_cuda_memory(mem0);
  if (cuda_memory && session.on_gpu()) {
    auto* cmem = reinterpret_cast<GstCudaMemory*>(mem0);
    device_map = cmem->context != nullptr && st->primary_handle != nullptr &&
                 gst_cuda_context_get_handle(cmem->context) == st->primary_handle;
  }
#endif
#ifdef EDGERT_HAVE_GST_CUDA
  const int flags = GST_MAP_READ | (device_map ? GST_MAP_CUDA : 0);
#else
  const int flags = GST_MAP_READ;
#endif
  if (!gst_video_frame_map(&e->frame, &st->video_info, buf, static_cast<GstMapFlags>(flags))) {
    return edgert::Internal("cannot map the frame (" + std::string(device_map ? "CUDA" : "system") + " memory)",
                            "frame");
  }
  e->mapped = true;
  EDGERT_ASSIGN_OR_RETURN(vision::PixelFormat format, FormatOf(GST_VIDEO_FRAME_FORMAT(&e->frame)));
  vision::FrameView view;
  view.format = format;
  view.width = GST_VIDEO_FRAME_WIDTH(&e->frame);
  view.height = GST_VIDEO_FRAME_HEIGHT(&e->frame);
  const int planes = vision::PlaneCount(format);
  for (int p = 0; p < planes; ++p) {
    view.planes[p] = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&e->frame, p));
    view.strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE(&e->frame, p);
  }
  if (cuda_memory && !device_map) st->frame_copies += 1;  // GstCudaMemory downloaded it for us

  Status status;
  if (!session.on_gpu()) {
    status = vision::PreprocessCpu(view, pre, input, &e->transform);
    if (status.ok()) status = CaptureCalibration(self, st, input, nullptr);
    UnmapEntry(e);
  } else {
#ifdef EDGERT_HAVE_CUDA
    EDGERT_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(st->active.device_id), "cudaSetDevice"));
    bool device_readable = device_map;
    if (!device_readable && !cuda_memory) {
      // Pinned pool buffers: every plane has a device-mapped address.
      vision::FrameView mapped = view;
      bool all = true;
      for (int p = 0; p < planes && all; ++p) {
        all = false;
        for (guint m = 0; m < gst_buffer_n_memory(buf) && !all; ++m) {
          const void* device = nullptr;
          if (edgert::gst::PinnedDevicePointer(gst_buffer_peek_memory(buf, m), view.planes[p], &device)) {
            mapped.planes[p] = static_cast<const uint8_t*>(device);
            all = true;
          }
        }
      }
      if (all) {
        view = mapped;
        device_readable = true;
      }
    }
    if (device_readable) {
      view.on_device = true;
      status = vision::PreprocessCuda(view, pre, input, session.stream(), &e->transform);
      if (status.ok()) status = CaptureCalibration(self, st, nullptr, input);
      // The frame stays mapped until the batch ran (the kernel reads it asynchronously).
    } else {
      float* host = st->staging.data() + static_cast<size_t>(e->slot) * st->slot_elements;
      status = vision::PreprocessCpu(view, pre, host, &e->transform);
      UnmapEntry(e);
      if (status.ok()) {
        const size_t bytes = st->slot_elements * sizeof(float);
        if (st->active.batch_size == 1) {
          status = session.CopyInputFromHost(st->input_index, host, bytes);
        } else {
          status = CudaCheck(
              cudaMemcpyAsync(input, host, bytes, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(session.stream())),
              "cudaMemcpyAsync (frame input)");
        }
        st->frame_copies += 1;
      }
      if (status.ok()) status = CaptureCalibration(self, st, host, nullptr);
    }
#else
    status = edgert::Internal("a CUDA session in a build without the CUDA backend");
#endif
  }
  st->queued_pre_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return status;
}

// float32 host copy of `t` (raw output tensors in the meta are float32).
Tensor Float32Copy(const Tensor& t) {
  if (t.dtype() == edgert::DataType::kFloat32) return t.Clone();
  StatusOr<Tensor> out = Tensor::Create(edgert::DataType::kFloat32, t.shape());
  if (!out.ok()) return Tensor();
  float* dst = out->data<float>();
  for (int64_t i = 0; i < t.num_elements(); ++i) dst[i] = static_cast<float>(t.GetAsDouble(i));
  return *out;
}

void AttachMeta(GstBuffer* buffer, guint64 frame_number, const vision::FrameResults& results, bool stale) {
  EdgertMeta* meta = gst_buffer_add_edgert_meta(buffer);
  if (meta == nullptr) return;
  meta->frame_number = frame_number;
  meta->inference_ms = results.inference_ms;
  meta->stale = stale ? TRUE : FALSE;
  if (vision::FrameResults* r = edgert_meta_results(meta)) *r = results;
}

// Decodes the batch `entries` (slots inferred frames) from output set `set` of the session, whose
// outputs are there (Run(), or Launch(set) + Wait(set)): each inferred entry from its slice of the
// outputs (or, GPU decode, from the device output). Reads only what is fixed while frames flow, so
// the finisher calls it without the mutex.
Status DecodeBatch(EdgertInferState* st, const std::deque<Entry>& entries, int slots, int set,
                   std::vector<vision::FrameResults>* decoded) {
  Status status = Status::Ok();
  std::vector<std::vector<Tensor>> slices;
  std::vector<std::string> names;
  // GPU decode: output 0 stays on the device; batch item b starts b * item_elements floats in.
  std::vector<Shape> gpu_shapes;
  size_t item_elements = 0;
  decoded->assign(static_cast<size_t>(slots), vision::FrameResults());
  if (slots == 0) return status;
  const int batch = st->active.batch_size;
  for (int o = 0; o < st->session->NumOutputs(); ++o) names.push_back(st->session->OutputInfo(o).name);
  if (st->gpu_decode) {
    Shape shape = st->session->OutputInfo(0).shape;
    if (shape.empty() || shape[0] != batch) {
      return edgert::InvalidArgument("output '" + names[0] + "' has shape " + edgert::ShapeToString(shape) +
                                         ", not batch " + std::to_string(batch) + " first",
                                     names[0]);
    }
    item_elements = static_cast<size_t>(edgert::NumElements(shape) / batch);
    shape[0] = 1;
    gpu_shapes.push_back(shape);
  }
  slices.resize(static_cast<size_t>(slots));
  for (int o = 0; o < st->session->NumOutputs() && status.ok() && !st->gpu_decode; ++o) {
    const Tensor& t = st->session->Output(o, set);
    for (int b = 0; b < slots; ++b) {
      if (batch == 1) {
        slices[static_cast<size_t>(b)].push_back(t);
        continue;
      }
      if (t.rank() < 1 || t.dim(0) != batch) {
        status = edgert::InvalidArgument("output '" + names[static_cast<size_t>(o)] + "' has shape " +
                                             edgert::ShapeToString(t.shape()) + ", not batch " + std::to_string(batch) +
                                             " first",
                                         names[static_cast<size_t>(o)]);
        break;
      }
      Shape shape = t.shape();
      shape[0] = 1;
      const size_t bytes = t.bytes() / static_cast<size_t>(batch);
      auto* base = static_cast<uint8_t*>(const_cast<void*>(t.raw())) + bytes * static_cast<size_t>(b);
      slices[static_cast<size_t>(b)].push_back(Tensor::View(t.dtype(), shape, base));
    }
  }
  for (int b = 0; b < slots && status.ok(); ++b) {
    const Entry* entry = nullptr;
    for (const Entry& e : entries) {
      if (e.infer && e.slot == b) entry = &e;
    }
    vision::FrameResults& r = (*decoded)[static_cast<size_t>(b)];
    if (entry == nullptr) {
      status = edgert::Internal("batch slot " + std::to_string(b) + " has no frame");
    } else if (st->gpu_decode) {
      const float* item =
          static_cast<const float*>(st->session->OutputBuffer(0)) + item_elements * static_cast<size_t>(b);
      status = vision::DecodeDetectionsCuda(st->config, {item}, gpu_shapes, names, entry->transform,
                                            st->detection_workspace.get(), st->session->stream(), &r);
      if (!status.ok()) status = status.WithContext(st->active.config.empty() ? "decoder" : st->active.config);
    } else if (st->config.decoder.kind != vision::DecoderKind::kNone) {
      status = vision::Decode(st->config, slices[static_cast<size_t>(b)], names, entry->transform, &r);
      if (!status.ok()) status = status.WithContext(st->active.config.empty() ? "decoder" : st->active.config);
    }
    if (st->active.output_tensors) {
      for (size_t o = 0; o < names.size(); ++o) {
        r.tensors.emplace_back(names[o], Float32Copy(slices[static_cast<size_t>(b)][o]));
      }
    }
  }
  return status;
}

// Attaches the metas of a decoded batch in entry order (stale entries get the latest results before
// them; none after a failure) and moves its buffers to `out`; `entries` is left empty.
void FinishEntries(EdgertInferState* st, std::deque<Entry>* entries, std::vector<vision::FrameResults>* decoded,
                   const Status& status, double ms, std::vector<GstBuffer*>* out) {
  for (Entry& e : *entries) {
    UnmapEntry(&e);
    if (status.ok()) {
      if (e.infer) {
        st->last_results = std::move((*decoded)[static_cast<size_t>(e.slot)]);
        st->last_results.inference_ms = ms;
        st->have_results = true;
        AttachMeta(e.buffer, e.frame_number, st->last_results, false);
      } else if (st->have_results) {
        AttachMeta(e.buffer, e.frame_number, st->last_results, true);
      }
    }
    out->push_back(e.buffer);
  }
  entries->clear();
}

// The device the batch runs on is current in this thread (the streaming thread, the batch timer).
Status MakeDeviceCurrent(EdgertInferState* st) {
#ifdef EDGERT_HAVE_CUDA
  if (st->session->on_gpu()) return CudaCheck(cudaSetDevice(st->active.device_id), "cudaSetDevice");
#endif
  (void)st;
  return Status::Ok();
}

// Pipelining: launches the queued batch into a free output set (waiting for the finisher to free
// one) and hands it to the finisher; the queue is left empty. `lock` holds st->mutex.
Status LaunchQueue(EdgertInferState* st, std::unique_lock<std::mutex>& lock) {
  EdgertInferState::Launched batch;
  batch.t0 = Clock::now();
  batch.slots = st->queued_slots;
  batch.pre_ms = st->queued_pre_ms;
  Status status = Status::Ok();
  if (batch.slots > 0) {
    const int set = st->next_set;
    st->finisher_cv.wait(lock, [st, set] {
      for (const EdgertInferState::Launched& b : st->launched) {
        if (b.slots > 0 && b.set == set) return false;
      }
      return true;
    });
    batch.set = set;
    status = MakeDeviceCurrent(st);
    if (status.ok()) status = st->session->Launch(set);
    st->next_set = (set + 1) % Session::kOutputSets;
  }
  batch.entries = std::move(st->queue);
  st->queue.clear();
  st->queued_slots = 0;
  st->queued_pre_ms = 0;
  if (!status.ok()) {
    // Nothing was queued for these frames on the GPU beyond what failed: hand them on without
    // results, in order, through the finisher.
    batch.slots = 0;
  }
  st->launched.push_back(std::move(batch));
  st->finisher_cv.notify_all();
  return status;
}

// Runs the queued batch and moves its buffers, with their metas, to `out` in order (also on failure,
// then without metas); the queue is left empty. Pipelined: launches it instead (LaunchQueue) and
// the finisher hands the buffers on.
Status RunQueue(GstEdgertInfer* self, EdgertInferState* st, std::vector<GstBuffer*>* out,
                std::unique_lock<std::mutex>& lock) {
  (void)self;
  if (st->pipelined) return LaunchQueue(st, lock);
  const auto t0 = Clock::now();
  Status status = MakeDeviceCurrent(st);
  if (status.ok() && st->queued_slots > 0) status = st->session->Run();
  std::vector<vision::FrameResults> decoded;
  if (status.ok()) status = DecodeBatch(st, st->queue, st->queued_slots, 0, &decoded);
  const double ms = st->queued_pre_ms + std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  FinishEntries(st, &st->queue, &decoded, status, ms, out);
  st->queued_slots = 0;
  st->queued_pre_ms = 0;
  return status;
}

// Pushes `buffers` downstream in order from a thread other than the streaming thread (mutex held,
// so pushes stay ordered with the others); after a failed push or while flushing the rest are
// dropped and the flow is kept in timer_flow for the streaming thread to return.
void PushFromThread(GstEdgertInfer* self, EdgertInferState* st, const std::vector<GstBuffer*>& buffers) {
  for (GstBuffer* b : buffers) {
    if (st->timer_flow == GST_FLOW_OK && !st->flushing && !st->quit) {
      const GstFlowReturn ret = gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(self), b);
      if (ret != GST_FLOW_OK) st->timer_flow = ret;
    } else {
      gst_buffer_unref(b);
    }
  }
}

// The finisher thread (pipelining): for each launched batch in order, waits for its outputs and
// decodes them without the mutex, then attaches the metas and pushes its frames with it.
void FinisherLoop(GstEdgertInfer* self, EdgertInferState* st) {
  std::unique_lock<std::mutex> lock(st->mutex);
  for (;;) {
    st->finisher_cv.wait(lock, [st] { return st->quit || !st->launched.empty(); });
    if (st->launched.empty()) return;  // quit
    EdgertInferState::Launched& batch = st->launched.front();
    st->finisher_busy = true;
    lock.unlock();
    Status status = Status::Ok();
    std::vector<vision::FrameResults> decoded;
    if (batch.slots > 0) {
      status = MakeDeviceCurrent(st);
      if (status.ok()) status = st->session->Wait(batch.set);
      if (status.ok()) status = DecodeBatch(st, batch.entries, batch.slots, batch.set, &decoded);
    }
    const double ms = batch.pre_ms + std::chrono::duration<double, std::milli>(Clock::now() - batch.t0).count();
    lock.lock();
    std::vector<GstBuffer*> out;
    FinishEntries(st, &batch.entries, &decoded, status, ms, &out);
    if (!status.ok()) {
      PostError(self, status, "inference failed");
      if (st->timer_flow == GST_FLOW_OK) st->timer_flow = GST_FLOW_ERROR;
    }
    PushFromThread(self, st, out);
    st->launched.pop_front();
    st->finisher_busy = false;
    st->finisher_cv.notify_all();
  }
}

// Hands `buffer` (frame `frame_number`, not inferred) on in order: at once (into `out`) unless
// launched batches are still ahead of it, in which case it follows them through the finisher, which
// attaches the latest results as stale when there are any.
void EmitInOrder(EdgertInferState* st, GstBuffer* buffer, guint64 frame_number, std::vector<GstBuffer*>* out) {
  if (!st->pipelined || st->launched.empty()) {
    out->push_back(buffer);
    return;
  }
  EdgertInferState::Launched pass;
  Entry e;
  e.buffer = buffer;
  e.frame_number = frame_number;
  pass.entries.push_back(e);
  pass.t0 = Clock::now();
  st->launched.push_back(std::move(pass));
  st->finisher_cv.notify_all();
}

// Whether upstream is live (the latency query's answer; FALSE when nobody answers).
bool UpstreamIsLive(GstEdgertInfer* self) {
  GstQuery* query = gst_query_new_latency();
  gboolean live = FALSE;
  if (gst_pad_peer_query(GST_BASE_TRANSFORM_SINK_PAD(self), query)) {
    gst_query_parse_latency(query, &live, nullptr, nullptr);
  }
  gst_query_unref(query);
  return live != FALSE;
}

// Swaps in a finished session between frames (queue empty). Returns false when the open failed.
bool TakePendingSession(GstEdgertInfer* self, EdgertInferState* st) {
  std::lock_guard<std::mutex> lock(st->pending_mutex);
  if (st->open_failed) return false;
  if (st->pending && st->queue.empty() && st->launched.empty()) {
    st->session = std::move(st->pending);
    st->input_index = st->session->FindInput(st->config.input.input_name);
    if (st->input_index < 0) st->input_index = 0;
    st->slot_elements = static_cast<size_t>(st->channels) * static_cast<size_t>(st->config.input.height) *
                        static_cast<size_t>(st->config.input.width);
    if (st->session->on_gpu()) st->staging.assign(st->slot_elements * static_cast<size_t>(st->active.batch_size), 0.f);
    // GPU decode for YOLO heads on CUDA sessions (float32 output 0), unless the raw outputs are
    // wanted on the host anyway.
    const vision::DecoderKind kind = st->config.decoder.kind;
    st->gpu_decode = !st->pipelined && st->session->on_gpu() && !st->active.output_tensors &&
                     st->session->NumOutputs() > 0 && st->session->OutputInfo(0).dtype == edgert::DataType::kFloat32 &&
                     (kind == vision::DecoderKind::kYoloV8 || kind == vision::DecoderKind::kYoloV5);
    if (st->gpu_decode) {
      st->gpu_decode = st->session->SetOutputToHost(0, false).ok();
      if (!st->detection_workspace) st->detection_workspace = std::make_unique<vision::DetectionWorkspace>();
    }
    st->frames_since_ready = 0;
    GST_INFO_OBJECT(self, "detector decode on the %s", st->gpu_decode ? "GPU" : "host");
    GST_INFO_OBJECT(self, "session ready: %s", st->session->info().backend_line.c_str());
  }
  return true;
}

// Takes one frame (ownership of `buffer`): queue it (inferred or stale) or pass it on. Buffers ready
// to go downstream, in order, are appended to `out`; on an error every buffer it consumed is in `out`
// too (the caller drops them). Batch-size 1 runs at once, so `buffer` comes back in `out`.
GstFlowReturn SubmitFrame(GstEdgertInfer* self, EdgertInferState* st, GstBuffer* buffer, std::vector<GstBuffer*>* out,
                          std::unique_lock<std::mutex>& lock) {
  // A pipelined stream rarely has nothing in flight between two frames: when a session is waiting
  // to be swapped in (the model's, after a fallback), let the finisher empty the pipeline first.
  if (st->pipelined && st->queue.empty() && !st->launched.empty()) {
    bool pending = false;
    {
      std::lock_guard<std::mutex> pending_lock(st->pending_mutex);
      pending = st->pending != nullptr;
    }
    if (pending) st->finisher_cv.wait(lock, [st] { return st->launched.empty(); });
  }
  if (!TakePendingSession(self, st)) {
    out->push_back(buffer);
    return GST_FLOW_ERROR;  // the error was posted by the worker
  }
  if (!st->session) {
    // Non-live streams (files, test sources) wait for the model, so that every frame gets results
    // as with a prebuilt engine; live sources keep flowing while a plan builds.
    if (st->upstream_live < 0) st->upstream_live = UpstreamIsLive(self) ? 1 : 0;
    while (st->upstream_live == 0 && !st->session && !st->quit && !st->flushing) {
      st->cv.wait_for(lock, std::chrono::milliseconds(50));  // the worker notifies; flushes may not
      if (!TakePendingSession(self, st)) {
        out->push_back(buffer);
        return GST_FLOW_ERROR;
      }
    }
    if (st->flushing) {
      out->push_back(buffer);
      return GST_FLOW_FLUSHING;
    }
  }
  const guint64 frame_number = st->frames_seen++;
  if (!st->session) {
    EmitInOrder(st, buffer, frame_number, out);  // still building: pass through without results
    return GST_FLOW_OK;
  }
  if (!st->have_caps) {
    out->push_back(buffer);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("no caps before the first buffer"), (nullptr));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  const bool infer = st->frames_since_ready++ % st->active.interval == 0;
  Entry e;
  e.buffer = buffer;
  e.frame_number = frame_number;
  e.infer = infer;
  if (!infer) {
    if (!st->queue.empty()) {
      st->queue.push_back(e);
    } else if (st->pipelined && !st->launched.empty()) {
      EmitInOrder(st, buffer, frame_number, out);
    } else {
      if (st->have_results) AttachMeta(buffer, frame_number, st->last_results, true);
      out->push_back(buffer);
    }
    return GST_FLOW_OK;
  }
  e.slot = st->queued_slots;
  Status status = PrepareSlot(self, st, &e);
  if (!status.ok()) {
    UnmapEntry(&e);
    out->push_back(buffer);
    PostError(self, status, "preprocessing failed");
    return GST_FLOW_ERROR;
  }
  st->queue.push_back(e);
  if (++st->queued_slots == 1) {
    st->batch_start = Clock::now();
    st->cv.notify_all();
  }
  if (st->queued_slots < st->active.batch_size) return GST_FLOW_OK;
  status = RunQueue(self, st, out, lock);
  if (!status.ok()) {
    PostError(self, status, "inference failed");
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

// Runs a partial batch and pushes it downstream from the calling thread (mutex held: pushes stay
// ordered with the streaming thread's). Pipelined: launches it for the finisher, and with
// `wait_finisher` (before a serialized event) waits until the finisher has pushed every launched
// frame.
GstFlowReturn DrainAndPush(GstEdgertInfer* self, EdgertInferState* st, std::unique_lock<std::mutex>& lock,
                           bool wait_finisher) {
  std::vector<GstBuffer*> out;
  Status status = Status::Ok();
  if (!st->queue.empty()) status = RunQueue(self, st, &out, lock);
  if (st->pipelined && wait_finisher) st->finisher_cv.wait(lock, [st] { return st->launched.empty(); });
  if (!status.ok()) {
    for (GstBuffer* b : out) gst_buffer_unref(b);
    PostError(self, status, "inference failed");
    return GST_FLOW_ERROR;
  }
  GstFlowReturn ret = GST_FLOW_OK;
  for (GstBuffer* b : out) {
    if (ret == GST_FLOW_OK) {
      ret = gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(self), b);
    } else {
      gst_buffer_unref(b);
    }
  }
  if (ret == GST_FLOW_OK && st->pipelined) ret = st->timer_flow;
  return ret;
}

void TimerLoop(GstEdgertInfer* self, EdgertInferState* st) {
  std::unique_lock<std::mutex> lock(st->mutex);
  const auto timeout = std::chrono::milliseconds(st->active.batch_timeout_ms);
  while (!st->quit) {
    if (st->queued_slots > 0 && !st->flushing) {
      const auto deadline = st->batch_start + timeout;
      if (Clock::now() >= deadline) {
        const GstFlowReturn ret = DrainAndPush(self, st, lock, false);
        if (ret != GST_FLOW_OK) st->timer_flow = ret;
        continue;
      }
      st->cv.wait_until(lock, deadline);
    } else {
      st->cv.wait(lock);
    }
  }
}

// Wakes a streaming thread waiting for the model (SubmitFrame) after the worker set `pending` or
// `open_failed`.
void NotifyStreaming(EdgertInferState* st) {
  std::lock_guard<std::mutex> lock(st->mutex);
  st->cv.notify_all();
}

// The session's input must be what the element writes: float32 [batch, C, H, W]. For a plan without
// a config, this first takes the plan's own input size (only before any session was taken).
Status CheckSessionInput(EdgertInferState* st, Session& s, bool adopt_plan_input) {
  Status status;
  {
    int index = s.FindInput(st->config.input.input_name);
    if (index < 0) index = 0;
    const edgert::IOTensorInfo& in = s.InputInfo(index);
    if (adopt_plan_input && st->model_path.empty() && st->active.config.empty() && in.shape.size() == 4) {
      // A plan without a config: feed the plan's own input size, stretched, pixels scaled to [0,1].
      // (The streaming thread reads the config only after it takes the session, below.)
      st->config.input.input_name = in.name;
      st->channels = in.shape[1] == 1 ? 1 : 3;
      st->config.input.color = st->channels == 1 ? vision::ColorOrder::kGray : vision::ColorOrder::kRGB;
      st->config.input.height = static_cast<int>(in.shape[2]);
      st->config.input.width = static_cast<int>(in.shape[3]);
    }
    const Shape want = {st->active.batch_size, st->channels, st->config.input.height, st->config.input.width};
    if (in.dtype != edgert::DataType::kFloat32 || in.channels_last) {
      status = edgert::InvalidArgument("input '" + in.name + "' is " + edgert::DataTypeName(in.dtype) +
                                           (in.channels_last ? " channels-last" : "") +
                                           "; edgertinfer feeds float32 NCHW (build the plan without --input-format)",
                                       in.name);
    } else if (in.shape != want) {
      status = edgert::InvalidArgument("input '" + in.name + "' has shape " + edgert::ShapeToString(in.shape) +
                                           " but the element feeds " + edgert::ShapeToString(want) +
                                           " (batch-size, config input color/height/width)",
                                       in.name);
    }
  }
  return status;
}

// fallback-plan: opened before the model, handed to the streaming thread at once (so frames get
// results while the model's plan builds), and replaced by the model's session when it is ready. A
// fallback that cannot serve is a warning, never an error: the model still opens.
void OpenFallback(GstEdgertInfer* self, EdgertInferState* st, const edgert::SessionOptions& model_options) {
  const std::string plan = st->active.fallback_plan;
  edgert::SessionOptions options = model_options;
  options.model.clear();
  options.plan = plan;
  options.logger = nullptr;
  StatusOr<std::unique_ptr<Session>> session = Session::Open(options);
  Status status = session.ok() ? CheckSessionInput(st, **session, false) : session.status();
  if (!status.ok()) {
    const std::string text = "fallback-plan " + plan + " cannot serve: " + status.message();
    GST_ELEMENT_WARNING(self, RESOURCE, SETTINGS, ("%s", text.c_str()), ("the model's own plan serves once ready"));
    return;
  }
  const edgert::SessionInfo info = (*session)->info();
  GST_OBJECT_LOCK(self);
  st->backend = "fallback: " + info.backend_line;
  GST_OBJECT_UNLOCK(self);
  {
    std::lock_guard<std::mutex> lock(st->pending_mutex);
    st->pending = std::move(*session);
  }
  NotifyStreaming(st);
  PostBuildMessage(self, gst_structure_new("edgert-build", "stage", G_TYPE_STRING, "fallback", "plan", G_TYPE_STRING,
                                           plan.c_str(), "backend", G_TYPE_STRING, info.backend_line.c_str(), nullptr));
}

// Hands an opened session to the streaming thread (swapped in between frames), then posts
// "edgert-build" stage "ready" (backend, cache outcome, plan, timings, int8): the session first,
// then the message, so a frame sent after "ready" is inferred by it.
void HandOverSession(GstEdgertInfer* self, EdgertInferState* st, std::unique_ptr<Session> session) {
  const edgert::SessionInfo info = session->info();
  GST_OBJECT_LOCK(self);
  st->backend = info.backend_line;
  GST_OBJECT_UNLOCK(self);
  {
    std::lock_guard<std::mutex> lock(st->pending_mutex);
    st->pending = std::move(session);
  }
  NotifyStreaming(st);
  PostBuildMessage(self, gst_structure_new("edgert-build", "stage", G_TYPE_STRING, "ready", "backend", G_TYPE_STRING,
                                           info.backend_line.c_str(), "cache", G_TYPE_STRING,
                                           info.cache_outcome.c_str(), "plan", G_TYPE_STRING, info.plan_path.c_str(),
                                           "build-seconds", G_TYPE_DOUBLE, info.build_seconds, "open-seconds",
                                           G_TYPE_DOUBLE, info.open_seconds, "int8", G_TYPE_BOOLEAN,
                                           info.int8 ? TRUE : FALSE, nullptr));
}

void OpenWorker(GstEdgertInfer* self, EdgertInferState* st, edgert::SessionOptions options) {
  options.logger = [self](const std::string& line) {
    GST_DEBUG_OBJECT(self, "%s", line.c_str());
    PostBuildMessage(self, gst_structure_new("edgert-build", "stage", G_TYPE_STRING, "progress", "message",
                                             G_TYPE_STRING, line.c_str(), nullptr));
  };
  if (!st->active.fallback_plan.empty()) {
    if (options.model.empty()) {
      GST_ELEMENT_WARNING(self, RESOURCE, SETTINGS,
                          ("fallback-plan is ignored: the element runs the plan %s itself", options.plan.c_str()),
                          (nullptr));
    } else {
      OpenFallback(self, st, options);
    }
  }
  PostBuildMessage(self,
                   gst_structure_new("edgert-build", "stage", G_TYPE_STRING, "opening", "model", G_TYPE_STRING,
                                     options.model.empty() ? options.plan.c_str() : options.model.c_str(), nullptr));
  StatusOr<std::unique_ptr<Session>> session = Session::Open(options);
  Status status = session.ok() ? CheckSessionInput(st, **session, true) : session.status();
  if (!status.ok()) {
    {
      std::lock_guard<std::mutex> lock(st->pending_mutex);
      st->open_failed = true;
    }
    PostError(self, status, "cannot open the model");
    NotifyStreaming(st);
    return;
  }
  HandOverSession(self, st, std::move(*session));
}

// precision int8 after the capture: opens the INT8 session on the captured frames and hands it
// to the streaming thread; the running session serves meanwhile and stays when this fails.
void Int8Worker(GstEdgertInfer* self, EdgertInferState* st, edgert::SessionOptions options) {
  options.logger = [self](const std::string& line) {
    GST_INFO_OBJECT(self, "%s", line.c_str());
    PostBuildMessage(self, gst_structure_new("edgert-build", "stage", G_TYPE_STRING, "int8", "message", G_TYPE_STRING,
                                             line.c_str(), nullptr));
  };
  StatusOr<std::unique_ptr<Session>> session = Session::Open(options);
  Status status = session.ok() ? CheckSessionInput(st, **session, false) : session.status();
  if (!status.ok()) {
    const std::string text = "the INT8 plan could not be built: " + status.message();
    GST_ELEMENT_WARNING(self, RESOURCE, FAILED, ("%s", text.c_str()), ("the element keeps running at precision best"));
    PostBuildMessage(self, gst_structure_new("edgert-build", "stage", G_TYPE_STRING, "int8-failed", "message",
                                             G_TYPE_STRING, status.message().c_str(), nullptr));
    return;
  }
  HandOverSession(self, st, std::move(*session));
}

void StopThreads(EdgertInferState* st) {
  {
    std::lock_guard<std::mutex> lock(st->mutex);
    st->quit = true;
    st->cv.notify_all();
    st->finisher_cv.notify_all();
  }
  if (st->timer.joinable()) st->timer.join();
  if (st->finisher.joinable()) st->finisher.join();
  if (st->worker.joinable()) st->worker.join();
  if (st->int8_worker.joinable()) st->int8_worker.join();
}

}  // namespace

// --- GObject / GstBaseTransform vmethods ----------------------------------------------------------

static gboolean gst_edgert_infer_start(GstBaseTransform* trans) {
  GstEdgertInfer* self = GST_EDGERT_INFER(trans);
  EdgertInferState* st = self->state;
  GST_OBJECT_LOCK(self);
  st->active = st->settings;
  st->backend.clear();
  GST_OBJECT_UNLOCK(self);
  const Settings& s = st->active;

  edgert::SessionOptions options;
  options.cache_dir = s.cache_dir;
  options.device_id = s.device_id;
  options.precision = s.precision;
  st->int8_after_capture = false;
  bool capture = s.calibration_frames > 0;
  if (s.precision == "int8") {
    if (s.calibration_dir.empty()) {
      PostError(self,
                edgert::InvalidArgument("precision int8 needs calibration-dir: the frames to calibrate on (with "
                                        "calibration-frames N the element captures them first)",
                                        "calibration-dir"),
                "invalid settings");
      return FALSE;
    }
    const int have = edgert::gst::CountCapturedFrames(s.calibration_dir);
    options.int8_calib_dir = s.calibration_dir;
    if (s.calibration_frames == 0 && have == 0) {
      PostError(self,
                edgert::InvalidArgument("precision int8: calibration-dir " + s.calibration_dir +
                                            " holds no captured frame (NNNNNN.npy); set calibration-frames to "
                                            "capture them first",
                                        "calibration-dir"),
                "invalid settings");
      return FALSE;
    }
    if (s.calibration_frames == 0 || have >= static_cast<int>(s.calibration_frames)) {
      capture = false;  // the frames are there: the INT8 plan opens at once (a cache hit when built before)
      GST_INFO_OBJECT(self, "precision int8: %d captured frames in %s", have, s.calibration_dir.c_str());
    } else {
      st->int8_after_capture = true;
      st->int8_options = options;  // completed below (model, device, shapes)
      options.precision = "best";
      GST_WARNING_OBJECT(self, "precision int8: capturing %u calibration frames, running at precision best meanwhile",
                         s.calibration_frames);
    }
  }
  // auto, cpu or cuda, and cuda only with the CUDA backend and a visible device.
  StatusOr<std::string> backend = edgert::ResolveDeviceBackend(s.device);
  if (!backend.ok()) {
    PostError(self, backend.status(), "invalid settings");
    return FALSE;
  }
  if (s.precision != "fp32" && s.precision != "fp16" && s.precision != "best" && s.precision != "int8") {
    PostError(self,
              edgert::InvalidArgument("precision '" + s.precision + "' is not fp32, fp16, int8 or best", "precision"),
              "invalid settings");
    return FALSE;
  }
  if (s.pipeline != "auto" && s.pipeline != "on" && s.pipeline != "off") {
    PostError(self, edgert::InvalidArgument("pipeline '" + s.pipeline + "' is not auto, on or off", "pipeline"),
              "invalid settings");
    return FALSE;
  }
  if (s.calibration_frames > 0 && s.calibration_dir.empty()) {
    PostError(self,
              edgert::InvalidArgument("calibration-frames is set but calibration-dir is empty", "calibration-dir"),
              "invalid settings");
    return FALSE;
  }
  Status status = PrepareModel(st, &options);
  if (status.ok())
    status = st->calibration.Configure(s.calibration_dir, capture ? static_cast<int>(s.calibration_frames) : 0,
                                       static_cast<int>(s.calibration_interval));
  if (!status.ok()) {
    PostError(self, status, "cannot load the model");
    return FALSE;
  }
  if (s.precision == "int8") {
    if (st->model_path.empty()) {
      PostError(self,
                edgert::InvalidArgument("precision int8 builds the INT8 plan from a model; a plan cannot be "
                                        "recalibrated (set model, or use the plan's own precision)",
                                        "precision"),
                "invalid settings");
      return FALSE;
    }
    // The calibration cache beside the plans: <cache-dir>/<model file name without .onnx>.calib.
    const std::string cache_dir = s.cache_dir.empty() ? edgert::DefaultPlanCacheDir() : s.cache_dir;
    std::string stem = st->model_path.substr(st->model_path.rfind('/') + 1);
    if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".onnx") == 0) stem.resize(stem.size() - 5);
    options.int8_cache = cache_dir + "/" + stem + ".calib";
  }
  st->device = *backend;
  options.device = st->device;
  if (st->int8_after_capture) {
    st->int8_options = options;
    st->int8_options.precision = "int8";
  }
  if (st->device == "cpu" && options.precision == "fp16") {
    PostError(self,
              edgert::InvalidArgument("precision fp16 needs the CUDA backend; the CPU engine runs fp32 (use best)",
                                      "precision"),
              "invalid settings");
    return FALSE;
  }
  GST_INFO_OBJECT(self, "model %s, device %s, input %dx%dx%d, batch %d",
                  options.model.empty() ? options.plan.c_str() : options.model.c_str(), st->device.c_str(),
                  st->channels, st->config.input.height, st->config.input.width, s.batch_size);

#ifdef EDGERT_HAVE_GST_CUDA
  if (st->device == "cuda") {
    GST_OBJECT_LOCK(self);
    GstCudaContext* have = st->cuda_context;
    GST_OBJECT_UNLOCK(self);
    gpointer handle = nullptr;
    GstCudaContext* primary = NewPrimaryCudaContext(s.device_id, &handle);
    if (primary != nullptr) {
      st->primary_handle = handle;
      if (have == nullptr) {
        GST_OBJECT_LOCK(self);
        st->cuda_context = primary;
        GST_OBJECT_UNLOCK(self);
        GstContext* context = gst_context_new_cuda_context(primary);
        gst_element_post_message(GST_ELEMENT(self), gst_message_new_have_context(GST_OBJECT(self), context));
      } else {
        gst_object_unref(primary);
      }
    } else {
      GST_WARNING_OBJECT(self, "no GstCudaContext for the primary context: CUDA memory frames will be downloaded");
    }
  }
#endif

  {
    std::lock_guard<std::mutex> lock(st->mutex);
    st->quit = false;
    st->flushing = false;
    st->timer_flow = GST_FLOW_OK;
    st->frames_seen = 0;
    st->frames_since_ready = 0;
    st->upstream_live = -1;
    st->have_results = false;
    st->last_results = vision::FrameResults();
    st->calibration_posted = false;
    st->session.reset();
    st->gpu_decode = false;
    // auto: CUDA sessions whose decoder runs on the host (YOLO heads decode on the GPU instead).
    const vision::DecoderKind kind = st->config.decoder.kind;
    const bool gpu_decodable =
        !s.output_tensors && (kind == vision::DecoderKind::kYoloV8 || kind == vision::DecoderKind::kYoloV5);
    st->pipelined = s.pipeline == "on" || (s.pipeline == "auto" && st->device == "cuda" && !gpu_decodable);
    st->queued_mode = s.batch_size > 1 || st->pipelined;
    st->next_set = 0;
    st->finisher_busy = false;
  }
  {
    std::lock_guard<std::mutex> lock(st->pending_mutex);
    st->pending.reset();
    st->open_failed = false;
  }
  st->frame_copies = 0;
  GST_INFO_OBJECT(self, "pipelining %s", st->pipelined ? "on" : "off");
  st->worker = std::thread(OpenWorker, self, st, options);
  if (s.batch_size > 1) st->timer = std::thread(TimerLoop, self, st);
  if (st->pipelined) st->finisher = std::thread(FinisherLoop, self, st);
  return TRUE;
}

static gboolean gst_edgert_infer_stop(GstBaseTransform* trans) {
  GstEdgertInfer* self = GST_EDGERT_INFER(trans);
  EdgertInferState* st = self->state;
  StopThreads(st);
  std::unique_lock<std::mutex> lock(st->mutex);
  DiscardQueue(st, lock);
  st->session.reset();
  st->gpu_decode = false;
  st->detection_workspace.reset();
  std::lock_guard<std::mutex> pending_lock(st->pending_mutex);
  st->pending.reset();
  return TRUE;
}

static gboolean gst_edgert_infer_set_caps(GstBaseTransform* trans, GstCaps* incaps, GstCaps* outcaps) {
  GstEdgertInfer* self = GST_EDGERT_INFER(trans);
  EdgertInferState* st = self->state;
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, incaps)) {
    gchar* text = gst_caps_to_string(incaps);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("unusable caps %s", text), (nullptr));
    g_free(text);
    return FALSE;
  }
  StatusOr<vision::PixelFormat> format = FormatOf(GST_VIDEO_INFO_FORMAT(&info));
  if (format.ok() && (*format == vision::PixelFormat::kNV12 || *format == vision::PixelFormat::kI420) &&
      (GST_VIDEO_INFO_WIDTH(&info) % 2 != 0 || GST_VIDEO_INFO_HEIGHT(&info) % 2 != 0)) {
    format = edgert::InvalidArgument("NV12/I420 frames need an even width and height", "caps");
  }
  if (!format.ok()) {
    gchar* text = gst_caps_to_string(incaps);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("unusable caps: %s", format.status().message().c_str()), ("%s", text));
    g_free(text);
    return FALSE;
  }
  std::lock_guard<std::mutex> lock(st->mutex);
  st->video_info = info;
  st->have_caps = true;
  GstCapsFeatures* features = gst_caps_get_features(incaps, 0);
  st->cuda_caps = features != nullptr && gst_caps_features_contains(features, "memory:CUDAMemory");
  GST_INFO_OBJECT(self, "caps %" GST_PTR_FORMAT, incaps);
  return TRUE;
}

static GstFlowReturn gst_edgert_infer_transform_ip(GstBaseTransform* trans, GstBuffer* buffer) {
  // Batch-size 1 without pipelining only (the queued mode goes through generate_output). The buffer stays owned by the
  // base class; SubmitFrame takes a reference and hands it back in `out`.
  GstEdgertInfer* self = GST_EDGERT_INFER(trans);
  EdgertInferState* st = self->state;
  std::unique_lock<std::mutex> lock(st->mutex);
  std::vector<GstBuffer*> out;
  // The base class made `buffer` writable and keeps its (only) reference, so metas are added in
  // place; with batch-size 1 SubmitFrame hands exactly this buffer back in `out`, never queued.
  GstFlowReturn ret = SubmitFrame(self, st, buffer, &out, lock);
  if (out.size() != 1 || out[0] != buffer) {
    GST_ELEMENT_ERROR(self, CORE, FAILED, ("internal error: a batch-size 1 frame was held"), (nullptr));
    return GST_FLOW_ERROR;
  }
  return ret;
}

static GstFlowReturn gst_edgert_infer_generate_output(GstBaseTransform* trans, GstBuffer** outbuf) {
  GstEdgertInfer* self = GST_EDGERT_INFER(trans);
  EdgertInferState* st = self->state;
  if (!st->queued_mode) return GST_BASE_TRANSFORM_CLASS(parent_class)->generate_output(trans, outbuf);
  *outbuf = nullptr;
  GstBuffer* input = trans->queued_buf;
  trans->queued_buf = nullptr;
  std::unique_lock<std::mutex> lock(st->mutex);
  GstFlowReturn ret = GST_FLOW_OK;
  if (input != nullptr) {
    if (st->timer_flow != GST_FLOW_OK) {
      gst_buffer_unref(input);
      return st->timer_flow;
    }
    std::vector<GstBuffer*> out;
    ret = SubmitFrame(self, st, gst_buffer_make_writable(input), &out, lock);
    for (GstBuffer* b : out) {
      if (ret == GST_FLOW_OK) {
        st->ready.push_back(b);
      } else {
        gst_buffer_unref(b);
      }
    }
  }
  if (!st->ready.empty()) {
    *outbuf = st->ready.front();
    st->ready.pop_front();
  }
  return ret;
}

// Serialized events run the partial batch first (EOS drains it), flushes discard the queue.
static gboolean gst_edgert_infer_sink_event(GstBaseTransform* trans, GstEvent* event) {
  GstEdgertInfer* self = GST_EDGERT_INFER(trans);
  EdgertInferState* st = self->state;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_FLUSH_START:
      st->flushing = true;  // not under st->mutex: a blocked push may hold it until this event passes
      st->cv.notify_all();
      break;
    case GST_EVENT_FLUSH_STOP: {
      std::unique_lock<std::mutex> lock(st->mutex);
      DiscardQueue(st, lock);
      st->flushing = false;
      st->timer_flow = GST_FLOW_OK;
      break;
    }
    default:
      if (GST_EVENT_IS_SERIALIZED(event) && st->queued_mode) {
        std::unique_lock<std::mutex> lock(st->mutex);
        const GstFlowReturn ret = DrainAndPush(self, st, lock, true);
        if (ret != GST_FLOW_OK)
          GST_DEBUG_OBJECT(self, "draining before %s: %s", GST_EVENT_TYPE_NAME(event), gst_flow_get_name(ret));
      }
      break;
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

static gboolean gst_edgert_infer_query(GstBaseTransform* trans, GstPadDirection direction, GstQuery* query) {
  GstEdgertInfer* self = GST_EDGERT_INFER(trans);
  EdgertInferState* st = self->state;
  switch (GST_QUERY_TYPE(query)) {
#ifdef EDGERT_HAVE_GST_CUDA
    case GST_QUERY_CONTEXT: {
      GST_OBJECT_LOCK(self);
      GstCudaContext* ctx = st->cuda_context ? static_cast<GstCudaContext*>(gst_object_ref(st->cuda_context)) : nullptr;
      GST_OBJECT_UNLOCK(self);
      const gboolean handled = ctx != nullptr && gst_cuda_handle_context_query(GST_ELEMENT(self), query, ctx);
      if (ctx != nullptr) gst_object_unref(ctx);
      if (handled) return TRUE;
      break;
    }
#endif
    case GST_QUERY_LATENCY: {
      if (direction != GST_PAD_SRC) break;
      if (!GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query)) return FALSE;
      GST_OBJECT_LOCK(self);
      const int batch = st->settings.batch_size;
      const GstClockTime extra = static_cast<GstClockTime>(st->settings.batch_timeout_ms) * GST_MSECOND;
      GST_OBJECT_UNLOCK(self);
      if (batch > 1) {
        gboolean live = FALSE;
        GstClockTime min = 0, max = 0;
        gst_query_parse_latency(query, &live, &min, &max);
        min += extra;
        if (GST_CLOCK_TIME_IS_VALID(max)) max += extra;
        gst_query_set_latency(query, live, min, max);
        GST_DEBUG_OBJECT(self, "latency: min %" GST_TIME_FORMAT, GST_TIME_ARGS(min));
      }
      return TRUE;
    }
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query);
}

// System memory and a CUDA session: offer the pinned, device-mapped pool first.
static gboolean gst_edgert_infer_propose_allocation(GstBaseTransform* trans, GstQuery* decide_query, GstQuery* query) {
  GstEdgertInfer* self = GST_EDGERT_INFER(trans);
  EdgertInferState* st = self->state;
  if (!GST_BASE_TRANSFORM_CLASS(parent_class)->propose_allocation(trans, decide_query, query)) {
    // The base class had nothing to say (no downstream answer yet); we may still propose.
  }
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
  GstCaps* caps = nullptr;
  gboolean need_pool = FALSE;
  gst_query_parse_allocation(query, &caps, &need_pool);
  if (caps == nullptr || st->device != "cuda") return TRUE;
  GstCapsFeatures* features = gst_caps_get_features(caps, 0);
  if (features != nullptr && gst_caps_features_contains(features, "memory:CUDAMemory")) return TRUE;
  // The element holds up to batch-size buffers: the pool must have more than that.
  const guint min_buffers = static_cast<guint>(st->active.batch_size) + 2;
  GstBufferPool* pool = edgert::gst::NewPinnedVideoPool(caps, min_buffers, st->active.device_id);
  if (pool == nullptr) return TRUE;
  GstVideoInfo info;
  gst_video_info_from_caps(&info, caps);
  // Ours first (upstream usually takes pool 0), then whatever downstream offered.
  struct Offer {
    GstBufferPool* pool;
    guint size, min, max;
  };
  std::vector<Offer> others;
  while (gst_query_get_n_allocation_pools(query) > 0) {
    Offer o{};
    gst_query_parse_nth_allocation_pool(query, 0, &o.pool, &o.size, &o.min, &o.max);
    others.push_back(o);
    gst_query_remove_nth_allocation_pool(query, 0);
  }
  gst_query_add_allocation_pool(query, pool, static_cast<guint>(GST_VIDEO_INFO_SIZE(&info)), min_buffers, 0);
  gst_object_unref(pool);
  for (Offer& o : others) {
    gst_query_add_allocation_pool(query, o.pool, o.size, std::max(o.min, min_buffers),
                                  o.max == 0 ? 0 : std::max(o.max, min_buffers));
    if (o.pool != nullptr) gst_object_unref(o.pool);
  }
  // The pinned allocator first among the allocation parameters as well: GstBaseSrc and the video
  // decoders configure the chosen pool with the query's first allocator, and with none they would
  // put the default system-memory allocator into our pool.
  GstAllocator* allocator = edgert::gst::NewPinnedAllocator(st->active.device_id);
  if (allocator != nullptr) {
    struct Param {
      GstAllocator* allocator;
      GstAllocationParams params;
    };
    std::vector<Param> params;
    while (gst_query_get_n_allocation_params(query) > 0) {
      Param p{};
      gst_query_parse_nth_allocation_param(query, 0, &p.allocator, &p.params);
      params.push_back(p);
      gst_query_remove_nth_allocation_param(query, 0);
    }
    GstAllocationParams ours;
    gst_allocation_params_init(&ours);
    gst_query_add_allocation_param(query, allocator, &ours);
    gst_object_unref(allocator);
    for (Param& p : params) {
      gst_query_add_allocation_param(query, p.allocator, &p.params);
      if (p.allocator != nullptr) gst_object_unref(p.allocator);
    }
  }
  GST_DEBUG_OBJECT(self, "proposed the pinned pool");
  return TRUE;
}

static void gst_edgert_infer_set_context(GstElement* element, GstContext* context) {
#ifdef EDGERT_HAVE_GST_CUDA
  GstEdgertInfer* self = GST_EDGERT_INFER(element);
  EdgertInferState* st = self->state;
  GST_OBJECT_LOCK(self);
  const int device_id = st->settings.device_id;
  GstCudaContext* ctx = st->cuda_context;
  st->cuda_context = nullptr;
  GST_OBJECT_UNLOCK(self);
  gst_cuda_handle_set_context(element, context, device_id, &ctx);
  GST_OBJECT_LOCK(self);
  if (st->cuda_context != nullptr) gst_object_unref(st->cuda_context);
  st->cuda_context = ctx;
  GST_OBJECT_UNLOCK(self);
#endif
  GST_ELEMENT_CLASS(parent_class)->set_context(element, context);
}

static void gst_edgert_infer_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstEdgertInfer* self = GST_EDGERT_INFER(object);
  Settings& s = self->state->settings;
  auto str = [value]() { return std::string(g_value_get_string(value) ? g_value_get_string(value) : ""); };
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MODEL:
      s.model = str();
      break;
    case PROP_PLAN:
      s.plan = str();
      break;
    case PROP_CONFIG:
      s.config = str();
      break;
    case PROP_PRECISION:
      s.precision = str();
      break;
    case PROP_BATCH_SIZE:
      s.batch_size = g_value_get_int(value);
      break;
    case PROP_BATCH_TIMEOUT:
      s.batch_timeout_ms = g_value_get_uint(value);
      break;
    case PROP_INTERVAL:
      s.interval = g_value_get_uint(value);
      break;
    case PROP_DEVICE:
      s.device = str();
      break;
    case PROP_DEVICE_ID:
      s.device_id = g_value_get_int(value);
      break;
    case PROP_THRESHOLD:
      s.threshold = g_value_get_double(value);
      break;
    case PROP_NMS_IOU:
      s.nms_iou = g_value_get_double(value);
      break;
    case PROP_CACHE_DIR:
      s.cache_dir = str();
      break;
    case PROP_FALLBACK_PLAN:
      s.fallback_plan = str();
      break;
    case PROP_PIPELINE:
      s.pipeline = str();
      break;
    case PROP_OUTPUT_TENSORS:
      s.output_tensors = g_value_get_boolean(value);
      break;
    case PROP_CALIBRATION_FRAMES:
      s.calibration_frames = g_value_get_uint(value);
      break;
    case PROP_CALIBRATION_INTERVAL:
      s.calibration_interval = g_value_get_uint(value);
      break;
    case PROP_CALIBRATION_DIR:
      s.calibration_dir = str();
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_edgert_infer_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstEdgertInfer* self = GST_EDGERT_INFER(object);
  EdgertInferState* st = self->state;
  const Settings& s = st->settings;
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string(value, s.model.c_str());
      break;
    case PROP_PLAN:
      g_value_set_string(value, s.plan.c_str());
      break;
    case PROP_CONFIG:
      g_value_set_string(value, s.config.c_str());
      break;
    case PROP_PRECISION:
      g_value_set_string(value, s.precision.c_str());
      break;
    case PROP_BATCH_SIZE:
      g_value_set_int(value, s.batch_size);
      break;
    case PROP_BATCH_TIMEOUT:
      g_value_set_uint(value, s.batch_timeout_ms);
      break;
    case PROP_INTERVAL:
      g_value_set_uint(value, s.interval);
      break;
    case PROP_DEVICE:
      g_value_set_string(value, s.device.c_str());
      break;
    case PROP_DEVICE_ID:
      g_value_set_int(value, s.device_id);
      break;
    case PROP_THRESHOLD:
      g_value_set_double(value, s.threshold);
      break;
    case PROP_NMS_IOU:
      g_value_set_double(value, s.nms_iou);
      break;
    case PROP_CACHE_DIR:
      g_value_set_string(value, s.cache_dir.c_str());
      break;
    case PROP_FALLBACK_PLAN:
      g_value_set_string(value, s.fallback_plan.c_str());
      break;
    case PROP_PIPELINE:
      g_value_set_string(value, s.pipeline.c_str());
      break;
    case PROP_OUTPUT_TENSORS:
      g_value_set_boolean(value, s.output_tensors);
      break;
    case PROP_CALIBRATION_FRAMES:
      g_value_set_uint(value, s.calibration_frames);
      break;
    case PROP_CALIBRATION_INTERVAL:
      g_value_set_uint(value, s.calibration_interval);
      break;
    case PROP_CALIBRATION_DIR:
      g_value_set_string(value, s.calibration_dir.c_str());
      break;
    case PROP_FRAME_COPIES:
      g_value_set_int64(value, st->frame_copies.load());
      break;
    case PROP_BACKEND:
      g_value_set_string(value, st->backend.c_str());
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_edgert_infer_finalize(GObject* object) {
  GstEdgertInfer* self = GST_EDGERT_INFER(object);
  StopThreads(self->state);
  {
    std::unique_lock<std::mutex> lock(self->state->mutex);
    DiscardQueue(self->state, lock);
  }
#ifdef EDGERT_HAVE_GST_CUDA
  if (self->state->cuda_context != nullptr) gst_object_unref(self->state->cuda_context);
#endif
  delete self->state;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_edgert_infer_init(GstEdgertInfer* self) {
  self->state = new EdgertInferState();
  gst_video_info_init(&self->state->video_info);
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), FALSE);
}

static void gst_edgert_infer_class_init(GstEdgertInferClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  gobject_class->set_property = gst_edgert_infer_set_property;
  gobject_class->get_property = gst_edgert_infer_get_property;
  gobject_class->finalize = gst_edgert_infer_finalize;

  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      gobject_class, PROP_MODEL,
      g_param_spec_string("model", "Model", "ONNX model (its plan comes from the plan cache)", "", rw));
  g_object_class_install_property(
      gobject_class, PROP_PLAN,
      g_param_spec_string("plan", "Plan", "Plan file built by edgert (instead of model)", "", rw));
  g_object_class_install_property(
      gobject_class, PROP_CONFIG,
      g_param_spec_string("config", "Config",
                          "Model config YAML (preprocessing and decoder; its model is used when model is unset)", "",
                          rw));
  g_object_class_install_property(
      gobject_class, PROP_PRECISION,
      g_param_spec_string(
          "precision", "Precision",
          "fp32 | fp16 | int8 | best (int8: an INT8 plan calibrated on the frames in calibration-dir, captured first "
          "with calibration-frames)",
          "fp32", rw));
  g_object_class_install_property(
      gobject_class, PROP_BATCH_SIZE,
      g_param_spec_int("batch-size", "Batch size", "Frames per inference", 1, 64, kDefaultBatchSize, rw));
  g_object_class_install_property(
      gobject_class, PROP_BATCH_TIMEOUT,
      g_param_spec_uint("batch-timeout", "Batch timeout", "Milliseconds after which a partial batch runs", 1, 60000,
                        kDefaultBatchTimeoutMs, rw));
  g_object_class_install_property(
      gobject_class, PROP_INTERVAL,
      g_param_spec_uint("interval", "Interval", "Infer every Nth frame; the others carry the last results marked stale",
                        1, G_MAXINT, kDefaultInterval, rw));
  g_object_class_install_property(gobject_class, PROP_DEVICE,
                                  g_param_spec_string("device", "Device", "auto | cpu | cuda", "auto", rw));
  g_object_class_install_property(gobject_class, PROP_DEVICE_ID,
                                  g_param_spec_int("device-id", "Device id", "CUDA device ordinal", 0, 64, 0, rw));
  g_object_class_install_property(
      gobject_class, PROP_THRESHOLD,
      g_param_spec_double("threshold", "Threshold", "Score threshold (overrides the config; -1: the config's)", -1.0,
                          1.0, -1.0, rw));
  g_object_class_install_property(
      gobject_class, PROP_NMS_IOU,
      g_param_spec_double("nms-iou", "NMS IoU", "NMS IoU threshold (overrides the config; -1: the config's)", -1.0, 1.0,
                          -1.0, rw));
  g_object_class_install_property(
      gobject_class, PROP_CACHE_DIR,
      g_param_spec_string("cache-dir", "Cache directory", "Plan cache (empty: $EDGERT_CACHE_DIR or ~/.cache/edgert)",
                          "", rw));
  g_object_class_install_property(
      gobject_class, PROP_FALLBACK_PLAN,
      g_param_spec_string("fallback-plan", "Fallback plan",
                          "A plan (same input as the model, e.g. shipped with the application or of a lower precision) "
                          "that serves while the model's plan is opened or built; swapped out between frames once it "
                          "is ready",
                          "", rw));
  g_object_class_install_property(
      gobject_class, PROP_PIPELINE,
      g_param_spec_string("pipeline", "Pipeline",
                          "Overlap the host decoding of a batch with the GPU work of the next: a finisher thread "
                          "waits for each batch's outputs, decodes them and pushes the frames in order. auto: on "
                          "for CUDA sessions whose decoder runs on the host; on; off",
                          "auto", rw));
  g_object_class_install_property(
      gobject_class, PROP_OUTPUT_TENSORS,
      g_param_spec_boolean("output-tensors", "Output tensors", "Attach the raw output tensors to the meta", FALSE, rw));
  g_object_class_install_property(
      gobject_class, PROP_CALIBRATION_FRAMES,
      g_param_spec_uint("calibration-frames", "Calibration frames",
                        "Write this many preprocessed inputs to calibration-dir as .npy (0: off)", 0, G_MAXINT, 0, rw));
  g_object_class_install_property(gobject_class, PROP_CALIBRATION_INTERVAL,
                                  g_param_spec_uint("calibration-interval", "Calibration interval",
                                                    "Capture every Nth inferred frame for calibration", 1, G_MAXINT,
                                                    kDefaultCalibrationInterval, rw));
  g_object_class_install_property(
      gobject_class, PROP_CALIBRATION_DIR,
      g_param_spec_string("calibration-dir", "Calibration directory", "Where calibration .npy files go", "", rw));
  g_object_class_install_property(
      gobject_class, PROP_FRAME_COPIES,
      g_param_spec_int64("frame-copies", "Frame copies",
                         "Host<->device copies of frame data so far (0 on the zero-copy paths)", 0, G_MAXINT64, 0, ro));
  g_object_class_install_property(gobject_class, PROP_BACKEND,
                                  g_param_spec_string("backend", "Backend", "What the session runs on", "", ro));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(element_class, "edgert inference", "Filter/Analyzer/Video",
                                        "Runs an edgert model on video frames and attaches EdgertMeta results",
                                        "edgert");
  element_class->set_context = gst_edgert_infer_set_context;

  trans_class->start = gst_edgert_infer_start;
  trans_class->stop = gst_edgert_infer_stop;
  trans_class->set_caps = gst_edgert_infer_set_caps;
  trans_class->transform_ip = gst_edgert_infer_transform_ip;
  trans_class->generate_output = gst_edgert_infer_generate_output;
  trans_class->sink_event = gst_edgert_infer_sink_event;
  trans_class->query = gst_edgert_infer_query;
  trans_class->propose_allocation = gst_edgert_infer_propose_allocation;
  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = FALSE;
}
