// INT8 lowering (LowerInt8 and CanLowerToInt8 of calibration.h): the convolutions (and Gemms, as
// 1x1 convolutions of [N, C, 1, 1]) that stay INT8 become EdgertInt8Conv layers
// (runtime/src/ops/int8_conv.h) and INT8 tensors flow between them.
//
//   1. The INT8 set: every Conv that CanLowerToInt8 accepts, is not kept float, and whose input
//      (and residual) has a calibrated scale.
//   2. A tensor written by an INT8 layer stays INT8 (NHWC, requantized in that layer's epilogue with
//      the tensor's own scale) when it is no graph output and every reader is an INT8 layer reading
//      it as X or as the residual; otherwise the layer writes it as float NCHW, as before.
//   3. A float tensor read by INT8 layers gets one EdgertQuantizeNhwc (NCHW float -> NHWC int8 with
//      its scale: QuantizeLinear's rounding), placed just before its first INT8 reader and shared
//      by later ones.
//   4. Weights become int8 KRSC with per-output-channel symmetric scales (amax / 127, as the
//      accuracy gate's FakeQuantizePerChannel), the bias stays float32 (in a tensor of its own).
//   5. Tensors nothing refers to any more (float weights, float outputs that became int8) are
//      dropped; a batch profile's tensors follow (new activations carry their source's batch).
// The rounding of every quantization is QuantizeLinear's, so the lowered network computes what the
// gate's simulated network computes up to the order of float additions.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "edgert/calibration.h"
#include "edgert/fused_activation.h"
#include "int8_util.h"

namespace edgert {
namespace {

using calib::AddTensor;
using calib::IsFloatActivation;

struct ConvGeometry {
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pads[4] = {0, 0, 0, 0};  // top, left, bottom, right
};

// Explicit pads of a 2-D Conv (auto_pad resolved as ONNX defines it); false with `why` when the
// attributes are not those of a plain 2-D convolution or do not give the layer's output shape.
bool ResolveGeometry(const LayerDef& layer, const Shape& x, const Shape& w, const Shape& y, ConvGeometry* g,
                     std::string* why) {
  auto ints = [&](const char* name, std::vector<int64_t> fallback) {
    StatusOr<std::vector<int64_t>> v = layer.attrs.GetIntsOr(name, fallback);
    return v.ok() ? *v : std::vector<int64_t>{};
  };
  const std::vector<int64_t> strides = ints("strides", {1, 1});
  const std::vector<int64_t> dil = ints("dilations", {1, 1});
  std::vector<int64_t> pads = ints("pads", {0, 0, 0, 0});
  if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4) {
    *why = "strides, dilations or pads are not those of a 2-D convolution";
    return false;
  }
  g->stride_h = strides[0];
  g->stride_w = strides[1];
  g->dil_h = dil[0];
  g->dil_w = dil[1];
  StatusOr<std::string> auto_pad = layer.attrs.GetStringOr("auto_pad", "NOTSET");
  if (!auto_pad.ok()) {
    *why = "attribute auto_pad is not a string";
    return false;
  }
  const int64_t in[2] = {x[2], x[3]};
  const int64_t k[2] = {w[2], w[3]};
  const int64_t s[2] = {strides[0], strides[1]};
  const int64_t d[2] = {dil[0], dil[1]};
  if (*auto_pad == "VALID") {
    pads = {0, 0, 0, 0};
  } else if (*auto_pad == "SAME_UPPER" || *auto_pad == "SAME_LOWER") {
    for (int i = 0; i < 2; ++i) {
      const int64_t out = (in[i] + s[i] - 1) / s[i];
      const int64_t total = std::max<int64_t>(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in[i]);
      const int64_t small = total / 2, large = total - small;
      pads[static_cast<size_t>(i)] = *auto_pad == "SAME_UPPER" ? small : large;
      pads[static_cast<size_t>(i) + 2] = *auto_pad == "SAME_UPPER" ? large : small;
    }
  } else if (*auto_pad != "NOTSET") {
    *why = "auto_pad '" + *auto_pad + "'";
    return false;
  }
  for (int i = 0; i < 4; ++i) g->pads[i] = pads[static_cast<size_t>(i)];
  for (int i = 0; i < 2; ++i) {
    const int64_t span =
        in[i] + pads[static_cast<size_t>(i)] + pads[static_cast<size_t>(i) + 2] - ((k[i] - 1) * d[i] + 1);
    if (s[i] < 1 || d[i] < 1 || span < 0 || span / s[i] + 1 != y[static_cast<size_t>(2 + i)]) {
      *why = "the convolution's geometry does not give its output shape";
      return false;
    }
  }
  return true;
}

// W [K, C, R, S] float32 -> int8 [K, R, S, C] and the scale of each output channel: the gate's
// per-channel quantization (calib::QuantizePerChannel, axis 0), permuted to KRSC.
Status QuantizeWeights(const Tensor& w, Tensor* q, Tensor* scales) {
  EDGERT_ASSIGN_OR_RETURN(calib::ChannelQuantized cq, calib::QuantizePerChannel(w, 0));
  const int64_t k = w.dim(0), c = w.dim(1), r = w.dim(2), s = w.dim(3);
  EDGERT_ASSIGN_OR_RETURN(*q, Tensor::Create(DataType::kInt8, {k, r, s, c}));
  *scales = Tensor::FromVector<float>(cq.scale, {k});
  const int8_t* src = cq.q.data<int8_t>();
  int8_t* dst = q->data<int8_t>();
  for (int64_t o = 0; o < k; ++o) {
    for (int64_t ci = 0; ci < c; ++ci) {
      for (int64_t ri = 0; ri < r; ++ri) {
        for (int64_t si = 0; si < s; ++si)
          dst[((o * r + ri) * s + si) * c + ci] = src[((o * c + ci) * r + ri) * s + si];
      }
    }
  }
  return Status::Ok();
}

float CacheScale(const CalibrationCache& cache, const std::string& name) {
  const CalibrationCache::Entry* e = cache.Find(name);
  if (e == nullptr) return 0;
  const float s = e->scale();
  return (s > 0 && std::isfinite(s)) ? s : 0;
}

// A Gemm INT8 runs as a 1x1 EdgertInt8Conv on [N, 1, 1, C]: Y = act(A * op(B) + C) with A [N, C]
// an activation, B a constant (transB either way), transA 0, alpha = beta = 1 and C a constant
// of K (or 1 x K) values or absent.
bool GemmLowerable(const LayerDef& layer, const NetworkDef& network, std::string* reason) {
  if (layer.inputs.size() < 2 || !IsFloatActivation(network, layer.inputs[0])) {
    *reason = "its input is not a float activation";
    return false;
  }
  const TensorDef& a = network.tensors[static_cast<size_t>(layer.inputs[0])];
  const TensorDef& b = network.tensors[static_cast<size_t>(layer.inputs[1])];
  StatusOr<int64_t> trans_a = layer.attrs.GetIntOr("transA", 0);
  StatusOr<int64_t> trans_b = layer.attrs.GetIntOr("transB", 0);
  StatusOr<float> alpha = layer.attrs.GetFloatOr("alpha", 1.0f);
  StatusOr<float> beta = layer.attrs.GetFloatOr("beta", 1.0f);
  if (a.shape.size() != 2 || !b.is_constant() || b.dtype != DataType::kFloat32 || b.shape.size() != 2 ||
      !trans_a.ok() || *trans_a != 0 || !trans_b.ok() || !alpha.ok() || *alpha != 1.0f || !beta.ok() || *beta != 1.0f) {
    *reason = "a Gemm other than A [N, C] x constant B (transA 0, alpha 1, beta 1)";
    return false;
  }
  const int64_t k = *trans_b != 0 ? b.shape[0] : b.shape[1];
  if (a.shape[1] % 16 != 0) {
    *reason = std::to_string(a.shape[1]) + " input channels (INT8 needs a multiple of 16)";
    return false;
  }
  if (layer.inputs.size() > 2 && layer.inputs[2] >= 0) {
    const TensorDef& c = network.tensors[static_cast<size_t>(layer.inputs[2])];
    const bool row = c.shape == Shape{k} || c.shape == Shape{1, k};
    if (!c.is_constant() || c.dtype != DataType::kFloat32 || !row) {
      *reason = "its C is not a constant of one value per output";
      return false;
    }
  }
  return true;
}

// Gemm's B as W [K, C] (row k: the weights of output k).
Tensor GemmWeightsKc(const LayerDef& layer, const TensorDef& b) {
  StatusOr<int64_t> trans_b = layer.attrs.GetIntOr("transB", 0);
  if (trans_b.ok() && *trans_b != 0) return b.value;
  const int64_t c = b.shape[0], k = b.shape[1];
  Tensor w = *Tensor::Create(DataType::kFloat32, {k, c});
  for (int64_t i = 0; i < c; ++i) {
    for (int64_t j = 0; j < k; ++j) w.data<float>()[j * c + i] = b.value.data<float>()[i * k + j];
  }
  return w;
}

}  // namespace

namespace calib {

void DropUnusedTensors(NetworkDef& net) {
  std::vector<bool> used(net.tensors.size(), false);
  for (const LayerDef& l : net.layers) {
    for (int32_t t : l.inputs) {
      if (t >= 0) used[static_cast<size_t>(t)] = true;
    }
    for (int32_t t : l.outputs) used[static_cast<size_t>(t)] = true;
  }
  for (int32_t t : net.inputs) used[static_cast<size_t>(t)] = true;
  for (int32_t t : net.outputs) used[static_cast<size_t>(t)] = true;
  std::vector<int32_t> index(net.tensors.size(), -1);
  std::vector<TensorDef> kept;
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    if (!used[i]) continue;
    index[i] = static_cast<int32_t>(kept.size());
    kept.push_back(std::move(net.tensors[i]));
  }
  net.tensors = std::move(kept);
  auto remap = [&](int32_t& t) {
    if (t >= 0) t = index[static_cast<size_t>(t)];
  };
  for (LayerDef& l : net.layers) {
    for (int32_t& t : l.inputs) remap(t);
    for (int32_t& t : l.outputs) remap(t);
  }
  for (int32_t& t : net.inputs) remap(t);
  for (int32_t& t : net.outputs) remap(t);
  std::vector<int32_t> batch_tensors;
  for (int32_t t : net.profile.batch_tensors) {
    if (index[static_cast<size_t>(t)] >= 0) batch_tensors.push_back(index[static_cast<size_t>(t)]);
  }
  std::sort(batch_tensors.begin(), batch_tensors.end());
  net.profile.batch_tensors = std::move(batch_tensors);
  std::vector<BatchValue> values;
  for (BatchValue v : net.profile.batch_values) {
    if (index[static_cast<size_t>(v.tensor)] < 0) continue;
    v.tensor = index[static_cast<size_t>(v.tensor)];
    values.push_back(v);
  }
  net.profile.batch_values = std::move(values);
}

}  // namespace calib

bool CanLowerToInt8(const LayerDef& layer, const NetworkDef& network, std::string* why) {
  std::string unused;
  std::string& reason = why != nullptr ? *why : unused;
  if (layer.op == OpType::kGemm) return GemmLowerable(layer, network, &reason);
  if (layer.op != OpType::kConv) {
    reason = "no INT8 kernel for " + std::string(OpTypeName(layer.op));
    return false;
  }
  if (layer.inputs.size() < 2 || !IsFloatActivation(network, layer.inputs[0])) {
    reason = "its input is not a float activation";
    return false;
  }
  const TensorDef& x = network.tensors[static_cast<size_t>(layer.inputs[0])];
  const TensorDef& w = network.tensors[static_cast<size_t>(layer.inputs[1])];
  const TensorDef& y = network.tensors[static_cast<size_t>(layer.outputs[0])];
  if (x.shape.size() != 4 || !w.is_constant() || w.dtype != DataType::kFloat32 || w.shape.size() != 4) {
    reason = "not a 2-D convolution with constant float weights";
    return false;
  }
  StatusOr<int64_t> group = layer.attrs.GetIntOr("group", 1);
  if (!group.ok() || *group != 1) {
    reason = "grouped convolution (INT8 needs group 1)";
    return false;
  }
  if (x.shape[1] % 16 != 0) {
    reason = std::to_string(x.shape[1]) + " input channels (INT8 needs a multiple of 16)";
    return false;
  }
  if (layer.inputs.size() > 2 && layer.inputs[2] >= 0 &&
      (!network.tensors[static_cast<size_t>(layer.inputs[2])].is_constant() ||
       network.tensors[static_cast<size_t>(layer.inputs[2])].dtype != DataType::kFloat32)) {
    reason = "its bias is not a float32 constant";
    return false;
  }
  if (layer.inputs.size() > 3 && layer.inputs[3] >= 0 && !IsFloatActivation(network, layer.inputs[3])) {
    reason = "its residual is not a float activation";
    return false;
  }
  if (StatusOr<int64_t> after = layer.attrs.GetIntOr(kResidualAfterActivationAttr, 0); !after.ok() || *after != 0) {
    reason = "its residual is added after the activation (INT8 adds it before)";
    return false;
  }
  ConvGeometry g;
  return ResolveGeometry(layer, x.shape, w.shape, y.shape, &g, &reason);
}

StatusOr<NetworkDef> LowerInt8(const NetworkDef& network, const CalibrationCache& cache,
                               const std::set<std::string>& keep_float, Int8LoweringReport* report) {
  Int8LoweringReport local;
  Int8LoweringReport& rep = report != nullptr ? *report : local;
  rep = Int8LoweringReport();
  const size_t num_tensors = network.tensors.size();
  // Step 1.
  std::vector<bool> int8_layer(network.layers.size(), false);
  for (size_t i = 0; i < network.layers.size(); ++i) {
    const LayerDef& l = network.layers[i];
    if (!IsInt8Candidate(l, network)) continue;
    std::string why;
    if (keep_float.count(l.name)) {
      why = "kept float";
    } else if (CanLowerToInt8(l, network, &why)) {
      for (size_t in : {size_t{0}, size_t{3}}) {
        if (in >= l.inputs.size() || l.inputs[in] < 0) continue;
        const std::string& name = network.tensors[static_cast<size_t>(l.inputs[in])].name;
        if (CacheScale(cache, name) == 0) why = "no calibrated scale for input '" + name + "'";
      }
      if (why.empty()) int8_layer[i] = true;
    }
    if (int8_layer[i]) {
      rep.int8_layers.push_back(l.name);
    } else {
      rep.float_layers[l.name] = why;
    }
  }
  // Step 2: readers of every tensor.
  std::vector<std::vector<std::pair<size_t, size_t>>> readers(num_tensors);  // (layer, input slot)
  for (size_t i = 0; i < network.layers.size(); ++i) {
    for (size_t k = 0; k < network.layers[i].inputs.size(); ++k) {
      const int32_t t = network.layers[i].inputs[k];
      if (t >= 0) readers[static_cast<size_t>(t)].push_back({i, k});
    }
  }
  std::vector<bool> is_output(num_tensors, false);
  for (int32_t t : network.outputs) is_output[static_cast<size_t>(t)] = true;
  auto stays_int8 = [&](int32_t t) {
    if (is_output[static_cast<size_t>(t)] || readers[static_cast<size_t>(t)].empty()) return false;
    if (CacheScale(cache, network.tensors[static_cast<size_t>(t)].name) == 0) return false;
    for (const auto& [layer, slot] : readers[static_cast<size_t>(t)]) {
      if (!int8_layer[layer] || (slot != 0 && slot != 3)) return false;
    }
    return true;
  };

  NetworkDef net = network;
  net.layers.clear();
  // A new activation tensor (NHWC copy, int8 version) carries the batch where its source does.
  const std::set<int32_t> batch_sources(network.profile.batch_tensors.begin(), network.profile.batch_tensors.end());
  auto follows_batch = [&](int32_t source, int32_t added) {
    if (batch_sources.count(source)) net.profile.batch_tensors.push_back(added);
  };
  std::map<int32_t, int32_t> as_int8;     // float tensor -> its int8 NHWC tensor
  std::map<int32_t, int32_t> gemm_input;  // a Gemm's A [N, C] -> its [N, C, 1, 1] view
  // `scale_of`: the tensor whose calibrated scale applies (a Gemm's reshaped input takes its A's).
  auto int8_input = [&](int32_t t, const std::string& scale_of) -> int32_t {
    auto it = as_int8.find(t);
    if (it != as_int8.end()) return it->second;
    // Step 3.
    const TensorDef src = net.tensors[static_cast<size_t>(t)];
    const Shape nhwc{src.shape[0], src.shape[2], src.shape[3], src.shape[1]};
    const int32_t q = AddTensor(net, src.name + "_int8_nhwc", DataType::kInt8, nhwc);
    LayerDef ql;
    ql.name = src.name + "/QuantizeNhwc";
    ql.op = OpType::kQuantizeNhwc;
    ql.opset = 13;
    ql.attrs.Set("scale", CacheScale(cache, scale_of));
    ql.inputs = {t};
    ql.outputs = {q};
    follows_batch(t, q);
    net.layers.push_back(std::move(ql));
    ++rep.conversions;
    as_int8[t] = q;
    return q;
  };
  for (size_t i = 0; i < network.layers.size(); ++i) {
    const LayerDef& l = network.layers[i];
    if (!int8_layer[i]) {
      net.layers.push_back(l);
      continue;
    }
    const TensorDef& x = network.tensors[static_cast<size_t>(l.inputs[0])];
    const TensorDef& w = network.tensors[static_cast<size_t>(l.inputs[1])];
    const TensorDef& y = network.tensors[static_cast<size_t>(l.outputs[0])];
    const bool gemm = l.op == OpType::kGemm;
    ConvGeometry g;
    std::string why;
    if (!gemm && !ResolveGeometry(l, x.shape, w.shape, y.shape, &g, &why)) {
      return Internal("INT8 lowering of " + l.name + ": " + why);
    }
    // A Gemm: a 1x1 convolution of A seen as [N, C, 1, 1] (Reshapes the memory plan elides; 0 in a
    // Reshape target copies the input's dim, so the batch stays free for a profile).
    auto add_reshape = [&](int32_t from, const std::vector<int64_t>& target_dims, int32_t to, const std::string& name) {
      const int64_t rank = static_cast<int64_t>(target_dims.size());
      const int32_t dims =
          AddTensor(net, name + "_shape", DataType::kInt64, {rank}, Tensor::FromVector<int64_t>(target_dims, {rank}));
      LayerDef r;
      r.name = name + "/Reshape";
      r.op = OpType::kReshape;
      r.opset = 14;
      r.inputs = {from, dims};
      r.outputs = {to};
      net.layers.push_back(std::move(r));
    };
    const Tensor w_kcrs = gemm ? *GemmWeightsKc(l, w).Reshaped({y.shape[1], x.shape[1], 1, 1}) : w.value;
    LayerDef q;
    q.name = l.name;
    q.op = OpType::kInt8Conv;
    q.opset = l.opset;
    q.attrs.Set("strides", std::vector<int64_t>{g.stride_h, g.stride_w});
    q.attrs.Set("dilations", std::vector<int64_t>{g.dil_h, g.dil_w});
    q.attrs.Set("pads", std::vector<int64_t>{g.pads[0], g.pads[1], g.pads[2], g.pads[3]});
    q.attrs.Set("x_scale", CacheScale(cache, x.name));
    for (const char* a : {kActivationAttr, kActivationAlphaAttr, kActivationBetaAttr}) {
      auto it = l.attrs.all().find(a);
      if (it != l.attrs.all().end()) q.attrs.Set(a, it->second);
    }
    Tensor wq, ws;
    EDGERT_RETURN_IF_ERROR(QuantizeWeights(w_kcrs, &wq, &ws).WithContext(l.name));
    const Shape wq_shape = wq.shape(), ws_shape = ws.shape();
    const int32_t wq_id = AddTensor(net, w.name + "_int8_krsc", DataType::kInt8, wq_shape, std::move(wq));
    const int32_t ws_id = AddTensor(net, w.name + "_int8_scales", DataType::kFloat32, ws_shape, std::move(ws));
    // The bias gets its own tensor: the engine keeps an INT8 layer's bias float32 on FP16 devices,
    // which must not change the dtype of a constant another layer shares.
    int32_t bias = -1;
    if (l.inputs.size() > 2 && l.inputs[2] >= 0) {
      const TensorDef& b = network.tensors[static_cast<size_t>(l.inputs[2])];
      const TensorDef copy = b;
      const int64_t k = NumElements(copy.shape);  // a Gemm's C may be [1, K]
      bias = AddTensor(net, copy.name + "_int8_bias", copy.dtype, {k}, *copy.value.Reshaped({k}));
    }
    // X: the producer's int8 output (it stays INT8 when every reader is INT8) or a conversion.
    int32_t xq = -1;
    if (as_int8.count(l.inputs[0])) {
      xq = as_int8[l.inputs[0]];
    } else if (gemm) {
      auto it = gemm_input.find(l.inputs[0]);
      if (it == gemm_input.end()) {
        const int32_t x4 = AddTensor(net, x.name + "_nchw", DataType::kFloat32, {x.shape[0], x.shape[1], 1, 1});
        follows_batch(l.inputs[0], x4);
        add_reshape(l.inputs[0], {0, x.shape[1], 1, 1}, x4, x.name + "_nchw");
        it = gemm_input.emplace(l.inputs[0], x4).first;
      }
      xq = int8_input(it->second, x.name);
      as_int8[l.inputs[0]] = xq;
    } else {
      xq = int8_input(l.inputs[0], x.name);
    }
    q.inputs = {xq, wq_id, bias, ws_id};
    if (l.inputs.size() > 3 && l.inputs[3] >= 0) {
      const int32_t z = l.inputs[3];
      q.attrs.Set("z_scale", CacheScale(cache, network.tensors[static_cast<size_t>(z)].name));
      q.inputs.push_back(as_int8.count(z) ? as_int8[z] : int8_input(z, network.tensors[static_cast<size_t>(z)].name));
    }
    const Shape y4 = gemm ? Shape{y.shape[0], y.shape[1], 1, 1} : y.shape;  // NCHW
    if (stays_int8(l.outputs[0])) {
      const Shape nhwc{y4[0], y4[2], y4[3], y4[1]};
      const int32_t out = AddTensor(net, y.name + "_int8_nhwc", DataType::kInt8, nhwc);
      follows_batch(l.outputs[0], out);
      q.attrs.Set("y_scale", CacheScale(cache, y.name));
      q.outputs = {out};
      as_int8[l.outputs[0]] = out;
      ++rep.int8_tensors;
      net.layers.push_back(std::move(q));
    } else if (gemm) {  // float [N, K, 1, 1], reshaped to the Gemm's [N, K]
      const int32_t out4 = AddTensor(net, y.name + "_nchw", DataType::kFloat32, y4);
      follows_batch(l.outputs[0], out4);
      q.outputs = {out4};
      net.layers.push_back(std::move(q));
      add_reshape(out4, {0, y.shape[1]}, l.outputs[0], y.name);
    } else {
      q.outputs = l.outputs;
      net.layers.push_back(std::move(q));
    }
  }
  calib::DropUnusedTensors(net);
  return net;
}

}  // namespace edgert
