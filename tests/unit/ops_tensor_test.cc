// Tests of the "tensor" operator family: shape ops, data movement, Cast, Range, Resize/Upsample.
// Every case builds a one-layer NetworkDef by hand (parameters as constant tensors, data as
// network inputs) and runs it through CpuEngine, which poisons outputs before the run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "edgert/cpu_engine.h"
#include "edgert/network.h"
#include "edgert/op_def.h"
#include "op_test_util.h"
#include "op_util.h"

namespace edgert {
namespace {

// One input of the layer under test: a network input (data) or a constant (parameter).
using Arg = testing::OpArg;
Arg Data(Tensor t) { return {std::move(t), false}; }
Arg Const(Tensor t) { return {std::move(t), true}; }

template <typename T>
Tensor T_(std::vector<T> v, Shape s) {
  return Tensor::FromVector<T>(v, std::move(s));
}
Tensor F(std::vector<float> v, Shape s) { return T_<float>(std::move(v), std::move(s)); }
Tensor I64(std::vector<int64_t> v) {
  Shape s{static_cast<int64_t>(v.size())};
  return T_<int64_t>(std::move(v), s);
}
// 0, 1, 2, ... as float32 of `shape`.
Tensor Iota(Shape shape) {
  Tensor t = *Tensor::Create(DataType::kFloat32, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

// Infers the layer's outputs, builds the network (node name "n1") and runs it. `args` entries
// that are nullopt are absent optional inputs.
StatusOr<std::vector<Tensor>> RunOp(OpType op, const Attributes& attrs, const std::vector<std::optional<Arg>>& args,
                                    size_t num_outputs = 1, int opset = 18) {
  std::vector<Arg> present;
  for (const std::optional<Arg>& a : args) present.push_back(a ? *a : Arg{});
  return testing::RunSingleOp(op, attrs, present, num_outputs, opset, "n1");
}

std::vector<double> Values(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    v.push_back(t.dtype() == DataType::kFloat16 ? HalfToFloat(t.data<uint16_t>()[i]) : t.GetAsDouble(i));
  }
  return v;
}

void ExpectValues(const Tensor& t, const Shape& shape, const std::vector<double>& want, double tol = 1e-5) {
  ASSERT_EQ(t.shape(), shape);
  std::vector<double> got = Values(t);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// Expects a failure naming node 'n1' (in the message or as the Status subject) whose message
// contains `what`.
template <typename S>
void ExpectError(const S& result, const std::string& what) {
  ASSERT_FALSE(result.ok());
  Status st;
  if constexpr (std::is_same_v<S, Status>) {
    st = result;
  } else {
    st = result.status();
  }
  EXPECT_NE(st.ToString().find("'n1'"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find(what), std::string::npos) << st.ToString();
}

Attributes A() { return Attributes(); }
template <typename V>
Attributes A(const std::string& k, V v) {
  Attributes a;
  a.Set(k, AttrValue(v));
  return a;
}

// ---- Shape ops -----------------------------------------------------------------------------

TEST(OpsTensorShape, FlattenAxes) {
  for (auto [axis, rows] : std::vector<std::pair<int64_t, int64_t>>{{0, 1}, {1, 2}, {2, 6}, {-1, 24}, {4, 120}}) {
    auto r = RunOp(OpType::kFlatten, A("axis", axis), {Data(Iota({2, 3, 4, 5}))});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)[0].shape(), (Shape{rows, 120 / rows}));
    EXPECT_EQ((*r)[0].data<float>()[119], 119.0f);
  }
  ExpectError(RunOp(OpType::kFlatten, A("axis", int64_t{5}), {Data(Iota({2, 3, 4, 5}))}), "axis 5 is out of range");
}

TEST(OpsTensorShape, ReshapeZeroAndMinusOne) {
  auto r = RunOp(OpType::kReshape, A(), {Data(Iota({2, 3, 4})), Const(I64({2, 0, 1, -1}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 3, 1, 4}));
  EXPECT_EQ((*r)[0].data<float>()[23], 23.0f);
  // allowzero keeps 0 as a real zero-sized dimension.
  auto z = RunOp(OpType::kReshape, A("allowzero", int64_t{1}),
                 {Data(*Tensor::Create(DataType::kFloat32, {0, 3, 4})), Const(I64({3, 4, 0}))});
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  EXPECT_EQ((*z)[0].shape(), (Shape{3, 4, 0}));
}

TEST(OpsTensorShape, ReshapeErrors) {
  ExpectError(RunOp(OpType::kReshape, A(), {Data(Iota({2, 3, 4})), Const(I64({5, -1}))}), "cannot reshape");
  ExpectError(RunOp(OpType::kReshape, A(), {Data(Iota({2, 3, 4})), Const(I64({-1, -1}))}), "more than one -1");
  ExpectError(RunOp(OpType::kReshape, A(), {Data(Iota({2, 3, 4})), Const(I64({7, 2}))}), "(24 elements)");
  ExpectError(RunOp(OpType::kReshape, A(), {Data(Iota({2, 3})), Data(I64({6}))}), "must be known at build time");
}

TEST(OpsTensorShape, SqueezeUnsqueeze) {
  auto s = RunOp(OpType::kSqueeze, A(), {Data(Iota({1, 3, 1, 5})), Const(I64({-2}))});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)[0].shape(), (Shape{1, 3, 5}));
  auto all = RunOp(OpType::kSqueeze, A(), {Data(Iota({1, 3, 1, 5}))});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)[0].shape(), (Shape{3, 5}));
  // Opset 11: axes as an attribute.
  auto old = RunOp(OpType::kSqueeze, A("axes", std::vector<int64_t>{0}), {Data(Iota({1, 3, 1, 5}))}, 1, 11);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ((*old)[0].shape(), (Shape{3, 1, 5}));
  ExpectError(RunOp(OpType::kSqueeze, A(), {Data(Iota({1, 3})), Const(I64({1}))}), "its size is 3, not 1");

  auto u = RunOp(OpType::kUnsqueeze, A(), {Data(Iota({3, 4, 5})), Const(I64({5, 4, 2}))});
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ((*u)[0].shape(), (Shape{3, 4, 1, 5, 1, 1}));
  auto u11 = RunOp(OpType::kUnsqueeze, A("axes", std::vector<int64_t>{0, -1}), {Data(Iota({3}))}, 1, 11);
  ASSERT_TRUE(u11.ok()) << u11.status().ToString();
  EXPECT_EQ((*u11)[0].shape(), (Shape{1, 3, 1}));
  ExpectError(RunOp(OpType::kUnsqueeze, A(), {Data(Iota({3}))}), "axes are required");
  ExpectError(RunOp(OpType::kUnsqueeze, A(), {Data(Iota({3})), Const(I64({1, 1}))}), "twice");
}

TEST(OpsTensorShape, IdentityDropoutAnyDtype) {
  auto r = RunOp(OpType::kIdentity, A(), {Data(T_<int8_t>({-1, 0, 1}, {3}))});
  ASSERT_TRUE(r.ok());
  ExpectValues((*r)[0], {3}, {-1, 0, 1});
  ExpectError(RunOp(OpType::kIdentity, A(), {Data(Iota({2})), Data(Iota({2}))}), "has 2 inputs");
  auto d = RunOp(OpType::kDropout, A(), {Data(F({1, 2, 3}, {3})), Const(Tensor::Scalar<float>(0.5f))}, 2, 13);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ExpectValues((*d)[0], {3}, {1, 2, 3});
  EXPECT_EQ((*d)[1].dtype(), DataType::kBool);
  ExpectValues((*d)[1], {3}, {1, 1, 1});
  // Training with ratio 0 is the identity; with a non-zero ratio it is refused at run time.
  auto t0 = RunOp(OpType::kDropout, A(),
                  {Data(F({4, 5}, {2})), Data(Tensor::Scalar<float>(0.0f)), Data(Tensor::Scalar<bool>(true))}, 2, 13);
  ASSERT_TRUE(t0.ok()) << t0.status().ToString();
  ExpectValues((*t0)[0], {2}, {4, 5});
  ExpectError(RunOp(OpType::kDropout, A(),
                    {Data(F({4, 5}, {2})), Data(Tensor::Scalar<float>(0.3f)), Data(Tensor::Scalar<bool>(true))}, 1, 13),
              "training_mode");
}

TEST(OpsTensorShape, ShapeStartEnd) {
  auto r = RunOp(OpType::kShape, A(), {Data(Iota({3, 4, 5}))});
  ASSERT_TRUE(r.ok());
  ExpectValues((*r)[0], {3}, {3, 4, 5});
  Attributes a;
  a.Set("start", int64_t{1});
  a.Set("end", int64_t{-1});
  auto s = RunOp(OpType::kShape, a, {Data(Iota({3, 4, 5}))});
  ASSERT_TRUE(s.ok());
  ExpectValues((*s)[0], {1}, {4});
  auto c = RunOp(OpType::kShape, A("start", int64_t{-10}), {Data(Iota({3, 4, 5}))});
  ASSERT_TRUE(c.ok());
  ExpectValues((*c)[0], {3}, {3, 4, 5});
  ExpectError(RunOp(OpType::kShape, A("start", std::string("1")), {Data(Iota({3}))}), "'start' should be int");
  // The builder folds Shape with a data-less view: the kernel must read only the shape.
  Attributes none;
  ValueInfo vi{DataType::kFloat32, {7, 2}, nullptr};
  OpContext ctx(OpType::kShape, "n1", none, 15, {&vi}, 1);
  ASSERT_TRUE(GetOpDef(OpType::kShape)->infer(ctx).ok());
  auto k = GetOpDef(OpType::kShape)->create_cpu(ctx);
  ASSERT_TRUE(k.ok());
  Tensor view = Tensor::View(DataType::kFloat32, {7, 2}, nullptr);
  Tensor out = *Tensor::Create(DataType::kInt64, {2});
  ASSERT_TRUE((*k)->Run({&view}, {&out}).ok());
  ExpectValues(out, {2}, {7, 2});
}

TEST(OpsTensorShape, ConstantOfShape) {
  auto r = RunOp(OpType::kConstantOfShape, A("value", T_<int32_t>({7}, {1})), {Const(I64({2, 3}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].dtype(), DataType::kInt32);
  ExpectValues((*r)[0], {2, 3}, {7, 7, 7, 7, 7, 7});
  auto d = RunOp(OpType::kConstantOfShape, A(), {Const(I64({2}))});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)[0].dtype(), DataType::kFloat32);
  ExpectValues((*d)[0], {2}, {0, 0});
  auto z = RunOp(OpType::kConstantOfShape, A(), {Const(I64({0}))});
  ASSERT_TRUE(z.ok());
  EXPECT_EQ((*z)[0].shape(), (Shape{0}));
  ExpectError(RunOp(OpType::kConstantOfShape, A("value", F({1, 2}, {2})), {Const(I64({2}))}), "exactly one element");
  ExpectError(RunOp(OpType::kConstantOfShape, A(), {Const(I64({2, -3}))}), "negative dimension");
}

TEST(OpsTensorShape, Range) {
  auto f =
      RunOp(OpType::kRange, A(),
            {Const(Tensor::Scalar<float>(1)), Const(Tensor::Scalar<float>(5)), Const(Tensor::Scalar<float>(1.5f))});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ExpectValues((*f)[0], {3}, {1, 2.5, 4});
  auto i = RunOp(
      OpType::kRange, A(),
      {Const(Tensor::Scalar<int32_t>(10)), Const(Tensor::Scalar<int32_t>(6)), Const(Tensor::Scalar<int32_t>(-3))});
  ASSERT_TRUE(i.ok());
  ExpectValues((*i)[0], {2}, {10, 7});
  auto e =
      RunOp(OpType::kRange, A(),
            {Const(Tensor::Scalar<int64_t>(3)), Const(Tensor::Scalar<int64_t>(1)), Const(Tensor::Scalar<int64_t>(1))});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)[0].shape(), (Shape{0}));
  ExpectError(
      RunOp(OpType::kRange, A(),
            {Const(Tensor::Scalar<int64_t>(0)), Const(Tensor::Scalar<int64_t>(4)), Const(Tensor::Scalar<int64_t>(0))}),
      "delta must be non-zero");
  ExpectError(
      RunOp(OpType::kRange, A(),
            {Const(Tensor::Scalar<int64_t>(0)), Const(Tensor::Scalar<int32_t>(4)), Const(Tensor::Scalar<int64_t>(1))}),
      "'limit' is int32");
}

TEST(OpsTensorShape, CastConversions) {
  auto h = RunOp(OpType::kCast, A("to", int64_t{10}), {Data(F({1.5f, -2.0f, 70000.0f}, {3}))});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ((*h)[0].dtype(), DataType::kFloat16);
  EXPECT_EQ((*h)[0].data<uint16_t>()[0], 0x3e00);
  EXPECT_EQ((*h)[0].data<uint16_t>()[1], 0xc000);
  EXPECT_EQ((*h)[0].data<uint16_t>()[2], 0x7c00);  // overflow -> inf
  auto back = RunOp(OpType::kCast, A("to", int64_t{1}), {Data((*h)[0])});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)[0].data<float>()[0], 1.5f);
  // float -> int truncates toward zero and saturates; NaN -> 0.
  auto i8 = RunOp(OpType::kCast, A("to", int64_t{3}), {Data(F({-1.7f, 2.9f, 300.0f, -300.0f, NAN}, {5}))});
  ASSERT_TRUE(i8.ok());
  ExpectValues((*i8)[0], {5}, {-1, 2, 127, -128, 0});
  auto b = RunOp(OpType::kCast, A("to", int64_t{9}), {Data(F({0.0f, -0.5f, 3.0f}, {3}))});
  ASSERT_TRUE(b.ok());
  ExpectValues((*b)[0], {3}, {0, 1, 1});
  auto u8 = RunOp(OpType::kCast, A("to", int64_t{2}), {Data(T_<int64_t>({257, -1}, {2}))});
  ASSERT_TRUE(u8.ok());
  ExpectValues((*u8)[0], {2}, {1, 255});  // integer to integer wraps
  auto i64 = RunOp(OpType::kCast, A("to", int64_t{7}), {Data(T_<bool>({true, false}, {2}))});
  ASSERT_TRUE(i64.ok());
  ExpectValues((*i64)[0], {2}, {1, 0});
  // Cast-1 names the type as a string.
  auto s1 = RunOp(OpType::kCast, A("to", std::string("INT32")), {Data(F({2.5f}, {1}))}, 1, 1);
  ASSERT_TRUE(s1.ok()) << s1.status().ToString();
  EXPECT_EQ((*s1)[0].dtype(), DataType::kInt32);
  ExpectValues((*s1)[0], {1}, {2});
  ExpectError(RunOp(OpType::kCast, A("to", std::string("COMPLEX")), {Data(F({1}, {1}))}, 1, 1), "unknown type");
  ExpectError(RunOp(OpType::kCast, A("to", int64_t{8}), {Data(F({1}, {1}))}), "cast to ONNX type 8");
  ExpectError(RunOp(OpType::kCast, A(), {Data(F({1}, {1}))}), "'to'");
}

// ---- Data movement ---------------------------------------------------------------------------

TEST(OpsTensorMove, TransposeDefaultAndPerm) {
  auto r = RunOp(OpType::kTranspose, A(), {Data(Iota({2, 3}))});
  ASSERT_TRUE(r.ok());
  ExpectValues((*r)[0], {3, 2}, {0, 3, 1, 4, 2, 5});
  auto p = RunOp(OpType::kTranspose, A("perm", std::vector<int64_t>{1, 2, 0}), {Data(Iota({2, 3, 2}))});
  ASSERT_TRUE(p.ok());
  // out[j][k][i] = in[i][j][k] = 6i + 2j + k
  ExpectValues((*p)[0], {3, 2, 2}, {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11});
  auto i64 =
      RunOp(OpType::kTranspose, A("perm", std::vector<int64_t>{1, 0}), {Data(T_<int64_t>({1, 2, 3, 4}, {2, 2}))});
  ASSERT_TRUE(i64.ok());
  ExpectValues((*i64)[0], {2, 2}, {1, 3, 2, 4});
  ExpectError(RunOp(OpType::kTranspose, A("perm", std::vector<int64_t>{0, 0}), {Data(Iota({2, 2}))}), "twice");
  ExpectError(RunOp(OpType::kTranspose, A("perm", std::vector<int64_t>{0}), {Data(Iota({2, 2}))}),
              "perm has 1 entries");
}

TEST(OpsTensorMove, ConcatNegativeAxis) {
  auto r = RunOp(OpType::kConcat, A("axis", int64_t{-1}), {Data(Iota({2, 2})), Data(F({9, 8, 7, 6, 5, 4}, {2, 3}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectValues((*r)[0], {2, 5}, {0, 1, 9, 8, 7, 2, 3, 6, 5, 4});
  auto z = RunOp(OpType::kConcat, A("axis", int64_t{0}),
                 {Data(*Tensor::Create(DataType::kInt32, {0, 2})), Data(T_<int32_t>({1, 2}, {1, 2}))});
  ASSERT_TRUE(z.ok());
  ExpectValues((*z)[0], {1, 2}, {1, 2});
  ExpectError(RunOp(OpType::kConcat, A("axis", int64_t{0}), {Data(Iota({2, 2})), Data(Iota({2, 3}))}),
              "does not match");
  ExpectError(RunOp(OpType::kConcat, A("axis", int64_t{2}), {Data(Iota({2, 2}))}), "out of range");
  ExpectError(RunOp(OpType::kConcat, A(), {Data(Iota({2, 2}))}), "'axis' is required");
}

TEST(OpsTensorMove, SplitVariants) {
  // Opset 13+: sizes from the input.
  auto v = RunOp(OpType::kSplit, A("axis", int64_t{1}), {Data(Iota({2, 6})), Const(I64({2, 4}))}, 2, 13);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ExpectValues((*v)[0], {2, 2}, {0, 1, 6, 7});
  ExpectValues((*v)[1], {2, 4}, {2, 3, 4, 5, 8, 9, 10, 11});
  // Opset 11: sizes as the attribute.
  auto a = RunOp(OpType::kSplit, A("split", std::vector<int64_t>{1, 2}), {Data(Iota({3}))}, 2, 11);
  ASSERT_TRUE(a.ok());
  ExpectValues((*a)[1], {2}, {1, 2});
  // Opset 18: num_outputs with an uneven last chunk.
  auto n = RunOp(OpType::kSplit, A("num_outputs", int64_t{4}), {Data(Iota({7}))}, 4, 18);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ExpectValues((*n)[0], {2}, {0, 1});
  ExpectValues((*n)[3], {1}, {6});
  // Equal split from the output count.
  auto e = RunOp(OpType::kSplit, A(), {Data(Iota({6}))}, 3, 13);
  ASSERT_TRUE(e.ok());
  ExpectValues((*e)[2], {2}, {4, 5});
  ExpectError(RunOp(OpType::kSplit, A(), {Data(Iota({6})), Const(I64({2, 3}))}, 2, 13), "sum to 5");
  ExpectError(RunOp(OpType::kSplit, A(), {Data(Iota({7}))}, 3, 13), "equal parts");
  ExpectError(RunOp(OpType::kSplit, A("num_outputs", int64_t{3}), {Data(Iota({7}))}, 2, 18), "num_outputs is 3");
}

TEST(OpsTensorMove, SliceStepsAndClamping) {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  // Reverse a whole axis with INT64 sentinels.
  auto rev = RunOp(OpType::kSlice, A(),
                   {Data(Iota({2, 3})), Const(I64({-1})), Const(I64({kMin})), Const(I64({1})), Const(I64({-1}))});
  ASSERT_TRUE(rev.ok()) << rev.status().ToString();
  ExpectValues((*rev)[0], {2, 3}, {2, 1, 0, 5, 4, 3});
  // Default axes/steps, end clamped to the dimension.
  auto d = RunOp(OpType::kSlice, A(), {Data(Iota({4, 3})), Const(I64({1, 1})), Const(I64({kMax, 1000}))});
  ASSERT_TRUE(d.ok());
  ExpectValues((*d)[0], {3, 2}, {4, 5, 7, 8, 10, 11});
  // Steps of 2 and -2 on two axes given out of order (negative axis).
  auto s =
      RunOp(OpType::kSlice, A(),
            {Data(Iota({4, 5})), Const(I64({4, 0})), Const(I64({0, 5})), Const(I64({-1, 0})), Const(I64({-2, 2}))});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  // rows 0, 2 (end 5 clamped to 4, step 2); columns 4, 2 (step -2, end 0 exclusive)
  ExpectValues((*s)[0], {2, 2}, {4, 2, 14, 12});
  // Start past the end -> empty.
  auto e = RunOp(OpType::kSlice, A(), {Data(Iota({2, 3})), Const(I64({5})), Const(I64({9})), Const(I64({1}))});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)[0].shape(), (Shape{2, 0}));
  // int8 data.
  auto b = RunOp(OpType::kSlice, A(), {Data(T_<int8_t>({1, 2, 3, 4}, {4})), Const(I64({1})), Const(I64({3}))});
  ASSERT_TRUE(b.ok());
  ExpectValues((*b)[0], {2}, {2, 3});
  ExpectError(
      RunOp(OpType::kSlice, A(), {Data(Iota({4})), Const(I64({0})), Const(I64({4})), Const(I64({0})), Const(I64({0}))}),
      "steps[0] is 0");
  ExpectError(RunOp(OpType::kSlice, A(), {Data(Iota({4})), Const(I64({0, 1})), Const(I64({4}))}), "same length");
}

TEST(OpsTensorMove, GatherAxesAndNegativeIndices) {
  auto g0 = RunOp(OpType::kGather, A(), {Data(Iota({3, 2})), Data(T_<int64_t>({2, -3}, {2}))});
  ASSERT_TRUE(g0.ok()) << g0.status().ToString();
  ExpectValues((*g0)[0], {2, 2}, {4, 5, 0, 1});
  auto g1 = RunOp(OpType::kGather, A("axis", int64_t{1}), {Data(Iota({2, 3})), Const(T_<int32_t>({2, 0}, {1, 2}))});
  ASSERT_TRUE(g1.ok());
  ExpectValues((*g1)[0], {2, 1, 2}, {2, 0, 5, 3});
  // Scalar index drops the axis.
  auto sc = RunOp(OpType::kGather, A("axis", int64_t{-1}), {Data(Iota({2, 3})), Const(Tensor::Scalar<int64_t>(1))});
  ASSERT_TRUE(sc.ok());
  ExpectValues((*sc)[0], {2}, {1, 4});
  ExpectError(RunOp(OpType::kGather, A(), {Data(Iota({3})), Const(I64({3}))}), "index 3 is out of range");
  ExpectError(RunOp(OpType::kGather, A(), {Data(Iota({3})), Data(I64({-4}))}), "index -4 is out of range");
  ExpectError(RunOp(OpType::kGather, A(), {Data(Iota({3})), Data(F({1}, {1}))}), "'indices' must be int32 or int64");
}

TEST(OpsTensorMove, ExpandBidirectional) {
  auto r = RunOp(OpType::kExpand, A(), {Data(F({1, 2, 3}, {3, 1})), Const(I64({2, 1, 2}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectValues((*r)[0], {2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  auto keep = RunOp(OpType::kExpand, A(), {Data(F({1, 2}, {1, 2})), Const(I64({1}))});
  ASSERT_TRUE(keep.ok());
  ExpectValues((*keep)[0], {1, 2}, {1, 2});
  ExpectError(RunOp(OpType::kExpand, A(), {Data(Iota({2, 3})), Const(I64({4, 3}))}), "cannot be broadcast");
}

TEST(OpsTensorMove, Tile) {
  auto r = RunOp(OpType::kTile, A(), {Data(F({1, 2, 3, 4}, {2, 2})), Const(I64({2, 3}))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectValues((*r)[0], {4, 6}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  auto u = RunOp(OpType::kTile, A(), {Data(T_<uint8_t>({7, 8}, {2})), Const(I64({2}))});
  ASSERT_TRUE(u.ok());
  ExpectValues((*u)[0], {4}, {7, 8, 7, 8});
  ExpectError(RunOp(OpType::kTile, A(), {Data(Iota({2, 2})), Const(I64({2}))}), "repeats has 1 values");
}

TEST(OpsTensorMove, PadModes) {
  Tensor x = F({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor pads = I64({0, 2, 0, 1});
  auto c = RunOp(OpType::kPad, A(), {Data(x), Const(pads), Const(Tensor::Scalar<float>(9))});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectValues((*c)[0], {2, 6}, {9, 9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9});
  auto r = RunOp(OpType::kPad, A("mode", std::string("reflect")), {Data(x), Const(pads)});
  ASSERT_TRUE(r.ok());
  ExpectValues((*r)[0], {2, 6}, {3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5});
  auto e = RunOp(OpType::kPad, A("mode", std::string("edge")), {Data(x), Const(pads)});
  ASSERT_TRUE(e.ok());
  ExpectValues((*e)[0], {2, 6}, {1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6});
  auto w = RunOp(OpType::kPad, A("mode", std::string("wrap")), {Data(x), Const(pads)});
  ASSERT_TRUE(w.ok());
  ExpectValues((*w)[0], {2, 6}, {2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4});
  // Axes input, negative pads crop, int32 data, no constant value (0).
  auto ax = RunOp(OpType::kPad, A(),
                  {Data(T_<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3})), Const(I64({1, -1})), std::nullopt, Const(I64({-2}))});
  ASSERT_TRUE(ax.ok()) << ax.status().ToString();
  ExpectValues((*ax)[0], {2, 3}, {0, 0, 0, 1, 2, 3});
  // Opset 2 form: pads and value as attributes.
  Attributes old;
  old.Set("pads", std::vector<int64_t>{1, 0, 0, 0});
  old.Set("value", 7.0f);
  auto o = RunOp(OpType::kPad, old, {Data(x)}, 1, 2);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  ExpectValues((*o)[0], {3, 3}, {7, 7, 7, 1, 2, 3, 4, 5, 6});
  ExpectError(RunOp(OpType::kPad, A(), {Data(x), Const(I64({1, 1}))}), "pads has 2 values, expected 4");
  ExpectError(RunOp(OpType::kPad, A("mode", std::string("mirror")), {Data(x), Const(pads)}), "mode 'mirror'");
  ExpectError(RunOp(OpType::kPad, A("mode", std::string("reflect")), {Data(F({1}, {1})), Const(I64({1, 1}))}),
              "at least 2 elements");
}

TEST(OpsTensorMove, DepthToSpaceAndBack) {
  Tensor x = Iota({1, 8, 1, 2});
  auto dcr = RunOp(OpType::kDepthToSpace, A("blocksize", int64_t{2}), {Data(x)});
  ASSERT_TRUE(dcr.ok()) << dcr.status().ToString();
  // DCR: out[c][h*2+bh][w*2+bw] = in[(bh*2+bw)*2 + c][h][w]; channel k holds 2k, 2k+1.
  ExpectValues((*dcr)[0], {1, 2, 2, 4}, {0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15});
  Attributes crd;
  crd.Set("blocksize", int64_t{2});
  crd.Set("mode", std::string("CRD"));
  auto c = RunOp(OpType::kDepthToSpace, crd, {Data(x)});
  ASSERT_TRUE(c.ok());
  // CRD: out[c][h*2+bh][w*2+bw] = in[c*4 + bh*2 + bw][h][w].
  ExpectValues((*c)[0], {1, 2, 2, 4}, {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15});
  // SpaceToDepth inverts DepthToSpace (DCR).
  auto s = RunOp(OpType::kSpaceToDepth, A("blocksize", int64_t{2}), {Data((*dcr)[0])});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ExpectValues((*s)[0], {1, 8, 1, 2}, Values(x));
  ExpectError(RunOp(OpType::kDepthToSpace, A("blocksize", int64_t{3}), {Data(x)}), "not divisible");
  ExpectError(RunOp(OpType::kSpaceToDepth, A("blocksize", int64_t{2}), {Data(Iota({1, 1, 3, 2}))}), "not divisible");
  ExpectError(RunOp(OpType::kDepthToSpace, A(), {Data(x)}), "'blocksize'");
}

// Multi-index of flat element `i` of `shape` (row-major).
std::vector<int64_t> Unflatten(int64_t i, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

int64_t Flatten(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t f = 0;
  for (size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + idx[d];
  return f;
}

TEST(OpsTensorMove, RandomTransposeSliceTileAgainstIndexMath) {
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 60; ++iter) {
    const int rank = 1 + static_cast<int>(rng() % 5);
    Shape shape;
    for (int d = 0; d < rank; ++d) shape.push_back(1 + static_cast<int64_t>(rng() % 4));
    Tensor x = *Tensor::Create(DataType::kInt32, shape);
    for (int64_t i = 0; i < x.num_elements(); ++i) x.data<int32_t>()[i] = static_cast<int32_t>(rng() % 1000);

    // Transpose with a random permutation.
    std::vector<int64_t> perm(rank);
    for (int d = 0; d < rank; ++d) perm[d] = d;
    std::shuffle(perm.begin(), perm.end(), rng);
    auto t = RunOp(OpType::kTranspose, A("perm", perm), {Data(x)});
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    const Tensor& to = (*t)[0];
    for (int64_t i = 0; i < to.num_elements(); ++i) {
      std::vector<int64_t> oi = Unflatten(i, to.shape()), ii(rank);
      for (int d = 0; d < rank; ++d) ii[perm[d]] = oi[d];
      ASSERT_EQ(to.data<int32_t>()[i], x.data<int32_t>()[Flatten(ii, shape)]) << "transpose iter " << iter;
    }

    // Slice every axis with a random start, end and step (either sign).
    std::vector<int64_t> starts, ends, axes, steps;
    for (int d = 0; d < rank; ++d) {
      const int64_t n = shape[d];
      int64_t step = 1 + static_cast<int64_t>(rng() % 3);
      if (rng() % 2) step = -step;
      int64_t a = static_cast<int64_t>(rng() % (n + 1)), b = static_cast<int64_t>(rng() % (n + 1));
      if (step < 0) {
        a = std::min(a, n - 1);
        b = b - 1;  // may be -1 ... n - 1
      }
      starts.push_back(a);
      ends.push_back(b < 0 ? -n - 5 : b);  // below -n means "before the first element"
      axes.push_back(d);
      steps.push_back(step);
    }
    auto sl = RunOp(OpType::kSlice, A(),
                    {Data(x), Const(I64(starts)), Const(I64(ends)), Const(I64(axes)), Const(I64(steps))});
    ASSERT_TRUE(sl.ok()) << sl.status().ToString();
    const Tensor& so = (*sl)[0];
    for (int d = 0; d < rank; ++d) {
      int64_t count = 0;
      const int64_t end = ends[d] < -shape[d] ? -1 : ends[d];
      for (int64_t k = starts[d]; steps[d] > 0 ? k < end : k > end; k += steps[d]) ++count;
      ASSERT_EQ(so.shape()[d], count) << "slice iter " << iter << " axis " << d;
    }
    for (int64_t i = 0; i < so.num_elements(); ++i) {
      std::vector<int64_t> oi = Unflatten(i, so.shape()), ii(rank);
      for (int d = 0; d < rank; ++d) ii[d] = starts[d] + oi[d] * steps[d];
      ASSERT_EQ(so.data<int32_t>()[i], x.data<int32_t>()[Flatten(ii, shape)]) << "slice iter " << iter;
    }

    // Tile with random repeats.
    std::vector<int64_t> reps;
    for (int d = 0; d < rank; ++d) reps.push_back(1 + static_cast<int64_t>(rng() % 3));
    auto tl = RunOp(OpType::kTile, A(), {Data(x), Const(I64(reps))});
    ASSERT_TRUE(tl.ok()) << tl.status().ToString();
    const Tensor& tile = (*tl)[0];
    for (int64_t i = 0; i < tile.num_elements(); ++i) {
      std::vector<int64_t> oi = Unflatten(i, tile.shape());
      for (int d = 0; d < rank; ++d) oi[d] %= shape[d];
      ASSERT_EQ(tile.data<int32_t>()[i], x.data<int32_t>()[Flatten(oi, shape)]) << "tile iter " << iter;
    }
  }
}

TEST(OpsTensorMove, EngineRejectsOutputShapeThatInputsDoNotGive) {
  // A network (e.g. from a corrupt plan) whose output buffer disagrees with the inputs must be
  // refused at prepare time, before a kernel could write past it.
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, {2, 3}, Tensor()});
  net.tensors.push_back({"y", DataType::kFloat32, {2, 3}, Tensor()});
  LayerDef layer;
  layer.name = "n1";
  layer.op = OpType::kTranspose;
  layer.opset = 13;
  layer.inputs = {0};
  layer.outputs = {1};
  net.layers.push_back(layer);
  net.inputs = {0};
  net.outputs = {1};
  ExpectError(CpuEngine::Create(net), "output 0 is declared float32 2x3 but the inputs give float32 3x2");
}

// ---- Resize / Upsample -----------------------------------------------------------------------

Tensor EmptyF() { return *Tensor::Create(DataType::kFloat32, {0}); }

TEST(OpsTensorResize, NearestUpsampleScales) {
  auto r = RunOp(OpType::kResize, A(), {Data(F({1, 2, 3, 4}, {1, 1, 2, 2})), std::nullopt, Const(F({1, 1, 2, 3}, {4}))},
                 1, 19);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectValues((*r)[0], {1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  // uint8 data through the same nearest path, sizes input, empty-tensor placeholders (opset 11).
  auto u =
      RunOp(OpType::kResize, A(),
            {Data(T_<uint8_t>({1, 2, 3, 4}, {1, 1, 2, 2})), Const(EmptyF()), Const(EmptyF()), Const(I64({1, 1, 4, 4}))},
            1, 11);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  ExpectValues((*u)[0], {1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

TEST(OpsTensorResize, NearestModesAndCoordinates) {
  // 1-D 4 -> 8 with asymmetric coordinates: x = i / 2.
  Tensor x = F({10, 20, 30, 40}, {1, 4});
  Attributes a;
  a.Set("coordinate_transformation_mode", std::string("asymmetric"));
  a.Set("nearest_mode", std::string("round_prefer_ceil"));
  auto c = RunOp(OpType::kResize, a, {Data(x), std::nullopt, std::nullopt, Const(I64({1, 8}))}, 1, 13);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectValues((*c)[0], {1, 8}, {10, 20, 20, 30, 30, 40, 40, 40});
  a.Set("nearest_mode", std::string("floor"));
  auto f = RunOp(OpType::kResize, a, {Data(x), std::nullopt, std::nullopt, Const(I64({1, 8}))}, 1, 13);
  ASSERT_TRUE(f.ok());
  ExpectValues((*f)[0], {1, 8}, {10, 10, 20, 20, 30, 30, 40, 40});
  // align_corners + floor, 4 -> 7: x = i * 3 / 6 = i / 2.
  a.Set("coordinate_transformation_mode", std::string("align_corners"));
  auto ac = RunOp(OpType::kResize, a, {Data(x), std::nullopt, std::nullopt, Const(I64({1, 7}))}, 1, 13);
  ASSERT_TRUE(ac.ok());
  ExpectValues((*ac)[0], {1, 7}, {10, 10, 20, 20, 30, 30, 40});
}

TEST(OpsTensorResize, LinearHalfPixelAndAlignCorners) {
  Tensor x = F({1, 2, 3, 4}, {1, 1, 2, 2});
  Attributes lin = A("mode", std::string("linear"));
  auto r = RunOp(OpType::kResize, lin, {Data(x), std::nullopt, Const(F({1, 1, 2, 2}, {4}))}, 1, 19);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // half_pixel, per axis: x = (i + 0.5) / 2 - 0.5 -> -0.25, 0.25, 0.75, 1.25 (edge clamped).
  ExpectValues((*r)[0], {1, 1, 4, 4}, {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4});
  lin.Set("coordinate_transformation_mode", std::string("align_corners"));
  auto ac = RunOp(OpType::kResize, lin, {Data(x), std::nullopt, std::nullopt, Const(I64({1, 1, 3, 3}))}, 1, 19);
  ASSERT_TRUE(ac.ok());
  ExpectValues((*ac)[0], {1, 1, 3, 3}, {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4});
  // float16 data, linear on the last axis only via `axes`.
  Tensor h = *Tensor::Create(DataType::kFloat16, {2, 2});
  for (int i = 0; i < 4; ++i) h.data<uint16_t>()[i] = FloatToHalf(static_cast<float>(i));
  Attributes ax = A("mode", std::string("linear"));
  ax.Set("axes", std::vector<int64_t>{1});
  ax.Set("coordinate_transformation_mode", std::string("align_corners"));
  auto hr = RunOp(OpType::kResize, ax, {Data(h), std::nullopt, std::nullopt, Const(I64({3}))}, 1, 19);
  ASSERT_TRUE(hr.ok()) << hr.status().ToString();
  EXPECT_EQ((*hr)[0].dtype(), DataType::kFloat16);
  ExpectValues((*hr)[0], {2, 3}, {0, 0.5, 1, 2, 2.5, 3});
}

TEST(OpsTensorResize, LinearOnThreeAxes) {
  // N-D linear: 2x2x2 -> 3x3x3 with align_corners is the trilinear midpoint grid.
  Tensor x = Iota({2, 2, 2});
  Attributes lin = A("mode", std::string("linear"));
  lin.Set("coordinate_transformation_mode", std::string("align_corners"));
  auto r = RunOp(OpType::kResize, lin, {Data(x), std::nullopt, std::nullopt, Const(I64({3, 3, 3}))}, 1, 19);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<double> want;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) want.push_back(4 * i / 2.0 + 2 * j / 2.0 + k / 2.0);
  ExpectValues((*r)[0], {3, 3, 3}, want);
}

TEST(OpsTensorResize, CubicAndCropAndKeepAspect) {
  // Cubic reproduces a linear ramp exactly away from the edges (Keys kernel, a = -0.75).
  Tensor x = Iota({1, 8});
  Attributes cub = A("mode", std::string("cubic"));
  cub.Set("coordinate_transformation_mode", std::string("asymmetric"));
  auto r = RunOp(OpType::kResize, cub, {Data(x), std::nullopt, Const(F({1, 2}, {2}))}, 1, 19);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Tensor& out = (*r)[0];
  ASSERT_EQ(out.shape(), (Shape{1, 16}));
  for (int i = 2; i < 12; ++i) EXPECT_NEAR(out.data<float>()[i], i / 2.0, 1e-5) << i;
  // tf_crop_and_resize: the roi [0.5, 1.5] of a 1-D axis maps half the outputs outside the input.
  Attributes crop = A("mode", std::string("linear"));
  crop.Set("coordinate_transformation_mode", std::string("tf_crop_and_resize"));
  crop.Set("extrapolation_value", -1.0f);
  crop.Set("axes", std::vector<int64_t>{1});
  auto c = RunOp(OpType::kResize, crop,
                 {Data(F({0, 10, 20}, {1, 3})), Const(F({0.5f, 1.5f}, {2})), std::nullopt, Const(I64({5}))}, 1, 19);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  // x = 1 + i * 2 / 4 -> 1, 1.5, 2, 2.5 (outside), 3 (outside).
  ExpectValues((*c)[0], {1, 5}, {10, 15, 20, -1, -1});
  // keep_aspect_ratio_policy not_larger: sizes (1, 3) of a 2x4 input -> scale 0.5 -> 1x2.
  Attributes keep;
  keep.Set("axes", std::vector<int64_t>{2, 3});
  keep.Set("keep_aspect_ratio_policy", std::string("not_larger"));
  auto k =
      RunOp(OpType::kResize, keep, {Data(Iota({1, 1, 2, 4})), std::nullopt, std::nullopt, Const(I64({1, 3}))}, 1, 19);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ((*k)[0].shape(), (Shape{1, 1, 1, 2}));
}

TEST(OpsTensorResize, LinearAntialias) {
  // Shrinking 4 -> 2 with antialias: the triangle kernel is stretched to 4 taps with weights
  // (1, 3, 3, 1) / 8 around x = 0.5 and x = 2.5 (edge clamped).
  Attributes a = A("mode", std::string("linear"));
  a.Set("antialias", int64_t{1});
  auto r = RunOp(OpType::kResize, a, {Data(F({0, 1, 2, 3}, {1, 4})), std::nullopt, Const(F({1, 0.5f}, {2}))}, 1, 18);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectValues((*r)[0], {1, 2}, {0.625, 2.375});
}

TEST(OpsTensorResize, UpsampleAndResize10) {
  // Upsample-9: scales input, asymmetric nearest.
  auto u = RunOp(OpType::kUpsample, A(), {Data(F({1, 2}, {1, 2})), Const(F({2, 2}, {2}))}, 1, 9);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  ExpectValues((*u)[0], {2, 4}, {1, 1, 2, 2, 1, 1, 2, 2});
  // Upsample-7: scales attribute, linear (asymmetric: x = i / 2).
  Attributes a;
  a.Set("scales", std::vector<float>{1, 2});
  a.Set("mode", std::string("linear"));
  auto l = RunOp(OpType::kUpsample, a, {Data(F({0, 4}, {1, 2}))}, 1, 7);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ExpectValues((*l)[0], {1, 4}, {0, 2, 4, 4});
  ExpectError(RunOp(OpType::kUpsample, A(), {Data(F({1, 2}, {1, 2}))}, 1, 9), "neither 'scales' nor 'sizes'");
  ExpectError(
      RunOp(OpType::kUpsample, A("mode", std::string("cubic")), {Data(F({1, 2}, {1, 2})), Const(F({2, 2}, {2}))}, 1, 9),
      "mode 'cubic'");
  // Resize-10 takes (X, scales).
  auto r = RunOp(OpType::kResize, A(), {Data(F({1, 2}, {1, 2})), Const(F({1, 2}, {2}))}, 1, 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectValues((*r)[0], {1, 4}, {1, 1, 2, 2});
}

TEST(OpsTensorResize, Errors) {
  Tensor x = Iota({1, 1, 2, 2});
  ExpectError(RunOp(OpType::kResize, A(), {Data(x), std::nullopt, std::nullopt, std::nullopt}, 1, 19),
              "neither 'scales' nor 'sizes'");
  ExpectError(RunOp(OpType::kResize, A(), {Data(x), std::nullopt, Const(F({2, 2}, {2}))}, 1, 19),
              "scales has 2 values, expected 4");
  ExpectError(RunOp(OpType::kResize, A(), {Data(x), std::nullopt, Const(F({1, 1, 0, 2}, {4}))}, 1, 19),
              "scales must be positive");
  ExpectError(RunOp(OpType::kResize, A("mode", std::string("area")),
                    {Data(x), std::nullopt, Const(F({1, 1, 2, 2}, {4}))}, 1, 19),
              "mode 'area'");
  ExpectError(
      RunOp(OpType::kResize, A("antialias", int64_t{1}), {Data(x), std::nullopt, Const(F({1, 1, 2, 2}, {4}))}, 1, 19),
      "antialias");
  ExpectError(RunOp(OpType::kResize, A("mode", std::string("linear")),
                    {Data(T_<int32_t>({1, 2}, {1, 2})), std::nullopt, Const(F({1, 2}, {2}))}, 1, 19),
              "float32 and float16");
  Attributes crop = A("coordinate_transformation_mode", std::string("tf_crop_and_resize"));
  ExpectError(RunOp(OpType::kResize, crop, {Data(x), std::nullopt, Const(F({1, 1, 2, 2}, {4}))}, 1, 19),
              "needs the 'roi' input");
}

}  // namespace
}  // namespace edgert
