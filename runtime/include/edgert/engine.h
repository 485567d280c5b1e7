// The runtime API of the CPU backend: an Engine (the network, its weights and its memory plan,
// immutable) and ExecutionContexts (one activation arena and one set of kernels each).
//
// Usage:
//   auto engine = Engine::CreateFromPlan("model.plan");          // or Engine::Create(network)
//   auto context = (*engine)->CreateContext();                   // or CreateContext(arena, bytes)
//   context->SetTensorAddress("input", in);                      // every input and output, by name
//   context->SetTensorAddress("output", out);
//   context->Enqueue();                                          // as often as wanted
//
// Ownership and lifetime:
//   - An Engine is held by std::shared_ptr; every context keeps its engine alive. An engine built
//     from a plan keeps the plan's mapping alive; its constants are read in place from it.
//   - Contexts share the engine's weights (the constant tensors' bytes are never copied).
//   - A context owns its arena unless the caller supplied one; a caller's arena must outlive the
//     context. Bound buffers are the caller's and must stay valid until Enqueue() returns.
//
// Thread rules: an Engine is immutable after creation and safe to share across threads, including
// CreateContext() from several threads at once. A context is used by one thread at a time: run
// one context per thread.
//
// Enqueue(): the CPU backend has no stream, so Enqueue() runs the whole network synchronously on
// the calling thread. The CUDA backend's Enqueue(stream) takes the same bindings (device
// addresses) and returns once the work is queued. Enqueue() allocates nothing: kernels, their
// scratch and the arena views are made by CreateContext().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgert/memory_plan.h"
#include "edgert/network.h"
#include "edgert/op_def.h"
#include "edgert/plan.h"
#include "edgert/status.h"

namespace edgert {

// One graph input or output of an engine.
struct IOTensorInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Shape shape;  // fixed; with a batch profile, the shape at the profile's max batch
  bool is_input = false;
  bool batched = false;  // with a batch profile: dim 0 is the batch (it follows SetBatchSize)
  // dtype and shape are the binding's (IoFormat, edgert/network.h): for a channels-last binding
  // the network's [N, C, d...] is held as `shape` = [N, d..., C].
  bool channels_last = false;
};

class ExecutionContext;

class Engine : public std::enable_shared_from_this<Engine> {
 public:
  // Validates every layer (index ranges, support check, kernel preparation) and plans the
  // activations' memory once with `memory_options`. Allocates no arena.
  static StatusOr<std::shared_ptr<Engine>> Create(NetworkDef network, const NetworkMemoryOptions& memory_options = {});
  // ValidatePlan() for the CPU device key and this edgert version, LoadedPlan::Open(), Create().
  static StatusOr<std::shared_ptr<Engine>> CreateFromPlan(const std::string& path);

  // I/O tensors: the graph inputs in order, then the graph outputs in order.
  int NumIOTensors() const { return static_cast<int>(io_.size()); }
  // `index` must be in [0, NumIOTensors()).
  const IOTensorInfo& IOTensor(int index) const { return io_[static_cast<size_t>(index)]; }
  const std::vector<IOTensorInfo>& IOTensors() const { return io_; }
  // Index of the first I/O tensor named `name`, or -1.
  int FindIOTensor(const std::string& name) const;

  // Bytes of activation memory one context needs, and the alignment its base must have.
  size_t ArenaBytes() const { return arena_bytes_; }
  size_t ArenaAlignment() const { return arena_alignment_; }
  // Bytes of the constant tensors (weights and folded values), shared by every context.
  size_t WeightsBytes() const { return weights_bytes_; }

  // A context bound to `arena` (the caller's memory: at least ArenaBytes(), aligned to
  // ArenaAlignment(), outliving the context), or with one allocation of its own when `arena` is
  // null. Builds the context's own kernels.
  StatusOr<std::unique_ptr<ExecutionContext>> CreateContext(void* arena = nullptr, size_t bytes = 0) const;

  const NetworkDef& network() const { return network_; }
  // The batch-dimension optimization profile (disabled for fixed shapes). The arena is planned at
  // its max, so every context can run any batch in [min, max] (ExecutionContext::SetBatchSize).
  const BatchProfile& profile() const { return network_.profile; }
  // Where every tensor lives in the arena, and which layers the plan elides.
  const NetworkMemoryPlan& memory_plan() const { return memory_plan_; }
  // Network tensor index of I/O tensor `index`.
  int32_t IOTensorIndex(int index) const { return io_tensor_index_[static_cast<size_t>(index)]; }

 private:
  Engine() = default;

  NetworkDef network_;
  NetworkMemoryPlan memory_plan_;
  std::shared_ptr<const LoadedPlan> plan_;  // set by CreateFromPlan: keeps the mapping alive
  std::vector<IOTensorInfo> io_;
  std::vector<int32_t> io_tensor_index_;  // per I/O tensor: its network tensor
  size_t arena_bytes_ = 0;                // the plan's arena rounded up to arena_alignment_, at least one alignment
  size_t arena_alignment_ = kDefaultMemoryAlignment;
  size_t weights_bytes_ = 0;
};

class ExecutionContext {
 public:
  ~ExecutionContext();
  ExecutionContext(const ExecutionContext&) = delete;
  ExecutionContext& operator=(const ExecutionContext&) = delete;

  // Batch profiles (the engine's profile() is enabled): the batch the next Enqueue() runs, in
  // [min, max]; a new context runs at max. Changing it re-makes the context's kernels for the new
  // shapes (allocations happen here, never in Enqueue()); the arena and the bindings stay. Bound
  // buffers must then hold the shapes TensorShape() gives. Error for an engine without a profile
  // (unless `batch` equals its fixed batch) or a batch outside the profile.
  Status SetBatchSize(int64_t batch);
  // The batch the context runs at: the profile's current batch, or dim 0 of the first input for a
  // fixed-shape engine (0 for a rank-0 input).
  int64_t batch_size() const { return batch_; }
  // TensorRT's habit: the input's shape must equal the engine's except dim 0 of a batched input,
  // which sets the batch (SetBatchSize). Error naming the input and the allowed shapes otherwise.
  Status SetInputShape(const std::string& name, const Shape& shape);
  // Shape of I/O tensor `index` at the current batch.
  Shape TensorShape(int io_index) const;

  // Binds I/O tensor `name` to `data` (dtype and shape are the engine's). Error naming the tensor
  // for an unknown name or a null pointer.
  Status SetTensorAddress(const std::string& name, void* data);
  // The same by I/O index (for callers that resolved names once).
  Status SetTensorAddress(int io_index, void* data);

  // Copies every bound input into the arena, runs the layers in order (skipping those the memory
  // plan elides) and copies every output to its bound buffer. Error naming the first unbound I/O
  // tensor, or the failing layer. Synchronous; allocates nothing.
  Status Enqueue();

  // When on, Enqueue() first fills the whole arena with 0xFF bytes (NaN for floats) so an element a
  // kernel fails to write shows up. Off by default; the reference CpuEngine turns it on.
  void SetPoisonArena(bool on) { poison_arena_ = on; }

  const Engine& engine() const { return *engine_; }
  void* arena() const { return arena_; }
  // The context's view of network tensor `index` (constants: the engine's weights; activations:
  // views into the arena). For inspection and tests.
  const Tensor& tensor(int32_t index) const { return tensors_[static_cast<size_t>(index)]; }

 private:
  friend class Engine;
  explicit ExecutionContext(std::shared_ptr<const Engine> engine) : engine_(std::move(engine)) {}

  // Views of every tensor of `net` (the engine's network or a batch specialization of it) at the
  // memory plan's offsets, and a kernel per layer.
  Status Bind(const NetworkDef& net);

  std::shared_ptr<const Engine> engine_;
  NetworkDef specialized_;  // the network at batch_ when it is not the engine's (max) batch
  int64_t batch_ = 0;
  void* owned_arena_ = nullptr;  // std::aligned_alloc'ed when the context owns its arena; freed in the destructor
  char* arena_ = nullptr;
  std::vector<Tensor> tensors_;  // one per network tensor: constants, and views into the arena
  std::vector<std::unique_ptr<CpuKernel>> kernels_;
  std::vector<std::vector<const Tensor*>> layer_inputs_;
  std::vector<std::vector<Tensor*>> layer_outputs_;
  std::vector<void*> bindings_;  // per I/O tensor; nullptr until bound
  bool poison_arena_ = false;
};

}  // namespace edgert
