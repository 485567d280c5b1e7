// EdgertConvNhwc and EdgertMaxPoolNhwc on the CPU reference (contract in runtime/src/ops/nhwc.h):
//   - each equals its NCHW ONNX counterpart (Conv / MaxPool of the CPU engine, itself checked by
//     the ONNX conformance tests) on the permuted tensors, element for element: geometry, groups,
//     depthwise, dilations, asymmetric pads, auto_pad, ceil_mode, bias, residual, activations;
//   - errors name the layer and the input or attribute at fault.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "edgert/cpu_engine.h"
#include "edgert/fused_activation.h"
#include "edgert/network.h"

namespace edgert {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// [A, B, C, D] -> [A, C, D, B] (NCHW -> NHWC, KCRS -> KRSC) of a rank-4 tensor.
std::vector<float> ToLast(const std::vector<float>& v, const Shape& s) {
  std::vector<float> out(v.size());
  for (int64_t a = 0; a < s[0]; ++a)
    for (int64_t b = 0; b < s[1]; ++b)
      for (int64_t c = 0; c < s[2]; ++c)
        for (int64_t d = 0; d < s[3]; ++d)
          out[static_cast<size_t>(((a * s[2] + c) * s[3] + d) * s[1] + b)] =
              v[static_cast<size_t>(((a * s[1] + b) * s[2] + c) * s[3] + d)];
  return out;
}

Shape LastShape(const Shape& s) { return {s[0], s[2], s[3], s[1]}; }

std::vector<Tensor> Run(const NetworkDef& net, const std::vector<Tensor>& in) {
  auto engine = CpuEngine::Create(net);
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  std::vector<Tensor> out;
  if (engine.ok()) {
    const Status s = (*engine)->Run(in, &out);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  return out;
}

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.num_elements());
}

struct ConvCase {
  Shape x = {2, 6, 9, 8};  // NCHW
  Shape w = {4, 6, 3, 3};  // KCRS (C / group)
  Shape y = {2, 4, 9, 8};  // NCHW output, hand-computed from the geometry
  int64_t group = 1;
  Attributes attrs;  // strides, pads, dilations, auto_pad, activation
  bool bias = true;
  bool residual = false;
};

// Runs the case as Conv on NCHW tensors and as EdgertConvNhwc on the permuted ones and expects
// the permuted NCHW output, bit for bit.
void CheckConv(const ConvCase& c, uint32_t seed) {
  SCOPED_TRACE("case " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::vector<float> x = Random(static_cast<size_t>(c.x[0] * c.x[1] * c.x[2] * c.x[3]), rng);
  const std::vector<float> w = Random(static_cast<size_t>(c.w[0] * c.w[1] * c.w[2] * c.w[3]), rng);
  const std::vector<float> b = Random(static_cast<size_t>(c.w[0]), rng);

  NetworkDef nchw;
  nchw.tensors.push_back({"x", DataType::kFloat32, c.x, {}});
  nchw.tensors.push_back({"w", DataType::kFloat32, c.w, Tensor::FromVector<float>(w, c.w)});
  nchw.tensors.push_back({"b", DataType::kFloat32, {c.w[0]}, Tensor::FromVector<float>(b, {c.w[0]})});
  LayerDef conv;
  conv.name = "conv";
  conv.op = OpType::kConv;
  conv.opset = 13;
  conv.attrs = c.attrs;
  conv.attrs.Set("group", c.group);
  conv.inputs = {0, 1, c.bias ? 2 : -1};
  const Shape y_shape = c.y;
  nchw.tensors.push_back({"y", DataType::kFloat32, y_shape, {}});
  conv.outputs = {3};
  nchw.layers = {conv};
  nchw.inputs = {0};
  nchw.outputs = {3};
  std::vector<Tensor> nchw_in = {Tensor::FromVector<float>(x, c.x)};
  std::vector<float> z;
  if (c.residual) {
    z = Random(static_cast<size_t>(y_shape[0] * y_shape[1] * y_shape[2] * y_shape[3]), rng);
    nchw.tensors.push_back({"z", DataType::kFloat32, y_shape, {}});
    nchw.layers[0].inputs.push_back(4);
    nchw.inputs = {0, 4};
    nchw_in.push_back(Tensor::FromVector<float>(z, y_shape));
  }
  const std::vector<Tensor> want = Run(nchw, nchw_in);
  ASSERT_EQ(want.size(), 1u);

  NetworkDef nhwc = nchw;
  nhwc.tensors[0].shape = LastShape(c.x);
  const Shape w_last = LastShape(c.w);
  nhwc.tensors[1] = {"w", DataType::kFloat32, w_last, Tensor::FromVector<float>(ToLast(w, c.w), w_last)};
  nhwc.tensors[3].shape = LastShape(y_shape);
  if (c.residual) nhwc.tensors[4].shape = LastShape(y_shape);
  nhwc.layers[0].op = OpType::kConvNhwc;
  std::vector<Tensor> nhwc_in = {Tensor::FromVector<float>(ToLast(x, c.x), LastShape(c.x))};
  if (c.residual) nhwc_in.push_back(Tensor::FromVector<float>(ToLast(z, y_shape), LastShape(y_shape)));
  const std::vector<Tensor> got = Run(nhwc, nhwc_in);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shape(), LastShape(y_shape));
  const std::vector<float> expect = ToLast(Values(want[0]), y_shape);
  const std::vector<float> have = Values(got[0]);
  ASSERT_EQ(have.size(), expect.size());
  double norm = 0;
  for (size_t i = 0; i < have.size(); ++i) {
    ASSERT_EQ(have[i], expect[i]) << "element " << i;
    norm += expect[i] * expect[i];
  }
  EXPECT_GT(norm, 0.0);  // the case computes something
}

TEST(ConvNhwc, EqualsConvOnPermutedTensors) {
  ConvCase base;
  base.attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  CheckConv(base, 1);

  ConvCase strided = base;
  strided.attrs.Set("strides", std::vector<int64_t>{2, 2});
  strided.attrs.Set("pads", std::vector<int64_t>{0, 1, 2, 0});
  strided.y = {2, 4, 5, 4};
  CheckConv(strided, 2);

  ConvCase stem;  // 7x7 stride 2 on 3 channels
  stem.x = {1, 3, 15, 13};
  stem.w = {8, 3, 7, 7};
  stem.y = {1, 8, 8, 7};
  stem.attrs.Set("strides", std::vector<int64_t>{2, 2});
  stem.attrs.Set("pads", std::vector<int64_t>{3, 3, 3, 3});
  stem.attrs.Set(kActivationAttr, std::string("Relu"));
  CheckConv(stem, 3);

  ConvCase pointwise;
  pointwise.w = {5, 6, 1, 1};
  pointwise.y = {2, 5, 9, 8};
  pointwise.bias = false;
  CheckConv(pointwise, 4);

  ConvCase grouped;
  grouped.w = {4, 3, 3, 3};
  grouped.group = 2;
  grouped.attrs.Set("dilations", std::vector<int64_t>{2, 1});
  grouped.attrs.Set("pads", std::vector<int64_t>{2, 1, 2, 1});
  CheckConv(grouped, 5);

  ConvCase depthwise;
  depthwise.w = {6, 1, 3, 3};
  depthwise.group = 6;
  depthwise.y = {2, 6, 5, 4};
  depthwise.attrs.Set("auto_pad", std::string("SAME_UPPER"));
  depthwise.attrs.Set("strides", std::vector<int64_t>{2, 2});
  depthwise.attrs.Set(kActivationAttr, std::string("Clip"));
  depthwise.attrs.Set(kActivationAlphaAttr, 0.0f);
  depthwise.attrs.Set(kActivationBetaAttr, 0.5f);
  CheckConv(depthwise, 6);

  for (const char* act : {"", "Relu", "LeakyRelu", "Sigmoid", "SiLU"}) {
    ConvCase residual = base;
    residual.residual = true;
    if (*act != '\0') residual.attrs.Set(kActivationAttr, std::string(act));
    if (std::string(act) == "LeakyRelu") residual.attrs.Set(kActivationAlphaAttr, 0.1f);
    CheckConv(residual, 7);
  }
}

NetworkDef ConvNhwcNet(const Shape& x, const Shape& w, const Shape& y) {
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, x, {}});
  net.tensors.push_back(
      {"w", DataType::kFloat32, w,
       Tensor::FromVector<float>(std::vector<float>(static_cast<size_t>(w[0] * w[1] * w[2] * w[3]), 0.5f), w)});
  net.tensors.push_back({"y", DataType::kFloat32, y, {}});
  LayerDef l;
  l.name = "conv_nhwc";
  l.op = OpType::kConvNhwc;
  l.opset = 13;
  l.inputs = {0, 1};
  l.outputs = {2};
  net.layers = {l};
  net.inputs = {0};
  net.outputs = {2};
  return net;
}

void ExpectError(const NetworkDef& net, const std::string& part) {
  auto e = CpuEngine::Create(net);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("conv_nhwc"), std::string::npos) << e.status().message();
  EXPECT_NE(e.status().message().find(part), std::string::npos) << e.status().message();
}

TEST(ConvNhwc, ErrorsNameTheLayerAndTheInput) {
  ASSERT_TRUE(CpuEngine::Create(ConvNhwcNet({1, 5, 5, 4}, {2, 3, 3, 4}, {1, 3, 3, 2})).ok());
  ExpectError(ConvNhwcNet({1, 5, 5, 4}, {2, 3, 3, 3}, {1, 3, 3, 2}), "weight W");
  ExpectError(ConvNhwcNet({1, 5, 5, 4, 1}, {2, 3, 3, 4}, {1, 3, 3, 2}), "channels last");
  NetworkDef kernel = ConvNhwcNet({1, 5, 5, 4}, {2, 3, 3, 4}, {1, 3, 3, 2});
  kernel.layers[0].attrs.Set("kernel_shape", std::vector<int64_t>{2, 2});
  ExpectError(kernel, "kernel_shape");
  NetworkDef residual = ConvNhwcNet({1, 5, 5, 4}, {2, 3, 3, 4}, {1, 3, 3, 2});
  residual.tensors.push_back({"z", DataType::kFloat32, {1, 2, 3, 3}, {}});  // NCHW: wrong
  residual.layers[0].inputs = {0, 1, -1, 3};
  residual.inputs = {0, 3};
  ExpectError(residual, "residual Z");
}

// MaxPool on NCHW against EdgertMaxPoolNhwc on the permuted input.
void CheckPool(const Shape& x_shape, const Attributes& attrs, const Shape& y_shape, uint32_t seed) {
  SCOPED_TRACE("case " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::vector<float> x = Random(static_cast<size_t>(x_shape[0] * x_shape[1] * x_shape[2] * x_shape[3]), rng);
  NetworkDef nchw;
  nchw.tensors.push_back({"x", DataType::kFloat32, x_shape, {}});
  nchw.tensors.push_back({"y", DataType::kFloat32, y_shape, {}});
  LayerDef pool;
  pool.name = "pool";
  pool.op = OpType::kMaxPool;
  pool.opset = 13;
  pool.attrs = attrs;
  pool.inputs = {0};
  pool.outputs = {1};
  nchw.layers = {pool};
  nchw.inputs = {0};
  nchw.outputs = {1};
  const std::vector<Tensor> want = Run(nchw, {Tensor::FromVector<float>(x, x_shape)});
  ASSERT_EQ(want.size(), 1u);
  NetworkDef nhwc = nchw;
  nhwc.tensors[0].shape = LastShape(x_shape);
  nhwc.tensors[1].shape = LastShape(y_shape);
  nhwc.layers[0].op = OpType::kMaxPoolNhwc;
  const std::vector<Tensor> got = Run(nhwc, {Tensor::FromVector<float>(ToLast(x, x_shape), LastShape(x_shape))});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shape(), LastShape(y_shape));
  EXPECT_EQ(Values(got[0]), ToLast(Values(want[0]), y_shape));
}

TEST(MaxPoolNhwc, EqualsMaxPoolOnPermutedTensors) {
  Attributes resnet;  // ResNet's 3x3 stride 2 pad 1
  resnet.Set("kernel_shape", std::vector<int64_t>{3, 3});
  resnet.Set("strides", std::vector<int64_t>{2, 2});
  resnet.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  CheckPool({2, 5, 11, 12}, resnet, {2, 5, 6, 6}, 1);
  Attributes sppf;  // YOLO's SPPF 5x5 stride 1 pad 2
  sppf.Set("kernel_shape", std::vector<int64_t>{5, 5});
  sppf.Set("pads", std::vector<int64_t>{2, 2, 2, 2});
  CheckPool({1, 7, 6, 9}, sppf, {1, 7, 6, 9}, 2);
  Attributes ceil;
  ceil.Set("kernel_shape", std::vector<int64_t>{2, 3});
  ceil.Set("strides", std::vector<int64_t>{2, 2});
  ceil.Set("dilations", std::vector<int64_t>{2, 1});
  ceil.Set("ceil_mode", int64_t{1});
  CheckPool({1, 3, 10, 9}, ceil, {1, 3, 5, 4}, 3);
  Attributes same;
  same.Set("kernel_shape", std::vector<int64_t>{3, 2});
  same.Set("auto_pad", std::string("SAME_LOWER"));
  CheckPool({2, 4, 5, 5}, same, {2, 4, 5, 5}, 4);
}

TEST(MaxPoolNhwc, RefusesIndicesAndOtherRanks) {
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, {1, 4, 4, 3}, {}});
  net.tensors.push_back({"y", DataType::kFloat32, {1, 2, 2, 3}, {}});
  LayerDef l;
  l.name = "pool_nhwc";
  l.op = OpType::kMaxPoolNhwc;
  l.opset = 13;
  l.inputs = {0};
  l.outputs = {1};
  l.attrs.Set("kernel_shape", std::vector<int64_t>{2, 2});
  l.attrs.Set("strides", std::vector<int64_t>{2, 2});
  net.layers = {l};
  net.inputs = {0};
  net.outputs = {1};
  ASSERT_TRUE(CpuEngine::Create(net).ok());
  NetworkDef rank3 = net;
  rank3.tensors[0].shape = {1, 4, 3};
  rank3.tensors[1].shape = {1, 2, 3};
  rank3.layers[0].attrs.Set("kernel_shape", std::vector<int64_t>{2});
  rank3.layers[0].attrs.Set("strides", std::vector<int64_t>{2});
  auto e = CpuEngine::Create(rank3);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("pool_nhwc"), std::string::npos) << e.status().message();
  EXPECT_NE(e.status().message().find("channels last"), std::string::npos) << e.status().message();
  NetworkDef order = net;
  order.layers[0].attrs.Set("storage_order", int64_t{1});
  e = CpuEngine::Create(order);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("storage_order"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace edgert
