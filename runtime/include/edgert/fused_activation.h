// The activation epilogue edgert fuses into Conv and Gemm layers (edgert extensions of the ONNX
// operators; the builder's vertical-fusion pass writes them, plans store them as attributes).
//
// Contract, for a Conv or Gemm layer carrying these attributes:
//   y = act(op(x) + residual)                 (the default: ResNet's form)
//   y = act(op(x)) + residual                 (integer attribute kResidualAfterActivationAttr = 1:
//                                               YOLO's and CSP bottlenecks' x + act(conv(...)))
// where op(x) is the operator's ONNX result (bias included), `residual` is Conv's optional 4th
// input (same shape as the output, no broadcasting; Gemm has none) and act is selected by the
// string attribute kActivationAttr with float parameters kActivationAlphaAttr / kActivationBetaAttr:
//   "Relu"         max(x, 0)
//   "LeakyRelu"    x >= 0 ? x : alpha * x                    (alpha default 0.01)
//   "Clip"         min(max(x, alpha), beta)                  (defaults -inf, +inf; Relu6 = 0, 6)
//   "Sigmoid"      1 / (1 + exp(-x))
//   "HardSigmoid"  clamp(alpha * x + beta, 0, 1)             (defaults 0.2, 0.5)
//   "HardSwish"    x * clamp(x / 6 + 0.5, 0, 1)
//   "SiLU"         x * Sigmoid(x)
//   "Tanh"         tanh(x)
//   "Gelu"         0.5 * x * (1 + erf(x / sqrt(2)))
//   "GeluTanh"     0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))
// The formulas are those of the standalone activation operators, so fusing changes no result
// beyond float rounding.
#pragma once

namespace edgert {

inline constexpr const char* kActivationAttr = "activation";
inline constexpr const char* kActivationAlphaAttr = "activation_alpha";
inline constexpr const char* kActivationBetaAttr = "activation_beta";
inline constexpr const char* kResidualAfterActivationAttr = "residual_after_activation";

}  // namespace edgert
