// Conversion between ONNX TensorProto and edgert Tensor, shared by the model importer
// (initializers, Constant nodes, tensor attributes) and the .pb tensor files.
//
// Contract: every size a proto claims is checked against the data actually present (in the
// message or in the external data file) before anything is allocated, so a hostile file cannot
// make edgert allocate more than it holds. Errors name the tensor through `label` and carry
// `subject` as the Status subject.
#pragma once

#include <string>

#include "edgert/status.h"
#include "edgert/tensor.h"
#include "onnx/onnx.pb.h"

namespace edgert {

struct TensorProtoSource {
  // Directory that external data locations are relative to; empty when external data is not
  // allowed (e.g. a model given as bytes with no directory).
  std::string base_dir;
  // Prefix of every message, naming the file and the tensor: "model.onnx: initializer 'W'".
  std::string label;
  // Status subject: the tensor's name.
  std::string subject;
};

// Converts `proto` (any storage: raw_data, the typed repeated fields, or external data).
StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto, const TensorProtoSource& source);

// Same checks and result, but a large raw_data buffer is taken over by the tensor instead of being
// copied (`proto` loses its raw_data). Used for initializers, which dominate a model's size.
StatusOr<Tensor> TakeTensorFromProto(onnx::TensorProto* proto, const TensorProtoSource& source);

// Fills `proto` with `tensor` (raw_data storage, little-endian) and `name`.
void TensorToProto(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto);

// Parses a complete protobuf message from `size` bytes with the total-bytes limit raised to
// 2 GiB. False when the bytes are not exactly one valid message.
bool ParseProtoFromBytes(const void* data, size_t size, google::protobuf::MessageLite* message);

// Reads a whole file (at most `max_bytes`) into `bytes`. Errors name `path`.
Status ReadFileBytes(const std::string& path, size_t max_bytes, std::string* bytes);

// Directory part of `path` ("." when it has none).
std::string DirName(const std::string& path);

}  // namespace edgert
