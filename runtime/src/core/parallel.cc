// ParallelFor / HostThreads (core/parallel.h).
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace edgert {

void ParallelFor(size_t count, int threads, const std::function<void(size_t)>& task) {
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) task(i);
  };
  const size_t helpers = count == 0 ? 0 : std::min(count, static_cast<size_t>(std::max(threads, 1))) - 1;
  std::vector<std::thread> pool;
  for (size_t t = 0; t < helpers; ++t) {
    try {
      pool.emplace_back(work);
    } catch (...) {
      break;  // the threads already running, the calling one included, take its share
    }
  }
  work();
  for (std::thread& t : pool) t.join();
}

int HostThreads(int cap) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores, 1, std::max(cap, 1));
}

}  // namespace edgert
