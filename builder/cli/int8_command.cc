// INT8 on the CLI: `edgert calibrate` and the --int8 part of `edgert build`.
//
// RunInt8Steps (both commands): opens the calibration data (--calib DIR: tensor files, or pictures
// with --model-config) and runs DecideInt8 (calibration.h), printing its lines.
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
  std::unique_ptr<CalibrationData> data;
  if (!o.calib_dir.empty()) {
    EDGERT_ASSIGN_OR_RETURN(data, OpenCliCalibrationData(o, network));
  }
  Int8Settings settings;
  settings.calibrator = o.calibrator;
  settings.percentile = o.percentile;
  settings.calib_batches = o.calib_batches;
  settings.error_budget = o.error_budget;
  return DecideInt8(network, data.get(), settings, cache_path, !o.cache_path.empty(),
                    [](const std::string& line) { std::printf("%s\n", line.c_str()); });
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
