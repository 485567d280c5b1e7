// The builder's entry points: import -> infer (binding shapes and shape-input values) -> lower.
// Import errors already name the model file; later errors get it prefixed here.
#include "edgert/builder.h"

#include <algorithm>
#include <limits>
#include <memory>

#include "calib/qdq_fold.h"
#include "ir/infer.h"
#include "onnx/onnx_importer.h"
#include "passes/pass_util.h"
#include "passes/passes.h"
#include "profile_derive.h"

namespace edgert {
namespace {

InferOptions ToInferOptions(const BuildOptions& options) {
  InferOptions infer;
  infer.input_shapes = options.shapes;
  infer.input_values = options.input_values;
  return infer;
}

std::string InputNames(const Graph& graph) {
  std::string names;
  for (int id : graph.inputs) names += (names.empty() ? "" : ", ") + graph.values[id].name;
  return names.empty() ? "none" : names;
}

// An operator needs the value of a parameter input at build time (ConstInput's message).
bool NeedsBuildTimeValue(const Status& s) {
  return s.code() == StatusCode::kUnsupported && s.message().find("must be known at build time") != std::string::npos;
}

// The last step of every build: the optimization passes (when asked for) on the inferred graph,
// then lowering. Errors get the model file as context.
StatusOr<NetworkDef> OptimizeAndLower(Graph& graph, const std::string& onnx_path, bool optimize, int model_nodes,
                                      BuildReport* report, const std::vector<std::string>& disabled_passes = {},
                                      const std::vector<std::string>& enabled_passes = {}) {
  BuildReport local;
  BuildReport& r = report ? *report : local;
  r = BuildReport();
  r.model_nodes = model_nodes;
  r.layers_unoptimized = CountLiveNodes(graph);
  if (optimize) {
    StatusOr<OptimizeReport> opt = OptimizeGraph(graph, disabled_passes, enabled_passes);
    if (!opt.ok()) return opt.status().WithContext(onnx_path);
    for (const PassCount& p : opt->passes) r.passes.push_back({p.name, p.rewrites});
  }
  r.layers = CountLiveNodes(graph);
  StatusOr<NetworkDef> net = LowerGraph(graph);
  if (!net.ok()) return net.status().WithContext(onnx_path);
  // Explicit quantization: Q/DQ pairs around Convs become INT8 layers (calib/qdq_fold.h).
  if (optimize && HasQdqLayers(*net)) {
    QdqFoldReport fold;
    StatusOr<NetworkDef> folded = FoldExplicitQuantization(*net, &fold);
    if (!folded.ok()) return folded.status().WithContext(onnx_path);
    r.passes.push_back({"explicit-quantization", static_cast<int>(fold.folded_convs.size())});
    r.layers += static_cast<int>(folded->layers.size()) - static_cast<int>(net->layers.size());
    return folded;
  }
  return net;
}

bool HasProfile(const BuildOptions& options) {
  return !options.min_shapes.empty() || !options.opt_shapes.empty() || !options.max_shapes.empty();
}

// The batch range of a profile: every input in all three maps, shapes equal but for dim 0, one
// (min, opt, max) shared by all inputs. Errors name the option and the input.
Status CheckProfileShapes(const BuildOptions& options, int64_t* min, int64_t* opt, int64_t* max) {
  const std::map<std::string, Shape>* maps[3] = {&options.min_shapes, &options.opt_shapes, &options.max_shapes};
  const char* flags[3] = {"--min-shapes", "--opt-shapes", "--max-shapes"};
  for (int a = 0; a < 3; ++a) {
    if (maps[a]->empty()) {
      return InvalidArgument(
          std::string("a batch profile needs --min-shapes, --opt-shapes and --max-shapes; ") + flags[a] + " is missing",
          flags[a]);
    }
  }
  for (int a = 0; a < 3; ++a) {
    for (const auto& [name, shape] : *maps[a]) {
      for (int b = 0; b < 3; ++b) {
        if (maps[b]->count(name) == 0) {
          return InvalidArgument(std::string(flags[a]) + " gives input '" + name + "' but " + flags[b] + " does not",
                                 name);
        }
      }
      if (options.shapes.count(name) != 0) {
        return InvalidArgument("input '" + name + "' has both --shapes and a batch range", name);
      }
    }
  }
  bool first = true;
  std::string first_name;
  for (const auto& [name, max_shape] : options.max_shapes) {
    const Shape& lo = options.min_shapes.at(name);
    const Shape& mid = options.opt_shapes.at(name);
    bool same = !max_shape.empty() && lo.size() == max_shape.size() && mid.size() == max_shape.size();
    for (size_t d = 1; same && d < max_shape.size(); ++d) same = lo[d] == max_shape[d] && mid[d] == max_shape[d];
    if (!same) {
      return InvalidArgument("input '" + name + "': min " + ShapeToString(lo) + ", opt " + ShapeToString(mid) +
                                 " and max " + ShapeToString(max_shape) +
                                 " must differ only in dim 0 (edgert's profiles cover the batch dimension)",
                             name);
    }
    if (lo[0] < 1 || lo[0] > mid[0] || mid[0] > max_shape[0]) {
      return InvalidArgument("input '" + name + "': the batch must satisfy 1 <= min <= opt <= max (got " +
                                 std::to_string(lo[0]) + ", " + std::to_string(mid[0]) + ", " +
                                 std::to_string(max_shape[0]) + ")",
                             name);
    }
    if (first) {
      *min = lo[0];
      *opt = mid[0];
      *max = max_shape[0];
      first_name = name;
      first = false;
    } else if (lo[0] != *min || mid[0] != *opt || max_shape[0] != *max) {
      return InvalidArgument(
          "inputs '" + first_name + "' and '" + name + "' have different batch ranges; one profile has one batch",
          name);
    }
  }
  return Status::Ok();
}

// BuildNetwork with a batch profile: one build per batch in {min, opt, max} (and a midpoint when
// fewer than three are distinct and there is room), then DeriveBatchProfile. `report` gets the
// max build's counts.
StatusOr<NetworkDef> BuildProfileNetwork(const std::string& onnx_path, const BuildOptions& options,
                                         BuildReport* report) {
  int64_t min = 0, opt = 0, max = 0;
  EDGERT_RETURN_IF_ERROR(CheckProfileShapes(options, &min, &opt, &max));
  std::vector<int64_t> batches = {min, opt, max};
  std::sort(batches.begin(), batches.end());
  batches.erase(std::unique(batches.begin(), batches.end()), batches.end());
  if (batches.size() == 1) {  // min == opt == max: fixed shapes
    BuildOptions fixed = options;
    fixed.shapes.insert(options.max_shapes.begin(), options.max_shapes.end());
    fixed.min_shapes.clear();
    fixed.opt_shapes.clear();
    fixed.max_shapes.clear();
    return BuildNetwork(onnx_path, fixed, report);
  }
  if (batches.size() == 2 && max - min >= 2) batches.push_back(min + (max - min) / 2);
  std::vector<NetworkDef> nets;
  for (int64_t batch : batches) {
    BuildOptions at = options;
    at.min_shapes.clear();
    at.opt_shapes.clear();
    at.max_shapes.clear();
    for (const auto& [name, shape] : options.max_shapes) {
      Shape s = shape;
      s[0] = batch;
      at.shapes[name] = s;
    }
    StatusOr<NetworkDef> net = BuildNetwork(onnx_path, at, batch == max ? report : nullptr);
    if (!net.ok()) return net.status().WithContext("at batch " + std::to_string(batch));
    nets.push_back(std::move(*net));
  }
  StatusOr<NetworkDef> out = DeriveBatchProfile(std::move(nets), batches, min, opt, max);
  if (!out.ok()) return out.status().WithContext(onnx_path);
  return out;
}

// INT8: calibrate (or reuse the cache) and gate on the float network, then lower.
StatusOr<NetworkDef> BuildInt8(NetworkDef net, const std::string& onnx_path, const BuildOptions::Int8& o,
                               BuildReport& r) {
  std::unique_ptr<CalibrationData> data;
  if (!o.calib_dir.empty()) {
    StatusOr<std::unique_ptr<CalibrationData>> opened = OpenCalibrationData(o.calib_dir, net);
    if (!opened.ok()) return opened.status().WithContext(onnx_path);
    data = std::move(*opened);
  }
  StatusOr<Int8Decision> decision = DecideInt8(net, data.get(), o.settings, o.cache_path, data == nullptr,
                                               [&r](const std::string& line) { r.int8_log.push_back(line); });
  if (!decision.ok()) return decision.status().WithContext(onnx_path);
  StatusOr<NetworkDef> lowered = LowerInt8(net, decision->cache, decision->float_layers, &r.int8);
  if (!lowered.ok()) return lowered.status().WithContext(onnx_path);
  r.int8_built = true;
  return lowered;
}

}  // namespace

std::vector<std::string> Int8BuildLines(const BuildReport& report) {
  if (!report.int8_built) return {};
  std::vector<std::string> lines = report.int8_log;
  lines.push_back("int8: " + std::to_string(report.int8.int8_layers.size()) + " layers INT8, " +
                  std::to_string(report.int8.float_layers.size()) + " candidate layers float, " +
                  std::to_string(report.int8.int8_tensors) + " tensors flow as int8");
  return lines;
}

bool SupportReport::AllSupported() const {
  for (const SupportEntry& e : nodes) {
    if (!e.status.ok()) return false;
  }
  return true;
}

StatusOr<NetworkDef> BuildNetwork(const std::string& onnx_path, const BuildOptions& options, BuildReport* report) {
  // The float NCHW network first (a profile's per-batch builds included), then INT8, then the
  // layout, each once on the whole network.
  BuildOptions float_options = options;
  // INT8 convolutions add a residual before the activation only (FuseActivationResidual).
  if (options.int8.enabled) float_options.disabled_passes.push_back("activation-residual");
  float_options.int8 = BuildOptions::Int8();
  float_options.layout = BuildOptions::Layout::kNchw;
  StatusOr<NetworkDef> net = [&]() -> StatusOr<NetworkDef> {
    if (HasProfile(options)) return BuildProfileNetwork(onnx_path, float_options, report);
    EDGERT_ASSIGN_OR_RETURN(Graph graph, ImportOnnxFile(onnx_path));
    const int model_nodes = static_cast<int>(graph.nodes.size());
    Status s = InferGraph(graph, ToInferOptions(options));
    if (!s.ok()) return s.WithContext(onnx_path);
    return OptimizeAndLower(graph, onnx_path, options.optimize, model_nodes, report, float_options.disabled_passes,
                            float_options.enabled_passes);
  }();
  if (!net.ok()) return net;
  BuildReport local;
  BuildReport& r = report ? *report : local;
  if (options.int8.enabled) {
    StatusOr<NetworkDef> lowered = BuildInt8(std::move(*net), onnx_path, options.int8, r);
    if (!lowered.ok()) return lowered.status();
    net = std::move(lowered);
  }
  r.layout = ResolveLayout(options);
  if (r.layout == BuildOptions::Layout::kNhwc) {
    StatusOr<NetworkDef> nhwc = LowerNhwc(*net, &r.nhwc);
    if (!nhwc.ok()) return nhwc.status().WithContext(onnx_path);
    net = std::move(nhwc);
  }
  Status formats = ApplyIoFormats(*net, options.input_formats, options.output_formats);
  if (!formats.ok()) return formats.WithContext(onnx_path);
  return net;
}

Status ApplyIoFormats(NetworkDef& net, const std::vector<IoFormat>& input_formats,
                      const std::vector<IoFormat>& output_formats) {
  auto apply = [&](const std::vector<int32_t>& tensors, const std::vector<IoFormat>& formats, const char* what,
                   const char* flag) -> Status {
    if (formats.empty()) return Status::Ok();
    if (formats.size() != 1 && formats.size() != tensors.size()) {
      return InvalidArgument(std::string(flag) + " lists " + std::to_string(formats.size()) +
                                 " formats; the network has " + std::to_string(tensors.size()) + " " + what +
                                 "s (give one for all, or one per " + what + ")",
                             flag);
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      TensorDef& def = net.tensors[static_cast<size_t>(tensors[i])];
      const IoFormat& f = formats.size() == 1 ? formats[0] : formats[i];
      const bool is_float = def.dtype == DataType::kFloat32 || def.dtype == DataType::kFloat16;
      if (!is_float) {
        if (formats.size() == 1 || f.is_default()) continue;  // one format for all: the float tensors
        return InvalidArgument(std::string(what) + " '" + def.name + "' is " + DataTypeName(def.dtype) + "; " + flag +
                                   " " + IoFormatName(f) + " applies to float tensors only",
                               def.name);
      }
      if (f.channels_last && def.shape.size() < 3) {
        return InvalidArgument(std::string(what) + " '" + def.name + "' has shape " + ShapeToString(def.shape) + "; " +
                                   flag + " " + IoFormatName(f) + " (channels-last) needs rank >= 3",
                               def.name);
      }
      def.binding = f;
      if (def.binding.dtype == def.dtype) def.binding.dtype = DataType::kUndefined;  // the tensor's own
    }
    return Status::Ok();
  };
  EDGERT_RETURN_IF_ERROR(apply(net.inputs, input_formats, "input", "--input-format"));
  return apply(net.outputs, output_formats, "output", "--output-format");
}

StatusOr<std::vector<IoFormat>> ParseIoFormatList(const std::string& text, const std::string& flag) {
  std::vector<IoFormat> formats;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(',', start);
    const std::string item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    StatusOr<IoFormat> f = ParseIoFormat(item);
    if (!f.ok()) return InvalidArgument(flag + ": " + f.status().message(), flag);
    formats.push_back(*f);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return formats;
}

StatusOr<SupportReport> CheckModel(const std::string& onnx_path, const BuildOptions& options) {
  EDGERT_ASSIGN_OR_RETURN(Graph graph, ImportOnnxFile(onnx_path));
  std::vector<NodeReport> nodes;
  Status s = InferGraph(graph, ToInferOptions(options), &nodes);
  // Without one entry per node, inference stopped before the nodes: the inputs could not be bound
  // or the graph could not be ordered.
  if (!s.ok() && nodes.size() != graph.nodes.size()) return s.WithContext(onnx_path);
  SupportReport report;
  for (const NodeReport& r : nodes) {
    const Node& node = graph.nodes[static_cast<size_t>(r.node)];
    report.nodes.push_back({node.name, node.op_type, r.status});
  }
  // Every node passed but the graph is still wrong (an output nothing computes).
  if (!s.ok() && report.AllSupported()) return s.WithContext(onnx_path);
  return report;
}

StatusOr<NetworkDef> BuildNetworkForInputs(const std::string& onnx_path, const std::vector<Tensor>& inputs,
                                           std::vector<std::string>* bound, BuildReport* report, bool optimize) {
  if (bound) bound->clear();
  EDGERT_ASSIGN_OR_RETURN(Graph graph, ImportOnnxFile(onnx_path));
  const int model_nodes = static_cast<int>(graph.nodes.size());
  if (inputs.size() != graph.inputs.size()) {
    return InvalidArgument(onnx_path + ": the model has " + std::to_string(graph.inputs.size()) + " inputs (" +
                               InputNames(graph) + ") but " + std::to_string(inputs.size()) + " tensors were given",
                           onnx_path);
  }
  InferOptions options;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = graph.values[static_cast<size_t>(graph.inputs[i])];
    if (v.dtype != DataType::kUndefined && inputs[i].dtype() != v.dtype) {
      return InvalidArgument(onnx_path + ": input " + std::to_string(i) + " '" + v.name + "' is " +
                                 DataTypeName(v.dtype) + " but the tensor given for it is " +
                                 DataTypeName(inputs[i].dtype()),
                             v.name);
    }
    options.input_shapes[v.name] = inputs[i].shape();
  }
  // First without values: a model whose integer inputs are data (indices, token ids) must keep
  // them as network inputs.
  Graph first = graph;
  Status s = InferGraph(first, options);
  if (s.ok()) return OptimizeAndLower(first, onnx_path, optimize, model_nodes, report);
  // Some operator needs a parameter's value at build time. Bind, round by round: first every
  // integer input (shape-like data) together with the graph inputs the failing node reads
  // directly (this covers float parameters such as Resize's scales), then only the latter, until
  // inference succeeds or a round binds nothing new. The error's subject names the failing node.
  std::vector<bool> is_bound(inputs.size(), false);
  bool first_round = true;
  while (!s.ok() && NeedsBuildTimeValue(s)) {
    std::vector<bool> add(inputs.size(), false);
    for (size_t i = 0; first_round && i < inputs.size(); ++i) add[i] = IsIntegerType(inputs[i].dtype());
    first_round = false;
    for (const Node& node : graph.nodes) {
      if (node.name != s.subject()) continue;
      // Parameters are rarely a node's first input (that is usually the data): bind the later
      // ones first and the first only when they were not enough.
      auto model_input = [&](int value) -> int {
        for (size_t i = 0; i < inputs.size(); ++i) {
          if (value >= 0 && value == graph.inputs[i] && !is_bound[i]) return static_cast<int>(i);
        }
        return -1;
      };
      bool later = false;
      for (size_t k = 1; k < node.inputs.size(); ++k) {
        int i = model_input(node.inputs[k]);
        if (i >= 0) add[static_cast<size_t>(i)] = later = true;
      }
      if (!later && !node.inputs.empty()) {
        int i = model_input(node.inputs[0]);
        if (i >= 0) add[static_cast<size_t>(i)] = true;
      }
    }
    bool any = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!add[i] || is_bound[i]) continue;
      const std::string& name = graph.values[static_cast<size_t>(graph.inputs[i])].name;
      options.input_shapes.erase(name);
      options.input_values[name] = inputs[i];
      is_bound[i] = true;
      any = true;
    }
    if (!any) break;
    Graph attempt = graph;
    s = InferGraph(attempt, options);
    if (s.ok()) {
      StatusOr<NetworkDef> net = OptimizeAndLower(attempt, onnx_path, optimize, model_nodes, report);
      if (!net.ok()) return net.status();
      if (bound) {
        for (size_t i = 0; i < inputs.size(); ++i) {
          if (is_bound[i]) bound->push_back(graph.values[static_cast<size_t>(graph.inputs[i])].name);
        }
      }
      return net;
    }
  }
  return s.WithContext(onnx_path);
}

Status ParseShapesOption(const std::string& text, std::map<std::string, Shape>* shapes) {
  if (text.empty()) return InvalidArgument("--shapes is empty; expected NAME:1x3x224x224[,NAME2:...]", "--shapes");
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string entry = text.substr(start, end - start);
    const std::string quoted = "--shapes entry '" + entry + "'";
    // The last ':' separates the name, so names such as "input:0" (TensorFlow exports) work.
    size_t colon = entry.rfind(':');
    if (entry.empty()) return InvalidArgument("--shapes has an empty entry (stray ',')", "--shapes");
    if (colon == std::string::npos) {
      return InvalidArgument(quoted + " has no ':'; expected NAME:1x3x224x224", "--shapes");
    }
    const std::string name = entry.substr(0, colon);
    const std::string dims = entry.substr(colon + 1);
    if (name.empty()) return InvalidArgument(quoted + " has no input name before ':'", "--shapes");
    if (dims.empty()) return InvalidArgument(quoted + " has no dimensions after ':'", "--shapes");
    Shape shape;
    size_t p = 0;
    while (p <= dims.size()) {
      size_t x = dims.find('x', p);
      if (x == std::string::npos) x = dims.size();
      const std::string d = dims.substr(p, x - p);
      if (d.empty() || d.find_first_not_of("0123456789") != std::string::npos) {
        return InvalidArgument(quoted + ": dimension '" + d + "' is not a non-negative integer", "--shapes");
      }
      if (d.size() > 18) return InvalidArgument(quoted + ": dimension '" + d + "' is too large", "--shapes");
      shape.push_back(std::stoll(d));
      p = x + 1;
    }
    if (NumElements(shape) < 0) return InvalidArgument(quoted + ": the shape has too many elements", "--shapes");
    if (!shapes->emplace(name, shape).second) {
      return InvalidArgument("--shapes gives input '" + name + "' twice", name);
    }
    start = end + 1;
  }
  return Status::Ok();
}

}  // namespace edgert
