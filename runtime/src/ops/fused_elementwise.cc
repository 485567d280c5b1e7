// EdgertFusedElementwise: a chain of float32 elementwise steps in one layer (written by the
// builder's elementwise-chain pass; never found in an ONNX model).
//
// Contract: Y = s_n(... s_1(X)), X float32, Y of X's shape. Attribute "steps" (strings) names each
// step; attribute "operands" (floats) holds the parameters of the steps that take them, in step
// order:
//   no parameter:  Relu, Sigmoid, Tanh, Exp, Log, Neg, Abs, Sqrt, Erf, Reciprocal, Floor, Ceil,
//                  HardSwish
//   one (c):       Add (x + c), Sub (x - c), RSub (c - x), Mul (x * c), Div (x / c), RDiv (c / x),
//                  Pow (x ^ c), Max, Min (NaN propagates as in Max/Min), LeakyRelu (alpha = c)
//   two (a, b):    Clip (min a, max b), HardSigmoid (alpha a, beta b)
// Each step uses the formula of the standalone operator, so the chain equals the unfused nodes.
//
// Algorithm: the input is processed in blocks of kBlock elements; every step runs over the block
// (a tight, vectorisable loop per step) before the next block, so the block stays in L1 and the
// chain makes one pass over memory.
#include <algorithm>
#include <cmath>
#include <string>

#include "edgert/op_def.h"
#include "nn_common.h"
#include "registry.h"

namespace edgert {
namespace {

enum class Step : uint8_t {
  kRelu,
  kSigmoid,
  kTanh,
  kExp,
  kLog,
  kNeg,
  kAbs,
  kSqrt,
  kErf,
  kReciprocal,
  kFloor,
  kCeil,
  kHardSwish,
  kAdd,
  kSub,
  kRSub,
  kMul,
  kDiv,
  kRDiv,
  kPow,
  kMax,
  kMin,
  kLeakyRelu,
  kClip,
  kHardSigmoid
};

struct StepInfo {
  const char* name;
  Step step;
  int params;
};

constexpr StepInfo kSteps[] = {
    {"Relu", Step::kRelu, 0},
    {"Sigmoid", Step::kSigmoid, 0},
    {"Tanh", Step::kTanh, 0},
    {"Exp", Step::kExp, 0},
    {"Log", Step::kLog, 0},
    {"Neg", Step::kNeg, 0},
    {"Abs", Step::kAbs, 0},
    {"Sqrt", Step::kSqrt, 0},
    {"Erf", Step::kErf, 0},
    {"Reciprocal", Step::kReciprocal, 0},
    {"Floor", Step::kFloor, 0},
    {"Ceil", Step::kCeil, 0},
    {"HardSwish", Step::kHardSwish, 0},
    {"Add", Step::kAdd, 1},
    {"Sub", Step::kSub, 1},
    {"RSub", Step::kRSub, 1},
    {"Mul", Step::kMul, 1},
    {"Div", Step::kDiv, 1},
    {"RDiv", Step::kRDiv, 1},
    {"Pow", Step::kPow, 1},
    {"Max", Step::kMax, 1},
    {"Min", Step::kMin, 1},
    {"LeakyRelu", Step::kLeakyRelu, 1},
    {"Clip", Step::kClip, 2},
    {"HardSigmoid", Step::kHardSigmoid, 2},
};

struct ParsedStep {
  Step step;
  float a = 0.0f, b = 0.0f;
};

StatusOr<std::vector<ParsedStep>> ParseSteps(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<std::string> names, [&]() -> StatusOr<std::vector<std::string>> {
    const auto& all = ctx.attrs().all();
    auto it = all.find("steps");
    if (it == all.end()) return ctx.Error("attribute 'steps' is required");
    if (const auto* v = std::get_if<std::vector<std::string>>(&it->second)) return *v;
    return ctx.Error("attribute 'steps' must be a list of strings");
  }());
  EDGERT_ASSIGN_OR_RETURN(std::vector<float> operands, ctx.attrs().GetFloatsOr("operands", {}, ctx.name()));
  if (names.empty()) return ctx.Error("attribute 'steps' is empty");
  std::vector<ParsedStep> steps;
  size_t next = 0;
  for (const std::string& name : names) {
    const StepInfo* info = nullptr;
    for (const StepInfo& s : kSteps) {
      if (name == s.name) info = &s;
    }
    if (info == nullptr) return ctx.Error("step '" + name + "' is not a known elementwise step");
    if (next + static_cast<size_t>(info->params) > operands.size()) {
      return ctx.Error("attribute 'operands' has " + std::to_string(operands.size()) +
                       " values, too few for the steps");
    }
    ParsedStep p{info->step};
    if (info->params > 0) p.a = operands[next];
    if (info->params > 1) p.b = operands[next + 1];
    next += static_cast<size_t>(info->params);
    steps.push_back(p);
  }
  if (next != operands.size()) {
    return ctx.Error("attribute 'operands' has " + std::to_string(operands.size()) + " values, the steps use " +
                     std::to_string(next));
  }
  return steps;
}

Status FusedSupports(const OpContext& ctx) {
  if (ctx.input(0).dtype != DataType::kFloat32) {
    return ctx.NotSupported(std::string("input X is ") + DataTypeName(ctx.input(0).dtype) + ", expected float32");
  }
  return ParseSteps(ctx).status();
}

Status FusedInfer(OpContext& ctx) {
  ctx.SetOutput(0, ctx.input(0).dtype, ctx.input(0).shape);
  return Status::Ok();
}

inline float Sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

template <typename F>
inline void Each(float* v, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) v[i] = f(v[i]);
}

void ApplyStep(const ParsedStep& s, float* v, int64_t n) {
  const float a = s.a, b = s.b;
  switch (s.step) {
    case Step::kRelu:
      return Each(v, n, [](float x) { return x > 0.0f ? x : 0.0f; });
    case Step::kSigmoid:
      return Each(v, n, [](float x) { return Sigmoid(x); });
    case Step::kTanh:
      return Each(v, n, [](float x) { return std::tanh(x); });
    case Step::kExp:
      return Each(v, n, [](float x) { return std::exp(x); });
    case Step::kLog:
      return Each(v, n, [](float x) { return std::log(x); });
    case Step::kNeg:
      return Each(v, n, [](float x) { return -x; });
    case Step::kAbs:
      return Each(v, n, [](float x) { return std::fabs(x); });
    case Step::kSqrt:
      return Each(v, n, [](float x) { return std::sqrt(x); });
    case Step::kErf:
      return Each(v, n, [](float x) { return std::erf(x); });
    case Step::kReciprocal:
      return Each(v, n, [](float x) { return 1.0f / x; });
    case Step::kFloor:
      return Each(v, n, [](float x) { return std::floor(x); });
    case Step::kCeil:
      return Each(v, n, [](float x) { return std::ceil(x); });
    case Step::kHardSwish:
      return Each(v, n, [](float x) { return x * std::min(1.0f, std::max(0.0f, x / 6.0f + 0.5f)); });
    case Step::kAdd:
      return Each(v, n, [a](float x) { return x + a; });
    case Step::kSub:
      return Each(v, n, [a](float x) { return x - a; });
    case Step::kRSub:
      return Each(v, n, [a](float x) { return a - x; });
    case Step::kMul:
      return Each(v, n, [a](float x) { return x * a; });
    case Step::kDiv:
      return Each(v, n, [a](float x) { return x / a; });
    case Step::kRDiv:
      return Each(v, n, [a](float x) { return a / x; });
    case Step::kPow:
      return Each(v, n, [a](float x) { return std::pow(x, a); });
    case Step::kMax:
      return Each(v, n, [a](float x) { return (x >= a || std::isnan(x)) ? x : a; });
    case Step::kMin:
      return Each(v, n, [a](float x) { return (x <= a || std::isnan(x)) ? x : a; });
    case Step::kLeakyRelu:
      return Each(v, n, [a](float x) { return x >= 0 ? x : a * x; });
    case Step::kClip:
      return Each(v, n, [a, b](float x) { return std::min(std::max(x, a), b); });
    case Step::kHardSigmoid:
      return Each(v, n, [a, b](float x) { return std::min(1.0f, std::max(0.0f, a * x + b)); });
  }
}

class FusedElementwiseKernel : public CpuKernel {
 public:
  static constexpr int64_t kBlock = 1024;
  explicit FusedElementwiseKernel(std::vector<ParsedStep> steps) : steps_(std::move(steps)) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* x = inputs[0]->data<float>();
    float* y = outputs[0]->data<float>();
    const int64_t n = inputs[0]->num_elements();
    for (int64_t start = 0; start < n; start += kBlock) {
      const int64_t len = std::min(kBlock, n - start);
      if (y != x) std::copy(x + start, x + start + len, y + start);
      for (const ParsedStep& s : steps_) ApplyStep(s, y + start, len);
    }
    return Status::Ok();
  }

 private:
  std::vector<ParsedStep> steps_;
};

StatusOr<std::unique_ptr<CpuKernel>> FusedCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, &FusedInfer));
  EDGERT_ASSIGN_OR_RETURN(std::vector<ParsedStep> steps, ParseSteps(ctx));
  return std::unique_ptr<CpuKernel>(new FusedElementwiseKernel(std::move(steps)));
}

}  // namespace

void RegisterFusedElementwiseOp(OpRegistry& registry) {
  registry.Register(OpType::kFusedElementwise, OpDef{&FusedSupports, &FusedInfer, &FusedCreate});
}

}  // namespace edgert
