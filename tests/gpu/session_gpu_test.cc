// Session on the CUDA backend: FP32 and FP16 through the plan cache against the CPU session; the
// input buffer is device memory, host copies are counted, a CUDA plan opens as a plan file.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "../unit/onnx_test_util.h"
#include "edgert/session.h"
#include "gpu_test_util.h"
#include "ops/op_util.h"

namespace edgert {
namespace {

using testing_util::AddFloatInitializer;
using testing_util::AddInput;
using testing_util::AddNode;
using testing_util::AddOutput;
using testing_util::NewModel;
using testing_util::SaveModel;
using testing_util::TempDir;

// Conv 3->8 (3x3, pad 1) + Relu + GlobalAveragePool on a dynamic-batch [N,3,16,16] input.
std::string WriteConvModel(const TempDir& dir) {
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 3, 16, 16});
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {-1, 8, 1, 1});
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  std::vector<float> w(8 * 3 * 3 * 3), b(8);
  for (float& v : w) v = dist(rng);
  for (float& v : b) v = dist(rng);
  AddFloatInitializer(m, "w", {8, 3, 3, 3}, w);
  AddFloatInitializer(m, "b", {8}, b);
  onnx::NodeProto* conv = AddNode(m, "Conv", {"x", "w", "b"}, {"c"});
  onnx::AttributeProto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
  AddNode(m, "Relu", {"c"}, {"r"});
  AddNode(m, "GlobalAveragePool", {"r"}, {"y"});
  return SaveModel(m, dir.File("conv.onnx"));
}

void RunHost(Session& s, const std::vector<float>& x) {
  ASSERT_TRUE(s.CopyInputFromHost(0, x.data(), x.size() * sizeof(float)).ok());
  Status st = s.Run();
  ASSERT_TRUE(st.ok()) << st.ToString();
}

TEST(SessionGpu, MatchesTheCpuSessionInFp32AndFp16) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  TempDir dir;
  const std::string model = WriteConvModel(dir);
  std::vector<float> x(2 * 3 * 16 * 16);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (float& v : x) v = dist(rng);

  SessionOptions o;
  o.model = model;
  o.cache_dir = dir.File("cache");
  o.shapes["x"] = {2, 3, 16, 16};
  o.device = "cpu";
  StatusOr<std::unique_ptr<Session>> cpu = Session::Open(o);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  RunHost(**cpu, x);
  const Tensor& ref = (*cpu)->Output(0);

  for (const char* precision : {"fp32", "fp16", "best"}) {
    o.device = "auto";
    o.precision = precision;
    StatusOr<std::unique_ptr<Session>> gpu = Session::Open(o);
    ASSERT_TRUE(gpu.ok()) << precision << ": " << gpu.status().ToString();
    Session& s = **gpu;
    EXPECT_EQ(s.info().backend, "cuda");
    EXPECT_TRUE(s.on_gpu());
    EXPECT_NE(s.stream(), nullptr);
    // "best" is fp16 on CUDA: the fp16 entry is a hit.
    EXPECT_EQ(s.info().cache_outcome, std::string(precision) == "best" ? "hit" : "built") << precision;
    cudaPointerAttributes attr{};
    ASSERT_EQ(cudaPointerGetAttributes(&attr, s.InputBuffer(0)), cudaSuccess);
    EXPECT_EQ(attr.type, cudaMemoryTypeDevice);
    RunHost(s, x);
    EXPECT_EQ(s.h2d_copies(), 1);
    EXPECT_EQ(s.d2h_copies(), 1);
    const Tensor& out = s.Output(0);
    ASSERT_EQ(out.shape(), ref.shape());
    double num = 0, den = 0;
    for (int64_t i = 0; i < out.num_elements(); ++i) {
      const double d = out.data<float>()[i] - ref.data<float>()[i];
      num += d * d;
      den += double(ref.data<float>()[i]) * ref.data<float>()[i];
    }
    const double tol = std::string(precision) == "fp32" ? 1e-3 : 1e-2;
    EXPECT_LE(std::sqrt(num / den), tol) << precision;

    // The cached CUDA plan opens as a plan file and gives the same outputs.
    SessionOptions p;
    p.plan = s.info().plan_path;
    StatusOr<std::unique_ptr<Session>> from_plan = Session::Open(p);
    ASSERT_TRUE(from_plan.ok()) << from_plan.status().ToString();
    RunHost(**from_plan, x);
    for (int64_t i = 0; i < out.num_elements(); ++i) {
      EXPECT_EQ((*from_plan)->Output(0).data<float>()[i], out.data<float>()[i]) << precision << " " << i;
    }
    // A CUDA plan cannot be opened on the CPU backend.
    p.device = "cpu";
    EXPECT_EQ(Session::Open(p).status().code(), StatusCode::kInvalidArgument);
  }
}

// input_formats {fp16:hwc} / output_formats {fp16}: an FP16 session through the plan cache takes a
// float16 [N, H, W, C] input and gives float16 outputs equal, bit for bit, to the float32-bound
// FP16 session's outputs rounded to float16 (the input holds float16 values, so both engines see
// the same device tensor); the plan file opens with the same formats.
TEST(SessionGpu, Float16ChannelsLastBuffersThroughTheCache) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  TempDir dir;
  const std::string model = WriteConvModel(dir);
  std::vector<float> x(2 * 3 * 16 * 16);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (float& v : x) v = HalfToFloat(FloatToHalf(dist(rng)));
  std::vector<uint16_t> x_hwc(x.size());
  for (int n = 0; n < 2; ++n) {
    for (int c = 0; c < 3; ++c) {
      for (int p = 0; p < 256; ++p) x_hwc[(n * 256 + p) * 3 + c] = FloatToHalf(x[(n * 3 + c) * 256 + p]);
    }
  }
  SessionOptions o;
  o.model = model;
  o.cache_dir = dir.File("cache");
  o.shapes["x"] = {2, 3, 16, 16};
  o.precision = "fp16";
  o.tactic_level = 0;  // the heuristic kernels in both sessions: comparable bits
  StatusOr<std::unique_ptr<Session>> plain = Session::Open(o);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  RunHost(**plain, x);
  const Tensor& ref = (*plain)->Output(0);

  o.input_formats = {ParseIoFormat("fp16:hwc").value()};
  o.output_formats = {ParseIoFormat("fp16").value()};
  StatusOr<std::unique_ptr<Session>> formatted = Session::Open(o);
  ASSERT_TRUE(formatted.ok()) << formatted.status().ToString();
  Session& s = **formatted;
  EXPECT_EQ(s.info().cache_outcome, "built");  // the formats are part of the cache key
  EXPECT_EQ(s.InputInfo(0).dtype, DataType::kFloat16);
  EXPECT_EQ(s.InputInfo(0).shape, (Shape{2, 16, 16, 3}));
  EXPECT_TRUE(s.InputInfo(0).channels_last);
  ASSERT_TRUE(s.CopyInputFromHost(0, x_hwc.data(), x_hwc.size() * sizeof(uint16_t)).ok());
  ASSERT_TRUE(s.Run().ok());
  const Tensor& out = s.Output(0);
  ASSERT_EQ(out.dtype(), DataType::kFloat16);
  ASSERT_EQ(out.shape(), ref.shape());
  for (int64_t i = 0; i < out.num_elements(); ++i) {
    EXPECT_EQ(out.data<uint16_t>()[i], FloatToHalf(ref.data<float>()[i])) << i;
  }
  SessionOptions p;
  p.plan = s.info().plan_path;
  StatusOr<std::unique_ptr<Session>> from_plan = Session::Open(p);
  ASSERT_TRUE(from_plan.ok()) << from_plan.status().ToString();
  EXPECT_EQ((*from_plan)->InputInfo(0).dtype, DataType::kFloat16);
  ASSERT_TRUE((*from_plan)->CopyInputFromHost(0, x_hwc.data(), x_hwc.size() * sizeof(uint16_t)).ok());
  ASSERT_TRUE((*from_plan)->Run().ok());
  EXPECT_EQ(std::memcmp((*from_plan)->Output(0).raw(), out.raw(), out.bytes()), 0);
}

// SetOutputToHost(0, false): Run() makes no device-to-host copy, OutputBuffer(0) is device memory
// holding the output (copied back here and compared with a run that copies), and turning the copy
// back on restores it.
TEST(SessionGpu, OutputStaysOnTheDeviceWhenItsHostCopyIsOff) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  TempDir dir;
  SessionOptions o;
  o.model = WriteConvModel(dir);
  o.use_cache = false;
  o.shapes["x"] = {2, 3, 16, 16};
  o.device = "cuda";
  StatusOr<std::unique_ptr<Session>> gpu = Session::Open(o);
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  Session& s = **gpu;
  std::vector<float> x(2 * 3 * 16 * 16);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (float& v : x) v = dist(rng);
  RunHost(s, x);
  EXPECT_EQ(s.d2h_copies(), 1);
  const Tensor& host = s.Output(0);
  const std::vector<float> want(host.data<float>(), host.data<float>() + host.num_elements());

  cudaPointerAttributes attr{};
  ASSERT_EQ(cudaPointerGetAttributes(&attr, s.OutputBuffer(0)), cudaSuccess);
  EXPECT_EQ(attr.type, cudaMemoryTypeDevice);
  ASSERT_TRUE(s.SetOutputToHost(0, false).ok());
  // Zero the device output so that only this run can fill it. On the session's stream: a cudaMemset
  // on the legacy stream is asynchronous and the session's cudaStreamNonBlocking stream does not
  // wait for it, so it could land after Run() wrote the output.
  ASSERT_EQ(cudaMemsetAsync(s.OutputBuffer(0), 0, want.size() * sizeof(float), static_cast<cudaStream_t>(s.stream())),
            cudaSuccess);
  for (float& v : x) v = -v;
  ASSERT_TRUE(s.CopyInputFromHost(0, x.data(), x.size() * sizeof(float)).ok());
  ASSERT_TRUE(s.Run().ok());
  EXPECT_EQ(s.d2h_copies(), 1);  // no copy this time
  std::vector<float> device(want.size());
  ASSERT_EQ(cudaMemcpy(device.data(), s.OutputBuffer(0), device.size() * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  // The host tensor still holds the first run's values.
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(s.Output(0).data<float>()[i], want[i]) << i;

  ASSERT_TRUE(s.SetOutputToHost(0, true).ok());
  ASSERT_TRUE(s.Run().ok());
  EXPECT_EQ(s.d2h_copies(), 2);
  bool differs = false;
  for (size_t i = 0; i < device.size(); ++i) {
    EXPECT_EQ(s.Output(0).data<float>()[i], device[i]) << i;
    differs = differs || device[i] != want[i];
  }
  EXPECT_TRUE(differs);  // the negated input gave other outputs
}

}  // namespace
}  // namespace edgert
