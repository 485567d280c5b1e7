// Host tensors, data types and shapes.
//
// Ownership: a Tensor either owns its bytes (shared between copies, like a shared_ptr) or views
// memory owned by someone else (Tensor::View), in which case the owner must outlive every copy.
// Copying a Tensor never copies elements; Clone() does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgert/status.h"

namespace edgert {

// Numeric ids are ONNX's TensorProto.DataType values; plans store them.
enum class DataType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
};

// Bytes per element; 0 for kUndefined and kString (not storable in a Tensor).
size_t DataTypeSize(DataType dtype);
// "float32", "int64", ...
const char* DataTypeName(DataType dtype);
// Maps an ONNX TensorProto.DataType id; kUndefined for ids edgert cannot hold.
DataType DataTypeFromOnnx(int32_t onnx_type);
bool IsFloatType(DataType dtype);    // float16/32/64
bool IsIntegerType(DataType dtype);  // signed and unsigned integers (not bool)

template <typename T> struct DataTypeOf;
template <> struct DataTypeOf<float> { static constexpr DataType value = DataType::kFloat32; };
template <> struct DataTypeOf<double> { static constexpr DataType value = DataType::kFloat64; };
template <> struct DataTypeOf<int8_t> { static constexpr DataType value = DataType::kInt8; };
template <> struct DataTypeOf<uint8_t> { static constexpr DataType value = DataType::kUInt8; };
template <> struct DataTypeOf<int16_t> { static constexpr DataType value = DataType::kInt16; };
template <> struct DataTypeOf<uint16_t> { static constexpr DataType value = DataType::kUInt16; };
template <> struct DataTypeOf<int32_t> { static constexpr DataType value = DataType::kInt32; };
template <> struct DataTypeOf<uint32_t> { static constexpr DataType value = DataType::kUInt32; };
template <> struct DataTypeOf<int64_t> { static constexpr DataType value = DataType::kInt64; };
template <> struct DataTypeOf<uint64_t> { static constexpr DataType value = DataType::kUInt64; };
template <> struct DataTypeOf<bool> { static constexpr DataType value = DataType::kBool; };

// Dimensions, outermost first. A negative entry means "not known yet" (only in the builder's IR).
using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for a scalar); -1 if any dimension is negative or it overflows.
int64_t NumElements(const Shape& shape);
// "1x3x224x224", "scalar" for rank 0, "?" for unknown dimensions.
std::string ShapeToString(const Shape& shape);
// Row-major (C order) element strides.
std::vector<int64_t> ContiguousStrides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;

  // Allocates zero-initialised storage. Fails for kUndefined/kString, negative dims and sizes
  // above `kMaxBytes`.
  static StatusOr<Tensor> Create(DataType dtype, Shape shape);
  // A tensor viewing `data` (not owned; the caller keeps it alive).
  static Tensor View(DataType dtype, Shape shape, void* data);
  // A tensor whose storage is kept alive by `owner` (e.g. an mmap of a weights file).
  static Tensor Share(DataType dtype, Shape shape, std::shared_ptr<void> owner, void* data);
  // A 1-D or scalar tensor holding `values`, for tests and constant folding.
  template <typename T>
  static Tensor FromVector(const std::vector<T>& values, Shape shape);
  template <typename T>
  static Tensor Scalar(T value) { return FromVector<T>({value}, {}); }

  static constexpr size_t kMaxBytes = size_t{16} << 30;  // 16 GiB

  bool defined() const { return dtype_ != DataType::kUndefined; }
  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t num_elements() const { return NumElements(shape_); }
  size_t bytes() const { return static_cast<size_t>(num_elements()) * DataTypeSize(dtype_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T> T* data() { return static_cast<T*>(data_); }
  template <typename T> const T* data() const { return static_cast<const T*>(data_); }

  // Same storage, new shape with the same element count.
  StatusOr<Tensor> Reshaped(Shape shape) const;
  // Deep copy into fresh storage.
  Tensor Clone() const;
  // Element i converted to double / int64 (any numeric or bool dtype); for shape logic and tests.
  double GetAsDouble(int64_t i) const;
  int64_t GetAsInt64(int64_t i) const;
  // All elements as int64 (shape tensors, axes); fails for non-integer dtypes.
  StatusOr<std::vector<int64_t>> ToInt64Vector() const;
  // Fills every byte with `byte`; used to poison outputs before a run.
  void Fill(uint8_t byte);

 private:
  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
};

template <typename T>
Tensor Tensor::FromVector(const std::vector<T>& values, Shape shape) {
  Tensor t = *Create(DataTypeOf<T>::value, std::move(shape));
  T* out = t.data<T>();
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.num_elements(); ++i) out[i] = values[i];
  return t;
}

}  // namespace edgert
