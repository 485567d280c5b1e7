// Unary elementwise operators (activations and math), plus Clip and Not.
//
// One generic mechanism: each operator is a functor struct with
//   Types                       the element types it accepts (a TypeList),
//   static StatusOr<Op> Parse   reads and validates its attributes (errors name the node),
//   T operator()(T x) const     the scalar function.
// UnaryDef<Op>() turns it into an OpDef whose kernel, UnaryKernel<T, Op>, maps every element.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "elementwise.h"
#include "elementwise_util.h"
#include "registry.h"

namespace edgert {
namespace ew {
namespace {

template <typename T, typename Op>
class UnaryKernel : public CpuKernel {
 public:
  explicit UnaryKernel(Op op) : op_(op) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const T* x = inputs[0]->data<T>();
    T* y = outputs[0]->data<T>();
    const int64_t n = outputs[0]->num_elements();
    for (int64_t i = 0; i < n; ++i) y[i] = op_(x[i]);
    return Status::Ok();
  }

 private:
  Op op_;
};

template <typename Op>
Status UnarySupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckInputDtype(ctx, 0, "X", typename Op::Types{}));
  return Op::Parse(ctx).status();
}

Status SameAsInputInfer(OpContext& ctx) {
  ctx.SetOutput(0, ctx.input(0).dtype, ctx.input(0).shape);
  return Status::Ok();
}

template <typename Op>
StatusOr<std::unique_ptr<CpuKernel>> UnaryCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, &SameAsInputInfer));
  EDGERT_ASSIGN_OR_RETURN(Op op, Op::Parse(ctx));
  std::unique_ptr<CpuKernel> kernel;
  DispatchDtype(typename Op::Types{}, ctx.input(0).dtype,
                [&](auto tag) { kernel = std::make_unique<UnaryKernel<decltype(tag), Op>>(op); });
  if (!kernel) return ctx.NotSupported(std::string("no kernel for dtype ") + DataTypeName(ctx.input(0).dtype));
  return kernel;
}

template <typename Op>
OpDef UnaryDef() {
  return OpDef{&UnarySupports<Op>, &SameAsInputInfer, &UnaryCreate<Op>};
}

// Functors without attributes derive from this.
template <typename Self>
struct NoAttrs {
  static StatusOr<Self> Parse(const OpContext&) { return Self{}; }
};

float StableSigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  float e = std::exp(x);
  return e / (1.0f + e);
}

// log(1 + exp(x)) without overflow for large x.
float StableSoftplus(float x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

struct ReluOp : NoAttrs<ReluOp> {
  using Types = NumericTypes;
  template <typename T>
  T operator()(T x) const {
    return x > T(0) ? x : T(0);
  }
};

struct LeakyReluOp {
  using Types = FloatTypes;
  float alpha;
  static StatusOr<LeakyReluOp> Parse(const OpContext& ctx) {
    EDGERT_ASSIGN_OR_RETURN(float alpha, AttrFloat(ctx, "alpha", 0.01f));
    return LeakyReluOp{alpha};
  }
  float operator()(float x) const { return x >= 0 ? x : alpha * x; }
};

struct SigmoidOp : NoAttrs<SigmoidOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return StableSigmoid(x); }
};

struct TanhOp : NoAttrs<TanhOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return std::tanh(x); }
};

struct HardSigmoidOp {
  using Types = FloatTypes;
  float alpha, beta;
  static StatusOr<HardSigmoidOp> Parse(const OpContext& ctx) {
    EDGERT_ASSIGN_OR_RETURN(float alpha, AttrFloat(ctx, "alpha", 0.2f));
    EDGERT_ASSIGN_OR_RETURN(float beta, AttrFloat(ctx, "beta", 0.5f));
    return HardSigmoidOp{alpha, beta};
  }
  float operator()(float x) const { return std::min(1.0f, std::max(0.0f, alpha * x + beta)); }
};

struct HardSwishOp : NoAttrs<HardSwishOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return x * std::min(1.0f, std::max(0.0f, x / 6.0f + 0.5f)); }
};

struct EluOp {
  using Types = FloatTypes;
  float alpha;
  static StatusOr<EluOp> Parse(const OpContext& ctx) {
    EDGERT_ASSIGN_OR_RETURN(float alpha, AttrFloat(ctx, "alpha", 1.0f));
    return EluOp{alpha};
  }
  float operator()(float x) const { return x >= 0 ? x : alpha * std::expm1(x); }
};

struct SeluOp {
  using Types = FloatTypes;
  float alpha, gamma;
  static StatusOr<SeluOp> Parse(const OpContext& ctx) {
    EDGERT_ASSIGN_OR_RETURN(float alpha, AttrFloat(ctx, "alpha", 1.67326319217681884765625f));
    EDGERT_ASSIGN_OR_RETURN(float gamma, AttrFloat(ctx, "gamma", 1.05070102214813232421875f));
    return SeluOp{alpha, gamma};
  }
  float operator()(float x) const { return x > 0 ? gamma * x : gamma * alpha * std::expm1(x); }
};

struct SoftplusOp : NoAttrs<SoftplusOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return StableSoftplus(x); }
};

struct ErfOp : NoAttrs<ErfOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return std::erf(x); }
};

struct GeluOp {
  using Types = FloatTypes;
  bool tanh_approx;
  static StatusOr<GeluOp> Parse(const OpContext& ctx) {
    EDGERT_ASSIGN_OR_RETURN(std::string mode, AttrString(ctx, "approximate", "none"));
    if (mode != "none" && mode != "tanh") {
      return ctx.Error("attribute 'approximate' must be \"none\" or \"tanh\", got \"" + mode + "\"");
    }
    return GeluOp{mode == "tanh"};
  }
  float operator()(float x) const {
    if (tanh_approx) {
      constexpr float kSqrt2OverPi = 0.7978845608028654f;
      return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    }
    constexpr float kInvSqrt2 = 0.7071067811865476f;
    return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
  }
};

struct MishOp : NoAttrs<MishOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return x * std::tanh(StableSoftplus(x)); }
};

struct SqrtOp : NoAttrs<SqrtOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return std::sqrt(x); }
};

struct ExpOp : NoAttrs<ExpOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return std::exp(x); }
};

struct LogOp : NoAttrs<LogOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return std::log(x); }
};

struct NegOp : NoAttrs<NegOp> {
  using Types = NumericTypes;
  template <typename T>
  T operator()(T x) const {
    return WrapNeg(x);
  }
};

struct AbsOp : NoAttrs<AbsOp> {
  using Types = NumericTypes;
  template <typename T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) {
      return std::fabs(x);
    } else {
      return x < 0 ? WrapNeg(x) : x;
    }
  }
};

struct ReciprocalOp : NoAttrs<ReciprocalOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return 1.0f / x; }
};

struct FloorOp : NoAttrs<FloorOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return std::floor(x); }
};

struct CeilOp : NoAttrs<CeilOp> {
  using Types = FloatTypes;
  float operator()(float x) const { return std::ceil(x); }
};

struct NotOp : NoAttrs<NotOp> {
  using Types = BoolTypes;
  bool operator()(bool x) const { return !x; }
};

// ---- Clip -------------------------------------------------------------------------------------
// Opset < 11: bounds are float attributes min/max. Opset >= 11: optional scalar inputs 1 (min)
// and 2 (max) of the input's dtype, read at run time. y = min(max(x, lo), hi), so lo > hi gives hi
// everywhere (as ONNX Runtime does).

using ClipTypes = OrderedTypes;

Status ClipSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckInputDtype(ctx, 0, "input", ClipTypes{}));
  if (ctx.opset() < 11) {
    if (ctx.num_inputs() > 1)
      return ctx.Error("min and max are inputs only from opset 11; this node is opset " + std::to_string(ctx.opset()));
    if (ctx.input(0).dtype != DataType::kFloat32) return ctx.NotSupported("before opset 11 Clip takes float32 only");
    EDGERT_RETURN_IF_ERROR(AttrFloat(ctx, "min", 0.0f).status());
    EDGERT_RETURN_IF_ERROR(AttrFloat(ctx, "max", 0.0f).status());
    return Status::Ok();
  }
  const char* names[] = {"input", "min", "max"};
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (ctx.input(i).dtype != ctx.input(0).dtype) {
      return ctx.Error(std::string("input '") + names[i] + "' has dtype " + DataTypeName(ctx.input(i).dtype) +
                       ", expected the input's dtype " + DataTypeName(ctx.input(0).dtype));
    }
  }
  return Status::Ok();
}

Status ClipInfer(OpContext& ctx) {
  const char* names[] = {"input", "min", "max"};
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i) && NumElements(ctx.input(i).shape) != 1) {
      return ctx.Error(std::string("input '") + names[i] + "' must be a scalar, got shape " +
                       ShapeToString(ctx.input(i).shape));
    }
  }
  return SameAsInputInfer(ctx);
}

template <typename T>
class ClipKernel : public CpuKernel {
 public:
  // `attr_lo`/`attr_hi` are the bounds when they are not inputs (opset < 11 or input absent).
  ClipKernel(T attr_lo, T attr_hi) : attr_lo_(attr_lo), attr_hi_(attr_hi) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    T lo = inputs.size() > 1 && inputs[1] ? inputs[1]->data<T>()[0] : attr_lo_;
    T hi = inputs.size() > 2 && inputs[2] ? inputs[2]->data<T>()[0] : attr_hi_;
    const T* x = inputs[0]->data<T>();
    T* y = outputs[0]->data<T>();
    const int64_t n = outputs[0]->num_elements();
    for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(x[i], lo), hi);
    return Status::Ok();
  }

 private:
  T attr_lo_, attr_hi_;
};

StatusOr<std::unique_ptr<CpuKernel>> ClipCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, &ClipInfer));
  std::unique_ptr<CpuKernel> kernel;
  if (ctx.opset() < 11) {
    EDGERT_ASSIGN_OR_RETURN(float lo, AttrFloat(ctx, "min", std::numeric_limits<float>::lowest()));
    EDGERT_ASSIGN_OR_RETURN(float hi, AttrFloat(ctx, "max", std::numeric_limits<float>::max()));
    kernel = std::make_unique<ClipKernel<float>>(lo, hi);
    return kernel;
  }
  DispatchDtype(ClipTypes{}, ctx.input(0).dtype, [&](auto tag) {
    using T = decltype(tag);
    kernel = std::make_unique<ClipKernel<T>>(std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max());
  });
  if (!kernel) return ctx.NotSupported(std::string("no kernel for dtype ") + DataTypeName(ctx.input(0).dtype));
  return kernel;
}

}  // namespace

void RegisterUnaryOps(OpRegistry& registry) {
  registry.Register(OpType::kRelu, UnaryDef<ReluOp>());
  registry.Register(OpType::kLeakyRelu, UnaryDef<LeakyReluOp>());
  registry.Register(OpType::kSigmoid, UnaryDef<SigmoidOp>());
  registry.Register(OpType::kTanh, UnaryDef<TanhOp>());
  registry.Register(OpType::kHardSigmoid, UnaryDef<HardSigmoidOp>());
  registry.Register(OpType::kHardSwish, UnaryDef<HardSwishOp>());
  registry.Register(OpType::kElu, UnaryDef<EluOp>());
  registry.Register(OpType::kSelu, UnaryDef<SeluOp>());
  registry.Register(OpType::kSoftplus, UnaryDef<SoftplusOp>());
  registry.Register(OpType::kErf, UnaryDef<ErfOp>());
  registry.Register(OpType::kGelu, UnaryDef<GeluOp>());
  registry.Register(OpType::kMish, UnaryDef<MishOp>());
  registry.Register(OpType::kSqrt, UnaryDef<SqrtOp>());
  registry.Register(OpType::kExp, UnaryDef<ExpOp>());
  registry.Register(OpType::kLog, UnaryDef<LogOp>());
  registry.Register(OpType::kNeg, UnaryDef<NegOp>());
  registry.Register(OpType::kAbs, UnaryDef<AbsOp>());
  registry.Register(OpType::kReciprocal, UnaryDef<ReciprocalOp>());
  registry.Register(OpType::kFloor, UnaryDef<FloorOp>());
  registry.Register(OpType::kCeil, UnaryDef<CeilOp>());
  registry.Register(OpType::kNot, UnaryDef<NotOp>());
  registry.Register(OpType::kClip, OpDef{&ClipSupports, &ClipInfer, &ClipCreate});
}

}  // namespace ew
}  // namespace edgert
