// Device formulas of the activation functions, shared by the elementwise kernels and the fused
// Conv/Gemm epilogue. Each is the formula of the CPU reference operator (runtime/src/ops), in float.
#pragma once

#include <cuda_runtime.h>

#include "fused_activation.h"

namespace edgert {
namespace cuda {

__device__ __forceinline__ float ActRelu(float x) { return x > 0.0f ? x : 0.0f; }
__device__ __forceinline__ float ActLeakyRelu(float x, float alpha) { return x >= 0.0f ? x : alpha * x; }
__device__ __forceinline__ float ActClip(float x, float lo, float hi) { return x != x ? x : fminf(fmaxf(x, lo), hi); }
// No overflow of exp for large |x| (as the CPU Sigmoid).
__device__ __forceinline__ float ActSigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}
// NaN gives 0, as the CPU's min(1, max(0, v)).
__device__ __forceinline__ float ActHardSigmoid(float x, float alpha, float beta) {
  const float v = alpha * x + beta;
  return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
}
__device__ __forceinline__ float ActHardSwish(float x) { return x * fmaxf(0.0f, fminf(1.0f, x / 6.0f + 0.5f)); }
__device__ __forceinline__ float ActSilu(float x) { return x * ActSigmoid(x); }
__device__ __forceinline__ float ActGelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }
__device__ __forceinline__ float ActGeluTanh(float x) {
  return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

// DeviceActivation::Finish's residual when there is none: -0.0f, the additive identity for every
// float (+0.0f would turn a -0.0f result into +0.0f).
inline constexpr float kNoResidual = -0.0f;

// The fused epilogue's activation (edgert/fused_activation.h), passed to kernels by value.
struct DeviceActivation {
  FusedEpilogue::Kind kind = FusedEpilogue::Kind::kNone;
  float alpha = 0.0f;
  float beta = 0.0f;
  bool residual_after = false;  // FusedEpilogue::residual_after_activation

  // The epilogue's last step for v (accumulator plus bias) and residual z (kNoResidual without
  // one): act(v + z), or act(v) + z when the residual comes after the activation.
  __device__ __forceinline__ float Finish(float v, float z) const {
    return residual_after ? Apply(v) + z : Apply(v + z);
  }

  __device__ __forceinline__ float Apply(float x) const {
    switch (kind) {
      case FusedEpilogue::Kind::kNone: return x;
      case FusedEpilogue::Kind::kRelu: return ActRelu(x);
      case FusedEpilogue::Kind::kLeakyRelu: return ActLeakyRelu(x, alpha);
      case FusedEpilogue::Kind::kClip: return ActClip(x, alpha, beta);
      case FusedEpilogue::Kind::kSigmoid: return ActSigmoid(x);
      case FusedEpilogue::Kind::kHardSigmoid: return ActHardSigmoid(x, alpha, beta);
      case FusedEpilogue::Kind::kHardSwish: return ActHardSwish(x);
      case FusedEpilogue::Kind::kSilu: return ActSilu(x);
      case FusedEpilogue::Kind::kTanh: return tanhf(x);
      case FusedEpilogue::Kind::kGelu: return ActGelu(x);
      case FusedEpilogue::Kind::kGeluTanh: return ActGeluTanh(x);
    }
    return x;
  }
};

inline DeviceActivation ToDevice(const FusedEpilogue& e) {
  return DeviceActivation{e.kind, e.alpha, e.beta, e.residual_after_activation};
}

}  // namespace cuda
}  // namespace edgert
