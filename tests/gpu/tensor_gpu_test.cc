// CUDA tensor family (kernels_tensor*.cu): every operator against the CPU reference through
// ExpectOpMatches (FP32, and FP16 when the data is float32), with small tensors and the main
// attribute variants, in float32, int64 and 1-byte dtypes. Data inputs are network inputs (runtime
// values); parameters (shapes, starts, pads, scales...) are build-time constants.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gpu_test_util.h"

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
