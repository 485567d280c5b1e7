// The timing cache file (format in edgert/timing_cache.h).
#include "edgert/timing_cache.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "edgert/atomic_file.h"

namespace edgert {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsDecimal(const std::string& s, size_t max_digits) {
  return !s.empty() && s.size() <= max_digits && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

std::string EncodeTimingCacheField(const std::string& text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out = "=";
  out.reserve(text.size() + 1);
  for (unsigned char c : text) {
    if (c > ' ' && c <= '~' && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool DecodeTimingCacheField(const std::string& field, std::string* out) {
  if (field.empty() || field[0] != '=') return false;
  out->clear();
  for (size_t i = 1; i < field.size(); ++i) {
    if (field[i] != '%') {
      *out += field[i];
      continue;
    }
    if (i + 2 >= field.size()) return false;
    const int hi = HexDigit(field[i + 1]);
    const int lo = HexDigit(field[i + 2]);
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

TimingCache ReadTimingCache(const std::string& path) {
  TimingCache entries;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    for (size_t at = 0; at <= line.size();) {
      const size_t space = std::min(line.find(' ', at), line.size());
      fields.push_back(line.substr(at, space - at));
      at = space + 1;
    }
    if ((fields.size() != 2 && fields.size() != 4) || fields[0].size() != 64 ||
        fields[0].find_first_not_of("0123456789abcdef") != std::string::npos || !IsDecimal(fields[1], 9)) {
      continue;
    }
    CachedTactic entry;
    entry.tactic = std::stoi(fields[1]);
    if (fields.size() == 4 && (!DecodeTimingCacheField(fields[2], &entry.label) ||
                               !DecodeTimingCacheField(fields[3], &entry.blob) || entry.label.empty())) {
      entry.label.clear();
      entry.blob.clear();
    }
    entries[fields[0]] = std::move(entry);
  }
  return entries;
}

Status WriteTimingCache(const std::string& path, const TimingCache& entries) {
  std::ostringstream out;
  for (const auto& [key, entry] : entries) {
    out << key << ' ' << entry.tactic;
    if (!entry.label.empty()) {
      out << ' ' << EncodeTimingCacheField(entry.label) << ' ' << EncodeTimingCacheField(entry.blob);
    }
    out << '\n';
  }
  return WriteFileAtomically(path, out.str(), "the timing cache");
}

}  // namespace edgert
