// TensorProto <-> Tensor.
//  1. Validate the header: data type edgert can hold, no segment, non-negative dims whose element
//     count and byte size do not overflow and stay below Tensor::kMaxBytes.
//  2. Find the storage and check it holds exactly the expected amount of data: raw_data bytes,
//     the element count of the typed field the data type uses (int32_data also carries bool,
//     int8, uint8, int16, uint16 and float16 bits; uint64_data carries uint32 and uint64), or the
//     external file's size against offset and length.
//  3. Only then allocate the tensor and copy or read the elements.
// Byte order: edgert targets little-endian hosts (aarch64 Jetson, x86-64), which is ONNX's
// raw_data order, so raw bytes are copied as they are.
#include "onnx/tensor_proto.h"

#include <google/protobuf/io/coded_stream.h>
#include <sys/stat.h>

#include <climits>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>

namespace edgert {
namespace {

using google::protobuf::RepeatedField;

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Strict non-negative decimal integer.
bool ParseUint64(const std::string& text, uint64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

std::string DimsToString(const onnx::TensorProto& proto) {
  if (proto.dims_size() == 0) return "scalar";
  std::string s;
  for (int i = 0; i < proto.dims_size(); ++i) s += (i ? "x" : "") + std::to_string(proto.dims(i));
  return s;
}

// Copies a typed repeated field into the tensor, converting each element to T.
template <typename T, typename Src>
void CopyField(const RepeatedField<Src>& field, Tensor* tensor) {
  T* out = tensor->data<T>();
  for (int i = 0; i < field.size(); ++i) out[i] = static_cast<T>(field.Get(i));
}

// Number of elements the typed field used by `dtype` holds, or -1 when the dtype has no field.
int64_t TypedFieldSize(const onnx::TensorProto& proto, DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return proto.float_data_size();
    case DataType::kFloat64:
      return proto.double_data_size();
    case DataType::kInt64:
      return proto.int64_data_size();
    case DataType::kUInt32:
    case DataType::kUInt64:
      return proto.uint64_data_size();
    case DataType::kBool:
    case DataType::kInt8:
    case DataType::kUInt8:
    case DataType::kInt16:
    case DataType::kUInt16:
    case DataType::kInt32:
    case DataType::kFloat16:
      return proto.int32_data_size();
    case DataType::kUndefined:
    case DataType::kString:
      return -1;
  }
  return -1;
}

const char* TypedFieldName(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return "float_data";
    case DataType::kFloat64:
      return "double_data";
    case DataType::kInt64:
      return "int64_data";
    case DataType::kUInt32:
    case DataType::kUInt64:
      return "uint64_data";
    default:
      return "int32_data";
  }
}

void CopyTypedField(const onnx::TensorProto& proto, Tensor* t) {
  switch (t->dtype()) {
    case DataType::kFloat32:
      CopyField<float>(proto.float_data(), t);
      break;
    case DataType::kFloat64:
      CopyField<double>(proto.double_data(), t);
      break;
    case DataType::kInt64:
      CopyField<int64_t>(proto.int64_data(), t);
      break;
    case DataType::kUInt32:
      CopyField<uint32_t>(proto.uint64_data(), t);
      break;
    case DataType::kUInt64:
      CopyField<uint64_t>(proto.uint64_data(), t);
      break;
    case DataType::kBool: {
      bool* out = t->data<bool>();
      for (int i = 0; i < proto.int32_data_size(); ++i) out[i] = proto.int32_data(i) != 0;
      break;
    }
    case DataType::kInt8:
      CopyField<int8_t>(proto.int32_data(), t);
      break;
    case DataType::kUInt8:
      CopyField<uint8_t>(proto.int32_data(), t);
      break;
    case DataType::kInt16:
      CopyField<int16_t>(proto.int32_data(), t);
      break;
    case DataType::kUInt16:
    case DataType::kFloat16:
      CopyField<uint16_t>(proto.int32_data(), t);
      break;
    case DataType::kInt32:
      CopyField<int32_t>(proto.int32_data(), t);
      break;
    case DataType::kUndefined:
    case DataType::kString:
      break;
  }
}

// Reads the external data of `proto` into a fresh tensor after checking the file's bounds.
StatusOr<Tensor> ReadExternal(const onnx::TensorProto& proto, const TensorProtoSource& src, DataType dtype,
                              const Shape& shape, uint64_t expected_bytes) {
  std::map<std::string, std::string> kv;
  for (const auto& entry : proto.external_data()) kv[entry.key()] = entry.value();
  auto loc_it = kv.find("location");
  if (loc_it == kv.end() || loc_it->second.empty()) {
    return Corrupt(src.label + " is stored externally but has no 'location'", src.subject);
  }
  const std::string& location = loc_it->second;
  if (src.base_dir.empty()) {
    return Unsupported(src.label + " is stored in external file " + Quote(location) +
                           ", which needs the model's directory (load the model from a file)",
                       src.subject);
  }
  if (location[0] == '/') {
    return InvalidArgument(src.label + ": external data location " + Quote(location) +
                               " is an absolute path; it must be relative to the model's directory",
                           src.subject);
  }
  for (size_t start = 0; start <= location.size();) {
    size_t end = location.find_first_of("/\\", start);
    if (end == std::string::npos) end = location.size();
    if (location.compare(start, end - start, "..") == 0 && end - start == 2) {
      return InvalidArgument(
          src.label + ": external data location " + Quote(location) + " leaves the model's directory ('..')",
          src.subject);
    }
    start = end + 1;
  }
  if (location.find('\0') != std::string::npos) {
    return InvalidArgument(src.label + ": external data location contains a NUL byte", src.subject);
  }
  const std::string path = src.base_dir + "/" + location;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return NotFound(src.label + ": external data file " + Quote(location) + " not found (looked for " + path + ")",
                    src.subject);
  }
  if (!S_ISREG(st.st_mode)) {
    return IoError(src.label + ": external data file " + Quote(path) + " is not a regular file", src.subject);
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  uint64_t offset = 0;
  if (auto it = kv.find("offset"); it != kv.end() && !ParseUint64(it->second, &offset)) {
    return Corrupt(src.label + ": external data offset " + Quote(it->second) + " is not a non-negative integer",
                   src.subject);
  }
  if (offset > file_size) {
    return Corrupt(src.label + ": external data offset " + std::to_string(offset) + " is past the end of " +
                       Quote(location) + " (" + std::to_string(file_size) + " bytes)",
                   src.subject);
  }
  uint64_t length = expected_bytes;
  if (auto it = kv.find("length"); it != kv.end()) {
    if (!ParseUint64(it->second, &length)) {
      return Corrupt(src.label + ": external data length " + Quote(it->second) + " is not a non-negative integer",
                     src.subject);
    }
    if (length != expected_bytes) {
      return Corrupt(src.label + " has dims " + DimsToString(proto) + " (" + std::to_string(expected_bytes) +
                         " bytes) but its external data length is " + std::to_string(length),
                     src.subject);
    }
  }
  if (length > file_size - offset) {
    return Corrupt(src.label + ": external data [" + std::to_string(offset) + ", " + std::to_string(offset) + "+" +
                       std::to_string(length) + ") runs past the end of " + Quote(location) + " (" +
                       std::to_string(file_size) + " bytes)",
                   src.subject);
  }
  EDGERT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(dtype, shape));
  if (length == 0) return t;
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(src.label + ": cannot open external data file " + Quote(path), src.subject);
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(length));
  if (!in || static_cast<uint64_t>(in.gcount()) != length) {
    return IoError(src.label + ": reading " + std::to_string(length) + " bytes at offset " + std::to_string(offset) +
                       " of " + Quote(path) + " failed",
                   src.subject);
  }
  return t;
}

// Step 1: the data type, the dims and the byte size the header claims.
Status ParseHeader(const onnx::TensorProto& proto, const TensorProtoSource& src, DataType* dtype_out, Shape* shape_out,
                   uint64_t* bytes_out) {
  const DataType dtype = DataTypeFromOnnx(proto.data_type());
  if (dtype == DataType::kUndefined) {
    if (proto.data_type() == onnx::TensorProto::UNDEFINED) {
      return Corrupt(src.label + " has no data type", src.subject);
    }
    return Unsupported(src.label + " has ONNX data type " + std::to_string(proto.data_type()) +
                           ", which edgert cannot hold (supported: bool, integers, float16/32/64)",
                       src.subject);
  }
  if (proto.has_segment()) return Unsupported(src.label + " is a segment of a larger tensor", src.subject);
  Shape shape;
  int64_t count = 1;
  for (int i = 0; i < proto.dims_size(); ++i) {
    int64_t d = proto.dims(i);
    if (d < 0) {
      return Corrupt(src.label + " has negative dimension " + std::to_string(d) + " (dims " + DimsToString(proto) + ")",
                     src.subject);
    }
    if (d != 0 && count > std::numeric_limits<int64_t>::max() / d) {
      return Corrupt(src.label + " has dims " + DimsToString(proto) + " whose element count overflows", src.subject);
    }
    count *= d;
    shape.push_back(d);
  }
  const uint64_t elem = DataTypeSize(dtype);
  if (static_cast<uint64_t>(count) > Tensor::kMaxBytes / elem) {
    return OutOfRange(src.label + " has dims " + DimsToString(proto) + ", more than edgert's limit of " +
                          std::to_string(Tensor::kMaxBytes >> 30) + " GiB per tensor",
                      src.subject);
  }
  *dtype_out = dtype;
  *shape_out = std::move(shape);
  *bytes_out = static_cast<uint64_t>(count) * elem;
  return Status::Ok();
}

// raw_data below this size is copied rather than taken over.
constexpr size_t kTakeOverBytes = 4096;

}  // namespace

StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto, const TensorProtoSource& src) {
  DataType dtype = DataType::kUndefined;
  Shape shape;
  uint64_t bytes = 0;
  EDGERT_RETURN_IF_ERROR(ParseHeader(proto, src, &dtype, &shape, &bytes));
  const int64_t count = NumElements(shape);

  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    return ReadExternal(proto, src, dtype, shape, bytes);
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != bytes) {
      return Corrupt(src.label + " has dims " + DimsToString(proto) + " of " + DataTypeName(dtype) + " (" +
                         std::to_string(bytes) + " bytes) but its raw_data holds " +
                         std::to_string(proto.raw_data().size()) + " bytes",
                     src.subject);
    }
    EDGERT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(dtype, shape));
    if (bytes) std::memcpy(t.raw(), proto.raw_data().data(), bytes);
    if (dtype == DataType::kBool) {
      // Any non-zero byte is true; a bool object must hold exactly 0 or 1.
      auto* b = static_cast<uint8_t*>(t.raw());
      for (uint64_t i = 0; i < bytes; ++i) b[i] = b[i] != 0;
    }
    return t;
  }
  const int64_t present = TypedFieldSize(proto, dtype);
  if (present != count) {
    return Corrupt(src.label + " has dims " + DimsToString(proto) + " (" + std::to_string(count) + " " +
                       DataTypeName(dtype) + " elements) but " + TypedFieldName(dtype) + " holds " +
                       std::to_string(present) + (present == 0 ? " (no data)" : ""),
                   src.subject);
  }
  EDGERT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(dtype, shape));
  CopyTypedField(proto, &t);
  return t;
}

StatusOr<Tensor> TakeTensorFromProto(onnx::TensorProto* proto, const TensorProtoSource& src) {
  DataType dtype = DataType::kUndefined;
  Shape shape;
  uint64_t bytes = 0;
  EDGERT_RETURN_IF_ERROR(ParseHeader(*proto, src, &dtype, &shape, &bytes));
  if (proto->data_location() != onnx::TensorProto::EXTERNAL && proto->has_raw_data() && dtype != DataType::kBool &&
      bytes >= kTakeOverBytes && proto->raw_data().size() == bytes) {
    // The string's heap buffer (malloc-aligned) becomes the tensor's storage.
    std::shared_ptr<std::string> owner(proto->release_raw_data());
    void* data = owner->data();
    return Tensor::Share(dtype, std::move(shape), std::move(owner), data);
  }
  return TensorFromProto(*proto, src);
}

void TensorToProto(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto) {
  proto->Clear();
  proto->set_name(name);
  proto->set_data_type(static_cast<int32_t>(tensor.dtype()));
  for (int64_t d : tensor.shape()) proto->add_dims(d);
  proto->set_raw_data(static_cast<const char*>(tensor.raw()), tensor.bytes());
}

bool ParseProtoFromBytes(const void* data, size_t size, google::protobuf::MessageLite* message) {
  if (size > static_cast<size_t>(INT_MAX)) return false;
  google::protobuf::io::CodedInputStream stream(static_cast<const uint8_t*>(data), static_cast<int>(size));
  stream.SetTotalBytesLimit(INT_MAX);
  return message->ParseFromCodedStream(&stream) && stream.ConsumedEntireMessage();
}

Status ReadFileBytes(const std::string& path, size_t max_bytes, std::string* bytes) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return NotFound(path + ": no such file", path);
  if (!S_ISREG(st.st_mode)) return IoError(path + ": not a regular file", path);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return OutOfRange(path + ": file is " + std::to_string(st.st_size) + " bytes, more than the limit of " +
                          std::to_string(max_bytes),
                      path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(path + ": cannot open for reading", path);
  bytes->resize(static_cast<size_t>(st.st_size));
  in.read(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  if (static_cast<size_t>(in.gcount()) != bytes->size()) return IoError(path + ": read failed", path);
  return Status::Ok();
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace edgert
