// Network memory planning (see memory_plan.h, PlanNetworkMemory, for the contract).
//
// Algorithm:
//  1. Scan the network: check every index, find each tensor's writer and readers, and mark the
//     tensors the network uses (layer inputs/outputs, graph inputs/outputs; constants excluded).
//  2. Size every used tensor (element count x element size), rejecting sizes a Tensor cannot hold.
//  3. Liveness: layer l is step l. A tensor lives from its writer (step 0 for graph inputs and for
//     tensors no layer writes) to its last reader; graph outputs to the last step.
//  4. Groups of tensors sharing bytes, in layer order. Tensors no layer writes head their own
//     group. Each layer output then either joins its input's group (a view), joins the group of an
//     input that dies at this layer (in place), or heads a new group. A group's lifetime is the
//     union of its members', so in place is allowed only when the input's WHOLE group dies (a view
//     of the input read later keeps the bytes alive), and never over a graph input or output.
//     A Split whose outputs are consecutive byte ranges of its input (dims before the axis all 1)
//     makes each output a group nested in the input's group (views, no copy). In place then asks
//     that everything on the input's bytes dies: the root group and all groups nested in it.
//  5. Concat in place, in layer order: the input groups of a qualifying Concat become children of
//     the output's group at consecutive byte offsets (the slices). Nested Concats nest further.
//  6. Every root group becomes one planner buffer whose lifetime covers all groups nested in it;
//     the planner (smallest of greedy by size and by breadth by default) gives root offsets.
//  7. A tensor's offset is its root's offset plus the slice offsets down to its group.
//     Slice offsets are multiples of the element size only; roots are aligned.
// Layers whose outputs already hold their result (aliasing views, Splits into views, Concats whose
// inputs all sit in their slices) are marked elided so engines skip them.
#include <algorithm>
#include <map>
#include <set>

#include "edgert/memory_plan.h"

namespace edgert {

const char* TensorMemoryKindName(TensorMemoryKind kind) {
  switch (kind) {
    case TensorMemoryKind::kNone:
      return "none";
    case TensorMemoryKind::kBuffer:
      return "buffer";
    case TensorMemoryKind::kAlias:
      return "alias";
    case TensorMemoryKind::kInPlace:
      return "in-place";
    case TensorMemoryKind::kConcatSlice:
      return "concat-slice";
    case TensorMemoryKind::kSplitSlice:
      return "split-slice";
  }
  return "?";
}

namespace {

// Steps 1-3: what the planner and the validator need to know about every tensor.
struct Liveness {
  std::vector<int32_t> writer;                // layer writing the tensor, -1 if none
  std::vector<std::vector<int32_t>> readers;  // layers reading it (each once, ascending)
  std::vector<uint8_t> used;                  // non-constant and referenced by the network
  std::vector<uint8_t> is_input;
  std::vector<uint8_t> is_output;
  std::vector<size_t> bytes;
  std::vector<int32_t> first;  // lifetime, inclusive steps
  std::vector<int32_t> last;
};

std::string TensorLabel(const NetworkDef& net, int32_t t) {
  const std::string& name = net.tensors[t].name;
  return name.empty() ? "tensor " + std::to_string(t) : "tensor '" + name + "'";
}

// `spans`: empty, or one per layer (NetworkMemoryOptions::layer_spans).
StatusOr<Liveness> ComputeLiveness(const NetworkDef& net, const std::vector<LayerSpan>& spans) {
  const int32_t n = static_cast<int32_t>(net.tensors.size());
  const int32_t n_layers = static_cast<int32_t>(net.layers.size());
  const int32_t last_step = std::max(n_layers, 1) - 1;
  auto valid = [&](int32_t t) { return t >= 0 && t < n; };
  if (!spans.empty() && spans.size() != net.layers.size()) {
    return InvalidArgument("layer spans: " + std::to_string(spans.size()) + " given for " + std::to_string(n_layers) +
                           " layers");
  }
  for (int32_t l = 0; l < static_cast<int32_t>(spans.size()); ++l) {
    if (spans[l].first < 0 || spans[l].first > l || spans[l].last < l || spans[l].last > last_step) {
      return InvalidArgument("layer span [" + std::to_string(spans[l].first) + ", " + std::to_string(spans[l].last) +
                                 "] of layer " + std::to_string(l) + " does not hold its step within the network",
                             net.layers[l].name);
    }
  }
  auto span_first = [&](int32_t l) { return spans.empty() ? l : spans[l].first; };
  auto span_last = [&](int32_t l) { return spans.empty() ? l : spans[l].last; };
  Liveness lv;
  lv.writer.assign(n, -1);
  lv.readers.resize(n);
  lv.used.assign(n, 0);
  lv.is_input.assign(n, 0);
  lv.is_output.assign(n, 0);
  lv.bytes.assign(n, 0);
  lv.first.assign(n, 0);
  lv.last.assign(n, 0);

  // 1. Scan.
  for (int32_t t : net.inputs) {
    if (!valid(t)) return Corrupt("network input refers to tensor " + std::to_string(t) + " which does not exist");
    if (net.tensors[t].is_constant()) continue;
    lv.is_input[t] = 1;
    lv.used[t] = 1;
  }
  for (int32_t t : net.outputs) {
    if (!valid(t)) return Corrupt("network output refers to tensor " + std::to_string(t) + " which does not exist");
    if (net.tensors[t].is_constant()) continue;
    lv.is_output[t] = 1;
    lv.used[t] = 1;
  }
  for (int32_t l = 0; l < n_layers; ++l) {
    const LayerDef& layer = net.layers[l];
    for (int32_t t : layer.inputs) {
      if (t == -1) continue;
      if (!valid(t)) return Corrupt("layer input refers to a tensor that does not exist", layer.name);
      if (net.tensors[t].is_constant()) continue;
      if (lv.readers[t].empty() || lv.readers[t].back() != l) lv.readers[t].push_back(l);
      lv.used[t] = 1;
    }
    for (int32_t t : layer.outputs) {
      if (!valid(t)) return Corrupt("layer output refers to a tensor that does not exist", layer.name);
      if (net.tensors[t].is_constant())
        return Corrupt("layer writes to constant '" + net.tensors[t].name + "'", layer.name);
      if (lv.is_input[t]) return Corrupt("layer writes to network input '" + net.tensors[t].name + "'", layer.name);
      if (lv.writer[t] != -1) {
        return Corrupt(TensorLabel(net, t) + " is written by layers '" + net.layers[lv.writer[t]].name + "' and '" +
                           layer.name + "'",
                       layer.name);
      }
      lv.writer[t] = l;
      lv.used[t] = 1;
    }
  }

  // 2. Sizes; 3. lifetimes.
  for (int32_t t = 0; t < n; ++t) {
    if (!lv.used[t]) continue;
    const TensorDef& def = net.tensors[t];
    const size_t elem = DataTypeSize(def.dtype);
    if (elem == 0) {
      return InvalidArgument(
          TensorLabel(net, t) + " has dtype " + DataTypeName(def.dtype) + ", which has no fixed element size",
          def.name);
    }
    const int64_t count = NumElements(def.shape);
    if (count < 0) {
      return InvalidArgument(
          TensorLabel(net, t) + " has shape " + ShapeToString(def.shape) + ", whose size is unknown or overflows",
          def.name);
    }
    if (static_cast<uint64_t>(count) > Tensor::kMaxBytes / elem) {
      return OutOfRange(TensorLabel(net, t) + " of shape " + ShapeToString(def.shape) + " exceeds the 16 GiB limit",
                        def.name);
    }
    lv.bytes[t] = static_cast<size_t>(count) * elem;
    int32_t first = lv.writer[t] >= 0 ? span_first(lv.writer[t]) : 0;
    int32_t last = lv.writer[t] >= 0 ? span_last(lv.writer[t]) : 0;
    for (int32_t r : lv.readers[t]) {
      first = std::min(first, span_first(r));  // read before written: keep its bytes from then
      last = std::max(last, span_last(r));
    }
    if (lv.is_output[t]) last = last_step;
    lv.first[t] = first;
    lv.last[t] = last;
  }
  return lv;
}

bool IsViewOp(OpType op) {
  return op == OpType::kReshape || op == OpType::kFlatten || op == OpType::kSqueeze || op == OpType::kUnsqueeze ||
         op == OpType::kIdentity || op == OpType::kDropout;
}

// A Dropout whose kernel must run: it has a mask output to fill (its kernel would also copy
// output 0 onto itself), or a training_mode input that is not a constant false (the kernel
// rejects training with a non-zero ratio at run time).
bool DropoutMayTrain(const NetworkDef& net, const LayerDef& layer) {
  if (layer.op != OpType::kDropout) return false;
  if (layer.outputs.size() != 1) return true;
  if (layer.inputs.size() < 3 || layer.inputs[2] < 0) return false;
  const TensorDef& mode = net.tensors[layer.inputs[2]];
  return !mode.is_constant() || mode.value.dtype() != DataType::kBool || mode.value.num_elements() != 1 ||
         mode.value.data<bool>()[0];
}

// Inputs whose bytes the layer's output 0 may take: those the CPU kernel reads at element i
// before writing element i (runtime/src/ops/elementwise_unary.cc, elementwise_binary.cc).
std::vector<size_t> InPlaceCandidates(const LayerDef& layer) {
  if (layer.outputs.size() != 1) return {};
  switch (layer.op) {
    // Unary: y[i] = f(x[i]); Clip reads its bounds (inputs 1, 2) before the loop.
    case OpType::kRelu:
    case OpType::kLeakyRelu:
    case OpType::kClip:
    case OpType::kSigmoid:
    case OpType::kTanh:
    case OpType::kHardSigmoid:
    case OpType::kHardSwish:
    case OpType::kElu:
    case OpType::kSelu:
    case OpType::kSoftplus:
    case OpType::kErf:
    case OpType::kGelu:
    case OpType::kMish:
    case OpType::kSqrt:
    case OpType::kExp:
    case OpType::kLog:
    case OpType::kNeg:
    case OpType::kAbs:
    case OpType::kReciprocal:
    case OpType::kFloor:
    case OpType::kCeil:
    case OpType::kNot:
    // Inference BatchNormalization: y[i] = x[i] * a[c] + b[c], the parameters read before the
    // loop (runtime/src/ops/nn_norm.cc). Training mode has more outputs (excluded above).
    case OpType::kBatchNormalization:
    // A fused elementwise chain copies x into y block by block (skipped when y == x) and applies
    // its steps to y in place (runtime/src/ops/fused_elementwise.cc).
    case OpType::kFusedElementwise:
    // EdgertSqueezeExcite pools all of X before it writes, then y[i] = x[i] * gate[n, c]
    // (runtime/src/ops/squeeze_excite.cc; the CUDA scale pass reads its own chunk of X only).
    case OpType::kSqueezeExcite:
      return {0};
    // Binary: out[i] = f(a[i], b[j]) in broadcast runs; an operand of the output's shape is
    // walked with the output's own offsets.
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
    case OpType::kPow:
    case OpType::kPRelu:
    case OpType::kEqual:
    case OpType::kLess:
    case OpType::kGreater:
    case OpType::kLessOrEqual:
    case OpType::kGreaterOrEqual:
    case OpType::kAnd:
    case OpType::kOr:
      return {0, 1};
    // Variadic: out = f(in0, in1), then out = f(out, in_k). Inputs 0 and 1 are read at element i
    // in the first pass before element i is written; inputs 2+ are read after out was written.
    // One input is a plain copy (memcpy must not overlap).
    case OpType::kSum:
    case OpType::kMin:
    case OpType::kMax:
    case OpType::kMean:
      if (layer.inputs.size() < 2) return {};
      return {0, 1};
    case OpType::kConv:
    case OpType::kConvTranspose:
    case OpType::kInstanceNormalization:
    case OpType::kLayerNormalization:
    case OpType::kMaxPool:
    case OpType::kAveragePool:
    case OpType::kGlobalAveragePool:
    case OpType::kGlobalMaxPool:
    case OpType::kGemm:
    case OpType::kMatMul:
    case OpType::kSoftmax:
    case OpType::kLogSoftmax:
    case OpType::kWhere:
    case OpType::kReduceMean:
    case OpType::kReduceSum:
    case OpType::kReduceMax:
    case OpType::kReduceMin:
    case OpType::kReduceProd:
    case OpType::kArgMax:
    case OpType::kArgMin:
    case OpType::kTopK:
    case OpType::kFlatten:
    case OpType::kReshape:
    case OpType::kTranspose:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kConcat:
    case OpType::kSplit:
    case OpType::kSlice:
    case OpType::kGather:
    case OpType::kExpand:
    case OpType::kTile:
    case OpType::kPad:
    case OpType::kResize:
    case OpType::kUpsample:
    case OpType::kDepthToSpace:
    case OpType::kSpaceToDepth:
    case OpType::kShape:
    case OpType::kCast:
    case OpType::kConstantOfShape:
    case OpType::kIdentity:
    case OpType::kDropout:
    case OpType::kRange:
    case OpType::kQuantizeLinear:
    case OpType::kDequantizeLinear:
    case OpType::kInt8Conv:
    case OpType::kQuantizeNhwc:
    case OpType::kConvNhwc:
    case OpType::kMaxPoolNhwc:
      return {};
  }
  return {};
}

struct Group {
  std::vector<int32_t> members;  // members[0] heads the group
  int32_t parent = -1;           // Split / Concat nesting: the group holding this one's bytes
  size_t offset_in_parent = 0;
  bool holds_io = false;  // a graph input or output is a member
  int32_t first = 0;      // union of the members' lifetimes
  int32_t last = 0;
  // Roots only, during step 4: the same over the root and every group nested in it so far.
  bool tree_io = false;
  int32_t tree_last = 0;
};

class NetworkPlanner {
 public:
  NetworkPlanner(const NetworkDef& net, const NetworkMemoryOptions& options, Liveness lv)
      : net_(net), options_(options), lv_(std::move(lv)), group_of_(net.tensors.size(), -1) {}

  StatusOr<NetworkMemoryPlan> Run();

 private:
  int32_t NewGroup(int32_t t);
  void Join(int32_t t, int32_t group);
  int32_t RootOf(int32_t group) const;
  size_t OffsetInRoot(int32_t group) const;
  bool TrySplitViews(int32_t l);
  void ShareOrOwn(int32_t l, size_t k);
  void TryConcatInPlace(int32_t l);

  const NetworkDef& net_;
  const NetworkMemoryOptions& options_;
  Liveness lv_;
  std::vector<int32_t> group_of_;
  std::vector<Group> groups_;
  NetworkMemoryPlan plan_;
};

int32_t NetworkPlanner::NewGroup(int32_t t) {
  Group g;
  g.first = lv_.first[t];
  g.last = lv_.last[t];
  g.tree_last = g.last;
  groups_.push_back(g);
  const int32_t id = static_cast<int32_t>(groups_.size()) - 1;
  Join(t, id);
  plan_.tensors[t].kind = TensorMemoryKind::kBuffer;
  return id;
}

void NetworkPlanner::Join(int32_t t, int32_t group) {
  Group& g = groups_[group];
  const bool io = lv_.is_input[t] || lv_.is_output[t];
  g.members.push_back(t);
  g.holds_io = g.holds_io || io;
  g.first = std::min(g.first, lv_.first[t]);
  g.last = std::max(g.last, lv_.last[t]);
  Group& root = groups_[RootOf(group)];
  root.tree_io = root.tree_io || io;
  root.tree_last = std::max(root.tree_last, lv_.last[t]);
  group_of_[t] = group;
  plan_.tensors[t].bytes = lv_.bytes[t];
}

int32_t NetworkPlanner::RootOf(int32_t group) const {
  while (groups_[group].parent != -1) group = groups_[group].parent;
  return group;
}

size_t NetworkPlanner::OffsetInRoot(int32_t group) const {
  size_t offset = 0;
  for (; groups_[group].parent != -1; group = groups_[group].parent) offset += groups_[group].offset_in_parent;
  return offset;
}

// Step 4 for a Split whose outputs can be views: each output is a new group nested in the input's
// group at its byte offset, and the layer is elided. Outputs are consecutive byte ranges of the
// input when the dims before the axis are all 1.
bool NetworkPlanner::TrySplitViews(int32_t l) {
  const LayerDef& layer = net_.layers[l];
  if (!options_.views || layer.op != OpType::kSplit || layer.inputs.empty() || layer.outputs.empty()) return false;
  const int32_t x = layer.inputs[0];
  if (x < 0 || net_.tensors[x].is_constant() || group_of_[x] == -1) return false;
  const Shape& shape = net_.tensors[x].shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  StatusOr<int64_t> axis_or = layer.attrs.GetIntOr("axis", 0);
  if (!axis_or.ok()) return false;
  int64_t axis = *axis_or;
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return false;
  for (int64_t d = 0; d < axis; ++d) {
    if (shape[d] != 1) return false;
  }
  size_t total = 0;
  for (size_t k = 0; k < layer.outputs.size(); ++k) {
    const int32_t t = layer.outputs[k];
    const TensorDef& out = net_.tensors[t];
    if (t == x || out.dtype != net_.tensors[x].dtype || out.shape.size() != shape.size()) return false;
    if (std::count(layer.outputs.begin(), layer.outputs.end(), t) != 1) return false;
    for (int64_t d = 0; d < rank; ++d) {
      if (d != axis && out.shape[d] != shape[d]) return false;
    }
    total += lv_.bytes[t];
  }
  if (total != lv_.bytes[x]) return false;
  const int32_t parent = group_of_[x];
  size_t offset = 0;
  for (int32_t t : layer.outputs) {
    const int32_t g = NewGroup(t);
    groups_[g].parent = parent;
    groups_[g].offset_in_parent = offset;
    offset += lv_.bytes[t];
    Group& root = groups_[RootOf(parent)];
    root.tree_io = root.tree_io || groups_[g].holds_io;
    root.tree_last = std::max(root.tree_last, groups_[g].last);
    plan_.tensors[t].kind = TensorMemoryKind::kSplitSlice;
    plan_.tensors[t].source = x;
    ++plan_.num_split_slices;
  }
  plan_.layer_elided[l] = 1;
  return true;
}

// Step 4 for output k of layer l.
void NetworkPlanner::ShareOrOwn(int32_t l, size_t k) {
  const LayerDef& layer = net_.layers[l];
  const int32_t t = layer.outputs[k];
  const TensorDef& out = net_.tensors[t];
  auto shareable = [&](int32_t x) {
    return x >= 0 && !net_.tensors[x].is_constant() && group_of_[x] != -1 && x != t &&
           net_.tensors[x].dtype == out.dtype && lv_.bytes[x] == lv_.bytes[t];
  };
  if (options_.views && k == 0 && IsViewOp(layer.op) && layer.outputs.size() == 1 && !layer.inputs.empty() &&
      !DropoutMayTrain(net_, layer) && shareable(layer.inputs[0])) {
    const int32_t x = layer.inputs[0];
    Join(t, group_of_[x]);
    plan_.tensors[t].kind = TensorMemoryKind::kAlias;
    plan_.tensors[t].source = x;
    plan_.layer_elided[l] = 1;
    ++plan_.num_aliases;
    return;
  }
  if (options_.in_place && k == 0) {
    for (size_t i : InPlaceCandidates(layer)) {
      if (i >= layer.inputs.size()) continue;
      const int32_t x = layer.inputs[i];
      if (!shareable(x) || net_.tensors[x].shape != out.shape) continue;
      // Every tensor on these bytes: the input's group, and what is nested in or around it.
      const int32_t root_id = RootOf(group_of_[x]);
      const Group& root = groups_[root_id];
      if (root.tree_io || root.tree_last != l) continue;
      // Another operand on the same bytes (a view of them) must be exactly x's elements, or the
      // kernel would read an element it already overwrote.
      bool clash = false;
      for (int32_t y : layer.inputs) {
        if (y < 0 || y == x || group_of_[y] == -1 || RootOf(group_of_[y]) != root_id) continue;
        clash = clash || OffsetInRoot(group_of_[y]) != OffsetInRoot(group_of_[x]) || lv_.bytes[y] != lv_.bytes[x];
      }
      if (clash) continue;
      Join(t, group_of_[x]);
      plan_.tensors[t].kind = TensorMemoryKind::kInPlace;
      plan_.tensors[t].source = x;
      ++plan_.num_in_place;
      return;
    }
  }
  NewGroup(t);
}

// Step 5 for the Concat at layer l.
void NetworkPlanner::TryConcatInPlace(int32_t l) {
  const LayerDef& layer = net_.layers[l];
  if (layer.outputs.size() != 1 || layer.inputs.empty()) return;
  const int32_t c = layer.outputs[0];
  const int32_t out_group = group_of_[c];
  const Shape& shape = net_.tensors[c].shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  StatusOr<int64_t> axis_or = layer.attrs.GetIntOr("axis", 1);
  if (!axis_or.ok() || out_group == -1) return;
  int64_t axis = *axis_or;
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return;
  for (int64_t d = 0; d < axis; ++d) {
    if (shape[d] != 1) return;  // each input would be several strided blocks, not one slice
  }
  std::vector<int32_t> input_groups;
  for (int32_t x : layer.inputs) {
    if (x < 0 || net_.tensors[x].is_constant() || group_of_[x] == -1) return;
    if (net_.tensors[x].dtype != net_.tensors[c].dtype) return;
    const int32_t gid = group_of_[x];
    const Group& g = groups_[gid];
    if (gid == out_group || g.parent != -1 || g.holds_io) return;
    if (std::find(input_groups.begin(), input_groups.end(), gid) != input_groups.end()) return;
    // Written only before the Concat; read outside the group only by it.
    std::set<int32_t> group_writers;
    for (int32_t m : g.members) {
      if (lv_.writer[m] < 0 || lv_.writer[m] >= l) return;
      group_writers.insert(lv_.writer[m]);
    }
    for (int32_t m : g.members) {
      for (int32_t r : lv_.readers[m]) {
        if (r != l && group_writers.count(r) == 0) return;
      }
    }
    input_groups.push_back(gid);
  }
  size_t total = 0;
  for (int32_t x : layer.inputs) total += lv_.bytes[x];
  if (total != lv_.bytes[c]) return;  // declared shapes that do not add up: leave it to the kernel
  size_t offset = 0;
  for (size_t i = 0; i < layer.inputs.size(); ++i) {
    Group& g = groups_[input_groups[i]];
    g.parent = out_group;
    g.offset_in_parent = offset;
    offset += lv_.bytes[layer.inputs[i]];
    TensorMemory& head = plan_.tensors[g.members[0]];
    head.kind = TensorMemoryKind::kConcatSlice;
    head.source = c;
    ++plan_.num_concat_slices;
  }
  plan_.layer_elided[l] = 1;
}

StatusOr<NetworkMemoryPlan> NetworkPlanner::Run() {
  const int32_t n = static_cast<int32_t>(net_.tensors.size());
  const int32_t n_layers = static_cast<int32_t>(net_.layers.size());
  plan_.tensors.assign(n, TensorMemory{});
  plan_.layer_elided.assign(n_layers, 0);
  plan_.alignment = options_.alignment == 0 ? 1 : options_.alignment;

  // Step 4.
  for (int32_t t = 0; t < n; ++t) {
    if (lv_.used[t] && lv_.writer[t] == -1) NewGroup(t);
  }
  for (int32_t l = 0; l < n_layers; ++l) {
    if (TrySplitViews(l)) continue;
    for (size_t k = 0; k < net_.layers[l].outputs.size(); ++k) ShareOrOwn(l, k);
  }
  // Step 5.
  if (options_.concat_in_place) {
    for (int32_t l = 0; l < n_layers; ++l) {
      if (net_.layers[l].op == OpType::kConcat) TryConcatInPlace(l);
    }
  }

  // Step 6. Roots first extend over their nested groups' lifetimes.
  std::vector<int32_t> first(groups_.size()), last(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    first[g] = groups_[g].first;
    last[g] = groups_[g].last;
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    const int32_t r = RootOf(static_cast<int32_t>(g));
    first[r] = std::min(first[r], groups_[g].first);
    last[r] = std::max(last[r], groups_[g].last);
  }
  std::unique_ptr<MemoryPlanner> planner = MakeMemoryPlanner(options_.strategy, plan_.alignment);
  std::vector<int32_t> buffer_of_group(groups_.size(), -1);
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (groups_[g].parent != -1) continue;
    size_t bytes = 0;
    for (int32_t m : groups_[g].members) bytes = std::max(bytes, lv_.bytes[m]);
    ArenaBuffer buffer;
    buffer.bytes = bytes;
    buffer.first_use = first[g];
    buffer.last_use = last[g];
    buffer.head = groups_[g].members[0];
    buffer_of_group[g] = planner->AddBuffer(bytes, first[g], last[g]);
    plan_.buffers.push_back(buffer);
  }
  EDGERT_RETURN_IF_ERROR(planner->Plan());
  for (size_t b = 0; b < plan_.buffers.size(); ++b) plan_.buffers[b].offset = planner->Offset(static_cast<int>(b));

  // Step 7.
  for (size_t g = 0; g < groups_.size(); ++g) {
    size_t offset = 0;
    int32_t r = static_cast<int32_t>(g);
    while (groups_[r].parent != -1) {
      offset += groups_[r].offset_in_parent;
      r = groups_[r].parent;
    }
    const int32_t buffer = buffer_of_group[r];
    offset += plan_.buffers[buffer].offset;
    for (int32_t m : groups_[g].members) {
      plan_.tensors[m].buffer = buffer;
      plan_.tensors[m].offset = offset;
    }
  }

  plan_.strategy = planner->name();
  MemoryFigures figures = planner->Figures();
  plan_.figures.arena_bytes = figures.arena_bytes;
  plan_.figures.lower_bound_bytes = figures.lower_bound_bytes;
  for (int32_t t = 0; t < n; ++t) {
    if (!lv_.used[t]) continue;
    size_t aligned = 0;
    AlignUp(lv_.bytes[t], plan_.alignment, &aligned);  // sizes are <= Tensor::kMaxBytes: no overflow
    plan_.figures.no_reuse_bytes += aligned;
  }
  return std::move(plan_);
}

}  // namespace

StatusOr<NetworkMemoryPlan> PlanNetworkMemory(const NetworkDef& network, const NetworkMemoryOptions& options) {
  EDGERT_ASSIGN_OR_RETURN(Liveness lv, ComputeLiveness(network, options.layer_spans));
  NetworkPlanner planner(network, options, std::move(lv));
  StatusOr<NetworkMemoryPlan> plan = planner.Run();
  if (plan.ok()) plan->layer_spans = options.layer_spans;
  return plan;
}

Status ValidateNetworkMemoryPlan(const NetworkDef& network, const NetworkMemoryPlan& plan) {
  EDGERT_ASSIGN_OR_RETURN(Liveness lv, ComputeLiveness(network, plan.layer_spans));
  const int32_t n = static_cast<int32_t>(network.tensors.size());
  if (static_cast<int32_t>(plan.tensors.size()) != n) {
    return Internal("plan has " + std::to_string(plan.tensors.size()) + " tensors, the network " + std::to_string(n));
  }
  // 1. Buffers against each other.
  std::vector<BufferRequest> requests;
  std::vector<size_t> offsets;
  for (const ArenaBuffer& b : plan.buffers) {
    requests.push_back({b.bytes, b.first_use, b.last_use});
    offsets.push_back(b.offset);
  }
  EDGERT_RETURN_IF_ERROR(ValidateMemoryPlan(requests, offsets, plan.alignment, plan.figures.arena_bytes));

  // 2. Every used tensor inside its buffer, in bytes and in time; sharing only with its source.
  const int32_t n_buffers = static_cast<int32_t>(plan.buffers.size());
  std::vector<std::vector<int32_t>> by_buffer(plan.buffers.size());
  for (int32_t t = 0; t < n; ++t) {
    const TensorMemory& tm = plan.tensors[t];
    const std::string label = TensorLabel(network, t);
    if (!lv.used[t]) {
      if (tm.kind != TensorMemoryKind::kNone) return Internal(label + " is not used but has memory");
      continue;
    }
    if (tm.kind == TensorMemoryKind::kNone) return Internal(label + " is used but has no memory");
    if (tm.buffer < 0 || tm.buffer >= n_buffers) return Internal(label + " names no buffer");
    if (tm.bytes != lv.bytes[t]) return Internal(label + " has the wrong size");
    const ArenaBuffer& b = plan.buffers[tm.buffer];
    if (tm.offset < b.offset || tm.offset - b.offset > b.bytes || b.bytes - (tm.offset - b.offset) < tm.bytes) {
      return Internal(label + " lies outside its buffer " + std::to_string(tm.buffer));
    }
    if (lv.first[t] < b.first_use || lv.last[t] > b.last_use) {
      return Internal(label + " is live outside its buffer's lifetime");
    }
    if (tm.kind == TensorMemoryKind::kAlias || tm.kind == TensorMemoryKind::kInPlace) {
      const int32_t s = tm.source;
      if (s < 0 || s >= n || plan.tensors[s].buffer != tm.buffer || plan.tensors[s].offset != tm.offset) {
        return Internal(label + " shares bytes with a source that is not at its offset");
      }
      if (lv.writer[t] < 0) return Internal(label + " shares bytes but no layer writes it");
      const LayerDef& writer = network.layers[lv.writer[t]];
      if (std::find(writer.inputs.begin(), writer.inputs.end(), s) == writer.inputs.end()) {
        return Internal(label + " shares bytes with a tensor its layer does not read");
      }
    }
    if (tm.kind == TensorMemoryKind::kConcatSlice || tm.kind == TensorMemoryKind::kSplitSlice) {
      const int32_t s = tm.source;
      if (s < 0 || s >= n || plan.tensors[s].buffer != tm.buffer || tm.offset < plan.tensors[s].offset ||
          tm.offset - plan.tensors[s].offset + tm.bytes > plan.tensors[s].bytes) {
        return Internal(label + " is not inside the tensor it is a slice of");
      }
    }
    by_buffer[tm.buffer].push_back(t);
  }

  // 3. Inside one buffer, tensors live together may overlap only by design: same group (follow
  //    alias / in-place sources to the head), one group nested in the other (a Concat or Split
  //    slice, followed through the slice's source), or views of one tensor by different Splits.
  auto head_of = [&](int32_t t) {
    for (int32_t hops = 0; hops <= n; ++hops) {
      const TensorMemory& tm = plan.tensors[t];
      if (tm.kind != TensorMemoryKind::kAlias && tm.kind != TensorMemoryKind::kInPlace) return t;
      t = tm.source;
    }
    return int32_t{-1};  // a cycle
  };
  // Split views are read-only (in place over one needs every tensor on its bytes dead), so views
  // of one tensor, from different Splits, may overlap.
  auto split_root = [&](int32_t h) {
    for (int32_t hops = 0; h >= 0 && hops <= n && plan.tensors[h].kind == TensorMemoryKind::kSplitSlice; ++hops) {
      h = head_of(plan.tensors[h].source);
    }
    return h;
  };
  auto nested_in = [&](int32_t inner_head, int32_t outer_head) {
    for (int32_t h = inner_head, hops = 0; h >= 0 && hops <= n; ++hops) {
      if (h == outer_head) return true;
      const TensorMemoryKind kind = plan.tensors[h].kind;
      if (kind != TensorMemoryKind::kConcatSlice && kind != TensorMemoryKind::kSplitSlice) return false;
      h = head_of(plan.tensors[h].source);
    }
    return false;
  };
  for (const std::vector<int32_t>& members : by_buffer) {
    for (size_t i = 0; i < members.size(); ++i) {
      const int32_t a = members[i];
      const int32_t ha = head_of(a);
      if (ha < 0) return Internal(TensorLabel(network, a) + " has a cycle of sources");
      for (size_t j = i + 1; j < members.size(); ++j) {
        const int32_t b = members[j];
        const TensorMemory& ma = plan.tensors[a];
        const TensorMemory& mb = plan.tensors[b];
        if (ma.bytes == 0 || mb.bytes == 0) continue;
        if (lv.first[a] > lv.last[b] || lv.first[b] > lv.last[a]) continue;
        if (ma.offset + ma.bytes <= mb.offset || mb.offset + mb.bytes <= ma.offset) continue;
        const int32_t hb = head_of(b);
        if (hb < 0) return Internal(TensorLabel(network, b) + " has a cycle of sources");
        if (ha == hb || nested_in(ha, hb) || nested_in(hb, ha) || split_root(ha) == split_root(hb)) continue;
        return Internal(TensorLabel(network, a) + " and " + TensorLabel(network, b) +
                        " are live together and overlap in memory");
      }
    }
  }
  return Status::Ok();
}

}  // namespace edgert
