// The edgert builder: ONNX model in, executable network out.
//
// Steps: import the ONNX file (external data included), bind build-time shapes and shape-input
// values, infer every shape and dtype while folding constant subgraphs, lower to a NetworkDef.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "edgert/network.h"
#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {

struct BuildOptions {
  // Build-time shapes of graph inputs, as trtexec's --shapes (name -> dims).
  std::map<std::string, Shape> shapes;
  // Build-time values of integer graph inputs that feed shape parameters (e.g. Reshape's shape).
  // They become constants of the network and stop being network inputs.
  std::map<std::string, Tensor> input_values;
};

// Imports, infers and lowers `onnx_path`. Errors name the file and the node, tensor or input.
StatusOr<NetworkDef> BuildNetwork(const std::string& onnx_path, const BuildOptions& options);

struct SupportEntry {
  std::string node_name;
  std::string op_type;  // as written in the model
  Status status;        // ok, or why the node cannot be built
};

struct SupportReport {
  std::vector<SupportEntry> nodes;  // one per model node, in topological order
  bool AllSupported() const;
};

// Per-node support report (`edgert check`). A model that cannot be parsed at all, or whose inputs
// cannot be bound, is an error instead.
StatusOr<SupportReport> CheckModel(const std::string& onnx_path, const BuildOptions& options);

// Builds for one concrete set of inputs, as `edgert run` and the conformance tests do: each model
// input (in the model's order, initializers excluded) takes the shape of the tensor given for it,
// and integer inputs whose values the model needs at build time (Reshape's shape, Slice's starts,
// ...) are bound to the given values. `bound` receives the names of the inputs that became
// constants; the caller passes the remaining inputs to the engine, in the network's input order.
StatusOr<NetworkDef> BuildNetworkForInputs(const std::string& onnx_path, const std::vector<Tensor>& inputs,
                                           std::vector<std::string>* bound = nullptr);

// Parses "name:1x3x224x224[,name2:...]" (trtexec's --shapes syntax) into `shapes`.
Status ParseShapesOption(const std::string& text, std::map<std::string, Shape>* shapes);

}  // namespace edgert
