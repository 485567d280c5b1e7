// NetworkDef: the lowered, immutable network a backend executes. The builder produces it from the
// IR; plans serialise it. Tensors are referred to by index; constants carry their values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgert/attributes.h"
#include "edgert/op_type.h"
#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {

// How the caller's buffer holds a graph input or output (trtexec's --inputIOFormats /
// --outputIOFormats, BuildOptions::input_formats): the element type, and whether a tensor of rank
// >= 3, [N, C, d1, ...] in the network, is held channels-last, [N, d1, ..., C]. The default is the
// network's own dtype and layout. Only float tensors (float32 / float16) take another format: a
// float16 channels-last image input lets a camera pipeline or a framework hand over what it has,
// and a channels-last engine read it without a transposing conversion.
struct IoFormat {
  DataType dtype = DataType::kUndefined;  // kUndefined: the tensor's own
  bool channels_last = false;
  bool is_default() const { return dtype == DataType::kUndefined && !channels_last; }
  bool operator==(const IoFormat& o) const { return dtype == o.dtype && channels_last == o.channels_last; }
  bool operator!=(const IoFormat& o) const { return !(*this == o); }
};

// "fp32" / "fp16", optionally followed by ":chw" (the network's layout) or ":hwc" (channels-last),
// as trtexec writes them; "fp16:hwc". An error naming the text otherwise.
StatusOr<IoFormat> ParseIoFormat(const std::string& text);
// "fp16:hwc", "fp32:chw"; "default" for the default format.
std::string IoFormatName(const IoFormat& format);

// A constant's value has the tensor's dtype, except for a narrowed constant: declared float32,
// its value float16. A GPU plan built for FP16 stores its weights so (CudaEngine::PlanNetwork():
// the device holds them as float16 anyway, and the plan is half the size); only the CUDA backend
// runs such a network, and only in FP16.
struct TensorDef {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Shape shape;   // fully static
  Tensor value;  // defined() for constants (weights, folded values)
  IoFormat binding = {};  // graph inputs and outputs only: how the caller's buffer holds it
  bool is_constant() const { return value.defined(); }
  bool is_narrowed() const {
    return value.defined() && dtype == DataType::kFloat32 && value.dtype() == DataType::kFloat16;
  }
};

// Int attribute a GPU build adds to layers whose kernel has tactics (cuDNN execution plans, cuBLASLt
// algorithms): the index of the candidate the tactic pass chose on the plan's device. Plans are
// keyed on the device and library versions, so the index stays meaningful; other backends ignore it.
inline constexpr const char* kTacticAttr = "edgert_tactic";
// Int attribute beside kTacticAttr: the tactic level the choice was made at (a layer's candidate
// list, and so the meaning of the index, can depend on it).
inline constexpr const char* kTacticLevelAttr = "edgert_tactic_level";
// String attributes beside kTacticAttr (CUDA convolutions): the chosen candidate's label ("cudnn-fused
// engine 12", "direct-nhwc") and, for a cuDNN engine that compiles its kernel at run time, cuDNN's
// serialized plan prefixed by the layer geometry it was made for. A plan load recreates only that
// candidate (from the serialized plan when it matches), instead of the candidate list up to the
// index; without them, or when they no longer apply, the index path is taken.
// Int attribute a GPU build adds to the layers its stream schedule runs on the auxiliary stream
// (edgert/stream_schedule.h): 1 when the network's CUDA graph ran faster so, 0 when one stream was
// faster (a plan load then keeps such a layer on the main stream).
inline constexpr const char* kAuxStreamAttr = "edgert_aux_stream";
inline constexpr const char* kTacticLabelAttr = "edgert_tactic_label";
inline constexpr const char* kTacticBlobAttr = "edgert_tactic_blob";

struct LayerDef {
  std::string name;
  OpType op = OpType::kIdentity;
  int opset = 0;
  Attributes attrs;
  std::vector<int32_t> inputs;   // tensor indices; -1 for an absent optional input
  std::vector<int32_t> outputs;  // tensor indices
};

// One element of an integer constant whose value is the batch size (a Reshape's target shape,
// an Expand's shape, ...): SpecializeBatch() writes the batch there.
struct BatchValue {
  int32_t tensor = -1;  // a constant of dtype int32 or int64
  int64_t element = 0;  // flat index into it
};

// An optimization profile for the batch dimension (TensorRT's min/opt/max for dim 0): the network
// runs at any batch in [min, max]. The NetworkDef's shapes and batch values are those of `max`,
// so a memory plan made from it holds every batch in the profile. The builder derives it by
// building the model at several batch sizes and checking that only dim 0 of some tensors and some
// integer constant elements follow the batch (everything else identical); see SpecializeBatch().
struct BatchProfile {
  int64_t min = 0;  // all 0: no profile, the shapes are fixed
  int64_t opt = 0;  // the batch the builder tuned for (tactic timing)
  int64_t max = 0;
  std::vector<int32_t> batch_tensors;  // tensors whose dim 0 is the batch, ascending
  std::vector<BatchValue> batch_values;
  bool enabled() const { return max > 0; }
};

struct NetworkDef {
  std::vector<TensorDef> tensors;
  std::vector<LayerDef> layers;  // in execution order
  std::vector<int32_t> inputs;   // graph inputs, in the model's order
  std::vector<int32_t> outputs;  // graph outputs, in the model's order
  BatchProfile profile;          // disabled unless built with min/opt/max shapes
};

// Checks `net.profile` against `net`: 1 <= min <= opt <= max; every batch tensor exists, is not a
// constant, has rank >= 1 and dim 0 == max; every batch value is an element of an int32/int64
// constant equal to max; at least one graph input is a batch tensor. Ok for a network without a
// profile. Errors (kCorrupt) name the tensor.
Status ValidateBatchProfile(const NetworkDef& net);

// The binding of graph tensor `def`: its dtype (def.binding.dtype, else def.dtype) and its shape
// (def.shape, with dim 1 moved last for a channels-last binding).
DataType BindingDtype(const TensorDef& def);
Shape BindingShape(const TensorDef& def);
// Checks every tensor's binding format: only graph inputs and outputs have one other than the
// default; it converts between float32 and float16 only (the tensor and the binding dtype), and
// channels-last needs rank >= 3. Errors (kCorrupt) name the tensor.
Status ValidateIoFormats(const NetworkDef& net);

// The network at `batch` (min <= batch <= max of its profile): dim 0 of every batch tensor and
// every batch value become `batch` (those constants get their own bytes; other constants stay
// shared). The result has no profile (fixed shapes). Errors: a network without a profile, a batch
// outside [min, max] (the message gives the range).
StatusOr<NetworkDef> SpecializeBatch(const NetworkDef& net, int64_t batch);

}  // namespace edgert
