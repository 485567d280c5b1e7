#include <gtest/gtest.h>

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
