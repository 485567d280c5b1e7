// The YAML config parsers' error collector (yaml_errors.h).
#include "edgert/vision/yaml_errors.h"

#include <sstream>

namespace edgert::vision {

void YamlErrors::Add(const YAML::Mark& mark, const std::string& key, const std::string& what) {
  std::ostringstream s;
  s << path_;
  if (!mark.is_null()) s << ':' << mark.line + 1 << ':' << mark.column + 1;
  s << ": ";
  if (!key.empty()) s << "key '" << key << "': ";
  s << what;
  lines_.push_back(s.str());
}

void YamlErrors::AddLines(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines_.push_back(line);
}

std::string YamlErrors::Joined() const {
  std::string s;
  for (size_t i = 0; i < lines_.size(); ++i) s += (i ? "\n" : "") + lines_[i];
  return s;
}

const char* YamlNodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "empty";
    case YAML::NodeType::Undefined:
      break;
  }
  return "undefined";
}

}  // namespace edgert::vision
