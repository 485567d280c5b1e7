// `edgert inspect PLAN [--json]`: the plan's header facts, each layer with its inputs and outputs,
// and totals, as text or as one JSON document.
//
// Steps:
//   1. ValidatePlan() against this host (CPU device key, this edgert version). A damaged header or
//      metadata section ends here: the sentence is printed and the exit code is 1.
//   2. LoadedPlan::Open() checks every checksum and index; a failure is printed, exit 1.
//   3. Print. A plan that is intact but made for another device or edgert version is still shown,
//      with "usable here: no" and ValidatePlan's sentence; the exit code is then 1.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cli_device.h"
#include "edgert/fused_activation.h"
#include "edgert/network.h"
#include "edgert/plan.h"
#include "edgert/tactic_label.h"
#include "edgert/version.h"
#include "json_writer.h"

namespace edgert {

const char kInspectHelp[] =
    "usage: edgert inspect PLAN [--json]\n"
    "\n"
    "Prints a plan's header (format version, edgert version, device key, model and build-options\n"
    "hashes, sizes), whether it can run here, each layer (index, operator, name, inputs and outputs\n"
    "with dtype and shape; constants are marked 'const', and '(stored float16)' where a GPU FP16 plan\n"
    "keeps a float32 constant's weights as float16; activations show their arena offset and how they\n"
    "share memory), the network's inputs and outputs, totals and the memory plan's figures.\n"
    "--json prints the same as one JSON document.\n"
    "\n"
    "Exit 0 for a plan usable here; 1 for a damaged plan or one made for another device or edgert\n"
    "version (the reason is printed); 2 on usage errors.\n";

namespace {

// `name` with control characters shown as \xNN, so a hostile name cannot rewrite the terminal.
std::string Printable(const std::string& name) {
  std::string out;
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// Where an activation lives in the arena; nullptr when it has no arena bytes (constants) or the
// plan could not be made.
const TensorMemory* ArenaPlace(const NetworkMemoryPlan* memory, int32_t index) {
  if (memory == nullptr || index < 0 || static_cast<size_t>(index) >= memory->tensors.size()) return nullptr;
  const TensorMemory& m = memory->tensors[static_cast<size_t>(index)];
  return m.kind == TensorMemoryKind::kNone ? nullptr : &m;
}

std::string TensorText(const NetworkDef& net, const NetworkMemoryPlan* memory, int32_t index) {
  if (index < 0) return "(absent)";
  const TensorDef& t = net.tensors[static_cast<size_t>(index)];
  std::string text = "'" + Printable(t.name) + "' " + DataTypeName(t.dtype) + " " + ShapeToString(t.shape) +
                     (t.is_constant() ? " const" : "") + (t.is_narrowed() ? " (stored float16)" : "");
  if (!t.binding.is_default()) {
    text += " binding " + IoFormatName(t.binding) + " " + DataTypeName(BindingDtype(t)) + " " +
            ShapeToString(BindingShape(t));
  }
  if (const TensorMemory* m = ArenaPlace(memory, index)) {
    text += " @arena+" + std::to_string(m->offset) + " (" + TensorMemoryKindName(m->kind) + ")";
  }
  return text;
}

void JsonTensor(JsonWriter& w, const NetworkDef& net, const NetworkMemoryPlan* memory, int32_t index) {
  w.BeginObject();
  w.Key("index");
  w.Int(index);
  if (index >= 0) {
    const TensorDef& t = net.tensors[static_cast<size_t>(index)];
    w.Key("name");
    w.String(t.name);
    w.Key("dtype");
    w.String(DataTypeName(t.dtype));
    w.Key("shape");
    w.BeginArray();
    for (int64_t d : t.shape) w.Int(d);
    w.EndArray();
    w.Key("constant");
    w.Bool(t.is_constant());
    if (t.is_narrowed()) {
      w.Key("stored_dtype");
      w.String(DataTypeName(t.value.dtype()));
    }
    if (!t.binding.is_default()) {
      w.Key("binding_format");
      w.String(IoFormatName(t.binding));
      w.Key("binding_dtype");
      w.String(DataTypeName(BindingDtype(t)));
      w.Key("binding_shape");
      w.BeginArray();
      for (int64_t d : BindingShape(t)) w.Int(d);
      w.EndArray();
    }
    if (const TensorMemory* m = ArenaPlace(memory, index)) {
      w.Key("arena_offset");
      w.Uint(m->offset);
      w.Key("memory");
      w.String(TensorMemoryKindName(m->kind));
    }
  }
  w.EndObject();
}

struct Totals {
  uint64_t constant_bytes = 0;
  uint64_t activation_bytes = 0;
  uint32_t constants = 0;
  std::map<std::string, int> ops;
};

Totals ComputeTotals(const NetworkDef& net) {
  Totals t;
  for (const TensorDef& d : net.tensors) {
    const uint64_t bytes = static_cast<uint64_t>(NumElements(d.shape)) * DataTypeSize(d.dtype);
    if (d.is_constant()) {
      t.constant_bytes += bytes;
      ++t.constants;
    } else {
      t.activation_bytes += bytes;
    }
  }
  for (const LayerDef& l : net.layers) ++t.ops[std::string(OpTypeName(l.op))];
  return t;
}

// "  [activation Relu, tactic 3 (level 1)]" for a layer with a fused activation or a GPU tactic.
std::string LayerExtras(const LayerDef& l) {
  std::string text;
  StatusOr<std::string> act = l.attrs.GetStringOr(kActivationAttr, "");
  if (act.ok() && !act->empty()) text += "activation " + *act;
  StatusOr<int64_t> tactic = l.attrs.GetIntOr(kTacticAttr, -1);
  if (tactic.ok() && *tactic >= 0) {
    StatusOr<int64_t> level = l.attrs.GetIntOr(kTacticLevelAttr, 1);
    text += (text.empty() ? "" : ", ") + std::string("tactic ") + std::to_string(*tactic) + " (level " +
            std::to_string(level.ok() ? *level : 1);
    // kTacticLabelAttr is "<candidates>/<label>"; a cuDNN plan's text (kTacticBlobAttr: its
    // serialized plan, or its engine config's knob choices) is counted in bytes.
    StatusOr<std::string> label = l.attrs.GetStringOr(kTacticLabelAttr, "");
    RecordedTacticLabel recorded;
    if (label.ok() && ParseTacticLabel(*label, &recorded)) text += ": " + recorded.label;
    StatusOr<std::string> blob = l.attrs.GetStringOr(kTacticBlobAttr, "");
    if (blob.ok() && !blob->empty()) {
      text += (TacticBlobIsEngineConfig(*blob) ? ", engine config " : ", serialized plan ") +
              std::to_string(blob->size()) + " bytes";
    }
    text += ")";
  }
  return text.empty() ? text : "  [" + text + "]";
}

// Layers an INT8 build made INT8 (the float layers run at the plan's precision).
size_t CountInt8Layers(const NetworkDef& net) {
  size_t n = 0;
  for (const LayerDef& l : net.layers) n += l.op == OpType::kInt8Conv ? 1 : 0;
  return n;
}

// Channels-last layers a layout pass wrote (EdgertConvNhwc, EdgertMaxPoolNhwc).
size_t CountNhwcLayers(const NetworkDef& net) {
  size_t n = 0;
  for (const LayerDef& l : net.layers) n += l.op == OpType::kConvNhwc || l.op == OpType::kMaxPoolNhwc ? 1 : 0;
  return n;
}

void PrintText(const std::string& path, const LoadedPlan& plan, const NetworkMemoryPlan* memory,
               const Status& usable) {
  const PlanMetadata& m = plan.metadata();
  const NetworkDef& net = plan.network();
  std::printf("plan: %s\n", path.c_str());
  std::printf("  format version:     %u\n", m.format_version);
  std::printf("  edgert version:     %s\n", m.edgert_version.c_str());
  std::printf("  device:             %s\n", m.device.ToString().c_str());
  const size_t int8_layers = CountInt8Layers(net);
  if (int8_layers > 0) {
    std::printf("  precision:          int8 (%zu INT8 layers), other layers %s\n", int8_layers, PrecisionName(m.precision));
  } else {
    std::printf("  precision:          %s\n", PrecisionName(m.precision));
  }
  if (const size_t nhwc_layers = CountNhwcLayers(net); nhwc_layers > 0) {
    std::printf("  layout:             nhwc (%zu channels-last convolutions and pools)\n", nhwc_layers);
  }
  std::printf("  model hash:         %s\n", m.model_hash.c_str());
  std::printf("  build-options hash: %s\n", m.build_options_hash.c_str());
  std::printf("  file bytes:         %llu\n", static_cast<unsigned long long>(m.file_bytes));
  std::printf("  weights bytes:      %llu\n", static_cast<unsigned long long>(m.weights_bytes));
  std::printf("  usable here:        %s\n", usable.ok() ? "yes" : ("no: " + usable.message()).c_str());
  if (const BatchProfile& p = net.profile; p.enabled()) {
    std::printf("  batch profile:      min %lld, opt %lld, max %lld (shapes below at max; %zu tensors follow the "
                "batch, %zu constant values)\n",
                static_cast<long long>(p.min), static_cast<long long>(p.opt), static_cast<long long>(p.max),
                p.batch_tensors.size(), p.batch_values.size());
  }
  std::printf("layers:\n");
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const LayerDef& l = net.layers[i];
    std::printf("  %4zu  %-20s %s%s\n", i, std::string(OpTypeName(l.op)).c_str(), Printable(l.name).c_str(),
                LayerExtras(l).c_str());
    for (int32_t t : l.inputs) std::printf("          in  %s\n", TensorText(net, memory, t).c_str());
    for (int32_t t : l.outputs) std::printf("          out %s\n", TensorText(net, memory, t).c_str());
  }
  std::printf("inputs:\n");
  for (int32_t t : net.inputs) std::printf("  %s\n", TensorText(net, memory, t).c_str());
  std::printf("outputs:\n");
  for (int32_t t : net.outputs) std::printf("  %s\n", TensorText(net, memory, t).c_str());
  const Totals totals = ComputeTotals(net);
  std::printf("totals: %zu layers, %zu tensors, %u constants (%llu bytes), activations %llu bytes\n", net.layers.size(),
              net.tensors.size(), totals.constants, static_cast<unsigned long long>(totals.constant_bytes),
              static_cast<unsigned long long>(totals.activation_bytes));
  std::string ops;
  for (const auto& [op, n] : totals.ops) ops += (ops.empty() ? "" : ", ") + op + " " + std::to_string(n);
  std::printf("ops: %s\n", ops.empty() ? "none" : ops.c_str());
  if (memory != nullptr) std::printf("%s, %s\n", MemoryFiguresLine(memory->figures).c_str(), memory->strategy.c_str());
}

void PrintJson(const std::string& path, const LoadedPlan& plan, const NetworkMemoryPlan* memory,
               const Status& usable) {
  const PlanMetadata& m = plan.metadata();
  const NetworkDef& net = plan.network();
  JsonWriter w;
  w.BeginObject();
  w.Key("path");
  w.String(path);
  w.Key("format_version");
  w.Uint(m.format_version);
  w.Key("edgert_version");
  w.String(m.edgert_version);
  w.Key("precision");
  w.String(PrecisionName(m.precision));
  w.Key("int8_layers");
  w.Uint(CountInt8Layers(net));
  w.Key("nhwc_layers");
  w.Uint(CountNhwcLayers(net));
  w.Key("device");
  w.BeginObject();
  w.Key("description");
  w.String(m.device.ToString());
  w.Key("backend");
  w.String(m.device.backend);
  w.Key("gpu_name");
  w.String(m.device.gpu_name);
  w.Key("compute_capability");
  w.String(std::to_string(m.device.cc_major) + "." + std::to_string(m.device.cc_minor));
  w.Key("sm_count");
  w.Int(m.device.sm_count);
  w.Key("cuda_version");
  w.Int(m.device.cuda_version);
  w.Key("cudnn_version");
  w.Int(m.device.cudnn_version);
  w.Key("cublas_version");
  w.Int(m.device.cublas_version);
  w.EndObject();
  w.Key("model_hash");
  w.String(m.model_hash);
  w.Key("build_options_hash");
  w.String(m.build_options_hash);
  w.Key("file_bytes");
  w.Uint(m.file_bytes);
  w.Key("weights_bytes");
  w.Uint(m.weights_bytes);
  w.Key("usable_here");
  w.Bool(usable.ok());
  if (!usable.ok()) {
    w.Key("reason");
    w.String(usable.message());
  }
  if (const BatchProfile& p = net.profile; p.enabled()) {
    w.Key("batch_profile");
    w.BeginObject();
    w.Key("min");
    w.Int(p.min);
    w.Key("opt");
    w.Int(p.opt);
    w.Key("max");
    w.Int(p.max);
    w.Key("batch_tensors");
    w.BeginArray();
    for (int32_t t : p.batch_tensors) w.String(net.tensors[static_cast<size_t>(t)].name);
    w.EndArray();
    w.Key("batch_values");
    w.Uint(p.batch_values.size());
    w.EndObject();
  }
  w.Key("layers");
  w.BeginArray();
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const LayerDef& l = net.layers[i];
    w.BeginObject();
    w.Key("index");
    w.Uint(i);
    w.Key("op");
    w.String(OpTypeName(l.op));
    w.Key("name");
    w.String(l.name);
    if (StatusOr<std::string> act = l.attrs.GetStringOr(kActivationAttr, ""); act.ok() && !act->empty()) {
      w.Key("activation");
      w.String(*act);
    }
    if (StatusOr<int64_t> tactic = l.attrs.GetIntOr(kTacticAttr, -1); tactic.ok() && *tactic >= 0) {
      w.Key("tactic");
      w.Int(*tactic);
      RecordedTacticLabel recorded;
      if (StatusOr<std::string> label = l.attrs.GetStringOr(kTacticLabelAttr, "");
          label.ok() && ParseTacticLabel(*label, &recorded)) {
        w.Key("tactic_label");
        w.String(recorded.label);
      }
      if (StatusOr<std::string> blob = l.attrs.GetStringOr(kTacticBlobAttr, ""); blob.ok() && !blob->empty()) {
        w.Key("tactic_serialized_bytes");
        w.Int(static_cast<int64_t>(blob->size()));
      }
    }
    w.Key("inputs");
    w.BeginArray();
    for (int32_t t : l.inputs) JsonTensor(w, net, memory, t);
    w.EndArray();
    w.Key("outputs");
    w.BeginArray();
    for (int32_t t : l.outputs) JsonTensor(w, net, memory, t);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("inputs");
  w.BeginArray();
  for (int32_t t : net.inputs) JsonTensor(w, net, memory, t);
  w.EndArray();
  w.Key("outputs");
  w.BeginArray();
  for (int32_t t : net.outputs) JsonTensor(w, net, memory, t);
  w.EndArray();
  const Totals totals = ComputeTotals(net);
  w.Key("totals");
  w.BeginObject();
  w.Key("layers");
  w.Uint(net.layers.size());
  w.Key("tensors");
  w.Uint(net.tensors.size());
  w.Key("constants");
  w.Uint(totals.constants);
  w.Key("constant_bytes");
  w.Uint(totals.constant_bytes);
  w.Key("activation_bytes");
  w.Uint(totals.activation_bytes);
  w.Key("ops");
  w.BeginObject();
  for (const auto& [op, n] : totals.ops) {
    w.Key(op);
    w.Int(n);
  }
  w.EndObject();
  w.EndObject();
  if (memory != nullptr) {
    w.Key("memory");
    w.BeginObject();
    w.Key("arena_bytes");
    w.Uint(memory->figures.arena_bytes);
    w.Key("lower_bound_bytes");
    w.Uint(memory->figures.lower_bound_bytes);
    w.Key("no_reuse_bytes");
    w.Uint(memory->figures.no_reuse_bytes);
    w.Key("strategy");
    w.String(memory->strategy);
    w.EndObject();
  }
  w.EndObject();
  std::fputs(w.str().c_str(), stdout);
}

}  // namespace

int RunInspectCommand(const std::vector<std::string>& args) {
  std::string path;
  bool json = false;
  for (const std::string& a : args) {
    if (a == "--json") {
      json = true;
    } else if (a.size() > 1 && a[0] == '-') {
      return Usage("unknown option '" + a + "'", "inspect");
    } else if (path.empty()) {
      path = a;
    } else {
      return Usage("unexpected argument '" + a + "' (the plan is '" + path + "')", "inspect");
    }
  }
  if (path.empty()) return Usage("no plan given", "inspect");
  // Step 1. kUnsupported is the only code for an intact plan made for another device or version.
  //   The plan is checked against this machine's key for the plan's backend (cpu, or the GPU).
  StatusOr<PlanMetadata> meta = ReadPlanMetadata(path);
  if (!meta.ok()) return Fail(meta.status());
  StatusOr<DeviceKey> here = BackendDeviceKey(meta->device.backend == "cuda" ? "cuda" : "cpu");
  const Status usable = here.ok() ? ValidatePlan(path, *here, EDGERT_VERSION_STRING)
                                  : Unsupported(path + " is a plan for " + meta->device.ToString() +
                                                " and this machine cannot run it: " + here.status().message());
  if (!usable.ok() && usable.code() != StatusCode::kUnsupported) return Fail(usable);
  // Step 2.
  StatusOr<LoadedPlan> plan = LoadedPlan::Open(path);
  if (!plan.ok()) return Fail(plan.status());
  // Step 3. The memory plan is the one the engine makes for this network (it is not stored).
  StatusOr<NetworkMemoryPlan> memory = PlanNetworkMemory(plan->network());
  const NetworkMemoryPlan* memory_ptr = memory.ok() ? &*memory : nullptr;
  if (json) {
    PrintJson(path, *plan, memory_ptr, usable);
  } else {
    PrintText(path, *plan, memory_ptr, usable);
  }
  if (!usable.ok()) return Fail(usable);
  if (!json && meta->device.backend == "cuda") {
    // Device memory is known once the engine exists: weights, one context's arena and workspace.
    StatusOr<std::unique_ptr<HostRunner>> runner = HostRunner::FromPlan(path);
    if (!runner.ok()) return Fail(runner.status());
    std::printf("%s\n", (*runner)->MemoryLine().c_str());
  }
  return kExitOk;
}

}  // namespace edgert
