// Named operator attributes (ONNX's AttributeProto, normalised): int, float, string, tensor and
// lists of ints, floats and strings. Layers in a plan store them as they are.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert {

using AttrValue = std::variant<int64_t, float, std::string, Tensor, std::vector<int64_t>,
                               std::vector<float>, std::vector<std::string>>;

class Attributes {
 public:
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  void Set(const std::string& name, AttrValue value) { values_[name] = std::move(value); }
  void Erase(const std::string& name) { values_.erase(name); }
  const std::map<std::string, AttrValue>& all() const { return values_; }

  // Typed reads. The *Or forms return `fallback` when absent; all return an error naming the
  // attribute when present with another type. `subject` is the node named in that error.
  StatusOr<int64_t> GetInt(const std::string& name, const std::string& subject = {}) const;
  StatusOr<float> GetFloat(const std::string& name, const std::string& subject = {}) const;
  StatusOr<std::string> GetString(const std::string& name, const std::string& subject = {}) const;
  StatusOr<std::vector<int64_t>> GetInts(const std::string& name, const std::string& subject = {}) const;
  StatusOr<std::vector<float>> GetFloats(const std::string& name, const std::string& subject = {}) const;
  StatusOr<Tensor> GetTensor(const std::string& name, const std::string& subject = {}) const;

  StatusOr<int64_t> GetIntOr(const std::string& name, int64_t fallback, const std::string& subject = {}) const;
  StatusOr<float> GetFloatOr(const std::string& name, float fallback, const std::string& subject = {}) const;
  StatusOr<std::string> GetStringOr(const std::string& name, const std::string& fallback,
                                    const std::string& subject = {}) const;
  StatusOr<std::vector<int64_t>> GetIntsOr(const std::string& name, const std::vector<int64_t>& fallback,
                                           const std::string& subject = {}) const;
  StatusOr<std::vector<float>> GetFloatsOr(const std::string& name, const std::vector<float>& fallback,
                                           const std::string& subject = {}) const;

 private:
  std::map<std::string, AttrValue> values_;
};

}  // namespace edgert
