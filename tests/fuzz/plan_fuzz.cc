// libFuzzer target for the plan loader.
//  1. The input as a plan: LoadedPlan::OpenBytes must refuse it cleanly (or load it) — this covers
//     the header checks, which sit in front of the checksums.
//  2. The input re-sealed (its checksums recomputed, when it is long enough to have a header), so
//     the FlatBuffers verifier and every range check behind the checksums see the fuzzed bytes.
//  3. The input as an edit script applied to a valid built-in plan, then re-sealed: each 5-byte
//     record is (u32 little-endian position, byte); the byte is XORed into the plan at position
//     mod plan size. This reaches deep into a well-formed plan without a corpus.
// Whatever opens is handed to CpuEngine::Create when its activations total under 64 MiB (larger
// ones are valid plans whose allocation would trip libFuzzer's memory limit, not bugs).
//
// Build and run (fuzz preset, see tests/fuzz/CMakeLists.txt):
//   ninja -C build-fuzz plan_fuzz && build-fuzz/tests/fuzz/plan_fuzz -max_total_time=60 -rss_limit_mb=2048 DIR
// No seed corpus is needed: step 3 starts from a valid plan.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "edgert/cpu_engine.h"
#include "edgert/plan.h"
#include "plan/plan_format.h"

namespace {

using edgert::DataType;
using edgert::LayerDef;
using edgert::NetworkDef;
using edgert::OpType;
using edgert::Tensor;

std::vector<uint8_t> BuiltInPlan() {
  NetworkDef net;
  auto add = [&](const char* name, DataType dtype, edgert::Shape shape, Tensor value = Tensor()) {
    net.tensors.push_back({name, dtype, std::move(shape), std::move(value)});
    return static_cast<int32_t>(net.tensors.size() - 1);
  };
  auto layer = [&](const char* name, OpType op, std::vector<int32_t> in, std::vector<int32_t> out,
                   edgert::Attributes attrs = {}) {
    LayerDef l;
    l.name = name;
    l.op = op;
    l.opset = 17;
    l.attrs = std::move(attrs);
    l.inputs = std::move(in);
    l.outputs = std::move(out);
    net.layers.push_back(std::move(l));
  };
  const int32_t x = add("x", DataType::kFloat32, {1, 2, 4, 4});
  const int32_t w = add("w", DataType::kFloat32, {3, 2, 3, 3},
                        Tensor::FromVector<float>(std::vector<float>(54, 0.25f), {3, 2, 3, 3}));
  const int32_t b = add("b", DataType::kFloat32, {3}, Tensor::FromVector<float>({0.5f, -1.0f, 2.0f}, {3}));
  const int32_t conv = add("conv", DataType::kFloat32, {1, 3, 4, 4});
  edgert::Attributes conv_attrs;
  conv_attrs.Set("kernel_shape", std::vector<int64_t>{3, 3});
  conv_attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  conv_attrs.Set("auto_pad", std::string("NOTSET"));
  layer("conv", OpType::kConv, {x, w, b}, {conv}, conv_attrs);
  const int32_t act = add("act", DataType::kFloat32, {1, 3, 4, 4});
  edgert::Attributes lrelu_attrs;
  lrelu_attrs.Set("alpha", 0.1f);
  layer("lrelu", OpType::kLeakyRelu, {conv}, {act}, lrelu_attrs);
  const int32_t shape = add("shape", DataType::kInt64, {2}, Tensor::FromVector<int64_t>({1, 48}, {2}));
  const int32_t flat = add("flat", DataType::kFloat32, {1, 48});
  layer("reshape", OpType::kReshape, {act, shape}, {flat});
  const int32_t fill_shape = add("fill_shape", DataType::kInt64, {2}, Tensor::FromVector<int64_t>({1, 48}, {2}));
  const int32_t fill = add("fill", DataType::kFloat32, {1, 48});
  edgert::Attributes fill_attrs;
  fill_attrs.Set("value", Tensor::FromVector<float>({2.5f}, {1}));
  fill_attrs.Set("note", std::vector<std::string>{"fuzz", "seed"});
  fill_attrs.Set("scales", std::vector<float>{1.0f, 2.0f});
  layer("fill", OpType::kConstantOfShape, {fill_shape}, {fill}, fill_attrs);
  const int32_t y = add("y", DataType::kFloat32, {1, 48});
  layer("add", OpType::kAdd, {flat, fill}, {y});
  net.inputs = {x};
  net.outputs = {y};
  edgert::PlanMetadata meta;
  meta.edgert_version = "fuzz";
  meta.device = edgert::CpuDeviceKey();
  auto bytes = edgert::SerializePlan(net, meta);
  return bytes.ok() ? *bytes : std::vector<uint8_t>();
}

uint64_t ActivationBytes(const NetworkDef& net) {
  uint64_t total = 0;
  for (const auto& t : net.tensors) {
    if (t.is_constant()) continue;
    const int64_t n = edgert::NumElements(t.shape);
    if (n < 0) return UINT64_MAX;
    total += static_cast<uint64_t>(n) * edgert::DataTypeSize(t.dtype);
  }
  return total;
}

void TryOpen(const uint8_t* data, size_t size) {
  auto plan = edgert::LoadedPlan::OpenBytes(data, size, "fuzz.plan");
  if (!plan.ok()) {
    if (plan.status().message().empty()) __builtin_trap();  // every refusal says why
    return;
  }
  if (ActivationBytes(plan->network()) < (uint64_t{64} << 20)) {
    auto engine = edgert::CpuEngine::Create(plan->network());
    (void)engine;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<uint8_t> kBase = BuiltInPlan();
  // Step 1.
  TryOpen(data, size);
  // Step 2.
  if (size >= edgert::plan_internal::kPlanHeaderSize) {
    std::vector<uint8_t> sealed(data, data + size);
    if (edgert::plan_internal::SealPlan(sealed.data(), sealed.size()).ok()) TryOpen(sealed.data(), sealed.size());
  }
  // Step 3.
  if (!kBase.empty() && size >= 5) {
    std::vector<uint8_t> edited = kBase;
    for (size_t i = 0; i + 5 <= size; i += 5) {
      uint32_t pos;
      std::memcpy(&pos, data + i, sizeof(pos));
      edited[pos % edited.size()] ^= data[i + 4];
    }
    if (edgert::plan_internal::SealPlan(edited.data(), edited.size()).ok()) TryOpen(edited.data(), edited.size());
  }
  return 0;
}
