// Elementwise operators through the reference CPU engine: hand-computed values, attribute
// variants, broadcasting against an independent naive index mapping, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "edgert/cpu_engine.h"
#include "edgert/op_def.h"
#include "op_test_util.h"

namespace edgert {
namespace {

// One operator input: a tensor that is either a network input (fed at run time) or a constant.
// An undefined tensor is an absent optional input.
using In = testing::OpArg;
using testing::ExpectError;
using testing::ExpectFloats;
using testing::StatusOf;
using testing::Values;

// Builds a one-layer network around `op` (output dtypes and shapes from the op's infer()), runs it
// on the CPU engine and returns the outputs, or the first error of support check, inference,
// engine creation or the run.
StatusOr<std::vector<Tensor>> RunOp(OpType op, int opset, const Attributes& attrs, const std::vector<In>& inputs,
                                    size_t num_outputs = 1, const std::string& name = "node0") {
  return testing::RunSingleOp(op, attrs, inputs, num_outputs, opset, name);
}

StatusOr<Tensor> Run1(OpType op, const std::vector<In>& inputs, const Attributes& attrs = {}, int opset = 17) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> outs, RunOp(op, opset, attrs, inputs));
  return outs[0];
}

template <typename T>
Tensor T1(std::vector<T> v, Shape shape) {
  return Tensor::FromVector<T>(v, std::move(shape));
}
Tensor F(std::vector<float> v, Shape shape) { return T1<float>(std::move(v), std::move(shape)); }
Tensor B(std::vector<bool> v, Shape shape) {
  Tensor t = *Tensor::Create(DataType::kBool, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i) t.data<bool>()[i] = v[i];
  return t;
}
std::vector<bool> BoolValues(const Tensor& t) {
  std::vector<bool> v;
  for (int64_t i = 0; i < t.num_elements(); ++i) v.push_back(t.data<bool>()[i]);
  return v;
}

std::mt19937& Rng() {
  static std::mt19937 rng(std::random_device{}());
  return rng;
}

Tensor RandomFloats(Shape shape, float lo = -3.0f, float hi = 3.0f) {
  Tensor t = *Tensor::Create(DataType::kFloat32, std::move(shape));
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(Rng());
  return t;
}

// Naive broadcast: the element of `in` that output element `flat` of `out` reads.
int64_t SourceIndex(const Shape& out, const Shape& in, int64_t flat) {
  int64_t src = 0;
  int64_t stride = 1;
  const size_t pad = out.size() - in.size();
  for (size_t d = out.size(); d-- > 0;) {
    int64_t coord = flat % out[d];
    flat /= out[d];
    if (d < pad) continue;
    int64_t dim = in[d - pad];
    src += (dim == 1 ? 0 : coord) * stride;
    stride *= dim;
  }
  return src;
}

// ---- Unary ------------------------------------------------------------------------------------

struct UnaryCase {
  OpType op;
  float x;
  float want;
};

TEST(OpsElementwiseUnary, FloatFunctionsMatchHandValues) {
  const float e = std::exp(1.0f);
  const UnaryCase cases[] = {
      {OpType::kRelu, -2.0f, 0.0f},
      {OpType::kRelu, 3.5f, 3.5f},
      {OpType::kLeakyRelu, -2.0f, -0.02f},
      {OpType::kLeakyRelu, 2.0f, 2.0f},
      {OpType::kSigmoid, 0.0f, 0.5f},
      {OpType::kSigmoid, 1.0f, e / (1 + e)},
      {OpType::kSigmoid, -100.0f, 0.0f},
      {OpType::kSigmoid, 100.0f, 1.0f},
      {OpType::kTanh, 0.5f, 0.46211716f},
      {OpType::kHardSigmoid, 1.0f, 0.7f},
      {OpType::kHardSigmoid, 4.0f, 1.0f},
      {OpType::kHardSigmoid, -4.0f, 0.0f},
      {OpType::kHardSwish, 1.0f, 1.0f * (1.0f / 6 + 0.5f)},
      {OpType::kHardSwish, -4.0f, 0.0f},
      {OpType::kHardSwish, 4.0f, 4.0f},
      {OpType::kElu, -1.0f, 1.0f / e - 1.0f},
      {OpType::kElu, 2.0f, 2.0f},
      {OpType::kSelu, 1.0f, 1.0507009873554805f},
      {OpType::kSelu, -1.0f, 1.0507009873554805f * 1.6732632423543772f * (1.0f / e - 1.0f)},
      {OpType::kSoftplus, 0.0f, std::log(2.0f)},
      {OpType::kSoftplus, 100.0f, 100.0f},
      {OpType::kSoftplus, -100.0f, 3.7200760e-44f},
      {OpType::kErf, 0.5f, 0.52049988f},
      {OpType::kGelu, 1.0f, 0.84134475f},
      {OpType::kGelu, -1.0f, -0.15865525f},
      {OpType::kMish, 1.0f, 0.86509836f},
      {OpType::kMish, -100.0f, 0.0f},
      {OpType::kSqrt, 9.0f, 3.0f},
      {OpType::kExp, 1.0f, e},
      {OpType::kLog, e, 1.0f},
      {OpType::kNeg, 2.5f, -2.5f},
      {OpType::kAbs, -2.5f, 2.5f},
      {OpType::kReciprocal, 4.0f, 0.25f},
      {OpType::kFloor, -1.5f, -2.0f},
      {OpType::kFloor, 1.5f, 1.0f},
      {OpType::kCeil, -1.5f, -1.0f},
      {OpType::kCeil, 1.2f, 2.0f},
  };
  for (const UnaryCase& c : cases) {
    SCOPED_TRACE(std::string(OpTypeName(c.op)) + "(" + std::to_string(c.x) + ")");
    auto y = Run1(c.op, {{F({c.x, c.x}, {2})}});
    ASSERT_TRUE(y.ok()) << y.status().ToString();
    EXPECT_EQ(y->shape(), (Shape{2}));
    ExpectFloats(*y, {c.want, c.want}, 1e-5f);
  }
}

TEST(OpsElementwiseUnary, AttributesChangeTheFunction) {
  Attributes leaky;
  leaky.Set("alpha", 0.5f);
  ExpectFloats(*Run1(OpType::kLeakyRelu, {{F({-2, 2}, {2})}}, leaky), {-1, 2});

  Attributes hs;
  hs.Set("alpha", 0.5f);
  hs.Set("beta", 0.25f);
  ExpectFloats(*Run1(OpType::kHardSigmoid, {{F({0.5f, -1, 3}, {3})}}, hs), {0.5f, 0.0f, 1.0f});

  Attributes elu;
  elu.Set("alpha", 2.0f);
  ExpectFloats(*Run1(OpType::kElu, {{F({-1}, {1})}}, elu), {2.0f * (std::exp(-1.0f) - 1.0f)});

  Attributes selu;
  selu.Set("alpha", 2.0f);
  selu.Set("gamma", 3.0f);
  ExpectFloats(*Run1(OpType::kSelu, {{F({-1, 2}, {2})}}, selu), {3.0f * 2.0f * (std::exp(-1.0f) - 1.0f), 6.0f});

  Attributes tanh;
  tanh.Set("approximate", std::string("tanh"));
  const float x = 1.5f;
  const float want = 0.5f * x * (1 + std::tanh(std::sqrt(2.0f / 3.14159265f) * (x + 0.044715f * x * x * x)));
  ExpectFloats(*Run1(OpType::kGelu, {{F({x}, {1})}}, tanh, 20), {want});
  // The tanh form differs measurably from the exact one at this point.
  EXPECT_GT(std::fabs(want - 0.5f * x * (1 + std::erf(x / std::sqrt(2.0f)))), 1e-5f);
}

TEST(OpsElementwiseUnary, IntegerAndBoolTypes) {
  auto relu = Run1(OpType::kRelu, {{T1<int32_t>({-3, 0, 7}, {3})}});
  ASSERT_TRUE(relu.ok());
  EXPECT_EQ(Values<int32_t>(*relu), (std::vector<int32_t>{0, 0, 7}));
  const int64_t kMin64 = std::numeric_limits<int64_t>::min();
  auto neg = Run1(OpType::kNeg, {{T1<int64_t>({5, -6, kMin64}, {3})}});
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ(Values<int64_t>(*neg), (std::vector<int64_t>{-5, 6, kMin64}));  // wraps
  auto abs = Run1(OpType::kAbs, {{T1<int32_t>({-4, 4}, {2})}});
  EXPECT_EQ(Values<int32_t>(*abs), (std::vector<int32_t>{4, 4}));
  auto n = Run1(OpType::kNot, {{B({true, false, true}, {3})}});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->dtype(), DataType::kBool);
  EXPECT_EQ(BoolValues(*n), (std::vector<bool>{false, true, false}));
}

TEST(OpsElementwiseUnary, PreservesShapeOfLargerTensors) {
  Tensor x = RandomFloats({2, 3, 4, 5});
  auto y = Run1(OpType::kTanh, {{x}});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{2, 3, 4, 5}));
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    EXPECT_NEAR(y->data<float>()[i], std::tanh(x.data<float>()[i]), 1e-6f);
  }
  auto empty = Run1(OpType::kRelu, {{*Tensor::Create(DataType::kFloat32, {0, 3})}});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->shape(), (Shape{0, 3}));
}

TEST(OpsElementwiseUnary, RejectsBadDtypesAndAttributes) {
  ExpectError(StatusOf(RunOp(OpType::kSigmoid, 13, {}, {{T1<int32_t>({1}, {1})}}, 1, "sig")), "sig",
              "input 'X' has dtype int32; supported: float32");
  ExpectError(StatusOf(RunOp(OpType::kRelu, 14, {}, {{T1<double>({1}, {1})}}, 1, "r")), "r",
              "float64; supported: float32, int32 or int64");
  ExpectError(StatusOf(RunOp(OpType::kNot, 1, {}, {{F({1}, {1})}}, 1, "not0")), "not0", "supported: bool");
  Attributes bad;
  bad.Set("approximate", std::string("fast"));
  ExpectError(StatusOf(RunOp(OpType::kGelu, 20, bad, {{F({1}, {1})}}, 1, "g")), "g",
              "attribute 'approximate' must be \"none\" or \"tanh\"");
  Attributes wrong_kind;
  wrong_kind.Set("alpha", std::string("x"));
  ExpectError(StatusOf(RunOp(OpType::kLeakyRelu, 16, wrong_kind, {{F({1}, {1})}}, 1, "lr")), "lr",
              "'alpha' should be float but is string");
}

// Every operator of the family rejects a float64 operand at the support check, naming the node
// and the dtype.
TEST(OpsElementwiseUnary, EveryOpRejectsFloat64) {
  const OpType unary[] = {
      OpType::kRelu,  OpType::kLeakyRelu, OpType::kSigmoid,  OpType::kTanh, OpType::kHardSigmoid, OpType::kHardSwish,
      OpType::kElu,   OpType::kSelu,      OpType::kSoftplus, OpType::kErf,  OpType::kGelu,        OpType::kMish,
      OpType::kSqrt,  OpType::kExp,       OpType::kLog,      OpType::kNeg,  OpType::kAbs,         OpType::kReciprocal,
      OpType::kFloor, OpType::kCeil,      OpType::kNot,      OpType::kClip, OpType::kMin,         OpType::kMax,
      OpType::kSum,   OpType::kMean};
  const OpType binary[] = {OpType::kAdd,
                           OpType::kSub,
                           OpType::kMul,
                           OpType::kDiv,
                           OpType::kPow,
                           OpType::kPRelu,
                           OpType::kEqual,
                           OpType::kLess,
                           OpType::kGreater,
                           OpType::kLessOrEqual,
                           OpType::kGreaterOrEqual,
                           OpType::kAnd,
                           OpType::kOr};
  Tensor d = T1<double>({1.0, 2.0}, {2});
  for (OpType op : unary) {
    SCOPED_TRACE(std::string(OpTypeName(op)));
    ExpectError(StatusOf(RunOp(op, 20, {}, {{d}}, 1, "bad")), "bad", "has dtype float64; supported:");
  }
  for (OpType op : binary) {
    SCOPED_TRACE(std::string(OpTypeName(op)));
    ExpectError(StatusOf(RunOp(op, 20, {}, {{d}, {d}}, 1, "bad")), "bad", "has dtype float64; supported:");
  }
  ExpectError(StatusOf(RunOp(OpType::kWhere, 16, {}, {{B({true, false}, {2})}, {d}, {d}}, 1, "bad")), "bad",
              "input 'X' has dtype float64; supported: float32, int32, int64, bool, int8 or int16");
}

// ---- Clip -------------------------------------------------------------------------------------

TEST(OpsElementwiseClip, BoundsAsOptionalInputs) {
  Tensor x = F({-3, -1, 0, 2, 5}, {5});
  ExpectFloats(*Run1(OpType::kClip, {{x}, {F({-1.5f}, {}), true}, {F({2.5f}, {}), true}}), {-1.5f, -1, 0, 2, 2.5f});
  // min only, max only (min absent), neither.
  ExpectFloats(*Run1(OpType::kClip, {{x}, {F({0}, {}), true}}), {0, 0, 0, 2, 5});
  ExpectFloats(*Run1(OpType::kClip, {{x}, {Tensor()}, {F({1}, {}), true}}), {-3, -1, 0, 1, 1});
  ExpectFloats(*Run1(OpType::kClip, {{x}}), {-3, -1, 0, 2, 5});
  // Bounds fed at run time (not constants), and min > max gives max everywhere.
  ExpectFloats(*Run1(OpType::kClip, {{x}, {F({1}, {})}, {F({-1}, {})}}), {-1, -1, -1, -1, -1});
}

TEST(OpsElementwiseClip, IntegerTypesAndLegacyAttributes) {
  auto i32 = Run1(OpType::kClip,
                  {{T1<int32_t>({-9, 3, 9}, {3})}, {T1<int32_t>({-2}, {}), true}, {T1<int32_t>({4}, {}), true}});
  ASSERT_TRUE(i32.ok()) << i32.status().ToString();
  EXPECT_EQ(Values<int32_t>(*i32), (std::vector<int32_t>{-2, 3, 4}));
  auto i8 = Run1(OpType::kClip, {{T1<int8_t>({-128, 5, 127}, {3})}, {Tensor()}, {T1<int8_t>({100}, {})}});
  ASSERT_TRUE(i8.ok()) << i8.status().ToString();
  EXPECT_EQ(Values<int8_t>(*i8), (std::vector<int8_t>{-128, 5, 100}));
  auto i16 = Run1(OpType::kClip, {{T1<int16_t>({-1000, 7, 1000}, {3})}, {T1<int16_t>({-10}, {})}});
  ASSERT_TRUE(i16.ok()) << i16.status().ToString();
  EXPECT_EQ(Values<int16_t>(*i16), (std::vector<int16_t>{-10, 7, 1000}));
  Attributes legacy;
  legacy.Set("min", -1.0f);
  legacy.Set("max", 1.0f);
  ExpectFloats(*Run1(OpType::kClip, {{F({-5, 0.5f, 5}, {3})}}, legacy, 6), {-1, 0.5f, 1});
}

TEST(OpsElementwiseClip, RejectsBadBounds) {
  ExpectError(StatusOf(RunOp(OpType::kClip, 13, {}, {{F({1}, {1})}, {T1<int32_t>({0}, {}), true}}, 1, "clip1")),
              "clip1", "input 'min' has dtype int32, expected the input's dtype float32");
  ExpectError(StatusOf(RunOp(OpType::kClip, 13, {}, {{F({1}, {1})}, {F({0, 1}, {2}), true}}, 1, "clip2")), "clip2",
              "input 'min' must be a scalar");
  ExpectError(StatusOf(RunOp(OpType::kClip, 6, {}, {{F({1}, {1})}, {F({0}, {}), true}}, 1, "clip3")), "clip3",
              "min and max are inputs only from opset 11");
  ExpectError(StatusOf(RunOp(OpType::kClip, 13, {}, {{T1<double>({1}, {1})}}, 1, "clip4")), "clip4",
              "float64; supported: float32, int32, int64, int8 or int16");
}

// ---- Binary -------------------------------------------------------------------------------------

TEST(OpsElementwiseBinary, ArithmeticHandValues) {
  Tensor a = F({1, 2, 3, 4}, {2, 2});
  Tensor b = F({10, 20, 30, 40}, {2, 2});
  ExpectFloats(*Run1(OpType::kAdd, {{a}, {b}}), {11, 22, 33, 44});
  ExpectFloats(*Run1(OpType::kSub, {{a}, {b}}), {-9, -18, -27, -36});
  ExpectFloats(*Run1(OpType::kMul, {{a}, {b}}), {10, 40, 90, 160});
  ExpectFloats(*Run1(OpType::kDiv, {{b}, {a}}), {10, 10, 10, 10});
  ExpectFloats(*Run1(OpType::kDiv, {{F({1, -1, 0}, {3})}, {F({0, 0, 0}, {3})}}),
               {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), NAN});
}

// Checks op(a, b) for every broadcast pair against a naive per-element index mapping.
template <typename Fn>
void CheckBroadcast(OpType op, const Shape& sa, const Shape& sb, const Shape& want_shape, Fn fn, float a_lo = -3.0f) {
  SCOPED_TRACE(std::string(OpTypeName(op)) + " " + ShapeToString(sa) + " with " + ShapeToString(sb));
  Tensor a = RandomFloats(sa, a_lo, 3.0f);
  Tensor b = RandomFloats(sb, 0.5f, 2.0f);
  auto y = Run1(op, {{a}, {b}});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  ASSERT_EQ(y->shape(), want_shape);
  for (int64_t i = 0; i < y->num_elements(); ++i) {
    float va = a.data<float>()[SourceIndex(want_shape, sa, i)];
    float vb = b.data<float>()[SourceIndex(want_shape, sb, i)];
    ASSERT_NEAR(y->data<float>()[i], fn(va, vb), 1e-5f) << "element " << i;
  }
}

TEST(OpsElementwiseBinary, BroadcastingMatchesNaiveMapping) {
  auto add = [](float x, float y) { return x + y; };
  auto sub = [](float x, float y) { return x - y; };
  auto div = [](float x, float y) { return x / y; };
  CheckBroadcast(OpType::kAdd, {2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}, add);  // residual
  CheckBroadcast(OpType::kAdd, {2, 3, 4, 5}, {1, 3, 1, 1}, {2, 3, 4, 5}, add);  // per-channel bias
  CheckBroadcast(OpType::kAdd, {2, 3, 4, 5}, {3, 1, 1}, {2, 3, 4, 5}, add);
  CheckBroadcast(OpType::kSub, {}, {2, 3}, {2, 3}, sub);      // scalar first
  CheckBroadcast(OpType::kSub, {2, 3}, {1}, {2, 3}, sub);     // scalar second
  CheckBroadcast(OpType::kDiv, {3, 1}, {1, 4}, {3, 4}, div);  // outer product
  CheckBroadcast(OpType::kDiv, {2, 1, 4}, {3, 1}, {2, 3, 4}, div);
  CheckBroadcast(OpType::kMul, {1, 4, 1, 6}, {3, 1, 5, 6}, {3, 4, 5, 6}, [](float x, float y) { return x * y; });
  CheckBroadcast(OpType::kAdd, {2, 1, 3}, {2, 1, 3}, {2, 1, 3}, add);
  CheckBroadcast(OpType::kAdd, {0, 3}, {3}, {0, 3}, add);
  CheckBroadcast(
      OpType::kPow, {2, 3}, {3}, {2, 3}, [](float x, float y) { return std::pow(x, y); }, 0.1f);
}

TEST(OpsElementwiseBinary, IntegerArithmetic) {
  Tensor a = T1<int32_t>({7, -7, 7, -7, 6}, {5});
  Tensor b = T1<int32_t>({2, 2, -2, -2, 3}, {5});
  EXPECT_EQ(Values<int32_t>(*Run1(OpType::kDiv, {{a}, {b}})), (std::vector<int32_t>{3, -3, -3, 3, 2}));  // truncates
  EXPECT_EQ(Values<int32_t>(*Run1(OpType::kAdd, {{a}, {b}})), (std::vector<int32_t>{9, -5, 5, -9, 9}));
  EXPECT_EQ(Values<int32_t>(*Run1(OpType::kMul, {{a}, {b}})), (std::vector<int32_t>{14, -14, -14, 14, 18}));
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  auto wrap = Run1(OpType::kAdd, {{T1<int64_t>({kMax}, {1})}, {T1<int64_t>({1}, {})}});
  EXPECT_EQ(Values<int64_t>(*wrap), (std::vector<int64_t>{kMin}));
  auto div_min = Run1(OpType::kDiv, {{T1<int64_t>({kMin, 9}, {2})}, {T1<int64_t>({-1}, {1})}});
  ASSERT_TRUE(div_min.ok());
  EXPECT_EQ(Values<int64_t>(*div_min), (std::vector<int64_t>{kMin, -9}));
  ExpectError(StatusOf(RunOp(OpType::kDiv, 14, {}, {{a}, {T1<int32_t>({1, 0, 1, 1, 1}, {5})}}, 1, "div0")), "div0",
              "integer division by zero");
}

TEST(OpsElementwiseBinary, PowTypes) {
  ExpectFloats(*Run1(OpType::kPow, {{F({2, 3, 4}, {3})}, {F({3, 0.5f, -1}, {3})}}), {8, std::sqrt(3.0f), 0.25f});
  ExpectFloats(*Run1(OpType::kPow, {{F({2, -3, 4}, {3})}, {T1<int32_t>({3, 2, -2}, {3})}}), {8, 9, 0.0625f});
  ExpectFloats(*Run1(OpType::kPow, {{F({1.5f, 2}, {2})}, {T1<int64_t>({2}, {})}}), {2.25f, 4});
  auto ii = Run1(OpType::kPow, {{T1<int32_t>({2, -3, 5, 1, -1, 2}, {6})}, {T1<int32_t>({10, 3, 0, -4, -3, -1}, {6})}});
  ASSERT_TRUE(ii.ok()) << ii.status().ToString();
  EXPECT_EQ(Values<int32_t>(*ii), (std::vector<int32_t>{1024, -27, 1, 1, -1, 0}));
  auto i_f = Run1(OpType::kPow, {{T1<int64_t>({4, 9, 2}, {3})}, {F({0.5f, 0.5f, 3}, {3})}});
  ASSERT_TRUE(i_f.ok());
  EXPECT_EQ(i_f->dtype(), DataType::kInt64);
  EXPECT_EQ(Values<int64_t>(*i_f), (std::vector<int64_t>{2, 3, 8}));
  ExpectError(StatusOf(RunOp(OpType::kPow, 15, {}, {{F({1}, {1})}, {T1<uint8_t>({1}, {1})}}, 1, "pw")), "pw",
              "input 'B' has dtype uint8");
}

TEST(OpsElementwiseBinary, ComparisonsProduceBool) {
  Tensor a = F({1, 2, 3}, {3});
  Tensor b = F({2}, {1});
  auto check = [&](OpType op, const std::vector<bool>& want) {
    auto y = Run1(op, {{a}, {b}});
    ASSERT_TRUE(y.ok()) << y.status().ToString();
    EXPECT_EQ(y->dtype(), DataType::kBool);
    EXPECT_EQ(BoolValues(*y), want) << OpTypeName(op);
  };
  check(OpType::kEqual, {false, true, false});
  check(OpType::kLess, {true, false, false});
  check(OpType::kGreater, {false, false, true});
  check(OpType::kLessOrEqual, {true, true, false});
  check(OpType::kGreaterOrEqual, {false, true, true});
  auto ints = Run1(OpType::kEqual, {{T1<int64_t>({1, 2, 3, 4}, {2, 2})}, {T1<int64_t>({1, 4}, {2, 1})}});
  ASSERT_TRUE(ints.ok());
  EXPECT_EQ(BoolValues(*ints), (std::vector<bool>{true, false, false, true}));
  auto i8 = Run1(OpType::kLess, {{T1<int8_t>({-5, 0, 5}, {3})}, {T1<int8_t>({0}, {})}});
  ASSERT_TRUE(i8.ok()) << i8.status().ToString();
  EXPECT_EQ(BoolValues(*i8), (std::vector<bool>{true, false, false}));
  auto bools = Run1(OpType::kEqual, {{B({true, false}, {2})}, {B({true}, {})}});
  EXPECT_EQ(BoolValues(*bools), (std::vector<bool>{true, false}));
}

TEST(OpsElementwiseBinary, LogicWithBroadcast) {
  Tensor x = B({true, true, false, false}, {2, 2});
  Tensor y = B({true, false}, {2});
  EXPECT_EQ(BoolValues(*Run1(OpType::kAnd, {{x}, {y}})), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(BoolValues(*Run1(OpType::kOr, {{x}, {y}})), (std::vector<bool>{true, true, true, false}));
  ExpectError(StatusOf(RunOp(OpType::kAnd, 7, {}, {{F({1}, {1})}, {F({1}, {1})}}, 1, "and0")), "and0",
              "supported: bool");
}

TEST(OpsElementwiseBinary, PReluBroadcastsSlope) {
  Tensor x = F({-1, 2, -3, 4, -5, 6, -7, 8}, {1, 2, 2, 2});
  Tensor slope = F({0.1f, 0.5f}, {2, 1, 1});
  ExpectFloats(*Run1(OpType::kPRelu, {{x}, {slope, true}}), {-0.1f, 2, -0.3f, 4, -2.5f, 6, -3.5f, 8});
  ExpectFloats(*Run1(OpType::kPRelu, {{F({-2, 2}, {2})}, {F({0.25f}, {1})}}), {-0.5f, 2});
  ExpectError(StatusOf(RunOp(OpType::kPRelu, 16, {}, {{F({1, 2}, {2})}, {F({1, 2, 3, 4}, {2, 2})}}, 1, "pr")), "pr",
              "does not broadcast to input 0's shape 2");
}

TEST(OpsElementwiseBinary, RejectsMismatches) {
  ExpectError(StatusOf(RunOp(OpType::kAdd, 14, {}, {{F({1, 2}, {2})}, {F({1, 2, 3}, {3})}}, 1, "add7")), "add7",
              "cannot be broadcast");
  ExpectError(StatusOf(RunOp(OpType::kMul, 14, {}, {{F({1}, {1})}, {T1<int32_t>({1}, {1})}}, 1, "mul1")), "mul1",
              "must have the same dtype, got float32 and int32");
  ExpectError(StatusOf(RunOp(OpType::kSub, 14, {}, {{T1<double>({1}, {1})}, {T1<double>({1}, {1})}}, 1, "s")), "s",
              "input 'A' has dtype float64");
  Attributes legacy;
  legacy.Set("broadcast", int64_t{1});
  legacy.Set("axis", int64_t{1});
  ExpectError(StatusOf(RunOp(OpType::kAdd, 6, legacy, {{F({1}, {1})}, {F({1}, {1})}}, 1, "old")), "old",
              "legacy 'axis' broadcast attribute");
}

// A network whose declared output shape disagrees with the inputs fails at engine creation
// instead of letting the kernel write out of bounds.
TEST(OpsElementwiseBinary, EngineRejectsWrongDeclaredOutput) {
  NetworkDef net;
  net.tensors.push_back(TensorDef{"a", DataType::kFloat32, {2, 3}, {}});
  net.tensors.push_back(TensorDef{"b", DataType::kFloat32, {3}, {}});
  net.tensors.push_back(TensorDef{"y", DataType::kFloat32, {2, 4}, {}});
  LayerDef layer;
  layer.name = "add_bad";
  layer.op = OpType::kAdd;
  layer.opset = 14;
  layer.inputs = {0, 1};
  layer.outputs = {2};
  net.layers.push_back(layer);
  net.inputs = {0, 1};
  net.outputs = {2};
  auto engine = CpuEngine::Create(std::move(net));
  ExpectError(engine.status(), "add_bad", "output 0 is declared float32 2x4 but the inputs give float32 2x3");
}

// ---- Variadic -------------------------------------------------------------------------------------

TEST(OpsElementwiseVariadic, MinMaxSumMean) {
  Tensor a = F({3, 2, 1}, {3});
  Tensor b = F({1, 4, 4}, {3});
  Tensor c = F({2, 5, 0}, {3});
  ExpectFloats(*Run1(OpType::kMax, {{a}, {b}, {c}}), {3, 5, 4});
  ExpectFloats(*Run1(OpType::kMin, {{a}, {b}, {c}}), {1, 2, 0});
  ExpectFloats(*Run1(OpType::kSum, {{a}, {b}, {c}}), {6, 11, 5});
  ExpectFloats(*Run1(OpType::kMean, {{a}, {b}, {c}}), {2, 11.0f / 3, 5.0f / 3});
  ExpectFloats(*Run1(OpType::kMax, {{a}}), {3, 2, 1});
  ExpectFloats(*Run1(OpType::kMean, {{a}, {b}}), {2, 3, 2.5f});
  // Broadcasting across all inputs: [2,1] with [3] with scalar.
  ExpectFloats(*Run1(OpType::kSum, {{F({10, 20}, {2, 1})}, {F({1, 2, 3}, {3})}, {F({100}, {})}}),
               {111, 112, 113, 121, 122, 123});
  ExpectFloats(*Run1(OpType::kMax, {{F({NAN, 1}, {2})}, {F({0, 2}, {2})}}), {NAN, 2});
  auto ints = Run1(OpType::kMin, {{T1<int64_t>({5, -2}, {2})}, {T1<int64_t>({3}, {1})}});
  ASSERT_TRUE(ints.ok());
  EXPECT_EQ(Values<int64_t>(*ints), (std::vector<int64_t>{3, -2}));
  auto i8 = Run1(OpType::kMax, {{T1<int8_t>({-128, 5, 127}, {3})}, {T1<int8_t>({0}, {1})}});
  ASSERT_TRUE(i8.ok()) << i8.status().ToString();
  EXPECT_EQ(Values<int8_t>(*i8), (std::vector<int8_t>{0, 5, 127}));
  auto i16 = Run1(OpType::kMin, {{T1<int16_t>({-300, 300}, {2})}, {T1<int16_t>({100, 200}, {2})}});
  ASSERT_TRUE(i16.ok()) << i16.status().ToString();
  EXPECT_EQ(Values<int16_t>(*i16), (std::vector<int16_t>{-300, 200}));
  ExpectError(StatusOf(RunOp(OpType::kMean, 13, {}, {{T1<int32_t>({1}, {1})}}, 1, "mean0")), "mean0",
              "input 'data_0' has dtype int32; supported: float32");
  ExpectError(StatusOf(RunOp(OpType::kSum, 13, {}, {{F({1}, {1})}, {T1<int32_t>({1}, {1})}}, 1, "sum0")), "sum0",
              "must have the same dtype");
}

// ---- Where -----------------------------------------------------------------------------------------

TEST(OpsElementwiseWhere, SelectsWithBroadcast) {
  Tensor cond = B({true, false}, {2, 1});
  Tensor x = F({1, 2, 3}, {1, 3});
  Tensor y = F({-1}, {});
  ExpectFloats(*Run1(OpType::kWhere, {{cond}, {x}, {y}}), {1, 2, 3, -1, -1, -1});
  auto ints = Run1(OpType::kWhere, {{B({true, false, false, true}, {2, 2})},
                                    {T1<int64_t>({1, 2, 3, 4}, {2, 2})},
                                    {T1<int64_t>({9, 8, 7, 6}, {2, 2})}});
  ASSERT_TRUE(ints.ok());
  EXPECT_EQ(Values<int64_t>(*ints), (std::vector<int64_t>{1, 8, 7, 4}));
  auto i8 = Run1(OpType::kWhere, {{B({true, false}, {2})}, {T1<int8_t>({-7}, {})}, {T1<int8_t>({1, 2}, {2})}});
  ASSERT_TRUE(i8.ok()) << i8.status().ToString();
  EXPECT_EQ(Values<int8_t>(*i8), (std::vector<int8_t>{-7, 2}));
  auto bools = Run1(OpType::kWhere, {{B({true, false}, {2})}, {B({false}, {})}, {B({true}, {})}});
  EXPECT_EQ(BoolValues(*bools), (std::vector<bool>{false, true}));
  // Randomised against the naive mapping.
  Shape sc{3, 1, 5}, sx{4, 1}, sy{1, 4, 5}, so{3, 4, 5};
  Tensor rc = *Tensor::Create(DataType::kBool, sc);
  for (int64_t i = 0; i < rc.num_elements(); ++i) rc.data<bool>()[i] = (Rng()() & 1) != 0;
  Tensor rx = RandomFloats(sx), ry = RandomFloats(sy);
  auto out = Run1(OpType::kWhere, {{rc}, {rx}, {ry}});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->shape(), so);
  for (int64_t i = 0; i < out->num_elements(); ++i) {
    float want = rc.data<bool>()[SourceIndex(so, sc, i)] ? rx.data<float>()[SourceIndex(so, sx, i)]
                                                         : ry.data<float>()[SourceIndex(so, sy, i)];
    ASSERT_EQ(out->data<float>()[i], want) << i;
  }
  ExpectError(StatusOf(RunOp(OpType::kWhere, 16, {}, {{F({1}, {1})}, {F({1}, {1})}, {F({1}, {1})}}, 1, "w0")), "w0",
              "input 'condition' must be bool, got float32");
  ExpectError(
      StatusOf(RunOp(OpType::kWhere, 16, {}, {{B({true}, {1})}, {F({1}, {1})}, {T1<int32_t>({1}, {1})}}, 1, "w1")),
      "w1", "must have the same dtype");
}

}  // namespace
}  // namespace edgert
