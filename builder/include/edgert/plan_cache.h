// The plan cache: content-addressed plans, one per (model content, build options, device, edgert
// version), so a second start loads a plan instead of rebuilding it.
//
// Key: SHA-256 over the model content hash, the build-options hash, the device key (its ToString()
// and every field) and the edgert version. The model file's name or path never enters the key: a
// copy of a model under another name shares its plan, and a changed weight under the same name gets
// a new one. An entry is the file <dir>/<key>.plan; <dir>/<key>.lock is its lock file.
//
// Contracts:
//   - Nothing here throws or aborts; every failure is a Status naming the file at fault.
//   - Thread and process rules: GetOrBuildPlan() may be called concurrently from threads and
//     processes sharing one cache directory. An exclusive flock() on the entry's lock file (taken on
//     a fresh open file description per call) serialises callers of the same key, so a plan is built
//     once; callers of different keys do not wait for each other. Entries are written atomically
//     (WritePlanFile: temporary file + rename), so a reader never sees a partial plan.
//   - Lock files are left in place: deleting one could let a third process lock a new inode while
//     a second still holds the old one.
#pragma once

#include <functional>
#include <string>

#include "edgert/builder.h"
#include "edgert/plan.h"
#include "edgert/status.h"
#include "edgert/version.h"

namespace edgert {

// Bumped whenever the builder's passes or lowering change what BuildNetwork() produces for the same
// model and options; it is part of the build-options hash, so old cache entries stop matching.
inline constexpr char kBuilderPassesVersion[] = "passes-7";

// SHA-256 (hex) of the model: the .onnx file's bytes, then the bytes of every external data file it
// references (tensors of the graph, its subgraphs and its functions), in byte order of their
// 'location' strings, each file once. Every part is preceded by its length. Errors name the model or
// the external file (missing, unreadable, a location that is absolute or leaves the model's
// directory, as the importer refuses).
StatusOr<std::string> ModelContentHash(const std::string& onnx_path);

// The canonical text of `options` that BuildOptionsHash() hashes: one line per fact, inputs sorted
// by name ("shape NAME 1x3x224x224", "value NAME int64 2 sha256=..."), then "passes <version>".
std::string BuildOptionsText(const BuildOptions& options);
// SHA-256 (hex) of BuildOptionsText(options).
std::string BuildOptionsHash(const BuildOptions& options);

// The cache key (64 hex digits) from its parts.
std::string PlanCacheKey(const std::string& model_hash, const std::string& build_options_hash, const DeviceKey& device,
                         const std::string& edgert_version);

// $EDGERT_CACHE_DIR when set and non-empty, else $HOME/.cache/edgert (the passwd entry's home when
// HOME is unset).
std::string DefaultPlanCacheDir();

// How GetOrBuildPlan() obtained the plan.
enum class CacheOutcome {
  kHit,      // a valid entry existed and was loaded
  kBuilt,    // no entry existed; the plan was built and stored
  kRebuilt,  // an entry existed but could not be used (see CachedPlan::reason); it was replaced
};
const char* CacheOutcomeName(CacheOutcome outcome);  // "hit", "built", "rebuilt"

struct PlanCacheOptions {
  std::string dir;  // empty: DefaultPlanCacheDir(); created with its parents when missing
  // Receives one line per event ("plan cache: hit ...", "plan cache: building ...", "plan cache:
  // rebuilding ...: <reason>", "plan cache: stored ..."). Called on the caller's thread, while the
  // entry's lock is held; may be empty.
  std::function<void(const std::string&)> logger;
  // Remember each model's content hash in <dir>/hashes/, keyed by the identity of its files
  // (device, inode, size, mtime and ctime of the model and of every external data file), so a hit
  // on an unchanged model costs a few stat() calls instead of hashing every byte (~0.3 s per 100 MB).
  // A memo is written only for files whose mtime and ctime are at least hash_memo_min_age_seconds
  // old, so two changes within the file system's timestamp granularity cannot leave a stale one.
  bool remember_model_hashes = true;
  double hash_memo_min_age_seconds = 2.0;
  // Called on a freshly built network before it is serialised (e.g. the CUDA backend times its
  // tactics here and returns the network with a kTacticAttr per layer); may be empty.
  std::function<StatusOr<NetworkDef>(NetworkDef)> finalize_network;
  // The version plans are keyed and stamped with; tests set another to stand for an older edgert.
  std::string edgert_version = EDGERT_VERSION_STRING;
};

struct CachedPlan {
  std::string path;  // <dir>/<key>.plan
  std::string key;
  CacheOutcome outcome = CacheOutcome::kHit;
  std::string reason;        // for kRebuilt: the one sentence saying why the old entry was unusable
  double build_seconds = 0;  // BuildNetwork + SerializePlan + WritePlanFile; 0 for a hit
  LoadedPlan plan;
};

// Returns the plan of `onnx_path` built with `options` for `device`, from the cache when a usable
// entry exists. Steps:
//   1. Create the directory; hash the model (through the hash memo) and the options; compute the key.
//   2. Lock <key>.lock (blocking).
//   3. If <key>.plan exists: ValidatePlan() against `device` and the version, LoadedPlan::Open(), and
//      compare the plan's hashes with the key's. Usable: return it (kHit). Otherwise log the reason,
//      delete the entry and go on (kRebuilt).
//   4. BuildNetwork(), SerializePlan() with the metadata (version, device, both hashes),
//      WritePlanFile(), LoadedPlan::Open() (kBuilt or kRebuilt). The lock is released on return.
StatusOr<CachedPlan> GetOrBuildPlan(const std::string& onnx_path, const BuildOptions& options, const DeviceKey& device,
                                    const PlanCacheOptions& cache_options = {});

}  // namespace edgert
