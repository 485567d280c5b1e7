// An inference session: the one object applications, the GStreamer element and edgert-app use to
// run a model. It resolves the backend (CUDA when this build has it and a GPU is visible, else the
// reference CPU engine), gets the plan from the plan cache (building it on a miss, with the CUDA
// tactic pass) or loads a given plan, creates the engine and one execution context, and owns one
// buffer per I/O tensor, bound once.
//
// Usage:
//   SessionOptions o; o.model = "det.onnx"; o.shapes["images"] = {1, 3, 640, 640};
//   auto session = Session::Open(o);                     // may build: seconds to minutes
//   float* in = static_cast<float*>((*session)->InputBuffer(0));   // device memory on CUDA
//   ... write the input there (PreprocessCuda on (*session)->stream(), or CopyInputFromHost) ...
//   (*session)->Run();                                   // outputs land in host tensors
//   const Tensor& out = (*session)->Output(0);
//
// Memory: Open() allocates everything (arena, I/O buffers, pinned host outputs); Run() allocates
// nothing. On CUDA the input buffers are device memory and the outputs are copied into pinned host
// tensors at the end of Run(); on the CPU every buffer is host memory. A consumer that reads an
// output on the GPU (the element's GPU detector decode) turns its copy off with
// SetOutputToHost(i, false) and reads OutputBuffer(i) on stream() instead.
//
// Thread rules: a session is used by one thread at a time. Open() may run on a worker thread while
// another session serves frames (the element swaps sessions when a background build finishes).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edgert/calibration.h"
#include "edgert/engine.h"
#include "edgert/plan.h"
#include "edgert/precision.h"
#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {

// A graph input of an ONNX model as declared (dynamic dimensions are -1).
struct ModelInput {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Shape shape;
};
// The model's graph inputs (initializers excluded), in order. Errors name the file.
StatusOr<std::vector<ModelInput>> ReadModelInputs(const std::string& onnx_path);

// The backend a device setting means on this machine: "cpu", or "cuda" ("auto": cuda when this
// build has the CUDA backend and a CUDA device is visible). Errors, with subject "device": a setting
// other than auto, cpu or cuda; cuda without a visible device (NotFound) or without the CUDA
// backend in this build (Unsupported). Session::Open, the CLI's --device and edgertinfer's device
// property all resolve through it.
StatusOr<std::string> ResolveDeviceBackend(const std::string& device);

struct SessionOptions {
  std::string model;  // ONNX model (the plan comes from the cache), or
  std::string plan;   // a plan file (validated for this device and version); one of the two
  std::string device = "auto";  // cpu | cuda | auto
  int device_id = 0;
  // fp32 | fp16 | int8 | best ("best" = fp16 on CUDA, fp32 on the CPU), as text so YAML and
  // properties pass it through. int8 (models only): an INT8 plan (calibration.h) calibrated on the
  // tensor files of int8_calib_dir (e.g. frames edgertinfer captured) or from the cache int8_cache,
  // its float layers at "best"; the plan cache keys it on the data, so new captures rebuild it.
  std::string precision = "fp32";
  std::string int8_calib_dir;
  std::string int8_cache;  // calibration cache: reused when its key matches, else written there
  Int8Settings int8_settings;
  std::map<std::string, Shape> shapes;  // build-time shapes of dynamic inputs (models only)
  std::string cache_dir;                // empty: DefaultPlanCacheDir()
  bool use_cache = true;                // false: build in memory, store nothing
  int tactic_level = 1;                 // CUDA builds
  std::string timing_cache;             // CUDA builds ("" = none)
  // Binding formats of the inputs and outputs (models only; BuildOptions::input_formats): e.g.
  // {fp16:hwc} makes InputBuffer(0) a float16 [N, H, W, C] buffer. A plan keeps its own.
  std::vector<IoFormat> input_formats;
  std::vector<IoFormat> output_formats;
  // Receives the cache's lines ("plan cache: hit ...") and build progress ("tactics 12/57 ...").
  std::function<void(const std::string&)> logger;
};

// How Open() got its plan and what it runs on.
struct SessionInfo {
  std::string backend;       // "cpu" or "cuda"
  Precision precision = Precision::kFp32;  // of the float layers
  bool int8 = false;                        // an INT8 plan built with precision int8
  std::string backend_line;  // "cpu (reference engine)" / "cuda fp16 on <device key>"
  std::string plan_path;     // the cache entry or the given plan ("" when built in memory)
  std::string cache_outcome;  // "hit", "built", "rebuilt", "plan file" or "in memory"
  double build_seconds = 0;
  double open_seconds = 0;   // the whole Open()
};

class Session {
 public:
  virtual ~Session() = default;
  static StatusOr<std::unique_ptr<Session>> Open(const SessionOptions& options);

  const SessionInfo& info() const { return info_; }
  // Inputs first, then outputs, as the engine lists them.
  const std::vector<IOTensorInfo>& IOTensors() const { return io_; }
  int NumInputs() const { return num_inputs_; }
  int NumOutputs() const { return static_cast<int>(io_.size()) - num_inputs_; }
  const IOTensorInfo& InputInfo(int i) const { return io_[static_cast<size_t>(i)]; }
  const IOTensorInfo& OutputInfo(int i) const { return io_[static_cast<size_t>(num_inputs_ + i)]; }
  // Index of input `name`, or -1.
  int FindInput(const std::string& name) const;

  bool on_gpu() const { return info_.backend == "cuda"; }
  // The CUDA stream Run() uses (a cudaStream_t); nullptr on the CPU. Work queued on it before Run()
  // (preprocessing into InputBuffer) is ordered before inference.
  virtual void* stream() const = 0;
  // Input i's buffer in the engine's memory (device on CUDA, host on the CPU), of the engine's
  // dtype and shape; fixed for the session's life.
  virtual void* InputBuffer(int i) = 0;
  // Copies `bytes` (the whole input) from host memory into input i's buffer (async on stream()).
  virtual Status CopyInputFromHost(int i, const void* data, size_t bytes) = 0;
  // Runs the network and leaves every output whose host copy is on (the default) in a host tensor;
  // returns when they are there (on CUDA: after a synchronise of stream(), so OutputBuffer() holds
  // every output too).
  virtual Status Run() = 0;
  // Output i's host tensor. On CUDA, an output whose host copy is off keeps what an earlier Run()
  // copied (or zeros): read OutputBuffer(i) instead.
  virtual const Tensor& Output(int i) const = 0;

  // Overlapping consecutive runs (edgertinfer's pipelining). The host outputs come in two sets,
  // kOutputSets of them; set 0 is what Run() and Output() use.
  //   Launch(set): starts a run whose host outputs land in `set` and returns: on CUDA once the work
  //     is queued on stream() (inputs may then be rewritten by later work on stream(), which is
  //     ordered after the run), on the CPU after running it.
  //   Wait(set): returns when the outputs of the last Launch(set) are in set `set`. Safe to call
  //     from another thread than Launch(), as long as the calls for one set do not overlap.
  //   Output(i, set): output i's host tensor of `set`.
  // A set must not be launched again before its outputs were read. Errors: a set out of range.
  static constexpr int kOutputSets = 2;
  virtual Status Launch(int set) = 0;
  virtual Status Wait(int set) = 0;
  virtual const Tensor& Output(int i, int set) const = 0;
  // Output i's buffer in the engine's memory (device on CUDA, host on the CPU, where it is
  // Output(i)'s storage), of the engine's dtype and shape; fixed for the session's life.
  virtual void* OutputBuffer(int i) = 0;
  // Whether Run() copies output i to its host tensor (default true). Off saves the device-to-host
  // copy on CUDA for an output consumed on the GPU; the CPU backend has nothing to copy and ignores
  // it. An index out of range is an InvalidArgument.
  Status SetOutputToHost(int i, bool to_host);
  bool OutputToHost(int i) const {
    return i < 0 || static_cast<size_t>(i) >= output_to_host_.size() || output_to_host_[static_cast<size_t>(i)];
  }

  // Host<->device copies Run() and CopyInputFromHost() made so far (0 on the CPU backend).
  int64_t h2d_copies() const { return h2d_copies_; }
  int64_t d2h_copies() const { return d2h_copies_; }

 protected:
  Session() = default;
  // Ok for 0 <= set < kOutputSets; an InvalidArgument naming the set otherwise.
  Status CheckOutputSet(int set) const;
  SessionInfo info_;
  std::vector<IOTensorInfo> io_;
  int num_inputs_ = 0;
  int64_t h2d_copies_ = 0;
  int64_t d2h_copies_ = 0;
  std::vector<bool> output_to_host_;  // per output; empty = all on
};

}  // namespace edgert
