#include "cli_common.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "edgert/builder.h"

namespace edgert {

void PrintError(const std::string& message) { std::fprintf(stderr, "edgert: %s\n", message.c_str()); }

int Fail(const Status& s) {
  PrintError(s.ToString());
  return kExitFail;
}

int Usage(const std::string& message, const std::string& command) {
  PrintError(message);
  std::fprintf(stderr, "see 'edgert help%s'\n", command.empty() ? "" : (" " + command).c_str());
  return kExitUsage;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Status MakeDirs(const std::string& dir) {
  std::string partial;
  size_t pos = 0;
  while (pos <= dir.size()) {
    size_t slash = dir.find('/', pos);
    if (slash == std::string::npos) slash = dir.size();
    partial = dir.substr(0, slash);
    pos = slash + 1;
    if (partial.empty()) continue;
    struct stat st;
    if (stat(partial.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return IoError(partial + " exists and is not a directory", partial);
      continue;
    }
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return IoError("cannot create directory " + partial + ": " + std::strerror(errno), partial);
    }
  }
  return Status::Ok();
}

namespace {
bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

bool LooksLikePlan(const std::string& path) {
  if (EndsWith(path, ".plan")) return true;
  if (EndsWith(path, ".onnx")) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, sizeof(magic));
  return in.gcount() == sizeof(magic) && std::memcmp(magic, "EDGERTPL", sizeof(magic)) == 0;
}

std::string MemoryFiguresLine(const MemoryFigures& f) {
  char buf[200];
  const double share = f.no_reuse_bytes ? 100.0 * static_cast<double>(f.arena_bytes) / f.no_reuse_bytes : 0.0;
  std::snprintf(buf, sizeof(buf), "memory: arena %zu bytes (lower bound %zu, no reuse %zu: %.1f%%)", f.arena_bytes,
                f.lower_bound_bytes, f.no_reuse_bytes, share);
  return buf;
}

bool ParseIoFormatArg(const std::vector<std::string>& args, size_t* i, IoFormatOptions* o, std::string* error) {
  const std::string& a = args[*i];
  std::string flag;
  for (const char* f : {"--input-format", "--output-format"}) {
    if (a == f || a.rfind(std::string(f) + "=", 0) == 0) flag = f;
  }
  if (flag.empty()) return false;
  std::vector<IoFormat>* list = flag == "--input-format" ? &o->inputs : &o->outputs;
  if (!list->empty()) {
    *error = flag + " given twice; list every format in one " + flag;
    return true;
  }
  std::string value;
  if (a == flag) {
    if (*i + 1 >= args.size()) {
      *error = flag + " needs a value (fp32 or fp16, optionally :chw or :hwc; e.g. fp16:hwc)";
      return true;
    }
    value = args[++*i];
  } else {
    value = a.substr(flag.size() + 1);
  }
  StatusOr<std::vector<IoFormat>> formats = ParseIoFormatList(value, flag);
  if (!formats.ok()) {
    *error = formats.status().message();
    return true;
  }
  *list = std::move(*formats);
  return true;
}

}  // namespace edgert
