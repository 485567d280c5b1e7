// Explicit quantization (builder/src/calib/qdq_fold.h): Q/DQ pairs folded into INT8 convolutions.
//   - a hand-built Q/DQ network: the folded layers, the int8 tensor between the INT8 convolutions,
//     and the folded network against the unfolded one (Q/DQ run as float layers on the CPU engine);
//   - pairs that are not symmetric int8 per tensor stay, with the reason, and the network runs;
//   - weights whose per-channel max |q| is below 127: how far LowerInt8's re-quantization moves them;
//   - ONNX Q/DQ models (onnx.helper, and ONNX Runtime's quantize_static) built by BuildNetwork
//     against ONNX Runtime.
#include "calib/qdq_fold.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>

#include "edgert/builder.h"
#include "edgert/cpu_engine.h"
#include "edgert/fused_activation.h"
#include "onnx/tensor_file.h"
#include "onnx_test_util.h"

namespace edgert {
namespace {

using testing_util::TempDir;

std::vector<Tensor> RunNet(const NetworkDef& net, const std::vector<Tensor>& in) {
  auto engine = CpuEngine::Create(net);
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  std::vector<Tensor> out;
  if (engine.ok()) {
    Status s = (*engine)->Run(in, &out);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  return out;
}

// A deterministic value in [-1, 1) for index i (a multiplicative hash).
float Pseudo(uint32_t i, uint32_t seed) {
  const uint32_t h = (i + 1) * 2654435761u ^ seed * 40503u;
  return static_cast<float>((h >> 8) % 20001) / 10000.0f - 1.0f;
}

// Integer weights q in [-max_q, max_q] with every output channel reaching +-max_q, and per-channel
// scales 0.0005 * (1 + k % 3): w = q * scale.
void GridWeights(int64_t k, int64_t per_channel, int max_q, uint32_t seed, std::vector<int8_t>* q,
                 std::vector<float>* scales, std::vector<float>* w) {
  q->resize(static_cast<size_t>(k * per_channel));
  scales->resize(static_cast<size_t>(k));
  w->resize(q->size());
  for (int64_t o = 0; o < k; ++o) {
    (*scales)[static_cast<size_t>(o)] = 0.0005f * static_cast<float>(1 + o % 3);
    for (int64_t i = 0; i < per_channel; ++i) {
      const size_t at = static_cast<size_t>(o * per_channel + i);
      (*q)[at] = static_cast<int8_t>(std::lround(Pseudo(static_cast<uint32_t>(at), seed) * max_q));
    }
    (*q)[static_cast<size_t>(o * per_channel + (o * 7) % per_channel)] = static_cast<int8_t>(o % 2 ? max_q : -max_q);
    for (int64_t i = 0; i < per_channel; ++i) {
      const size_t at = static_cast<size_t>(o * per_channel + i);
      (*w)[at] = static_cast<float>((*q)[at]) * (*scales)[static_cast<size_t>(o)];
    }
  }
}

// How the input's Q/DQ pair is written.
enum class InputPair { kInt8, kUInt8NoZeroPoint, kUInt8ZeroPoint128, kInt8ZeroPoint3, kPerAxis };

constexpr float kInputScale = 2.0f / 127.0f;  // x in [-2, 2)
constexpr float kMiddleScale = 3.0f / 127.0f;

int32_t Add(NetworkDef& net, const std::string& name, DataType dtype, Shape shape, Tensor value = {}) {
  net.tensors.push_back({name, dtype, std::move(shape), std::move(value)});
  return static_cast<int32_t>(net.tensors.size() - 1);
}

LayerDef Layer(const std::string& name, OpType op, std::vector<int32_t> inputs, std::vector<int32_t> outputs) {
  LayerDef l;
  l.name = name;
  l.op = op;
  l.opset = 13;
  l.inputs = std::move(inputs);
  l.outputs = std::move(outputs);
  return l;
}

// x [1,16,8,8] -> QuantizeLinear/DequantizeLinear (as `input_pair`) -> conv1 (16 -> 32, 3x3, pads 1,
// bias, Relu fused as vertical fusion writes it) -> r1 -> Q/DQ (int8, kMiddleScale) -> conv2
// (32 -> 32, 3x3, pads 1, bias; its weight a DequantizeLinear of int8 per-channel constants, as an
// unoptimized model has it) -> y. conv1's weights are on an int8 grid whose channels reach
// +-conv1_max_q.
NetworkDef QdqConvNetwork(InputPair input_pair, int conv1_max_q = 127) {
  NetworkDef net;
  const int32_t x = Add(net, "x", DataType::kFloat32, {1, 16, 8, 8});
  int32_t sx = -1, zx = -1;
  DataType qtype = DataType::kInt8;
  switch (input_pair) {
    case InputPair::kInt8:
      sx = Add(net, "x_scale", DataType::kFloat32, {}, Tensor::Scalar<float>(kInputScale));
      zx = Add(net, "x_zero_point", DataType::kInt8, {}, Tensor::Scalar<int8_t>(0));
      break;
    case InputPair::kUInt8NoZeroPoint:
      sx = Add(net, "x_scale", DataType::kFloat32, {}, Tensor::Scalar<float>(kInputScale));
      qtype = DataType::kUInt8;
      break;
    case InputPair::kUInt8ZeroPoint128:
      sx = Add(net, "x_scale", DataType::kFloat32, {}, Tensor::Scalar<float>(kInputScale));
      zx = Add(net, "x_zero_point", DataType::kUInt8, {}, Tensor::Scalar<uint8_t>(128));
      qtype = DataType::kUInt8;
      break;
    case InputPair::kInt8ZeroPoint3:
      sx = Add(net, "x_scale", DataType::kFloat32, {}, Tensor::Scalar<float>(kInputScale));
      zx = Add(net, "x_zero_point", DataType::kInt8, {}, Tensor::Scalar<int8_t>(3));
      break;
    case InputPair::kPerAxis: {
      std::vector<float> s(16);
      for (size_t c = 0; c < s.size(); ++c) s[c] = kInputScale * (1.0f + 0.05f * static_cast<float>(c));
      sx = Add(net, "x_scale", DataType::kFloat32, {16}, Tensor::FromVector<float>(s, {16}));
      zx =
          Add(net, "x_zero_point", DataType::kInt8, {16}, Tensor::FromVector<int8_t>(std::vector<int8_t>(16, 0), {16}));
      break;
    }
  }
  const int32_t xq = Add(net, "x_q", qtype, {1, 16, 8, 8});
  const int32_t xdq = Add(net, "x_dq", DataType::kFloat32, {1, 16, 8, 8});
  std::vector<int8_t> q1;
  std::vector<float> s1, w1;
  GridWeights(32, 16 * 9, conv1_max_q, 1, &q1, &s1, &w1);
  const int32_t w1_id =
      Add(net, "w1", DataType::kFloat32, {32, 16, 3, 3}, Tensor::FromVector<float>(w1, {32, 16, 3, 3}));
  std::vector<float> b1(32), b2(32);
  for (size_t i = 0; i < 32; ++i) {
    b1[i] = 0.1f * Pseudo(static_cast<uint32_t>(i), 2);
    b2[i] = 0.1f * Pseudo(static_cast<uint32_t>(i), 3);
  }
  const int32_t b1_id = Add(net, "b1", DataType::kFloat32, {32}, Tensor::FromVector<float>(b1, {32}));
  const int32_t r1 = Add(net, "r1", DataType::kFloat32, {1, 32, 8, 8});
  const int32_t sr = Add(net, "r1_scale", DataType::kFloat32, {}, Tensor::Scalar<float>(kMiddleScale));
  const int32_t zr = Add(net, "r1_zero_point", DataType::kInt8, {}, Tensor::Scalar<int8_t>(0));
  const int32_t r1q = Add(net, "r1_q", DataType::kInt8, {1, 32, 8, 8});
  const int32_t r1dq = Add(net, "r1_dq", DataType::kFloat32, {1, 32, 8, 8});
  std::vector<int8_t> q2;
  std::vector<float> s2, w2;
  GridWeights(32, 32 * 9, 127, 4, &q2, &s2, &w2);
  const int32_t w2q = Add(net, "w2_q", DataType::kInt8, {32, 32, 3, 3}, Tensor::FromVector<int8_t>(q2, {32, 32, 3, 3}));
  const int32_t w2s = Add(net, "w2_scale", DataType::kFloat32, {32}, Tensor::FromVector<float>(s2, {32}));
  const int32_t w2z =
      Add(net, "w2_zero_point", DataType::kInt8, {32}, Tensor::FromVector<int8_t>(std::vector<int8_t>(32, 0), {32}));
  const int32_t w2_id = Add(net, "w2", DataType::kFloat32, {32, 32, 3, 3});
  const int32_t b2_id = Add(net, "b2", DataType::kFloat32, {32}, Tensor::FromVector<float>(b2, {32}));
  const int32_t y = Add(net, "y", DataType::kFloat32, {1, 32, 8, 8});

  std::vector<int32_t> x_params = {sx};
  if (zx >= 0) x_params.push_back(zx);
  std::vector<int32_t> q_in = {x}, dq_in = {xq};
  q_in.insert(q_in.end(), x_params.begin(), x_params.end());
  dq_in.insert(dq_in.end(), x_params.begin(), x_params.end());
  LayerDef qx = Layer("x_QuantizeLinear", OpType::kQuantizeLinear, q_in, {xq});
  LayerDef dqx = Layer("x_DequantizeLinear", OpType::kDequantizeLinear, dq_in, {xdq});
  if (input_pair == InputPair::kPerAxis) {
    qx.attrs.Set("axis", int64_t{1});
    dqx.attrs.Set("axis", int64_t{1});
  }
  LayerDef conv1 = Layer("conv1", OpType::kConv, {xdq, w1_id, b1_id}, {r1});
  conv1.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  conv1.attrs.Set(kActivationAttr, std::string("Relu"));
  LayerDef qr = Layer("r1_QuantizeLinear", OpType::kQuantizeLinear, {r1, sr, zr}, {r1q});
  LayerDef dqr = Layer("r1_DequantizeLinear", OpType::kDequantizeLinear, {r1q, sr, zr}, {r1dq});
  LayerDef dqw = Layer("w2_DequantizeLinear", OpType::kDequantizeLinear, {w2q, w2s, w2z}, {w2_id});
  dqw.attrs.Set("axis", int64_t{0});
  LayerDef conv2 = Layer("conv2", OpType::kConv, {r1dq, w2_id, b2_id}, {y});
  conv2.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  net.layers = {qx, dqx, conv1, qr, dqr, dqw, conv2};
  net.inputs = {x};
  net.outputs = {y};
  return net;
}

Tensor Input() {
  std::vector<float> v(16 * 64);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 2.0f * Pseudo(static_cast<uint32_t>(i), 9);
  return Tensor::FromVector<float>(v, {1, 16, 8, 8});
}

double RelativeL2Of(const Tensor& a, const Tensor& ref) { return RelativeL2({a}, {ref}); }

std::vector<OpType> Ops(const NetworkDef& net) {
  std::vector<OpType> ops;
  for (const LayerDef& l : net.layers) ops.push_back(l.op);
  return ops;
}

TEST(QdqFold, FoldsPairsIntoInt8ConvsAndMatchesTheQdqNetwork) {
  const NetworkDef net = QdqConvNetwork(InputPair::kInt8);
  ASSERT_TRUE(HasQdqLayers(net));
  QdqFoldReport rep;
  auto folded = FoldExplicitQuantization(net, &rep);
  ASSERT_TRUE(folded.ok()) << folded.status().message();
  EXPECT_EQ(rep.folded_convs, (std::vector<std::string>{"conv1", "conv2"}));
  EXPECT_TRUE(rep.float_convs.empty());
  EXPECT_EQ(rep.folded_weights, 1);  // w2's DequantizeLinear
  ASSERT_EQ(rep.removed.size(), 2u);
  EXPECT_TRUE(rep.kept.empty());
  EXPECT_EQ(rep.removed[0].tensor, "x");
  EXPECT_EQ(rep.removed[0].scale, kInputScale);
  EXPECT_EQ(rep.removed[1].tensor, "r1");
  EXPECT_EQ(rep.removed[1].scale, kMiddleScale);
  EXPECT_EQ(rep.lowering.int8_tensors, 1);  // r1
  EXPECT_EQ(rep.lowering.conversions, 1);   // x

  EXPECT_EQ(Ops(*folded),
            (std::vector<OpType>{OpType::kQuantizeNhwc, OpType::kInt8Conv, OpType::kInt8Conv}));
  const LayerDef& c1 = folded->layers[1];
  const LayerDef& c2 = folded->layers[2];
  const TensorDef& middle = folded->tensors[static_cast<size_t>(c1.outputs[0])];
  EXPECT_EQ(middle.dtype, DataType::kInt8);
  EXPECT_EQ(middle.shape, (Shape{1, 8, 8, 32}));
  EXPECT_EQ(c2.inputs[0], c1.outputs[0]);
  EXPECT_EQ(*c1.attrs.GetFloatOr("x_scale", 0), kInputScale);
  EXPECT_EQ(*c1.attrs.GetFloatOr("y_scale", 0), kMiddleScale);  // the middle pair's scale
  EXPECT_EQ(*c2.attrs.GetFloatOr("x_scale", 0), kMiddleScale);
  EXPECT_FALSE(c2.attrs.Has("y_scale"));  // y is a float graph output
  EXPECT_EQ(*c1.attrs.GetStringOr(kActivationAttr, ""), "Relu");
  // conv2's weight came from int8 values with max |q| = 127 per channel: LowerInt8's re-quantization
  // gives back exactly those int8 values (KRSC).
  const Tensor& w2 = folded->tensors[static_cast<size_t>(c2.inputs[1])].value;
  const Tensor& w2q = net.tensors[static_cast<size_t>(net.layers[5].inputs[0])].value;
  ASSERT_EQ(w2.shape(), (Shape{32, 3, 3, 32}));
  int64_t same = 0;
  for (int64_t k = 0; k < 32; ++k) {
    for (int64_t c = 0; c < 32; ++c) {
      for (int64_t rs = 0; rs < 9; ++rs) {
        same += w2.data<int8_t>()[(k * 9 + rs) * 32 + c] == w2q.data<int8_t>()[(k * 32 + c) * 9 + rs];
      }
    }
  }
  EXPECT_EQ(same, w2.num_elements());

  // Against the Q/DQ network run as written (float layers, simulated quantization): the same
  // integers but for an r1 value whose float sum lands within rounding of a midpoint of r1's grid
  // (summation order differs), which moves it by one step of kMiddleScale.
  const Tensor x = Input();
  std::vector<Tensor> want = RunNet(net, {x}), got = RunNet(*folded, {x});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].shape(), want[0].shape());
  EXPECT_LT(RelativeL2Of(got[0], want[0]), 1e-2);
  int64_t close = 0;
  double norm = 0;
  for (int64_t i = 0; i < want[0].num_elements(); ++i) {
    norm = std::max(norm, std::fabs(static_cast<double>(want[0].data<float>()[i])));
    close += std::fabs(got[0].data<float>()[i] - want[0].data<float>()[i]) <= 1e-4f;
  }
  EXPECT_GT(norm, 0.5);  // the output is not trivially small
  EXPECT_GE(close, want[0].num_elements() * 95 / 100);
}

struct KeptCase {
  InputPair pair;
  const char* reason;
};

TEST(QdqFold, PairsThatAreNotSymmetricInt8StayAndTheNetworkRuns) {
  for (const KeptCase& k : {KeptCase{InputPair::kUInt8NoZeroPoint, "an absent zero point means uint8"},
                            KeptCase{InputPair::kUInt8ZeroPoint128, "uint8 quantization"},
                            KeptCase{InputPair::kInt8ZeroPoint3, "nonzero zero point (3"},
                            KeptCase{InputPair::kPerAxis, "per-axis activation scale"}}) {
    SCOPED_TRACE(k.reason);
    const NetworkDef net = QdqConvNetwork(k.pair);
    QdqFoldReport rep;
    auto folded = FoldExplicitQuantization(net, &rep);
    ASSERT_TRUE(folded.ok()) << folded.status().message();
    // conv1 stays float behind its pair; conv2's pair is symmetric int8, so conv2 is INT8.
    EXPECT_EQ(rep.folded_convs, std::vector<std::string>{"conv2"});
    ASSERT_EQ(rep.float_convs.count("conv1"), 1u);
    EXPECT_NE(rep.float_convs["conv1"].find(k.reason), std::string::npos) << rep.float_convs["conv1"];
    ASSERT_EQ(rep.kept.size(), 1u);
    EXPECT_EQ(rep.kept[0].dequantize, "x_DequantizeLinear");
    EXPECT_NE(rep.kept[0].reason.find(k.reason), std::string::npos) << rep.kept[0].reason;
    ASSERT_EQ(rep.removed.size(), 1u);
    EXPECT_EQ(rep.removed[0].tensor, "r1");
    EXPECT_EQ(Ops(*folded), (std::vector<OpType>{OpType::kQuantizeLinear, OpType::kDequantizeLinear, OpType::kConv,
                                                 OpType::kQuantizeNhwc, OpType::kInt8Conv}));
    const Tensor x = Input();
    std::vector<Tensor> want = RunNet(net, {x}), got = RunNet(*folded, {x});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_LT(RelativeL2Of(got[0], want[0]), 1e-2);
  }
}

// conv2 with a fused residual (input 3, as vertical fusion writes Conv + Add) that also comes from
// the middle pair: both inputs read r1, which stays int8 (conv2 reads it as X and as Z).
TEST(QdqFold, AFusedResidualFromAPairIsReadAsInt8) {
  NetworkDef net = QdqConvNetwork(InputPair::kInt8);
  ASSERT_EQ(net.layers[6].name, "conv2");
  net.layers[6].inputs.push_back(net.layers[4].outputs[0]);
  QdqFoldReport rep;
  auto folded = FoldExplicitQuantization(net, &rep);
  ASSERT_TRUE(folded.ok()) << folded.status().message();
  EXPECT_EQ(rep.folded_convs, (std::vector<std::string>{"conv1", "conv2"}));
  EXPECT_EQ(rep.lowering.int8_tensors, 1);
  ASSERT_EQ(folded->layers.size(), 3u);
  const LayerDef& c1 = folded->layers[1];
  const LayerDef& c2 = folded->layers[2];
  ASSERT_EQ(c2.inputs.size(), 5u);
  EXPECT_EQ(c2.inputs[4], c1.outputs[0]);
  EXPECT_EQ(*c2.attrs.GetFloatOr("z_scale", 0), kMiddleScale);
  const Tensor x = Input();
  std::vector<Tensor> want = RunNet(net, {x}), got = RunNet(*folded, {x});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LT(RelativeL2Of(got[0], want[0]), 1e-2);
  int64_t close = 0;
  for (int64_t i = 0; i < want[0].num_elements(); ++i) {
    close += std::fabs(got[0].data<float>()[i] - want[0].data<float>()[i]) <= 1e-4f;
  }
  EXPECT_GE(close, want[0].num_elements() * 95 / 100);
}

// ONNX Runtime's pattern for Conv + Relu with symmetric activations: conv1 (no fused activation) ->
// pair(c1_scale) -> Relu -> pair(kMiddleScale). With c1_scale == kMiddleScale the Relu is fused into
// conv1 (exact: round(max(c, 0) / s) = max(round(c / s), 0)) and r1 flows as int8; with another
// scale the Relu and the first pair stay (conv1 writes float for them).
TEST(QdqFold, AReluBetweenTwoPairsOfOneScaleJoinsTheConv) {
  for (float c1_scale : {kMiddleScale, 2.5f / 127.0f}) {
    SCOPED_TRACE(c1_scale);
    NetworkDef net = QdqConvNetwork(InputPair::kInt8);
    LayerDef& conv1 = net.layers[2];
    ASSERT_EQ(conv1.name, "conv1");
    conv1.attrs = Attributes();
    conv1.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
    const int32_t r1 = conv1.outputs[0];
    const Shape shape = net.tensors[static_cast<size_t>(r1)].shape;
    const int32_t c1 = Add(net, "c1", DataType::kFloat32, shape);
    const int32_t s = Add(net, "c1_scale", DataType::kFloat32, {}, Tensor::Scalar<float>(c1_scale));
    const int32_t zp = Add(net, "c1_zero_point", DataType::kInt8, {}, Tensor::Scalar<int8_t>(0));
    const int32_t c1q = Add(net, "c1_q", DataType::kInt8, shape);
    const int32_t c1dq = Add(net, "c1_dq", DataType::kFloat32, shape);
    net.layers[2].outputs = {c1};
    const std::vector<LayerDef> chain = {Layer("c1_QuantizeLinear", OpType::kQuantizeLinear, {c1, s, zp}, {c1q}),
                                         Layer("c1_DequantizeLinear", OpType::kDequantizeLinear, {c1q, s, zp}, {c1dq}),
                                         Layer("relu", OpType::kRelu, {c1dq}, {r1})};
    net.layers.insert(net.layers.begin() + 3, chain.begin(), chain.end());
    QdqFoldReport rep;
    auto folded = FoldExplicitQuantization(net, &rep);
    ASSERT_TRUE(folded.ok()) << folded.status().message();
    EXPECT_EQ(rep.folded_convs, (std::vector<std::string>{"conv1", "conv2"}));
    const bool same = c1_scale == kMiddleScale;
    EXPECT_EQ(rep.absorbed_activations, same ? 1 : 0);
    EXPECT_EQ(rep.lowering.int8_tensors, same ? 1 : 0);
    if (same) {
      EXPECT_EQ(Ops(*folded), (std::vector<OpType>{OpType::kQuantizeNhwc, OpType::kInt8Conv,
                                                   OpType::kInt8Conv}));
      EXPECT_EQ(*folded->layers[1].attrs.GetStringOr(kActivationAttr, ""), "Relu");
    } else {
      ASSERT_EQ(rep.kept.size(), 1u);
      EXPECT_EQ(rep.kept[0].reason, "read by Relu 'relu', not a lowerable Conv");
    }
    const Tensor x = Input();
    std::vector<Tensor> want = RunNet(net, {x}), got = RunNet(*folded, {x});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_LT(RelativeL2Of(got[0], want[0]), 1e-2);
  }
}

// The middle pair's output is also read by a Relu (a second graph output): the pair stays for it,
// conv2 still reads r1 as INT8, and conv1 writes r1 as float (it has a float reader), so r1 is
// quantized again for conv2.
TEST(QdqFold, APairWithAFloatReaderStaysForIt) {
  NetworkDef net = QdqConvNetwork(InputPair::kInt8);
  const int32_t r1dq = net.layers[4].outputs[0];
  const int32_t z = Add(net, "z", DataType::kFloat32, {1, 32, 8, 8});
  net.layers.push_back(Layer("extra", OpType::kRelu, {r1dq}, {z}));
  net.outputs.push_back(z);
  QdqFoldReport rep;
  auto folded = FoldExplicitQuantization(net, &rep);
  ASSERT_TRUE(folded.ok()) << folded.status().message();
  EXPECT_EQ(rep.folded_convs, (std::vector<std::string>{"conv1", "conv2"}));
  ASSERT_EQ(rep.kept.size(), 1u);
  EXPECT_EQ(rep.kept[0].tensor, "r1");
  EXPECT_EQ(rep.kept[0].reason, "read by Relu 'extra', not a lowerable Conv");
  EXPECT_EQ(rep.lowering.int8_tensors, 0);
  EXPECT_EQ(rep.lowering.conversions, 2);  // x and r1
  EXPECT_EQ(Ops(*folded), (std::vector<OpType>{OpType::kQuantizeNhwc, OpType::kInt8Conv,
                                               OpType::kQuantizeLinear, OpType::kDequantizeLinear, OpType::kQuantizeNhwc, OpType::kInt8Conv, OpType::kRelu}));
  const Tensor x = Input();
  std::vector<Tensor> want = RunNet(net, {x}), got = RunNet(*folded, {x});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_LT(RelativeL2(got, want), 1e-2);
  EXPECT_EQ(RelativeL2Of(got[1], want[1]), 0.0);  // z: the same Q/DQ of the same float r1
}

TEST(QdqFold, NothingToFoldLeavesTheNetworkAlone) {
  NetworkDef net = QdqConvNetwork(InputPair::kUInt8NoZeroPoint);
  // Without the middle pair conv2 reads r1 directly: no Conv reads a symmetric int8 pair.
  net.layers[6].inputs[0] = net.layers[3].inputs[0];
  net.layers.erase(net.layers.begin() + 3, net.layers.begin() + 5);
  QdqFoldReport rep;
  auto folded = FoldExplicitQuantization(net, &rep);
  ASSERT_TRUE(folded.ok()) << folded.status().message();
  EXPECT_TRUE(rep.folded_convs.empty());
  EXPECT_NE(rep.float_convs["conv2"].find("'r1' is not the output of a Q/DQ pair"), std::string::npos);
  EXPECT_EQ(Ops(*folded), Ops(net));
  EXPECT_EQ(NetworkHash(*folded), NetworkHash(net));
}

// conv1's int8 weights reach only +-100 per channel (a quantizer whose weight scale is not
// max|w| / 127). LowerInt8 re-quantizes from the float values with scale' = max|w| / 127 =
// 100 * scale / 127: every weight moves to the finer grid by at most scale' / 2 (under half an
// original step), and the result still matches the Q/DQ network.
TEST(QdqFold, WeightsBelowTheFullInt8RangeAreRequantized) {
  const NetworkDef net = QdqConvNetwork(InputPair::kInt8, 100);
  auto folded = FoldExplicitQuantization(net);
  ASSERT_TRUE(folded.ok()) << folded.status().message();
  ASSERT_EQ(folded->layers[1].op, OpType::kInt8Conv);
  const LayerDef& c1 = folded->layers[1];
  const Tensor& wq = folded->tensors[static_cast<size_t>(c1.inputs[1])].value;        // int8 KRSC
  const Tensor& ws = folded->tensors[static_cast<size_t>(c1.inputs[3])].value;        // per channel
  const Tensor& w = net.tensors[static_cast<size_t>(net.layers[2].inputs[1])].value;  // float KCRS
  int64_t moved = 0;
  double worst_in_new_steps = 0, worst_in_old_steps = 0;
  for (int64_t k = 0; k < 32; ++k) {
    const float old_step = 0.0005f * static_cast<float>(1 + k % 3);
    const float new_step = ws.data<float>()[k];
    EXPECT_NEAR(new_step, old_step * 100.0f / 127.0f, 1e-9);
    for (int64_t c = 0; c < 16; ++c) {
      for (int64_t rs = 0; rs < 9; ++rs) {
        const float original = w.data<float>()[(k * 16 + c) * 9 + rs];
        const float now = static_cast<float>(wq.data<int8_t>()[(k * 9 + rs) * 16 + c]) * new_step;
        const double d = std::fabs(static_cast<double>(now) - original);
        moved += d > 1e-9;
        worst_in_new_steps = std::max(worst_in_new_steps, d / new_step);
        worst_in_old_steps = std::max(worst_in_old_steps, d / old_step);
      }
    }
  }
  EXPECT_GT(moved, 0);
  EXPECT_LE(worst_in_new_steps, 0.5 + 1e-4);
  EXPECT_LT(worst_in_old_steps, 0.5);
  const Tensor x = Input();
  EXPECT_LT(RelativeL2Of(RunNet(*folded, {x})[0], RunNet(net, {x})[0]), 1e-2);
}

// ---- ONNX models against ONNX Runtime ---------------------------------------------------------

std::string SourceDir() {
  std::string file = __FILE__;
  std::string dir = file.substr(0, file.find_last_of('/'));
  if (dir[0] == '/') return dir;
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return dir;
  std::string exe(buf, static_cast<size_t>(n));
  std::string build = exe.substr(0, exe.find_last_of('/'));
  return build.substr(0, build.find_last_of('/')) + "/" + dir;
}

// Builds NAME.onnx (optimized: its Q/DQ pairs folded), checks that `int8_convs` Convs became
// EdgertInt8Conv, and compares the output with ONNX Runtime's (as written, and optimized).
// Tolerance: both compute the same integers except where a float sum lands within float32 rounding
// of a rounding midpoint of some quantized tensor (edgert's INT8 epilogue and ONNX Runtime's float
// Conv sum in different orders); such a flip moves that element by one step, and the change reaches
// the output through the following layers, on the output's Q/DQ grid. So: at most 3 output steps
// anywhere, at most 2% of the elements off by more than float rounding, relative L2 < 1e-2.
void ExpectFoldedMatchesOrt(const std::string& dir, const std::string& name, const Shape& shape, int int8_convs) {
  SCOPED_TRACE(name);
  StatusOr<Tensor> x = ReadTensorFile(dir + "/" + name + "_x.npy");
  StatusOr<Tensor> step = ReadTensorFile(dir + "/" + name + "_step.npy");
  ASSERT_TRUE(x.ok() && step.ok());
  BuildOptions options;
  options.shapes["x"] = shape;
  BuildReport report;
  StatusOr<NetworkDef> net = BuildNetwork(dir + "/" + name + ".onnx", options, &report);
  ASSERT_TRUE(net.ok()) << net.status().message();
  int int8 = 0, int8_out = 0, conv = 0, relu = 0;
  for (const LayerDef& l : net->layers) {
    int8 += l.op == OpType::kInt8Conv;
    int8_out += l.op == OpType::kInt8Conv && l.attrs.Has("y_scale");
    conv += l.op == OpType::kConv;
    relu += l.op == OpType::kRelu;
  }
  EXPECT_EQ(int8, int8_convs);
  EXPECT_EQ(conv, 0);
  // The Relus are fused (helper_conv: vertical fusion; static_conv: between two pairs of one
  // scale, step 1b), so every INT8 Conv but the last writes int8 for the next one.
  EXPECT_EQ(relu, 0);
  EXPECT_EQ(int8_out, int8_convs - 1);
  auto pass = std::find_if(report.passes.begin(), report.passes.end(),
                           [](const BuildReport::Pass& p) { return p.name == "explicit-quantization"; });
  ASSERT_NE(pass, report.passes.end());
  EXPECT_EQ(pass->rewrites, int8_convs);
  EXPECT_EQ(report.layers, static_cast<int>(net->layers.size()));
  std::vector<Tensor> out = RunNet(*net, {*x});
  ASSERT_EQ(out.size(), 1u);
  const double s = step->GetAsDouble(0);
  for (const char* which : {"_ref.npy", "_opt.npy"}) {
    StatusOr<Tensor> ref = ReadTensorFile(dir + "/" + name + which);
    ASSERT_TRUE(ref.ok());
    ASSERT_EQ(out[0].shape(), ref->shape());
    int64_t differ = 0;
    double max_diff = 0;
    for (int64_t i = 0; i < ref->num_elements(); ++i) {
      const double d = std::fabs(out[0].data<float>()[i] - ref->data<float>()[i]);
      max_diff = std::max(max_diff, d);
      differ += d > 1e-5;
    }
    EXPECT_LE(max_diff, 3 * s * 1.0001) << which;
    EXPECT_LE(differ, ref->num_elements() / 50) << which;
    EXPECT_LT(RelativeL2Of(out[0], *ref), 1e-2) << which;
  }
}

TEST(QdqFold, OnnxQdqConvModelsBuildInt8AndMatchOnnxRuntime) {
  TempDir dir;
  const std::string script = SourceDir() + "/data_gen/make_qdq_conv_models.py";
  const std::string cmd = "python3 '" + script + "' '" + dir.path() + "' > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    EDGERT_SKIP_WITHOUT_ORACLE("python3 with onnx, onnxruntime and numpy is needed: " << script);
  ExpectFoldedMatchesOrt(dir.path(), "helper_conv", {1, 16, 12, 12}, 2);
  ExpectFoldedMatchesOrt(dir.path(), "static_conv", {1, 16, 16, 16}, 3);
}

}  // namespace
}  // namespace edgert
