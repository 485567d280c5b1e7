// Squeeze-and-excitation test material shared by the SE tests on the CPU (squeeze_excite_test.cc)
// and on CUDA (tests/gpu/squeeze_excite_gpu_test.cc):
//   - SeCase and SeAttrs: one EdgertSqueezeExcite layer (ops/squeeze_excite.h) and its attributes;
//   - SeModel: an ONNX model under construction with Conv layers and the two SE blocks models
//     write in plain ONNX (EfficientNet's and MobileNetV3's), for the se-fusion pass tests.
// Header-only; nothing here is thread-safe (one test thread).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "dynamic_model.h"  // testing_util::SetInts
#include "edgert/attributes.h"
#include "onnx_test_util.h"

namespace edgert {
namespace testing_util {

// One EdgertSqueezeExcite layer: X [N, C, H, W] (or [N, H, W, C] when channels_last), Cr reduced
// channels, the inner activation ("" for none) and the gate (gate_alpha / gate_beta: HardSigmoid's,
// MobileNetV3's 1/6 and 0.5 by default).
struct SeCase {
  int64_t n = 2, c = 6, cr = 3, h = 4, w = 5;
  std::string act;
  std::string gate = "Sigmoid";
  bool channels_last = false;
  float gate_alpha = 1.0f / 6.0f, gate_beta = 0.5f;  // HardSigmoid only
};

// The layer's attributes (gate_alpha and gate_beta only with the HardSigmoid gate).
inline Attributes SeAttrs(const SeCase& k) {
  Attributes a;
  a.Set("channels_last", int64_t{k.channels_last ? 1 : 0});
  if (!k.act.empty()) a.Set("activation", k.act);
  a.Set("gate", k.gate);
  if (k.gate == "HardSigmoid") {
    a.Set("gate_alpha", k.gate_alpha);
    a.Set("gate_beta", k.gate_beta);
  }
  return a;
}

// `n` values drawn from N(0, scale^2) with `rng`.
inline std::vector<float> NormalValues(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// A float attribute `name` = `v` on node `n`.
inline void SetFloat(onnx::NodeProto* n, const std::string& name, float v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

// An opset-13 ONNX model under construction. Node and initializer names are made unique per base
// name (Conv0, Conv1, w0, ...); weights are drawn from N(0, scale^2) with a generator seeded with 3,
// so the same calls build the same model.
class SeModel {
 public:
  SeModel() : m_(NewModel(13)), rng_(3) {}
  onnx::ModelProto& proto() { return m_; }

  // A float initializer of `dims` with N(0, scale^2) values; returns its name.
  std::string Weights(const std::string& base, const std::vector<int64_t>& dims, float scale) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    const std::string name = Unique(base);
    AddFloatInitializer(m_, name, dims, NormalValues(rng_, static_cast<size_t>(n), scale));
    return name;
  }
  // A node of `op` on `inputs` with one output, `out` or "<node name>_out".
  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& inputs, const std::string& out = "") {
    const std::string name = Unique(op);
    return AddNode(m_, op, inputs, {out.empty() ? name + "_out" : out}, name);
  }
  // Node's output name.
  std::string Op(const std::string& op, const std::vector<std::string>& inputs, const std::string& out = "") {
    return Node(op, inputs, out)->output(0);
  }
  // A k x k Conv (pads k / 2, weights scaled by 1 / sqrt(fan-in), an optional bias); its output.
  std::string Conv(const std::string& x, int64_t c_in, int64_t c_out, int64_t k, bool bias = true) {
    std::vector<std::string> in = {x, Weights("w", {c_out, c_in, k, k}, 1.0f / std::sqrt(float(c_in * k * k)))};
    if (bias) in.push_back(Weights("b", {c_out}, 0.3f));
    onnx::NodeProto* n = Node("Conv", in);
    SetInts(n, "kernel_shape", {k, k});
    SetInts(n, "pads", {k / 2, k / 2, k / 2, k / 2});
    return n->output(0);
  }

  // EfficientNet's block on `x` (C channels, Cr reduced): ReduceMean over (-1, 2), Conv + SiLU as
  // Mul(v, Sigmoid(v)), Conv (without bias unless `excite_bias`), Sigmoid, Mul(X, gate). `pooled`
  // (optional) receives the ReduceMean's output name. Returns the block's output.
  std::string EfficientNetSe(const std::string& x, int64_t c, int64_t cr, std::string* pooled = nullptr,
                             bool excite_bias = false) {
    onnx::NodeProto* mean = Node("ReduceMean", {x});
    SetInts(mean, "axes", {-1, 2});
    if (pooled) *pooled = mean->output(0);
    const std::string v = Conv(mean->output(0), c, cr, 1);
    const std::string h = Op("Mul", {v, Op("Sigmoid", {v})});
    return Op("Mul", {x, Op("Sigmoid", {Conv(h, cr, c, 1, excite_bias)})});
  }
  // MobileNetV3's block: GlobalAveragePool, Conv, Relu, Conv, HardSigmoid(1/6, 0.5), Mul(gate, X).
  std::string MobileNetSe(const std::string& x, int64_t c, int64_t cr) {
    const std::string h = Op("Relu", {Conv(Op("GlobalAveragePool", {x}), c, cr, 1)});
    onnx::NodeProto* hs = Node("HardSigmoid", {Conv(h, cr, c, 1)});
    SetFloat(hs, "alpha", 1.0f / 6.0f);
    SetFloat(hs, "beta", 0.5f);
    return Op("Mul", {hs->output(0), x});
  }

  // Renames the output of the last node added to `name` (the graph output).
  void NameLastOutput(const std::string& name) { m_.mutable_graph()->mutable_node()->rbegin()->set_output(0, name); }

 private:
  std::string Unique(const std::string& base) { return base + std::to_string(counter_[base]++); }
  onnx::ModelProto m_;
  std::mt19937 rng_;
  std::map<std::string, int> counter_;
};

}  // namespace testing_util
}  // namespace edgert
