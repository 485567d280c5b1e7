// Reductions (ReduceSum/Mean/Max/Min/Prod), ArgMax/ArgMin and TopK.
//
// Reduce*:
//  1. Axes come from the 'axes' attribute before the opset where they became input 1 (ReduceSum
//     13, the others 18) and from that (build-time constant, optional) input from then on. Empty
//     axes mean all axes, unless noop_with_empty_axes=1, which makes the op an identity.
//  2. The kernel walks the input against its "keepdims" shape (reduced dims set to 1) with
//     BroadcastWalker: along an inner run the accumulator index advances by 0 (a reduced run,
//     folded into one accumulator) or 1 (a kept run, accumulated element by element).
//  3. Accumulators start at the reducer's identity (0, 1, -inf, +inf), so reducing an empty set
//     yields it, as ONNX specifies; float sums and products accumulate in double.
// ArgMax/ArgMin and TopK view the input as [outer, n, inner] around `axis`. TopK orders by value
// (NaN counts as the largest), ties by the smaller index, as ONNX specifies; sorted=0 leaves the
// order unspecified, so the sorted order is returned then too. ArgMax/ArgMin take the first
// extreme element (the last with select_last_index=1).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "elementwise_util.h"
#include "registry.h"

namespace edgert {
namespace ew {
namespace {

// ---- Reducers: Acc Init(), Acc Combine(Acc, T), T Finish(Acc, count) --------------------------

template <typename T>
using WideAcc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <typename T>
struct SumReducer {
  using Acc = WideAcc<T>;
  static Acc Init() { return Acc(0); }
  static Acc Combine(Acc a, T x) { return WrapAdd(a, static_cast<Acc>(x)); }
  static T Finish(Acc a, int64_t) { return static_cast<T>(a); }
};

template <typename T>
struct MeanReducer {
  using Acc = WideAcc<T>;
  static Acc Init() { return Acc(0); }
  static Acc Combine(Acc a, T x) { return WrapAdd(a, static_cast<Acc>(x)); }
  static T Finish(Acc a, int64_t count) {
    if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(a / static_cast<double>(count));  // an empty set gives NaN
    } else {
      return count == 0 ? T(0) : static_cast<T>(a / count);
    }
  }
};

template <typename T>
struct ProdReducer {
  using Acc = WideAcc<T>;
  static Acc Init() { return Acc(1); }
  static Acc Combine(Acc a, T x) { return WrapMul(a, static_cast<Acc>(x)); }
  static T Finish(Acc a, int64_t) { return static_cast<T>(a); }
};

template <typename T>
struct MaxReducer {
  using Acc = T;
  static Acc Init() {
    if constexpr (std::numeric_limits<T>::has_infinity) {
      return -std::numeric_limits<T>::infinity();
    } else {
      return std::numeric_limits<T>::lowest();
    }
  }
  static Acc Combine(Acc a, T x) { return x > a ? x : a; }
  static T Finish(Acc a, int64_t) { return a; }
};

template <typename T>
struct MinReducer {
  using Acc = T;
  static Acc Init() {
    if constexpr (std::numeric_limits<T>::has_infinity) {
      return std::numeric_limits<T>::infinity();
    } else {
      return std::numeric_limits<T>::max();
    }
  }
  static Acc Combine(Acc a, T x) { return x < a ? x : a; }
  static T Finish(Acc a, int64_t) { return a; }
};

// ---- Reduce* ---------------------------------------------------------------------------------------

struct ReduceParams {
  bool identity = false;  // noop_with_empty_axes=1 with empty axes
  Shape keep_shape;       // input shape with reduced dims set to 1
  Shape out_shape;        // keep_shape, or without the reduced dims when keepdims=0
  int64_t count = 1;      // input elements folded into each output element
};

// Checks attributes and the axes source against the opset (no shapes needed).
Status CheckReduceAttrs(const OpContext& ctx, int axes_input_opset) {
  EDGERT_RETURN_IF_ERROR(AttrFlag(ctx, "keepdims", true).status());
  EDGERT_RETURN_IF_ERROR(AttrFlag(ctx, "noop_with_empty_axes", false).status());
  const std::string since =
      " from opset " + std::to_string(axes_input_opset) + "; this node is opset " + std::to_string(ctx.opset());
  if (ctx.opset() >= axes_input_opset) {
    if (ctx.attrs().Has("axes")) return ctx.Error("attribute 'axes' is replaced by input 'axes'" + since);
    if (ctx.has_input(1)) EDGERT_RETURN_IF_ERROR(CheckInputDtype(ctx, 1, "axes", TypeList<int64_t>{}));
  } else {
    if (ctx.has_input(1)) return ctx.Error("input 'axes' exists only" + since);
    auto axes = ctx.attrs().GetIntsOr("axes", {}, ctx.name());
    if (!axes.ok()) return ctx.Error(axes.status().message());
  }
  return Status::Ok();
}

StatusOr<ReduceParams> ParseReduce(const OpContext& ctx, int axes_input_opset) {
  EDGERT_RETURN_IF_ERROR(CheckReduceAttrs(ctx, axes_input_opset));
  EDGERT_ASSIGN_OR_RETURN(bool keepdims, AttrFlag(ctx, "keepdims", true));
  EDGERT_ASSIGN_OR_RETURN(bool noop, AttrFlag(ctx, "noop_with_empty_axes", false));
  std::vector<int64_t> axes;
  if (ctx.opset() >= axes_input_opset) {
    if (ctx.has_input(1)) {
      if (ctx.input(1).shape.size() > 1) {
        return ctx.Error("input 'axes' must be 1-D, got shape " + ShapeToString(ctx.input(1).shape));
      }
      EDGERT_ASSIGN_OR_RETURN(axes, ConstInputInts(ctx, 1, "axes"));
    }
  } else {
    auto attr = ctx.attrs().GetIntsOr("axes", {}, ctx.name());
    if (!attr.ok()) return ctx.Error(attr.status().message());
    axes = *attr;
  }
  const Shape& in = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  ReduceParams p;
  if (axes.empty() && noop) {
    p.identity = true;
    p.keep_shape = in;
    p.out_shape = in;
    return p;
  }
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(ctx, axes, rank, "axes"));
  std::vector<bool> reduced(in.size(), axes.empty());
  for (int64_t a : norm) reduced[static_cast<size_t>(a)] = true;
  for (size_t d = 0; d < in.size(); ++d) {
    if (reduced[d]) {
      p.count *= in[d];
      p.keep_shape.push_back(1);
      if (keepdims) p.out_shape.push_back(1);
    } else {
      p.keep_shape.push_back(in[d]);
      p.out_shape.push_back(in[d]);
    }
  }
  return p;
}

template <int kAxesInputOpset, typename Types>
Status ReduceSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckInputDtype(ctx, 0, "data", Types{}));
  return CheckReduceAttrs(ctx, kAxesInputOpset);
}

template <int kAxesInputOpset>
Status ReduceInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(ReduceParams p, ParseReduce(ctx, kAxesInputOpset));
  ctx.SetOutput(0, ctx.input(0).dtype, p.out_shape);
  return Status::Ok();
}

template <typename T, template <typename> class R>
class ReduceKernel : public CpuKernel {
 public:
  ReduceKernel(ReduceParams p, const Shape& in_shape)
      : p_(std::move(p)),
        walker_({p_.keep_shape}, in_shape),
        acc_size_(NumElements(p_.out_shape)),
        acc_(new typename R<T>::Acc[static_cast<size_t>(acc_size_)]) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const T* x = inputs[0]->data<T>();
    T* y = outputs[0]->data<T>();
    if (p_.identity) {
      if (outputs[0]->bytes()) std::memcpy(y, x, outputs[0]->bytes());
      return Status::Ok();
    }
    using Acc = typename R<T>::Acc;
    Acc* acc = acc_.get();
    std::fill(acc, acc + acc_size_, R<T>::Init());
    const bool kept_run = walker_.inner_steps()[0] != 0;
    walker_.ForEachRun([&](int64_t in_off, const int64_t* off, int64_t n) {
      const T* xr = x + in_off;
      Acc* ar = acc + off[0];
      if (kept_run) {
        for (int64_t j = 0; j < n; ++j) ar[j] = R<T>::Combine(ar[j], xr[j]);
      } else {
        Acc a = ar[0];
        for (int64_t j = 0; j < n; ++j) a = R<T>::Combine(a, xr[j]);
        ar[0] = a;
      }
    });
    for (int64_t i = 0; i < acc_size_; ++i) y[i] = R<T>::Finish(acc[i], p_.count);
    return Status::Ok();
  }

 private:
  ReduceParams p_;
  BroadcastWalker walker_;
  int64_t acc_size_;
  std::unique_ptr<typename R<T>::Acc[]> acc_;  // one accumulator per output element (not vector<bool>)
};

template <template <typename> class R, int kAxesInputOpset, typename Types>
StatusOr<std::unique_ptr<CpuKernel>> ReduceCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, &ReduceInfer<kAxesInputOpset>));
  EDGERT_ASSIGN_OR_RETURN(ReduceParams p, ParseReduce(ctx, kAxesInputOpset));
  std::unique_ptr<CpuKernel> kernel;
  DispatchDtype(Types{}, ctx.input(0).dtype,
                [&](auto tag) { kernel = std::make_unique<ReduceKernel<decltype(tag), R>>(p, ctx.input(0).shape); });
  if (!kernel) return ctx.NotSupported(std::string("no kernel for dtype ") + DataTypeName(ctx.input(0).dtype));
  return kernel;
}

template <template <typename> class R, int kAxesInputOpset, typename Types>
OpDef ReduceDef() {
  return OpDef{&ReduceSupports<kAxesInputOpset, Types>, &ReduceInfer<kAxesInputOpset>,
               &ReduceCreate<R, kAxesInputOpset, Types>};
}

// ---- ArgMax / ArgMin ---------------------------------------------------------------------------

// The input seen as [outer, n, inner] around `axis`.
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisView ViewAround(const Shape& shape, int64_t axis) {
  AxisView v;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis) v.outer *= shape[d];
    if (d == axis) v.n = shape[d];
    if (d > axis) v.inner *= shape[d];
  }
  return v;
}

struct ArgParams {
  int64_t axis = 0;  // normalised
  bool keepdims = true;
  bool select_last = false;
};

StatusOr<ArgParams> ParseArg(const OpContext& ctx) {
  ArgParams p;
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, AttrInt(ctx, "axis", 0));
  EDGERT_ASSIGN_OR_RETURN(p.keepdims, AttrFlag(ctx, "keepdims", true));
  EDGERT_ASSIGN_OR_RETURN(p.select_last, AttrFlag(ctx, "select_last_index", false));
  EDGERT_ASSIGN_OR_RETURN(p.axis, NormalizeAxis(ctx, axis, static_cast<int64_t>(ctx.input(0).shape.size())));
  return p;
}

Status ArgSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckInputDtype(ctx, 0, "data", NumericTypes{}));
  EDGERT_RETURN_IF_ERROR(AttrInt(ctx, "axis", 0).status());
  EDGERT_RETURN_IF_ERROR(AttrFlag(ctx, "keepdims", true).status());
  return AttrFlag(ctx, "select_last_index", false).status();
}

Status ArgInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(ArgParams p, ParseArg(ctx));
  const Shape& in = ctx.input(0).shape;
  if (in[static_cast<size_t>(p.axis)] == 0) {
    return ctx.Error("cannot select an index along axis " + std::to_string(p.axis) + " of size 0 (input shape " +
                     ShapeToString(in) + ")");
  }
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (static_cast<int64_t>(d) != p.axis) {
      out.push_back(in[d]);
    } else if (p.keepdims) {
      out.push_back(1);
    }
  }
  ctx.SetOutput(0, DataType::kInt64, std::move(out));
  return Status::Ok();
}

template <typename T, bool kMax>
class ArgKernel : public CpuKernel {
 public:
  ArgKernel(AxisView v, bool select_last) : v_(v), select_last_(select_last) {}
  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const T* x = inputs[0]->data<T>();
    int64_t* y = outputs[0]->data<int64_t>();
    for (int64_t o = 0; o < v_.outer; ++o) {
      for (int64_t i = 0; i < v_.inner; ++i) {
        const T* base = x + o * v_.n * v_.inner + i;
        T best = base[0];
        int64_t best_j = 0;
        for (int64_t j = 1; j < v_.n; ++j) {
          T v = base[j * v_.inner];
          bool better = kMax ? v > best : v < best;
          if (better || (select_last_ && v == best)) {
            best = v;
            best_j = j;
          }
        }
        y[o * v_.inner + i] = best_j;
      }
    }
    return Status::Ok();
  }

 private:
  AxisView v_;
  bool select_last_;
};

template <bool kMax>
StatusOr<std::unique_ptr<CpuKernel>> ArgCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, &ArgInfer));
  EDGERT_ASSIGN_OR_RETURN(ArgParams p, ParseArg(ctx));
  AxisView v = ViewAround(ctx.input(0).shape, p.axis);
  std::unique_ptr<CpuKernel> kernel;
  DispatchDtype(NumericTypes{}, ctx.input(0).dtype,
                [&](auto tag) { kernel = std::make_unique<ArgKernel<decltype(tag), kMax>>(v, p.select_last); });
  if (!kernel) return ctx.NotSupported(std::string("no kernel for dtype ") + DataTypeName(ctx.input(0).dtype));
  return kernel;
}

// ---- TopK ----------------------------------------------------------------------------------------

struct TopKParams {
  int64_t axis = 0;  // normalised
  bool largest = true;
  bool sorted = true;
  bool k_known = false;  // K is a build-time constant
  int64_t k = 0;
};

Status TopKSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckInputDtype(ctx, 0, "X", NumericTypes{}));
  if (ctx.opset() < 10) {
    return ctx.NotSupported("TopK before opset 10 (k as an attribute) is not supported; this node is opset " +
                            std::to_string(ctx.opset()));
  }
  EDGERT_RETURN_IF_ERROR(CheckInputDtype(ctx, 1, "K", TypeList<int64_t>{}));
  EDGERT_RETURN_IF_ERROR(AttrInt(ctx, "axis", -1).status());
  EDGERT_RETURN_IF_ERROR(AttrFlag(ctx, "largest", true).status());
  return AttrFlag(ctx, "sorted", true).status();
}

// `require_k`: a K input without a build-time value is an error (infer); otherwise k_known=false.
StatusOr<TopKParams> ParseTopK(const OpContext& ctx, bool require_k) {
  TopKParams p;
  const Shape& in = ctx.input(0).shape;
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, AttrInt(ctx, "axis", -1));
  EDGERT_ASSIGN_OR_RETURN(p.axis, NormalizeAxis(ctx, axis, static_cast<int64_t>(in.size())));
  EDGERT_ASSIGN_OR_RETURN(p.largest, AttrFlag(ctx, "largest", true));
  EDGERT_ASSIGN_OR_RETURN(p.sorted, AttrFlag(ctx, "sorted", true));
  if (NumElements(ctx.input(1).shape) != 1) {
    return ctx.Error("input 'K' must hold one value, got shape " + ShapeToString(ctx.input(1).shape));
  }
  if (ctx.input(1).value != nullptr || require_k) {
    EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> k, ConstInputInts(ctx, 1, "K"));
    p.k = k[0];
    p.k_known = true;
  }
  if (p.k_known) {
    const int64_t n = in[static_cast<size_t>(p.axis)];
    if (p.k < 0 || p.k > n) {
      return ctx.Error("k = " + std::to_string(p.k) + " is outside [0, " + std::to_string(n) + "], the size of axis " +
                       std::to_string(p.axis));
    }
  }
  return p;
}

Status TopKInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(TopKParams p, ParseTopK(ctx, true));
  Shape out = ctx.input(0).shape;
  out[static_cast<size_t>(p.axis)] = p.k;
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  ctx.SetOutput(1, DataType::kInt64, out);
  return Status::Ok();
}

template <typename T>
class TopKKernel : public CpuKernel {
 public:
  // k < 0: read k from input 1 at run time and check it against the declared output.
  TopKKernel(AxisView v, int64_t k, int64_t declared_k, bool largest, std::string label)
      : v_(v),
        k_(k),
        declared_k_(declared_k),
        largest_(largest),
        label_(std::move(label)),
        order_(static_cast<size_t>(v.n)) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    int64_t k = k_;
    if (k < 0) {
      k = inputs[1]->data<int64_t>()[0];
      if (k != declared_k_) {
        return InvalidArgument(label_ + ": K is " + std::to_string(k) +
                               " but the outputs were declared for K = " + std::to_string(declared_k_));
      }
    }
    const T* x = inputs[0]->data<T>();
    T* values = outputs[0]->data<T>();
    int64_t* indices = outputs[1]->data<int64_t>();
    for (int64_t o = 0; o < v_.outer; ++o) {
      for (int64_t i = 0; i < v_.inner; ++i) {
        const T* base = x + o * v_.n * v_.inner + i;
        auto before = [&](int64_t a, int64_t b) {
          T va = base[a * v_.inner];
          T vb = base[b * v_.inner];
          bool na = IsNanValue(va), nb = IsNanValue(vb);
          if (na || nb) {
            if (na && nb) return a < b;
            return largest_ ? na : nb;  // NaN is the largest value
          }
          if (va != vb) return largest_ ? va > vb : va < vb;
          return a < b;
        };
        for (int64_t j = 0; j < v_.n; ++j) order_[static_cast<size_t>(j)] = j;
        std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), before);
        for (int64_t j = 0; j < k; ++j) {
          int64_t src = order_[static_cast<size_t>(j)];
          int64_t dst = (o * k + j) * v_.inner + i;
          values[dst] = base[src * v_.inner];
          indices[dst] = src;
        }
      }
    }
    return Status::Ok();
  }

 private:
  static bool IsNanValue(T v) {
    if constexpr (std::is_floating_point_v<T>) {
      return std::isnan(v);
    } else {
      return false;
    }
  }

  AxisView v_;
  int64_t k_;
  int64_t declared_k_;
  bool largest_;
  std::string label_;
  std::vector<int64_t> order_;  // scratch: candidate indices along the axis
};

StatusOr<std::unique_ptr<CpuKernel>> TopKCreate(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(TopKParams p, ParseTopK(ctx, false));
  // The declared outputs fix k when K is only known at run time.
  int64_t declared_k = -1;
  if (ctx.num_outputs() == 2 && ctx.output(0).shape.size() == ctx.input(0).shape.size()) {
    declared_k = ctx.output(0).shape[static_cast<size_t>(p.axis)];
  }
  if (!p.k_known) {
    const int64_t n = ctx.input(0).shape[static_cast<size_t>(p.axis)];
    if (declared_k < 0 || declared_k > n) {
      return ctx.Error("the declared outputs do not fit input 'X' of shape " + ShapeToString(ctx.input(0).shape));
    }
  }
  Shape out = ctx.input(0).shape;
  out[static_cast<size_t>(p.axis)] = p.k_known ? p.k : declared_k;
  for (size_t i = 0; i < 2; ++i) {
    DataType want = i == 0 ? ctx.input(0).dtype : DataType::kInt64;
    if (ctx.output(i).dtype != want || ctx.output(i).shape != out) {
      return ctx.Error("output " + std::to_string(i) + " is declared as " + DataTypeName(ctx.output(i).dtype) + " " +
                       ShapeToString(ctx.output(i).shape) + " but the inputs give " + DataTypeName(want) + " " +
                       ShapeToString(out));
    }
  }
  AxisView v = ViewAround(ctx.input(0).shape, p.axis);
  std::string label = NodeLabel(ctx);
  std::unique_ptr<CpuKernel> kernel;
  DispatchDtype(NumericTypes{}, ctx.input(0).dtype, [&](auto tag) {
    kernel = std::make_unique<TopKKernel<decltype(tag)>>(v, p.k_known ? p.k : -1, declared_k, p.largest, label);
  });
  if (!kernel) return ctx.NotSupported(std::string("no kernel for dtype ") + DataTypeName(ctx.input(0).dtype));
  return kernel;
}

void RegisterReduceFamily(OpRegistry& registry) {
  using MinMaxTypes = ValueTypes;  // ReduceMax/ReduceMin also take bool (opset 20) and int8/int16
  registry.Register(OpType::kReduceSum, ReduceDef<SumReducer, 13, NumericTypes>());
  registry.Register(OpType::kReduceMean, ReduceDef<MeanReducer, 18, NumericTypes>());
  registry.Register(OpType::kReduceProd, ReduceDef<ProdReducer, 18, NumericTypes>());
  registry.Register(OpType::kReduceMax, ReduceDef<MaxReducer, 18, MinMaxTypes>());
  registry.Register(OpType::kReduceMin, ReduceDef<MinReducer, 18, MinMaxTypes>());
  registry.Register(OpType::kArgMax, OpDef{&ArgSupports, &ArgInfer, &ArgCreate<true>});
  registry.Register(OpType::kArgMin, OpDef{&ArgSupports, &ArgInfer, &ArgCreate<false>});
  registry.Register(OpType::kTopK, OpDef{&TopKSupports, &TopKInfer, &TopKCreate});
}

}  // namespace
}  // namespace ew

void RegisterReduceOps(OpRegistry& registry) { ew::RegisterReduceFamily(registry); }

}  // namespace edgert
