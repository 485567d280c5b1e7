// Internal: splitting host work over a few threads (the plan checksum, narrowing a plan's
// weights). Not installed.
#pragma once

#include <cstddef>
#include <functional>

namespace edgert {

// Runs task(i) once for every i in [0, count) on up to `threads` threads, the calling one
// included (fewer than 1 counts as 1); each thread takes the next index from a shared counter. A
// thread that cannot be started leaves its share to the others. Returns when every task has run.
// Tasks must not throw.
void ParallelFor(size_t count, int threads, const std::function<void(size_t)>& task);

// The host's hardware threads, at least 1 and at most `cap`.
int HostThreads(int cap);

}  // namespace edgert
