// Chains of elementwise steps fused into one EdgertFusedElementwise layer (contract in
// runtime/src/ops/fused_elementwise.cc).
//  1. A node is a step when it maps a float32 tensor to one of the same shape and is a supported
//     unary operator (with constant parameters) or a binary operator one of whose operands is a
//     build-time float scalar (x - c and c - x are different steps, as are x / c and c / x).
//  2. Walk from every step that does not continue a chain (its data input is not the sole,
//     unobservable output of another step) forward while the current value has exactly one
//     reader, that reader is a step on it, and the value is no graph output.
//  3. Chains of two or more steps become one layer at the last step's position, reading the chain's
//     input and writing the last step's output. Runs after vertical fusion, so activations that
//     can live in a Conv / Gemm epilogue go there first.
#include <limits>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {
namespace {

struct StepDesc {
  std::string name;
  std::vector<float> params;
  int data = -1;  // the value the step transforms
};

// Float scalar build-time value of `v`, if any.
bool Scalar(const Graph& graph, int v, float* out) {
  if (v < 0) return false;
  const Tensor& t = graph.values[static_cast<size_t>(v)].constant;
  if (!t.defined() || t.num_elements() != 1 || t.dtype() != DataType::kFloat32) return false;
  *out = t.data<float>()[0];
  return true;
}

bool AsStep(const Graph& graph, const Node& n, StepDesc* step) {
  if (n.folded || n.outputs.size() != 1 || n.inputs.empty()) return false;
  const Value& out = graph.values[static_cast<size_t>(n.outputs[0])];
  if (out.dtype != DataType::kFloat32) return false;
  auto same_shape = [&](int v) {
    return v >= 0 && graph.values[static_cast<size_t>(v)].dtype == DataType::kFloat32 &&
           graph.values[static_cast<size_t>(v)].shape == out.shape &&
           !graph.values[static_cast<size_t>(v)].constant.defined();
  };
  *step = StepDesc();
  switch (n.op) {
    case OpType::kRelu:
    case OpType::kSigmoid:
    case OpType::kTanh:
    case OpType::kExp:
    case OpType::kLog:
    case OpType::kNeg:
    case OpType::kAbs:
    case OpType::kSqrt:
    case OpType::kErf:
    case OpType::kReciprocal:
    case OpType::kFloor:
    case OpType::kCeil:
    case OpType::kHardSwish:
      if (n.inputs.size() != 1 || !same_shape(n.inputs[0])) return false;
      step->name = n.op_type;
      step->data = n.inputs[0];
      return true;
    case OpType::kLeakyRelu: {
      StatusOr<float> alpha = n.attrs.GetFloatOr("alpha", 0.01f);
      if (!alpha.ok() || !same_shape(n.inputs[0])) return false;
      *step = {"LeakyRelu", {*alpha}, n.inputs[0]};
      return true;
    }
    case OpType::kHardSigmoid: {
      StatusOr<float> alpha = n.attrs.GetFloatOr("alpha", 0.2f);
      StatusOr<float> beta = n.attrs.GetFloatOr("beta", 0.5f);
      if (!alpha.ok() || !beta.ok() || !same_shape(n.inputs[0])) return false;
      *step = {"HardSigmoid", {*alpha, *beta}, n.inputs[0]};
      return true;
    }
    case OpType::kClip: {
      constexpr float kInf = std::numeric_limits<float>::infinity();
      float lo = -kInf, hi = kInf;
      if (n.opset < 11) return false;
      if (n.inputs.size() > 1 && n.inputs[1] >= 0 && !Scalar(graph, n.inputs[1], &lo)) return false;
      if (n.inputs.size() > 2 && n.inputs[2] >= 0 && !Scalar(graph, n.inputs[2], &hi)) return false;
      if (!same_shape(n.inputs[0])) return false;
      *step = {"Clip", {lo, hi}, n.inputs[0]};
      return true;
    }
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
    case OpType::kPow:
    case OpType::kMax:
    case OpType::kMin: {
      if (n.inputs.size() != 2) return false;
      float c = 0.0f;
      const bool c_second = Scalar(graph, n.inputs[1], &c) && same_shape(n.inputs[0]);
      const bool c_first = !c_second && Scalar(graph, n.inputs[0], &c) && same_shape(n.inputs[1]);
      if (!c_second && !c_first) return false;
      std::string name = n.op_type;
      if (c_first) {
        if (n.op == OpType::kPow) return false;
        if (n.op == OpType::kSub) name = "RSub";
        if (n.op == OpType::kDiv) name = "RDiv";
      }
      *step = {name, {c}, n.inputs[c_first ? 1 : 0]};
      return true;
    }
    default:
      return false;
  }
}

}  // namespace

StatusOr<int> FuseElementwiseChains(Graph& graph) {
  std::vector<std::vector<int>> users = ConsumerMap(graph);
  const size_t n_nodes = graph.nodes.size();
  std::vector<StepDesc> steps(n_nodes);
  std::vector<bool> is_step(n_nodes, false);
  for (size_t i = 0; i < n_nodes; ++i) is_step[i] = AsStep(graph, graph.nodes[i], &steps[i]);
  // The step reading `value` as its data, when that is the value's only use; else -1.
  auto next_step = [&](int value) -> int {
    if (IsGraphOutput(graph, value) || users[static_cast<size_t>(value)].size() != 1) return -1;
    const int u = users[static_cast<size_t>(value)][0];
    if (!is_step[static_cast<size_t>(u)] || steps[static_cast<size_t>(u)].data != value) return -1;
    int reads = 0;
    for (int in : graph.nodes[static_cast<size_t>(u)].inputs) reads += in == value ? 1 : 0;
    return reads == 1 ? u : -1;
  };
  std::vector<bool> remove(n_nodes, false);
  int rewrites = 0;
  for (size_t i = 0; i < n_nodes; ++i) {
    if (!is_step[i] || remove[i]) continue;
    const int data = steps[i].data;
    const int producer = graph.values[static_cast<size_t>(data)].producer;
    if (producer >= 0 && is_step[static_cast<size_t>(producer)] && next_step(data) == static_cast<int>(i)) continue;
    std::vector<int> chain = {static_cast<int>(i)};
    for (int next = next_step(graph.nodes[i].outputs[0]); next >= 0;
         next = next_step(graph.nodes[static_cast<size_t>(next)].outputs[0])) {
      chain.push_back(next);
    }
    if (chain.size() < 2) continue;
    const int last = chain.back();
    Node fused = MakeNode(OpType::kFusedElementwise, graph.nodes[static_cast<size_t>(chain[0])].name, 1);
    std::vector<std::string> names;
    std::vector<float> operands;
    for (int c : chain) {
      if (c != chain[0]) fused.name += "+" + graph.nodes[static_cast<size_t>(c)].name;
      names.push_back(steps[static_cast<size_t>(c)].name);
      operands.insert(operands.end(), steps[static_cast<size_t>(c)].params.begin(),
                      steps[static_cast<size_t>(c)].params.end());
      remove[static_cast<size_t>(c)] = true;
    }
    fused.attrs.Set("steps", names);
    fused.attrs.Set("operands", operands);
    fused.inputs = {data};
    fused.outputs = {graph.nodes[static_cast<size_t>(last)].outputs[0]};
    graph.nodes[static_cast<size_t>(last)] = std::move(fused);
    remove[static_cast<size_t>(last)] = false;
    is_step[static_cast<size_t>(last)] = false;
    ++rewrites;
  }
  if (rewrites > 0) RemoveNodes(graph, remove);
  return rewrites;
}

}  // namespace edgert
