// CUDA tensor family (kernels_tensor*.cu): every operator against the CPU reference through
// ExpectOpMatches (FP32, and FP16 when the data is float32), with small tensors and the main
// attribute variants, in float32, int64 and 1-byte dtypes. Data inputs are network inputs (runtime
// values); parameters (shapes, starts, pads, scales...) are build-time constants.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/kernels_tensor_resize.h"
#include "gpu_test_util.h"
#include "ops/op_util.h"

namespace edgert {
namespace testing {
namespace {

OpArg Data(Tensor t) { return {std::move(t), false}; }
OpArg Const(Tensor t) { return {std::move(t), true}; }
OpArg Absent() { return {}; }

Tensor I64(std::vector<int64_t> v) {
  const Shape s{static_cast<int64_t>(v.size())};
  return Tensor::FromVector<int64_t>(std::move(v), s);
}
Tensor I32(std::vector<int32_t> v, Shape s) { return Tensor::FromVector<int32_t>(std::move(v), std::move(s)); }
Tensor F32(std::vector<float> v) {
  const Shape s{static_cast<int64_t>(v.size())};
  return Tensor::FromVector<float>(std::move(v), s);
}

Attributes Attrs(std::vector<std::pair<std::string, AttrValue>> kv) {
  Attributes a;
  for (auto& [k, v] : kv) a.Set(k, std::move(v));
  return a;
}

// Random data in a range that makes integer dtypes interesting (uint8: [0, 250)).
Tensor Rand(DataType dtype, Shape shape, uint32_t seed) {
  if (dtype == DataType::kUInt8) return RandomTensor(dtype, std::move(shape), seed, 0.0, 250.0);
  if (dtype == DataType::kFloat32) return RandomTensor(dtype, std::move(shape), seed, -2.0, 2.0);
  return RandomTensor(dtype, std::move(shape), seed, -1000.0, 1000.0);
}

const DataType kMoveTypes[] = {DataType::kFloat32, DataType::kInt64, DataType::kUInt8};

// ---- Copies -------------------------------------------------------------------------------------

TEST(CudaTensorOps, CopyLikeOps) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType t : kMoveTypes) {
    SCOPED_TRACE(DataTypeName(t));
    const Tensor x = Rand(t, {2, 3, 4, 5}, 1);
    ExpectOpMatches(OpType::kFlatten, Attrs({{"axis", int64_t{2}}}), {Data(x)});
    ExpectOpMatches(OpType::kReshape, {}, {Data(x), Const(I64({0, -1, 10}))});
    ExpectOpMatches(OpType::kSqueeze, {}, {Data(Rand(t, {2, 1, 3, 1}, 2)), Const(I64({1, -1}))}, 1, 13);
    ExpectOpMatches(OpType::kUnsqueeze, {}, {Data(x), Const(I64({0, 5}))}, 1, 13);
    ExpectOpMatches(OpType::kIdentity, {}, {Data(x)});
  }
  ExpectOpMatches(OpType::kIdentity, {}, {Data(Rand(DataType::kBool, {7, 3}, 3))});
}

TEST(CudaTensorOps, DropoutWithMask) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Rand(DataType::kFloat32, {3, 17}, 4);
  ExpectOpMatches(OpType::kDropout, {}, {Data(x)}, 1, 13);
  ExpectOpMatches(OpType::kDropout, {}, {Data(x)}, 2, 13);                       // bool mask
  ExpectOpMatches(OpType::kDropout, Attrs({{"ratio", 0.3f}}), {Data(x)}, 2, 7);  // mask in the data dtype
  ExpectOpMatches(
      OpType::kDropout, {},
      {Data(Rand(DataType::kInt64, {5}, 5)), Const(F32({0.5f})), Const(Tensor::FromVector<bool>({false}, {}))}, 2, 13);
}

// ---- Transpose ----------------------------------------------------------------------------------

TEST(CudaTensorOps, TransposeRanks2To5) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Case {
    Shape shape;
    std::vector<int64_t> perm;  // empty: default (reverse)
  };
  const Case cases[] = {
      {{33, 70}, {}},                      // tiled, partial tiles
      {{5, 1}, {1, 0}},                    // degenerate: a copy
      {{3, 40, 35}, {0, 2, 1}},            // batched tiled
      {{3, 4, 5}, {2, 0, 1}},              // general
      {{6, 4, 9}, {1, 0, 2}},              // contiguous inner rows (widened)
      {{2, 8, 5, 7}, {0, 2, 3, 1}},        // NCHW -> NHWC
      {{2, 5, 7, 8}, {0, 3, 1, 2}},        // NHWC -> NCHW
      {{1, 8, 5, 7}, {0, 2, 3, 1}},        // batch 1: 2-D, 8 rows (narrow)
      {{2, 3, 64, 33}, {0, 2, 3, 1}},      // a 3-channel image to NHWC (narrow rows)
      {{2, 64, 33, 3}, {0, 3, 1, 2}},      // back to NCHW (narrow columns)
      {{2, 9, 40, 35}, {0, 2, 3, 1}},      // 9 channels: tiled
      {{2, 3, 4, 5}, {3, 2, 1, 0}},        // reversal
      {{2, 3, 1, 5}, {2, 0, 3, 1}},        // size-1 axis
      {{2, 3, 4, 5, 6}, {0, 4, 1, 2, 3}},  // channels last 3-D
      {{2, 3, 4, 5, 2}, {4, 3, 2, 1, 0}},
      {{2, 3, 4, 5, 6}, {1, 0, 3, 2, 4}},
  };
  uint32_t seed = 10;
  for (const Case& c : cases) {
    for (DataType t : {DataType::kFloat32, DataType::kInt64, DataType::kUInt8, DataType::kInt8}) {
      SCOPED_TRACE(ShapeToString(c.shape) + " perm " + ShapeToString(c.perm) + " " + DataTypeName(t));
      const Attributes a = c.perm.empty() ? Attributes{} : Attrs({{"perm", c.perm}});
      ExpectOpMatches(OpType::kTranspose, a, {Data(Rand(t, c.shape, seed++))});
    }
  }
}

// ---- Concat / Split -----------------------------------------------------------------------------

TEST(CudaTensorOps, ConcatEveryAxis) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Shape base{2, 3, 4};
  for (DataType t : kMoveTypes) {
    for (int64_t axis : {0, 1, 2, -1, -3}) {
      SCOPED_TRACE(std::string(DataTypeName(t)) + " axis " + std::to_string(axis));
      const size_t a = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
      std::vector<OpArg> args;
      const int64_t extents[] = {1, 3, 2};
      for (int i = 0; i < 3; ++i) {
        Shape s = base;
        s[a] = extents[i];
        args.push_back(Data(Rand(t, s, static_cast<uint32_t>(20 + i))));
      }
      ExpectOpMatches(OpType::kConcat, Attrs({{"axis", axis}}), args);
    }
  }
}

TEST(CudaTensorOps, ConcatManyInputsAndConstants) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // 11 inputs (two launches of up to 8), one of them a constant.
  std::vector<OpArg> args;
  for (int i = 0; i < 11; ++i) {
    const int64_t w = (i % 3) + 1;
    Tensor v = Rand(DataType::kFloat32, {3, w, 2}, static_cast<uint32_t>(30 + i));
    args.push_back(i == 6 ? Const(v) : Data(v));
  }
  ExpectOpMatches(OpType::kConcat, Attrs({{"axis", int64_t{1}}}), args);
  // Wide rows (16-byte moves) in uint8.
  ExpectOpMatches(OpType::kConcat, Attrs({{"axis", int64_t{1}}}),
                  {Data(Rand(DataType::kUInt8, {2, 32}, 41)), Data(Rand(DataType::kUInt8, {2, 48}, 42))});
}

TEST(CudaTensorOps, SplitVariants) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType t : kMoveTypes) {
    SCOPED_TRACE(DataTypeName(t));
    const Tensor x = Rand(t, {4, 6, 5}, 50);
    ExpectOpMatches(OpType::kSplit, Attrs({{"axis", int64_t{1}}}), {Data(x)}, 3, 13);  // equal
    ExpectOpMatches(OpType::kSplit, Attrs({{"axis", int64_t{-1}}}), {Data(x), Const(I64({1, 3, 1}))}, 3, 13);
    ExpectOpMatches(OpType::kSplit, Attrs({{"axis", int64_t{0}}, {"split", std::vector<int64_t>{3, 1}}}), {Data(x)}, 2,
                    11);
    ExpectOpMatches(OpType::kSplit, Attrs({{"axis", int64_t{2}}, {"num_outputs", int64_t{2}}}), {Data(x)}, 2, 18);
  }
  // More outputs than one launch holds.
  ExpectOpMatches(OpType::kSplit, Attrs({{"axis", int64_t{0}}}), {Data(Rand(DataType::kFloat32, {10, 3}, 51))}, 10, 13);
}

// ---- Slice --------------------------------------------------------------------------------------

TEST(CudaTensorOps, SliceStepsAndClamping) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  struct Case {
    std::vector<int64_t> starts, ends, axes, steps;  // empty axes/steps: absent
  };
  const Case cases[] = {
      {{1, 0}, {3, 5}, {}, {}},
      {{0, 1, 2}, {kMax, -1, 8}, {0, 1, 2}, {1, 2, 3}},
      {{-1}, {kMin}, {2}, {-1}},                // full reversal of the last axis
      {{3, 10}, {0, -100}, {0, -1}, {-2, -3}},  // negative steps with clamping
      {{-2, 1}, {kMax, 5}, {-2, 0}, {1, 1}},
      {{0}, {8}, {2}, {2}},  // every other element of the innermost axis
  };
  uint32_t seed = 60;
  for (const Case& c : cases) {
    for (DataType t : kMoveTypes) {
      SCOPED_TRACE(std::string(DataTypeName(t)) + " starts " + ShapeToString(c.starts));
      std::vector<OpArg> args = {Data(Rand(t, {4, 5, 8}, seed++)), Const(I64(c.starts)), Const(I64(c.ends))};
      if (!c.axes.empty()) args.push_back(Const(I64(c.axes)));
      if (!c.steps.empty()) args.push_back(Const(I64(c.steps)));
      ExpectOpMatches(OpType::kSlice, {}, args, 1, 13);
    }
  }
  // int32 parameters.
  ExpectOpMatches(OpType::kSlice, {},
                  {Data(Rand(DataType::kFloat32, {6, 4}, 70)), Const(I32({4, 3}, {2})), Const(I32({0, 0}, {2})),
                   Const(I32({0, 1}, {2})), Const(I32({-1, -1}, {2}))},
                  1, 13);
}

// ---- Gather -------------------------------------------------------------------------------------

TEST(CudaTensorOps, GatherAxesAndNegativeIndices) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Shape shape{4, 5, 6};
  for (DataType t : kMoveTypes) {
    for (int64_t axis : {0, 1, 2, -1}) {
      SCOPED_TRACE(std::string(DataTypeName(t)) + " axis " + std::to_string(axis));
      const int64_t dim = shape[static_cast<size_t>(axis < 0 ? axis + 3 : axis)];
      const Tensor x = Rand(t, shape, 80);
      // Constant int64 indices with negatives, 2-D.
      const Tensor idx = Tensor::FromVector<int64_t>({0, -1, dim - 2, 1, -dim, 2}, {2, 3});
      ExpectOpMatches(OpType::kGather, Attrs({{"axis", axis}}), {Data(x), Const(idx)});
      // Runtime int32 indices with negatives.
      const Tensor ridx = I32({-1, 0, static_cast<int32_t>(dim - 1), -2}, {4});
      ExpectOpMatches(OpType::kGather, Attrs({{"axis", axis}}), {Data(x), Data(ridx)});
      // Runtime int64 scalar index.
      ExpectOpMatches(OpType::kGather, Attrs({{"axis", axis}}), {Data(x), Data(Tensor::FromVector<int64_t>({-1}, {}))});
    }
  }
}

// ---- Expand / Tile ------------------------------------------------------------------------------

TEST(CudaTensorOps, ExpandAndTile) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType t : {DataType::kFloat32, DataType::kInt64, DataType::kUInt8, DataType::kInt8}) {
    SCOPED_TRACE(DataTypeName(t));
    ExpectOpMatches(OpType::kExpand, {}, {Data(Rand(t, {3, 1}, 90)), Const(I64({2, 3, 6}))});
    ExpectOpMatches(OpType::kExpand, {}, {Data(Rand(t, {1, 4, 1, 5}, 91)), Const(I64({3, 1, 2, 1}))});
    ExpectOpMatches(OpType::kExpand, {}, {Data(Rand(t, {}, 92)), Const(I64({4, 3}))});
    ExpectOpMatches(OpType::kTile, {}, {Data(Rand(t, {2, 3, 4}, 93)), Const(I64({2, 1, 3}))});
    ExpectOpMatches(OpType::kTile, {}, {Data(Rand(t, {2, 1, 3, 2}, 94)), Const(I64({1, 3, 2, 2}))});
    // Five repeated axes: more dimensions than a strided view holds (the wrap-mode path).
    ExpectOpMatches(OpType::kTile, {}, {Data(Rand(t, {2, 3, 2, 2, 3}, 96)), Const(I64({2, 2, 3, 2, 2}))});
  }
}

// ---- Pad ----------------------------------------------------------------------------------------

TEST(CudaTensorOps, PadModes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const std::vector<int64_t> pads = {1, 2, 0, 2, 1, 3};     // begin (3 axes), end
  const std::vector<int64_t> mixed = {0, -1, 2, 1, 2, -2};  // negative pads crop
  for (DataType t : kMoveTypes) {
    for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
      SCOPED_TRACE(std::string(DataTypeName(t)) + " " + mode);
      const Attributes a = Attrs({{"mode", std::string(mode)}});
      const Tensor x = Rand(t, {3, 4, 5}, 100);
      ExpectOpMatches(OpType::kPad, a, {Data(x), Const(I64(pads))}, 1, 19);
      ExpectOpMatches(OpType::kPad, a, {Data(x), Const(I64(mixed))}, 1, 19);
      // Pads on a subset of axes (opset 18 axes input).
      ExpectOpMatches(OpType::kPad, a, {Data(x), Const(I64({2, 3, 1, 2})), Absent(), Const(I64({-1, 0}))}, 1, 19);
    }
  }
  // Constant value: build-time input (float and int64), runtime input, opset-2 attribute.
  const Tensor xf = Rand(DataType::kFloat32, {2, 3, 4}, 101);
  ExpectOpMatches(OpType::kPad, {}, {Data(xf), Const(I64(pads)), Const(Tensor::FromVector<float>({2.5f}, {}))}, 1, 13);
  ExpectOpMatches(OpType::kPad, {}, {Data(xf), Const(I64(pads)), Data(Tensor::FromVector<float>({-1.5f}, {}))}, 1, 13);
  ExpectOpMatches(OpType::kPad, {},
                  {Data(Rand(DataType::kInt64, {2, 3, 4}, 102)), Const(I64(pads)),
                   Const(Tensor::FromVector<int64_t>({int64_t{1} << 40}, {}))},
                  1, 13);
  ExpectOpMatches(OpType::kPad, Attrs({{"pads", pads}, {"value", 7.0f}}), {Data(xf)}, 1, 2);
  // Only the last axis padded at its end (channels appended to an NHWC image): the one-division
  // path, with the default fill and with a constant value.
  const Tensor image = Rand(DataType::kFloat32, {2, 5, 7, 3}, 103);
  ExpectOpMatches(OpType::kPad, {}, {Data(image), Const(I64({0, 0, 0, 0, 0, 0, 0, 5}))}, 1, 13);
  ExpectOpMatches(OpType::kPad, {},
                  {Data(image), Const(I64({0, 0, 0, 0, 0, 0, 0, 2})), Const(Tensor::FromVector<float>({0.5f}, {}))}, 1,
                  13);
}

// ---- DepthToSpace / SpaceToDepth ----------------------------------------------------------------

TEST(CudaTensorOps, DepthToSpaceAndSpaceToDepth) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType t : kMoveTypes) {
    SCOPED_TRACE(DataTypeName(t));
    const Tensor x = Rand(t, {2, 12, 3, 4}, 110);
    ExpectOpMatches(OpType::kDepthToSpace, Attrs({{"blocksize", int64_t{2}}}), {Data(x)});
    ExpectOpMatches(OpType::kDepthToSpace, Attrs({{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}}), {Data(x)});
    ExpectOpMatches(OpType::kDepthToSpace, Attrs({{"blocksize", int64_t{2}}, {"mode", std::string("DCR")}}),
                    {Data(Rand(t, {1, 8, 5, 3}, 111))});
    ExpectOpMatches(OpType::kSpaceToDepth, Attrs({{"blocksize", int64_t{2}}}), {Data(Rand(t, {2, 3, 4, 6}, 112))});
    ExpectOpMatches(OpType::kSpaceToDepth, Attrs({{"blocksize", int64_t{3}}}), {Data(Rand(t, {1, 2, 6, 3}, 113))});
  }
}

// ---- Shape / ConstantOfShape / Range ------------------------------------------------------------

TEST(CudaTensorOps, ShapeStartEnd) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Rand(DataType::kFloat32, {2, 3, 4, 5}, 120);
  ExpectOpMatches(OpType::kShape, {}, {Data(x)}, 1, 15);
  ExpectOpMatches(OpType::kShape, Attrs({{"start", int64_t{1}}}), {Data(x)}, 1, 15);
  ExpectOpMatches(OpType::kShape, Attrs({{"start", int64_t{-3}}, {"end", int64_t{-1}}}), {Data(x)}, 1, 15);
  ExpectOpMatches(OpType::kShape, Attrs({{"start", int64_t{-10}}, {"end", int64_t{10}}}), {Data(x)}, 1, 15);
  ExpectOpMatches(OpType::kShape, {}, {Data(Rand(DataType::kUInt8, {7}, 121))}, 1, 15);
}

TEST(CudaTensorOps, ConstantOfShape) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  ExpectOpMatches(OpType::kConstantOfShape, {}, {Const(I64({2, 3}))}, 1, 9);
  ExpectOpMatches(OpType::kConstantOfShape, Attrs({{"value", Tensor::FromVector<float>({1.25f}, {1})}}),
                  {Const(I64({3, 4}))}, 1, 9);
  ExpectOpMatches(OpType::kConstantOfShape, Attrs({{"value", Tensor::FromVector<int64_t>({-(int64_t{1} << 50)}, {1})}}),
                  {Const(I64({5}))}, 1, 9);
  ExpectOpMatches(OpType::kConstantOfShape, Attrs({{"value", Tensor::FromVector<uint8_t>({200}, {1})}}),
                  {Const(I64({2, 2, 2}))}, 1, 9);
  ExpectOpMatches(OpType::kConstantOfShape, Attrs({{"value", Tensor::FromVector<bool>({true}, {1})}}),
                  {Const(I64({3}))}, 1, 9);
}

TEST(CudaTensorOps, Range) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  auto scalar = [](auto v) { return Const(Tensor::FromVector<decltype(v)>({v}, {})); };
  ExpectOpMatches(OpType::kRange, {}, {scalar(0.5f), scalar(7.3f), scalar(0.35f)}, 1, 11);
  ExpectOpMatches(OpType::kRange, {}, {scalar(3.0f), scalar(-2.0f), scalar(-0.5f)}, 1, 11);
  ExpectOpMatches(OpType::kRange, {}, {scalar(int64_t{-5}), scalar(int64_t{100}), scalar(int64_t{7})}, 1, 11);
  ExpectOpMatches(OpType::kRange, {}, {scalar(int32_t{10}), scalar(int32_t{0}), scalar(int32_t{-3})}, 1, 11);
  ExpectOpMatches(OpType::kRange, {}, {scalar(int16_t{1}), scalar(int16_t{9}), scalar(int16_t{2})}, 1, 11);
  ExpectOpMatches(OpType::kRange, {}, {scalar(0.25), scalar(3.0), scalar(0.125)}, 1, 11);
}

// ---- Resize / Upsample --------------------------------------------------------------------------

// Resize-13+ inputs: X, roi (absent), scales or sizes.
std::vector<OpArg> WithScales(Tensor x, std::vector<float> scales) {
  return {Data(std::move(x)), Absent(), Const(F32(std::move(scales)))};
}
std::vector<OpArg> WithSizes(Tensor x, std::vector<int64_t> sizes) {
  return {Data(std::move(x)), Absent(), Absent(), Const(I64(std::move(sizes)))};
}

TEST(CudaTensorOps, ResizeNearestModesTimesCoordinateModes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Rand(DataType::kFloat32, {1, 2, 5, 7}, 130);
  for (const char* coord :
       {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"}) {
    for (const char* nearest : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
      SCOPED_TRACE(std::string(coord) + " / " + nearest);
      const Attributes a = Attrs({{"mode", std::string("nearest")},
                                  {"coordinate_transformation_mode", std::string(coord)},
                                  {"nearest_mode", std::string(nearest)}});
      ExpectOpMatches(OpType::kResize, a, WithScales(x, {1, 1, 2.0f, 1.5f}), 1, 18);  // upscale
      ExpectOpMatches(OpType::kResize, a, WithScales(x, {1, 1, 0.6f, 0.5f}), 1, 18);  // downscale
      ExpectOpMatches(OpType::kResize, a, WithSizes(x, {1, 2, 8, 3}), 1, 18);         // mixed, by sizes
    }
  }
}

TEST(CudaTensorOps, ResizeNearestDtypesAndCrop) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType t : {DataType::kInt64, DataType::kUInt8, DataType::kFloat32}) {
    SCOPED_TRACE(DataTypeName(t));
    ExpectOpMatches(OpType::kResize, {}, WithScales(Rand(t, {2, 3, 4}, 131), {1, 2, 3}), 1, 18);
    ExpectOpMatches(OpType::kResize, {}, WithSizes(Rand(t, {1, 1, 6, 6}, 132), {1, 1, 4, 9}), 1, 18);
  }
  // tf_crop_and_resize with an roi partly outside the input: extrapolation_value.
  const Attributes crop =
      Attrs({{"coordinate_transformation_mode", std::string("tf_crop_and_resize")}, {"extrapolation_value", 3.5f}});
  ExpectOpMatches(OpType::kResize, crop,
                  {Data(Rand(DataType::kFloat32, {1, 1, 4, 5}, 133)), Const(F32({0, 0, -0.2f, 0.1f, 1, 1, 0.9f, 1.3f})),
                   Absent(), Const(I64({1, 1, 5, 6}))},
                  1, 18);
  // axes attribute and keep_aspect_ratio_policy.
  ExpectOpMatches(
      OpType::kResize,
      Attrs({{"axes", std::vector<int64_t>{2, 3}}, {"keep_aspect_ratio_policy", std::string("not_larger")}}),
      {Data(Rand(DataType::kFloat32, {1, 2, 4, 6}, 134)), Absent(), Absent(), Const(I64({7, 7}))}, 1, 18);
}

TEST(CudaTensorOps, ResizeLinear) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Rand(DataType::kFloat32, {2, 3, 5, 6}, 140);
  for (const char* coord :
       {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"}) {
    SCOPED_TRACE(coord);
    const Attributes a =
        Attrs({{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string(coord)}});
    ExpectOpMatches(OpType::kResize, a, WithScales(x, {1, 1, 2.0f, 1.5f}), 1, 18);
    ExpectOpMatches(OpType::kResize, a, WithScales(x, {1, 1, 0.5f, 0.7f}), 1, 18);
    ExpectOpMatches(OpType::kResize, a, WithSizes(x, {2, 3, 1, 11}), 1, 18);
  }
  // Trilinear on a 5-D input, and linear over a non-spatial axis.
  const Attributes lin = Attrs({{"mode", std::string("linear")}});
  ExpectOpMatches(OpType::kResize, lin, WithSizes(Rand(DataType::kFloat32, {1, 2, 3, 4, 5}, 141), {1, 2, 5, 3, 8}), 1,
                  18);
  ExpectOpMatches(OpType::kResize, lin, WithSizes(Rand(DataType::kFloat32, {4, 3}, 142), {7, 5}), 1, 18);
  // tf_crop_and_resize with extrapolation.
  ExpectOpMatches(OpType::kResize,
                  Attrs({{"mode", std::string("linear")},
                         {"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
                         {"extrapolation_value", -1.0f}}),
                  {Data(Rand(DataType::kFloat32, {1, 1, 4, 5}, 143)), Const(F32({0, 0, 0.1f, -0.3f, 1, 1, 1.2f, 0.8f})),
                   Absent(), Const(I64({1, 1, 6, 4}))},
                  1, 18);
  // Antialiased downscale.
  ExpectOpMatches(OpType::kResize, Attrs({{"mode", std::string("linear")}, {"antialias", int64_t{1}}}),
                  WithScales(Rand(DataType::kFloat32, {1, 2, 12, 10}, 144), {1, 1, 0.25f, 0.6f}), 1, 18);
}

TEST(CudaTensorOps, ResizeCubic) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Rand(DataType::kFloat32, {1, 2, 6, 7}, 150);
  const Attributes cubic = Attrs({{"mode", std::string("cubic")}});
  ExpectOpMatches(OpType::kResize, cubic, WithScales(x, {1, 1, 2.0f, 1.7f}), 1, 18);
  ExpectOpMatches(OpType::kResize, cubic, WithScales(x, {1, 1, 0.5f, 0.6f}), 1, 18);
  ExpectOpMatches(OpType::kResize,
                  Attrs({{"mode", std::string("cubic")},
                         {"cubic_coeff_a", -0.5f},
                         {"exclude_outside", int64_t{1}},
                         {"coordinate_transformation_mode", std::string("align_corners")}}),
                  WithSizes(x, {1, 2, 9, 4}), 1, 18);
  ExpectOpMatches(
      OpType::kResize,
      Attrs({{"mode", std::string("cubic")}, {"coordinate_transformation_mode", std::string("asymmetric")}}),
      WithScales(x, {1, 1, 1.5f, 2.0f}), 1, 18);
  ExpectOpMatches(OpType::kResize, Attrs({{"mode", std::string("cubic")}, {"antialias", int64_t{1}}}),
                  WithScales(Rand(DataType::kFloat32, {1, 1, 16, 9}, 151), {1, 1, 0.3f, 0.5f}), 1, 18);
}

TEST(CudaTensorOps, UpsampleAndResize10) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  const Tensor x = Rand(DataType::kFloat32, {1, 2, 3, 4}, 160);
  // Upsample-9: scales input.
  ExpectOpMatches(OpType::kUpsample, {}, {Data(x), Const(F32({1, 1, 2, 3}))}, 1, 9);
  ExpectOpMatches(OpType::kUpsample, Attrs({{"mode", std::string("linear")}}), {Data(x), Const(F32({1, 1, 2.5f, 2}))},
                  1, 9);
  ExpectOpMatches(OpType::kUpsample, {}, {Data(Rand(DataType::kUInt8, {2, 3}, 161)), Const(F32({2, 2}))}, 1, 9);
  // Upsample-7: scales attribute.
  ExpectOpMatches(OpType::kUpsample,
                  Attrs({{"mode", std::string("bilinear")}, {"scales", std::vector<float>{1, 1, 2, 2}}}), {Data(x)}, 1,
                  7);
  // Resize-10: (X, scales), nearest shrinking rounds up.
  ExpectOpMatches(OpType::kResize, {}, {Data(x), Const(F32({1, 1, 0.5f, 0.75f}))}, 1, 10);
  ExpectOpMatches(OpType::kResize, Attrs({{"mode", std::string("linear")}}), {Data(x), Const(F32({1, 1, 2, 0.5f}))}, 1,
                  10);
}

// ---- Resize: nearest integer up-scaling ---------------------------------------------------------
//
// The integer path (kernels_tensor_resize.cu: "nearest-integer-expand" / "nearest-integer-rows")
// is checked byte for byte against the CPU reference run on the same dtype (float16 included, so
// no tolerance hides a wrong index), with the kernel created outside an engine so that the test
// also asserts which path was taken, and with guard bytes around the output that must stay
// untouched (tails and misaligned pointers). The engine-level checks (ExpectOpMatches, FP32 and
// FP16 engines, poisoned arena) follow.

// Random data of any moved dtype: float16 from random floats, the others as Rand.
Tensor RandAny(DataType dtype, Shape shape, uint32_t seed) {
  if (dtype != DataType::kFloat16) return Rand(dtype, std::move(shape), seed);
  const Tensor f = Rand(DataType::kFloat32, shape, seed);
  Tensor h = *Tensor::Create(DataType::kFloat16, std::move(shape));
  for (int64_t i = 0; i < f.num_elements(); ++i) h.data<uint16_t>()[i] = FloatToHalf(f.data<float>()[i]);
  return h;
}

// Attributes of a Resize-13+ nearest node with the given coordinate and nearest modes.
Attributes NearestAttrs(const std::string& coord, const std::string& nearest) {
  return Attrs(
      {{"mode", std::string("nearest")}, {"coordinate_transformation_mode", coord}, {"nearest_mode", nearest}});
}
Attributes YoloAttrs() { return NearestAttrs("asymmetric", "floor"); }

// Device memory freed at scope exit.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory() {
    for (void* p : blocks_) cudaFree(p);
  }
  void* Alloc(size_t bytes) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(bytes, 1)), cudaSuccess);
    if (p != nullptr) blocks_.push_back(p);
    return p;
  }

 private:
  std::vector<void*> blocks_;
};

constexpr size_t kGuardBytes = 64;
constexpr unsigned char kGuard = 0xA5;

// One Resize/Upsample node's CUDA kernel created outside an engine, and everything the kernel
// points to (so it is neither copied nor moved): every present input uploaded `offset_bytes` past
// a 256-byte aligned address, and the output (unwritten) at `output.data`, `offset_bytes` +
// `guard_bytes` into `block` (offset + guard + output + guard bytes, allocated too). Device memory
// belongs to the caller's DeviceMemory, which must outlive the setup.
struct ResizeKernelSetup {
  ResizeKernelSetup() = default;
  ResizeKernelSetup(const ResizeKernelSetup&) = delete;
  ResizeKernelSetup& operator=(const ResizeKernelSetup&) = delete;

  Attributes attrs;  // what `op` refers to
  std::vector<ValueInfo> infos;
  std::vector<cuda::CudaTensor> tensors;  // one per argument; data null for an absent one
  std::unique_ptr<OpContext> op;
  cuda::CudaTensor output;
  char* block = nullptr;
  size_t block_bytes = 0;
  cuda::CudaResources resources;
  cuda::CudaKernelPtr kernel;  // CreateResizeKernel's (declared last: destroyed first)
};

// Fills `setup` for the node (`out_shape` its output's shape, the data input's dtype) and creates
// its kernel with `allow_integer_path`. Call under ASSERT_NO_FATAL_FAILURE.
void MakeResizeKernel(OpType op_type, const Attributes& attrs, const std::vector<OpArg>& args, int opset,
                      bool allow_integer_path, const Shape& out_shape, size_t offset_bytes, size_t guard_bytes,
                      DeviceMemory* memory, ResizeKernelSetup* setup) {
  setup->attrs = attrs;
  setup->infos.assign(args.size(), ValueInfo{});
  setup->tensors.assign(args.size(), cuda::CudaTensor{});
  std::vector<const ValueInfo*> ptrs(args.size(), nullptr);
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].value.defined()) continue;
    const Tensor& v = args[i].value;
    setup->infos[i] = ValueInfo{v.dtype(), v.shape(), args[i].constant ? &v : nullptr};
    ptrs[i] = &setup->infos[i];
    cuda::CudaTensor& t = setup->tensors[i];
    t.dtype = v.dtype();
    t.shape = v.shape();
    t.host = args[i].constant ? &v : nullptr;
    char* base = static_cast<char*>(memory->Alloc(v.bytes() + offset_bytes));
    ASSERT_NE(base, nullptr);
    t.data = base + offset_bytes;
    ASSERT_EQ(cudaMemcpy(t.data, v.raw(), v.bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  setup->op = std::make_unique<OpContext>(op_type, "resize", setup->attrs, opset, ptrs, 1);
  setup->output.dtype = args[0].value.dtype();
  setup->output.shape = out_shape;
  setup->block_bytes = offset_bytes + guard_bytes + setup->output.bytes() + guard_bytes;
  setup->block = static_cast<char*>(memory->Alloc(setup->block_bytes));
  ASSERT_NE(setup->block, nullptr);
  setup->output.data = setup->block + offset_bytes + guard_bytes;
  cuda::CudaOpContext ctx;
  ctx.op = setup->op.get();
  for (const cuda::CudaTensor& t : setup->tensors) ctx.inputs.push_back(t.data != nullptr ? &t : nullptr);
  ctx.outputs.push_back(&setup->output);
  ctx.resources = &setup->resources;
  StatusOr<cuda::CudaKernelPtr> kernel = cuda::CreateResizeKernel(ctx, allow_integer_path);
  ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
  setup->kernel = std::move(*kernel);
}

// One Resize/Upsample node run by its CUDA kernel outside an engine (MakeResizeKernel): the data
// input and the output sit `offset_bytes` past a 256-byte aligned address (misaligned pointers
// when not a multiple of 16), the output between guard bytes. `path` gets ResizeKernelPath,
// `describe` the kernel's Describe(), `got` the output bytes as a tensor of the reference's dtype
// and shape.
struct ResizeRun {
  std::string path;
  std::string describe;
  Tensor got;
};

void RunResizeKernel(OpType op_type, const Attributes& attrs, const std::vector<OpArg>& args, int opset,
                     bool allow_integer_path, const Shape& out_shape, size_t offset_bytes, DeviceMemory* memory,
                     ResizeRun* run) {
  ResizeKernelSetup setup;
  ASSERT_NO_FATAL_FAILURE(MakeResizeKernel(op_type, attrs, args, opset, allow_integer_path, out_shape, offset_bytes,
                                           kGuardBytes, memory, &setup));
  const cuda::CudaTensor& output = setup.output;
  char* base = setup.block;
  const size_t bytes = output.bytes();
  const size_t total = setup.block_bytes;
  const char* path = cuda::ResizeKernelPath(*setup.kernel);
  ASSERT_NE(path, nullptr);
  run->path = path;
  run->describe = setup.kernel->Describe();
  // Guards around the output; the output itself poisoned (0xFF bytes: NaN in float16/float32).
  ASSERT_EQ(cudaMemset(base, kGuard, total), cudaSuccess);
  ASSERT_EQ(cudaMemset(output.data, 0xFF, bytes), cudaSuccess);
  const Status s = setup.kernel->Enqueue(nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<unsigned char> host(total);
  ASSERT_EQ(cudaMemcpy(host.data(), base, total, cudaMemcpyDeviceToHost), cudaSuccess);
  for (size_t i = offset_bytes; i < offset_bytes + kGuardBytes; ++i) {
    ASSERT_EQ(host[i], kGuard) << "byte " << (offset_bytes + kGuardBytes - i) << " before the output was written ("
                               << run->describe << ")";
  }
  for (size_t i = offset_bytes + kGuardBytes + bytes; i < total; ++i) {
    ASSERT_EQ(host[i], kGuard) << "byte " << (i - offset_bytes - kGuardBytes - bytes)
                               << " after the output was written (" << run->describe << ")";
  }
  run->got = *Tensor::Create(output.dtype, out_shape);
  std::memcpy(run->got.raw(), host.data() + offset_bytes + kGuardBytes, bytes);
}

// The CPU reference of the node, then its CUDA kernel (integer path allowed) compared byte for
// byte; returns the path taken in `path`.
void ExpectResizeExact(OpType op_type, const Attributes& attrs, const std::vector<OpArg>& args, int opset,
                       size_t offset_bytes, std::string* path) {
  StatusOr<std::vector<Tensor>> want = RunSingleOp(op_type, attrs, args, 1, opset, "resize");
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  const Tensor& ref = (*want)[0];
  DeviceMemory memory;
  ResizeRun run;
  ASSERT_NO_FATAL_FAILURE(RunResizeKernel(op_type, attrs, args, opset, true, ref.shape(), offset_bytes, &memory, &run));
  *path = run.path;
  ASSERT_EQ(run.got.dtype(), ref.dtype());
  ASSERT_EQ(run.got.bytes(), ref.bytes());
  const size_t elem = DataTypeSize(ref.dtype());
  const auto* g = static_cast<const unsigned char*>(run.got.raw());
  const auto* w = static_cast<const unsigned char*>(ref.raw());
  for (int64_t i = 0; i < ref.num_elements(); ++i) {
    if (std::memcmp(g + i * elem, w + i * elem, elem) != 0) {
      ADD_FAILURE() << run.describe << ": output element " << i << " of " << ShapeToString(ref.shape())
                    << " differs from the CPU reference";
      return;
    }
  }
}

// What a case expects of the path: the integer path (either kernel), a named integer kernel, the
// generic kernel, or nothing asserted (the host check decides).
enum class Expect { kInteger, kRows, kExpand, kGeneric, kAny };

void CheckPath(const std::string& path, Expect expect) {
  switch (expect) {
    case Expect::kInteger:
      EXPECT_EQ(path.rfind("nearest-integer", 0), 0u) << path;
      break;
    case Expect::kRows:
      EXPECT_EQ(path, "nearest-integer-rows");
      break;
    case Expect::kExpand:
      EXPECT_EQ(path, "nearest-integer-expand");
      break;
    case Expect::kGeneric:
      EXPECT_EQ(path, "nearest");
      break;
    case Expect::kAny:
      break;
  }
}

const DataType kResizeTypes[] = {DataType::kFloat16, DataType::kFloat32, DataType::kInt64, DataType::kUInt8};

TEST(CudaTensorOps, ResizeNearestIntegerLayoutsAndDtypes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Case {
    Shape shape;
    std::vector<float> scales;
    Expect expect;        // for every dtype
    size_t offset_elems;  // data and output pointers this many elements past an aligned address
  };
  const Case cases[] = {
      {{2, 5, 6, 8}, {1, 1, 2, 2}, Expect::kExpand, 0},         // NCHW, f = 2
      {{2, 5, 6, 8}, {1, 2, 2, 1}, Expect::kRows, 0},           // NHWC, C = 8
      {{2, 4, 5, 6}, {1, 1, 3, 3}, Expect::kRows, 0},           // NCHW, f = 3: element chunks
      {{2, 4, 5, 6}, {1, 3, 3, 1}, Expect::kRows, 0},           // NHWC, f = 3
      {{2, 3, 4, 5}, {1, 1, 2, 3}, Expect::kRows, 0},           // mixed factors, last 3
      {{2, 3, 4, 6}, {1, 1, 3, 2}, Expect::kExpand, 0},         // mixed factors, last 2
      {{2, 3, 4, 4}, {1, 1, 4, 4}, Expect::kInteger, 0},        // f = 4 (expand where 4 elements fit)
      {{2, 5, 6, 3}, {1, 2, 2, 1}, Expect::kRows, 0},           // C = 3: narrow chunks
      {{2, 5, 6, 5}, {1, 2, 2, 1}, Expect::kRows, 0},           // C = 5
      {{1, 2, 3, 5}, {1, 1, 2, 2}, Expect::kExpand, 0},         // odd width: narrow vectors
      {{1, 3, 7, 9}, {1, 1, 2, 2}, Expect::kInteger, 0},        // odd width 9
      {{2, 5, 6, 8}, {1, 2, 2, 1}, Expect::kRows, 1},           // misaligned pointers
      {{2, 5, 6, 8}, {1, 1, 2, 2}, Expect::kInteger, 1},        // misaligned pointers, NCHW
      {{2, 3, 5, 6}, {1, 1, 2, 2}, Expect::kInteger, 3},        // misaligned by 3 elements
      {{7}, {2}, Expect::kExpand, 0},                           // 1-D
      {{37}, {4}, Expect::kInteger, 0},                         // 1-D, f = 4
      {{19}, {3}, Expect::kRows, 0},                            // 1-D, f = 3
      {{2, 3, 4, 5, 6}, {1, 1, 2, 2, 2}, Expect::kExpand, 0},   // NCDHW
      {{2, 3, 4, 5, 6}, {1, 2, 2, 2, 1}, Expect::kRows, 0},     // NDHWC
      {{2, 3, 4, 5}, {1, 2, 1, 2}, Expect::kExpand, 0},         // an unchanged axis inside the span
      {{2, 3, 4, 5}, {2, 2, 1, 1}, Expect::kRows, 0},           // leading axes, inner 20
      {{2, 3, 4, 5}, {2, 1, 1, 2}, Expect::kGeneric, 0},        // span of 4 axes: generic
      {{2, 3, 4, 5}, {1, 1, 0.5f, 0.6f}, Expect::kGeneric, 0},  // downscale: generic
      {{2, 3, 4, 5}, {1, 1, 1, 1}, Expect::kGeneric, 0},        // nothing resized: generic
      {{2, 3, 4, 5}, {1, 1, 2, 1.5f}, Expect::kGeneric, 0},     // a non-integer factor: generic
  };
  uint32_t seed = 180;
  for (const Case& c : cases) {
    for (DataType t : kResizeTypes) {
      std::string scales;
      for (float f : c.scales) scales += (scales.empty() ? "" : ",") + std::to_string(f);
      SCOPED_TRACE(ShapeToString(c.shape) + " scales [" + scales + "] " + DataTypeName(t) + " offset " +
                   std::to_string(c.offset_elems));
      std::string path;
      ASSERT_NO_FATAL_FAILURE(ExpectResizeExact(OpType::kResize, YoloAttrs(),
                                                WithScales(RandAny(t, c.shape, seed++), c.scales), 18,
                                                c.offset_elems * DataTypeSize(t), &path));
      CheckPath(path, c.expect);
    }
  }
}

TEST(CudaTensorOps, ResizeNearestIntegerCoordinateModes) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  // Every coordinate mode times every nearest mode, f = 2 and f = 3, NCHW and NHWC, float16: exact
  // against the CPU whichever path the host check picks; where the source map provably differs
  // from x / f the generic kernel must be taken.
  const Tensor nchw = RandAny(DataType::kFloat16, {2, 3, 6, 8}, 200);
  const Tensor nhwc = RandAny(DataType::kFloat16, {2, 6, 8, 3}, 201);
  for (const char* coord :
       {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"}) {
    for (const char* nearest : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
      for (float f : {2.0f, 3.0f}) {
        const std::string c = coord, n = nearest;
        Expect expect = Expect::kAny;
        if (c == "asymmetric" && n == "floor") expect = Expect::kInteger;     // torch's export
        if (c == "asymmetric" && n == "ceil") expect = Expect::kGeneric;      // x = 1 reads 1
        if (c == "half_pixel" && n == "floor") expect = Expect::kGeneric;     // x = 2 reads 0
        if (c == "align_corners" && n == "floor") expect = Expect::kGeneric;  // x = 2 reads 0
        if (c == "align_corners" && n == "ceil") expect = Expect::kGeneric;   // x = 1 reads 1
        SCOPED_TRACE(c + " / " + n + " f = " + std::to_string(f));
        std::string path;
        ASSERT_NO_FATAL_FAILURE(
            ExpectResizeExact(OpType::kResize, NearestAttrs(c, n), WithScales(nchw, {1, 1, f, f}), 18, 0, &path));
        CheckPath(path, expect);
        ASSERT_NO_FATAL_FAILURE(
            ExpectResizeExact(OpType::kResize, NearestAttrs(c, n), WithScales(nhwc, {1, f, f, 1}), 18, 0, &path));
        CheckPath(path, expect);
      }
    }
  }
  // Sizes instead of scales (scale = out / in), and the default attributes (half_pixel,
  // round_prefer_floor: the host check decides).
  std::string path;
  ASSERT_NO_FATAL_FAILURE(
      ExpectResizeExact(OpType::kResize, YoloAttrs(), WithSizes(nchw, {2, 3, 12, 16}), 18, 0, &path));
  CheckPath(path, Expect::kInteger);
  ASSERT_NO_FATAL_FAILURE(ExpectResizeExact(OpType::kResize, {}, WithScales(nhwc, {1, 2, 2, 1}), 18, 0, &path));
  // tf_crop_and_resize never takes the integer path, even with a whole-image roi.
  ASSERT_NO_FATAL_FAILURE(ExpectResizeExact(
      OpType::kResize, Attrs({{"coordinate_transformation_mode", std::string("tf_crop_and_resize")}}),
      {Data(nchw), Const(F32({0, 0, 0, 0, 1, 1, 1, 1})), Absent(), Const(I64({2, 3, 12, 16}))}, 18, 0, &path));
  CheckPath(path, Expect::kGeneric);
  // Upsample-9 and Resize-10 (asymmetric, truncation): integer for whole factors.
  ASSERT_NO_FATAL_FAILURE(
      ExpectResizeExact(OpType::kUpsample, {}, {Data(nchw), Const(F32({1, 1, 2, 2}))}, 9, 0, &path));
  CheckPath(path, Expect::kInteger);
  ASSERT_NO_FATAL_FAILURE(ExpectResizeExact(OpType::kResize, {}, {Data(nhwc), Const(F32({1, 3, 3, 1}))}, 10, 0, &path));
  CheckPath(path, Expect::kInteger);
}

// YOLO's two upsampling layers (torch export: asymmetric + floor, scales [1, 1, 2, 2]), NCHW and
// the channels-last form of the same network: the integer path must be taken.
TEST(CudaTensorOps, ResizeNearestIntegerPathTakenForYolo) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  std::string path;
  ASSERT_NO_FATAL_FAILURE(
      ExpectResizeExact(OpType::kResize, YoloAttrs(),
                        WithScales(RandAny(DataType::kFloat16, {1, 128, 40, 40}, 210), {1, 1, 2, 2}), 13, 0, &path));
  EXPECT_EQ(path, "nearest-integer-expand");
  ASSERT_NO_FATAL_FAILURE(
      ExpectResizeExact(OpType::kResize, YoloAttrs(),
                        WithScales(RandAny(DataType::kFloat16, {1, 40, 40, 128}, 211), {1, 2, 2, 1}), 13, 0, &path));
  EXPECT_EQ(path, "nearest-integer-rows");
}

// Through the engines (FP32 and FP16, poisoned arena), against the CPU engine.
TEST(CudaTensorOps, ResizeNearestIntegerInEngines) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  for (DataType t : {DataType::kFloat32, DataType::kInt64, DataType::kUInt8}) {
    SCOPED_TRACE(DataTypeName(t));
    ExpectOpMatches(OpType::kResize, YoloAttrs(), WithScales(Rand(t, {2, 8, 5, 6}, 220), {1, 1, 2, 2}), 1, 18);
    ExpectOpMatches(OpType::kResize, YoloAttrs(), WithScales(Rand(t, {2, 5, 6, 8}, 221), {1, 2, 2, 1}), 1, 18);
    ExpectOpMatches(OpType::kResize, YoloAttrs(), WithScales(Rand(t, {2, 5, 6, 3}, 222), {1, 3, 3, 1}), 1, 18);
    ExpectOpMatches(OpType::kUpsample, {}, {Data(Rand(t, {1, 3, 5, 7}, 223)), Const(F32({1, 1, 2, 2}))}, 1, 9);
  }
}

// Time of the integer path and of the generic kernel on YOLOv8n's larger upsampling at batch 32,
// float16 (printed, never asserted): [32, 40, 40, 128] -> [32, 80, 80, 128] channels-last, and its
// NCHW form. The two outputs must agree byte for byte (the generic kernel is checked against the
// CPU above); one "[ resize-time ] <case> <path> <ms>" line per kernel: 3 warm-up launches, the
// median of 21 between CUDA events.
TEST(CudaTensorOps, TimeResizeNearestIntegerVsGeneric) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct TimeCase {
    const char* name;
    Shape in;
    std::vector<float> scales;
  };
  const TimeCase cases[] = {
      {"nhwc-32x40x40x128-fp16", {32, 40, 40, 128}, {1, 2, 2, 1}},
      {"nchw-32x128x40x40-fp16", {32, 128, 40, 40}, {1, 1, 2, 2}},
  };
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  for (const TimeCase& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor x = *Tensor::Create(DataType::kFloat16, c.in);
    auto* bits = static_cast<uint16_t*>(x.raw());
    for (int64_t i = 0; i < x.num_elements(); ++i) bits[i] = static_cast<uint16_t>((i * 2654435761u) >> 20) & 0x7bff;
    const std::vector<OpArg> args = WithScales(x, c.scales);
    Shape out = c.in;
    for (size_t d = 0; d < out.size(); ++d) out[d] = static_cast<int64_t>(out[d] * c.scales[d]);
    std::vector<unsigned char> outputs[2];
    for (int fast = 1; fast >= 0; --fast) {
      DeviceMemory memory;
      ResizeKernelSetup setup;  // no offset, no guard bytes: the output is a whole allocation
      ASSERT_NO_FATAL_FAILURE(
          MakeResizeKernel(OpType::kResize, YoloAttrs(), args, 18, fast == 1, out, 0, 0, &memory, &setup));
      const cuda::CudaTensor& output = setup.output;
      cuda::CudaKernel& kernel = *setup.kernel;
      const std::string path = cuda::ResizeKernelPath(kernel);
      if (fast == 1) {
        EXPECT_EQ(path.rfind("nearest-integer", 0), 0u) << path;
      } else {
        EXPECT_EQ(path, "nearest");
      }
      ASSERT_EQ(cudaMemset(output.data, 0xFF, output.bytes()), cudaSuccess);
      for (int i = 0; i < 3; ++i) ASSERT_TRUE(kernel.Enqueue(stream).ok());
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      cudaEvent_t start = nullptr, stop = nullptr;
      ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
      ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
      std::vector<float> times;
      for (int i = 0; i < 21; ++i) {
        EXPECT_EQ(cudaEventRecord(start, stream), cudaSuccess);
        EXPECT_TRUE(kernel.Enqueue(stream).ok());
        EXPECT_EQ(cudaEventRecord(stop, stream), cudaSuccess);
        float ms = 0;
        if (cudaEventSynchronize(stop) == cudaSuccess && cudaEventElapsedTime(&ms, start, stop) == cudaSuccess) {
          times.push_back(ms);
        }
      }
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
      ASSERT_EQ(times.size(), 21u);
      std::sort(times.begin(), times.end());
      std::printf("[ resize-time ] %s %s %.4f  (%s)\n", c.name, path.c_str(), times[times.size() / 2],
                  kernel.Describe().c_str());
      std::fflush(stdout);
      outputs[fast].resize(output.bytes());
      ASSERT_EQ(cudaMemcpy(outputs[fast].data(), output.data, output.bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    }
    EXPECT_TRUE(outputs[0] == outputs[1]) << "integer path and generic kernel disagree";
  }
  cudaStreamDestroy(stream);
}

// ---- CUDA graphs ----------------------------------------------------------------------------------

// Copies (cudaMemcpyAsync), multi-launch kernels and workspace users replayed from a CUDA graph.
TEST(CudaTensorOps, CapturedInCudaGraphs) {
  EDGERT_REQUIRE_CUDA_DEVICE();
  struct Case {
    OpType op;
    Attributes attrs;
    std::vector<OpArg> args;
    size_t outputs;
  };
  const Tensor x = Rand(DataType::kFloat32, {2, 4, 6, 8}, 170);
  const Case cases[] = {
      {OpType::kReshape, {}, {Data(x), Const(I64({8, -1}))}, 1},
      {OpType::kSlice, {}, {Data(x), Const(I64({1})), Const(I64({2})), Const(I64({0}))}, 1},
      {OpType::kConcat, Attrs({{"axis", int64_t{1}}}), {Data(x), Data(x), Data(x)}, 1},
      {OpType::kSplit, Attrs({{"axis", int64_t{3}}}), {Data(x)}, 2},
      {OpType::kResize, Attrs({{"mode", std::string("linear")}}), WithScales(x, {1, 1, 1.5f, 0.5f}), 1},
      {OpType::kResize, YoloAttrs(), WithScales(x, {1, 1, 2, 2}), 1},  // integer up-scaling
      {OpType::kResize, YoloAttrs(), WithScales(x, {1, 2, 2, 1}), 1},
      {OpType::kDropout, {}, {Data(x)}, 2},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(static_cast<int>(c.op)));
    StatusOr<SingleOpNetwork> single = BuildSingleOp(c.op, c.attrs, c.args, c.outputs, 18, "op");
    ASSERT_TRUE(single.ok()) << single.status().ToString();
    for (Precision p : {Precision::kFp32, Precision::kFp16}) {
      ExpectCudaMatchesCpu(single->net, single->feeds, p, -1, /*cuda_graphs=*/true);
    }
  }
}

}  // namespace
}  // namespace testing
}  // namespace edgert
