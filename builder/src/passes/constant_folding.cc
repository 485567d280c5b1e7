// Constant folding as a pass: after other rewrites (BatchNormalization folding, transposed
// weights, bypassed identities) more nodes may read only build-time values. Each such live node
// runs on its CPU kernel through EvaluateNode (the step InferGraph folds with), its outputs become
// constants and the node is removed. Nodes whose outputs exceed kMaxFoldElements stay layers.
#include "ir/infer.h"
#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {

StatusOr<int> FoldConstants(Graph& graph) {
  std::vector<bool> remove(graph.nodes.size(), false);
  int rewrites = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    Node& node = graph.nodes[i];
    if (node.folded) continue;
    bool all_const = true;
    int64_t out_elems = 0;
    for (int in : node.inputs) {
      if (in >= 0) all_const = all_const && graph.values[static_cast<size_t>(in)].constant.defined();
    }
    for (int o : node.outputs) out_elems += NumElements(graph.values[static_cast<size_t>(o)].shape);
    if (!(all_const || node.op == OpType::kShape) || out_elems > kMaxFoldElements) continue;
    EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> outs, EvaluateNode(graph, node));
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      graph.values[static_cast<size_t>(node.outputs[k])].constant = std::move(outs[k]);
    }
    remove[i] = true;
    ++rewrites;
  }
  if (rewrites > 0) RemoveNodes(graph, remove);
  return rewrites;
}

}  // namespace edgert
