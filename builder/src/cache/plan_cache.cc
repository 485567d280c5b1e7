// The plan cache (edgert/plan_cache.h).
//
// Model content hash:
//   1. Read the .onnx file and parse it as a ModelProto.
//   2. Collect the 'location' of every externally stored tensor: graph initializers, sparse
//      initializers, tensor/sparse-tensor attributes and subgraphs of every node, recursively, and
//      the nodes of the model's functions. Sort them, drop duplicates.
//   3. SHA-256 over "edgert-model-v1", then the model's length (8 bytes, little-endian) and bytes,
//      then for each location its file's length and bytes.
// Hash memo (GetOrBuildPlan only): see the comment above Identity().
// GetOrBuildPlan: the steps are listed in plan_cache.h.
#include "edgert/plan_cache.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "edgert/hash.h"
#include "onnx/onnx.pb.h"

namespace edgert {
namespace {

// Closes a file descriptor on scope exit (which also releases a flock held through it).
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status ReadWholeFile(const std::string& path, std::string* bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(path + ": no such file", path);
    return IoError("cannot open " + path + ": " + std::strerror(errno), path);
  }
  ScopedFd guard(fd);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return IoError(path + " is not a regular file", path);
  bytes->clear();
  bytes->reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read " + path + ": " + std::strerror(errno), path);
    if (n == 0) break;
    bytes->append(buf, static_cast<size_t>(n));
  }
  return Status::Ok();
}

void UpdateLength(Sha256* sha, uint64_t n) {
  uint8_t le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<uint8_t>(n >> (8 * i));
  sha->Update(le, sizeof(le));
}

void CollectTensor(const onnx::TensorProto& t, std::set<std::string>* locations) {
  if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
  for (const auto& entry : t.external_data()) {
    if (entry.key() == "location") locations->insert(entry.value());
  }
}

void CollectGraph(const onnx::GraphProto& g, std::set<std::string>* locations);

void CollectNode(const onnx::NodeProto& n, std::set<std::string>* locations) {
  for (const onnx::AttributeProto& a : n.attribute()) {
    if (a.has_t()) CollectTensor(a.t(), locations);
    for (const onnx::TensorProto& t : a.tensors()) CollectTensor(t, locations);
    if (a.has_sparse_tensor()) {
      CollectTensor(a.sparse_tensor().values(), locations);
      CollectTensor(a.sparse_tensor().indices(), locations);
    }
    for (const onnx::SparseTensorProto& s : a.sparse_tensors()) {
      CollectTensor(s.values(), locations);
      CollectTensor(s.indices(), locations);
    }
    if (a.has_g()) CollectGraph(a.g(), locations);
    for (const onnx::GraphProto& g : a.graphs()) CollectGraph(g, locations);
  }
}

void CollectGraph(const onnx::GraphProto& g, std::set<std::string>* locations) {
  for (const onnx::TensorProto& t : g.initializer()) CollectTensor(t, locations);
  for (const onnx::SparseTensorProto& s : g.sparse_initializer()) {
    CollectTensor(s.values(), locations);
    CollectTensor(s.indices(), locations);
  }
  for (const onnx::NodeProto& n : g.node()) CollectNode(n, locations);
}

// The importer's rules for a location: relative, no '..' component, no NUL.
Status CheckLocation(const std::string& model, const std::string& location) {
  if (location.empty()) return Corrupt(model + ": an external data location is empty", model);
  if (location[0] == '/') {
    return InvalidArgument(model + ": external data location '" + location + "' is an absolute path", location);
  }
  if (location.find('\0') != std::string::npos) {
    return InvalidArgument(model + ": an external data location contains a NUL byte", model);
  }
  for (size_t start = 0; start <= location.size();) {
    size_t end = location.find_first_of("/\\", start);
    if (end == std::string::npos) end = location.size();
    if (end - start == 2 && location.compare(start, 2, "..") == 0) {
      return InvalidArgument(model + ": external data location '" + location + "' leaves the model's directory ('..')",
                             location);
    }
    start = end + 1;
  }
  return Status::Ok();
}

std::string Dirname(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status MakeDirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string partial = dir.substr(0, pos);
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return IoError("cannot create the plan cache directory " + partial + ": " + std::strerror(errno), partial);
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return IoError("the plan cache directory " + dir + " is not a directory", dir);
  }
  return Status::Ok();
}

std::string DeviceFields(const DeviceKey& d) {
  return d.backend + "\n" + d.gpu_name + "\n" + std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor) + "\n" +
         std::to_string(d.sm_count) + "\n" + std::to_string(d.cuda_version) + "\n" + std::to_string(d.cudnn_version) +
         "\n" + std::to_string(d.cublas_version);
}

void Log(const PlanCacheOptions& options, const std::string& line) {
  if (options.logger) options.logger(line);
}

// Why an existing entry cannot be used, or "" when it can (then `plan` holds it).
std::string CheckEntry(const std::string& path, const DeviceKey& device, const std::string& version,
                       const std::string& model_hash, const std::string& options_hash, StatusOr<LoadedPlan>* plan) {
  Status valid = ValidatePlan(path, device, version);
  if (!valid.ok()) return valid.message();
  *plan = LoadedPlan::Open(path);
  if (!plan->ok()) return plan->status().message();
  const PlanMetadata& m = (*plan)->metadata();
  if (m.model_hash != model_hash)
    return path + ": the plan was built from another model (model hash " + m.model_hash + ")";
  if (m.build_options_hash != options_hash) {
    return path + ": the plan was built with other build options (hash " + m.build_options_hash + ")";
  }
  return "";
}

// Steps 1-3 of the model content hash; `locations` receives the external files, sorted.
StatusOr<std::string> HashModel(const std::string& onnx_path, std::vector<std::string>* locations) {
  std::string model;
  EDGERT_RETURN_IF_ERROR(ReadWholeFile(onnx_path, &model));
  onnx::ModelProto proto;
  if (model.size() > static_cast<size_t>(INT32_MAX) ||
      !proto.ParseFromArray(model.data(), static_cast<int>(model.size()))) {
    return Corrupt(onnx_path + ": not a valid ONNX model (the protobuf does not parse)", onnx_path);
  }
  std::set<std::string> unique;
  CollectGraph(proto.graph(), &unique);
  for (const onnx::FunctionProto& f : proto.functions()) {
    for (const onnx::NodeProto& n : f.node()) CollectNode(n, &unique);
  }
  locations->assign(unique.begin(), unique.end());
  Sha256 sha;
  sha.Update("edgert-model-v1");
  UpdateLength(&sha, model.size());
  sha.Update(model.data(), model.size());
  const std::string base = Dirname(onnx_path);
  std::string bytes;
  for (const std::string& location : *locations) {
    EDGERT_RETURN_IF_ERROR(CheckLocation(onnx_path, location));
    Status s = ReadWholeFile(base + "/" + location, &bytes);
    if (!s.ok()) return s.WithContext(onnx_path + ": external data '" + location + "'");
    UpdateLength(&sha, bytes.size());
    sha.Update(bytes.data(), bytes.size());
  }
  return sha.FinishHex();
}

// The hash memo: <dir>/hashes/<dev>-<inode>.txt remembers a model's content hash together with the
// identity of the model and of each external file: device, inode, size, mtime and ctime (ns). The
// kernel sets ctime on every change of a file's bytes or metadata and no user can set it back, so
// while all of these are unchanged, so is the content. A file changed twice within the timestamp
// granularity (a few ms) could keep every field, so a memo is written only when every file's
// mtime and ctime are at least PlanCacheOptions::hash_memo_min_age_seconds old.
std::string Identity(const struct stat& st) {
  return std::to_string(st.st_dev) + " " + std::to_string(st.st_ino) + " " + std::to_string(st.st_size) + " " +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + " " +
         std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
}

bool OldEnough(const struct stat& st, double min_age_seconds) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  auto seconds = [](const struct timespec& t) {
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  };
  const double limit = seconds(now) - min_age_seconds;
  return seconds(st.st_mtim) <= limit && seconds(st.st_ctim) <= limit;
}

std::string MemoPath(const std::string& dir, const struct stat& model) {
  return dir + "/hashes/" + std::to_string(model.st_dev) + "-" + std::to_string(model.st_ino) + ".txt";
}

// The remembered hash, or "" when there is none or any file's identity changed.
std::string LookUpMemo(const std::string& dir, const std::string& onnx_path) {
  struct stat st;
  if (stat(onnx_path.c_str(), &st) != 0) return "";
  std::string text;
  if (!ReadWholeFile(MemoPath(dir, st), &text).ok()) return "";
  // Lines: header, hash, model identity, then per external file "<location>\t<identity>".
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) return "";  // a memo always ends with a newline
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (lines.size() < 3 || lines[0] != "edgert-hash-memo-v1" || lines[1].size() != 64 || lines[2] != Identity(st)) {
    return "";
  }
  const std::string base = Dirname(onnx_path);
  for (size_t i = 3; i < lines.size(); ++i) {
    const size_t tab = lines[i].rfind('\t');
    if (tab == std::string::npos) return "";
    struct stat ext;
    if (stat((base + "/" + lines[i].substr(0, tab)).c_str(), &ext) != 0) return "";
    if (lines[i].substr(tab + 1) != Identity(ext)) return "";
  }
  return lines[1];
}

// Best effort: a memo that cannot be written only costs the next call a full hash.
void StoreMemo(const std::string& dir, const struct stat& model, const std::vector<std::string>& locations,
               const std::vector<struct stat>& externals, const std::string& hash, double min_age_seconds) {
  if (!OldEnough(model, min_age_seconds)) return;
  std::string text = "edgert-hash-memo-v1\n" + hash + "\n" + Identity(model) + "\n";
  for (size_t i = 0; i < locations.size(); ++i) {
    if (!OldEnough(externals[i], min_age_seconds)) return;
    if (locations[i].find_first_of("\t\n") != std::string::npos) return;
    text += locations[i] + "\t" + Identity(externals[i]) + "\n";
  }
  if (!MakeDirs(dir + "/hashes").ok()) return;
  const std::string path = MemoPath(dir, model);
  std::string tmp = path + ".tmp.XXXXXX";
  std::vector<char> buf(tmp.begin(), tmp.end());
  buf.push_back('\0');
  const int fd = mkstemp(buf.data());
  if (fd < 0) return;
  tmp.assign(buf.data());
  const ssize_t n = write(fd, text.data(), text.size());
  close(fd);
  if (n != static_cast<ssize_t>(text.size()) || rename(tmp.c_str(), path.c_str()) != 0) unlink(tmp.c_str());
}

// The model's content hash through the memo (see above).
StatusOr<std::string> MemoizedModelHash(const std::string& dir, const std::string& onnx_path, double min_age_seconds) {
  std::string hash = LookUpMemo(dir, onnx_path);
  if (!hash.empty()) return hash;
  // The model's identity is taken before hashing, so a change meanwhile makes it stale. Any file
  // changed during the hash (external files are stat'ed after) has a fresh ctime, and StoreMemo
  // skips files younger than the minimum age.
  struct stat model;
  const bool have_model = stat(onnx_path.c_str(), &model) == 0;
  std::vector<std::string> locations;
  EDGERT_ASSIGN_OR_RETURN(hash, HashModel(onnx_path, &locations));
  if (!have_model) return hash;
  std::vector<struct stat> externals(locations.size());
  const std::string base = Dirname(onnx_path);
  for (size_t i = 0; i < locations.size(); ++i) {
    if (stat((base + "/" + locations[i]).c_str(), &externals[i]) != 0) return hash;
  }
  StoreMemo(dir, model, locations, externals, hash, min_age_seconds);
  return hash;
}

}  // namespace

StatusOr<std::string> ModelContentHash(const std::string& onnx_path) {
  std::vector<std::string> locations;
  return HashModel(onnx_path, &locations);
}

std::string BuildOptionsText(const BuildOptions& options) {
  // std::map iterates in name order, which makes the text canonical.
  std::string text = "edgert-build-options-v1\n";
  for (const auto& [name, shape] : options.shapes) {
    text += "shape " + std::to_string(name.size()) + ":" + name + " " + ShapeToString(shape) + "\n";
  }
  // Profile lines only when there is a profile, so fixed-shape keys stay what they were.
  const std::pair<const char*, const std::map<std::string, Shape>*> ranges[] = {
      {"min-shape", &options.min_shapes}, {"opt-shape", &options.opt_shapes}, {"max-shape", &options.max_shapes}};
  for (const auto& [label, shapes] : ranges) {
    for (const auto& [name, shape] : *shapes) {
      text += std::string(label) + " " + std::to_string(name.size()) + ":" + name + " " + ShapeToString(shape) + "\n";
    }
  }
  for (const auto& [name, value] : options.input_values) {
    text += "value " + std::to_string(name.size()) + ":" + name + " " + DataTypeName(value.dtype()) + " " +
            ShapeToString(value.shape()) + " sha256=" + Sha256Hex(value.raw(), value.bytes()) + "\n";
  }
  text += std::string("optimize ") + (options.optimize ? "1" : "0") + "\n";
  text += std::string("precision ") + PrecisionName(options.precision) + "\n";
  // The resolved layout: auto and its explicit value build the same network, so they share a plan.
  text += std::string("layout ") + LayoutName(ResolveLayout(options)) + "\n";
  text += std::string("passes ") + kBuilderPassesVersion + "\n";
  // Absent when empty: the keys of other builds stay as they were.
  for (const auto& [label, list] :
       {std::pair<const char*, const std::vector<std::string>*>{"disabled-passes", &options.disabled_passes},
        {"enabled-passes", &options.enabled_passes}}) {
    if (list->empty()) continue;
    std::vector<std::string> sorted = *list;
    std::sort(sorted.begin(), sorted.end());
    text += label;
    for (const std::string& d : sorted) text += " " + d;
    text += "\n";
  }
  for (const auto& [label, formats] :
       {std::pair<const char*, const std::vector<IoFormat>*>{"input-formats", &options.input_formats},
        {"output-formats", &options.output_formats}}) {
    if (formats->empty()) continue;  // absent when empty, as the passes
    text += label;
    for (const IoFormat& f : *formats) text += " " + IoFormatName(f);
    text += "\n";
  }
  // INT8 lines only for INT8 builds (other keys stay what they were). The cache file's path is
  // not part of the key: its contents follow from the network, the settings and the data.
  if (options.int8.enabled) {
    const Int8Settings& s = options.int8.settings;
    char line[256];
    std::snprintf(line, sizeof(line), "int8 %s percentile %.17g batches %d budget %.17g\n",
                  CalibratorName(s.calibrator), s.percentile, s.calib_batches, s.error_budget);
    text += line;
    text += "int8-data " + (options.int8.calib_dir.empty() ? std::string("none") : options.int8.data_key) + "\n";
    if (options.int8.calib_dir.empty()) {  // the cache as given: its bytes are the scales
      std::ifstream in(options.int8.cache_path, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      text += "int8-cache " + (in ? Sha256Hex(bytes.data(), bytes.size()) : std::string("unreadable")) + "\n";
    }
  }
  return text;
}

std::string BuildOptionsHash(const BuildOptions& options) { return Sha256Hex(BuildOptionsText(options)); }

std::string PlanCacheKey(const std::string& model_hash, const std::string& build_options_hash, const DeviceKey& device,
                         const std::string& edgert_version) {
  Sha256 sha;
  const std::string parts[] = {"edgert-plan-cache-key-v1", model_hash,           build_options_hash,
                               device.ToString(),          DeviceFields(device), edgert_version};
  for (const std::string& p : parts) {
    UpdateLength(&sha, p.size());
    sha.Update(p);
  }
  return sha.FinishHex();
}

std::string DefaultPlanCacheDir() {
  const char* env = std::getenv("EDGERT_CACHE_DIR");
  if (env != nullptr && *env != '\0') return env;
  std::string home;
  const char* h = std::getenv("HOME");
  if (h != nullptr && *h != '\0') {
    home = h;
  } else if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) {
    home = pw->pw_dir;
  }
  return (home.empty() ? std::string(".") : home) + "/.cache/edgert";
}

const char* CacheOutcomeName(CacheOutcome outcome) {
  switch (outcome) {
    case CacheOutcome::kHit:
      return "hit";
    case CacheOutcome::kBuilt:
      return "built";
    case CacheOutcome::kRebuilt:
      return "rebuilt";
  }
  return "?";
}

StatusOr<CachedPlan> GetOrBuildPlan(const std::string& onnx_path, const BuildOptions& options, const DeviceKey& device,
                                    const PlanCacheOptions& cache_options) {
  // Step 1.
  std::string dir = cache_options.dir.empty() ? DefaultPlanCacheDir() : cache_options.dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  EDGERT_RETURN_IF_ERROR(MakeDirs(dir));
  StatusOr<std::string> hashed = cache_options.remember_model_hashes
                                     ? MemoizedModelHash(dir, onnx_path, cache_options.hash_memo_min_age_seconds)
                                     : ModelContentHash(onnx_path);
  if (!hashed.ok()) return hashed.status();
  const std::string model_hash = *hashed;
  const std::string options_hash = BuildOptionsHash(options);
  const std::string& version = cache_options.edgert_version;
  const std::string key = PlanCacheKey(model_hash, options_hash, device, version);
  const std::string path = dir + "/" + key + ".plan";
  const std::string lock_path = dir + "/" + key + ".lock";

  // Step 2. A fresh open() per call: flock() locks belong to the open file description, so two
  // threads of one process exclude each other too.
  ScopedFd lock(open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (lock.get() < 0) return IoError("cannot open the lock file " + lock_path + ": " + std::strerror(errno), lock_path);
  int rc;
  do {
    rc = flock(lock.get(), LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return IoError("cannot lock " + lock_path + ": " + std::strerror(errno), lock_path);

  // Step 3.
  CacheOutcome outcome = CacheOutcome::kBuilt;
  std::string reason;
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    StatusOr<LoadedPlan> existing = Internal("not loaded");
    reason = CheckEntry(path, device, version, model_hash, options_hash, &existing);
    if (reason.empty()) {
      Log(cache_options, "plan cache: hit " + path);
      return CachedPlan{path, key, CacheOutcome::kHit, "", 0.0, std::move(*existing)};
    }
    Log(cache_options, "plan cache: rebuilding " + path + ": " + reason);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return IoError("cannot delete the unusable cache entry " + path + ": " + std::strerror(errno), path);
    }
    outcome = CacheOutcome::kRebuilt;
  } else {
    Log(cache_options, "plan cache: building " + path + " from " + onnx_path);
  }

  // Step 4.
  const auto start = std::chrono::steady_clock::now();
  BuildReport report;
  EDGERT_ASSIGN_OR_RETURN(NetworkDef built, BuildNetwork(onnx_path, options, &report));
  for (const std::string& line : Int8BuildLines(report)) Log(cache_options, line);
  for (const std::string& line : NhwcBuildLines(report)) Log(cache_options, line);
  if (cache_options.finalize_network) {
    EDGERT_ASSIGN_OR_RETURN(built, cache_options.finalize_network(std::move(built)));
  }
  const NetworkDef network = std::move(built);
  PlanMetadata metadata;
  metadata.edgert_version = version;
  metadata.device = device;
  metadata.precision = options.precision;
  metadata.build_options_hash = options_hash;
  metadata.model_hash = model_hash;
  EDGERT_ASSIGN_OR_RETURN(const std::vector<uint8_t> bytes, SerializePlan(network, metadata));
  EDGERT_RETURN_IF_ERROR(WritePlanFile(path, bytes));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EDGERT_ASSIGN_OR_RETURN(LoadedPlan plan, LoadedPlan::Open(path));
  Log(cache_options, "plan cache: stored " + path + " (" + std::to_string(bytes.size()) + " bytes)");
  return CachedPlan{path, key, outcome, reason, seconds, std::move(plan)};
}

}  // namespace edgert
