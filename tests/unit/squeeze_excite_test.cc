// EdgertSqueezeExcite: the CPU reference against a naive double-precision formula (both layouts,
// with and without the inner activation, Sigmoid and HardSigmoid gates), its errors, and the
// builder's SE pass: EfficientNet- and MobileNetV3-style blocks written in plain ONNX become one
// layer whose network computes what the unoptimized network computes; the pass alone on an IR
// graph with a standalone gate node and an opset-18 ReduceMean; a block whose pooled tensor has a
// second reader is left alone; an FP16 build with layout nhwc runs the layer channels-last. The
// pass is optional (off unless BuildOptions::enabled_passes names "se-fusion"): the builds here
// enable it, and DisabledByDefault checks the default and the pass-name options.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cpu_compare_util.h"
#include "edgert/builder.h"
#include "edgert/calibration.h"
#include "edgert/cpu_engine.h"
#include "edgert/plan_cache.h"
#include "ir/infer.h"
#include "ir_test_util.h"
#include "onnx_test_util.h"
#include "op_test_util.h"
#include "passes/pass_util.h"
#include "passes/passes.h"
#include "se_models.h"

namespace edgert {
namespace {

using testing::ExpectError;
using testing::OpArg;
using testing::RunSingleOp;
using testing_util::AddInput;
using testing_util::AddOutput;
using testing_util::ExpectCpuNetworksAgree;
using testing_util::NormalValues;
using testing_util::SaveModel;
using testing_util::SeAttrs;
using testing_util::SeCase;
using testing_util::SeModel;
using testing_util::TempDir;

double Act(const std::string& kind, double x, double alpha, double beta) {
  if (kind.empty()) return x;
  if (kind == "Relu") return x > 0 ? x : 0;
  if (kind == "SiLU") return x / (1 + std::exp(-x));
  if (kind == "Sigmoid") return 1 / (1 + std::exp(-x));
  if (kind == "HardSigmoid") return std::min(1.0, std::max(0.0, alpha * x + beta));
  ADD_FAILURE() << "no reference for " << kind;
  return 0;
}

// Y in NCHW order from X in NCHW order, straight from the contract, in double.
std::vector<float> Naive(const SeCase& k, const std::vector<float>& x, const std::vector<float>& w1,
                         const std::vector<float>& b1, const std::vector<float>& w2, const std::vector<float>& b2) {
  const int64_t hw = k.h * k.w;
  std::vector<float> y(x.size());
  for (int64_t n = 0; n < k.n; ++n) {
    std::vector<double> s(static_cast<size_t>(k.c)), z(static_cast<size_t>(k.cr));
    for (int64_t c = 0; c < k.c; ++c) {
      double sum = 0;
      for (int64_t i = 0; i < hw; ++i) sum += x[static_cast<size_t>((n * k.c + c) * hw + i)];
      s[static_cast<size_t>(c)] = sum / static_cast<double>(hw);
    }
    for (int64_t r = 0; r < k.cr; ++r) {
      double acc = b1[static_cast<size_t>(r)];
      for (int64_t c = 0; c < k.c; ++c) acc += w1[static_cast<size_t>(r * k.c + c)] * s[static_cast<size_t>(c)];
      z[static_cast<size_t>(r)] = Act(k.act, acc, 0, 0);
    }
    for (int64_t c = 0; c < k.c; ++c) {
      double acc = b2[static_cast<size_t>(c)];
      for (int64_t r = 0; r < k.cr; ++r) acc += w2[static_cast<size_t>(c * k.cr + r)] * z[static_cast<size_t>(r)];
      const double g = Act(k.gate, acc, k.gate_alpha, k.gate_beta);
      for (int64_t i = 0; i < hw; ++i) {
        const size_t at = static_cast<size_t>((n * k.c + c) * hw + i);
        y[at] = static_cast<float>(x[at] * g);
      }
    }
  }
  return y;
}

// [N, C, H, W] -> [N, H, W, C] (to_nhwc) or back.
std::vector<float> Permute(const std::vector<float>& v, int64_t n, int64_t c, int64_t hw, bool to_nhwc) {
  std::vector<float> out(v.size());
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t i = 0; i < hw; ++i) {
        const size_t nchw = static_cast<size_t>((b * c + ch) * hw + i),
                     nhwc = static_cast<size_t>((b * hw + i) * c + ch);
        if (to_nhwc) {
          out[nhwc] = v[nchw];
        } else {
          out[nchw] = v[nhwc];
        }
      }
    }
  }
  return out;
}

TEST(SqueezeExciteOp, CpuMatchesTheNaiveFormula) {
  std::mt19937 rng(7);
  for (bool channels_last : {false, true}) {
    for (const std::string act : {"", "Relu", "SiLU"}) {
      for (const std::string gate : {"Sigmoid", "HardSigmoid"}) {
        SeCase k;
        k.channels_last = channels_last;
        k.act = act;
        k.gate = gate;
        k.gate_alpha = 0.25f;
        k.gate_beta = 0.4f;
        SCOPED_TRACE("channels_last " + std::to_string(channels_last) + ", act '" + act + "', gate " + gate);
        const int64_t hw = k.h * k.w;
        const std::vector<float> x = NormalValues(rng, static_cast<size_t>(k.n * k.c * hw));
        const std::vector<float> w1 = NormalValues(rng, static_cast<size_t>(k.cr * k.c));
        const std::vector<float> b1 = NormalValues(rng, static_cast<size_t>(k.cr), 0.5f);
        const std::vector<float> w2 = NormalValues(rng, static_cast<size_t>(k.c * k.cr));
        const std::vector<float> b2 = NormalValues(rng, static_cast<size_t>(k.c), 0.5f);
        const std::vector<float> want = Naive(k, x, w1, b1, w2, b2);
        const Shape xs = channels_last ? Shape{k.n, k.h, k.w, k.c} : Shape{k.n, k.c, k.h, k.w};
        const std::vector<float> xin = channels_last ? Permute(x, k.n, k.c, hw, true) : x;
        StatusOr<std::vector<Tensor>> out = RunSingleOp(OpType::kSqueezeExcite, SeAttrs(k),
                                                        {{Tensor::FromVector<float>(xin, xs), false},
                                                         {Tensor::FromVector<float>(w1, {k.cr, k.c}), true},
                                                         {Tensor::FromVector<float>(b1, {k.cr}), true},
                                                         {Tensor::FromVector<float>(w2, {k.c, k.cr}), true},
                                                         {Tensor::FromVector<float>(b2, {k.c}), true}},
                                                        1, 13, "se");
        ASSERT_TRUE(out.ok()) << out.status().ToString();
        ASSERT_EQ((*out)[0].shape(), xs);
        std::vector<float> got((*out)[0].data<float>(), (*out)[0].data<float>() + (*out)[0].num_elements());
        if (channels_last) got = Permute(got, k.n, k.c, hw, false);
        for (size_t i = 0; i < want.size(); ++i) {
          EXPECT_NEAR(got[i], want[i], 1e-5f * std::max(1.0f, std::fabs(want[i]))) << "element " << i;
        }
        // The gate is not trivially 1: some outputs differ from the inputs by more than rounding.
        double moved = 0;
        for (size_t i = 0; i < want.size(); ++i) moved += std::fabs(want[i] - x[i]);
        EXPECT_GT(moved, 1.0);
      }
    }
  }
}

TEST(SqueezeExciteOp, ErrorsNameTheInputOrAttribute) {
  SeCase k;
  auto run = [&](const Attributes& attrs, const Shape& w1, const Shape& b1, const Shape& w2, const Shape& b2) {
    auto zeros = [](const Shape& s) {
      return Tensor::FromVector<float>(std::vector<float>(static_cast<size_t>(NumElements(s)), 0.5f), s);
    };
    return RunSingleOp(OpType::kSqueezeExcite, attrs,
                       {{zeros({k.n, k.c, k.h, k.w}), false},
                        {zeros(w1), true},
                        {zeros(b1), true},
                        {zeros(w2), true},
                        {zeros(b2), true}},
                       1, 13, "se7")
        .status();
  };
  const Attributes ok = SeAttrs(k);
  EXPECT_TRUE(run(ok, {3, 6}, {3}, {6, 3}, {6}).ok());
  ExpectError(run(ok, {3, 5}, {3}, {6, 3}, {6}), "se7", "input W1 has shape");
  ExpectError(run(ok, {3, 6, 1, 1}, {3}, {6, 3}, {6}), "se7", "input W1");
  ExpectError(run(ok, {3, 6}, {4}, {6, 3}, {6}), "se7", "input B1 has shape");
  ExpectError(run(ok, {3, 6}, {3}, {3, 6}, {6}), "se7", "input W2 has shape");
  ExpectError(run(ok, {3, 6}, {3}, {6, 3}, {1}), "se7", "input B2 has shape");
  Attributes no_gate;
  no_gate.Set("channels_last", int64_t{0});
  ExpectError(run(no_gate, {3, 6}, {3}, {6, 3}, {6}), "se7", "'gate'");
  Attributes bad_gate = ok;
  bad_gate.Set("gate", std::string("Softsign"));
  ExpectError(run(bad_gate, {3, 6}, {3}, {6, 3}, {6}), "se7", "attribute 'gate' is 'Softsign'");
  Attributes bad_act = ok;
  bad_act.Set("activation", std::string("Cube"));
  ExpectError(run(bad_act, {3, 6}, {3}, {6, 3}, {6}), "se7", "attribute 'activation' is 'Cube'");
  Attributes bad_layout = ok;
  bad_layout.Set("channels_last", int64_t{2});
  ExpectError(run(bad_layout, {3, 6}, {3}, {6, 3}, {6}), "se7", "attribute 'channels_last' is 2");
  Attributes stray;
  stray.Set("gate", std::string("Sigmoid"));
  stray.Set("activation_alpha", 0.5f);
  ExpectError(run(stray, {3, 6}, {3}, {6, 3}, {6}), "se7", "without attribute 'activation'");
}

// ---------------------------------------------------------------------------------------------
// The pass, on ONNX models made here.

NetworkDef Build(SeModel& m, bool optimize, Precision precision = Precision::kFp32,
                 BuildOptions::Layout layout = BuildOptions::Layout::kNchw) {
  TempDir dir;
  const std::string path = SaveModel(m.proto(), dir.File("model.onnx"));
  BuildOptions options;
  options.optimize = optimize;
  options.precision = precision;
  options.layout = layout;
  options.enabled_passes = {"se-fusion"};
  StatusOr<NetworkDef> net = BuildNetwork(path, options);
  EXPECT_TRUE(net.ok()) << net.status().ToString();
  return net.ok() ? std::move(*net) : NetworkDef();
}

std::vector<const LayerDef*> SeLayers(const NetworkDef& net) {
  std::vector<const LayerDef*> out;
  for (const LayerDef& l : net.layers) {
    if (l.op == OpType::kSqueezeExcite) out.push_back(&l);
  }
  return out;
}

std::string Str(const LayerDef& l, const std::string& name) {
  StatusOr<std::string> v = l.attrs.GetString(name);
  return v.ok() ? *v : "<none>";
}

int64_t Int(const LayerDef& l, const std::string& name) {
  StatusOr<int64_t> v = l.attrs.GetInt(name);
  return v.ok() ? *v : -1;
}

// Both networks on the same fresh random inputs: relative L2 of the outputs <= 1e-5, none all zero.
void ExpectSameResults(const NetworkDef& ref_net, const NetworkDef& net) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("input seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::vector<Tensor> inputs;
  for (int32_t t : ref_net.inputs) {
    const Shape& shape = ref_net.tensors[static_cast<size_t>(t)].shape;
    inputs.push_back(Tensor::FromVector<float>(NormalValues(rng, static_cast<size_t>(NumElements(shape))), shape));
  }
  ExpectCpuNetworksAgree(ref_net, net, inputs);
}

// x [2, 3, 9, 9] -> Conv 3x3 (16 channels) -> EfficientNet's SE block (Cr 4) -> Conv 1x1 (8
// channels), which writes the graph output y [2, 8, 9, 9].
void EfficientNetBlockModel(SeModel& m) {
  AddInput(m.proto(), "x", onnx::TensorProto::FLOAT, {2, 3, 9, 9});
  const std::string f = m.Conv("x", 3, 16, 3);
  m.Conv(m.EfficientNetSe(f, 16, 4), 16, 8, 1);
  m.NameLastOutput("y");
  AddOutput(m.proto(), "y", onnx::TensorProto::FLOAT, {2, 8, 9, 9});
}

TEST(SqueezeExcitePass, EfficientNetBlockBecomesOneLayer) {
  SeModel m;
  EfficientNetBlockModel(m);
  const NetworkDef ref = Build(m, false), net = Build(m, true);
  const std::vector<const LayerDef*> se = SeLayers(net);
  ASSERT_EQ(se.size(), 1u);
  std::vector<std::string> ops;
  for (const LayerDef& l : net.layers) ops.emplace_back(OpTypeName(l.op));
  EXPECT_EQ(ops, (std::vector<std::string>{"Conv", "EdgertSqueezeExcite", "Conv"}));
  EXPECT_EQ(Str(*se[0], "activation"), "SiLU");
  EXPECT_EQ(Str(*se[0], "gate"), "Sigmoid");
  EXPECT_EQ(Int(*se[0], "channels_last"), 0);
  EXPECT_EQ(net.tensors[static_cast<size_t>(se[0]->inputs[1])].shape, (Shape{4, 16}));
  EXPECT_EQ(net.tensors[static_cast<size_t>(se[0]->inputs[3])].shape, (Shape{16, 4}));
  // The excitation Conv had no bias: B2 is zeros.
  const TensorDef& b2 = net.tensors[static_cast<size_t>(se[0]->inputs[4])];
  ASSERT_TRUE(b2.is_constant());
  for (int64_t c = 0; c < 16; ++c) EXPECT_EQ(b2.value.data<float>()[c], 0.0f);
  ExpectSameResults(ref, net);
}

// The pass is optional: a default build leaves the block as it was (ReduceMean, two Convs, Mul)
// with the same results; enabled_passes turns it on, disabled_passes wins over it; an unknown pass
// name is refused, naming it and listing the passes; the plan-cache key tells the builds apart.
TEST(SqueezeExcitePass, DisabledByDefault) {
  SeModel m;
  EfficientNetBlockModel(m);
  TempDir dir;
  const std::string path = SaveModel(m.proto(), dir.File("model.onnx"));
  BuildOptions plain;
  StatusOr<NetworkDef> kept = BuildNetwork(path, plain);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_TRUE(SeLayers(*kept).empty());
  std::vector<std::string> ops;
  for (const LayerDef& l : kept->layers) ops.emplace_back(OpTypeName(l.op));
  EXPECT_EQ(ops, (std::vector<std::string>{"Conv", "ReduceMean", "Conv", "Conv", "Mul", "Conv"}));
  ExpectSameResults(Build(m, false), *kept);

  BuildOptions enabled;
  enabled.enabled_passes = {"se-fusion"};
  StatusOr<NetworkDef> fused = BuildNetwork(path, enabled);
  ASSERT_TRUE(fused.ok()) << fused.status().ToString();
  EXPECT_EQ(SeLayers(*fused).size(), 1u);
  BuildOptions both = enabled;
  both.disabled_passes = {"se-fusion"};
  StatusOr<NetworkDef> off = BuildNetwork(path, both);
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_TRUE(SeLayers(*off).empty());

  for (bool disable : {false, true}) {
    BuildOptions bad_options;
    (disable ? bad_options.disabled_passes : bad_options.enabled_passes) = {"se-fuson"};
    StatusOr<NetworkDef> bad = BuildNetwork(path, bad_options);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("'se-fuson'"), std::string::npos) << bad.status().message();
    EXPECT_NE(bad.status().message().find("se-fusion"), std::string::npos) << bad.status().message();
  }

  EXPECT_NE(BuildOptionsHash(plain), BuildOptionsHash(enabled));
  EXPECT_NE(BuildOptionsHash(enabled), BuildOptionsHash(both));
  EXPECT_NE(BuildOptionsText(enabled).find("enabled-passes se-fusion"), std::string::npos);
  EXPECT_NE(BuildOptionsText(both).find("disabled-passes se-fusion"), std::string::npos);
  EXPECT_EQ(BuildOptionsText(plain).find("-passes"), std::string::npos);
}

TEST(SqueezeExcitePass, MobileNetV3BlockBecomesOneLayer) {
  SeModel m;
  AddInput(m.proto(), "x", onnx::TensorProto::FLOAT, {1, 24, 7, 6});
  const std::string y = m.MobileNetSe("x", 24, 8);
  m.Op("Relu", {y}, "y");
  AddOutput(m.proto(), "y", onnx::TensorProto::FLOAT, {1, 24, 7, 6});
  const NetworkDef ref = Build(m, false), net = Build(m, true);
  const std::vector<const LayerDef*> se = SeLayers(net);
  ASSERT_EQ(se.size(), 1u);
  EXPECT_EQ(net.layers.size(), 2u);
  EXPECT_EQ(Str(*se[0], "activation"), "Relu");
  EXPECT_EQ(Str(*se[0], "gate"), "HardSigmoid");
  StatusOr<float> alpha = se[0]->attrs.GetFloat("gate_alpha");
  ASSERT_TRUE(alpha.ok());
  EXPECT_FLOAT_EQ(*alpha, 1.0f / 6.0f);
  EXPECT_EQ(se[0]->inputs[0], net.inputs[0]);  // X is the graph input: X may have other readers
  ExpectSameResults(ref, net);
}

TEST(SqueezeExcitePass, PooledTensorWithASecondReaderIsLeftAlone) {
  SeModel m;
  AddInput(m.proto(), "x", onnx::TensorProto::FLOAT, {1, 8, 5, 5});
  std::string pooled;
  m.Op("Relu", {m.EfficientNetSe("x", 8, 2, &pooled)}, "y");
  m.Op("Neg", {pooled}, "p");
  AddOutput(m.proto(), "y", onnx::TensorProto::FLOAT, {1, 8, 5, 5});
  AddOutput(m.proto(), "p", onnx::TensorProto::FLOAT, {1, 8, 1, 1});
  const NetworkDef ref = Build(m, false), net = Build(m, true);
  EXPECT_TRUE(SeLayers(net).empty());
  ExpectSameResults(ref, net);
}

TEST(SqueezeExcitePass, Fp16NhwcBuildRunsTheLayerChannelsLast) {
  SeModel m;
  AddInput(m.proto(), "x", onnx::TensorProto::FLOAT, {2, 3, 8, 8});
  const std::string f = m.Op("Relu", {m.Conv("x", 3, 12, 3)});
  const std::string e = m.EfficientNetSe(f, 12, 3);
  m.Conv(m.MobileNetSe(m.Conv(e, 12, 12, 3), 12, 4), 12, 6, 1);
  m.NameLastOutput("y");
  AddOutput(m.proto(), "y", onnx::TensorProto::FLOAT, {2, 6, 8, 8});
  const NetworkDef ref = Build(m, false);
  const NetworkDef net = Build(m, true, Precision::kFp16, BuildOptions::Layout::kNhwc);
  const std::vector<const LayerDef*> se = SeLayers(net);
  ASSERT_EQ(se.size(), 2u);
  for (const LayerDef* l : se) {
    EXPECT_EQ(Int(*l, "channels_last"), 1) << l->name;
    const Shape& xs = net.tensors[static_cast<size_t>(l->inputs[0])].shape;
    EXPECT_EQ(xs[0], 2);
    EXPECT_EQ(xs[3], 12) << l->name << ": X is [N, H, W, C]";
    EXPECT_EQ(net.tensors[static_cast<size_t>(l->outputs[0])].shape, xs);
  }
  // Between the first and the last convolution nothing is transposed.
  int transposes = 0;
  for (const LayerDef& l : net.layers) transposes += l.op == OpType::kTranspose ? 1 : 0;
  EXPECT_EQ(transposes, 2);
  ExpectSameResults(ref, net);
}

// The pass by itself: the gate as a standalone HardSigmoid node after a Conv without activation
// (what vertical fusion leaves when it does not run), the squeeze without activation, ReduceMean
// of opset 18 with axes {3, -2} as a constant input.
TEST(SqueezeExcitePass, StandaloneGateNodeAndOpset18ReduceMean) {
  std::mt19937 rng(5);
  auto random = [&](const Shape& shape, float scale) {
    return Tensor::FromVector<float>(NormalValues(rng, static_cast<size_t>(NumElements(shape)), scale), shape);
  };
  Graph g;
  testing::AddInput(g, "x", {2, 10, 4, 3});
  testing::AddConst(g, "axes", Tensor::FromVector<int64_t>({3, -2}, {2}));
  testing::AddNode(g, "ReduceMean", "mean", {"x", "axes"}, {"m"}).opset = 18;
  testing::AddConst(g, "w1", random({3, 10, 1, 1}, 0.5f));
  testing::AddConst(g, "b1", random({3}, 0.3f));
  testing::AddNode(g, "Conv", "squeeze", {"m", "w1", "b1"}, {"h"});
  testing::AddConst(g, "w2", random({10, 3, 1, 1}, 1.0f));
  testing::AddNode(g, "Conv", "excite", {"h", "w2"}, {"e"});
  Node& hs = testing::AddNode(g, "HardSigmoid", "gate", {"e"}, {"s"});
  hs.attrs.Set("alpha", 0.3f);
  hs.attrs.Set("beta", 0.6f);
  testing::AddNode(g, "Mul", "scale", {"x", "s"}, {"y"});
  g.outputs.push_back(g.Find("y"));
  ASSERT_TRUE(InferGraph(g, {}).ok());
  Graph opt = g;
  StatusOr<int> n = FuseSqueezeExcite(opt);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1);
  Status v = VerifyGraph(opt, "se-fusion");
  ASSERT_TRUE(v.ok()) << v.ToString();
  ASSERT_EQ(CountLiveNodes(opt), 1);
  const Node& se = opt.nodes[0];
  EXPECT_EQ(se.op, OpType::kSqueezeExcite);
  EXPECT_EQ(se.name, "scale");
  EXPECT_EQ(se.outputs, (std::vector<int>{g.Find("y")}));
  EXPECT_FALSE(se.attrs.Has("activation"));
  EXPECT_EQ(se.attrs.GetString("gate").ok() ? *se.attrs.GetString("gate") : "", "HardSigmoid");
  EXPECT_FLOAT_EQ(se.attrs.GetFloat("gate_alpha").ok() ? *se.attrs.GetFloat("gate_alpha") : 0.0f, 0.3f);
  EXPECT_FLOAT_EQ(se.attrs.GetFloat("gate_beta").ok() ? *se.attrs.GetFloat("gate_beta") : 0.0f, 0.6f);
  StatusOr<NetworkDef> ref = LowerGraph(g), net = LowerGraph(opt);
  ASSERT_TRUE(ref.ok() && net.ok());
  ExpectSameResults(*ref, *net);
  // The same graph with the gate's output also a graph output: nothing changes.
  Graph observed = g;
  observed.outputs.push_back(observed.Find("s"));
  StatusOr<int> none = FuseSqueezeExcite(observed);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
}

}  // namespace
}  // namespace edgert
