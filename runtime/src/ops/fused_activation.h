// The Conv / Gemm activation epilogue (contract in edgert/fused_activation.h): parsed once in
// create_cpu, applied by the kernels to each block of outputs right after the GEMM that produced
// it, while the block is still in cache.
#pragma once

#include <cstdint>
#include <string>

#include "edgert/fused_activation.h"
#include "edgert/op_def.h"

namespace edgert {

struct FusedEpilogue {
  enum class Kind : uint8_t {
    kNone,
    kRelu,
    kLeakyRelu,
    kClip,
    kSigmoid,
    kHardSigmoid,
    kHardSwish,
    kSilu,
    kTanh,
    kGelu,
    kGeluTanh
  };
  Kind kind = Kind::kNone;
  float alpha = 0.0f;
  float beta = 0.0f;
  // kResidualAfterActivationAttr: the residual is added to the activation's result.
  bool residual_after_activation = false;

  // y[i] = act(y[i] + residual[i]) (or act(y[i]) + residual[i] when residual_after_activation) for
  // i < n; `residual` may be nullptr. A no-op for kNone without residual.
  void Apply(float* y, const float* residual, int64_t n) const;
};

// Reads kActivationAttr and its parameters; kNone when the attribute is absent. For kActivationAttr
// also kResidualAfterActivationAttr (0 or 1; it may come without an activation, where both forms are
// the same). Errors name the node and the attribute (an unknown activation, a parameter of the wrong
// type, another residual_after_activation value). `attr` names
// another attribute of the same form, with parameters "<attr>_alpha" / "<attr>_beta" (e.g.
// EdgertSqueezeExcite's "gate").
StatusOr<FusedEpilogue> ParseFusedEpilogue(const OpContext& ctx, const std::string& attr = kActivationAttr);

}  // namespace edgert
