// Replacing a file in one step: the writer behind plan files (WritePlanFile, edgert/plan.h), the
// timing cache (edgert/timing_cache.h) and the builder's calibration cache, key and gate files
// (edgert/calibration.h).
#pragma once

#include <cstddef>
#include <string>

#include "edgert/status.h"

namespace edgert {

// Replaces the file `path` with `size` bytes at `data` so that a concurrent reader finds the old
// file or the new one, never a partial write: the bytes go to a temporary file that mkstemp makes
// beside `path` (a name of its own, so threads and processes writing the same `path` at once do
// not share it; the last rename wins), mode 0644, which is then renamed over `path`. With
// `durable`, the file is fsync'ed before the rename and its directory after it, so the new file
// survives a power loss. On any failure the temporary file is removed, `path` is left as it was,
// and the result is an IoError whose subject is `path`: "cannot write [WHAT ]PATH: STEP: REASON",
// STEP one of "create a temporary file beside it", "write", "fchmod", "fsync", "close", "rename",
// REASON the system's. `what` describes the file ("plan", "the timing cache"); empty: the path
// alone.
Status WriteFileAtomically(const std::string& path, const void* data, size_t size, const std::string& what = "",
                           bool durable = false);
inline Status WriteFileAtomically(const std::string& path, const std::string& contents, const std::string& what = "",
                                  bool durable = false) {
  return WriteFileAtomically(path, contents.data(), contents.size(), what, durable);
}

}  // namespace edgert
