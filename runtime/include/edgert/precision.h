// The arithmetic precision an engine runs its floating-point layers in.
#pragma once

#include <cstdint>
#include <string>

#include "edgert/status.h"

namespace edgert {

// Numeric ids are stored in plans; never renumber.
//   kFp32: float32 tensors stay float32 (cuBLASLt/cuDNN with FP32 compute, no TF32).
//   kFp16: float32 activations and weights are stored as float16 on the device, with FP32
//          accumulation in convolutions, GEMMs, reductions and normalisations; graph inputs and
//          outputs keep their declared dtype and are converted at the graph boundary.
enum class Precision : uint8_t { kFp32 = 0, kFp16 = 1 };

inline const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kFp16: return "fp16";
  }
  return "unknown";
}

// "fp32" / "fp16" (case as written); an error naming the value otherwise.
inline StatusOr<Precision> ParsePrecision(const std::string& text) {
  if (text == "fp32") return Precision::kFp32;
  if (text == "fp16") return Precision::kFp16;
  return InvalidArgument("unknown precision '" + text + "' (expected fp32 or fp16)", text);
}

}  // namespace edgert
