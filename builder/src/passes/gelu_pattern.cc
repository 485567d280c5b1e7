// Erf-based GELU written out as elementwise nodes (how PyTorch and Hugging Face export it) becomes
// one Gelu node:
//   d = x / sqrt(2)  (or x * 1/sqrt(2));  e = Erf(d);  a = e + 1;
//   y = (x * a) * 0.5   or   y = (x * 0.5) * a          (operands of Add / Mul in either order)
//  1. Start at each live Erf; walk its single-reader chain, matching constants within 1e-6
//     relative; every intermediate value must have exactly the one reader in the pattern and be
//     no graph output. x must be float32.
//  2. A Gelu (approximate "none") reading x and writing y takes the position of the node that
//     wrote y; the other pattern nodes are removed.
#include <cmath>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {
namespace {

bool ScalarNear(const Graph& graph, int value, double want) {
  if (value < 0) return false;
  const Tensor& t = graph.values[static_cast<size_t>(value)].constant;
  if (!t.defined() || t.num_elements() != 1 || !IsFloatType(t.dtype())) return false;
  return std::fabs(t.GetAsDouble(0) - want) <= 1e-6 * std::fabs(want);
}

// For binary `n` with one input equal to `known`, the other input; -1 otherwise.
int OtherInput(const Node& n, int known) {
  if (n.inputs.size() != 2) return -1;
  if (n.inputs[0] == known) return n.inputs[1];
  if (n.inputs[1] == known) return n.inputs[0];
  return -1;
}

}  // namespace

StatusOr<int> FuseGeluPattern(Graph& graph) {
  std::vector<std::vector<int>> users = ConsumerMap(graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  // The only live reader of `value`, when it is no graph output; else -1.
  auto only_reader = [&](int value) -> int {
    if (IsGraphOutput(graph, value) || users[static_cast<size_t>(value)].size() != 1) return -1;
    const int u = users[static_cast<size_t>(value)][0];
    const Node& n = graph.nodes[static_cast<size_t>(u)];
    if (remove[static_cast<size_t>(u)] || n.folded) return -1;
    int reads = 0;
    for (int in : n.inputs) reads += in == value ? 1 : 0;
    return reads == 1 ? u : -1;
  };
  auto op_of = [&](int node) { return node < 0 ? OpType::kIdentity : graph.nodes[static_cast<size_t>(node)].op; };
  int rewrites = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& erf = graph.nodes[i];
    if (erf.folded || remove[i] || erf.op != OpType::kErf) continue;
    // d = x / sqrt(2) or x * (1 / sqrt(2)).
    const int d = erf.inputs[0];
    const int scale_node = graph.values[static_cast<size_t>(d)].producer;
    if (scale_node < 0 || only_reader(d) != static_cast<int>(i)) continue;
    const Node& sn = graph.nodes[static_cast<size_t>(scale_node)];
    int x = -1;
    if (sn.op == OpType::kDiv && ScalarNear(graph, sn.inputs[1], std::sqrt(2.0))) x = sn.inputs[0];
    if (sn.op == OpType::kMul) {
      if (ScalarNear(graph, sn.inputs[1], 1.0 / std::sqrt(2.0))) x = sn.inputs[0];
      if (ScalarNear(graph, sn.inputs[0], 1.0 / std::sqrt(2.0))) x = sn.inputs[1];
    }
    if (x < 0 || graph.values[static_cast<size_t>(x)].dtype != DataType::kFloat32) continue;
    const Shape& x_shape = graph.values[static_cast<size_t>(x)].shape;
    // a = e + 1.
    const int e = erf.outputs[0];
    const int add = only_reader(e);
    if (op_of(add) != OpType::kAdd || !ScalarNear(graph, OtherInput(graph.nodes[static_cast<size_t>(add)], e), 1.0)) {
      continue;
    }
    const int a = graph.nodes[static_cast<size_t>(add)].outputs[0];
    const int m1 = only_reader(a);
    if (op_of(m1) != OpType::kMul) continue;
    const int other = OtherInput(graph.nodes[static_cast<size_t>(m1)], a);
    std::vector<int> absorbed = {scale_node, static_cast<int>(i), add, m1};
    int y = -1;
    if (other == x) {
      // y = (x * a) * 0.5
      const int m1_out = graph.nodes[static_cast<size_t>(m1)].outputs[0];
      const int m2 = only_reader(m1_out);
      if (op_of(m2) != OpType::kMul ||
          !ScalarNear(graph, OtherInput(graph.nodes[static_cast<size_t>(m2)], m1_out), 0.5)) {
        continue;
      }
      absorbed.push_back(m2);
      y = graph.nodes[static_cast<size_t>(m2)].outputs[0];
    } else {
      // y = (x * 0.5) * a
      const int h = graph.values[static_cast<size_t>(other)].producer;
      if (op_of(h) != OpType::kMul || only_reader(other) != m1 ||
          !ScalarNear(graph, OtherInput(graph.nodes[static_cast<size_t>(h)], x), 0.5)) {
        continue;
      }
      absorbed.push_back(h);
      y = graph.nodes[static_cast<size_t>(m1)].outputs[0];
    }
    // Broadcasting against the scalars must not have changed the shape.
    if (graph.values[static_cast<size_t>(y)].shape != x_shape) continue;
    const int writer = graph.values[static_cast<size_t>(y)].producer;
    Node gelu = MakeNode(OpType::kGelu, graph.nodes[static_cast<size_t>(writer)].name + "_gelu", 20);
    gelu.inputs = {x};
    gelu.outputs = {y};
    for (int n : absorbed) remove[static_cast<size_t>(n)] = true;
    remove[static_cast<size_t>(writer)] = false;
    graph.nodes[static_cast<size_t>(writer)] = std::move(gelu);
    ++rewrites;
  }
  if (rewrites > 0) RemoveNodes(graph, remove);
  return rewrites;
}

}  // namespace edgert
