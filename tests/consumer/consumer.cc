// A user of the installed runtime: loads a plan, runs it once on the CPU with random inputs and
// prints every output's name, dtype and shape, one line each:
//   output <name> <dtype> <shape> finite=<n>/<total> sum=<sum of the float elements, %.9g>
// Usage: edgert_consumer PLAN [SEED]
// Exit status: 0 when every output element is finite, 1 on a runtime error or a non-finite output,
// 2 on usage errors. Only float inputs are filled with random values (uniform in [-1, 1)); other
// dtypes are zero-filled.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "edgert/engine.h"
#include "edgert/tensor.h"
#include "edgert/version.h"

namespace {

int Fail(const edgert::Status& status) {
  std::fprintf(stderr, "edgert_consumer: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: edgert_consumer PLAN [SEED]\n");
    return 2;
  }
  const std::string plan_path = argv[1];
  const unsigned seed = argc == 3 ? static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10)) : std::random_device{}();
  std::printf("edgert %s, seed %u\n", EDGERT_VERSION_STRING, seed);

  auto engine = edgert::Engine::CreateFromPlan(plan_path);
  if (!engine.ok()) return Fail(engine.status());
  auto context = (*engine)->CreateContext();
  if (!context.ok()) return Fail(context.status());

  // One host buffer per I/O tensor; inputs random, outputs filled with NaN so an unwritten element
  // shows up as non-finite.
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<std::vector<uint8_t>> buffers;
  for (const edgert::IOTensorInfo& io : (*engine)->IOTensors()) {
    const int64_t count = edgert::NumElements(io.shape);
    const size_t bytes = static_cast<size_t>(count) * edgert::DataTypeSize(io.dtype);
    buffers.emplace_back(bytes);
    std::vector<uint8_t>& buffer = buffers.back();
    if (io.is_input && io.dtype == edgert::DataType::kFloat32) {
      float* values = reinterpret_cast<float*>(buffer.data());
      for (int64_t i = 0; i < count; ++i) values[i] = uniform(rng);
    } else if (!io.is_input) {
      std::memset(buffer.data(), 0xFF, bytes);
    }
    edgert::Status bound = (*context)->SetTensorAddress(io.name, buffer.data());
    if (!bound.ok()) return Fail(bound);
  }
  edgert::Status run = (*context)->Enqueue();
  if (!run.ok()) return Fail(run);

  bool all_finite = true;
  for (size_t k = 0; k < buffers.size(); ++k) {
    const edgert::IOTensorInfo& io = (*engine)->IOTensor(static_cast<int>(k));
    if (io.is_input) continue;
    const int64_t count = edgert::NumElements(io.shape);
    int64_t finite = count;
    double sum = 0.0;
    if (io.dtype == edgert::DataType::kFloat32) {
      const float* values = reinterpret_cast<const float*>(buffers[k].data());
      finite = 0;
      for (int64_t i = 0; i < count; ++i) {
        finite += std::isfinite(values[i]) ? 1 : 0;
        sum += values[i];
      }
    }
    all_finite = all_finite && finite == count;
    std::printf("output %s %s %s finite=%lld/%lld sum=%.9g\n", io.name.c_str(), edgert::DataTypeName(io.dtype),
                edgert::ShapeToString(io.shape).c_str(), static_cast<long long>(finite), static_cast<long long>(count),
                sum);
  }
  return all_finite ? 0 : 1;
}
