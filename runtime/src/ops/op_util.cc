#include "op_util.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "core/parallel.h"

namespace edgert {

StatusOr<int64_t> NormalizeAxis(const OpContext& ctx, int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank) {
    return ctx.Error(std::string(what) + " " + std::to_string(axis) + " is out of range for a rank-" +
                     std::to_string(rank) + " input");
  }
  return axis < 0 ? axis + rank : axis;
}

StatusOr<std::vector<int64_t>> NormalizeAxes(const OpContext& ctx, const std::vector<int64_t>& axes, int64_t rank,
                                             const char* what) {
  std::vector<int64_t> out;
  std::set<int64_t> seen;
  for (int64_t a : axes) {
    EDGERT_ASSIGN_OR_RETURN(int64_t n, NormalizeAxis(ctx, a, rank, what));
    if (!seen.insert(n).second) return ctx.Error(std::string(what) + " lists axis " + std::to_string(a) + " twice");
    out.push_back(n);
  }
  return out;
}

StatusOr<Shape> BroadcastShapes(const OpContext& ctx, const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes) {
    size_t pad = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t d = s[i];
      int64_t& o = out[pad + i];
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
        continue;
      }
      std::string list;
      for (const Shape& t : shapes) list += (list.empty() ? "" : ", ") + ShapeToString(t);
      return ctx.Error("input shapes " + list + " cannot be broadcast together");
    }
  }
  return out;
}

std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  std::vector<int64_t> own = ContiguousStrides(in);
  size_t pad = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    strides[pad + i] = in[i] == 1 ? 0 : own[i];
  }
  return strides;
}

static StatusOr<const Tensor*> ConstInput(const OpContext& ctx, size_t i, const char* what) {
  if (!ctx.has_input(i)) return ctx.Error(std::string("input '") + what + "' is required");
  const Tensor* t = ctx.input(i).value;
  if (t == nullptr) {
    return ctx.NotSupported(std::string("input '") + what +
                            "' must be known at build time (a constant, or computed from shapes)");
  }
  return t;
}

StatusOr<std::vector<int64_t>> ConstInputInts(const OpContext& ctx, size_t i, const char* what) {
  EDGERT_ASSIGN_OR_RETURN(const Tensor* t, ConstInput(ctx, i, what));
  if (!IsIntegerType(t->dtype())) {
    return ctx.Error(std::string("input '") + what + "' must be an integer tensor, not " + DataTypeName(t->dtype()));
  }
  return t->ToInt64Vector();
}

StatusOr<std::vector<float>> ConstInputFloats(const OpContext& ctx, size_t i, const char* what) {
  EDGERT_ASSIGN_OR_RETURN(const Tensor* t, ConstInput(ctx, i, what));
  std::vector<float> v(static_cast<size_t>(t->num_elements()));
  for (size_t k = 0; k < v.size(); ++k) {
    v[k] = t->dtype() == DataType::kFloat16 ? HalfToFloat(t->data<uint16_t>()[k])
                                            : static_cast<float>(t->GetAsDouble(static_cast<int64_t>(k)));
  }
  return v;
}

namespace {

template <typename T>
StatusOr<T> NodeAttr(const OpContext& ctx, StatusOr<T> value) {
  if (value.ok()) return value;
  return ctx.Error(value.status().message());
}

}  // namespace

StatusOr<int64_t> AttrInt(const OpContext& ctx, const char* name, int64_t fallback) {
  return NodeAttr(ctx, ctx.attrs().GetIntOr(name, fallback, ctx.name()));
}

StatusOr<float> AttrFloat(const OpContext& ctx, const char* name, float fallback) {
  return NodeAttr(ctx, ctx.attrs().GetFloatOr(name, fallback, ctx.name()));
}

StatusOr<std::string> AttrString(const OpContext& ctx, const char* name, const std::string& fallback) {
  return NodeAttr(ctx, ctx.attrs().GetStringOr(name, fallback, ctx.name()));
}

StatusOr<std::vector<int64_t>> AttrInts(const OpContext& ctx, const char* name, const std::vector<int64_t>& fallback) {
  return NodeAttr(ctx, ctx.attrs().GetIntsOr(name, fallback, ctx.name()));
}

StatusOr<bool> AttrFlag(const OpContext& ctx, const char* name, bool fallback) {
  EDGERT_ASSIGN_OR_RETURN(int64_t v, AttrInt(ctx, name, fallback ? 1 : 0));
  if (v != 0 && v != 1) {
    return ctx.Error(std::string("attribute '") + name + "' must be 0 or 1, got " + std::to_string(v));
  }
  return v == 1;
}

Status CheckDeclaredOutputs(const OpContext& ctx, Status (*infer)(OpContext&)) {
  OpContext inferred = ctx;
  EDGERT_RETURN_IF_ERROR(infer(inferred));
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    const ValueInfo& declared = ctx.output(i);
    const ValueInfo& want = inferred.output(i);
    if (declared.dtype == DataType::kUndefined) continue;
    if (declared.dtype != want.dtype || declared.shape != want.shape) {
      return ctx.Error("output " + std::to_string(i) + " is declared " + DataTypeName(declared.dtype) + " " +
                       ShapeToString(declared.shape) + " but the inputs give " + DataTypeName(want.dtype) + " " +
                       ShapeToString(want.shape));
    }
  }
  return Status::Ok();
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  // The common case first, without data-dependent branches: |f| in [2^-14, 65520), a normal half
  // after rounding. Rebiasing the exponent (127 -> 15) and adding 0xfff plus the kept mantissa's
  // lowest bit rounds the 13 dropped bits to nearest even; a carry moves into the exponent, as it
  // should. A plan load converts tens of millions of weights with this.
  const uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude - 0x38800000u < 0x477ff000u - 0x38800000u) {
    uint32_t r = magnitude - 0x38000000u;
    r += 0xfffu + ((r >> 13) & 1u);
    return static_cast<uint16_t>(((x >> 16) & 0x8000u) | (r >> 13));
  }
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(half);
}

void FloatsToHalves(const std::vector<HalfConversion>& jobs, int threads) {
  constexpr size_t kBlock = size_t{1} << 18;
  std::vector<std::pair<size_t, size_t>> blocks;  // (job, first element)
  for (size_t j = 0; j < jobs.size(); ++j) {
    for (size_t at = 0; at < jobs[j].count; at += kBlock) blocks.emplace_back(j, at);
  }
  ParallelFor(blocks.size(), threads, [&](size_t b) {
    const auto [j, at] = blocks[b];
    const HalfConversion& job = jobs[j];
    const size_t end = std::min(job.count, at + kBlock);
    for (size_t i = at; i < end; ++i) job.dst[i] = FloatToHalf(job.src[i]);
  });
}

}  // namespace edgert
