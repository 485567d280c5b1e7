// A small streaming JSON writer for `edgert inspect --json`: two-space indentation, commas and
// nesting tracked for the caller, strings escaped per RFC 8259.
//
// Contract: the caller pairs every Begin*() with its End*() and, inside an object, precedes every
// value with Key(). Strings are bytes: valid UTF-8 is copied, '"', '\\' and control characters are
// escaped, and each byte of an invalid UTF-8 sequence becomes U+FFFD, so the output is always valid
// JSON whatever names a model holds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edgert {

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

class JsonWriter {
 public:
  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Key(std::string_view key);
  void String(std::string_view value);
  void Int(int64_t value);
  void Uint(uint64_t value);
  void Bool(bool value);
  // The document so far; complete once every container is closed.
  const std::string& str() const { return out_; }

 private:
  void Open(char bracket);
  void Close(char bracket);
  void BeforeValue();
  void Newline();

  std::string out_;
  std::vector<bool> has_items_;  // per open container
  bool after_key_ = false;
};

}  // namespace edgert
