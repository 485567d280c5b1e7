// Session: backend resolution, plan cache, engine + context, I/O buffers bound once.
//
// Open():
//   1. Resolve the backend: "auto" is cuda when this build has the CUDA backend and a GPU is
//      visible, else cpu; an explicit "cuda" without either is an error saying which is missing.
//   2. Resolve the precision text (fp32 | fp16 | best | int8) for that backend.
//   3. A plan file: read its metadata (its device key says the backend) and create the engine from
//      it (validated for this device and version). A model: GetOrBuildPlan() in the cache directory
//      (the CUDA backend times tactics in finalize_network, so the cached plan carries them), or,
//      with use_cache off, BuildNetwork() in memory.
//   4. Create one context, allocate one buffer per I/O tensor (device memory and pinned host
//      outputs on CUDA; host memory on the CPU) and bind them.
#include "edgert/session.h"

#include <chrono>
#include <cstring>

#include "edgert/builder.h"
#include "edgert/cpu_engine.h"
#include "edgert/engine.h"
#include "edgert/plan_cache.h"
#include "edgert/version.h"
#include "onnx/onnx_importer.h"
#ifdef EDGERT_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "edgert/cuda_engine.h"
#endif

namespace edgert {

StatusOr<std::vector<ModelInput>> ReadModelInputs(const std::string& onnx_path) {
  EDGERT_ASSIGN_OR_RETURN(Graph graph, ImportOnnxFile(onnx_path));
  std::vector<ModelInput> inputs;
  for (int v : graph.inputs) {
    const Value& value = graph.values[static_cast<size_t>(v)];
    ModelInput in;
    in.name = value.name;
    in.dtype = value.dtype;
    if (value.has_shape) in.shape = value.shape;
    inputs.push_back(std::move(in));
  }
  return inputs;
}

int Session::FindInput(const std::string& name) const {
  for (int i = 0; i < num_inputs_; ++i) {
    if (io_[static_cast<size_t>(i)].name == name) return i;
  }
  return -1;
}

Status Session::CheckOutputSet(int set) const {
  if (set < 0 || set >= kOutputSets) {
    return InvalidArgument(
        "output set " + std::to_string(set) + " is out of range (0.." + std::to_string(kOutputSets - 1) + ")",
        "output set");
  }
  return Status::Ok();
}

Status Session::SetOutputToHost(int i, bool to_host) {
  if (i < 0 || i >= NumOutputs()) {
    return InvalidArgument("output index " + std::to_string(i) + " is out of range (the session has " +
                               std::to_string(NumOutputs()) + " output(s))",
                           "output");
  }
  if (output_to_host_.size() != static_cast<size_t>(NumOutputs())) {
    output_to_host_.assign(static_cast<size_t>(NumOutputs()), true);
  }
  output_to_host_[static_cast<size_t>(i)] = to_host;
  return Status::Ok();
}

namespace {

bool CudaVisible() {
#ifdef EDGERT_HAVE_CUDA
  return CudaDeviceCount() > 0;
#else
  return false;
#endif
}

StatusOr<Precision> ResolvePrecision(const std::string& text, const std::string& backend) {
  if (text == "fp32") return Precision::kFp32;
  if (text == "best") return backend == "cuda" ? Precision::kFp16 : Precision::kFp32;
  if (text == "fp16") {
    if (backend != "cuda") {
      return InvalidArgument("precision fp16 needs the CUDA backend; the reference CPU engine runs fp32 only",
                             "precision");
    }
    return Precision::kFp16;
  }
  if (text == "int8") return backend == "cuda" ? Precision::kFp16 : Precision::kFp32;  // float layers
  return InvalidArgument("precision '" + text + "' is not fp32, fp16, int8 or best", "precision");
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ---- CPU ----------------------------------------------------------------------------------------

class CpuSession : public Session {
 public:
  static StatusOr<std::unique_ptr<Session>> Make(StatusOr<std::shared_ptr<Engine>> engine, SessionInfo info) {
    if (!engine.ok()) return engine.status();
    std::unique_ptr<CpuSession> s(new CpuSession());
    s->engine_ = *engine;
    EDGERT_ASSIGN_OR_RETURN(s->context_, s->engine_->CreateContext());
    s->info_ = std::move(info);
    s->io_ = s->engine_->IOTensors();
    for (size_t i = 0; i < s->io_.size(); ++i) {
      const IOTensorInfo& io = s->io_[i];
      if (io.is_input) ++s->num_inputs_;
      EDGERT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(io.dtype, io.shape));
      EDGERT_RETURN_IF_ERROR(s->context_->SetTensorAddress(static_cast<int>(i), t.raw()));
      s->buffers_.push_back(std::move(t));
      if (!io.is_input) {
        EDGERT_ASSIGN_OR_RETURN(Tensor second, Tensor::Create(io.dtype, io.shape));
        s->second_outputs_.push_back(std::move(second));
      }
    }
    return std::unique_ptr<Session>(std::move(s));
  }
  void* stream() const override { return nullptr; }
  void* InputBuffer(int i) override { return buffers_[static_cast<size_t>(i)].raw(); }
  Status CopyInputFromHost(int i, const void* data, size_t bytes) override {
    Tensor& t = buffers_[static_cast<size_t>(i)];
    if (bytes != t.bytes()) {
      return InvalidArgument("input '" + io_[static_cast<size_t>(i)].name + "' takes " + std::to_string(t.bytes()) +
                                 " bytes, got " + std::to_string(bytes),
                             io_[static_cast<size_t>(i)].name);
    }
    std::memcpy(t.raw(), data, bytes);
    return Status::Ok();
  }
  Status Run() override { return Launch(0); }
  const Tensor& Output(int i) const override { return buffers_[static_cast<size_t>(num_inputs_ + i)]; }
  void* OutputBuffer(int i) override { return buffers_[static_cast<size_t>(num_inputs_ + i)].raw(); }
  // The context's output bindings follow the set (rebinding is a pointer store).
  Status Launch(int set) override {
    EDGERT_RETURN_IF_ERROR(CheckOutputSet(set));
    for (int o = 0; o < NumOutputs(); ++o) {
      EDGERT_RETURN_IF_ERROR(context_->SetTensorAddress(num_inputs_ + o, const_cast<void*>(Output(o, set).raw())));
    }
    return context_->Enqueue();
  }
  Status Wait(int set) override { return CheckOutputSet(set); }
  const Tensor& Output(int i, int set) const override {
    return set == 1 ? second_outputs_[static_cast<size_t>(i)] : Output(i);
  }

 private:
  std::shared_ptr<Engine> engine_;
  std::unique_ptr<ExecutionContext> context_;
  std::vector<Tensor> buffers_;         // per I/O tensor (outputs: set 0)
  std::vector<Tensor> second_outputs_;  // per output: set 1
};

// ---- CUDA ---------------------------------------------------------------------------------------

#ifdef EDGERT_HAVE_CUDA
Status CudaCheck(cudaError_t e, const char* call) {
  if (e == cudaSuccess) return Status::Ok();
  return Status(StatusCode::kDevice, std::string(call) + " failed: " + cudaGetErrorString(e));
}

class CudaSession : public Session {
 public:
  ~CudaSession() override {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    for (cudaEvent_t e : done_) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    for (void* p : device_buffers_) cudaFree(p);
    for (void* p : pinned_) cudaFreeHost(p);
    context_.reset();
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  static StatusOr<std::unique_ptr<Session>> Make(StatusOr<std::shared_ptr<CudaEngine>> engine, SessionInfo info) {
    if (!engine.ok()) return engine.status();
    std::unique_ptr<CudaSession> s(new CudaSession());
    s->engine_ = *engine;
    EDGERT_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(s->engine_->device_id()), "cudaSetDevice"));
    EDGERT_RETURN_IF_ERROR(
        CudaCheck(cudaStreamCreateWithFlags(&s->stream_, cudaStreamNonBlocking), "cudaStreamCreate"));
    EDGERT_ASSIGN_OR_RETURN(s->context_, s->engine_->CreateContext());
    s->info_ = std::move(info);
    s->io_ = s->engine_->IOTensors();
    for (size_t i = 0; i < s->io_.size(); ++i) {
      const IOTensorInfo& io = s->io_[i];
      if (io.is_input) ++s->num_inputs_;
      const size_t bytes = static_cast<size_t>(NumElements(io.shape)) * DataTypeSize(io.dtype);
      void* device = nullptr;
      EDGERT_RETURN_IF_ERROR(CudaCheck(cudaMalloc(&device, bytes > 0 ? bytes : 1), "cudaMalloc"));
      s->device_buffers_.push_back(device);
      EDGERT_RETURN_IF_ERROR(s->context_->SetTensorAddress(static_cast<int>(i), device));
      if (!io.is_input) {
        for (int set = 0; set < kOutputSets; ++set) {
          void* host = nullptr;
          EDGERT_RETURN_IF_ERROR(
              CudaCheck(cudaHostAlloc(&host, bytes > 0 ? bytes : 1, cudaHostAllocDefault), "cudaHostAlloc"));
          std::memset(host, 0, bytes > 0 ? bytes : 1);
          s->pinned_.push_back(host);
          s->outputs_[set].push_back(Tensor::View(io.dtype, io.shape, host));
        }
      }
    }
    for (cudaEvent_t& e : s->done_) {
      EDGERT_RETURN_IF_ERROR(CudaCheck(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate"));
    }
    return std::unique_ptr<Session>(std::move(s));
  }

  void* stream() const override { return stream_; }
  void* InputBuffer(int i) override { return device_buffers_[static_cast<size_t>(i)]; }
  Status CopyInputFromHost(int i, const void* data, size_t bytes) override {
    const IOTensorInfo& io = io_[static_cast<size_t>(i)];
    const size_t want = static_cast<size_t>(NumElements(io.shape)) * DataTypeSize(io.dtype);
    if (bytes != want) {
      return InvalidArgument(
          "input '" + io.name + "' takes " + std::to_string(want) + " bytes, got " + std::to_string(bytes), io.name);
    }
    ++h2d_copies_;
    return CudaCheck(
        cudaMemcpyAsync(device_buffers_[static_cast<size_t>(i)], data, bytes, cudaMemcpyHostToDevice, stream_),
        "cudaMemcpyAsync (input)");
  }
  Status Run() override {
    EDGERT_RETURN_IF_ERROR(Launch(0));
    return CudaCheck(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  Status Launch(int set) override {
    EDGERT_RETURN_IF_ERROR(CheckOutputSet(set));
    EDGERT_RETURN_IF_ERROR(context_->Enqueue(stream_));
    for (int o = 0; o < NumOutputs(); ++o) {
      if (!OutputToHost(o)) continue;
      Tensor& out = outputs_[set][static_cast<size_t>(o)];
      ++d2h_copies_;
      EDGERT_RETURN_IF_ERROR(CudaCheck(cudaMemcpyAsync(out.raw(), device_buffers_[static_cast<size_t>(num_inputs_ + o)],
                                                       out.bytes(), cudaMemcpyDeviceToHost, stream_),
                                       "cudaMemcpyAsync (output)"));
    }
    return CudaCheck(cudaEventRecord(done_[set], stream_), "cudaEventRecord");
  }
  Status Wait(int set) override {
    EDGERT_RETURN_IF_ERROR(CheckOutputSet(set));
    return CudaCheck(cudaEventSynchronize(done_[set]), "cudaEventSynchronize");
  }
  const Tensor& Output(int i) const override { return outputs_[0][static_cast<size_t>(i)]; }
  const Tensor& Output(int i, int set) const override { return outputs_[set][static_cast<size_t>(i)]; }
  void* OutputBuffer(int i) override { return device_buffers_[static_cast<size_t>(num_inputs_ + i)]; }

 private:
  std::shared_ptr<CudaEngine> engine_;
  std::unique_ptr<CudaExecutionContext> context_;
  cudaStream_t stream_ = nullptr;
  std::vector<void*> device_buffers_;         // per I/O tensor
  std::vector<void*> pinned_;                 // per output and set
  std::vector<Tensor> outputs_[kOutputSets];  // per set: views of pinned_
  cudaEvent_t done_[kOutputSets] = {};        // per set: recorded after the set's output copies
};
#endif

StatusOr<std::unique_ptr<Session>> MakeSession(const std::string& backend, const SessionInfo& info,
                                               const std::string& plan_path, NetworkDef* network,
                                               const SessionOptions& options, Precision precision) {
  if (backend == "cuda") {
#ifdef EDGERT_HAVE_CUDA
    CudaEngineOptions cuda;
    cuda.device_id = options.device_id;
    cuda.precision = precision;
    cuda.tactic_level = options.tactic_level;
    cuda.timing_cache = options.timing_cache;
    if (!plan_path.empty()) return CudaSession::Make(CudaEngine::CreateFromPlan(plan_path, cuda), info);
    return CudaSession::Make(CudaEngine::Create(std::move(*network), cuda), info);
#else
    return Unsupported("this edgert was built without the CUDA backend");
#endif
  }
  if (!plan_path.empty()) return CpuSession::Make(Engine::CreateFromPlan(plan_path), info);
  return CpuSession::Make(Engine::Create(std::move(*network)), info);
}

}  // namespace

StatusOr<std::string> ResolveDeviceBackend(const std::string& device) {
  if (device != "auto" && device != "cpu" && device != "cuda") {
    return InvalidArgument("device '" + device + "' is not auto, cpu or cuda", "device");
  }
  if (device == "auto") return std::string(CudaVisible() ? "cuda" : "cpu");
  if (device == "cuda" && !CudaVisible()) {
#ifdef EDGERT_HAVE_CUDA
    return NotFound("device cuda: no CUDA device is visible (driver missing or no GPU)", "device");
#else
    return Unsupported("device cuda: this edgert was built without the CUDA backend (EDGERT_WITH_CUDA=OFF)", "device");
#endif
  }
  return device;
}

StatusOr<std::unique_ptr<Session>> Session::Open(const SessionOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.model.empty() == options.plan.empty()) {
    return InvalidArgument("a session needs exactly one of a model or a plan", "model/plan");
  }
  if (!options.plan.empty() && (!options.input_formats.empty() || !options.output_formats.empty())) {
    return InvalidArgument(options.plan + " is a plan: its input and output formats were chosen when it was built",
                           options.plan);
  }
  SessionInfo info;
  // 1-2. Backend and precision. A plan decides its own backend.
  std::string backend;
  if (!options.plan.empty()) {
    EDGERT_ASSIGN_OR_RETURN(PlanMetadata meta, ReadPlanMetadata(options.plan));
    backend = meta.device.backend;
    if (options.device != "auto" && options.device != backend) {
      return InvalidArgument(options.plan + " is a plan for the " + backend + " backend, not " + options.device,
                             options.plan);
    }
    if (backend == "cuda" && !CudaVisible()) {
      return Unsupported(options.plan + " is a plan for " + meta.device.ToString() +
                             " and this machine has no usable CUDA device (or this build has no CUDA backend)",
                         options.plan);
    }
    info.precision = meta.precision;
  } else {
    EDGERT_ASSIGN_OR_RETURN(backend, ResolveDeviceBackend(options.device));
    EDGERT_ASSIGN_OR_RETURN(info.precision, ResolvePrecision(options.precision, backend));
  }
  info.backend = backend;

  // 3. The plan.
  std::string plan_path = options.plan;
  NetworkDef network;
  if (!options.plan.empty()) {
    info.plan_path = options.plan;
    info.cache_outcome = "plan file";
  } else {
    BuildOptions build;
    build.shapes = options.shapes;
    build.precision = info.precision;
    build.input_formats = options.input_formats;
    build.output_formats = options.output_formats;
    if (options.precision == "int8") {
      if (options.int8_calib_dir.empty() && options.int8_cache.empty()) {
        return InvalidArgument(
            "precision int8 needs calibration data (calibration tensors, e.g. the element's captured frames) or a "
            "calibration cache",
            "precision");
      }
      build.int8.enabled = true;
      build.int8.calib_dir = options.int8_calib_dir;
      build.int8.cache_path = options.int8_cache;
      build.int8.settings = options.int8_settings;
      if (!options.int8_calib_dir.empty()) {
        EDGERT_ASSIGN_OR_RETURN(build.int8.data_key, CalibrationDirKey(options.int8_calib_dir));
      }
      info.int8 = true;
    }
    auto finalize = [&](NetworkDef net) -> StatusOr<NetworkDef> {
      if (backend != "cuda") return net;
#ifdef EDGERT_HAVE_CUDA
      CudaEngineOptions cuda;
      cuda.device_id = options.device_id;
      cuda.precision = info.precision;
      cuda.tactic_level = options.tactic_level;
      cuda.timing_cache = options.timing_cache;
      if (options.logger) {
        cuda.progress = [&options](size_t layer, size_t total, const std::string& name) {
          options.logger("tactics: layer " + std::to_string(layer + 1) + "/" + std::to_string(total) + " " + name);
        };
      }
      EDGERT_ASSIGN_OR_RETURN(std::shared_ptr<CudaEngine> timed, CudaEngine::Create(std::move(net), cuda));
      return timed->PlanNetwork();
#else
      return Unsupported("this edgert was built without the CUDA backend");
#endif
    };
    if (options.use_cache) {
#ifdef EDGERT_HAVE_CUDA
      EDGERT_ASSIGN_OR_RETURN(DeviceKey key, backend == "cuda" ? CudaDeviceKey(options.device_id) : CpuDeviceKey());
#else
      const DeviceKey key = CpuDeviceKey();
#endif
      PlanCacheOptions cache;
      cache.dir = options.cache_dir;
      cache.logger = options.logger;
      cache.finalize_network = finalize;
      StatusOr<CachedPlan> cached = GetOrBuildPlan(options.model, build, key, cache);
      if (!cached.ok()) return cached.status();
      plan_path = cached->path;
      info.plan_path = cached->path;
      info.cache_outcome = CacheOutcomeName(cached->outcome);
      info.build_seconds = cached->build_seconds;
    } else {
      const auto build_start = std::chrono::steady_clock::now();
      BuildReport report;
      StatusOr<NetworkDef> built = BuildNetwork(options.model, build, &report);
      if (!built.ok()) return built.status();
      if (options.logger) {
        for (const std::string& line : Int8BuildLines(report)) options.logger(line);
        for (const std::string& line : NhwcBuildLines(report)) options.logger(line);
      }
      StatusOr<NetworkDef> finalized = finalize(std::move(*built));
      if (!finalized.ok()) return finalized.status().WithContext(options.model);
      network = std::move(*finalized);
      info.cache_outcome = "in memory";
      info.build_seconds = SecondsSince(build_start);
    }
  }

  // 4. Engine, context, buffers.
  if (backend == "cuda") {
#ifdef EDGERT_HAVE_CUDA
    StatusOr<DeviceKey> key = CudaDeviceKey(options.device_id);
    info.backend_line = std::string("cuda ") + (info.int8 ? "int8+" : "") + PrecisionName(info.precision) + " on " +
                        (key.ok() ? key->ToString() : std::string("device ") + std::to_string(options.device_id));
#endif
  } else {
    info.backend_line = info.int8 ? "cpu (reference engine, int8)" : "cpu (reference engine)";
  }
  StatusOr<std::unique_ptr<Session>> session = MakeSession(backend, info, plan_path, &network, options, info.precision);
  if (!session.ok()) return session.status().WithContext(options.plan.empty() ? options.model : options.plan);
  (*session)->info_.open_seconds = SecondsSince(start);
  return session;
}

}  // namespace edgert
