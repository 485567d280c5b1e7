// Pieces the edgert CLI's commands share: exit codes, error printing, file helpers and each
// command's entry point and help text.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "edgert/calibration.h"
#include "edgert/memory_plan.h"
#include "edgert/network.h"
#include "edgert/status.h"

namespace edgert {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFail = 1;   // a model, plan or data error, or a failed comparison
inline constexpr int kExitUsage = 2;  // a usage error

// Prints "edgert: <message>" on stderr.
void PrintError(const std::string& message);
// Prints the status and returns kExitFail.
int Fail(const Status& s);
// Prints the message and a pointer to 'edgert help COMMAND' ("" for the main page); returns kExitUsage.
int Usage(const std::string& message, const std::string& command);

bool FileExists(const std::string& path);
// mkdir -p.
Status MakeDirs(const std::string& dir);
// True for a file that starts with the plan magic "EDGERTPL" and is not named *.onnx, and for any
// file named *.plan (so a damaged plan is reported as one, not as a broken ONNX model).
bool LooksLikePlan(const std::string& path);
// "memory: arena 7225344 bytes (lower bound 7225344, no reuse 45881344: 15.7%)".
std::string MemoryFiguresLine(const MemoryFigures& figures);

// INT8 options shared by `edgert build` and `edgert calibrate` (int8_command.cc).
#define EDGERT_INT8_OPTIONS_HELP                                                                         \
  "  --int8                  calibrate INT8 scales, run the accuracy gate and (build) write an INT8\n"   \
  "                          plan: INT8 convolutions, the other layers FP32 (FP16 with --fp16/--best)\n" \
  "  --calib DIR             calibration data, sorted by name: .npy/.pb tensor files (the GStreamer\n"   \
  "                          element's captures, NNNNNN.npy of [1,C,H,W] float32) or pictures\n"         \
  "                          (.jpg/.png/.bmp, preprocessed as --model-config says)\n"                    \
  "  --model-config YAML     the model config whose input: section preprocesses calibration pictures\n"  \
  "  --calib-cache FILE      the calibration cache (TensorRT's text format; default beside the plan,\n"  \
  "                          NAME.calib, with its key in NAME.calib.key); a cache without a key file\n"  \
  "                          (e.g. from TensorRT) is used as given\n"                                    \
  "  --calibrator KIND       entropy (default; TensorRT's EntropyCalibration2), percentile, minmax\n"    \
  "  --percentile P          the percentile calibrator's percentile (default 99.99)\n"                   \
  "  --calib-batches N       calibrate on at most N batches (the last fifth is held out for the gate)\n" \
  "  --int8-error-budget X   relative L2 output error the gate allows (default 0.05)\n"

struct Int8Options {
  bool enabled = false;
  std::string calib_dir;
  std::string model_config;  // YAML whose `input:` preprocessing applies to picture folders
  std::string cache_path;    // empty: DefaultCachePath(plan or model)
  CalibratorKind calibrator = CalibratorKind::kEntropy;
  double percentile = kDefaultPercentile;
  int calib_batches = 0;  // 0: all but the held-out ones
  double error_budget = kDefaultInt8ErrorBudget;
};
// Consumes args[*i] (and its value) when it is an INT8 option; `matched` says whether it was.
// Returns a usage error message, or "".
std::string ParseInt8Arg(const std::vector<std::string>& args, size_t* i, Int8Options* o, bool* matched);
// "model.plan" / "model.onnx" -> "model.calib".
std::string DefaultCachePath(const std::string& plan_or_model);

// --input-format LIST / --output-format LIST (also =LIST) of build and bench: the bindings'
// formats (BuildOptions::input_formats / output_formats).
struct IoFormatOptions {
  std::vector<IoFormat> inputs;
  std::vector<IoFormat> outputs;
  bool given() const { return !inputs.empty() || !outputs.empty(); }
};
// True when args[*i] is one of the two flags (its value consumed); *error says what was wrong with it.
bool ParseIoFormatArg(const std::vector<std::string>& args, size_t* i, IoFormatOptions* o, std::string* error);
#define EDGERT_IO_FORMAT_HELP                                                                          \
  "  --input-format F,...    how the caller's buffers hold the inputs (trtexec's --inputIOFormats):\n" \
  "                          fp32 or fp16, optionally :chw (the model's layout) or :hwc (channels-\n"  \
  "                          last: [N,H,W,C] for an [N,C,H,W] input); one format for every float\n"    \
  "                          input, or one per input. fp16:hwc feeds an FP16 channels-last engine\n"   \
  "                          without a conversion kernel\n"                                            \
  "  --output-format F,...   the same for the outputs (fp16 halves the bytes copied back)\n"

// The calibration data of --calib DIR: tensor files, or pictures preprocessed per --model-config
// (calib_images.cc).
StatusOr<std::unique_ptr<CalibrationData>> OpenCliCalibrationData(const Int8Options& o, const NetworkDef& network);
// Calibrates (or reuses the cache), writes cache + key and runs the accuracy gate, printing each step.
StatusOr<Int8Decision> RunInt8Steps(const NetworkDef& network, const Int8Options& o, const std::string& cache_path);

extern const char kCalibrateHelp[];
int RunCalibrateCommand(const std::vector<std::string>& args);
extern const char kBuildHelp[];
extern const char kInspectHelp[];
extern const char kBenchHelp[];
int RunBuildCommand(const std::vector<std::string>& args);
int RunInspectCommand(const std::vector<std::string>& args);
int RunBenchCommand(const std::vector<std::string>& args);

}  // namespace edgert
