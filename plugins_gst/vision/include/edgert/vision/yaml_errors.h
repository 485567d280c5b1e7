// The error collector the YAML config parsers share (model configs here, edgert-app's app configs).
// Needs yaml-cpp's headers (both parsers use yaml-cpp; nothing else includes this).
//
// Every error is one line "path:line:column: key 'x': what is wrong; what to write instead" (the mark
// and the key are left out when absent); all are kept, so a config with several mistakes reports
// them all at once.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace edgert::vision {

class YamlErrors {
 public:
  explicit YamlErrors(std::string path) : path_(std::move(path)) {}

  // One error at `mark` (1-based line and column in the message) about `key` ("" for none).
  void Add(const YAML::Mark& mark, const std::string& key, const std::string& what);
  // Error lines made elsewhere (e.g. an included model config's), one per line of `text`.
  void AddLines(const std::string& text);
  bool empty() const { return lines_.empty(); }
  // The errors, one per line, in the order they were added.
  std::string Joined() const;

 private:
  std::string path_;
  std::vector<std::string> lines_;
};

// "a mapping", "a list", "a scalar", "empty" or "undefined", for "expected X, got Y" messages.
const char* YamlNodeKind(const YAML::Node& node);

}  // namespace edgert::vision
