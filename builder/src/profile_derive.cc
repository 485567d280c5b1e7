// DeriveBatchProfile (profile_derive.h):
//  1. Structure: every network has the same graph inputs/outputs, tensor count, layer count, and
//     per layer the same name, op, opset, wiring and attributes as the max network.
//  2. Tensors, one at a time against the max network: equal shapes (and, for constants, equal
//     bytes) need nothing; otherwise the difference must be dim 0 == the build's batch (an
//     activation) or int elements == the build's batch (a constant).
//  3. The profile is stored on the max network and validated.
#include "profile_derive.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace edgert {
namespace {

bool SameTensorBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.bytes() == 0 || std::memcmp(a.raw(), b.raw(), a.bytes()) == 0);
}

bool SameAttr(const AttrValue& a, const AttrValue& b) {
  if (a.index() != b.index()) return false;
  if (const Tensor* ta = std::get_if<Tensor>(&a)) return SameTensorBytes(*ta, std::get<Tensor>(b));
  if (const int64_t* ia = std::get_if<int64_t>(&a)) return *ia == std::get<int64_t>(b);
  if (const float* fa = std::get_if<float>(&a)) return *fa == std::get<float>(b);
  if (const std::string* sa = std::get_if<std::string>(&a)) return *sa == std::get<std::string>(b);
  if (const auto* va = std::get_if<std::vector<int64_t>>(&a)) return *va == std::get<std::vector<int64_t>>(b);
  if (const auto* va = std::get_if<std::vector<float>>(&a)) return *va == std::get<std::vector<float>>(b);
  return std::get<std::vector<std::string>>(a) == std::get<std::vector<std::string>>(b);
}

std::string Batches(const std::vector<int64_t>& batches, size_t a, size_t b) {
  return "batch " + std::to_string(batches[a]) + " and batch " + std::to_string(batches[b]);
}

Status NotBatchPolymorphic(const std::string& what, const std::string& subject) {
  return InvalidArgument("the model cannot take a batch range: " + what +
                             "; build it with fixed --shapes, or with a range whose min is where it changes",
                         subject);
}

}  // namespace

StatusOr<NetworkDef> DeriveBatchProfile(std::vector<NetworkDef> nets, const std::vector<int64_t>& batches, int64_t min,
                                        int64_t opt, int64_t max) {
  if (nets.size() != batches.size() || nets.size() < 2) {
    return Internal("DeriveBatchProfile needs one network per batch, at least two");
  }
  const size_t m = static_cast<size_t>(std::find(batches.begin(), batches.end(), max) - batches.begin());
  if (m == batches.size()) return Internal("DeriveBatchProfile: no network was built at the max batch");
  const NetworkDef& ref = nets[m];

  // 1. Structure.
  for (size_t k = 0; k < nets.size(); ++k) {
    if (k == m) continue;
    const NetworkDef& net = nets[k];
    if (net.inputs != ref.inputs || net.outputs != ref.outputs || net.tensors.size() != ref.tensors.size() ||
        net.layers.size() != ref.layers.size()) {
      return NotBatchPolymorphic("the optimized network has " + std::to_string(net.layers.size()) + " layers and " +
                                     std::to_string(net.tensors.size()) + " tensors at " + Batches(batches, k, m) +
                                     " it has " + std::to_string(ref.layers.size()) + " and " +
                                     std::to_string(ref.tensors.size()),
                                 {});
    }
    for (size_t l = 0; l < ref.layers.size(); ++l) {
      const LayerDef& a = net.layers[l];
      const LayerDef& b = ref.layers[l];
      bool same = a.name == b.name && a.op == b.op && a.opset == b.opset && a.inputs == b.inputs &&
                  a.outputs == b.outputs && a.attrs.all().size() == b.attrs.all().size();
      for (const auto& [name, value] : b.attrs.all()) {
        if (!same) break;
        auto it = a.attrs.all().find(name);
        same = it != a.attrs.all().end() && SameAttr(it->second, value);
      }
      if (!same) {
        return NotBatchPolymorphic("layer '" + b.name + "' differs between " + Batches(batches, k, m) + " (layer '" +
                                       a.name + "' at the same place)",
                                   b.name);
      }
    }
  }

  // 2. Tensors.
  NetworkDef out = std::move(nets[m]);
  BatchProfile profile;
  profile.min = min;
  profile.opt = opt;
  profile.max = max;
  for (size_t t = 0; t < out.tensors.size(); ++t) {
    const TensorDef& def = out.tensors[t];
    bool saw_same = false;        // a build in which the tensor equals the max build's
    bool batched = false;         // an activation whose dim 0 follows the batch
    std::vector<int64_t> values;  // elements of a constant that follow the batch
    for (size_t k = 0; k < nets.size(); ++k) {
      if (k == m) continue;
      const TensorDef& other = nets[k].tensors[t];
      if (other.name != def.name || other.dtype != def.dtype || other.is_constant() != def.is_constant()) {
        return NotBatchPolymorphic("tensor '" + def.name + "' differs between " + Batches(batches, k, m) +
                                       " (tensor '" + other.name + "' at the same place)",
                                   def.name);
      }
      const std::string shapes = "tensor '" + def.name + "' has shape " + ShapeToString(other.shape) + " at batch " +
                                 std::to_string(batches[k]) + " and " + ShapeToString(def.shape) + " at batch " +
                                 std::to_string(max);
      if (!def.is_constant()) {
        if (other.shape == def.shape) {
          saw_same = true;
          continue;
        }
        bool follows = other.shape.size() == def.shape.size() && !def.shape.empty() && def.shape[0] == max &&
                       other.shape[0] == batches[k];
        for (size_t d = 1; follows && d < def.shape.size(); ++d) follows = other.shape[d] == def.shape[d];
        if (!follows) return NotBatchPolymorphic(shapes + ": only dim 0 may follow the batch", def.name);
        batched = true;
        continue;
      }
      if (SameTensorBytes(other.value, def.value)) {
        saw_same = true;
        continue;
      }
      const bool integer = def.dtype == DataType::kInt64 || def.dtype == DataType::kInt32;
      if (!integer || other.shape != def.shape) {
        return NotBatchPolymorphic("constant '" + def.name + "' (" + DataTypeName(def.dtype) + ", " +
                                       ShapeToString(def.shape) + ") changes with the batch",
                                   def.name);
      }
      std::vector<int64_t> differing;
      for (int64_t e = 0; e < def.value.num_elements(); ++e) {
        const int64_t a = other.value.GetAsInt64(e);
        const int64_t b = def.value.GetAsInt64(e);
        if (a == b) continue;
        if (a != batches[k] || b != max) {
          return NotBatchPolymorphic("element " + std::to_string(e) + " of constant '" + def.name + "' is " +
                                         std::to_string(a) + " at batch " + std::to_string(batches[k]) + " and " +
                                         std::to_string(b) + " at batch " + std::to_string(max) +
                                         ": only values equal to the batch can follow it",
                                     def.name);
        }
        differing.push_back(e);
      }
      if (!values.empty() && values != differing) {
        return NotBatchPolymorphic(
            "constant '" + def.name + "' follows the batch at different elements in different builds", def.name);
      }
      values = std::move(differing);
    }
    // Batches are distinct, so a tensor that follows the batch differs in every build.
    if (saw_same && (batched || !values.empty())) {
      return NotBatchPolymorphic("tensor '" + def.name + "' follows the batch in some builds only", def.name);
    }
    if (batched) profile.batch_tensors.push_back(static_cast<int32_t>(t));
    for (int64_t e : values) profile.batch_values.push_back({static_cast<int32_t>(t), e});
  }

  // 3. Store and check (at least one graph input must follow the batch, and so on).
  out.profile = std::move(profile);
  Status s = ValidateBatchProfile(out);
  if (!s.ok()) return NotBatchPolymorphic(s.message(), s.subject());
  return out;
}

}  // namespace edgert
