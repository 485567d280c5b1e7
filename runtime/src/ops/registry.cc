#include "registry.h"

#include <mutex>

namespace edgert {

void OpRegistry::Register(OpType op, OpDef def) {
  size_t id = static_cast<size_t>(op);
  if (id >= kSlots) return;
  defs_[id] = def;
  present_[id] = true;
}

const OpDef* OpRegistry::Find(OpType op) const {
  size_t id = static_cast<size_t>(op);
  if (id >= kSlots || !present_[id]) return nullptr;
  return &defs_[id];
}

const OpDef* GetOpDef(OpType op) {
  static OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    RegisterNnOps(*r);
    RegisterElementwiseOps(*r);
    RegisterReduceOps(*r);
    RegisterTensorOps(*r);
    RegisterFusedElementwiseOp(*r);
    RegisterQuantizeOps(*r);
    RegisterInt8ConvOp(*r);
    RegisterSqueezeExciteOp(*r);
    return r;
  }();
  return registry->Find(op);
}

const OpInfo* FindOpInfo(OpType type) {
  for (const OpInfo& info : kOpTable) {
    if (info.type == type) return &info;
  }
  return nullptr;
}

const OpInfo* FindOpInfoByName(std::string_view onnx_name) {
  for (const OpInfo& info : kOpTable) {
    if (info.name == onnx_name) return &info;
  }
  return nullptr;
}

std::string_view OpTypeName(OpType type) {
  const OpInfo* info = FindOpInfo(type);
  return info ? info->name : std::string_view("unknown");
}

Status OpContext::Error(const std::string& msg) const {
  return InvalidArgument(std::string(OpTypeName(op_)) + " node '" + name_ + "': " + msg, name_);
}

Status OpContext::NotSupported(const std::string& msg) const {
  return Unsupported(std::string(OpTypeName(op_)) + " node '" + name_ + "': " + msg, name_);
}

Status CheckSupported(const OpContext& ctx) {
  const OpInfo* info = FindOpInfo(ctx.op());
  if (info == nullptr) return ctx.NotSupported("unknown operator id");
  const OpDef* def = GetOpDef(ctx.op());
  if (def == nullptr || def->supports == nullptr || def->infer == nullptr || def->create_cpu == nullptr) {
    return ctx.NotSupported("no implementation in this build");
  }
  size_t n_in = ctx.num_inputs();
  if (n_in < info->min_inputs || (info->max_inputs != kVariadic && n_in > info->max_inputs)) {
    return ctx.Error("has " + std::to_string(n_in) + " inputs, expected " + std::to_string(info->min_inputs) +
                     (info->max_inputs == kVariadic ? " or more" : " to " + std::to_string(info->max_inputs)));
  }
  for (size_t i = 0; i < info->min_inputs && i < n_in; ++i) {
    if (!ctx.has_input(i)) return ctx.Error("required input " + std::to_string(i) + " is empty");
  }
  size_t n_out = ctx.num_outputs();
  if (n_out < info->min_outputs || (info->max_outputs != kVariadic && n_out > info->max_outputs)) {
    return ctx.Error("has " + std::to_string(n_out) + " outputs, expected " + std::to_string(info->min_outputs) +
                     (info->max_outputs == kVariadic ? " or more" : " to " + std::to_string(info->max_outputs)));
  }
  return def->supports(ctx);
}

}  // namespace edgert
