// CUDA engine: results equal to the CPU reference through views, in-place layers and Concat slices,
// CUDA-graph replay equal to plain enqueue, several contexts on several threads, caller-supplied
// arenas, no allocation in steady state, and plans checked against the device key.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <thread>

#include "backend/cuda/kernels_gemm.h"
#include "edgert/fused_activation.h"
#include "edgert/version.h"
#include "gpu_test_util.h"

namespace {
// operator new calls on this thread (the steady-state checks count their own thread only).
thread_local int64_t g_news = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++g_news;
  void* p = std::malloc(size > 0 ? size : 1);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace edgert {
namespace testing {
namespace {

int32_t AddTensor(NetworkDef* net, const std::string& name, DataType dtype, Shape shape, Tensor value = {}) {
  TensorDef def;
  def.name = name;
  def.dtype = dtype;
  def.shape = std::move(shape);
  def.value = std::move(value);
  net->tensors.push_back(std::move(def));
  return static_cast<int32_t>(net->tensors.size() - 1);
}

void AddLayer(NetworkDef* net, const std::string& name, OpType op, std::vector<int32_t> in, std::vector<int32_t> out,
              Attributes attrs = {}) {
  LayerDef layer;
  layer.name = name;
  layer.op = op;
  layer.opset = 17;
  layer.attrs = std::move(attrs);
  layer.inputs = std::move(in);
  layer.outputs = std::move(out);
  net->layers.push_back(std::move(layer));
}

// x[2,8,16,16] → Add(c[8,1,1]) → Relu (in place) → Transpose(0,2,3,1) → Reshape [2,2048] (a view)
//   → Mul(self) = "prod";  x → Sigmoid → ReduceMean(axes 2,3) = "mean" [2,8];
//   Concat(Relu out, Sigmoid out) on axis 1 (producers write into their slices) → Tanh = "cat".
NetworkDef SmallNetwork() {
  NetworkDef net;
  const int32_t x = AddTensor(&net, "x", DataType::kFloat32, {2, 8, 16, 16});
  const int32_t c = AddTensor(&net, "c", DataType::kFloat32, {8, 1, 1}, RandomTensor(DataType::kFloat32, {8, 1, 1}, 7));
  const int32_t a = AddTensor(&net, "a", DataType::kFloat32, {2, 8, 16, 16});
  const int32_t r = AddTensor(&net, "r", DataType::kFloat32, {2, 8, 16, 16});
  const int32_t t = AddTensor(&net, "t", DataType::kFloat32, {2, 16, 16, 8});
  const int32_t shape = AddTensor(&net, "shape", DataType::kInt64, {2}, Tensor::FromVector<int64_t>({2, 2048}, {2}));
  const int32_t v = AddTensor(&net, "v", DataType::kFloat32, {2, 2048});
  const int32_t prod = AddTensor(&net, "prod", DataType::kFloat32, {2, 2048});
  const int32_t s = AddTensor(&net, "s", DataType::kFloat32, {2, 8, 16, 16});
  const int32_t mean = AddTensor(&net, "mean", DataType::kFloat32, {2, 8});
  const int32_t cat = AddTensor(&net, "catin", DataType::kFloat32, {2, 16, 16, 16});
  const int32_t out = AddTensor(&net, "cat", DataType::kFloat32, {2, 16, 16, 16});
  net.inputs = {x};
  AddLayer(&net, "add", OpType::kAdd, {x, c}, {a});
  AddLayer(&net, "relu", OpType::kRelu, {a}, {r});
  Attributes perm;
  perm.Set("perm", std::vector<int64_t>{0, 2, 3, 1});
  AddLayer(&net, "transpose", OpType::kTranspose, {r}, {t}, perm);
  AddLayer(&net, "reshape", OpType::kReshape, {t, shape}, {v});
  AddLayer(&net, "mul", OpType::kMul, {v, v}, {prod});
  AddLayer(&net, "sigmoid", OpType::kSigmoid, {x}, {s});
  Attributes axes;
  axes.Set("axes", std::vector<int64_t>{2, 3});
  axes.Set("keepdims", int64_t{0});
  AddLayer(&net, "mean", OpType::kReduceMean, {s}, {mean}, axes);
  Attributes axis;
  axis.Set("axis", int64_t{1});
  AddLayer(&net, "concat", OpType::kConcat, {r, s}, {cat}, axis);
  AddLayer(&net, "tanh", OpType::kTanh, {cat}, {out});
  net.outputs = {prod, mean, out};
  return net;
}

std::vector<Tensor> SmallFeeds(uint32_t seed) { return {RandomTensor(DataType::kFloat32, {2, 8, 16, 16}, seed)}; }

TEST(CudaEngine, SmallNetworkMatchesCpuInFp32AndFp16) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (bool graphs : {false, true}) {
    ExpectCudaMatchesCpu(SmallNetwork(), SmallFeeds(1), Precision::kFp32, -1, graphs);
    ExpectCudaMatchesCpu(SmallNetwork(), SmallFeeds(2), Precision::kFp16, -1, graphs);
  }
}

// Device buffers for every I/O tensor of `engine`, inputs filled from `feeds`.
struct IoBuffers {
  std::vector<void*> ptrs;
  ~IoBuffers() {
    for (void* p : ptrs) cudaFree(p);
  }
};

void MakeIo(const CudaEngine& engine, const std::vector<Tensor>& feeds, IoBuffers* io) {
  size_t next = 0;
  for (int i = 0; i < engine.NumIOTensors(); ++i) {
    const IOTensorInfo& info = engine.IOTensor(i);
    const size_t bytes = static_cast<size_t>(NumElements(info.shape)) * DataTypeSize(info.dtype);
    void* p = nullptr;
    ASSERT_EQ(cudaMalloc(&p, bytes), cudaSuccess);
    io->ptrs.push_back(p);
    if (info.is_input) {
      ASSERT_EQ(cudaMemcpy(p, feeds[next++].raw(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
    }
  }
}

std::vector<std::vector<uint8_t>> ReadOutputs(const CudaEngine& engine, const IoBuffers& io) {
  std::vector<std::vector<uint8_t>> outs;
  for (int i = 0; i < engine.NumIOTensors(); ++i) {
    const IOTensorInfo& info = engine.IOTensor(i);
    if (info.is_input) continue;
    std::vector<uint8_t> bytes(static_cast<size_t>(NumElements(info.shape)) * DataTypeSize(info.dtype));
    EXPECT_EQ(cudaMemcpy(bytes.data(), io.ptrs[static_cast<size_t>(i)], bytes.size(), cudaMemcpyDeviceToHost),
              cudaSuccess);
    outs.push_back(std::move(bytes));
  }
  return outs;
}

TEST(CudaEngine, GraphReplayEqualsPlainEnqueueAndFollowsRebinding) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto engine = CudaEngine::Create(SmallNetwork());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto plain = (*engine)->CreateContext();
  auto graphed = (*engine)->CreateContext();
  ASSERT_TRUE(plain.ok() && graphed.ok());
  (*plain)->SetCudaGraphs(false);
  ASSERT_TRUE((*graphed)->cuda_graphs());
  IoBuffers io_a, io_b;
  MakeIo(**engine, SmallFeeds(3), &io_a);
  MakeIo(**engine, SmallFeeds(4), &io_b);
  for (int i = 0; i < (*engine)->NumIOTensors(); ++i) {
    ASSERT_TRUE((*plain)->SetTensorAddress(i, io_a.ptrs[static_cast<size_t>(i)]).ok());
    ASSERT_TRUE((*graphed)->SetTensorAddress(i, io_b.ptrs[static_cast<size_t>(i)]).ok());
  }
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  Status s = (*plain)->Enqueue(stream);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  const auto want_a = ReadOutputs(**engine, io_a);

  // Graphed context on the same input: warm-up, capture, replays.
  for (int i = 0; i < (*engine)->NumIOTensors(); ++i) {
    if ((*engine)->IOTensor(i).is_input) continue;
    ASSERT_EQ(cudaMemset(io_a.ptrs[static_cast<size_t>(i)], 0, 4), cudaSuccess);
  }
  for (int i = 0; i < (*engine)->NumIOTensors(); ++i) {
    ASSERT_TRUE((*graphed)->SetTensorAddress(i, io_a.ptrs[static_cast<size_t>(i)]).ok());
  }
  for (int k = 0; k < 4; ++k) {
    s = (*graphed)->Enqueue(stream);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ((*graphed)->graph_error(), "");
  EXPECT_EQ((*graphed)->graph_captures(), 1);
  EXPECT_EQ((*graphed)->graph_launches(), 3);
  EXPECT_EQ(ReadOutputs(**engine, io_a), want_a) << "graph replay differs from plain enqueue";

  // Rebinding to other buffers updates the graph; results follow the new input.
  for (int i = 0; i < (*engine)->NumIOTensors(); ++i) {
    ASSERT_TRUE((*graphed)->SetTensorAddress(i, io_b.ptrs[static_cast<size_t>(i)]).ok());
    ASSERT_TRUE((*plain)->SetTensorAddress(i, io_b.ptrs[static_cast<size_t>(i)]).ok());
  }
  ASSERT_TRUE((*graphed)->Enqueue(stream).ok());
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ((*graphed)->graph_captures(), 2);
  const auto got_b = ReadOutputs(**engine, io_b);
  ASSERT_TRUE((*plain)->Enqueue(stream).ok());
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(got_b, ReadOutputs(**engine, io_b));
  EXPECT_NE(got_b, want_a);

  // The legacy default stream cannot be captured: the context enqueues eagerly there, correctly.
  ASSERT_TRUE((*graphed)->Enqueue(nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ((*graphed)->graph_captures(), 2);
  EXPECT_EQ(ReadOutputs(**engine, io_b), got_b);
  cudaStreamDestroy(stream);
}

TEST(CudaEngine, ProfileLayersTimesEveryLayerAndComputesTheSameOutputs) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto engine = CudaEngine::Create(SmallNetwork());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok());
  IoBuffers io;
  MakeIo(**engine, SmallFeeds(5), &io);
  for (int i = 0; i < (*engine)->NumIOTensors(); ++i) {
    ASSERT_TRUE((*context)->SetTensorAddress(i, io.ptrs[static_cast<size_t>(i)]).ok());
  }
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_TRUE((*context)->Enqueue(stream).ok());
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  const auto want = ReadOutputs(**engine, io);
  StatusOr<std::vector<double>> ms = (*context)->ProfileLayers(stream, 3);
  ASSERT_TRUE(ms.ok()) << ms.status().ToString();
  ASSERT_EQ(ms->size(), (*engine)->network().layers.size());
  double total = 0;
  for (size_t l = 0; l < ms->size(); ++l) {
    EXPECT_GE((*ms)[l], 0.0) << l;
    if ((*context)->LayerKernel(l) != "elided") {
      EXPECT_GT((*ms)[l], 0.0) << (*engine)->network().layers[l].name;
    }
    total += (*ms)[l];
  }
  EXPECT_GT(total, 0.0);
  EXPECT_EQ(ReadOutputs(**engine, io), want);  // the profiled runs wrote the same outputs
  EXPECT_FALSE((*context)->ProfileLayers(stream, 0).ok());
  cudaStreamDestroy(stream);
}

TEST(CudaEngine, EightContextsOnEightThreadsAgree) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  CudaEngineOptions options;
  options.precision = Precision::kFp16;
  auto engine = CudaEngine::Create(SmallNetwork(), options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const std::vector<Tensor> feeds = SmallFeeds(5);
  std::vector<std::vector<Tensor>> results(8);
  std::vector<std::string> errors(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto context = (*engine)->CreateContext();
      if (!context.ok()) {
        errors[t] = context.status().ToString();
        return;
      }
      for (int k = 0; k < 20 && errors[t].empty(); ++k) {
        Status s = RunOnHost(**context, feeds, &results[t]);
        if (!s.ok()) errors[t] = s.ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) {
    ASSERT_EQ(errors[t], "") << "thread " << t;
    ASSERT_EQ(results[t].size(), results[0].size());
    for (size_t k = 0; k < results[0].size(); ++k) {
      ASSERT_EQ(results[t][k].bytes(), results[0][k].bytes());
      EXPECT_EQ(std::memcmp(results[t][k].raw(), results[0][k].raw(), results[0][k].bytes()), 0)
          << "thread " << t << " output " << k;
    }
  }
}

// A float32 NCHW Conv layer of `c` output channels on an hw x hw map ("same" padding, seeded
// weights and bias), with Relu fused (kActivationAttr) or as a Relu layer after it, or none;
// returns the last output.
enum class ConvRelu { kNone, kFused, kLayer };
int32_t AddTestConv(NetworkDef* net, int32_t in, int64_t in_c, int64_t c, int64_t k, int64_t hw,
                    const std::string& name, ConvRelu relu, uint32_t* seed) {
  const int32_t w = AddTensor(net, name + "_w", DataType::kFloat32, {c, in_c, k, k},
                              RandomTensor(DataType::kFloat32, {c, in_c, k, k}, ++*seed, -0.2, 0.2));
  const int32_t b =
      AddTensor(net, name + "_b", DataType::kFloat32, {c}, RandomTensor(DataType::kFloat32, {c}, ++*seed, -0.1, 0.1));
  const int32_t y = AddTensor(net, name, DataType::kFloat32, {1, c, hw, hw});
  Attributes a;
  a.Set("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  if (relu == ConvRelu::kFused) a.Set(kActivationAttr, std::string("Relu"));
  AddLayer(net, name, OpType::kConv, {in, w, b}, {y}, a);
  if (relu != ConvRelu::kLayer) return y;
  const int32_t r = AddTensor(net, name + "_relu", DataType::kFloat32, {1, c, hw, hw});
  AddLayer(net, name + "_relu", OpType::kRelu, {y}, {r});
  return r;
}

// Two ResNet bottlenecks with downsample branches (NCHW float32, 3x3 and 1x1 convolutions with
// bias, in the order an exporter writes them):
//   x → stem Conv+Relu → [c1 Conv+Relu → c2 Conv+Relu → c3 Conv] + [ds Conv] → Add → Relu → (again)
// Each ds runs on the auxiliary stream beside its block's c1 and c2 (stream_schedule.h).
NetworkDef BranchNetwork() {
  NetworkDef net;
  const int64_t c = 32, hw = 28;
  uint32_t seed = 40;
  int32_t x = AddTensor(&net, "x", DataType::kFloat32, {1, 8, hw, hw});
  net.inputs = {x};
  auto conv = [&](int32_t in, int64_t in_c, int64_t k, const std::string& name, bool relu) {
    return AddTestConv(&net, in, in_c, c, k, hw, name, relu ? ConvRelu::kLayer : ConvRelu::kNone, &seed);
  };
  int32_t h = conv(x, 8, 3, "stem", true);
  for (int block = 0; block < 2; ++block) {
    const std::string p = "b" + std::to_string(block) + "_";
    const int32_t c1 = conv(h, c, 1, p + "c1", true);
    const int32_t c2 = conv(c1, c, 3, p + "c2", true);
    const int32_t ds = conv(h, c, 1, p + "ds", false);
    const int32_t c3 = conv(c2, c, 1, p + "c3", false);
    const int32_t sum = AddTensor(&net, p + "sum", DataType::kFloat32, {1, c, hw, hw});
    AddLayer(&net, p + "add", OpType::kAdd, {c3, ds}, {sum});
    h = AddTensor(&net, p + "out", DataType::kFloat32, {1, c, hw, hw});
    AddLayer(&net, p + "out", OpType::kRelu, {sum}, {h});
  }
  net.outputs = {h};
  return net;
}

// Two detection heads on one feature map, each a chain of convolutions with fused activations
// (3x3 + Relu, 3x3 + Relu, 1x1), concatenated: the first head runs on the auxiliary stream as one
// branch of three layers beside the second (StreamSchedule's chain pass).
NetworkDef HeadsNetwork() {
  NetworkDef net;
  const int64_t c = 32, hw = 20;
  uint32_t seed = 70;
  int32_t x = AddTensor(&net, "x", DataType::kFloat32, {1, 8, hw, hw});
  net.inputs = {x};
  auto conv = [&](int32_t in, int64_t in_c, int64_t k, const std::string& name, bool relu) {
    return AddTestConv(&net, in, in_c, c, k, hw, name, relu ? ConvRelu::kFused : ConvRelu::kNone, &seed);
  };
  const int32_t f = conv(x, 8, 3, "stem", true);
  const int32_t box = conv(conv(conv(f, c, 3, "box1", true), c, 3, "box2", true), c, 1, "box3", false);
  const int32_t cls = conv(conv(conv(f, c, 3, "cls1", true), c, 3, "cls2", true), c, 1, "cls3", false);
  const int32_t cat = AddTensor(&net, "cat", DataType::kFloat32, {1, 2 * c, hw, hw});
  Attributes axis;
  axis.Set("axis", int64_t{1});
  AddLayer(&net, "cat", OpType::kConcat, {box, cls}, {cat}, axis);
  net.outputs = {cat};
  return net;
}

// `net` built twice with candidate 0 everywhere (no timing): with the auxiliary stream and on one
// stream. Expects the schedule to put `aux_layers` layers on the second stream (checked by
// `check_schedule` on the two-stream engine), then runs a context of each: the one-stream output
// is the reference, and the two-stream context, eager and with graphs, with a poisoned arena (an
// element read before its branch wrote it shows as NaN), 20 runs back to back (each run's
// branches overlap the last one's tail), then once on the legacy default stream (eager, still
// forked and joined), must give the same bytes.
void ExpectBranchesMatchOneStream(const std::function<NetworkDef()>& net, const std::vector<Tensor>& feeds,
                                  Precision precision, int aux_layers,
                                  const std::function<void(const CudaEngine&)>& check_schedule) {
  CudaEngineOptions options;
  options.precision = precision;
  options.select_tactics = false;
  auto two = CudaEngine::Create(net(), options);
  options.aux_streams = 0;
  auto one = CudaEngine::Create(net(), options);
  ASSERT_TRUE(two.ok() && one.ok()) << two.status().ToString() << one.status().ToString();
  EXPECT_TRUE((*one)->stream_schedule().empty());
  EXPECT_TRUE((*one)->memory_plan().layer_spans.empty());
  EXPECT_EQ((*two)->memory_plan().layer_spans.size(), (*two)->network().layers.size());
  check_schedule(**two);
  auto reference = (*one)->CreateContext();
  ASSERT_TRUE(reference.ok());
  EXPECT_EQ((*reference)->aux_stream_layers(), 0);
  IoBuffers io_ref;
  MakeIo(**one, feeds, &io_ref);
  for (int i = 0; i < (*one)->NumIOTensors(); ++i) {
    ASSERT_TRUE((*reference)->SetTensorAddress(i, io_ref.ptrs[static_cast<size_t>(i)]).ok());
  }
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_TRUE((*reference)->Enqueue(stream).ok());
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  const auto want = ReadOutputs(**one, io_ref);
  const StreamSchedule& schedule = (*two)->stream_schedule();
  for (bool graphs : {false, true}) {
    auto context = (*two)->CreateContext();
    ASSERT_TRUE(context.ok());
    (*context)->SetCudaGraphs(graphs);
    (*context)->SetPoisonArena(true);
    EXPECT_EQ((*context)->aux_stream_layers(), aux_layers);
    for (const AuxLayer& a : schedule.aux) {
      for (int32_t l : a.layers) {
        EXPECT_NE((*context)->LayerKernel(static_cast<size_t>(l)).find("auxiliary stream after layer"),
                  std::string::npos)
            << (*context)->LayerKernel(static_cast<size_t>(l));
      }
    }
    IoBuffers io;
    MakeIo(**two, feeds, &io);
    for (int i = 0; i < (*two)->NumIOTensors(); ++i) {
      ASSERT_TRUE((*context)->SetTensorAddress(i, io.ptrs[static_cast<size_t>(i)]).ok());
    }
    for (int k = 0; k < 20; ++k) {
      Status s = (*context)->Enqueue(stream);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    EXPECT_EQ((*context)->graph_error(), "");
    EXPECT_EQ((*context)->graph_captures(), graphs ? 1 : 0);
    EXPECT_EQ(ReadOutputs(**two, io), want) << "graphs " << graphs;
    ASSERT_TRUE((*context)->Enqueue(nullptr).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(ReadOutputs(**two, io), want) << "legacy stream, graphs " << graphs;
  }
  cudaStreamDestroy(stream);
}

TEST(CudaEngine, ConcurrentBranchesMatchOneStream) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const std::vector<Tensor> feeds = {RandomTensor(DataType::kFloat32, {1, 8, 28, 28}, 9)};
  for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(precision));
    // Against the CPU engine (default options: one auxiliary stream), eager and with graphs.
    ExpectCudaMatchesCpu(BranchNetwork(), feeds, precision, -1, false);
    ExpectCudaMatchesCpu(BranchNetwork(), feeds, precision, -1, true);
    // Bit for bit against one stream: the same kernels (candidate 0, no timing) in both engines.
    ExpectBranchesMatchOneStream(BranchNetwork, feeds, precision, 2, [](const CudaEngine& two) {
      const StreamSchedule& schedule = two.stream_schedule();
      ASSERT_EQ(schedule.aux.size(), 2u);
      for (const AuxLayer& a : schedule.aux) {
        EXPECT_EQ(a.layers, std::vector<int32_t>{a.layer});
        EXPECT_NE(two.network().layers[static_cast<size_t>(a.layer)].name.find("ds"), std::string::npos);
      }
    });
  }
}

TEST(CudaEngine, ChainBranchMatchesOneStream) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const std::vector<Tensor> feeds = {RandomTensor(DataType::kFloat32, {1, 8, 20, 20}, 10)};
  for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(precision));
    ExpectCudaMatchesCpu(HeadsNetwork(), feeds, precision, -1, true);
    ExpectBranchesMatchOneStream(HeadsNetwork, feeds, precision, 3, [](const CudaEngine& two) {
      const StreamSchedule& schedule = two.stream_schedule();
      ASSERT_EQ(schedule.aux.size(), 1u);
      ASSERT_EQ(schedule.aux[0].layers.size(), 3u);
      for (size_t k = 0; k < 3; ++k) {
        EXPECT_EQ(two.network().layers[static_cast<size_t>(schedule.aux[0].layers[k])].name,
                  "box" + std::to_string(k + 1));
      }
    });
  }
}

// With tactic selection the engine times its graph with and without the auxiliary stream and
// records the choice on the scheduled layers (kAuxStreamAttr), which a plan load follows.
TEST(CudaEngine, AuxStreamChoiceIsTimedAndRecorded) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto timed = CudaEngine::Create(BranchNetwork());
  ASSERT_TRUE(timed.ok()) << timed.status().ToString();
  const CudaEngine::AuxStreamTiming& t = (*timed)->aux_stream_timing();
  ASSERT_TRUE(t.timed);
  EXPECT_EQ(t.layers, 2);
  EXPECT_GT(t.aux_ms, 0.0);
  EXPECT_GT(t.one_stream_ms, 0.0);
  EXPECT_EQ(t.kept, t.aux_ms < 0.995 * t.one_stream_ms);
  EXPECT_EQ((*timed)->stream_schedule().aux.size(), t.kept ? 2u : 0u);
  std::printf("[engine] branch network: %.4f ms with the auxiliary stream, %.4f ms on one stream (%s)\n", t.aux_ms,
              t.one_stream_ms, t.kept ? "kept" : "one stream");
  int recorded = 0;
  for (const LayerDef& layer : (*timed)->network().layers) {
    StatusOr<int64_t> v = layer.attrs.GetIntOr(kAuxStreamAttr, -1, layer.name);
    ASSERT_TRUE(v.ok());
    if (*v < 0) continue;
    ++recorded;
    EXPECT_EQ(*v, t.kept ? 1 : 0) << layer.name;
    EXPECT_NE(layer.name.find("ds"), std::string::npos) << layer.name;
  }
  EXPECT_EQ(recorded, 2);
  // A load of the recorded network (no timing) follows the attribute, either way.
  CudaEngineOptions load;
  load.select_tactics = false;
  for (int64_t choice : {int64_t{0}, int64_t{1}}) {
    NetworkDef net = (*timed)->network();
    for (LayerDef& layer : net.layers) {
      if (layer.attrs.Has(kAuxStreamAttr)) layer.attrs.Set(kAuxStreamAttr, choice);
    }
    auto loaded = CudaEngine::Create(net, load);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_FALSE((*loaded)->aux_stream_timing().timed);
    EXPECT_EQ((*loaded)->stream_schedule().aux.size(), choice == 1 ? 2u : 0u);
    // With tactic selection too: the recorded choice is kept, not timed again.
    auto again = CudaEngine::Create(std::move(net));
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_FALSE((*again)->aux_stream_timing().timed);
    EXPECT_EQ((*again)->stream_schedule().aux.size(), choice == 1 ? 2u : 0u);
  }
}

// Host allocations (g_news) during 100 Enqueue calls on a context of `engine`, after warm-up and
// capture; the device's free memory must not change meanwhile.
int64_t SteadyStateAllocations(const CudaEngine& engine, const std::vector<Tensor>& feeds, bool graphs) {
  auto context = engine.CreateContext();
  EXPECT_TRUE(context.ok());
  if (!context.ok()) return -1;
  (*context)->SetCudaGraphs(graphs);
  IoBuffers io;
  MakeIo(engine, feeds, &io);
  for (int i = 0; i < engine.NumIOTensors(); ++i) {
    EXPECT_TRUE((*context)->SetTensorAddress(i, io.ptrs[static_cast<size_t>(i)]).ok());
  }
  cudaStream_t stream = nullptr;
  EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  for (int k = 0; k < 3; ++k) {  // warm-up and capture
    Status s = (*context)->Enqueue(stream);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ((*context)->graph_captures(), graphs ? 1 : 0) << (*context)->graph_error();
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  size_t free_before = 0, free_after = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free_before, &total), cudaSuccess);
  const int64_t news_before = g_news;
  for (int k = 0; k < 100; ++k) EXPECT_TRUE((*context)->Enqueue(stream).ok());
  const int64_t news = g_news - news_before;
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(cudaMemGetInfo(&free_after, &total), cudaSuccess);
  EXPECT_EQ(free_before, free_after) << "device memory changed during 100 Enqueue calls (graphs " << graphs << ")";
  cudaStreamDestroy(stream);
  return news;
}

TEST(CudaEngine, SteadyStateMakesNoAllocation) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto engine = CudaEngine::Create(SmallNetwork());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  for (bool graphs : {false, true}) {
    EXPECT_EQ(SteadyStateAllocations(**engine, SmallFeeds(6), graphs), 0) << "graphs " << graphs;
  }
  // With branches on the auxiliary stream: none with graphs (how contexts run). Eager, cuDNN's
  // executions allocate host memory of their own; the fork and join add none.
  const std::vector<Tensor> feeds = {RandomTensor(DataType::kFloat32, {1, 8, 28, 28}, 6)};
  CudaEngineOptions options;
  options.select_tactics = false;
  auto branches = CudaEngine::Create(BranchNetwork(), options);
  options.aux_streams = 0;
  auto one_stream = CudaEngine::Create(BranchNetwork(), options);
  ASSERT_TRUE(branches.ok() && one_stream.ok());
  ASSERT_FALSE((*branches)->stream_schedule().empty());
  EXPECT_EQ(SteadyStateAllocations(**branches, feeds, true), 0);
  const int64_t eager = SteadyStateAllocations(**branches, feeds, false);
  const int64_t eager_one_stream = SteadyStateAllocations(**one_stream, feeds, false);
  EXPECT_EQ(eager, eager_one_stream);
  std::printf("[engine] host allocations in 100 eager Enqueue calls: %lld with the auxiliary stream, %lld without\n",
              static_cast<long long>(eager), static_cast<long long>(eager_one_stream));
}

TEST(CudaEngine, CallerSuppliedArenaIsUsedAndChecked) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto engine = CudaEngine::Create(SmallNetwork());
  ASSERT_TRUE(engine.ok());
  void* arena = nullptr;
  ASSERT_EQ(cudaMalloc(&arena, (*engine)->ArenaBytes()), cudaSuccess);
  auto small = (*engine)->CreateContext(arena, (*engine)->ArenaBytes() - 1);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("ArenaBytes"), std::string::npos);
  auto context = (*engine)->CreateContext(arena, (*engine)->ArenaBytes());
  ASSERT_TRUE(context.ok());
  EXPECT_EQ((*context)->arena(), arena);
  EXPECT_EQ((*context)->OwnedDeviceBytes(), (*engine)->WorkspaceBytes());  // the arena is the caller's
  std::vector<Tensor> got;
  ASSERT_TRUE(RunOnHost(**context, SmallFeeds(8), &got).ok());
  auto cpu = CpuEngine::Create(SmallNetwork());
  std::vector<Tensor> want;
  ASSERT_TRUE((*cpu)->Run(SmallFeeds(8), &want).ok());
  for (size_t k = 0; k < want.size(); ++k) ExpectTensorsClose(got[k], want[k], 1e-3, "output " + std::to_string(k));
  context->reset();
  cudaFree(arena);
}

// x [n, c, h, w] (an image input) → Transpose(perm) → Relu → y; with `second_reader`, x also
// feeds a Sigmoid whose result is a second output.
NetworkDef InputTransposeNetwork(int64_t n, int64_t c, int64_t h, int64_t w, std::vector<int64_t> perm,
                                 bool second_reader) {
  NetworkDef net;
  Shape out_shape;
  const Shape in_shape = {n, c, h, w};
  for (int64_t p : perm) out_shape.push_back(in_shape[static_cast<size_t>(p)]);
  const int32_t x = AddTensor(&net, "x", DataType::kFloat32, in_shape);
  const int32_t t = AddTensor(&net, "t", DataType::kFloat32, out_shape);
  const int32_t y = AddTensor(&net, "y", DataType::kFloat32, out_shape);
  net.inputs = {x};
  Attributes attrs;
  attrs.Set("perm", perm);
  AddLayer(&net, "input/ToNhwc", OpType::kTranspose, {x}, {t}, attrs);
  AddLayer(&net, "relu", OpType::kRelu, {t}, {y});
  net.outputs = {y};
  if (second_reader) {
    const int32_t s = AddTensor(&net, "s", DataType::kFloat32, in_shape);
    AddLayer(&net, "sigmoid", OpType::kSigmoid, {x}, {s});
    net.outputs.push_back(s);
  }
  return net;
}

// An input whose only reader is a channels-first → channels-last Transpose is converted and
// transposed by its copy (CudaEngine::FoldedInputLayer): outputs equal the CPU's for 3 channels
// (the per-pixel kernel), 16 and 40 (32 x 32 tiles, partial tiles), FP32 and FP16, eager and with
// graphs; the profile times the copy in the layer's place. Another perm or a second reader of the
// input keeps the Transpose layer.
TEST(CudaEngine, InputTransposeIsFoldedIntoTheInputCopy) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Case {
    Shape x;
    std::vector<int64_t> perm;
    bool second_reader;
    bool folded;
  };
  const Case cases[] = {
      {{2, 3, 17, 9}, {0, 2, 3, 1}, false, true},  {{1, 16, 8, 8}, {0, 2, 3, 1}, false, true},
      {{3, 40, 5, 13}, {0, 2, 3, 1}, false, true}, {{2, 3, 6, 5}, {0, 3, 1, 2}, false, false},
      {{2, 3, 6, 5}, {0, 2, 3, 1}, true, false},
  };
  uint32_t seed = 40;
  for (const Case& c : cases) {
    const NetworkDef net = InputTransposeNetwork(c.x[0], c.x[1], c.x[2], c.x[3], c.perm, c.second_reader);
    SCOPED_TRACE(net.tensors[0].name + " " + std::to_string(c.x[1]) + " channels, folded " + std::to_string(c.folded));
    const std::vector<Tensor> feeds = {RandomTensor(DataType::kFloat32, c.x, seed++)};
    for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
      for (bool graphs : {false, true}) ExpectCudaMatchesCpu(net, feeds, precision, -1, graphs);
      CudaEngineOptions options;
      options.precision = precision;
      auto engine = CudaEngine::Create(net, options);
      ASSERT_TRUE(engine.ok()) << engine.status().ToString();
      EXPECT_EQ((*engine)->FoldedInputLayer(0), c.folded ? 0 : -1);
      auto context = (*engine)->CreateContext();
      ASSERT_TRUE(context.ok()) << context.status().ToString();
      const std::string kernel = (*context)->LayerKernel(0);
      EXPECT_EQ(kernel.find("folded into input 'x''s copy") != std::string::npos, c.folded) << kernel;
      IoBuffers io;
      ASSERT_NO_FATAL_FAILURE(MakeIo(**engine, feeds, &io));
      for (int i = 0; i < (*engine)->NumIOTensors(); ++i) {
        ASSERT_TRUE((*context)->SetTensorAddress(i, io.ptrs[static_cast<size_t>(i)]).ok());
      }
      cudaStream_t stream = nullptr;
      ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
      auto ms = (*context)->ProfileLayers(stream, 2);
      ASSERT_TRUE(ms.ok()) << ms.status().ToString();
      EXPECT_GT((*ms)[0], 0.0);
      // The profile's runs computed the network too: the output equals the CPU's.
      std::vector<Tensor> want;
      auto cpu = CpuEngine::Create(net);
      ASSERT_TRUE(cpu.ok());
      ASSERT_TRUE((*cpu)->Run(feeds, &want).ok());
      const std::vector<std::vector<uint8_t>> got = ReadOutputs(**engine, io);
      Tensor y = Tensor::Create(DataType::kFloat32, want[0].shape()).value();
      std::memcpy(y.raw(), got[0].data(), got[0].size());
      ExpectTensorsClose(y, want[0], DefaultTolerance(precision), "after ProfileLayers");
      cudaStreamDestroy(stream);
    }
  }
}

TEST(CudaEngine, PlansAreCheckedAgainstTheDeviceKey) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto key = CudaDeviceKey(0);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->backend, "cuda");
  EXPECT_GT(key->sm_count, 0);
  EXPECT_GT(key->cudnn_version, 0);
  EXPECT_GT(key->cublas_version, 0);

  const std::string dir = ::testing::TempDir();
  PlanMetadata meta;
  meta.edgert_version = EDGERT_VERSION_STRING;
  meta.model_hash = "00";
  meta.build_options_hash = "00";
  meta.precision = Precision::kFp16;

  meta.device = CpuDeviceKey();
  auto cpu_bytes = SerializePlan(SmallNetwork(), meta);
  ASSERT_TRUE(cpu_bytes.ok());
  ASSERT_TRUE(WritePlanFile(dir + "/cpu.plan", *cpu_bytes).ok());
  auto refused = CudaEngine::CreateFromPlan(dir + "/cpu.plan");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("cpu"), std::string::npos) << refused.status().message();

  DeviceKey other = *key;
  other.cudnn_version += 1;
  meta.device = other;
  auto other_bytes = SerializePlan(SmallNetwork(), meta);
  ASSERT_TRUE(WritePlanFile(dir + "/other.plan", *other_bytes).ok());
  auto refused2 = CudaEngine::CreateFromPlan(dir + "/other.plan");
  ASSERT_FALSE(refused2.ok());

  meta.device = *key;
  auto bytes = SerializePlan(SmallNetwork(), meta);
  ASSERT_TRUE(WritePlanFile(dir + "/gpu.plan", *bytes).ok());
  auto engine = CudaEngine::CreateFromPlan(dir + "/gpu.plan");
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->precision(), Precision::kFp16);
  auto context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok());
  std::vector<Tensor> got;
  ASSERT_TRUE(RunOnHost(**context, SmallFeeds(9), &got).ok());
  auto cpu = CpuEngine::Create(SmallNetwork());
  std::vector<Tensor> want;
  ASSERT_TRUE((*cpu)->Run(SmallFeeds(9), &want).ok());
  for (size_t k = 0; k < want.size(); ++k) ExpectTensorsClose(got[k], want[k], 1e-2, "output " + std::to_string(k));
}

// cuBLASLt's heuristics set-up runs on a thread beside the load of an engine whose layers may use
// cuBLAS (convolutions here), and not for one without such layers; the engine computes as before.
TEST(CudaEngine, CublasLtWarmUpRunsBesideALoadWithTacticLayers) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  EXPECT_TRUE(cuda::WarmUpCublasLt(DataType::kFloat16).ok());
  EXPECT_TRUE(cuda::WarmUpCublasLt(DataType::kFloat32).ok());
  EXPECT_EQ(cuda::WarmUpCublasLt(DataType::kInt8).code(), StatusCode::kInvalidArgument);
  const NetworkDef branch = BranchNetwork();
  const std::vector<Tensor> feeds = {RandomTensor(DataType::kFloat32, {1, 8, 28, 28}, 95)};
  for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
    CudaEngineOptions options;
    options.precision = precision;
    auto engine = CudaEngine::Create(branch, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_GT((*engine)->load_breakdown().cublaslt_warm_up_ms, 0.0) << PrecisionName(precision);
    EXPECT_EQ((*engine)->load_breakdown().cublaslt_warm_up_error, "");
    ExpectCudaMatchesCpu(branch, feeds, precision);
    auto plain = CudaEngine::Create(SmallNetwork(), options);
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    EXPECT_EQ((*plain)->load_breakdown().cublaslt_warm_up_ms, 0.0);
  }
}

// An FP16 engine's plan stores its convolution, Gemm and MatMul weights as float16 (PlanNetwork):
// the plan is smaller by what the narrowing saved, and an engine loaded from it computes bit for
// bit what the engine built from float32 weights computes, and what a plan of the float32 weights
// computes. An FP32 engine narrows nothing, and an FP32 engine refuses float16 weights.
TEST(CudaEngine, Fp16PlansStoreFloat16WeightsAndRunBitForBit) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  NetworkDef net = BranchNetwork();
  // Classifier tail: GlobalAveragePool -> Flatten -> Gemm (transB, bias) -> MatMul.
  const int32_t h = net.outputs[0];
  const int32_t pooled = AddTensor(&net, "pooled", DataType::kFloat32, {1, 32, 1, 1});
  AddLayer(&net, "gap", OpType::kGlobalAveragePool, {h}, {pooled});
  const int32_t flat = AddTensor(&net, "flat", DataType::kFloat32, {1, 32});
  AddLayer(&net, "flatten", OpType::kFlatten, {pooled}, {flat});
  const int32_t fw =
      AddTensor(&net, "fc_w", DataType::kFloat32, {16, 32}, RandomTensor(DataType::kFloat32, {16, 32}, 91));
  const int32_t fb = AddTensor(&net, "fc_b", DataType::kFloat32, {16}, RandomTensor(DataType::kFloat32, {16}, 92));
  const int32_t fc = AddTensor(&net, "fc", DataType::kFloat32, {1, 16});
  Attributes gemm;
  gemm.Set("transB", int64_t{1});
  AddLayer(&net, "fc", OpType::kGemm, {flat, fw, fb}, {fc}, gemm);
  const int32_t mw =
      AddTensor(&net, "mm_w", DataType::kFloat32, {16, 4}, RandomTensor(DataType::kFloat32, {16, 4}, 93));
  const int32_t y = AddTensor(&net, "y", DataType::kFloat32, {1, 4});
  AddLayer(&net, "mm", OpType::kMatMul, {fc, mw}, {y});
  net.outputs = {h, y};
  const std::vector<Tensor> feeds = {RandomTensor(DataType::kFloat32, {1, 8, 28, 28}, 94)};

  auto key = CudaDeviceKey(0);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  PlanMetadata meta;
  meta.edgert_version = EDGERT_VERSION_STRING;
  meta.device = *key;
  meta.model_hash = "00";
  meta.build_options_hash = "00";
  meta.precision = Precision::kFp16;
  CudaEngineOptions options;
  options.precision = Precision::kFp16;
  auto built = CudaEngine::Create(net, options);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  uint64_t saved = 0;
  StatusOr<NetworkDef> stored = (*built)->PlanNetwork(&saved);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  uint64_t weight_bytes = 0;
  int narrowed = 0;
  for (size_t i = 0; i < stored->tensors.size(); ++i) {
    const TensorDef& t = stored->tensors[i];
    if (!t.is_constant()) continue;
    weight_bytes += net.tensors[i].value.bytes();
    narrowed += t.is_narrowed() ? 1 : 0;
    EXPECT_TRUE(t.is_narrowed() || t.dtype != DataType::kFloat32) << t.name << " kept as float32";
  }
  EXPECT_EQ(narrowed, 9 * 2 + 3);  // 9 convolutions with bias, the Gemm's W and C, the MatMul's B
  EXPECT_EQ(saved, weight_bytes / 2);
  const std::string dir = ::testing::TempDir();
  auto narrow_bytes = SerializePlan(*stored, meta);
  auto full_bytes = SerializePlan((*built)->network(), meta);
  ASSERT_TRUE(narrow_bytes.ok() && full_bytes.ok());
  EXPECT_LE(narrow_bytes->size() + saved, full_bytes->size() + 256 * static_cast<size_t>(narrowed));
  std::printf("[engine] plan with float16 weights %zu bytes, with float32 weights %zu bytes\n", narrow_bytes->size(),
              full_bytes->size());
  ASSERT_TRUE(WritePlanFile(dir + "/narrow.plan", *narrow_bytes).ok());
  ASSERT_TRUE(WritePlanFile(dir + "/full.plan", *full_bytes).ok());

  auto run = [&](const CudaEngine& engine, std::vector<Tensor>* out) {
    auto context = engine.CreateContext();
    ASSERT_TRUE(context.ok()) << context.status().ToString();
    Status s = RunOnHost(**context, feeds, out);
    ASSERT_TRUE(s.ok()) << s.ToString();
  };
  std::vector<Tensor> want;
  run(**built, &want);
  for (const char* name : {"narrow.plan", "full.plan"}) {
    auto loaded = CudaEngine::CreateFromPlan(dir + "/" + name);
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.status().ToString();
    EXPECT_EQ((*loaded)->WeightsBytes(), (*built)->WeightsBytes()) << name;
    std::vector<Tensor> got;
    run(**loaded, &got);
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) {
      ASSERT_EQ(got[k].bytes(), want[k].bytes());
      EXPECT_EQ(std::memcmp(got[k].raw(), want[k].raw(), want[k].bytes()), 0) << name << " output " << k;
    }
  }

  // FP32: nothing to narrow; float16 weights refused, naming the first one.
  auto fp32 = CudaEngine::Create(net, CudaEngineOptions{});
  ASSERT_TRUE(fp32.ok()) << fp32.status().ToString();
  ASSERT_TRUE((*fp32)->PlanNetwork(&saved).ok());
  EXPECT_EQ(saved, 0u);
  auto refused = CudaEngine::Create(*stored, CudaEngineOptions{});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("is stored as float16, but a fp32 engine holds it as float32"),
            std::string::npos)
      << refused.status().message();
}

}  // namespace
}  // namespace testing
}  // namespace edgert
