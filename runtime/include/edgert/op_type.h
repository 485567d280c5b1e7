// The operator registry table: every operator edgert knows, with the numeric id that plans store.
//
// Contract: ids are fixed forever (a plan written today must load tomorrow); new operators take new
// ids at the end. The table below is the only list of operators; a static_assert keeps its size in
// step with the enum, and every `switch` over OpType has no `default` so the compiler names a
// missing case.
#pragma once

#include <cstdint>
#include <string_view>

namespace edgert {

enum class OpType : uint16_t {
  // Convolution, normalisation, pooling, linear algebra.
  kConv = 1,
  kConvTranspose = 2,
  kBatchNormalization = 3,
  kInstanceNormalization = 4,
  kLayerNormalization = 5,
  kMaxPool = 6,
  kAveragePool = 7,
  kGlobalAveragePool = 8,
  kGlobalMaxPool = 9,
  kGemm = 10,
  kMatMul = 11,
  kSoftmax = 12,
  kLogSoftmax = 13,
  // Activations and unary math.
  kRelu = 20,
  kLeakyRelu = 21,
  kPRelu = 22,
  kClip = 23,
  kSigmoid = 24,
  kTanh = 25,
  kHardSigmoid = 26,
  kHardSwish = 27,
  kElu = 28,
  kSelu = 29,
  kSoftplus = 30,
  kErf = 31,
  kGelu = 32,
  kMish = 33,
  kSqrt = 34,
  kExp = 35,
  kLog = 36,
  kNeg = 37,
  kAbs = 38,
  kReciprocal = 39,
  kFloor = 40,
  kCeil = 41,
  kNot = 42,
  // Binary and variadic elementwise with broadcasting.
  kAdd = 50,
  kSub = 51,
  kMul = 52,
  kDiv = 53,
  kPow = 54,
  kMin = 55,
  kMax = 56,
  kSum = 57,
  kMean = 58,
  kEqual = 59,
  kLess = 60,
  kGreater = 61,
  kLessOrEqual = 62,
  kGreaterOrEqual = 63,
  kAnd = 64,
  kOr = 65,
  kWhere = 66,
  // Reductions and selection.
  kReduceMean = 70,
  kReduceSum = 71,
  kReduceMax = 72,
  kReduceMin = 73,
  kReduceProd = 74,
  kArgMax = 75,
  kArgMin = 76,
  kTopK = 77,
  // Shape and data movement.
  kFlatten = 90,
  kReshape = 91,
  kTranspose = 92,
  kSqueeze = 93,
  kUnsqueeze = 94,
  kConcat = 95,
  kSplit = 96,
  kSlice = 97,
  kGather = 98,
  kExpand = 99,
  kTile = 100,
  kPad = 101,
  kResize = 102,
  kUpsample = 103,
  kDepthToSpace = 104,
  kSpaceToDepth = 105,
  kShape = 106,
  kCast = 107,
  kConstantOfShape = 108,
  kIdentity = 109,
  kDropout = 110,
  kRange = 111,
  // edgert's own fused operators (ids from 120; never in an ONNX model).
  kFusedElementwise = 120,
  // Quantization (explicit Q/DQ models and the builder's simulated INT8), appended after the
  // fused operators: ids are never reused or renumbered.
  kQuantizeLinear = 121,
  kDequantizeLinear = 122,
  // INT8 execution: the builder's lowering of the convolutions that stay INT8 (ops/int8_conv.h).
  kInt8Conv = 123,
  kQuantizeNhwc = 124,  // float NCHW -> int8 NHWC in one pass, in front of INT8 layers
  // Channels-last float layers: the builder's layout pass for FP16 builds (ops/nhwc.h).
  kConvNhwc = 125,
  kMaxPoolNhwc = 126,
  // Squeeze-and-excitation block as one layer (ops/squeeze_excite.h), written by the builder.
  kSqueezeExcite = 127,
};

struct OpInfo {
  OpType type;
  std::string_view name;  // the ONNX op_type it imports (default domain)
  uint8_t min_inputs;     // counting optional inputs that are left empty
  uint8_t max_inputs;     // kVariadic for "any number"
  uint8_t min_outputs;
  uint8_t max_outputs;    // kVariadic for "any number"
};

inline constexpr uint8_t kVariadic = 255;

inline constexpr OpInfo kOpTable[] = {
    {OpType::kConv, "Conv", 2, 4, 1, 1},  // 4th input: fused residual (fused_activation.h)
    {OpType::kConvTranspose, "ConvTranspose", 2, 3, 1, 1},
    {OpType::kBatchNormalization, "BatchNormalization", 5, 5, 1, 3},
    {OpType::kInstanceNormalization, "InstanceNormalization", 3, 3, 1, 1},
    {OpType::kLayerNormalization, "LayerNormalization", 2, 3, 1, 3},
    {OpType::kMaxPool, "MaxPool", 1, 1, 1, 2},
    {OpType::kAveragePool, "AveragePool", 1, 1, 1, 1},
    {OpType::kGlobalAveragePool, "GlobalAveragePool", 1, 1, 1, 1},
    {OpType::kGlobalMaxPool, "GlobalMaxPool", 1, 1, 1, 1},
    {OpType::kGemm, "Gemm", 2, 3, 1, 1},
    {OpType::kMatMul, "MatMul", 2, 2, 1, 1},
    {OpType::kSoftmax, "Softmax", 1, 1, 1, 1},
    {OpType::kLogSoftmax, "LogSoftmax", 1, 1, 1, 1},
    {OpType::kRelu, "Relu", 1, 1, 1, 1},
    {OpType::kLeakyRelu, "LeakyRelu", 1, 1, 1, 1},
    {OpType::kPRelu, "PRelu", 2, 2, 1, 1},
    {OpType::kClip, "Clip", 1, 3, 1, 1},
    {OpType::kSigmoid, "Sigmoid", 1, 1, 1, 1},
    {OpType::kTanh, "Tanh", 1, 1, 1, 1},
    {OpType::kHardSigmoid, "HardSigmoid", 1, 1, 1, 1},
    {OpType::kHardSwish, "HardSwish", 1, 1, 1, 1},
    {OpType::kElu, "Elu", 1, 1, 1, 1},
    {OpType::kSelu, "Selu", 1, 1, 1, 1},
    {OpType::kSoftplus, "Softplus", 1, 1, 1, 1},
    {OpType::kErf, "Erf", 1, 1, 1, 1},
    {OpType::kGelu, "Gelu", 1, 1, 1, 1},
    {OpType::kMish, "Mish", 1, 1, 1, 1},
    {OpType::kSqrt, "Sqrt", 1, 1, 1, 1},
    {OpType::kExp, "Exp", 1, 1, 1, 1},
    {OpType::kLog, "Log", 1, 1, 1, 1},
    {OpType::kNeg, "Neg", 1, 1, 1, 1},
    {OpType::kAbs, "Abs", 1, 1, 1, 1},
    {OpType::kReciprocal, "Reciprocal", 1, 1, 1, 1},
    {OpType::kFloor, "Floor", 1, 1, 1, 1},
    {OpType::kCeil, "Ceil", 1, 1, 1, 1},
    {OpType::kNot, "Not", 1, 1, 1, 1},
    {OpType::kAdd, "Add", 2, 2, 1, 1},
    {OpType::kSub, "Sub", 2, 2, 1, 1},
    {OpType::kMul, "Mul", 2, 2, 1, 1},
    {OpType::kDiv, "Div", 2, 2, 1, 1},
    {OpType::kPow, "Pow", 2, 2, 1, 1},
    {OpType::kMin, "Min", 1, kVariadic, 1, 1},
    {OpType::kMax, "Max", 1, kVariadic, 1, 1},
    {OpType::kSum, "Sum", 1, kVariadic, 1, 1},
    {OpType::kMean, "Mean", 1, kVariadic, 1, 1},
    {OpType::kEqual, "Equal", 2, 2, 1, 1},
    {OpType::kLess, "Less", 2, 2, 1, 1},
    {OpType::kGreater, "Greater", 2, 2, 1, 1},
    {OpType::kLessOrEqual, "LessOrEqual", 2, 2, 1, 1},
    {OpType::kGreaterOrEqual, "GreaterOrEqual", 2, 2, 1, 1},
    {OpType::kAnd, "And", 2, 2, 1, 1},
    {OpType::kOr, "Or", 2, 2, 1, 1},
    {OpType::kWhere, "Where", 3, 3, 1, 1},
    {OpType::kReduceMean, "ReduceMean", 1, 2, 1, 1},
    {OpType::kReduceSum, "ReduceSum", 1, 2, 1, 1},
    {OpType::kReduceMax, "ReduceMax", 1, 2, 1, 1},
    {OpType::kReduceMin, "ReduceMin", 1, 2, 1, 1},
    {OpType::kReduceProd, "ReduceProd", 1, 2, 1, 1},
    {OpType::kArgMax, "ArgMax", 1, 1, 1, 1},
    {OpType::kArgMin, "ArgMin", 1, 1, 1, 1},
    {OpType::kTopK, "TopK", 2, 2, 2, 2},
    {OpType::kFlatten, "Flatten", 1, 1, 1, 1},
    {OpType::kReshape, "Reshape", 2, 2, 1, 1},
    {OpType::kTranspose, "Transpose", 1, 1, 1, 1},
    {OpType::kSqueeze, "Squeeze", 1, 2, 1, 1},
    {OpType::kUnsqueeze, "Unsqueeze", 1, 2, 1, 1},
    {OpType::kConcat, "Concat", 1, kVariadic, 1, 1},
    {OpType::kSplit, "Split", 1, 2, 1, kVariadic},
    {OpType::kSlice, "Slice", 3, 5, 1, 1},
    {OpType::kGather, "Gather", 2, 2, 1, 1},
    {OpType::kExpand, "Expand", 2, 2, 1, 1},
    {OpType::kTile, "Tile", 2, 2, 1, 1},
    {OpType::kPad, "Pad", 1, 4, 1, 1},
    {OpType::kResize, "Resize", 1, 4, 1, 1},
    {OpType::kUpsample, "Upsample", 1, 2, 1, 1},
    {OpType::kDepthToSpace, "DepthToSpace", 1, 1, 1, 1},
    {OpType::kSpaceToDepth, "SpaceToDepth", 1, 1, 1, 1},
    {OpType::kShape, "Shape", 1, 1, 1, 1},
    {OpType::kCast, "Cast", 1, 1, 1, 1},
    {OpType::kConstantOfShape, "ConstantOfShape", 1, 1, 1, 1},
    {OpType::kIdentity, "Identity", 1, 1, 1, 1},
    {OpType::kDropout, "Dropout", 1, 3, 1, 2},
    {OpType::kRange, "Range", 3, 3, 1, 1},
    {OpType::kFusedElementwise, "EdgertFusedElementwise", 1, 1, 1, 1},
    {OpType::kQuantizeLinear, "QuantizeLinear", 2, 3, 1, 1},
    {OpType::kDequantizeLinear, "DequantizeLinear", 2, 3, 1, 1},
    {OpType::kInt8Conv, "EdgertInt8Conv", 2, 5, 1, 1},
    {OpType::kQuantizeNhwc, "EdgertQuantizeNhwc", 1, 1, 1, 1},  // W_scale (3) is required: int8_conv.h
    {OpType::kConvNhwc, "EdgertConvNhwc", 2, 4, 1, 1},
    {OpType::kMaxPoolNhwc, "EdgertMaxPoolNhwc", 1, 1, 1, 1},
    {OpType::kSqueezeExcite, "EdgertSqueezeExcite", 5, 5, 1, 1},
};

inline constexpr size_t kNumOpTypes = 91;
static_assert(sizeof(kOpTable) / sizeof(kOpTable[0]) == kNumOpTypes,
              "kOpTable and OpType must list the same operators");

// Table entry for `type`; nullptr for an id no edgert version defined (e.g. from a corrupt plan).
const OpInfo* FindOpInfo(OpType type);
// Table entry whose ONNX name is `onnx_name`; nullptr when edgert does not know the operator.
const OpInfo* FindOpInfoByName(std::string_view onnx_name);
// The ONNX name, or "unknown" for an id not in the table.
std::string_view OpTypeName(OpType type);

}  // namespace edgert
