// EdgertSqueezeExcite: a squeeze-and-excitation block (EfficientNet, MobileNetV3, RegNet-Y) as one
// layer. The builder's SE pass (builder/src/passes/se_fusion.cc) writes it in place of
//   GlobalAveragePool / ReduceMean -> Conv 1x1 (+ act) -> Conv 1x1 (+ gate) -> Mul(X, gate);
// it is never found in an ONNX model. Shared by the CPU reference (squeeze_excite.cc) and the CUDA
// kernel (backend/cuda/kernels_se.cu) so both accept the same layers with the same messages.
//
//   inputs   0  X   float [N, C, H, W]   (channels_last = 1: [N, H, W, C])
//            1  W1  float [Cr, C]        the squeeze 1x1 convolution's weight [Cr, C, 1, 1], reshaped
//            2  B1  float [Cr]
//            3  W2  float [C, Cr]        the excitation 1x1 convolution's weight [C, Cr, 1, 1], reshaped
//            4  B2  float [C]
//   attributes:
//            channels_last                       int, 0 (default) or 1
//            activation, activation_alpha/_beta  the inner activation, as the fused epilogue of
//                                                edgert/fused_activation.h; absent: identity
//            gate, gate_alpha, gate_beta         the gate, same names, kinds and defaults
//                                                (e.g. "Sigmoid", "HardSigmoid"); required
//   output   Y   X's shape and layout
//
//   s[n, c]   = mean over (h, w) of X[n, c, h, w]                 (float accumulation)
//   z[n, r]   = act(B1[r] + sum over c of W1[r, c] * s[n, c])
//   g[n, c]   = gate(B2[c] + sum over r of W2[c, r] * z[n, r])
//   Y[n, c, h, w] = X[n, c, h, w] * g[n, c]
// which is the ONNX subgraph it replaces, up to float rounding. Every dimension may be 1; H * W
// must be at least 1.
#pragma once

#include <cstdint>

#include "edgert/op_def.h"
#include "edgert/status.h"
#include "fused_activation.h"

namespace edgert {

inline constexpr const char* kSqueezeExciteGateAttr = "gate";
inline constexpr const char* kChannelsLastAttr = "channels_last";

struct SqueezeExciteParams {
  int64_t n = 0, c = 0, h = 0, w = 0;  // X's logical sizes, whatever the layout
  int64_t cr = 0;                      // squeezed channels (W1's rows)
  bool channels_last = false;
  FusedEpilogue activation;  // kNone when absent
  FusedEpilogue gate;        // never kNone
};

// EdgertSqueezeExcite's checks: five float32 inputs, X of rank 4, W1 [Cr, C], B1 [Cr], W2 [C, Cr],
// B2 [C] against X's channels, the attributes. Errors name the layer and the input or attribute.
StatusOr<SqueezeExciteParams> ResolveSqueezeExcite(const OpContext& ctx);

}  // namespace edgert
