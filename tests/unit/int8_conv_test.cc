// EdgertInt8Conv on the CPU reference and the builder's INT8 lowering:
//   - the op against an independent oracle: the float Conv of the CPU engine on the dequantized
//     tensors (x * x_scale, W * W_scale[k]) with the same bias, residual and activation;
//   - its errors name the layer and the input or attribute;
//   - LowerInt8: which layers become INT8, which tensors stay int8 between them, where conversions
//     go, and that the lowered network computes what the gate's simulation computes;
//   - an INT8 plan round trip (serialize, load, run).
#include "int8_conv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "edgert/calibration.h"
#include "edgert/cpu_engine.h"
#include "edgert/fused_activation.h"
#include "edgert/plan.h"

namespace edgert {
namespace {

std::vector<int8_t> RandomInt8(size_t n, std::mt19937& rng, int lo = -128, int hi = 127) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int8_t> v(n);
  for (int8_t& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

std::vector<float> RandomFloats(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

struct ConvCase {
  int64_t n = 1, c = 16, h = 7, w = 6, k = 5, r = 3, s = 3;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  std::vector<int64_t> pads = {1, 1, 1, 1};
  bool bias = true, residual = false, int8_out = false;
  std::string activation;  // "" none
  float alpha = 0, beta = 0;
  int64_t P() const { return (h + pads[0] + pads[2] - ((r - 1) * dil_h + 1)) / stride_h + 1; }
  int64_t Q() const { return (w + pads[1] + pads[3] - ((s - 1) * dil_w + 1)) / stride_w + 1; }
};

struct CaseData {
  std::vector<int8_t> x, w, z;  // NHWC, KRSC, NHWC
  std::vector<float> bias, w_scale;
  float x_scale = 0.02f, z_scale = 0.05f, y_scale = 0.04f;
};

void SetActivation(const ConvCase& c, Attributes* attrs) {
  if (c.activation.empty()) return;
  attrs->Set(kActivationAttr, c.activation);
  if (c.activation == "Clip" || c.activation == "LeakyRelu") attrs->Set(kActivationAlphaAttr, c.alpha);
  if (c.activation == "Clip") attrs->Set(kActivationBetaAttr, c.beta);
}

NetworkDef Int8ConvNetwork(const ConvCase& c, const CaseData& d) {
  NetworkDef net;
  const int64_t p = c.P(), q = c.Q();
  net.tensors.push_back({"x", DataType::kInt8, {c.n, c.h, c.w, c.c}, {}});
  net.tensors.push_back(
      {"w", DataType::kInt8, {c.k, c.r, c.s, c.c}, Tensor::FromVector<int8_t>(d.w, {c.k, c.r, c.s, c.c})});
  net.tensors.push_back({"b", DataType::kFloat32, {c.k}, Tensor::FromVector<float>(d.bias, {c.k})});
  net.tensors.push_back({"ws", DataType::kFloat32, {c.k}, Tensor::FromVector<float>(d.w_scale, {c.k})});
  net.tensors.push_back({"z", DataType::kInt8, {c.n, p, q, c.k}, {}});
  net.tensors.push_back({"y",
                         c.int8_out ? DataType::kInt8 : DataType::kFloat32,
                         c.int8_out ? Shape{c.n, p, q, c.k} : Shape{c.n, c.k, p, q},
                         {}});
  LayerDef l;
  l.name = "qconv";
  l.op = OpType::kInt8Conv;
  l.opset = 13;
  l.inputs = {0, 1, c.bias ? 2 : -1, 3};
  if (c.residual) l.inputs.push_back(4);
  l.outputs = {5};
  l.attrs.Set("strides", std::vector<int64_t>{c.stride_h, c.stride_w});
  l.attrs.Set("dilations", std::vector<int64_t>{c.dil_h, c.dil_w});
  l.attrs.Set("pads", c.pads);
  l.attrs.Set("x_scale", d.x_scale);
  if (c.residual) l.attrs.Set("z_scale", d.z_scale);
  if (c.int8_out) l.attrs.Set("y_scale", d.y_scale);
  SetActivation(c, &l.attrs);
  net.layers = {l};
  net.inputs = c.residual ? std::vector<int32_t>{0, 4} : std::vector<int32_t>{0};
  net.outputs = {5};
  return net;
}

// The oracle: a float Conv (NCHW) on dequantized x and W with the same epilogue.
NetworkDef FloatOracle(const ConvCase& c, const CaseData& d) {
  std::vector<float> w(d.w.size());
  for (int64_t k = 0; k < c.k; ++k) {
    for (int64_t ci = 0; ci < c.c; ++ci) {
      for (int64_t r = 0; r < c.r; ++r) {
        for (int64_t s = 0; s < c.s; ++s) {
          w[static_cast<size_t>(((k * c.c + ci) * c.r + r) * c.s + s)] =
              static_cast<float>(d.w[static_cast<size_t>(((k * c.r + r) * c.s + s) * c.c + ci)]) *
              d.w_scale[static_cast<size_t>(k)];
        }
      }
    }
  }
  const int64_t p = c.P(), q = c.Q();
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, {c.n, c.c, c.h, c.w}, {}});
  net.tensors.push_back(
      {"w", DataType::kFloat32, {c.k, c.c, c.r, c.s}, Tensor::FromVector<float>(w, {c.k, c.c, c.r, c.s})});
  net.tensors.push_back({"b", DataType::kFloat32, {c.k}, Tensor::FromVector<float>(d.bias, {c.k})});
  net.tensors.push_back({"z", DataType::kFloat32, {c.n, c.k, p, q}, {}});
  net.tensors.push_back({"y", DataType::kFloat32, {c.n, c.k, p, q}, {}});
  LayerDef l;
  l.name = "conv";
  l.op = OpType::kConv;
  l.opset = 13;
  l.inputs = {0, 1, c.bias ? 2 : -1};
  if (c.residual) l.inputs.push_back(3);
  l.outputs = {4};
  l.attrs.Set("strides", std::vector<int64_t>{c.stride_h, c.stride_w});
  l.attrs.Set("dilations", std::vector<int64_t>{c.dil_h, c.dil_w});
  l.attrs.Set("pads", c.pads);
  SetActivation(c, &l.attrs);
  net.layers = {l};
  net.inputs = c.residual ? std::vector<int32_t>{0, 3} : std::vector<int32_t>{0};
  net.outputs = {4};
  return net;
}

// NHWC int8 -> NCHW float, dequantized.
Tensor DequantizeToNchw(const std::vector<int8_t>& v, int64_t n, int64_t h, int64_t w, int64_t c, float scale) {
  Tensor t = *Tensor::Create(DataType::kFloat32, {n, c, h, w});
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        for (int64_t ch = 0; ch < c; ++ch) {
          t.data<float>()[((i * c + ch) * h + y) * w + x] =
              static_cast<float>(v[static_cast<size_t>(((i * h + y) * w + x) * c + ch)]) * scale;
        }
      }
    }
  }
  return t;
}

void RunCase(const ConvCase& c, uint32_t seed) {
  SCOPED_TRACE("case seed " + std::to_string(seed) + " activation '" + c.activation + "'");
  std::mt19937 rng(seed);
  CaseData d;
  d.x = RandomInt8(static_cast<size_t>(c.n * c.h * c.w * c.c), rng);
  d.w = RandomInt8(static_cast<size_t>(c.k * c.r * c.s * c.c), rng, -127, 127);
  d.z = RandomInt8(static_cast<size_t>(c.n * c.P() * c.Q() * c.k), rng);
  d.bias = c.bias ? RandomFloats(static_cast<size_t>(c.k), rng, -2.f, 2.f) : std::vector<float>(c.k, 0.f);
  d.w_scale = RandomFloats(static_cast<size_t>(c.k), rng, 0.001f, 0.01f);
  auto engine = CpuEngine::Create(Int8ConvNetwork(c, d));
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  std::vector<Tensor> inputs = {Tensor::FromVector<int8_t>(d.x, {c.n, c.h, c.w, c.c})};
  if (c.residual) inputs.push_back(Tensor::FromVector<int8_t>(d.z, {c.n, c.P(), c.Q(), c.k}));
  std::vector<Tensor> out;
  ASSERT_TRUE((*engine)->Run(inputs, &out).ok());

  auto oracle = CpuEngine::Create(FloatOracle(c, d));
  ASSERT_TRUE(oracle.ok()) << oracle.status().message();
  std::vector<Tensor> oin = {DequantizeToNchw(d.x, c.n, c.h, c.w, c.c, d.x_scale)};
  if (c.residual) oin.push_back(DequantizeToNchw(d.z, c.n, c.P(), c.Q(), c.k, d.z_scale));
  std::vector<Tensor> ref;
  ASSERT_TRUE((*oracle)->Run(oin, &ref).ok());
  const int64_t p = c.P(), q = c.Q();
  int off_by_one = 0;
  for (int64_t i = 0; i < c.n; ++i) {
    for (int64_t k = 0; k < c.k; ++k) {
      for (int64_t y = 0; y < p; ++y) {
        for (int64_t x = 0; x < q; ++x) {
          const float want = ref[0].data<float>()[((i * c.k + k) * p + y) * q + x];
          if (c.int8_out) {
            const int got = out[0].data<int8_t>()[((i * p + y) * q + x) * c.k + k];
            const int exact = QuantizeToInt8(want, d.y_scale);
            ASSERT_LE(std::abs(got - exact), 1) << "at n " << i << " k " << k << " p " << y << " q " << x;
            off_by_one += got != exact;
          } else {
            const float got = out[0].data<float>()[((i * c.k + k) * p + y) * q + x];
            ASSERT_NEAR(got, want, 1e-4f * (1.f + std::fabs(want))) << "at n " << i << " k " << k << " p " << y;
          }
        }
      }
    }
  }
  // Off by one only where the float oracle lands within rounding of a .5 boundary: rare.
  EXPECT_LE(off_by_one, std::max<int64_t>(2, c.n * c.k * p * q / 200));
}

TEST(Int8Conv, MatchesTheFloatConvOfDequantizedTensors) {
  ConvCase base;
  RunCase(base, 1);
  ConvCase strided = base;
  strided.stride_h = 2;
  strided.stride_w = 2;
  strided.pads = {0, 1, 2, 0};
  strided.n = 2;
  RunCase(strided, 2);
  ConvCase dilated = base;
  dilated.dil_h = 2;
  dilated.dil_w = 2;
  dilated.pads = {2, 2, 2, 2};
  dilated.c = 32;
  dilated.bias = false;
  RunCase(dilated, 3);
  ConvCase pointwise = base;
  pointwise.r = pointwise.s = 1;
  pointwise.pads = {0, 0, 0, 0};
  pointwise.c = 48;
  pointwise.k = 17;
  pointwise.activation = "Relu";
  RunCase(pointwise, 4);
  ConvCase residual = base;
  residual.residual = true;
  residual.activation = "Clip";
  residual.alpha = 0.f;
  residual.beta = 6.f;
  RunCase(residual, 5);
  for (const char* act : {"", "Relu", "LeakyRelu", "SiLU"}) {
    ConvCase q8 = base;
    q8.int8_out = true;
    q8.residual = std::string(act) != "";
    q8.activation = act;
    q8.alpha = 0.1f;
    RunCase(q8, 6);
  }
}

TEST(Int8Conv, ErrorsNameTheLayerAndTheInput) {
  ConvCase c;
  std::mt19937 rng(9);
  CaseData d;
  d.w = RandomInt8(static_cast<size_t>(c.k * c.r * c.s * c.c), rng);
  d.bias.assign(static_cast<size_t>(c.k), 0.f);
  d.w_scale.assign(static_cast<size_t>(c.k), 0.01f);
  NetworkDef good = Int8ConvNetwork(c, d);
  ASSERT_TRUE(CpuEngine::Create(good).ok());

  NetworkDef narrow = good;  // 8 input channels
  narrow.tensors[0].shape = {1, 7, 6, 8};
  narrow.tensors[1] = {
      "w", DataType::kInt8, {5, 3, 3, 8}, Tensor::FromVector<int8_t>(std::vector<int8_t>(360, 1), {5, 3, 3, 8})};
  auto e = CpuEngine::Create(narrow);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("qconv"), std::string::npos) << e.status().message();
  EXPECT_NE(e.status().message().find("multiple of 16"), std::string::npos) << e.status().message();

  NetworkDef no_scale = good;
  no_scale.layers[0].attrs = Attributes();
  e = CpuEngine::Create(no_scale);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("x_scale"), std::string::npos) << e.status().message();

  NetworkDef bad_scale = good;
  bad_scale.tensors[3].value.data<float>()[2] = 0.f;
  e = CpuEngine::Create(bad_scale);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("W_scale[2]"), std::string::npos) << e.status().message();

  NetworkDef float_x = good;
  float_x.tensors[0].dtype = DataType::kFloat32;
  e = CpuEngine::Create(float_x);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("input X must be int8"), std::string::npos) << e.status().message();
}

std::vector<Tensor> RunNet(const NetworkDef& net, const std::vector<Tensor>& in) {
  auto engine = CpuEngine::Create(net);
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  std::vector<Tensor> out;
  if (engine.ok()) {
    EXPECT_TRUE((*engine)->Run(in, &out).ok());
  }
  return out;
}

TEST(QuantizeNhwc, EqualsTransposeThenQuantizeLinear) {
  std::mt19937 rng(17);
  std::vector<float> xv = RandomFloats(2 * 5 * 3 * 4, rng, -3.f, 3.f);
  xv[7] = NAN;
  xv[8] = 1e9f;
  xv[9] = -1e9f;
  xv[10] = 0.5f * 0.05f;  // a tie: rounds to even (0)
  xv[11] = 1.5f * 0.05f;  // a tie: rounds to even (2)
  const Tensor x = Tensor::FromVector<float>(xv, {2, 5, 3, 4});
  NetworkDef fused;
  fused.tensors.push_back({"x", DataType::kFloat32, {2, 5, 3, 4}, {}});
  fused.tensors.push_back({"y", DataType::kInt8, {2, 3, 4, 5}, {}});
  LayerDef q;
  q.name = "q";
  q.op = OpType::kQuantizeNhwc;
  q.opset = 13;
  q.inputs = {0};
  q.outputs = {1};
  q.attrs.Set("scale", 0.05f);
  fused.layers = {q};
  fused.inputs = {0};
  fused.outputs = {1};
  NetworkDef pair;
  pair.tensors.push_back({"x", DataType::kFloat32, {2, 5, 3, 4}, {}});
  pair.tensors.push_back({"t", DataType::kFloat32, {2, 3, 4, 5}, {}});
  pair.tensors.push_back({"s", DataType::kFloat32, {}, Tensor::Scalar<float>(0.05f)});
  pair.tensors.push_back({"z", DataType::kInt8, {}, Tensor::Scalar<int8_t>(0)});
  pair.tensors.push_back({"y", DataType::kInt8, {2, 3, 4, 5}, {}});
  LayerDef tr;
  tr.name = "tr";
  tr.op = OpType::kTranspose;
  tr.opset = 13;
  tr.attrs.Set("perm", std::vector<int64_t>{0, 2, 3, 1});
  tr.inputs = {0};
  tr.outputs = {1};
  LayerDef ql;
  ql.name = "ql";
  ql.op = OpType::kQuantizeLinear;
  ql.opset = 13;
  ql.inputs = {1, 2, 3};
  ql.outputs = {4};
  pair.layers = {tr, ql};
  pair.inputs = {0};
  pair.outputs = {4};
  std::vector<Tensor> a = RunNet(fused, {x}), b = RunNet(pair, {x});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(a[0].shape(), (Shape{2, 3, 4, 5}));
  for (int64_t i = 0; i < a[0].num_elements(); ++i) {
    ASSERT_EQ(a[0].data<int8_t>()[i], b[0].data<int8_t>()[i]) << i;
  }
  NetworkDef bad = fused;
  bad.layers[0].attrs.Set("scale", -1.f);
  auto e = CpuEngine::Create(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("'scale'"), std::string::npos) << e.status().message();
}

// x [2, 16, 8, 8] -> conv1 (16 -> 32, 3x3, Relu) -> a -> conv2 (32 -> 32, 3x3, Relu) -> b
//   -> conv3 (32 -> 32, 1x1, + residual a, Relu) -> c (graph output).
NetworkDef ResidualChain(uint32_t seed) {
  std::mt19937 rng(seed);
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, {2, 16, 8, 8}, {}});
  auto weight = [&](const std::string& name, Shape shape) {
    const size_t n = static_cast<size_t>(NumElements(shape));
    const float bound = 1.0f / std::sqrt(static_cast<float>(shape[1] * shape[2] * shape[3]));
    net.tensors.push_back(
        {name, DataType::kFloat32, shape, Tensor::FromVector<float>(RandomFloats(n, rng, -bound, bound), shape)});
    return static_cast<int32_t>(net.tensors.size() - 1);
  };
  auto bias = [&](const std::string& name, int64_t k) {
    net.tensors.push_back({name,
                           DataType::kFloat32,
                           {k},
                           Tensor::FromVector<float>(RandomFloats(static_cast<size_t>(k), rng, -0.1f, 0.1f), {k})});
    return static_cast<int32_t>(net.tensors.size() - 1);
  };
  auto act = [&](const std::string& name) {
    net.tensors.push_back({name, DataType::kFloat32, {2, 32, 8, 8}, {}});
    return static_cast<int32_t>(net.tensors.size() - 1);
  };
  const int32_t w1 = weight("w1", {32, 16, 3, 3}), b1 = bias("b1", 32), a = act("a");
  const int32_t w2 = weight("w2", {32, 32, 3, 3}), b2 = bias("b2", 32), b = act("b");
  const int32_t w3 = weight("w3", {32, 32, 1, 1}), b3 = bias("b3", 32), c = act("c");
  auto conv = [&](const std::string& name, std::vector<int32_t> in, int32_t out, bool pad) {
    LayerDef l;
    l.name = name;
    l.op = OpType::kConv;
    l.opset = 13;
    l.inputs = std::move(in);
    l.outputs = {out};
    if (pad) l.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
    l.attrs.Set(kActivationAttr, std::string("Relu"));
    return l;
  };
  net.layers = {conv("conv1", {0, w1, b1}, a, true), conv("conv2", {a, w2, b2}, b, true),
                conv("conv3", {b, w3, b3, a}, c, false)};
  net.inputs = {0};
  net.outputs = {c};
  return net;
}

std::vector<std::vector<Tensor>> Batches(int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<Tensor>> batches;
  for (int i = 0; i < count; ++i) {
    batches.push_back({Tensor::FromVector<float>(RandomFloats(2 * 16 * 64, rng, -1.f, 1.f), {2, 16, 8, 8})});
  }
  return batches;
}

// Minmax scales of `net` calibrated on the first three of `batches`.
CalibrationCache MinMaxCache(const NetworkDef& net, std::vector<std::vector<Tensor>> batches) {
  auto data = InMemoryCalibrationData(std::move(batches));
  CalibrationOptions o;
  o.calibrator = CalibratorKind::kMinMax;
  auto ranges = Calibrate(net, *data, {0, 1, 2}, o);
  CalibrationCache cache = CalibrationCache::ForCalibrator(o.calibrator);
  EXPECT_TRUE(ranges.ok()) << ranges.status().message();
  if (!ranges.ok()) return cache;
  for (const TensorRange& r : *ranges) cache.SetAmax(r.name, r.amax);
  return cache;
}

TEST(LowerInt8, Int8FlowsBetweenInt8LayersAndMatchesTheSimulation) {
  NetworkDef net = ResidualChain(21);
  const CalibrationCache cache = MinMaxCache(net, Batches(4, 22));
  ASSERT_FALSE(HasFailure());

  Int8LoweringReport rep;
  auto lowered = LowerInt8(net, cache, {}, &rep);
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  EXPECT_EQ(rep.int8_layers, (std::vector<std::string>{"conv1", "conv2", "conv3"}));
  EXPECT_TRUE(rep.float_layers.empty());
  EXPECT_EQ(rep.int8_tensors, 2);  // a (conv2's X, conv3's residual) and b; c is a graph output
  EXPECT_EQ(rep.conversions, 1);   // x
  ASSERT_EQ(lowered->layers.size(), 4u);
  EXPECT_EQ(lowered->layers[0].op, OpType::kQuantizeNhwc);
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(lowered->layers[i].op, OpType::kInt8Conv);
  const LayerDef& conv3 = lowered->layers[3];
  ASSERT_EQ(conv3.inputs.size(), 5u);
  EXPECT_EQ(lowered->tensors[static_cast<size_t>(conv3.inputs[4])].dtype, DataType::kInt8);
  EXPECT_EQ(lowered->tensors[static_cast<size_t>(conv3.inputs[0])].shape, (Shape{2, 8, 8, 32}));
  EXPECT_EQ(lowered->tensors[static_cast<size_t>(conv3.outputs[0])].name, "c");

  auto sim = SimulateInt8(net, cache, {}, nullptr);
  ASSERT_TRUE(sim.ok());
  auto eval = Batches(1, 23)[0];
  std::vector<Tensor> fp32 = RunNet(net, eval), simulated = RunNet(*sim, eval), int8 = RunNet(*lowered, eval);
  ASSERT_EQ(int8.size(), 1u);
  // The lowered network is the simulation up to float summation order (a value on a rounding
  // boundary may land one step apart), and INT8 is close to FP32.
  EXPECT_LT(RelativeL2(int8, simulated), 2e-3);
  EXPECT_LT(RelativeL2(int8, fp32), 0.05);
  EXPECT_GT(RelativeL2(int8, fp32), 0.0);

  // conv2 kept float: a is read as float by conv2 and as int8 by conv3 (converted), b converted.
  auto mixed = LowerInt8(net, cache, {"conv2"}, &rep);
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(rep.int8_layers, (std::vector<std::string>{"conv1", "conv3"}));
  EXPECT_EQ(rep.float_layers.at("conv2"), "kept float");
  EXPECT_EQ(rep.int8_tensors, 0);
  EXPECT_EQ(rep.conversions, 3);
  auto sim_mixed = SimulateInt8(net, cache, {"conv2"}, nullptr);
  ASSERT_TRUE(sim_mixed.ok());
  EXPECT_LT(RelativeL2(RunNet(*mixed, eval), RunNet(*sim_mixed, eval)), 2e-3);

  // The plan stores the INT8 layers and int8 tensors: a loaded plan computes the same.
  PlanMetadata meta;
  meta.edgert_version = "test";
  auto bytes = SerializePlan(*lowered, meta);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto plan = LoadedPlan::OpenBytes(bytes->data(), bytes->size());
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  std::vector<Tensor> again = RunNet(plan->network(), eval);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(RelativeL2(again, int8), 0.0);
}

// x [4, 32] -> Gemm (B [16, 32] transB 1, C [16], Relu fused) -> h [4, 16] -> Gemm (B [16, 8]) -> y.
NetworkDef GemmChain(uint32_t seed) {
  std::mt19937 rng(seed);
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, {4, 32}, {}});
  net.tensors.push_back(
      {"b1", DataType::kFloat32, {16, 32}, Tensor::FromVector<float>(RandomFloats(512, rng, -0.2f, 0.2f), {16, 32})});
  net.tensors.push_back(
      {"c1", DataType::kFloat32, {16}, Tensor::FromVector<float>(RandomFloats(16, rng, -0.1f, 0.1f), {16})});
  net.tensors.push_back({"h", DataType::kFloat32, {4, 16}, {}});
  net.tensors.push_back(
      {"b2", DataType::kFloat32, {16, 8}, Tensor::FromVector<float>(RandomFloats(128, rng, -0.3f, 0.3f), {16, 8})});
  net.tensors.push_back({"y", DataType::kFloat32, {4, 8}, {}});
  LayerDef g1;
  g1.name = "fc1";
  g1.op = OpType::kGemm;
  g1.opset = 13;
  g1.attrs.Set("transB", int64_t{1});
  g1.attrs.Set(kActivationAttr, std::string("Relu"));
  g1.inputs = {0, 1, 2};
  g1.outputs = {3};
  LayerDef g2;
  g2.name = "fc2";
  g2.op = OpType::kGemm;
  g2.opset = 13;
  g2.inputs = {3, 4};
  g2.outputs = {5};
  net.layers = {g1, g2};
  net.inputs = {0};
  net.outputs = {5};
  return net;
}

TEST(LowerInt8, GemmsRunAsPointwiseInt8Convolutions) {
  NetworkDef net = GemmChain(51);
  std::mt19937 rng(52);
  std::vector<std::vector<Tensor>> batches;
  for (int b = 0; b < 4; ++b)
    batches.push_back({Tensor::FromVector<float>(RandomFloats(128, rng, -1.f, 1.f), {4, 32})});
  const CalibrationCache cache = MinMaxCache(net, batches);
  ASSERT_FALSE(HasFailure());
  Int8LoweringReport rep;
  auto lowered = LowerInt8(net, cache, {}, &rep);
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  EXPECT_EQ(rep.int8_layers, (std::vector<std::string>{"fc1", "fc2"}));
  EXPECT_EQ(rep.int8_tensors, 1);  // h: read only by fc2
  EXPECT_EQ(rep.conversions, 1);   // x
  std::vector<OpType> ops;
  for (const LayerDef& l : lowered->layers) ops.push_back(l.op);
  EXPECT_EQ(ops, (std::vector<OpType>{OpType::kReshape, OpType::kQuantizeNhwc, OpType::kInt8Conv, OpType::kInt8Conv,
                                      OpType::kReshape}));
  EXPECT_EQ(lowered->tensors[static_cast<size_t>(lowered->layers[2].outputs[0])].shape, (Shape{4, 1, 1, 16}));
  auto sim = SimulateInt8(net, cache, {}, nullptr);
  ASSERT_TRUE(sim.ok());
  const std::vector<Tensor> eval = batches[3];
  std::vector<Tensor> fp32 = RunNet(net, eval), simulated = RunNet(*sim, eval), int8 = RunNet(*lowered, eval);
  ASSERT_EQ(int8.size(), 1u);
  EXPECT_EQ(int8[0].shape(), (Shape{4, 8}));
  EXPECT_LT(RelativeL2(int8, simulated), 2e-3);
  EXPECT_LT(RelativeL2(int8, fp32), 0.05);
  EXPECT_GT(RelativeL2(int8, fp32), 0.0);
  // A Gemm with alpha != 1 stays float, with the reason.
  NetworkDef scaled = net;
  scaled.layers[1].attrs.Set("alpha", 2.0f);
  auto partly = LowerInt8(scaled, cache, {}, &rep);
  ASSERT_TRUE(partly.ok());
  EXPECT_EQ(rep.int8_layers, std::vector<std::string>{"fc1"});
  EXPECT_NE(rep.float_layers.at("fc2").find("alpha 1"), std::string::npos) << rep.float_layers.at("fc2");
  EXPECT_LT(RelativeL2(RunNet(*partly, eval), RunNet(scaled, eval)), 0.05);
}

TEST(LowerInt8, KeepsTheBatchProfile) {
  NetworkDef net = ResidualChain(41);
  net.profile.min = 1;  // the network is built at the profile's max, batch 2
  net.profile.opt = 1;
  net.profile.max = 2;
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    if (!net.tensors[i].is_constant()) net.profile.batch_tensors.push_back(static_cast<int32_t>(i));
  }
  ASSERT_TRUE(ValidateBatchProfile(net).ok());
  CalibrationCache cache = CalibrationCache::ForCalibrator(CalibratorKind::kMinMax);
  for (const char* t : {"x", "a", "b", "c"}) cache.SetAmax(t, 2.f);
  auto lowered = LowerInt8(net, cache, {});
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  Status valid = ValidateBatchProfile(*lowered);
  ASSERT_TRUE(valid.ok()) << valid.message();
  // Every activation (the NHWC and int8 ones included) follows the batch.
  for (size_t i = 0; i < lowered->tensors.size(); ++i) {
    if (lowered->tensors[i].is_constant()) continue;
    EXPECT_TRUE(std::count(lowered->profile.batch_tensors.begin(), lowered->profile.batch_tensors.end(),
                           static_cast<int32_t>(i)) == 1)
        << lowered->tensors[i].name;
  }
  auto at1 = SpecializeBatch(*lowered, 1);
  ASSERT_TRUE(at1.ok()) << at1.status().message();
  std::mt19937 rng(42);
  Tensor x = Tensor::FromVector<float>(RandomFloats(16 * 64, rng, -1.f, 1.f), {1, 16, 8, 8});
  std::vector<Tensor> out = RunNet(*at1, {x});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape(), (Shape{1, 32, 8, 8}));
}

TEST(LowerInt8, LayersThatCannotBeInt8StayFloatWithTheReason) {
  NetworkDef net = ResidualChain(31);
  CalibrationCache cache = CalibrationCache::ForCalibrator(CalibratorKind::kMinMax);
  cache.SetAmax("x", 1.f);
  cache.SetAmax("a", 2.f);
  // b has no scale: conv3 cannot read it as INT8.
  net.layers[1].attrs.Set("group", int64_t{2});  // grouped: no INT8 kernel
  TensorDef& w2 = net.tensors[static_cast<size_t>(net.layers[1].inputs[1])];
  w2.shape = {32, 16, 3, 3};
  w2.value = Tensor::FromVector<float>(std::vector<float>(32 * 16 * 9, 0.01f), {32, 16, 3, 3});
  Int8LoweringReport rep;
  auto lowered = LowerInt8(net, cache, {}, &rep);
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  EXPECT_EQ(rep.int8_layers, std::vector<std::string>{"conv1"});
  EXPECT_NE(rep.float_layers.at("conv2").find("grouped"), std::string::npos);
  EXPECT_NE(rep.float_layers.at("conv3").find("'b'"), std::string::npos);
  auto out = RunNet(*lowered, Batches(1, 32)[0]);
  EXPECT_EQ(out.size(), 1u);
}

TEST(LowerInt8, ResidualAfterTheActivationStaysFloat) {
  // conv3 = relu(conv(b)) + a (the activation-residual pass's form): the INT8 epilogue adds its
  // residual before the activation, so the layer stays float and computes the float result.
  NetworkDef net = ResidualChain(33);
  net.layers[2].attrs.Set(kResidualAfterActivationAttr, int64_t{1});
  CalibrationCache cache = CalibrationCache::ForCalibrator(CalibratorKind::kMinMax);
  for (const char* t : {"x", "a", "b"}) cache.SetAmax(t, 2.f);
  Int8LoweringReport rep;
  auto lowered = LowerInt8(net, cache, {}, &rep);
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  EXPECT_EQ(rep.int8_layers, (std::vector<std::string>{"conv1", "conv2"}));
  ASSERT_EQ(rep.float_layers.count("conv3"), 1u);
  EXPECT_NE(rep.float_layers.at("conv3").find("after the activation"), std::string::npos)
      << rep.float_layers.at("conv3");
  const std::vector<Tensor> in = Batches(1, 34)[0];
  auto got = RunNet(*lowered, in);
  auto want = RunNet(net, in);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(want.size(), 1u);
  const float* y = got[0].data<float>();
  double num = 0, den = 0;
  for (int64_t i = 0; i < want[0].num_elements(); ++i) {
    const double d = y[i] - want[0].data<float>()[i];
    num += d * d;
    den += static_cast<double>(want[0].data<float>()[i]) * want[0].data<float>()[i];
  }
  EXPECT_LT(std::sqrt(num / den), 0.05);  // INT8 error of conv1 and conv2 only

  // An INT8 convolution given the attribute is refused with its name.
  NetworkDef qnet = *lowered;
  for (LayerDef& l : qnet.layers) {
    if (l.op == OpType::kInt8Conv && l.name == "conv2") l.attrs.Set(kResidualAfterActivationAttr, int64_t{1});
  }
  auto e = CpuEngine::Create(qnet);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("residual_after_activation"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace edgert
