// Recorded tactics (network.h: kTacticLabelAttr / kTacticBlobAttr; kernels_conv.cu PlanRecorded):
// an engine built with tactic timing records, beside each convolution's tactic index, the chosen
// candidate's label and, for a cuDNN engine, its plan as text: cuDNN's serialized plan for a
// runtime-compiled engine, the engine config's knob choices ("cudnn-knobs ...") for the others.
// An engine made from that network (what a plan load does) recreates only the recorded candidate
// (from the serialized plan, or from the knob choices without cuDNN's heuristics), and a label or
// plan text that no longer applies falls back to the candidate list, never to a wrong kernel:
//   - the attributes are recorded on network() and device_network(), "<n>/<label>" with n > the
//     tactic; they survive a plan file;
//   - the loaded engine's kernels say "recorded" and run the same candidate ("tactic i/n: label"),
//     with outputs equal to the first engine's and close to the CPU's;
//   - an unknown engine index, a label of another kind, a malformed label, a serialized plan of
//     another geometry and malformed knob choices are each ignored: the engine's dry run takes the list path for the
//     index, which rebuilds the built engine's candidate, and records its label again (the network is repaired, the
//     contexts then take the recorded path); outputs still match the CPU.
#include <cstdio>
#include <string>
#include <vector>

#include "../unit/onnx_test_util.h"
#include "edgert/cpu_engine.h"
#include "edgert/cuda_engine.h"
#include "edgert/fused_activation.h"
#include "edgert/plan.h"
#include "edgert/tactic_label.h"
#include "edgert/version.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

using testing_util::TempDir;

// x [2, 16, 20, 20] -> conv a (3x3, 32, bias, SiLU) -> conv b (1x1, 32, bias, residual a, Relu)
// -> conv c (3x3 stride 2, 16, no bias, no activation) -> y.
NetworkDef ConvChain() {
  NetworkDef net;
  auto conv = [&](const std::string& name, std::vector<int32_t> in, int32_t out, int64_t pad, int64_t stride,
                  const std::string& act) {
    LayerDef l;
    l.name = name;
    l.op = OpType::kConv;
    l.opset = 17;
    l.attrs.Set("pads", std::vector<int64_t>{pad, pad, pad, pad});
    l.attrs.Set("strides", std::vector<int64_t>{stride, stride});
    if (!act.empty()) l.attrs.Set(kActivationAttr, act);
    l.inputs = std::move(in);
    l.outputs = {out};
    net.layers.push_back(std::move(l));
  };
  const int32_t x = AddFloatTensor(net, "x", {2, 16, 20, 20});
  const int32_t wa =
      AddFloatTensor(net, "wa", {32, 16, 3, 3}, RandomTensor(DataType::kFloat32, {32, 16, 3, 3}, 1, -0.2, 0.2));
  const int32_t ba = AddFloatTensor(net, "ba", {32}, RandomTensor(DataType::kFloat32, {32}, 2));
  const int32_t a = AddFloatTensor(net, "a", {2, 32, 20, 20});
  const int32_t wb =
      AddFloatTensor(net, "wb", {32, 32, 1, 1}, RandomTensor(DataType::kFloat32, {32, 32, 1, 1}, 3, -0.2, 0.2));
  const int32_t bb = AddFloatTensor(net, "bb", {32}, RandomTensor(DataType::kFloat32, {32}, 4));
  const int32_t b = AddFloatTensor(net, "b", {2, 32, 20, 20});
  const int32_t wc =
      AddFloatTensor(net, "wc", {16, 32, 3, 3}, RandomTensor(DataType::kFloat32, {16, 32, 3, 3}, 5, -0.2, 0.2));
  const int32_t y = AddFloatTensor(net, "y", {2, 16, 10, 10});
  net.inputs = {x};
  net.outputs = {y};
  conv("conv_a", {x, wa, ba}, a, 1, 1, "SiLU");
  conv("conv_b", {a, wb, bb, a}, b, 0, 1, "Relu");
  conv("conv_c", {b, wc}, y, 1, 2, "");
  return net;
}

const std::vector<Tensor>& Feeds() {
  static const std::vector<Tensor> feeds = {RandomTensor(DataType::kFloat32, {2, 16, 20, 20}, 9)};
  return feeds;
}

Tensor CpuOutput() {
  auto cpu = CpuEngine::Create(ConvChain());
  EXPECT_TRUE(cpu.ok()) << cpu.status().ToString();
  std::vector<Tensor> out;
  EXPECT_TRUE((*cpu)->Run(Feeds(), &out).ok());
  return out.at(0);
}

CudaEngineOptions Fp16() {
  CudaEngineOptions options;
  options.precision = Precision::kFp16;
  return options;
}

struct Ran {
  std::vector<std::string> kernels;  // LayerKernel of each layer
  std::vector<std::string> labels;   // the engine's kTacticLabelAttr of each layer after creation
  Tensor output;
};

Ran RunEngine(const NetworkDef& net) {
  Ran ran;
  auto engine = CudaEngine::Create(net, Fp16());
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  if (!engine.ok()) return ran;
  auto context = (*engine)->CreateContext();
  EXPECT_TRUE(context.ok()) << context.status().ToString();
  if (!context.ok()) return ran;
  std::vector<Tensor> got;
  const Status s = RunOnHost(**context, Feeds(), &got);
  EXPECT_TRUE(s.ok()) << s.ToString();
  for (size_t l = 0; l < net.layers.size(); ++l) {
    ran.kernels.push_back((*context)->LayerKernel(l));
    ran.labels.push_back((*engine)->network().layers[l].attrs.GetStringOr(kTacticLabelAttr, "").value());
  }
  if (!got.empty()) ran.output = std::move(got[0]);
  return ran;
}

// "tactic i/n: <label>" up to the note in parentheses.
std::string TacticPrefix(const std::string& kernel) { return kernel.substr(0, kernel.find(" (")); }

// A loaded kernel's note names what its recorded plan text (kTacticBlobAttr, `blob`) rebuilt:
// "serialized plan" for cuDNN's JSON, "engine config" for the knob choices, neither without text.
void ExpectRestoredFrom(const std::string& kernel, const std::string& blob) {
  const bool knobs = TacticBlobIsEngineConfig(blob);
  EXPECT_EQ(kernel.find("serialized plan") != std::string::npos, !blob.empty() && !knobs) << kernel;
  EXPECT_EQ(kernel.find("engine config") != std::string::npos, knobs) << kernel;
}

TEST(RecordedTactics, AreRecordedAndRecreateTheSameCandidate) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto engine = CudaEngine::Create(ConvChain(), Fp16());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const NetworkDef& built = (*engine)->network();
  for (size_t l = 0; l < built.layers.size(); ++l) {
    SCOPED_TRACE(built.layers[l].name);
    for (const NetworkDef* net : {&built, &(*engine)->device_network()}) {
      auto tactic = net->layers[l].attrs.GetIntOr(kTacticAttr, -1);
      auto label = net->layers[l].attrs.GetStringOr(kTacticLabelAttr, "");
      ASSERT_TRUE(tactic.ok() && label.ok());
      ASSERT_GE(*tactic, 0);
      const size_t slash = label->find('/');
      ASSERT_NE(slash, std::string::npos) << *label;
      EXPECT_GT(std::stoll(label->substr(0, slash)), *tactic) << *label;
      EXPECT_FALSE(label->substr(slash + 1).empty()) << *label;
    }
    auto blob = built.layers[l].attrs.GetStringOr(kTacticBlobAttr, "");
    ASSERT_TRUE(blob.ok());
    std::printf("[ recorded ] %s: %s, plan text %zu bytes\n", built.layers[l].name.c_str(),
                built.layers[l].attrs.GetStringOr(kTacticLabelAttr, "")->c_str(), blob->size());
  }
  auto context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok());
  std::vector<Tensor> first;
  ASSERT_TRUE(RunOnHost(**context, Feeds(), &first).ok());
  const Tensor want = CpuOutput();
  ExpectTensorsClose(first[0], want, 1e-2, "built engine");

  // Through a plan file, as `edgert build` then `edgert run PLAN` do.
  TempDir dir;
  auto key = CudaDeviceKey(0);
  ASSERT_TRUE(key.ok());
  PlanMetadata meta;
  meta.edgert_version = EDGERT_VERSION_STRING;
  meta.model_hash = "00";
  meta.build_options_hash = "00";
  meta.precision = Precision::kFp16;
  meta.device = *key;
  auto bytes = SerializePlan(built, meta);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  ASSERT_TRUE(WritePlanFile(dir.File("chain.plan"), *bytes).ok());
  auto loaded = CudaEngine::CreateFromPlan(dir.File("chain.plan"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (size_t l = 0; l < built.layers.size(); ++l) {
    EXPECT_EQ((*loaded)->network().layers[l].attrs.GetStringOr(kTacticLabelAttr, "").value(),
              built.layers[l].attrs.GetStringOr(kTacticLabelAttr, "").value());
    EXPECT_EQ((*loaded)->network().layers[l].attrs.GetStringOr(kTacticBlobAttr, "").value(),
              built.layers[l].attrs.GetStringOr(kTacticBlobAttr, "").value());
  }
  auto loaded_context = (*loaded)->CreateContext();
  ASSERT_TRUE(loaded_context.ok());
  std::vector<Tensor> again;
  ASSERT_TRUE(RunOnHost(**loaded_context, Feeds(), &again).ok());
  for (size_t l = 0; l < built.layers.size(); ++l) {
    const std::string was = (*context)->LayerKernel(l);
    const std::string now = (*loaded_context)->LayerKernel(l);
    EXPECT_EQ(TacticPrefix(now), TacticPrefix(was)) << now << " / " << was;
    EXPECT_NE(now.find("(recorded"), std::string::npos) << now;
    ExpectRestoredFrom(now, built.layers[l].attrs.GetStringOr(kTacticBlobAttr, "").value());
  }
  ExpectTensorsClose(again[0], first[0], 0.0, "the recorded candidates give the built engine's output");
}

TEST(RecordedTactics, ThatNoLongerApplyFallBackToTheList) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto engine = CudaEngine::Create(ConvChain(), Fp16());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const NetworkDef built = (*engine)->network();
  const Tensor want = CpuOutput();
  const Ran reference = RunEngine(built);
  ASSERT_EQ(reference.kernels.size(), built.layers.size());

  auto edited = [&](auto edit) {
    NetworkDef net = built;
    for (LayerDef& l : net.layers) edit(l);
    return net;
  };
  auto count_of = [](const LayerDef& l) {
    const std::string label = l.attrs.GetStringOr(kTacticLabelAttr, "").value();
    return label.substr(0, label.find('/'));
  };
  std::vector<std::pair<const char*, NetworkDef>> cases;
  cases.push_back({"unknown engine", edited([&](LayerDef& l) {
                     l.attrs.Set(kTacticLabelAttr, count_of(l) + "/cudnn-fused engine 987654");
                     l.attrs.Erase(kTacticBlobAttr);
                   })});
  cases.push_back(
      {"another path", edited([&](LayerDef& l) { l.attrs.Set(kTacticLabelAttr, count_of(l) + "/depthwise"); })});
  cases.push_back({"malformed label",
                   edited([&](LayerDef& l) { l.attrs.Set(kTacticLabelAttr, std::string("x/cudnn-fused engine 1")); })});
  cases.push_back({"count not above the tactic", edited([&](LayerDef& l) {
                     const std::string label = l.attrs.GetStringOr(kTacticLabelAttr, "").value();
                     l.attrs.Set(kTacticLabelAttr, "0" + label.substr(label.find('/')));
                   })});
  cases.push_back({"serialized plan of another geometry", edited([&](LayerDef& l) {
                     l.attrs.Set(kTacticBlobAttr, std::string("fwd nchw another layer\n{\"not\": \"a plan\"}"));
                   })});
  cases.push_back({"malformed knob choices", edited([&](LayerDef& l) {
                     const std::string blob = l.attrs.GetStringOr(kTacticBlobAttr, "").value();
                     const size_t at = blob.find("\ncudnn-knobs");
                     if (at != std::string::npos)
                       l.attrs.Set(kTacticBlobAttr, blob.substr(0, at) + "\ncudnn-knobs 1=x 9999=1");
                   })});
  auto candidate_of = [](const std::string& label) { return label.substr(label.find('/') + 1); };
  for (const auto& [what, net] : cases) {
    SCOPED_TRACE(what);
    const Ran ran = RunEngine(net);
    ASSERT_EQ(ran.kernels.size(), built.layers.size());
    for (size_t l = 0; l < built.layers.size(); ++l) {
      const std::string& k = ran.kernels[l];
      EXPECT_EQ(candidate_of(ran.labels[l]),
                candidate_of(built.layers[l].attrs.GetStringOr(kTacticLabelAttr, "").value()))
          << "the label is recorded again for the candidate the index names";
      EXPECT_EQ(TacticPrefix(k).substr(TacticPrefix(k).find(':')),
                TacticPrefix(reference.kernels[l]).substr(TacticPrefix(reference.kernels[l]).find(':')))
          << k << " / " << reference.kernels[l];
      EXPECT_NE(k.find("(recorded"), std::string::npos) << k;
      ExpectRestoredFrom(k, built.layers[l].attrs.GetStringOr(kTacticBlobAttr, "").value());
    }
    ExpectTensorsClose(ran.output, want, 1e-2, what);
  }
}

// A plan load's dry run on several host threads (CudaEngineOptions::load_threads) records what a
// serial one records, sizes the same workspace, and reports the same (first) failing layer.
TEST(RecordedTactics, ParallelDryRunAgreesWithASerialOne) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto engine = CudaEngine::Create(ConvChain(), Fp16());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const NetworkDef built = (*engine)->network();
  NetworkDef bare = built;  // the tactic indices without what the dry run records
  for (LayerDef& l : bare.layers) {
    l.attrs.Erase(kTacticLabelAttr);
    l.attrs.Erase(kTacticBlobAttr);
  }
  auto load = [](const NetworkDef& net, int threads) {
    CudaEngineOptions options = Fp16();
    options.select_tactics = false;  // as CreateFromPlan
    options.load_threads = threads;
    return CudaEngine::Create(net, options);
  };
  auto serial = load(bare, 1);
  ASSERT_TRUE(serial.ok()) << serial.status().ToString();
  EXPECT_EQ((*serial)->load_breakdown().kernel_threads, 1);
  for (int threads : {2, 3, 8}) {
    SCOPED_TRACE(threads);
    auto parallel = load(bare, threads);
    ASSERT_TRUE(parallel.ok()) << parallel.status().ToString();
    EXPECT_EQ((*parallel)->load_breakdown().kernel_threads, threads);
    EXPECT_EQ((*parallel)->WorkspaceBytes(), (*serial)->WorkspaceBytes());
    // The same attributes as the serial run; the candidate those name is the built engine's (a
    // dry run's forced tactic counts only the candidates up to its index, so the count differs).
    auto candidate_of = [](const std::string& label) { return label.substr(label.find('/') + 1); };
    for (size_t l = 0; l < built.layers.size(); ++l) {
      for (const char* attr : {kTacticLabelAttr, kTacticBlobAttr}) {
        const std::string want = (*serial)->network().layers[l].attrs.GetStringOr(attr, "").value();
        EXPECT_EQ((*parallel)->network().layers[l].attrs.GetStringOr(attr, "").value(), want) << attr;
        EXPECT_EQ((*parallel)->device_network().layers[l].attrs.GetStringOr(attr, "").value(), want) << attr;
      }
      const std::string label = (*parallel)->network().layers[l].attrs.GetStringOr(kTacticLabelAttr, "").value();
      EXPECT_FALSE(label.empty());
      EXPECT_EQ(candidate_of(label), candidate_of(built.layers[l].attrs.GetStringOr(kTacticLabelAttr, "").value()));
      EXPECT_EQ((*parallel)->network().layers[l].attrs.GetStringOr(kTacticBlobAttr, "").value(),
                built.layers[l].attrs.GetStringOr(kTacticBlobAttr, "").value());
    }
    // The load's breakdown: each layer's kernel creation (the convolutions' take time, an elided
    // layer's none) and the threads' handles.
    const CudaEngine::LoadBreakdown& breakdown = (*parallel)->load_breakdown();
    ASSERT_EQ(breakdown.layer_kernel_ms.size(), built.layers.size());
    for (size_t l = 0; l < built.layers.size(); ++l) {
      if ((*parallel)->memory_plan().layer_elided[l]) {
        EXPECT_EQ(breakdown.layer_kernel_ms[l], 0.0) << built.layers[l].name;
      } else if (built.layers[l].op == OpType::kConv) {
        EXPECT_GT(breakdown.layer_kernel_ms[l], 0.0) << built.layers[l].name;
      }
    }
    EXPECT_GT(breakdown.handles_ms, 0.0);
    // The first context takes the dry run's handles, the second (alive beside it) creates its
    // own; both run.
    auto first = (*parallel)->CreateContext();
    auto second = (*parallel)->CreateContext();
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    for (CudaExecutionContext* context : {first->get(), second->get(), first->get()}) {
      std::vector<Tensor> got;
      ASSERT_TRUE(RunOnHost(*context, Feeds(), &got).ok());
      ExpectTensorsClose(got[0], CpuOutput(), 1e-2, context == first->get() ? "first context" : "second context");
    }
  }

  // conv_b and conv_c both get weights of the wrong channel count: every run names conv_b, the
  // first of them, although another thread may reach conv_c first, and although with the recorded
  // labels kept the threads take each cuDNN engine's first layer first (conv_c before conv_b when
  // conv_b's engine is conv_a's).
  for (const NetworkDef* from : {static_cast<const NetworkDef*>(&bare), &built}) {
    NetworkDef broken = *from;
    for (const char* layer : {"conv_b", "conv_c"}) {
      for (LayerDef& l : broken.layers) {
        if (l.name != layer) continue;
        TensorDef& w = broken.tensors[static_cast<size_t>(l.inputs[1])];
        w.shape = {w.shape[0], 7, w.shape[2], w.shape[3]};
        w.value = RandomTensor(DataType::kFloat32, w.shape, 11);
      }
    }
    for (int threads : {1, 2, 8, 8, 8}) {
      SCOPED_TRACE(from == &bare ? "without labels" : "with the recorded labels");
      auto failed = load(broken, threads);
      ASSERT_FALSE(failed.ok()) << threads << " threads";
      EXPECT_NE(failed.status().message().find("conv_b"), std::string::npos) << failed.status().ToString();
      EXPECT_EQ(failed.status().message().find("conv_c"), std::string::npos) << failed.status().ToString();
    }
  }
}

}  // namespace
}  // namespace testing
}  // namespace edgert
