// Device keys and the structural rules shared by the plan writer and reader.
//  1. DeviceKey::ToString() decodes the library version numbers (see plan.h for their encodings).
//  2. DescribeDeviceMismatch() words the first field, in key order, where two keys differ.
//  3. CheckNetworkStructure() walks tensors, then layers, then graph inputs/outputs, and stops at
//     the first rule broken, naming the tensor or layer.
#include <cstring>

#include "edgert/plan.h"
#include "plan/plan_format.h"

namespace edgert {
namespace {

// "12.4" from cudaRuntimeGetVersion()'s 12040.
std::string CudaVersionString(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

// major*10000 + minor*100 + patch from cuDNN 9 (90100) and cuBLAS 12 (120405) on; earlier releases
// use major*1000 + minor*100 + patch (cuDNN 8.9.7: 8907, cuBLAS 11.6.0: 11600). `new_scheme_from`
// is the smallest value of the newer scheme for the library.
std::string LibraryVersionString(int v, int new_scheme_from) {
  const int major_scale = v >= new_scheme_from ? 10000 : 1000;
  return std::to_string(v / major_scale) + "." + std::to_string((v % major_scale) / 100) + "." +
         std::to_string(v % 100);
}

// "cpu" or "NVIDIA H100 (sm_90)".
std::string ShortDevice(const DeviceKey& d) {
  if (d.backend == "cpu" && d.gpu_name.empty()) return "cpu";
  return (d.gpu_name.empty() ? d.backend : d.gpu_name) + " (sm_" + std::to_string(d.cc_major) +
         std::to_string(d.cc_minor) + ")";
}

// "none" for an absent library, the decoded version otherwise.
std::string Either(int v, const std::string& decoded) { return v == 0 ? std::string("none") : decoded; }

}  // namespace

std::string DeviceKey::ToString() const {
  if (backend == "cpu" && gpu_name.empty()) return "cpu";
  std::string s = gpu_name.empty() ? backend : gpu_name;
  s += " (sm_" + std::to_string(cc_major) + std::to_string(cc_minor);
  if (sm_count > 0) s += ", " + std::to_string(sm_count) + " SMs";
  if (cuda_version > 0) s += ", CUDA " + CudaVersionString(cuda_version);
  if (cudnn_version > 0) s += ", cuDNN " + LibraryVersionString(cudnn_version, 90000);
  if (cublas_version > 0) s += ", cuBLAS " + LibraryVersionString(cublas_version, 120000);
  return s + ")";
}

bool DeviceKey::operator==(const DeviceKey& o) const {
  return backend == o.backend && gpu_name == o.gpu_name && cc_major == o.cc_major && cc_minor == o.cc_minor &&
         sm_count == o.sm_count && cuda_version == o.cuda_version && cudnn_version == o.cudnn_version &&
         cublas_version == o.cublas_version;
}

DeviceKey CpuDeviceKey() {
  DeviceKey key;
  key.backend = "cpu";
  return key;
}

namespace plan_internal {

std::string DescribeDeviceMismatch(const DeviceKey& plan, const DeviceKey& here) {
  if (plan.backend != here.backend || plan.gpu_name != here.gpu_name || plan.cc_major != here.cc_major ||
      plan.cc_minor != here.cc_minor) {
    return "plan was built for " + ShortDevice(plan) + " but this device is " + ShortDevice(here);
  }
  const std::string prefix = "plan was built for " + ShortDevice(plan);
  if (plan.sm_count != here.sm_count) {
    return prefix + " with " + std::to_string(plan.sm_count) + " SMs but this device has " +
           std::to_string(here.sm_count);
  }
  if (plan.cuda_version != here.cuda_version) {
    return prefix + " with CUDA " + Either(plan.cuda_version, CudaVersionString(plan.cuda_version)) +
           " but this device has CUDA " + Either(here.cuda_version, CudaVersionString(here.cuda_version));
  }
  if (plan.cudnn_version != here.cudnn_version) {
    return prefix + " with cuDNN " + Either(plan.cudnn_version, LibraryVersionString(plan.cudnn_version, 90000)) +
           " but this device has cuDNN " + Either(here.cudnn_version, LibraryVersionString(here.cudnn_version, 90000));
  }
  return prefix + " with cuBLAS " + Either(plan.cublas_version, LibraryVersionString(plan.cublas_version, 120000)) +
         " but this device has cuBLAS " +
         Either(here.cublas_version, LibraryVersionString(here.cublas_version, 120000));
}

bool IsStorableDataType(int64_t id) {
  switch (id) {
    case static_cast<int64_t>(DataType::kFloat32):
    case static_cast<int64_t>(DataType::kUInt8):
    case static_cast<int64_t>(DataType::kInt8):
    case static_cast<int64_t>(DataType::kUInt16):
    case static_cast<int64_t>(DataType::kInt16):
    case static_cast<int64_t>(DataType::kInt32):
    case static_cast<int64_t>(DataType::kInt64):
    case static_cast<int64_t>(DataType::kBool):
    case static_cast<int64_t>(DataType::kFloat16):
    case static_cast<int64_t>(DataType::kFloat64):
    case static_cast<int64_t>(DataType::kUInt32):
    case static_cast<int64_t>(DataType::kUInt64):
      return true;
    default:
      return false;
  }
}

namespace {

// Why `shape` of `dtype` cannot be stored, or empty.
std::string ShapeProblem(DataType dtype, const Shape& shape) {
  if (!IsStorableDataType(static_cast<int64_t>(dtype))) {
    return "has data type id " + std::to_string(static_cast<int32_t>(dtype)) + ", which a plan cannot hold";
  }
  if (shape.size() > kMaxPlanRank) return "has rank " + std::to_string(shape.size());
  for (int64_t d : shape) {
    if (d < 0) return "has a negative dimension (" + ShapeToString(shape) + ")";
  }
  const int64_t n = NumElements(shape);
  if (n < 0 || static_cast<uint64_t>(n) > Tensor::kMaxBytes / DataTypeSize(dtype)) {
    return "has shape " + ShapeToString(shape) + ", which exceeds the 16 GiB tensor limit";
  }
  return {};
}

}  // namespace

Status CheckNetworkStructure(const NetworkDef& net, StatusCode code, const std::string& name) {
  const int64_t n_tensors = static_cast<int64_t>(net.tensors.size());
  if (n_tensors > INT32_MAX) return PlanError(code, name, "the network has too many tensors");
  auto fail = [&](const std::string& message, const std::string& subject) {
    return Status(code, name + ": " + message, subject);
  };
  for (const TensorDef& t : net.tensors) {
    std::string problem = ShapeProblem(t.dtype, t.shape);
    if (!problem.empty()) return fail("tensor '" + t.name + "' " + problem, t.name);
    if (t.is_constant()) {
      if ((t.value.dtype() != t.dtype && !t.is_narrowed()) || t.value.shape() != t.shape) {
        return fail("constant '" + t.name + "' holds a " + DataTypeName(t.value.dtype()) + " " +
                        ShapeToString(t.value.shape()) + " value but is declared " + DataTypeName(t.dtype) + " " +
                        ShapeToString(t.shape),
                    t.name);
      }
      if (t.value.raw() == nullptr && t.value.bytes() > 0) return fail("constant '" + t.name + "' has no data", t.name);
    }
  }
  auto valid = [&](int32_t i) { return i >= 0 && i < n_tensors; };
  for (const LayerDef& layer : net.layers) {
    if (FindOpInfo(layer.op) == nullptr) {
      return fail("layer '" + layer.name + "' has unknown op id " + std::to_string(static_cast<int>(layer.op)),
                  layer.name);
    }
    for (int32_t i : layer.inputs) {
      if (i != -1 && !valid(i)) {
        return fail("layer '" + layer.name + "' reads tensor " + std::to_string(i) + ", which does not exist",
                    layer.name);
      }
    }
    for (int32_t i : layer.outputs) {
      if (!valid(i)) {
        return fail("layer '" + layer.name + "' writes tensor " + std::to_string(i) + ", which does not exist",
                    layer.name);
      }
      if (net.tensors[static_cast<size_t>(i)].is_constant()) {
        return fail("layer '" + layer.name + "' writes constant '" + net.tensors[static_cast<size_t>(i)].name + "'",
                    layer.name);
      }
    }
    for (const auto& [attr_name, value] : layer.attrs.all()) {
      if (const Tensor* t = std::get_if<Tensor>(&value)) {
        std::string problem = ShapeProblem(t->dtype(), t->shape());
        if (!problem.empty()) {
          return fail("layer '" + layer.name + "' attribute '" + attr_name + "' " + problem, layer.name);
        }
        if (t->raw() == nullptr && t->bytes() > 0) {
          return fail("layer '" + layer.name + "' attribute '" + attr_name + "' has no data", layer.name);
        }
      }
    }
  }
  for (int32_t i : net.inputs) {
    if (!valid(i)) return fail("graph input refers to tensor " + std::to_string(i) + ", which does not exist", {});
  }
  for (int32_t i : net.outputs) {
    if (!valid(i)) return fail("graph output refers to tensor " + std::to_string(i) + ", which does not exist", {});
  }
  return Status::Ok();
}

}  // namespace plan_internal
}  // namespace edgert
