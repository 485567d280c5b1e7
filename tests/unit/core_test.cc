#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "edgert/attributes.h"
#include "edgert/op_def.h"
#include "edgert/status.h"
#include "edgert/tensor.h"
#include "op_util.h"

namespace edgert {
namespace {

TEST(Status, ToStringNamesSubject) {
  Status s = InvalidArgument("kernel_shape has 3 values", "conv1");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "invalid argument: 'conv1': kernel_shape has 3 values");
  EXPECT_EQ(s.WithContext("model.onnx").message(), "model.onnx: kernel_shape has 3 values");
  EXPECT_EQ(s.WithContext("model.onnx").subject(), "conv1");
}

TEST(StatusOr, HoldsValueOrError) {
  StatusOr<std::vector<int>> v = std::vector<int>{1, 2};
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->size(), 2u);
  StatusOr<std::vector<int>> e = NotFound("missing");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  StatusOr<std::vector<int>> copy = v;
  EXPECT_EQ((*copy)[1], 2);
}

TEST(Tensor, CreateRejectsHugeAndNegative) {
  EXPECT_FALSE(Tensor::Create(DataType::kFloat32, {-1, 3}).ok());
  auto huge = Tensor::Create(DataType::kFloat32, {int64_t{1} << 40});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kOutOfRange);
  auto t = Tensor::Create(DataType::kInt64, {2, 3});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->bytes(), 48u);
  EXPECT_EQ(t->data<int64_t>()[5], 0);
}

TEST(Tensor, CloneIsDeepAndReshapeShares) {
  Tensor a = Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = a.Clone();
  Tensor c = *a.Reshaped({4});
  a.data<float>()[0] = 9;
  EXPECT_EQ(b.data<float>()[0], 1);
  EXPECT_EQ(c.data<float>()[0], 9);
  EXPECT_FALSE(a.Reshaped({3}).ok());
}

TEST(Shape, ToStringAndStrides) {
  EXPECT_EQ(ShapeToString({1, 3, 224, 224}), "1x3x224x224");
  EXPECT_EQ(ShapeToString({}), "scalar");
  EXPECT_EQ(ShapeToString({-1, 3}), "?x3");
  EXPECT_EQ(ContiguousStrides({2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(NumElements({2, -1}), -1);
  EXPECT_EQ(NumElements({}), 1);
}

TEST(Attributes, TypedReads) {
  Attributes a;
  a.Set("axis", int64_t{1});
  a.Set("alpha", int64_t{2});
  a.Set("pads", std::vector<int64_t>{1, 1});
  EXPECT_EQ(*a.GetInt("axis"), 1);
  EXPECT_EQ(*a.GetFloat("alpha"), 2.0f);  // int accepted where float is wanted
  EXPECT_EQ(*a.GetIntOr("group", 1), 1);
  auto wrong = a.GetInt("pads", "conv1");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("'pads' should be int but is ints"), std::string::npos);
  EXPECT_FALSE(a.GetInts("strides").ok());
}

TEST(OpUtil, Broadcast) {
  Attributes attrs;
  OpContext ctx(OpType::kAdd, "add0", attrs, 13, {}, 1);
  auto s = BroadcastShapes(ctx, {{2, 1, 4}, {3, 1}, {}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (Shape{2, 3, 4}));
  auto bad = BroadcastShapes(ctx, {{2, 3}, {4}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Add node 'add0'"), std::string::npos);
  EXPECT_EQ(BroadcastStrides({3, 1}, {2, 3, 4}), (std::vector<int64_t>{0, 1, 0}));
  std::vector<int64_t> seen;
  ForEachBroadcast({2, 3}, {BroadcastStrides({3}, {2, 3})}, [&](int64_t, const int64_t* off) { seen.push_back(off[0]); });
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));
}

TEST(OpUtil, HalfRoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    EXPECT_EQ(HalfToFloat(FloatToHalf(f)), f) << f;
  }
  EXPECT_EQ(FloatToHalf(1e6f), 0x7c00);
}

// FloatToHalf against the definition: the nearest half by value (computed in double from
// HalfToFloat), ties to the even one, beyond 65520 infinity. Probed at every finite half, at every
// midpoint between neighbours and one float step either side of it, and at a spread of floats.
uint16_t NearestHalf(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return static_cast<uint16_t>(sign | 0x7c00);
  uint16_t lo = 0, hi = 0x7bff;  // the largest magnitude whose value is <= a
  while (lo < hi) {
    const uint16_t mid = static_cast<uint16_t>((lo + hi + 1) / 2);
    if (HalfToFloat(mid) <= a) {
      lo = mid;
    } else {
      hi = static_cast<uint16_t>(mid - 1);
    }
  }
  // Up to lo + 1 (0x7c00, infinity, is never nearer below 65520).
  const double below = a - HalfToFloat(lo);
  const double above = static_cast<double>(HalfToFloat(static_cast<uint16_t>(lo + 1))) - a;
  const bool up = above < below || (above == below && (lo & 1) != 0);
  return static_cast<uint16_t>(sign | (up ? lo + 1 : lo));
}

TEST(OpUtil, FloatToHalfRoundsToNearestEvenEverywhere) {
  std::vector<float> probes;
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const float v = HalfToFloat(static_cast<uint16_t>(h));
    const float next = HalfToFloat(static_cast<uint16_t>(h + 1));  // 0x7c00: infinity
    const float mid = h + 1 < 0x7c00 ? static_cast<float>((static_cast<double>(v) + next) / 2) : 65520.0f;
    for (float p : {v, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), std::nextafter(v, 1e9f)}) {
      probes.push_back(p);
      probes.push_back(-p);
    }
  }
  for (uint32_t bits = 0; bits < 0x7f800000u; bits += 0x1235u) {  // every exponent, spread mantissas
    float f;
    std::memcpy(&f, &bits, 4);
    probes.push_back(f);
  }
  int mismatches = 0;
  for (float f : probes) {
    const uint16_t got = FloatToHalf(f), want = NearestHalf(f);
    if (got != want && ++mismatches <= 5) {
      ADD_FAILURE() << std::hexfloat << f << ": got 0x" << std::hex << got << ", want 0x" << want;
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << probes.size() << " probes";
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);  // a quiet NaN
}

TEST(OpTable, IdsAndNamesAreUnique) {
  for (size_t i = 0; i < kNumOpTypes; ++i) {
    for (size_t j = i + 1; j < kNumOpTypes; ++j) {
      EXPECT_NE(kOpTable[i].type, kOpTable[j].type) << kOpTable[i].name;
      EXPECT_NE(kOpTable[i].name, kOpTable[j].name);
    }
    EXPECT_EQ(FindOpInfoByName(kOpTable[i].name), &kOpTable[i]);
  }
  EXPECT_EQ(FindOpInfoByName("NonMaxSuppression"), nullptr);
}

}  // namespace
}  // namespace edgert
