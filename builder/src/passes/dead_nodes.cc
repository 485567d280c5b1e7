// Dead-node and unused-output elimination.
//  1. Mark the graph outputs needed.
//  2. Walk the nodes backwards: a node is live when it is not folded and writes a needed value;
//     a live node's inputs become needed.
//  3. Remove every other node; from live nodes drop trailing outputs nothing needs, down to the
//     operator's minimum output count (never from Split, whose output count sets its sizes).
#include "edgert/op_type.h"
#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {

StatusOr<int> EliminateDeadNodes(Graph& graph) {
  std::vector<bool> needed(graph.values.size(), false);
  for (int out : graph.outputs) needed[static_cast<size_t>(out)] = true;
  std::vector<bool> remove(graph.nodes.size(), false);
  int rewrites = 0;
  for (size_t i = graph.nodes.size(); i-- > 0;) {
    Node& node = graph.nodes[i];
    bool live = false;
    for (int o : node.outputs) live = live || needed[static_cast<size_t>(o)];
    if (node.folded || !live) {
      remove[i] = true;
      ++rewrites;
      continue;
    }
    const OpInfo* info = FindOpInfo(node.op);
    const size_t min_outputs = info ? info->min_outputs : node.outputs.size();
    while (node.op != OpType::kSplit && node.outputs.size() > min_outputs &&
           !needed[static_cast<size_t>(node.outputs.back())]) {
      graph.values[static_cast<size_t>(node.outputs.back())].producer = -1;
      node.outputs.pop_back();
      ++rewrites;
    }
    for (int in : node.inputs) {
      if (in >= 0) needed[static_cast<size_t>(in)] = true;
    }
  }
  if (rewrites > 0) RemoveNodes(graph, remove);
  return rewrites;
}

}  // namespace edgert
