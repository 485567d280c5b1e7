// The builder's optimization passes over the inferred IR, run between InferGraph and LowerGraph.
//
// Contract of every pass: input and output is an inferred Graph (see pass_util.h); graph input and
// output names, dtypes, shapes and results stay the same (within 1e-5 relative on the CPU
// backend); nodes stay in topological order. A pass returns how many rewrites it made (0 when the
// graph is unchanged), or an error naming the node it could not handle.
#pragma once

#include <string>
#include <vector>

#include "edgert/status.h"
#include "ir/graph.h"

namespace edgert {

// Removes folded nodes, nodes none of whose outputs reach a graph output, and unused trailing
// optional outputs (MaxPool's Indices, Dropout's mask, ...). Counts removed nodes and outputs.
StatusOr<int> EliminateDeadNodes(Graph& graph);

// Runs every live node whose inputs are all build-time constants (or a Shape node) on its CPU
// kernel and turns its outputs into constants, up to kMaxFoldElements output elements per node.
StatusOr<int> FoldConstants(Graph& graph);

// Bypasses nodes that compute their input unchanged: Identity, Dropout in inference (no
// training_mode or a constant false one, mask unused), Cast to the same dtype, Reshape / Flatten /
// Squeeze / Unsqueeze to the same shape, Transpose by the identity permutation, Pad by zeros,
// single-input Concat / Sum / Max / Min / Mean.
StatusOr<int> RemoveIdentities(Graph& graph);

// Transpose -> Transpose becomes one Transpose of the composed permutation (nothing when it is the
// identity); Reshape whose data comes from a Reshape / Flatten / Squeeze / Unsqueeze reads that
// node's input instead (the static output shape is the new shape constant).
StatusOr<int> CollapseTransposeReshape(Graph& graph);

// BatchNormalization (inference) folded into the Conv, ConvTranspose or Gemm that alone feeds it:
// per output channel s = gamma / sqrt(var + eps), W' = W * s, b' = (b - mean) * s + beta.
StatusOr<int> FoldBatchNorm(Graph& graph);

// Add / Sub / Mul / Div by a per-output-channel constant folded into the Conv that alone feeds it
// (weights and bias rescaled / shifted).
StatusOr<int> FoldConvAffine(Graph& graph);

// Pad (constant mode, zero value, non-negative pads on spatial axes only) folded into the pads of
// the Conv or AveragePool reading it (AveragePool then counts the padding, count_include_pad=1, as
// the padded input did); MaxPool only for a -inf pad value.
StatusOr<int> FoldPad(Graph& graph);

// The Erf form of GELU written as Div/Mul, Erf, Add, Mul, Mul nodes becomes one Gelu node.
StatusOr<int> FuseGeluPattern(Graph& graph);

// Conv (+ residual Add) (+ activation) and Gemm (+ activation) fused into one layer with the
// epilogue attributes of edgert/fused_activation.h (see vertical_fusion.cc for the patterns).
StatusOr<int> FuseVertical(Graph& graph);

// A Conv fused with an activation whose result only an Add with a same-shape float tensor reads
// absorbs that Add as a residual added after the activation (kResidualAfterActivationAttr,
// edgert/fused_activation.h). Not run for INT8 builds: the INT8 convolution adds its residual
// before the activation.
StatusOr<int> FuseActivationResidual(Graph& graph);

// Sibling Conv nodes reading the same tensor with constant weights, equal attributes, group 1
// and the same kernel size become one Conv with concatenated weights and biases followed by a
// Split on the channel axis that writes the original outputs.
StatusOr<int> FuseHorizontalConv(Graph& graph);

// Chains of two or more elementwise steps (unary activations and math, binary operators with a
// float scalar constant) become one EdgertFusedElementwise layer.
StatusOr<int> FuseElementwiseChains(Graph& graph);

// Squeeze-and-excitation blocks (global average pool, 1x1 Conv (+ act), 1x1 Conv + gate, Mul by
// the input) become one EdgertSqueezeExcite layer (see se_fusion.cc for the pattern).
StatusOr<int> FuseSqueezeExcite(Graph& graph);

using PassFn = StatusOr<int> (*)(Graph&);

struct PassCount {
  std::string name;
  int rewrites = 0;  // summed over every run of the pass
};

struct OptimizeReport {
  int nodes_before = 0;  // live (unfolded) nodes on entry
  int nodes_after = 0;
  std::vector<PassCount> passes;  // in pipeline order, one entry per distinct pass
};

// An ordered pipeline of stages; a stage is a list of passes, run once or, when `repeat`, again
// and again until a round makes no rewrite (at most kMaxRounds rounds). With `verify` the graph is
// checked after every pass (VerifyGraph) so that a broken rewrite names the pass.
class PassManager {
 public:
  static constexpr int kMaxRounds = 16;

  void AddStage(std::vector<std::pair<std::string, PassFn>> passes, bool repeat);
  void set_verify(bool verify) { verify_ = verify; }
  Status Run(Graph& graph, OptimizeReport* report) const;

 private:
  struct Stage {
    std::vector<std::pair<std::string, PassFn>> passes;
    bool repeat = false;
  };
  std::vector<Stage> stages_;
  bool verify_ = true;
};

// The default pipeline: cleanup (dead nodes, identities, constants, transpose/reshape chains) to a
// fixed point; Pad and BatchNormalization folding; vertical fusion (after BN folding, so that
// Conv -> BN -> Relu becomes one layer); squeeze-excitation (after vertical fusion, whose
// epilogues it reads); horizontal fusion (after vertical fusion, so that siblings
// with equal epilogues merge); elementwise chains (what no epilogue absorbed); cleanup again.
// Passes named in `disabled` are left out (the cleanup passes too, where they appear); the
// optional passes (OptionalPassNames()) run only when named in `enabled`.
PassManager DefaultPipeline(const std::vector<std::string>& disabled = {}, const std::vector<std::string>& enabled = {});

// The names of the pipeline's passes, in order, each once ("dead-nodes", ..., "se-fusion", ...):
// what BuildOptions::disabled_passes / enabled_passes may name.
std::vector<std::string> OptimizationPassNames();
// The passes that are off unless enabled: "se-fusion" (on an H100 in FP16 with CUDA graphs the
// fused EdgertSqueezeExcite layer is slower than the four layers it replaces: EfficientNet-B0
// batch 1 0.486 ms fused, 0.460 ms unfused).
std::vector<std::string> OptionalPassNames();

// Runs DefaultPipeline(disabled, enabled) on `graph`; an unknown name in either list is an error
// listing the valid ones.
StatusOr<OptimizeReport> OptimizeGraph(Graph& graph, const std::vector<std::string>& disabled = {},
                                       const std::vector<std::string>& enabled = {});

}  // namespace edgert
