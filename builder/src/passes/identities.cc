// Removal of nodes that compute their input unchanged.
//  1. Decide per live node whether output 0 equals input 0 element for element (the rules are
//     per operator, listed in passes.h); the output must also keep the input's dtype and shape.
//  2. Bypass the node (pass_util.h): consumers read the input; a graph output keeps its name by
//     having the input's producer write it. When neither works the node stays.
//  3. Remove the bypassed nodes.
#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {
namespace {

bool AllZero(const std::vector<int64_t>& v) {
  for (int64_t x : v) {
    if (x != 0) return false;
  }
  return true;
}

// The node's data input is passed through unchanged.
bool IsNoOp(const Graph& graph, const Node& node) {
  if (node.inputs.empty() || node.inputs[0] < 0 || node.outputs.empty()) return false;
  const Value& in = graph.values[static_cast<size_t>(node.inputs[0])];
  const Value& out = graph.values[static_cast<size_t>(node.outputs[0])];
  if (in.dtype != out.dtype || in.shape != out.shape) return false;
  auto const_input = [&](size_t k) -> const Tensor* {
    if (k >= node.inputs.size() || node.inputs[k] < 0) return nullptr;
    const Tensor& t = graph.values[static_cast<size_t>(node.inputs[k])].constant;
    return t.defined() ? &t : nullptr;
  };
  switch (node.op) {
    case OpType::kIdentity:
    case OpType::kCast:
    case OpType::kReshape:
    case OpType::kFlatten:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kExpand:
    case OpType::kTile:
      return node.outputs.size() == 1;
    case OpType::kConcat:
    case OpType::kSum:
    case OpType::kMax:
    case OpType::kMin:
    case OpType::kMean:
      return node.inputs.size() == 1;
    case OpType::kDropout: {
      if (node.outputs.size() != 1) return false;
      StatusOr<int64_t> is_test = node.attrs.GetIntOr("is_test", 1);
      if (!is_test.ok() || *is_test == 0) return false;
      if (node.inputs.size() > 2 && node.inputs[2] >= 0) {
        const Tensor* training = const_input(2);
        return training != nullptr && training->num_elements() == 1 && training->GetAsInt64(0) == 0;
      }
      return true;
    }
    case OpType::kTranspose: {
      StatusOr<std::vector<int64_t>> perm = node.attrs.GetIntsOr("perm", {});
      if (!perm.ok()) return false;
      if (perm->empty()) return in.shape.size() <= 1;
      for (size_t d = 0; d < perm->size(); ++d) {
        if ((*perm)[d] != static_cast<int64_t>(d)) return false;
      }
      return true;
    }
    case OpType::kPad: {
      if (node.inputs.size() > 1 && node.inputs[1] >= 0) {
        const Tensor* pads = const_input(1);
        if (pads == nullptr) return false;
        StatusOr<std::vector<int64_t>> v = pads->ToInt64Vector();
        return v.ok() && AllZero(*v);
      }
      for (const char* key : {"pads", "paddings"}) {
        StatusOr<std::vector<int64_t>> v = node.attrs.GetIntsOr(key, {});
        if (!v.ok()) return false;
        if (!v->empty()) return AllZero(*v);
      }
      return false;
    }
    default:
      return false;
  }
}

}  // namespace

StatusOr<int> RemoveIdentities(Graph& graph) {
  std::vector<bool> remove(graph.nodes.size(), false);
  int rewrites = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (node.folded || !IsNoOp(graph, node)) continue;
    if (!Bypass(graph, static_cast<int>(i), node.inputs[0], node.outputs[0])) continue;
    remove[i] = true;
    ++rewrites;
  }
  if (rewrites > 0) RemoveNodes(graph, remove);
  return rewrites;
}

}  // namespace edgert
