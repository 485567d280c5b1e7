// The calibration cache in TensorRT's text format and its sidecar key (calibration.h).
//
// Parsing keeps what a byte-exact round trip needs: the header line as written, each entry's hex
// digits as written, the entry order and whether the text ended with a newline. Serialising writes
// "<header>\n" then "<name>: <hex>\n" per entry (the last newline only when final_newline).
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "edgert/atomic_file.h"
#include "edgert/calibration.h"
#include "edgert/hash.h"

namespace edgert {

namespace {

constexpr char kTensorRtVersion[] = "8601";  // the TensorRT release whose cache format this is
constexpr char kKeyPrefix[] = "edgert-calib-key ";

std::string Hex8(uint32_t bits) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08" PRIx32, bits);
  return buf;
}

uint32_t FloatBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
}

StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path, path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

float CalibrationCache::Entry::scale() const {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

CalibrationCache CalibrationCache::ForCalibrator(CalibratorKind kind) {
  CalibrationCache cache;
  cache.header = std::string("TRT-") + kTensorRtVersion + "-" + CalibratorAlgorithm(kind);
  return cache;
}

void CalibrationCache::SetScale(const std::string& name, float scale) {
  const uint32_t bits = FloatBits(scale);
  for (Entry& e : entries) {
    if (e.name == name) {
      e.bits = bits;
      e.hex.clear();
      return;
    }
  }
  entries.push_back({name, bits, ""});
}

void CalibrationCache::SetAmax(const std::string& name, float amax) { SetScale(name, amax / 127.0f); }

const CalibrationCache::Entry* CalibrationCache::Find(const std::string& name) const {
  for (const Entry& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::string CalibrationCache::Algorithm() const {
  if (header.rfind("TRT-", 0) != 0) return "";
  const size_t dash = header.find('-', 4);
  return dash == std::string::npos ? "" : header.substr(dash + 1);
}

StatusOr<CalibrationCache> ParseCalibrationCache(const std::string& text, const std::string& path) {
  CalibrationCache cache;
  cache.final_newline = !text.empty() && text.back() == '\n';
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    const std::string where = path + ":" + std::to_string(line_no);
    if (line_no == 1) {
      cache.header = line;
      if (cache.Algorithm().empty()) {
        return InvalidArgument(where +
                                   ": the first line should be 'TRT-<version>-<algorithm>' (e.g. "
                                   "TRT-8601-EntropyCalibration2), not '" +
                                   line + "'",
                               path);
      }
      continue;
    }
    const size_t sep = line.rfind(": ");
    if (sep == std::string::npos || sep == 0) {
      return InvalidArgument(where + ": expected '<tensor name>: <hex scale>', got '" + line + "'", path);
    }
    CalibrationCache::Entry e;
    e.name = line.substr(0, sep);
    e.hex = line.substr(sep + 2);
    if (e.hex.empty() || e.hex.size() > 8 || e.hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return InvalidArgument(where + ": scale of '" + e.name +
                                 "' should be 1 to 8 hex digits (the float32 bits), "
                                 "not '" +
                                 e.hex + "'",
                             path);
    }
    e.bits = static_cast<uint32_t>(std::stoul(e.hex, nullptr, 16));
    for (const CalibrationCache::Entry& other : cache.entries) {
      if (other.name == e.name) return InvalidArgument(where + ": tensor '" + e.name + "' is listed twice", path);
    }
    cache.entries.push_back(std::move(e));
  }
  if (line_no == 0) return InvalidArgument(path + ": the calibration cache is empty", path);
  return cache;
}

std::string SerializeCalibrationCache(const CalibrationCache& cache) {
  std::string out = cache.header;
  for (const CalibrationCache::Entry& e : cache.entries) {
    out += '\n';
    out += e.name;
    out += ": ";
    out += e.hex.empty() ? Hex8(e.bits) : e.hex;
  }
  if (cache.final_newline) out += '\n';
  return out;
}

StatusOr<CalibrationCache> ReadCalibrationCache(const std::string& path) {
  EDGERT_ASSIGN_OR_RETURN(std::string text, ReadText(path));
  return ParseCalibrationCache(text, path);
}

Status WriteCalibrationCache(const std::string& path, const CalibrationCache& cache) {
  return WriteFileAtomically(path, SerializeCalibrationCache(cache));
}

std::string NetworkHash(const NetworkDef& network) {
  Sha256 h;
  auto put_i64 = [&](int64_t v) { h.Update(&v, sizeof(v)); };
  auto put_str = [&](const std::string& s) {
    put_i64(static_cast<int64_t>(s.size()));
    h.Update(s);
  };
  put_i64(static_cast<int64_t>(network.tensors.size()));
  for (const TensorDef& t : network.tensors) {
    put_str(t.name);
    put_i64(static_cast<int64_t>(t.dtype));
    put_i64(static_cast<int64_t>(t.shape.size()));
    for (int64_t d : t.shape) put_i64(d);
    put_i64(t.is_constant() ? 1 : 0);
    if (t.is_constant() && t.value.bytes() > 0) h.Update(t.value.raw(), t.value.bytes());
  }
  put_i64(static_cast<int64_t>(network.layers.size()));
  for (const LayerDef& l : network.layers) {
    put_str(l.name);
    put_i64(static_cast<int64_t>(l.op));
    put_i64(l.opset);
    for (int32_t i : l.inputs) put_i64(i);
    put_i64(-2);
    for (int32_t o : l.outputs) put_i64(o);
    put_i64(-3);
    for (const auto& [name, value] : l.attrs.all()) {
      put_str(name);
      put_i64(static_cast<int64_t>(value.index()));
      if (const auto* i = std::get_if<int64_t>(&value)) put_i64(*i);
      if (const auto* f = std::get_if<float>(&value)) h.Update(f, sizeof(*f));
      if (const auto* s = std::get_if<std::string>(&value)) put_str(*s);
      if (const auto* t = std::get_if<Tensor>(&value)) {
        if (t->defined() && t->bytes() > 0) h.Update(t->raw(), t->bytes());
      }
      if (const auto* is = std::get_if<std::vector<int64_t>>(&value)) {
        for (int64_t v : *is) put_i64(v);
      }
      if (const auto* fs = std::get_if<std::vector<float>>(&value)) {
        if (!fs->empty()) h.Update(fs->data(), fs->size() * sizeof(float));
      }
      if (const auto* ss = std::get_if<std::vector<std::string>>(&value)) {
        for (const std::string& s : *ss) put_str(s);
      }
    }
  }
  for (int32_t i : network.inputs) put_i64(i);
  put_i64(-4);
  for (int32_t o : network.outputs) put_i64(o);
  return h.FinishHex();
}

std::string CalibrationKey(const std::string& network_hash, CalibratorKind kind, double percentile,
                           const std::string& data_hash) {
  char pct[32];
  std::snprintf(pct, sizeof(pct), "%.6g", kind == CalibratorKind::kPercentile ? percentile : 0.0);
  return Sha256Hex("network " + network_hash + "\ncalibrator " + CalibratorName(kind) + " " + pct + "\ndata " +
                   data_hash + "\n");
}

std::string CacheKeyPath(const std::string& cache_path) { return cache_path + ".key"; }

bool CacheKeyMatches(const std::string& cache_path, const std::string& key, std::string* why) {
  StatusOr<std::string> text = ReadText(CacheKeyPath(cache_path));
  if (!text.ok()) {
    if (why) *why = "no key file " + CacheKeyPath(cache_path);
    return false;
  }
  if (*text != kKeyPrefix + key + "\n") {
    if (why)
      *why = "the network, the calibrator or the calibration data changed (key " + CacheKeyPath(cache_path) + ")";
    return false;
  }
  return true;
}

Status WriteCacheKey(const std::string& cache_path, const std::string& key) {
  return WriteFileAtomically(CacheKeyPath(cache_path), kKeyPrefix + key + "\n");
}

std::string GateDecisionPath(const std::string& cache_path) { return cache_path + ".gate"; }

Status WriteGateDecision(const std::string& cache_path, const std::string& key, double budget,
                         const std::set<std::string>& float_layers) {
  char line[64];
  std::snprintf(line, sizeof(line), "budget %.17g\n", budget);
  std::string text = "edgert-int8-gate v1\nkey " + key + "\n" + line;
  for (const std::string& name : float_layers) {
    if (name.find('\n') != std::string::npos) {
      return InvalidArgument("layer name with a line break cannot be stored: '" + name + "'", name);
    }
    text += "float " + name + "\n";
  }
  return WriteFileAtomically(GateDecisionPath(cache_path), text);
}

StatusOr<StoredGateDecision> ReadGateDecision(const std::string& cache_path) {
  const std::string path = GateDecisionPath(cache_path);
  EDGERT_ASSIGN_OR_RETURN(std::string text, ReadText(path));
  StoredGateDecision d;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line_no == 1) {
      if (line != "edgert-int8-gate v1") return InvalidArgument(path + ": not an edgert gate decision file", path);
    } else if (line.rfind("key ", 0) == 0) {
      d.key = line.substr(4);
    } else if (line.rfind("budget ", 0) == 0) {
      char* stop = nullptr;
      d.budget = std::strtod(line.c_str() + 7, &stop);
      if (stop == line.c_str() + 7) {
        return InvalidArgument(path + ":" + std::to_string(line_no) + ": bad budget '" + line + "'", path);
      }
    } else if (line.rfind("float ", 0) == 0) {
      d.float_layers.insert(line.substr(6));
    } else if (!line.empty()) {
      return InvalidArgument(path + ":" + std::to_string(line_no) + ": unexpected line '" + line + "'", path);
    }
  }
  if (d.key.empty()) return InvalidArgument(path + ": no key line", path);
  return d;
}

StatusOr<std::string> ReadCacheKey(const std::string& cache_path) {
  EDGERT_ASSIGN_OR_RETURN(std::string text, ReadText(CacheKeyPath(cache_path)));
  const std::string prefix = kKeyPrefix;
  if (text.compare(0, prefix.size(), prefix) != 0 || text.empty() || text.back() != '\n') {
    return InvalidArgument(CacheKeyPath(cache_path) + ": not an edgert calibration key file", cache_path);
  }
  return text.substr(prefix.size(), text.size() - prefix.size() - 1);
}

}  // namespace edgert
