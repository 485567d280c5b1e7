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
#include "edgert/builder.h"
#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

struct SeCase {
  int64_t n, c, cr, h, w;
  std::string act;  // "" for none
  std::string gate;
  bool channels_last;
};

Attributes SeAttrs(const SeCase& k) {
  Attributes a;
  a.Set("channels_last", int64_t{k.channels_last ? 1 : 0});
  if (!k.act.empty()) a.Set("activation", k.act);
  a.Set("gate", k.gate);
  if (k.gate == "HardSigmoid") {
    a.Set("gate_alpha", 1.0f / 6.0f);
    a.Set("gate_beta", 0.5f);
  }
  return a;
}

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

void SetInts(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void SetFloat(onnx::NodeProto* n, const std::string& name, float v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

// Conv `name` (k x k, pad k / 2, bias) from `x` to `out`, weights scaled by 1 / sqrt(fan-in).
void AddConv(onnx::ModelProto& m, const std::string& x, const std::string& out, int64_t c_in, int64_t c_out, int64_t k,
             uint32_t seed) {
  const Tensor w = Scaled({c_out, c_in, k, k}, seed, static_cast<double>(c_in * k * k) / 3.0);
  const Tensor b = RandomTensor(DataType::kFloat32, {c_out}, seed + 1, -0.3, 0.3);
  testing_util::AddFloatInitializer(m, out + "_w", {c_out, c_in, k, k},
                                    std::vector<float>(w.data<float>(), w.data<float>() + w.num_elements()));
  testing_util::AddFloatInitializer(m, out + "_b", {c_out},
                                    std::vector<float>(b.data<float>(), b.data<float>() + b.num_elements()));
  onnx::NodeProto* n = testing_util::AddNode(m, "Conv", {x, out + "_w", out + "_b"}, {out}, out);
  SetInts(n, "kernel_shape", {k, k});
  SetInts(n, "pads", {k / 2, k / 2, k / 2, k / 2});
}

TEST(SqueezeExciteGpu, Fp16NhwcModelMatchesTheUnoptimizedCpuNetwork) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  using testing_util::AddNode;
  onnx::ModelProto m = testing_util::NewModel(13);
  testing_util::AddInput(m, "x", onnx::TensorProto::FLOAT, {2, 3, 28, 28});
  AddConv(m, "x", "f", 3, 32, 3, 41);
  // EfficientNet: ReduceMean(2, 3), Conv + SiLU as Mul(v, Sigmoid(v)), Conv, Sigmoid, Mul(X, gate).
  SetInts(AddNode(m, "ReduceMean", {"f"}, {"m1"}, "mean1"), "axes", {2, 3});
  AddConv(m, "m1", "v1", 32, 8, 1, 42);
  AddNode(m, "Sigmoid", {"v1"}, {"v1s"}, "sig1");
  AddNode(m, "Mul", {"v1", "v1s"}, {"h1"}, "silu1");
  AddConv(m, "h1", "g1", 8, 32, 1, 43);
  AddNode(m, "Sigmoid", {"g1"}, {"g1s"}, "gate1");
  AddNode(m, "Mul", {"f", "g1s"}, {"e1"}, "se1");
  AddConv(m, "e1", "f2", 32, 24, 3, 44);
  // MobileNetV3: GlobalAveragePool, Conv, Relu, Conv, HardSigmoid, Mul(gate, X).
  AddNode(m, "GlobalAveragePool", {"f2"}, {"m2"}, "gap2");
  AddConv(m, "m2", "v2", 24, 8, 1, 45);
  AddNode(m, "Relu", {"v2"}, {"h2"}, "relu2");
  AddConv(m, "h2", "g2", 8, 24, 1, 46);
  onnx::NodeProto* hs = AddNode(m, "HardSigmoid", {"g2"}, {"g2s"}, "gate2");
  SetFloat(hs, "alpha", 1.0f / 6.0f);
  SetFloat(hs, "beta", 0.5f);
  AddNode(m, "Mul", {"g2s", "f2"}, {"e2"}, "se2");
  AddConv(m, "e2", "y", 24, 16, 1, 47);
  testing_util::AddOutput(m, "y", onnx::TensorProto::FLOAT, {2, 16, 28, 28});
  testing_util::TempDir dir;
  const std::string path = testing_util::SaveModel(m, dir.File("model.onnx"));
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
  StatusOr<std::unique_ptr<CpuEngine>> cpu = CpuEngine::Create(*ref);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  std::vector<Tensor> want;
  ASSERT_TRUE((*cpu)->Run(feeds, &want).ok());
  CudaEngineOptions options;
  options.precision = Precision::kFp16;
  StatusOr<std::shared_ptr<CudaEngine>> engine = CudaEngine::Create(*net, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  StatusOr<std::unique_ptr<CudaExecutionContext>> context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  (*context)->SetPoisonArena(true);
  std::vector<Tensor> got;
  Status s = RunOnHost(**context, feeds, &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(got.size(), 1u);
  ExpectTensorsClose(got[0], want[0], DefaultTolerance(Precision::kFp16), "y");
}

}  // namespace
}  // namespace testing
}  // namespace edgert
