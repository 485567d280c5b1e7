// A small ONNX classifier with a dynamic batch, exported the way PyTorch exports one, for the
// batch-profile tests (profile_test.cc, cli_plan_test.cc).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "onnx_test_util.h"

namespace edgert {
namespace testing_util {

inline onnx::TensorProto* AddInt64Initializer(onnx::ModelProto& m, const std::string& name,
                                              const std::vector<int64_t>& dims, const std::vector<int64_t>& values) {
  onnx::TensorProto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims) t->add_dims(d);
  for (int64_t v : values) t->add_int64_data(v);
  return t;
}

inline void SetInts(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

inline void SetInt(onnx::NodeProto* n, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

inline std::vector<float> Values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A small classifier exported the way PyTorch exports a dynamic batch: x [N,3,8,8] -> Conv 3x3 (8
// channels) + Relu -> MaxPool 2 -> Reshape to [N, -1] through Shape/Gather/Unsqueeze/Concat ->
// MatMul [128,10] + bias -> Softmax. `flatten_batch` instead reshapes to [-1] (the batch goes into
// a dim that is not dim 0: no profile possible).
inline onnx::ModelProto DynamicBatchClassifier(bool flatten_batch = false) {
  onnx::ModelProto m = NewModel(13);
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 3, 8, 8});
  AddFloatInitializer(m, "w", {8, 3, 3, 3}, Values(8 * 27, 1));
  AddFloatInitializer(m, "b", {8}, Values(8, 2));
  AddFloatInitializer(m, "fc", {128, 10}, Values(1280, 3));
  AddFloatInitializer(m, "fc_b", {10}, Values(10, 4));
  onnx::NodeProto* conv = AddNode(m, "Conv", {"x", "w", "b"}, {"conv"}, "conv");
  SetInts(conv, "pads", {1, 1, 1, 1});
  AddNode(m, "Relu", {"conv"}, {"relu"}, "relu");
  onnx::NodeProto* pool = AddNode(m, "MaxPool", {"relu"}, {"pool"}, "pool");
  SetInts(pool, "kernel_shape", {2, 2});
  SetInts(pool, "strides", {2, 2});
  if (flatten_batch) {
    AddInt64Initializer(m, "flat", {2}, {-1, 128});
    AddNode(m, "Reshape", {"pool", "flat"}, {"rows"}, "reshape");
    AddInt64Initializer(m, "all", {1}, {-1});
    AddNode(m, "Reshape", {"rows", "all"}, {"flat_out"}, "flatten_all");
    AddOutput(m, "flat_out", onnx::TensorProto::FLOAT, {-1});
    return m;
  }
  AddNode(m, "Shape", {"pool"}, {"shape"}, "shape");
  AddInt64Initializer(m, "zero", {}, {0});
  onnx::NodeProto* gather = AddNode(m, "Gather", {"shape", "zero"}, {"n"}, "gather");
  SetInt(gather, "axis", 0);
  AddInt64Initializer(m, "axes0", {1}, {0});
  AddNode(m, "Unsqueeze", {"n", "axes0"}, {"n1"}, "unsqueeze");
  AddInt64Initializer(m, "minus1", {1}, {-1});
  onnx::NodeProto* concat = AddNode(m, "Concat", {"n1", "minus1"}, {"target"}, "concat");
  SetInt(concat, "axis", 0);
  AddNode(m, "Reshape", {"pool", "target"}, {"rows"}, "reshape");
  AddNode(m, "MatMul", {"rows", "fc"}, {"logits0"}, "fc");
  AddNode(m, "Add", {"logits0", "fc_b"}, {"logits"}, "fc_bias");
  onnx::NodeProto* softmax = AddNode(m, "Softmax", {"logits"}, {"probs"}, "softmax");
  SetInt(softmax, "axis", 1);
  AddOutput(m, "probs", onnx::TensorProto::FLOAT, {-1, 10});
  return m;
}

}  // namespace testing_util
}  // namespace edgert
