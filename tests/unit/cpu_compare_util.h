// Two networks run on the CPU reference engine with the same inputs: the check that an optimized or
// rewritten network computes what the original does.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "edgert/calibration.h"
#include "edgert/cpu_engine.h"
#include "edgert/network.h"
#include "edgert/tensor.h"

namespace edgert {
namespace testing_util {

// Runs `ref_net` and `net` on `inputs` (float32 outputs): the same number of outputs with the same
// shapes, no reference output all zeros (the comparison would prove nothing), and a relative L2
// error of at most `tol` over all outputs.
inline void ExpectCpuNetworksAgree(const NetworkDef& ref_net, const NetworkDef& net, const std::vector<Tensor>& inputs,
                                   double tol = 1e-5) {
  StatusOr<std::unique_ptr<CpuEngine>> a = CpuEngine::Create(ref_net);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  StatusOr<std::unique_ptr<CpuEngine>> b = CpuEngine::Create(net);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  std::vector<Tensor> ref, out;
  ASSERT_TRUE((*a)->Run(inputs, &ref).ok());
  ASSERT_TRUE((*b)->Run(inputs, &out).ok());
  ASSERT_EQ(ref.size(), out.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_EQ(ref[i].shape(), out[i].shape());
    double norm = 0;
    for (int64_t k = 0; k < ref[i].num_elements(); ++k) norm += std::fabs(ref[i].data<float>()[k]);
    EXPECT_GT(norm, 0.0) << "output " << i << " is all zeros: the comparison would prove nothing";
  }
  EXPECT_LE(RelativeL2(out, ref), tol);
}

}  // namespace testing_util
}  // namespace edgert
