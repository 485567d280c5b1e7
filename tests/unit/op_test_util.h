// Shared by the operator tests: build a one-layer network around an operator (support check and
// shape inference through its OpDef, as the builder does) and run it on the CPU engine, which
// poisons every activation before the run.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "edgert/cpu_engine.h"
#include "edgert/network.h"
#include "edgert/op_def.h"

namespace edgert {
namespace testing {

// One input of the layer under test: a network input fed at run time, or a build-time constant.
// An undefined `value` is an absent optional input.
struct OpArg {
  Tensor value;
  bool constant = false;
};

// The one-layer network around `op` (inputs "in<i>", outputs "out<k>") and the feeds for its
// non-constant inputs, in order.
struct SingleOpNetwork {
  NetworkDef net;
  std::vector<Tensor> feeds;
};

inline StatusOr<SingleOpNetwork> BuildSingleOp(OpType op, const Attributes& attrs, const std::vector<OpArg>& args,
                                               size_t num_outputs, int opset, const std::string& name) {
  std::vector<ValueInfo> infos(args.size());
  std::vector<const ValueInfo*> ptrs(args.size(), nullptr);
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].value.defined()) continue;
    infos[i] = ValueInfo{args[i].value.dtype(), args[i].value.shape(), args[i].constant ? &args[i].value : nullptr};
    ptrs[i] = &infos[i];
  }
  OpContext ctx(op, name, attrs, opset, ptrs, num_outputs);
  EDGERT_RETURN_IF_ERROR(CheckSupported(ctx));
  EDGERT_RETURN_IF_ERROR(GetOpDef(op)->infer(ctx));

  NetworkDef net;
  LayerDef layer;
  layer.name = name;
  layer.op = op;
  layer.opset = opset;
  layer.attrs = attrs;
  std::vector<Tensor> feeds;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].value.defined()) {
      layer.inputs.push_back(-1);
      continue;
    }
    TensorDef def;
    def.name = "in" + std::to_string(i);
    def.dtype = args[i].value.dtype();
    def.shape = args[i].value.shape();
    const int32_t id = static_cast<int32_t>(net.tensors.size());
    if (args[i].constant) {
      def.value = args[i].value;
    } else {
      net.inputs.push_back(id);
      feeds.push_back(args[i].value);
    }
    net.tensors.push_back(std::move(def));
    layer.inputs.push_back(id);
  }
  for (size_t k = 0; k < num_outputs; ++k) {
    TensorDef def;
    def.name = "out" + std::to_string(k);
    def.dtype = ctx.output(k).dtype;
    def.shape = ctx.output(k).shape;
    const int32_t id = static_cast<int32_t>(net.tensors.size());
    net.tensors.push_back(std::move(def));
    net.outputs.push_back(id);
    layer.outputs.push_back(id);
  }
  net.layers.push_back(std::move(layer));
  return SingleOpNetwork{std::move(net), std::move(feeds)};
}

inline StatusOr<std::vector<Tensor>> RunSingleOp(OpType op, const Attributes& attrs, const std::vector<OpArg>& args,
                                                 size_t num_outputs, int opset, const std::string& name) {
  EDGERT_ASSIGN_OR_RETURN(SingleOpNetwork single, BuildSingleOp(op, attrs, args, num_outputs, opset, name));
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CpuEngine> engine, CpuEngine::Create(std::move(single.net)));
  std::vector<Tensor> outs;
  EDGERT_RETURN_IF_ERROR(engine->Run(single.feeds, &outs));
  return outs;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.num_elements());
}

// Float32 elements equal to `want` within a relative `tol`; NaN and infinities exactly.
inline void ExpectFloats(const Tensor& t, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(t.dtype(), DataType::kFloat32);
  ASSERT_EQ(t.num_elements(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    float got = t.data<float>()[i];
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got)) << "element " << i;
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got, want[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got, want[i], tol * std::max(1.0f, std::fabs(want[i]))) << "element " << i;
    }
  }
}

// The error's message names the node and contains `what`.
inline void ExpectError(const Status& s, const std::string& node, const std::string& what) {
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("node '" + node + "'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
}

template <typename T>
Status StatusOf(const StatusOr<T>& v) {
  return v.status();
}

}  // namespace testing
}  // namespace edgert
