// Per-channel scale and shift folded into the Conv that alone feeds them (BatchNormalization as
// some exporters decompose it: Conv -> Mul(s) -> Add(t)).
//  1. Match a live Conv (constant float32 weights, constant bias or none, no fused epilogue) whose
//     output is read only by one Add, Sub, Mul or Div, and is no graph output; the other operand
//     is a float32 constant that broadcasts per output channel: shape [M, 1, ..] or [1, M, 1, ..]
//     (rank <= output rank), or a single value, and the result keeps the Conv's output shape.
//  2. With c[m] the constant's value for channel m:
//       y + c:  b' = b + c          y - c:  b' = b - c          c - y:  W' = -W, b' = c - b
//       y * c:  W' = W * c, b' = b * c                          y / c:  W' = W / c, b' = b / c
//  3. The Conv gets the new constants and writes the operator's output; the operator is removed.
//     Repeating the pass folds chains (Mul then Add).
#include <cstring>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {
namespace {

// Per-channel values of `c` for a Conv output of shape `y` ([N, M, ...]); false when `c` varies
// along any other axis.
bool PerChannel(const Tensor& c, const Shape& y, std::vector<double>* out) {
  const int64_t m = y[1];
  const Shape& s = c.shape();
  if (s.size() > y.size()) return false;
  const size_t off = y.size() - s.size();  // right-aligned broadcasting
  int64_t channel_extent = 1;
  for (size_t d = 0; d < s.size(); ++d) {
    const size_t axis = off + d;
    if (axis == 1) {
      if (s[d] != 1 && s[d] != m) return false;
      channel_extent = s[d];
    } else if (s[d] != 1) {
      return false;
    }
  }
  out->resize(static_cast<size_t>(m));
  for (int64_t k = 0; k < m; ++k) (*out)[static_cast<size_t>(k)] = c.GetAsDouble(channel_extent == 1 ? 0 : k);
  return true;
}

Tensor Floats(const std::vector<float>& v, const Shape& shape) {
  Tensor t = *Tensor::Create(DataType::kFloat32, shape);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(float));
  return t;
}

}  // namespace

StatusOr<int> FoldConvAffine(Graph& graph) {
  std::vector<std::vector<int>> users = ConsumerMap(graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  int rewrites = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& conv = graph.nodes[i];
    if (conv.folded || remove[i] || conv.op != OpType::kConv || conv.inputs.size() > 3 ||
        conv.attrs.Has("activation") || !IsFloatConstant(graph, conv.inputs[1])) {
      continue;
    }
    const bool has_bias = conv.inputs.size() > 2 && conv.inputs[2] >= 0;
    if (has_bias && !IsFloatConstant(graph, conv.inputs[2])) continue;
    const int y = conv.outputs[0];
    if (IsGraphOutput(graph, y) || users[static_cast<size_t>(y)].size() != 1) continue;
    const int u = users[static_cast<size_t>(y)][0];
    const Node& op = graph.nodes[static_cast<size_t>(u)];
    if (remove[static_cast<size_t>(u)] || op.folded || op.inputs.size() != 2 || op.inputs[0] == op.inputs[1]) continue;
    if (op.op != OpType::kAdd && op.op != OpType::kSub && op.op != OpType::kMul && op.op != OpType::kDiv) continue;
    const bool y_first = op.inputs[0] == y;
    const int c_value = y_first ? op.inputs[1] : op.inputs[0];
    if (!IsFloatConstant(graph, c_value)) continue;
    const Shape y_shape = graph.values[static_cast<size_t>(y)].shape;
    if (graph.values[static_cast<size_t>(op.outputs[0])].shape != y_shape) continue;
    std::vector<double> c;
    if (!PerChannel(graph.values[static_cast<size_t>(c_value)].constant, y_shape, &c)) continue;
    if (op.op == OpType::kDiv && !y_first) continue;  // c / y is not affine in y
    const Shape w_shape = graph.values[static_cast<size_t>(conv.inputs[1])].shape;
    std::vector<float> w = ConstantFloats(graph, conv.inputs[1]);
    std::vector<float> b(static_cast<size_t>(y_shape[1]), 0.0f);
    if (has_bias) b = ConstantFloats(graph, conv.inputs[2]);
    const size_t per_channel = w.size() / b.size();
    for (size_t m = 0; m < b.size(); ++m) {
      double scale = 1.0, shift = 0.0;  // y' = scale * y + shift
      switch (op.op) {
        case OpType::kAdd:
          shift = c[m];
          break;
        case OpType::kSub:
          if (y_first) {
            shift = -c[m];
          } else {
            scale = -1.0;
            shift = c[m];
          }
          break;
        case OpType::kMul:
          scale = c[m];
          break;
        default:
          scale = 1.0 / c[m];
          break;
      }
      if (scale != 1.0) {
        for (size_t k = 0; k < per_channel; ++k) {
          float& x = w[m * per_channel + k];
          x = op.op == OpType::kDiv ? static_cast<float>(x / c[m]) : static_cast<float>(x * scale);
        }
      }
      b[m] = op.op == OpType::kDiv ? static_cast<float>(b[m] / c[m]) : static_cast<float>(b[m] * scale + shift);
    }
    const std::string name = conv.name;
    const int out = op.outputs[0];
    const int new_w = AddConstant(graph, name + "_affine_weight", Floats(w, w_shape));
    const int new_b = AddConstant(graph, name + "_affine_bias", Floats(b, {static_cast<int64_t>(b.size())}));
    Node& l = graph.nodes[i];
    l.inputs.resize(3, -1);
    l.inputs[1] = new_w;
    l.inputs[2] = new_b;
    l.outputs[0] = out;
    remove[static_cast<size_t>(u)] = true;
    ++rewrites;
  }
  if (rewrites > 0) RemoveNodes(graph, remove);
  return rewrites;
}

}  // namespace edgert
