// Replacing a file in one step: the writer behind the timing cache (edgert/timing_cache.h) and the
// builder's calibration cache, key and gate files (edgert/calibration.h).
#pragma once

#include <string>

#include "edgert/status.h"

namespace edgert {

// Replaces the file `path` with `contents` (bytes, written as given) so that a concurrent reader
// finds the old file or the new one, never a partial write: the bytes go to "<path>.tmp.<pid>" in
// the same directory, which is then renamed over `path`. On any failure the temporary file is
// removed and `path` is left as it was, and the result is an IoError whose subject is `path` and
// whose message names the file at fault (the temporary file, or `path` when the rename fails) and
// the system's reason. `what` describes the file in those messages ("the timing cache"); empty: the
// path alone. Not durable across a power loss (no fsync), and two threads of one process must not
// write the same `path` at once (they would share the temporary file).
Status WriteFileAtomically(const std::string& path, const std::string& contents, const std::string& what = "");

}  // namespace edgert
