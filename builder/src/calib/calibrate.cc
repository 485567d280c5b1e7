// Calibrate() (calibration.h): activation ranges from calibration batches on the CPU reference.
//
//   1. Probe network: the FP32 network with every float32 layer output added to its outputs, so
//      one CPU engine run returns every activation (graph inputs are read from the batch).
//   2. Pass 1, every batch: max |x| per tensor (NaN and Inf are errors naming the tensor).
//   3. MinMax: amax = max |x|. Otherwise pass 2, every batch again: a histogram of |x| with `bins`
//      bins over [0, max |x|] per tensor (the last bin is closed), then the percentile or entropy
//      threshold of thresholds.cc.
#include <algorithm>
#include <cmath>

#include "edgert/calibration.h"
#include "edgert/cpu_engine.h"

namespace edgert {
namespace {

struct Probe {
  std::unique_ptr<CpuEngine> engine;
  std::vector<int32_t> tensors;  // calibrated tensors: graph inputs, then float layer outputs
  std::vector<int> source;       // per calibrated tensor: input index (< n_inputs) or n_inputs + output index
  size_t n_inputs = 0;
};

StatusOr<Probe> MakeProbe(const NetworkDef& network) {
  Probe probe;
  NetworkDef net = network;
  probe.n_inputs = net.inputs.size();
  for (size_t i = 0; i < net.inputs.size(); ++i) {
    const int32_t t = net.inputs[i];
    if (net.tensors[static_cast<size_t>(t)].dtype != DataType::kFloat32) continue;
    probe.tensors.push_back(t);
    probe.source.push_back(static_cast<int>(i));
  }
  for (const LayerDef& layer : network.layers) {
    for (int32_t t : layer.outputs) {
      if (t < 0 || net.tensors[static_cast<size_t>(t)].dtype != DataType::kFloat32) continue;
      auto it = std::find(net.outputs.begin(), net.outputs.end(), t);
      size_t out_index = static_cast<size_t>(it - net.outputs.begin());
      if (it == net.outputs.end()) net.outputs.push_back(t);
      probe.tensors.push_back(t);
      probe.source.push_back(static_cast<int>(probe.n_inputs + out_index));
    }
  }
  EDGERT_ASSIGN_OR_RETURN(probe.engine, CpuEngine::Create(std::move(net)));
  return probe;
}

// Runs batch `b` and returns, per calibrated tensor, its values.
StatusOr<std::vector<Tensor>> RunProbe(Probe& probe, CalibrationData& data, int b) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> inputs, data.Batch(b));
  std::vector<Tensor> outputs;
  EDGERT_RETURN_IF_ERROR(probe.engine->Run(inputs, &outputs));
  std::vector<Tensor> values;
  values.reserve(probe.tensors.size());
  for (int s : probe.source) {
    values.push_back(static_cast<size_t>(s) < probe.n_inputs ? inputs[static_cast<size_t>(s)]
                                                             : outputs[static_cast<size_t>(s) - probe.n_inputs]);
  }
  return values;
}

}  // namespace

StatusOr<std::vector<TensorRange>> Calibrate(const NetworkDef& network, CalibrationData& data,
                                             const std::vector<int>& batches, const CalibrationOptions& options) {
  if (batches.empty()) return InvalidArgument("calibration needs at least one batch");
  if (options.bins < kQuantizedLevels) {
    return InvalidArgument("calibration histograms need at least " + std::to_string(kQuantizedLevels) + " bins");
  }
  if (!(options.percentile > 0 && options.percentile <= 100)) {
    return InvalidArgument("percentile " + std::to_string(options.percentile) + " is outside (0, 100]");
  }
  EDGERT_ASSIGN_OR_RETURN(Probe probe, MakeProbe(network));
  const size_t n = probe.tensors.size();
  std::vector<double> max_abs(n, 0.0);
  for (int b : batches) {
    EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> values, RunProbe(probe, data, b));
    for (size_t k = 0; k < n; ++k) {
      const float* v = values[k].data<float>();
      const int64_t count = values[k].num_elements();
      double m = max_abs[k];
      for (int64_t i = 0; i < count; ++i) {
        const double a = std::fabs(static_cast<double>(v[i]));
        if (!std::isfinite(a)) {
          return InvalidArgument("tensor '" + network.tensors[static_cast<size_t>(probe.tensors[k])].name +
                                     "' holds NaN or Inf on calibration batch " + std::to_string(b),
                                 network.tensors[static_cast<size_t>(probe.tensors[k])].name);
        }
        m = std::max(m, a);
      }
      max_abs[k] = m;
    }
  }
  std::vector<TensorRange> ranges(n);
  for (size_t k = 0; k < n; ++k) {
    ranges[k].name = network.tensors[static_cast<size_t>(probe.tensors[k])].name;
    ranges[k].amax = static_cast<float>(max_abs[k]);
  }
  if (options.calibrator == CalibratorKind::kMinMax) return ranges;

  std::vector<AbsHistogram> hists(n);
  for (size_t k = 0; k < n; ++k) {
    hists[k].bin_width = max_abs[k] / options.bins;
    hists[k].counts.assign(static_cast<size_t>(options.bins), 0.0);
  }
  for (int b : batches) {
    EDGERT_ASSIGN_OR_RETURN(std::vector<Tensor> values, RunProbe(probe, data, b));
    for (size_t k = 0; k < n; ++k) {
      if (max_abs[k] == 0) continue;
      const float* v = values[k].data<float>();
      const int64_t count = values[k].num_elements();
      const double inv = 1.0 / hists[k].bin_width;
      std::vector<double>& c = hists[k].counts;
      for (int64_t i = 0; i < count; ++i) {
        int64_t bin = static_cast<int64_t>(std::fabs(static_cast<double>(v[i])) * inv);
        c[static_cast<size_t>(std::min<int64_t>(bin, options.bins - 1))] += 1;
      }
    }
  }
  for (size_t k = 0; k < n; ++k) {
    if (max_abs[k] == 0) continue;
    const double t = options.calibrator == CalibratorKind::kPercentile
                         ? PercentileThreshold(hists[k], options.percentile)
                         : EntropyThreshold(hists[k]);
    ranges[k].amax = static_cast<float>(std::min(t, max_abs[k]));
  }
  return ranges;
}

}  // namespace edgert
