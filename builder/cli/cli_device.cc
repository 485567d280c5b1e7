#include "cli_device.h"

#include <cstdio>
#include <cstdlib>
#include <functional>

#include "cli_common.h"
#include "edgert/cpu_engine.h"
#include "edgert/engine.h"
#include "edgert/session.h"
#include "edgert/version.h"
#ifdef EDGERT_HAVE_CUDA
#include "edgert/cuda_engine.h"
#endif

namespace edgert {

bool ParseDeviceArg(const std::vector<std::string>& args, size_t* i, DeviceOptions* options, std::string* error) {
  const std::string& a = args[*i];
  if (a == "--fp16") {
    options->fp16 = true;
    return true;
  }
  if (a == "--best") {
    options->best = true;
    return true;
  }
  if (a == "--tactic-level" || a == "--timing-cache" || a == "--max-workspace" || a == "--load-threads" ||
      a == "--aux-streams") {
    if (*i + 1 >= args.size()) {
      *error = a + " needs a value";
      return true;
    }
    const std::string& v = args[++*i];
    if (a == "--timing-cache") {
      options->timing_cache = v;
    } else if (a == "--max-workspace") {
      char* end = nullptr;
      const long long mib = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || mib < 0 || mib > (1 << 20)) {
        *error = "--max-workspace '" + v + "' is not a number of MiB from 0 to 1048576";
      } else {
        options->max_workspace_mib = mib;
      }
    } else if (a == "--load-threads") {
      char* end = nullptr;
      const long long threads = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || threads < 0 || threads > 256) {
        *error = "--load-threads '" + v + "' is not a number of threads from 0 (auto) to 256";
      } else {
        options->load_threads = static_cast<int>(threads);
      }
    } else if (a == "--aux-streams") {
      if (v == "0" || v == "1") {
        options->aux_streams = v[0] - '0';
      } else {
        *error = "--aux-streams '" + v + "' is not 0 or 1";
      }
    } else if (v == "0" || v == "1" || v == "2") {
      options->tactic_level = v[0] - '0';
    } else {
      *error = "--tactic-level '" + v + "' is not 0, 1 or 2";
    }
    return true;
  }
  if (a != "--device") return false;
  if (*i + 1 >= args.size()) {
    *error = "--device needs a value (cpu, cuda or auto)";
    return true;
  }
  const std::string& v = args[++*i];
  if (v != "cpu" && v != "cuda" && v != "auto") {
    *error = "--device '" + v + "' is not cpu, cuda or auto";
    return true;
  }
  options->device = v;
  return true;
}

StatusOr<std::string> ResolveBackend(DeviceOptions* device) {
  const DeviceOptions& options = *device;
  StatusOr<std::string> resolved = ResolveDeviceBackend(options.device);
  if (!resolved.ok()) return Status(resolved.status().code(), "--" + resolved.status().message());
  const std::string backend = *resolved;
  if (backend == "cpu" && options.fp16) {
    return InvalidArgument("--fp16 needs the CUDA backend; the reference CPU engine runs FP32 only");
  }
  if (options.best && backend == "cuda") device->fp16 = true;
  return backend;
}

StatusOr<DeviceKey> BackendDeviceKey(const std::string& backend) {
  if (backend == "cpu") return CpuDeviceKey();
#ifdef EDGERT_HAVE_CUDA
  return CudaDeviceKey(0);
#else
  return Unsupported("this edgert was built without the CUDA backend");
#endif
}

#ifdef EDGERT_HAVE_CUDA
CudaEngineOptions CudaOptionsFor(const DeviceOptions& device) {
  CudaEngineOptions options;
  options.precision = device.fp16 ? Precision::kFp16 : Precision::kFp32;
  options.tactic_level = device.tactic_level;
  options.timing_cache = device.timing_cache;
  options.max_workspace_bytes = static_cast<size_t>(device.max_workspace_mib) << 20;
  options.load_threads = device.load_threads;
  options.aux_streams = device.aux_streams;
  return options;
}
#endif

namespace {

// "  12 Conv        name  [kernel]" per layer.
std::string LayerLines(const NetworkDef& net, const std::function<std::string(size_t)>& kernel) {
  std::string text;
  for (size_t l = 0; l < net.layers.size(); ++l) {
    char head[160];
    std::snprintf(head, sizeof(head), "%4zu %-22s %s", l, std::string(OpTypeName(net.layers[l].op)).c_str(),
                  net.layers[l].name.c_str());
    text += head;
    if (kernel) {
      const std::string k = kernel(l);
      if (!k.empty()) text += "  [" + k + "]";
    }
    text += "\n";
  }
  return text;
}

class CpuRunner : public HostRunner {
 public:
  explicit CpuRunner(std::unique_ptr<CpuEngine> engine) : engine_(std::move(engine)) {}
  Status Run(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) override {
    return engine_->Run(inputs, outputs);
  }
  std::string BackendLine() const override { return "backend: cpu (reference engine)"; }
  std::string MemoryLine() const override { return MemoryFiguresLine(engine_->memory_figures()); }
  std::string LayerReport() const override { return LayerLines(network(), nullptr); }
  const NetworkDef& network() const override { return engine_->engine()->network(); }

 private:
  std::unique_ptr<CpuEngine> engine_;
};

#ifdef EDGERT_HAVE_CUDA
class CudaRunner : public HostRunner {
 public:
  static StatusOr<std::unique_ptr<HostRunner>> Make(StatusOr<std::shared_ptr<CudaEngine>> engine) {
    if (!engine.ok()) return engine.status();
    EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CudaExecutionContext> context, (*engine)->CreateContext());
    EDGERT_ASSIGN_OR_RETURN(DeviceKey key, CudaDeviceKey((*engine)->device_id()));
    std::unique_ptr<CudaRunner> runner(new CudaRunner());
    runner->engine_ = *engine;
    runner->context_ = std::move(context);
    runner->key_ = key.ToString();
    return std::unique_ptr<HostRunner>(std::move(runner));
  }
  Status Run(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) override {
    return RunOnHost(*context_, inputs, outputs);
  }
  std::string BackendLine() const override {
    return std::string("backend: cuda ") + PrecisionName(engine_->precision()) + " on " + key_;
  }
  std::string MemoryLine() const override {
    const double mib = 1024.0 * 1024.0;
    char text[256];
    std::snprintf(text, sizeof(text), "device memory: weights %.2f MiB, arena %.2f MiB, workspace %.2f MiB",
                  engine_->WeightsBytes() / mib, engine_->ArenaBytes() / mib, engine_->WorkspaceBytes() / mib);
    return MemoryFiguresLine(engine_->memory_plan().figures) + "\n" + text;
  }
  std::string LayerReport() const override {
    return LayerLines(network(), [this](size_t l) { return context_->LayerKernel(l); });
  }
  const NetworkDef& network() const override { return engine_->network(); }

 private:
  std::shared_ptr<CudaEngine> engine_;
  std::unique_ptr<CudaExecutionContext> context_;
  std::string key_;
};
#endif

}  // namespace

StatusOr<std::unique_ptr<HostRunner>> HostRunner::Create(NetworkDef network, const std::string& backend,
                                                         const DeviceOptions& device) {
  if (backend == "cuda") {
#ifdef EDGERT_HAVE_CUDA
    return CudaRunner::Make(CudaEngine::Create(std::move(network), CudaOptionsFor(device)));
#else
    return Unsupported("this edgert was built without the CUDA backend");
#endif
  }
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CpuEngine> engine, CpuEngine::Create(std::move(network)));
  return std::unique_ptr<HostRunner>(new CpuRunner(std::move(engine)));
}

StatusOr<std::unique_ptr<HostRunner>> HostRunner::FromPlan(const std::string& path, const DeviceOptions& options) {
  EDGERT_ASSIGN_OR_RETURN(PlanMetadata meta, ReadPlanMetadata(path));
  if (meta.device.backend == "cuda") {
#ifdef EDGERT_HAVE_CUDA
    if (CudaDeviceCount() == 0) {
      return Unsupported(path + " is a plan for " + meta.device.ToString() +
                         " and this machine has no visible CUDA device");
    }
    return CudaRunner::Make(CudaEngine::CreateFromPlan(path, CudaOptionsFor(options)));
#else
    (void)options;
    return Unsupported(path + " is a plan for " + meta.device.ToString() +
                       "; this edgert was built without the CUDA backend");
#endif
  }
  EDGERT_RETURN_IF_ERROR(ValidatePlan(path, CpuDeviceKey(), EDGERT_VERSION_STRING));
  EDGERT_ASSIGN_OR_RETURN(LoadedPlan plan, LoadedPlan::Open(path));
  StatusOr<std::unique_ptr<CpuEngine>> engine = CpuEngine::Create(plan.network());
  if (!engine.ok()) return engine.status().WithContext(path);
  return std::unique_ptr<HostRunner>(new CpuRunner(std::move(*engine)));
}

}  // namespace edgert
