// Tensor files: NumPy .npy (format 1.0-3.0, little-endian, C order) and ONNX TensorProto .pb (the
// ONNX backend-test layout, test_data_set_0/input_0.pb). Errors name the file.
#pragma once

#include <string>

#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {

// Reads by extension (.npy or .pb). `name` receives the tensor's name when the file carries one
// (.pb), else stays untouched.
StatusOr<Tensor> ReadTensorFile(const std::string& path, std::string* name = nullptr);
Status WriteNpy(const std::string& path, const Tensor& tensor);
Status WriteTensorPb(const std::string& path, const Tensor& tensor, const std::string& name);

}  // namespace edgert
