// INT8 calibration (the CPU side): activation ranges from calibration data, TensorRT-compatible
// calibration caches, simulated INT8 networks and the accuracy gate that keeps sensitive layers in
// float.
//
// Flow (`edgert build --int8 --calib DIR`, `edgert calibrate`):
//   1. OpenCalibrationData(DIR, network): the batches, in file-name order, and a hash of the data.
//   2. Calibrate(network, data, options): runs the FP32 network on the reference CPU engine over the
//      calibration batches and reduces every float activation to one symmetric range `amax`
//      (scale = amax / 127) with the chosen calibrator (minmax, percentile, entropy).
//   3. The ranges go to a CalibrationCache (TensorRT's text format, written beside the plan with a
//      sidecar key file so a changed network, calibrator or data never reuses stale scales).
//   4. RunAccuracyGate(network, cache, data, held-out batches): simulated INT8 (SimulateInt8) against
//      FP32, one layer at a time, then greedy fallback of the most sensitive layers to float until
//      the output error is within the budget.
//
// Errors name the file, tensor or layer at fault. Nothing here throws or aborts.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "edgert/network.h"
#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {

// ---- Calibrators ------------------------------------------------------------------------------

enum class CalibratorKind : uint8_t { kEntropy, kPercentile, kMinMax };

// "entropy", "percentile", "minmax".
const char* CalibratorName(CalibratorKind kind);
// The algorithm name of a TensorRT cache header: "EntropyCalibration2", "MinMaxCalibration";
// "PercentileCalibration" for percentile (TensorRT has no percentile calibrator: TensorRT refuses a
// cache with that header, see README).
const char* CalibratorAlgorithm(CalibratorKind kind);
StatusOr<CalibratorKind> ParseCalibrator(const std::string& text);

inline constexpr int kCalibrationBins = 2048;  // histogram bins over [0, amax] (TensorRT's count)
inline constexpr int kQuantizedLevels = 128;   // |q| levels of symmetric int8 (0..127)
inline constexpr double kDefaultPercentile = 99.99;

// A histogram of |x| with bins of equal width over [0, counts.size() * bin_width).
struct AbsHistogram {
  double bin_width = 0;
  std::vector<double> counts;
};

// Thresholds (amax) from a histogram; all return 0 for an empty histogram.
//   Percentile: the upper edge of the first bin at which the cumulative count reaches
//     percentile / 100 of the total.
//   Entropy (TensorRT's published EntropyCalibration algorithm, GTC 2017): for every candidate
//     i = 128 .. N bins, P = counts[0, i) with the counts at and beyond i added to P[i-1]; Q =
//     counts[0, i) merged into 128 groups (group j = bins [j*m, (j+1)*m), m = i / 128, the last
//     group also takes the remainder) and spread back evenly over the group's non-zero bins; both
//     smoothed (normalised, eps = 1e-4 on every zero bin, normalised again); the i with the
//     smallest KL(P || Q) wins (the first on ties) and the threshold is its upper edge i * width.
double PercentileThreshold(const AbsHistogram& hist, double percentile);
double EntropyThreshold(const AbsHistogram& hist, int quantized_levels = kQuantizedLevels);
// KL(P || Q) of candidate i as EntropyThreshold computes it (exposed for tests).
double EntropyDivergence(const AbsHistogram& hist, int bins_kept, int quantized_levels = kQuantizedLevels);

// ---- Calibration cache (TensorRT's text format) ---------------------------------------------------
//
// Line 1: "TRT-<version>-<algorithm>", e.g. "TRT-8601-EntropyCalibration2". Then one line per tensor,
// "<name>: <hex>", where <hex> is the IEEE-754 float32 scale's bits as a big-endian hex number
// (1.0 -> 3f800000). Names may contain ':' and spaces ("(Unnamed Layer* 4) [Fully Connected]_output");
// the separator is the last ": ". The scale is amax / 127.
struct CalibrationCache {
  struct Entry {
    std::string name;
    uint32_t bits = 0;    // the float32 scale's bit pattern
    std::string hex;      // as read (kept so a round trip is byte-exact); empty: written as %08x
    float scale() const;  // the float32 whose bits are `bits`
  };
  std::string header;  // the whole first line, e.g. "TRT-8601-EntropyCalibration2"
  std::vector<Entry> entries;
  bool final_newline = true;  // whether the text ended with '\n'

  // A cache with header "TRT-8601-<algorithm>" (the TensorRT version whose format this is).
  static CalibrationCache ForCalibrator(CalibratorKind kind);
  // Adds or replaces `name` with scale = amax / 127.
  void SetAmax(const std::string& name, float amax);
  void SetScale(const std::string& name, float scale);
  // nullptr when the cache has no entry for `name`.
  const Entry* Find(const std::string& name) const;
  // The algorithm part of the header ("EntropyCalibration2"), "" when the header is malformed.
  std::string Algorithm() const;
};

// Parses the text; `path` names the file in errors (line numbers are given).
StatusOr<CalibrationCache> ParseCalibrationCache(const std::string& text, const std::string& path = "cache");
std::string SerializeCalibrationCache(const CalibrationCache& cache);
StatusOr<CalibrationCache> ReadCalibrationCache(const std::string& path);
// Atomic write (temporary file + rename).
Status WriteCalibrationCache(const std::string& path, const CalibrationCache& cache);

// The key a cache is valid for: SHA-256 of the FP32 network (every tensor's name, dtype, shape and
// constant bytes, every layer's op, attributes and wiring), the calibrator (with the percentile) and
// the calibration data hash. Stored as one line "edgert-calib-key <hex>" in the sidecar file
// CacheKeyPath(cache path) = cache path + ".key", never inside the cache (TensorRT would not parse it).
std::string NetworkHash(const NetworkDef& network);
std::string CalibrationKey(const std::string& network_hash, CalibratorKind kind, double percentile,
                           const std::string& data_hash);
std::string CacheKeyPath(const std::string& cache_path);
// True when the sidecar key exists and equals `key`; `why`, when given, receives the reason when not.
bool CacheKeyMatches(const std::string& cache_path, const std::string& key, std::string* why = nullptr);
Status WriteCacheKey(const std::string& cache_path, const std::string& key);
// The key a cache's sidecar holds (without its "edgert-calib-key " prefix).
StatusOr<std::string> ReadCacheKey(const std::string& cache_path);

// The accuracy gate's decision, stored beside the cache as GateDecisionPath(cache) = cache + ".gate"
// ("edgert-int8-gate v1", "key <the cache's key>", "budget <b>", one "float <layer>" per layer the
// gate kept float), so a build from the cache alone (e.g. the same model at another batch, without
// calibration data) keeps the gate's choice. Valid only while its key equals the cache's key file.
struct StoredGateDecision {
  std::string key;
  double budget = 0;
  std::set<std::string> float_layers;
};
std::string GateDecisionPath(const std::string& cache_path);
Status WriteGateDecision(const std::string& cache_path, const std::string& key, double budget,
                         const std::set<std::string>& float_layers);
StatusOr<StoredGateDecision> ReadGateDecision(const std::string& cache_path);

// ---- Calibration data -----------------------------------------------------------------------------

// Batches of network inputs. Batch(i) returns the network's inputs in order, with exactly their
// dtypes and shapes. Not thread-safe.
class CalibrationData {
 public:
  virtual ~CalibrationData() = default;
  virtual int NumBatches() const = 0;
  virtual StatusOr<std::vector<Tensor>> Batch(int index) = 0;
  // SHA-256 over every sample's file name and bytes, in order.
  virtual const std::string& DataHash() const = 0;
  // "120 samples from DIR (.npy), 120 batches of 1".
  virtual std::string Describe() const = 0;
};

// A directory of tensor files (.npy, .pb), sorted by name, for a network with one float input:
//   - a file of exactly the input's shape is one batch;
//   - a file of shape [1, ...rest] (what the GStreamer element captures: NNNNNN.npy, [1,C,H,W] float32)
//     is one sample; a network input [N, ...rest] takes N consecutive samples per batch (a trailing
//     partial batch is dropped).
// Other files (README, images) are ignored; a directory with no tensor file, a file of another shape
// or dtype, and a network with several inputs are errors naming the directory or the file.
StatusOr<std::unique_ptr<CalibrationData>> OpenCalibrationData(const std::string& dir, const NetworkDef& network);

// Decodes and preprocesses one picture into a [1, C, H, W] float32 tensor (the CLI passes
// vision::LoadImageAsInput with the model config's preprocessing). Called from one thread.
using ImageLoader = std::function<StatusOr<Tensor>(const std::string& path)>;

// A directory of pictures (*.jpg, *.jpeg, *.png, *.bmp, any case), sorted by name, for a network
// with one float input [N, C, H, W]: each picture, through `loader`, is one sample; N samples make a
// batch (a trailing partial batch is dropped). `preprocess_key` (e.g. the model config's
// preprocessing fields as text) joins the data hash, so changed preprocessing recalibrates. Errors
// name the directory, or the picture whose tensor does not fit the input.
StatusOr<std::unique_ptr<CalibrationData>> OpenImageCalibrationData(const std::string& dir, const NetworkDef& network,
                                                                    ImageLoader loader,
                                                                    const std::string& preprocess_key);
// The data hash OpenCalibrationData gives the tensor files of `dir` (SHA-256 over their names and
// bytes, in name order), without a network: what an INT8 plan-cache key records of its data.
StatusOr<std::string> CalibrationDirKey(const std::string& dir);

// True when `dir` holds at least one picture OpenImageCalibrationData would read.
bool DirHasImages(const std::string& dir);

// Test and API helper: batches held in memory (`batches[i]` in network input order); the hash is
// over the tensors' bytes.
std::unique_ptr<CalibrationData> InMemoryCalibrationData(std::vector<std::vector<Tensor>> batches);

// ---- Calibration ----------------------------------------------------------------------------------

struct CalibrationOptions {
  CalibratorKind calibrator = CalibratorKind::kEntropy;
  double percentile = kDefaultPercentile;  // percentile calibrator only, in (0, 100]
  int bins = kCalibrationBins;
};

struct TensorRange {
  std::string name;
  float amax = 0;  // symmetric range [-amax, amax]; scale = amax / 127
};

// Runs `network` (FP32) on the reference CPU engine over data batches `batches` and returns one range
// per float activation (graph inputs and every float layer output), in network tensor order.
// MinMax makes one pass; percentile and entropy a second one to fill histograms over [0, max|x|].
StatusOr<std::vector<TensorRange>> Calibrate(const NetworkDef& network, CalibrationData& data,
                                             const std::vector<int>& batches, const CalibrationOptions& options);

// ---- Simulated INT8 and the accuracy gate -----------------------------------------------------

// True for the layers INT8 may quantize: Conv, Gemm and MatMul (with float inputs); those that
// CanLowerToInt8 rejects stay float with the reason.
bool IsInt8Candidate(const LayerDef& layer, const NetworkDef& network);

// The network with simulated INT8 for every candidate layer that CanLowerToInt8 accepts and
// `keep_float` (layer names) does not name:
//   - input 0 (and a fused Conv's residual) goes through QuantizeLinear -> DequantizeLinear with
//     the cache's per-tensor scale (int8, zero point 0), one pair per tensor;
//   - a constant weight is replaced by its per-output-channel symmetric quantize-dequantize
//     (scale_c = max|W_c| / 127; channel axis 0 for Conv and Gemm with transB=1, the last axis
//     otherwise), rounded half to even as QuantizeLinear does.
// A candidate CanLowerToInt8 rejects, or whose activation input has no cache entry, stays float
// and is listed in `skipped` with the reason. `quantized` receives the names of the layers made INT8.
StatusOr<NetworkDef> SimulateInt8(const NetworkDef& network, const CalibrationCache& cache,
                                  const std::set<std::string>& keep_float, std::vector<std::string>* quantized,
                                  std::map<std::string, std::string>* skipped = nullptr);

// True when LowerInt8 can make `layer` an INT8 layer (EdgertInt8Conv): a 2-D Conv with group 1,
// input channels a multiple of 16, constant float32 weights and bias, explicit or auto pads; or a
// Gemm A [N, C] x constant B (transA 0, alpha = beta = 1, C one bias per output or absent, C a
// multiple of 16), lowered as a 1x1 convolution of A seen as [N, C, 1, 1]. `why` receives the
// reason when not ("no INT8 kernel for MatMul", "grouped convolution ...").
bool CanLowerToInt8(const LayerDef& layer, const NetworkDef& network, std::string* why = nullptr);

struct Int8LoweringReport {
  std::vector<std::string> int8_layers;             // lowered to EdgertInt8Conv, in network order
  std::map<std::string, std::string> float_layers;  // candidates left float -> why
  int int8_tensors = 0;                             // activations that flow between INT8 layers as int8 (no float copy)
  int conversions = 0;  // float tensors quantized for INT8 readers (EdgertQuantizeNhwc)
};

// The network with every candidate that CanLowerToInt8 accepts and `keep_float` does not name
// replaced by an EdgertInt8Conv (runtime/src/ops/int8_conv.h): int8 NHWC activations with the
// cache's per-tensor scales, int8 KRSC weights with per-output-channel scales (as
// FakeQuantizePerChannel), the bias, residual and activation fused. A tensor whose readers are all
// INT8 layers stays int8 between them; float readers get the float NCHW tensor as before. Computes
// what SimulateInt8 simulates for the same `keep_float`, up to float rounding.
StatusOr<NetworkDef> LowerInt8(const NetworkDef& network, const CalibrationCache& cache,
                               const std::set<std::string>& keep_float, Int8LoweringReport* report = nullptr);

// Per-output-channel symmetric fake quantization of a float32 weight along `axis` (exposed for tests).
StatusOr<Tensor> FakeQuantizePerChannel(const Tensor& weight, int64_t axis);

// 0.05: see README ("INT8 accuracy gate"): 5% relative L2 on the outputs is ~26 dB SNR, well inside
// what keeps a classifier's top-1 and a detector's boxes (DESIGN: INT8 is judged by the task).
inline constexpr double kDefaultInt8ErrorBudget = 0.05;

struct GateOptions {
  double error_budget = kDefaultInt8ErrorBudget;  // relative L2 over all outputs and batches
};

struct GateLayer {
  std::string name;
  std::string op;           // "Conv", "Gemm", "MatMul"
  bool int8 = false;        // final decision
  double error_alone = -1;  // output error with only this layer in INT8 (-1: not measured)
  std::string reason;       // why it fell back (empty when INT8)
};

struct GateReport {
  std::vector<GateLayer> layers;  // candidates, in network order
  int eval_batches = 0;
  double error_all_int8 = 0;  // every candidate quantized
  double error_final = 0;     // with the fallbacks
  double budget = 0;
  bool within_budget = false;
  std::set<std::string> float_layers;  // the candidates that stay float
};

// Relative L2 ‖a − b‖ / ‖b‖ accumulated over several tensors (sums of squares over all of them).
// NaN or Inf anywhere gives +Inf.
double RelativeL2(const std::vector<Tensor>& outputs, const std::vector<Tensor>& reference);

// 1. FP32 reference outputs of `network` on `eval_batches`;
// 2. all candidates in INT8: within the budget, they all stay INT8 (no per-layer measurement:
//    error_alone stays -1);
// 3. otherwise every candidate alone in INT8 -> its error (its sensitivity), and while the error
//    exceeds the budget the INT8 layer with the largest error alone goes back to float and the
//    error is measured again.
StatusOr<GateReport> RunAccuracyGate(const NetworkDef& network, const CalibrationCache& cache, CalibrationData& data,
                                     const std::vector<int>& eval_batches, const GateOptions& options);

// ---- The INT8 build steps ------------------------------------------------------------------------

struct Int8Settings {
  CalibratorKind calibrator = CalibratorKind::kEntropy;
  double percentile = kDefaultPercentile;
  int calib_batches = 0;  // 0: every batch but the held-out ones
  double error_budget = kDefaultInt8ErrorBudget;
};

// One line of progress ("calibration cache: hit model.calib", the gate's per-layer lines).
using Int8Log = std::function<void(const std::string&)>;

// What DecideInt8 decided: the scales and the candidate layers the gate kept float.
struct Int8Decision {
  CalibrationCache cache;
  std::set<std::string> float_layers;
  bool gate_ran = false;
  GateReport gate;
};

// The INT8 steps of `edgert build --int8` / `edgert calibrate` and of INT8 plan-cache builds (see
// int8_decide.cc): split `data`'s batches (the last fifth is held out for the gate); reuse the cache
// at `cache_path` when its key matches (a keyless cache only when `cache_named_by_user`), else
// calibrate and write cache + key there ("" = keep the scales in memory only); run the gate. With
// `data` null the cache at `cache_path` must exist and is used as given, without a gate.
StatusOr<Int8Decision> DecideInt8(const NetworkDef& network, CalibrationData* data, const Int8Settings& settings,
                                  const std::string& cache_path, bool cache_named_by_user, const Int8Log& log);

}  // namespace edgert
