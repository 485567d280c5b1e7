// CUDA QuantizeLinear / DequantizeLinear (runtime/src/backend/cuda/kernels_quantize.cu) against the
// CPU reference (runtime/src/ops/quantize.cc) and against hand-computed values, in FP32 and FP16
// engines, with a poisoned arena.
//
//   - Hand-computed cases: exact halves (x / scale = k + 0.5) round half to even, saturation at both
//     ends of every quantized dtype, NaN and infinities, with and without zero points. Their inputs
//     and scales are exact in float16, so both precisions must give exactly the expected values.
//   - Random cases: per-tensor, per-axis (axis 0, 1, -1) and blocked (opset 21) scales into int8,
//     uint8, int16, uint16, with constant or run-time scales and zero points; the per-channel
//     scales differ widely, so a wrong scale index shows. FP32: the quantized outputs are
//     bit-identical to the CPU's, and so are DequantizeLinear's float32 outputs (the kernels do the
//     CPU's float32 operations with the same rounding). FP16: x and float32 scales are float16 on the
//     device, so a quantized value may differ by one step (|x / scale| <= 500 keeps the float16
//     error below one step) and DequantizeLinear's outputs are within the FP16 tolerance.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "op_util.h"

namespace edgert {
namespace testing {
namespace {

OpArg In(Tensor t) { return OpArg{std::move(t), false}; }
OpArg Const(Tensor t) { return OpArg{std::move(t), true}; }
OpArg Absent() { return OpArg{}; }

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// Runs the one-layer network on the CPU engine and on a CUDA engine of `precision` (arena
// poisoned); the first outputs in *cpu and *cuda.
void RunBoth(const SingleOpNetwork& single, Precision precision, Tensor* cpu, Tensor* cuda) {
  StatusOr<std::unique_ptr<CpuEngine>> cpu_engine = CpuEngine::Create(single.net);
  ASSERT_TRUE(cpu_engine.ok()) << cpu_engine.status().ToString();
  std::vector<Tensor> want;
  Status s = (*cpu_engine)->Run(single.feeds, &want);
  ASSERT_TRUE(s.ok()) << s.ToString();
  CudaEngineOptions options;
  options.precision = precision;
  StatusOr<std::shared_ptr<CudaEngine>> engine = CudaEngine::Create(single.net, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  StatusOr<std::unique_ptr<CudaExecutionContext>> context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  (*context)->SetPoisonArena(true);
  std::vector<Tensor> got;
  s = RunOnHost(**context, single.feeds, &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(want.size(), 1u);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].dtype(), want[0].dtype());
  ASSERT_EQ(got[0].shape(), want[0].shape());
  *cpu = want[0];
  *cuda = got[0];
}

// Quantized outputs: equal within `steps` (0: bit-identical).
void ExpectQuantClose(const Tensor& got, const Tensor& want, int64_t steps, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.num_elements(), want.num_elements()) << what;
  int64_t bad = 0;
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    const int64_t g = got.GetAsInt64(i), w = want.GetAsInt64(i);
    if (std::llabs(g - w) > steps && bad++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << g << ", reference " << w;
    }
  }
  EXPECT_EQ(bad, 0) << what << ": elements off by more than " << steps;
}

// Float outputs bit for bit (NaN matches NaN).
void ExpectBitIdentical(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.bytes(), want.bytes()) << what;
  const size_t elem = DataTypeSize(want.dtype());
  const auto* g = static_cast<const uint8_t*>(got.raw());
  const auto* w = static_cast<const uint8_t*>(want.raw());
  int64_t bad = 0;
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    if (std::memcmp(g + i * elem, w + i * elem, elem) != 0 && bad++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << got.GetAsDouble(i) << ", reference "
                    << want.GetAsDouble(i);
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

// Builds the layer, runs it in FP32 and FP16 engines and compares with the CPU: quantized outputs
// bit-identical in FP32 and within `fp16_steps` in FP16; float outputs bit-identical in FP32 and
// within the FP16 tolerance in FP16 (skipped with `fp16` false: values beyond float16's range).
// The CUDA outputs in *fp32_out / *fp16_out when not null.
void CheckOp(OpType op, const Attributes& attrs, const std::vector<OpArg>& args, int opset, int64_t fp16_steps,
             Tensor* fp32_out = nullptr, Tensor* fp16_out = nullptr, bool fp16 = true) {
  StatusOr<SingleOpNetwork> single = BuildSingleOp(op, attrs, args, 1, opset, "q");
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    if (p == Precision::kFp16 && !fp16) continue;
    SCOPED_TRACE(PrecisionName(p));
    Tensor cpu, cuda;
    RunBoth(*single, p, &cpu, &cuda);
    if (::testing::Test::HasFatalFailure()) return;
    const std::string what = std::string(PrecisionName(p)) + " " + std::string(OpTypeName(op));
    if (IsFloatType(cpu.dtype())) {
      if (p == Precision::kFp32) {
        ExpectBitIdentical(cuda, cpu, what);
      } else {
        ExpectTensorsClose(cuda, cpu, DefaultTolerance(p), what);
      }
    } else {
      ExpectQuantClose(cuda, cpu, p == Precision::kFp32 ? 0 : fp16_steps, what);
    }
    Tensor* keep = p == Precision::kFp32 ? fp32_out : fp16_out;
    if (keep != nullptr) *keep = cuda;
  }
}

template <typename T>
Tensor Ints(std::vector<T> v, Shape shape) {
  return Tensor::FromVector<T>(v, std::move(shape));
}

Tensor Floats(std::vector<float> v, Shape shape) { return Tensor::FromVector<float>(v, std::move(shape)); }

// Uniform float32 values in [lo, hi).
Tensor RandomFloats(Shape shape, uint32_t seed, float lo, float hi) {
  Tensor t = *Tensor::Create(DataType::kFloat32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// Element i of integer tensor `t` (int8 ... int32) set to `v`.
void SetInt(Tensor* t, int64_t i, int64_t v) {
  switch (t->dtype()) {
    case DataType::kInt8:
      t->data<int8_t>()[i] = static_cast<int8_t>(v);
      break;
    case DataType::kUInt8:
      t->data<uint8_t>()[i] = static_cast<uint8_t>(v);
      break;
    case DataType::kInt16:
      t->data<int16_t>()[i] = static_cast<int16_t>(v);
      break;
    case DataType::kUInt16:
      t->data<uint16_t>()[i] = static_cast<uint16_t>(v);
      break;
    case DataType::kInt32:
      t->data<int32_t>()[i] = static_cast<int32_t>(v);
      break;
    default:
      ADD_FAILURE() << "SetInt: dtype " << DataTypeName(t->dtype());
  }
}

// Uniform integers in [lo, hi] of `dtype` (int8 ... int32).
Tensor RandomInts(DataType dtype, Shape shape, uint32_t seed, int64_t lo, int64_t hi) {
  Tensor t = *Tensor::Create(dtype, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  for (int64_t i = 0; i < t.num_elements(); ++i) SetInt(&t, i, dist(rng));
  return t;
}

// Every element of a `dtype` tensor of `shape` equal to `v`.
Tensor FilledInts(DataType dtype, Shape shape, int64_t v) {
  Tensor t = *Tensor::Create(dtype, std::move(shape));
  for (int64_t i = 0; i < t.num_elements(); ++i) SetInt(&t, i, v);
  return t;
}

// The range of a quantized dtype.
void Range(DataType dtype, int64_t* lo, int64_t* hi) {
  switch (dtype) {
    case DataType::kInt8:
      *lo = -128;
      *hi = 127;
      return;
    case DataType::kUInt8:
      *lo = 0;
      *hi = 255;
      return;
    case DataType::kInt16:
      *lo = -32768;
      *hi = 32767;
      return;
    case DataType::kUInt16:
      *lo = 0;
      *hi = 65535;
      return;
    default:
      *lo = std::numeric_limits<int32_t>::min();
      *hi = std::numeric_limits<int32_t>::max();
      return;
  }
}

// A zero point of `dtype` and `shape` whose elements lie in the middle half of the range.
Tensor ZeroPoints(DataType dtype, Shape shape, uint32_t seed) {
  int64_t lo, hi;
  Range(dtype, &lo, &hi);
  const int64_t quarter = (hi - lo) / 4;
  return RandomInts(dtype, std::move(shape), seed, lo + quarter, hi - quarter);
}

// Scales of `shape`: element k is 2^(k mod 7 - 4 + exp_shift) * (1 + (k mod 16) / 16), widely
// different per element.
Tensor Scales(Shape shape, int exp_shift = 0) {
  Tensor t = *Tensor::Create(DataType::kFloat32, std::move(shape));
  for (int64_t k = 0; k < t.num_elements(); ++k) {
    t.data<float>()[k] = std::ldexp(1.0f + static_cast<float>(k % 16) / 16.0f, static_cast<int>(k % 7) - 4 + exp_shift);
  }
  return t;
}

// Random x with |x / scale| <= 500 for every scale of `scale` (the smallest is 2^-4).
Tensor RandomX(Shape shape, uint32_t seed) { return RandomFloats(std::move(shape), seed, -30.0f, 30.0f); }

const DataType kQuantTypes[] = {DataType::kInt8, DataType::kUInt8, DataType::kInt16, DataType::kUInt16};

Attributes AxisAttrs(int64_t axis, int64_t block = 0) {
  Attributes a;
  a.Set("axis", axis);
  if (block > 0) a.Set("block_size", block);
  return a;
}

// ---- QuantizeLinear: hand-computed values ---------------------------------------------------------

// EdgertQuantizeNhwc (the INT8 builds' conversion): FP32 bit-identical to the CPU over shapes that
// are not multiples of the 32x32 tile, NaN and saturation included; FP16 within one step.
TEST(QuantizeNhwcGpu, MatchesTheCpuOverEdgeTiles) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (const Shape& shape : {Shape{1, 16, 7, 7}, Shape{2, 48, 33, 31}, Shape{3, 100, 5, 70}, Shape{1, 3, 64, 64}}) {
    SCOPED_TRACE(ShapeToString(shape));
    Tensor x = RandomFloats(shape, 41, -4.0f, 4.0f);
    x.data<float>()[0] = kNaN;
    x.data<float>()[1] = 1e6f;
    x.data<float>()[2] = -1e6f;
    Attributes attrs;
    attrs.Set("scale", 0.03f);
    CheckOp(OpType::kQuantizeNhwc, attrs, {In(x)}, 13, 1);
  }
}

TEST(QuantizeGpu, HalvesRoundToEven) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // scale 0.5: x / scale = -5.5 ... 5.5 in steps of 1, all exact halves, and 0.25 / 0.75.
  const Tensor x = Floats(
      {-2.75f, -2.25f, -1.75f, -1.25f, -0.75f, -0.25f, 0.25f, 0.75f, 1.25f, 1.75f, 2.25f, 2.75f, 0.125f, 0.375f}, {14});
  // rint(x / 0.5) = -6 -4 -4 -2 -2 -0 0 2 2 4 4 6, rint(0.25) = 0, rint(0.75) = 1.
  const std::vector<int64_t> rounded = {-6, -4, -4, -2, -2, 0, 0, 2, 2, 4, 4, 6, 0, 1};
  for (DataType dt : kQuantTypes) {
    SCOPED_TRACE(DataTypeName(dt));
    const bool is_unsigned = dt == DataType::kUInt8 || dt == DataType::kUInt16;
    const int64_t z = is_unsigned ? 10 : -3;
    const Tensor zp = FilledInts(dt, {}, z);
    Tensor fp32, fp16;
    CheckOp(OpType::kQuantizeLinear, {}, {In(x), Const(Tensor::Scalar<float>(0.5f)), Const(zp)}, 13, 0, &fp32, &fp16);
    if (HasFatalFailure()) return;
    for (size_t i = 0; i < rounded.size(); ++i) {
      EXPECT_EQ(fp32.GetAsInt64(static_cast<int64_t>(i)), rounded[i] + z) << "fp32 element " << i;
      EXPECT_EQ(fp16.GetAsInt64(static_cast<int64_t>(i)), rounded[i] + z) << "fp16 element " << i;
    }
  }
  // No zero point: uint8, negatives saturate to 0.
  Tensor u8;
  CheckOp(OpType::kQuantizeLinear, {}, {In(x), Const(Tensor::Scalar<float>(0.5f))}, 13, 0, &u8);
  if (HasFatalFailure()) return;
  ASSERT_EQ(u8.dtype(), DataType::kUInt8);
  for (size_t i = 0; i < rounded.size(); ++i) {
    EXPECT_EQ(u8.GetAsInt64(static_cast<int64_t>(i)), std::max<int64_t>(rounded[i], 0)) << "element " << i;
  }
}

TEST(QuantizeGpu, SaturatesAndNaNGivesZeroPoint) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // x / 2 = -1e6, 1e6, NaN, +inf, -inf, -40000, 40000, 3.5, 70000 (float16: some become infinite,
  // which saturates the same way).
  const Tensor x = Floats({-2e6f, 2e6f, kNaN, kInf, -kInf, -80000.0f, 80000.0f, 7.0f, 140000.0f}, {9});
  for (DataType dt : kQuantTypes) {
    SCOPED_TRACE(DataTypeName(dt));
    int64_t lo, hi;
    Range(dt, &lo, &hi);
    const int64_t z = (lo + hi) / 2 + 1;  // int8 1, uint8 128, int16 1, uint16 32768
    const Tensor zp = FilledInts(dt, {1}, z);
    const std::vector<int64_t> want = {lo, hi, z, hi, lo, lo, hi, z + 4, hi};
    Tensor fp32, fp16;
    CheckOp(OpType::kQuantizeLinear, {}, {In(x), Const(Floats({2.0f}, {1})), Const(zp)}, 13, 0, &fp32, &fp16);
    if (HasFatalFailure()) return;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(fp32.GetAsInt64(static_cast<int64_t>(i)), want[i]) << "fp32 element " << i;
      EXPECT_EQ(fp16.GetAsInt64(static_cast<int64_t>(i)), want[i]) << "fp16 element " << i;
    }
  }
}

// QuantizeLinear-10 with int32 x (float32 conversion, then the same division and rounding): odd
// values over scale 2 are exact halves.
TEST(QuantizeGpu, Int32InputOpset10) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Ints<int32_t>({-7, -5, -3, -1, 1, 3, 5, 7, 400, -400, 16777217, -2147483647}, {12});
  // rint(x / 2) = -4 -2 -2 -0 0 2 2 4 200 -200; zero point 100 then uint8 saturation.
  const std::vector<int64_t> want = {96, 98, 98, 100, 100, 102, 102, 104, 255, 0, 255, 0};
  Tensor fp32, fp16;
  CheckOp(OpType::kQuantizeLinear, {}, {In(x), Const(Tensor::Scalar<float>(2.0f)), Const(Tensor::Scalar<uint8_t>(100))},
          10, 0, &fp32, &fp16);
  if (HasFatalFailure()) return;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(fp32.GetAsInt64(static_cast<int64_t>(i)), want[i]) << "fp32 element " << i;
    EXPECT_EQ(fp16.GetAsInt64(static_cast<int64_t>(i)), want[i]) << "fp16 element " << i;
  }
}

// Float16 x and scale (opset 19): the same on the device in both precisions.
TEST(QuantizeGpu, Float16InputAndScale) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const std::vector<float> xs = {-2.75f, -1.25f, -0.25f, 0.25f, 0.75f, 1.25f, 100.0f, -100.0f, kNaN, 3.3f};
  Tensor x = *Tensor::Create(DataType::kFloat16, {static_cast<int64_t>(xs.size())});
  for (size_t i = 0; i < xs.size(); ++i) x.data<uint16_t>()[i] = FloatToHalf(xs[i]);
  Tensor scale = *Tensor::Create(DataType::kFloat16, {});
  scale.data<uint16_t>()[0] = FloatToHalf(0.5f);
  // 3.3 is 3.30078125 in float16: / 0.5 = 6.6015625 -> 7.
  const std::vector<int64_t> want = {-6 + 5, -2 + 5, 0 + 5, 0 + 5, 2 + 5, 2 + 5, 127, -128, 5, 7 + 5};
  Tensor fp32, fp16;
  CheckOp(OpType::kQuantizeLinear, {}, {In(x), Const(scale), Const(Tensor::Scalar<int8_t>(5))}, 19, 0, &fp32, &fp16);
  if (HasFatalFailure()) return;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(fp32.GetAsInt64(static_cast<int64_t>(i)), want[i]) << "fp32 element " << i;
    EXPECT_EQ(fp16.GetAsInt64(static_cast<int64_t>(i)), want[i]) << "fp16 element " << i;
  }
}

// output_dtype (opset 21) without a zero point.
TEST(QuantizeGpu, OutputDtypeAttribute) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Floats({-70000.0f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 70000.0f}, {7});
  const std::vector<std::pair<int64_t, DataType>> kinds = {
      {3, DataType::kInt8}, {2, DataType::kUInt8}, {5, DataType::kInt16}, {4, DataType::kUInt16}};
  for (const auto& [onnx, dt] : kinds) {
    SCOPED_TRACE(DataTypeName(dt));
    Attributes a;
    a.Set("output_dtype", onnx);
    int64_t lo, hi;
    Range(dt, &lo, &hi);
    const std::vector<int64_t> want = {lo, std::max<int64_t>(-2, lo), 0, 0, 2, 2, hi};
    Tensor fp32, fp16;
    CheckOp(OpType::kQuantizeLinear, a, {In(x), Const(Tensor::Scalar<float>(1.0f))}, 21, 0, &fp32, &fp16);
    if (HasFatalFailure()) return;
    ASSERT_EQ(fp32.dtype(), dt);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(fp32.GetAsInt64(static_cast<int64_t>(i)), want[i]) << "fp32 element " << i;
      EXPECT_EQ(fp16.GetAsInt64(static_cast<int64_t>(i)), want[i]) << "fp16 element " << i;
    }
  }
}

// ---- QuantizeLinear: random values against the CPU -------------------------------------------------

struct LayoutCase {
  const char* name;
  Shape x;
  Shape scale;
  int64_t axis;
  int64_t block;  // 0: per tensor / per axis
};

const LayoutCase kLayouts[] = {
    {"per-tensor", {2, 3, 17, 19}, {}, 1, 0},
    {"per-tensor [1]", {5, 333}, {1}, 1, 0},
    {"per-axis 1", {2, 6, 9, 11}, {6}, 1, 0},
    {"per-axis 0", {7, 5, 13}, {7}, 0, 0},
    {"per-axis -1", {3, 4, 29}, {29}, -1, 0},
    {"blocked axis 1", {4, 10}, {4, 3}, 1, 4},
    {"blocked axis 0", {10, 3}, {3, 3}, 0, 4},
    {"blocked 3-D", {2, 13, 5}, {2, 4, 5}, 1, 4},
    {"blocked 4-D block 1", {2, 3, 4, 5}, {2, 3, 4, 5}, 2, 1},
};

TEST(QuantizeGpu, RandomLayoutsAndDtypes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 1;
  for (const LayoutCase& lc : kLayouts) {
    SCOPED_TRACE(lc.name);
    const Attributes attrs = AxisAttrs(lc.axis, lc.block);
    const Tensor x = RandomX(lc.x, seed++);
    const Tensor scale = Scales(lc.scale);
    for (DataType dt : kQuantTypes) {
      SCOPED_TRACE(DataTypeName(dt));
      const Tensor zp = ZeroPoints(dt, lc.scale, seed++);
      {
        SCOPED_TRACE("constant scale and zero point");
        CheckOp(OpType::kQuantizeLinear, attrs, {In(x), Const(scale), Const(zp)}, 21, 1);
      }
      {
        SCOPED_TRACE("run-time scale and zero point");
        CheckOp(OpType::kQuantizeLinear, attrs, {In(x), In(scale), In(zp)}, 21, 1);
      }
    }
    SCOPED_TRACE("no zero point");
    CheckOp(OpType::kQuantizeLinear, attrs, {In(x), Const(scale)}, 21, 1);
  }
}

// Many elements: the grid-stride loop and 2^20+ indices.
TEST(QuantizeGpu, LargeTensorPerAxis) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = RandomX({4, 16, 128, 160}, 77);
  CheckOp(OpType::kQuantizeLinear, AxisAttrs(1),
          {In(x), Const(Scales({16})), Const(ZeroPoints(DataType::kInt8, {16}, 78))}, 13, 1);
}

// ---- DequantizeLinear -------------------------------------------------------------------------------

TEST(DequantizeGpu, HandComputed) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // x [2, 3, 2] int8, axis 1: scales 1, 0.5, 0.25; zero points 0, 10, -10.
  const Tensor x = Ints<int8_t>({1, -3, 12, 14, -6, -11, 5, 10, 127, 16, -10, -128}, {2, 3, 2});
  const Tensor scale = Floats({1.0f, 0.5f, 0.25f}, {3});
  const Tensor zp = Ints<int8_t>({0, 10, -10}, {3});
  const std::vector<float> want = {1, -3, 1, 2, 1, -0.25f, 5, 10, 58.5f, 3, 0, -29.5f};
  Tensor fp32, fp16;
  CheckOp(OpType::kDequantizeLinear, AxisAttrs(1), {In(x), Const(scale), Const(zp)}, 13, 0, &fp32, &fp16);
  if (HasFatalFailure()) return;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(fp32.data<float>()[i], want[i]) << "fp32 element " << i;
    EXPECT_EQ(fp16.data<float>()[i], want[i]) << "fp16 element " << i;  // exact in float16
  }
}

// int32 input (zero point 0 or none), values beyond float32's 24-bit mantissa.
TEST(DequantizeGpu, Int32Input) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Ints<int32_t>({0, 1, -1, 1000, -1000, 16777217, -16777219, 2147483647, -2147483647 - 1}, {9});
  Tensor fp32;  // FP32 only: 2^30 exceeds float16's range
  CheckOp(OpType::kDequantizeLinear, {}, {In(x), Const(Tensor::Scalar<float>(0.5f))}, 13, 0, &fp32, nullptr, false);
  if (HasFatalFailure()) return;
  const std::vector<float> want = {0.0f,       0.5f,        -0.5f,         500.0f,        -500.0f,
                                   8388608.0f, -8388610.0f, 1073741824.0f, -1073741824.0f};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(fp32.data<float>()[i], want[i]) << "element " << i;
  CheckOp(OpType::kDequantizeLinear, {},
          {In(RandomInts(DataType::kInt32, {3, 50}, 5, -100000, 100000)), Const(Tensor::Scalar<float>(0.0625f)),
           Const(Tensor::Scalar<int32_t>(0))},
          13, 0);
}

TEST(DequantizeGpu, RandomLayoutsAndDtypes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 100;
  for (const LayoutCase& lc : kLayouts) {
    SCOPED_TRACE(lc.name);
    const Attributes attrs = AxisAttrs(lc.axis, lc.block);
    // Scales below 1 (|x - zp| <= 49151 for uint16): every output within float16's range.
    const Tensor scale = Scales(lc.scale, -3);
    for (DataType dt : kQuantTypes) {
      SCOPED_TRACE(DataTypeName(dt));
      int64_t lo, hi;
      Range(dt, &lo, &hi);
      const Tensor x = RandomInts(dt, lc.x, seed++, lo, hi);
      const Tensor zp = ZeroPoints(dt, lc.scale, seed++);
      {
        SCOPED_TRACE("constant scale and zero point");
        CheckOp(OpType::kDequantizeLinear, attrs, {In(x), Const(scale), Const(zp)}, 21, 0);
      }
      {
        SCOPED_TRACE("run-time scale and zero point");
        CheckOp(OpType::kDequantizeLinear, attrs, {In(x), In(scale), In(zp)}, 21, 0);
      }
      {
        SCOPED_TRACE("no zero point");
        CheckOp(OpType::kDequantizeLinear, attrs, {In(x), Const(scale), Absent()}, 21, 0);
      }
    }
  }
}

// Float16 scale (opset 19): float16 output in both precisions, bit-identical to the CPU's.
TEST(DequantizeGpu, Float16Scale) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = RandomInts(DataType::kUInt8, {2, 4, 7}, 9, 0, 255);
  Tensor scale = *Tensor::Create(DataType::kFloat16, {4});
  const float values[] = {0.1f, 0.02f, 3.0f, 0.0078125f};
  for (int k = 0; k < 4; ++k) scale.data<uint16_t>()[k] = FloatToHalf(values[k]);
  const Tensor zp = Ints<uint8_t>({128, 0, 255, 17}, {4});
  StatusOr<SingleOpNetwork> single =
      BuildSingleOp(OpType::kDequantizeLinear, AxisAttrs(1), {In(x), Const(scale), Const(zp)}, 1, 19, "dq");
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  for (Precision p : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(PrecisionName(p));
    Tensor cpu, cuda;
    RunBoth(*single, p, &cpu, &cuda);
    if (HasFatalFailure()) return;
    ASSERT_EQ(cuda.dtype(), DataType::kFloat16);
    ExpectBitIdentical(cuda, cpu, "float16 output");
  }
}

// The round trip Q -> DQ of a two-layer network on CUDA equals the CPU's in FP32.
TEST(QuantizeGpu, QuantizeDequantizeChain) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  NetworkDef net;
  auto add = [&](const std::string& name, DataType dt, Shape shape) {
    TensorDef def;
    def.name = name;
    def.dtype = dt;
    def.shape = std::move(shape);
    net.tensors.push_back(std::move(def));
    return static_cast<int32_t>(net.tensors.size() - 1);
  };
  const int32_t x = add("x", DataType::kFloat32, {2, 8, 5, 5});
  const int32_t scale = add("scale", DataType::kFloat32, {8});
  net.tensors[static_cast<size_t>(scale)].value = Scales({8});
  const int32_t zp = add("zp", DataType::kInt8, {8});
  net.tensors[static_cast<size_t>(zp)].value = ZeroPoints(DataType::kInt8, {8}, 3);
  const int32_t q = add("q", DataType::kInt8, {2, 8, 5, 5});
  const int32_t y = add("y", DataType::kFloat32, {2, 8, 5, 5});
  LayerDef ql;
  ql.name = "ql";
  ql.op = OpType::kQuantizeLinear;
  ql.opset = 13;
  ql.attrs = AxisAttrs(1);
  ql.inputs = {x, scale, zp};
  ql.outputs = {q};
  LayerDef dql = ql;
  dql.name = "dql";
  dql.op = OpType::kDequantizeLinear;
  dql.inputs = {q, scale, zp};
  dql.outputs = {y};
  net.layers = {ql, dql};
  net.inputs = {x};
  net.outputs = {y};
  SingleOpNetwork single{net, {RandomX({2, 8, 5, 5}, 11)}};
  Tensor cpu, cuda;
  RunBoth(single, Precision::kFp32, &cpu, &cuda);
  if (HasFatalFailure()) return;
  ExpectBitIdentical(cuda, cpu, "Q -> DQ");
  RunBoth(single, Precision::kFp16, &cpu, &cuda);
  if (HasFatalFailure()) return;
  ExpectTensorsClose(cuda, cpu, DefaultTolerance(Precision::kFp16), "fp16 Q -> DQ");
}

}  // namespace
}  // namespace testing
}  // namespace edgert
