// CUDA elementwise family (runtime/src/backend/cuda/kernels_elementwise*.cu) against the CPU
// reference: every unary, binary, variadic, comparison, logical, Where, Cast and fused-chain
// operator, in FP32 and FP16 engines (ExpectOpMatches), with broadcasting ([2,3,4,5] against
// [3,1,1], [5], scalars, two-sided), constant and run-time operands, and the integer and bool
// dtypes each CPU operator accepts.
//
// Inputs are chosen so both precisions must agree: no NaN (Log/Sqrt/Pow on positive ranges), no
// divisor near zero, and where the output is exact (comparisons, Floor/Ceil, float -> integer Cast)
// float inputs are multiples of 1/8 or 1/4, which float16 holds exactly.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

const Shape kNchw = {2, 3, 4, 5};

OpArg In(Tensor t) { return OpArg{std::move(t), false}; }
OpArg Const(Tensor t) { return OpArg{std::move(t), true}; }

Tensor Floats(Shape shape, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  return RandomTensor(DataType::kFloat32, std::move(shape), seed, lo, hi);
}

// Float32 values in [lo, hi) rounded to multiples of `step` plus `offset` (exact in float16).
Tensor Quantized(Shape shape, uint32_t seed, double lo, double hi, double step, double offset = 0.0) {
  Tensor t = Floats(std::move(shape), seed, lo, hi);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    float& v = t.data<float>()[i];
    v = static_cast<float>(std::floor(v / step) * step + offset);
  }
  return t;
}

// Integers in [lo, hi] of `dtype` with no zero element (zeros become 1).
Tensor NonZeroInts(DataType dtype, Shape shape, uint32_t seed, double lo, double hi) {
  Tensor t = RandomTensor(dtype, std::move(shape), seed, lo, hi);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if (dtype == DataType::kInt32 && t.data<int32_t>()[i] == 0) t.data<int32_t>()[i] = 1;
    if (dtype == DataType::kInt64 && t.data<int64_t>()[i] == 0) t.data<int64_t>()[i] = 1;
  }
  return t;
}

Attributes FloatAttrs(const std::vector<std::pair<std::string, float>>& values) {
  Attributes a;
  for (const auto& [name, v] : values) a.Set(name, v);
  return a;
}

// ---- Unary --------------------------------------------------------------------------------------------

TEST(ElementwiseGpu, UnaryFloatOps) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const OpType ops[] = {OpType::kRelu, OpType::kSigmoid, OpType::kTanh,      OpType::kHardSwish,   OpType::kSoftplus,
                        OpType::kErf,  OpType::kMish,    OpType::kExp,       OpType::kNeg,         OpType::kAbs,
                        OpType::kElu,  OpType::kSelu,    OpType::kLeakyRelu, OpType::kHardSigmoid, OpType::kGelu};
  for (OpType op : ops) {
    SCOPED_TRACE(std::string(OpTypeName(op)));
    // 120 elements (vector path only) and 111 (vector path and scalar tail).
    ExpectOpMatches(op, {}, {In(Floats(kNchw, 1, -3.0, 3.0))});
    ExpectOpMatches(op, {}, {In(Floats({3, 37}, 2, -6.0, 6.0))});
  }
}

TEST(ElementwiseGpu, UnaryAttributes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Floats(kNchw, 3, -4.0, 4.0);
  ExpectOpMatches(OpType::kLeakyRelu, FloatAttrs({{"alpha", 0.2f}}), {In(x)});
  ExpectOpMatches(OpType::kHardSigmoid, FloatAttrs({{"alpha", 0.3f}, {"beta", 0.4f}}), {In(x)});
  ExpectOpMatches(OpType::kElu, FloatAttrs({{"alpha", 0.7f}}), {In(x)});
  ExpectOpMatches(OpType::kSelu, FloatAttrs({{"alpha", 1.5f}, {"gamma", 0.9f}}), {In(x)});
  Attributes tanh_gelu;
  tanh_gelu.Set("approximate", std::string("tanh"));
  ExpectOpMatches(OpType::kGelu, tanh_gelu, {In(x)}, 1, 20);
  Attributes erf_gelu;
  erf_gelu.Set("approximate", std::string("none"));
  ExpectOpMatches(OpType::kGelu, erf_gelu, {In(x)}, 1, 20);
}

TEST(ElementwiseGpu, UnaryPositiveDomain) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kSqrt, {}, {In(Floats(kNchw, 4, 0.0, 9.0))});
  ExpectOpMatches(OpType::kLog, {}, {In(Floats(kNchw, 5, 0.1, 5.0))});
  ExpectOpMatches(OpType::kReciprocal, {}, {In(Floats(kNchw, 6, 0.5, 2.0))});
  ExpectOpMatches(OpType::kReciprocal, {}, {In(Floats({7, 3}, 7, -2.0, -0.5))});
}

TEST(ElementwiseGpu, FloorCeil) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // Multiples of 1/8 offset by 1/16: never an integer, exact in float16.
  const Tensor x = Quantized({5, 23}, 8, -6.0, 6.0, 0.125, 0.0625);
  ExpectOpMatches(OpType::kFloor, {}, {In(x)});
  ExpectOpMatches(OpType::kCeil, {}, {In(x)});
}

TEST(ElementwiseGpu, UnaryIntegerOps) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType dtype : {DataType::kInt32, DataType::kInt64}) {
    SCOPED_TRACE(DataTypeName(dtype));
    const Tensor x = RandomTensor(dtype, kNchw, 9, -100.0, 100.0);
    ExpectOpMatches(OpType::kRelu, {}, {In(x)});
    ExpectOpMatches(OpType::kNeg, {}, {In(x)});
    ExpectOpMatches(OpType::kAbs, {}, {In(x)});
  }
  ExpectOpMatches(OpType::kNot, {}, {In(RandomTensor(DataType::kBool, {3, 41}, 10))});
}

// ---- Clip ---------------------------------------------------------------------------------------------

TEST(ElementwiseGpu, ClipAttributesBeforeOpset11) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Floats(kNchw, 11, -3.0, 3.0);
  ExpectOpMatches(OpType::kClip, FloatAttrs({{"min", -0.5f}, {"max", 1.25f}}), {In(x)}, 1, 6);
  ExpectOpMatches(OpType::kClip, FloatAttrs({{"max", 0.75f}}), {In(x)}, 1, 6);
  ExpectOpMatches(OpType::kClip, {}, {In(x)}, 1, 6);
}

TEST(ElementwiseGpu, ClipInputs) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Floats(kNchw, 12, -3.0, 3.0);
  const Tensor lo = Tensor::Scalar<float>(-0.5f);
  const Tensor hi = Tensor::Scalar<float>(1.5f);
  ExpectOpMatches(OpType::kClip, {}, {In(x), Const(lo), Const(hi)});
  ExpectOpMatches(OpType::kClip, {}, {In(x), OpArg{}, Const(hi)});
  ExpectOpMatches(OpType::kClip, {}, {In(x), Const(lo)});
  ExpectOpMatches(OpType::kClip, {}, {In(x)});
  // Bounds computed at run time (read on the device).
  ExpectOpMatches(OpType::kClip, {}, {In(x), In(lo), In(hi)});
  ExpectOpMatches(OpType::kClip, {}, {In(x), In(lo), Const(hi)});
  // lo > hi gives hi everywhere.
  ExpectOpMatches(OpType::kClip, {}, {In(x), Const(hi), Const(lo)});
}

TEST(ElementwiseGpu, ClipIntegers) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kClip, {},
                  {In(RandomTensor(DataType::kInt32, kNchw, 13, -50, 50)), Const(Tensor::Scalar<int32_t>(-7)),
                   Const(Tensor::Scalar<int32_t>(20))});
  ExpectOpMatches(OpType::kClip, {},
                  {In(RandomTensor(DataType::kInt64, kNchw, 14, -50, 50)), In(Tensor::Scalar<int64_t>(-3)),
                   In(Tensor::Scalar<int64_t>(9))});
  ExpectOpMatches(OpType::kClip, {},
                  {In(RandomTensor(DataType::kInt8, {4, 33}, 15, -120, 120)), Const(Tensor::Scalar<int8_t>(-100))});
  ExpectOpMatches(OpType::kClip, {},
                  {In(Tensor::FromVector<int16_t>({-3000, -5, 0, 7, 1200, 32000}, {6})), OpArg{},
                   Const(Tensor::Scalar<int16_t>(1000))});
}

// ---- Binary arithmetic --------------------------------------------------------------------------------

// B's shapes against A = [2,3,4,5]: same, per channel, last axis, scalar, and two-sided broadcast.
struct BroadcastCase {
  Shape a;
  Shape b;
};
const BroadcastCase kBroadcasts[] = {
    {kNchw, kNchw}, {kNchw, {3, 1, 1}},           {kNchw, {5}}, {kNchw, {}}, {{2, 1, 4, 1}, {1, 3, 1, 5}}, {{5}, kNchw},
    {{1}, {3, 7}},  {{2, 3, 1, 5}, {2, 1, 4, 5}},
};

TEST(ElementwiseGpu, BinaryFloatBroadcast) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (OpType op : {OpType::kAdd, OpType::kSub, OpType::kMul, OpType::kDiv}) {
    SCOPED_TRACE(std::string(OpTypeName(op)));
    uint32_t seed = 20;
    for (const BroadcastCase& c : kBroadcasts) {
      SCOPED_TRACE(ShapeToString(c.a) + " x " + ShapeToString(c.b));
      const Tensor a = Floats(c.a, seed++, -2.0, 2.0);
      const Tensor b = Floats(c.b, seed++, 0.5, 2.0);  // a divisor far from zero
      ExpectOpMatches(op, {}, {In(a), In(b)});
      ExpectOpMatches(op, {}, {In(a), Const(b)});
      ExpectOpMatches(op, {}, {Const(a), In(b)});
    }
  }
}

TEST(ElementwiseGpu, BinaryIntegerBroadcastAndWrap) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType dtype : {DataType::kInt32, DataType::kInt64}) {
    SCOPED_TRACE(DataTypeName(dtype));
    for (OpType op : {OpType::kAdd, OpType::kSub, OpType::kMul, OpType::kDiv}) {
      SCOPED_TRACE(std::string(OpTypeName(op)));
      uint32_t seed = 40;
      for (const BroadcastCase& c : kBroadcasts) {
        const Tensor a = RandomTensor(dtype, c.a, seed++, -1000, 1000);
        const Tensor b = NonZeroInts(dtype, c.b, seed++, -30, 30);
        ExpectOpMatches(op, {}, {In(a), In(b)});
        ExpectOpMatches(op, {}, {In(a), Const(b)});
      }
    }
  }
  // int32 overflow wraps as on the CPU.
  const Tensor big_a = RandomTensor(DataType::kInt32, kNchw, 60, -2e9, 2e9);
  const Tensor big_b = RandomTensor(DataType::kInt32, kNchw, 61, -2e9, 2e9);
  for (OpType op : {OpType::kAdd, OpType::kSub, OpType::kMul}) ExpectOpMatches(op, {}, {In(big_a), In(big_b)});
  // INT_MIN / -1 wraps to INT_MIN; division truncates toward zero.
  ExpectOpMatches(OpType::kDiv, {},
                  {In(Tensor::FromVector<int32_t>({INT32_MIN, 7, -7, 7, -7, 0}, {6})),
                   In(Tensor::FromVector<int32_t>({-1, 2, 2, -2, -2, 5}, {6}))});
}

TEST(ElementwiseGpu, Pow) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // float ^ float, broadcast exponent and constant exponent.
  ExpectOpMatches(OpType::kPow, {}, {In(Floats(kNchw, 70, 0.5, 2.0)), In(Floats({3, 1, 1}, 71, -2.0, 2.0))});
  ExpectOpMatches(OpType::kPow, {}, {In(Floats(kNchw, 72, 0.1, 3.0)), Const(Tensor::Scalar<float>(2.0f))});
  ExpectOpMatches(OpType::kPow, {}, {In(Floats(kNchw, 73, -3.0, 3.0)), Const(Tensor::Scalar<float>(3.0f))});
  // float ^ integer.
  ExpectOpMatches(OpType::kPow, {},
                  {In(Floats(kNchw, 74, 0.5, 2.0)), In(RandomTensor(DataType::kInt32, {5}, 75, -3, 3))});
  ExpectOpMatches(OpType::kPow, {}, {In(Floats(kNchw, 76, -2.0, 2.0)), Const(Tensor::Scalar<int64_t>(2))});
  // integer ^ integer: exact, wrapping, negative exponents truncate.
  ExpectOpMatches(
      OpType::kPow, {},
      {In(RandomTensor(DataType::kInt32, kNchw, 78, -5, 5)), In(RandomTensor(DataType::kInt32, {4, 5}, 79, -2, 6))});
  ExpectOpMatches(
      OpType::kPow, {},
      {In(RandomTensor(DataType::kInt64, kNchw, 80, -40, 40)), In(RandomTensor(DataType::kInt64, kNchw, 81, 0, 12))});
  ExpectOpMatches(
      OpType::kPow, {},
      {In(RandomTensor(DataType::kInt32, {6, 5}, 82, -9, 9)), Const(RandomTensor(DataType::kInt64, {5}, 83, 0, 4))});
  // integer ^ float: pow in double, truncated (1.25 is exact in float16; results avoid integers).
  ExpectOpMatches(OpType::kPow, {},
                  {In(RandomTensor(DataType::kInt32, kNchw, 84, 0, 9)), Const(Tensor::Scalar<float>(1.25f))});
}

TEST(ElementwiseGpu, PRelu) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Floats(kNchw, 90, -2.0, 2.0);
  ExpectOpMatches(OpType::kPRelu, {}, {In(x), Const(Floats({3, 1, 1}, 91, 0.0, 0.5))});
  ExpectOpMatches(OpType::kPRelu, {}, {In(x), Const(Floats({5}, 92, 0.0, 0.5))});
  ExpectOpMatches(OpType::kPRelu, {}, {In(x), Const(Tensor::Scalar<float>(0.25f))});
  ExpectOpMatches(OpType::kPRelu, {}, {In(x), In(Floats(kNchw, 93, -1.0, 1.0))});
  ExpectOpMatches(OpType::kPRelu, {},
                  {In(RandomTensor(DataType::kInt32, kNchw, 94, -50, 50)),
                   Const(RandomTensor(DataType::kInt32, {3, 1, 1}, 95, 1, 4))});
  ExpectOpMatches(
      OpType::kPRelu, {},
      {In(RandomTensor(DataType::kInt64, kNchw, 96, -50, 50)), In(RandomTensor(DataType::kInt64, {5}, 97, -4, 4))});
}

// ---- Variadic -----------------------------------------------------------------------------------------

TEST(ElementwiseGpu, VariadicFloat) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (OpType op : {OpType::kSum, OpType::kMean, OpType::kMin, OpType::kMax}) {
    SCOPED_TRACE(std::string(OpTypeName(op)));
    ExpectOpMatches(op, {}, {In(Floats(kNchw, 100))});
    ExpectOpMatches(op, {}, {In(Floats(kNchw, 101)), In(Floats(kNchw, 102))});
    ExpectOpMatches(op, {}, {In(Floats(kNchw, 103)), Const(Floats({3, 1, 1}, 104)), In(Floats({5}, 105))});
    ExpectOpMatches(op, {}, {In(Floats({3, 1, 1}, 106)), In(Floats({1, 4, 5}, 107))});
    // More operands than one launch takes (8): the fold continues in place.
    std::vector<OpArg> many;
    const Shape shapes[] = {kNchw, {3, 1, 1}, {5}, {}, {2, 1, 4, 1}};
    for (uint32_t k = 0; k < 11; ++k) {
      Tensor t = Floats(shapes[k % 5], 110 + k);
      many.push_back(k % 3 == 1 ? Const(std::move(t)) : In(std::move(t)));
    }
    ExpectOpMatches(op, {}, many);
  }
}

TEST(ElementwiseGpu, VariadicIntegers) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType dtype : {DataType::kInt32, DataType::kInt64}) {
    SCOPED_TRACE(DataTypeName(dtype));
    for (OpType op : {OpType::kSum, OpType::kMin, OpType::kMax}) {
      SCOPED_TRACE(std::string(OpTypeName(op)));
      ExpectOpMatches(
          op, {},
          {In(RandomTensor(dtype, kNchw, 130, -1000, 1000)), In(RandomTensor(dtype, {3, 1, 1}, 131, -1000, 1000)),
           Const(RandomTensor(dtype, {5}, 132, -1000, 1000))});
    }
  }
  for (OpType op : {OpType::kMin, OpType::kMax}) {
    SCOPED_TRACE(std::string(OpTypeName(op)));
    ExpectOpMatches(op, {},
                    {In(RandomTensor(DataType::kInt8, kNchw, 133, -120, 120)),
                     In(RandomTensor(DataType::kInt8, {4, 1}, 134, -120, 120))});
    ExpectOpMatches(op, {},
                    {In(Tensor::FromVector<int16_t>({-300, 5, 7000, -2, 0, 9}, {2, 3})),
                     In(Tensor::FromVector<int16_t>({100, -200, 3}, {3}))});
  }
}

// ---- Comparisons and logic ---------------------------------------------------------------------------

TEST(ElementwiseGpu, Comparisons) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const OpType ops[] = {OpType::kEqual, OpType::kLess, OpType::kGreater, OpType::kLessOrEqual, OpType::kGreaterOrEqual};
  for (OpType op : ops) {
    SCOPED_TRACE(std::string(OpTypeName(op)));
    // Quarter steps in [-1, 1): many equal pairs, exact in float16.
    ExpectOpMatches(op, {}, {In(Quantized(kNchw, 140, -1.0, 1.0, 0.25)), In(Quantized(kNchw, 141, -1.0, 1.0, 0.25))});
    ExpectOpMatches(op, {},
                    {In(Quantized(kNchw, 142, -1.0, 1.0, 0.25)), Const(Quantized({3, 1, 1}, 143, -1.0, 1.0, 0.25))});
    ExpectOpMatches(op, {}, {In(Quantized(kNchw, 144, -1.0, 1.0, 0.25)), Const(Tensor::Scalar<float>(0.25f))});
    ExpectOpMatches(
        op, {},
        {In(RandomTensor(DataType::kInt32, kNchw, 145, -3, 3)), In(RandomTensor(DataType::kInt32, {5}, 146, -3, 3))});
    ExpectOpMatches(op, {},
                    {In(RandomTensor(DataType::kInt64, {2, 1, 4, 1}, 147, -3, 3)),
                     In(RandomTensor(DataType::kInt64, {1, 3, 1, 5}, 148, -3, 3))});
    ExpectOpMatches(
        op, {},
        {In(RandomTensor(DataType::kInt8, {6, 7}, 149, -3, 3)), In(RandomTensor(DataType::kInt8, {6, 1}, 150, -3, 3))});
    ExpectOpMatches(op, {},
                    {In(RandomTensor(DataType::kBool, {6, 7}, 151)), In(RandomTensor(DataType::kBool, {7}, 152))});
  }
}

TEST(ElementwiseGpu, AndOr) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (OpType op : {OpType::kAnd, OpType::kOr}) {
    SCOPED_TRACE(std::string(OpTypeName(op)));
    ExpectOpMatches(op, {},
                    {In(RandomTensor(DataType::kBool, kNchw, 160)), In(RandomTensor(DataType::kBool, kNchw, 161))});
    ExpectOpMatches(
        op, {}, {In(RandomTensor(DataType::kBool, kNchw, 162)), Const(RandomTensor(DataType::kBool, {3, 1, 1}, 163))});
    ExpectOpMatches(op, {}, {In(RandomTensor(DataType::kBool, {4, 1}, 164)), In(Tensor::Scalar<bool>(true))});
  }
}

TEST(ElementwiseGpu, Where) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor cond = RandomTensor(DataType::kBool, kNchw, 170);
  ExpectOpMatches(OpType::kWhere, {}, {In(cond), In(Floats(kNchw, 171)), In(Floats(kNchw, 172))});
  ExpectOpMatches(OpType::kWhere, {},
                  {In(RandomTensor(DataType::kBool, {4, 1}, 173)), In(Floats({3, 1, 5}, 174)),
                   Const(Tensor::Scalar<float>(-7.5f))});
  ExpectOpMatches(OpType::kWhere, {},
                  {Const(RandomTensor(DataType::kBool, {5}, 175)), In(Floats(kNchw, 176)), In(Floats({3, 1, 1}, 177))});
  ExpectOpMatches(OpType::kWhere, {},
                  {In(cond), In(RandomTensor(DataType::kInt64, {3, 4, 5}, 178, -100, 100)),
                   In(RandomTensor(DataType::kInt64, {1}, 179, -100, 100))});
  ExpectOpMatches(OpType::kWhere, {},
                  {In(cond), In(RandomTensor(DataType::kInt32, kNchw, 180, -100, 100)),
                   Const(RandomTensor(DataType::kInt32, {5}, 181, -100, 100))});
  ExpectOpMatches(OpType::kWhere, {},
                  {In(cond), In(RandomTensor(DataType::kInt8, kNchw, 182, -100, 100)),
                   In(RandomTensor(DataType::kInt8, {5}, 183, -100, 100))});
  ExpectOpMatches(
      OpType::kWhere, {},
      {In(cond), In(RandomTensor(DataType::kBool, kNchw, 184)), In(RandomTensor(DataType::kBool, {1}, 185))});
}

// ---- Cast ---------------------------------------------------------------------------------------------

Attributes CastTo(int64_t onnx_type) {
  Attributes a;
  a.Set("to", onnx_type);
  return a;
}

constexpr int64_t kOnnxFloat = 1, kOnnxUInt8 = 2, kOnnxInt8 = 3, kOnnxUInt16 = 4, kOnnxInt16 = 5, kOnnxInt32 = 6,
                  kOnnxInt64 = 7, kOnnxBool = 9, kOnnxDouble = 11, kOnnxUInt32 = 12, kOnnxUInt64 = 13;

TEST(ElementwiseGpu, CastFromFloat) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // Quarter steps in [-300, 300): exact in float16; truncation toward zero, saturation for the
  // 8-bit targets (uint8: negatives to 0), and zeros for bool.
  const Tensor x = Quantized({5, 31}, 190, -300.0, 300.0, 0.25);
  for (int64_t to : {kOnnxInt32, kOnnxInt64, kOnnxInt8, kOnnxUInt8, kOnnxInt16, kOnnxBool, kOnnxFloat}) {
    SCOPED_TRACE("to " + std::to_string(to));
    ExpectOpMatches(OpType::kCast, CastTo(to), {In(x)});
  }
  ExpectOpMatches(OpType::kCast, CastTo(kOnnxBool), {In(Quantized({4, 9}, 191, -2.0, 2.0, 0.5))});
}

TEST(ElementwiseGpu, CastFromIntegersAndBool) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Case {
    DataType from;
    double lo, hi;
  };
  const Case cases[] = {{DataType::kInt32, -1000, 1000},
                        {DataType::kInt64, -1000, 1000},
                        {DataType::kInt8, -128, 127},
                        {DataType::kUInt8, 0, 255},
                        {DataType::kBool, 0, 1}};
  uint32_t seed = 200;
  for (const Case& c : cases) {
    const Tensor x = RandomTensor(c.from, {3, 29}, seed++, c.lo, c.hi);
    for (int64_t to : {kOnnxFloat, kOnnxInt32, kOnnxInt64, kOnnxInt8, kOnnxUInt8, kOnnxInt16, kOnnxBool}) {
      SCOPED_TRACE(std::string(DataTypeName(c.from)) + " to " + std::to_string(to));
      ExpectOpMatches(OpType::kCast, CastTo(to), {In(x)});
    }
  }
}

TEST(ElementwiseGpu, CastWideAndUnsigned) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor f = Quantized({4, 19}, 195, -300.0, 300.0, 0.25);
  const Tensor i = RandomTensor(DataType::kInt32, {4, 19}, 196, -100000, 100000);
  const Tensor d = RandomTensor(DataType::kFloat64, {4, 19}, 197, -300.0, 300.0);
  for (int64_t to : {kOnnxDouble, kOnnxUInt16, kOnnxUInt32, kOnnxUInt64}) {
    SCOPED_TRACE("to " + std::to_string(to));
    ExpectOpMatches(OpType::kCast, CastTo(to), {In(f)});
    ExpectOpMatches(OpType::kCast, CastTo(to), {In(i)});
  }
  for (int64_t to : {kOnnxFloat, kOnnxInt32, kOnnxInt64, kOnnxUInt8, kOnnxBool}) {
    SCOPED_TRACE("float64 to " + std::to_string(to));
    ExpectOpMatches(OpType::kCast, CastTo(to), {In(d)});
  }
}

// A network tensor of `net`; returns its index.
int32_t AddTensor(NetworkDef* net, const std::string& name, DataType dtype, Shape shape) {
  TensorDef def;
  def.name = name;
  def.dtype = dtype;
  def.shape = std::move(shape);
  net->tensors.push_back(std::move(def));
  return static_cast<int32_t>(net->tensors.size() - 1);
}

void ExpectNetMatches(const NetworkDef& net, const std::vector<Tensor>& feeds) {
  {
    SCOPED_TRACE("fp32");
    ExpectCudaMatchesCpu(net, feeds, Precision::kFp32);
  }
  {
    SCOPED_TRACE("fp16");
    ExpectCudaMatchesCpu(net, feeds, Precision::kFp16);
  }
}

// float32 -> float16 -> float32 round trip through two Casts (a float16 network tensor inside).
TEST(ElementwiseGpu, CastThroughFloat16) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  NetworkDef net;
  const int32_t x = AddTensor(&net, "x", DataType::kFloat32, {3, 17});
  const int32_t h = AddTensor(&net, "h", DataType::kFloat16, {3, 17});
  const int32_t y = AddTensor(&net, "y", DataType::kFloat32, {3, 17});
  net.inputs = {x};
  net.outputs = {y};
  net.layers = {LayerDef{"to_half", OpType::kCast, 17, CastTo(10), {x}, {h}},
                LayerDef{"to_float", OpType::kCast, 17, CastTo(kOnnxFloat), {h}, {y}}};
  ExpectNetMatches(net, {Floats({3, 17}, 210, -100.0, 100.0)});
}

// Layers the memory plan runs in place on an intermediate that dies there (operands that are not
// graph inputs): Add on Relu's output, Not on Less's, Neg on a float Pow's (with an int64 exponent
// computed by Neg). 64 x 301 elements span many blocks.
TEST(ElementwiseGpu, InPlaceLayers) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Shape shape = {64, 301};
  {
    SCOPED_TRACE("Add");
    NetworkDef net;
    const int32_t x = AddTensor(&net, "x", DataType::kFloat32, shape);
    const int32_t y = AddTensor(&net, "y", DataType::kFloat32, shape);
    const int32_t r = AddTensor(&net, "r", DataType::kFloat32, shape);
    const int32_t sum = AddTensor(&net, "sum", DataType::kFloat32, shape);
    const int32_t out = AddTensor(&net, "out", DataType::kFloat32, shape);
    net.inputs = {x, y};
    net.outputs = {out};
    net.layers = {LayerDef{"relu", OpType::kRelu, 17, {}, {x}, {r}},
                  LayerDef{"add", OpType::kAdd, 17, {}, {r, y}, {sum}},
                  LayerDef{"neg", OpType::kNeg, 17, {}, {sum}, {out}}};
    ExpectNetMatches(net, {Floats(shape, 230), Floats(shape, 231)});
  }
  {
    SCOPED_TRACE("Less");
    NetworkDef net;
    const int32_t x = AddTensor(&net, "x", DataType::kFloat32, shape);
    const int32_t c = AddTensor(&net, "c", DataType::kFloat32, shape);
    const int32_t r = AddTensor(&net, "r", DataType::kFloat32, shape);
    const int32_t less = AddTensor(&net, "less", DataType::kBool, shape);
    const int32_t out = AddTensor(&net, "out", DataType::kBool, shape);
    net.inputs = {x, c};
    net.outputs = {out};
    net.layers = {LayerDef{"relu", OpType::kRelu, 17, {}, {x}, {r}},
                  LayerDef{"less", OpType::kLess, 17, {}, {r, c}, {less}},
                  LayerDef{"not", OpType::kNot, 17, {}, {less}, {out}}};
    ExpectNetMatches(net, {Quantized(shape, 232, -1.0, 1.0, 0.25), Quantized(shape, 233, -1.0, 1.0, 0.25)});
  }
  {
    SCOPED_TRACE("Pow");
    NetworkDef net;
    const int32_t base = AddTensor(&net, "base", DataType::kFloat32, shape);
    const int32_t ei = AddTensor(&net, "ei", DataType::kInt64, shape);
    const int32_t e = AddTensor(&net, "e", DataType::kInt64, shape);
    const int32_t pow = AddTensor(&net, "pow", DataType::kFloat32, shape);
    const int32_t out = AddTensor(&net, "out", DataType::kFloat32, shape);
    net.inputs = {base, ei};
    net.outputs = {out};
    net.layers = {LayerDef{"neg", OpType::kNeg, 17, {}, {ei}, {e}},
                  LayerDef{"pow", OpType::kPow, 17, {}, {base, e}, {pow}},
                  LayerDef{"neg2", OpType::kNeg, 17, {}, {pow}, {out}}};
    ExpectNetMatches(net, {Floats(shape, 234, 0.5, 1.5), RandomTensor(DataType::kInt64, shape, 235, -3, 3)});
  }
}

// ---- EdgertFusedElementwise ---------------------------------------------------------------------------

Attributes Steps(std::vector<std::string> steps, std::vector<float> operands) {
  Attributes a;
  a.Set("steps", std::move(steps));
  a.Set("operands", std::move(operands));
  return a;
}

TEST(ElementwiseGpu, FusedElementwise) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Floats(kNchw, 220, -2.0, 2.0);
  const Tensor odd = Floats({3, 37}, 221, -2.0, 2.0);
  const Attributes chains[] = {
      Steps({"Mul", "Add", "Relu"}, {2.0f, 0.5f}),
      Steps({"Sigmoid", "Mul"}, {3.0f}),
      Steps({"Clip", "HardSigmoid", "Pow"}, {-1.0f, 1.0f, 0.3f, 0.4f, 2.0f}),
      Steps({"Abs", "Add", "Log", "Sqrt"}, {1.0f}),
      Steps({"RSub", "RDiv", "Max", "Min", "LeakyRelu"}, {3.0f, 1.0f, 0.25f, 0.75f, 0.1f}),
      Steps({"Tanh", "Exp", "Neg", "Erf", "Sub", "Div"}, {0.5f, 4.0f}),
      Steps({"HardSwish", "Add", "Reciprocal"}, {3.0f}),
      Steps({"LeakyRelu"}, {0.2f}),
  };
  for (const Attributes& attrs : chains) {
    ExpectOpMatches(OpType::kFusedElementwise, attrs, {In(x)});
    ExpectOpMatches(OpType::kFusedElementwise, attrs, {In(odd)});
  }
  // Floor and Ceil on exact float16 inputs (never integral).
  const Tensor q = Quantized(kNchw, 222, -4.0, 4.0, 0.125, 0.0625);
  ExpectOpMatches(OpType::kFusedElementwise, Steps({"Floor"}, {}), {In(q)});
  ExpectOpMatches(OpType::kFusedElementwise, Steps({"Ceil", "Mul"}, {0.5f}), {In(q)});
  // 21 steps (one launch), then 41 (more than one launch's program of 24: two launches).
  std::vector<std::string> names;
  std::vector<float> operands;
  for (int i = 0; i < 20; ++i) {
    names.push_back(i % 2 == 0 ? "Mul" : "Add");
    operands.push_back(i % 2 == 0 ? 1.05f : -0.01f);
  }
  names.push_back("Tanh");
  ExpectOpMatches(OpType::kFusedElementwise, Steps(names, operands), {In(x)});
  for (int i = 0; i < 20; ++i) names.push_back("Relu");
  ExpectOpMatches(OpType::kFusedElementwise, Steps(names, operands), {In(odd)});
}

}  // namespace
}  // namespace testing
}  // namespace edgert
