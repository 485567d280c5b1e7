// Helpers shared by the "nn" operator family (nn*.cc): attribute reads that name the node, dtype
// checks, the spatial geometry of convolution and pooling windows, and a packed single-precision
// GEMM used by Conv, ConvTranspose, Gemm and MatMul.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "edgert/op_def.h"
#include "op_util.h"
#include "registry.h"

namespace edgert {

// Per-file registration, called from RegisterNnOps (nn.cc).
void RegisterNnConvOps(OpRegistry& registry);    // nn_conv.cc: Conv, ConvTranspose
void RegisterNnPoolOps(OpRegistry& registry);    // nn_pool.cc: MaxPool, AveragePool, Global*Pool
void RegisterNnNormOps(OpRegistry& registry);    // nn_norm.cc: Batch/Instance/LayerNormalization
void RegisterNnLinalgOps(OpRegistry& registry);  // nn_linalg.cc: Gemm, MatMul, Softmax, LogSoftmax

// Ok when input `i` (if present) is float32; otherwise "float64 inputs are not supported ...",
// naming the input by `what`.
Status RequireFloat32Input(const OpContext& ctx, size_t i, const char* what);

// Window attributes (kernel, strides, dilations, pads, ...) above this are rejected, which keeps
// every extent computation far from int64 overflow.
inline constexpr int64_t kMaxWindowValue = int64_t{1} << 24;

// Ok when every value of attribute `name` lies in [lo, kMaxWindowValue]; otherwise an error naming
// the node, the attribute and its values.
Status CheckWindowValues(const OpContext& ctx, const char* name, const std::vector<int64_t>& values, int64_t lo);

// How the window of a convolution or pooling layer is placed on the input.
enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };
StatusOr<AutoPad> ParseAutoPad(const OpContext& ctx);

// Geometry of a sliding window over `in.size()` spatial dimensions.
struct WindowGeometry {
  std::vector<int64_t> in;      // input spatial extent
  std::vector<int64_t> kernel;  // window taps per dimension
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pad_begin;  // may exceed the attribute pads when ceil_mode adds a window
  std::vector<int64_t> pad_end;
  std::vector<int64_t> out;  // output spatial extent
  size_t rank() const { return in.size(); }
};

// Reads strides, dilations, pads and auto_pad (and ceil_mode when `allow_ceil_mode`) and computes
// the output extent of a forward window (Conv, MaxPool, AveragePool):
//   explicit pads: out = floor_or_ceil((in + pb + pe - ((k - 1) * d + 1)) / s) + 1, where in ceil
//                  mode a last window that would start past the input and its leading padding
//                  is dropped (as PyTorch and ONNX Runtime do);
//   SAME_*:        out = ceil(in / s), total padding max(0, (out - 1) * s + (k - 1) * d + 1 - in)
//                  split evenly, the odd element at the end (UPPER) or at the beginning (LOWER);
//   VALID:         no padding.
// Errors name the node and the attribute at fault.
StatusOr<WindowGeometry> ResolveWindow(const OpContext& ctx, const std::vector<int64_t>& in_spatial,
                                       const std::vector<int64_t>& kernel, bool allow_ceil_mode);

// Geometry widened to three spatial dimensions (leading dimensions get extent 1).
struct Geometry3 {
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1};
  int64_t d[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
};

inline Geometry3 Widen(const std::vector<int64_t>& in, const std::vector<int64_t>& out, const std::vector<int64_t>& k,
                       const std::vector<int64_t>& s, const std::vector<int64_t>& d, const std::vector<int64_t>& pb) {
  Geometry3 g;
  const size_t off = 3 - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    g.in[off + i] = in[i];
    g.out[off + i] = out[i];
    g.k[off + i] = k[i];
    g.s[off + i] = s[i];
    g.d[off + i] = d[i];
    g.pb[off + i] = pb[i];
  }
  return g;
}

// The range [lo, hi) of i in [0, n) for which 0 <= i * s + off < limit.
inline void ValidRange(int64_t n, int64_t s, int64_t off, int64_t limit, int64_t* lo, int64_t* hi) {
  int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t h = limit - 1 - off < 0 ? 0 : (limit - 1 - off) / s + 1;
  l = std::min(l, n);
  h = std::min(h, n);
  *lo = l;
  *hi = std::max(l, h);
}

// Reusable packing buffers for Sgemm, sized once for a problem (Reserve) and kept by the kernel
// object so that Run() does not allocate.
class GemmScratch {
 public:
  void Reserve(int64_t m, int64_t n, int64_t k);
  float* pack_a() { return pack_a_.data(); }
  float* pack_b() { return pack_b_.data(); }

 private:
  std::vector<float> pack_a_;
  std::vector<float> pack_b_;
};

// C[m x n] = alpha * op(A) * op(B) (+ C when `accumulate`), with op(A) = A [m x k] (row stride lda)
// or, when trans_a, the transpose of A stored [k x m]; likewise B [k x n] or, transposed, [n x k].
// Without `accumulate` C is only written, never read (it may hold garbage). `scratch` must have
// been reserved for at least (m, n, k).
//
// Algorithm: blocks of kKc along k and kNc along n; op(B) blocks are packed into kNr-wide column
// strips, op(A) blocks of kMc rows into kMr-high row strips (zero-padded); a kMr x kNr register
// tile micro-kernel walks the strips. Edge tiles go through a small local buffer.
void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, bool accumulate, float* c, int64_t ldc, GemmScratch& scratch);

std::string IntsToString(const std::vector<int64_t>& v);

}  // namespace edgert
