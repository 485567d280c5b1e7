// The CPU backend's runtime API: Engine (I/O metadata, sizes, plans) and ExecutionContext (bind by
// name, caller arenas, several contexts on several threads sharing the engine's weights).
#include "edgert/engine.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "edgert/builder.h"
#include "edgert/cpu_engine.h"
#include "edgert/plan.h"
#include "edgert/version.h"
#include "onnx_test_util.h"

// Counts operator new calls on the current thread, so a test can check that a code path allocates
// nothing (malloc is not counted; the runtime's own code calls it only for arenas and tensors).
namespace {
thread_local long g_news_on_thread = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++g_news_on_thread;
  void* p = std::malloc(size ? size : 1);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
// Not inlined: where gcc inlines these into a call site it sees free() of memory from operator new
// and warns (-Wmismatched-new-delete), though this new allocates with malloc.
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT

// y = Conv(Relu(Conv(x, w1, b1)), w2): x float [1, 3, 8, 8], w1 [4, 3, 3, 3], w2 [2, 4, 1, 1],
// y [1, 2, 6, 6]; a second output "h" (the Relu) so the engine has two outputs.
NetworkDef SmallConvNetwork(const TempDir& dir) {
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {1, 3, 8, 8});
  AddFloatInitializer(m, "w1", {4, 3, 3, 3}, RandomFloats(4 * 3 * 3 * 3, 1));
  AddFloatInitializer(m, "b1", {4}, RandomFloats(4, 2));
  AddFloatInitializer(m, "w2", {2, 4, 1, 1}, RandomFloats(2 * 4, 3));
  AddNode(m, "Conv", {"x", "w1", "b1"}, {"c1"}, "conv1");
  AddNode(m, "Relu", {"c1"}, {"h"}, "relu1");
  AddNode(m, "Conv", {"h", "w2"}, {"y"}, "conv2");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {1, 2, 6, 6});
  AddOutput(m, "h", onnx::TensorProto::FLOAT, {1, 4, 6, 6});
  const std::string path = SaveModel(m, dir.File("conv.onnx"));
  StatusOr<NetworkDef> net = BuildNetwork(path, BuildOptions{});
  EXPECT_TRUE(net.ok()) << net.status().ToString();
  return net.ok() ? *net : NetworkDef{};
}

constexpr size_t kXElems = 1 * 3 * 8 * 8;
constexpr size_t kYElems = 1 * 2 * 6 * 6;
constexpr size_t kHElems = 1 * 4 * 6 * 6;

// Reference outputs from the CpuEngine.
std::vector<Tensor> ReferenceRun(const NetworkDef& net, const std::vector<float>& x) {
  StatusOr<std::unique_ptr<CpuEngine>> engine = CpuEngine::Create(net);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  if (!engine.ok()) return {};
  std::vector<Tensor> outputs;
  Status s = (*engine)->Run({Tensor::FromVector<float>(x, {1, 3, 8, 8})}, &outputs);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return outputs;
}

bool SameBytes(const std::vector<float>& a, const Tensor& b) {
  return b.bytes() == a.size() * sizeof(float) && std::memcmp(a.data(), b.raw(), b.bytes()) == 0;
}

TEST(EngineApi, IOTensorMetadata) {
  TempDir dir;
  StatusOr<std::shared_ptr<Engine>> engine = Engine::Create(SmallConvNetwork(dir));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const Engine& e = **engine;
  ASSERT_EQ(e.NumIOTensors(), 3);
  EXPECT_EQ(e.IOTensor(0).name, "x");
  EXPECT_TRUE(e.IOTensor(0).is_input);
  EXPECT_EQ(e.IOTensor(0).dtype, DataType::kFloat32);
  EXPECT_EQ(e.IOTensor(0).shape, (Shape{1, 3, 8, 8}));
  EXPECT_EQ(e.IOTensor(1).name, "y");
  EXPECT_FALSE(e.IOTensor(1).is_input);
  EXPECT_EQ(e.IOTensor(1).shape, (Shape{1, 2, 6, 6}));
  EXPECT_EQ(e.IOTensor(2).name, "h");
  EXPECT_EQ(e.IOTensor(2).shape, (Shape{1, 4, 6, 6}));
  EXPECT_EQ(e.FindIOTensor("y"), 1);
  EXPECT_EQ(e.FindIOTensor("h"), 2);
  EXPECT_EQ(e.FindIOTensor("w1"), -1);
  EXPECT_EQ(e.FindIOTensor("nope"), -1);
  // Weights: w1, b1 and w2 in float32 (the builder may fold or fuse but not drop any of them).
  EXPECT_EQ(e.WeightsBytes(), (4 * 3 * 3 * 3 + 4 + 2 * 4) * sizeof(float));
  // x and conv1's output (h, or the tensor Relu overwrites in place) are live at once.
  EXPECT_GE(e.ArenaBytes(), (kXElems + kHElems) * sizeof(float));
  EXPECT_EQ(e.ArenaBytes() % e.ArenaAlignment(), 0u);
  EXPECT_EQ(e.ArenaBytes(),
            (e.memory_plan().figures.arena_bytes + e.ArenaAlignment() - 1) / e.ArenaAlignment() * e.ArenaAlignment());
}

TEST(EngineContext, BindByNameMatchesCpuEngine) {
  TempDir dir;
  NetworkDef net = SmallConvNetwork(dir);
  const std::vector<float> x = RandomFloats(kXElems, 7);
  std::vector<Tensor> ref = ReferenceRun(net, x);
  ASSERT_EQ(ref.size(), 2u);

  StatusOr<std::shared_ptr<Engine>> engine = Engine::Create(net);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  StatusOr<std::unique_ptr<ExecutionContext>> ctx = (*engine)->CreateContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  std::vector<float> in = x, y(kYElems, -7.f), h(kHElems, -7.f);
  ASSERT_TRUE((*ctx)->SetTensorAddress("x", in.data()).ok());
  ASSERT_TRUE((*ctx)->SetTensorAddress("y", y.data()).ok());
  ASSERT_TRUE((*ctx)->SetTensorAddress("h", h.data()).ok());
  for (int run = 0; run < 2; ++run) {
    std::fill(y.begin(), y.end(), -7.f);
    Status s = (*ctx)->Enqueue();
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(SameBytes(y, ref[0]));
    EXPECT_TRUE(SameBytes(h, ref[1]));
  }
  EXPECT_EQ(in, x);  // inputs are only read
}

TEST(EngineContext, EnqueueMakesNoAllocation) {
  TempDir dir;
  StatusOr<std::shared_ptr<Engine>> engine = Engine::Create(SmallConvNetwork(dir));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const long before_create = g_news_on_thread;
  StatusOr<std::unique_ptr<ExecutionContext>> ctx = (*engine)->CreateContext();
  ASSERT_TRUE(ctx.ok());
  EXPECT_GT(g_news_on_thread, before_create);  // the counter sees the context's kernels being made
  std::vector<float> x = RandomFloats(kXElems, 13), y(kYElems), h(kHElems);
  ASSERT_TRUE((*ctx)->SetTensorAddress("x", x.data()).ok());
  ASSERT_TRUE((*ctx)->SetTensorAddress("y", y.data()).ok());
  ASSERT_TRUE((*ctx)->SetTensorAddress("h", h.data()).ok());
  const long before = g_news_on_thread;
  bool ok = true;
  for (int r = 0; r < 3; ++r) ok = (*ctx)->Enqueue().ok() && ok;
  const long news = g_news_on_thread - before;
  EXPECT_TRUE(ok);
  EXPECT_EQ(news, 0);
}

TEST(EngineContext, UnknownNullAndUnboundTensorsAreErrors) {
  TempDir dir;
  StatusOr<std::shared_ptr<Engine>> engine = Engine::Create(SmallConvNetwork(dir));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  StatusOr<std::unique_ptr<ExecutionContext>> ctx = (*engine)->CreateContext();
  ASSERT_TRUE(ctx.ok());
  std::vector<float> x(kXElems, 0.5f), y(kYElems);
  Status s = (*ctx)->SetTensorAddress("w1", x.data());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.ToString().find("'w1'"), std::string::npos) << s.ToString();
  s = (*ctx)->SetTensorAddress("x", nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("'x'"), std::string::npos) << s.ToString();

  s = (*ctx)->Enqueue();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("input 'x'"), std::string::npos) << s.ToString();
  ASSERT_TRUE((*ctx)->SetTensorAddress("x", x.data()).ok());
  ASSERT_TRUE((*ctx)->SetTensorAddress("y", y.data()).ok());
  s = (*ctx)->Enqueue();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("output 'h'"), std::string::npos) << s.ToString();
}

TEST(EngineContext, CallerArena) {
  TempDir dir;
  NetworkDef net = SmallConvNetwork(dir);
  const std::vector<float> x = RandomFloats(kXElems, 9);
  std::vector<Tensor> ref = ReferenceRun(net, x);
  ASSERT_EQ(ref.size(), 2u);
  StatusOr<std::shared_ptr<Engine>> engine = Engine::Create(net);
  ASSERT_TRUE(engine.ok());
  const size_t bytes = (*engine)->ArenaBytes(), align = (*engine)->ArenaAlignment();
  // One block with room for a misaligned start.
  std::unique_ptr<void, void (*)(void*)> block(std::aligned_alloc(align, bytes + align), std::free);
  ASSERT_NE(block.get(), nullptr);
  char* base = static_cast<char*>(block.get());

  StatusOr<std::unique_ptr<ExecutionContext>> small = (*engine)->CreateContext(base, bytes - 1);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(small.status().ToString().find(std::to_string(bytes)), std::string::npos) << small.status().ToString();
  StatusOr<std::unique_ptr<ExecutionContext>> misaligned = (*engine)->CreateContext(base + 8, bytes);
  ASSERT_FALSE(misaligned.ok());
  EXPECT_NE(misaligned.status().ToString().find("aligned"), std::string::npos) << misaligned.status().ToString();

  StatusOr<std::unique_ptr<ExecutionContext>> ctx = (*engine)->CreateContext(base, bytes);
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  EXPECT_EQ((*ctx)->arena(), base);
  std::vector<float> in = x, y(kYElems), h(kHElems);
  ASSERT_TRUE((*ctx)->SetTensorAddress("x", in.data()).ok());
  ASSERT_TRUE((*ctx)->SetTensorAddress("y", y.data()).ok());
  ASSERT_TRUE((*ctx)->SetTensorAddress("h", h.data()).ok());
  std::memset(base, 0xFF, bytes);
  ASSERT_TRUE((*ctx)->Enqueue().ok());
  EXPECT_TRUE(SameBytes(y, ref[0]));
  EXPECT_TRUE(SameBytes(h, ref[1]));
  // The activations really live in the caller's block: the input was copied into it.
  const Tensor& x_view = (*ctx)->tensor((*engine)->IOTensorIndex(0));
  EXPECT_GE(static_cast<const char*>(x_view.raw()), base);
  EXPECT_LT(static_cast<const char*>(x_view.raw()), base + bytes);
}

TEST(EngineContext, EightThreadsMatchSingleThreadedRuns) {
  TempDir dir;
  NetworkDef net = SmallConvNetwork(dir);
  StatusOr<std::shared_ptr<Engine>> engine = Engine::Create(net);
  ASSERT_TRUE(engine.ok());
  constexpr int kThreads = 8;
  constexpr int kRuns = 20;
  std::vector<std::vector<float>> inputs, expected_y;
  for (int t = 0; t < kThreads; ++t) {
    inputs.push_back(RandomFloats(kXElems, 100 + static_cast<uint32_t>(t)));
    std::vector<Tensor> ref = ReferenceRun(net, inputs.back());
    ASSERT_EQ(ref.size(), 2u);
    expected_y.emplace_back(ref[0].data<float>(), ref[0].data<float>() + kYElems);
  }
  std::vector<std::unique_ptr<ExecutionContext>> contexts;
  for (int t = 0; t < kThreads; ++t) {
    StatusOr<std::unique_ptr<ExecutionContext>> ctx = (*engine)->CreateContext();
    ASSERT_TRUE(ctx.ok());
    contexts.push_back(std::move(*ctx));
  }
  // Every context reads the engine's weights in place.
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    const TensorDef& def = (*engine)->network().tensors[i];
    if (!def.is_constant()) continue;
    for (const auto& ctx : contexts) EXPECT_EQ(ctx->tensor(static_cast<int32_t>(i)).raw(), def.value.raw()) << def.name;
  }
  EXPECT_NE(contexts[0]->arena(), contexts[1]->arena());

  std::vector<int> mismatches(kThreads, 0), failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> y(kYElems), h(kHElems);
      ExecutionContext& ctx = *contexts[static_cast<size_t>(t)];
      if (!ctx.SetTensorAddress("x", inputs[static_cast<size_t>(t)].data()).ok() ||
          !ctx.SetTensorAddress("y", y.data()).ok() || !ctx.SetTensorAddress("h", h.data()).ok()) {
        ++failures[static_cast<size_t>(t)];
        return;
      }
      for (int r = 0; r < kRuns; ++r) {
        std::fill(y.begin(), y.end(), 0.f);
        if (!ctx.Enqueue().ok()) ++failures[static_cast<size_t>(t)];
        if (std::memcmp(y.data(), expected_y[static_cast<size_t>(t)].data(), kYElems * sizeof(float)) != 0)
          ++mismatches[static_cast<size_t>(t)];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[static_cast<size_t>(t)], 0) << "thread " << t;
    EXPECT_EQ(mismatches[static_cast<size_t>(t)], 0) << "thread " << t;
  }
  // The threads' inputs differ, so their outputs do too.
  EXPECT_NE(expected_y[0], expected_y[1]);
}

TEST(EngineContext, ContextKeepsEngineAlive) {
  TempDir dir;
  NetworkDef net = SmallConvNetwork(dir);
  const std::vector<float> x = RandomFloats(kXElems, 5);
  std::vector<Tensor> ref = ReferenceRun(net, x);
  ASSERT_EQ(ref.size(), 2u);
  std::unique_ptr<ExecutionContext> ctx;
  {
    StatusOr<std::shared_ptr<Engine>> engine = Engine::Create(net);
    ASSERT_TRUE(engine.ok());
    StatusOr<std::unique_ptr<ExecutionContext>> c = (*engine)->CreateContext();
    ASSERT_TRUE(c.ok());
    ctx = std::move(*c);
  }
  std::vector<float> in = x, y(kYElems), h(kHElems);
  ASSERT_TRUE(ctx->SetTensorAddress("x", in.data()).ok());
  ASSERT_TRUE(ctx->SetTensorAddress("y", y.data()).ok());
  ASSERT_TRUE(ctx->SetTensorAddress("h", h.data()).ok());
  ASSERT_TRUE(ctx->Enqueue().ok());
  EXPECT_TRUE(SameBytes(y, ref[0]));
}

TEST(EnginePlan, CreateFromPlanRunsLikeTheNetwork) {
  TempDir dir;
  NetworkDef net = SmallConvNetwork(dir);
  const std::vector<float> x = RandomFloats(kXElems, 11);
  std::vector<Tensor> ref = ReferenceRun(net, x);
  ASSERT_EQ(ref.size(), 2u);
  PlanMetadata meta;
  meta.edgert_version = EDGERT_VERSION_STRING;
  meta.device = CpuDeviceKey();
  meta.build_options_hash = "00";
  meta.model_hash = "11";
  StatusOr<std::vector<uint8_t>> bytes = SerializePlan(net, meta);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  const std::string path = dir.File("conv.plan");
  ASSERT_TRUE(WritePlanFile(path, *bytes).ok());

  StatusOr<std::shared_ptr<Engine>> engine = Engine::CreateFromPlan(path);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->NumIOTensors(), 3);
  EXPECT_EQ((*engine)->WeightsBytes(), (4 * 3 * 3 * 3 + 4 + 2 * 4) * sizeof(float));
  StatusOr<std::unique_ptr<ExecutionContext>> ctx = (*engine)->CreateContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  std::vector<float> in = x, y(kYElems), h(kHElems);
  ASSERT_TRUE((*ctx)->SetTensorAddress("x", in.data()).ok());
  ASSERT_TRUE((*ctx)->SetTensorAddress("y", y.data()).ok());
  ASSERT_TRUE((*ctx)->SetTensorAddress("h", h.data()).ok());
  ASSERT_TRUE((*ctx)->Enqueue().ok());
  EXPECT_TRUE(SameBytes(y, ref[0]));
  EXPECT_TRUE(SameBytes(h, ref[1]));

  StatusOr<std::shared_ptr<Engine>> missing = Engine::CreateFromPlan(dir.File("missing.plan"));
  EXPECT_FALSE(missing.ok());
}

}  // namespace
}  // namespace edgert
