// The reference CPU backend: executes a NetworkDef layer by layer with each operator's reference
// kernel. It is the oracle that every other backend is tested against.
//
// A thin wrapper over one Engine and one ExecutionContext (engine.h): the same execution path,
// with Run() taking and returning Tensors, and the arena poisoned before every run so an element a
// kernel fails to write shows up.
//
// Memory: Create() plans every activation into one arena (see memory_plan.h) and makes one
// allocation for it; every activation tensor is a view into the arena, so tensors whose lifetimes
// do not overlap share bytes, views alias their input, elementwise layers may overwrite a dying
// input and Concat inputs may be written straight into the output. Run() allocates nothing but
// the output tensors.
//
// Thread rules: an engine is not thread-safe; Run() may be called repeatedly.
#pragma once

#include <memory>
#include <vector>

#include "edgert/engine.h"
#include "edgert/memory_plan.h"
#include "edgert/network.h"

namespace edgert {

class CpuEngine {
 public:
  // Validates every layer (support check, prepare), plans the activations' memory with
  // `memory_options` and allocates the arena.
  static StatusOr<std::unique_ptr<CpuEngine>> Create(NetworkDef network,
                                                     const NetworkMemoryOptions& memory_options = {});

  // `inputs` in the network's input order, with exactly the declared dtypes and shapes (with a
  // batch profile, dim 0 of the batched inputs may be any batch of the profile, the same for all
  // of them, and the context switches to it). Outputs are fresh tensors, in the network's output
  // order, at the inputs' batch.
  Status Run(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs);

  const NetworkDef& network() const { return engine_->network(); }
  // Where every tensor lives in the arena, and which layers the plan elides.
  const NetworkMemoryPlan& memory_plan() const { return engine_->memory_plan(); }
  // Arena bytes, the no-reuse total and the lower bound, for reports.
  const MemoryFigures& memory_figures() const { return engine_->memory_plan().figures; }
  const std::shared_ptr<Engine>& engine() const { return engine_; }

 private:
  CpuEngine() = default;

  std::shared_ptr<Engine> engine_;
  std::unique_ptr<ExecutionContext> context_;  // owns the arena; poisons it before every run
};

}  // namespace edgert
