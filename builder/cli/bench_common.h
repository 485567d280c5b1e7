// `edgert bench` pieces shared by the CPU path (bench_command.cc) and the CUDA path (bench_cuda.cc).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cli_device.h"
#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {

struct BenchOptions {
  std::string model;
  std::string shapes_text;
  bool has_shapes = false;
  int64_t iterations = 10;
  bool has_iterations = false;
  double duration_s = 3.0;
  bool has_duration = false;
  double warmup_s = 0.2;
  int contexts = 1;
  uint64_t seed = 1;
  DeviceOptions device;
  bool graphs = true;  // CUDA graphs (CUDA backend)
  bool profile = false;  // --profile: per-layer GPU times (CUDA backend)
  IoFormatOptions io_formats;  // --input-format / --output-format (ONNX models)
};

// Nearest-rank percentile of sorted `v` (non-empty), p in (0, 100].
double Percentile(const std::vector<double>& v, double p);

// A plan's shapes for `edgert bench`: fixed plans must match --shapes exactly; with a batch profile,
// the context runs at the profile's opt batch unless --shapes gives another one (the context's
// SetInputShape checks it against the profile). `Engine`/`Context` are the CPU or CUDA types.
template <typename Engine, typename Context>
Status ApplyPlanShapes(const Engine& engine, Context& context, const std::map<std::string, Shape>& shapes,
                       const std::string& plan) {
  const bool profile = engine.profile().enabled();
  if (profile) EDGERT_RETURN_IF_ERROR(context.SetBatchSize(engine.profile().opt));
  for (const auto& [name, shape] : shapes) {
    const int index = engine.FindIOTensor(name);
    if (index < 0 || !engine.IOTensor(index).is_input) {
      return InvalidArgument("--shapes names '" + name + "', which is not an input of " + plan, name);
    }
    if (profile) {
      EDGERT_RETURN_IF_ERROR(context.SetInputShape(name, shape));
    } else if (engine.IOTensor(index).shape != shape) {
      return InvalidArgument("--shapes gives input '" + name + "' shape " + ShapeToString(shape) +
                                 " but the plan was built for " + ShapeToString(engine.IOTensor(index).shape) +
                                 " (plan shapes are fixed)",
                             name);
    }
  }
  return Status::Ok();
}

// The CUDA path of `edgert bench` (bench_cuda.cc); an error when this build has no CUDA backend.
int RunCudaBench(const BenchOptions& o, const std::map<std::string, Shape>& shapes);

}  // namespace edgert
