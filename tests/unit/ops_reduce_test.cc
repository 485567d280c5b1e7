// Reductions, ArgMax/ArgMin and TopK through the reference CPU engine: hand-computed values,
// opset-dependent axes, keepdims / noop_with_empty_axes / select_last_index / largest variants,
// randomised checks against naive loops, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "edgert/cpu_engine.h"
#include "edgert/op_def.h"
#include "op_test_util.h"

namespace edgert {
namespace {

// One operator input: a network input fed at run time, or a constant. An undefined tensor is an
// absent optional input.
using In = testing::OpArg;
using testing::ExpectError;
using testing::ExpectFloats;
using testing::StatusOf;
using testing::Values;

// Builds a one-layer network around `op` (outputs from the op's infer()), runs it on the CPU
// engine and returns the outputs or the first error.
StatusOr<std::vector<Tensor>> RunOp(OpType op, int opset, const Attributes& attrs, const std::vector<In>& inputs,
                                    size_t num_outputs = 1, const std::string& name = "node0") {
  return testing::RunSingleOp(op, attrs, inputs, num_outputs, opset, name);
}

template <typename T>
Tensor T1(std::vector<T> v, Shape shape) {
  return Tensor::FromVector<T>(v, std::move(shape));
}
Tensor F(std::vector<float> v, Shape shape) { return T1<float>(std::move(v), std::move(shape)); }
Tensor Axes(std::vector<int64_t> axes) {
  Shape shape{static_cast<int64_t>(axes.size())};
  return T1<int64_t>(std::move(axes), shape);
}

Attributes KeepDims(int64_t keep) {
  Attributes a;
  a.Set("keepdims", keep);
  return a;
}

std::mt19937& Rng() {
  static std::mt19937 rng(std::random_device{}());
  return rng;
}

Tensor RandomFloats(Shape shape) {
  Tensor t = *Tensor::Create(DataType::kFloat32, std::move(shape));
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(Rng());
  return t;
}

// x = [[[1,2],[3,4]], [[5,6],[7,8]], [[9,10],[11,12]]], shape 3x2x2.
Tensor Data322() { return F({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3, 2, 2}); }

// ---- Reduce* -----------------------------------------------------------------------------------

TEST(OpsReduceSum, AxesInputKeepdimsAndNegativeAxes) {
  auto y = RunOp(OpType::kReduceSum, 13, KeepDims(1), {{Data322()}, {Axes({1}), true}});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ((*y)[0].shape(), (Shape{3, 1, 2}));
  ExpectFloats((*y)[0], {4, 6, 12, 14, 20, 22});
  y = RunOp(OpType::kReduceSum, 13, KeepDims(0), {{Data322()}, {Axes({-1}), true}});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ((*y)[0].shape(), (Shape{3, 2}));
  ExpectFloats((*y)[0], {3, 7, 11, 15, 19, 23});
  y = RunOp(OpType::kReduceSum, 13, KeepDims(0), {{Data322()}, {Axes({0, 2}), true}});
  ASSERT_TRUE(y.ok());
  ExpectFloats((*y)[0], {1 + 2 + 5 + 6 + 9 + 10, 3 + 4 + 7 + 8 + 11 + 12});
}

TEST(OpsReduceSum, EmptyAxesReduceAllOrNothing) {
  auto all = RunOp(OpType::kReduceSum, 13, KeepDims(1), {{Data322()}, {Axes({}), true}});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)[0].shape(), (Shape{1, 1, 1}));
  ExpectFloats((*all)[0], {78});
  auto absent = RunOp(OpType::kReduceSum, 13, KeepDims(0), {{Data322()}});
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ((*absent)[0].shape(), (Shape{}));
  ExpectFloats((*absent)[0], {78});
  Attributes noop = KeepDims(1);
  noop.Set("noop_with_empty_axes", int64_t{1});
  auto same = RunOp(OpType::kReduceSum, 13, noop, {{Data322()}, {Axes({}), true}});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*same)[0].shape(), (Shape{3, 2, 2}));
  ExpectFloats((*same)[0], {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
}

TEST(OpsReduceSum, AxesAttributeBeforeOpset13) {
  Attributes attrs = KeepDims(1);
  attrs.Set("axes", std::vector<int64_t>{0});
  auto y = RunOp(OpType::kReduceSum, 11, attrs, {{Data322()}});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  ExpectFloats((*y)[0], {15, 18, 21, 24});
  ExpectError(StatusOf(RunOp(OpType::kReduceSum, 13, attrs, {{Data322()}}, 1, "rs")), "rs",
              "attribute 'axes' is replaced by input 'axes' from opset 13; this node is opset 13");
  ExpectError(StatusOf(RunOp(OpType::kReduceSum, 11, KeepDims(1), {{Data322()}, {Axes({0}), true}}, 1, "rs2")), "rs2",
              "input 'axes' exists only from opset 13");
}

TEST(OpsReduceSum, RejectsBadAxes) {
  ExpectError(StatusOf(RunOp(OpType::kReduceSum, 13, {}, {{Data322()}, {Axes({3}), true}}, 1, "r1")), "r1",
              "axes 3 is out of range for a rank-3 input");
  ExpectError(StatusOf(RunOp(OpType::kReduceSum, 13, {}, {{Data322()}, {Axes({1, -2}), true}}, 1, "r2")), "r2",
              "lists axis -2 twice");
  auto runtime_axes = RunOp(OpType::kReduceSum, 13, {}, {{Data322()}, {Axes({1})}}, 1, "r3");
  ExpectError(runtime_axes.status(), "r3", "input 'axes' must be known at build time");
  EXPECT_EQ(runtime_axes.status().code(), StatusCode::kUnsupported);
  ExpectError(StatusOf(RunOp(OpType::kReduceSum, 13, {}, {{T1<double>({1}, {1})}}, 1, "r4")), "r4",
              "input 'data' has dtype float64; supported: float32, int32 or int64");
  Attributes bad_keep;
  bad_keep.Set("keepdims", int64_t{2});
  ExpectError(StatusOf(RunOp(OpType::kReduceSum, 13, bad_keep, {{Data322()}}, 1, "r5")), "r5",
              "attribute 'keepdims' must be 0 or 1, got 2");
}

TEST(OpsReduceOthers, MeanMaxMinProd) {
  Tensor x = Data322();
  auto run = [&](OpType op, int opset, const std::vector<float>& want) {
    SCOPED_TRACE(std::string(OpTypeName(op)));
    auto y = RunOp(op, opset, KeepDims(0), {{x}, {Axes({1}), true}});
    ASSERT_TRUE(y.ok()) << y.status().ToString();
    EXPECT_EQ((*y)[0].shape(), (Shape{3, 2}));
    ExpectFloats((*y)[0], want);
  };
  run(OpType::kReduceMean, 18, {2, 3, 6, 7, 10, 11});
  run(OpType::kReduceMax, 18, {3, 4, 7, 8, 11, 12});
  run(OpType::kReduceMin, 18, {1, 2, 5, 6, 9, 10});
  run(OpType::kReduceProd, 18, {3, 8, 35, 48, 99, 120});
  // Before opset 18 the axes are an attribute.
  Attributes attrs = KeepDims(1);
  attrs.Set("axes", std::vector<int64_t>{-1});
  auto mean13 = RunOp(OpType::kReduceMean, 13, attrs, {{x}});
  ASSERT_TRUE(mean13.ok()) << mean13.status().ToString();
  EXPECT_EQ((*mean13)[0].shape(), (Shape{3, 2, 1}));
  ExpectFloats((*mean13)[0], {1.5f, 3.5f, 5.5f, 7.5f, 9.5f, 11.5f});
  auto max_all = RunOp(OpType::kReduceMax, 13, KeepDims(1), {{x}});
  ASSERT_TRUE(max_all.ok());
  ExpectFloats((*max_all)[0], {12});
  ExpectError(StatusOf(RunOp(OpType::kReduceMean, 13, KeepDims(1), {{x}, {Axes({1}), true}}, 1, "m")), "m",
              "input 'axes' exists only from opset 18; this node is opset 13");
}

TEST(OpsReduceOthers, IntegerAndBoolTypes) {
  Tensor xi = T1<int32_t>({1, -2, 3, 4, 5, -6}, {2, 3});
  auto sum = RunOp(OpType::kReduceSum, 13, KeepDims(0), {{xi}, {Axes({1}), true}});
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(Values<int32_t>((*sum)[0]), (std::vector<int32_t>{2, 3}));
  auto mean = RunOp(OpType::kReduceMean, 18, KeepDims(0), {{T1<int64_t>({1, 2, 4, 7}, {2, 2})}, {Axes({0}), true}});
  ASSERT_TRUE(mean.ok());
  EXPECT_EQ(Values<int64_t>((*mean)[0]), (std::vector<int64_t>{2, 4}));  // (1+4)/2, (2+7)/2 truncated
  auto prod = RunOp(OpType::kReduceProd, 18, KeepDims(0), {{xi}});
  ASSERT_TRUE(prod.ok());
  EXPECT_EQ(Values<int32_t>((*prod)[0]), (std::vector<int32_t>{1 * -2 * 3 * 4 * 5 * -6}));
  Tensor xb = *Tensor::Create(DataType::kBool, {2, 2});
  bool bits[] = {true, false, false, false};
  for (int i = 0; i < 4; ++i) xb.data<bool>()[i] = bits[i];
  auto any = RunOp(OpType::kReduceMax, 20, KeepDims(0), {{xb}, {Axes({1}), true}});
  ASSERT_TRUE(any.ok()) << any.status().ToString();
  EXPECT_EQ((*any)[0].dtype(), DataType::kBool);
  EXPECT_TRUE((*any)[0].data<bool>()[0]);
  EXPECT_FALSE((*any)[0].data<bool>()[1]);
  auto all = RunOp(OpType::kReduceMin, 20, KeepDims(0), {{xb}, {Axes({1}), true}});
  ASSERT_TRUE(all.ok());
  EXPECT_FALSE((*all)[0].data<bool>()[0]);
  auto i8 = RunOp(OpType::kReduceMin, 18, KeepDims(0), {{T1<int8_t>({3, -128, 7, 9}, {2, 2})}, {Axes({0}), true}});
  ASSERT_TRUE(i8.ok()) << i8.status().ToString();
  EXPECT_EQ(Values<int8_t>((*i8)[0]), (std::vector<int8_t>{3, -128}));
  ExpectError(StatusOf(RunOp(OpType::kReduceSum, 13, {}, {{xb}}, 1, "bsum")), "bsum", "has dtype bool");
}

TEST(OpsReduceOthers, EmptySetGivesIdentity) {
  Tensor empty = *Tensor::Create(DataType::kFloat32, {2, 0, 4});
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    OpType op;
    int opset;
    float want;
  } cases[] = {{OpType::kReduceSum, 13, 0.0f},
               {OpType::kReduceProd, 18, 1.0f},
               {OpType::kReduceMin, 18, inf},
               {OpType::kReduceMax, 18, -inf}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(OpTypeName(c.op)));
    auto y = RunOp(c.op, c.opset, KeepDims(1), {{empty}, {Axes({1}), true}});
    ASSERT_TRUE(y.ok()) << y.status().ToString();
    EXPECT_EQ((*y)[0].shape(), (Shape{2, 1, 4}));
    ExpectFloats((*y)[0], std::vector<float>(8, c.want));
  }
  // Reducing a non-empty axis of an empty tensor gives an empty output.
  auto none = RunOp(OpType::kReduceSum, 13, KeepDims(1), {{empty}, {Axes({2}), true}});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)[0].shape(), (Shape{2, 0, 1}));
}

// Every subset of axes of a rank-4 tensor, with and without keepdims, against a naive loop.
TEST(OpsReduceOthers, RandomisedAgainstNaiveLoops) {
  const Shape shape{2, 3, 4, 5};
  Tensor x = RandomFloats(shape);
  const std::vector<int64_t> strides{60, 20, 5, 1};
  for (int mask = 1; mask < 16; ++mask) {
    std::vector<int64_t> axes;
    for (int d = 0; d < 4; ++d) {
      if (mask & (1 << d)) axes.push_back(d);
    }
    for (OpType op : {OpType::kReduceSum, OpType::kReduceMax, OpType::kReduceMean}) {
      SCOPED_TRACE(std::string(OpTypeName(op)) + " mask " + std::to_string(mask));
      auto y = RunOp(op, 18, KeepDims(1), {{x}, {Axes(axes), true}});
      ASSERT_TRUE(y.ok()) << y.status().ToString();
      const Tensor& out = (*y)[0];
      Shape out_shape = shape;
      for (int64_t a : axes) out_shape[a] = 1;
      ASSERT_EQ(out.shape(), out_shape);
      std::vector<double> sum(out.num_elements(), 0.0);
      std::vector<float> mx(out.num_elements(), -std::numeric_limits<float>::infinity());
      std::vector<int64_t> count(out.num_elements(), 0);
      for (int64_t i = 0; i < x.num_elements(); ++i) {
        int64_t o = 0, ostride = 1;
        for (int d = 3; d >= 0; --d) {
          int64_t c = (i / strides[d]) % shape[d];
          if (!(mask & (1 << d))) o += c * ostride;
          ostride *= out_shape[d];
        }
        float v = x.data<float>()[i];
        sum[o] += v;
        mx[o] = std::max(mx[o], v);
        ++count[o];
      }
      for (int64_t o = 0; o < out.num_elements(); ++o) {
        float want = op == OpType::kReduceSum   ? static_cast<float>(sum[o])
                     : op == OpType::kReduceMax ? mx[o]
                                                : static_cast<float>(sum[o] / count[o]);
        ASSERT_NEAR(out.data<float>()[o], want, 1e-4f) << o;
      }
    }
  }
}

TEST(OpsReduceOthers, EveryOpRejectsFloat64) {
  Tensor d = T1<double>({1.0, 2.0}, {2});
  for (OpType op : {OpType::kReduceSum, OpType::kReduceMean, OpType::kReduceMax, OpType::kReduceMin,
                    OpType::kReduceProd, OpType::kArgMax, OpType::kArgMin}) {
    SCOPED_TRACE(std::string(OpTypeName(op)));
    ExpectError(StatusOf(RunOp(op, 18, {}, {{d}}, 1, "bad")), "bad", "has dtype float64; supported:");
  }
  ExpectError(StatusOf(RunOp(OpType::kTopK, 11, {}, {{d}, {T1<int64_t>({1}, {1}), true}}, 2, "bad")), "bad",
              "input 'X' has dtype float64; supported: float32, int32 or int64");
}

// ---- ArgMax / ArgMin -----------------------------------------------------------------------------

TEST(OpsReduceArg, AxisKeepdimsAndLastIndex) {
  Tensor x = F({2, 1, 2, 2, 5, 5, 0, 3}, {2, 4});
  Attributes a1;
  a1.Set("axis", int64_t{1});
  auto y = RunOp(OpType::kArgMax, 13, a1, {{x}});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ((*y)[0].dtype(), DataType::kInt64);
  EXPECT_EQ((*y)[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(Values<int64_t>((*y)[0]), (std::vector<int64_t>{0, 0}));
  a1.Set("select_last_index", int64_t{1});
  y = RunOp(OpType::kArgMax, 13, a1, {{x}});
  EXPECT_EQ(Values<int64_t>((*y)[0]), (std::vector<int64_t>{3, 1}));
  a1.Set("keepdims", int64_t{0});
  a1.Set("axis", int64_t{-1});
  y = RunOp(OpType::kArgMin, 13, a1, {{x}});
  EXPECT_EQ((*y)[0].shape(), (Shape{2}));
  EXPECT_EQ(Values<int64_t>((*y)[0]), (std::vector<int64_t>{1, 2}));
  // Default axis 0.
  y = RunOp(OpType::kArgMin, 13, {}, {{x}});
  EXPECT_EQ((*y)[0].shape(), (Shape{1, 4}));
  EXPECT_EQ(Values<int64_t>((*y)[0]), (std::vector<int64_t>{0, 0, 1, 0}));
  auto ints = RunOp(OpType::kArgMax, 13, KeepDims(0), {{T1<int64_t>({3, 9, 4, 1, 0, 7}, {3, 2})}});
  ASSERT_TRUE(ints.ok());
  EXPECT_EQ(Values<int64_t>((*ints)[0]), (std::vector<int64_t>{1, 0}));
}

TEST(OpsReduceArg, RejectsBadInput) {
  Attributes a;
  a.Set("axis", int64_t{2});
  ExpectError(StatusOf(RunOp(OpType::kArgMax, 13, a, {{F({1, 2}, {1, 2})}}, 1, "am")), "am",
              "axis 2 is out of range for a rank-2 input");
  ExpectError(StatusOf(RunOp(OpType::kArgMin, 13, {}, {{*Tensor::Create(DataType::kFloat32, {0, 2})}}, 1, "am2")),
              "am2", "along axis 0 of size 0");
  Attributes last;
  last.Set("select_last_index", int64_t{3});
  ExpectError(StatusOf(RunOp(OpType::kArgMax, 13, last, {{F({1}, {1})}}, 1, "am3")), "am3",
              "'select_last_index' must be 0 or 1");
}

// ---- TopK -------------------------------------------------------------------------------------------

TEST(OpsReduceTopK, LargestSmallestAndTies) {
  Tensor x = F({0, 1, 2, 3, 4, 5, 6, 7, 11, 10, 9, 8}, {3, 4});
  Tensor k = T1<int64_t>({3}, {1});
  Attributes attrs;
  attrs.Set("axis", int64_t{1});
  auto y = RunOp(OpType::kTopK, 11, attrs, {{x}, {k, true}}, 2);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ((*y)[0].shape(), (Shape{3, 3}));
  ExpectFloats((*y)[0], {3, 2, 1, 7, 6, 5, 11, 10, 9});
  EXPECT_EQ(Values<int64_t>((*y)[1]), (std::vector<int64_t>{3, 2, 1, 3, 2, 1, 0, 1, 2}));
  attrs.Set("largest", int64_t{0});
  y = RunOp(OpType::kTopK, 11, attrs, {{x}, {k, true}}, 2);
  ExpectFloats((*y)[0], {0, 1, 2, 4, 5, 6, 8, 9, 10});
  EXPECT_EQ(Values<int64_t>((*y)[1]), (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 3, 2, 1}));
  // Ties keep the smaller index first; NaN counts as the largest value.
  Tensor ties = F({1, 3, 3, 1, NAN}, {5});
  auto t = RunOp(OpType::kTopK, 11, {}, {{ties}, {T1<int64_t>({4}, {1}), true}}, 2);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Values<int64_t>((*t)[1]), (std::vector<int64_t>{4, 1, 2, 0}));
  Attributes smallest;
  smallest.Set("largest", int64_t{0});
  t = RunOp(OpType::kTopK, 11, smallest, {{ties}, {T1<int64_t>({3}, {1}), true}}, 2);
  EXPECT_EQ(Values<int64_t>((*t)[1]), (std::vector<int64_t>{0, 3, 1}));
}

TEST(OpsReduceTopK, MiddleAxisIntegersAndRuntimeK) {
  // Shape 2x3x2, top-2 along axis 0-based 1 (default axis is -1: test both).
  Tensor x = T1<int32_t>({1, 6, 5, 2, 3, 4, 9, 7, 8, 8, 7, 9}, {2, 3, 2});
  Attributes mid;
  mid.Set("axis", int64_t{1});
  auto y = RunOp(OpType::kTopK, 11, mid, {{x}, {T1<int64_t>({2}, {1}), true}}, 2);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ((*y)[0].shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(Values<int32_t>((*y)[0]), (std::vector<int32_t>{5, 6, 3, 4, 9, 9, 8, 8}));
  EXPECT_EQ(Values<int64_t>((*y)[1]), (std::vector<int64_t>{1, 0, 2, 2, 0, 2, 1, 1}));
  auto last = RunOp(OpType::kTopK, 11, {}, {{x}, {T1<int64_t>({1}, {1}), true}}, 2);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(Values<int32_t>((*last)[0]), (std::vector<int32_t>{6, 5, 4, 9, 8, 9}));
  auto zero = RunOp(OpType::kTopK, 11, {}, {{x}, {T1<int64_t>({0}, {1}), true}}, 2);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ((*zero)[0].num_elements(), 0);

  // K fed at run time: the engine takes k from the declared outputs and checks it on every run.
  NetworkDef net;
  net.tensors.push_back(TensorDef{"x", DataType::kFloat32, {4}, {}});
  net.tensors.push_back(TensorDef{"k", DataType::kInt64, {1}, {}});
  net.tensors.push_back(TensorDef{"v", DataType::kFloat32, {2}, {}});
  net.tensors.push_back(TensorDef{"i", DataType::kInt64, {2}, {}});
  LayerDef layer;
  layer.name = "topk_rt";
  layer.op = OpType::kTopK;
  layer.opset = 11;
  layer.inputs = {0, 1};
  layer.outputs = {2, 3};
  net.layers.push_back(layer);
  net.inputs = {0, 1};
  net.outputs = {2, 3};
  auto engine = CpuEngine::Create(std::move(net));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  std::vector<Tensor> outs;
  ASSERT_TRUE((*engine)->Run({F({4, 9, 1, 7}, {4}), T1<int64_t>({2}, {1})}, &outs).ok());
  ExpectFloats(outs[0], {9, 7});
  EXPECT_EQ(Values<int64_t>(outs[1]), (std::vector<int64_t>{1, 3}));
  Status bad = (*engine)->Run({F({4, 9, 1, 7}, {4}), T1<int64_t>({3}, {1})}, &outs);
  ExpectError(bad, "topk_rt", "K is 3 but the outputs were declared for K = 2");
}

TEST(OpsReduceTopK, RejectsBadK) {
  Tensor x = F({1, 2, 3}, {3});
  ExpectError(StatusOf(RunOp(OpType::kTopK, 11, {}, {{x}, {T1<int64_t>({4}, {1}), true}}, 2, "tk")), "tk",
              "k = 4 is outside [0, 3]");
  ExpectError(StatusOf(RunOp(OpType::kTopK, 11, {}, {{x}, {T1<int64_t>({-1}, {1}), true}}, 2, "tk2")), "tk2",
              "k = -1 is outside");
  ExpectError(StatusOf(RunOp(OpType::kTopK, 11, {}, {{x}, {T1<int64_t>({1, 2}, {2}), true}}, 2, "tk3")), "tk3",
              "input 'K' must hold one value");
  ExpectError(StatusOf(RunOp(OpType::kTopK, 11, {}, {{x}, {T1<int32_t>({1}, {1}), true}}, 2, "tk4")), "tk4",
              "input 'K' has dtype int32; supported: int64");
  ExpectError(StatusOf(RunOp(OpType::kTopK, 11, {}, {{x}, {T1<int64_t>({1}, {1})}}, 2, "tk5")), "tk5",
              "input 'K' must be known at build time");
}

}  // namespace
}  // namespace edgert
