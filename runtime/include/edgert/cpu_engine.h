// The reference CPU backend: executes a NetworkDef layer by layer with each operator's reference
// kernel. It is the oracle that every other backend is tested against.
//
// Thread rules: an engine is not thread-safe; Run() may be called repeatedly. Activations are
// allocated once, at Create().
#pragma once

#include <memory>
#include <vector>

#include "edgert/network.h"
#include "edgert/op_def.h"

namespace edgert {

class CpuEngine {
 public:
  // Validates every layer (support check, prepare) and allocates activations.
  static StatusOr<std::unique_ptr<CpuEngine>> Create(NetworkDef network);

  // `inputs` in the network's input order, with exactly the declared dtypes and shapes. Outputs
  // are fresh tensors, in the network's output order.
  Status Run(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs);

  const NetworkDef& network() const { return network_; }

 private:
  CpuEngine() = default;

  NetworkDef network_;
  std::vector<Tensor> tensors_;  // one per network tensor: constants and activations
  std::vector<std::unique_ptr<CpuKernel>> kernels_;
  std::vector<std::vector<const Tensor*>> layer_inputs_;
  std::vector<std::vector<Tensor*>> layer_outputs_;
};

}  // namespace edgert
