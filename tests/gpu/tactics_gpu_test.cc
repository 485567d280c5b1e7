// The engine's tactic pass: layers with candidates (Conv, Gemm) get a timed, validated choice that
// the network (and so a plan) records, a timing cache file makes the next build skip the timing,
// and every chosen tactic still matches the CPU reference.
#include <cstdio>

#include "../unit/onnx_test_util.h"
#include "edgert/fused_activation.h"
#include "edgert/tactic_label.h"
#include "edgert/timing_cache.h"
#include "edgert/version.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

// x[2,32,28,28] -> Conv 3x3 (64, bias, Relu) -> GlobalAveragePool -> Flatten -> Gemm (64 -> 100).
SingleOpNetwork ConvGemmNetwork() {
  NetworkDef net;
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
  const int32_t x = AddFloatTensor(net, "x", {2, 32, 28, 28});
  const int32_t w =
      AddFloatTensor(net, "w", {64, 32, 3, 3}, RandomTensor(DataType::kFloat32, {64, 32, 3, 3}, 1, -0.1, 0.1));
  const int32_t b = AddFloatTensor(net, "b", {64}, RandomTensor(DataType::kFloat32, {64}, 2));
  const int32_t y = AddFloatTensor(net, "y", {2, 64, 28, 28});
  const int32_t g = AddFloatTensor(net, "g", {2, 64, 1, 1});
  const int32_t f = AddFloatTensor(net, "f", {2, 64});
  const int32_t fw = AddFloatTensor(net, "fw", {64, 100}, RandomTensor(DataType::kFloat32, {64, 100}, 3, -0.2, 0.2));
  const int32_t fb = AddFloatTensor(net, "fb", {100}, RandomTensor(DataType::kFloat32, {100}, 4));
  const int32_t out = AddFloatTensor(net, "out", {2, 100});
  net.inputs = {x};
  Attributes conv;
  conv.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  conv.Set(kActivationAttr, std::string("Relu"));
  layer("conv", OpType::kConv, {x, w, b}, {y}, conv);
  layer("gap", OpType::kGlobalAveragePool, {y}, {g}, {});
  layer("flatten", OpType::kFlatten, {g}, {f}, {});
  layer("fc", OpType::kGemm, {f, fw, fb}, {out}, {});
  net.outputs = {out, y};
  return SingleOpNetwork{std::move(net), {RandomTensor(DataType::kFloat32, {2, 32, 28, 28}, 5)}};
}

std::vector<Tensor> RunEngine(const std::shared_ptr<CudaEngine>& engine, const std::vector<Tensor>& feeds) {
  auto context = engine->CreateContext();
  EXPECT_TRUE(context.ok()) << context.status().ToString();
  std::vector<Tensor> outs;
  if (!context.ok()) return outs;
  (*context)->SetPoisonArena(true);
  Status s = RunOnHost(**context, feeds, &outs);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return outs;
}

TEST(CudaTactics, TimedChoicesAreRecordedCachedAndCorrect) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  testing_util::TempDir dir;
  const SingleOpNetwork single = ConvGemmNetwork();
  auto cpu = CpuEngine::Create(single.net);
  ASSERT_TRUE(cpu.ok());
  std::vector<Tensor> want;
  ASSERT_TRUE((*cpu)->Run(single.feeds, &want).ok());

  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    CudaEngineOptions options;
    options.precision = p;
    options.timing_cache = dir.File(std::string("timing_") + PrecisionName(p) + ".cache");
    auto first = CudaEngine::Create(single.net, options);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    const std::vector<LayerTactic>& t1 = (*first)->tactics();
    ASSERT_EQ(t1.size(), 4u);
    for (size_t l : {size_t{0}, size_t{3}}) {  // conv, fc
      EXPECT_GE(t1[l].tactic, 0) << "layer " << l;
      EXPECT_FALSE(t1[l].from_cache);
      EXPECT_GE(t1[l].timed, 1) << "layer " << l;
      auto attr = (*first)->network().layers[l].attrs.GetIntOr(kTacticAttr, -1);
      ASSERT_TRUE(attr.ok());
      EXPECT_EQ(*attr, t1[l].tactic);
    }
    std::vector<Tensor> got = RunEngine(*first, single.feeds);
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) ExpectTensorsClose(got[k], want[k], DefaultTolerance(p), "output");

    // The timing cache gives the second build the same choices without timing.
    auto second = CudaEngine::Create(single.net, options);
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    for (size_t l : {size_t{0}, size_t{3}}) {
      EXPECT_TRUE((*second)->tactics()[l].from_cache) << "layer " << l;
      EXPECT_EQ((*second)->tactics()[l].tactic, t1[l].tactic) << "layer " << l;
      EXPECT_EQ((*second)->tactics()[l].timed, 0);
    }
    // The cache also holds what recreates the conv's candidate alone (label and blob, as a plan
    // does), and the warm build takes them from it: the same attributes as the first build's.
    const LayerDef& conv1 = (*first)->network().layers[0];
    const std::string label = conv1.attrs.GetStringOr(kTacticLabelAttr, "").value();
    const std::string blob = conv1.attrs.GetStringOr(kTacticBlobAttr, "").value();
    ASSERT_FALSE(label.empty());
    const TimingCache cache = ReadTimingCache(options.timing_cache);
    int conv_entries = 0;
    for (const auto& [key, entry] : cache) {
      if (entry.label != label) continue;
      ++conv_entries;
      EXPECT_EQ(entry.tactic, t1[0].tactic);
      EXPECT_EQ(entry.blob, blob);
    }
    EXPECT_EQ(conv_entries, 1);
    for (const char* attr : {kTacticLabelAttr, kTacticBlobAttr}) {
      EXPECT_EQ((*second)->network().layers[0].attrs.GetStringOr(attr, "").value(),
                conv1.attrs.GetStringOr(attr, "").value())
          << attr;
    }
    got = RunEngine(*second, single.feeds);
    for (size_t k = 0; k < want.size(); ++k) ExpectTensorsClose(got[k], want[k], DefaultTolerance(p), "warm output");

    // A cache of the older form (tactics alone) and one whose recorded plans are corrupt give the
    // same choices and correct outputs; each build writes a label and a sound blob back.
    auto candidate = [](const std::string& text) {
      RecordedTacticLabel parsed;
      return ParseTacticLabel(text, &parsed) ? parsed.label : std::string("?");
    };
    for (const bool corrupt : {false, true}) {
      SCOPED_TRACE(corrupt ? "corrupt blobs" : "tactics alone");
      TimingCache edited = cache;
      for (auto& [key, entry] : edited) {
        if (!corrupt) {
          entry.label.clear();
          entry.blob.clear();
        } else if (!entry.label.empty()) {
          entry.blob = "not a plan\n{\"garbage\": 1}";
        }
      }
      ASSERT_TRUE(WriteTimingCache(options.timing_cache, edited).ok());
      auto again = CudaEngine::Create(single.net, options);
      ASSERT_TRUE(again.ok()) << again.status().ToString();
      for (size_t l : {size_t{0}, size_t{3}}) {
        EXPECT_TRUE((*again)->tactics()[l].from_cache) << "layer " << l;
        EXPECT_EQ((*again)->tactics()[l].tactic, t1[l].tactic) << "layer " << l;
      }
      got = RunEngine(*again, single.feeds);
      for (size_t k = 0; k < want.size(); ++k) ExpectTensorsClose(got[k], want[k], DefaultTolerance(p), "output");
      int rewritten = 0;
      for (const auto& [key, entry] : ReadTimingCache(options.timing_cache)) {
        if (candidate(entry.label) != candidate(label)) continue;
        ++rewritten;
        EXPECT_EQ(entry.blob.find("garbage"), std::string::npos);
        EXPECT_EQ(entry.blob.empty(), blob.empty());
      }
      EXPECT_EQ(rewritten, 1);
    }

    // A plan of the tuned network carries the tactics; loading it times nothing.
    auto key = CudaDeviceKey(0);
    ASSERT_TRUE(key.ok());
    PlanMetadata meta;
    meta.edgert_version = EDGERT_VERSION_STRING;
    meta.device = *key;
    meta.precision = p;
    meta.model_hash = "00";
    meta.build_options_hash = "00";
    auto bytes = SerializePlan((*first)->network(), meta);
    ASSERT_TRUE(bytes.ok());
    const std::string plan = dir.File(std::string("tuned_") + PrecisionName(p) + ".plan");
    ASSERT_TRUE(WritePlanFile(plan, *bytes).ok());
    auto loaded = CudaEngine::CreateFromPlan(plan);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    for (size_t l : {size_t{0}, size_t{3}}) {
      EXPECT_TRUE((*loaded)->tactics()[l].from_cache);
      EXPECT_EQ((*loaded)->tactics()[l].tactic, t1[l].tactic);
    }
    got = RunEngine(*loaded, single.feeds);
    for (size_t k = 0; k < want.size(); ++k) ExpectTensorsClose(got[k], want[k], DefaultTolerance(p), "plan output");
  }

  // Level 0: heuristics only, nothing timed, no tactic recorded.
  CudaEngineOptions heuristics;
  heuristics.tactic_level = 0;
  auto plain = CudaEngine::Create(single.net, heuristics);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->tactics()[0].timed, 0);
  EXPECT_FALSE((*plain)->network().layers[0].attrs.Has(kTacticAttr));
}

TEST(CudaTactics, WorkspaceBudgetIsHonoured) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const SingleOpNetwork single = ConvGemmNetwork();
  auto cpu = CpuEngine::Create(single.net);
  ASSERT_TRUE(cpu.ok());
  std::vector<Tensor> want;
  ASSERT_TRUE((*cpu)->Run(single.feeds, &want).ok());
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    CudaEngineOptions options;
    options.precision = p;
    options.max_workspace_bytes = 0;  // only candidates that need no scratch memory
    auto engine = CudaEngine::Create(single.net, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_EQ((*engine)->WorkspaceBytes(), 0u);
    auto context = (*engine)->CreateContext();
    ASSERT_TRUE(context.ok());
    EXPECT_EQ((*context)->OwnedDeviceBytes(), (*engine)->ArenaBytes());
    std::vector<Tensor> got = RunEngine(*engine, single.feeds);
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) ExpectTensorsClose(got[k], want[k], DefaultTolerance(p), "output");
  }
}

}  // namespace
}  // namespace testing
}  // namespace edgert
