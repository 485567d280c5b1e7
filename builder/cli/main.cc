// edgert: the command-line front end of the builder.
//
//   edgert check MODEL.onnx [--shapes ...]         per-node support report
//   edgert build MODEL.onnx (-o OUT.plan | --cache) [--shapes ...]   (build_command.cc)
//   edgert inspect PLAN [--json]                     (inspect_command.cc)
//   edgert bench MODEL.onnx|PLAN [--iterations N] [--duration S] [--warmup S] [--contexts K]
//                                                    (bench_command.cc)
//   edgert run MODEL.onnx|PLAN [--shapes ...] [--inputs F...] [--save-outputs DIR] [--compare DIR]
//                         [--rtol X] [--seed N]   build for concrete inputs (or load the plan) and
//                                                 run on the CPU
//
// run: ONNX models and plans share the input and output code. Steps:
//   1. Describe the inputs (InputSpec): from the model's graph inputs (shapes may be dynamic, --shapes
//      sets them) or from the plan's network inputs (fixed shapes; --shapes and files must match).
//   2. Read --inputs files or make random ones (the same generator and order for both sources, so
//      a seed gives the same inputs to a model and to its plan).
//   3. ONNX: BuildNetworkForInputs (binding shape-parameter inputs); plan: ValidatePlan, then
//      LoadedPlan::Open. Run CpuEngine.
//   4. Print, save and compare the outputs.
//
// Exit codes: 0 success, 1 a model/data error or a failed comparison, 2 a usage error. Every error
// is printed as "edgert: <message>" on stderr.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cli_device.h"
#include "cli_util.h"
#include "edgert/builder.h"
#include "edgert/cpu_engine.h"
#include "edgert/plan.h"
#include "edgert/version.h"
#include "onnx/onnx_importer.h"
#include "onnx/tensor_file.h"

namespace edgert {
namespace {

const char kMainHelp[] =
    "usage: edgert <command> [options]\n"
    "\n"
    "commands:\n"
    "  check MODEL.onnx [--shapes NAME:DIMS[,...]]\n"
    "      print, per node, whether edgert can build it; exit 1 if any node is unsupported\n"
    "  build MODEL.onnx (-o OUT.plan | --cache) [--cache-dir DIR] [--shapes NAME:DIMS[,...]]\n"
    "                 [--device cpu|cuda|auto] [--fp16] [--int8 --calib DIR ...]\n"
    "      build a plan for this GPU (or the CPU backend), into a file or through the plan cache\n"
    "  calibrate MODEL.onnx --calib DIR -o CACHE [--calibrator entropy|percentile|minmax]\n"
    "      INT8 calibration: TensorRT-format cache of per-tensor scales, then the accuracy gate\n"
    "  inspect PLAN [--json]\n"
    "      print a plan's header, device key, hashes, layers and totals\n"
    "  run MODEL.onnx|PLAN [--shapes ...] [--inputs FILE...] [--save-outputs DIR] [--compare DIR]\n"
    "                 [--rtol X] [--seed N] [--device cpu|cuda|auto] [--fp16] [--layout L] [--verbose]\n"
    "      build the model for concrete inputs (or load the plan) and run it on the GPU or the\n"
    "      reference CPU engine\n"
    "  bench MODEL.onnx|PLAN [--shapes ...] [--iterations N] [--duration S] [--warmup S] [--contexts K]\n"
    "                 [--device cpu|cuda|auto] [--fp16] [--no-graphs]\n"
    "      time the engine on random inputs: latency percentiles, throughput, enqueue time, memory\n"
    "  help [COMMAND]   this text, or the options of COMMAND\n"
    "\n"
    "options: --help, --version\n"
    "environment: EDGERT_CACHE_DIR (plan cache directory, default ~/.cache/edgert)\n";

const char kCheckHelp[] =
    "usage: edgert check MODEL.onnx [--shapes NAME:DIMS[,NAME2:DIMS...]]\n"
    "\n"
    "Imports the model, infers every shape and prints one line per node: index, operator, node name\n"
    "and 'ok' or why edgert cannot build it, then a summary. Exit 0 when every node is supported,\n"
    "1 otherwise, 2 on usage errors.\n"
    "\n"
    "  --shapes NAME:1x3x224x224[,...]   build-time shapes of inputs with dynamic dimensions\n";

const char kRunHelp[] =
    "usage: edgert run MODEL.onnx|PLAN [options]\n"
    "\n"
    "Builds the model for one set of inputs and runs it (CUDA when available, else the reference CPU\n"
    "engine), printing each output's name, dtype and shape. A plan (a file starting with \"EDGERTPL\",\n"
    "or named *.plan) is validated for this device and edgert version and loaded instead, on the\n"
    "backend and in the precision it was built for; its input shapes are fixed, so input files and\n"
    "--shapes must match them.\n"
    "\n"
    "  --inputs FILE...        input tensors (.npy or ONNX TensorProto .pb), one per model input, in the\n"
    "                          model's input order; without it, random inputs (floats uniform in\n"
    "                          [-1, 1), integers in [0, 4), bools 0/1)\n"
    "  --shapes NAME:DIMS,...  shapes of the random inputs (default: the model's static shapes); with\n"
    "                          --inputs, checked against the files' shapes\n"
    "  --seed N                seed of the random inputs (default: a fresh one, printed)\n"
    "  --save-outputs DIR      write DIR/output_K.npy for each output K\n"
    "  --compare DIR           compare output K with DIR/output_K.pb (or .npy): relative L2 error\n"
    "                          ||out-ref||/||ref|| for floats (||out-ref|| when ||ref|| is 0), exact\n"
    "                          match for integers and bools; NaN where the reference has none fails\n"
    "  --rtol X                tolerance of --compare (default 1e-4)\n"
    "  --layout auto|nchw|nhwc the layout of the float convolutions, as for `build`: auto (default) runs\n"
    "                          them channels-last with --fp16 (or --best on CUDA), nchw otherwise; nhwc\n"
    "                          also works on the CPU engine (the channels-last reference layers)\n"
    "  --verbose               list the layers (and on CUDA the kernel each one runs)\n"
    EDGERT_DEVICE_OPTIONS_HELP
    "\n"
    "Exit 0 when every comparison passes, 1 on model errors or failed comparisons, 2 on usage errors.\n";

// Options shared by check and run; the parser fills what it sees and rejects the rest.
struct Options {
  std::string model;
  std::string shapes_text;
  bool has_shapes = false;
  std::vector<std::string> inputs;
  bool has_inputs = false;
  std::string save_dir;
  std::string compare_dir;
  double rtol = 1e-4;
  bool has_seed = false;
  uint64_t seed = 0;
  DeviceOptions device;
  bool verbose = false;
  std::string layout;  // --layout (run); "" = auto
};

// Returns "" on success, else the usage error.
std::string ParseArgs(const std::vector<std::string>& args, bool run, Options* o) {
  auto need_value = [&](size_t i) { return i + 1 < args.size(); };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--shapes") {
      if (!need_value(i)) return "--shapes needs a value (NAME:1x3x224x224[,...])";
      if (o->has_shapes) return "--shapes given twice; list every input in one --shapes";
      o->shapes_text = args[++i];
      o->has_shapes = true;
    } else if (std::string device_error; run && ParseDeviceArg(args, &i, &o->device, &device_error)) {
      if (!device_error.empty()) return device_error;
    } else if (run && (a == "--layout" || a.rfind("--layout=", 0) == 0)) {
      if (!o->layout.empty()) return "--layout given twice";
      if (a == "--layout" && !need_value(i)) return "--layout needs a value (auto, nchw or nhwc)";
      o->layout = a == "--layout" ? args[++i] : a.substr(9);
      if (!ParseLayout(o->layout).ok()) return "--layout '" + o->layout + "' is not auto, nchw or nhwc";
    } else if (run && a == "--verbose") {
      o->verbose = true;
    } else if (run && a == "--inputs") {
      o->has_inputs = true;
      while (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) o->inputs.push_back(args[++i]);
      if (o->inputs.empty()) return "--inputs needs at least one file";
    } else if (run && a == "--save-outputs") {
      if (!need_value(i)) return "--save-outputs needs a directory";
      o->save_dir = args[++i];
    } else if (run && a == "--compare") {
      if (!need_value(i)) return "--compare needs a directory";
      o->compare_dir = args[++i];
    } else if (run && a == "--rtol") {
      if (!need_value(i)) return "--rtol needs a value";
      const std::string& v = args[++i];
      char* end = nullptr;
      o->rtol = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(o->rtol >= 0) || std::isinf(o->rtol)) {
        return "--rtol '" + v + "' is not a non-negative number";
      }
    } else if (run && a == "--seed") {
      if (!need_value(i)) return "--seed needs a value";
      const std::string& v = args[++i];
      if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) {
        return "--seed '" + v + "' is not a non-negative integer";
      }
      o->seed = std::strtoull(v.c_str(), nullptr, 10);
      o->has_seed = true;
    } else if (a.rfind("--", 0) == 0 || (a.size() > 1 && a[0] == '-')) {
      return "unknown option '" + a + "'";
    } else if (o->model.empty()) {
      o->model = a;
    } else {
      return "unexpected argument '" + a + "' (the model is '" + o->model + "')";
    }
  }
  if (o->model.empty()) return "no model given";
  return "";
}

int RunCheck(const std::vector<std::string>& args) {
  Options o;
  std::string err = ParseArgs(args, false, &o);
  if (!err.empty()) return Usage(err, "check");
  BuildOptions options;
  if (o.has_shapes) {
    Status s = ParseShapesOption(o.shapes_text, &options.shapes);
    if (!s.ok()) return Usage(s.message(), "check");
  }
  StatusOr<SupportReport> report = CheckModel(o.model, options);
  if (!report.ok()) return Fail(report.status());
  size_t w_op = 7, w_name = 4;
  for (const SupportEntry& e : report->nodes) {
    w_op = std::max(w_op, e.op_type.size());
    w_name = std::max(w_name, e.node_name.size());
  }
  w_name = std::min<size_t>(w_name, 48);
  std::printf("%5s  %-*s  %-*s  %s\n", "#", static_cast<int>(w_op), "op type", static_cast<int>(w_name), "node",
              "status");
  std::set<std::string> unsupported_ops;
  size_t n_unsupported = 0, n_failed = 0;
  for (size_t i = 0; i < report->nodes.size(); ++i) {
    const SupportEntry& e = report->nodes[i];
    std::string status = e.status.ok() ? "ok" : e.status.ToString();
    std::printf("%5zu  %-*s  %-*s  %s\n", i, static_cast<int>(w_op), e.op_type.c_str(), static_cast<int>(w_name),
                e.node_name.c_str(), status.c_str());
    if (e.status.ok()) continue;
    if (e.status.code() == StatusCode::kUnsupported) {
      ++n_unsupported;
      unsupported_ops.insert(e.op_type);
    } else {
      ++n_failed;
    }
  }
  std::string summary =
      std::to_string(report->nodes.size()) + " nodes, " + std::to_string(n_unsupported) + " unsupported";
  if (!unsupported_ops.empty()) {
    summary += ":";
    for (const std::string& op : unsupported_ops) summary += " " + op;
  }
  if (n_failed) summary += "; " + std::to_string(n_failed) + " with other errors";
  std::printf("%s\n", summary.c_str());
  return report->AllSupported() ? kExitOk : kExitFail;
}

// One input of the model or plan being run.
struct InputSpec {
  std::string name;
  DataType dtype = DataType::kUndefined;
  bool has_shape = false;
  Shape shape;  // may hold -1 (dynamic) for an ONNX model; fixed for a plan
};

Status UnsupportedInputType(const std::string& source, const std::string& name) {
  return Unsupported(source + ": input '" + name +
                         "' is not a tensor of a type edgert can hold "
                         "(sequences, optionals, strings, bfloat16 and float8 are not supported)",
                     name);
}

// Steps 1 and 2 of run: the input tensors, from files or random. With `fixed`, every tensor must
// have exactly the spec's dtype and shape (plans); otherwise --shapes sets the random inputs' shapes
// and checks the files'.
Status PrepareInputs(const std::string& source, const std::vector<InputSpec>& specs, bool fixed, const Options& o,
                     const std::map<std::string, Shape>& shapes, std::vector<Tensor>* inputs) {
  for (const auto& [name, shape] : shapes) {
    auto it = std::find_if(specs.begin(), specs.end(), [&](const InputSpec& s) { return s.name == name; });
    if (it == specs.end())
      return InvalidArgument("--shapes names '" + name + "', which is not an input of " + source, name);
    if (fixed && shape != it->shape) {
      return InvalidArgument("--shapes gives input '" + name + "' shape " + ShapeToString(shape) + " but the plan " +
                                 source + " was built for " + ShapeToString(it->shape) + " (plan shapes are fixed)",
                             name);
    }
  }
  if (o.has_inputs) {
    if (o.inputs.size() != specs.size()) {
      std::string names;
      for (const InputSpec& s : specs) names += (names.empty() ? "" : ", ") + s.name;
      return InvalidArgument(source + " has " + std::to_string(specs.size()) + " inputs (" +
                             (names.empty() ? "none" : names) + ") but --inputs gives " +
                             std::to_string(o.inputs.size()) + " files");
    }
    for (size_t i = 0; i < o.inputs.size(); ++i) {
      const InputSpec& spec = specs[i];
      if (spec.dtype == DataType::kUndefined) return UnsupportedInputType(source, spec.name);
      StatusOr<Tensor> t = ReadTensorFile(o.inputs[i]);
      if (!t.ok()) return t.status().WithContext("input '" + spec.name + "'");
      if (fixed && (t->dtype() != spec.dtype || t->shape() != spec.shape)) {
        return InvalidArgument(o.inputs[i] + " holds " + DataTypeName(t->dtype()) + " " + ShapeToString(t->shape()) +
                                   " but input '" + spec.name + "' of the plan " + source + " is " +
                                   DataTypeName(spec.dtype) + " " + ShapeToString(spec.shape),
                               spec.name);
      }
      auto it = shapes.find(spec.name);
      if (it != shapes.end() && t->shape() != it->second) {
        return InvalidArgument("--shapes gives input '" + spec.name + "' shape " + ShapeToString(it->second) + " but " +
                                   o.inputs[i] + " holds " + ShapeToString(t->shape()),
                               spec.name);
      }
      inputs->push_back(*t);
    }
    return Status::Ok();
  }
  const uint64_t seed = o.has_seed ? o.seed : std::random_device{}();
  std::printf("inputs: random, seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  for (const InputSpec& spec : specs) {
    if (DataTypeSize(spec.dtype) == 0) return UnsupportedInputType(source, spec.name);
    Shape shape;
    auto it = shapes.find(spec.name);
    if (it != shapes.end()) {
      shape = it->second;
    } else {
      if (!spec.has_shape) {
        return InvalidArgument(source + ": input '" + spec.name +
                                   "' has no shape in the model; give it with --shapes " + spec.name + ":DIMS",
                               spec.name);
      }
      for (int64_t d : spec.shape) {
        if (d < 0) {
          return InvalidArgument(source + ": input '" + spec.name + "' has dynamic shape " + ShapeToString(spec.shape) +
                                     "; give it with --shapes " + spec.name + ":DIMS",
                                 spec.name);
        }
      }
      shape = spec.shape;
    }
    EDGERT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(spec.dtype, shape));
    FillRandom(&t, rng);
    inputs->push_back(std::move(t));
  }
  return Status::Ok();
}

std::vector<std::string> OutputNames(const NetworkDef& net) {
  std::vector<std::string> names;
  for (int32_t t : net.outputs) names.push_back(net.tensors[static_cast<size_t>(t)].name);
  return names;
}

StatusOr<Tensor> ReadReference(const std::string& dir, size_t k) {
  const std::string base = dir + "/output_" + std::to_string(k);
  if (FileExists(base + ".pb")) return ReadTensorFile(base + ".pb");
  if (FileExists(base + ".npy")) return ReadTensorFile(base + ".npy");
  return NotFound("reference " + base + ".pb (or .npy) not found", base + ".pb");
}

// Steps 3 (run) and 4 of run: executes `network` on `feed` and prints, saves and compares outputs.
// `runner` is the engine (the plan's, or one made from the network by the caller).
int RunAndReport(const std::string& source, const std::vector<std::string>& output_names, HostRunner& runner,
                 const std::vector<Tensor>& feed, const Options& o) {
  std::vector<Tensor> outputs;
  Status s = runner.Run(feed, &outputs);
  if (!s.ok()) return Fail(s.WithContext(source));
  std::printf("%s\n%s\n", runner.BackendLine().c_str(), runner.MemoryLine().c_str());
  if (o.verbose) std::printf("layers:\n%s", runner.LayerReport().c_str());

  if (!o.save_dir.empty()) {
    s = MakeDirs(o.save_dir);
    if (!s.ok()) return Fail(s);
  }
  bool all_pass = true;
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& out = outputs[k];
    std::string line = "output " + std::to_string(k) + " '" + output_names[k] + "': " + DataTypeName(out.dtype()) +
                       " " + ShapeToString(out.shape());
    if (!o.save_dir.empty()) {
      s = WriteNpy(o.save_dir + "/output_" + std::to_string(k) + ".npy", out);
      if (!s.ok()) return Fail(s);
    }
    if (!o.compare_dir.empty()) {
      StatusOr<Tensor> ref = ReadReference(o.compare_dir, k);
      if (!ref.ok()) return Fail(ref.status());
      CompareResult c = CompareTensors(out, *ref, o.rtol);
      line += "  " + c.summary;
      all_pass = all_pass && c.pass;
    }
    std::printf("%s\n", line.c_str());
  }
  if (!o.compare_dir.empty()) {
    std::printf("%s\n", all_pass ? "PASS" : "FAIL");
  }
  return all_pass ? kExitOk : kExitFail;
}

int RunPlan(const Options& o, const std::map<std::string, Shape>& shapes) {
  // The plan decides the backend and precision; --device/--fp16 must not contradict it.
  StatusOr<PlanMetadata> meta = ReadPlanMetadata(o.model);
  if (!meta.ok()) return Fail(meta.status());
  if ((o.device.device != "auto" && o.device.device != meta->device.backend) ||
      (o.device.fp16 && meta->precision != Precision::kFp16)) {
    return Fail(InvalidArgument(o.model + " is a " + PrecisionName(meta->precision) + " plan for " +
                                meta->device.ToString() + "; --device/--fp16 cannot change that (rebuild it)"));
  }
  if (!o.layout.empty()) {
    return Fail(InvalidArgument(o.model + " is a plan: its layout was chosen when it was built; --layout applies "
                                          "to ONNX models (rebuild it with `edgert build --layout`)",
                                "--layout"));
  }
  StatusOr<std::unique_ptr<HostRunner>> runner = HostRunner::FromPlan(o.model, o.device);
  if (!runner.ok()) return Fail(runner.status());
  const NetworkDef& net = (*runner)->network();
  // A plan with a batch profile runs random inputs at its opt batch unless --shapes or the input
  // files say otherwise; the engine refuses a batch outside the profile, naming the range.
  const BatchProfile& profile = net.profile;
  std::vector<InputSpec> specs;
  for (int32_t t : net.inputs) {
    const TensorDef& d = net.tensors[static_cast<size_t>(t)];
    Shape shape = BindingShape(d);  // what the caller's buffer holds (its binding format)
    if (std::binary_search(profile.batch_tensors.begin(), profile.batch_tensors.end(), t)) shape[0] = profile.opt;
    specs.push_back({d.name, BindingDtype(d), true, shape});
  }
  if (profile.enabled()) {
    std::printf("batch profile: min %lld, opt %lld, max %lld\n", static_cast<long long>(profile.min),
                static_cast<long long>(profile.opt), static_cast<long long>(profile.max));
  }
  std::vector<Tensor> inputs;
  Status s = PrepareInputs(o.model, specs, !profile.enabled(), o, shapes, &inputs);
  if (!s.ok()) return Fail(s);
  return RunAndReport(o.model, OutputNames(net), **runner, inputs, o);
}

int RunModel(Options o, const std::map<std::string, Shape>& shapes) {
  StatusOr<std::string> backend = ResolveBackend(&o.device);
  if (!backend.ok()) return Fail(backend.status());
  // The model's inputs (names, dtypes, declared shapes) decide how files and random inputs match.
  StatusOr<Graph> graph = ImportOnnxFile(o.model);
  if (!graph.ok()) return Fail(graph.status());
  std::vector<InputSpec> specs;
  for (int id : graph->inputs) {
    const Value& v = graph->values[static_cast<size_t>(id)];
    specs.push_back({v.name, v.dtype, v.has_shape, v.shape});
  }
  std::vector<Tensor> inputs;
  Status s = PrepareInputs(o.model, specs, false, o, shapes, &inputs);
  if (!s.ok()) return Fail(s);
  std::vector<std::string> bound;
  StatusOr<NetworkDef> net = BuildNetworkForInputs(o.model, inputs, &bound);
  if (!net.ok()) return Fail(net.status());
  // The layout as `build` resolves it: auto is channels-last for FP16.
  BuildOptions layout_options;
  layout_options.precision = o.device.fp16 ? Precision::kFp16 : Precision::kFp32;
  layout_options.layout = o.layout.empty() ? BuildOptions::Layout::kAuto : *ParseLayout(o.layout);
  BuildReport report;
  report.layout = ResolveLayout(layout_options);
  if (report.layout == BuildOptions::Layout::kNhwc) {
    net = LowerNhwc(*net, &report.nhwc);
    if (!net.ok()) return Fail(net.status().WithContext(o.model));
    for (const std::string& line : NhwcBuildLines(report)) std::printf("%s\n", line.c_str());
  }
  if (!bound.empty()) {
    std::string names;
    for (const std::string& b : bound) names += (names.empty() ? "" : ", ") + b;
    std::printf("bound at build time: %s\n", names.c_str());
  }
  // The engine takes the inputs that stayed network inputs, in order.
  std::vector<Tensor> feed;
  for (size_t i = 0; i < specs.size() && i < inputs.size(); ++i) {
    if (std::find(bound.begin(), bound.end(), specs[i].name) == bound.end()) feed.push_back(inputs[i]);
  }
  const std::vector<std::string> output_names = OutputNames(*net);
  StatusOr<std::unique_ptr<HostRunner>> runner =
      HostRunner::Create(std::move(*net), *backend, o.device);
  if (!runner.ok()) return Fail(runner.status().WithContext(o.model));
  return RunAndReport(o.model, output_names, **runner, feed, o);
}

int RunRun(const std::vector<std::string>& args) {
  Options o;
  std::string err = ParseArgs(args, true, &o);
  if (!err.empty()) return Usage(err, "run");
  std::map<std::string, Shape> shapes;
  if (o.has_shapes) {
    Status s = ParseShapesOption(o.shapes_text, &shapes);
    if (!s.ok()) return Usage(s.message(), "run");
  }
  return LooksLikePlan(o.model) ? RunPlan(o, shapes) : RunModel(o, shapes);
}

// The help page of `command`, or nullptr when there is no such command.
const char* HelpOf(const std::string& command) {
  if (command == "check") return kCheckHelp;
  if (command == "build") return kBuildHelp;
  if (command == "calibrate") return kCalibrateHelp;
  if (command == "inspect") return kInspectHelp;
  if (command == "run") return kRunHelp;
  if (command == "bench") return kBenchHelp;
  return nullptr;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return Usage("no command given", "");
  const std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const std::string& a : rest) {
    if (a == "--help" || a == "-h") {
      const char* help = HelpOf(cmd);
      std::printf("%s", help != nullptr ? help : kMainHelp);
      return kExitOk;
    }
  }
  if (cmd == "--help" || cmd == "-h") {
    std::printf("%s", kMainHelp);
    return kExitOk;
  }
  if (cmd == "--version") {
    std::printf("edgert %s\n", EDGERT_VERSION_STRING);
    return kExitOk;
  }
  if (cmd == "help") {
    if (rest.empty()) {
      std::printf("%s", kMainHelp);
      return kExitOk;
    }
    const char* help = HelpOf(rest[0]);
    if (help == nullptr) return Usage("no command '" + rest[0] + "'", "");
    std::printf("%s", help);
    return kExitOk;
  }
  if (cmd == "check") return RunCheck(rest);
  if (cmd == "build") return RunBuildCommand(rest);
  if (cmd == "calibrate") return RunCalibrateCommand(rest);
  if (cmd == "inspect") return RunInspectCommand(rest);
  if (cmd == "run") return RunRun(rest);
  if (cmd == "bench") return RunBenchCommand(rest);
  return Usage("unknown command '" + cmd + "'", "");
}

}  // namespace
}  // namespace edgert

int main(int argc, char** argv) {
  // The CLI is the outermost layer: an allocation failure or any other exception from the standard
  // library or protobuf is reported, never a crash.
  try {
    return edgert::Main(argc, argv);
  } catch (const std::bad_alloc&) {
    edgert::PrintError("out of memory");
  } catch (const std::exception& e) {
    edgert::PrintError(std::string("internal error: ") + e.what());
  }
  return 1;
}
