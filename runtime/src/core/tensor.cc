#include "edgert/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>

namespace edgert {

size_t DataTypeSize(DataType dtype) {
  switch (dtype) {
    case DataType::kUndefined: return 0;
    case DataType::kFloat32: return 4;
    case DataType::kUInt8: return 1;
    case DataType::kInt8: return 1;
    case DataType::kUInt16: return 2;
    case DataType::kInt16: return 2;
    case DataType::kInt32: return 4;
    case DataType::kInt64: return 8;
    case DataType::kString: return 0;
    case DataType::kBool: return 1;
    case DataType::kFloat16: return 2;
    case DataType::kFloat64: return 8;
    case DataType::kUInt32: return 4;
    case DataType::kUInt64: return 8;
  }
  return 0;
}

const char* DataTypeName(DataType dtype) {
  switch (dtype) {
    case DataType::kUndefined: return "undefined";
    case DataType::kFloat32: return "float32";
    case DataType::kUInt8: return "uint8";
    case DataType::kInt8: return "int8";
    case DataType::kUInt16: return "uint16";
    case DataType::kInt16: return "int16";
    case DataType::kInt32: return "int32";
    case DataType::kInt64: return "int64";
    case DataType::kString: return "string";
    case DataType::kBool: return "bool";
    case DataType::kFloat16: return "float16";
    case DataType::kFloat64: return "float64";
    case DataType::kUInt32: return "uint32";
    case DataType::kUInt64: return "uint64";
  }
  return "unknown";
}

DataType DataTypeFromOnnx(int32_t onnx_type) {
  if (onnx_type < 1 || onnx_type > 13 || onnx_type == 8) return DataType::kUndefined;
  return static_cast<DataType>(onnx_type);
}

bool IsFloatType(DataType d) {
  return d == DataType::kFloat32 || d == DataType::kFloat16 || d == DataType::kFloat64;
}

bool IsIntegerType(DataType d) {
  switch (d) {
    case DataType::kUInt8: case DataType::kInt8: case DataType::kUInt16: case DataType::kInt16:
    case DataType::kInt32: case DataType::kInt64: case DataType::kUInt32: case DataType::kUInt64:
      return true;
    default:
      return false;
  }
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

std::string ShapeToString(const Shape& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += "x";
    s += shape[i] < 0 ? std::string("?") : std::to_string(shape[i]);
  }
  return s;
}

std::vector<int64_t> ContiguousStrides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * shape[i + 1];
  }
  return strides;
}

StatusOr<Tensor> Tensor::Create(DataType dtype, Shape shape) {
  size_t elem = DataTypeSize(dtype);
  if (elem == 0) return InvalidArgument(std::string("cannot allocate a tensor of type ") + DataTypeName(dtype));
  int64_t n = NumElements(shape);
  if (n < 0) return InvalidArgument("cannot allocate a tensor of shape " + ShapeToString(shape));
  if (static_cast<uint64_t>(n) > kMaxBytes / elem) {
    return OutOfRange("tensor of shape " + ShapeToString(shape) + " exceeds the 16 GiB limit");
  }
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  size_t bytes = static_cast<size_t>(n) * elem;
  // Never a zero-byte allocation so data() is non-null even for empty tensors.
  void* p = std::calloc(bytes ? bytes : 1, 1);
  if (p == nullptr) return OutOfRange("out of host memory allocating " + std::to_string(bytes) + " bytes");
  t.storage_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  t.data_ = p;
  return t;
}

Tensor Tensor::View(DataType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::Share(DataType dtype, Shape shape, std::shared_ptr<void> owner, void* data) {
  Tensor t = View(dtype, std::move(shape), data);
  t.storage_ = std::move(owner);
  return t;
}

StatusOr<Tensor> Tensor::Reshaped(Shape shape) const {
  if (NumElements(shape) != num_elements()) {
    return InvalidArgument("cannot reshape " + ShapeToString(shape_) + " to " + ShapeToString(shape));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::Clone() const {
  if (!defined()) return Tensor();
  Tensor t = *Create(dtype_, shape_);
  if (bytes() && data_) std::memcpy(t.data_, data_, bytes());
  return t;
}

double Tensor::GetAsDouble(int64_t i) const {
  switch (dtype_) {
    case DataType::kFloat32: return data<float>()[i];
    case DataType::kFloat64: return data<double>()[i];
    case DataType::kUInt8: return data<uint8_t>()[i];
    case DataType::kInt8: return data<int8_t>()[i];
    case DataType::kUInt16: return data<uint16_t>()[i];
    case DataType::kInt16: return data<int16_t>()[i];
    case DataType::kInt32: return data<int32_t>()[i];
    case DataType::kInt64: return static_cast<double>(data<int64_t>()[i]);
    case DataType::kUInt32: return data<uint32_t>()[i];
    case DataType::kUInt64: return static_cast<double>(data<uint64_t>()[i]);
    case DataType::kBool: return data<bool>()[i] ? 1.0 : 0.0;
    default: return 0.0;  // float16 and strings are converted by their own helpers
  }
}

int64_t Tensor::GetAsInt64(int64_t i) const {
  switch (dtype_) {
    case DataType::kInt64: return data<int64_t>()[i];
    case DataType::kUInt64: return static_cast<int64_t>(data<uint64_t>()[i]);
    default: return static_cast<int64_t>(GetAsDouble(i));
  }
}

StatusOr<std::vector<int64_t>> Tensor::ToInt64Vector() const {
  if (!IsIntegerType(dtype_)) {
    return InvalidArgument(std::string("expected an integer tensor, got ") + DataTypeName(dtype_));
  }
  std::vector<int64_t> v(static_cast<size_t>(num_elements()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = GetAsInt64(static_cast<int64_t>(i));
  return v;
}

void Tensor::Fill(uint8_t byte) {
  if (data_ && bytes()) std::memset(data_, byte, bytes());
}

}  // namespace edgert
