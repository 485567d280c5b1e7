// `edgert bench` pieces shared by the CPU path (bench_command.cc) and the CUDA path (bench_cuda.cc).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cli_device.h"
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
};

// Nearest-rank percentile of sorted `v` (non-empty), p in (0, 100].
double Percentile(const std::vector<double>& v, double p);

// The CUDA path of `edgert bench` (bench_cuda.cc); an error when this build has no CUDA backend.
int RunCudaBench(const BenchOptions& o, const std::map<std::string, Shape>& shapes);

}  // namespace edgert
