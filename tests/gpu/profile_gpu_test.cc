// Batch profiles on the CUDA engine: a context runs every batch of the profile with results equal to
// the CPU engine's at that batch (FP32 and FP16), switching batches on one context with CUDA graphs
// gives what fresh contexts give and captures each batch once, steady state allocates no device
// memory, batches and input shapes outside the profile are refused, and the tactics are chosen at
// the profile's opt batch and stored in the network (and a plan).
#include <cuda_runtime.h>

#include <cstring>
#include <map>

#include "../unit/onnx_test_util.h"
#include "edgert/engine.h"
#include "edgert/fused_activation.h"
#include "edgert/version.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

constexpr int64_t kMin = 1;
constexpr int64_t kOpt = 4;
constexpr int64_t kMax = 8;
constexpr int64_t kClasses = 10;
constexpr size_t kConvLayer = 0;
constexpr size_t kGemmLayer = 2;

// x[B,3,8,8] -> Conv 3x3 (8, bias, fused Relu) -> Reshape by the constant [B, 512] (element 0 a batch
// value) -> Gemm (512 -> 10, bias) -> Softmax = "y" [B,10]. Shapes at B = max; profile 1/4/max.
NetworkDef ProfileNetwork(int64_t max = kMax) {
  NetworkDef net;
  auto tensor = [&](const std::string& name, DataType dtype, Shape shape, Tensor value = {}) {
    TensorDef def;
    def.name = name;
    def.dtype = dtype;
    def.shape = std::move(shape);
    def.value = std::move(value);
    net.tensors.push_back(std::move(def));
    return static_cast<int32_t>(net.tensors.size() - 1);
  };
  auto layer = [&](const std::string& name, OpType op, std::vector<int32_t> in, std::vector<int32_t> out,
                   Attributes attrs) {
    LayerDef l;
    l.name = name;
    l.op = op;
    l.opset = 17;
    l.attrs = std::move(attrs);
    l.inputs = std::move(in);
    l.outputs = std::move(out);
    net.layers.push_back(std::move(l));
  };
  const DataType f32 = DataType::kFloat32;
  const int32_t x = tensor("x", f32, {max, 3, 8, 8});
  const int32_t w = tensor("w", f32, {8, 3, 3, 3}, RandomTensor(f32, {8, 3, 3, 3}, 11, -0.3, 0.3));
  const int32_t b = tensor("b", f32, {8}, RandomTensor(f32, {8}, 12));
  const int32_t c = tensor("c", f32, {max, 8, 8, 8});
  const int32_t shape = tensor("shape", DataType::kInt64, {2}, Tensor::FromVector<int64_t>({max, 512}, {2}));
  const int32_t v = tensor("v", f32, {max, 512});
  const int32_t fw = tensor("fw", f32, {512, kClasses}, RandomTensor(f32, {512, kClasses}, 13, -0.1, 0.1));
  const int32_t fb = tensor("fb", f32, {kClasses}, RandomTensor(f32, {kClasses}, 14));
  const int32_t g = tensor("g", f32, {max, kClasses});
  const int32_t y = tensor("y", f32, {max, kClasses});
  net.inputs = {x};
  Attributes conv;
  conv.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  conv.Set(kActivationAttr, std::string("Relu"));
  layer("conv", OpType::kConv, {x, w, b}, {c}, conv);
  layer("reshape", OpType::kReshape, {c, shape}, {v}, {});
  layer("fc", OpType::kGemm, {v, fw, fb}, {g}, {});
  Attributes softmax;
  softmax.Set("axis", int64_t{-1});
  layer("softmax", OpType::kSoftmax, {g}, {y}, softmax);
  net.outputs = {y};
  net.profile.min = kMin;
  net.profile.opt = kOpt;
  net.profile.max = max;
  net.profile.batch_tensors = {x, c, v, g, y};
  net.profile.batch_values = {BatchValue{shape, 0}};
  return net;
}

// The input at `batch` (<= 16): the first `batch` samples of one fixed input, so every batch's
// output rows are rows of the max batch's.
Tensor InputAtBatch(int64_t batch) {
  const Tensor full = RandomTensor(DataType::kFloat32, {16, 3, 8, 8}, 21);
  Tensor t = *Tensor::Create(DataType::kFloat32, {batch, 3, 8, 8});
  std::memcpy(t.raw(), full.raw(), t.bytes());
  return t;
}

// The CPU engine's output "y" at `batch` (its context switched with SetBatchSize).
Tensor CpuOutput(const NetworkDef& net, int64_t batch) {
  auto engine = Engine::Create(net);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  if (!engine.ok()) return {};
  auto context = (*engine)->CreateContext();
  EXPECT_TRUE(context.ok()) << context.status().ToString();
  Status s = (*context)->SetBatchSize(batch);
  EXPECT_TRUE(s.ok()) << s.ToString();
  Tensor in = InputAtBatch(batch);
  Tensor out = *Tensor::Create(DataType::kFloat32, (*context)->TensorShape(1));
  EXPECT_EQ(out.shape(), (Shape{batch, kClasses}));
  EXPECT_TRUE((*context)->SetTensorAddress("x", in.raw()).ok());
  EXPECT_TRUE((*context)->SetTensorAddress("y", out.raw()).ok());
  s = (*context)->Enqueue();
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// Device buffers of the max batch's size for x and y; x holds InputAtBatch(kMax).
struct MaxBuffers {
  void* x = nullptr;
  void* y = nullptr;
  size_t x_bytes = static_cast<size_t>(kMax) * 3 * 8 * 8 * sizeof(float);
  size_t y_bytes = static_cast<size_t>(kMax) * kClasses * sizeof(float);
  MaxBuffers() {
    EXPECT_EQ(cudaMalloc(&x, x_bytes), cudaSuccess);
    EXPECT_EQ(cudaMalloc(&y, y_bytes), cudaSuccess);
    const Tensor in = InputAtBatch(kMax);
    EXPECT_EQ(cudaMemcpy(x, in.raw(), x_bytes, cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~MaxBuffers() {
    cudaFree(x);
    cudaFree(y);
  }
  // Fills y with 0xFF bytes (NaN), so rows a run leaves alone stay NaN.
  void PoisonOutput() { EXPECT_EQ(cudaMemset(y, 0xFF, y_bytes), cudaSuccess); }
  // All kMax rows of y.
  Tensor Output() const {
    Tensor t = *Tensor::Create(DataType::kFloat32, {kMax, kClasses});
    EXPECT_EQ(cudaMemcpy(t.raw(), y, y_bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    return t;
  }
};

// The first `batch` rows of `all` ([kMax, kClasses]).
Tensor Rows(const Tensor& all, int64_t batch) {
  Tensor t = *Tensor::Create(DataType::kFloat32, {batch, kClasses});
  std::memcpy(t.raw(), all.raw(), t.bytes());
  return t;
}

// True when rows [batch, kMax) of `all` are still the 0xFF poison.
bool RowsAfterUntouched(const Tensor& all, int64_t batch) {
  const uint8_t* bytes = static_cast<const uint8_t*>(all.raw());
  for (size_t i = static_cast<size_t>(batch * kClasses) * sizeof(float); i < all.bytes(); ++i) {
    if (bytes[i] != 0xFF) return false;
  }
  return true;
}

TEST(ProfileCuda, NetworkProfileIsValid) {
  const NetworkDef net = ProfileNetwork();
  Status s = ValidateBatchProfile(net);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto at3 = SpecializeBatch(net, 3);
  ASSERT_TRUE(at3.ok()) << at3.status().ToString();
  EXPECT_EQ(at3->tensors[0].shape, (Shape{3, 3, 8, 8}));
  EXPECT_EQ(at3->tensors[4].value.data<int64_t>()[0], 3);
}

// The premise of the row comparisons below: each sample's output depends on that sample only, so
// the CPU's output at a batch is the first rows of its output at the max batch.
TEST(ProfileCuda, CpuReferenceRowsFollowTheBatch) {
  const NetworkDef net = ProfileNetwork();
  const Tensor all = CpuOutput(net, kMax);
  ASSERT_EQ(all.shape(), (Shape{kMax, kClasses}));
  for (int64_t batch : {int64_t{1}, int64_t{3}}) {
    const Tensor rows = CpuOutput(net, batch);
    ASSERT_EQ(rows.shape(), (Shape{batch, kClasses}));
    EXPECT_EQ(std::memcmp(rows.raw(), all.raw(), rows.bytes()), 0) << "batch " << batch;
  }
  double row_sum = 0;
  for (int64_t k = 0; k < kClasses; ++k) row_sum += all.data<float>()[k];
  EXPECT_NEAR(row_sum, 1.0, 1e-5) << "softmax rows sum to 1";
  EXPECT_NE(std::memcmp(all.raw(), all.data<float>() + kClasses, kClasses * sizeof(float)), 0) << "samples differ";
}

TEST(ProfileCuda, EveryBatchMatchesCpuInFp32AndFp16) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const NetworkDef net = ProfileNetwork();
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    CudaEngineOptions options;
    options.precision = p;
    auto engine = CudaEngine::Create(net, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_TRUE((*engine)->profile().enabled());
    EXPECT_EQ((*engine)->profile().opt, kOpt);
    ASSERT_EQ((*engine)->NumIOTensors(), 2);
    EXPECT_TRUE((*engine)->IOTensor(0).batched);
    EXPECT_TRUE((*engine)->IOTensor(1).batched);
    EXPECT_EQ((*engine)->IOTensor(1).shape, (Shape{kMax, kClasses}));
    auto context = (*engine)->CreateContext();
    ASSERT_TRUE(context.ok()) << context.status().ToString();
    EXPECT_EQ((*context)->batch_size(), kMax);
    (*context)->SetPoisonArena(true);
    for (int64_t batch : {int64_t{1}, int64_t{3}, int64_t{4}, int64_t{8}}) {
      SCOPED_TRACE("batch " + std::to_string(batch));
      Status s = (*context)->SetBatchSize(batch);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ((*context)->batch_size(), batch);
      EXPECT_EQ((*context)->TensorShape(0), (Shape{batch, 3, 8, 8}));
      EXPECT_EQ((*context)->TensorShape(1), (Shape{batch, kClasses}));
      std::vector<Tensor> got;
      s = RunOnHost(**context, {InputAtBatch(batch)}, &got);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_EQ(got.size(), 1u);
      const Tensor want = CpuOutput(net, batch);
      ExpectTensorsClose(got[0], want, DefaultTolerance(p), "y");
    }
    // RunOnHost takes the batch from its inputs; a batch outside the profile is refused.
    std::vector<Tensor> got;
    Status s = RunOnHost(**context, {InputAtBatch(3)}, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ((*context)->batch_size(), 3);
    ASSERT_EQ(got.size(), 1u);
    ExpectTensorsClose(got[0], CpuOutput(net, 3), DefaultTolerance(p), "y");
    s = RunOnHost(**context, {*Tensor::Create(DataType::kFloat32, {9, 3, 8, 8})}, &got);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("[1, 8]"), std::string::npos) << s.message();
  }
}

TEST(ProfileCuda, SwitchingBatchesWithGraphsEqualsFreshContexts) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto engine = CudaEngine::Create(ProfileNetwork());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  MaxBuffers io;

  // References: a fresh context per batch, no graphs.
  std::map<int64_t, Tensor> want;
  for (int64_t batch : {int64_t{1}, int64_t{3}, int64_t{8}}) {
    auto fresh = (*engine)->CreateContext();
    ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
    (*fresh)->SetCudaGraphs(false);
    (*fresh)->SetPoisonArena(true);
    ASSERT_TRUE((*fresh)->SetBatchSize(batch).ok());
    ASSERT_TRUE((*fresh)->SetTensorAddress("x", io.x).ok());
    ASSERT_TRUE((*fresh)->SetTensorAddress("y", io.y).ok());
    io.PoisonOutput();
    Status s = (*fresh)->Enqueue(stream);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    const Tensor all = io.Output();
    EXPECT_TRUE(RowsAfterUntouched(all, batch)) << "batch " << batch << " wrote past its rows";
    want[batch] = Rows(all, batch);
    // The batch's rows are the CPU's.
    ExpectTensorsClose(want[batch], CpuOutput(ProfileNetwork(), batch), 1e-3, "fresh batch " + std::to_string(batch));
  }

  // One graphed context: 8 -> 1 -> 8 -> 3, three Enqueues per step. A batch new to the context is
  // warmed up eagerly, then captured once, then replayed; going back to 8 replays its graph.
  auto context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  ASSERT_TRUE((*context)->cuda_graphs());
  (*context)->SetPoisonArena(true);
  ASSERT_TRUE((*context)->SetTensorAddress("x", io.x).ok());
  ASSERT_TRUE((*context)->SetTensorAddress("y", io.y).ok());
  struct Step {
    int64_t batch;
    int64_t captures;  // totals after the step
    int64_t launches;
  };
  for (const Step& step : {Step{8, 1, 2}, Step{1, 2, 4}, Step{8, 2, 7}, Step{3, 3, 9}}) {
    SCOPED_TRACE("batch " + std::to_string(step.batch));
    Status s = (*context)->SetBatchSize(step.batch);
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (int k = 0; k < 3; ++k) {
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      io.PoisonOutput();
      s = (*context)->Enqueue(stream);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      const Tensor all = io.Output();
      EXPECT_TRUE(RowsAfterUntouched(all, step.batch)) << "enqueue " << k << " wrote past the batch's rows";
      ExpectTensorsClose(Rows(all, step.batch), want[step.batch], 1e-5, "enqueue " + std::to_string(k));
    }
    EXPECT_EQ((*context)->graph_error(), "");
    EXPECT_EQ((*context)->graph_captures(), step.captures);
    EXPECT_EQ((*context)->graph_launches(), step.launches);
  }

  // Steady state after the switches: switching between cached batches and 100 graph launches
  // allocate no device memory.
  size_t free_before = 0, free_after = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_before, &total), cudaSuccess);
  const size_t owned = (*context)->OwnedDeviceBytes();
  for (int64_t batch : {int64_t{1}, int64_t{8}, int64_t{3}}) ASSERT_TRUE((*context)->SetBatchSize(batch).ok());
  for (int k = 0; k < 100; ++k) ASSERT_TRUE((*context)->Enqueue(stream).ok());
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  ASSERT_EQ(cudaMemGetInfo(&free_after, &total), cudaSuccess);
  EXPECT_EQ(free_before, free_after) << "device memory changed over cached switches and 100 Enqueue calls";
  EXPECT_EQ((*context)->OwnedDeviceBytes(), owned);
  EXPECT_EQ((*context)->graph_captures(), 3);
  EXPECT_EQ((*context)->graph_launches(), 109);
  ExpectTensorsClose(Rows(io.Output(), 3), want[3], 1e-5, "after 100 replays");
  cudaStreamDestroy(stream);
}

TEST(ProfileCuda, BatchesDroppedFromTheCacheAreRebuilt) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  constexpr int64_t kWide = CudaExecutionContext::kMaxCachedBatches + 3;
  const NetworkDef net = ProfileNetwork(kWide);
  ASSERT_TRUE(ValidateBatchProfile(net).ok());
  auto engine = CudaEngine::Create(net);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  (*context)->SetPoisonArena(true);
  // Every batch once (more than the cache holds), then the first ones again: rebuilt, still right.
  for (int64_t batch = 1; batch <= kWide; ++batch) ASSERT_TRUE((*context)->SetBatchSize(batch).ok()) << batch;
  for (int64_t batch : {int64_t{1}, int64_t{2}, kWide}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    Status s = (*context)->SetBatchSize(batch);
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (int k = 0; k < 3; ++k) {  // warm-up, capture, replay
      std::vector<Tensor> got;
      s = RunOnHost(**context, {InputAtBatch(batch)}, &got);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ExpectTensorsClose(got[0], CpuOutput(net, batch), 1e-3, "run " + std::to_string(k));
    }
  }
  EXPECT_EQ((*context)->graph_error(), "");
}

TEST(ProfileCuda, BatchesAndShapesOutsideTheProfileAreRefused) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto engine = CudaEngine::Create(ProfileNetwork());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  ASSERT_TRUE((*context)->SetBatchSize(3).ok());
  for (int64_t bad : {int64_t{0}, int64_t{9}}) {
    Status s = (*context)->SetBatchSize(bad);
    EXPECT_FALSE(s.ok()) << "batch " << bad;
    EXPECT_NE(s.message().find("[1, 8]"), std::string::npos) << s.message();
    EXPECT_EQ((*context)->batch_size(), 3) << "a refused batch changes nothing";
  }
  // A wrong non-batch dim is refused naming the input and the allowed shapes.
  Status s = (*context)->SetInputShape("x", {4, 3, 8, 9});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'x'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("1x3x8x8 to 8x3x8x8"), std::string::npos) << s.message();
  EXPECT_EQ((*context)->batch_size(), 3);
  s = (*context)->SetInputShape("x", {9, 3, 8, 8});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("[1, 8]"), std::string::npos) << s.message();
  EXPECT_EQ((*context)->SetInputShape("nope", {1, 3, 8, 8}).code(), StatusCode::kNotFound);
  EXPECT_FALSE((*context)->SetInputShape("y", {2, kClasses}).ok()) << "an output is not an input";
  // A right shape sets the batch.
  s = (*context)->SetInputShape("x", {5, 3, 8, 8});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ((*context)->batch_size(), 5);
  EXPECT_EQ((*context)->TensorShape(1), (Shape{5, kClasses}));
  std::vector<Tensor> got;
  s = RunOnHost(**context, {InputAtBatch(5)}, &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectTensorsClose(got[0], CpuOutput(ProfileNetwork(), 5), 1e-3, "batch 5");

  // A fixed-shape engine accepts only its own batch.
  auto fixed_net = SpecializeBatch(ProfileNetwork(), 2);
  ASSERT_TRUE(fixed_net.ok());
  auto fixed = CudaEngine::Create(*fixed_net);
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  EXPECT_FALSE((*fixed)->profile().enabled());
  EXPECT_FALSE((*fixed)->IOTensor(0).batched);
  auto fixed_context = (*fixed)->CreateContext();
  ASSERT_TRUE(fixed_context.ok());
  EXPECT_EQ((*fixed_context)->batch_size(), 2);
  EXPECT_TRUE((*fixed_context)->SetBatchSize(2).ok());
  s = (*fixed_context)->SetBatchSize(4);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("fixed shapes"), std::string::npos) << s.message();
  EXPECT_EQ((*fixed_context)->TensorShape(0), (Shape{2, 3, 8, 8}));
}

TEST(ProfileCuda, TacticsAreChosenAtOptAndStored) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  testing_util::TempDir dir;
  const NetworkDef net = ProfileNetwork();
  CudaEngineOptions options;
  options.timing_cache = dir.File("timing.cache");
  auto engine = CudaEngine::Create(net, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  std::map<size_t, int64_t> chosen;
  for (size_t l : {kConvLayer, kGemmLayer}) {
    SCOPED_TRACE((*engine)->network().layers[l].name);
    const LayerTactic& t = (*engine)->tactics()[l];
    EXPECT_GE(t.tactic, 0);
    EXPECT_FALSE(t.from_cache);
    EXPECT_GE(t.timed, 1);
    EXPECT_GT(t.seconds, 0.0) << "the selection's wall-clock time";
    if (l == kConvLayer) {  // a convolution lists its candidates (the chosen one timed at chosen_ms)
      ASSERT_GT(t.candidates.size(), static_cast<size_t>(t.tactic));
      EXPECT_EQ(t.candidates[static_cast<size_t>(t.tactic)].ms, t.chosen_ms);
      EXPECT_LE(t.list_seconds, t.seconds);
    }
    auto attr = (*engine)->network().layers[l].attrs.GetIntOr(kTacticAttr, -1);
    ASSERT_TRUE(attr.ok());
    EXPECT_EQ(*attr, t.tactic);
    EXPECT_TRUE((*engine)->network().layers[l].attrs.Has(kTacticLevelAttr));
    auto device_attr = (*engine)->device_network().layers[l].attrs.GetIntOr(kTacticAttr, -1);
    ASSERT_TRUE(device_attr.ok());
    EXPECT_EQ(*device_attr, t.tactic);
    chosen[l] = *attr;
  }
  // At opt the context runs exactly the stored candidates.
  auto context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok());
  ASSERT_TRUE((*context)->SetBatchSize(kOpt).ok());
  EXPECT_EQ((*context)->LayerKernel(kConvLayer).rfind("tactic " + std::to_string(chosen[kConvLayer]) + "/", 0), 0u)
      << (*context)->LayerKernel(kConvLayer);
  EXPECT_NE((*context)->LayerKernel(kGemmLayer).find("algo " + std::to_string(chosen[kGemmLayer]) + "/"),
            std::string::npos)
      << (*context)->LayerKernel(kGemmLayer);

  // The timing cache proves where the timing happened: a fixed-shape network at batch kOpt finds
  // every choice in it, one at kMax does not.
  auto at_opt = SpecializeBatch(net, kOpt);
  auto at_max = SpecializeBatch(net, kMax);
  ASSERT_TRUE(at_opt.ok() && at_max.ok());
  auto opt_engine = CudaEngine::Create(*at_opt, options);
  ASSERT_TRUE(opt_engine.ok()) << opt_engine.status().ToString();
  auto max_engine = CudaEngine::Create(*at_max, options);
  ASSERT_TRUE(max_engine.ok()) << max_engine.status().ToString();
  for (size_t l : {kConvLayer, kGemmLayer}) {
    EXPECT_TRUE((*opt_engine)->tactics()[l].from_cache) << "layer " << l << " was not timed at batch " << kOpt;
    EXPECT_EQ((*opt_engine)->tactics()[l].tactic, chosen[l]);
    EXPECT_FALSE((*max_engine)->tactics()[l].from_cache) << "layer " << l;
  }

  // A plan of the engine's network keeps the profile and the tactics; its engine runs every batch.
  auto key = CudaDeviceKey(0);
  ASSERT_TRUE(key.ok());
  PlanMetadata meta;
  meta.edgert_version = EDGERT_VERSION_STRING;
  meta.device = *key;
  meta.precision = Precision::kFp32;
  meta.model_hash = "00";
  meta.build_options_hash = "00";
  auto bytes = SerializePlan((*engine)->network(), meta);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  const std::string plan = dir.File("profile.plan");
  ASSERT_TRUE(WritePlanFile(plan, *bytes).ok());
  auto loaded = CudaEngine::CreateFromPlan(plan);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->profile().min, kMin);
  EXPECT_EQ((*loaded)->profile().opt, kOpt);
  EXPECT_EQ((*loaded)->profile().max, kMax);
  for (size_t l : {kConvLayer, kGemmLayer}) {
    EXPECT_TRUE((*loaded)->tactics()[l].from_cache);
    EXPECT_EQ((*loaded)->tactics()[l].tactic, chosen[l]);
  }
  auto loaded_context = (*loaded)->CreateContext();
  ASSERT_TRUE(loaded_context.ok());
  (*loaded_context)->SetPoisonArena(true);
  for (int64_t batch : {kMin, int64_t{6}}) {
    ASSERT_TRUE((*loaded_context)->SetBatchSize(batch).ok());
    std::vector<Tensor> got;
    Status s = RunOnHost(**loaded_context, {InputAtBatch(batch)}, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ExpectTensorsClose(got[0], CpuOutput(net, batch), 1e-3, "plan at batch " + std::to_string(batch));
  }
}

}  // namespace
}  // namespace testing
}  // namespace edgert
