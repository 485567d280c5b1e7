// Plan writer.
//  1. Check the network against the rules every loader applies (CheckNetworkStructure), so a
//     plan this function writes always loads.
//  2. Lay out the weights section: each constant, then each tensor attribute, in network order, at
//     the next 256-byte aligned offset; tensors sharing the same bytes (same storage, same size)
//     are stored once. The section's size is rounded up to 256.
//  3. Build the network FlatBuffer (tensors, layers with attributes, graph inputs/outputs) and the
//     metadata FlatBuffer (versions, device key, hashes, counts).
//  4. Assemble header | metadata | network (8-aligned) | weights (256-aligned), zero padding in
//     between, copy the weights in, and seal the three checksums (SealPlan).
// WritePlanFile: WriteFileAtomically, durable (mkstemp beside the target, write everything, fchmod
// 0644, fsync, close, rename over the target, fsync the directory; on any failure the temporary
// file is removed).
#include <cstring>
#include <map>
#include <utility>

#include "edgert/atomic_file.h"
#include "edgert/plan.h"
#include "plan/plan_format.h"
#include "plan_generated.h"

namespace edgert {
namespace {

using plan_internal::kPlanHeaderSize;

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Step 2: weights layout. Places tensors and remembers where each one went.
class WeightsLayout {
 public:
  fb::WeightRef Place(const Tensor& t) {
    const uint64_t size = t.bytes();
    const auto key = std::make_pair(t.raw(), size);
    auto it = placed_.find(key);
    if (it != placed_.end() && size > 0) return fb::WeightRef(it->second, size);
    const uint64_t offset = AlignUp(end_, kPlanWeightAlignment);
    end_ = offset + size;
    if (size > 0) {
      placed_[key] = offset;
      copies_.push_back({offset, &t});
    }
    return fb::WeightRef(offset, size);
  }
  uint64_t Size() const { return AlignUp(end_, kPlanWeightAlignment); }
  void CopyTo(uint8_t* section) const {
    for (const auto& [offset, tensor] : copies_) std::memcpy(section + offset, tensor->raw(), tensor->bytes());
  }

 private:
  std::map<std::pair<const void*, uint64_t>, uint64_t> placed_;
  std::vector<std::pair<uint64_t, const Tensor*>> copies_;
  uint64_t end_ = 0;
};

flatbuffers::Offset<fb::Attr> BuildAttr(flatbuffers::FlatBufferBuilder& fbb, WeightsLayout& weights,
                                        const std::string& name, const AttrValue& value) {
  const auto name_off = fbb.CreateString(name);
  flatbuffers::Offset<flatbuffers::String> s_off;
  flatbuffers::Offset<fb::TensorValue> t_off;
  flatbuffers::Offset<flatbuffers::Vector<int64_t>> ints_off;
  flatbuffers::Offset<flatbuffers::Vector<float>> floats_off;
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> strings_off;
  fb::AttrKind kind = fb::AttrKind::Int;
  int64_t i = 0;
  float f = 0.0f;
  if (const auto* v = std::get_if<int64_t>(&value)) {
    kind = fb::AttrKind::Int;
    i = *v;
  } else if (const auto* v = std::get_if<float>(&value)) {
    kind = fb::AttrKind::Float;
    f = *v;
  } else if (const auto* v = std::get_if<std::string>(&value)) {
    kind = fb::AttrKind::String;
    s_off = fbb.CreateString(*v);
  } else if (const auto* v = std::get_if<Tensor>(&value)) {
    kind = fb::AttrKind::Tensor;
    const fb::WeightRef ref = weights.Place(*v);
    const auto shape_off = fbb.CreateVector(v->shape());
    t_off = fb::CreateTensorValue(fbb, static_cast<int32_t>(v->dtype()), shape_off, &ref);
  } else if (const auto* v = std::get_if<std::vector<int64_t>>(&value)) {
    kind = fb::AttrKind::Ints;
    ints_off = fbb.CreateVector(*v);
  } else if (const auto* v = std::get_if<std::vector<float>>(&value)) {
    kind = fb::AttrKind::Floats;
    floats_off = fbb.CreateVector(*v);
  } else if (const auto* v = std::get_if<std::vector<std::string>>(&value)) {
    kind = fb::AttrKind::Strings;
    strings_off = fbb.CreateVectorOfStrings(*v);
  }
  return fb::CreateAttr(fbb, name_off, kind, i, f, s_off, t_off, ints_off, floats_off, strings_off);
}

}  // namespace

StatusOr<std::vector<uint8_t>> SerializePlan(const NetworkDef& net, const PlanMetadata& metadata) {
  // Step 1.
  EDGERT_RETURN_IF_ERROR(plan_internal::CheckNetworkStructure(net, StatusCode::kInvalidArgument, "SerializePlan"));
  if (Status profile = ValidateBatchProfile(net); !profile.ok()) {
    return InvalidArgument("SerializePlan: " + profile.message(), profile.subject());
  }
  if (Status formats = ValidateIoFormats(net); !formats.ok()) {
    return InvalidArgument("SerializePlan: " + formats.message(), formats.subject());
  }
  if (net.layers.size() > UINT32_MAX) return InvalidArgument("SerializePlan: the network has too many layers");

  // Steps 2 and 3: the network FlatBuffer, placing weights as constants are met.
  WeightsLayout weights;
  uint32_t num_constants = 0;
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  // Store every scalar, defaults included: -0.0f equals the default 0.0f and would otherwise be
  // dropped and read back as +0.0f.
  fbb.ForceDefaults(true);
  std::vector<flatbuffers::Offset<fb::Tensor>> tensor_offs;
  tensor_offs.reserve(net.tensors.size());
  for (const TensorDef& t : net.tensors) {
    const auto name_off = fbb.CreateString(t.name);
    const auto shape_off = fbb.CreateVector(t.shape);
    fb::WeightRef ref;
    const fb::WeightRef* ref_ptr = nullptr;
    if (t.is_constant()) {
      ref = weights.Place(t.value);
      ref_ptr = &ref;
      ++num_constants;
    }
    const int32_t stored_dtype = t.is_narrowed() ? static_cast<int32_t>(t.value.dtype()) : 0;
    tensor_offs.push_back(fb::CreateTensor(fbb, name_off, static_cast<int32_t>(t.dtype), shape_off, ref_ptr,
                                           stored_dtype, static_cast<int32_t>(t.binding.dtype),
                                           t.binding.channels_last));
  }
  std::vector<flatbuffers::Offset<fb::Layer>> layer_offs;
  layer_offs.reserve(net.layers.size());
  for (const LayerDef& layer : net.layers) {
    const auto name_off = fbb.CreateString(layer.name);
    std::vector<flatbuffers::Offset<fb::Attr>> attr_offs;
    for (const auto& [attr_name, value] : layer.attrs.all())
      attr_offs.push_back(BuildAttr(fbb, weights, attr_name, value));
    const auto attrs_off = fbb.CreateVector(attr_offs);
    const auto inputs_off = fbb.CreateVector(layer.inputs);
    const auto outputs_off = fbb.CreateVector(layer.outputs);
    layer_offs.push_back(fb::CreateLayer(fbb, name_off, static_cast<uint16_t>(layer.op), layer.opset, attrs_off,
                                         inputs_off, outputs_off));
  }
  const auto tensors_vec = fbb.CreateVector(tensor_offs);
  const auto layers_vec = fbb.CreateVector(layer_offs);
  const auto inputs_vec = fbb.CreateVector(net.inputs);
  const auto outputs_vec = fbb.CreateVector(net.outputs);
  flatbuffers::Offset<fb::BatchProfile> profile_off;
  if (net.profile.enabled()) {
    const BatchProfile& p = net.profile;
    std::vector<fb::BatchValue> values;
    for (const BatchValue& v : p.batch_values) values.emplace_back(v.tensor, v.element);
    const auto batch_tensors_vec = fbb.CreateVector(p.batch_tensors);
    const auto batch_values_vec = fbb.CreateVectorOfStructs(values);
    profile_off = fb::CreateBatchProfile(fbb, p.min, p.opt, p.max, batch_tensors_vec, batch_values_vec);
  }
  fbb.Finish(fb::CreateNetwork(fbb, tensors_vec, layers_vec, inputs_vec, outputs_vec, profile_off),
             fb::NetworkIdentifier());

  flatbuffers::FlatBufferBuilder meta_fbb(1024);
  const DeviceKey& d = metadata.device;
  // One statement per builder call: argument evaluation order differs between compilers, and the
  // bytes must not.
  const auto backend_off = meta_fbb.CreateString(d.backend);
  const auto gpu_off = meta_fbb.CreateString(d.gpu_name);
  const auto device_off = fb::CreateDeviceKey(meta_fbb, backend_off, gpu_off, d.cc_major, d.cc_minor, d.sm_count,
                                              d.cuda_version, d.cudnn_version, d.cublas_version);
  const auto version_off = meta_fbb.CreateString(metadata.edgert_version);
  const auto options_off = meta_fbb.CreateString(metadata.build_options_hash);
  const auto model_off = meta_fbb.CreateString(metadata.model_hash);
  meta_fbb.Finish(fb::CreateMetadata(meta_fbb, version_off, device_off, options_off, model_off,
                                     static_cast<uint32_t>(net.tensors.size()),
                                     static_cast<uint32_t>(net.layers.size()), num_constants, weights.Size(),
                                     static_cast<uint8_t>(metadata.precision)));

  // Step 4.
  plan_internal::PlanHeader h;
  h.format_version = kPlanFormatVersion;
  h.header_size = kPlanHeaderSize;
  h.meta_offset = kPlanHeaderSize;
  h.meta_size = meta_fbb.GetSize();
  h.body_offset = AlignUp(h.meta_offset + h.meta_size, 8);
  h.body_size = fbb.GetSize();
  h.weights_offset = AlignUp(h.body_offset + h.body_size, kPlanWeightAlignment);
  h.weights_size = weights.Size();
  h.file_size = h.weights_offset + h.weights_size;
  if (h.meta_size > plan_internal::kMaxMetadataBytes) {
    return InvalidArgument("SerializePlan: the metadata (" + std::to_string(h.meta_size) + " bytes) exceeds 1 MiB");
  }
  if (h.body_size > plan_internal::kMaxNetworkBytes) {
    return InvalidArgument("SerializePlan: the network description exceeds 1 GiB");
  }
  std::vector<uint8_t> bytes(h.file_size, 0);
  plan_internal::EncodeHeader(h, bytes.data());
  std::memcpy(bytes.data() + h.meta_offset, meta_fbb.GetBufferPointer(), h.meta_size);
  std::memcpy(bytes.data() + h.body_offset, fbb.GetBufferPointer(), h.body_size);
  weights.CopyTo(bytes.data() + h.weights_offset);
  EDGERT_RETURN_IF_ERROR(plan_internal::SealPlan(bytes.data(), bytes.size()));
  return bytes;
}

Status WritePlanFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  return WriteFileAtomically(path, bytes.data(), bytes.size(), "plan", /*durable=*/true);
}

}  // namespace edgert
