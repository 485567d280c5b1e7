// Shared by the GPU tests: run a network (or one operator) on the reference CPU engine and on the
// CUDA engine with a poisoned arena, and compare every output.
//
// Float outputs: relative L2 ||cuda - cpu|| / ||cpu|| within the tolerance (FP32 1e-3, FP16 1e-2 by
// default, DESIGN.md §4); a NaN where the reference has none fails (that is how an unwritten,
// poisoned element shows up). Integer and bool outputs: exactly equal.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../unit/op_test_util.h"
#include "edgert/cpu_engine.h"
#include "edgert/cuda_engine.h"

namespace edgert {
namespace testing {

inline double DefaultTolerance(Precision p) { return p == Precision::kFp16 ? 1e-2 : 1e-3; }

// Device buffers for a test, freed when it goes out of scope (also after a failed ASSERT). A
// failed cudaMalloc is a test failure (and a null pointer).
struct DeviceAllocations {
  std::vector<void*> ptrs;
  void* Alloc(size_t bytes) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess);
    ptrs.push_back(p);
    return p;
  }
  DeviceAllocations() = default;
  DeviceAllocations(const DeviceAllocations&) = delete;
  DeviceAllocations& operator=(const DeviceAllocations&) = delete;
  ~DeviceAllocations() {
    for (void* p : ptrs) cudaFree(p);
  }
};

// Uniform values in [lo, hi) (integers: rounded; bool: 0/1) from `seed`.
inline Tensor RandomTensor(DataType dtype, Shape shape, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = *Tensor::Create(dtype, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    const double v = dist(rng);
    switch (dtype) {
      case DataType::kFloat32: t.data<float>()[i] = static_cast<float>(v); break;
      case DataType::kFloat64: t.data<double>()[i] = v; break;
      case DataType::kInt32: t.data<int32_t>()[i] = static_cast<int32_t>(std::lround(v)); break;
      case DataType::kInt64: t.data<int64_t>()[i] = std::llround(v); break;
      case DataType::kInt8: t.data<int8_t>()[i] = static_cast<int8_t>(std::lround(v)); break;
      case DataType::kUInt8: t.data<uint8_t>()[i] = static_cast<uint8_t>(std::lround(v)); break;
      case DataType::kBool: t.data<bool>()[i] = v > (lo + hi) / 2; break;
      default: ADD_FAILURE() << "RandomTensor: unsupported dtype " << DataTypeName(dtype); return t;
    }
  }
  return t;
}

// Appends a float32 tensor `name` of `shape` to `net` (a constant when `value` is defined) and
// returns its index: how the hand-built networks of the GPU tests make their tensors.
inline int32_t AddFloatTensor(NetworkDef& net, const std::string& name, Shape shape, Tensor value = {}) {
  TensorDef def;
  def.name = name;
  def.dtype = DataType::kFloat32;
  def.shape = std::move(shape);
  def.value = std::move(value);
  net.tensors.push_back(std::move(def));
  return static_cast<int32_t>(net.tensors.size() - 1);
}

// Compares `got` with `want` as described above; `what` names the output in failures.
inline void ExpectTensorsClose(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const int64_t n = want.num_elements();
  if (IsFloatType(want.dtype())) {
    double diff2 = 0, ref2 = 0;
    int64_t bad_nan = -1;
    for (int64_t i = 0; i < n; ++i) {
      const double g = got.GetAsDouble(i), w = want.GetAsDouble(i);
      if (std::isnan(w)) {
        if (!std::isnan(g) && bad_nan < 0) bad_nan = i;
        continue;
      }
      if (std::isinf(w)) {
        if (g != w && bad_nan < 0) bad_nan = i;
        continue;
      }
      if (!std::isfinite(g)) {
        if (bad_nan < 0) bad_nan = i;
        continue;
      }
      diff2 += (g - w) * (g - w);
      ref2 += w * w;
    }
    EXPECT_LT(bad_nan, 0) << what << ": element " << bad_nan << " is " << got.GetAsDouble(bad_nan < 0 ? 0 : bad_nan)
                          << ", reference " << want.GetAsDouble(bad_nan < 0 ? 0 : bad_nan);
    const double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
    EXPECT_LE(rel, tol) << what << ": relative L2 error " << rel << " over " << n << " elements";
  } else {
    ASSERT_EQ(got.bytes(), want.bytes()) << what;
    for (int64_t i = 0; i < n; ++i) {
      if (got.GetAsInt64(i) != want.GetAsInt64(i)) {
        ADD_FAILURE() << what << ": element " << i << " is " << got.GetAsInt64(i) << ", reference "
                      << want.GetAsInt64(i);
        return;
      }
    }
  }
}

// Skips the test when this machine has no GPU (the GPU tests are built and run only by the device
// script, where a missing GPU is a failure: it sets EDGERT_REQUIRE_GPU=1).
#define EDGERT_REQUIRE_CUDA_DEVICE()                                                   \
  do {                                                                                 \
    if (::edgert::CudaDeviceCount() == 0) {                                            \
      if (std::getenv("EDGERT_REQUIRE_GPU") != nullptr) FAIL() << "no CUDA device";   \
      GTEST_SKIP() << "no CUDA device";                                                \
    }                                                                                  \
  } while (0)

// Runs `reference` with `feeds` on the CPU engine and `net` (the same model, built otherwise: e.g.
// optimized, another layout) on a CUDA engine of `precision` (arena poisoned), and compares every
// output. tol < 0: the precision's default.
inline void ExpectCudaMatchesCpu(const NetworkDef& reference, const NetworkDef& net, const std::vector<Tensor>& feeds,
                                 Precision precision, double tol = -1, bool cuda_graphs = false) {
  if (tol < 0) tol = DefaultTolerance(precision);
  StatusOr<std::unique_ptr<CpuEngine>> cpu = CpuEngine::Create(reference);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  std::vector<Tensor> want;
  Status s = (*cpu)->Run(feeds, &want);
  ASSERT_TRUE(s.ok()) << s.ToString();

  CudaEngineOptions options;
  options.precision = precision;
  options.cuda_graphs = cuda_graphs;
  StatusOr<std::shared_ptr<CudaEngine>> engine = CudaEngine::Create(net, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  StatusOr<std::unique_ptr<CudaExecutionContext>> context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  (*context)->SetPoisonArena(true);
  std::vector<Tensor> got;
  s = RunOnHost(**context, feeds, &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    ExpectTensorsClose(got[k], want[k], tol,
                       std::string(PrecisionName(precision)) + " output " + std::to_string(k));
  }
}

// Runs `net` with `feeds` on the CPU engine and on a CUDA engine of `precision` (arena poisoned)
// and compares every output. tol < 0: the precision's default.
inline void ExpectCudaMatchesCpu(const NetworkDef& net, const std::vector<Tensor>& feeds, Precision precision,
                                 double tol = -1, bool cuda_graphs = false) {
  ExpectCudaMatchesCpu(net, net, feeds, precision, tol, cuda_graphs);
}

// One operator: BuildSingleOp (op_test_util.h) and ExpectCudaMatchesCpu in FP32 and FP16 (FP16 only
// when an input is float32: integer-only ops run the same either way).
inline void ExpectOpMatches(OpType op, const Attributes& attrs, const std::vector<OpArg>& args, size_t num_outputs = 1,
                            int opset = 17, double tol32 = -1, double tol16 = -1) {
  StatusOr<SingleOpNetwork> single = BuildSingleOp(op, attrs, args, num_outputs, opset, "op");
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  {
    SCOPED_TRACE("fp32");
    ExpectCudaMatchesCpu(single->net, single->feeds, Precision::kFp32, tol32);
  }
  bool has_float = false;
  for (const OpArg& a : args) has_float |= a.value.defined() && a.value.dtype() == DataType::kFloat32;
  if (has_float) {
    SCOPED_TRACE("fp16");
    ExpectCudaMatchesCpu(single->net, single->feeds, Precision::kFp16, tol16);
  }
}

}  // namespace testing
}  // namespace edgert
