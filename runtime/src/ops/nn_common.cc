#include "nn_common.h"

#include <algorithm>
#include <cstring>

namespace edgert {

std::string IntsToString(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

Status RequireFloat32Input(const OpContext& ctx, size_t i, const char* what) {
  if (!ctx.has_input(i)) return Status::Ok();
  DataType dt = ctx.input(i).dtype;
  if (dt == DataType::kFloat32) return Status::Ok();
  return ctx.NotSupported(std::string(DataTypeName(dt)) + " inputs are not supported (input '" + what +
                          "' must be float32)");
}

Status CheckWindowValues(const OpContext& ctx, const char* name, const std::vector<int64_t>& values, int64_t lo) {
  for (int64_t v : values) {
    if (v < lo || v > kMaxWindowValue) {
      return ctx.Error(std::string("attribute '") + name + "' " + IntsToString(values) + " must lie in [" +
                       std::to_string(lo) + ", " + std::to_string(kMaxWindowValue) + "]");
    }
  }
  return Status::Ok();
}

StatusOr<AutoPad> ParseAutoPad(const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::string s, AttrString(ctx, "auto_pad", "NOTSET"));
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "VALID") return AutoPad::kValid;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  return ctx.Error("attribute 'auto_pad' is '" + s + "', expected NOTSET, VALID, SAME_UPPER or SAME_LOWER");
}

StatusOr<WindowGeometry> ResolveWindow(const OpContext& ctx, const std::vector<int64_t>& in_spatial,
                                       const std::vector<int64_t>& kernel, bool allow_ceil_mode) {
  const size_t n = in_spatial.size();
  WindowGeometry g;
  g.in = in_spatial;
  g.kernel = kernel;
  if (kernel.size() != n) {
    return ctx.Error("kernel has " + std::to_string(kernel.size()) + " dimensions, the input has " + std::to_string(n) +
                     " spatial dimensions");
  }
  EDGERT_RETURN_IF_ERROR(CheckWindowValues(ctx, "kernel_shape", kernel, 1));
  EDGERT_ASSIGN_OR_RETURN(g.strides, AttrInts(ctx, "strides", std::vector<int64_t>(n, 1)));
  EDGERT_ASSIGN_OR_RETURN(g.dilations, AttrInts(ctx, "dilations", std::vector<int64_t>(n, 1)));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> pads, AttrInts(ctx, "pads", std::vector<int64_t>(2 * n, 0)));
  if (g.strides.size() != n) {
    return ctx.Error("attribute 'strides' has " + std::to_string(g.strides.size()) + " values, expected " +
                     std::to_string(n));
  }
  if (g.dilations.size() != n) {
    return ctx.Error("attribute 'dilations' has " + std::to_string(g.dilations.size()) + " values, expected " +
                     std::to_string(n));
  }
  if (pads.size() != 2 * n) {
    return ctx.Error("attribute 'pads' has " + std::to_string(pads.size()) + " values, expected " +
                     std::to_string(2 * n));
  }
  EDGERT_RETURN_IF_ERROR(CheckWindowValues(ctx, "strides", g.strides, 1));
  EDGERT_RETURN_IF_ERROR(CheckWindowValues(ctx, "dilations", g.dilations, 1));
  EDGERT_RETURN_IF_ERROR(CheckWindowValues(ctx, "pads", pads, 0));
  EDGERT_ASSIGN_OR_RETURN(AutoPad auto_pad, ParseAutoPad(ctx));
  int64_t ceil_mode = 0;
  if (allow_ceil_mode) {
    EDGERT_ASSIGN_OR_RETURN(ceil_mode, AttrInt(ctx, "ceil_mode", 0));
  }
  g.pad_begin.assign(n, 0);
  g.pad_end.assign(n, 0);
  g.out.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = g.in[i];
    const int64_t s = g.strides[i];
    const int64_t ek = (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
      g.out[i] = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (g.out[i] - 1) * s + ek - in);
      g.pad_begin[i] = auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
      g.pad_end[i] = total - g.pad_begin[i];
      continue;
    }
    if (auto_pad == AutoPad::kNotSet) {
      g.pad_begin[i] = pads[i];
      g.pad_end[i] = pads[i + n];
    }
    const int64_t span = in + g.pad_begin[i] + g.pad_end[i] - ek;
    if (span < 0) {
      return ctx.Error("the window extent " + std::to_string(ek) + " (kernel " + IntsToString(g.kernel) +
                       ", dilations " + IntsToString(g.dilations) + ") exceeds the padded input extent " +
                       std::to_string(in + g.pad_begin[i] + g.pad_end[i]) + " in spatial dimension " +
                       std::to_string(i));
    }
    if (ceil_mode != 0) {
      g.out[i] = (span + s - 1) / s + 1;
      // The last window must start inside the input or its leading padding.
      if ((g.out[i] - 1) * s >= in + g.pad_begin[i]) --g.out[i];
    } else {
      g.out[i] = span / s + 1;
    }
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// Packed GEMM.

namespace {

constexpr int64_t kMr = 4;
constexpr int64_t kNr = 8;
constexpr int64_t kKc = 256;
constexpr int64_t kMc = 64;
constexpr int64_t kNc = 1024;

typedef float V4 __attribute__((vector_size(16)));

inline V4 Load4(const float* p) {
  V4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void Store4(float* p, V4 v) { std::memcpy(p, &v, sizeof(v)); }

int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// dst: strips of kNr columns, each [kc][kNr], zero-padded past `nc`.
void PackB(bool trans_b, const float* b, int64_t ldb, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) {
  for (int64_t js = 0; js < nc; js += kNr) {
    const int64_t w = std::min(kNr, nc - js);
    float* strip = dst + js * kc;
    if (!trans_b) {
      for (int64_t kk = 0; kk < kc; ++kk) {
        const float* src = b + (k0 + kk) * ldb + n0 + js;
        float* row = strip + kk * kNr;
        int64_t jj = 0;
        for (; jj < w; ++jj) row[jj] = src[jj];
        for (; jj < kNr; ++jj) row[jj] = 0.0f;
      }
    } else {
      for (int64_t jj = 0; jj < kNr; ++jj) {
        if (jj < w) {
          const float* src = b + (n0 + js + jj) * ldb + k0;
          for (int64_t kk = 0; kk < kc; ++kk) strip[kk * kNr + jj] = src[kk];
        } else {
          for (int64_t kk = 0; kk < kc; ++kk) strip[kk * kNr + jj] = 0.0f;
        }
      }
    }
  }
}

// dst: strips of kMr rows, each [kc][kMr], zero-padded past `mc`.
void PackA(bool trans_a, const float* a, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* dst) {
  for (int64_t is = 0; is < mc; is += kMr) {
    const int64_t h = std::min(kMr, mc - is);
    float* strip = dst + is * kc;
    if (!trans_a) {
      for (int64_t ii = 0; ii < kMr; ++ii) {
        if (ii < h) {
          const float* src = a + (i0 + is + ii) * lda + k0;
          for (int64_t kk = 0; kk < kc; ++kk) strip[kk * kMr + ii] = src[kk];
        } else {
          for (int64_t kk = 0; kk < kc; ++kk) strip[kk * kMr + ii] = 0.0f;
        }
      }
    } else {
      for (int64_t kk = 0; kk < kc; ++kk) {
        const float* src = a + (k0 + kk) * lda + i0 + is;
        float* col = strip + kk * kMr;
        int64_t ii = 0;
        for (; ii < h; ++ii) col[ii] = src[ii];
        for (; ii < kMr; ++ii) col[ii] = 0.0f;
      }
    }
  }
}

// tile[kMr][kNr] = sum over kc of ap[k][r] * bp[k][j].
void MicroKernel(int64_t kc, const float* ap, const float* bp, float* tile) {
  V4 c00 = {0, 0, 0, 0}, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int64_t kk = 0; kk < kc; ++kk) {
    const V4 b0 = Load4(bp);
    const V4 b1 = Load4(bp + 4);
    const float a0 = ap[0], a1 = ap[1], a2 = ap[2], a3 = ap[3];
    c00 += a0 * b0;
    c01 += a0 * b1;
    c10 += a1 * b0;
    c11 += a1 * b1;
    c20 += a2 * b0;
    c21 += a2 * b1;
    c30 += a3 * b0;
    c31 += a3 * b1;
    ap += kMr;
    bp += kNr;
  }
  Store4(tile + 0, c00);
  Store4(tile + 4, c01);
  Store4(tile + 8, c10);
  Store4(tile + 12, c11);
  Store4(tile + 16, c20);
  Store4(tile + 20, c21);
  Store4(tile + 24, c30);
  Store4(tile + 28, c31);
}

}  // namespace

void GemmScratch::Reserve(int64_t m, int64_t n, int64_t k) {
  const int64_t kc = std::max<int64_t>(1, std::min(kKc, k));
  const int64_t nc = std::min(kNc, RoundUp(std::max<int64_t>(n, 1), kNr));
  const int64_t mc = std::min(kMc, RoundUp(std::max<int64_t>(m, 1), kMr));
  if (pack_a_.size() < static_cast<size_t>(mc * kc)) pack_a_.resize(static_cast<size_t>(mc * kc));
  if (pack_b_.size() < static_cast<size_t>(kc * nc)) pack_b_.resize(static_cast<size_t>(kc * nc));
}

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, bool accumulate, float* c, int64_t ldc, GemmScratch& scratch) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) {
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    }
    return;
  }
  float* pa = scratch.pack_a();
  float* pb = scratch.pack_b();
  alignas(16) float tile[kMr * kNr];
  for (int64_t n0 = 0; n0 < n; n0 += kNc) {
    const int64_t nc = std::min(kNc, n - n0);
    for (int64_t k0 = 0; k0 < k; k0 += kKc) {
      const int64_t kc = std::min(kKc, k - k0);
      const bool add = accumulate || k0 > 0;
      PackB(trans_b, b, ldb, k0, kc, n0, nc, pb);
      for (int64_t i0 = 0; i0 < m; i0 += kMc) {
        const int64_t mc = std::min(kMc, m - i0);
        PackA(trans_a, a, lda, i0, mc, k0, kc, pa);
        for (int64_t js = 0; js < nc; js += kNr) {
          const int64_t w = std::min(kNr, nc - js);
          for (int64_t is = 0; is < mc; is += kMr) {
            const int64_t h = std::min(kMr, mc - is);
            MicroKernel(kc, pa + is * kc, pb + js * kc, tile);
            float* cb = c + (i0 + is) * ldc + n0 + js;
            for (int64_t r = 0; r < h; ++r) {
              float* crow = cb + r * ldc;
              const float* trow = tile + r * kNr;
              if (add) {
                for (int64_t j = 0; j < w; ++j) crow[j] += alpha * trow[j];
              } else {
                for (int64_t j = 0; j < w; ++j) crow[j] = alpha * trow[j];
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace edgert
