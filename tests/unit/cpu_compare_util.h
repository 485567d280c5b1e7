// Two networks run on the CPU reference engine with the same inputs: the check that an optimized or
// rewritten network computes what the original does.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "edgert/calibration.h"
#include "edgert/cpu_engine.h"
#include "edgert/memory_plan.h"
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

// Memory options under which no two tensors share bytes (no views, in-place or Concat slices).
inline NetworkMemoryOptions NoSharing() {
  NetworkMemoryOptions o;
  o.views = false;
  o.in_place = false;
  o.concat_in_place = false;
  return o;
}

// Runs `net` on `inputs` twice with the memory plan of `options` and once sharing nothing; expects
// identical outputs (bit for bit: the same kernels run on the same values) with no NaN (an
// unwritten float32 element) and returns them.
inline std::vector<Tensor> RunPlannedAndCompare(const NetworkDef& net, const NetworkMemoryOptions& options,
                                                const std::vector<Tensor>& inputs) {
  auto planned = CpuEngine::Create(net, options);
  auto plain = CpuEngine::Create(net, NoSharing());
  EXPECT_TRUE(planned.ok()) << planned.status().ToString();
  EXPECT_TRUE(plain.ok()) << plain.status().ToString();
  if (!planned.ok() || !plain.ok()) return {};
  std::vector<Tensor> got, got_again, want;
  Status s1 = (*planned)->Run(inputs, &got);
  Status s2 = (*planned)->Run(inputs, &got_again);
  Status s3 = (*plain)->Run(inputs, &want);
  EXPECT_TRUE(s1.ok() && s2.ok() && s3.ok()) << s1.ToString() << s2.ToString() << s3.ToString();
  EXPECT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    EXPECT_EQ(got[i].shape(), want[i].shape());
    EXPECT_EQ(got[i].bytes(), want[i].bytes());
    if (got[i].bytes() != want[i].bytes()) continue;
    EXPECT_EQ(std::memcmp(got[i].raw(), want[i].raw(), got[i].bytes()), 0) << "output " << i;
    EXPECT_EQ(std::memcmp(got_again[i].raw(), want[i].raw(), got[i].bytes()), 0) << "output " << i << ", second run";
    for (int64_t k = 0; k < got[i].num_elements() && got[i].dtype() == DataType::kFloat32; ++k) {
      if (std::isnan(got[i].data<float>()[k])) {
        ADD_FAILURE() << "output " << i << " element " << k << " is NaN (unwritten)";
        break;
      }
    }
  }
  return got;
}

}  // namespace testing_util
}  // namespace edgert
