// Test helpers for binding formats (IoFormat): a float32 tensor as a caller's buffer would hold it,
// written out index by index, independently of the runtime's conversion code (core/io_format.cc).
#pragma once

#include <cstdint>

#include "edgert/tensor.h"
#include "ops/op_util.h"

namespace edgert {
namespace testing_util {

// Float32 `t` [N, C, S...] as a binding: float16 bits (`half`) or float32, channels-last
// [N, S..., C] (`channels_last`, rank >= 3) or in its own order.
inline Tensor ToBinding(const Tensor& t, bool half, bool channels_last) {
  const Shape& s = t.shape();
  const bool transpose = channels_last && s.size() >= 3;
  const int64_t n = s.empty() ? 1 : s[0], c = transpose ? s[1] : 1;
  const int64_t sp = n * c > 0 ? t.num_elements() / (n * c) : 0;
  Shape shape = s;
  if (transpose) {
    shape.erase(shape.begin() + 1);
    shape.push_back(s[1]);
  }
  Tensor out = Tensor::Create(half ? DataType::kFloat16 : DataType::kFloat32, shape).value();
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t k = 0; k < c; ++k) {
      for (int64_t j = 0; j < sp; ++j) {
        const float v = t.data<float>()[(b * c + k) * sp + j];
        const int64_t at = transpose ? (b * sp + j) * c + k : (b * c + k) * sp + j;
        if (half) {
          out.data<uint16_t>()[at] = FloatToHalf(v);
        } else {
          out.data<float>()[at] = v;
        }
      }
    }
  }
  return out;
}

// Float32 `t` with every value rounded through float16 (what a float16 binding can hold).
inline Tensor RoundedThroughHalf(const Tensor& t) {
  Tensor out = t.Clone();
  for (int64_t i = 0; i < t.num_elements(); ++i) out.data<float>()[i] = HalfToFloat(FloatToHalf(t.data<float>()[i]));
  return out;
}

}  // namespace testing_util
}  // namespace edgert
