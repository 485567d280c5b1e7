// The reference CPU backend: executes a NetworkDef layer by layer with each operator's reference
// kernel. It is the oracle that every other backend is tested against.
//
// Memory: Create() plans every activation into one arena (see memory_plan.h) and makes one
// allocation for it; every activation tensor is a view into the arena, so tensors whose lifetimes
// do not overlap share bytes, views alias their input, elementwise layers may overwrite a dying
// input and Concat inputs may be written straight into the output. Run() allocates nothing but
// the output copies.
//
// Thread rules: an engine is not thread-safe; Run() may be called repeatedly.
#pragma once

#include <memory>
#include <vector>

#include "edgert/memory_plan.h"
#include "edgert/network.h"
#include "edgert/op_def.h"

namespace edgert {

class CpuEngine {
 public:
  // Validates every layer (support check, prepare), plans the activations' memory with
  // `memory_options` and allocates the arena.
  static StatusOr<std::unique_ptr<CpuEngine>> Create(NetworkDef network,
                                                     const NetworkMemoryOptions& memory_options = {});

  // `inputs` in the network's input order, with exactly the declared dtypes and shapes. Outputs
  // are fresh tensors, in the network's output order.
  Status Run(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs);

  const NetworkDef& network() const { return network_; }
  // Where every tensor lives in the arena, and which layers the plan elides.
  const NetworkMemoryPlan& memory_plan() const { return memory_plan_; }
  // Arena bytes, the no-reuse total and the lower bound, for reports.
  const MemoryFigures& memory_figures() const { return memory_plan_.figures; }

 private:
  CpuEngine() = default;

  struct FreeDeleter {
    void operator()(void* p) const;
  };

  NetworkDef network_;
  NetworkMemoryPlan memory_plan_;
  std::unique_ptr<void, FreeDeleter> arena_;  // the one allocation holding every activation
  size_t arena_bytes_ = 0;                    // bytes of arena_ (the plan's arena, at least 1 alignment)
  std::vector<Tensor> tensors_;               // one per network tensor: constants, and views into arena_
  std::vector<std::unique_ptr<CpuKernel>> kernels_;
  std::vector<std::vector<const Tensor*>> layer_inputs_;
  std::vector<std::vector<Tensor*>> layer_outputs_;
};

}  // namespace edgert
