// Transpose and reshape chains.
//  Transpose: for T2(T1(x)) with permutations p1, p2, output dimension j of T2 is input dimension
//    p1[p2[j]] of x, so T2 reads x with q[j] = p1[p2[j]]. T1 stays only while something else reads
//    it (dead-node elimination), and an identity q is bypassed by the identity pass.
//  Reshape family (Reshape, Flatten, Squeeze, Unsqueeze): all of them only reinterpret the shape
//    of contiguous data, so a member reading another member's output becomes one Reshape of the
//    first member's input to its own (static) output shape.
#include <algorithm>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {
namespace {

StatusOr<std::vector<int64_t>> Permutation(const Node& node, size_t rank) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> perm, node.attrs.GetIntsOr("perm", {}, node.name));
  if (perm.empty()) {
    for (size_t d = rank; d-- > 0;) perm.push_back(static_cast<int64_t>(d));
  }
  if (perm.size() != rank) {
    return InvalidArgument("Transpose node '" + node.name + "': perm has " + std::to_string(perm.size()) +
                               " entries for rank " + std::to_string(rank),
                           node.name);
  }
  return perm;
}

bool IsReshapeFamily(OpType op) {
  return op == OpType::kReshape || op == OpType::kFlatten || op == OpType::kSqueeze || op == OpType::kUnsqueeze;
}

}  // namespace

StatusOr<int> CollapseTransposeReshape(Graph& graph) {
  int rewrites = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    Node& node = graph.nodes[i];
    if (node.folded || node.inputs.empty() || node.inputs[0] < 0) continue;
    const int src = graph.values[static_cast<size_t>(node.inputs[0])].producer;
    if (src < 0 || graph.nodes[static_cast<size_t>(src)].folded) continue;
    const Node& prev = graph.nodes[static_cast<size_t>(src)];
    if (prev.inputs.empty() || prev.inputs[0] < 0) continue;
    const Value& x = graph.values[static_cast<size_t>(prev.inputs[0])];
    if (node.op == OpType::kTranspose && prev.op == OpType::kTranspose) {
      EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> p1, Permutation(prev, x.shape.size()));
      EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> p2, Permutation(node, x.shape.size()));
      std::vector<int64_t> q(p2.size());
      for (size_t j = 0; j < p2.size(); ++j) q[j] = p1[static_cast<size_t>(p2[j])];
      node.inputs[0] = prev.inputs[0];
      node.attrs.Set("perm", q);
      ++rewrites;
      continue;
    }
    if (IsReshapeFamily(node.op) && IsReshapeFamily(prev.op)) {
      const Shape out_shape = graph.values[static_cast<size_t>(node.outputs[0])].shape;
      // A 0 in a Reshape target means "copy the input dimension" unless allowzero; keep such nodes.
      bool has_zero = false;
      for (int64_t d : out_shape) has_zero = has_zero || d == 0;
      if (has_zero) continue;
      const int data = prev.inputs[0];
      const int shape = AddConstant(graph, node.name + "_shape",
                                    Tensor::FromVector<int64_t>(out_shape, {static_cast<int64_t>(out_shape.size())}));
      Node& n = graph.nodes[i];
      n.op = OpType::kReshape;
      n.op_type = "Reshape";
      n.opset = std::max(n.opset, 14);
      n.attrs = Attributes();
      n.inputs = {data, shape};
      ++rewrites;
    }
  }
  return rewrites;
}

}  // namespace edgert
