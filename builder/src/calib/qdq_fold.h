// Explicit quantization (TensorRT's name): the QuantizeLinear/DequantizeLinear pairs of a Q/DQ
// model (PyTorch, ModelOpt, ONNX Runtime's quantize_static) folded into INT8 convolutions
// (EdgertInt8Conv), so the model runs in INT8 instead of float layers around simulated
// quantization. Internal to the builder: BuildNetwork calls it after the optimizer.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "edgert/calibration.h"
#include "edgert/network.h"
#include "edgert/status.h"

namespace edgert {

struct QdqPair {
  std::string quantize;    // the QuantizeLinear layer
  std::string dequantize;  // the DequantizeLinear layer reading it
  std::string tensor;      // the float tensor the QuantizeLinear quantizes
  float scale = 0;         // its per-tensor scale (0 when the pair is not symmetric int8 per tensor)
  std::string reason;      // kept pairs: why the pair stays in the network
};

struct QdqFoldReport {
  std::vector<std::string> folded_convs;           // now EdgertInt8Conv, in network order
  std::map<std::string, std::string> float_convs;  // Convs left float -> why
  std::vector<QdqPair> removed;                    // pairs removed (every reader folded)
  std::vector<QdqPair> kept;                       // pairs left in the network, with the reason
  int absorbed_activations = 0;                    // Relus between two pairs of one scale fused into their Conv (1b)
  int folded_weights = 0;  // DequantizeLinear weights and biases this pass folded (the optimizer had not)
  Int8LoweringReport lowering;
};

// Folds the Q/DQ pairs of `optimized` (a built, optimized network):
//   1. A pair is DequantizeLinear(QuantizeLinear(t, s, zp), s, zp) with one float32 constant scale
//      s > 0 (per tensor), the QuantizeLinear writing int8, zero points 0 (or absent on the
//      DequantizeLinear), the same scale and zero point on both. Such a pair records scale(t) = s.
//      Others stay, with the reason: uint8 (an absent QuantizeLinear zero point means uint8),
//      nonzero zero point, per-axis scale, mismatched scales.
//      1b. Conv -> pair(s) -> Relu -> pairs with the same scale s (what ONNX Runtime writes for
//      Conv + Relu with symmetric activations) is exactly relu(Conv) -> pairs(s): the Relu becomes
//      the Conv's fused activation and the pair before it goes.
//   2. A DequantizeLinear of constants feeding a Conv weight or bias is folded to a float32 constant
//      ((q - zp) * scale, per tensor or per axis) when the optimizer has not done it.
//   3. Every Conv that CanLowerToInt8 accepts and whose input (and fused residual) is the output
//      of a pair of step 1 reads t directly; every other Conv stays float (LowerInt8's keep_float).
//   4. Q/DQ layers nothing reads any more (and that write no graph output) are removed.
//   5. LowerInt8 with the pairs' scales: the folded Convs become EdgertInt8Conv, and a Conv output
//      quantized by a pair whose readers all became INT8 flows to them as int8 with the pair's
//      scale as its y_scale.
// Weights are re-quantized by LowerInt8 from their float values (scale = max|w| / 127 per output
// channel): a weight whose channel's max |q| is 127 keeps its int8 values exactly; one whose max |q|
// is below 127 moves to the finer grid (each value by at most half of its new step, less than half
// an original step); one that holds -128 (PyTorch's amax / 127.5 scales can) moves to a grid
// 128/127 coarser, each value by at most half of that step. So a weight may move by up to one step:
// what the tests measure. Without any pair to fold the network is returned unchanged.
StatusOr<NetworkDef> FoldExplicitQuantization(const NetworkDef& optimized, QdqFoldReport* report = nullptr);

// True when the network has a QuantizeLinear or DequantizeLinear layer.
bool HasQdqLayers(const NetworkDef& network);

}  // namespace edgert
