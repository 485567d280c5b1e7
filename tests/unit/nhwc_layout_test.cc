// The layout pass (LowerNhwc, BuildOptions::layout) on the CPU. Each model is built from ONNX bytes
// made here, once with layout nchw and once with nhwc; the tests assert the lowered op sequence
// (where the Transposes go, how many), the rewritten constants and attributes, and that the
// channels-last network computes the NCHW network's outputs (relative L2 <= 1e-5) on fresh random
// inputs. The whole-model test builds ResNet- and YOLO-style models (tests/models/make_models.py,
// ported) at FP16 and FP32: on the CPU an FP16 plan runs in float32, so only the layout differs.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <random>

#include "cpu_compare_util.h"
#include "edgert/builder.h"
#include "edgert/calibration.h"
#include "edgert/cpu_engine.h"
#include "edgert/plan_cache.h"
#include "edgert/stream_schedule.h"
#include "onnx_test_util.h"

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT
using Layout = BuildOptions::Layout;

void SetInts(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void SetInt(onnx::NodeProto* n, const std::string& name, int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void SetString(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

// An ONNX model under construction: weights random from a fixed seed, node outputs named after
// their node ("conv3" writes "conv3_out").
class Model {
 public:
  explicit Model(int opset = 13, uint32_t seed = 1) : m_(NewModel(opset)), rng_(seed) {}

  onnx::ModelProto& proto() { return m_; }
  void Input(const std::string& name, const std::vector<int64_t>& dims) {
    AddInput(m_, name, onnx::TensorProto::FLOAT, dims);
  }
  void Output(const std::string& name, const std::vector<int64_t>& dims) {
    AddOutput(m_, name, onnx::TensorProto::FLOAT, dims);
  }

  std::string Floats(const std::string& base, const std::vector<int64_t>& dims, std::vector<float> values = {}) {
    if (values.empty()) {
      int64_t n = 1, fan_in = 1;
      for (size_t i = 0; i < dims.size(); ++i) {
        n *= dims[i];
        if (i > 0) fan_in *= dims[i];
      }
      std::normal_distribution<float> d(0.f, std::sqrt(2.f / static_cast<float>(fan_in)));
      values.resize(static_cast<size_t>(n));
      for (float& v : values) v = d(rng_);
    }
    const std::string name = Unique(base);
    AddFloatInitializer(m_, name, dims, values);
    return name;
  }

  std::string Int64s(const std::string& base, const std::vector<int64_t>& values) {
    const std::string name = Unique(base);
    onnx::TensorProto* t = m_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    t->set_raw_data(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t));
    return name;
  }

  // A node with `n_out` outputs ("<name>_out", or "<name>_out<k>" for several); `out` renames the
  // single output (a graph output's name).
  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& inputs, const std::string& out = "",
                        int n_out = 1) {
    const std::string name = Unique(op);
    std::vector<std::string> outputs;
    for (int k = 0; k < n_out; ++k) outputs.push_back(name + "_out" + (n_out > 1 ? std::to_string(k) : ""));
    if (!out.empty()) outputs[0] = out;
    return AddNode(m_, op, inputs, outputs, name);
  }
  std::string Op(const std::string& op, const std::vector<std::string>& inputs, const std::string& out = "") {
    return Node(op, inputs, out)->output(0);
  }

  std::string Conv(const std::string& x, int64_t c_in, int64_t c_out, int64_t k, int64_t stride = 1, int64_t pad = -1,
                   int64_t group = 1, bool bias = true, const std::string& out = "") {
    std::vector<std::string> inputs = {x, Floats("w", {c_out, c_in / group, k, k})};
    if (bias) inputs.push_back(Floats("b", {c_out}, RandomValues(static_cast<size_t>(c_out), 0.1f)));
    onnx::NodeProto* n = Node("Conv", inputs, out);
    SetInts(n, "kernel_shape", {k, k});
    SetInts(n, "strides", {stride, stride});
    const int64_t p = pad < 0 ? k / 2 : pad;
    SetInts(n, "pads", {p, p, p, p});
    SetInt(n, "group", group);
    return n->output(0);
  }
  std::string ConvRelu(const std::string& x, int64_t c_in, int64_t c_out, int64_t k, int64_t stride = 1) {
    return Op("Relu", {Conv(x, c_in, c_out, k, stride)});
  }
  std::string Silu(const std::string& x) { return Op("Mul", {x, Op("Sigmoid", {x})}); }

  std::vector<float> RandomValues(size_t n, float scale) {
    std::normal_distribution<float> d(0.f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng_);
    return v;
  }

 private:
  std::string Unique(const std::string& base) { return base + std::to_string(counter_[base]++); }

  onnx::ModelProto m_;
  std::mt19937 rng_;
  std::map<std::string, int> counter_;
};

struct Built {
  NetworkDef net;
  BuildReport report;
};

Built Build(Model& model, Layout layout, Precision precision = Precision::kFp32, BuildOptions options = {}) {
  TempDir dir;
  const std::string path = SaveModel(model.proto(), dir.File("model.onnx"));
  options.layout = layout;
  options.precision = precision;
  Built b;
  StatusOr<NetworkDef> net = BuildNetwork(path, options, &b.report);
  EXPECT_TRUE(net.ok()) << net.status().ToString();
  if (net.ok()) b.net = std::move(*net);
  return b;
}

std::vector<std::string> Ops(const NetworkDef& net) {
  std::vector<std::string> ops;
  for (const LayerDef& l : net.layers) ops.emplace_back(OpTypeName(l.op));
  return ops;
}

const TensorDef& T(const NetworkDef& net, int32_t t) { return net.tensors[static_cast<size_t>(t)]; }

std::vector<const LayerDef*> LayersOf(const NetworkDef& net, OpType op) {
  std::vector<const LayerDef*> out;
  for (const LayerDef& l : net.layers) {
    if (l.op == op) out.push_back(&l);
  }
  return out;
}

std::vector<int64_t> Ints(const LayerDef& l, const std::string& name) {
  StatusOr<std::vector<int64_t>> v = l.attrs.GetInts(name);
  EXPECT_TRUE(v.ok()) << l.name << ": " << name;
  return v.ok() ? *v : std::vector<int64_t>{};
}

// Float32 inputs for every graph input of `net`, uniform in [-1, 1) from `seed`; dim 0 becomes
// `batch` when it is positive.
std::vector<Tensor> RandomInputs(const NetworkDef& net, uint32_t seed, int64_t batch = 0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<Tensor> inputs;
  for (int32_t t : net.inputs) {
    Shape shape = T(net, t).shape;
    if (batch > 0) shape[0] = batch;
    std::vector<float> v(static_cast<size_t>(NumElements(shape)));
    for (float& x : v) x = u(rng);
    inputs.push_back(Tensor::FromVector<float>(v, shape));
  }
  return inputs;
}

// Same inputs and outputs (names, shapes), the same results on fresh random inputs (at `batch`
// when given: both networks have a batch profile).
void ExpectSameResults(const NetworkDef& nchw, const NetworkDef& nhwc, int64_t batch = 0) {
  ASSERT_EQ(nchw.inputs.size(), nhwc.inputs.size());
  ASSERT_EQ(nchw.outputs.size(), nhwc.outputs.size());
  for (size_t i = 0; i < nchw.inputs.size(); ++i) {
    EXPECT_EQ(T(nchw, nchw.inputs[i]).name, T(nhwc, nhwc.inputs[i]).name);
    EXPECT_EQ(T(nchw, nchw.inputs[i]).shape, T(nhwc, nhwc.inputs[i]).shape);
  }
  for (size_t i = 0; i < nchw.outputs.size(); ++i) {
    EXPECT_EQ(T(nchw, nchw.outputs[i]).name, T(nhwc, nhwc.outputs[i]).name);
    EXPECT_EQ(T(nchw, nchw.outputs[i]).shape, T(nhwc, nhwc.outputs[i]).shape);
  }
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("input seed " + std::to_string(seed) + ", batch " + std::to_string(batch));
  ExpectCpuNetworksAgree(nchw, nhwc, RandomInputs(nchw, seed, batch));
}

// The Transpose layers and their perms, in order.
std::vector<std::vector<int64_t>> TransposePerms(const NetworkDef& net) {
  std::vector<std::vector<int64_t>> perms;
  for (const LayerDef* l : LayersOf(net, OpType::kTranspose)) perms.push_back(Ints(*l, "perm"));
  return perms;
}

const std::vector<int64_t> kToNhwc = {0, 2, 3, 1}, kToNchw = {0, 3, 1, 2};

std::string Str(const LayerDef& l, const std::string& name) {
  StatusOr<std::string> v = l.attrs.GetStringOr(name, "");
  return v.ok() ? *v : std::string("?");
}

// `krsc` is `kcrs` [K, C, R, S] permuted to [K, R, S, C].
void ExpectKrsc(const TensorDef& kcrs, const TensorDef& krsc) {
  ASSERT_TRUE(kcrs.is_constant() && krsc.is_constant());
  ASSERT_EQ(kcrs.shape.size(), 4u);
  const int64_t k = kcrs.shape[0], c = kcrs.shape[1], r = kcrs.shape[2], s = kcrs.shape[3];
  ASSERT_EQ(krsc.shape, (Shape{k, r, s, c}));
  for (int64_t o = 0; o < k; ++o) {
    for (int64_t ci = 0; ci < c; ++ci) {
      for (int64_t ri = 0; ri < r; ++ri) {
        for (int64_t si = 0; si < s; ++si) {
          ASSERT_EQ(krsc.value.data<float>()[((o * r + ri) * s + si) * c + ci],
                    kcrs.value.data<float>()[((o * c + ci) * r + ri) * s + si])
              << "k " << o << " c " << ci << " r " << ri << " s " << si;
        }
      }
    }
  }
}

// The KCRS weights of the NCHW network's convolutions are not in the NHWC network: only the KRSC
// copies, and no more constant bytes than in the NCHW network (beyond the conversions' shapes).
void ExpectNoKcrsWeights(const NetworkDef& nchw, const NetworkDef& nhwc) {
  std::set<std::string> names;
  for (const TensorDef& t : nhwc.tensors) names.insert(t.name);
  size_t nchw_bytes = 0, nhwc_bytes = 0;
  for (const TensorDef& t : nchw.tensors) nchw_bytes += t.is_constant() ? t.value.bytes() : 0;
  for (const TensorDef& t : nhwc.tensors) nhwc_bytes += t.is_constant() ? t.value.bytes() : 0;
  for (const LayerDef& l : nchw.layers) {
    if (l.op != OpType::kConv) continue;
    const std::string& w = nchw.tensors[static_cast<size_t>(l.inputs[1])].name;
    EXPECT_EQ(names.count(w), 0u) << w;
    EXPECT_EQ(names.count(w + "_krsc"), 1u) << w;
  }
  EXPECT_LE(nhwc_bytes, nchw_bytes + 64);
}

TEST(NhwcLayout, AutoIsChannelsLastForFp16Only) {
  BuildOptions o;
  EXPECT_EQ(ResolveLayout(o), Layout::kNchw);
  o.precision = Precision::kFp16;
  EXPECT_EQ(ResolveLayout(o), Layout::kNhwc);
  o.layout = Layout::kNchw;
  EXPECT_EQ(ResolveLayout(o), Layout::kNchw);
  o.precision = Precision::kFp32;
  o.layout = Layout::kNhwc;
  EXPECT_EQ(ResolveLayout(o), Layout::kNhwc);
  for (Layout l : {Layout::kAuto, Layout::kNchw, Layout::kNhwc}) {
    StatusOr<Layout> parsed = ParseLayout(LayoutName(l));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, l);
  }
  StatusOr<Layout> bad = ParseLayout("NHWC");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'NHWC'"), std::string::npos) << bad.status().message();
}

TEST(NhwcLayout, PlanCacheKeyHasTheResolvedLayout) {
  BuildOptions fp16;
  fp16.precision = Precision::kFp16;
  BuildOptions fp16_nhwc = fp16, fp16_nchw = fp16;
  fp16_nhwc.layout = Layout::kNhwc;
  fp16_nchw.layout = Layout::kNchw;
  EXPECT_NE(BuildOptionsText(fp16).find("layout nhwc\n"), std::string::npos) << BuildOptionsText(fp16);
  EXPECT_EQ(BuildOptionsHash(fp16), BuildOptionsHash(fp16_nhwc));  // auto resolves to the same build
  EXPECT_NE(BuildOptionsHash(fp16), BuildOptionsHash(fp16_nchw));
  EXPECT_NE(BuildOptionsText(BuildOptions()).find("layout nchw\n"), std::string::npos);
  EXPECT_EQ(std::string(kBuilderPassesVersion), "passes-7");
}

// x [1, 8, 10, 10] -> Conv 3x3 (8) + bias -> Relu -> Conv 3x3/2 (4) + bias -> Relu -> y.
TEST(NhwcLayout, ConvChainWithBiasAndRelu) {
  Model m;
  m.Input("x", {1, 8, 10, 10});
  m.Op("Relu", {m.Conv(m.ConvRelu("x", 8, 8, 3), 8, 4, 3, 2)}, "y");
  m.Output("y", {1, 4, 5, 5});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  ASSERT_EQ(Ops(nchw.net), (std::vector<std::string>{"Conv", "Conv"}));
  ASSERT_EQ(Ops(nhwc.net), (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "EdgertConvNhwc", "Transpose"}));
  EXPECT_EQ(TransposePerms(nhwc.net), (std::vector<std::vector<int64_t>>{kToNhwc, kToNchw}));
  EXPECT_EQ(nhwc.report.layout, Layout::kNhwc);
  EXPECT_EQ(nhwc.report.nhwc.convolutions, 2);
  EXPECT_EQ(nhwc.report.nhwc.transposes, 2);
  EXPECT_EQ(nhwc.report.nhwc.reshapes, 0);
  EXPECT_EQ(nhwc.report.nhwc.followers, 0);
  EXPECT_EQ(nhwc.report.nhwc.nhwc_layers, (std::vector<std::string>{nchw.net.layers[0].name, nchw.net.layers[1].name}));
  // The chain: input transposed, conv 1 feeds conv 2 in NHWC, the output transposed back.
  const NetworkDef& n = nhwc.net;
  EXPECT_EQ(n.layers[0].inputs[0], n.inputs[0]);
  EXPECT_EQ(T(n, n.layers[0].outputs[0]).shape, (Shape{1, 10, 10, 8}));
  EXPECT_EQ(n.layers[1].inputs[0], n.layers[0].outputs[0]);
  EXPECT_EQ(n.layers[2].inputs[0], n.layers[1].outputs[0]);
  EXPECT_EQ(T(n, n.layers[2].outputs[0]).shape, (Shape{1, 5, 5, 4}));
  EXPECT_EQ(n.layers[3].outputs[0], n.outputs[0]);
  for (size_t i = 0; i < 2; ++i) {
    const LayerDef& c = nchw.net.layers[i];
    const LayerDef& q = n.layers[i + 1];
    EXPECT_EQ(q.name, c.name);
    EXPECT_EQ(Str(q, "activation"), "Relu");
    EXPECT_EQ(Ints(q, "strides"), Ints(c, "strides"));
    EXPECT_EQ(Ints(q, "pads"), Ints(c, "pads"));
    ExpectKrsc(T(nchw.net, c.inputs[1]), T(n, q.inputs[1]));
    ASSERT_EQ(q.inputs.size(), 3u);
    EXPECT_EQ(T(n, q.inputs[2]).shape, T(nchw.net, c.inputs[2]).shape);
  }
  ExpectNoKcrsWeights(nchw.net, n);
  ExpectSameResults(nchw.net, n);
}

// x [1, 8, 8, 8] -> a = Relu(Conv(x)) -> b = Relu(Conv(a)) -> y = Relu(Conv(b) + a): the Add is the
// third Conv's fused residual, which reads conv 1's NHWC output directly.
TEST(NhwcLayout, ResidualBlockReadsTheResidualChannelsLast) {
  Model m;
  m.Input("x", {1, 8, 8, 8});
  const std::string a = m.ConvRelu("x", 8, 8, 3);
  const std::string c = m.Conv(m.ConvRelu(a, 8, 8, 3), 8, 8, 3);
  m.Op("Relu", {m.Op("Add", {c, a})}, "y");
  m.Output("y", {1, 8, 8, 8});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  ASSERT_EQ(Ops(nchw.net), (std::vector<std::string>{"Conv", "Conv", "Conv"}));
  ASSERT_EQ(nchw.net.layers[2].inputs.size(), 4u);  // the residual
  ASSERT_EQ(Ops(nhwc.net),
            (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "EdgertConvNhwc", "EdgertConvNhwc", "Transpose"}));
  const NetworkDef& n = nhwc.net;
  ASSERT_EQ(n.layers[3].inputs.size(), 4u);
  EXPECT_EQ(n.layers[3].inputs[3], n.layers[1].outputs[0]);
  EXPECT_EQ(T(n, n.layers[3].inputs[3]).shape, (Shape{1, 8, 8, 8}));
  EXPECT_EQ(nhwc.report.nhwc.transposes, 2);
  ExpectSameResults(nchw.net, n);
}

// Squeeze-and-excitation-like: f = Relu(Conv(x)); s = Sigmoid(Conv(Relu(Conv(GlobalAveragePool(f)))));
// y = Conv(Add(Mul(Mul(x, s), scale [16, 1, 1]), shift [16, 1, 6])). The pool becomes ReduceMean
// over [1, 2] (s is [N, 1, 1, C]: the Mul broadcasts it as before), the per-channel scale becomes
// [1, 1, 1, 16] and the shift (per channel and column) [1, 1, 6, 16], its values permuted.
TEST(NhwcLayout, SqueezeExcitationBroadcastsChannelsLast) {
  Model m;
  m.Input("x", {1, 16, 6, 6});
  const std::string f = m.ConvRelu("x", 16, 16, 3);
  const std::string pooled = m.Op("GlobalAveragePool", {f});
  const std::string s = m.Op("Sigmoid", {m.Conv(m.ConvRelu(pooled, 16, 4, 1), 4, 16, 1)});
  std::vector<float> scale_values = m.RandomValues(16, 1.f);
  const std::string scale = m.Floats("scale", {16, 1, 1}, scale_values);
  std::vector<float> shift_values = m.RandomValues(16 * 6, 1.f);
  const std::string shift = m.Floats("shift", {16, 1, 6}, shift_values);
  // The gate scales x, not the pooled f: no squeeze-excitation block for the SE pass (se_fusion.cc),
  // so its pieces reach the layout pass.
  m.Conv(m.Op("Add", {m.Op("Mul", {m.Op("Mul", {"x", s}), scale}), shift}), 16, 8, 1, 1, 0, 1, true, "y");
  m.Output("y", {1, 8, 6, 6});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  ASSERT_EQ(Ops(nchw.net),
            (std::vector<std::string>{"Conv", "GlobalAveragePool", "Conv", "Conv", "Mul", "Mul", "Add", "Conv"}));
  ASSERT_EQ(Ops(nhwc.net),
            (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "ReduceMean", "EdgertConvNhwc", "EdgertConvNhwc",
                                      "Mul", "Mul", "Add", "EdgertConvNhwc", "Transpose"}));
  const NetworkDef& n = nhwc.net;
  const LayerDef& mean = n.layers[2];
  EXPECT_EQ(Ints(mean, "axes"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(mean.attrs.GetInt("keepdims").ok() ? *mean.attrs.GetInt("keepdims") : -1, 1);
  EXPECT_EQ(mean.opset, 13);
  EXPECT_EQ(T(n, mean.outputs[0]).shape, (Shape{1, 1, 1, 16}));
  EXPECT_EQ(T(n, n.layers[4].outputs[0]).shape, (Shape{1, 1, 1, 16}));  // s, NHWC
  EXPECT_EQ(n.layers[5].inputs, (std::vector<int32_t>{n.layers[0].outputs[0], n.layers[4].outputs[0]}));
  const TensorDef& c = T(n, n.layers[6].inputs[1]);
  ASSERT_TRUE(c.is_constant());
  EXPECT_EQ(c.shape, (Shape{1, 1, 1, 16}));
  for (int64_t k = 0; k < 16; ++k) EXPECT_EQ(c.value.data<float>()[k], scale_values[static_cast<size_t>(k)]);
  const TensorDef& sh = T(n, n.layers[7].inputs[1]);
  ASSERT_TRUE(sh.is_constant());
  ASSERT_EQ(sh.shape, (Shape{1, 1, 6, 16}));
  for (int64_t k = 0; k < 16; ++k) {
    for (int64_t w = 0; w < 6; ++w) {
      EXPECT_EQ(sh.value.data<float>()[w * 16 + k], shift_values[static_cast<size_t>(k * 6 + w)]);
    }
  }
  EXPECT_EQ(nhwc.report.nhwc.reductions, 1);
  EXPECT_EQ(nhwc.report.nhwc.followers, 3);
  EXPECT_EQ(nhwc.report.nhwc.transposes, 2);
  ExpectSameResults(nchw.net, n);
}

// A YOLO-style neck: Split / Concat on channels (one with a negative axis), MaxPool, Resize x2 by
// scales, Slice of channels: all channels-last, with their axes and scales remapped.
TEST(NhwcLayout, YoloNeckConcatSplitResizeSlice) {
  Model m;
  m.Input("x", {1, 8, 8, 8});
  const std::string a = m.ConvRelu("x", 8, 16, 1);
  onnx::NodeProto* split = m.Node("Split", {a, m.Int64s("split", {8, 8})}, "", 2);
  SetInt(split, "axis", 1);
  const std::string s0 = split->output(0), s1 = split->output(1);
  const std::string b = m.ConvRelu(s1, 8, 8, 3);
  onnx::NodeProto* cat = m.Node("Concat", {s0, s1, b});
  SetInt(cat, "axis", 1);
  const std::string c = m.ConvRelu(cat->output(0), 24, 16, 1);
  onnx::NodeProto* pool = m.Node("MaxPool", {c});
  SetInts(pool, "kernel_shape", {2, 2});
  SetInts(pool, "strides", {2, 2});
  onnx::NodeProto* up = m.Node("Resize", {pool->output(0), "", m.Floats("scales", {4}, {1.f, 1.f, 2.f, 2.f})});
  SetString(up, "mode", "nearest");
  onnx::NodeProto* cat2 = m.Node("Concat", {up->output(0), c});
  SetInt(cat2, "axis", -3);
  const std::string sliced =
      m.Op("Slice", {cat2->output(0), m.Int64s("starts", {4}), m.Int64s("ends", {28}), m.Int64s("axes", {1})});
  m.Conv(sliced, 24, 8, 3, 1, -1, 1, true, "y");
  m.Output("y", {1, 8, 8, 8});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  ASSERT_EQ(Ops(nchw.net), (std::vector<std::string>{"Conv", "Split", "Conv", "Concat", "Conv", "MaxPool", "Resize",
                                                     "Concat", "Slice", "Conv"}));
  ASSERT_EQ(Ops(nhwc.net), (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "Split", "EdgertConvNhwc", "Concat",
                                                     "EdgertConvNhwc", "EdgertMaxPoolNhwc", "Resize", "Concat", "Slice",
                                                     "EdgertConvNhwc", "Transpose"}));
  const NetworkDef& n = nhwc.net;
  EXPECT_EQ(n.layers[2].attrs.GetInt("axis").ok() ? *n.layers[2].attrs.GetInt("axis") : -1, 3);
  EXPECT_EQ(n.layers[4].attrs.GetInt("axis").ok() ? *n.layers[4].attrs.GetInt("axis") : -1, 3);
  EXPECT_EQ(n.layers[8].attrs.GetInt("axis").ok() ? *n.layers[8].attrs.GetInt("axis") : -1, 3);
  const TensorDef& scales = T(n, n.layers[7].inputs[2]);
  ASSERT_TRUE(scales.is_constant());
  EXPECT_EQ(std::vector<float>(scales.value.data<float>(), scales.value.data<float>() + 4),
            (std::vector<float>{1.f, 2.f, 2.f, 1.f}));
  const TensorDef& axes = T(n, n.layers[9].inputs[3]);
  ASSERT_TRUE(axes.is_constant());
  EXPECT_EQ(axes.value.data<int64_t>()[0], 3);
  EXPECT_EQ(T(n, n.layers[9].outputs[0]).shape, (Shape{1, 8, 8, 24}));
  EXPECT_EQ(nhwc.report.nhwc.followers, 5);
  EXPECT_EQ(nhwc.report.nhwc.pools, 1);
  EXPECT_EQ(nhwc.report.nhwc.transposes, 2);
  ExpectSameResults(nchw.net, n);
}

// Conv -> MaxPool 3x3/2 (pads 1, ceil_mode) as the output: the pool keeps its attributes.
TEST(NhwcLayout, MaxPoolRunsChannelsLast) {
  Model m;
  m.Input("x", {1, 8, 10, 10});
  onnx::NodeProto* pool = m.Node("MaxPool", {m.ConvRelu("x", 8, 8, 3)}, "y");
  SetInts(pool, "kernel_shape", {3, 3});
  SetInts(pool, "strides", {2, 2});
  SetInts(pool, "pads", {1, 1, 1, 1});
  SetInt(pool, "ceil_mode", 1);
  m.Output("y", {1, 8, 6, 6});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  ASSERT_EQ(Ops(nchw.net), (std::vector<std::string>{"Conv", "MaxPool"}));
  ASSERT_EQ(Ops(nhwc.net), (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "EdgertMaxPoolNhwc", "Transpose"}));
  const LayerDef& p = nhwc.net.layers[2];
  EXPECT_EQ(Ints(p, "kernel_shape"), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(Ints(p, "strides"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Ints(p, "pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(p.attrs.GetInt("ceil_mode").ok() ? *p.attrs.GetInt("ceil_mode") : -1, 1);
  EXPECT_EQ(T(nhwc.net, p.outputs[0]).shape, (Shape{1, 6, 6, 8}));
  ExpectSameResults(nchw.net, nhwc.net);
}

// YOLOv8's DFL: Conv (16 channels) -> Softmax over the channels (an NCHW layer) -> a 16 -> 1 1x1
// Conv. The narrow convolution stays NCHW (channels-last would only add a Transpose of its input);
// a narrow convolution of a graph input (the transpose folds into the input copy) or of a
// channels-last tensor still runs channels-last.
TEST(NhwcLayout, NarrowConvOfAnNchwTensorStaysNchw) {
  Model m;
  m.Input("x", {1, 8, 6, 6});
  const std::string a = m.Conv("x", 8, 16, 3);
  onnx::NodeProto* sm = m.Node("Softmax", {a});
  SetInt(sm, "axis", 1);
  m.Conv(sm->output(0), 16, 1, 1, 1, 0, 1, false, "dfl");
  m.Conv("x", 8, 4, 1, 1, 0, 1, true, "narrow_of_input");
  m.Conv(m.ConvRelu("x", 8, 8, 3), 8, 2, 3, 1, -1, 1, true, "narrow_of_nhwc");
  m.Output("dfl", {1, 1, 6, 6});
  m.Output("narrow_of_input", {1, 4, 6, 6});
  m.Output("narrow_of_nhwc", {1, 2, 6, 6});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  auto conv_writing = [&](const std::string& out) {
    // The layer that writes `out` itself, or, for a channels-last one, the layer writing the
    // tensor that the output's Transpose / Reshape reads.
    for (const LayerDef& l : nhwc.net.layers) {
      if (T(nhwc.net, l.outputs[0]).name != out) continue;
      if (l.op != OpType::kTranspose && l.op != OpType::kReshape) return std::string(OpTypeName(l.op));
      for (const LayerDef& p : nhwc.net.layers) {
        if (p.outputs[0] == l.inputs[0]) return std::string(OpTypeName(p.op));
      }
    }
    return std::string("?");
  };
  EXPECT_EQ(conv_writing("dfl"), "Conv");
  EXPECT_EQ(conv_writing("narrow_of_input"), "EdgertConvNhwc");
  EXPECT_EQ(conv_writing("narrow_of_nhwc"), "EdgertConvNhwc");
  // The first convolution runs channels-last; the Softmax reads its NCHW copy, and nothing is
  // transposed to channels-last but the graph input.
  size_t to_nhwc = 0;
  for (const std::vector<int64_t>& perm : TransposePerms(nhwc.net)) to_nhwc += perm == kToNhwc ? 1 : 0;
  EXPECT_EQ(to_nhwc, 1u);
  ExpectSameResults(nchw.net, nhwc.net);
}

// Conv -> GlobalAveragePool -> Flatten -> Gemm, and GlobalMaxPool of the same tensor as an output:
// the pools' [N, 1, 1, C] results reach their NCHW readers through Reshapes, not Transposes.
TEST(NhwcLayout, GlobalPoolsReachNchwReadersThroughReshapes) {
  Model m;
  m.Input("x", {2, 8, 8, 8});
  const std::string f = m.ConvRelu("x", 8, 16, 3);
  onnx::NodeProto* flat = m.Node("Flatten", {m.Op("GlobalAveragePool", {f})});
  SetInt(flat, "axis", 1);
  onnx::NodeProto* gemm = m.Node("Gemm", {flat->output(0), m.Floats("fc", {10, 16}), m.Floats("fcb", {10})}, "y");
  SetInt(gemm, "transB", 1);
  m.Op("GlobalMaxPool", {f}, "gmax");
  m.Output("y", {2, 10});
  m.Output("gmax", {2, 16, 1, 1});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  ASSERT_EQ(Ops(nchw.net), (std::vector<std::string>{"Conv", "GlobalAveragePool", "Flatten", "Gemm", "GlobalMaxPool"}));
  ASSERT_EQ(Ops(nhwc.net), (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "ReduceMean", "Reshape", "Flatten",
                                                     "Gemm", "ReduceMax", "Reshape"}));
  const NetworkDef& n = nhwc.net;
  for (size_t i : {size_t{3}, size_t{7}}) {
    const TensorDef& target = T(n, n.layers[i].inputs[1]);
    ASSERT_TRUE(target.is_constant());
    EXPECT_EQ(std::vector<int64_t>(target.value.data<int64_t>(), target.value.data<int64_t>() + 4),
              (std::vector<int64_t>{0, 16, 1, 1}));  // 0: the batch stays the input's
    EXPECT_EQ(T(n, n.layers[i].outputs[0]).shape, (Shape{2, 16, 1, 1}));
  }
  EXPECT_EQ(n.layers[7].outputs[0], n.outputs[1]);
  EXPECT_EQ(T(n, n.outputs[1]).name, "gmax");
  EXPECT_EQ(nhwc.report.nhwc.transposes, 1);
  EXPECT_EQ(nhwc.report.nhwc.reshapes, 2);
  EXPECT_EQ(nhwc.report.nhwc.reductions, 2);
  ExpectSameResults(nchw.net, n);
}

// feat = Conv(x) is a graph output and conv 2's input: conv 2 reads the NHWC tensor, the output
// gets its NCHW copy (its name, its shape) right after the producer.
TEST(NhwcLayout, ConvOutputThatIsAlsoAGraphOutput) {
  Model m;
  m.Input("x", {1, 8, 8, 8});
  const std::string feat = m.Conv("x", 8, 8, 3, 1, -1, 1, true, "feat");
  m.Op("Relu", {m.Conv(feat, 8, 8, 3)}, "y");
  m.Output("feat", {1, 8, 8, 8});
  m.Output("y", {1, 8, 8, 8});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  ASSERT_EQ(Ops(nhwc.net),
            (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "Transpose", "EdgertConvNhwc", "Transpose"}));
  const NetworkDef& n = nhwc.net;
  EXPECT_EQ(n.layers[2].inputs[0], n.layers[1].outputs[0]);
  EXPECT_EQ(n.layers[2].outputs[0], n.outputs[0]);
  EXPECT_EQ(n.layers[3].inputs[0], n.layers[1].outputs[0]);
  EXPECT_EQ(T(n, n.outputs[0]).name, "feat");
  EXPECT_EQ(T(n, n.layers[1].outputs[0]).name, "feat_nhwc");
  EXPECT_EQ(TransposePerms(n), (std::vector<std::vector<int64_t>>{kToNhwc, kToNchw, kToNchw}));
  ExpectSameResults(nchw.net, n);
}

// x feeds a 3x3 and a 1x1 Conv (different kernels: no horizontal fusion); one Transpose serves both.
TEST(NhwcLayout, InputReadByTwoConvsIsTransposedOnce) {
  Model m;
  m.Input("x", {1, 8, 8, 8});
  m.Op("Add", {m.Conv("x", 8, 8, 3), m.Conv("x", 8, 8, 1, 1, 0)}, "y");
  m.Output("y", {1, 8, 8, 8});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  ASSERT_EQ(Ops(nhwc.net), (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "EdgertConvNhwc", "Transpose"}));
  const NetworkDef& n = nhwc.net;
  int readers_of_x = 0;
  for (const LayerDef& l : n.layers) {
    for (int32_t t : l.inputs) readers_of_x += t == n.inputs[0] ? 1 : 0;
  }
  EXPECT_EQ(readers_of_x, 1);
  EXPECT_EQ(n.layers[1].inputs[0], n.layers[0].outputs[0]);
  EXPECT_EQ(n.layers[2].inputs[0], n.layers[0].outputs[0]);
  EXPECT_EQ(nhwc.report.nhwc.transposes, 2);
  ExpectSameResults(nchw.net, n);
}

// Depthwise (group = C) and grouped (group 2) convolutions: W [K, C/g, R, S] -> [K, R, S, C/g].
TEST(NhwcLayout, GroupedAndDepthwiseConvolutions) {
  Model m;
  m.Input("x", {1, 8, 7, 7});
  const std::string dw = m.Op("Relu", {m.Conv("x", 8, 8, 3, 1, -1, 8)});
  m.Conv(dw, 8, 12, 3, 2, -1, 2, true, "y");
  m.Output("y", {1, 12, 4, 4});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  ASSERT_EQ(Ops(nhwc.net), (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "EdgertConvNhwc", "Transpose"}));
  const NetworkDef& n = nhwc.net;
  EXPECT_EQ(T(n, n.layers[1].inputs[1]).shape, (Shape{8, 3, 3, 1}));
  EXPECT_EQ(T(n, n.layers[2].inputs[1]).shape, (Shape{12, 3, 3, 4}));
  EXPECT_EQ(n.layers[1].attrs.GetInt("group").ok() ? *n.layers[1].attrs.GetInt("group") : -1, 8);
  EXPECT_EQ(n.layers[2].attrs.GetInt("group").ok() ? *n.layers[2].attrs.GetInt("group") : -1, 2);
  for (size_t i = 0; i < 2; ++i) ExpectKrsc(T(nchw.net, nchw.net.layers[i].inputs[1]), T(n, n.layers[i + 1].inputs[1]));
  ExpectNoKcrsWeights(nchw.net, n);
  ExpectSameResults(nchw.net, n);
}

// layout nchw: an FP16 build is the FP32 build; auto: FP16 goes channels-last and says so.
TEST(NhwcLayout, NchwLayoutLeavesAnFp16BuildUntouched) {
  Model m;
  m.Input("x", {1, 8, 10, 10});
  m.Op("Relu", {m.Conv(m.ConvRelu("x", 8, 8, 3), 8, 4, 3, 2)}, "y");
  m.Output("y", {1, 4, 5, 5});
  const Built fp32 = Build(m, Layout::kAuto);
  const Built fp16_nchw = Build(m, Layout::kNchw, Precision::kFp16);
  const Built fp16 = Build(m, Layout::kAuto, Precision::kFp16);
  EXPECT_EQ(fp32.report.layout, Layout::kNchw);
  EXPECT_EQ(fp16_nchw.report.layout, Layout::kNchw);
  EXPECT_TRUE(NhwcBuildLines(fp16_nchw.report).empty());
  ASSERT_EQ(Ops(fp16_nchw.net), Ops(fp32.net));
  ASSERT_EQ(fp16_nchw.net.tensors.size(), fp32.net.tensors.size());
  for (size_t i = 0; i < fp32.net.tensors.size(); ++i) {
    EXPECT_EQ(fp16_nchw.net.tensors[i].name, fp32.net.tensors[i].name);
    EXPECT_EQ(fp16_nchw.net.tensors[i].shape, fp32.net.tensors[i].shape);
  }
  for (size_t i = 0; i < fp32.net.layers.size(); ++i) {
    EXPECT_EQ(fp16_nchw.net.layers[i].inputs, fp32.net.layers[i].inputs);
    EXPECT_EQ(fp16_nchw.net.layers[i].outputs, fp32.net.layers[i].outputs);
  }
  EXPECT_EQ(fp16.report.layout, Layout::kNhwc);
  EXPECT_EQ(Ops(fp16.net), (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "EdgertConvNhwc", "Transpose"}));
  EXPECT_EQ(NhwcBuildLines(fp16.report),
            std::vector<std::string>{"layout: NHWC, 2 of 4 layers channels-last (2 convolutions, 0 pools, 0 "
                                     "reductions, 0 followers), 2 transposes and 0 reshapes inserted"});
}

// A dynamic-batch model built with a batch profile (1..4): the Resize's sizes come from the input's
// shape (a batch value at element 0), GlobalAveragePool -> Flatten -> Gemm ends it. The
// channels-last network keeps a valid profile and runs every batch as the NCHW one does.
TEST(NhwcLayout, BatchProfileBuildKeepsWorking) {
  Model m;
  m.Input("x", {-1, 8, 8, 8});
  const std::string c = m.ConvRelu("x", 8, 8, 3);
  const std::string nc =
      m.Op("Slice", {m.Op("Shape", {c}), m.Int64s("s0", {0}), m.Int64s("s2", {2}), m.Int64s("ax", {0})});
  onnx::NodeProto* sizes = m.Node("Concat", {nc, m.Int64s("hw", {16, 16})});
  SetInt(sizes, "axis", 0);
  onnx::NodeProto* up = m.Node("Resize", {c, "", "", sizes->output(0)});
  SetString(up, "mode", "nearest");
  const std::string d = m.ConvRelu(up->output(0), 8, 4, 3, 2);
  onnx::NodeProto* flat = m.Node("Flatten", {m.Op("GlobalAveragePool", {d})});
  SetInt(flat, "axis", 1);
  m.Op("Gemm", {flat->output(0), m.Floats("fc", {4, 5}), m.Floats("fcb", {5})}, "y");
  m.Output("y", {-1, 5});
  BuildOptions profile;
  profile.min_shapes["x"] = {1, 8, 8, 8};
  profile.opt_shapes["x"] = {2, 8, 8, 8};
  profile.max_shapes["x"] = {4, 8, 8, 8};
  const Built nchw = Build(m, Layout::kNchw, Precision::kFp16, profile);
  const Built nhwc = Build(m, Layout::kAuto, Precision::kFp16, profile);
  ASSERT_TRUE(nchw.net.profile.enabled());
  ASSERT_TRUE(nhwc.net.profile.enabled());
  EXPECT_TRUE(ValidateBatchProfile(nhwc.net).ok()) << ValidateBatchProfile(nhwc.net).ToString();
  EXPECT_EQ(Ops(nhwc.net), (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "Resize", "EdgertConvNhwc",
                                                     "ReduceMean", "Reshape", "Flatten", "Gemm"}));
  // The permuted sizes [N, 16, 16, 8] carry the batch value at element 0.
  const LayerDef& resize = nhwc.net.layers[2];
  const TensorDef& sz = T(nhwc.net, resize.inputs[3]);
  ASSERT_TRUE(sz.is_constant());
  EXPECT_EQ(std::vector<int64_t>(sz.value.data<int64_t>(), sz.value.data<int64_t>() + 4),
            (std::vector<int64_t>{4, 16, 16, 8}));
  bool batch_value = false;
  for (const BatchValue& v : nhwc.net.profile.batch_values) {
    batch_value = batch_value || (v.tensor == resize.inputs[3] && v.element == 0);
  }
  EXPECT_TRUE(batch_value);
  // Every activation follows the batch: the NHWC tensors and the conversions' outputs.
  const std::set<int32_t> batched(nhwc.net.profile.batch_tensors.begin(), nhwc.net.profile.batch_tensors.end());
  for (const LayerDef& l : nhwc.net.layers) {
    for (int32_t t : l.outputs) EXPECT_TRUE(batched.count(t)) << T(nhwc.net, t).name;
  }
  for (int64_t batch : {1, 3, 4}) ExpectSameResults(nchw.net, nhwc.net, batch);
  for (int64_t batch : {1, 2}) {
    StatusOr<NetworkDef> a = SpecializeBatch(nchw.net, batch), b = SpecializeBatch(nhwc.net, batch);
    ASSERT_TRUE(a.ok() && b.ok());
    ExpectSameResults(*a, *b);
  }
}

// Opset 18 forms: Resize restricted by its axes attribute (remapped to [1, 2]), a Slice without
// axes (the leading ones: a new axes constant [0, 3, 1, 2]), GlobalAveragePool of a graph output
// as ReduceMean with its axes as an input.
TEST(NhwcLayout, Opset18ResizeAxesSliceWithoutAxesReduceMeanInput) {
  Model m(18);
  m.Input("x", {1, 8, 8, 8});
  onnx::NodeProto* up = m.Node("Resize", {m.ConvRelu("x", 8, 8, 3), "", m.Floats("scales", {2}, {2.f, 2.f})});
  SetInts(up, "axes", {2, 3});
  SetString(up, "mode", "nearest");
  const std::string sliced =
      m.Op("Slice", {up->output(0), m.Int64s("starts", {0, 0, 1, 2}), m.Int64s("ends", {1, 6, 15, 14})});
  const std::string y = m.Conv(sliced, 6, 4, 3, 1, -1, 1, true, "y");
  m.Op("GlobalAveragePool", {y}, "pooled");
  m.Output("y", {1, 4, 14, 12});
  m.Output("pooled", {1, 4, 1, 1});
  const Built nchw = Build(m, Layout::kNchw), nhwc = Build(m, Layout::kNhwc);
  ASSERT_EQ(Ops(nchw.net), (std::vector<std::string>{"Conv", "Resize", "Slice", "Conv", "GlobalAveragePool"}));
  ASSERT_EQ(Ops(nhwc.net), (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "Resize", "Slice", "EdgertConvNhwc",
                                                     "Transpose", "ReduceMean", "Reshape"}));
  const NetworkDef& n = nhwc.net;
  EXPECT_EQ(Ints(n.layers[2], "axes"), (std::vector<int64_t>{1, 2}));
  ASSERT_EQ(n.layers[3].inputs.size(), 4u);
  const TensorDef& axes = T(n, n.layers[3].inputs[3]);
  ASSERT_TRUE(axes.is_constant());
  EXPECT_EQ(std::vector<int64_t>(axes.value.data<int64_t>(), axes.value.data<int64_t>() + 4),
            (std::vector<int64_t>{0, 3, 1, 2}));
  EXPECT_EQ(T(n, n.layers[3].outputs[0]).shape, (Shape{1, 14, 12, 6}));
  const LayerDef& mean = n.layers[6];
  EXPECT_EQ(mean.opset, 18);
  EXPECT_FALSE(mean.attrs.Has("axes"));
  ASSERT_EQ(mean.inputs.size(), 2u);
  const TensorDef& mean_axes = T(n, mean.inputs[1]);
  ASSERT_TRUE(mean_axes.is_constant());
  EXPECT_EQ(std::vector<int64_t>(mean_axes.value.data<int64_t>(), mean_axes.value.data<int64_t>() + 2),
            (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(mean.inputs[0], n.layers[4].outputs[0]);  // the NHWC y, not its NCHW copy
  ExpectSameResults(nchw.net, n);
}

// An INT8 build's float layers go channels-last after LowerInt8 (BuildNetwork's order): conv1 (8
// input channels: float) and conv3 (kept float) become EdgertConvNhwc, the INT8 layer between them
// reads and writes NCHW float through Transposes, and the results are the INT8 network's.
TEST(NhwcLayout, Int8LayersAreNchwReaders) {
  Model m;
  m.Input("x", {2, 8, 8, 8});
  m.Conv(m.ConvRelu(m.ConvRelu("x", 8, 16, 3), 16, 16, 3), 16, 8, 3, 1, -1, 1, true, "y");
  m.Output("y", {2, 8, 8, 8});
  const Built nchw = Build(m, Layout::kNchw);
  ASSERT_EQ(Ops(nchw.net), (std::vector<std::string>{"Conv", "Conv", "Conv"}));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<std::vector<Tensor>> batches;
  for (int i = 0; i < 3; ++i) {
    std::vector<float> v(2 * 8 * 8 * 8);
    for (float& x : v) x = u(rng);
    batches.push_back({Tensor::FromVector<float>(v, {2, 8, 8, 8})});
  }
  std::unique_ptr<CalibrationData> data = InMemoryCalibrationData(std::move(batches));
  CalibrationOptions o;
  o.calibrator = CalibratorKind::kMinMax;
  StatusOr<std::vector<TensorRange>> ranges = Calibrate(nchw.net, *data, {0, 1, 2}, o);
  ASSERT_TRUE(ranges.ok()) << ranges.status().ToString();
  CalibrationCache cache = CalibrationCache::ForCalibrator(o.calibrator);
  for (const TensorRange& r : *ranges) cache.SetAmax(r.name, r.amax);
  Int8LoweringReport int8_report;
  StatusOr<NetworkDef> int8 = LowerInt8(nchw.net, cache, {nchw.net.layers[2].name}, &int8_report);
  ASSERT_TRUE(int8.ok()) << int8.status().ToString();
  ASSERT_EQ(Ops(*int8), (std::vector<std::string>{"Conv", "EdgertQuantizeNhwc", "EdgertInt8Conv", "Conv"}));
  NhwcLayoutReport rep;
  StatusOr<NetworkDef> nhwc = LowerNhwc(*int8, &rep);
  ASSERT_TRUE(nhwc.ok()) << nhwc.status().ToString();
  EXPECT_EQ(Ops(*nhwc), (std::vector<std::string>{"Transpose", "EdgertConvNhwc", "Transpose", "EdgertQuantizeNhwc",
                                                  "EdgertInt8Conv", "Transpose", "EdgertConvNhwc", "Transpose"}));
  EXPECT_EQ(TransposePerms(*nhwc), (std::vector<std::vector<int64_t>>{kToNhwc, kToNchw, kToNhwc, kToNchw}));
  EXPECT_EQ(rep.convolutions, 2);
  EXPECT_EQ(rep.transposes, 4);
  ExpectSameResults(*int8, *nhwc);
}

// The CLI tests' model (Conv+Relu, MaxPool 2x2/2, Conv: 3 of 5 layers channels-last) in a
// temporary directory, and `edgert ARGS` run through the shell with its output and exit status.
class LayoutCliFixture {
 public:
  LayoutCliFixture() {
    Model m;
    m.Input("x", {1, 8, 10, 10});
    onnx::NodeProto* pool = m.Node("MaxPool", {m.ConvRelu("x", 8, 8, 3)});
    SetInts(pool, "kernel_shape", {2, 2});
    SetInts(pool, "strides", {2, 2});
    m.Conv(pool->output(0), 8, 4, 3, 1, -1, 1, true, "y");
    m.Output("y", {1, 4, 5, 5});
    model_ = SaveModel(m.proto(), dir_.File("model.onnx"));
  }
  const std::string& model() const { return model_; }
  std::string File(const std::string& name) const { return dir_.File(name); }
  int Cli(const std::string& args, std::string* out) const {
    const std::string cmd = "'" + EdgertBinary() + "' " + args + " > '" + dir_.File("out.txt") + "' 2>&1";
    const int status = std::system(cmd.c_str());
    *out = ReadFile(dir_.File("out.txt"));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  TempDir dir_;
  std::string model_;
};

// `edgert build --layout nhwc` (on the CPU backend) prints the layout line; `edgert inspect` counts
// the channels-last layers; a wrong value is a usage error.
TEST(NhwcLayoutCli, BuildTakesTheLayoutFlag) {
  const LayoutCliFixture fixture;
  const std::string& model = fixture.model();
  auto cli = [&](const std::string& args, std::string* out) { return fixture.Cli(args, out); };
  auto file = [&](const std::string& name) { return fixture.File(name); };
  std::string out;
  ASSERT_EQ(cli("build '" + model + "' --device cpu --layout nhwc -o '" + file("nhwc.plan") + "'", &out), 0) << out;
  EXPECT_NE(out.find("layout: NHWC, 3 of 5 layers channels-last (2 convolutions, 1 pool, 0 reductions, 0 "
                     "followers), 2 transposes and 0 reshapes inserted"),
            std::string::npos)
      << out;
  ASSERT_EQ(cli("inspect '" + file("nhwc.plan") + "'", &out), 0) << out;
  EXPECT_NE(out.find("layout:             nhwc (3 channels-last convolutions and pools)"), std::string::npos) << out;
  ASSERT_EQ(cli("inspect '" + file("nhwc.plan") + "' --json", &out), 0) << out;
  EXPECT_NE(out.find("\"nhwc_layers\": 3"), std::string::npos) << out;
  ASSERT_EQ(cli("build '" + model + "' --device cpu --layout=nchw -o '" + file("nchw.plan") + "'", &out), 0) << out;
  EXPECT_EQ(out.find("layout:"), std::string::npos) << out;
  ASSERT_EQ(cli("inspect '" + file("nchw.plan") + "'", &out), 0) << out;
  EXPECT_EQ(out.find("channels-last"), std::string::npos) << out;
  EXPECT_EQ(cli("build '" + model + "' --device cpu --layout nhcw -o '" + file("bad.plan") + "'", &out), 2);
  EXPECT_NE(out.find("'nhcw'"), std::string::npos) << out;
}

// `edgert run --layout`: an ONNX model runs channels-last on the CPU reference engine with the NCHW
// run's outputs; a plan keeps the layout it was built with, so --layout is refused for it.
TEST(NhwcLayoutCli, RunTakesTheLayoutFlag) {
  const LayoutCliFixture fixture;
  const std::string& model = fixture.model();
  auto cli = [&](const std::string& args, std::string* out) { return fixture.Cli(args, out); };
  auto file = [&](const std::string& name) { return fixture.File(name); };
  std::string out;
  ASSERT_EQ(cli("run '" + model + "' --device cpu --seed 7 --save-outputs '" + file("ref") + "'", &out), 0) << out;
  EXPECT_EQ(out.find("layout:"), std::string::npos) << out;
  ASSERT_EQ(cli("run '" + model + "' --device cpu --layout nhwc --seed 7 --compare '" + file("ref") +
                    "' --rtol 1e-5 --verbose",
                &out),
            0)
      << out;
  EXPECT_NE(out.find("layout: NHWC, 3 of 5 layers channels-last"), std::string::npos) << out;
  EXPECT_NE(out.find("EdgertConvNhwc"), std::string::npos) << out;
  EXPECT_NE(out.find("PASS"), std::string::npos) << out;
  ASSERT_EQ(cli("build '" + model + "' --device cpu -o '" + file("m.plan") + "'", &out), 0) << out;
  EXPECT_EQ(cli("run '" + file("m.plan") + "' --layout nhwc", &out), 1) << out;
  EXPECT_NE(out.find("--layout applies to ONNX models"), std::string::npos) << out;
  EXPECT_EQ(cli("run '" + model + "' --device cpu --layout=nhcw", &out), 2) << out;
  EXPECT_NE(out.find("'nhcw'"), std::string::npos) << out;
}

// tests/models/make_models.py's resnet(): 7x7/2 stem + BatchNorm + MaxPool, four basic residual
// blocks (two with a 1x1/2 downsample), GlobalAveragePool, Flatten, Gemm.
Model ResNetStyle() {
  Model g(17, 1);
  g.Input("input", {1, 3, 64, 64});
  auto batchnorm = [&](const std::string& x, int64_t c) {
    onnx::NodeProto* n = g.Node(
        "BatchNormalization",
        {x, g.Floats("bn_scale", {c}, g.RandomValues(c, 0.2f)), g.Floats("bn_bias", {c}, g.RandomValues(c, 0.1f)),
         g.Floats("bn_mean", {c}, g.RandomValues(c, 0.1f)), g.Floats("bn_var", {c}, std::vector<float>(c, 1.2f))});
    return n->output(0);
  };
  std::string x = g.Op("Relu", {batchnorm(g.Conv("input", 3, 16, 7, 2, 3, 1, false), 16)});
  onnx::NodeProto* pool = g.Node("MaxPool", {x});
  SetInts(pool, "kernel_shape", {3, 3});
  SetInts(pool, "strides", {2, 2});
  SetInts(pool, "pads", {1, 1, 1, 1});
  x = pool->output(0);
  auto basic_block = [&](std::string in, int64_t c_in, int64_t c_out, int64_t stride) {
    std::string y = g.Op("Relu", {batchnorm(g.Conv(in, c_in, c_out, 3, stride, -1, 1, false), c_out)});
    y = batchnorm(g.Conv(y, c_out, c_out, 3, 1, -1, 1, false), c_out);
    if (stride != 1 || c_in != c_out) in = batchnorm(g.Conv(in, c_in, c_out, 1, stride, 0, 1, false), c_out);
    return g.Op("Relu", {g.Op("Add", {y, in})});
  };
  x = basic_block(x, 16, 16, 1);
  x = basic_block(x, 16, 32, 2);
  x = basic_block(x, 32, 32, 1);
  x = basic_block(x, 32, 64, 2);
  onnx::NodeProto* flat = g.Node("Flatten", {g.Op("GlobalAveragePool", {x})});
  SetInt(flat, "axis", 1);
  onnx::NodeProto* fc = g.Node("Gemm", {flat->output(0), g.Floats("fc_w", {10, 64}), g.Floats("fc_b", {10})}, "logits");
  SetInt(fc, "transB", 1);
  g.Output("logits", {1, 10});
  return g;
}

// tests/models/make_models.py's yolo(): SiLU convolutions, a C2f-style Split/Concat block, SPPF
// MaxPools, Resize nearest x2, two heads Conv -> Reshape -> Transpose -> Sigmoid -> Reshape whose
// shapes come from Shape -> Gather -> Unsqueeze -> Concat chains.
Model YoloStyle() {
  Model g(17, 3);
  const int64_t anchors = 3, per_anchor = 9;
  g.Input("images", {1, 3, 128, 128});
  auto conv_silu = [&](const std::string& x, int64_t c_in, int64_t c_out, int64_t k, int64_t stride = 1) {
    return g.Silu(g.Conv(x, c_in, c_out, k, stride));
  };
  std::string x = conv_silu("images", 3, 16, 3, 2);
  x = conv_silu(x, 16, 32, 3, 2);
  x = conv_silu(x, 32, 32, 1);
  onnx::NodeProto* split = g.Node("Split", {x, g.Int64s("split", {16, 16})}, "", 2);
  SetInt(split, "axis", 1);
  const std::string h0 = split->output(0), h1 = split->output(1);
  std::string y = conv_silu(conv_silu(h1, 16, 16, 3), 16, 16, 3);
  y = g.Op("Add", {h1, y});
  onnx::NodeProto* cat = g.Node("Concat", {h0, h1, y});
  SetInt(cat, "axis", 1);
  const std::string p3 = conv_silu(cat->output(0), 48, 32, 1);
  std::string p4 = conv_silu(p3, 32, 64, 3, 2);
  const std::string s = conv_silu(p4, 64, 32, 1);
  auto pool5 = [&](const std::string& in) {
    onnx::NodeProto* n = g.Node("MaxPool", {in});
    SetInts(n, "kernel_shape", {5, 5});
    SetInts(n, "strides", {1, 1});
    SetInts(n, "pads", {2, 2, 2, 2});
    return n->output(0);
  };
  const std::string m1 = pool5(s), m2 = pool5(m1), m3 = pool5(m2);
  onnx::NodeProto* sppf = g.Node("Concat", {s, m1, m2, m3});
  SetInt(sppf, "axis", 1);
  p4 = conv_silu(sppf->output(0), 128, 64, 1);
  onnx::NodeProto* up = g.Node("Resize", {p4, "", g.Floats("scales", {4}, {1.f, 1.f, 2.f, 2.f})});
  SetString(up, "mode", "nearest");
  SetString(up, "coordinate_transformation_mode", "asymmetric");
  SetString(up, "nearest_mode", "floor");
  onnx::NodeProto* cat2 = g.Node("Concat", {up->output(0), p3});
  SetInt(cat2, "axis", 1);
  const std::string h3 = conv_silu(cat2->output(0), 96, 32, 1);
  auto batch_dim = [&](const std::string& t) {
    onnx::NodeProto* gather = g.Node("Gather", {g.Op("Shape", {t}), g.Int64s("idx", {0})});
    SetInt(gather, "axis", 0);
    // Gather with a 1-element index keeps a 1-D result: the batch as a 1-element int64 tensor.
    return gather->output(0);
  };
  auto head = [&](const std::string& t, int64_t c_in, int64_t size) {
    const std::string raw = g.Conv(t, c_in, anchors * per_anchor, 1, 1, 0);
    onnx::NodeProto* shape5 = g.Node("Concat", {batch_dim(raw), g.Int64s("dims", {anchors, per_anchor, size, size})});
    SetInt(shape5, "axis", 0);
    onnx::NodeProto* tr = g.Node("Transpose", {g.Op("Reshape", {raw, shape5->output(0)})});
    SetInts(tr, "perm", {0, 1, 3, 4, 2});
    const std::string r = g.Op("Sigmoid", {tr->output(0)});
    onnx::NodeProto* shape3 = g.Node("Concat", {batch_dim(r), g.Int64s("dims", {-1, per_anchor})});
    SetInt(shape3, "axis", 0);
    return g.Op("Reshape", {r, shape3->output(0)});
  };
  const std::string d3 = head(h3, 32, 32), d4 = head(p4, 64, 16);
  onnx::NodeProto* det = g.Node("Concat", {d3, d4}, "detections");
  SetInt(det, "axis", 1);
  g.Output("detections", {1, anchors * (32 * 32 + 16 * 16), per_anchor});
  return g;
}

size_t Count(const NetworkDef& net, OpType op) { return LayersOf(net, op).size(); }

TEST(NhwcWholeModel, ResNetAndYoloStyleFp16BuildsMatchFp32) {
  for (const bool yolo : {false, true}) {
    SCOPED_TRACE(yolo ? "yolo" : "resnet");
    Model m = yolo ? YoloStyle() : ResNetStyle();
    const Built fp32 = Build(m, Layout::kAuto, Precision::kFp32);
    const Built fp16 = Build(m, Layout::kAuto, Precision::kFp16);
    ASSERT_FALSE(fp32.net.layers.empty());
    ASSERT_FALSE(fp16.net.layers.empty());
    // Every convolution and pool runs channels-last.
    EXPECT_EQ(Count(fp16.net, OpType::kConv), 0u);
    EXPECT_EQ(Count(fp16.net, OpType::kMaxPool), 0u);
    EXPECT_EQ(Count(fp16.net, OpType::kConvNhwc), Count(fp32.net, OpType::kConv));
    EXPECT_EQ(Count(fp16.net, OpType::kMaxPoolNhwc), Count(fp32.net, OpType::kMaxPool));
    EXPECT_EQ(static_cast<size_t>(fp16.report.nhwc.convolutions), Count(fp32.net, OpType::kConv));
    if (yolo) {
      // The input, and the two heads' Reshapes (5-D: NCHW readers).
      EXPECT_EQ(fp16.report.nhwc.transposes, 3);
      EXPECT_EQ(fp16.report.nhwc.reshapes, 0);
    } else {
      // The input; GlobalAveragePool's [N, 1, 1, C] reaches Flatten through a Reshape.
      EXPECT_EQ(fp16.report.nhwc.transposes, 1);
      EXPECT_EQ(fp16.report.nhwc.reshapes, 1);
    }
    ExpectSameResults(fp32.net, fp16.net);
  }
}

// Concurrent branches on the built networks (what the CUDA engine schedules, with its heavy ops:
// convolutions and matrix layers). In the ResNet-style model's two downsampling basic blocks the
// first 3x3 convolution and the 1x1 downsample both read the block input and meet in the second
// 3x3 convolution (the residual Add fused in): the first of them in layer order goes to the
// auxiliary stream, the other runs beside it. YOLO-style has no single-layer branch. The memory
// plan with the spans validates, and the CPU engine (layers in order) gives the same bytes under
// it as with no memory shared.
bool Heavy(const LayerDef& layer) {
  return layer.op == OpType::kConv || layer.op == OpType::kConvNhwc || layer.op == OpType::kGemm ||
         layer.op == OpType::kMatMul;
}

TEST(NhwcWholeModel, StreamScheduleOfTheBuiltModels) {
  for (const bool yolo : {false, true}) {
    SCOPED_TRACE(yolo ? "yolo" : "resnet");
    Model m = yolo ? YoloStyle() : ResNetStyle();
    const Built fp16 = Build(m, Layout::kAuto, Precision::kFp16);
    const NetworkDef& net = fp16.net;
    ASSERT_FALSE(net.layers.empty());
    const StreamSchedule s = ScheduleAuxLayers(net, Heavy);
    if (!yolo) {
      ASSERT_EQ(s.aux.size(), 2u);
      for (const AuxLayer& a : s.aux) {
        const LayerDef& aux = net.layers[static_cast<size_t>(a.layer)];
        const LayerDef& join = net.layers[static_cast<size_t>(a.join_before)];
        EXPECT_EQ(aux.op, OpType::kConvNhwc) << aux.name;
        // The join is the block's last convolution with the residual Add fused into it, reading
        // the auxiliary layer's output; the other branch's convolution lies between fork and join.
        EXPECT_EQ(join.op, OpType::kConvNhwc) << join.name;
        EXPECT_NE(join.name.find("Add"), std::string::npos) << join.name;
        EXPECT_NE(std::find(join.inputs.begin(), join.inputs.end(), aux.outputs[0]), join.inputs.end())
            << join.name << " reads " << aux.name << "'s output";
        EXPECT_EQ(a.join_before - a.fork_after, 3) << aux.name;
      }
    }
    std::printf("[schedule] %s: %zu of %zu layers on the auxiliary stream\n", yolo ? "yolo" : "resnet", s.aux.size(),
                net.layers.size());
    NetworkMemoryOptions spans;
    spans.layer_spans = s.spans;
    StatusOr<NetworkMemoryPlan> plan = PlanNetworkMemory(net, spans);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    Status valid = ValidateNetworkMemoryPlan(net, *plan);
    EXPECT_TRUE(valid.ok()) << valid.ToString();
    const std::vector<Tensor> got = RunPlannedAndCompare(net, spans, RandomInputs(net, 21));
    EXPECT_EQ(got.size(), net.outputs.size());
  }
}

}  // namespace
}  // namespace edgert
