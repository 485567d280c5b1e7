// The tactic timing cache file (CudaEngineOptions::timing_cache, `--timing-cache FILE`): the
// candidate chosen for each layer signature, shared across builds and models. Read and written by
// the CUDA engine's tactic pass; the format is host code so that it is tested without a GPU.
//
// A text file, one line per layer signature:
//   "<sha256 hex> <tactic>"                      the index of the chosen candidate, or
//   "<sha256 hex> <tactic> =<label> =<blob>"     with what recreates that candidate alone
// (kTacticLabelAttr / kTacticBlobAttr as the engine's dry run recorded them, edgert/network.h; the
// blob may be empty), written where the layer was tuned at the engine's own shapes. Label and blob
// are percent-encoded: every byte outside '!'..'~', and '%' itself, as %XX (upper-case hex), so a
// field holds no space or line break. A warm build then restores cuDNN's runtime-compiled plans
// from their serialized form, as a plan load does, instead of compiling them again.
// Reading skips a line that does not parse (its layer is timed again) and keeps only the tactic
// of a line whose label or blob does not decode or whose label is empty. Writing goes through a
// temporary file renamed over the cache, so a concurrent build reads the old or the new file.
#pragma once

#include <map>
#include <string>

#include "edgert/status.h"

namespace edgert {

struct CachedTactic {
  int tactic = -1;
  std::string label;  // empty: the tactic alone
  std::string blob;
  bool operator==(const CachedTactic& o) const { return tactic == o.tactic && label == o.label && blob == o.blob; }
  bool operator!=(const CachedTactic& o) const { return !(*this == o); }
};

using TimingCache = std::map<std::string, CachedTactic>;  // by layer signature (64 hex digits)

// The entries of `path`; none when the file is missing or unreadable.
TimingCache ReadTimingCache(const std::string& path);
// Replaces `path` with `entries`; IoError naming the file when it cannot be written.
Status WriteTimingCache(const std::string& path, const TimingCache& entries);

// The label/blob field encoding ("=" then the percent-encoded bytes), and its inverse: false for a
// field without the leading '=' or with a malformed escape.
std::string EncodeTimingCacheField(const std::string& text);
bool DecodeTimingCacheField(const std::string& field, std::string* out);

}  // namespace edgert
