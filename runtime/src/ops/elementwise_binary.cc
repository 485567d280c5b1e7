// Binary elementwise operators with numpy broadcasting, the variadic Min/Max/Sum/Mean, and Where.
//
// One generic mechanism: each binary operator is a functor struct deriving from BinaryTraits with
//   TypesA / TypesB   accepted element types of A and B (TypesB = void: B has A's dtype),
//   kBoolOutput       the output is bool (comparisons) instead of A's dtype,
//   operator()(a, b)  the scalar function.
// BinaryDef<Op>() makes the OpDef; BinaryKernel<TA, TB, TO, Op> walks the broadcast in runs
// (BroadcastWalker) and specialises the inner loop for each operand being contiguous or constant
// along the run, so same-shape, scalar and per-channel operands become plain vectorisable loops.
// Variadic operators apply their binary functor pairwise into the output: out = f(in0, in1), then
// out = f(out, ink) for k >= 2 (safe in place: out has the full shape and is read before written).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "elementwise.h"
#include "elementwise_util.h"
#include "registry.h"

namespace edgert {
namespace ew {
namespace {

struct BinaryTraits {
  using TypesB = void;
  static constexpr bool kBoolOutput = false;
  // Integer division: a zero divisor is reported as an error instead of computed.
  static constexpr bool kZeroDivisorIsError = false;
  // PRelu: B broadcasts to A's shape, never the other way.
  static constexpr bool kUnidirectional = false;
};

template <typename TA, typename TB, typename TO, typename Op>
inline void RunInner(const Op& op, const TA* a, int64_t step_a, const TB* b, int64_t step_b, TO* out, int64_t n) {
  if (step_a != 0 && step_b != 0) {
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (step_a != 0) {
    const TB bv = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], bv);
  } else if (step_b != 0) {
    const TA av = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = op(av, b[i]);
  } else {
    const TO v = op(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  }
}

// out = op(a, b) over `walker`'s broadcast (built for shapes {a, b} against out).
template <typename TA, typename TB, typename TO, typename Op>
void BinaryBroadcast(const Op& op, const BroadcastWalker& walker, const TA* a, const TB* b, TO* out) {
  const int64_t step_a = walker.inner_steps()[0];
  const int64_t step_b = walker.inner_steps()[1];
  walker.ForEachRun([&](int64_t o, const int64_t* off, int64_t n) {
    RunInner(op, a + off[0], step_a, b + off[1], step_b, out + o, n);
  });
}

// Error naming the node when an integer divisor has a zero element.
template <typename T>
Status CheckNoZero(const Tensor& divisor, const std::string& node_label) {
  const T* d = divisor.data<T>();
  const int64_t n = divisor.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    if (d[i] == 0) {
      return InvalidArgument(node_label + ": integer division by zero (divisor element " + std::to_string(i) + ")");
    }
  }
  return Status::Ok();
}

template <typename TA, typename TB, typename TO, typename Op>
class BinaryKernel : public CpuKernel {
 public:
  BinaryKernel(Op op, BroadcastWalker walker, std::string label)
      : op_(op), walker_(std::move(walker)), label_(std::move(label)) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    if constexpr (Op::kZeroDivisorIsError && std::is_integral_v<TB>) {
      EDGERT_RETURN_IF_ERROR(CheckNoZero<TB>(*inputs[1], label_));
    }
    BinaryBroadcast(op_, walker_, inputs[0]->data<TA>(), inputs[1]->data<TB>(), outputs[0]->data<TO>());
    return Status::Ok();
  }

 private:
  Op op_;
  BroadcastWalker walker_;
  std::string label_;
};

Status RejectLegacyBroadcast(const OpContext& ctx) {
  if (ctx.attrs().Has("axis")) {
    return ctx.NotSupported("the legacy 'axis' broadcast attribute (opset < 7) is not supported");
  }
  return Status::Ok();
}

template <typename Op>
Status BinarySupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(RejectLegacyBroadcast(ctx));
  EDGERT_RETURN_IF_ERROR(CheckInputDtype(ctx, 0, "A", typename Op::TypesA{}));
  if constexpr (std::is_void_v<typename Op::TypesB>) {
    return CheckSameDtype(ctx, 0, 1);
  } else {
    return CheckInputDtype(ctx, 1, "B", typename Op::TypesB{});
  }
}

template <typename Op>
Status BinaryInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(Shape out, BroadcastShapes(ctx, {ctx.input(0).shape, ctx.input(1).shape}));
  if (Op::kUnidirectional && out != ctx.input(0).shape) {
    return ctx.Error("input 1 of shape " + ShapeToString(ctx.input(1).shape) +
                     " does not broadcast to input 0's shape " + ShapeToString(ctx.input(0).shape));
  }
  ctx.SetOutput(0, Op::kBoolOutput ? DataType::kBool : ctx.input(0).dtype, std::move(out));
  return Status::Ok();
}

template <typename Op>
StatusOr<std::unique_ptr<CpuKernel>> BinaryCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, &BinaryInfer<Op>));
  BroadcastWalker walker({ctx.input(0).shape, ctx.input(1).shape}, ctx.output(0).shape);
  std::unique_ptr<CpuKernel> kernel;
  DispatchDtype(typename Op::TypesA{}, ctx.input(0).dtype, [&](auto tag_a) {
    using TA = decltype(tag_a);
    using TO = std::conditional_t<Op::kBoolOutput, bool, TA>;
    if constexpr (std::is_void_v<typename Op::TypesB>) {
      kernel = std::make_unique<BinaryKernel<TA, TA, TO, Op>>(Op{}, walker, NodeLabel(ctx));
    } else {
      DispatchDtype(typename Op::TypesB{}, ctx.input(1).dtype, [&](auto tag_b) {
        kernel = std::make_unique<BinaryKernel<TA, decltype(tag_b), TO, Op>>(Op{}, walker, NodeLabel(ctx));
      });
    }
  });
  if (!kernel) {
    return ctx.NotSupported(std::string("no kernel for dtypes ") + DataTypeName(ctx.input(0).dtype) + " and " +
                            DataTypeName(ctx.input(1).dtype));
  }
  return kernel;
}

template <typename Op>
OpDef BinaryDef() {
  return OpDef{&BinarySupports<Op>, &BinaryInfer<Op>, &BinaryCreate<Op>};
}

// ---- Binary functors ----------------------------------------------------------------------------

struct AddOp : BinaryTraits {
  using TypesA = NumericTypes;
  template <typename T>
  T operator()(T a, T b) const {
    return WrapAdd(a, b);
  }
};

struct SubOp : BinaryTraits {
  using TypesA = NumericTypes;
  template <typename T>
  T operator()(T a, T b) const {
    return WrapSub(a, b);
  }
};

struct MulOp : BinaryTraits {
  using TypesA = NumericTypes;
  template <typename T>
  T operator()(T a, T b) const {
    return WrapMul(a, b);
  }
};

// Integer division truncates toward zero (C semantics, as ONNX Runtime does).
struct DivOp : BinaryTraits {
  using TypesA = NumericTypes;
  static constexpr bool kZeroDivisorIsError = true;
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == -1) return WrapNeg(a);  // INT_MIN / -1 would trap
      return b == 0 ? T(0) : static_cast<T>(a / b);
    } else {
      return a / b;
    }
  }
};

// Truncating, saturating conversion of a double to an integer type; NaN gives 0.
template <typename T>
T SaturatingCast(double v) {
  if (std::isnan(v)) return T(0);
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  return static_cast<T>(v);
}

// Exact integer power (wrapping on overflow); a negative exponent truncates 1 / base^-e toward 0.
template <typename T, typename E>
T IntPow(T base, E exponent) {
  if (exponent < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exponent % 2 == 0) ? T(1) : T(-1);
    return 0;
  }
  T result = 1;
  T b = base;
  auto e = exponent;
  while (e > 0) {
    if (e & 1) result = WrapMul(result, b);
    b = WrapMul(b, b);
    e >>= 1;
  }
  return result;
}

// Output dtype is the base's. Float base: std::pow. Integer base: exact for an integer exponent,
// otherwise pow in double truncated toward zero.
struct PowOp : BinaryTraits {
  using TypesA = NumericTypes;
  using TypesB = NumericTypes;
  template <typename TA, typename TB>
  TA operator()(TA a, TB b) const {
    if constexpr (std::is_floating_point_v<TA>) {
      if constexpr (std::is_floating_point_v<TB>) {
        return std::pow(a, b);
      } else {
        return static_cast<TA>(std::pow(static_cast<double>(a), static_cast<double>(b)));
      }
    } else if constexpr (std::is_integral_v<TB>) {
      return IntPow(a, b);
    } else {
      return SaturatingCast<TA>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    }
  }
};

template <typename T>
bool IsNan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

// NaN propagates, as in numpy.maximum / numpy.minimum.
struct MaxOp : BinaryTraits {
  using TypesA = OrderedTypes;
  template <typename T>
  T operator()(T a, T b) const {
    return (a >= b || IsNan(a)) ? a : b;
  }
};

struct MinOp : BinaryTraits {
  using TypesA = OrderedTypes;
  template <typename T>
  T operator()(T a, T b) const {
    return (a <= b || IsNan(a)) ? a : b;
  }
};

struct PReluOp : BinaryTraits {
  using TypesA = NumericTypes;
  static constexpr bool kUnidirectional = true;
  template <typename T>
  T operator()(T x, T slope) const {
    return x < T(0) ? WrapMul(x, slope) : x;
  }
};

struct CompareTraits : BinaryTraits {
  using TypesA = ValueTypes;
  static constexpr bool kBoolOutput = true;
};

struct EqualOp : CompareTraits {
  template <typename T>
  bool operator()(T a, T b) const {
    return a == b;
  }
};
struct LessOp : CompareTraits {
  template <typename T>
  bool operator()(T a, T b) const {
    return a < b;
  }
};
struct GreaterOp : CompareTraits {
  template <typename T>
  bool operator()(T a, T b) const {
    return a > b;
  }
};
struct LessOrEqualOp : CompareTraits {
  template <typename T>
  bool operator()(T a, T b) const {
    return a <= b;
  }
};
struct GreaterOrEqualOp : CompareTraits {
  template <typename T>
  bool operator()(T a, T b) const {
    return a >= b;
  }
};

struct AndOp : BinaryTraits {
  using TypesA = BoolTypes;
  bool operator()(bool a, bool b) const { return a && b; }
};
struct OrOp : BinaryTraits {
  using TypesA = BoolTypes;
  bool operator()(bool a, bool b) const { return a || b; }
};

// ---- Variadic Min / Max / Sum / Mean ----------------------------------------------------------

template <typename T, typename Op, bool kMean>
class VariadicKernel : public CpuKernel {
 public:
  VariadicKernel(std::vector<BroadcastWalker> walkers) : walkers_(std::move(walkers)) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    T* out = outputs[0]->data<T>();
    const int64_t n = outputs[0]->num_elements();
    if (inputs.size() == 1) {
      if (n > 0) std::memcpy(out, inputs[0]->data<T>(), static_cast<size_t>(n) * sizeof(T));
    } else {
      BinaryBroadcast(op_, walkers_[0], inputs[0]->data<T>(), inputs[1]->data<T>(), out);
      for (size_t k = 2; k < inputs.size(); ++k) {
        BinaryBroadcast(op_, walkers_[k - 1], static_cast<const T*>(out), inputs[k]->data<T>(), out);
      }
    }
    if constexpr (kMean) {
      const T count = static_cast<T>(inputs.size());
      for (int64_t i = 0; i < n; ++i) out[i] = out[i] / count;
    }
    return Status::Ok();
  }

 private:
  Op op_;
  std::vector<BroadcastWalker> walkers_;  // walkers_[k - 1] combines the running result with input k
};

template <typename Types>
Status VariadicSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(RejectLegacyBroadcast(ctx));
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("input " + std::to_string(i) + " is empty");
    std::string what = "data_" + std::to_string(i);
    EDGERT_RETURN_IF_ERROR(CheckInputDtype(ctx, i, what.c_str(), Types{}));
    EDGERT_RETURN_IF_ERROR(CheckSameDtype(ctx, 0, i));
  }
  return Status::Ok();
}

Status VariadicInfer(OpContext& ctx) {
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) shapes.push_back(ctx.input(i).shape);
  EDGERT_ASSIGN_OR_RETURN(Shape out, BroadcastShapes(ctx, shapes));
  if (ctx.num_inputs() == 1 && out != ctx.input(0).shape) return Internal("broadcast of one shape changed it");
  ctx.SetOutput(0, ctx.input(0).dtype, std::move(out));
  return Status::Ok();
}

template <typename Types, typename Op, bool kMean>
StatusOr<std::unique_ptr<CpuKernel>> VariadicCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, &VariadicInfer));
  const Shape& out = ctx.output(0).shape;
  std::vector<BroadcastWalker> walkers;
  for (size_t k = 1; k < ctx.num_inputs(); ++k) {
    walkers.emplace_back(std::vector<Shape>{k == 1 ? ctx.input(0).shape : out, ctx.input(k).shape}, out);
  }
  std::unique_ptr<CpuKernel> kernel;
  DispatchDtype(Types{}, ctx.input(0).dtype, [&](auto tag) {
    kernel = std::make_unique<VariadicKernel<decltype(tag), Op, kMean>>(std::move(walkers));
  });
  if (!kernel) return ctx.NotSupported(std::string("no kernel for dtype ") + DataTypeName(ctx.input(0).dtype));
  return kernel;
}

template <typename Types, typename Op, bool kMean = false>
OpDef VariadicDef() {
  return OpDef{&VariadicSupports<Types>, &VariadicInfer, &VariadicCreate<Types, Op, kMean>};
}

// ---- Where ----------------------------------------------------------------------------------------

template <typename T>
class WhereKernel : public CpuKernel {
 public:
  explicit WhereKernel(BroadcastWalker walker) : walker_(std::move(walker)) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const bool* cond = inputs[0]->data<bool>();
    const T* x = inputs[1]->data<T>();
    const T* y = inputs[2]->data<T>();
    T* out = outputs[0]->data<T>();
    const int64_t sc = walker_.inner_steps()[0];
    const int64_t sx = walker_.inner_steps()[1];
    const int64_t sy = walker_.inner_steps()[2];
    walker_.ForEachRun([&](int64_t o, const int64_t* off, int64_t n) {
      const bool* c = cond + off[0];
      const T* xr = x + off[1];
      const T* yr = y + off[2];
      T* orow = out + o;
      for (int64_t i = 0; i < n; ++i) orow[i] = c[i * sc] ? xr[i * sx] : yr[i * sy];
    });
    return Status::Ok();
  }

 private:
  BroadcastWalker walker_;
};

Status WhereSupports(const OpContext& ctx) {
  if (ctx.input(0).dtype != DataType::kBool) {
    return ctx.Error(std::string("input 'condition' must be bool, got ") + DataTypeName(ctx.input(0).dtype));
  }
  EDGERT_RETURN_IF_ERROR(CheckInputDtype(ctx, 1, "X", ValueTypes{}));
  return CheckSameDtype(ctx, 1, 2);
}

Status WhereInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(Shape out,
                          BroadcastShapes(ctx, {ctx.input(0).shape, ctx.input(1).shape, ctx.input(2).shape}));
  ctx.SetOutput(0, ctx.input(1).dtype, std::move(out));
  return Status::Ok();
}

StatusOr<std::unique_ptr<CpuKernel>> WhereCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, &WhereInfer));
  BroadcastWalker walker({ctx.input(0).shape, ctx.input(1).shape, ctx.input(2).shape}, ctx.output(0).shape);
  std::unique_ptr<CpuKernel> kernel;
  DispatchDtype(ValueTypes{}, ctx.input(1).dtype,
                [&](auto tag) { kernel = std::make_unique<WhereKernel<decltype(tag)>>(walker); });
  if (!kernel) return ctx.NotSupported(std::string("no kernel for dtype ") + DataTypeName(ctx.input(1).dtype));
  return kernel;
}

}  // namespace

void RegisterBinaryOps(OpRegistry& registry) {
  registry.Register(OpType::kAdd, BinaryDef<AddOp>());
  registry.Register(OpType::kSub, BinaryDef<SubOp>());
  registry.Register(OpType::kMul, BinaryDef<MulOp>());
  registry.Register(OpType::kDiv, BinaryDef<DivOp>());
  registry.Register(OpType::kPow, BinaryDef<PowOp>());
  registry.Register(OpType::kPRelu, BinaryDef<PReluOp>());
  registry.Register(OpType::kEqual, BinaryDef<EqualOp>());
  registry.Register(OpType::kLess, BinaryDef<LessOp>());
  registry.Register(OpType::kGreater, BinaryDef<GreaterOp>());
  registry.Register(OpType::kLessOrEqual, BinaryDef<LessOrEqualOp>());
  registry.Register(OpType::kGreaterOrEqual, BinaryDef<GreaterOrEqualOp>());
  registry.Register(OpType::kAnd, BinaryDef<AndOp>());
  registry.Register(OpType::kOr, BinaryDef<OrOp>());
  registry.Register(OpType::kMin, VariadicDef<OrderedTypes, MinOp>());
  registry.Register(OpType::kMax, VariadicDef<OrderedTypes, MaxOp>());
  registry.Register(OpType::kSum, VariadicDef<NumericTypes, AddOp>());
  registry.Register(OpType::kMean, VariadicDef<FloatTypes, AddOp, true>());
  registry.Register(OpType::kWhere, OpDef{&WhereSupports, &WhereInfer, &WhereCreate});
}

}  // namespace ew
}  // namespace edgert
