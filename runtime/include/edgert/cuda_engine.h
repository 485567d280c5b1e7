// The runtime API of the CUDA backend: a CudaEngine (network, weights uploaded once to the GPU,
// memory plan; immutable) and CudaExecutionContexts (one device arena, one workspace and one set of
// launch records each). Available when edgert was built with EDGERT_WITH_CUDA (the macro
// EDGERT_HAVE_CUDA is then defined for users of the library).
//
// Usage:
//   auto engine = CudaEngine::CreateFromPlan("model.plan");          // or CudaEngine::Create(network, options)
//   auto context = (*engine)->CreateContext();                       // or CreateContext(device_arena, bytes)
//   context->SetTensorAddress("input", d_in);                        // device pointers, by name
//   context->SetTensorAddress("output", d_out);
//   context->Enqueue(stream);                                        // queues the work, returns at once
//
// Ownership and lifetime:
//   - A CudaEngine is held by std::shared_ptr; every context keeps its engine alive. The engine owns
//     the device copy of the weights (uploaded once by Create; float weights as float16 in an FP16
//     engine), shared by all its contexts.
//   - A context owns its arena (one cudaMalloc at creation) unless the caller supplied one, which
//     must outlive it; it always owns its workspace, its cuDNN/cuBLASLt handles and its CUDA graph.
//   - Bound buffers are the caller's and must stay valid until the work queued on the stream is done.
//
// Thread and stream rules: an engine is immutable after creation and safe to share across threads,
// including CreateContext() from several threads. A context is used by one thread at a time and
// runs on whatever stream Enqueue() is given; two contexts may run concurrently on two streams.
// Work queued by Enqueue() on one context must finish before the same context is enqueued on a
// different stream (on the same stream it is ordered anyway).
//
// Enqueue(): no device or host allocation, no host synchronisation. With CUDA graphs on (the
// default), the first Enqueue() captures the layers into a graph and later calls replay it;
// re-binding an I/O tensor to a new address updates the graph in place (cudaGraphExecUpdate).
// Graphs need a stream of the caller's: on the legacy default stream (nullptr) the layers are
// enqueued one by one.
// Graph inputs are copied (or converted to float16) into the arena and outputs copied back from
// it, so bound buffers are read and written only by those copies.
//
// Concurrent branches (CudaEngineOptions::aux_streams = 1, the default): convolution and matrix
// layers on a branch beside the main path (ResNet's downsample convolutions; see
// edgert/stream_schedule.h) run on an auxiliary stream each context owns, forked from and joined
// back into the Enqueue() stream with events (in a CUDA graph: parallel branches). The memory plan
// keeps such a layer's inputs and output apart from everything that may run meanwhile; the
// context's workspace holds a region for the auxiliary layers after the main stream's. With
// tactic selection, Create() times the network's graph both ways and keeps the faster (recorded
// on the layers as kAuxStreamAttr, so a plan keeps the choice): at large batches, where every
// layer fills the GPU, one stream can be faster.
//
// Batch profiles (the network's profile() is enabled; see BatchProfile in edgert/network.h): the
// arena is planned at the profile's max batch and every context can run any batch in [min, max]
// (CudaExecutionContext::SetBatchSize / SetInputShape). Create() validates the layers at max and at
// min, and the tactic pass times the candidates at the profile's opt batch (TensorRT tunes there):
// the chosen indices are stored on network()'s layers and used at every batch, each kernel
// rebuilding its candidate list for its own shapes (an index past that list falls back to the
// default candidate 0).
//
// Tactics: layers with several implementations (cuDNN execution plans, cuBLASLt algorithms, own
// kernels) choose one. Create() with select_tactics times the candidates of each such layer on
// this GPU in a scratch arena (CUDA events; a candidate whose output differs from the default's is
// rejected) and records the choice as the layer's kTacticAttr, so network() is what a plan for this
// GPU stores; a timing cache file lets later builds of the same layer skip the timing. Contexts
// build only the chosen candidate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "edgert/engine.h"
#include "edgert/memory_plan.h"
#include "edgert/network.h"
#include "edgert/plan.h"
#include "edgert/precision.h"
#include "edgert/status.h"
#include "edgert/stream_schedule.h"

struct CUstream_st;

namespace edgert {

using CudaStream = CUstream_st*;  // the same type as cudaStream_t; nullptr is the legacy default stream

// Number of CUDA devices visible; 0 when there is no driver or no GPU (never an error).
int CudaDeviceCount();
// The device key of GPU `device_id` with the CUDA, cuDNN and cuBLAS versions edgert runs with.
// Error when there is no such device or the driver is missing.
StatusOr<DeviceKey> CudaDeviceKey(int device_id = 0);

struct CudaEngineOptions {
  Precision precision = Precision::kFp32;  // ignored by CreateFromPlan: a plan records its own
  int device_id = 0;
  bool cuda_graphs = true;  // contexts capture and replay CUDA graphs
  NetworkMemoryOptions memory;
  // Tactic selection (see "Tactics" below): time the candidate kernels of every layer that has no
  // tactic yet (a plan's layers carry theirs) and keep the fastest correct one.
  bool select_tactics = true;
  int tactic_level = 1;      // 0: heuristics only (no timing); 1: time the top candidates; 2: time all
  std::string timing_cache;  // file of earlier choices (read, then rewritten atomically); "" = none
  // Scratch memory one layer may use (library candidates needing more are skipped); each context
  // allocates the largest any of its layers needs. Smaller budgets suit Jetsons (shared memory).
  size_t max_workspace_bytes = size_t{64} << 20;
  // Host threads that create the layers' kernels (library plan finalization is most of a plan's
  // load and of a context's creation): in Create()'s dry runs, each with cuDNN and cuBLASLt
  // handles of its own, and in CreateContext() / SetBatchSize(), where the context owns one pair
  // of handles per thread and each kernel keeps its creator's. 0: one per two layers with
  // tactics, at most 8 and the hardware's threads; 1: serial on the calling thread, one pair.
  int load_threads = 0;
  // Called before each layer's tactic selection (index, layer count, layer name); may be empty.
  std::function<void(size_t, size_t, const std::string&)> progress;
  // Auxiliary streams for concurrent branches: 0 runs every layer on the Enqueue() stream; 1 (the
  // most supported) lets branch layers run beside the main path (see "Concurrent branches"), where
  // the timing (select_tactics) or the plan's recorded choice keeps them. Overrides
  // memory.layer_spans.
  int aux_streams = 1;
};

// One candidate of a timed layer (LayerTactic::candidates; also what a kernel reports,
// backend/cuda/cuda_kernel.h TacticReport).
struct TacticCandidateTime {
  std::string label;      // e.g. "cudnn-fused engine 39", "igemm-nhwc"
  double ms = -1;         // median time per launch; -1 when it failed to run or was rejected
  bool rejected = false;  // its output did not match candidate 0's
  double seconds = 0;     // wall-clock seconds its check and timing took
  double check_seconds = 0;    // of which binding, its first launch and the check of its output
  double capture_seconds = 0;  // of which capturing and instantiating its timing graph
};

// What the tactic pass did for one layer.
struct LayerTactic {
  int tactic = -1;        // the candidate in use (-1: the layer's kernel has no tactics)
  bool from_cache = false;  // taken from the timing cache (or the plan) without timing
  double chosen_ms = 0;   // median time of the chosen candidate, when timed
  double default_ms = 0;  // median time of candidate 0, when timed
  int timed = 0;          // candidates timed
  int rejected = 0;       // candidates whose output did not match candidate 0's
  double seconds = 0;     // wall-clock seconds of the layer's selection (list, checks, timing)
  double list_seconds = 0;                      // of which building the candidate list (convolutions)
  std::vector<TacticCandidateTime> candidates;  // convolutions: every candidate tried, in list order
};

class CudaExecutionContext;

struct CudaHandlePool;    // library handles kept between a dry run and a context (cuda_engine.cc)
struct TimingCacheState;  // the tactic pass's timing cache and signatures (cuda_engine.cc)

class CudaEngine : public std::enable_shared_from_this<CudaEngine> {
 public:
  ~CudaEngine();
  CudaEngine(const CudaEngine&) = delete;
  CudaEngine& operator=(const CudaEngine&) = delete;

  // Checks every layer (indices, support, a CUDA kernel for its op and dtypes), plans the arena
  // with the device dtypes, uploads the weights. Error naming the layer whose op or dtype has no
  // CUDA kernel.
  static StatusOr<std::shared_ptr<CudaEngine>> Create(NetworkDef network, const CudaEngineOptions& options = {});
  // ValidatePlan() against CudaDeviceKey(options.device_id) and this edgert version (a plan for
  // another GPU, library version or the CPU is refused with the reason), then Create() with the
  // plan's precision.
  static StatusOr<std::shared_ptr<CudaEngine>> CreateFromPlan(const std::string& path,
                                                              const CudaEngineOptions& options = {});
  // Initialises what every engine of the process shares once: the CUDA context of `device_id` and
  // the cuDNN and cuBLASLt libraries (a handle of each is created and destroyed). Optional: the
  // first engine or context does it otherwise; `edgert bench` calls it first so that a plan's
  // load time is reported apart from the process's one-time start-up.
  static Status InitializeLibraries(int device_id = 0);

  // Where Create() / CreateFromPlan() spent their time, in ms (`edgert bench` prints it): reading
  // and checking the plan file (0 for Create), the device network and arena plan, the weights'
  // upload (float16 conversion on the GPU included; on a thread of its own, during the dry run),
  // the dry run that creates every layer's kernel (the weights' allocation included; with tactic
  // timing the tactic pass and the second dry run follow, not counted here).
  struct LoadBreakdown {
    double open_ms = 0;
    double memory_plan_ms = 0;
    double weights_ms = 0;
    double kernels_ms = 0;
    int kernel_threads = 1;  // host threads of the dry run (CudaEngineOptions::load_threads)
    // Of the dry run at the max batch: the slowest thread's creation of its cuDNN and cuBLASLt
    // handles, and each layer's kernel creation (one per layer, 0 for a layer the plan elides),
    // both within kernels_ms.
    double handles_ms = 0;
    std::vector<double> layer_kernel_ms;
    // cuBLASLt's heuristics set-up, on a thread beside the load (0 when the network has no layer
    // that may use cuBLAS); the error, if it failed (the load goes on without it).
    double cublaslt_warm_up_ms = 0;
    std::string cublaslt_warm_up_error;
  };
  const LoadBreakdown& load_breakdown() const { return load_; }

  int NumIOTensors() const { return static_cast<int>(io_.size()); }
  const IOTensorInfo& IOTensor(int index) const { return io_[static_cast<size_t>(index)]; }
  const std::vector<IOTensorInfo>& IOTensors() const { return io_; }
  int FindIOTensor(const std::string& name) const;

  Precision precision() const { return options_.precision; }
  // The options the engine was created with (a plan's precision; select_tactics off for a plan).
  const CudaEngineOptions& options() const { return options_; }
  int device_id() const { return options_.device_id; }
  // Device bytes: the weights (shared), one context's arena, one context's workspace (the largest
  // any layer asks for).
  size_t WeightsBytes() const { return weights_bytes_; }
  size_t ArenaBytes() const { return arena_bytes_; }
  size_t ArenaAlignment() const { return arena_alignment_; }
  size_t WorkspaceBytes() const { return workspace_bytes_; }

  StatusOr<std::unique_ptr<CudaExecutionContext>> CreateContext(void* device_arena = nullptr, size_t bytes = 0) const;

  // The network with a kTacticAttr on every layer whose tactic was chosen, so loading a plan of it
  // skips the timing.
  const NetworkDef& network() const { return network_; }
  // What a plan for this GPU stores: network() with the weights this engine holds as float16
  // narrowed to float16 (NarrowWeightsForPlan, edgert/plan.h; nothing in an FP32 engine), so an
  // FP16 plan is about half the size and its load uploads the weights without converting them.
  // `bytes_saved` (may be null) receives what the narrowing saves.
  StatusOr<NetworkDef> PlanNetwork(uint64_t* bytes_saved = nullptr) const;
  // The batch-dimension optimization profile (disabled for fixed shapes); the shapes of network(),
  // device_network() and IOTensor() are those of its max batch.
  const BatchProfile& profile() const { return network_.profile; }
  // One per layer: the tactic pass's outcome (empty entries for layers without tactics).
  const std::vector<LayerTactic>& tactics() const { return tactics_; }
  // The network as the device holds it: float32 tensors are float16 in an FP16 engine.
  const NetworkDef& device_network() const { return device_network_; }
  const NetworkMemoryPlan& memory_plan() const { return memory_plan_; }
  // The layers that run on the auxiliary stream (empty with aux_streams = 0, no such branch, or
  // when one stream was faster).
  const StreamSchedule& stream_schedule() const { return schedule_; }
  // Create()'s timing of the concurrent branches (timed: the network's graph with the auxiliary
  // stream and without, median ms per inference at the default batch; kept: the choice).
  struct AuxStreamTiming {
    bool timed = false;
    int layers = 0;
    double aux_ms = 0;
    double one_stream_ms = 0;
    bool kept = false;
    std::string error;  // why the timing could not run (the schedule then stays untimed)
  };
  const AuxStreamTiming& aux_stream_timing() const { return aux_timing_; }
  int32_t IOTensorIndex(int index) const { return io_tensor_index_[static_cast<size_t>(index)]; }
  // Device address of constant tensor `index` (nullptr for a non-constant).
  const void* ConstantAddress(int32_t index) const { return constant_ptrs_[static_cast<size_t>(index)]; }
  // For input I/O tensor `index`: the layer its copy into the arena also performs, or -1. That is
  // a Transpose from channels-first to channels-last (perm [0, 2, ..., r-1, 1]; the layout pass
  // puts one after an image input) that is the input's only reader: the copy converts and
  // transposes in one kernel, straight into the Transpose's output, and the layer itself is not
  // enqueued (CudaExecutionContext::LayerKernel says "folded into input '<name>''s copy").
  int FoldedInputLayer(int index) const { return folded_input_layer_[static_cast<size_t>(index)]; }
  // The converse, for layer `layer` of network(): the input I/O tensor whose copy performs it
  // (FoldedInputLayer of that tensor is `layer`), or -1. A batch specialization has the same
  // layers, so this holds at every batch.
  int FoldingInput(int layer) const { return folding_input_[static_cast<size_t>(layer)]; }

 private:
  CudaEngine() = default;
  // Step 2 of Create(): the tuned network's layer signatures, and the timing cache's choices for
  // the layers it holds (with label and blob where recorded at the engine's shapes).
  Status ApplyTimingCache(TimingCacheState* state);
  // Step 5 of Create(): a tactic for every layer with candidates that step 2 left without one,
  // timed at the profile's opt batch when there is a profile; `timed_layers` counts the timed.
  Status SelectTactics(TimingCacheState* state, int* timed_layers);
  // Step 5, after the dry run: every choice, with what the dry run recorded, into the cache file.
  Status StoreTimingCache(TimingCacheState* state) const;
  // Step 4 of Create(): every layer gets a CUDA kernel in a dry run at the max batch (and at the
  // profile's min); sets workspace_bytes_ to the largest need.
  Status DryRun();
  // Step 6 of Create(): times the network with and without the auxiliary stream (aux_timing_).
  Status TimeAuxStreams();

  CudaEngineOptions options_;
  NetworkDef network_;
  NetworkDef device_network_;
  NetworkMemoryPlan memory_plan_;
  StreamSchedule schedule_;
  AuxStreamTiming aux_timing_;
  std::shared_ptr<const LoadedPlan> plan_;
  std::vector<IOTensorInfo> io_;
  std::vector<int32_t> io_tensor_index_;
  void* weights_ = nullptr;                // one cudaMalloc holding every constant
  std::vector<const void*> constant_ptrs_;  // per network tensor
  size_t weights_bytes_ = 0;
  size_t arena_bytes_ = 0;
  LoadBreakdown load_;
  size_t arena_alignment_ = kDefaultMemoryAlignment;
  size_t workspace_bytes_ = 0;
  std::vector<LayerTactic> tactics_;
  std::vector<int> folded_input_layer_;  // per I/O tensor (FoldedInputLayer)
  std::vector<int> folding_input_;       // per layer (FoldingInput)
  // The last dry run's library handles, kept for the first context (whose kernel threads take
  // them instead of creating their own); destroyed with the engine when no context took them.
  mutable std::unique_ptr<CudaHandlePool> spare_handles_;
};

struct CudaContextState;  // kernels, handles, graph (backend/cuda/cuda_engine.cc)

class CudaExecutionContext {
 public:
  ~CudaExecutionContext();
  CudaExecutionContext(const CudaExecutionContext&) = delete;
  CudaExecutionContext& operator=(const CudaExecutionContext&) = delete;

  // Batch profiles: the batch the next Enqueue() runs, in [min, max] of the engine's profile(); a
  // new context runs at max. Changing it makes the context's kernels for the new shapes against
  // the same arena offsets (allocations happen here, never in Enqueue(): library plans, a larger
  // workspace when a kernel needs one, device copies of the constants holding batch values); the
  // arena and the bindings stay. Bound buffers must then hold the shapes TensorShape() gives.
  // Each batch keeps its kernels and its CUDA graph in the context (the last kMaxCachedBatches
  // batches used), so going back to a batch neither rebuilds library plans nor re-captures (unless
  // a binding changed since that batch's capture); a batch new to the context is warmed up by one
  // eager Enqueue(), captured on the next. Work queued earlier on the same stream stays ordered;
  // SetBatchSize may wait for the device when it frees memory (a grown workspace, a batch dropped
  // from the cache). Error for an engine without a profile (unless `batch` equals its fixed batch)
  // or a batch outside the profile (the message gives the range); after a failure Enqueue() is
  // refused until a SetBatchSize succeeds.
  static constexpr size_t kMaxCachedBatches = 8;
  Status SetBatchSize(int64_t batch);
  // The batch the context runs at: the profile's current batch, or dim 0 of the first input for a
  // fixed-shape engine (0 for a rank-0 input); -1 after a failed SetBatchSize.
  int64_t batch_size() const { return batch_; }
  // TensorRT's habit: the input's shape must equal the engine's except dim 0 of a batched input,
  // which sets the batch (SetBatchSize). Error naming the input and the allowed shapes otherwise.
  Status SetInputShape(const std::string& name, const Shape& shape);
  // Shape of I/O tensor `index` at the current batch.
  Shape TensorShape(int io_index) const;

  // Binds I/O tensor `name` to device memory `data` holding the engine's dtype and the shape
  // TensorShape() gives at the current batch.
  Status SetTensorAddress(const std::string& name, void* data);
  Status SetTensorAddress(int io_index, void* data);

  // Queues the whole network on `stream` (see the file comment). Error naming the first unbound I/O
  // tensor or the failing layer or CUDA call.
  Status Enqueue(CudaStream stream);

  // Per-layer GPU times (trtexec's --dumpProfile): runs the network eagerly `iterations` times on
  // `stream` after one warm-up run, with a CUDA event recorded after every layer, and returns each
  // layer's mean time in ms (0 for a layer the memory plan elides). I/O conversions are not
  // counted, but for a Transpose folded into an input's copy (CudaEngine::FoldedInputLayer) that
  // copy is what the layer's time measures. Creates events and waits for the device: a tool, not a hot path.
  StatusOr<std::vector<double>> ProfileLayers(CudaStream stream, int iterations);

  // CUDA graph capture/replay for this context (on when the engine's options say so).
  void SetCudaGraphs(bool on);
  bool cuda_graphs() const;
  // Graphs captured (or updated) so far, and graph launches, over all batches; for tests and
  // `edgert bench`.
  int64_t graph_captures() const;
  int64_t graph_launches() const;
  // Why CUDA graphs were turned off for this context after a refused capture; empty otherwise.
  const std::string& graph_error() const;
  // Layers of the current batch's kernel set that run on the auxiliary stream (see "Concurrent
  // branches"); 0 when every layer runs on the Enqueue() stream.
  int aux_stream_layers() const;
  // When on, every Enqueue() first fills the arena with 0xFF bytes (NaN for float16 and float32) so
  // an element a kernel fails to write shows up. Off by default.
  void SetPoisonArena(bool on);

  const CudaEngine& engine() const { return *engine_; }
  void* arena() const { return arena_; }
  // The implementation layer `index` runs ("elided" for a layer the memory plan removes).
  std::string LayerKernel(size_t index) const;
  // Device memory this context owns (arena unless supplied by the caller, plus workspace, plus the
  // batch-valued constants of the cached batches other than max).
  size_t OwnedDeviceBytes() const;

 private:
  friend class CudaEngine;
  explicit CudaExecutionContext(std::shared_ptr<const CudaEngine> engine);
  // Makes the kernel set of `batch` current: from the cache, or made (and the workspace grown when
  // it needs more). On failure no set is current.
  Status SelectBatchKernels(int64_t batch);

  std::shared_ptr<const CudaEngine> engine_;
  char* arena_ = nullptr;
  int64_t batch_ = 0;
  std::unique_ptr<CudaContextState> state_;
};

// Convenience for tools and tests (not for a hot path: allocates device buffers each call): copies
// host `inputs` (one per engine input, in order, the engine's dtypes and the context's
// TensorShape() at its current batch) to the device,
// enqueues on a private stream, waits, and returns the outputs as host tensors.
Status RunOnHost(CudaExecutionContext& context, const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs);

}  // namespace edgert
