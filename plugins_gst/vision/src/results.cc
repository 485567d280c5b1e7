// FrameResults as one JSON object (edgert-app's JSON-lines sink, tests).
//
// Layout, keys always in this order:
//   {"classes":[{"id":I,"label":S,"score":F},...],
//    "detections":[{"id":I,"label":S,"score":F,"box":[x0,y0,x1,y1]},...],
//    "mask":{"width":W,"height":H} | null,
//    "inference_ms":F}
// Floats are printed with exactly 4 decimals in the C locale (whatever the process locale says);
// NaN and infinities, which JSON cannot hold, become null. Labels are JSON-escaped: '"', '\\' and
// control characters are escaped, valid UTF-8 passes through and each byte of an invalid UTF-8
// sequence becomes U+FFFD, so the line is always valid JSON.
#include "edgert/vision/results.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iomanip>
#include <locale>
#include <sstream>
#include <string>

namespace edgert::vision {

namespace {

void AppendFloat(std::string* out, double v) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  std::ostringstream s;
  s.imbue(std::locale::classic());
  s << std::fixed << std::setprecision(4) << v;
  std::string text = s.str();
  if (text == "-0.0000") text = "0.0000";
  *out += text;
}

// Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 when it is not valid.
size_t Utf8Length(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and code points above U+10FFFF are invalid.
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return len;
}

void AppendString(std::string* out, const std::string& s) {
  *out += '"';
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        *out += "\\\"";
        ++i;
        continue;
      case '\\':
        *out += "\\\\";
        ++i;
        continue;
      case '\b':
        *out += "\\b";
        ++i;
        continue;
      case '\f':
        *out += "\\f";
        ++i;
        continue;
      case '\n':
        *out += "\\n";
        ++i;
        continue;
      case '\r':
        *out += "\\r";
        ++i;
        continue;
      case '\t':
        *out += "\\t";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      *out += buf;
      ++i;
      continue;
    }
    const size_t len = Utf8Length(s, i);
    if (len == 0) {
      *out += "\\ufffd";
      ++i;
      continue;
    }
    out->append(s, i, len);
    i += len;
  }
  *out += '"';
}

}  // namespace

std::string ResultsToJson(const FrameResults& results) {
  std::string out = "{\"classes\":[";
  for (size_t i = 0; i < results.classes.size(); ++i) {
    const Classification& c = results.classes[i];
    if (i) out += ',';
    out += "{\"id\":" + std::to_string(c.class_id) + ",\"label\":";
    AppendString(&out, c.label);
    out += ",\"score\":";
    AppendFloat(&out, c.score);
    out += '}';
  }
  out += "],\"detections\":[";
  for (size_t i = 0; i < results.detections.size(); ++i) {
    const Detection& d = results.detections[i];
    if (i) out += ',';
    out += "{\"id\":" + std::to_string(d.class_id) + ",\"label\":";
    AppendString(&out, d.label);
    out += ",\"score\":";
    AppendFloat(&out, d.score);
    out += ",\"box\":[";
    const float box[4] = {d.x0, d.y0, d.x1, d.y1};
    for (int k = 0; k < 4; ++k) {
      if (k) out += ',';
      AppendFloat(&out, box[k]);
    }
    out += "]}";
  }
  out += "],\"mask\":";
  if (results.mask.width > 0 && results.mask.height > 0) {
    out +=
        "{\"width\":" + std::to_string(results.mask.width) + ",\"height\":" + std::to_string(results.mask.height) + "}";
  } else {
    out += "null";
  }
  out += ",\"inference_ms\":";
  AppendFloat(&out, results.inference_ms);
  out += '}';
  return out;
}

}  // namespace edgert::vision
