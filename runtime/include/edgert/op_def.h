// The operator interface: what every operator implements, for the builder and every backend.
//
// Per operator:
//   supports(ctx)    pure check of attributes, input/output counts and dtypes (no shapes needed);
//                    the support report and partitioning call it. Returns Unsupported/InvalidArgument
//                    with a sentence naming the attribute or input at fault.
//   infer(ctx)       sets dtype and shape of every output from the inputs' dtypes and shapes (all
//                    static) and, where an input is a parameter (Reshape's shape, Slice's starts,
//                    ...), from its build-time value `input(i).value`. A parameter without a
//                    build-time value is an Unsupported error naming the input.
//   create_cpu(ctx)  "Prepare" for the reference CPU backend: validates, parses attributes once
//                    and returns a kernel. Only here may an op log or allocate long-lived state.
// CpuKernel::Run receives tensors whose dtypes and shapes equal what infer() produced, outputs
// already allocated; it writes every output element.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "edgert/attributes.h"
#include "edgert/op_type.h"
#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {

// What is known about one input or output while building.
struct ValueInfo {
  DataType dtype = DataType::kUndefined;
  Shape shape;
  const Tensor* value = nullptr;  // non-null when the value is known at build time (constant)
};

class OpContext {
 public:
  // `inputs[i]` is nullptr for an optional input left empty ("" in ONNX).
  OpContext(OpType op, std::string name, const Attributes& attrs, int opset,
            std::vector<const ValueInfo*> inputs, size_t num_outputs)
      : op_(op), name_(std::move(name)), attrs_(attrs), opset_(opset), inputs_(std::move(inputs)),
        outputs_(num_outputs) {}

  OpType op() const { return op_; }
  const std::string& name() const { return name_; }
  const Attributes& attrs() const { return attrs_; }
  // The ai.onnx opset version the node was written for (operators whose meaning changed between
  // opsets read it).
  int opset() const { return opset_; }

  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const ValueInfo& input(size_t i) const { return *inputs_[i]; }
  size_t num_outputs() const { return outputs_.size(); }
  ValueInfo& output(size_t i) { return outputs_[i]; }
  const ValueInfo& output(size_t i) const { return outputs_[i]; }
  void SetOutput(size_t i, DataType dtype, Shape shape) {
    outputs_[i].dtype = dtype;
    outputs_[i].shape = std::move(shape);
  }

  // "Conv node 'conv1': <msg>", with the node as the Status subject.
  Status Error(const std::string& msg) const;
  Status NotSupported(const std::string& msg) const;

 private:
  OpType op_;
  std::string name_;
  const Attributes& attrs_;
  int opset_;
  std::vector<const ValueInfo*> inputs_;
  std::vector<ValueInfo> outputs_;
};

class CpuKernel {
 public:
  virtual ~CpuKernel() = default;
  // `inputs[i]` is nullptr for an absent optional input.
  virtual Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) = 0;
};

struct OpDef {
  Status (*supports)(const OpContext& ctx) = nullptr;
  Status (*infer)(OpContext& ctx) = nullptr;
  StatusOr<std::unique_ptr<CpuKernel>> (*create_cpu)(const OpContext& ctx) = nullptr;
};

// The implementation of `op`; nullptr when this build has none.
const OpDef* GetOpDef(OpType op);

// Runs the generic arity check from kOpTable, then the op's supports(). One call for the support
// report, the builder and the engines.
Status CheckSupported(const OpContext& ctx);

}  // namespace edgert
