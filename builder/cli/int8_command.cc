// INT8 on the CLI: `edgert calibrate` and the --int8 part of `edgert build`.
//
// RunInt8Steps (both commands):
//   1. open the calibration data (--calib DIR: tensor files, or pictures with --model-config) for the FP32 network and
//   split its batches: the last
//      fifth (at least one, when there are two or more) is held out for the accuracy gate; the
//      calibrator uses the others, at most --calib-batches of them;
//   2. the cache (--calib-cache FILE, else beside the plan): reused when its sidecar key matches the
//      network, calibrator and data; a cache without a key file is a user's (e.g. from TensorRT) and
//      is used as given when named with --calib-cache; otherwise calibrate and write cache + key;
//   3. the accuracy gate on the held-out batches (skipped without data), printing per layer whether
//      it stays INT8 or falls back to float and why.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli_common.h"
#include "edgert/builder.h"
#include "edgert/calibration.h"

namespace edgert {

const char kCalibrateHelp[] =
    "usage: edgert calibrate MODEL.onnx --calib DIR [--model-config YAML] -o CACHE [--shapes NAME:DIMS[,...]]\n"
    "                        [--calibrator entropy|percentile|minmax] [--percentile P] [--calib-batches N]\n"
    "                        [--int8-error-budget X]\n"
    "\n"
    "Runs the FP32 model on the reference CPU engine over the calibration data, writes the per-tensor\n"
    "INT8 scales to CACHE in TensorRT's calibration cache format (and CACHE.key, the network +\n"
    "calibrator + data key), then runs the accuracy gate on held-out batches.\n" EDGERT_INT8_OPTIONS_HELP
    "Exit 0 on success, 1 on model or data errors, 2 on usage errors.\n";

std::string ParseInt8Arg(const std::vector<std::string>& args, size_t* i, Int8Options* o, bool* matched) {
  const std::string& a = args[*i];
  const bool has_value = *i + 1 < args.size();
  *matched = true;
  if (a == "--int8") {
    o->enabled = true;
  } else if (a == "--calib") {
    if (!has_value) return "--calib needs a directory";
    o->calib_dir = args[++*i];
  } else if (a == "--model-config") {
    if (!has_value) return "--model-config needs a YAML file";
    o->model_config = args[++*i];
  } else if (a == "--calib-cache") {
    if (!has_value) return "--calib-cache needs a file name";
    o->cache_path = args[++*i];
  } else if (a == "--calibrator") {
    if (!has_value) return "--calibrator needs entropy, percentile or minmax";
    StatusOr<CalibratorKind> k = ParseCalibrator(args[++*i]);
    if (!k.ok()) return k.status().message();
    o->calibrator = *k;
  } else if (a == "--percentile") {
    if (!has_value) return "--percentile needs a value in (0, 100]";
    char* end = nullptr;
    o->percentile = std::strtod(args[++*i].c_str(), &end);
    if (*end != '\0' || !(o->percentile > 0 && o->percentile <= 100)) {
      return "--percentile needs a value in (0, 100], not '" + args[*i] + "'";
    }
  } else if (a == "--calib-batches") {
    if (!has_value) return "--calib-batches needs a count";
    char* end = nullptr;
    long n = std::strtol(args[++*i].c_str(), &end, 10);
    if (*end != '\0' || n <= 0) return "--calib-batches needs a positive count, not '" + args[*i] + "'";
    o->calib_batches = static_cast<int>(n);
  } else if (a == "--int8-error-budget") {
    if (!has_value) return "--int8-error-budget needs a relative L2 error (e.g. 0.05)";
    char* end = nullptr;
    o->error_budget = std::strtod(args[++*i].c_str(), &end);
    if (*end != '\0' || !(o->error_budget >= 0)) {
      return "--int8-error-budget needs a non-negative number, not '" + args[*i] + "'";
    }
  } else {
    *matched = false;
  }
  return "";
}

std::string DefaultCachePath(const std::string& plan_or_model) {
  std::string base = plan_or_model;
  for (const char* ext : {".plan", ".onnx"}) {
    const std::string e = ext;
    if (base.size() > e.size() && base.compare(base.size() - e.size(), e.size(), e) == 0) {
      base.resize(base.size() - e.size());
      break;
    }
  }
  return base + ".calib";
}

StatusOr<Int8Decision> RunInt8Steps(const NetworkDef& network, const Int8Options& o, const std::string& cache_path) {
  // Step 1.
  std::unique_ptr<CalibrationData> data;
  std::vector<int> calib, eval;
  if (!o.calib_dir.empty()) {
    EDGERT_ASSIGN_OR_RETURN(data, OpenCliCalibrationData(o, network));
    const int total = data->NumBatches();
    const int held_out = total >= 2 ? std::max(1, total / 5) : 0;
    int n_calib = total - held_out;
    if (o.calib_batches > 0) n_calib = std::min(n_calib, o.calib_batches);
    for (int b = 0; b < n_calib; ++b) calib.push_back(b);
    for (int b = total - held_out; b < total; ++b) eval.push_back(b);
    std::printf("calibration data: %s; %d batches calibrate, %d held out for the accuracy gate\n",
                data->Describe().c_str(), n_calib, held_out);
    if (eval.empty()) {
      eval = calib;
      std::printf("  (one batch only: the gate reuses the calibration batch, so its error is optimistic)\n");
    }
  }
  // Step 2.
  const std::string network_hash = NetworkHash(network);
  CalibrationCache cache;
  bool have_cache = false;
  if (data) {
    const std::string key = CalibrationKey(network_hash, o.calibrator, o.percentile,
                                           data->DataHash() + " batches " + std::to_string(calib.size()));
    std::string why;
    if (FileExists(cache_path) && CacheKeyMatches(cache_path, key, &why)) {
      EDGERT_ASSIGN_OR_RETURN(cache, ReadCalibrationCache(cache_path));
      have_cache = true;
      std::printf("calibration cache: hit %s\n", cache_path.c_str());
    } else if (FileExists(cache_path) && !FileExists(CacheKeyPath(cache_path)) && !o.cache_path.empty()) {
      EDGERT_ASSIGN_OR_RETURN(cache, ReadCalibrationCache(cache_path));
      have_cache = true;
      std::printf(
          "calibration cache: using %s as given (%s; no key file, so edgert cannot tell whether it "
          "fits this network: delete it to recalibrate)\n",
          cache_path.c_str(), cache.header.c_str());
    } else {
      if (FileExists(cache_path)) std::printf("calibration cache: recalibrating, %s\n", why.c_str());
      CalibrationOptions copt;
      copt.calibrator = o.calibrator;
      copt.percentile = o.percentile;
      EDGERT_ASSIGN_OR_RETURN(std::vector<TensorRange> ranges, Calibrate(network, *data, calib, copt));
      cache = CalibrationCache::ForCalibrator(o.calibrator);
      for (const TensorRange& r : ranges) cache.SetAmax(r.name, r.amax);
      EDGERT_RETURN_IF_ERROR(WriteCalibrationCache(cache_path, cache));
      EDGERT_RETURN_IF_ERROR(WriteCacheKey(cache_path, key));
      std::printf("calibration cache: wrote %s (%s, %zu tensors) and %s\n", cache_path.c_str(), cache.header.c_str(),
                  cache.entries.size(), CacheKeyPath(cache_path).c_str());
      have_cache = true;
    }
  } else {
    if (!FileExists(cache_path)) {
      return InvalidArgument("--int8 needs calibration data (--calib DIR) or an existing calibration cache; " +
                                 cache_path + " does not exist",
                             cache_path);
    }
    EDGERT_ASSIGN_OR_RETURN(cache, ReadCalibrationCache(cache_path));
    have_cache = true;
    std::printf("calibration cache: using %s as given (%s); no --calib data, so no accuracy gate\n", cache_path.c_str(),
                cache.header.c_str());
  }
  Int8Decision decision;
  decision.cache = cache;
  if (!have_cache || !data) return decision;
  // Step 3.
  GateOptions gopt;
  gopt.error_budget = o.error_budget;
  EDGERT_ASSIGN_OR_RETURN(GateReport report, RunAccuracyGate(network, cache, *data, eval, gopt));
  int n_int8 = 0;
  for (const GateLayer& l : report.layers) n_int8 += l.int8 ? 1 : 0;
  std::printf(
      "int8 accuracy gate (%d held-out batches, budget %.4g relative L2): all INT8 %.4g, final %.4g, "
      "%d of %zu layers INT8\n",
      report.eval_batches, report.budget, report.error_all_int8, report.error_final, n_int8, report.layers.size());
  for (const GateLayer& l : report.layers) {
    std::printf("  %-5s %-7s %-40s error alone %s%s%s\n", l.int8 ? "int8" : "float", l.op.c_str(), l.name.c_str(),
                l.error_alone < 0 ? "-" : std::to_string(l.error_alone).c_str(),
                l.int8 ? "" : "  fell back: ", l.reason.c_str());
  }
  if (!report.within_budget) {
    std::printf("  the error stays above the budget with every layer in float: the error is elsewhere\n");
  }
  decision.float_layers = report.float_layers;
  return decision;
}

int RunCalibrateCommand(const std::vector<std::string>& args) {
  Int8Options o;
  o.enabled = true;
  std::string model, output, shapes_text;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool matched = false;
    std::string err = ParseInt8Arg(args, &i, &o, &matched);
    if (!err.empty()) return Usage(err, "calibrate");
    if (matched) continue;
    if ((a == "-o" || a == "--output") && i + 1 < args.size()) {
      output = args[++i];
    } else if (a == "--shapes" && i + 1 < args.size()) {
      shapes_text = args[++i];
    } else if (a.size() > 1 && a[0] == '-') {
      return Usage("unknown option '" + a + "'", "calibrate");
    } else if (model.empty()) {
      model = a;
    } else {
      return Usage("unexpected argument '" + a + "'", "calibrate");
    }
  }
  if (model.empty()) return Usage("no model given", "calibrate");
  if (o.calib_dir.empty()) return Usage("give the calibration data with --calib DIR", "calibrate");
  if (output.empty()) output = o.cache_path.empty() ? DefaultCachePath(model) : o.cache_path;
  BuildOptions options;
  if (!shapes_text.empty()) {
    Status s = ParseShapesOption(shapes_text, &options.shapes);
    if (!s.ok()) return Usage(s.message(), "calibrate");
  }
  StatusOr<NetworkDef> network = BuildNetwork(model, options);
  if (!network.ok()) return Fail(network.status());
  StatusOr<Int8Decision> s = RunInt8Steps(*network, o, output);
  if (!s.ok()) return Fail(s.status());
  return kExitOk;
}

}  // namespace edgert
