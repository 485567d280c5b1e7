// The edgert builder: ONNX model in, executable network out.
//
// Steps: import the ONNX file (external data included), bind build-time shapes and shape-input
// values, infer every shape and dtype while folding constant subgraphs, optimize (the passes of
// builder/src/passes: dead nodes, identities, BatchNorm / Pad folding, vertical and horizontal
// fusion, ...), lower to a NetworkDef; then, when asked for, INT8 (LowerInt8) and the channels-last
// layout (LowerNhwc), in that order.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "edgert/calibration.h"
#include "edgert/network.h"
#include "edgert/precision.h"
#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {

struct BuildOptions {
  // Build-time shapes of graph inputs, as trtexec's --shapes (name -> dims).
  std::map<std::string, Shape> shapes;
  // A batch optimization profile, as trtexec's --minShapes/--optShapes/--maxShapes: per input, its
  // shape at the smallest, the tuned and the largest batch. All three maps name the same inputs
  // (none of them also in `shapes`); only dim 0 may differ between an input's three shapes, and
  // every input given has the same min/opt/max batch. The network is built at each batch and
  // must differ only where the batch goes (see BatchProfile); its shapes are the max batch's.
  // All empty: fixed shapes.
  std::map<std::string, Shape> min_shapes;
  std::map<std::string, Shape> opt_shapes;
  std::map<std::string, Shape> max_shapes;
  // Build-time values of integer graph inputs that feed shape parameters (e.g. Reshape's shape).
  // They become constants of the network and stop being network inputs.
  std::map<std::string, Tensor> input_values;
  // Run the optimization passes between inference and lowering (results unchanged within 1e-5).
  bool optimize = true;
  // How the engine runs float layers (recorded in the plan; part of the cache key). The network is
  // the same for every precision: the CUDA engine stores float tensors as float16 for kFp16.
  Precision precision = Precision::kFp32;
  // INT8 (calibration.h): after the optimizer, calibrate on the tensor files of int8.calib_dir (or
  // reuse the cache at int8.cache_path), run the accuracy gate and lower the layers it keeps INT8
  // to INT8 convolutions (LowerInt8). Float layers run at `precision`.
  struct Int8 {
    bool enabled = false;
    std::string calib_dir;   // .npy/.pb tensors (OpenCalibrationData); "" = the cache as given
    std::string cache_path;  // the calibration cache to reuse or write ("" = scales kept in memory)
    Int8Settings settings;
    // What identifies the data in the plan-cache key (CalibrationDirKey(calib_dir)); the caller
    // sets it, so the key changes when the captured frames do.
    std::string data_key;
  } int8;
  // The layout of the float 2-D convolutions and of what lies between them (LowerNhwc): kNhwc
  // runs them channels-last (EdgertConvNhwc / EdgertMaxPoolNhwc, with Transposes where an NCHW
  // reader remains), kNchw keeps the model's layout, kAuto picks kNhwc for Precision::kFp16 (where
  // tensor-core convolutions read and write NHWC) and kNchw otherwise. Results are unchanged
  // (float32 on the CPU: within 1e-5). Part of the plan-cache key, resolved (ResolveLayout).
  enum class Layout { kAuto, kNchw, kNhwc };
  Layout layout = Layout::kAuto;
  // Optimization passes to leave out, by name ("horizontal-fusion", ...; the list is
  // OptimizationPassNames() in builder/src/passes/passes.h, an unknown name is an error): to
  // compare a fusion's speed, or to work around one. `enabled_passes` turns on the passes that are
  // off by default (OptionalPassNames(): "se-fusion"); a disabled pass stays off. Both are part of
  // the plan-cache key when not empty.
  std::vector<std::string> disabled_passes;
  std::vector<std::string> enabled_passes;
  // Binding formats of the graph inputs and outputs (IoFormat, edgert/network.h; trtexec's
  // --inputIOFormats / --outputIOFormats): empty keeps every binding the network's own; one format
  // applies to every float input (output); otherwise one per input (output), in the model's order
  // (a non-float tensor's entry must be the default). Applied last (ApplyIoFormats); part of the
  // plan-cache key when not empty.
  std::vector<IoFormat> input_formats;
  std::vector<IoFormat> output_formats;
};

// Sets the binding formats of `net`'s graph inputs and outputs (BuildOptions::input_formats /
// output_formats). Errors name the tensor: a list whose length is neither 1 nor the tensors', a
// format for a non-float tensor, channels-last for a tensor of rank < 3.
Status ApplyIoFormats(NetworkDef& net, const std::vector<IoFormat>& input_formats,
                      const std::vector<IoFormat>& output_formats);
// Parses the CLI's --input-format / --output-format: formats separated by commas ("fp16:hwc",
// "fp16:hwc,fp32"). An error naming the flag and the bad entry otherwise.
StatusOr<std::vector<IoFormat>> ParseIoFormatList(const std::string& text, const std::string& flag);

// kNchw or kNhwc: what `options.layout` means for `options.precision`.
BuildOptions::Layout ResolveLayout(const BuildOptions& options);
// "auto" / "nchw" / "nhwc".
const char* LayoutName(BuildOptions::Layout layout);
// Parses "auto" / "nchw" / "nhwc" (the CLI's --layout); an error naming the value otherwise.
StatusOr<BuildOptions::Layout> ParseLayout(const std::string& text);

// What LowerNhwc did.
struct NhwcLayoutReport {
  std::vector<std::string> nhwc_layers;  // layers made channels-last, in network order
  int convolutions = 0;                  // Conv -> EdgertConvNhwc
  int pools = 0;                         // MaxPool -> EdgertMaxPoolNhwc
  int reductions = 0;                    // GlobalAverage/MaxPool -> ReduceMean/ReduceMax over [1, 2]
  int followers = 0;                     // layout-agnostic layers that followed their inputs
  int transposes = 0;                    // Transpose layers inserted (either direction)
  int reshapes = 0;                      // Reshapes inserted instead of a Transpose (H * W == 1 or C == 1)
  int layers = 0;                        // layers of the lowered network, conversions included
};

// The layout pass for channels-last builds (builder/src/passes/nhwc_layout.cc has the rules): float
// 2-D Convs and MaxPools become EdgertConvNhwc / EdgertMaxPoolNhwc (runtime/src/ops/nhwc.h),
// global pools on NHWC tensors become ReduceMean / ReduceMax over [1, 2], layout-agnostic layers
// (elementwise, Concat, Split, Resize, Slice) follow their inputs, and one Transpose (a Reshape
// when H * W == 1 or C == 1) per tensor converts where the other layout is read. Graph inputs and outputs
// keep their names, shapes and layout; a batch profile stays valid; unused tensors (the KCRS
// weights) are dropped. `network` must be a lowered NetworkDef (after LowerInt8 for INT8 builds).
StatusOr<NetworkDef> LowerNhwc(const NetworkDef& network, NhwcLayoutReport* report = nullptr);

// What a build did to the model: node and layer counts and rewrites per optimization pass.
struct BuildReport {
  struct Pass {
    std::string name;  // e.g. "batchnorm-folding", "vertical-fusion"
    int rewrites = 0;  // summed over every run of the pass
  };
  int model_nodes = 0;         // nodes of the ONNX model
  int layers_unoptimized = 0;  // layers without the passes (after inference's constant folding)
  int layers = 0;              // layers of the built network
  std::vector<Pass> passes;    // in pipeline order; empty when not optimized
  // INT8 builds (BuildOptions::int8): DecideInt8's lines (data, cache, the gate's per-layer
  // decisions) and what LowerInt8 made INT8.
  bool int8_built = false;
  std::vector<std::string> int8_log;
  Int8LoweringReport int8;
  // The resolved layout (BuildOptions::layout) and, for kNhwc, what LowerNhwc did.
  BuildOptions::Layout layout = BuildOptions::Layout::kNchw;
  NhwcLayoutReport nhwc;
};

// A channels-last build's line for a log: "layout: NHWC, 25 of 40 layers channels-last (12
// convolutions, 1 pool, 1 reduction, 11 followers), 2 transposes and 1 reshape inserted". Empty for
// NCHW builds.
std::vector<std::string> NhwcBuildLines(const BuildReport& report);

// An INT8 build's lines for a log: DecideInt8's (data, cache, the gate's decisions), then
// "int8: N layers INT8, M candidate layers float, T tensors flow as int8". Empty otherwise.
std::vector<std::string> Int8BuildLines(const BuildReport& report);

// Imports, infers and lowers `onnx_path`. Errors name the file and the node, tensor or input.
// `report`, when given, receives the counts of the build.
StatusOr<NetworkDef> BuildNetwork(const std::string& onnx_path, const BuildOptions& options,
                                  BuildReport* report = nullptr);

struct SupportEntry {
  std::string node_name;
  std::string op_type;  // as written in the model
  Status status;        // ok, or why the node cannot be built
};

struct SupportReport {
  std::vector<SupportEntry> nodes;  // one per model node, in topological order
  bool AllSupported() const;
};

// Per-node support report (`edgert check`). A model that cannot be parsed at all, or whose inputs
// cannot be bound, is an error instead.
StatusOr<SupportReport> CheckModel(const std::string& onnx_path, const BuildOptions& options);

// Builds for one concrete set of inputs, as `edgert run` and the conformance tests do: each model
// input (in the model's order, initializers excluded) takes the shape of the tensor given for it,
// and integer inputs whose values the model needs at build time (Reshape's shape, Slice's starts,
// ...) are bound to the given values. `bound` receives the names of the inputs that became
// constants; the caller passes the remaining inputs to the engine, in the network's input order.
// The network is optimized unless `optimize` is false; `report` receives the counts.
StatusOr<NetworkDef> BuildNetworkForInputs(const std::string& onnx_path, const std::vector<Tensor>& inputs,
                                           std::vector<std::string>* bound = nullptr, BuildReport* report = nullptr,
                                           bool optimize = true);

// Parses "name:1x3x224x224[,name2:...]" (trtexec's --shapes syntax) into `shapes`.
Status ParseShapesOption(const std::string& text, std::map<std::string, Shape>* shapes);

}  // namespace edgert
