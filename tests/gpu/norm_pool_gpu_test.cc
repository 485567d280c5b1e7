// GPU tests of the normalization and pooling family (kernels_norm_pool.cu): BatchNormalization,
// InstanceNormalization, LayerNormalization (with its Mean/InvStdDev outputs), MaxPool (with
// Indices), AveragePool, GlobalAveragePool, GlobalMaxPool, each run on the CPU engine and the CUDA
// engine (FP32 and FP16) and compared (gpu_test_util.h).
//
// MaxPool Indices are compared exactly, also in FP16, so float inputs there are multiples of 0.5 in
// [-1024, 1024): exact in float16, both precisions see the same values and the same ties.
#include <random>

#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

Tensor HalfExactTensor(Shape shape, uint32_t seed) {
  Tensor t = *Tensor::Create(DataType::kFloat32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, 4095);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = static_cast<float>(dist(rng)) * 0.5f - 1024.0f;
  return t;
}

OpArg Const(Tensor t) { return OpArg{std::move(t), true}; }

// ---- BatchNormalization ------------------------------------------------------------------------

TEST(NormGpuTest, BatchNormalization) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (Shape shape : {Shape{2, 5, 7, 9}, Shape{6, 5}, Shape{1, 5, 3000}}) {
    SCOPED_TRACE(ShapeToString(shape));
    Attributes attrs;
    attrs.Set("epsilon", 1e-3f);
    ExpectOpMatches(OpType::kBatchNormalization, attrs,
                    {{RandomTensor(DataType::kFloat32, shape, 1, -2, 2)},
                     Const(RandomTensor(DataType::kFloat32, {5}, 2, 0.5, 1.5)),
                     Const(RandomTensor(DataType::kFloat32, {5}, 3)),
                     Const(RandomTensor(DataType::kFloat32, {5}, 4)),
                     Const(RandomTensor(DataType::kFloat32, {5}, 5, 0.5, 2.0))});
  }
}

// ---- InstanceNormalization -------------------------------------------------------------------------

TEST(NormGpuTest, InstanceNormalization) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (Shape shape : {Shape{2, 3, 17, 19}, Shape{1, 2, 100, 100}, Shape{3, 3, 5}}) {
    SCOPED_TRACE(ShapeToString(shape));
    const int64_t c = shape[1];
    ExpectOpMatches(OpType::kInstanceNormalization, Attributes{},
                    {{RandomTensor(DataType::kFloat32, shape, 6, -3, 3)},
                     Const(RandomTensor(DataType::kFloat32, {c}, 7, 0.5, 1.5)),
                     Const(RandomTensor(DataType::kFloat32, {c}, 8))});
  }
}

// ---- LayerNormalization ----------------------------------------------------------------------------

TEST(NormGpuTest, LayerNormalizationLastAxisWithStatistics) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kLayerNormalization, Attributes{},
                  {{RandomTensor(DataType::kFloat32, {4, 7, 768}, 9, -2, 2)},
                   Const(RandomTensor(DataType::kFloat32, {768}, 10, 0.5, 1.5)),
                   Const(RandomTensor(DataType::kFloat32, {768}, 11))},
                  3);
  // A long row (block per row) with only Y.
  ExpectOpMatches(OpType::kLayerNormalization, Attributes{},
                  {{RandomTensor(DataType::kFloat32, {3, 5000}, 12, -2, 2)},
                   Const(RandomTensor(DataType::kFloat32, {5000}, 13, 0.5, 1.5)),
                   Const(RandomTensor(DataType::kFloat32, {5000}, 14))});
}

TEST(NormGpuTest, LayerNormalizationInnerAxisBroadcastParams) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes attrs;
  attrs.Set("axis", int64_t{1});
  attrs.Set("epsilon", 1e-4f);
  // Scale broadcast over [4, 5, 6] from [5, 1]; B full; Mean and InvStdDev out.
  ExpectOpMatches(OpType::kLayerNormalization, attrs,
                  {{RandomTensor(DataType::kFloat32, {3, 4, 5, 6}, 15, -2, 2)},
                   Const(RandomTensor(DataType::kFloat32, {5, 1}, 16, 0.5, 1.5)),
                   Const(RandomTensor(DataType::kFloat32, {4, 5, 6}, 17))},
                  3);
  // No B; Scale [6] broadcast.
  attrs.Set("axis", int64_t{-2});
  ExpectOpMatches(OpType::kLayerNormalization, attrs,
                  {{RandomTensor(DataType::kFloat32, {3, 4, 5, 6}, 18, -2, 2)},
                   Const(RandomTensor(DataType::kFloat32, {6}, 19, 0.5, 1.5))});
}

// ---- MaxPool -----------------------------------------------------------------------------------

Attributes Pool(std::vector<int64_t> kernel, std::vector<int64_t> strides = {}, std::vector<int64_t> pads = {}) {
  Attributes attrs;
  attrs.Set("kernel_shape", std::move(kernel));
  if (!strides.empty()) attrs.Set("strides", std::move(strides));
  if (!pads.empty()) attrs.Set("pads", std::move(pads));
  return attrs;
}

TEST(PoolGpuTest, MaxPool2d) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = HalfExactTensor({2, 3, 15, 17}, 20);
  ExpectOpMatches(OpType::kMaxPool, Pool({3, 3}, {2, 2}, {1, 1, 1, 1}), {{x}});
  Attributes ceil = Pool({3, 3}, {2, 2}, {0, 1, 0, 1});
  ceil.Set("ceil_mode", int64_t{1});
  ExpectOpMatches(OpType::kMaxPool, ceil, {{x}}, 2);
  Attributes dilated = Pool({3, 2}, {1, 2}, {2, 1, 2, 1});
  dilated.Set("dilations", std::vector<int64_t>{2, 3});
  ExpectOpMatches(OpType::kMaxPool, dilated, {{x}}, 2);
  Attributes same = Pool({4, 4}, {3, 3});
  same.Set("auto_pad", std::string("SAME_UPPER"));
  ExpectOpMatches(OpType::kMaxPool, same, {{x}}, 2);
  same.Set("auto_pad", std::string("SAME_LOWER"));
  ExpectOpMatches(OpType::kMaxPool, same, {{x}});
}

TEST(PoolGpuTest, MaxPoolIndicesStorageOrder) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (int64_t order : {0, 1}) {
    SCOPED_TRACE("storage_order=" + std::to_string(order));
    Attributes attrs = Pool({2, 3}, {2, 2}, {1, 1, 0, 1});
    attrs.Set("storage_order", order);
    ExpectOpMatches(OpType::kMaxPool, attrs, {{HalfExactTensor({2, 2, 9, 11}, 21)}}, 2);
  }
}

TEST(PoolGpuTest, MaxPool1d3d) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kMaxPool, Pool({4}, {3}, {1, 2}), {{HalfExactTensor({2, 3, 20}, 22)}}, 2);
  ExpectOpMatches(OpType::kMaxPool, Pool({2, 3, 2}, {2, 1, 2}, {0, 1, 1, 1, 1, 0}),
                  {{HalfExactTensor({1, 2, 6, 7, 8}, 23)}}, 2);
}

TEST(PoolGpuTest, MaxPoolIntegersWithTies) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType dt : {DataType::kInt8, DataType::kUInt8}) {
    SCOPED_TRACE(DataTypeName(dt));
    const double lo = dt == DataType::kInt8 ? -4 : 0, hi = dt == DataType::kInt8 ? 4 : 8;
    ExpectOpMatches(OpType::kMaxPool, Pool({3, 3}, {2, 2}, {1, 1, 1, 1}), {{RandomTensor(dt, {2, 3, 11, 13}, 24, lo, hi)}},
                    2);
    ExpectOpMatches(OpType::kMaxPool, Pool({2, 2}), {{RandomTensor(dt, {1, 4, 8, 8}, 25, lo, hi)}});
  }
}

// ---- AveragePool -------------------------------------------------------------------------------

TEST(PoolGpuTest, AveragePool) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = RandomTensor(DataType::kFloat32, {2, 3, 15, 17}, 26);
  for (int64_t cip : {0, 1}) {
    SCOPED_TRACE("count_include_pad=" + std::to_string(cip));
    Attributes attrs = Pool({3, 3}, {2, 2}, {1, 1, 1, 1});
    attrs.Set("count_include_pad", cip);
    ExpectOpMatches(OpType::kAveragePool, attrs, {{x}});
    attrs.Set("ceil_mode", int64_t{1});
    ExpectOpMatches(OpType::kAveragePool, attrs, {{x}});
    Attributes same = Pool({4, 3}, {3, 2});
    same.Set("auto_pad", std::string("SAME_LOWER"));
    same.Set("count_include_pad", cip);
    ExpectOpMatches(OpType::kAveragePool, same, {{x}});
    Attributes one_d = Pool({5}, {2}, {2, 2});
    one_d.Set("count_include_pad", cip);
    ExpectOpMatches(OpType::kAveragePool, one_d, {{RandomTensor(DataType::kFloat32, {2, 4, 31}, 27)}});
    Attributes three_d = Pool({2, 2, 3}, {1, 2, 2}, {1, 0, 1, 0, 1, 1});
    three_d.Set("count_include_pad", cip);
    ExpectOpMatches(OpType::kAveragePool, three_d, {{RandomTensor(DataType::kFloat32, {1, 3, 5, 6, 7}, 28)}});
  }
}

// ---- Global pools ------------------------------------------------------------------------------

TEST(PoolGpuTest, GlobalPools) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (OpType op : {OpType::kGlobalAveragePool, OpType::kGlobalMaxPool}) {
    SCOPED_TRACE(op == OpType::kGlobalMaxPool ? "GlobalMaxPool" : "GlobalAveragePool");
    ExpectOpMatches(op, Attributes{}, {{RandomTensor(DataType::kFloat32, {2, 8, 33, 35}, 29)}});
    ExpectOpMatches(op, Attributes{}, {{RandomTensor(DataType::kFloat32, {3, 4, 5000}, 30)}});
    ExpectOpMatches(op, Attributes{}, {{RandomTensor(DataType::kFloat32, {1, 3, 2, 3, 4}, 31)}});
  }
}

}  // namespace
}  // namespace testing
}  // namespace edgert
