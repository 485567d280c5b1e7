// Static memory planning: every activation of a network gets a byte offset in ONE arena, decided
// before the first run, so steady-state inference allocates nothing.
//
// Two levels:
//   MemoryPlanner      places abstract buffers (size, first step, last step) so that two buffers
//                      live at the same step never share a byte. Strategies: greedy by size,
//                      greedy by breadth, and the smaller of the two (SmallestOfPlanner).
//   PlanNetworkMemory  turns a NetworkDef into buffers (liveness from the layer order; views,
//                      in-place elementwise layers and Concat in place make tensors share one
//                      buffer) and records, per tensor, where its bytes are.
//
// Steps are inclusive: a buffer with first_use 2 and last_use 4 is live at steps 2, 3 and 4, and
// conflicts with every buffer live at any of those steps. Every buffer occupies its size rounded
// up to the alignment, and every offset is a multiple of the alignment (256 bytes by default, so
// an arena from cudaMalloc can be used directly).
//
// Thread rules: a planner is a plain value object, used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgert/network.h"
#include "edgert/status.h"

namespace edgert {

inline constexpr size_t kDefaultMemoryAlignment = 256;

// The figures a CLI prints for a plan (all in bytes, all with aligned sizes).
struct MemoryFigures {
  size_t arena_bytes = 0;        // size of the one arena the plan needs (its peak)
  size_t no_reuse_bytes = 0;     // every buffer in its own bytes: the sum of the aligned sizes
  size_t lower_bound_bytes = 0;  // max over steps of the aligned sizes live at that step
};

// One buffer as given to AddBuffer().
struct BufferRequest {
  size_t size = 0;
  int first_use = 0;
  int last_use = 0;
};

// `size` rounded up to a multiple of `alignment` (>= 1). Returns false on overflow.
bool AlignUp(size_t size, size_t alignment, size_t* aligned);

// The largest sum of aligned sizes of buffers live at one step: no valid plan is smaller.
// Requests must be well formed (first_use <= last_use, sizes that align without overflow).
size_t MemoryLowerBound(const std::vector<BufferRequest>& buffers, size_t alignment);

// Checks a finished plan: every offset is a multiple of `alignment`, every buffer's aligned
// extent lies inside [0, arena_bytes), and no two buffers whose lifetimes overlap share a byte
// (zero-size buffers share nothing). The error names the first offending pair.
Status ValidateMemoryPlan(const std::vector<BufferRequest>& buffers, const std::vector<size_t>& offsets,
                          size_t alignment, size_t arena_bytes);

// The planner interface. Usage: AddBuffer() for every buffer, Plan() once, then Offset() and
// PeakBytes(). AddBuffer() after Plan() discards the plan (Plan() must run again).
class MemoryPlanner {
 public:
  // Offset() of a buffer that does not exist or is not planned.
  static constexpr size_t kNoOffset = static_cast<size_t>(-1);

  // `alignment` 0 is treated as 1.
  explicit MemoryPlanner(size_t alignment = kDefaultMemoryAlignment);
  virtual ~MemoryPlanner() = default;

  // Registers a buffer of `size` bytes live from step `first_use` to step `last_use` (inclusive)
  // and returns its index (0, 1, 2, ... in call order). A malformed request (negative step,
  // first_use > last_use, a size that overflows when aligned) is remembered and reported by Plan().
  virtual int AddBuffer(size_t size, int first_use, int last_use);

  // Assigns every buffer an offset. Deterministic: the same requests give the same plan.
  virtual Status Plan() = 0;

  // The strategy's name ("greedy-by-size", ...), for reports.
  virtual std::string name() const = 0;

  // Byte offset of buffer `i` in the arena; kNoOffset before a successful Plan() or for an
  // unknown index.
  size_t Offset(int i) const;
  // Arena size the plan needs: the largest offset + aligned size (0 without buffers or plan).
  size_t PeakBytes() const;
  // Arena, no-reuse total and lower bound of the current plan.
  MemoryFigures Figures() const;

  size_t alignment() const { return alignment_; }
  int num_buffers() const { return static_cast<int>(requests_.size()); }
  const std::vector<BufferRequest>& requests() const { return requests_; }
  const std::vector<size_t>& offsets() const { return offsets_; }
  bool planned() const { return planned_; }

 protected:
  // For Plan(): the error remembered by AddBuffer(), if any. Also resets the previous plan.
  Status CheckRequests();
  // For Plan(): stores the result (offsets_ indexed like requests_) and computes the peak.
  void SetPlan(std::vector<size_t> offsets);

  size_t alignment_;
  std::vector<BufferRequest> requests_;
  std::vector<size_t> aligned_sizes_;  // per buffer: size rounded up to the alignment

 private:
  Status request_error_;
  std::vector<size_t> offsets_;
  size_t peak_ = 0;
  bool planned_ = false;
};

// Largest buffers first (ties: earlier first_use, then lower index); each goes to the lowest
// offset that is free for its whole lifetime among the already placed buffers whose lifetimes
// overlap its own.
class GreedyBySizePlanner : public MemoryPlanner {
 public:
  using MemoryPlanner::MemoryPlanner;
  Status Plan() override;
  std::string name() const override { return "greedy-by-size"; }
};

// Walks the steps by decreasing total live bytes (ties: earlier step); at each step places the
// step's unplaced buffers, largest first, into the smallest gap between overlapping placed
// buffers that holds them (lowest offset among equal gaps), or above all of them when no gap does.
class GreedyByBreadthPlanner : public MemoryPlanner {
 public:
  using MemoryPlanner::MemoryPlanner;
  Status Plan() override;
  std::string name() const override { return "greedy-by-breadth"; }
};

// Runs both strategies above and keeps the plan with the smaller arena (greedy by size on a tie).
// name() is "smallest-of(<winner>)" once planned.
class SmallestOfPlanner : public MemoryPlanner {
 public:
  using MemoryPlanner::MemoryPlanner;
  Status Plan() override;
  std::string name() const override;

  // Arena bytes each strategy needed in the last Plan() (0 before).
  size_t by_size_bytes() const { return by_size_bytes_; }
  size_t by_breadth_bytes() const { return by_breadth_bytes_; }

 private:
  std::string winner_;
  size_t by_size_bytes_ = 0;
  size_t by_breadth_bytes_ = 0;
};

enum class MemoryStrategy : uint8_t { kGreedyBySize, kGreedyByBreadth, kSmallestOf };

std::unique_ptr<MemoryPlanner> MakeMemoryPlanner(MemoryStrategy strategy, size_t alignment = kDefaultMemoryAlignment);

// ---- Network level ------------------------------------------------------------------------------

// How a tensor gets its bytes.
enum class TensorMemoryKind : uint8_t {
  kNone = 0,         // a constant, or a tensor the network never uses: no arena bytes
  kBuffer = 1,       // heads its own buffer group (the group's first tensor)
  kAlias = 2,        // a view (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout): its input's bytes
  kInPlace = 3,      // an elementwise output written over an input whose bytes die at that layer
  kConcatSlice = 4,  // heads a group written by its producers straight into its slice of a Concat output
  kSplitSlice = 5,   // a Split output that is a view of its slice of the Split input
};

const char* TensorMemoryKindName(TensorMemoryKind kind);

struct TensorMemory {
  TensorMemoryKind kind = TensorMemoryKind::kNone;
  int32_t buffer = -1;  // the arena buffer (index into NetworkMemoryPlan::buffers) holding its bytes
  int32_t source = -1;  // kAlias / kInPlace: the input tensor it shares bytes with;
                        // kConcatSlice: the Concat output it is a slice of;
                        // kSplitSlice: the Split input it is a slice of
  size_t offset = 0;    // byte offset in the arena
  size_t bytes = 0;     // its own size (not aligned)
};

// One arena buffer: a group of tensors sharing bytes (a tensor, its views, its in-place
// successors and, nested in it, the groups written into its Concat slices and its Split views).
// Slices sit at offsets that are multiples of the element size; buffers at aligned offsets.
struct ArenaBuffer {
  size_t offset = 0;
  size_t bytes = 0;       // not aligned
  int32_t first_use = 0;  // steps (layer indices), inclusive
  int32_t last_use = 0;
  int32_t head = -1;  // the tensor that heads the group
};

// The steps over which a layer may run, inclusive (NetworkMemoryOptions::layer_spans).
struct LayerSpan {
  int32_t first = 0;
  int32_t last = 0;
};

struct NetworkMemoryOptions {
  size_t alignment = kDefaultMemoryAlignment;
  MemoryStrategy strategy = MemoryStrategy::kSmallestOf;
  bool views = true;            // Reshape/Flatten/Squeeze/Unsqueeze/Identity/Dropout alias their input;
                                // Split outputs are views of their slices
  bool in_place = true;         // elementwise layers overwrite an input that dies there
  bool concat_in_place = true;  // producers write straight into their Concat slice
  // Empty (every layer runs at its own step), or one per layer: the steps over which layer l may
  // run, first <= l <= last (an engine that runs a layer beside others, e.g. on a second stream
  // between its inputs' writers and its output's first reader). The layer's inputs then live until
  // `last` and its outputs from `first`, so nothing that runs meanwhile shares their bytes.
  std::vector<LayerSpan> layer_spans;
};

struct NetworkMemoryPlan {
  std::vector<TensorMemory> tensors;  // one per network tensor, same index
  std::vector<ArenaBuffer> buffers;
  // One per layer: 1 when the layer moves no data under this plan (a view whose output aliases
  // its input, a Split into views, or a Concat whose inputs all sit in their slices already).
  // Engines skip it.
  std::vector<uint8_t> layer_elided;
  // arena: the plan's peak; no_reuse: the sum of the aligned sizes of every planned tensor, each
  // in its own bytes; lower_bound: over the buffers after aliasing.
  MemoryFigures figures;
  size_t alignment = kDefaultMemoryAlignment;
  std::string strategy;  // the planner's name()
  int num_aliases = 0;
  int num_in_place = 0;
  int num_concat_slices = 0;
  int num_split_slices = 0;
  std::vector<LayerSpan> layer_spans;  // the options' (ValidateNetworkMemoryPlan's liveness)
};

// Plans every non-constant tensor that a layer or the graph's inputs/outputs use.
//
// Liveness: layer l is step l. A tensor lives from the layer that writes it (graph inputs and
// tensors no layer writes: from step 0) to its last reader (graph outputs: to the last step);
// with options.layer_spans, from the first step of its writer's span to the last of its readers'.
// A span outside the network, or not holding its layer's step, is InvalidArgument.
// Sharing (each can be switched off in `options`):
//  - views: output 0 of Reshape, Flatten, Squeeze, Unsqueeze, Identity and Dropout (without a mask
//    output and without a training_mode input other than a constant false) takes the bytes of
//    input 0 when input 0 is not a constant; the outputs of a Split whose dims before the axis
//    are all 1 are views of their consecutive slices of the (non-constant) input;
//  - in place: the output of a unary elementwise layer (Relu, Sigmoid, Clip, ... on input 0), an
//    inference BatchNormalization (input 0) or a binary elementwise layer (Add, Mul, ..., PRelu,
//    Pow, comparisons; Sum/Min/Max/Mean with two or more inputs: inputs 0 and 1) takes the bytes
//    of an input of the same shape and dtype when every tensor on those bytes (its group, the
//    Split views nested in it or the tensor it is a Split view of) dies at that layer, none is a
//    graph input or output, and no other operand is a view of those bytes at another offset —
//    the CPU kernels read element i of such an operand before writing element i;
//  - Concat in place: when the dims before the axis are all 1 and every input's group is written
//    only by layers before the Concat, read outside itself only by this Concat (once), and holds
//    no graph input or output, each input group is nested in its slice of the output's group.
// Errors: Corrupt for indices out of range or a tensor written twice; InvalidArgument for a
// tensor whose size cannot be computed; OutOfRange for sizes above Tensor::kMaxBytes.
StatusOr<NetworkMemoryPlan> PlanNetworkMemory(const NetworkDef& network, const NetworkMemoryOptions& options = {});

// Checks a network plan: the buffer plan passes ValidateMemoryPlan(), every planned tensor lies
// inside its buffer in bytes and in time, and no two tensors live at the same step overlap in
// bytes unless they share them by design (same group, one nested in the other through Concat or
// Split slices, or Split views of one tensor). Used by tests on every plan.
Status ValidateNetworkMemoryPlan(const NetworkDef& network, const NetworkMemoryPlan& plan);

}  // namespace edgert
