// Binding formats of graph inputs and outputs (IoFormat; `edgert build --input-format fp16:hwc`):
// parsing, the builder's ApplyIoFormats, the CPU engine's conversions against a hand-made
// reference, plans that keep the formats, corrupt formats refused, and the plan-cache key.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "edgert/builder.h"
#include "edgert/cpu_engine.h"
#include "edgert/engine.h"
#include "edgert/network.h"
#include "edgert/plan.h"
#include "edgert/plan_cache.h"
#include "edgert/version.h"
#include "io_binding_util.h"
#include "onnx_test_util.h"
#include "ops/op_util.h"

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT

void SetInts(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

// x float [2, 3, 5, 4] -> Conv 3x3 pad 1 (6 channels, bias) -> Relu -> y [2, 6, 5, 4]; and
// z = Flatten(GlobalAveragePool(y)) [2, 6], a rank-2 output. Plus an int64 input `k` that
// only passes through (Identity -> `kk`), to show one format skips non-float tensors.
std::string ConvModel(const TempDir& dir) {
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {2, 3, 5, 4});
  AddInput(m, "k", onnx::TensorProto::INT64, {2, 3, 5});
  AddFloatInitializer(m, "w", {6, 3, 3, 3}, RandomFloats(6 * 3 * 3 * 3, 1));
  AddFloatInitializer(m, "b", {6}, RandomFloats(6, 2));
  SetInts(AddNode(m, "Conv", {"x", "w", "b"}, {"c"}, "conv"), "pads", {1, 1, 1, 1});
  AddNode(m, "Relu", {"c"}, {"y"}, "relu");
  AddNode(m, "GlobalAveragePool", {"y"}, {"g"}, "pool");
  AddNode(m, "Flatten", {"g"}, {"z"}, "flatten");
  AddNode(m, "Identity", {"k"}, {"kk"}, "pass");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {2, 6, 5, 4});
  AddOutput(m, "z", onnx::TensorProto::FLOAT, {2, 6});
  AddOutput(m, "kk", onnx::TensorProto::INT64, {2, 3, 5});
  return SaveModel(m, dir.File("conv.onnx"));
}

NetworkDef Build(const std::string& path, const std::vector<IoFormat>& in, const std::vector<IoFormat>& out,
                 BuildOptions::Layout layout = BuildOptions::Layout::kNchw) {
  BuildOptions options;
  options.layout = layout;
  options.input_formats = in;
  options.output_formats = out;
  StatusOr<NetworkDef> net = BuildNetwork(path, options);
  EXPECT_TRUE(net.ok()) << net.status().ToString();
  return net.ok() ? *net : NetworkDef{};
}

IoFormat Format(const char* text) { return ParseIoFormat(text).value(); }

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

TEST(IoFormat, ParsesTrtexecStyleFormats) {
  EXPECT_EQ(Format("fp16:hwc").dtype, DataType::kFloat16);
  EXPECT_TRUE(Format("fp16:hwc").channels_last);
  EXPECT_FALSE(Format("fp32:chw").channels_last);
  EXPECT_FALSE(Format("fp16").channels_last);
  EXPECT_EQ(IoFormatName(Format("fp16:hwc")), "fp16:hwc");
  EXPECT_EQ(IoFormatName(Format("fp32")), "fp32:chw");
  EXPECT_EQ(IoFormatName(IoFormat{}), "default");
  for (const char* bad : {"", "fp64", "int8:hwc", "fp16:nhwc", "fp16:", "FP16"}) {
    StatusOr<IoFormat> f = ParseIoFormat(bad);
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
  }
  StatusOr<std::vector<IoFormat>> list = ParseIoFormatList("fp16:hwc,fp32", "--input-format");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_TRUE((*list)[0].channels_last);
  EXPECT_EQ((*list)[1].dtype, DataType::kFloat32);
  StatusOr<std::vector<IoFormat>> bad = ParseIoFormatList("fp16,hwc", "--output-format");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--output-format"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("'hwc'"), std::string::npos) << bad.status().message();
}

TEST(IoFormat, BuilderSetsTheBindingsAndNamesWhatItRefuses) {
  TempDir dir;
  const std::string path = ConvModel(dir);
  // One format for all: the float inputs take it, the int64 input keeps its own.
  NetworkDef net = Build(path, {Format("fp16:hwc")}, {Format("fp16")});
  ASSERT_EQ(net.inputs.size(), 2u);
  const TensorDef& x = net.tensors[static_cast<size_t>(net.inputs[0])];
  EXPECT_EQ(BindingDtype(x), DataType::kFloat16);
  EXPECT_EQ(BindingShape(x), (Shape{2, 5, 4, 3}));
  EXPECT_EQ(x.dtype, DataType::kFloat32);
  EXPECT_EQ(x.shape, (Shape{2, 3, 5, 4}));
  EXPECT_TRUE(net.tensors[static_cast<size_t>(net.inputs[1])].binding.is_default());
  EXPECT_EQ(BindingDtype(net.tensors[static_cast<size_t>(net.outputs[1])]), DataType::kFloat16);
  EXPECT_TRUE(net.tensors[static_cast<size_t>(net.outputs[2])].binding.is_default());
  EXPECT_TRUE(ValidateIoFormats(net).ok());
  // The tensor's own dtype as a format is the default one.
  NetworkDef same = Build(path, {Format("fp32:chw")}, {});
  EXPECT_TRUE(same.tensors[static_cast<size_t>(same.inputs[0])].binding.is_default());

  auto refused = [&](const std::vector<IoFormat>& in, const std::vector<IoFormat>& out, const std::string& subject,
                     const std::string& text) {
    BuildOptions options;
    options.input_formats = in;
    options.output_formats = out;
    StatusOr<NetworkDef> r = BuildNetwork(path, options);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().subject(), subject) << r.status().ToString();
    EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  };
  refused({Format("fp16"), Format("fp16"), Format("fp16")}, {}, "--input-format", "lists 3 formats");
  refused({Format("fp16"), Format("fp16")}, {}, "k", "input 'k' is int64");
  refused({}, {Format("fp16:hwc")}, "z", "needs rank >= 3");
  refused({}, {Format("fp16"), Format("fp16")}, "--output-format", "the network has 3 outputs");
}

// The CPU engine converts between the bindings and the network: channels-last float16 inputs,
// float16 and channels-last outputs give the default engine's values, bit for bit, once the
// reference is fed the same float16-rounded input. NCHW and NHWC builds alike.
TEST(IoFormat, CpuEngineConvertsBindingsBitForBit) {
  TempDir dir;
  const std::string path = ConvModel(dir);
  Tensor x = Tensor::Create(DataType::kFloat32, {2, 3, 5, 4}).value();
  const std::vector<float> xv = RandomFloats(2 * 3 * 5 * 4, 7);
  std::memcpy(x.raw(), xv.data(), x.bytes());
  Tensor k = Tensor::Create(DataType::kInt64, {2, 3, 5}).value();
  for (int64_t i = 0; i < k.num_elements(); ++i) k.data<int64_t>()[i] = i * 3 - 7;
  const Tensor x16 = RoundedThroughHalf(x);

  for (BuildOptions::Layout layout : {BuildOptions::Layout::kNchw, BuildOptions::Layout::kNhwc}) {
    SCOPED_TRACE(LayoutName(layout));
    NetworkDef plain = Build(path, {}, {}, layout);
    auto ref_engine = CpuEngine::Create(plain);
    ASSERT_TRUE(ref_engine.ok()) << ref_engine.status().ToString();
    std::vector<Tensor> want;
    ASSERT_TRUE((*ref_engine)->Run({x16, k}, &want).ok());

    struct Case {
      const char* in;
      const char* out;  // y's and z's format ("" = default)
    };
    for (const Case& c :
         {Case{"fp16:hwc", "fp16:hwc"}, Case{"fp16", "fp16"}, Case{"fp32:hwc", "fp32:hwc"}, Case{"fp16:hwc", ""}}) {
      SCOPED_TRACE(std::string(c.in) + " / " + c.out);
      const IoFormat in = Format(c.in);
      std::vector<IoFormat> outs;
      if (*c.out) {
        const IoFormat o = Format(c.out);
        IoFormat z = o;
        z.channels_last = false;  // z is rank 2
        outs = {o, z, IoFormat{}};
      }
      NetworkDef net = Build(path, {in, IoFormat{}}, outs, layout);
      auto engine = CpuEngine::Create(net);
      ASSERT_TRUE(engine.ok()) << engine.status().ToString();
      const std::shared_ptr<const Engine>& e = (*engine)->engine();
      EXPECT_EQ(e->IOTensor(0).dtype, in.dtype);
      EXPECT_EQ(e->IOTensor(0).channels_last, in.channels_last);
      EXPECT_EQ(e->IOTensor(0).shape, in.channels_last ? (Shape{2, 5, 4, 3}) : (Shape{2, 3, 5, 4}));
      const bool half_in = in.dtype == DataType::kFloat16;
      std::vector<Tensor> got;
      Status s = (*engine)->Run({ToBinding(x16, half_in, in.channels_last), k}, &got);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_EQ(got.size(), 3u);
      for (size_t o = 0; o < 2; ++o) {
        const IoFormat f = outs.empty() ? IoFormat{} : outs[o];
        const Tensor expected = ToBinding(want[o], f.dtype == DataType::kFloat16, f.channels_last);
        EXPECT_TRUE(SameBytes(got[o], expected)) << "output " << o;
      }
      EXPECT_TRUE(SameBytes(got[2], want[2]));
      // The binding's dtype and shape are what Run checks.
      std::vector<Tensor> unused;
      Status wrong = (*engine)->Run({x, k}, &unused);
      if (half_in || in.channels_last) {
        ASSERT_FALSE(wrong.ok());
        EXPECT_NE(wrong.message().find("input 'x' must be"), std::string::npos) << wrong.message();
      }
    }
  }
}

TEST(IoFormat, PlansKeepTheFormatsAndRefuseCorruptOnes) {
  TempDir dir;
  const std::string path = ConvModel(dir);
  NetworkDef net = Build(path, {Format("fp16:hwc"), IoFormat{}}, {Format("fp16:hwc"), Format("fp16"), IoFormat{}});
  PlanMetadata meta;
  meta.edgert_version = EDGERT_VERSION_STRING;
  meta.device = CpuDeviceKey();
  meta.build_options_hash = "00";
  meta.model_hash = "11";
  StatusOr<std::vector<uint8_t>> bytes = SerializePlan(net, meta);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  ASSERT_TRUE(WritePlanFile(dir.File("f.plan"), *bytes).ok());
  StatusOr<std::shared_ptr<Engine>> engine = Engine::CreateFromPlan(dir.File("f.plan"));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const NetworkDef& loaded = (*engine)->network();
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    EXPECT_EQ(loaded.tensors[i].binding, net.tensors[i].binding) << net.tensors[i].name;
  }
  EXPECT_EQ((*engine)->IOTensor(0).shape, (Shape{2, 5, 4, 3}));
  EXPECT_EQ((*engine)->IOTensor(2).shape, (Shape{2, 5, 4, 6}));
  EXPECT_EQ((*engine)->IOTensor(3).dtype, DataType::kFloat16);

  // A format on a tensor that is no graph input or output, on an int64 tensor, channels-last on a
  // rank-2 tensor: SerializePlan refuses each, naming the tensor.
  auto refuse = [&](NetworkDef bad, const std::string& text) {
    StatusOr<std::vector<uint8_t>> b = SerializePlan(bad, meta);
    ASSERT_FALSE(b.ok()) << text;
    EXPECT_NE(b.status().message().find(text), std::string::npos) << b.status().message();
    Status v = ValidateIoFormats(bad);
    EXPECT_EQ(v.code(), StatusCode::kCorrupt);
  };
  NetworkDef inner = net;
  int32_t hidden = -1;  // a layer output that is no graph output
  for (const LayerDef& l : net.layers) {
    const int32_t t = l.outputs[0];
    if (hidden < 0 && std::find(net.outputs.begin(), net.outputs.end(), t) == net.outputs.end()) hidden = t;
  }
  ASSERT_GE(hidden, 0);
  inner.tensors[static_cast<size_t>(hidden)].binding = Format("fp16");
  refuse(inner, "is no graph input or output");
  NetworkDef integer = net;
  integer.tensors[static_cast<size_t>(net.inputs[1])].binding = Format("fp16");
  refuse(integer, "but is int64");
  NetworkDef rank2 = net;
  rank2.tensors[static_cast<size_t>(net.outputs[1])].binding = Format("fp32:hwc");
  refuse(rank2, "channels-last needs rank >= 3");
}

TEST(IoFormat, FormatsArePartOfThePlanCacheKey) {
  BuildOptions a;
  BuildOptions b = a;
  b.input_formats = {Format("fp16:hwc")};
  BuildOptions c = a;
  c.output_formats = {Format("fp16")};
  EXPECT_EQ(BuildOptionsText(a).find("formats"), std::string::npos);  // keys without formats unchanged
  EXPECT_NE(BuildOptionsHash(a), BuildOptionsHash(b));
  EXPECT_NE(BuildOptionsHash(a), BuildOptionsHash(c));
  EXPECT_NE(BuildOptionsHash(b), BuildOptionsHash(c));
  EXPECT_NE(BuildOptionsText(b).find("input-formats fp16:hwc"), std::string::npos) << BuildOptionsText(b);
}

}  // namespace
}  // namespace edgert
