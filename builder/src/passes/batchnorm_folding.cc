// BatchNormalization folded into the layer that feeds it.
//  1. Match BN (inference; scale, bias, mean, var float32 constants; one output) whose input X is
//     written by a live Conv, ConvTranspose or Gemm with constant float32 weights (and bias, when
//     present) and read by nothing else (nor a graph output).
//  2. Per output channel c, in double: s[c] = gamma[c] / sqrt(var[c] + eps),
//     t[c] = beta[c] - mean[c] * s[c]; then W' = W * s (along the producer's output channel) and
//     b' = b * s + t (b = 0 when absent).
//       Conv W [M, C/g, k...]:           row m scaled by s[m].
//       ConvTranspose W [C, M/g, k...]:  W[c, j] scaled by s[(c / (C/g)) * (M/g) + j].
//       Gemm (Y [M, N], channel = N):    op(B) column n scaled by s[n] (row n of B when transB);
//                                        C' = beta * C * s + t, broadcast to [N] or [M, N], beta 1.
//  3. The producer gets new constant inputs and writes BN's output; BN is removed.
#include <cmath>
#include <cstring>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {
namespace {

Tensor FloatTensor(const std::vector<float>& data, const Shape& shape) {
  Tensor t = *Tensor::Create(DataType::kFloat32, shape);
  if (!data.empty()) std::memcpy(t.raw(), data.data(), data.size() * sizeof(float));
  return t;
}

// The per-channel affine map y = x * s + t of an inference BatchNormalization.
struct ChannelAffine {
  std::vector<double> s;
  std::vector<double> t;
};

StatusOr<ChannelAffine> BnAffine(const Graph& graph, const Node& bn) {
  EDGERT_ASSIGN_OR_RETURN(float eps, bn.attrs.GetFloatOr("epsilon", 1e-5f, bn.name));
  std::vector<float> gamma = ConstantFloats(graph, bn.inputs[1]);
  std::vector<float> beta = ConstantFloats(graph, bn.inputs[2]);
  std::vector<float> mean = ConstantFloats(graph, bn.inputs[3]);
  std::vector<float> var = ConstantFloats(graph, bn.inputs[4]);
  ChannelAffine a;
  for (size_t c = 0; c < gamma.size(); ++c) {
    const double s = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
    a.s.push_back(s);
    a.t.push_back(static_cast<double>(beta[c]) - static_cast<double>(mean[c]) * s);
  }
  return a;
}

bool FoldableBn(const Graph& graph, const Node& bn) {
  if (bn.op != OpType::kBatchNormalization || bn.folded || bn.outputs.size() != 1 || bn.inputs.size() != 5) {
    return false;
  }
  for (size_t k = 1; k < 5; ++k) {
    if (!IsFloatConstant(graph, bn.inputs[k])) return false;
  }
  StatusOr<int64_t> training = bn.attrs.GetIntOr("training_mode", 0);
  StatusOr<int64_t> spatial = bn.attrs.GetIntOr("spatial", 1);
  StatusOr<int64_t> is_test = bn.attrs.GetIntOr("is_test", 1);
  return training.ok() && *training == 0 && spatial.ok() && *spatial == 1 && is_test.ok() && *is_test == 1;
}

// Bias b' = b * s + t for a layer with per-channel bias input 2 (Conv, ConvTranspose).
int FoldedBias(Graph& graph, const Node& layer, const ChannelAffine& a) {
  std::vector<float> b(a.s.size(), 0.0f);
  if (layer.inputs.size() > 2 && layer.inputs[2] >= 0) b = ConstantFloats(graph, layer.inputs[2]);
  for (size_t c = 0; c < b.size(); ++c) b[c] = static_cast<float>(b[c] * a.s[c] + a.t[c]);
  return AddConstant(graph, layer.name + "_bn_bias", FloatTensor(b, {static_cast<int64_t>(b.size())}));
}

// Folds `a` into a Conv or ConvTranspose; false when the shapes do not fit.
bool FoldIntoConv(Graph& graph, int layer_index, const ChannelAffine& a) {
  Node& layer = graph.nodes[static_cast<size_t>(layer_index)];
  const Shape w_shape = graph.values[static_cast<size_t>(layer.inputs[1])].shape;
  StatusOr<int64_t> group = layer.attrs.GetIntOr("group", 1);
  if (!group.ok() || *group < 1 || w_shape.size() < 3) return false;
  std::vector<float> w = ConstantFloats(graph, layer.inputs[1]);
  int64_t inner = 1;
  for (size_t d = 2; d < w_shape.size(); ++d) inner *= w_shape[d];
  const int64_t channels = static_cast<int64_t>(a.s.size());
  if (layer.op == OpType::kConv) {
    if (w_shape[0] != channels) return false;
    for (int64_t m = 0; m < channels; ++m) {
      for (int64_t k = 0; k < w_shape[1] * inner; ++k) {
        float& x = w[static_cast<size_t>(m * w_shape[1] * inner + k)];
        x = static_cast<float>(x * a.s[static_cast<size_t>(m)]);
      }
    }
  } else {
    const int64_t c_total = w_shape[0];
    const int64_t mg = w_shape[1];
    if (mg * *group != channels || c_total % *group != 0) return false;
    const int64_t cg = c_total / *group;
    for (int64_t c = 0; c < c_total; ++c) {
      for (int64_t j = 0; j < mg; ++j) {
        const double s = a.s[static_cast<size_t>((c / cg) * mg + j)];
        for (int64_t k = 0; k < inner; ++k) {
          float& x = w[static_cast<size_t>((c * mg + j) * inner + k)];
          x = static_cast<float>(x * s);
        }
      }
    }
  }
  const int new_w = AddConstant(graph, layer.name + "_bn_weight", FloatTensor(w, w_shape));
  const int new_b = FoldedBias(graph, graph.nodes[static_cast<size_t>(layer_index)], a);
  Node& l = graph.nodes[static_cast<size_t>(layer_index)];
  l.inputs.resize(3, -1);
  l.inputs[1] = new_w;
  l.inputs[2] = new_b;
  return true;
}

// Folds `a` into a Gemm (channel = column of Y); false when the shapes do not fit.
bool FoldIntoGemm(Graph& graph, int layer_index, const ChannelAffine& a) {
  Node& layer = graph.nodes[static_cast<size_t>(layer_index)];
  const Shape y_shape = graph.values[static_cast<size_t>(layer.outputs[0])].shape;
  const Shape b_shape = graph.values[static_cast<size_t>(layer.inputs[1])].shape;
  StatusOr<int64_t> trans_b = layer.attrs.GetIntOr("transB", 0);
  StatusOr<float> beta = layer.attrs.GetFloatOr("beta", 1.0f);
  if (!trans_b.ok() || !beta.ok() || y_shape.size() != 2 || b_shape.size() != 2) return false;
  const int64_t m = y_shape[0];
  const int64_t n = y_shape[1];
  if (n != static_cast<int64_t>(a.s.size())) return false;
  std::vector<float> w = ConstantFloats(graph, layer.inputs[1]);
  for (int64_t r = 0; r < b_shape[0]; ++r) {
    for (int64_t c = 0; c < b_shape[1]; ++c) {
      const int64_t col = *trans_b ? r : c;
      float& x = w[static_cast<size_t>(r * b_shape[1] + c)];
      x = static_cast<float>(x * a.s[static_cast<size_t>(col)]);
    }
  }
  // C broadcasts to [M, N]; it depends on the row only when it has a dimension of M > 1 rows.
  Shape c_shape;
  std::vector<float> c_vals;
  const bool has_c = layer.inputs.size() > 2 && layer.inputs[2] >= 0;
  if (has_c) {
    c_shape = graph.values[static_cast<size_t>(layer.inputs[2])].shape;
    c_vals = ConstantFloats(graph, layer.inputs[2]);
    if (c_shape.size() > 2) return false;
  }
  while (c_shape.size() < 2) c_shape.insert(c_shape.begin(), 1);
  const bool per_row = c_shape[0] != 1;
  const int64_t rows = per_row ? m : 1;
  std::vector<float> c_new(static_cast<size_t>(rows * n));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double c = 0.0;
      if (has_c) {
        const int64_t ci = c_shape[0] == 1 ? 0 : i;
        const int64_t cj = c_shape[1] == 1 ? 0 : j;
        c = static_cast<double>(*beta) * c_vals[static_cast<size_t>(ci * c_shape[1] + cj)];
      }
      c_new[static_cast<size_t>(i * n + j)] =
          static_cast<float>(c * a.s[static_cast<size_t>(j)] + a.t[static_cast<size_t>(j)]);
    }
  }
  const std::string name = layer.name;
  const int new_w = AddConstant(graph, name + "_bn_weight", FloatTensor(w, b_shape));
  const int new_c = AddConstant(graph, name + "_bn_bias", FloatTensor(c_new, per_row ? Shape{m, n} : Shape{n}));
  Node& l = graph.nodes[static_cast<size_t>(layer_index)];
  l.inputs.resize(3, -1);
  l.inputs[1] = new_w;
  l.inputs[2] = new_c;
  l.attrs.Set("beta", 1.0f);
  return true;
}

}  // namespace

StatusOr<int> FoldBatchNorm(Graph& graph) {
  std::vector<bool> remove(graph.nodes.size(), false);
  int rewrites = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!FoldableBn(graph, graph.nodes[i])) continue;
    const int x = graph.nodes[i].inputs[0];
    const int p = graph.values[static_cast<size_t>(x)].producer;
    if (p < 0 || remove[static_cast<size_t>(p)] || IsGraphOutput(graph, x) || UseCount(graph, x) != 1) continue;
    const Node& layer = graph.nodes[static_cast<size_t>(p)];
    const bool conv = layer.op == OpType::kConv || layer.op == OpType::kConvTranspose;
    if (layer.folded || !(conv || layer.op == OpType::kGemm) || layer.inputs.size() > 3 ||
        layer.attrs.Has("activation") || !IsFloatConstant(graph, layer.inputs[1])) {
      continue;
    }
    if (layer.inputs.size() > 2 && layer.inputs[2] >= 0 && !IsFloatConstant(graph, layer.inputs[2])) continue;
    EDGERT_ASSIGN_OR_RETURN(ChannelAffine a, BnAffine(graph, graph.nodes[i]));
    if (!(conv ? FoldIntoConv(graph, p, a) : FoldIntoGemm(graph, p, a))) continue;
    const int y = graph.nodes[i].outputs[0];
    graph.nodes[static_cast<size_t>(p)].outputs[0] = y;
    graph.values[static_cast<size_t>(y)].producer = p;
    graph.values[static_cast<size_t>(x)].producer = -1;
    remove[i] = true;
    ++rewrites;
  }
  if (rewrites > 0) RemoveNodes(graph, remove);
  return rewrites;
}

}  // namespace edgert
