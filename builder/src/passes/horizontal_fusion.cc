// Horizontal fusion of sibling convolutions.
//  1. For every value X, collect the live Conv nodes reading X as input 0 (and nowhere else) with
//     group 1, float32 constant weights, a constant bias or none, and no residual input; group
//     them by kernel size and attributes (all attributes equal, so strides, pads, dilations,
//     auto_pad and any fused activation match).
//  2. Each group of two or more becomes one Conv: weights concatenated along the output-channel
//     axis (each W is [Mi, C, k...], contiguous, so concatenation appends), biases likewise (zeros
//     for a sibling without one), writing a new value [N, sum Mi, ...].
//  3. A Split on axis 1 with sizes Mi writes the siblings' original outputs, so consumers and graph
//     outputs are untouched (the memory planner turns the Split into views).
//  4. The pair takes the position of the earliest sibling: every sibling's consumers come after
//     their sibling, hence after that position, and the order stays topological.
#include <cstring>
#include <map>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {
namespace {

bool AttrValueEqual(const AttrValue& a, const AttrValue& b) {
  if (a.index() != b.index()) return false;
  if (std::holds_alternative<Tensor>(a)) return false;
  if (const auto* x = std::get_if<int64_t>(&a)) return *x == std::get<int64_t>(b);
  if (const auto* x = std::get_if<float>(&a)) return *x == std::get<float>(b);
  if (const auto* x = std::get_if<std::string>(&a)) return *x == std::get<std::string>(b);
  if (const auto* x = std::get_if<std::vector<int64_t>>(&a)) return *x == std::get<std::vector<int64_t>>(b);
  if (const auto* x = std::get_if<std::vector<float>>(&a)) return *x == std::get<std::vector<float>>(b);
  return std::get<std::vector<std::string>>(a) == std::get<std::vector<std::string>>(b);
}

// Attributes equal, ignoring kernel_shape (the weights' equal shapes already fix it).
bool SameAttributes(const Attributes& a, const Attributes& b) {
  auto skip = [](const std::string& k) { return k == "kernel_shape"; };
  for (const auto& [key, value] : a.all()) {
    if (skip(key)) continue;
    auto it = b.all().find(key);
    if (it == b.all().end() || !AttrValueEqual(value, it->second)) return false;
  }
  for (const auto& [key, value] : b.all()) {
    if (!skip(key) && !a.Has(key)) return false;
  }
  return true;
}

bool Candidate(const Graph& graph, const Node& n) {
  if (n.folded || n.op != OpType::kConv || n.inputs.size() < 2 || n.inputs.size() > 3 || n.inputs[0] < 0) {
    return false;
  }
  if (!IsFloatConstant(graph, n.inputs[1])) return false;
  if (n.inputs.size() > 2 && n.inputs[2] >= 0 && !IsFloatConstant(graph, n.inputs[2])) return false;
  if (n.inputs[1] == n.inputs[0] || (n.inputs.size() > 2 && n.inputs[2] == n.inputs[0])) return false;
  StatusOr<int64_t> group = n.attrs.GetIntOr("group", 1);
  return group.ok() && *group == 1;
}

bool Compatible(const Graph& graph, const Node& a, const Node& b) {
  const Shape& wa = graph.values[static_cast<size_t>(a.inputs[1])].shape;
  const Shape& wb = graph.values[static_cast<size_t>(b.inputs[1])].shape;
  if (wa.size() != wb.size() || !std::equal(wa.begin() + 1, wa.end(), wb.begin() + 1)) return false;
  const Shape& ya = graph.values[static_cast<size_t>(a.outputs[0])].shape;
  const Shape& yb = graph.values[static_cast<size_t>(b.outputs[0])].shape;
  if (ya.size() != yb.size() || !std::equal(ya.begin() + 2, ya.end(), yb.begin() + 2)) return false;
  return SameAttributes(a.attrs, b.attrs);
}

// Builds the merged Conv and the Split for `group` (node indices, ascending).
std::pair<Node, Node> Merge(Graph& graph, const std::vector<int>& group) {
  const Node& first = graph.nodes[static_cast<size_t>(group[0])];
  const Shape w0 = graph.values[static_cast<size_t>(first.inputs[1])].shape;
  std::vector<float> w, b;
  std::vector<int64_t> sizes;
  bool any_bias = false;
  for (int idx : group) {
    const Node& n = graph.nodes[static_cast<size_t>(idx)];
    std::vector<float> wi = ConstantFloats(graph, n.inputs[1]);
    const int64_t m = graph.values[static_cast<size_t>(n.inputs[1])].shape[0];
    w.insert(w.end(), wi.begin(), wi.end());
    sizes.push_back(m);
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
      std::vector<float> bi = ConstantFloats(graph, n.inputs[2]);
      b.insert(b.end(), bi.begin(), bi.end());
      any_bias = true;
    } else {
      b.insert(b.end(), static_cast<size_t>(m), 0.0f);
    }
  }
  int64_t total = 0;
  for (int64_t m : sizes) total += m;
  Shape w_shape = w0;
  w_shape[0] = total;
  Tensor wt = *Tensor::Create(DataType::kFloat32, w_shape);
  std::memcpy(wt.raw(), w.data(), w.size() * sizeof(float));
  const std::string base = first.name + "_hfused";
  Node conv = MakeNode(OpType::kConv, base, first.opset);
  conv.attrs = first.attrs;
  conv.attrs.Erase("kernel_shape");
  const int x = first.inputs[0];
  const int w_value = AddConstant(graph, base + "_weight", wt);
  conv.inputs = {x, w_value};
  if (any_bias) {
    Tensor bt = *Tensor::Create(DataType::kFloat32, {total});
    std::memcpy(bt.raw(), b.data(), b.size() * sizeof(float));
    conv.inputs.push_back(AddConstant(graph, base + "_bias", bt));
  }
  Shape y_shape = graph.values[static_cast<size_t>(graph.nodes[static_cast<size_t>(group[0])].outputs[0])].shape;
  y_shape[1] = total;
  const int y = AddValue(graph, base, DataType::kFloat32, y_shape);
  conv.outputs = {y};
  Node split = MakeNode(OpType::kSplit, base + "_split", 13);
  split.attrs.Set("axis", int64_t{1});
  const int split_sizes =
      AddConstant(graph, base + "_sizes", Tensor::FromVector<int64_t>(sizes, {static_cast<int64_t>(sizes.size())}));
  split.inputs = {y, split_sizes};
  for (int idx : group) split.outputs.push_back(graph.nodes[static_cast<size_t>(idx)].outputs[0]);
  return {std::move(conv), std::move(split)};
}

}  // namespace

StatusOr<int> FuseHorizontalConv(Graph& graph) {
  std::vector<std::vector<int>> users = ConsumerMap(graph);
  std::vector<std::vector<int>> groups;
  for (size_t v = 0; v < graph.values.size(); ++v) {
    std::vector<std::vector<int>> by_kind;
    for (int u : users[v]) {
      const Node& n = graph.nodes[static_cast<size_t>(u)];
      if (n.inputs[0] != static_cast<int>(v) || !Candidate(graph, n)) continue;
      bool placed = false;
      for (std::vector<int>& g : by_kind) {
        if (Compatible(graph, graph.nodes[static_cast<size_t>(g[0])], n)) {
          g.push_back(u);
          placed = true;
          break;
        }
      }
      if (!placed) by_kind.push_back({u});
    }
    for (std::vector<int>& g : by_kind) {
      if (g.size() >= 2) groups.push_back(std::move(g));
    }
  }
  if (groups.empty()) return 0;
  // Position of each group (its first node) and the nodes it absorbs.
  std::map<int, size_t> group_at;
  std::vector<bool> absorbed(graph.nodes.size(), false);
  std::vector<std::pair<Node, Node>> merged;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    group_at[groups[gi][0]] = gi;
    for (int idx : groups[gi]) absorbed[static_cast<size_t>(idx)] = true;
    merged.push_back(Merge(graph, groups[gi]));
  }
  std::vector<Node> nodes;
  nodes.reserve(graph.nodes.size() + groups.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    auto it = group_at.find(static_cast<int>(i));
    if (it != group_at.end()) {
      nodes.push_back(std::move(merged[it->second].first));
      nodes.push_back(std::move(merged[it->second].second));
    }
    if (!absorbed[i]) nodes.push_back(std::move(graph.nodes[i]));
  }
  graph.nodes = std::move(nodes);
  RefreshProducers(graph);
  return static_cast<int>(groups.size());
}

}  // namespace edgert
