// Pad folded into the window of the Conv / AveragePool / MaxPool that reads it.
//  1. Match a live Pad in constant mode whose pads are build-time, non-negative and zero on the
//     batch and channel axes, on a rank 3-5 input; its value is 0 (or -inf, for MaxPool).
//  2. For each consumer reading the Pad's output as input 0 (Conv; AveragePool without ceil_mode
//     whose own padding is already counted or absent; MaxPool with one output, dilation 1, no
//     ceil_mode, pads within the kernel so no window is padding only) with auto_pad NOTSET or
//     VALID: pads' = pads + the Pad's spatial pads, input 0 = the Pad's input. AveragePool gets
//     count_include_pad=1, since the padded zeros were real elements of the padded input.
//  3. The Pad disappears with dead-node elimination once no consumer is left.
#include <cmath>
#include <limits>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {
namespace {

// Spatial begin/end pads of a foldable Pad node and its fill value; false when it does not qualify.
bool PadParams(const Graph& graph, const Node& pad, std::vector<int64_t>* begin, std::vector<int64_t>* end,
               double* value) {
  if (pad.folded || pad.inputs.empty() || pad.inputs[0] < 0 || pad.outputs.size() != 1) return false;
  const Value& x = graph.values[static_cast<size_t>(pad.inputs[0])];
  if (x.dtype != DataType::kFloat32 || x.shape.size() < 3 || x.shape.size() > 5) return false;
  StatusOr<std::string> mode = pad.attrs.GetStringOr("mode", "constant");
  if (!mode.ok() || *mode != "constant") return false;
  std::vector<int64_t> pads;
  if (pad.inputs.size() > 1 && pad.inputs[1] >= 0) {
    const Tensor& t = graph.values[static_cast<size_t>(pad.inputs[1])].constant;
    if (!t.defined()) return false;
    StatusOr<std::vector<int64_t>> v = t.ToInt64Vector();
    if (!v.ok()) return false;
    pads = *v;
  } else {
    StatusOr<std::vector<int64_t>> v = pad.attrs.GetIntsOr(pad.attrs.Has("paddings") ? "paddings" : "pads", {});
    if (!v.ok()) return false;
    pads = *v;
  }
  if (pad.inputs.size() > 3 && pad.inputs[3] >= 0) return false;  // axes: rare, not folded
  const size_t rank = x.shape.size();
  if (pads.size() != 2 * rank) return false;
  for (int64_t p : pads) {
    if (p < 0) return false;
  }
  if (pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank + 1] != 0) return false;
  begin->assign(pads.begin() + 2, pads.begin() + static_cast<int64_t>(rank));
  end->assign(pads.begin() + static_cast<int64_t>(rank) + 2, pads.end());
  *value = 0.0;
  if (pad.inputs.size() > 2 && pad.inputs[2] >= 0) {
    const Tensor& t = graph.values[static_cast<size_t>(pad.inputs[2])].constant;
    if (!t.defined() || t.num_elements() != 1) return false;
    *value = t.GetAsDouble(0);
  } else {
    StatusOr<float> v = pad.attrs.GetFloatOr("value", 0.0f);
    if (!v.ok()) return false;
    *value = *v;
  }
  return true;
}

// Folds the pads into `layer`'s window when its operator and attributes allow it.
bool FoldInto(Node& layer, const std::vector<int64_t>& begin, const std::vector<int64_t>& end, double value) {
  const size_t nd = begin.size();
  StatusOr<std::string> auto_pad = layer.attrs.GetStringOr("auto_pad", "NOTSET");
  if (!auto_pad.ok() || (*auto_pad != "NOTSET" && *auto_pad != "VALID")) return false;
  std::vector<int64_t> pads(2 * nd, 0);
  if (*auto_pad == "NOTSET") {
    StatusOr<std::vector<int64_t>> p = layer.attrs.GetIntsOr("pads", pads);
    if (!p.ok() || p->size() != 2 * nd) return false;
    pads = *p;
  }
  StatusOr<int64_t> ceil_mode = layer.attrs.GetIntOr("ceil_mode", 0);
  if (!ceil_mode.ok()) return false;
  bool own_pads = false;
  for (int64_t p : pads) own_pads = own_pads || p != 0;
  switch (layer.op) {
    case OpType::kConv:
      if (value != 0.0 || layer.inputs.size() > 3) return false;
      break;
    case OpType::kAveragePool: {
      StatusOr<int64_t> cip = layer.attrs.GetIntOr("count_include_pad", 0);
      if (value != 0.0 || *ceil_mode != 0 || !cip.ok() || (*cip == 0 && own_pads)) return false;
      layer.attrs.Set("count_include_pad", int64_t{1});
      break;
    }
    case OpType::kMaxPool: {
      StatusOr<std::vector<int64_t>> kernel = layer.attrs.GetIntsOr("kernel_shape", {});
      StatusOr<std::vector<int64_t>> dilations = layer.attrs.GetIntsOr("dilations", std::vector<int64_t>(nd, 1));
      if (!(std::isinf(value) && value < 0) || *ceil_mode != 0 || layer.outputs.size() != 1 || !kernel.ok() ||
          kernel->size() != nd || !dilations.ok()) {
        return false;
      }
      for (size_t d = 0; d < nd; ++d) {
        if ((*dilations)[d] != 1 || pads[d] + begin[d] >= (*kernel)[d] || pads[nd + d] + end[d] >= (*kernel)[d]) {
          return false;
        }
      }
      break;
    }
    default:
      return false;
  }
  for (size_t d = 0; d < nd; ++d) {
    pads[d] += begin[d];
    pads[nd + d] += end[d];
  }
  layer.attrs.Set("pads", pads);
  layer.attrs.Erase("auto_pad");
  return true;
}

}  // namespace

StatusOr<int> FoldPad(Graph& graph) {
  int rewrites = 0;
  std::vector<std::vector<int>> users = ConsumerMap(graph);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& pad = graph.nodes[i];
    std::vector<int64_t> begin, end;
    double value = 0.0;
    if (pad.op != OpType::kPad || !PadParams(graph, pad, &begin, &end, &value)) continue;
    const int x = pad.inputs[0];
    const int y = pad.outputs[0];
    for (int u : users[static_cast<size_t>(y)]) {
      Node& layer = graph.nodes[static_cast<size_t>(u)];
      if (layer.folded || layer.inputs.empty() || layer.inputs[0] != y) continue;
      bool other_slot = false;
      for (size_t k = 1; k < layer.inputs.size(); ++k) other_slot = other_slot || layer.inputs[k] == y;
      if (other_slot || !FoldInto(layer, begin, end, value)) continue;
      layer.inputs[0] = x;
      ++rewrites;
    }
  }
  return rewrites;
}

}  // namespace edgert
