// Helpers of the edgert CLI: float16 conversion for random inputs and output comparison.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "edgert/tensor.h"

namespace edgert {

// IEEE 754 binary16 <-> binary32; FloatToHalfBits rounds to nearest even.
uint16_t FloatToHalfBits(float value);
float HalfBitsToFloat(uint16_t bits);

// Fills `t` with random values: floats uniform in [-1, 1), integers in [0, 4), bools 0/1. Used by
// run and bench, so one seed gives the same inputs to both.
void FillRandom(Tensor* t, std::mt19937_64& rng);

struct CompareResult {
  bool pass = false;
  std::string summary;  // "rel L2 3.1e-07 ok", "shape 2x3 != reference 3x2 FAIL", ...
};

// Compares an output with its reference. Floats: relative L2 error ||out-ref|| / ||ref|| (just
// ||out-ref|| when ||ref|| is 0) must be <= rtol; a NaN in one but not the other fails, infinities
// must match exactly (float dtypes may differ: compared by value). Integers and bools must match
// exactly, with equal dtypes. Shapes must be equal.
CompareResult CompareTensors(const Tensor& out, const Tensor& ref, double rtol);

}  // namespace edgert
