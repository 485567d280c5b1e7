// Building IR graphs by hand in tests (inference, passes).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "edgert/op_type.h"
#include "ir/graph.h"

namespace edgert {
namespace testing {

inline int AddInput(Graph& g, const std::string& name, DataType dtype, Shape shape,
                    std::vector<std::string> dim_params = {}) {
  int v = g.GetOrAdd(name);
  g.values[v].dtype = dtype;
  g.values[v].has_shape = true;
  g.values[v].shape = std::move(shape);
  g.values[v].dim_params = std::move(dim_params);
  g.inputs.push_back(v);
  return v;
}

// A float32 input.
inline int AddInput(Graph& g, const std::string& name, Shape shape) {
  return AddInput(g, name, DataType::kFloat32, std::move(shape));
}

inline int AddConst(Graph& g, const std::string& name, Tensor t) {
  int v = g.GetOrAdd(name);
  g.values[v].dtype = t.dtype();
  g.values[v].has_shape = true;
  g.values[v].shape = t.shape();
  g.values[v].constant = std::move(t);
  return v;
}

// A node of ONNX type `op_type` (unknown types stay unknown) at opset 17; "" inputs are absent.
inline Node& AddNode(Graph& g, const std::string& op_type, const std::string& name, std::vector<std::string> ins,
                     std::vector<std::string> outs) {
  Node n;
  n.name = name;
  n.op_type = op_type;
  const OpInfo* info = FindOpInfoByName(op_type);
  n.known = info != nullptr;
  if (info) n.op = info->type;
  n.opset = 17;
  for (const std::string& s : ins) n.inputs.push_back(s.empty() ? -1 : g.GetOrAdd(s));
  for (const std::string& s : outs) n.outputs.push_back(g.GetOrAdd(s));
  g.nodes.push_back(std::move(n));
  return g.nodes.back();
}

}  // namespace testing
}  // namespace edgert
