// Binding formats of graph inputs and outputs (IoFormat, edgert/network.h): parsing, the binding's
// dtype and shape, validation, and the host conversion between a binding and the network's tensor.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/io_convert.h"
#include "edgert/network.h"
#include "ops/op_util.h"

namespace edgert {
namespace {

bool IsFloat(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16; }

float LoadFloat(const void* p, DataType t, int64_t i) {
  if (t == DataType::kFloat16) return HalfToFloat(static_cast<const uint16_t*>(p)[i]);
  return static_cast<const float*>(p)[i];
}

void StoreFloat(void* p, DataType t, int64_t i, float v) {
  if (t == DataType::kFloat16) {
    static_cast<uint16_t*>(p)[i] = FloatToHalf(v);
  } else {
    static_cast<float*>(p)[i] = v;
  }
}

}  // namespace

StatusOr<IoFormat> ParseIoFormat(const std::string& text) {
  const size_t colon = text.find(':');
  const std::string type = text.substr(0, colon);
  const std::string layout = colon == std::string::npos ? std::string() : text.substr(colon + 1);
  IoFormat f;
  if (type == "fp32") {
    f.dtype = DataType::kFloat32;
  } else if (type == "fp16") {
    f.dtype = DataType::kFloat16;
  } else {
    return InvalidArgument("unknown I/O format '" + text + "' (expected fp32 or fp16, optionally :chw or :hwc)", text);
  }
  if (layout == "hwc") {
    f.channels_last = true;
  } else if (colon != std::string::npos && layout != "chw") {
    return InvalidArgument("unknown layout '" + layout + "' in I/O format '" + text + "' (expected chw or hwc)", text);
  }
  return f;
}

std::string IoFormatName(const IoFormat& format) {
  if (format.is_default()) return "default";
  std::string type = format.dtype == DataType::kFloat16   ? "fp16"
                     : format.dtype == DataType::kFloat32 ? "fp32"
                                                          : DataTypeName(format.dtype);
  return type + (format.channels_last ? ":hwc" : ":chw");
}

DataType BindingDtype(const TensorDef& def) {
  return def.binding.dtype == DataType::kUndefined ? def.dtype : def.binding.dtype;
}

Shape BindingShape(const TensorDef& def) {
  Shape shape = def.shape;
  if (def.binding.channels_last && shape.size() >= 3) {
    const int64_t c = shape[1];
    shape.erase(shape.begin() + 1);
    shape.push_back(c);
  }
  return shape;
}

Status ValidateIoFormats(const NetworkDef& net) {
  std::vector<uint8_t> io(net.tensors.size(), 0);
  for (int32_t t : net.inputs) {
    if (t >= 0 && static_cast<size_t>(t) < io.size()) io[static_cast<size_t>(t)] = 1;
  }
  for (int32_t t : net.outputs) {
    if (t >= 0 && static_cast<size_t>(t) < io.size()) io[static_cast<size_t>(t)] = 1;
  }
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    const TensorDef& def = net.tensors[i];
    if (def.binding.is_default()) continue;
    const std::string what = "tensor '" + def.name + "' has the binding format " + IoFormatName(def.binding);
    if (!io[i]) return Corrupt(what + " but is no graph input or output", def.name);
    if (!IsFloat(def.dtype)) return Corrupt(what + " but is " + DataTypeName(def.dtype), def.name);
    if (def.binding.dtype != DataType::kUndefined && !IsFloat(def.binding.dtype)) {
      return Corrupt("tensor '" + def.name + "' has a binding of data type id " +
                         std::to_string(static_cast<int>(def.binding.dtype)) + " (only float32 and float16)",
                     def.name);
    }
    if (def.binding.channels_last && def.shape.size() < 3) {
      return Corrupt(what + " but has rank " + std::to_string(def.shape.size()) + " (channels-last needs rank >= 3)",
                     def.name);
    }
  }
  return Status::Ok();
}

namespace {

// dst = src for tensor `shape` ([N, C, d...] in the network's layout), converting between
// `from` and `to`; with `transpose`, src is [N, C, S] and dst [N, S, C] (to_channels_last) or the
// other way round.
void ConvertHost(const void* src, DataType from, void* dst, DataType to, const Shape& shape, bool transpose,
                 bool to_channels_last) {
  const int64_t n = NumElements(shape);
  if (!transpose || shape.size() < 3) {
    if (from == to) {
      std::memcpy(dst, src, static_cast<size_t>(n) * DataTypeSize(from));
      return;
    }
    for (int64_t i = 0; i < n; ++i) StoreFloat(dst, to, i, LoadFloat(src, from, i));
    return;
  }
  const int64_t batch = shape[0], c = shape[1];
  const int64_t s = batch > 0 && c > 0 ? n / (batch * c) : 0;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t k = 0; k < c; ++k) {
      for (int64_t j = 0; j < s; ++j) {
        const int64_t first = (b * c + k) * s + j, last = (b * s + j) * c + k;
        if (to_channels_last) {
          StoreFloat(dst, to, last, LoadFloat(src, from, first));
        } else {
          StoreFloat(dst, to, first, LoadFloat(src, from, last));
        }
      }
    }
  }
}

}  // namespace

void CopyBindingToTensor(const void* binding, const IoFormat& format, DataType dtype, const Shape& shape, void* dst) {
  const DataType from = format.dtype == DataType::kUndefined ? dtype : format.dtype;
  ConvertHost(binding, from, dst, dtype, shape, format.channels_last, false);
}

void CopyTensorToBinding(const void* src, DataType dtype, const Shape& shape, const IoFormat& format, void* binding) {
  const DataType to = format.dtype == DataType::kUndefined ? dtype : format.dtype;
  ConvertHost(src, dtype, binding, to, shape, format.channels_last, true);
}

}  // namespace edgert
