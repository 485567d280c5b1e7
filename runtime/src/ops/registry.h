// Registration of operator implementations by family. Each family file (nn.cc, elementwise.cc,
// tensor_ops.cc, ...) defines one Register*Ops function that calls Register() for its operators.
#pragma once

#include "edgert/op_def.h"

namespace edgert {

class OpRegistry {
 public:
  void Register(OpType op, OpDef def);
  const OpDef* Find(OpType op) const;

 private:
  static constexpr size_t kSlots = 256;  // ids are < 256 (see op_type.h)
  OpDef defs_[kSlots];
  bool present_[kSlots] = {};
};

void RegisterNnOps(OpRegistry& registry);           // ops/nn.cc
void RegisterElementwiseOps(OpRegistry& registry);  // ops/elementwise.cc
void RegisterReduceOps(OpRegistry& registry);       // ops/reduce.cc
void RegisterTensorOps(OpRegistry& registry);       // ops/tensor_ops.cc
void RegisterFusedElementwiseOp(OpRegistry& registry);  // ops/fused_elementwise.cc
void RegisterQuantizeOps(OpRegistry& registry);         // ops/quantize.cc
void RegisterInt8ConvOp(OpRegistry& registry);          // ops/int8_conv.cc
void RegisterSqueezeExciteOp(OpRegistry& registry);     // ops/squeeze_excite.cc

}  // namespace edgert
