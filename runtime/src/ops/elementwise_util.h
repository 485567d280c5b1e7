// Machinery shared by the elementwise and reduce operator families:
//   - compile-time dtype lists, and dispatch from a runtime DataType to a C++ element type;
//   - BroadcastWalker, which walks N broadcast inputs against an output in contiguous inner runs.
// All of it lives in namespace edgert::ew. Attribute reads and the declared-output check are
// op_util.h's, shared by every family.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "edgert/op_def.h"
#include "op_util.h"

namespace edgert {
namespace ew {

template <typename... Ts>
struct TypeList {};

using FloatTypes = TypeList<float>;
using NumericTypes = TypeList<float, int32_t, int64_t>;  // arithmetic
// Ordering ops (Min/Max, Clip): also the narrow signed integers the ONNX conformance tests use.
using OrderedTypes = TypeList<float, int32_t, int64_t, int8_t, int16_t>;
// Comparisons, Where, ReduceMax/ReduceMin: OrderedTypes and bool.
using ValueTypes = TypeList<float, int32_t, int64_t, bool, int8_t, int16_t>;
using BoolTypes = TypeList<bool>;

// Calls fn(T{}) for the T of the list whose DataTypeOf<T> is `dtype`; false when none is.
template <typename... Ts, typename Fn>
bool DispatchDtype(TypeList<Ts...>, DataType dtype, Fn&& fn) {
  bool hit = false;
  (void)((DataTypeOf<Ts>::value == dtype ? (fn(Ts{}), hit = true) : false) || ...);
  return hit;
}

// "float32, int32 or int64".
template <typename... Ts>
std::string DtypeNames(TypeList<Ts...>) {
  const char* names[] = {DataTypeName(DataTypeOf<Ts>::value)...};
  std::string out;
  const size_t n = sizeof...(Ts);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += (i + 1 == n) ? " or " : ", ";
    out += names[i];
  }
  return out;
}

// Error naming input `index` (called `what`) when its dtype is not in the list. An absent input
// passes (optional inputs are checked by their op).
template <typename... Ts>
Status CheckInputDtype(const OpContext& ctx, size_t index, const char* what, TypeList<Ts...> types) {
  if (!ctx.has_input(index)) return Status::Ok();
  DataType dtype = ctx.input(index).dtype;
  if (DispatchDtype(types, dtype, [](auto) {})) return Status::Ok();
  return ctx.NotSupported(std::string("input '") + what + "' has dtype " + DataTypeName(dtype) +
                          "; supported: " + DtypeNames(types));
}

// "Add node 'add0'": the prefix of errors a kernel reports at run time (OpContext::Error's form).
std::string NodeLabel(const OpContext& ctx);

// Error unless inputs `a` and `b` (both present) have the same dtype.
Status CheckSameDtype(const OpContext& ctx, size_t a, size_t b);


// Walks inputs broadcast against an output shape in runs of contiguous output elements.
//
// Algorithm: left-pad every input shape to the output rank; drop output dims of size 1; merge
// adjacent dims where every input is broadcast in both or in neither. The last merged dim is the
// inner run: along it each input advances by 0 (broadcast) or 1 element. The remaining dims are
// walked with ForEachBroadcast. Same-shape operands therefore become one run over all elements,
// a scalar operand a run with step 0, and a per-channel bias on NCHW runs of H*W.
class BroadcastWalker {
 public:
  // Every shape in `inputs` must broadcast to `out` (checked by infer()).
  BroadcastWalker(const std::vector<Shape>& inputs, const Shape& out);

  int64_t inner() const { return inner_; }
  // 0 or 1 per input: its element step along the inner run.
  const std::vector<int64_t>& inner_steps() const { return inner_steps_; }

  // Calls fn(out_offset, in_offsets, run_length) for every run; in_offsets[k] is the element
  // offset of input k at the start of the run. Nothing is called for an empty output.
  template <typename Fn>
  void ForEachRun(Fn&& fn) const {
    if (empty_) return;
    const int64_t inner = inner_;
    ForEachBroadcast(outer_, outer_strides_, [&](int64_t o, const int64_t* offsets) { fn(o * inner, offsets, inner); });
  }

 private:
  bool empty_ = false;
  int64_t inner_ = 1;
  std::vector<int64_t> inner_steps_;
  Shape outer_;
  std::vector<std::vector<int64_t>> outer_strides_;
};

// The unsigned type integer arithmetic on T wraps in (at least `unsigned`, so narrow types do not
// promote to a signed int).
template <typename T>
using WrapUnsigned = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

// Integer arithmetic that wraps modulo 2^bits instead of overflowing (signed overflow is
// undefined in C++); plain arithmetic for floating point.
template <typename T>
T WrapAdd(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    using U = WrapUnsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}
template <typename T>
T WrapSub(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    using U = WrapUnsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}
template <typename T>
T WrapMul(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    using U = WrapUnsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
  } else {
    return a * b;
  }
}
template <typename T>
T WrapNeg(T a) {
  return WrapSub(T(0), a);
}

}  // namespace ew
}  // namespace edgert
