// Binding formats on the CUDA engine (IoFormat; `edgert build --input-format fp16:hwc
// --output-format fp16`): a float16 channels-last input lands in a channels-last engine's folded
// Transpose output as a plain copy, and is transposed back for a channels-first engine; float16
// and channels-last outputs are converted (and transposed) on the way out. Every combination
// gives the default bindings' values bit for bit, eager and from CUDA graphs, FP32 and FP16.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../unit/io_binding_util.h"
#include "../unit/onnx_test_util.h"
#include "edgert/builder.h"
#include "edgert/cuda_engine.h"
#include "gpu_test_util.h"
#include "ops/op_util.h"

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT
using testing::RandomTensor;

// x float [n, c, h, w] -> Conv 3x3 pad 1 (8 channels, bias) -> Relu -> y; z = Flatten(
// GlobalAveragePool(y)) [n, 8], a rank-2 output.
std::string ConvModel(const TempDir& dir, const Shape& x) {
  std::mt19937 rng(static_cast<uint32_t>(x[1] * 131 + x[2]));
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> w(static_cast<size_t>(8 * x[1] * 9)), b(8);
  for (float& v : w) v = u(rng);
  for (float& v : b) v = u(rng);
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, x);
  AddFloatInitializer(m, "w", {8, x[1], 3, 3}, w);
  AddFloatInitializer(m, "b", {8}, b);
  onnx::NodeProto* conv = AddNode(m, "Conv", {"x", "w", "b"}, {"c"}, "conv");
  onnx::AttributeProto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int k = 0; k < 4; ++k) pads->add_ints(1);
  AddNode(m, "Relu", {"c"}, {"y"}, "relu");
  AddNode(m, "GlobalAveragePool", {"y"}, {"g"}, "pool");
  AddNode(m, "Flatten", {"g"}, {"z"}, "flatten");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {x[0], 8, x[2], x[3]});
  AddOutput(m, "z", onnx::TensorProto::FLOAT, {x[0], 8});
  return SaveModel(m, dir.File("conv_" + std::to_string(x[1]) + ".onnx"));
}

TEST(IoFormatGpu, BindingFormatsMatchTheDefaultBindingsBitForBit) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  TempDir dir;
  // 3 channels (the per-pixel transpose kernel for a channels-first binding, a stem convolution),
  // 16 channels over a 2 x 3 image (a channels-last binding of NCHW engines takes the per-pixel
  // kernel: 6 rows), 40 channels (32 x 32 tiles, partial).
  for (const Shape& xs : {Shape{2, 3, 9, 7}, Shape{1, 16, 2, 3}, Shape{2, 40, 9, 7}}) {
    const std::string path = ConvModel(dir, xs);
    Tensor x = RandomTensor(DataType::kFloat32, xs, static_cast<uint32_t>(xs[1]));
    x = RoundedThroughHalf(x);
    for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
      for (BuildOptions::Layout layout : {BuildOptions::Layout::kNchw, BuildOptions::Layout::kNhwc}) {
        SCOPED_TRACE(std::to_string(xs[1]) + " channels, " + PrecisionName(precision) + ", " + LayoutName(layout));
        CudaEngineOptions options;
        options.precision = precision;
        options.select_tactics = false;  // the same kernels for every engine: bit-for-bit outputs
        BuildOptions plain_options;
        plain_options.layout = layout;
        StatusOr<NetworkDef> plain = BuildNetwork(path, plain_options);
        ASSERT_TRUE(plain.ok()) << plain.status().ToString();
        auto ref = CudaEngine::Create(*plain, options);
        ASSERT_TRUE(ref.ok()) << ref.status().ToString();
        auto ref_context = (*ref)->CreateContext();
        ASSERT_TRUE(ref_context.ok());
        std::vector<Tensor> want;
        ASSERT_TRUE(RunOnHost(**ref_context, {x}, &want).ok());
        const bool folds = layout == BuildOptions::Layout::kNhwc;
        EXPECT_EQ((*ref)->FoldedInputLayer(0) >= 0, folds);

        struct Case {
          const char* in;
          const char* y;
          const char* z;
        };
        for (const Case& c : {Case{"fp16:hwc", "fp16", "fp16"}, Case{"fp16:hwc", "fp16:hwc", "fp32"},
                              Case{"fp32:hwc", "fp32:hwc", "fp16"}, Case{"fp16", "fp32:hwc", "fp32"}}) {
          SCOPED_TRACE(std::string(c.in) + " -> " + c.y + ", " + c.z);
          BuildOptions o = plain_options;
          o.input_formats = {ParseIoFormat(c.in).value()};
          o.output_formats = {ParseIoFormat(c.y).value(), ParseIoFormat(c.z).value()};
          StatusOr<NetworkDef> net = BuildNetwork(path, o);
          ASSERT_TRUE(net.ok()) << net.status().ToString();
          auto engine = CudaEngine::Create(*net, options);
          ASSERT_TRUE(engine.ok()) << engine.status().ToString();
          EXPECT_EQ((*engine)->FoldedInputLayer(0) >= 0, folds);
          auto context = (*engine)->CreateContext();
          ASSERT_TRUE(context.ok()) << context.status().ToString();
          if (folds) {
            EXPECT_NE((*context)->LayerKernel(0).find("folded into input 'x''s copy"), std::string::npos);
          }
          const Tensor input =
              ToBinding(x, o.input_formats[0].dtype == DataType::kFloat16, o.input_formats[0].channels_last);
          // Three runs: eager, captured, replayed (RunOnHost binds new buffers each time, so each
          // graph run is a capture; the kernels are the same ones).
          for (int run = 0; run < 3; ++run) {
            std::vector<Tensor> got;
            Status s = RunOnHost(**context, {input}, &got);
            ASSERT_TRUE(s.ok()) << s.ToString();
            ASSERT_EQ(got.size(), 2u);
            for (size_t k = 0; k < 2; ++k) {
              const IoFormat& f = o.output_formats[k];
              const Tensor expected = ToBinding(want[k], f.dtype == DataType::kFloat16, f.channels_last);
              ASSERT_EQ(got[k].shape(), expected.shape()) << "output " << k;
              ASSERT_EQ(got[k].dtype(), expected.dtype()) << "output " << k;
              EXPECT_EQ(std::memcmp(got[k].raw(), expected.raw(), expected.bytes()), 0)
                  << "output " << k << ", run " << run;
            }
          }
          EXPECT_GE((*context)->graph_captures(), 1);
          EXPECT_TRUE((*context)->graph_error().empty()) << (*context)->graph_error();
        }
      }
    }
  }
}

}  // namespace
}  // namespace edgert
