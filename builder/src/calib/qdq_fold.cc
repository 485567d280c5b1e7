// FoldExplicitQuantization (qdq_fold.h): Q/DQ pairs -> INT8 convolutions. The numbered steps are
// those of the header; the pass works on a copy of the network and only the final LowerInt8 adds
// layers.
#include "calib/qdq_fold.h"

#include <cmath>
#include <set>

#include "edgert/fused_activation.h"

namespace edgert {
namespace {

const TensorDef& Tensor_(const NetworkDef& net, int32_t t) { return net.tensors[static_cast<size_t>(t)]; }

bool HasInput(const LayerDef& l, size_t k) { return k < l.inputs.size() && l.inputs[k] >= 0; }

// The single value of a one-element float32 constant (a per-tensor scale); false otherwise, with
// `why`.
bool PerTensorScale(const NetworkDef& net, const LayerDef& l, float* value, std::string* why) {
  if (!HasInput(l, 1)) {
    *why = "'" + l.name + "' has no scale";
    return false;
  }
  const TensorDef& s = Tensor_(net, l.inputs[1]);
  if (!s.is_constant() || s.dtype != DataType::kFloat32) {
    *why = "the scale of '" + l.name + "' is not a float32 constant";
    return false;
  }
  StatusOr<int64_t> block = l.attrs.GetIntOr("block_size", 0);
  if (s.value.num_elements() != 1 || !block.ok() || *block != 0) {
    *why = "per-axis activation scale (" + std::to_string(s.value.num_elements()) + " scales in '" + s.name + "')";
    return false;
  }
  *value = s.value.data<float>()[0];
  if (!(*value > 0) || !std::isfinite(*value)) {
    *why = "the scale of '" + l.name + "' is not a positive finite number";
    return false;
  }
  return true;
}

// Whether the zero point of Q/DQ layer `l` (input 2) is absent or a constant of zeros.
bool ZeroPointIsZero(const NetworkDef& net, const LayerDef& l, std::string* why) {
  if (!HasInput(l, 2)) return true;
  const TensorDef& zp = Tensor_(net, l.inputs[2]);
  if (!zp.is_constant()) {
    *why = "the zero point of '" + l.name + "' is not a constant";
    return false;
  }
  for (int64_t i = 0; i < zp.value.num_elements(); ++i) {
    if (zp.value.GetAsDouble(i) != 0) {
      *why = "nonzero zero point (" + std::to_string(static_cast<int64_t>(zp.value.GetAsDouble(i))) + " in '" +
             zp.name + "')";
      return false;
    }
  }
  return true;
}

// Step 1 for the DequantizeLinear `dq` whose input QuantizeLinear is `q`: true with the scale when
// the pair is symmetric int8 per tensor; `why` otherwise.
bool IsSymmetricInt8Pair(const NetworkDef& net, const LayerDef& q, const LayerDef& dq, float* scale, std::string* why) {
  const TensorDef& t = Tensor_(net, q.inputs[0]);
  if (t.dtype != DataType::kFloat32) {
    *why = std::string("quantizes a ") + DataTypeName(t.dtype) + " tensor (INT8 layers read float32)";
    return false;
  }
  const DataType qtype = Tensor_(net, q.outputs[0]).dtype;
  if (qtype != DataType::kInt8) {
    *why = std::string(DataTypeName(qtype)) + " quantization (INT8 layers need symmetric int8)";
    if (qtype == DataType::kUInt8 && !HasInput(q, 2)) *why += "; an absent zero point means uint8";
    return false;
  }
  float s_q = 0, s_dq = 0;
  if (!PerTensorScale(net, q, &s_q, why) || !PerTensorScale(net, dq, &s_dq, why)) return false;
  if (s_q != s_dq) {
    *why = "the QuantizeLinear and DequantizeLinear scales differ";
    return false;
  }
  if (!ZeroPointIsZero(net, q, why) || !ZeroPointIsZero(net, dq, why)) return false;
  *scale = s_q;
  return true;
}

// Step 2: the float32 value of a DequantizeLinear whose inputs are all constants, per tensor or
// per axis; false (left unfolded) for other dtypes and for blocked scales.
bool FoldConstantDequantize(const NetworkDef& net, const LayerDef& dq, Tensor* out) {
  for (size_t k = 0; k < dq.inputs.size(); ++k) {
    if (dq.inputs[k] >= 0 && !Tensor_(net, dq.inputs[k]).is_constant()) return false;
  }
  if (!HasInput(dq, 1)) return false;
  const Tensor& x = Tensor_(net, dq.inputs[0]).value;
  const Tensor& s = Tensor_(net, dq.inputs[1]).value;
  if (!IsIntegerType(x.dtype()) || s.dtype() != DataType::kFloat32) return false;
  StatusOr<int64_t> block = dq.attrs.GetIntOr("block_size", 0);
  StatusOr<int64_t> axis_attr = dq.attrs.GetIntOr("axis", 1);
  if (!block.ok() || *block != 0 || !axis_attr.ok()) return false;
  const int64_t rank = x.rank();
  int64_t inner = 1, channels = 1;
  if (s.num_elements() != 1) {
    const int64_t axis = *axis_attr < 0 ? *axis_attr + rank : *axis_attr;
    if (axis < 0 || axis >= rank || s.num_elements() != x.dim(axis)) return false;
    channels = x.dim(axis);
    for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dim(d);
  }
  const Tensor* zp = HasInput(dq, 2) ? &Tensor_(net, dq.inputs[2]).value : nullptr;
  if (zp != nullptr && zp->num_elements() != s.num_elements()) return false;
  StatusOr<Tensor> w = Tensor::Create(DataType::kFloat32, x.shape());
  if (!w.ok()) return false;
  float* dst = w->data<float>();
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    const int64_t c = channels == 1 ? 0 : (i / inner) % channels;
    const double z = zp != nullptr ? zp->GetAsDouble(c) : 0.0;
    // (q - zp) is exact in float32 for 8- and 16-bit integers; one float32 multiplication, as
    // the DequantizeLinear kernel computes it.
    dst[i] = static_cast<float>(x.GetAsDouble(i) - z) * s.data<float>()[c];
  }
  *out = std::move(*w);
  return true;
}

}  // namespace

bool HasQdqLayers(const NetworkDef& network) {
  for (const LayerDef& l : network.layers) {
    if (l.op == OpType::kQuantizeLinear || l.op == OpType::kDequantizeLinear) return true;
  }
  return false;
}

StatusOr<NetworkDef> FoldExplicitQuantization(const NetworkDef& optimized, QdqFoldReport* report) {
  QdqFoldReport local;
  QdqFoldReport& rep = report != nullptr ? *report : local;
  rep = QdqFoldReport();
  NetworkDef net = optimized;
  const size_t num_layers = net.layers.size();
  std::vector<int32_t> producer(net.tensors.size(), -1);
  for (size_t i = 0; i < num_layers; ++i) {
    for (int32_t t : net.layers[i].outputs) producer[static_cast<size_t>(t)] = static_cast<int32_t>(i);
  }
  std::vector<bool> removed(num_layers, false);

  // Step 2: unfolded DequantizeLinear weights and biases of Convs.
  for (const LayerDef& l : net.layers) {
    for (size_t k : {size_t{1}, size_t{2}}) {
      if (l.op != OpType::kConv || !HasInput(l, k)) continue;
      const int32_t w = l.inputs[k];
      const int32_t p = producer[static_cast<size_t>(w)];
      if (p < 0 || removed[static_cast<size_t>(p)] ||
          net.layers[static_cast<size_t>(p)].op != OpType::kDequantizeLinear) {
        continue;
      }
      bool is_output = false;
      for (int32_t t : net.outputs) is_output = is_output || t == w;
      Tensor value;
      if (is_output || !FoldConstantDequantize(net, net.layers[static_cast<size_t>(p)], &value)) continue;
      net.tensors[static_cast<size_t>(w)].value = std::move(value);
      net.tensors[static_cast<size_t>(w)].dtype = DataType::kFloat32;
      removed[static_cast<size_t>(p)] = true;
      producer[static_cast<size_t>(w)] = -1;
      ++rep.folded_weights;
    }
  }

  // Step 1: the pairs, by DequantizeLinear output.
  struct Pair {
    size_t q = 0, dq = 0;
    int32_t source = -1;
    float scale = 0;
    std::string why;  // empty: symmetric int8 per tensor
  };
  std::map<int32_t, Pair> pairs;
  CalibrationCache cache = CalibrationCache::ForCalibrator(CalibratorKind::kMinMax);
  for (size_t i = 0; i < num_layers; ++i) {
    const LayerDef& dq = net.layers[i];
    if (removed[i] || dq.op != OpType::kDequantizeLinear || !HasInput(dq, 0)) continue;
    const int32_t p = producer[static_cast<size_t>(dq.inputs[0])];
    if (p < 0 || net.layers[static_cast<size_t>(p)].op != OpType::kQuantizeLinear) continue;
    const LayerDef& q = net.layers[static_cast<size_t>(p)];
    if (!HasInput(q, 0)) continue;
    Pair pair;
    pair.q = static_cast<size_t>(p);
    pair.dq = i;
    pair.source = q.inputs[0];
    if (IsSymmetricInt8Pair(net, q, dq, &pair.scale, &pair.why)) {
      const std::string& name = Tensor_(net, pair.source).name;
      const CalibrationCache::Entry* known = cache.Find(name);
      if (known != nullptr && known->scale() != pair.scale) {
        pair.why =
            "'" + name + "' is already quantized with scale " + std::to_string(known->scale()) + " by another pair";
      } else {
        cache.SetScale(name, pair.scale);
      }
    }
    pairs[dq.outputs[0]] = pair;
  }

  // Step 1b: Conv -> pair(s) -> Relu -> pairs of scale s (ONNX Runtime's symmetric QDQ around a
  // Relu it cannot drop) is relu(Conv) -> pairs of scale s: round(max(c, 0) / s) = max(round(c / s),
  // 0), so the Relu joins the Conv as its fused activation and the first pair goes.
  {
    std::vector<std::vector<size_t>> readers(net.tensors.size());
    for (size_t i = 0; i < num_layers; ++i) {
      if (removed[i]) continue;
      for (int32_t t : net.layers[i].inputs) {
        if (t >= 0) readers[static_cast<size_t>(t)].push_back(i);
      }
    }
    std::vector<bool> is_output(net.tensors.size(), false);
    for (int32_t t : net.outputs) is_output[static_cast<size_t>(t)] = true;
    auto only_reader = [&](int32_t t) -> int32_t {
      if (is_output[static_cast<size_t>(t)] || readers[static_cast<size_t>(t)].size() != 1) return -1;
      return static_cast<int32_t>(readers[static_cast<size_t>(t)][0]);
    };
    for (auto& [dq_out, first] : pairs) {
      if (!first.why.empty() || removed[first.dq]) continue;
      const int32_t c = first.source;
      const int32_t conv = producer[static_cast<size_t>(c)];
      if (conv < 0 || net.layers[static_cast<size_t>(conv)].op != OpType::kConv ||
          net.layers[static_cast<size_t>(conv)].attrs.Has(kActivationAttr) ||
          only_reader(c) != static_cast<int32_t>(first.q) ||
          only_reader(net.layers[first.q].outputs[0]) != static_cast<int32_t>(first.dq)) {
        continue;
      }
      const int32_t relu = only_reader(dq_out);
      if (relu < 0 || net.layers[static_cast<size_t>(relu)].op != OpType::kRelu) continue;
      const int32_t r = net.layers[static_cast<size_t>(relu)].outputs[0];
      bool all_pairs = !is_output[static_cast<size_t>(r)] && !readers[static_cast<size_t>(r)].empty();
      std::vector<Pair*> next;
      for (size_t reader : readers[static_cast<size_t>(r)]) {
        Pair* p = nullptr;
        for (auto& [out, candidate] : pairs) {
          if (candidate.q == reader && candidate.why.empty() && candidate.scale == first.scale) p = &candidate;
        }
        if (p == nullptr) all_pairs = false;
        next.push_back(p);
      }
      if (!all_pairs) continue;
      net.layers[static_cast<size_t>(conv)].attrs.Set(kActivationAttr, std::string("Relu"));
      for (Pair* p : next) {
        net.layers[p->q].inputs[0] = c;
        p->source = c;
      }
      removed[first.q] = removed[first.dq] = removed[static_cast<size_t>(relu)] = true;
      ++rep.absorbed_activations;
    }
  }

  // Step 3: the Convs that become INT8 read the pairs' sources.
  std::set<std::string> keep_float;
  for (size_t i = 0; i < num_layers; ++i) {
    LayerDef& l = net.layers[i];
    if (removed[i] || l.op != OpType::kConv) continue;
    std::string why;
    for (size_t in : {size_t{0}, size_t{3}}) {
      if (!HasInput(l, in) || !why.empty()) continue;
      auto it = pairs.find(l.inputs[in]);
      const std::string what = in == 0 ? "input" : "residual";
      if (it == pairs.end()) {
        why = "its " + what + " '" + Tensor_(net, l.inputs[in]).name + "' is not the output of a Q/DQ pair";
      } else if (!it->second.why.empty()) {
        why = "its " + what + "'s Q/DQ pair is not symmetric int8: " + it->second.why;
      }
    }
    if (why.empty()) CanLowerToInt8(l, net, &why);
    if (!why.empty()) {
      keep_float.insert(l.name);
      rep.float_convs[l.name] = why;
      continue;
    }
    for (size_t in : {size_t{0}, size_t{3}}) {
      if (HasInput(l, in)) l.inputs[in] = pairs[l.inputs[in]].source;
    }
    rep.folded_convs.push_back(l.name);
  }

  // Step 4: Q/DQ layers without readers, DequantizeLinear first (its QuantizeLinear may follow).
  std::vector<int> readers(net.tensors.size(), 0);
  for (size_t i = 0; i < num_layers; ++i) {
    if (removed[i]) continue;
    for (int32_t t : net.layers[i].inputs) {
      if (t >= 0) ++readers[static_cast<size_t>(t)];
    }
  }
  for (int32_t t : net.outputs) ++readers[static_cast<size_t>(t)];
  for (OpType op : {OpType::kDequantizeLinear, OpType::kQuantizeLinear}) {
    for (size_t i = 0; i < num_layers; ++i) {
      const LayerDef& l = net.layers[i];
      if (removed[i] || l.op != op || readers[static_cast<size_t>(l.outputs[0])] != 0) continue;
      removed[i] = true;
      for (int32_t t : l.inputs) {
        if (t >= 0) --readers[static_cast<size_t>(t)];
      }
    }
  }
  for (const auto& [out, pair] : pairs) {
    QdqPair entry;
    entry.quantize = net.layers[pair.q].name;
    entry.dequantize = net.layers[pair.dq].name;
    entry.tensor = Tensor_(net, pair.source).name;
    entry.scale = pair.why.empty() ? pair.scale : 0;
    if (removed[pair.dq]) {
      rep.removed.push_back(entry);
      continue;
    }
    entry.reason = pair.why;
    if (entry.reason.empty()) {
      for (int32_t t : net.outputs) {
        if (t == out) entry.reason = "its output is a graph output";
      }
    }
    for (size_t i = 0; i < num_layers && entry.reason.empty(); ++i) {
      const LayerDef& l = net.layers[i];
      if (removed[i]) continue;
      for (size_t k = 0; k < l.inputs.size() && entry.reason.empty(); ++k) {
        if (l.inputs[k] != out) continue;
        entry.reason = "read by " + std::string(OpTypeName(l.op)) + " '" + l.name + "', not a lowerable Conv";
        auto f = rep.float_convs.find(l.name);
        if (f != rep.float_convs.end()) entry.reason += " (" + f->second + ")";
      }
    }
    rep.kept.push_back(entry);
  }
  if (rep.folded_convs.empty()) return optimized;

  std::vector<LayerDef> layers;
  for (size_t i = 0; i < num_layers; ++i) {
    if (!removed[i]) layers.push_back(std::move(net.layers[i]));
  }
  net.layers = std::move(layers);
  // Step 5 (LowerInt8 also drops the tensors the removed layers left unused).
  StatusOr<NetworkDef> lowered = LowerInt8(net, cache, keep_float, &rep.lowering);
  if (!lowered.ok()) return lowered.status().WithContext("explicit quantization");
  return lowered;
}

}  // namespace edgert
