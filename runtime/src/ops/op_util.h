// Helpers shared by operator implementations: axes, broadcasting, parameter inputs, float16.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgert/op_def.h"

namespace edgert {

// Maps axis in [-rank, rank) to [0, rank); error naming `what` (e.g. "axis") otherwise.
StatusOr<int64_t> NormalizeAxis(const OpContext& ctx, int64_t axis, int64_t rank, const char* what = "axis");
// Normalises every axis and rejects duplicates.
StatusOr<std::vector<int64_t>> NormalizeAxes(const OpContext& ctx, const std::vector<int64_t>& axes, int64_t rank,
                                             const char* what = "axes");

// Numpy-style multidirectional broadcast of all `shapes`; error naming the node otherwise.
StatusOr<Shape> BroadcastShapes(const OpContext& ctx, const std::vector<Shape>& shapes);
// Element strides of `in` laid against `out` (same rank after left-padding with 1s): 0 where `in`
// is broadcast. Used to walk an input while iterating over the output.
std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out);

// Calls fn(out_index, in_offsets) for every element of `out_shape`, where in_offsets[k] is the
// element offset into input k given its broadcast strides (see BroadcastStrides).
template <typename Fn>
void ForEachBroadcast(const Shape& out_shape, const std::vector<std::vector<int64_t>>& in_strides, Fn&& fn) {
  const size_t rank = out_shape.size();
  const size_t n_in = in_strides.size();
  int64_t total = NumElements(out_shape);
  std::vector<int64_t> idx(rank, 0);
  std::vector<int64_t> off(n_in, 0);
  for (int64_t i = 0; i < total; ++i) {
    fn(i, off.data());
    for (size_t d = rank; d-- > 0;) {
      ++idx[d];
      for (size_t k = 0; k < n_in; ++k) off[k] += in_strides[k][d];
      if (idx[d] < out_shape[d]) break;
      for (size_t k = 0; k < n_in; ++k) off[k] -= in_strides[k][d] * idx[d];
      idx[d] = 0;
    }
  }
}

// The build-time value of parameter input `i` (Reshape's shape, Slice's starts, ...) as int64s.
// Error naming the input when it is absent-but-required, not integer, or not known at build time.
StatusOr<std::vector<int64_t>> ConstInputInts(const OpContext& ctx, size_t i, const char* what);
// Same for float parameters (Resize scales, Clip min/max, ...); reads any numeric dtype.
StatusOr<std::vector<float>> ConstInputFloats(const OpContext& ctx, size_t i, const char* what);

// Attribute reads for operators: `fallback` when absent; otherwise an error of the form
// "<Op> node '<name>': attribute 'x' should be int but is floats".
StatusOr<int64_t> AttrInt(const OpContext& ctx, const char* name, int64_t fallback);
StatusOr<float> AttrFloat(const OpContext& ctx, const char* name, float fallback);
StatusOr<std::string> AttrString(const OpContext& ctx, const char* name, const std::string& fallback);
StatusOr<std::vector<int64_t>> AttrInts(const OpContext& ctx, const char* name, const std::vector<int64_t>& fallback);
// An int attribute that must be 0 or 1.
StatusOr<bool> AttrFlag(const OpContext& ctx, const char* name, bool fallback);

// create_cpu's guard against a network whose declared outputs disagree with the operator (a
// hand-built network or a corrupt plan): runs `infer` on a copy of `ctx` and fails, naming the node
// and output, when a declared output (one with a defined dtype) differs in dtype or shape. Kernels
// index their outputs by the inferred shapes, so this keeps them inside their buffers.
Status CheckDeclaredOutputs(const OpContext& ctx, Status (*infer)(OpContext&));

// IEEE half <-> float (round to nearest even).
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);

// FloatToHalf over many arrays (a network's weights: tens of millions of values), in blocks on up
// to `threads` threads (ParallelFor). Each job converts `count` floats at `src` into `dst`.
struct HalfConversion {
  const float* src = nullptr;
  uint16_t* dst = nullptr;
  size_t count = 0;
};
void FloatsToHalves(const std::vector<HalfConversion>& jobs, int threads);

}  // namespace edgert
