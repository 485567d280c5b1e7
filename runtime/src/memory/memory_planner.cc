// Buffer-level static memory planners (see memory_plan.h for the contract).
//
// Shared machinery:
//  1. CheckRequests() reports the first malformed AddBuffer() call; sizes are rounded up to the
//     alignment once (aligned_sizes_), so every offset built from sums of them stays aligned.
//  2. LowestFit() / BestFit() look at the already placed buffers whose lifetimes overlap the one
//     being placed, sorted by offset, and walk the gaps between them (placed buffers may overlap
//     each other in memory when they are never live together, so a gap starts at the highest end
//     seen so far).
// Greedy by size:
//  1. Order buffers by aligned size, largest first (ties: earlier first_use, lower index).
//  2. Place each at the lowest offset whose gap holds it (LowestFit).
// Greedy by breadth:
//  1. The live set changes only where a buffer starts or where one ends; those steps (first_use,
//     last_use + 1) represent every step, so the walk is over them instead of every integer step.
//  2. Order those steps by total aligned bytes live there, largest first (ties: earlier step).
//  3. At each step, place the live, unplaced buffers largest first into the smallest gap that
//     holds them (BestFit; the space above every overlapping buffer counts as an unbounded gap).
// Smallest of: run both on the same requests, keep the one with the smaller peak.
// Validation is a pairwise check (O(n^2), fine for networks of thousands of tensors).
#include <algorithm>
#include <map>
#include <numeric>

#include "edgert/memory_plan.h"

namespace edgert {

bool AlignUp(size_t size, size_t alignment, size_t* aligned) {
  if (alignment == 0) alignment = 1;
  const size_t rem = size % alignment;
  if (rem == 0) {
    *aligned = size;
    return true;
  }
  const size_t pad = alignment - rem;
  if (size > static_cast<size_t>(-1) - pad) return false;
  *aligned = size + pad;
  return true;
}

namespace {

bool LifetimesOverlap(const BufferRequest& a, const BufferRequest& b) {
  return a.first_use <= b.last_use && b.first_use <= a.last_use;
}

// One placed buffer as the gap search sees it.
struct Extent {
  size_t offset;
  size_t end;
};

// The placed buffers whose lifetimes overlap `request` and that occupy bytes, by offset.
std::vector<Extent> OverlappingExtents(const std::vector<BufferRequest>& requests, const std::vector<size_t>& sizes,
                                       const std::vector<size_t>& offsets, const std::vector<int>& placed,
                                       const BufferRequest& request) {
  std::vector<Extent> extents;
  for (int j : placed) {
    if (sizes[j] == 0 || !LifetimesOverlap(requests[j], request)) continue;
    extents.push_back({offsets[j], offsets[j] + sizes[j]});
  }
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) {
    return a.offset < b.offset || (a.offset == b.offset && a.end < b.end);
  });
  return extents;
}

// The lowest offset where `size` bytes are free of every extent.
size_t LowestFit(const std::vector<Extent>& extents, size_t size) {
  size_t candidate = 0;
  for (const Extent& e : extents) {
    if (e.offset >= candidate && e.offset - candidate >= size) return candidate;
    candidate = std::max(candidate, e.end);
  }
  return candidate;
}

// The start of the smallest closed gap that holds `size` bytes (lowest offset among equal gaps),
// or the end of the highest extent when no closed gap does.
size_t BestFit(const std::vector<Extent>& extents, size_t size) {
  size_t gap_start = 0;
  size_t best = MemoryPlanner::kNoOffset;
  size_t best_gap = MemoryPlanner::kNoOffset;
  for (const Extent& e : extents) {
    if (e.offset > gap_start) {
      const size_t gap = e.offset - gap_start;
      if (gap >= size && gap < best_gap) {
        best = gap_start;
        best_gap = gap;
      }
    }
    gap_start = std::max(gap_start, e.end);
  }
  return best != MemoryPlanner::kNoOffset ? best : gap_start;
}

}  // namespace

size_t MemoryLowerBound(const std::vector<BufferRequest>& buffers, size_t alignment) {
  // Sweep over the steps where the live set changes: a buffer joins at first_use and leaves at
  // last_use + 1 (leaving is applied first, so the two never count together).
  std::map<int64_t, std::pair<size_t, size_t>> events;  // step -> (bytes leaving, bytes joining)
  for (const BufferRequest& b : buffers) {
    size_t aligned = 0;
    if (!AlignUp(b.size, alignment, &aligned)) aligned = b.size;
    events[b.first_use].second += aligned;
    events[static_cast<int64_t>(b.last_use) + 1].first += aligned;
  }
  size_t live = 0;
  size_t best = 0;
  for (const auto& kv : events) {
    live = live - kv.second.first + kv.second.second;
    best = std::max(best, live);
  }
  return best;
}

Status ValidateMemoryPlan(const std::vector<BufferRequest>& buffers, const std::vector<size_t>& offsets,
                          size_t alignment, size_t arena_bytes) {
  if (alignment == 0) alignment = 1;
  if (offsets.size() != buffers.size()) {
    return Internal("memory plan has " + std::to_string(offsets.size()) + " offsets for " +
                    std::to_string(buffers.size()) + " buffers");
  }
  std::vector<size_t> sizes(buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i) {
    const std::string name = "buffer " + std::to_string(i);
    if (!AlignUp(buffers[i].size, alignment, &sizes[i])) return OutOfRange(name + ": size overflows when aligned");
    if (offsets[i] % alignment != 0) {
      return Internal(name + ": offset " + std::to_string(offsets[i]) + " is not a multiple of " +
                      std::to_string(alignment));
    }
    if (sizes[i] > 0 && (offsets[i] > arena_bytes || arena_bytes - offsets[i] < sizes[i])) {
      return Internal(name + ": [" + std::to_string(offsets[i]) + ", +" + std::to_string(sizes[i]) +
                      ") runs past the arena of " + std::to_string(arena_bytes) + " bytes");
    }
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (sizes[i] == 0) continue;
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      if (sizes[j] == 0 || !LifetimesOverlap(buffers[i], buffers[j])) continue;
      const bool disjoint = offsets[i] + sizes[i] <= offsets[j] || offsets[j] + sizes[j] <= offsets[i];
      if (!disjoint) {
        return Internal("buffers " + std::to_string(i) + " (steps " + std::to_string(buffers[i].first_use) + "-" +
                        std::to_string(buffers[i].last_use) + ", bytes " + std::to_string(offsets[i]) + "+" +
                        std::to_string(sizes[i]) + ") and " + std::to_string(j) + " (steps " +
                        std::to_string(buffers[j].first_use) + "-" + std::to_string(buffers[j].last_use) + ", bytes " +
                        std::to_string(offsets[j]) + "+" + std::to_string(sizes[j]) +
                        ") are live together and overlap");
      }
    }
  }
  return Status::Ok();
}

// ---- MemoryPlanner -------------------------------------------------------------------------------

MemoryPlanner::MemoryPlanner(size_t alignment) : alignment_(alignment == 0 ? 1 : alignment) {}

int MemoryPlanner::AddBuffer(size_t size, int first_use, int last_use) {
  const int index = static_cast<int>(requests_.size());
  requests_.push_back({size, first_use, last_use});
  size_t aligned = 0;
  if (request_error_.ok()) {
    const std::string name = "buffer " + std::to_string(index);
    if (first_use < 0 || last_use < 0) {
      request_error_ = InvalidArgument(name + ": steps must not be negative (got " + std::to_string(first_use) + "-" +
                                       std::to_string(last_use) + ")");
    } else if (first_use > last_use) {
      request_error_ = InvalidArgument(name + ": first_use " + std::to_string(first_use) + " is after last_use " +
                                       std::to_string(last_use));
    } else if (!AlignUp(size, alignment_, &aligned)) {
      request_error_ = OutOfRange(name + ": size " + std::to_string(size) + " overflows when aligned");
    }
  }
  aligned_sizes_.push_back(aligned);
  planned_ = false;
  return index;
}

Status MemoryPlanner::CheckRequests() {
  planned_ = false;
  offsets_.clear();
  peak_ = 0;
  if (!request_error_.ok()) return request_error_;
  // A sum of aligned sizes must not overflow either: it bounds every offset a strategy computes.
  size_t total = 0;
  for (size_t s : aligned_sizes_) {
    if (s > static_cast<size_t>(-1) - total) return OutOfRange("the buffers' total size overflows");
    total += s;
  }
  return Status::Ok();
}

void MemoryPlanner::SetPlan(std::vector<size_t> offsets) {
  offsets_ = std::move(offsets);
  peak_ = 0;
  for (size_t i = 0; i < offsets_.size(); ++i) {
    if (aligned_sizes_[i] > 0) peak_ = std::max(peak_, offsets_[i] + aligned_sizes_[i]);
  }
  planned_ = true;
}

size_t MemoryPlanner::Offset(int i) const {
  if (!planned_ || i < 0 || i >= static_cast<int>(offsets_.size())) return kNoOffset;
  return offsets_[i];
}

size_t MemoryPlanner::PeakBytes() const { return planned_ ? peak_ : 0; }

MemoryFigures MemoryPlanner::Figures() const {
  MemoryFigures f;
  f.arena_bytes = PeakBytes();
  for (size_t s : aligned_sizes_) f.no_reuse_bytes += s;
  f.lower_bound_bytes = MemoryLowerBound(requests_, alignment_);
  return f;
}

// ---- Greedy by size ------------------------------------------------------------------------------

Status GreedyBySizePlanner::Plan() {
  EDGERT_RETURN_IF_ERROR(CheckRequests());
  const int n = num_buffers();
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    if (aligned_sizes_[a] != aligned_sizes_[b]) return aligned_sizes_[a] > aligned_sizes_[b];
    if (requests_[a].first_use != requests_[b].first_use) return requests_[a].first_use < requests_[b].first_use;
    return a < b;
  });
  std::vector<size_t> offsets(n, 0);
  std::vector<int> placed;
  placed.reserve(n);
  for (int i : order) {
    if (aligned_sizes_[i] > 0) {
      offsets[i] =
          LowestFit(OverlappingExtents(requests_, aligned_sizes_, offsets, placed, requests_[i]), aligned_sizes_[i]);
    }
    placed.push_back(i);
  }
  SetPlan(std::move(offsets));
  return Status::Ok();
}

// ---- Greedy by breadth ---------------------------------------------------------------------------

Status GreedyByBreadthPlanner::Plan() {
  EDGERT_RETURN_IF_ERROR(CheckRequests());
  const int n = num_buffers();
  // 1. Representative steps: where a buffer starts, or right after one ends (if anything is live).
  std::vector<int64_t> steps;
  int64_t max_last = -1;
  for (const BufferRequest& r : requests_) max_last = std::max<int64_t>(max_last, r.last_use);
  for (const BufferRequest& r : requests_) {
    steps.push_back(r.first_use);
    if (static_cast<int64_t>(r.last_use) + 1 <= max_last) steps.push_back(static_cast<int64_t>(r.last_use) + 1);
  }
  std::sort(steps.begin(), steps.end());
  steps.erase(std::unique(steps.begin(), steps.end()), steps.end());

  // 2. Live buffers and their total per step.
  std::vector<std::vector<int>> live(steps.size());
  std::vector<size_t> total(steps.size(), 0);
  for (int i = 0; i < n; ++i) {
    auto lo = std::lower_bound(steps.begin(), steps.end(), static_cast<int64_t>(requests_[i].first_use));
    auto hi = std::upper_bound(steps.begin(), steps.end(), static_cast<int64_t>(requests_[i].last_use));
    for (auto it = lo; it != hi; ++it) {
      const size_t s = static_cast<size_t>(it - steps.begin());
      live[s].push_back(i);
      total[s] += aligned_sizes_[i];
    }
  }
  std::vector<size_t> step_order(steps.size());
  std::iota(step_order.begin(), step_order.end(), size_t{0});
  std::stable_sort(step_order.begin(), step_order.end(), [&](size_t a, size_t b) { return total[a] > total[b]; });

  // 3. Place step by step.
  std::vector<size_t> offsets(n, 0);
  std::vector<bool> is_placed(n, false);
  std::vector<int> placed;
  placed.reserve(n);
  for (size_t s : step_order) {
    std::vector<int> todo;
    for (int i : live[s]) {
      if (!is_placed[i]) todo.push_back(i);
    }
    std::sort(todo.begin(), todo.end(), [&](int a, int b) {
      if (aligned_sizes_[a] != aligned_sizes_[b]) return aligned_sizes_[a] > aligned_sizes_[b];
      if (requests_[a].first_use != requests_[b].first_use) return requests_[a].first_use < requests_[b].first_use;
      return a < b;
    });
    for (int i : todo) {
      if (aligned_sizes_[i] > 0) {
        offsets[i] =
            BestFit(OverlappingExtents(requests_, aligned_sizes_, offsets, placed, requests_[i]), aligned_sizes_[i]);
      }
      is_placed[i] = true;
      placed.push_back(i);
    }
  }
  SetPlan(std::move(offsets));
  return Status::Ok();
}

// ---- Smallest of ---------------------------------------------------------------------------------

Status SmallestOfPlanner::Plan() {
  EDGERT_RETURN_IF_ERROR(CheckRequests());
  GreedyBySizePlanner by_size(alignment_);
  GreedyByBreadthPlanner by_breadth(alignment_);
  for (const BufferRequest& r : requests_) {
    by_size.AddBuffer(r.size, r.first_use, r.last_use);
    by_breadth.AddBuffer(r.size, r.first_use, r.last_use);
  }
  EDGERT_RETURN_IF_ERROR(by_size.Plan());
  EDGERT_RETURN_IF_ERROR(by_breadth.Plan());
  by_size_bytes_ = by_size.PeakBytes();
  by_breadth_bytes_ = by_breadth.PeakBytes();
  const MemoryPlanner& best = by_breadth_bytes_ < by_size_bytes_ ? static_cast<const MemoryPlanner&>(by_breadth)
                                                                 : static_cast<const MemoryPlanner&>(by_size);
  winner_ = best.name();
  SetPlan(best.offsets());
  return Status::Ok();
}

std::string SmallestOfPlanner::name() const {
  return winner_.empty() ? std::string("smallest-of") : "smallest-of(" + winner_ + ")";
}

std::unique_ptr<MemoryPlanner> MakeMemoryPlanner(MemoryStrategy strategy, size_t alignment) {
  switch (strategy) {
    case MemoryStrategy::kGreedyBySize:
      return std::make_unique<GreedyBySizePlanner>(alignment);
    case MemoryStrategy::kGreedyByBreadth:
      return std::make_unique<GreedyByBreadthPlanner>(alignment);
    case MemoryStrategy::kSmallestOf:
      return std::make_unique<SmallestOfPlanner>(alignment);
  }
  return std::make_unique<SmallestOfPlanner>(alignment);
}

}  // namespace edgert
