#include "cli_util.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace edgert {

uint16_t FloatToHalfBits(float value) {
  uint32_t x;
  std::memcpy(&x, &value, sizeof(x));
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exp = (x >> 23) & 0xFFu;
  uint32_t mant = x & 0x7FFFFFu;
  if (exp == 0xFF) return static_cast<uint16_t>(sign | 0x7C00u | (mant ? 0x200u | (mant >> 13) : 0u));
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7C00u);  // overflow to infinity
  if (e <= 0) {
    // Subnormal half: m * 2^-24 with m = (1.mant * 2^23) >> (14 - e), rounded to nearest even.
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - e;
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1FFFu;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(half);
}

float HalfBitsToFloat(uint16_t bits) {
  const uint32_t sign = (static_cast<uint32_t>(bits) & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1Fu;
  const uint32_t mant = bits & 0x3FFu;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  uint32_t x = exp == 31 ? (sign | 0x7F800000u | (mant << 13)) : (sign | ((exp + 112u) << 23) | (mant << 13));
  float f;
  std::memcpy(&f, &x, sizeof(f));
  return f;
}

namespace {

double FloatAt(const Tensor& t, int64_t i) {
  return t.dtype() == DataType::kFloat16 ? HalfBitsToFloat(t.data<uint16_t>()[i]) : t.GetAsDouble(i);
}

std::string Format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

}  // namespace

CompareResult CompareTensors(const Tensor& out, const Tensor& ref, double rtol) {
  CompareResult r;
  // Float outputs compare by value across float dtypes (a plan's float16 output binding against
  // float32 references).
  if (out.dtype() != ref.dtype() && !(IsFloatType(out.dtype()) && IsFloatType(ref.dtype()))) {
    r.summary =
        std::string("dtype ") + DataTypeName(out.dtype()) + " != reference " + DataTypeName(ref.dtype()) + " FAIL";
    return r;
  }
  if (out.shape() != ref.shape()) {
    r.summary = "shape " + ShapeToString(out.shape()) + " != reference " + ShapeToString(ref.shape()) + " FAIL";
    return r;
  }
  const int64_t n = out.num_elements();
  if (IsFloatType(out.dtype())) {
    double diff2 = 0, ref2 = 0;
    int64_t nan_mismatch = 0, inf_mismatch = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double a = FloatAt(out, i), b = FloatAt(ref, i);
      if (std::isnan(a) || std::isnan(b)) {
        if (std::isnan(a) != std::isnan(b)) ++nan_mismatch;
        continue;
      }
      if (std::isinf(a) || std::isinf(b)) {
        if (a != b) ++inf_mismatch;
        continue;
      }
      diff2 += (a - b) * (a - b);
      ref2 += b * b;
    }
    const double rel = ref2 > 0 ? std::sqrt(diff2) / std::sqrt(ref2) : std::sqrt(diff2);
    r.pass = nan_mismatch == 0 && inf_mismatch == 0 && rel <= rtol;
    r.summary = "rel L2 " + Format("%.3g", rel);
    if (out.dtype() != ref.dtype()) {
      r.summary += std::string(" (") + DataTypeName(out.dtype()) + " against " + DataTypeName(ref.dtype()) + ")";
    }
    if (nan_mismatch) r.summary += ", " + std::to_string(nan_mismatch) + " NaN mismatches";
    if (inf_mismatch) r.summary += ", " + std::to_string(inf_mismatch) + " Inf mismatches";
    r.summary += r.pass ? " ok" : " FAIL (rtol " + Format("%g", rtol) + ")";
    return r;
  }
  const size_t elem = DataTypeSize(out.dtype());
  int64_t mismatches = 0, first = -1;
  const auto* a = static_cast<const unsigned char*>(out.raw());
  const auto* b = static_cast<const unsigned char*>(ref.raw());
  for (int64_t i = 0; i < n; ++i) {
    bool equal = out.dtype() == DataType::kBool ? (a[i] != 0) == (b[i] != 0)
                                                : std::memcmp(a + i * elem, b + i * elem, elem) == 0;
    if (!equal) {
      if (first < 0) first = i;
      ++mismatches;
    }
  }
  r.pass = mismatches == 0;
  r.summary = r.pass ? "exact match ok"
                     : std::to_string(mismatches) + " of " + std::to_string(n) + " elements differ (first at " +
                           std::to_string(first) + ": " + std::to_string(out.GetAsInt64(first)) + " vs " +
                           std::to_string(ref.GetAsInt64(first)) + ") FAIL";
  return r;
}

void FillRandom(Tensor* t, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> real(-1.0, 1.0);
  std::uniform_int_distribution<int> small(0, 3);
  const int64_t n = t->num_elements();
  for (int64_t i = 0; i < n; ++i) {
    switch (t->dtype()) {
      case DataType::kFloat32:
        t->data<float>()[i] = static_cast<float>(real(rng));
        break;
      case DataType::kFloat64:
        t->data<double>()[i] = real(rng);
        break;
      case DataType::kFloat16:
        t->data<uint16_t>()[i] = FloatToHalfBits(static_cast<float>(real(rng)));
        break;
      case DataType::kBool:
        t->data<bool>()[i] = small(rng) % 2 != 0;
        break;
      case DataType::kUInt8:
        t->data<uint8_t>()[i] = static_cast<uint8_t>(small(rng));
        break;
      case DataType::kInt8:
        t->data<int8_t>()[i] = static_cast<int8_t>(small(rng));
        break;
      case DataType::kUInt16:
        t->data<uint16_t>()[i] = static_cast<uint16_t>(small(rng));
        break;
      case DataType::kInt16:
        t->data<int16_t>()[i] = static_cast<int16_t>(small(rng));
        break;
      case DataType::kInt32:
        t->data<int32_t>()[i] = small(rng);
        break;
      case DataType::kInt64:
        t->data<int64_t>()[i] = small(rng);
        break;
      case DataType::kUInt32:
        t->data<uint32_t>()[i] = static_cast<uint32_t>(small(rng));
        break;
      case DataType::kUInt64:
        t->data<uint64_t>()[i] = static_cast<uint64_t>(small(rng));
        break;
      case DataType::kUndefined:
      case DataType::kString:
        return;
    }
  }
}

}  // namespace edgert
