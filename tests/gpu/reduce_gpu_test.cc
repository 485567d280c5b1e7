// GPU tests of the reduction family (kernels_reduce.cu): ReduceSum/Mean/Max/Min/Prod, ArgMax/ArgMin,
// TopK, Softmax, LogSoftmax, each run on the CPU engine and the CUDA engine (FP32 and FP16) and
// compared (gpu_test_util.h).
//
// Index outputs (ArgMax, TopK) are compared exactly, also in FP16, so float inputs of those ops are
// multiples of 0.5 in [-1024, 1024): exact in float16, so both precisions see the same values (and
// the same ties, which the kernels break as the CPU does).
#include <random>

#include "gpu_test_util.h"

namespace edgert {
namespace testing {
namespace {

Tensor Ints(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<int64_t>(v, {n});
}

// Float values exactly representable in float16 (multiples of 0.5 in [-1024, 1024)).
Tensor HalfExactTensor(Shape shape, uint32_t seed) {
  Tensor t = *Tensor::Create(DataType::kFloat32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, 4095);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = static_cast<float>(dist(rng)) * 0.5f - 1024.0f;
  return t;
}

Attributes KeepDims(int64_t keepdims) {
  Attributes attrs;
  attrs.Set("keepdims", keepdims);
  return attrs;
}

// ---- Reduce* -------------------------------------------------------------------------------

TEST(ReduceGpuTest, SumLongRowsAxesInput) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kReduceSum, KeepDims(1),
                  {{RandomTensor(DataType::kFloat32, {3, 10000}, 1)}, {Ints({1}), true}}, 1, 13);
}

TEST(ReduceGpuTest, SumAllAxesSplitIntoChunks) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // No axes: everything into one value, 120000 elements (the split path).
  ExpectOpMatches(OpType::kReduceSum, KeepDims(0), {{RandomTensor(DataType::kFloat32, {2, 300, 200}, 2)}}, 1, 13);
}

TEST(ReduceGpuTest, MeanSpatialAxesAttribute) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes attrs = KeepDims(0);
  attrs.Set("axes", std::vector<int64_t>{2, 3});
  ExpectOpMatches(OpType::kReduceMean, attrs, {{RandomTensor(DataType::kFloat32, {2, 3, 17, 19}, 3)}}, 1, 17);
}

TEST(ReduceGpuTest, MeanColumns) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kReduceMean, KeepDims(1),
                  {{RandomTensor(DataType::kFloat32, {50, 300, 7}, 4)}, {Ints({1}), true}}, 1, 18);
}

TEST(ReduceGpuTest, MeanColumnsLongAxis) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kReduceMean, KeepDims(0),
                  {{RandomTensor(DataType::kFloat32, {10000, 5}, 5)}, {Ints({0}), true}}, 1, 18);
}

// A channels-last global pool at batch 1 ([1, H, W, C] over H and W): one 32-wide column tile, so
// the columns are split into chunks (partial accumulators in the workspace, a second kernel
// combining them); also Max/Min and integers through the same split, and C not a multiple of 32.
TEST(ReduceGpuTest, ColumnsSplitIntoChunks) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes keep = KeepDims(1);
  ExpectOpMatches(OpType::kReduceMean, keep,
                  {{RandomTensor(DataType::kFloat32, {1, 112, 112, 32}, 41)}, {Ints({1, 2}), true}}, 1, 18);
  ExpectOpMatches(OpType::kReduceMean, keep,
                  {{RandomTensor(DataType::kFloat32, {2, 56, 56, 40}, 42)}, {Ints({1, 2}), true}}, 1, 18);
  ExpectOpMatches(OpType::kReduceMax, KeepDims(0),
                  {{RandomTensor(DataType::kFloat32, {1, 3001, 7}, 43)}, {Ints({1}), true}}, 1, 18);
  ExpectOpMatches(OpType::kReduceMin, KeepDims(0),
                  {{RandomTensor(DataType::kFloat32, {3, 999, 33}, 44)}, {Ints({1}), true}}, 1, 18);
  for (DataType dt : {DataType::kInt32, DataType::kInt64}) {
    SCOPED_TRACE(DataTypeName(dt));
    ExpectOpMatches(OpType::kReduceSum, KeepDims(1),
                    {{RandomTensor(dt, {2, 1000, 6}, 45, -100, 100)}, {Ints({1}), true}}, 1, 13);
    ExpectOpMatches(OpType::kReduceMax, KeepDims(1),
                    {{RandomTensor(dt, {1, 4000, 3}, 46, -1000, 1000)}, {Ints({1}), true}}, 1, 18);
  }
}

TEST(ReduceGpuTest, MaxGeneralAxes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kReduceMax, KeepDims(1),
                  {{RandomTensor(DataType::kFloat32, {4, 5, 6, 7}, 6)}, {Ints({0, 2}), true}}, 1, 18);
}

TEST(ReduceGpuTest, MinNegativeAxesNoKeepDims) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kReduceMin, KeepDims(0),
                  {{RandomTensor(DataType::kFloat32, {6, 33, 5}, 7)}, {Ints({-1, 0}), true}}, 1, 18);
}

TEST(ReduceGpuTest, MaxGeneralAxesLongRows) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes attrs = KeepDims(0);
  attrs.Set("axes", std::vector<int64_t>{0, 2});
  ExpectOpMatches(OpType::kReduceMax, attrs, {{RandomTensor(DataType::kFloat32, {30, 3, 700}, 8)}}, 1, 17);
}

TEST(ReduceGpuTest, Prod) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kReduceProd, KeepDims(1),
                  {{RandomTensor(DataType::kFloat32, {4, 12, 3}, 9, 0.5, 1.5)}, {Ints({1}), true}}, 1, 18);
  Attributes attrs = KeepDims(1);
  attrs.Set("axes", std::vector<int64_t>{-1});
  ExpectOpMatches(OpType::kReduceProd, attrs, {{RandomTensor(DataType::kFloat32, {5, 20}, 10, 0.5, 1.5)}}, 1, 13);
}

TEST(ReduceGpuTest, NoopWithEmptyAxesAndEmptyAxes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  Attributes noop = KeepDims(1);
  noop.Set("noop_with_empty_axes", int64_t{1});
  ExpectOpMatches(OpType::kReduceMean, noop, {{RandomTensor(DataType::kFloat32, {3, 4, 5}, 11)}}, 1, 18);
  ExpectOpMatches(OpType::kReduceMax, KeepDims(1), {{RandomTensor(DataType::kFloat32, {3, 4, 5}, 12)}}, 1, 18);
}

TEST(ReduceGpuTest, UnitAxisIsACopy) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kReduceSum, KeepDims(0),
                  {{RandomTensor(DataType::kFloat32, {5, 1, 3}, 13)}, {Ints({1}), true}}, 1, 13);
}

TEST(ReduceGpuTest, Integers) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType dt : {DataType::kInt32, DataType::kInt64}) {
    SCOPED_TRACE(DataTypeName(dt));
    ExpectOpMatches(OpType::kReduceSum, KeepDims(1), {{RandomTensor(dt, {7, 1000}, 14, -100, 100)}, {Ints({1}), true}},
                    1, 13);
    ExpectOpMatches(OpType::kReduceMean, KeepDims(0), {{RandomTensor(dt, {9, 31, 4}, 15, -50, 50)}, {Ints({1}), true}},
                    1, 18);
    ExpectOpMatches(OpType::kReduceMax, KeepDims(0), {{RandomTensor(dt, {6, 5, 4}, 16, -9, 9)}, {Ints({0, 2}), true}},
                    1, 18);
    ExpectOpMatches(OpType::kReduceMin, KeepDims(1), {{RandomTensor(dt, {3, 20000}, 17, -1000, 1000)}}, 1, 18);
    // Products of many values wrap around, as on the CPU.
    ExpectOpMatches(OpType::kReduceProd, KeepDims(1), {{RandomTensor(dt, {4, 70}, 18, -3, 3)}, {Ints({1}), true}}, 1,
                    18);
  }
}

TEST(ReduceGpuTest, MaxMinNarrowTypes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kReduceMax, KeepDims(0),
                  {{RandomTensor(DataType::kInt8, {5, 300}, 19, -100, 100)}, {Ints({1}), true}}, 1, 18);
  ExpectOpMatches(OpType::kReduceMin, KeepDims(1),
                  {{RandomTensor(DataType::kInt8, {4, 6, 9}, 20, -100, 100)}, {Ints({0, 2}), true}}, 1, 18);
  ExpectOpMatches(OpType::kReduceMax, KeepDims(1), {{RandomTensor(DataType::kBool, {6, 40}, 21)}, {Ints({1}), true}},
                  1, 20);
  ExpectOpMatches(OpType::kReduceMin, KeepDims(0), {{RandomTensor(DataType::kBool, {40, 6}, 22)}, {Ints({0}), true}},
                  1, 20);
}

// ---- ArgMax / ArgMin -----------------------------------------------------------------------------

Attributes ArgAttrs(int64_t axis, int64_t keepdims, int64_t select_last) {
  Attributes attrs;
  attrs.Set("axis", axis);
  attrs.Set("keepdims", keepdims);
  attrs.Set("select_last_index", select_last);
  return attrs;
}

TEST(ArgGpuTest, FloatLayouts) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (OpType op : {OpType::kArgMax, OpType::kArgMin}) {
    ExpectOpMatches(op, ArgAttrs(1, 1, 0), {{HalfExactTensor({8, 1000}, 20)}});         // warp per line
    ExpectOpMatches(op, ArgAttrs(-1, 0, 0), {{HalfExactTensor({2, 5000}, 21)}});        // block per line
    ExpectOpMatches(op, ArgAttrs(1, 1, 1), {{HalfExactTensor({6, 50, 9}, 22)}});        // strided, few lines
    ExpectOpMatches(op, ArgAttrs(1, 0, 0), {{HalfExactTensor({4, 300, 600}, 23)}});     // thread per line
    ExpectOpMatches(op, ArgAttrs(0, 1, 1), {{HalfExactTensor({13}, 24)}});
  }
}

TEST(ArgGpuTest, IntegerTies) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType dt : {DataType::kInt32, DataType::kInt64}) {
    for (int64_t last : {0, 1}) {
      SCOPED_TRACE(std::string(DataTypeName(dt)) + " select_last_index=" + std::to_string(last));
      ExpectOpMatches(OpType::kArgMax, ArgAttrs(1, 1, last), {{RandomTensor(dt, {10, 700}, 25, -3, 3)}});
      ExpectOpMatches(OpType::kArgMin, ArgAttrs(0, 0, last), {{RandomTensor(dt, {700, 10}, 26, -3, 3)}});
      ExpectOpMatches(OpType::kArgMax, ArgAttrs(-1, 0, last), {{RandomTensor(dt, {3, 3000}, 27, -3, 3)}});
    }
  }
}

// ---- TopK ------------------------------------------------------------------------------------

Attributes TopKAttrs(int64_t axis, int64_t largest, int64_t sorted) {
  Attributes attrs;
  attrs.Set("axis", axis);
  attrs.Set("largest", largest);
  attrs.Set("sorted", sorted);
  return attrs;
}

TEST(TopKGpuTest, FloatSorted) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (int64_t largest : {1, 0}) {
    SCOPED_TRACE("largest=" + std::to_string(largest));
    ExpectOpMatches(OpType::kTopK, TopKAttrs(-1, largest, 1), {{HalfExactTensor({5, 1000}, 30)}, {Ints({10}), true}},
                    2);
    ExpectOpMatches(OpType::kTopK, TopKAttrs(1, largest, 1), {{HalfExactTensor({3, 37, 4}, 31)}, {Ints({37}), true}},
                    2);
    ExpectOpMatches(OpType::kTopK, TopKAttrs(0, largest, 0), {{HalfExactTensor({4096}, 32)}, {Ints({4096}), true}},
                    2);
  }
}

TEST(TopKGpuTest, LongAxisSelection) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kTopK, TopKAttrs(-1, 1, 1), {{HalfExactTensor({2, 10000}, 33)}, {Ints({5}), true}}, 2);
  ExpectOpMatches(OpType::kTopK, TopKAttrs(0, 0, 1), {{HalfExactTensor({5000, 3}, 34)}, {Ints({40}), true}}, 2);
}

TEST(TopKGpuTest, LongAxisGlobalSort) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kTopK, TopKAttrs(-1, 1, 1), {{HalfExactTensor({2, 10000}, 38)}, {Ints({10000}), true}}, 2);
  ExpectOpMatches(OpType::kTopK, TopKAttrs(0, 0, 1), {{HalfExactTensor({5000, 3}, 39)}, {Ints({300}), true}}, 2);
}

TEST(TopKGpuTest, IntegerTies) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType dt : {DataType::kInt32, DataType::kInt64}) {
    SCOPED_TRACE(DataTypeName(dt));
    ExpectOpMatches(OpType::kTopK, TopKAttrs(-1, 1, 1), {{RandomTensor(dt, {6, 500}, 35, -5, 5)}, {Ints({20}), true}},
                    2);
    ExpectOpMatches(OpType::kTopK, TopKAttrs(1, 0, 1), {{RandomTensor(dt, {3, 9, 2}, 36, -2, 2)}, {Ints({9}), true}},
                    2);
    ExpectOpMatches(OpType::kTopK, TopKAttrs(-1, 1, 1), {{RandomTensor(dt, {2, 6000}, 37, -4, 4)}, {Ints({30}), true}},
                    2);
    ExpectOpMatches(OpType::kTopK, TopKAttrs(-1, 0, 1), {{RandomTensor(dt, {3, 9000}, 38, -4, 4)}, {Ints({100}), true}},
                    2);
  }
}

// ---- Softmax / LogSoftmax -------------------------------------------------------------------------

Attributes Axis(int64_t axis) {
  Attributes attrs;
  attrs.Set("axis", axis);
  return attrs;
}

TEST(SoftmaxGpuTest, Layouts) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (OpType op : {OpType::kSoftmax, OpType::kLogSoftmax}) {
    SCOPED_TRACE(op == OpType::kSoftmax ? "Softmax" : "LogSoftmax");
    ExpectOpMatches(op, Axis(-1), {{RandomTensor(DataType::kFloat32, {4, 4096}, 40, -5, 5)}}, 1, 13);   // block
    ExpectOpMatches(op, Axis(-1), {{RandomTensor(DataType::kFloat32, {33, 100}, 41, -5, 5)}}, 1, 13);   // warp
    ExpectOpMatches(op, Axis(1), {{RandomTensor(DataType::kFloat32, {3, 50, 70}, 42, -5, 5)}}, 1, 13);  // strided
    ExpectOpMatches(op, Axis(1), {{RandomTensor(DataType::kFloat32, {8, 16, 300}, 43, -5, 5)}}, 1, 13);  // thread
    ExpectOpMatches(op, Axis(0), {{RandomTensor(DataType::kFloat32, {3000, 2}, 44, -5, 5)}}, 1, 13);
  }
}

TEST(SoftmaxGpuTest, LegacyOpsetFlattensFromAxis) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (OpType op : {OpType::kSoftmax, OpType::kLogSoftmax}) {
    SCOPED_TRACE(op == OpType::kSoftmax ? "Softmax" : "LogSoftmax");
    ExpectOpMatches(op, Axis(1), {{RandomTensor(DataType::kFloat32, {3, 4, 5}, 45, -5, 5)}}, 1, 11);
    ExpectOpMatches(op, Attributes{}, {{RandomTensor(DataType::kFloat32, {2, 40, 60}, 46, -5, 5)}}, 1, 11);
  }
}

// ---- CUDA graph capture ------------------------------------------------------------------------

// The paths that use the workspace or a device-to-device copy, replayed from a CUDA graph.
TEST(ReduceGpuTest, CapturedInCudaGraph) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Case {
    OpType op;
    Attributes attrs;
    std::vector<OpArg> args;
    size_t outputs;
    int opset;
  };
  Attributes noop = KeepDims(1);
  noop.Set("noop_with_empty_axes", int64_t{1});
  const std::vector<Case> cases = {
      {OpType::kReduceSum, KeepDims(0), {{RandomTensor(DataType::kFloat32, {2, 300, 200}, 50)}}, 1, 13},
      {OpType::kReduceMean, noop, {{RandomTensor(DataType::kFloat32, {3, 4, 5}, 51)}}, 1, 18},
      {OpType::kTopK, TopKAttrs(-1, 1, 1), {{HalfExactTensor({2, 10000}, 52)}, {Ints({500}), true}}, 2, 17},
      {OpType::kSoftmax, Axis(-1), {{RandomTensor(DataType::kFloat32, {4, 4096}, 53, -5, 5)}}, 1, 13},
  };
  for (const Case& c : cases) {
    StatusOr<SingleOpNetwork> single = BuildSingleOp(c.op, c.attrs, c.args, c.outputs, c.opset, "op");
    ASSERT_TRUE(single.ok()) << single.status().ToString();
    for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
      SCOPED_TRACE(std::string(OpTypeName(c.op)) + " " + PrecisionName(precision));
      ExpectCudaMatchesCpu(single->net, single->feeds, precision, -1, true);
    }
  }
}

}  // namespace
}  // namespace testing
}  // namespace edgert
