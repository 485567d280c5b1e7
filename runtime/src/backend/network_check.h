// Checks shared by the engines of every backend.
#pragma once

#include <string>
#include <vector>

#include "edgert/engine.h"
#include "edgert/network.h"
#include "edgert/status.h"

namespace edgert {

// Every tensor index of `net` in range, and no layer writing a constant (kCorrupt otherwise).
Status CheckNetworkIndices(const NetworkDef& net);

// Index of the first of `io` named `name`, or -1.
int FindIOTensorIndex(const std::vector<IOTensorInfo>& io, const std::string& name);

// A caller's arena for CreateContext: at least `need` bytes (`bytes` given) and aligned to
// `alignment`; an InvalidArgument naming ArenaBytes()/ArenaAlignment() otherwise.
Status CheckCallerArena(const void* arena, size_t bytes, size_t need, size_t alignment);

// SetTensorAddress(index, data): `index` in range and `data` non-null.
Status CheckTensorAddress(const std::vector<IOTensorInfo>& io, int index, const void* data);

// Enqueue(): every I/O tensor bound; the error names the first unbound one.
Status CheckAllBound(const std::vector<IOTensorInfo>& io, const std::vector<void*>& bindings);

}  // namespace edgert
