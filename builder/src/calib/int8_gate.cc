// Simulated INT8 (SimulateInt8) and the accuracy gate (RunAccuracyGate) of calibration.h.
//
// SimulateInt8 rewrites a NetworkDef; no CPU kernel changes. Only the layers LowerInt8 can make
// INT8 (CanLowerToInt8) are candidates; the others are listed as skipped with the reason. For every
// INT8 layer, in order:
//   1. each activation input (a Conv's residual included) gets one QuantizeLinear ->
//      DequantizeLinear pair (int8, zero point 0,
//      the cache's scale), placed just before the first layer that reads it quantized and shared by
//      later readers;
//   2. a constant weight is replaced by a new constant holding its per-channel fake quantization.
// The gate then measures output errors of such networks against FP32 on the CPU engine.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "edgert/calibration.h"
#include "edgert/cpu_engine.h"
#include "int8_util.h"

namespace edgert {
namespace {

using calib::AddTensor;
using calib::IsFloatActivation;

bool IsFloatConstant(const NetworkDef& net, int32_t t) {
  if (t < 0) return false;
  const TensorDef& def = net.tensors[static_cast<size_t>(t)];
  return def.dtype == DataType::kFloat32 && def.is_constant();
}

// The output-channel axis of a layer's constant weight (input 1).
int64_t WeightChannelAxis(const LayerDef& layer, const TensorDef& weight) {
  const int64_t rank = static_cast<int64_t>(weight.shape.size());
  switch (layer.op) {
    case OpType::kConv:
      return 0;
    case OpType::kGemm: {
      StatusOr<int64_t> trans_b = layer.attrs.GetIntOr("transB", 0);
      return trans_b.ok() && *trans_b != 0 ? 0 : 1;
    }
    default:
      return rank - 1;  // MatMul: [..., K, N]
  }
}

}  // namespace

bool IsInt8Candidate(const LayerDef& layer, const NetworkDef& network) {
  if (layer.op != OpType::kConv && layer.op != OpType::kGemm && layer.op != OpType::kMatMul) return false;
  if (layer.inputs.size() < 2 || !IsFloatActivation(network, layer.inputs[0])) return false;
  return IsFloatActivation(network, layer.inputs[1]) || IsFloatConstant(network, layer.inputs[1]);
}

namespace calib {

StatusOr<ChannelQuantized> QuantizePerChannel(const Tensor& weight, int64_t axis) {
  if (weight.dtype() != DataType::kFloat32) {
    return InvalidArgument(std::string("per-channel quantization needs a float32 weight, not ") +
                           DataTypeName(weight.dtype()));
  }
  const int64_t rank = weight.rank();
  if (axis < 0 || axis >= rank) {
    return InvalidArgument("channel axis " + std::to_string(axis) + " is outside weight shape " +
                           ShapeToString(weight.shape()));
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) outer *= weight.dim(d);
    if (d > axis) inner *= weight.dim(d);
  }
  const int64_t channels = weight.dim(axis);
  ChannelQuantized out;
  out.scale.assign(static_cast<size_t>(channels), 0.f);
  const float* w = weight.data<float>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t i = 0; i < inner; ++i) {
        float& m = out.scale[static_cast<size_t>(c)];
        m = std::max(m, std::fabs(w[(o * channels + c) * inner + i]));
      }
    }
  }
  for (float& s : out.scale) s = s > 0 ? s / 127.0f : 1.0f;  // amax -> scale
  EDGERT_ASSIGN_OR_RETURN(out.q, Tensor::Create(DataType::kInt8, weight.shape()));
  int8_t* q = out.q.data<int8_t>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float scale = out.scale[static_cast<size_t>(c)];
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t k = (o * channels + c) * inner + i;
        q[k] = static_cast<int8_t>(std::min(127.0f, std::max(-128.0f, std::nearbyint(w[k] / scale))));
      }
    }
  }
  return out;
}

}  // namespace calib

StatusOr<Tensor> FakeQuantizePerChannel(const Tensor& weight, int64_t axis) {
  EDGERT_ASSIGN_OR_RETURN(calib::ChannelQuantized cq, calib::QuantizePerChannel(weight, axis));
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < weight.rank(); ++d) inner *= weight.dim(d);
  const int64_t channels = weight.dim(axis);
  Tensor out = weight.Clone();
  float* fq = out.data<float>();
  const int8_t* q = cq.q.data<int8_t>();
  for (int64_t k = 0; k < out.num_elements(); ++k) {
    fq[k] = static_cast<float>(q[k]) * cq.scale[static_cast<size_t>((k / inner) % channels)];
  }
  return out;
}

StatusOr<NetworkDef> SimulateInt8(const NetworkDef& network, const CalibrationCache& cache,
                                  const std::set<std::string>& keep_float, std::vector<std::string>* quantized,
                                  std::map<std::string, std::string>* skipped) {
  NetworkDef net = network;
  net.layers.clear();
  std::map<int32_t, int32_t> dequantized;  // activation tensor -> its Q/DQ output
  if (quantized) quantized->clear();
  for (const LayerDef& original : network.layers) {
    if (!IsInt8Candidate(original, network) || keep_float.count(original.name)) {
      net.layers.push_back(original);
      continue;
    }
    LayerDef layer = original;
    std::string why;
    if (!CanLowerToInt8(layer, network, &why)) {
      if (skipped) (*skipped)[layer.name] = why;
      net.layers.push_back(original);
      continue;
    }
    // Which inputs are activations to quantize, and do they all have scales? (A fused Conv's
    // residual, input 3, is read as INT8 by the INT8 convolution too.)
    std::vector<size_t> act_inputs = {0};
    if (IsFloatActivation(network, layer.inputs[1])) act_inputs.push_back(1);
    if (layer.op == OpType::kConv && layer.inputs.size() > 3 && IsFloatActivation(network, layer.inputs[3])) {
      act_inputs.push_back(3);
    }
    std::string missing;
    for (size_t i : act_inputs) {
      const std::string& name = network.tensors[static_cast<size_t>(layer.inputs[i])].name;
      if (cache.Find(name) == nullptr) missing = name;
    }
    if (!missing.empty()) {
      if (skipped) (*skipped)[layer.name] = "no calibrated scale for input '" + missing + "'";
      net.layers.push_back(original);
      continue;
    }
    // Step 1.
    for (size_t i : act_inputs) {
      const int32_t t = layer.inputs[i];
      auto it = dequantized.find(t);
      if (it == dequantized.end()) {
        const TensorDef src = network.tensors[static_cast<size_t>(t)];
        const float scale = cache.Find(src.name)->scale();
        if (!(scale > 0) || !std::isfinite(scale)) {
          return InvalidArgument("calibration scale of tensor '" + src.name + "' is not a positive number", src.name);
        }
        const int32_t s =
            AddTensor(net, src.name + "_int8_scale", DataType::kFloat32, {}, Tensor::Scalar<float>(scale));
        const int32_t z = AddTensor(net, src.name + "_int8_zero_point", DataType::kInt8, {}, Tensor::Scalar<int8_t>(0));
        const int32_t q = AddTensor(net, src.name + "_int8", DataType::kInt8, src.shape);
        const int32_t dq = AddTensor(net, src.name + "_int8_dequantized", DataType::kFloat32, src.shape);
        LayerDef ql;
        ql.name = src.name + "/QuantizeLinear";
        ql.op = OpType::kQuantizeLinear;
        ql.opset = 13;
        ql.inputs = {t, s, z};
        ql.outputs = {q};
        LayerDef dql;
        dql.name = src.name + "/DequantizeLinear";
        dql.op = OpType::kDequantizeLinear;
        dql.opset = 13;
        dql.inputs = {q, s, z};
        dql.outputs = {dq};
        net.layers.push_back(std::move(ql));
        net.layers.push_back(std::move(dql));
        it = dequantized.emplace(t, dq).first;
      }
      layer.inputs[i] = it->second;
    }
    // Step 2.
    if (IsFloatConstant(network, layer.inputs[1])) {
      const TensorDef& w = network.tensors[static_cast<size_t>(layer.inputs[1])];
      EDGERT_ASSIGN_OR_RETURN(Tensor fq, FakeQuantizePerChannel(w.value, WeightChannelAxis(layer, w)));
      layer.inputs[1] = AddTensor(net, w.name + "_int8_per_channel", DataType::kFloat32, w.shape, std::move(fq));
    }
    if (quantized) quantized->push_back(layer.name);
    net.layers.push_back(std::move(layer));
  }
  return net;
}

double RelativeL2(const std::vector<Tensor>& outputs, const std::vector<Tensor>& reference) {
  double num = 0, den = 0;
  for (size_t k = 0; k < outputs.size() && k < reference.size(); ++k) {
    const Tensor& a = outputs[k];
    const Tensor& b = reference[k];
    if (a.dtype() != DataType::kFloat32 || b.dtype() != DataType::kFloat32) continue;
    const int64_t n = std::min(a.num_elements(), b.num_elements());
    for (int64_t i = 0; i < n; ++i) {
      const double x = a.data<float>()[i], y = b.data<float>()[i];
      if (!std::isfinite(x)) return std::numeric_limits<double>::infinity();
      num += (x - y) * (x - y);
      den += y * y;
    }
  }
  if (den == 0) return num == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(num / den);
}

namespace {

// The outputs of `network` on every batch, concatenated in batch order.
StatusOr<std::vector<Tensor>> RunAll(const NetworkDef& network, CalibrationData& data,
                                     const std::vector<int>& batches) {
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CpuEngine> engine, CpuEngine::Create(network));
  std::vector<Tensor> all;
  for (int b : batches) {
    EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> inputs, data.Batch(b));
    std::vector<Tensor> outputs;
    EDGERT_RETURN_IF_ERROR(engine->Run(inputs, &outputs));
    for (Tensor& t : outputs) all.push_back(std::move(t));
  }
  return all;
}

std::string Fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

}  // namespace

StatusOr<GateReport> RunAccuracyGate(const NetworkDef& network, const CalibrationCache& cache, CalibrationData& data,
                                     const std::vector<int>& eval_batches, const GateOptions& options) {
  if (eval_batches.empty()) return InvalidArgument("the accuracy gate needs at least one batch");
  GateReport report;
  report.budget = options.error_budget;
  report.eval_batches = static_cast<int>(eval_batches.size());
  EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> reference, RunAll(network, data, eval_batches));

  // Candidates and the ones that cannot be quantized at all.
  std::set<std::string> none;
  std::vector<std::string> quantizable;
  std::map<std::string, std::string> skipped;
  EDGERT_RETURN_IF_ERROR(SimulateInt8(network, cache, none, &quantizable, &skipped).status());
  std::set<std::string> all_candidates;
  for (const LayerDef& l : network.layers) {
    if (IsInt8Candidate(l, network)) all_candidates.insert(l.name);
  }
  // All in INT8 first: a network within the budget needs no per-layer measurement.
  std::set<std::string> keep_float;
  std::map<std::string, std::string> reasons;
  for (const auto& [name, why] : skipped) {
    keep_float.insert(name);
    reasons[name] = why;
  }
  std::map<std::string, double> alone;
  auto measure_sensitivity = [&]() -> Status {
    // Sensitivity: each quantizable layer alone in INT8.
    for (const std::string& name : quantizable) {
      std::set<std::string> keep = all_candidates;
      keep.erase(name);
      EDGERT_ASSIGN_OR_RETURN(NetworkDef one, SimulateInt8(network, cache, keep, nullptr));
      EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> out, RunAll(one, data, eval_batches));
      alone[name] = RelativeL2(out, reference);
    }
    return Status::Ok();
  };
  double error = 0;
  bool first = true;
  while (true) {
    EDGERT_ASSIGN_OR_RETURN(NetworkDef sim, SimulateInt8(network, cache, keep_float, nullptr));
    EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> out, RunAll(sim, data, eval_batches));
    error = RelativeL2(out, reference);
    if (first) report.error_all_int8 = error;
    first = false;
    if (error <= options.error_budget) break;
    if (alone.empty()) EDGERT_RETURN_IF_ERROR(measure_sensitivity());
    std::string worst;
    double worst_error = -1;
    for (const std::string& name : quantizable) {
      if (keep_float.count(name)) continue;
      if (alone[name] > worst_error) {
        worst_error = alone[name];
        worst = name;
      }
    }
    if (worst.empty()) break;  // everything is float and the error is still above (it is 0 then)
    keep_float.insert(worst);
    reasons[worst] = "most sensitive INT8 layer left (error alone " + Fmt(worst_error) + ") while the network error " +
                     Fmt(error) + " exceeded the budget " + Fmt(options.error_budget);
  }
  report.error_final = error;
  report.within_budget = error <= options.error_budget;
  report.float_layers = keep_float;
  for (const LayerDef& l : network.layers) {
    if (!all_candidates.count(l.name)) continue;
    GateLayer g;
    g.name = l.name;
    g.op = std::string(OpTypeName(l.op));
    g.int8 = keep_float.count(l.name) == 0;
    auto a = alone.find(l.name);
    if (a != alone.end()) g.error_alone = a->second;
    if (!g.int8) g.reason = reasons[l.name];
    report.layers.push_back(std::move(g));
  }
  return report;
}

}  // namespace edgert
