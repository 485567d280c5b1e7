// Backend selection for the CLI: `--device cpu|cuda|auto` and `--fp16`, and one runner that executes
// a network on host tensors with either engine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgert/network.h"
#include "edgert/plan.h"
#include "edgert/precision.h"
#include "edgert/status.h"
#include "edgert/tensor.h"
#ifdef EDGERT_HAVE_CUDA
#include "edgert/cuda_engine.h"
#endif

namespace edgert {

// The options every running/building command shares.
struct DeviceOptions {
  std::string device = "auto";     // cpu | cuda | auto (cuda when this build has it and a GPU is visible)
  bool fp16 = false;               // CUDA only
  bool best = false;               // --best: the fastest precision the backend runs (fp16 on CUDA, fp32 on the CPU)
  int tactic_level = 1;            // CUDA: 0 heuristics only, 1 time the top candidates, 2 time all
  std::string timing_cache;        // CUDA: timing cache file ("" = none)
  int64_t max_workspace_mib = 64;  // CUDA: scratch memory one layer may use
  int load_threads = 0;            // CUDA: host threads creating the layers' kernels at a load (0 = auto)
  int aux_streams = 1;             // CUDA: auxiliary streams for concurrent branches (0 or 1)
};

// Consumes args[*i] (and its value) when it is --device or --fp16: returns true and sets *error on
// a bad value. False when args[*i] is not one of them.
bool ParseDeviceArg(const std::vector<std::string>& args, size_t* i, DeviceOptions* options, std::string* error);

// Help text lines for the two options (a literal, so help pages can concatenate it).
#define EDGERT_DEVICE_OPTIONS_HELP                                                                       \
  "  --device cpu|cuda|auto  the backend (default auto: cuda when this build has the CUDA backend and\n" \
  "                          a GPU is visible, else the reference CPU engine)\n"                         \
  "  --fp16                  run float layers in FP16 (CUDA; FP32 accumulation; inputs and outputs\n"    \
  "                          as the model declares them unless --input-format / --output-format)\n"      \
  "  --best                  the fastest precision the backend runs: fp16 on CUDA, fp32 on the CPU\n"    \
  "  --tactic-level 0|1|2    CUDA: 0 takes the libraries' heuristic choice per layer (fastest build),\n" \
  "                          1 times the top candidates of each layer (default), 2 times all of them\n"  \
  "  --timing-cache FILE     CUDA: reuse and extend earlier tactic choices (any model, this GPU)\n"      \
  "  --max-workspace MIB     CUDA: scratch memory one layer may use (default 64; less for Jetsons)\n"    \
  "  --load-threads N        CUDA: host threads creating the layers' kernels when an engine or plan\n"   \
  "                          loads (default 0: one per two tunable layers, at most 8; 1: serial)\n"      \
  "  --aux-streams 0|1       CUDA: 1 (default) runs branch layers beside the main path on a second\n"    \
  "                          stream (ResNet's downsample convolutions); 0 keeps one stream\n"

// "cpu" or "cuda" for `options` on this machine; an error for --device cuda without a CUDA build or
// a visible GPU, or --fp16 on the CPU backend. --best turns on fp16 when the backend is cuda.
StatusOr<std::string> ResolveBackend(DeviceOptions* options);
// The device key plans for `backend` are built for ("cpu", or the first GPU's key).
StatusOr<DeviceKey> BackendDeviceKey(const std::string& backend);

#ifdef EDGERT_HAVE_CUDA
// The CUDA engine options of `device` (precision, tactic level, timing cache).
CudaEngineOptions CudaOptionsFor(const DeviceOptions& device);
#endif

// Runs a network on host tensors with the CPU engine or a CUDA engine + context.
class HostRunner {
 public:
  virtual ~HostRunner() = default;
  static StatusOr<std::unique_ptr<HostRunner>> Create(NetworkDef network, const std::string& backend,
                                                      const DeviceOptions& options);
  // The backend is the plan's (its device key says cpu or cuda); the plan is validated for here.
  // Of `options`, a CUDA plan takes what applies at a load (--load-threads, --aux-streams).
  static StatusOr<std::unique_ptr<HostRunner>> FromPlan(const std::string& path, const DeviceOptions& options = {});
  virtual Status Run(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) = 0;
  // "backend: cpu" / "backend: cuda fp16 on <device key>".
  virtual std::string BackendLine() const = 0;
  // The memory plan figures and, for CUDA, the device bytes (weights, arena, workspace).
  virtual std::string MemoryLine() const = 0;
  // One line per layer: index, op, name and (CUDA) the kernel chosen.
  virtual std::string LayerReport() const = 0;
  // The network the engine runs.
  virtual const NetworkDef& network() const = 0;
};

}  // namespace edgert
