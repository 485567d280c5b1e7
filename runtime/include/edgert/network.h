// NetworkDef: the lowered, immutable network a backend executes. The builder produces it from the
// IR; plans serialise it. Tensors are referred to by index; constants carry their values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgert/attributes.h"
#include "edgert/op_type.h"
#include "edgert/tensor.h"

namespace edgert {

struct TensorDef {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Shape shape;   // fully static
  Tensor value;  // defined() for constants (weights, folded values)
  bool is_constant() const { return value.defined(); }
};

// Int attribute a GPU build adds to layers whose kernel has tactics (cuDNN execution plans, cuBLASLt
// algorithms): the index of the candidate the tactic pass chose on the plan's device. Plans are
// keyed on the device and library versions, so the index stays meaningful; other backends ignore it.
inline constexpr const char* kTacticAttr = "edgert_tactic";
// Int attribute beside kTacticAttr: the tactic level the choice was made at (a layer's candidate
// list, and so the meaning of the index, can depend on it).
inline constexpr const char* kTacticLevelAttr = "edgert_tactic_level";

struct LayerDef {
  std::string name;
  OpType op = OpType::kIdentity;
  int opset = 0;
  Attributes attrs;
  std::vector<int32_t> inputs;   // tensor indices; -1 for an absent optional input
  std::vector<int32_t> outputs;  // tensor indices
};

struct NetworkDef {
  std::vector<TensorDef> tensors;
  std::vector<LayerDef> layers;  // in execution order
  std::vector<int32_t> inputs;   // graph inputs, in the model's order
  std::vector<int32_t> outputs;  // graph outputs, in the model's order
};

}  // namespace edgert
