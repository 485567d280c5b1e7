// `edgert build`: ONNX model -> plan for the reference CPU backend, written to -o OUT.plan and/or
// stored in the plan cache (--cache). Prints a summary of the plan.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cli_device.h"
#include "edgert/builder.h"
#include "edgert/network.h"
#include "edgert/plan.h"
#include "edgert/plan_cache.h"
#include "edgert/version.h"

namespace edgert {

const char kBuildHelp[] =
    "usage: edgert build MODEL.onnx (-o OUT.plan | --cache) [--cache-dir DIR] [--shapes NAME:DIMS[,...]]\n"
    "                    [--min-shapes NAME:DIMS[,...] --opt-shapes NAME:DIMS[,...] --max-shapes NAME:DIMS[,...]]\n"
    "                    [--device cpu|cuda|auto] [--fp16|--best] [--layout auto|nchw|nhwc]\n"
    "                    [--disable-pass NAME[,NAME...]] [--enable-pass NAME[,NAME...]] [--tactic-report]\n"
    "                    [--input-format F[,F...]] [--output-format F[,F...]]\n"
    "                    [--int8 --calib DIR [--calib-batches N]\n"
    "                    [--calibrator entropy|percentile|minmax] [--calib-cache FILE] [--int8-error-budget X]]\n"
    "\n"
    "Builds the model for this machine's GPU (or the reference CPU backend) and writes the plan: its\n"
    "layers, tensors and weights with the facts that decide where it may run (edgert version, device\n"
    "key, precision, model content hash, build-options hash). Prints a summary: layers, tensors,\n"
    "weights bytes, plan bytes, build time, and the engine's memory once the plan is loaded on its\n"
    "backend (every layer must get a kernel there).\n"
    "\n"
    "  -o, --output OUT.plan          write the plan to OUT.plan (atomically: temporary file + rename)\n"
    "  --cache                        go through the plan cache: load the plan when the cache holds a\n"
    "                                 usable one, else build and store it; prints the entry's path and\n"
    "                                 'hit', 'built' or 'rebuilt' with the reason. With -o, the plan is\n"
    "                                 also copied to OUT.plan\n"
    "  --cache-dir DIR                the cache directory (implies --cache; default $EDGERT_CACHE_DIR,\n"
    "                                 else ~/.cache/edgert)\n"
    "  --shapes NAME:1x3x224x224,...  build-time shapes of inputs with dynamic dimensions\n"
    "  --min-shapes, --opt-shapes, --max-shapes NAME:DIMS,...\n"
    "                                 a batch range (optimization profile): the plan runs any batch\n"
    "                                 from min to max (arena sized for max, tactics timed at opt).\n"
    "                                 Only dim 0 may differ between an input's three shapes\n"
    "  --layout auto|nchw|nhwc        the layout of the float convolutions: nhwc runs them channels-last\n"
    "                                 (what FP16 tensor cores read; Transposes where an NCHW reader\n"
    "                                 remains; inputs and outputs keep their layout), nchw keeps the\n"
    "                                 model's; auto (default) is nhwc for --fp16 / --best on CUDA,\n"
    "                                 nchw otherwise. Also --layout=VALUE\n"
    "  --disable-pass NAME[,NAME...]  leave these optimization passes out (e.g. se-fusion,\n"
    "                                 horizontal-fusion; an unknown name lists them): to compare a\n"
    "                                 fusion's speed or to work around one; part of the cache key\n"
    "  --enable-pass NAME[,NAME...]   turn on passes that are off by default: se-fusion (squeeze-\n"
    "                                 excitation blocks as one layer; slower on an H100 with CUDA\n"
    "                                 graphs, so off)\n"
    "  --tactic-report                CUDA: after the tactic timing, list every layer's candidates\n"
    "                                 with their times (by default only the three slowest\n"
    "                                 selections, when one took a second or more)\n"
    EDGERT_DEVICE_OPTIONS_HELP
    EDGERT_IO_FORMAT_HELP
    EDGERT_INT8_OPTIONS_HELP
    "\n"
    "--int8: calibrates on the reference CPU engine, writes the calibration cache and its key, runs\n"
    "the accuracy gate (which layers stay INT8, which fall back to float and why), then writes a plan\n"
    "whose INT8 convolutions pass int8 tensors to each other; the other layers run in FP32, or FP16\n"
    "with --fp16 / --best (TensorRT's INT8 + FP16).\n"
    "\n"
    "The cache key is the SHA-256 of the model's bytes and external data, the build options, the\n"
    "device key and the edgert version; never the file name.\n"
    "Exit 0 on success, 1 on model errors, 2 on usage errors.\n";

namespace {

struct BuildArgs {
  std::string model;
  std::string output;
  bool cache = false;
  std::string cache_dir;
  std::string shapes_text;
  bool has_shapes = false;
  std::string range_text[3];  // --min-shapes, --opt-shapes, --max-shapes
  DeviceOptions device;
  Int8Options int8;
  std::string layout;  // --layout; "" = auto
  std::vector<std::string> disabled_passes;  // --disable-pass
  std::vector<std::string> enabled_passes;   // --enable-pass
  bool tactic_report = false;                 // --tactic-report
  IoFormatOptions io_formats;                 // --input-format / --output-format
};

std::string ParseBuildArgs(const std::vector<std::string>& args, BuildArgs* b) {
  std::string err;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "-o" || a == "--output") {
      if (!has_value) return a + " needs a file name";
      if (!b->output.empty()) return a + " given twice";
      b->output = args[++i];
    } else if (a == "--cache") {
      b->cache = true;
    } else if (a == "--tactic-report") {
      b->tactic_report = true;
    } else if (a == "--cache-dir") {
      if (!has_value) return "--cache-dir needs a directory";
      b->cache_dir = args[++i];
      b->cache = true;
    } else if (a == "--shapes") {
      if (!has_value) return "--shapes needs a value (NAME:1x3x224x224[,...])";
      if (b->has_shapes) return "--shapes given twice; list every input in one --shapes";
      b->shapes_text = args[++i];
      b->has_shapes = true;
    } else if (a == "--min-shapes" || a == "--opt-shapes" || a == "--max-shapes") {
      const int k = a == "--min-shapes" ? 0 : a == "--opt-shapes" ? 1 : 2;
      if (!has_value) return a + " needs a value (NAME:8x3x224x224[,...])";
      if (!b->range_text[k].empty()) return a + " given twice; list every input in one " + a;
      b->range_text[k] = args[++i];
    } else if (a == "--disable-pass" || a == "--enable-pass") {
      if (!has_value) return a + " needs a pass name (e.g. se-fusion)";
      std::vector<std::string>* names = a == "--disable-pass" ? &b->disabled_passes : &b->enabled_passes;
      std::stringstream list(args[++i]);
      for (std::string name; std::getline(list, name, ',');) {
        if (name.empty()) return a + " '" + args[i] + "' has an empty pass name";
        names->push_back(name);
      }
    } else if (a == "--layout" || a.rfind("--layout=", 0) == 0) {
      if (!b->layout.empty()) return "--layout given twice";
      if (a == "--layout" && !has_value) return "--layout needs a value (auto, nchw or nhwc)";
      b->layout = a == "--layout" ? args[++i] : a.substr(9);
      if (!ParseLayout(b->layout).ok()) return "--layout '" + b->layout + "' is not auto, nchw or nhwc";
    } else if (bool int8_matched = false;
               !(err = ParseInt8Arg(args, &i, &b->int8, &int8_matched)).empty() || int8_matched) {
      if (!err.empty()) return err;
    } else if (std::string device_error; ParseDeviceArg(args, &i, &b->device, &device_error)) {
      if (!device_error.empty()) return device_error;
    } else if (std::string format_error; ParseIoFormatArg(args, &i, &b->io_formats, &format_error)) {
      if (!format_error.empty()) return format_error;
    } else if (a.size() > 1 && a[0] == '-') {
      return "unknown option '" + a + "'";
    } else if (b->model.empty()) {
      b->model = a;
    } else {
      return "unexpected argument '" + a + "' (the model is '" + b->model + "')";
    }
  }
  if (b->model.empty()) return "no model given";
  if (b->output.empty() && !b->cache) return "give -o OUT.plan, --cache, or both";
  if (!b->int8.enabled && (!b->int8.calib_dir.empty() || !b->int8.cache_path.empty())) {
    return "--calib and --calib-cache go with --int8";
  }
  return "";
}

void PrintSummary(const LoadedPlan& plan) {
  const PlanMetadata& m = plan.metadata();
  uint64_t constant_bytes = 0;
  for (const TensorDef& t : plan.network().tensors) {
    if (t.is_constant()) constant_bytes += t.value.bytes();
  }
  std::printf("layers: %u\n", m.num_layers);
  std::printf("tensors: %u (%u constants)\n", m.num_tensors, m.num_constants);
  std::printf("weights: %llu bytes (section %llu bytes)\n", static_cast<unsigned long long>(constant_bytes),
              static_cast<unsigned long long>(m.weights_bytes));
  std::printf("plan: %llu bytes\n", static_cast<unsigned long long>(m.file_bytes));
  StatusOr<NetworkMemoryPlan> memory = PlanNetworkMemory(plan.network());
  if (memory.ok()) std::printf("%s\n", MemoryFiguresLine(memory->figures).c_str());
  if (const BatchProfile& p = plan.network().profile; p.enabled()) {
    std::printf("batch profile: min %lld, opt %lld, max %lld (%zu tensors follow the batch, %zu constant values)\n",
                static_cast<long long>(p.min), static_cast<long long>(p.opt), static_cast<long long>(p.max),
                p.batch_tensors.size(), p.batch_values.size());
  }
  std::printf("device: %s, precision %s, edgert %s\n", m.device.ToString().c_str(), PrecisionName(m.precision),
              m.edgert_version.c_str());
}

// Loads the plan on its backend (for CUDA: every layer gets its kernel, weights go to the GPU) and
// prints the engine's memory; a layer the backend cannot run fails the build here.
Status CheckPlanLoads(const std::string& path) {
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<HostRunner> runner, HostRunner::FromPlan(path));
  std::printf("%s\n%s\n", runner->BackendLine().c_str(), runner->MemoryLine().c_str());
  return Status::Ok();
}

// "optimizer: 175 model nodes, 175 layers unoptimized -> 57 layers (-67%)" and the passes that
// rewrote something.
void PrintReport(const BuildReport& r) {
  const double cut = r.layers_unoptimized > 0 ? 100.0 * (r.layers_unoptimized - r.layers) / r.layers_unoptimized : 0.0;
  std::printf("optimizer: %d model nodes, %d layers unoptimized -> %d layers (-%.0f%%)\n", r.model_nodes,
              r.layers_unoptimized, r.layers, cut);
  for (const BuildReport::Pass& p : r.passes) {
    if (p.rewrites > 0) std::printf("  %-28s %d\n", p.name.c_str(), p.rewrites);
  }
}

#ifdef EDGERT_HAVE_CUDA
// Where a build's tactic time went. By default the (at most 3) timed layers that took longest, when
// one took a second or more; with `all` (--tactic-report) every layer with a tactic, in network
// order (a layer taken from the timing cache has no candidate times). Each with the time of its
// candidate list and each candidate's median and seconds.
void PrintTacticSelections(const NetworkDef& net, const std::vector<LayerTactic>& tactics, bool all) {
  std::vector<size_t> order;
  for (size_t l = 0; l < tactics.size(); ++l) {
    if ((all || !tactics[l].from_cache) && tactics[l].tactic >= 0) order.push_back(l);
  }
  if (!all) {
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tactics[a].seconds > tactics[b].seconds; });
    if (order.empty() || tactics[order.front()].seconds < 1.0) return;
    if (order.size() > 3) order.resize(3);
  }
  std::printf(all ? "tactics per layer:\n" : "slowest tactic selections:\n");
  for (size_t i = 0; i < order.size(); ++i) {
    const LayerTactic& t = tactics[order[i]];
    std::printf("  %s: ", net.layers[order[i]].name.c_str());
    if (t.from_cache) {
      std::printf("tactic %d from the timing cache\n", t.tactic);
      continue;
    }
    std::printf("%.1f s", t.seconds);
    if (!t.candidates.empty()) std::printf(" (candidate list %.1f s)", t.list_seconds);
    std::printf("\n");
    for (size_t c = 0; c < t.candidates.size(); ++c) {
      const TacticCandidateTime& k = t.candidates[c];
      char time[32];
      if (k.rejected) {
        std::snprintf(time, sizeof(time), "rejected");
      } else if (k.ms < 0) {
        std::snprintf(time, sizeof(time), "did not run");
      } else {
        std::snprintf(time, sizeof(time), "%.4f ms", k.ms);
      }
      std::printf("    %zu %-28s %-12s in %.2f s", c, k.label.c_str(), time, k.seconds);
      if (k.check_seconds > 0 || k.capture_seconds > 0) {
        std::printf(" (check %.2f s, graph capture %.2f s)", k.check_seconds, k.capture_seconds);
      }
      std::printf("%s\n", static_cast<int>(c) == t.tactic ? "  <- chosen" : "");
    }
  }
}
#endif

// For a CUDA build: times the tactics of every layer on this GPU (progress on a terminal) and returns
// the network with the chosen tactics, which the plan stores. Prints a summary.
StatusOr<NetworkDef> FinalizeForDevice(NetworkDef network, const std::string& backend, const DeviceOptions& device,
                                       bool tactic_report) {
  if (backend != "cuda") {
    if (tactic_report) std::printf("tactic report: the %s backend has no tactics\n", backend.c_str());
    return network;
  }
#ifdef EDGERT_HAVE_CUDA
  CudaEngineOptions options = CudaOptionsFor(device);
  const bool tty = isatty(fileno(stdout)) != 0;
  if (tty) {
    options.progress = [](size_t layer, size_t total, const std::string& name) {
      std::printf("\rtactics: layer %zu/%zu %-60.60s", layer + 1, total, name.c_str());
      std::fflush(stdout);
    };
  }
  const auto start = std::chrono::steady_clock::now();
  StatusOr<std::shared_ptr<CudaEngine>> engine = CudaEngine::Create(std::move(network), options);
  if (tty) std::printf("\r%-90s\r", "");
  if (!engine.ok()) return engine.status();
  int timed_layers = 0, cached = 0, candidates = 0, rejected = 0;
  double chosen = 0, fallback = 0;
  for (const LayerTactic& t : (*engine)->tactics()) {
    if (t.tactic < 0) continue;
    if (t.from_cache) {
      ++cached;
      continue;
    }
    ++timed_layers;
    candidates += t.timed;
    rejected += t.rejected;
    chosen += t.chosen_ms;
    fallback += t.default_ms;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("tactics (level %d): %d layers timed (%d candidates, %d rejected as wrong), %d from the timing "
              "cache, %.1f s; timed layers %.3f ms with the chosen tactics, %.3f ms with the defaults\n",
              device.tactic_level, timed_layers, candidates, rejected, cached, seconds, chosen, fallback);
  if (const CudaEngine::AuxStreamTiming& aux = (*engine)->aux_stream_timing(); aux.timed) {
    std::printf(
        "concurrent branches: %d layer%s, %.3f ms per inference with the auxiliary stream, %.3f ms on one "
        "stream: %s\n",
        aux.layers, aux.layers == 1 ? "" : "s", aux.aux_ms, aux.one_stream_ms,
        aux.kept ? "auxiliary stream kept" : "one stream kept");
  } else if (!aux.error.empty()) {
    std::printf("concurrent branches: not timed (%s); the auxiliary stream stays\n", aux.error.c_str());
  }
  PrintTacticSelections((*engine)->network(), (*engine)->tactics(), tactic_report);
  uint64_t saved = 0;
  StatusOr<NetworkDef> stored = (*engine)->PlanNetwork(&saved);
  if (stored.ok() && saved > 0) {
    std::printf("weights: stored as float16, as the GPU holds them (%.1f MiB smaller)\n",
                static_cast<double>(saved) / (1 << 20));
  }
  return stored;
#else
  return Unsupported("this edgert was built without the CUDA backend");
#endif
}

Status CopyPlan(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return IoError("cannot read " + from, from);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return WritePlanFile(to, bytes);
}

}  // namespace

int RunBuildCommand(const std::vector<std::string>& args) {
  BuildArgs b;
  std::string err = ParseBuildArgs(args, &b);
  if (!err.empty()) return Usage(err, "build");
  BuildOptions options;
  if (b.has_shapes) {
    Status s = ParseShapesOption(b.shapes_text, &options.shapes);
    if (!s.ok()) return Usage(s.message(), "build");
  }
  std::map<std::string, Shape>* ranges[3] = {&options.min_shapes, &options.opt_shapes, &options.max_shapes};
  const char* range_flags[3] = {"--min-shapes", "--opt-shapes", "--max-shapes"};
  for (int k = 0; k < 3; ++k) {
    if (b.range_text[k].empty()) continue;
    Status s = ParseShapesOption(b.range_text[k], ranges[k]);
    if (!s.ok()) return Usage(std::string(range_flags[k]) + ": " + s.message(), "build");
  }
  StatusOr<std::string> backend = ResolveBackend(&b.device);
  options.precision = b.device.fp16 ? Precision::kFp16 : Precision::kFp32;
  if (!b.layout.empty()) options.layout = *ParseLayout(b.layout);
  options.disabled_passes = b.disabled_passes;
  options.enabled_passes = b.enabled_passes;
  options.input_formats = b.io_formats.inputs;
  options.output_formats = b.io_formats.outputs;
  if (!backend.ok()) return Fail(backend.status());
  StatusOr<DeviceKey> device_key = BackendDeviceKey(*backend);
  if (!device_key.ok()) return Fail(device_key.status());
  const DeviceKey device = *device_key;
  const std::string backend_name = *backend;
  DeviceOptions device_options = b.device;
  if (b.cache && b.int8.enabled) {
    return Usage("--int8 builds a plan file (-o PLAN); it does not go with --cache", "build");
  }
  if (b.cache) {
    PlanCacheOptions cache_options;
    cache_options.dir = b.cache_dir;
    cache_options.finalize_network = [&](NetworkDef net) {
      return FinalizeForDevice(std::move(net), backend_name, device_options, b.tactic_report);
    };
    StatusOr<CachedPlan> cached = GetOrBuildPlan(b.model, options, device, cache_options);
    if (!cached.ok()) return Fail(cached.status());
    std::printf("cache: %s %s\n", CacheOutcomeName(cached->outcome), cached->path.c_str());
    if (cached->outcome == CacheOutcome::kRebuilt) std::printf("rebuilt because: %s\n", cached->reason.c_str());
    if (cached->outcome != CacheOutcome::kHit) std::printf("build time: %.1f ms\n", cached->build_seconds * 1e3);
    if (!b.output.empty()) {
      Status s = CopyPlan(cached->path, b.output);
      if (!s.ok()) return Fail(s);
      std::printf("wrote %s\n", b.output.c_str());
    }
    size_t nhwc_layers = 0;
    for (const LayerDef& l : cached->plan.network().layers) {
      nhwc_layers += l.op == OpType::kConvNhwc || l.op == OpType::kMaxPoolNhwc ? 1 : 0;
    }
    if (nhwc_layers > 0) std::printf("layout: NHWC (%zu channels-last convolutions and pools)\n", nhwc_layers);
    PrintSummary(cached->plan);
    Status loads = CheckPlanLoads(cached->path);
    if (!loads.ok()) return Fail(loads);
    return kExitOk;
  }
  const auto start = std::chrono::steady_clock::now();
  BuildReport report;
  // An INT8 build lowers its layout after LowerInt8 (below), as BuildNetwork does.
  BuildOptions float_options = options;
  if (b.int8.enabled) {
    float_options.layout = BuildOptions::Layout::kNchw;
    float_options.disabled_passes.push_back("activation-residual");  // INT8 adds residuals before activations
    // The formats are set on the lowered network (below).
    float_options.input_formats.clear();
    float_options.output_formats.clear();
  }
  StatusOr<NetworkDef> network = BuildNetwork(b.model, float_options, &report);
  if (!network.ok()) return Fail(network.status());
  if (b.int8.enabled) {
    // INT8 calibration and the gate run on the FP32 network (the same for every precision); the
    // layers they keep INT8 are lowered to INT8 convolutions, the rest stays float in the build's
    // precision (as TensorRT combines its INT8 and FP16 flags: --int8 --fp16 or --best for FP16).
    const std::string cache_path =
        !b.int8.cache_path.empty() ? b.int8.cache_path : DefaultCachePath(b.output.empty() ? b.model : b.output);
    StatusOr<Int8Decision> decision = RunInt8Steps(*network, b.int8, cache_path);
    if (!decision.ok()) return Fail(decision.status());
    // Convolutions a Q/DQ model brought (folded by BuildNetwork) are INT8 already.
    size_t from_qdq = 0;
    for (const LayerDef& l : network->layers) from_qdq += l.op == OpType::kInt8Conv ? 1 : 0;
    Int8LoweringReport lowering;
    network = LowerInt8(*network, decision->cache, decision->float_layers, &lowering);
    if (!network.ok()) return Fail(network.status().WithContext(b.model));
    const std::string qdq_note =
        from_qdq > 0 ? " (+" + std::to_string(from_qdq) + " from the model's Q/DQ pairs)" : std::string();
    std::printf(
        "int8: %zu layers INT8%s, %zu candidate layers float; %d tensors flow as int8, %d float tensors "
        "quantized for INT8 readers; other layers %s; scales in %s\n",
        lowering.int8_layers.size(), qdq_note.c_str(), lowering.float_layers.size(), lowering.int8_tensors,
        lowering.conversions, PrecisionName(options.precision), cache_path.c_str());
    report.layout = ResolveLayout(options);
    if (report.layout == BuildOptions::Layout::kNhwc) {
      network = LowerNhwc(*network, &report.nhwc);
      if (!network.ok()) return Fail(network.status().WithContext(b.model));
    }
    Status formats = ApplyIoFormats(*network, options.input_formats, options.output_formats);
    if (!formats.ok()) return Fail(formats.WithContext(b.model));
  }
  StatusOr<std::string> model_hash = ModelContentHash(b.model);
  if (!model_hash.ok()) return Fail(model_hash.status());
  network = FinalizeForDevice(std::move(*network), backend_name, device_options, b.tactic_report);
  if (!network.ok()) return Fail(network.status().WithContext(b.model));
  PlanMetadata metadata;
  metadata.edgert_version = EDGERT_VERSION_STRING;
  metadata.device = device;
  metadata.build_options_hash = BuildOptionsHash(options);
  metadata.model_hash = *model_hash;
  metadata.precision = options.precision;
  StatusOr<std::vector<uint8_t>> bytes = SerializePlan(*network, metadata);
  if (!bytes.ok()) return Fail(bytes.status().WithContext(b.model));
  Status s = WritePlanFile(b.output, *bytes);
  if (!s.ok()) return Fail(s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Reading the plan back checks what was written and gives the summary's figures.
  StatusOr<LoadedPlan> plan = LoadedPlan::Open(b.output);
  if (!plan.ok()) return Fail(plan.status());
  std::printf("wrote %s\n", b.output.c_str());
  std::printf("build time: %.1f ms\n", seconds * 1e3);
  PrintReport(report);
  for (const std::string& line : NhwcBuildLines(report)) std::printf("%s\n", line.c_str());
  PrintSummary(*plan);
  s = CheckPlanLoads(b.output);
  if (!s.ok()) return Fail(s);
  return kExitOk;
}

}  // namespace edgert
