// The builder's IR: a Graph of Nodes and Values, mutable, in topological order after import.
//
// Values and nodes are referred to by index. A Value with a defined `constant` is known at build
// time (initializer, Constant node, bound shape input, or folded). Nodes keep the ONNX op_type
// even when edgert does not know the operator, so the support report can name it.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "edgert/attributes.h"
#include "edgert/op_type.h"
#include "edgert/tensor.h"

namespace edgert {

struct Value {
  std::string name;
  DataType dtype = DataType::kUndefined;
  bool has_shape = false;               // rank known
  Shape shape;                          // -1 for a dimension not known yet
  std::vector<std::string> dim_params;  // ONNX symbolic names per dimension ("" where none)
  Tensor constant;                      // defined() when known at build time
  int producer = -1;                    // index of the producing node; -1 for inputs and constants
};

struct Node {
  std::string name;     // ONNX node name, or "<op_type>_<index>" when the model has none
  std::string op_type;  // as written in the model
  std::string domain;   // "" for ai.onnx
  bool known = false;   // `op` is valid
  OpType op = OpType::kIdentity;
  int opset = 0;
  Attributes attrs;
  std::vector<int> inputs;   // value indices; -1 for an absent optional input
  std::vector<int> outputs;  // value indices; -1 for an unused optional output
  bool folded = false;       // every output became a constant
};

class Graph {
 public:
  std::string name;
  int opset = 0;  // ai.onnx opset the model imports
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<int> inputs;   // graph inputs that are not initializers
  std::vector<int> outputs;

  // Index of the value called `name`, or -1.
  int Find(const std::string& name) const;
  // Index of the value called `name`, created if new.
  int GetOrAdd(const std::string& name);

 private:
  std::unordered_map<std::string, int> index_;
};

}  // namespace edgert
