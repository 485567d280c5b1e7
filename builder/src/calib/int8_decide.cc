// DecideInt8 (calibration.h): the INT8 steps `edgert build --int8`, `edgert calibrate` and INT8
// plan-cache builds share.
//   1. Split the data's batches: the last fifth (at least one, when there are two or more) is held
//      out for the accuracy gate; the calibrator uses the others, at most calib_batches of them.
//   2. The cache: reused when its sidecar key matches the network, calibrator and data; a cache
//      without a key file is a user's (e.g. from TensorRT) and is used as given when the caller says
//      the user named it; otherwise calibrate and write cache + key.
//   3. The accuracy gate on the held-out batches, one line per candidate; its decision is stored
//      beside a keyed cache (cache + ".gate"). Without data the stored decision is used when it
//      belongs to the cache's key and the same budget, else every eligible layer is INT8.
#include <sys/stat.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <vector>

#include "edgert/calibration.h"

namespace edgert {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::vector<char> buf(static_cast<size_t>(std::max(n, 0)) + 1);
  std::vsnprintf(buf.data(), buf.size(), fmt, again);
  va_end(again);
  return std::string(buf.data());
}

}  // namespace

StatusOr<Int8Decision> DecideInt8(const NetworkDef& network, CalibrationData* data, const Int8Settings& s,
                                  const std::string& cache_path, bool cache_named_by_user, const Int8Log& log) {
  auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  // Step 1.
  std::vector<int> calib, eval;
  if (data != nullptr) {
    const int total = data->NumBatches();
    const int held_out = total >= 2 ? std::max(1, total / 5) : 0;
    int n_calib = total - held_out;
    if (s.calib_batches > 0) n_calib = std::min(n_calib, s.calib_batches);
    for (int b = 0; b < n_calib; ++b) calib.push_back(b);
    for (int b = total - held_out; b < total; ++b) eval.push_back(b);
    say(Format("calibration data: %s; %d batches calibrate, %d held out for the accuracy gate",
               data->Describe().c_str(), n_calib, held_out));
    if (eval.empty()) {
      eval = calib;
      say("  (one batch only: the gate reuses the calibration batch, so its error is optimistic)");
    }
  }
  // Step 2.
  Int8Decision decision;
  CalibrationCache& cache = decision.cache;
  std::string key;  // the cache's key, when it has one (calibrated here or a hit)
  if (data != nullptr) {
    key = CalibrationKey(NetworkHash(network), s.calibrator, s.percentile,
                         data->DataHash() + " batches " + std::to_string(calib.size()));
    std::string why;
    if (!cache_path.empty() && Exists(cache_path) && CacheKeyMatches(cache_path, key, &why)) {
      EDGERT_ASSIGN_OR_RETURN(cache, ReadCalibrationCache(cache_path));
      say("calibration cache: hit " + cache_path);
    } else if (!cache_path.empty() && Exists(cache_path) && !Exists(CacheKeyPath(cache_path)) && cache_named_by_user) {
      key.clear();  // a user's cache: no key, so no stored gate decision either
      EDGERT_ASSIGN_OR_RETURN(cache, ReadCalibrationCache(cache_path));
      say("calibration cache: using " + cache_path + " as given (" + cache.header +
          "; no key file, so edgert cannot tell whether it fits this network: delete it to recalibrate)");
    } else {
      if (!cache_path.empty() && Exists(cache_path)) say("calibration cache: recalibrating, " + why);
      CalibrationOptions copt;
      copt.calibrator = s.calibrator;
      copt.percentile = s.percentile;
      EDGERT_ASSIGN_OR_RETURN(std::vector<TensorRange> ranges, Calibrate(network, *data, calib, copt));
      cache = CalibrationCache::ForCalibrator(s.calibrator);
      for (const TensorRange& r : ranges) cache.SetAmax(r.name, r.amax);
      if (!cache_path.empty()) {
        EDGERT_RETURN_IF_ERROR(WriteCalibrationCache(cache_path, cache));
        EDGERT_RETURN_IF_ERROR(WriteCacheKey(cache_path, key));
        say(Format("calibration cache: wrote %s (%s, %zu tensors) and %s", cache_path.c_str(), cache.header.c_str(),
                   cache.entries.size(), CacheKeyPath(cache_path).c_str()));
      } else {
        say(Format("calibration: %zu tensors (%s), not stored", cache.entries.size(), cache.header.c_str()));
      }
    }
  } else {
    if (cache_path.empty() || !Exists(cache_path)) {
      return InvalidArgument("INT8 needs calibration data (--calib DIR) or an existing calibration cache; " +
                                 (cache_path.empty() ? std::string("none was given") : cache_path + " does not exist"),
                             cache_path);
    }
    EDGERT_ASSIGN_OR_RETURN(cache, ReadCalibrationCache(cache_path));
    // The gate's decision stored with this cache, when it is still the cache's and for this budget.
    StatusOr<std::string> cache_key = ReadCacheKey(cache_path);
    StatusOr<StoredGateDecision> stored = ReadGateDecision(cache_path);
    if (cache_key.ok() && stored.ok() && stored->key == *cache_key && stored->budget == s.error_budget) {
      decision.float_layers = stored->float_layers;
      say("calibration cache: using " + cache_path + " (" + cache.header + ") with the accuracy gate's decision in " +
          GateDecisionPath(cache_path) + " (" + std::to_string(stored->float_layers.size()) +
          " layers kept float); no --calib data, so the gate does not run again");
      return decision;
    }
    std::string why_not;
    if (!Exists(GateDecisionPath(cache_path))) {
      why_not = "no stored gate decision";
    } else if (!stored.ok()) {
      why_not = stored.status().message();
    } else if (!cache_key.ok() || stored->key != *cache_key) {
      why_not = "the stored gate decision is for another calibration";
    } else {
      why_not = "the stored gate decision is for budget " + Format("%.4g", stored->budget);
    }
    say("calibration cache: using " + cache_path + " as given (" + cache.header + "); no --calib data and " + why_not +
        ", so every eligible layer is INT8");
    return decision;
  }
  // Step 3.
  GateOptions gopt;
  gopt.error_budget = s.error_budget;
  EDGERT_ASSIGN_OR_RETURN(decision.gate, RunAccuracyGate(network, cache, *data, eval, gopt));
  decision.gate_ran = true;
  const GateReport& report = decision.gate;
  int n_int8 = 0;
  for (const GateLayer& l : report.layers) n_int8 += l.int8 ? 1 : 0;
  say(Format(
      "int8 accuracy gate (%d held-out batches, budget %.4g relative L2): all INT8 %.4g, final %.4g, "
      "%d of %zu layers INT8",
      report.eval_batches, report.budget, report.error_all_int8, report.error_final, n_int8, report.layers.size()));
  for (const GateLayer& l : report.layers) {
    say(Format("  %-5s %-7s %-40s error alone %s%s%s", l.int8 ? "int8" : "float", l.op.c_str(), l.name.c_str(),
               l.error_alone < 0 ? "-" : std::to_string(l.error_alone).c_str(),
               l.int8 ? "" : "  fell back: ", l.reason.c_str()));
  }
  if (!report.within_budget) {
    say("  the error stays above the budget with every layer in float: the error is elsewhere");
  }
  decision.float_layers = report.float_layers;
  if (!cache_path.empty() && !key.empty()) {
    EDGERT_RETURN_IF_ERROR(WriteGateDecision(cache_path, key, s.error_budget, report.float_layers));
    say("accuracy gate: decision stored in " + GateDecisionPath(cache_path));
  }
  return decision;
}

}  // namespace edgert
