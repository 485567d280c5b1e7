#include "passes/pass_util.h"

#include <algorithm>
#include <cstring>

#include "edgert/op_def.h"

namespace edgert {

std::vector<std::vector<int>> ConsumerMap(const Graph& graph) {
  std::vector<std::vector<int>> users(graph.values.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (int in : graph.nodes[i].inputs) {
      if (in < 0) continue;
      std::vector<int>& u = users[static_cast<size_t>(in)];
      if (u.empty() || u.back() != static_cast<int>(i)) u.push_back(static_cast<int>(i));
    }
  }
  return users;
}

bool IsGraphOutput(const Graph& graph, int value) {
  return std::find(graph.outputs.begin(), graph.outputs.end(), value) != graph.outputs.end();
}

bool IsGraphInput(const Graph& graph, int value) {
  return std::find(graph.inputs.begin(), graph.inputs.end(), value) != graph.inputs.end();
}

int UseCount(const Graph& graph, int value) {
  int count = 0;
  for (const Node& n : graph.nodes) {
    if (n.folded) continue;
    for (int in : n.inputs) count += in == value ? 1 : 0;
  }
  for (int out : graph.outputs) count += out == value ? 1 : 0;
  return count;
}

void ReplaceAllUses(Graph& graph, int from, int to) {
  for (Node& n : graph.nodes) {
    for (int& in : n.inputs) {
      if (in == from) in = to;
    }
  }
}

bool Bypass(Graph& graph, int node, int in, int out) {
  if (!IsGraphOutput(graph, out)) {
    ReplaceAllUses(graph, out, in);
    return true;
  }
  // `out` must keep its name: let the producer of `in` write it.
  const int producer = graph.values[static_cast<size_t>(in)].producer;
  if (producer < 0 || IsGraphOutput(graph, in) || IsGraphInput(graph, in)) return false;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (static_cast<int>(i) == node || graph.nodes[i].folded) continue;
    for (int x : graph.nodes[i].inputs) {
      if (x == in) return false;
    }
  }
  for (int& o : graph.nodes[static_cast<size_t>(producer)].outputs) {
    if (o == in) o = out;
  }
  graph.values[static_cast<size_t>(out)].producer = producer;
  graph.values[static_cast<size_t>(in)].producer = -1;
  return true;
}

void RefreshProducers(Graph& graph) {
  for (Value& v : graph.values) v.producer = -1;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (int o : graph.nodes[i].outputs) {
      if (o >= 0) graph.values[static_cast<size_t>(o)].producer = static_cast<int>(i);
    }
  }
}

void RemoveNodes(Graph& graph, const std::vector<bool>& remove) {
  std::vector<Node> kept;
  kept.reserve(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!remove[i]) kept.push_back(std::move(graph.nodes[i]));
  }
  graph.nodes = std::move(kept);
  RefreshProducers(graph);
}

std::string UniqueValueName(const Graph& graph, const std::string& base) {
  if (graph.Find(base) < 0) return base;
  for (int k = 1;; ++k) {
    std::string name = base + "_" + std::to_string(k);
    if (graph.Find(name) < 0) return name;
  }
}

int AddConstant(Graph& graph, const std::string& base, Tensor tensor) {
  int id = graph.GetOrAdd(UniqueValueName(graph, base));
  Value& v = graph.values[static_cast<size_t>(id)];
  v.dtype = tensor.dtype();
  v.shape = tensor.shape();
  v.has_shape = true;
  v.constant = std::move(tensor);
  return id;
}

int AddValue(Graph& graph, const std::string& base, DataType dtype, const Shape& shape) {
  int id = graph.GetOrAdd(UniqueValueName(graph, base));
  Value& v = graph.values[static_cast<size_t>(id)];
  v.dtype = dtype;
  v.shape = shape;
  v.has_shape = true;
  return id;
}

Node MakeNode(OpType op, const std::string& name, int opset) {
  Node n;
  n.name = name;
  n.op_type = std::string(OpTypeName(op));
  n.known = true;
  n.op = op;
  n.opset = opset;
  return n;
}

int CountLiveNodes(const Graph& graph) {
  int count = 0;
  for (const Node& n : graph.nodes) count += n.folded ? 0 : 1;
  return count;
}

bool IsFloatConstant(const Graph& graph, int value) {
  if (value < 0) return false;
  const Value& v = graph.values[static_cast<size_t>(value)];
  return v.constant.defined() && v.constant.dtype() == DataType::kFloat32;
}

std::vector<float> ConstantFloats(const Graph& graph, int value) {
  const Tensor& t = graph.values[static_cast<size_t>(value)].constant;
  std::vector<float> out(static_cast<size_t>(t.num_elements()));
  if (!out.empty()) std::memcpy(out.data(), t.raw(), out.size() * sizeof(float));
  return out;
}

Status VerifyGraph(const Graph& graph, const std::string& pass) {
  std::vector<bool> defined(graph.values.size(), false);
  for (int in : graph.inputs) defined[static_cast<size_t>(in)] = true;
  for (size_t v = 0; v < graph.values.size(); ++v) {
    if (graph.values[v].constant.defined()) defined[v] = true;
  }
  for (const Node& node : graph.nodes) {
    const std::string label = "after pass " + pass + ": " + node.op_type + " node '" + node.name + "'";
    if (node.folded) {
      for (int o : node.outputs) defined[static_cast<size_t>(o)] = true;
      continue;
    }
    std::vector<ValueInfo> infos(node.inputs.size());
    std::vector<const ValueInfo*> ptrs(node.inputs.size(), nullptr);
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const int in = node.inputs[k];
      if (in < 0) continue;
      const Value& v = graph.values[static_cast<size_t>(in)];
      if (!defined[static_cast<size_t>(in)]) {
        return Internal(label + " reads '" + v.name + "' before any node writes it", node.name);
      }
      infos[k].dtype = v.dtype;
      infos[k].shape = v.shape;
      infos[k].value = v.constant.defined() ? &v.constant : nullptr;
      ptrs[k] = &infos[k];
    }
    OpContext ctx(node.op, node.name, node.attrs, node.opset, ptrs, node.outputs.size());
    Status s = CheckSupported(ctx);
    if (s.ok()) s = GetOpDef(node.op)->infer(ctx);
    if (!s.ok()) return Status(StatusCode::kInternal, label + ": " + s.message(), node.name);
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      const Value& v = graph.values[static_cast<size_t>(node.outputs[k])];
      if (v.dtype != ctx.output(k).dtype || v.shape != ctx.output(k).shape) {
        return Internal(label + " output '" + v.name + "' is recorded as " + DataTypeName(v.dtype) + " " +
                            ShapeToString(v.shape) + " but the operator gives " + DataTypeName(ctx.output(k).dtype) +
                            " " + ShapeToString(ctx.output(k).shape),
                        node.name);
      }
      defined[static_cast<size_t>(node.outputs[k])] = true;
    }
  }
  for (int out : graph.outputs) {
    if (!defined[static_cast<size_t>(out)]) {
      return Internal("after pass " + pass + ": graph output '" + graph.values[static_cast<size_t>(out)].name +
                          "' is no longer computed",
                      graph.values[static_cast<size_t>(out)].name);
    }
  }
  return Status::Ok();
}

}  // namespace edgert
