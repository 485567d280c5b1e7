// The ONNX importer: ModelProto (and its external data) -> IR Graph.
//
// Contract: never aborts on malformed input; every error is prefixed by the model's display name
// and names the tensor, node or opset at fault. The Graph it returns is not yet inferred: values
// carry the dtypes and shapes the model declares (-1 for symbolic dimensions) and constants carry
// their data. Constant nodes become constant values, not nodes; graph inputs that are also
// initializers are constants, not inputs.
#pragma once

#include <cstddef>
#include <string>

#include "edgert/status.h"
#include "ir/graph.h"

namespace edgert {

// Reads and imports `path`; external data is looked up relative to the file's directory.
StatusOr<Graph> ImportOnnxFile(const std::string& path);

// Imports a serialized ModelProto. External data is looked up relative to `base_dir` (empty: a
// model with external data is an error). `display_name` prefixes every message.
StatusOr<Graph> ImportOnnxBytes(const void* data, size_t size, const std::string& base_dir,
                                const std::string& display_name);

}  // namespace edgert
