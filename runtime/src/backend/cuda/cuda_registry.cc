// Op → CUDA kernel family. A switch without default: a new OpType must be placed here.
#include "cuda_kernel.h"

namespace edgert {
namespace cuda {

bool OpHasTactics(OpType op) {
  return op == OpType::kConv || op == OpType::kConvTranspose || op == OpType::kGemm || op == OpType::kMatMul ||
         op == OpType::kInt8Conv || op == OpType::kConvNhwc;
}

StatusOr<CudaKernelPtr> CreateCudaKernel(const CudaOpContext& ctx) {
  switch (ctx.op->op()) {
    case OpType::kConv:
    case OpType::kConvTranspose:
    case OpType::kConvNhwc:
      return CreateConvKernel(ctx);
    case OpType::kGemm:
    case OpType::kMatMul:
      return CreateGemmKernel(ctx);
    case OpType::kBatchNormalization:
    case OpType::kInstanceNormalization:
    case OpType::kLayerNormalization:
    case OpType::kMaxPool:
    case OpType::kMaxPoolNhwc:
    case OpType::kAveragePool:
    case OpType::kGlobalAveragePool:
    case OpType::kGlobalMaxPool:
      return CreateNormPoolKernel(ctx);
    case OpType::kSoftmax:
    case OpType::kLogSoftmax:
    case OpType::kReduceMean:
    case OpType::kReduceSum:
    case OpType::kReduceMax:
    case OpType::kReduceMin:
    case OpType::kReduceProd:
    case OpType::kArgMax:
    case OpType::kArgMin:
    case OpType::kTopK:
      return CreateReduceKernel(ctx);
    case OpType::kRelu:
    case OpType::kLeakyRelu:
    case OpType::kPRelu:
    case OpType::kClip:
    case OpType::kSigmoid:
    case OpType::kTanh:
    case OpType::kHardSigmoid:
    case OpType::kHardSwish:
    case OpType::kElu:
    case OpType::kSelu:
    case OpType::kSoftplus:
    case OpType::kErf:
    case OpType::kGelu:
    case OpType::kMish:
    case OpType::kSqrt:
    case OpType::kExp:
    case OpType::kLog:
    case OpType::kNeg:
    case OpType::kAbs:
    case OpType::kReciprocal:
    case OpType::kFloor:
    case OpType::kCeil:
    case OpType::kNot:
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
    case OpType::kPow:
    case OpType::kMin:
    case OpType::kMax:
    case OpType::kSum:
    case OpType::kMean:
    case OpType::kEqual:
    case OpType::kLess:
    case OpType::kGreater:
    case OpType::kLessOrEqual:
    case OpType::kGreaterOrEqual:
    case OpType::kAnd:
    case OpType::kOr:
    case OpType::kWhere:
    case OpType::kCast:
    case OpType::kFusedElementwise:
      return CreateElementwiseKernel(ctx);
    case OpType::kFlatten:
    case OpType::kReshape:
    case OpType::kTranspose:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kConcat:
    case OpType::kSplit:
    case OpType::kSlice:
    case OpType::kGather:
    case OpType::kExpand:
    case OpType::kTile:
    case OpType::kPad:
    case OpType::kResize:
    case OpType::kUpsample:
    case OpType::kDepthToSpace:
    case OpType::kSpaceToDepth:
    case OpType::kShape:
    case OpType::kConstantOfShape:
    case OpType::kIdentity:
    case OpType::kDropout:
    case OpType::kRange:
      return CreateTensorKernel(ctx);
    case OpType::kQuantizeLinear:
    case OpType::kDequantizeLinear:
      return CreateQuantizeKernel(ctx);
    case OpType::kQuantizeNhwc:
      return CreateQuantizeNhwcKernel(ctx);
    case OpType::kInt8Conv:
      return CreateInt8ConvKernel(ctx);
    case OpType::kSqueezeExcite:
      return CreateSqueezeExciteKernel(ctx);
  }
  return ctx.NotSupported("has no CUDA kernel (operator id " + std::to_string(static_cast<int>(ctx.op->op())) + ")");
}

}  // namespace cuda
}  // namespace edgert
