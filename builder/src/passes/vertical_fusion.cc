// Vertical fusion: Conv (+ bias) (+ residual Add) (+ activation) and Gemm (+ activation) become
// one layer carrying the epilogue of edgert/fused_activation.h.
//  1. Start at a live Conv or Gemm without an epilogue yet whose output is read by exactly one
//     node and is no graph output (intermediate values disappear, so none may be observable).
//  2. Conv only: an Add of that output and a float32 tensor of the same shape (no broadcasting)
//     is absorbed as the residual (4th input); the walk continues from the Add's output.
//  3. An activation is absorbed: Relu, LeakyRelu, Clip with constant bounds, Sigmoid, HardSigmoid,
//     HardSwish, Tanh, Gelu, or SiLU written as Mul(v, Sigmoid(v)) (the value then has exactly
//     those two readers and the Sigmoid's output only the Mul).
//  4. The fused layer writes the last absorbed node's output and takes that node's position: the
//     residual may be computed after the Conv in the original order, and every absorbed input
//     is available there while all readers of the result still come later.
//
// FuseActivationResidual (pass "activation-residual", run after it): a fused Conv with an
// activation and no residual whose output is read only by an Add of it and a float32 tensor of the
// same shape absorbs that Add as a residual added after the activation
// (kResidualAfterActivationAttr): y = act(conv(x)) + z, the bottleneck of YOLOv5/v8's C3/C2f
// blocks. The fused layer takes the Add's position, as in step 4.
#include <algorithm>
#include <limits>

#include "edgert/fused_activation.h"
#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {
namespace {

struct Activation {
  std::string name;
  bool has_alpha = false, has_beta = false;
  float alpha = 0.0f, beta = 0.0f;
};

// Scalar float value of constant input `k`, or `fallback` when the input is absent.
bool ConstScalar(const Graph& graph, const Node& n, size_t k, float fallback, float* out) {
  if (k >= n.inputs.size() || n.inputs[k] < 0) {
    *out = fallback;
    return true;
  }
  const Tensor& t = graph.values[static_cast<size_t>(n.inputs[k])].constant;
  if (!t.defined() || t.num_elements() != 1 || t.dtype() != DataType::kFloat32) return false;
  *out = t.data<float>()[0];
  return true;
}

// The fused form of single-input activation node `n`; false when it has none.
bool AsActivation(const Graph& graph, const Node& n, Activation* act) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  *act = Activation();
  switch (n.op) {
    case OpType::kRelu:
      act->name = "Relu";
      return true;
    case OpType::kSigmoid:
      act->name = "Sigmoid";
      return true;
    case OpType::kHardSwish:
      act->name = "HardSwish";
      return true;
    case OpType::kTanh:
      act->name = "Tanh";
      return true;
    case OpType::kLeakyRelu: {
      StatusOr<float> alpha = n.attrs.GetFloatOr("alpha", 0.01f);
      if (!alpha.ok()) return false;
      *act = {"LeakyRelu", true, false, *alpha, 0.0f};
      return true;
    }
    case OpType::kHardSigmoid: {
      StatusOr<float> alpha = n.attrs.GetFloatOr("alpha", 0.2f);
      StatusOr<float> beta = n.attrs.GetFloatOr("beta", 0.5f);
      if (!alpha.ok() || !beta.ok()) return false;
      *act = {"HardSigmoid", true, true, *alpha, *beta};
      return true;
    }
    case OpType::kGelu: {
      StatusOr<std::string> mode = n.attrs.GetStringOr("approximate", "none");
      if (!mode.ok() || (*mode != "none" && *mode != "tanh")) return false;
      act->name = *mode == "tanh" ? "GeluTanh" : "Gelu";
      return true;
    }
    case OpType::kClip: {
      float lo = -kInf, hi = kInf;
      if (n.opset < 11) {
        StatusOr<float> a = n.attrs.GetFloatOr("min", -kInf);
        StatusOr<float> b = n.attrs.GetFloatOr("max", kInf);
        if (!a.ok() || !b.ok()) return false;
        lo = *a;
        hi = *b;
      } else if (!ConstScalar(graph, n, 1, -kInf, &lo) || !ConstScalar(graph, n, 2, kInf, &hi)) {
        return false;
      }
      *act = {"Clip", true, true, lo, hi};
      return true;
    }
    default:
      return false;
  }
}

// The node that alone reads `value`, when `value` is no graph output and that node is live and not
// marked for removal; -1 otherwise. `users` is ConsumerMap(graph).
int SoleReader(const Graph& graph, const std::vector<std::vector<int>>& users, const std::vector<bool>& remove,
               int value) {
  if (IsGraphOutput(graph, value) || users[static_cast<size_t>(value)].size() != 1) return -1;
  const int u = users[static_cast<size_t>(value)][0];
  if (remove[static_cast<size_t>(u)] || graph.nodes[static_cast<size_t>(u)].folded) return -1;
  return u;
}

// The Add of `value` and another float32 tensor of its shape (no broadcasting) that is `value`'s
// only reader; -1 when there is none. `other` receives the Add's other operand.
int ResidualAddOf(const Graph& graph, int value, int next, int* other) {
  if (next < 0 || graph.nodes[static_cast<size_t>(next)].op != OpType::kAdd) return -1;
  const Node& add = graph.nodes[static_cast<size_t>(next)];
  if (add.inputs.size() != 2 || add.inputs[0] == add.inputs[1]) return -1;
  const int o = add.inputs[0] == value ? add.inputs[1] : add.inputs[0];
  if (o < 0 || graph.values[static_cast<size_t>(o)].dtype != DataType::kFloat32 ||
      graph.values[static_cast<size_t>(o)].shape != graph.values[static_cast<size_t>(value)].shape) {
    return -1;
  }
  *other = o;
  return next;
}

}  // namespace

StatusOr<int> FuseVertical(Graph& graph) {
  std::vector<std::vector<int>> users = ConsumerMap(graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  auto only_reader = [&](int value) { return SoleReader(graph, users, remove, value); };
  int rewrites = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& layer = graph.nodes[i];
    if (layer.folded || remove[i] || (layer.op != OpType::kConv && layer.op != OpType::kGemm)) continue;
    if (layer.attrs.Has(kActivationAttr) || layer.inputs.size() > 3) continue;
    int value = layer.outputs[0];
    std::vector<int> absorbed;
    int residual = -1;
    Activation act;
    bool has_act = false;
    int next = only_reader(value);
    // 2. Residual Add (Conv only).
    if (layer.op == OpType::kConv && ResidualAddOf(graph, value, next, &residual) >= 0) {
      absorbed.push_back(next);
      value = graph.nodes[static_cast<size_t>(next)].outputs[0];
      next = only_reader(value);
    }
    // 3. Activation: single-input operators, then SiLU = Mul(v, Sigmoid(v)).
    if (next >= 0 && AsActivation(graph, graph.nodes[static_cast<size_t>(next)], &act)) {
      has_act = true;
      absorbed.push_back(next);
      value = graph.nodes[static_cast<size_t>(next)].outputs[0];
    } else if (!IsGraphOutput(graph, value) && users[static_cast<size_t>(value)].size() == 2) {
      int sig = -1, mul = -1;
      for (int u : users[static_cast<size_t>(value)]) {
        const Node& n = graph.nodes[static_cast<size_t>(u)];
        if (remove[static_cast<size_t>(u)] || n.folded) continue;
        if (n.op == OpType::kSigmoid) sig = u;
        if (n.op == OpType::kMul) mul = u;
      }
      if (sig >= 0 && mul >= 0) {
        const int s = graph.nodes[static_cast<size_t>(sig)].outputs[0];
        const Node& m = graph.nodes[static_cast<size_t>(mul)];
        const bool pair = (m.inputs[0] == value && m.inputs[1] == s) || (m.inputs[0] == s && m.inputs[1] == value);
        if (pair && only_reader(s) == mul) {
          act.name = "SiLU";
          has_act = true;
          absorbed.push_back(sig);
          absorbed.push_back(mul);
          value = m.outputs[0];
        }
      }
    }
    if (absorbed.empty()) continue;
    // 4. Build the fused layer at the last absorbed node's position.
    Node fused = graph.nodes[i];
    for (int a : absorbed) fused.name += "+" + graph.nodes[static_cast<size_t>(a)].name;
    if (residual >= 0) {
      fused.inputs.resize(3, -1);
      fused.inputs.push_back(residual);
    }
    if (has_act) {
      fused.attrs.Set(kActivationAttr, act.name);
      if (act.has_alpha) fused.attrs.Set(kActivationAlphaAttr, act.alpha);
      if (act.has_beta) fused.attrs.Set(kActivationBetaAttr, act.beta);
    }
    fused.outputs = {value};
    int last = absorbed[0];
    for (int a : absorbed) last = std::max(last, a);
    graph.nodes[static_cast<size_t>(last)] = std::move(fused);
    remove[i] = true;
    for (int a : absorbed) {
      if (a != last) remove[static_cast<size_t>(a)] = true;
    }
    ++rewrites;
  }
  if (rewrites > 0) RemoveNodes(graph, remove);
  return rewrites;
}

StatusOr<int> FuseActivationResidual(Graph& graph) {
  std::vector<std::vector<int>> users = ConsumerMap(graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  int rewrites = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& layer = graph.nodes[i];
    if (layer.folded || remove[i] || layer.op != OpType::kConv || !layer.attrs.Has(kActivationAttr) ||
        layer.attrs.Has(kResidualAfterActivationAttr) || layer.inputs.size() > 3 || layer.outputs.empty()) {
      continue;
    }
    const int value = layer.outputs[0];
    const int next = SoleReader(graph, users, remove, value);
    int residual = -1;
    if (ResidualAddOf(graph, value, next, &residual) < 0) continue;
    // The Add comes after the Conv (it reads its output), so the residual exists at its position.
    Node fused = graph.nodes[i];
    fused.name += "+" + graph.nodes[static_cast<size_t>(next)].name;
    fused.inputs.resize(3, -1);
    fused.inputs.push_back(residual);
    fused.attrs.Set(kResidualAfterActivationAttr, int64_t{1});
    fused.outputs = {graph.nodes[static_cast<size_t>(next)].outputs[0]};
    graph.nodes[static_cast<size_t>(next)] = std::move(fused);
    remove[i] = true;
    ++rewrites;
  }
  if (rewrites > 0) RemoveNodes(graph, remove);
  return rewrites;
}

}  // namespace edgert
