// Tensor files.
// .npy: magic "\x93NUMPY", version byte pair (1.0: 2-byte header length; 2.0 and 3.0: 4-byte),
// then a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded
// with spaces and a newline, then the elements in C order. Reading parses the dict with a small
// recursive-descent parser, checks the data size against the file before allocating and copies
// the elements. Writing emits version 1.0 with the header padded to a multiple of 64 bytes.
// .pb: one ONNX TensorProto, converted by TensorFromProto (the same checks as initializers).
#include "onnx/tensor_file.h"

#include <climits>
#include <cstring>
#include <fstream>
#include <limits>

#include "onnx/onnx.pb.h"
#include "onnx/tensor_proto.h"

namespace edgert {
namespace {

// Tensor files above this are refused (protobuf's limit applies to .pb anyway).
constexpr size_t kMaxTensorFileBytes = Tensor::kMaxBytes + 4096;
constexpr char kNpyMagic[] = "\x93NUMPY";

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  bool has_descr = false, has_order = false, has_shape = false;
  Shape shape;
};

// Parser of the header dict. Grammar (what numpy writes, plus either quote style):
//   dict := '{' (key ':' value ','?)* '}'     value := string | True | False | tuple
//   tuple := '(' (int ','?)* ')'
class NpyHeaderParser {
 public:
  explicit NpyHeaderParser(const std::string& text) : s_(text) {}

  bool Parse(NpyHeader* h, std::string* error) {
    Skip();
    if (!Eat('{')) return Fail("expected '{'", error);
    while (true) {
      Skip();
      if (Eat('}')) break;
      std::string key;
      if (!String(&key)) return Fail("expected a quoted key", error);
      Skip();
      if (!Eat(':')) return Fail("expected ':' after '" + key + "'", error);
      Skip();
      if (key == "descr") {
        if (!String(&h->descr)) return Fail("'descr' is not a string", error);
        h->has_descr = true;
      } else if (key == "fortran_order") {
        if (Word("True"))
          h->fortran_order = true;
        else if (Word("False"))
          h->fortran_order = false;
        else
          return Fail("'fortran_order' is not True or False", error);
        h->has_order = true;
      } else if (key == "shape") {
        if (!Tuple(&h->shape, error)) return false;
        h->has_shape = true;
      } else {
        return Fail("unknown key '" + key + "'", error);
      }
      Skip();
      Eat(',');
    }
    Skip();
    if (pos_ != s_.size()) return Fail("text after the closing '}'", error);
    return true;
  }

 private:
  bool Fail(const std::string& msg, std::string* error) {
    *error = msg + " at byte " + std::to_string(pos_) + " of the header";
    return false;
  }
  void Skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Word(const char* w) {
    size_t n = std::strlen(w);
    if (s_.compare(pos_, n, w) != 0) return false;
    pos_ += n;
    return true;
  }
  bool String(std::string* out) {
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) return false;
    char q = s_[pos_++];
    size_t end = s_.find(q, pos_);
    if (end == std::string::npos) return false;
    *out = s_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return true;
  }
  bool Tuple(Shape* shape, std::string* error) {
    if (!Eat('(')) return Fail("'shape' is not a tuple", error);
    while (true) {
      Skip();
      if (Eat(')')) return true;
      if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') return Fail("'shape' holds a non-integer", error);
      int64_t v = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        int digit = s_[pos_++] - '0';
        if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) return Fail("a dimension overflows", error);
        v = v * 10 + digit;
      }
      Eat('L');  // Python 2 long suffix
      shape->push_back(v);
      Skip();
      Eat(',');
    }
  }

  const std::string& s_;
  size_t pos_ = 0;
};

StatusOr<DataType> DtypeFromDescr(const std::string& path, const std::string& descr) {
  if (descr == "<f4") return DataType::kFloat32;
  if (descr == "<f2") return DataType::kFloat16;
  if (descr == "<i4") return DataType::kInt32;
  if (descr == "<i8") return DataType::kInt64;
  if (descr == "<i2") return DataType::kInt16;
  if (descr == "<u2") return DataType::kUInt16;
  if (descr == "<u4") return DataType::kUInt32;
  if (descr == "<u8") return DataType::kUInt64;
  if (descr == "|b1") return DataType::kBool;
  if (descr == "|u1") return DataType::kUInt8;
  if (descr == "|i1") return DataType::kInt8;
  if (descr == "<f8") {
    return Unsupported(path +
                           ": float64 .npy files are not supported as tensors; save float32 "
                           "(numpy: array.astype(np.float32)) or use a .pb TensorProto",
                       path);
  }
  if (!descr.empty() && descr[0] == '>') {
    return Unsupported(path + ": big-endian dtype '" + descr + "' is not supported; save little-endian", path);
  }
  return Unsupported(path + ": .npy dtype '" + descr +
                         "' is not supported (supported: <f4 <f2 <i8 <i4 <i2 <u2 "
                         "<u4 <u8 |b1 |u1 |i1)",
                     path);
}

const char* DescrFromDtype(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return "<f4";
    case DataType::kFloat16:
      return "<f2";
    case DataType::kFloat64:
      return "<f8";
    case DataType::kInt32:
      return "<i4";
    case DataType::kInt64:
      return "<i8";
    case DataType::kInt16:
      return "<i2";
    case DataType::kUInt16:
      return "<u2";
    case DataType::kUInt32:
      return "<u4";
    case DataType::kUInt64:
      return "<u8";
    case DataType::kBool:
      return "|b1";
    case DataType::kUInt8:
      return "|u1";
    case DataType::kInt8:
      return "|i1";
    case DataType::kUndefined:
    case DataType::kString:
      return nullptr;
  }
  return nullptr;
}

StatusOr<Tensor> ReadNpy(const std::string& path) {
  std::string bytes;
  EDGERT_RETURN_IF_ERROR(ReadFileBytes(path, kMaxTensorFileBytes, &bytes));
  if (bytes.size() < 10 || bytes.compare(0, 6, kNpyMagic, 6) != 0) {
    return Corrupt(path + ": not a .npy file (no \\x93NUMPY magic)", path);
  }
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return Corrupt(path + ": .npy header is truncated", path);
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[8 + i]);
    header_start = 12;
  } else {
    return Unsupported(path + ": .npy format version " + std::to_string(major) + " is not supported (1 to 3)", path);
  }
  if (header_len > bytes.size() - header_start) {
    return Corrupt(path + ": .npy header length " + std::to_string(header_len) + " runs past the end of the file",
                   path);
  }
  NpyHeader h;
  std::string error;
  if (!NpyHeaderParser(bytes.substr(header_start, header_len)).Parse(&h, &error)) {
    return Corrupt(path + ": malformed .npy header: " + error, path);
  }
  if (!h.has_descr || !h.has_order || !h.has_shape) {
    return Corrupt(path + ": .npy header lacks 'descr', 'fortran_order' or 'shape'", path);
  }
  if (h.fortran_order) {
    return Unsupported(path + ": Fortran-ordered .npy arrays are not supported; save with np.ascontiguousarray", path);
  }
  EDGERT_ASSIGN_OR_RETURN(DataType dtype, DtypeFromDescr(path, h.descr));
  const uint64_t elem = DataTypeSize(dtype);
  uint64_t count = 1;
  for (int64_t d : h.shape) {
    if (d != 0 && count > Tensor::kMaxBytes / elem / static_cast<uint64_t>(d)) {
      return OutOfRange(path + ": .npy shape " + ShapeToString(h.shape) + " is too large", path);
    }
    count *= static_cast<uint64_t>(d);
  }
  const size_t data_start = header_start + header_len;
  const uint64_t want = count * elem;
  if (bytes.size() - data_start != want) {
    return Corrupt(path + ": .npy shape " + ShapeToString(h.shape) + " of " + DataTypeName(dtype) + " needs " +
                       std::to_string(want) + " bytes of data but the file holds " +
                       std::to_string(bytes.size() - data_start),
                   path);
  }
  EDGERT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(dtype, h.shape));
  if (want) std::memcpy(t.raw(), bytes.data() + data_start, want);
  if (dtype == DataType::kBool) {
    bool* b = t.data<bool>();
    const uint8_t* raw = reinterpret_cast<const uint8_t*>(bytes.data() + data_start);
    for (uint64_t i = 0; i < count; ++i) b[i] = raw[i] != 0;
  }
  return t;
}

StatusOr<Tensor> ReadPb(const std::string& path, std::string* name) {
  std::string bytes;
  EDGERT_RETURN_IF_ERROR(ReadFileBytes(path, static_cast<size_t>(INT_MAX), &bytes));
  onnx::TensorProto proto;
  if (bytes.empty() || !ParseProtoFromBytes(bytes.data(), bytes.size(), &proto)) {
    return Corrupt(path + ": not a valid ONNX TensorProto", path);
  }
  std::string label = path + ": tensor" + (proto.name().empty() ? std::string() : " '" + proto.name() + "'");
  TensorProtoSource src{DirName(path), label, proto.name().empty() ? path : proto.name()};
  EDGERT_ASSIGN_OR_RETURN(Tensor t, TensorFromProto(proto, src));
  if (name != nullptr && !proto.name().empty()) *name = proto.name();
  return t;
}

Status WriteBytes(const std::string& path, const std::string& head, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return IoError(path + ": cannot open for writing", path);
  out.write(head.data(), static_cast<std::streamsize>(head.size()));
  if (size) out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) return IoError(path + ": write failed", path);
  return Status::Ok();
}

}  // namespace

StatusOr<Tensor> ReadTensorFile(const std::string& path, std::string* name) {
  if (EndsWith(path, ".npy")) return ReadNpy(path);
  if (EndsWith(path, ".pb")) return ReadPb(path, name);
  return InvalidArgument(path + ": unknown tensor file type; expected a .npy or .pb file", path);
}

Status WriteNpy(const std::string& path, const Tensor& tensor) {
  const char* descr = DescrFromDtype(tensor.dtype());
  if (descr == nullptr) {
    return Unsupported(path + ": cannot write a " + DataTypeName(tensor.dtype()) + " tensor as .npy", path);
  }
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape().size(); ++i) {
    dict += std::to_string(tensor.shape()[i]);
    dict += tensor.shape().size() == 1 ? "," : (i + 1 < tensor.shape().size() ? ", " : "");
  }
  dict += "), }";
  // Pad with spaces so that magic + version + length + dict + '\n' is a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  if (dict.size() > 0xFFFF) return Unsupported(path + ": .npy header too long", path);
  std::string head(kNpyMagic, 6);
  head += '\x01';
  head += '\x00';
  head += static_cast<char>(dict.size() & 0xFF);
  head += static_cast<char>(dict.size() >> 8);
  head += dict;
  return WriteBytes(path, head, tensor.raw(), tensor.bytes());
}

Status WriteTensorPb(const std::string& path, const Tensor& tensor, const std::string& name) {
  if (DescrFromDtype(tensor.dtype()) == nullptr) {
    return Unsupported(path + ": cannot write a " + DataTypeName(tensor.dtype()) + " tensor", path);
  }
  if (tensor.bytes() > static_cast<size_t>(INT_MAX) - 4096) {
    return Unsupported(path + ": tensor is too large for a TensorProto (2 GiB limit)", path);
  }
  onnx::TensorProto proto;
  TensorToProto(tensor, name, &proto);
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) return Internal(path + ": serializing the TensorProto failed", path);
  return WriteBytes(path, bytes, nullptr, 0);
}

}  // namespace edgert
