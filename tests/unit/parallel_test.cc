// ParallelFor (core/parallel.h): every index runs exactly once, whatever the thread count, and on
// no more threads than asked; HostThreads stays within [1, cap].
#include "core/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace edgert {
namespace {

TEST(ParallelFor, RunsEveryIndexOnceOnAtMostTheThreadsAsked) {
  for (size_t count : {size_t{0}, size_t{1}, size_t{5}, size_t{1000}}) {
    for (int threads : {-1, 0, 1, 3, 8, 64}) {
      std::vector<std::atomic<int>> runs(count);
      std::mutex mutex;
      std::set<std::thread::id> ids;
      ParallelFor(count, threads, [&](size_t i) {
        runs[i].fetch_add(1);
        std::lock_guard<std::mutex> lock(mutex);
        ids.insert(std::this_thread::get_id());
      });
      for (size_t i = 0; i < count; ++i) EXPECT_EQ(runs[i].load(), 1) << "index " << i << ", threads " << threads;
      EXPECT_LE(ids.size(), static_cast<size_t>(std::max(threads, 1))) << count << " tasks";
      if (count > 0 && threads <= 1) {
        EXPECT_EQ(ids, std::set<std::thread::id>{std::this_thread::get_id()});  // the caller alone
      }
    }
  }
}

TEST(ParallelFor, HostThreadsStaysWithinOneAndTheCap) {
  for (int cap : {-3, 0, 1, 2, 8, 1024}) {
    const int n = HostThreads(cap);
    EXPECT_GE(n, 1) << cap;
    EXPECT_LE(n, std::max(cap, 1)) << cap;
  }
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores > 0) {
    EXPECT_EQ(HostThreads(1024), static_cast<int>(std::min(cores, 1024u)));
  }
}

}  // namespace
}  // namespace edgert
