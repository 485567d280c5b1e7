#include "edgert/attributes.h"

namespace edgert {
namespace {

const char* KindName(const AttrValue& v) {
  switch (v.index()) {
    case 0: return "int";
    case 1: return "float";
    case 2: return "string";
    case 3: return "tensor";
    case 4: return "ints";
    case 5: return "floats";
    case 6: return "strings";
  }
  return "unknown";
}

template <typename T>
StatusOr<T> Read(const std::map<std::string, AttrValue>& values, const std::string& name,
                 const char* want, const std::string& subject, const T* fallback) {
  auto it = values.find(name);
  if (it == values.end()) {
    if (fallback) return *fallback;
    return InvalidArgument("required attribute '" + name + "' is missing", subject);
  }
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  // An int attribute may be read as float (some exporters write alpha=1 as an int).
  if constexpr (std::is_same_v<T, float>) {
    if (const int64_t* i = std::get_if<int64_t>(&it->second)) return static_cast<float>(*i);
  }
  return InvalidArgument("attribute '" + name + "' should be " + want + " but is " + KindName(it->second),
                         subject);
}

}  // namespace

StatusOr<int64_t> Attributes::GetInt(const std::string& n, const std::string& s) const {
  return Read<int64_t>(values_, n, "int", s, nullptr);
}
StatusOr<float> Attributes::GetFloat(const std::string& n, const std::string& s) const {
  return Read<float>(values_, n, "float", s, nullptr);
}
StatusOr<std::string> Attributes::GetString(const std::string& n, const std::string& s) const {
  return Read<std::string>(values_, n, "string", s, nullptr);
}
StatusOr<std::vector<int64_t>> Attributes::GetInts(const std::string& n, const std::string& s) const {
  return Read<std::vector<int64_t>>(values_, n, "ints", s, nullptr);
}
StatusOr<std::vector<float>> Attributes::GetFloats(const std::string& n, const std::string& s) const {
  return Read<std::vector<float>>(values_, n, "floats", s, nullptr);
}
StatusOr<Tensor> Attributes::GetTensor(const std::string& n, const std::string& s) const {
  return Read<Tensor>(values_, n, "tensor", s, nullptr);
}
StatusOr<int64_t> Attributes::GetIntOr(const std::string& n, int64_t f, const std::string& s) const {
  return Read<int64_t>(values_, n, "int", s, &f);
}
StatusOr<float> Attributes::GetFloatOr(const std::string& n, float f, const std::string& s) const {
  return Read<float>(values_, n, "float", s, &f);
}
StatusOr<std::string> Attributes::GetStringOr(const std::string& n, const std::string& f,
                                              const std::string& s) const {
  return Read<std::string>(values_, n, "string", s, &f);
}
StatusOr<std::vector<int64_t>> Attributes::GetIntsOr(const std::string& n, const std::vector<int64_t>& f,
                                                     const std::string& s) const {
  return Read<std::vector<int64_t>>(values_, n, "ints", s, &f);
}
StatusOr<std::vector<float>> Attributes::GetFloatsOr(const std::string& n, const std::vector<float>& f,
                                                     const std::string& s) const {
  return Read<std::vector<float>>(values_, n, "floats", s, &f);
}

}  // namespace edgert
