// EdgertSqueezeExcite (ops/squeeze_excite.h) on CUDA against the CPU reference, FP32 and FP16
// (rel-L2 tolerances of gpu_test_util.h, poisoned outputs), both layouts:
//   - EfficientNet-B0's first and last SE blocks at batch 1 (112x112x32, Cr 8, SiLU / Sigmoid;
//     7x7x1152, Cr 48), which take the kernel's extreme chunkings;
//   - odd sizes at batch 3 (9x9x20, Cr 5; C and H*W not multiples of 8, so the scalar scale path
//     runs), MobileNetV3's Relu / HardSigmoid, no inner activation, every gate kind used in models;
//   - inside a network, where the memory plan runs the layer in place (X an intermediate tensor)
//     and the engine replays a CUDA graph;
//   - end to end: an ONNX model with an EfficientNet-style and a MobileNetV3-style block, built
//     FP16 with layout nhwc (two channels-last EdgertSqueezeExcite layers), on CUDA against the
//     CPU engine running the unoptimized network.
// The CPU reference itself is checked against a naive formula in tests/unit/squeeze_excite_test.cc.
#include <cmath>
#include <string>
#include <vector>

#include "../unit/onnx_test_util.h"
#include "../unit/se_models.h"
#include "edgert/builder.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

using testing_util::SeAttrs;
using testing_util::SeCase;

// Weights scaled by 1 / sqrt(fan-in), so the gates spread over (0, 1) instead of saturating.
Tensor Scaled(Shape shape, uint32_t seed, double fan_in) {
  const double s = 1.0 / std::sqrt(fan_in);
  return RandomTensor(DataType::kFloat32, std::move(shape), seed, -s * 1.7, s * 1.7);
}

std::vector<OpArg> SeArgs(const SeCase& k, uint32_t seed) {
  const Shape xs = k.channels_last ? Shape{k.n, k.h, k.w, k.c} : Shape{k.n, k.c, k.h, k.w};
  // X positive-biased, so the channel means (and with them the gates) are not all near zero.
  return {{RandomTensor(DataType::kFloat32, xs, seed, -0.5, 1.5), false},
          {Scaled({k.cr, k.c}, seed + 1, 0.25 * static_cast<double>(k.c)), true},
          {RandomTensor(DataType::kFloat32, {k.cr}, seed + 2, -0.5, 0.5), true},
          {Scaled({k.c, k.cr}, seed + 3, static_cast<double>(k.cr)), true},
          {RandomTensor(DataType::kFloat32, {k.c}, seed + 4, -0.5, 0.5), true}};
}

void ExpectSe(const SeCase& k, uint32_t seed) {
  SCOPED_TRACE("N " + std::to_string(k.n) + " C " + std::to_string(k.c) + " Cr " + std::to_string(k.cr) + " " +
               std::to_string(k.h) + "x" + std::to_string(k.w) + (k.channels_last ? " NHWC" : " NCHW") + " act '" +
               k.act + "' gate " + k.gate);
  ExpectOpMatches(OpType::kSqueezeExcite, SeAttrs(k), SeArgs(k, seed), 1, 13);
}

TEST(SqueezeExciteGpu, EfficientNetB0Extremes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (bool nhwc : {true, false}) {
    ExpectSe({1, 32, 8, 112, 112, "SiLU", "Sigmoid", nhwc}, 11);
    ExpectSe({1, 1152, 48, 7, 7, "SiLU", "Sigmoid", nhwc}, 12);
  }
}

TEST(SqueezeExciteGpu, OddSizesAtBatchThree) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (bool nhwc : {true, false}) {
    ExpectSe({3, 20, 5, 9, 9, "SiLU", "Sigmoid", nhwc}, 21);
    ExpectSe({3, 20, 5, 9, 9, "Relu", "HardSigmoid", nhwc}, 22);
    ExpectSe({3, 20, 5, 9, 9, "", "Sigmoid", nhwc}, 23);
    ExpectSe({3, 24, 40, 1, 1, "Relu", "HardSigmoid", nhwc}, 24);    // 1x1 image, Cr > C
    ExpectSe({2, 96, 24, 14, 14, "Relu", "HardSigmoid", nhwc}, 25);  // MobileNetV3-sized
  }
}

// Relu -> SE -> Relu: X is an intermediate, so the memory plan may give Y X's bytes; replayed as a
// CUDA graph.
TEST(SqueezeExciteGpu, InsideANetworkInPlaceAndGraphReplay) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (bool nhwc : {true, false}) {
    SCOPED_TRACE(nhwc ? "NHWC" : "NCHW");
    const SeCase k{2, 40, 10, 28, 28, "SiLU", "Sigmoid", nhwc};
    std::vector<OpArg> args = SeArgs(k, 31);
    StatusOr<SingleOpNetwork> single = BuildSingleOp(OpType::kSqueezeExcite, SeAttrs(k), args, 1, 13, "se");
    ASSERT_TRUE(single.ok()) << single.status().ToString();
    NetworkDef& net = single->net;
    // in0 -> relu_in -> [se] -> out0 becomes in0 -> Relu -> mid -> SE -> pre -> Relu -> out0.
    LayerDef se = net.layers[0];
    const int32_t x = se.inputs[0], y = se.outputs[0];
    TensorDef mid = net.tensors[static_cast<size_t>(x)];
    mid.name = "mid";
    TensorDef pre = net.tensors[static_cast<size_t>(y)];
    pre.name = "pre";
    const int32_t mid_id = static_cast<int32_t>(net.tensors.size());
    net.tensors.push_back(mid);
    const int32_t pre_id = static_cast<int32_t>(net.tensors.size());
    net.tensors.push_back(pre);
    LayerDef relu1;
    relu1.name = "relu1";
    relu1.op = OpType::kRelu;
    relu1.opset = 13;
    relu1.inputs = {x};
    relu1.outputs = {mid_id};
    se.inputs[0] = mid_id;
    se.outputs = {pre_id};
    LayerDef relu2 = relu1;
    relu2.name = "relu2";
    relu2.inputs = {pre_id};
    relu2.outputs = {y};
    net.layers = {relu1, se, relu2};
    for (Precision p : {Precision::kFp32, Precision::kFp16}) {
      SCOPED_TRACE(PrecisionName(p));
      ExpectCudaMatchesCpu(net, single->feeds, p, -1, false);
      ExpectCudaMatchesCpu(net, single->feeds, p, -1, true);
    }
  }
}

TEST(SqueezeExciteGpu, Fp16NhwcModelMatchesTheUnoptimizedCpuNetwork) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // Conv 3x3 (32) -> EfficientNet's block (Cr 8; its excitation Conv with a bias) -> Conv 3x3 (24)
  // -> MobileNetV3's block (Cr 8) -> Conv 1x1 (16).
  testing_util::SeModel m;
  testing_util::AddInput(m.proto(), "x", onnx::TensorProto::FLOAT, {2, 3, 28, 28});
  const std::string f = m.Conv("x", 3, 32, 3);
  const std::string f2 = m.Conv(m.EfficientNetSe(f, 32, 8, nullptr, /*excite_bias=*/true), 32, 24, 3);
  m.Conv(m.MobileNetSe(f2, 24, 8), 24, 16, 1);
  m.NameLastOutput("y");
  testing_util::AddOutput(m.proto(), "y", onnx::TensorProto::FLOAT, {2, 16, 28, 28});
  testing_util::TempDir dir;
  const std::string path = testing_util::SaveModel(m.proto(), dir.File("model.onnx"));
  BuildOptions plain;
  plain.optimize = false;
  plain.layout = BuildOptions::Layout::kNchw;
  StatusOr<NetworkDef> ref = BuildNetwork(path, plain);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  BuildOptions fp16;
  fp16.precision = Precision::kFp16;
  fp16.layout = BuildOptions::Layout::kNhwc;
  fp16.enabled_passes = {"se-fusion"};  // optional: off by default
  StatusOr<NetworkDef> net = BuildNetwork(path, fp16);
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  int se = 0;
  for (const LayerDef& l : net->layers) {
    if (l.op != OpType::kSqueezeExcite) continue;
    ++se;
    StatusOr<int64_t> channels_last = l.attrs.GetInt("channels_last");
    EXPECT_TRUE(channels_last.ok() && *channels_last == 1) << l.name;
  }
  EXPECT_EQ(se, 2);
  const std::vector<Tensor> feeds = {RandomTensor(DataType::kFloat32, {2, 3, 28, 28}, 48)};
  ASSERT_EQ(ref->outputs.size(), 1u);
  ExpectCudaMatchesCpu(*ref, *net, feeds, Precision::kFp16);
}

}  // namespace
}  // namespace testing
}  // namespace edgert
