// Squeeze-and-excitation fusion: the SE block of EfficientNet / MobileNetV3 / RegNet-Y becomes one
// EdgertSqueezeExcite layer (runtime/src/ops/squeeze_excite.h has its contract). Runs after
// vertical fusion, so the 1x1 convolutions already carry their activations as epilogues.
//  1. Start at a live Mul of two float32 tensors; one operand g is the gate, the other X.
//  2. The gate: a Conv with a fused activation (that activation becomes the gate), or a Sigmoid /
//     HardSigmoid node reading a Conv without one. This Conv (the excitation) and the next one
//     back (the squeeze, with or without a fused activation) are 1x1, group 1, without pads or
//     residual, with constant float32 weights [Co, Ci, 1, 1] and optional constant biases.
//  3. The squeeze Conv reads m = GlobalAveragePool(X) or ReduceMean(X) over axes {2, 3} (any
//     order, negative forms included) with keepdims 1, X of rank 4; shapes: m and g [N, C, 1, 1],
//     the Mul's output X's shape.
//  4. m, the squeeze output, the excitation output and (with a standalone gate node) g are read
//     by exactly one node each and are no graph outputs; X may have other readers.
//  5. The Mul becomes EdgertSqueezeExcite(X, W1 [Cr, C], B1, W2 [C, Cr], B2) at its position with
//     its name and output; missing biases become zero constants. The absorbed nodes are removed.
#include <algorithm>

#include "edgert/fused_activation.h"
#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {
namespace {

// EdgertSqueezeExcite's attributes (runtime/src/ops/squeeze_excite.h).
constexpr const char* kSqueezeExciteGate = "gate";
constexpr const char* kChannelsLast = "channels_last";

const Node& NodeAt(const Graph& graph, int i) { return graph.nodes[static_cast<size_t>(i)]; }
const Value& ValueAt(const Graph& graph, int v) { return graph.values[static_cast<size_t>(v)]; }

// A 1x1, group-1, unpadded Conv without residual whose weights (and bias, if any) are float32
// constants of shape [Co, Ci, 1, 1] ([Co]).
bool IsPointwiseConv(const Graph& graph, const Node& n) {
  if (n.op != OpType::kConv || n.inputs.size() < 2) return false;
  if (n.inputs.size() > 3 && n.inputs[3] >= 0) return false;
  const int w = n.inputs[1];
  const int b = n.inputs.size() > 2 ? n.inputs[2] : -1;
  if (!IsFloatConstant(graph, w)) return false;
  const Shape& ws = ValueAt(graph, w).constant.shape();
  if (ws.size() != 4 || ws[2] != 1 || ws[3] != 1) return false;
  if (b >= 0 && (!IsFloatConstant(graph, b) || ValueAt(graph, b).constant.shape() != Shape{ws[0]})) return false;
  StatusOr<int64_t> group = n.attrs.GetIntOr("group", 1);
  if (!group.ok() || *group != 1) return false;
  StatusOr<std::vector<int64_t>> pads = n.attrs.GetIntsOr("pads", {});
  if (!pads.ok() || std::any_of(pads->begin(), pads->end(), [](int64_t p) { return p != 0; })) return false;
  StatusOr<std::vector<int64_t>> kernel = n.attrs.GetIntsOr("kernel_shape", {1, 1});
  return kernel.ok() && *kernel == std::vector<int64_t>{1, 1};
}

// The ReduceMean axes of node `n` (attribute before opset 18, constant input from then on).
bool ReduceMeanAxes(const Graph& graph, const Node& n, std::vector<int64_t>* axes) {
  if (n.opset < 18) {
    StatusOr<std::vector<int64_t>> a = n.attrs.GetIntsOr("axes", {});
    if (!a.ok()) return false;
    *axes = *a;
  } else {
    if (n.inputs.size() < 2 || n.inputs[1] < 0) return false;
    const Tensor& t = ValueAt(graph, n.inputs[1]).constant;
    if (!t.defined() || t.dtype() != DataType::kInt64 || t.shape().size() != 1) return false;
    axes->assign(t.data<int64_t>(), t.data<int64_t>() + t.num_elements());
  }
  return true;
}

// The tensor X when node `n` is a global average pool of a rank-4 X over H and W with kept
// dimensions; -1 otherwise.
int PooledInput(const Graph& graph, const Node& n) {
  if (n.inputs.empty() || n.inputs[0] < 0) return -1;
  const int x = n.inputs[0];
  if (ValueAt(graph, x).shape.size() != 4) return -1;
  if (n.op == OpType::kGlobalAveragePool) return x;
  if (n.op != OpType::kReduceMean) return -1;
  StatusOr<int64_t> keepdims = n.attrs.GetIntOr("keepdims", 1);
  if (!keepdims.ok() || *keepdims != 1) return -1;
  std::vector<int64_t> axes;
  if (!ReduceMeanAxes(graph, n, &axes) || axes.size() != 2) return -1;
  for (int64_t& a : axes) a = a < 0 ? a + 4 : a;
  std::sort(axes.begin(), axes.end());
  return axes == std::vector<int64_t>{2, 3} ? x : -1;
}

// Copies the activation attributes of `from` (prefix "activation") to `to` under `prefix`.
void CopyActivation(const Attributes& from, const std::string& prefix, Attributes* to) {
  const std::pair<const char*, std::string> keys[] = {
      {kActivationAttr, prefix}, {kActivationAlphaAttr, prefix + "_alpha"}, {kActivationBetaAttr, prefix + "_beta"}};
  for (const auto& [src, dst] : keys) {
    if (from.Has(src)) to->Set(dst, from.all().at(src));
  }
}

// [Co, Ci, 1, 1] -> [Co, Ci].
Tensor Matrix(const Graph& graph, int w) {
  const Tensor& t = ValueAt(graph, w).constant;
  return *t.Reshaped({t.dim(0), t.dim(1)});
}

Tensor BiasOrZeros(const Graph& graph, const Node& conv, int64_t n) {
  if (conv.inputs.size() > 2 && conv.inputs[2] >= 0) return ValueAt(graph, conv.inputs[2]).constant;
  return Tensor::FromVector<float>(std::vector<float>(static_cast<size_t>(n), 0.0f), {n});
}

}  // namespace

StatusOr<int> FuseSqueezeExcite(Graph& graph) {
  std::vector<std::vector<int>> users = ConsumerMap(graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  // The node producing `value` when it is its only reader `reader`'s input, live and no graph output.
  auto sole_producer = [&](int value, int reader) -> int {
    if (value < 0 || IsGraphOutput(graph, value) || users[static_cast<size_t>(value)].size() != 1 ||
        users[static_cast<size_t>(value)][0] != reader) {
      return -1;
    }
    const int p = ValueAt(graph, value).producer;
    if (p < 0 || remove[static_cast<size_t>(p)] || NodeAt(graph, p).folded) return -1;
    return p;
  };
  int rewrites = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& mul = graph.nodes[i];
    if (mul.folded || remove[i] || mul.op != OpType::kMul || mul.inputs.size() != 2) continue;
    const int self = static_cast<int>(i);
    for (int side = 0; side < 2; ++side) {
      const int g = mul.inputs[static_cast<size_t>(side)];
      const int x = mul.inputs[static_cast<size_t>(1 - side)];
      if (g == x || ValueAt(graph, x).dtype != DataType::kFloat32 || ValueAt(graph, g).dtype != DataType::kFloat32) {
        continue;
      }
      // 2. The gate and the excitation Conv.
      int gate_node = sole_producer(g, self);
      if (gate_node < 0) continue;
      int excite = -1;
      Attributes gate_attrs;
      const Node& gn = NodeAt(graph, gate_node);
      if (gn.op == OpType::kConv) {
        if (!gn.attrs.Has(kActivationAttr)) continue;
        excite = gate_node;
        gate_node = -1;
        CopyActivation(gn.attrs, kSqueezeExciteGate, &gate_attrs);
      } else if (gn.op == OpType::kSigmoid || gn.op == OpType::kHardSigmoid) {
        excite = sole_producer(gn.inputs[0], gate_node);
        if (excite < 0 || NodeAt(graph, excite).attrs.Has(kActivationAttr)) continue;
        gate_attrs.Set(kSqueezeExciteGate, std::string(gn.op == OpType::kSigmoid ? "Sigmoid" : "HardSigmoid"));
        if (gn.op == OpType::kHardSigmoid) {
          StatusOr<float> alpha = gn.attrs.GetFloatOr("alpha", 0.2f);
          StatusOr<float> beta = gn.attrs.GetFloatOr("beta", 0.5f);
          if (!alpha.ok() || !beta.ok()) continue;
          gate_attrs.Set(std::string(kSqueezeExciteGate) + "_alpha", *alpha);
          gate_attrs.Set(std::string(kSqueezeExciteGate) + "_beta", *beta);
        }
      } else {
        continue;
      }
      const Node& e = NodeAt(graph, excite);
      if (!IsPointwiseConv(graph, e)) continue;
      // The squeeze Conv and the pool.
      const int squeeze = sole_producer(e.inputs[0], excite);
      if (squeeze < 0 || !IsPointwiseConv(graph, NodeAt(graph, squeeze))) continue;
      const Node& s = NodeAt(graph, squeeze);
      const int pool = sole_producer(s.inputs[0], squeeze);
      if (pool < 0 || PooledInput(graph, NodeAt(graph, pool)) != x) continue;
      // 3. Shapes.
      const Shape& xs = ValueAt(graph, x).shape;
      if (xs.size() != 4 || std::any_of(xs.begin(), xs.end(), [](int64_t d) { return d < 1; })) continue;
      const int64_t c = xs[1];
      const Tensor& w1 = ValueAt(graph, s.inputs[1]).constant;
      const Tensor& w2 = ValueAt(graph, e.inputs[1]).constant;
      const int64_t cr = w1.dim(0);
      if (w1.dim(1) != c || w2.dim(0) != c || w2.dim(1) != cr) continue;
      const Shape pooled = {xs[0], c, 1, 1};
      if (ValueAt(graph, s.inputs[0]).shape != pooled || ValueAt(graph, g).shape != pooled ||
          ValueAt(graph, mul.outputs[0]).shape != xs) {
        continue;
      }
      // 5. The fused layer.
      Node se = MakeNode(OpType::kSqueezeExcite, mul.name, mul.opset);
      se.inputs = {x, AddConstant(graph, s.name + "_w1", Matrix(graph, s.inputs[1])),
                   AddConstant(graph, s.name + "_b1", BiasOrZeros(graph, s, cr)),
                   AddConstant(graph, e.name + "_w2", Matrix(graph, e.inputs[1])),
                   AddConstant(graph, e.name + "_b2", BiasOrZeros(graph, e, c))};
      se.outputs = {mul.outputs[0]};
      se.attrs = gate_attrs;
      se.attrs.Set(kChannelsLast, int64_t{0});
      CopyActivation(s.attrs, kActivationAttr, &se.attrs);
      for (int n : {pool, squeeze, excite, gate_node}) {
        if (n >= 0) remove[static_cast<size_t>(n)] = true;
      }
      graph.nodes[i] = std::move(se);
      ++rewrites;
      break;
    }
  }
  if (rewrites > 0) RemoveNodes(graph, remove);
  return rewrites;
}

}  // namespace edgert
