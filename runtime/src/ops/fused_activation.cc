#include "fused_activation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace edgert {
namespace {

// As elementwise_unary.cc's Sigmoid: no overflow of exp for large |x|.
inline float Sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

template <typename F>
void ApplyLoop(float* y, const float* residual, bool after, int64_t n, F act) {
  if (residual && after) {
    for (int64_t i = 0; i < n; ++i) y[i] = act(y[i]) + residual[i];
  } else if (residual) {
    for (int64_t i = 0; i < n; ++i) y[i] = act(y[i] + residual[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = act(y[i]);
  }
}

}  // namespace

void FusedEpilogue::Apply(float* y, const float* residual, int64_t n) const {
  const float a = alpha;
  const float b = beta;
  const bool after = residual_after_activation;
  switch (kind) {
    case Kind::kNone:
      if (residual) ApplyLoop(y, residual, after, n, [](float x) { return x; });
      return;
    case Kind::kRelu:
      return ApplyLoop(y, residual, after, n, [](float x) { return x > 0.0f ? x : 0.0f; });
    case Kind::kLeakyRelu:
      return ApplyLoop(y, residual, after, n, [a](float x) { return x >= 0 ? x : a * x; });
    case Kind::kClip:
      return ApplyLoop(y, residual, after, n, [a, b](float x) { return std::min(std::max(x, a), b); });
    case Kind::kSigmoid:
      return ApplyLoop(y, residual, after, n, [](float x) { return Sigmoid(x); });
    case Kind::kHardSigmoid:
      return ApplyLoop(y, residual, after, n, [a, b](float x) { return std::min(1.0f, std::max(0.0f, a * x + b)); });
    case Kind::kHardSwish:
      return ApplyLoop(y, residual, after, n,
                       [](float x) { return x * std::min(1.0f, std::max(0.0f, x / 6.0f + 0.5f)); });
    case Kind::kSilu:
      return ApplyLoop(y, residual, after, n, [](float x) { return x * Sigmoid(x); });
    case Kind::kTanh:
      return ApplyLoop(y, residual, after, n, [](float x) { return std::tanh(x); });
    case Kind::kGelu:
      return ApplyLoop(y, residual, after, n, [](float x) {
        constexpr float kInvSqrt2 = 0.7071067811865476f;
        return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
      });
    case Kind::kGeluTanh:
      return ApplyLoop(y, residual, after, n, [](float x) {
        constexpr float kSqrt2OverPi = 0.7978845608028654f;
        return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
      });
  }
}

StatusOr<FusedEpilogue> ParseFusedEpilogue(const OpContext& ctx, const std::string& attr) {
  FusedEpilogue e;
  const Attributes& attrs = ctx.attrs();
  const std::string where = std::string(OpTypeName(ctx.op())) + " node '" + ctx.name() + "': ";
  const std::string alpha_attr = attr + "_alpha", beta_attr = attr + "_beta";
  if (attr == kActivationAttr) {
    EDGERT_ASSIGN_OR_RETURN(int64_t after, attrs.GetIntOr(kResidualAfterActivationAttr, 0, ctx.name()));
    if (after != 0 && after != 1) {
      return InvalidArgument(
          where + "attribute '" + kResidualAfterActivationAttr + "' is " + std::to_string(after) + ", expected 0 or 1",
          ctx.name());
    }
    e.residual_after_activation = after == 1;
  }
  if (!attrs.Has(attr)) {
    if (attrs.Has(alpha_attr) || attrs.Has(beta_attr)) {
      return InvalidArgument(where + attr + " parameters are given without attribute '" + attr + "'", ctx.name());
    }
    return e;
  }
  EDGERT_ASSIGN_OR_RETURN(std::string name, attrs.GetString(attr, ctx.name()));
  struct Entry {
    const char* name;
    FusedEpilogue::Kind kind;
    float alpha, beta;  // defaults
  };
  constexpr float kInf = std::numeric_limits<float>::infinity();
  static const Entry kEntries[] = {
      {"Relu", FusedEpilogue::Kind::kRelu, 0.0f, 0.0f},
      {"LeakyRelu", FusedEpilogue::Kind::kLeakyRelu, 0.01f, 0.0f},
      {"Clip", FusedEpilogue::Kind::kClip, -kInf, kInf},
      {"Sigmoid", FusedEpilogue::Kind::kSigmoid, 0.0f, 0.0f},
      {"HardSigmoid", FusedEpilogue::Kind::kHardSigmoid, 0.2f, 0.5f},
      {"HardSwish", FusedEpilogue::Kind::kHardSwish, 0.0f, 0.0f},
      {"SiLU", FusedEpilogue::Kind::kSilu, 0.0f, 0.0f},
      {"Tanh", FusedEpilogue::Kind::kTanh, 0.0f, 0.0f},
      {"Gelu", FusedEpilogue::Kind::kGelu, 0.0f, 0.0f},
      {"GeluTanh", FusedEpilogue::Kind::kGeluTanh, 0.0f, 0.0f},
  };
  for (const Entry& entry : kEntries) {
    if (name != entry.name) continue;
    e.kind = entry.kind;
    EDGERT_ASSIGN_OR_RETURN(e.alpha, attrs.GetFloatOr(alpha_attr, entry.alpha, ctx.name()));
    EDGERT_ASSIGN_OR_RETURN(e.beta, attrs.GetFloatOr(beta_attr, entry.beta, ctx.name()));
    if (std::isnan(e.alpha) || std::isnan(e.beta)) {
      return InvalidArgument(where + attr + " parameters must not be NaN", ctx.name());
    }
    return e;
  }
  return InvalidArgument(where + "attribute '" + attr + "' is '" + name +
                             "', expected Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid, HardSwish, SiLU, Tanh, "
                             "Gelu or GeluTanh",
                         ctx.name());
}

}  // namespace edgert
