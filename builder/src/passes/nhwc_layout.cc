// The layout pass (LowerNhwc of edgert/builder.h): channels-last float layers for FP16 builds, where
// tensor-core convolutions read and write NHWC (runtime/src/ops/nhwc.h has the layers' contract).
//
//   1. Layouts, in network order. A float 2-D Conv (X [N, C, H, W] an activation, W and B constants,
//      any group; but not one with fewer than 8 output channels whose X an NCHW layer writes) and a
//      MaxPool with one output become channels-last; a GlobalAveragePool /
//      GlobalMaxPool whose input is channels-last becomes ReduceMean / ReduceMax over [1, 2] with
//      keepdims; a layout-agnostic layer (unary elementwise and EdgertFusedElementwise, binary and
//      variadic elementwise and PRelu, Concat, Split, Resize / Upsample, Slice) becomes
//      channels-last when one of its activation inputs is and its form allows it (rank-4 float
//      activations, constants it can permute); an EdgertSqueezeExcite follows its input X (its
//      weights are [Cr, C] / [C, Cr] matrices whatever the layout: only channels_last changes).
//      Every other layer keeps NCHW.
//   2. Rewrite, in the same order. A channels-last layer reads the NHWC version of each activation
//      input: its producer's output, or one Transpose NCHW -> NHWC (perm 0,2,3,1) per tensor, made
//      just before its first channels-last reader. Constants are permuted alike: Conv's W KCRS ->
//      KRSC; a broadcast operand is first brought to rank 4 by NumPy's rules (leading 1s), then
//      permuted ([C, 1, 1] -> [1, 1, 1, C]); scalars stay; Resize's scales / sizes / roi are
//      permuted (its axes attribute, like Concat's and Split's axis and Slice's axes, is remapped
//      NCHW -> NHWC: 1 -> 3, 2 -> 1, 3 -> 2). The layer's outputs are new tensors "<name>_nhwc".
//   3. An NCHW reader of a channels-last tensor (any other layer, INT8 layers included, and the
//      graph outputs) reads the original tensor (same index, name and shape), which one Transpose
//      NHWC -> NCHW (perm 0,3,1,2) writes: just before its first NCHW reader, or just after the
//      producer for a graph output. When H * W == 1 or C == 1 a Reshape replaces either Transpose (the same
//      bytes; the memory plan elides it; its target keeps dim 0 with a 0, so the batch stays free).
//   4. Tensors nothing refers to any more (the KCRS weights, NCHW tensors that only channels-last
//      layers read) are dropped and the rest renumbered. A batch profile follows: a new activation
//      is a batch tensor when its source is; a permuted constant carries its source's batch values
//      at the permuted element.
#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "calib/int8_util.h"
#include "edgert/builder.h"

namespace edgert {
namespace {

using calib::AddTensor;
using calib::DropUnusedTensors;
using calib::IsFloatActivation;

// The NHWC axis of NCHW axis a (a in [0, 4)).
int64_t NhwcAxis(int64_t a) {
  static constexpr int64_t kMap[4] = {0, 3, 1, 2};
  return kMap[a];
}

Shape NhwcShape(const Shape& s) { return {s[0], s[2], s[3], s[1]}; }

bool IsUnaryFollower(OpType op) {
  switch (op) {
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
    case OpType::kFusedElementwise:
      return true;
    default:
      return false;
  }
}

bool IsBroadcastFollower(OpType op) {
  switch (op) {
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
    case OpType::kPow:
    case OpType::kMin:
    case OpType::kMax:
    case OpType::kSum:
    case OpType::kMean:
    case OpType::kPRelu:
      return true;
    default:
      return false;
  }
}

// The NCHW -> NHWC permutation of a rank-4 tensor of any dtype (also KCRS -> KRSC). `moved`, when
// given, receives the new flat index of every old one.
StatusOr<Tensor> PermuteToNhwc(const Tensor& t, std::vector<int64_t>* moved = nullptr) {
  const int64_t n = t.dim(0), c = t.dim(1), h = t.dim(2), w = t.dim(3);
  EDGERT_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(t.dtype(), {n, h, w, c}));
  const size_t es = DataTypeSize(t.dtype());
  const auto* src = static_cast<const uint8_t*>(t.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  if (moved != nullptr) moved->assign(static_cast<size_t>(t.num_elements()), 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t y = 0; y < h; ++y) {
        for (int64_t x = 0; x < w; ++x) {
          const int64_t from = ((i * c + ch) * h + y) * w + x, to = ((i * h + y) * w + x) * c + ch;
          std::memcpy(dst + static_cast<size_t>(to) * es, src + static_cast<size_t>(from) * es, es);
          if (moved != nullptr) (*moved)[static_cast<size_t>(from)] = to;
        }
      }
    }
  }
  return out;
}

// Integer values of a 1-D int32/int64 constant; false otherwise.
bool ConstInts(const TensorDef& t, std::vector<int64_t>* values) {
  if (!t.is_constant() || t.shape.size() != 1) return false;
  values->clear();
  for (int64_t i = 0; i < t.value.num_elements(); ++i) {
    if (t.dtype == DataType::kInt64) {
      values->push_back(t.value.data<int64_t>()[i]);
    } else if (t.dtype == DataType::kInt32) {
      values->push_back(t.value.data<int32_t>()[i]);
    } else {
      return false;
    }
  }
  return true;
}

// NCHW axes (negative ones counted from the end of rank 4) as NHWC axes; false when one is out of
// range.
bool RemapAxes(std::vector<int64_t>* axes) {
  for (int64_t& a : *axes) {
    if (a < -4 || a > 3) return false;
    a = NhwcAxis(a < 0 ? a + 4 : a);
  }
  return true;
}

enum class Kind { kNchw, kConv, kMaxPool, kGlobalPool, kSqueezeExcite, kFollower };

// Which inputs of a follower carry the layout (the others are parameters: Clip's bounds, Split's
// sizes, Resize's scales, Slice's starts, ...).
std::vector<size_t> LayoutInputs(const LayerDef& l) {
  std::vector<size_t> slots;
  if (IsBroadcastFollower(l.op) || l.op == OpType::kConcat) {
    for (size_t k = 0; k < l.inputs.size(); ++k) slots.push_back(k);
  } else if (!l.inputs.empty()) {
    slots.push_back(0);
  }
  return slots;
}

class NhwcLowering {
 public:
  NhwcLowering(const NetworkDef& src, NhwcLayoutReport& rep) : src_(src), rep_(rep) {}

  StatusOr<NetworkDef> Run() {
    const size_t num_tensors = src_.tensors.size();
    for (const TensorDef& t : src_.tensors) names_.insert(t.name);
    batch_sources_.insert(src_.profile.batch_tensors.begin(), src_.profile.batch_tensors.end());
    for (const BatchValue& v : src_.profile.batch_values) batch_values_of_[v.tensor].push_back(v.element);
    is_output_.assign(num_tensors, false);
    for (int32_t t : src_.outputs) is_output_[static_cast<size_t>(t)] = true;
    // Step 1.
    nhwc_tensor_.assign(num_tensors, false);
    kinds_.assign(src_.layers.size(), Kind::kNchw);
    for (size_t i = 0; i < src_.layers.size(); ++i) {
      const LayerDef& l = src_.layers[i];
      kinds_[i] = Classify(l);
      if (kinds_[i] == Kind::kNchw) continue;
      for (int32_t t : l.outputs) nhwc_tensor_[static_cast<size_t>(t)] = true;
    }
    // Steps 2 and 3.
    net_ = src_;
    net_.layers.clear();
    as_nhwc_.assign(num_tensors, -1);
    // A channels-last tensor's original index holds its NCHW copy, made on demand.
    nchw_ready_.assign(num_tensors, true);
    for (size_t t = 0; t < num_tensors; ++t) nchw_ready_[t] = !nhwc_tensor_[t];
    for (size_t i = 0; i < src_.layers.size(); ++i) {
      const LayerDef& l = src_.layers[i];
      if (kinds_[i] == Kind::kNchw) {
        for (int32_t t : l.inputs) {
          if (t >= 0) EnsureNchw(t);
        }
        net_.layers.push_back(l);
        continue;
      }
      EDGERT_RETURN_IF_ERROR(Rewrite(l, kinds_[i]).WithContext("NHWC layout of " + l.name));
      rep_.nhwc_layers.push_back(l.name);
      for (int32_t t : l.outputs) {
        if (is_output_[static_cast<size_t>(t)]) EnsureNchw(t);
      }
    }
    // Step 4.
    DropUnusedTensors(net_);
    rep_.layers = static_cast<int>(net_.layers.size());
    return std::move(net_);
  }

 private:
  const TensorDef& Def(int32_t t) const { return src_.tensors[static_cast<size_t>(t)]; }

  bool FloatRank4(int32_t t) const {
    return IsFloatActivation(src_, t) && src_.tensors[static_cast<size_t>(t)].shape.size() == 4;
  }

  // Step 1 for one layer; nhwc_tensor_ holds the layouts of the layers before it.
  Kind Classify(const LayerDef& l) {
    const auto input = [&](size_t k) { return k < l.inputs.size() ? l.inputs[k] : -1; };
    const bool rank4_out =
        !l.outputs.empty() && std::all_of(l.outputs.begin(), l.outputs.end(), [&](int32_t t) { return FloatRank4(t); });
    if (!rank4_out) return Kind::kNchw;
    switch (l.op) {
      case OpType::kConv: {
        const int32_t w = input(1), b = input(2), z = input(3);
        if (!FloatRank4(input(0)) || w < 0 || !Def(w).is_constant() || Def(w).dtype != DataType::kFloat32 ||
            Def(w).shape.size() != 4) {
          return Kind::kNchw;
        }
        if (b >= 0 && (!Def(b).is_constant() || Def(b).dtype != DataType::kFloat32 || Def(b).shape.size() != 1)) {
          return Kind::kNchw;
        }
        if (z >= 0 && !FloatRank4(z)) return Kind::kNchw;
        // Fewer than 8 output channels gain nothing from tensor cores; when an NCHW layer writes
        // the input (a graph input's transpose is folded into its copy), channels-last would only
        // add a Transpose of it (YOLOv8's DFL: Softmax, then a 16 -> 1 convolution).
        const int32_t x = input(0);
        if (Def(w).shape[0] < 8 && !nhwc_tensor_[static_cast<size_t>(x)] &&
            std::find(src_.inputs.begin(), src_.inputs.end(), x) == src_.inputs.end()) {
          return Kind::kNchw;
        }
        return l.inputs.size() <= 4 ? Kind::kConv : Kind::kNchw;
      }
      case OpType::kMaxPool: {
        StatusOr<std::vector<int64_t>> kernel = l.attrs.GetIntsOr("kernel_shape", {});
        if (l.outputs.size() != 1 || !FloatRank4(input(0)) || !kernel.ok() || kernel->size() != 2) return Kind::kNchw;
        return Kind::kMaxPool;
      }
      case OpType::kGlobalAveragePool:
      case OpType::kGlobalMaxPool:
        return FloatRank4(input(0)) && nhwc_tensor_[static_cast<size_t>(input(0))] ? Kind::kGlobalPool : Kind::kNchw;
      case OpType::kSqueezeExcite: {
        StatusOr<int64_t> channels_last = l.attrs.GetIntOr("channels_last", 0);
        const bool follows = channels_last.ok() && *channels_last == 0 && FloatRank4(input(0)) &&
                             nhwc_tensor_[static_cast<size_t>(input(0))];
        return follows ? Kind::kSqueezeExcite : Kind::kNchw;
      }
      default:
        return FollowerForm(l) ? Kind::kFollower : Kind::kNchw;
    }
  }

  // A layout-agnostic layer that can run channels-last and has a channels-last activation input.
  bool FollowerForm(const LayerDef& l) {
    const bool unary = IsUnaryFollower(l.op), broadcast = IsBroadcastFollower(l.op);
    if (!unary && !broadcast && l.op != OpType::kConcat && l.op != OpType::kSplit && l.op != OpType::kResize &&
        l.op != OpType::kUpsample && l.op != OpType::kSlice) {
      return false;
    }
    bool any_nhwc = false;
    const std::vector<size_t> slots = LayoutInputs(l);
    for (size_t k : slots) {
      const int32_t t = l.inputs[k];
      if (t < 0) continue;
      const TensorDef& d = Def(t);
      if (d.is_constant()) {
        // Broadcast operands up to rank 4 (permuted, or scalars kept); Concat's exactly rank 4.
        if (d.shape.size() > 4 || (l.op == OpType::kConcat && d.shape.size() != 4)) return false;
        continue;
      }
      if (!FloatRank4(t)) return false;
      any_nhwc = any_nhwc || nhwc_tensor_[static_cast<size_t>(t)];
    }
    if (!any_nhwc) return false;
    if (unary) {
      // Other inputs (Clip's bounds) must be scalars.
      for (size_t k = 1; k < l.inputs.size(); ++k) {
        if (l.inputs[k] >= 0 && NumElements(Def(l.inputs[k]).shape) > 1) return false;
      }
      return true;
    }
    if (broadcast) return true;
    if (l.op == OpType::kConcat || l.op == OpType::kSplit) {
      StatusOr<int64_t> axis = l.op == OpType::kConcat ? l.attrs.GetInt("axis") : l.attrs.GetIntOr("axis", 0);
      return axis.ok() && *axis >= -4 && *axis <= 3;
    }
    if (l.op == OpType::kResize || l.op == OpType::kUpsample) return ResizeParams(l, nullptr);
    return SliceAxes(l, nullptr);
  }

  // Resize / Upsample: whether its parameters can be expressed channels-last; with `out`, the
  // rewritten layer's inputs and attributes (permuted constants added to net_).
  bool ResizeParams(const LayerDef& l, LayerDef* out) {
    if (l.attrs.Has("axes")) {  // opset 18: scales / sizes / roi follow `axes`, which is remapped
      StatusOr<std::vector<int64_t>> axes = l.attrs.GetInts("axes");
      if (!axes.ok()) return false;
      std::vector<int64_t> mapped = *axes;
      if (!RemapAxes(&mapped)) return false;
      if (out != nullptr) out->attrs.Set("axes", mapped);
      return true;
    }
    if (l.op == OpType::kUpsample && l.opset < 9) {
      StatusOr<std::vector<float>> scales = l.attrs.GetFloats("scales");
      if (!scales.ok() || scales->size() != 4) return false;
      if (out != nullptr) {
        const std::vector<float>& s = *scales;
        out->attrs.Set("scales", std::vector<float>{s[0], s[2], s[3], s[1]});
      }
      return true;
    }
    // Inputs: Resize opset 10 and Upsample 9: (X, scales); Resize 11+: (X, roi, scales, sizes).
    for (size_t k = 1; k < l.inputs.size(); ++k) {
      const int32_t t = l.inputs[k];
      if (t < 0) continue;
      const TensorDef& d = Def(t);
      if (!d.is_constant() || d.shape.size() != 1) return false;
      const bool roi = l.op == OpType::kResize && l.opset >= 11 && k == 1;
      const int64_t n = d.shape[0];
      if (n == 0) continue;
      if (n != (roi ? 8 : 4)) return false;
      if (out != nullptr) out->inputs[k] = Permuted1D(t, roi);
    }
    return true;
  }

  // Slice: whether its axes are build-time constants (or absent: the leading axes); with `out`, the
  // rewritten layer's axes (a new constant, or the attribute before opset 10).
  bool SliceAxes(const LayerDef& l, LayerDef* out) {
    std::vector<int64_t> axes;
    if (l.opset < 10) {
      StatusOr<std::vector<int64_t>> starts = l.attrs.GetInts("starts");
      if (!starts.ok()) return false;
      std::vector<int64_t> fallback(starts->size());
      for (size_t i = 0; i < fallback.size(); ++i) fallback[i] = static_cast<int64_t>(i);
      StatusOr<std::vector<int64_t>> given = l.attrs.GetIntsOr("axes", fallback);
      if (!given.ok()) return false;
      axes = *given;
      if (!RemapAxes(&axes)) return false;
      if (out != nullptr) out->attrs.Set("axes", axes);
      return true;
    }
    if (l.inputs.size() < 3 || l.inputs[1] < 0 || Def(l.inputs[1]).shape.size() != 1) return false;
    const int32_t axes_t = l.inputs.size() > 3 ? l.inputs[3] : -1;
    DataType dtype = DataType::kInt64;
    if (axes_t >= 0) {
      if (!ConstInts(Def(axes_t), &axes)) return false;
      dtype = Def(axes_t).dtype;
    } else {
      for (int64_t i = 0; i < Def(l.inputs[1]).shape[0]; ++i) axes.push_back(i);
    }
    if (!RemapAxes(&axes)) return false;
    if (out != nullptr) {
      const int64_t n = static_cast<int64_t>(axes.size());
      Tensor value;
      if (dtype == DataType::kInt32) {
        value = Tensor::FromVector<int32_t>(std::vector<int32_t>(axes.begin(), axes.end()), {n});
      } else {
        value = Tensor::FromVector<int64_t>(axes, {n});
      }
      const std::string base = axes_t >= 0 ? Def(axes_t).name : l.name + "_axes";
      const int32_t id = AddTensor(net_, UniqueName(base + "_nhwc"), dtype, {n}, std::move(value));
      if (out->inputs.size() < 4) out->inputs.resize(4, -1);
      out->inputs[3] = id;
    }
    return true;
  }

  std::string UniqueName(const std::string& base) {
    std::string name = base;
    for (int k = 1; names_.count(name); ++k) name = base + "_" + std::to_string(k);
    names_.insert(name);
    return name;
  }

  void FollowsBatch(int32_t source, int32_t added) {
    if (batch_sources_.count(source)) net_.profile.batch_tensors.push_back(added);
  }

  // A permuted constant carries its source's batch values at their new elements.
  void MoveBatchValues(int32_t source, int32_t added, const std::vector<int64_t>& moved) {
    auto it = batch_values_of_.find(source);
    if (it == batch_values_of_.end()) return;
    for (int64_t e : it->second) net_.profile.batch_values.push_back({added, moved[static_cast<size_t>(e)]});
  }

  // A 1-D constant of 4 per-axis values (or the 8 of a roi: starts, then ends) in NHWC order.
  int32_t Permuted1D(int32_t t, bool roi) {
    auto key = std::make_pair(t, roi ? 2 : 1);
    auto it = constants_.find(key);
    if (it != constants_.end()) return it->second;
    const TensorDef& d = Def(t);
    Tensor value = *Tensor::Create(d.dtype, d.shape);
    const size_t es = DataTypeSize(d.dtype);
    std::vector<int64_t> moved(static_cast<size_t>(d.shape[0]));
    for (int64_t half = 0; half < (roi ? 2 : 1); ++half) {
      for (int64_t a = 0; a < 4; ++a) {
        const int64_t from = half * 4 + a, to = half * 4 + NhwcAxis(a);
        std::memcpy(static_cast<uint8_t*>(value.raw()) + static_cast<size_t>(to) * es,
                    static_cast<const uint8_t*>(d.value.raw()) + static_cast<size_t>(from) * es, es);
        moved[static_cast<size_t>(from)] = to;
      }
    }
    const int32_t id = AddTensor(net_, UniqueName(d.name + "_nhwc"), d.dtype, d.shape, std::move(value));
    MoveBatchValues(t, id, moved);
    constants_[key] = id;
    return id;
  }

  // A rank-4 constant permuted NCHW -> NHWC (Conv's W: KCRS -> KRSC); a broadcast operand of lower
  // rank is first padded with leading 1s. Scalars are returned as they are.
  StatusOr<int32_t> Permuted4D(int32_t t, const std::string& suffix) {
    const TensorDef& d = Def(t);
    if (NumElements(d.shape) <= 1) return t;
    auto key = std::make_pair(t, 0);
    auto it = constants_.find(key);
    if (it != constants_.end()) return it->second;
    Shape s4 = d.shape;
    while (s4.size() < 4) s4.insert(s4.begin(), 1);
    EDGERT_ASSIGN_OR_RETURN(Tensor padded, d.value.Reshaped(s4));
    std::vector<int64_t> moved;
    EDGERT_ASSIGN_OR_RETURN(Tensor value, PermuteToNhwc(padded, &moved));
    const Shape shape = value.shape();
    const int32_t id = AddTensor(net_, UniqueName(d.name + suffix), d.dtype, shape, std::move(value));
    MoveBatchValues(t, id, moved);
    constants_[key] = id;
    return id;
  }

  // A layout conversion of `from` into `to` ([N, C, H, W] in NCHW): Transpose by `perm`, or a
  // Reshape to `to`'s shape when the order of the elements does not change (H * W == 1 or C == 1;
  // dim 0 kept by a 0 in the target, so the batch stays free).
  void AddConversion(int32_t from, int32_t to, const std::vector<int64_t>& perm, int64_t c, int64_t h, int64_t w,
                     const std::string& name) {
    const Shape& shape = net_.tensors[static_cast<size_t>(to)].shape;
    LayerDef l;
    l.name = name;
    l.outputs = {to};
    if (h * w == 1 || c == 1) {
      const std::vector<int64_t> target = {0, shape[1], shape[2], shape[3]};
      const int32_t dims =
          AddTensor(net_, UniqueName(name + "_shape"), DataType::kInt64, {4}, Tensor::FromVector<int64_t>(target, {4}));
      l.op = OpType::kReshape;
      l.opset = 14;
      l.inputs = {from, dims};
      ++rep_.reshapes;
    } else {
      l.op = OpType::kTranspose;
      l.opset = 13;
      l.attrs.Set("perm", perm);
      l.inputs = {from};
      ++rep_.transposes;
    }
    net_.layers.push_back(std::move(l));
  }

  // Step 3: the NCHW copy of a channels-last tensor, written into its original index.
  void EnsureNchw(int32_t t) {
    if (nchw_ready_[static_cast<size_t>(t)]) return;
    nchw_ready_[static_cast<size_t>(t)] = true;
    const Shape& s = Def(t).shape;
    AddConversion(as_nhwc_[static_cast<size_t>(t)], t, {0, 3, 1, 2}, s[1], s[2], s[3], Def(t).name + "/ToNchw");
  }

  // Step 2: the NHWC version of an activation (its producer's output, or a conversion made once).
  int32_t ToNhwc(int32_t t) {
    int32_t& id = as_nhwc_[static_cast<size_t>(t)];
    if (id >= 0) return id;
    const TensorDef& d = Def(t);
    id = AddTensor(net_, UniqueName(d.name + "_nhwc"), d.dtype, NhwcShape(d.shape));
    FollowsBatch(t, id);
    AddConversion(t, id, {0, 2, 3, 1}, d.shape[1], d.shape[2], d.shape[3], d.name + "/ToNhwc");
    return id;
  }

  // The NHWC output of a channels-last layer.
  int32_t NhwcOutput(int32_t t) {
    const TensorDef& d = Def(t);
    const int32_t id = AddTensor(net_, UniqueName(d.name + "_nhwc"), d.dtype, NhwcShape(d.shape));
    FollowsBatch(t, id);
    as_nhwc_[static_cast<size_t>(t)] = id;
    return id;
  }

  Status Rewrite(const LayerDef& l, Kind kind) {
    LayerDef q = l;
    switch (kind) {
      case Kind::kNchw:
        return Internal("not a channels-last layer");
      case Kind::kConv: {
        q.op = OpType::kConvNhwc;
        q.inputs[0] = ToNhwc(l.inputs[0]);
        EDGERT_ASSIGN_OR_RETURN(q.inputs[1], Permuted4D(l.inputs[1], "_krsc"));
        if (l.inputs.size() > 3 && l.inputs[3] >= 0) q.inputs[3] = ToNhwc(l.inputs[3]);
        ++rep_.convolutions;
        break;
      }
      case Kind::kMaxPool:
        q.op = OpType::kMaxPoolNhwc;
        q.attrs.Erase("storage_order");  // only meaningful for Indices, which the layer has not
        q.inputs[0] = ToNhwc(l.inputs[0]);
        ++rep_.pools;
        break;
      case Kind::kGlobalPool: {
        q = LayerDef();
        q.name = l.name;
        q.op = l.op == OpType::kGlobalAveragePool ? OpType::kReduceMean : OpType::kReduceMax;
        q.attrs.Set("keepdims", int64_t{1});
        q.inputs = {ToNhwc(l.inputs[0])};
        // The axes are an attribute before opset 18 and a constant input from then on.
        q.opset = std::max(l.opset, 13);
        if (q.opset >= 18) {
          q.inputs.push_back(AddTensor(net_, UniqueName(l.name + "_axes"), DataType::kInt64, {2},
                                       Tensor::FromVector<int64_t>({1, 2}, {2})));
        } else {
          q.attrs.Set("axes", std::vector<int64_t>{1, 2});
        }
        ++rep_.reductions;
        break;
      }
      case Kind::kSqueezeExcite:
        q.inputs[0] = ToNhwc(l.inputs[0]);
        q.attrs.Set("channels_last", int64_t{1});
        ++rep_.followers;
        break;
      case Kind::kFollower: {
        for (size_t k : LayoutInputs(l)) {
          const int32_t t = l.inputs[k];
          if (t < 0) continue;
          if (Def(t).is_constant()) {
            EDGERT_ASSIGN_OR_RETURN(q.inputs[k], Permuted4D(t, "_nhwc"));
          } else {
            q.inputs[k] = ToNhwc(t);
          }
        }
        if (l.op == OpType::kConcat || l.op == OpType::kSplit) {
          StatusOr<int64_t> axis = l.attrs.GetIntOr("axis", 0);
          if (!axis.ok()) return axis.status();
          q.attrs.Set("axis", NhwcAxis(*axis < 0 ? *axis + 4 : *axis));
        } else if ((l.op == OpType::kResize || l.op == OpType::kUpsample) && !ResizeParams(l, &q)) {
          return Internal("its parameters changed between the checks and the rewrite");
        } else if (l.op == OpType::kSlice && !SliceAxes(l, &q)) {
          return Internal("its axes changed between the checks and the rewrite");
        }
        ++rep_.followers;
        break;
      }
    }
    q.outputs.clear();
    for (int32_t t : l.outputs) q.outputs.push_back(NhwcOutput(t));
    net_.layers.push_back(std::move(q));
    return Status::Ok();
  }

  const NetworkDef& src_;
  NhwcLayoutReport& rep_;
  NetworkDef net_;
  std::vector<Kind> kinds_;
  std::vector<bool> nhwc_tensor_;  // per source tensor: written by a channels-last layer
  std::vector<int32_t> as_nhwc_;   // per source tensor: its NHWC tensor in net_ (-1: none yet)
  std::vector<bool> nchw_ready_;   // per source tensor: its NCHW form exists at its index
  std::vector<bool> is_output_;
  std::set<std::string> names_;
  std::set<int32_t> batch_sources_;
  std::map<int32_t, std::vector<int64_t>> batch_values_of_;  // constant -> its batch elements
  std::map<std::pair<int32_t, int>, int32_t> constants_;     // (source, form) -> permuted copy
};

}  // namespace

BuildOptions::Layout ResolveLayout(const BuildOptions& options) {
  switch (options.layout) {
    case BuildOptions::Layout::kAuto:
      return options.precision == Precision::kFp16 ? BuildOptions::Layout::kNhwc : BuildOptions::Layout::kNchw;
    case BuildOptions::Layout::kNchw:
    case BuildOptions::Layout::kNhwc:
      return options.layout;
  }
  return BuildOptions::Layout::kNchw;
}

const char* LayoutName(BuildOptions::Layout layout) {
  switch (layout) {
    case BuildOptions::Layout::kAuto:
      return "auto";
    case BuildOptions::Layout::kNchw:
      return "nchw";
    case BuildOptions::Layout::kNhwc:
      return "nhwc";
  }
  return "unknown";
}

StatusOr<BuildOptions::Layout> ParseLayout(const std::string& text) {
  if (text == "auto") return BuildOptions::Layout::kAuto;
  if (text == "nchw") return BuildOptions::Layout::kNchw;
  if (text == "nhwc") return BuildOptions::Layout::kNhwc;
  return InvalidArgument("unknown layout '" + text + "' (expected auto, nchw or nhwc)", text);
}

StatusOr<NetworkDef> LowerNhwc(const NetworkDef& network, NhwcLayoutReport* report) {
  NhwcLayoutReport local;
  NhwcLayoutReport& rep = report != nullptr ? *report : local;
  rep = NhwcLayoutReport();
  return NhwcLowering(network, rep).Run();
}

std::vector<std::string> NhwcBuildLines(const BuildReport& report) {
  if (report.layout != BuildOptions::Layout::kNhwc) return {};
  const NhwcLayoutReport& r = report.nhwc;
  auto count = [](int n, const char* one, const char* many) { return std::to_string(n) + " " + (n == 1 ? one : many); };
  return {"layout: NHWC, " + std::to_string(r.nhwc_layers.size()) + " of " + std::to_string(r.layers) +
          " layers channels-last (" + count(r.convolutions, "convolution", "convolutions") + ", " +
          count(r.pools, "pool", "pools") + ", " + count(r.reductions, "reduction", "reductions") + ", " +
          count(r.followers, "follower", "followers") + "), " + count(r.transposes, "transpose", "transposes") +
          " and " + count(r.reshapes, "reshape", "reshapes") + " inserted"};
}

}  // namespace edgert
