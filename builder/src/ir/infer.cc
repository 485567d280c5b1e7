// Inference over the IR.
//  1. Bind graph inputs: a build-time value makes the input a constant; a build-time shape fixes
//     its dimensions (checked against the declared rank and static dimensions). Any dimension
//     still dynamic is an error naming the input and the symbolic dimension.
//  2. Order the nodes topologically (ONNX requires it; a model that breaks the rule is sorted, a
//     cycle or a read of an undefined value is an error naming the node and value).
//  3. Per node: support check, then the operator's infer(); the inferred shapes are checked
//     against any shape the model declares for them. If every input is a constant (or the node is
//     Shape, which reads only its input's shape) the node runs on the CPU kernel now and its
//     outputs become constants.
#include "ir/infer.h"

#include <algorithm>
#include <queue>

#include "edgert/op_def.h"

namespace edgert {
namespace {

std::string NodeLabel(const Node& n) { return n.op_type + " node '" + n.name + "'"; }

Status BindInputs(Graph& g, const InferOptions& opt) {
  for (const auto& [name, shape] : opt.input_shapes) {
    int id = g.Find(name);
    if (id < 0 || std::find(g.inputs.begin(), g.inputs.end(), id) == g.inputs.end()) {
      std::string names;
      for (int in : g.inputs) names += (names.empty() ? "" : ", ") + g.values[in].name;
      return InvalidArgument("--shapes names '" + name + "', which is not an input of the model (inputs: " + names + ")",
                             name);
    }
  }
  for (int id : g.inputs) {
    Value& v = g.values[id];
    auto val = opt.input_values.find(v.name);
    auto shp = opt.input_shapes.find(v.name);
    Shape want;
    bool given = false;
    if (val != opt.input_values.end()) {
      want = val->second.shape();
      given = true;
      if (v.dtype != DataType::kUndefined && val->second.dtype() != v.dtype) {
        return InvalidArgument("input '" + v.name + "' is " + DataTypeName(v.dtype) + " but the value given is " +
                                   DataTypeName(val->second.dtype()),
                               v.name);
      }
    } else if (shp != opt.input_shapes.end()) {
      want = shp->second;
      given = true;
    }
    if (given) {
      if (v.has_shape && v.shape.size() != want.size()) {
        return InvalidArgument("input '" + v.name + "' has rank " + std::to_string(v.shape.size()) +
                                   " but the shape given is " + ShapeToString(want),
                               v.name);
      }
      for (size_t d = 0; v.has_shape && d < want.size(); ++d) {
        if (v.shape[d] >= 0 && v.shape[d] != want[d]) {
          return InvalidArgument("input '" + v.name + "' has dimension " + std::to_string(d) + " fixed to " +
                                     std::to_string(v.shape[d]) + " but the shape given is " + ShapeToString(want),
                                 v.name);
        }
        if (want[d] < 0) return InvalidArgument("shape given for input '" + v.name + "' has a negative dimension", v.name);
      }
      v.shape = want;
      v.has_shape = true;
      if (val != opt.input_values.end()) v.constant = val->second;
    }
    if (v.dtype == DataType::kUndefined) {
      return Unsupported("input '" + v.name + "' has no tensor type edgert can hold", v.name);
    }
    if (!v.has_shape) {
      return InvalidArgument("input '" + v.name + "' has no shape in the model; give it with --shapes " + v.name +
                                 ":1x3x224x224 (for example)",
                             v.name);
    }
    Shape example = v.shape;  // the suggestion below puts 1 where the model leaves a dimension open
    for (int64_t& d : example) d = d < 0 ? 1 : d;
    for (size_t d = 0; d < v.shape.size(); ++d) {
      if (v.shape[d] < 0) {
        std::string sym = d < v.dim_params.size() && !v.dim_params[d].empty() ? " ('" + v.dim_params[d] + "')" : "";
        return InvalidArgument("input '" + v.name + "' has dynamic dimension " + std::to_string(d) + sym +
                                   "; give its build shape with --shapes, e.g. --shapes " + v.name + ":" +
                                   ShapeToString(example),
                               v.name);
      }
    }
  }
  return Status::Ok();
}

// Kahn's algorithm, stable with respect to the model's order.
Status SortTopologically(Graph& g) {
  const size_t n = g.nodes.size();
  std::vector<int> producer(g.values.size(), -1);
  for (size_t i = 0; i < n; ++i) {
    for (int o : g.nodes[i].outputs) {
      if (producer[o] >= 0) {
        return InvalidArgument("value '" + g.values[o].name + "' is produced by both " +
                                   NodeLabel(g.nodes[producer[o]]) + " and " + NodeLabel(g.nodes[i]),
                               g.values[o].name);
      }
      if (g.values[o].constant.defined() && g.values[o].producer < 0) {
        return InvalidArgument(NodeLabel(g.nodes[i]) + " writes '" + g.values[o].name +
                                   "', which is an initializer",
                               g.nodes[i].name);
      }
      producer[o] = static_cast<int>(i);
    }
  }
  std::vector<bool> is_input(g.values.size(), false);
  for (int id : g.inputs) is_input[id] = true;
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> users(n);
  for (size_t i = 0; i < n; ++i) {
    for (int in : g.nodes[i].inputs) {
      if (in < 0) continue;
      if (producer[in] >= 0) {
        ++pending[i];
        users[producer[in]].push_back(static_cast<int>(i));
      } else if (!is_input[in] && !g.values[in].constant.defined()) {
        return InvalidArgument(NodeLabel(g.nodes[i]) + " reads '" + g.values[in].name +
                                   "', which no node, graph input or initializer defines",
                               g.nodes[i].name);
      }
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(static_cast<int>(i));
  }
  std::vector<int> order;
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int u : users[i]) {
      if (--pending[u] == 0) ready.push(u);
    }
  }
  if (order.size() != n) {
    for (size_t i = 0; i < n; ++i) {
      if (pending[i] > 0) return InvalidArgument(NodeLabel(g.nodes[i]) + " is part of a cycle", g.nodes[i].name);
    }
  }
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (int i : order) sorted.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(sorted);
  for (size_t i = 0; i < n; ++i) {
    for (int o : g.nodes[i].outputs) g.values[o].producer = static_cast<int>(i);
  }
  return Status::Ok();
}

Status CheckDeclared(const Node& node, const Value& v, DataType dtype, const Shape& shape) {
  if (v.dtype != DataType::kUndefined && v.dtype != dtype) {
    return InvalidArgument(NodeLabel(node) + " produces '" + v.name + "' as " + DataTypeName(dtype) +
                               " but the model declares it " + DataTypeName(v.dtype),
                           node.name);
  }
  if (!v.has_shape) return Status::Ok();
  bool same_rank = v.shape.size() == shape.size();
  bool same = same_rank;
  for (size_t d = 0; same && d < shape.size(); ++d) same = v.shape[d] < 0 || v.shape[d] == shape[d];
  if (!same) {
    return InvalidArgument(NodeLabel(node) + " produces '" + v.name + "' with shape " + ShapeToString(shape) +
                               " but the model declares " + ShapeToString(v.shape),
                           node.name);
  }
  return Status::Ok();
}

// Runs `node`'s CPU kernel on its inputs' build-time values; `ctx` has been through infer().
// Inputs without a value (only Shape's, which reads no element) are passed as views of nothing.
StatusOr<std::vector<Tensor>> RunCpuKernel(const Graph& g, const Node& node, const OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> kernel, GetOpDef(node.op)->create_cpu(ctx));
  std::vector<Tensor> in_tensors(node.inputs.size());
  std::vector<const Tensor*> in_ptrs(node.inputs.size(), nullptr);
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    int in = node.inputs[k];
    if (in < 0) continue;
    const Value& v = g.values[in];
    in_tensors[k] = v.constant.defined() ? v.constant : Tensor::View(v.dtype, v.shape, nullptr);
    in_ptrs[k] = &in_tensors[k];
  }
  std::vector<Tensor> out_tensors(node.outputs.size());
  std::vector<Tensor*> out_ptrs;
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    EDGERT_ASSIGN_OR_RETURN(out_tensors[k], Tensor::Create(ctx.output(k).dtype, ctx.output(k).shape));
    out_ptrs.push_back(&out_tensors[k]);
  }
  Status s = kernel->Run(in_ptrs, out_ptrs);
  if (!s.ok()) return s.WithContext("folding " + NodeLabel(node));
  return out_tensors;
}

Status InferNode(Graph& g, int index) {
  Node& node = g.nodes[index];
  if (!node.known) {
    std::string where = node.domain.empty() ? "" : " (domain '" + node.domain + "')";
    return Unsupported("operator '" + node.op_type + "'" + where + " of node '" + node.name + "' is not supported",
                       node.name);
  }
  std::vector<ValueInfo> infos(node.inputs.size());
  std::vector<const ValueInfo*> ptrs(node.inputs.size(), nullptr);
  bool all_const = true;
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    int in = node.inputs[k];
    if (in < 0) continue;
    const Value& v = g.values[in];
    if (v.dtype == DataType::kUndefined || !v.has_shape) {
      return Status(StatusCode::kInvalidArgument,
                    NodeLabel(node) + ": input '" + v.name + "' is unknown because an earlier node failed", node.name);
    }
    infos[k].dtype = v.dtype;
    infos[k].shape = v.shape;
    infos[k].value = v.constant.defined() ? &v.constant : nullptr;
    all_const = all_const && v.constant.defined();
    ptrs[k] = &infos[k];
  }
  OpContext ctx(node.op, node.name, node.attrs, node.opset, ptrs, node.outputs.size());
  EDGERT_RETURN_IF_ERROR(CheckSupported(ctx));
  EDGERT_RETURN_IF_ERROR(GetOpDef(node.op)->infer(ctx));
  int64_t out_elems = 0;
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    const ValueInfo& out = ctx.output(k);
    if (out.dtype == DataType::kUndefined) {
      return Internal(NodeLabel(node) + ": inference left output " + std::to_string(k) + " without a type", node.name);
    }
    for (int64_t d : out.shape) {
      if (d < 0) return Internal(NodeLabel(node) + ": inference left output " + std::to_string(k) + " with shape " +
                                 ShapeToString(out.shape), node.name);
    }
    if (NumElements(out.shape) < 0) {
      return OutOfRange(NodeLabel(node) + ": output " + std::to_string(k) + " has too many elements", node.name);
    }
    out_elems += NumElements(out.shape);
    EDGERT_RETURN_IF_ERROR(CheckDeclared(node, g.values[node.outputs[k]], out.dtype, out.shape));
  }
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    Value& v = g.values[node.outputs[k]];
    v.dtype = ctx.output(k).dtype;
    v.shape = ctx.output(k).shape;
    v.has_shape = true;
  }
  // Fold: Shape needs only the input's shape; everything else needs constant inputs.
  bool foldable = (all_const || node.op == OpType::kShape) && out_elems <= kMaxFoldElements;
  if (!foldable) return Status::Ok();
  EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> out_tensors, RunCpuKernel(g, node, ctx));
  for (size_t k = 0; k < node.outputs.size(); ++k) g.values[node.outputs[k]].constant = out_tensors[k];
  node.folded = true;
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<Tensor>> EvaluateNode(const Graph& graph, const Node& node) {
  if (!node.known) {
    return Unsupported("operator '" + node.op_type + "' of node '" + node.name + "' is not supported", node.name);
  }
  std::vector<ValueInfo> infos(node.inputs.size());
  std::vector<const ValueInfo*> ptrs(node.inputs.size(), nullptr);
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    int in = node.inputs[k];
    if (in < 0) continue;
    const Value& v = graph.values[in];
    if (!v.constant.defined() && node.op != OpType::kShape) {
      return InvalidArgument(NodeLabel(node) + ": input '" + v.name + "' is not known at build time", node.name);
    }
    infos[k].dtype = v.dtype;
    infos[k].shape = v.shape;
    infos[k].value = v.constant.defined() ? &v.constant : nullptr;
    ptrs[k] = &infos[k];
  }
  OpContext ctx(node.op, node.name, node.attrs, node.opset, ptrs, node.outputs.size());
  EDGERT_RETURN_IF_ERROR(CheckSupported(ctx));
  EDGERT_RETURN_IF_ERROR(GetOpDef(node.op)->infer(ctx));
  int64_t out_elems = 0;
  for (size_t k = 0; k < node.outputs.size(); ++k) out_elems += std::max<int64_t>(0, NumElements(ctx.output(k).shape));
  if (out_elems > kMaxFoldElements) {
    return OutOfRange(NodeLabel(node) + ": outputs too large to fold (" + std::to_string(out_elems) + " elements)",
                      node.name);
  }
  return RunCpuKernel(graph, node, ctx);
}

Status InferGraph(Graph& graph, const InferOptions& options, std::vector<NodeReport>* report) {
  EDGERT_RETURN_IF_ERROR(BindInputs(graph, options));
  EDGERT_RETURN_IF_ERROR(SortTopologically(graph));
  Status first;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    Status s = InferNode(graph, static_cast<int>(i));
    if (report) report->push_back({static_cast<int>(i), s});
    if (!s.ok()) {
      if (first.ok()) first = s;
      if (!report) return s;
    }
  }
  if (!first.ok()) return first;
  for (int out : graph.outputs) {
    const Value& v = graph.values[out];
    if (v.dtype == DataType::kUndefined || !v.has_shape) {
      return InvalidArgument("graph output '" + v.name + "' is never computed", v.name);
    }
  }
  return Status::Ok();
}

StatusOr<NetworkDef> LowerGraph(const Graph& graph) {
  NetworkDef net;
  std::vector<int32_t> tensor_of(graph.values.size(), -1);
  auto use = [&](int value) -> int32_t {
    if (tensor_of[value] >= 0) return tensor_of[value];
    const Value& v = graph.values[value];
    TensorDef def;
    def.name = v.name;
    def.dtype = v.dtype;
    def.shape = v.shape;
    def.value = v.constant;
    tensor_of[value] = static_cast<int32_t>(net.tensors.size());
    net.tensors.push_back(std::move(def));
    return tensor_of[value];
  };
  for (int in : graph.inputs) {
    // A graph input bound to a build-time value (InferOptions::input_values) is baked into the
    // network as a constant, like a TensorRT shape tensor: it is no longer a network input.
    if (graph.values[in].constant.defined()) continue;
    net.inputs.push_back(use(in));
  }
  for (const Node& node : graph.nodes) {
    if (node.folded) continue;
    LayerDef layer;
    layer.name = node.name;
    layer.op = node.op;
    layer.opset = node.opset;
    layer.attrs = node.attrs;
    for (int in : node.inputs) layer.inputs.push_back(in < 0 ? -1 : use(in));
    for (int out : node.outputs) layer.outputs.push_back(use(out));
    net.layers.push_back(std::move(layer));
  }
  for (int out : graph.outputs) net.outputs.push_back(use(out));
  return net;
}

}  // namespace edgert
