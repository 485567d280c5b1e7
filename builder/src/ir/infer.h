// Shape and dtype inference over the IR, with constant folding of everything whose inputs are
// known at build time (this is what folds PyTorch's Shape -> Gather -> Concat -> Reshape chains).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "edgert/network.h"
#include "edgert/status.h"
#include "ir/graph.h"

namespace edgert {

// Nodes whose outputs hold more elements than this are not folded (their results would bloat the
// network's constants).
inline constexpr int64_t kMaxFoldElements = int64_t{1} << 26;

struct InferOptions {
  // Build-time shapes of graph inputs (trtexec's --shapes); they resolve dynamic dimensions.
  std::map<std::string, Shape> input_shapes;
  // Build-time values of graph inputs that carry shapes or parameters (e.g. an int64 `shape`
  // input of Reshape); such inputs become constants and LowerGraph drops them from the network's
  // inputs.
  std::map<std::string, Tensor> input_values;
};

struct NodeReport {
  int node = -1;
  Status status;  // ok when the node is supported and its outputs were inferred
};

// Resolves input shapes, then runs every node's support check and inference in order, folding
// nodes whose inputs are all constant. Stops at the first failure unless `report` is given, in
// which case every node gets an entry and inference goes on past unsupported nodes where it can
// (their outputs stay unknown). Returns the first error either way.
Status InferGraph(Graph& graph, const InferOptions& options, std::vector<NodeReport>* report = nullptr);

// Runs `node` now on the CPU kernel, every input being a build-time constant (Shape's only needs a
// shape): support check, infer(), kernel. Returns the outputs, or an error naming the node (also
// when they would exceed kMaxFoldElements). The shared folding step of InferGraph and the
// constant-folding pass.
StatusOr<std::vector<Tensor>> EvaluateNode(const Graph& graph, const Node& node);

// The executable network: nodes that were not folded become layers; constants they read become
// constant tensors; graph outputs that folded to constants stay outputs. Requires InferGraph.
StatusOr<NetworkDef> LowerGraph(const Graph& graph);

}  // namespace edgert
