// Tests of the static memory planner (runtime/src/memory) and of its use by the CPU engine.
//
//  MemoryPlanner*   buffer-level strategies against offsets computed by hand (the derivations are
//                   in the comments), the lower bound, the validator, and 1,000 random buffer sets.
//  MemoryNetwork*   PlanNetworkMemory on networks built by hand: in-place chains, views, Concat in
//                   place, a residual branch, the cases that must NOT share, random networks.
//  MemoryEngine*    CpuEngine with the plan: results equal to an engine that shares nothing.
#include "edgert/memory_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu_compare_util.h"
#include "edgert/cpu_engine.h"
#include "edgert/network.h"
#include "edgert/stream_schedule.h"

namespace edgert {
namespace {

// ---- Buffer level --------------------------------------------------------------------------------

struct Buf {
  size_t size;
  int first;
  int last;
};

std::vector<BufferRequest> Requests(const std::vector<Buf>& bufs) {
  std::vector<BufferRequest> r;
  r.reserve(bufs.size());
  for (const Buf& b : bufs) r.push_back({b.size, b.first, b.last});
  return r;
}

// Plans `bufs` with `planner`, checks the plan with the validator and the lower bound, and
// returns the offsets.
std::vector<size_t> PlanAndCheck(MemoryPlanner& planner, const std::vector<Buf>& bufs) {
  for (const Buf& b : bufs) planner.AddBuffer(b.size, b.first, b.last);
  Status s = planner.Plan();
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<size_t> offsets;
  offsets.reserve(bufs.size());
  for (int i = 0; i < planner.num_buffers(); ++i) offsets.push_back(planner.Offset(i));
  Status v = ValidateMemoryPlan(Requests(bufs), offsets, planner.alignment(), planner.PeakBytes());
  EXPECT_TRUE(v.ok()) << planner.name() << ": " << v.ToString();
  MemoryFigures f = planner.Figures();
  EXPECT_EQ(f.arena_bytes, planner.PeakBytes());
  EXPECT_GE(f.arena_bytes, f.lower_bound_bytes) << planner.name();
  EXPECT_LE(f.arena_bytes, f.no_reuse_bytes) << planner.name();
  return offsets;
}

// Eight buffers (alignment 1) whose peak, step 5, is 36 + 16 + 8 + 64 = 124 = the lower bound.
//   buffer: 0:32@[0,1] 1:28@[1,4] 2:36@[2,5] 3:16@[3,5] 4:8@[4,5] 5:64@[5,7] 6:10@[6,8] 7:40@[7,8]
const std::vector<Buf> kEight = {{32, 0, 1}, {28, 1, 4}, {36, 2, 5}, {16, 3, 5},
                                 {8, 4, 5},  {64, 5, 7}, {10, 6, 8}, {40, 7, 8}};

TEST(MemoryPlanner, GreedyBySizeHandComputed) {
  // Order 5(64) 7(40) 2(36) 0(32) 1(28) 3(16) 6(10) 4(8).
  //  5 -> 0. 7 overlaps 5 -> 64. 2 overlaps 5 only -> 64. 0 overlaps nothing placed -> 0.
  //  1 overlaps 0 [0,32) and 2 [64,100): gap [32,64) holds 28 -> 32.
  //  3 overlaps 5 [0,64), 1 [32,60), 2 [64,100) -> 100. 6 overlaps 5, 7 [64,104) -> 104.
  //  4 overlaps 5, 1, 2, 3 [100,116) -> 116. Peak 124.
  GreedyBySizePlanner p(1);
  EXPECT_EQ(PlanAndCheck(p, kEight), (std::vector<size_t>{0, 32, 64, 100, 116, 0, 104, 64}));
  EXPECT_EQ(p.PeakBytes(), 124u);
  EXPECT_EQ(p.Figures().lower_bound_bytes, 124u);
  EXPECT_EQ(p.Figures().no_reuse_bytes, 234u);
}

TEST(MemoryPlanner, GreedyByBreadthHandComputed) {
  // Step totals: 0:32 1:60 2:64 3:80 4:88 5:124 6:74 7:114 8:50. Walk 5, 7, 4, 3, 6, 2, 1, 8, 0.
  //  Step 5: 5 -> 0, 2 -> 64, 3 -> 100, 4 -> 116 (each above the previous).
  //  Step 7: 7 overlaps 5 -> 64; 6 overlaps 5, 7 -> 104.
  //  Step 4: 1 overlaps 2 [64,100), 3, 4: the gap [0,64) holds it -> 0.
  //  Step 1: 0 overlaps 1 [0,28) -> 28. Peak 124.
  GreedyByBreadthPlanner p(1);
  EXPECT_EQ(PlanAndCheck(p, kEight), (std::vector<size_t>{28, 0, 64, 100, 116, 0, 104, 64}));
  EXPECT_EQ(p.PeakBytes(), 124u);
}

// Sizes in units of 256 bytes (the default alignment).
constexpr size_t kUnit = 256;
std::vector<Buf> Scaled(std::vector<Buf> bufs) {
  for (Buf& b : bufs) b.size *= kUnit;
  return bufs;
}

// 0:1@[1,3] 1:3@[2,3] 2:1@[1,1] 3:2@[0,1]; lower bound 4 (steps 1, 2 and 3).
const std::vector<Buf> kSizeWins = Scaled({{1, 1, 3}, {3, 2, 3}, {1, 1, 1}, {2, 0, 1}});

TEST(MemoryPlanner, SizeBeatsBreadthHandComputed) {
  // By size: 1 -> 0; 3 (no overlap with 1) -> 0; 0 overlaps 1 [0,3), 3 [0,2) -> 3;
  //          2 overlaps 3 [0,2), 0 [3,4): gap [2,3) -> 2. Peak 4.
  GreedyBySizePlanner by_size;
  EXPECT_EQ(PlanAndCheck(by_size, kSizeWins), (std::vector<size_t>{3 * kUnit, 0, 2 * kUnit, 0}));
  EXPECT_EQ(by_size.PeakBytes(), 4u * 256);
  // By breadth: totals 0:2 1:4 2:4 3:4; step 1 first: 3 -> 0, 0 -> 2, 2 -> 3; step 2: 1 overlaps
  //             0 [2,3): the gap [0,2) is too small -> 3. Peak 6.
  GreedyByBreadthPlanner by_breadth;
  EXPECT_EQ(PlanAndCheck(by_breadth, kSizeWins), (std::vector<size_t>{2 * kUnit, 3 * kUnit, 3 * kUnit, 0}));
  EXPECT_EQ(by_breadth.PeakBytes(), 6u * 256);
  SmallestOfPlanner best;
  EXPECT_EQ(PlanAndCheck(best, kSizeWins), (std::vector<size_t>{3 * kUnit, 0, 2 * kUnit, 0}));
  EXPECT_EQ(best.PeakBytes(), 4u * 256);
  EXPECT_EQ(best.name(), "smallest-of(greedy-by-size)");
  EXPECT_EQ(best.by_size_bytes(), 4u * 256);
  EXPECT_EQ(best.by_breadth_bytes(), 6u * 256);
  EXPECT_EQ(best.Figures().lower_bound_bytes, 4u * 256);
}

// 0:1@[1,3] 1:2@[3,3] 2:2@[0,0] 3:2@[0,2]; lower bound 4 (step 0).
const std::vector<Buf> kBreadthWins = Scaled({{1, 1, 3}, {2, 3, 3}, {2, 0, 0}, {2, 0, 2}});

TEST(MemoryPlanner, BreadthBeatsSizeHandComputed) {
  // By size: 2 -> 0; 3 overlaps 2 -> 2; 1 overlaps neither -> 0; 0 overlaps 3 [2,4), 1 [0,2) -> 4.
  //          Peak 5.
  GreedyBySizePlanner by_size;
  EXPECT_EQ(PlanAndCheck(by_size, kBreadthWins), (std::vector<size_t>{4 * kUnit, 0, 0, 2 * kUnit}));
  EXPECT_EQ(by_size.PeakBytes(), 5u * 256);
  // By breadth: totals 0:4 1:3 3:3; step 0: 2 -> 0, 3 -> 2; step 1: 0 overlaps 3 [2,4): gap
  //             [0,2) -> 0; step 3: 1 overlaps 0 [0,1) -> 1. Peak 4 (3 ends at 4).
  GreedyByBreadthPlanner by_breadth;
  EXPECT_EQ(PlanAndCheck(by_breadth, kBreadthWins), (std::vector<size_t>{0, 1 * kUnit, 0, 2 * kUnit}));
  EXPECT_EQ(by_breadth.PeakBytes(), 4u * 256);
  SmallestOfPlanner best;
  PlanAndCheck(best, kBreadthWins);
  EXPECT_EQ(best.PeakBytes(), 4u * 256);
  EXPECT_EQ(best.name(), "smallest-of(greedy-by-breadth)");
}

TEST(MemoryPlanner, BestFitPicksTheSmallestGap) {
  // Alignment 1. Step 0 (total 17) comes first and stacks 0:A8 -> 0, 1:B4 -> 8, 2:C2 -> 12,
  // 3:D2 -> 14, 4:E1 -> 16. B and D die at step 0, so at step 1 (total 13) the buffers overlapping
  // 5:F2 leave the gaps [8,12) (4 bytes) and [14,16) (2 bytes): best fit takes 14.
  const std::vector<Buf> bufs = {{8, 0, 1}, {4, 0, 0}, {2, 0, 1}, {2, 0, 0}, {1, 0, 1}, {2, 1, 1}};
  GreedyByBreadthPlanner by_breadth(1);
  EXPECT_EQ(PlanAndCheck(by_breadth, bufs), (std::vector<size_t>{0, 8, 12, 14, 16, 14}));
  EXPECT_EQ(by_breadth.PeakBytes(), 17u);
  // Greedy by size places F (2 bytes, before E) at the lowest fit: 8, next to A; E then goes
  // above D at 16.
  GreedyBySizePlanner by_size(1);
  EXPECT_EQ(PlanAndCheck(by_size, bufs), (std::vector<size_t>{0, 8, 12, 14, 16, 8}));
  EXPECT_EQ(by_size.PeakBytes(), 17u);
}

TEST(MemoryPlanner, AlignmentRoundsSizesAndOffsets) {
  // Three buffers live together: 100 -> 256, 300 -> 512, 1 -> 256 bytes. By size: 300 first at 0,
  // then 100 (earlier first_use) at 512, then 1 at 768.
  const std::vector<Buf> bufs = {{100, 0, 2}, {300, 1, 2}, {1, 2, 2}};
  GreedyBySizePlanner p;
  EXPECT_EQ(PlanAndCheck(p, bufs), (std::vector<size_t>{512, 0, 768}));
  EXPECT_EQ(p.PeakBytes(), 1024u);
  EXPECT_EQ(p.Figures().lower_bound_bytes, 1024u);
  EXPECT_EQ(p.Figures().no_reuse_bytes, 1024u);
  // Alignment 64: 128 + 320 + 64.
  GreedyBySizePlanner p64(64);
  EXPECT_EQ(PlanAndCheck(p64, bufs), (std::vector<size_t>{320, 0, 448}));
  EXPECT_EQ(p64.PeakBytes(), 512u);
}

TEST(MemoryPlanner, DisjointLifetimesShareAndZeroSizeTakesNothing) {
  // A chain where each buffer overlaps only its neighbours needs two slots.
  std::vector<Buf> chain;
  chain.reserve(11);
  for (int i = 0; i < 10; ++i) chain.push_back({1000, i, i + 1});
  chain.push_back({0, 0, 10});  // empty: placed at 0, overlaps nothing
  for (int s = 0; s < 2; ++s) {
    std::unique_ptr<MemoryPlanner> p =
        MakeMemoryPlanner(s == 0 ? MemoryStrategy::kGreedyBySize : MemoryStrategy::kGreedyByBreadth);
    std::vector<size_t> offsets = PlanAndCheck(*p, chain);
    EXPECT_EQ(p->PeakBytes(), 2048u) << p->name();
    EXPECT_EQ(offsets.back(), 0u);
  }
}

TEST(MemoryPlanner, MalformedRequestsAreReportedByPlan) {
  GreedyBySizePlanner p;
  EXPECT_EQ(p.AddBuffer(10, 0, 1), 0);
  EXPECT_EQ(p.AddBuffer(10, 3, 2), 1);
  Status s = p.Plan();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("buffer 1"), std::string::npos) << s.ToString();
  EXPECT_EQ(p.Offset(0), MemoryPlanner::kNoOffset);

  GreedyByBreadthPlanner q;
  q.AddBuffer(10, -1, 1);
  EXPECT_FALSE(q.Plan().ok());

  SmallestOfPlanner r;
  r.AddBuffer(static_cast<size_t>(-1) - 3, 0, 0);
  EXPECT_EQ(r.Plan().code(), StatusCode::kOutOfRange);

  GreedyBySizePlanner empty;
  EXPECT_TRUE(empty.Plan().ok());
  EXPECT_EQ(empty.PeakBytes(), 0u);
  EXPECT_EQ(empty.Offset(0), MemoryPlanner::kNoOffset);
}

TEST(MemoryPlanner, AddBufferAfterPlanNeedsANewPlan) {
  GreedyBySizePlanner p(1);
  p.AddBuffer(8, 0, 0);
  ASSERT_TRUE(p.Plan().ok());
  EXPECT_TRUE(p.planned());
  p.AddBuffer(8, 0, 0);
  EXPECT_FALSE(p.planned());
  EXPECT_EQ(p.Offset(0), MemoryPlanner::kNoOffset);
  ASSERT_TRUE(p.Plan().ok());
  EXPECT_EQ(p.PeakBytes(), 16u);
}

TEST(MemoryPlanner, ValidatorCatchesOverlapsMisalignmentAndOverruns) {
  const std::vector<BufferRequest> reqs = {{256, 0, 1}, {256, 1, 2}, {256, 3, 3}};
  EXPECT_TRUE(ValidateMemoryPlan(reqs, {0, 256, 0}, 256, 512).ok());
  // 0 and 1 share step 1 and bytes.
  Status s = ValidateMemoryPlan(reqs, {0, 0, 256}, 256, 512);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("buffers 0"), std::string::npos) << s.ToString();
  // Partial overlap.
  EXPECT_FALSE(ValidateMemoryPlan({{300, 0, 0}, {256, 0, 0}}, {0, 256}, 1, 1024).ok());
  // Misaligned offset.
  EXPECT_FALSE(ValidateMemoryPlan(reqs, {0, 384, 0}, 256, 1024).ok());
  // Past the arena.
  EXPECT_FALSE(ValidateMemoryPlan(reqs, {0, 256, 0}, 256, 511).ok());
  // Wrong count.
  EXPECT_FALSE(ValidateMemoryPlan(reqs, {0, 256}, 256, 512).ok());
  // Zero-size buffers never conflict.
  EXPECT_TRUE(ValidateMemoryPlan({{0, 0, 5}, {256, 0, 5}}, {0, 0}, 256, 256).ok());
}

TEST(MemoryPlanner, LowerBoundIsTheLargestLiveSum) {
  EXPECT_EQ(MemoryLowerBound({}, 256), 0u);
  // Aligned sizes 256, 512, 256. Live sums: step 0: 256, step 1: 256 + 512, step 2: 512 + 256,
  // step 3: 256.
  EXPECT_EQ(MemoryLowerBound({{1, 0, 1}, {300, 1, 2}, {5, 2, 3}}, 256), 768u);
  EXPECT_EQ(MemoryLowerBound({{1, 0, 2}, {300, 1, 2}, {5, 2, 3}}, 256), 1024u);
  // A buffer ending at step 1 and one starting at 2 never count together.
  EXPECT_EQ(MemoryLowerBound({{100, 0, 1}, {100, 2, 3}}, 1), 100u);
  // Far-apart steps (no dense step array).
  EXPECT_EQ(MemoryLowerBound({{7, 0, 1000000000}, {9, 999999999, 1000000000}}, 1), 16u);
}

// 1,000 random buffer sets (fixed seeds): every strategy gives a valid plan at or above the lower
// bound, the chosen plan is never larger than either strategy's, and the same input plans alike.
TEST(MemoryPlanner, RandomBufferSetsAreValid) {
  size_t sum_arena = 0, sum_bound = 0, sum_no_reuse = 0;
  int breadth_wins = 0, size_wins = 0;
  for (uint32_t seed = 1; seed <= 1000; ++seed) {
    std::mt19937 rng(seed);
    const int n = 1 + static_cast<int>(rng() % 60);
    const int steps = 1 + static_cast<int>(rng() % 40);
    const size_t alignment = (seed % 3 == 0) ? 1 : (seed % 3 == 1 ? 64 : 256);
    std::vector<Buf> bufs;
    for (int i = 0; i < n; ++i) {
      const int first = static_cast<int>(rng() % steps);
      const int len = static_cast<int>(rng() % (1 + (rng() % 2 ? 3 : steps)));
      const size_t size = (rng() % 10 == 0) ? 0 : 1 + rng() % (rng() % 4 == 0 ? 100000 : 4000);
      bufs.push_back({size, first, first + len});
    }
    GreedyBySizePlanner by_size(alignment);
    GreedyByBreadthPlanner by_breadth(alignment);
    SmallestOfPlanner best(alignment);
    PlanAndCheck(by_size, bufs);
    PlanAndCheck(by_breadth, bufs);
    std::vector<size_t> chosen = PlanAndCheck(best, bufs);
    ASSERT_EQ(best.PeakBytes(), std::min(by_size.PeakBytes(), by_breadth.PeakBytes())) << "seed " << seed;
    SmallestOfPlanner again(alignment);
    ASSERT_EQ(PlanAndCheck(again, bufs), chosen) << "seed " << seed;
    if (HasFailure()) {
      ADD_FAILURE() << "seed " << seed;
      return;
    }
    MemoryFigures f = best.Figures();
    sum_arena += f.arena_bytes;
    sum_bound += f.lower_bound_bytes;
    sum_no_reuse += f.no_reuse_bytes;
    breadth_wins += by_breadth.PeakBytes() < by_size.PeakBytes();
    size_wins += by_size.PeakBytes() < by_breadth.PeakBytes();
  }
  // Both strategies matter, and the chosen plans stay close to the bound on random sets.
  EXPECT_GT(breadth_wins, 0);
  EXPECT_GT(size_wins, 0);
  EXPECT_LE(static_cast<double>(sum_arena), 1.25 * static_cast<double>(sum_bound));
  std::printf("[memory] random sets: arena/lower bound %.4f, arena/no-reuse %.4f, size wins %d, breadth wins %d\n",
              static_cast<double>(sum_arena) / static_cast<double>(sum_bound),
              static_cast<double>(sum_arena) / static_cast<double>(sum_no_reuse), size_wins, breadth_wins);
}

// ---- Network level -------------------------------------------------------------------------------

// Builds NetworkDefs by hand. Every activation is float32.
class NetBuilder {
 public:
  int32_t Input(const std::string& name, Shape shape, DataType dtype = DataType::kFloat32) {
    int32_t t = Add(name, std::move(shape), dtype);
    net_.inputs.push_back(t);
    return t;
  }
  int32_t Add(const std::string& name, Shape shape, DataType dtype = DataType::kFloat32) {
    TensorDef def;
    def.name = name;
    def.dtype = dtype;
    def.shape = std::move(shape);
    net_.tensors.push_back(def);
    return static_cast<int32_t>(net_.tensors.size()) - 1;
  }
  int32_t Constant(const std::string& name, Tensor value) {
    TensorDef def;
    def.name = name;
    def.dtype = value.dtype();
    def.shape = value.shape();
    def.value = std::move(value);
    net_.tensors.push_back(def);
    return static_cast<int32_t>(net_.tensors.size()) - 1;
  }
  // A layer writing a new tensor `name` of `shape`; returns the tensor.
  int32_t Layer(OpType op, std::vector<int32_t> inputs, const std::string& name, Shape shape, Attributes attrs = {}) {
    int32_t out = Add(name, std::move(shape));
    LayerRaw(op, std::move(inputs), {out}, std::move(attrs));
    return out;
  }
  void LayerRaw(OpType op, std::vector<int32_t> inputs, std::vector<int32_t> outputs, Attributes attrs = {}) {
    LayerDef layer;
    layer.name = "l" + std::to_string(net_.layers.size());
    layer.op = op;
    layer.opset = 17;
    layer.attrs = std::move(attrs);
    layer.inputs = std::move(inputs);
    layer.outputs = std::move(outputs);
    net_.layers.push_back(layer);
  }
  int32_t Reshape(int32_t x, const std::string& name, const Shape& shape) {
    int32_t s = Constant(name + "_shape", Tensor::FromVector<int64_t>(shape, {static_cast<int64_t>(shape.size())}));
    return Layer(OpType::kReshape, {x, s}, name, shape);
  }
  int32_t Concat(std::vector<int32_t> xs, int64_t axis, const std::string& name, Shape shape) {
    Attributes a;
    a.Set("axis", AttrValue(axis));
    return Layer(OpType::kConcat, std::move(xs), name, std::move(shape), a);
  }
  // Split into `n` equal parts along `axis` (opset 17: no 'split' input means equal parts).
  std::vector<int32_t> Split(int32_t x, int64_t axis, int n, const std::string& name) {
    Shape shape = net_.tensors[x].shape;
    shape[axis] /= n;
    std::vector<int32_t> outs;
    outs.reserve(static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) outs.push_back(Add(name + std::to_string(k), shape));
    Attributes a;
    a.Set("axis", AttrValue(axis));
    LayerRaw(OpType::kSplit, {x}, outs, a);
    return outs;
  }
  void Output(int32_t t) { net_.outputs.push_back(t); }
  const NetworkDef& Net() const { return net_; }

 private:
  NetworkDef net_;
};

using testing_util::NoSharing;

// The network and its plan, one line per layer, for failure messages.
std::string DumpPlan(const NetworkDef& net, const NetworkMemoryPlan& plan) {
  std::string out;
  auto tensor = [&](int32_t t) {
    if (t < 0) return std::string("-");
    const TensorMemory& m = plan.tensors[t];
    return net.tensors[t].name + "(" + TensorMemoryKindName(m.kind) + " b" + std::to_string(m.buffer) + " @" +
           std::to_string(m.offset) + "+" + std::to_string(m.bytes) +
           (m.source >= 0 ? " src " + net.tensors[m.source].name : std::string()) + ")";
  };
  for (size_t l = 0; l < net.layers.size(); ++l) {
    const LayerDef& layer = net.layers[l];
    out +=
        std::to_string(l) + " " + std::string(OpTypeName(layer.op)) + (plan.layer_elided[l] ? " [elided]" : "") + ":";
    for (int32_t t : layer.inputs) out += " " + tensor(t);
    out += " ->";
    for (int32_t t : layer.outputs) out += " " + tensor(t);
    out += "\n";
  }
  for (size_t b = 0; b < plan.buffers.size(); ++b) {
    const ArenaBuffer& a = plan.buffers[b];
    out += "b" + std::to_string(b) + " @" + std::to_string(a.offset) + "+" + std::to_string(a.bytes) + " steps " +
           std::to_string(a.first_use) + "-" + std::to_string(a.last_use) + "\n";
  }
  return out;
}

NetworkMemoryPlan PlanOrDie(const NetworkDef& net, const NetworkMemoryOptions& options = {}) {
  StatusOr<NetworkMemoryPlan> plan = PlanNetworkMemory(net, options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  if (!plan.ok()) return {};
  Status v = ValidateNetworkMemoryPlan(net, *plan);
  EXPECT_TRUE(v.ok()) << v.ToString() << "\n" << DumpPlan(net, *plan);
  EXPECT_GE(plan->figures.arena_bytes, plan->figures.lower_bound_bytes);
  EXPECT_LE(plan->figures.arena_bytes, plan->figures.no_reuse_bytes);
  return *plan;
}

Tensor RandomTensor(const Shape& shape, std::mt19937& rng) {
  Tensor t = *Tensor::Create(DataType::kFloat32, shape);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// RunPlannedAndCompare (cpu_compare_util.h) on uniform [-2, 2) inputs drawn from `seed`.
std::vector<Tensor> RunAndCompare(const NetworkDef& net, const NetworkMemoryOptions& options, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Tensor> inputs;
  for (int32_t t : net.inputs) inputs.push_back(RandomTensor(net.tensors[t].shape, rng));
  SCOPED_TRACE("seed " + std::to_string(seed));
  return testing_util::RunPlannedAndCompare(net, options, inputs);
}

const Shape kS = {1, 8, 4, 4};  // 512 bytes of float32

TEST(MemoryNetwork, ReluChainCollapsesToOneBuffer) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  std::vector<int32_t> r;
  int32_t prev = x;
  for (int i = 0; i < 5; ++i) {
    prev = b.Layer(i % 2 ? OpType::kSigmoid : OpType::kRelu, {prev}, "r" + std::to_string(i), kS);
    r.push_back(prev);
  }
  b.Output(prev);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  // The graph input is never overwritten: r0 gets its own bytes, r1..r4 run in place over r0.
  EXPECT_EQ(plan.tensors[r[0]].kind, TensorMemoryKind::kBuffer);
  for (int i = 1; i < 5; ++i) {
    EXPECT_EQ(plan.tensors[r[i]].kind, TensorMemoryKind::kInPlace) << i;
    EXPECT_EQ(plan.tensors[r[i]].source, r[i - 1]);
    EXPECT_EQ(plan.tensors[r[i]].offset, plan.tensors[r[0]].offset);
    EXPECT_EQ(plan.tensors[r[i]].buffer, plan.tensors[r[0]].buffer);
  }
  EXPECT_EQ(plan.buffers.size(), 2u);
  EXPECT_EQ(plan.num_in_place, 4);
  EXPECT_EQ(plan.figures.arena_bytes, 1024u);
  EXPECT_EQ(plan.figures.lower_bound_bytes, 1024u);
  EXPECT_EQ(plan.figures.no_reuse_bytes, 6u * 512);
  RunAndCompare(b.Net(), {}, 1);

  // Without in place, the chain ping-pongs between two slots (x dies at step 0).
  NetworkMemoryPlan plain = PlanOrDie(b.Net(), NoSharing());
  EXPECT_EQ(plain.buffers.size(), 6u);
  EXPECT_EQ(plain.num_in_place, 0);
  EXPECT_EQ(plain.figures.arena_bytes, 1024u);
  EXPECT_NE(plain.tensors[r[1]].offset, plain.tensors[r[0]].offset);
}

TEST(MemoryNetwork, ReshapeAliasesItsInput) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kRelu, {x}, "a", kS);
  int32_t v = b.Reshape(a, "v", {1, 8, 16});
  int32_t f = b.Layer(OpType::kFlatten, {v}, "f", {1, 128});
  int32_t s = b.Layer(OpType::kSigmoid, {f}, "s", {1, 128});
  b.Output(s);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[v].kind, TensorMemoryKind::kAlias);
  EXPECT_EQ(plan.tensors[v].source, a);
  EXPECT_EQ(plan.tensors[f].kind, TensorMemoryKind::kAlias);
  EXPECT_EQ(plan.tensors[f].source, v);
  EXPECT_EQ(plan.tensors[v].offset, plan.tensors[a].offset);
  EXPECT_EQ(plan.tensors[f].offset, plan.tensors[a].offset);
  // The group {a, v, f} dies at the Sigmoid, which runs in place over it.
  EXPECT_EQ(plan.tensors[s].kind, TensorMemoryKind::kInPlace);
  EXPECT_EQ(plan.tensors[s].offset, plan.tensors[a].offset);
  EXPECT_EQ(plan.layer_elided, (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_EQ(plan.num_aliases, 2);
  RunAndCompare(b.Net(), {}, 2);
}

TEST(MemoryNetwork, ViewOfALiveTensorBlocksInPlace) {
  // a is reshaped to v, then Relu(a) runs while v is still read later: the Relu must not
  // overwrite a's bytes, because v (the same bytes) is read after it.
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kSigmoid, {x}, "a", kS);
  int32_t v = b.Reshape(a, "v", {1, 128});
  int32_t r = b.Layer(OpType::kNeg, {a}, "r", kS);
  int32_t w = b.Layer(OpType::kExp, {v}, "w", {1, 128});
  b.Output(r);
  b.Output(w);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[v].kind, TensorMemoryKind::kAlias);
  EXPECT_EQ(plan.tensors[r].kind, TensorMemoryKind::kBuffer);
  EXPECT_NE(plan.tensors[r].offset, plan.tensors[a].offset);
  RunAndCompare(b.Net(), {}, 3);
}

TEST(MemoryNetwork, ResidualBranchKeepsItsInputAlive) {
  // a = Relu(x); c = Sigmoid(a); y = Add(a, c). a is read again by the Add, so the Sigmoid may
  // not run in place; the Add may (a and c both die there; a is the first candidate).
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kRelu, {x}, "a", kS);
  int32_t c = b.Layer(OpType::kSigmoid, {a}, "c", kS);
  int32_t y = b.Layer(OpType::kAdd, {a, c}, "y", kS);
  b.Output(y);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[c].kind, TensorMemoryKind::kBuffer);
  EXPECT_NE(plan.tensors[c].offset, plan.tensors[a].offset);
  EXPECT_EQ(plan.tensors[y].kind, TensorMemoryKind::kInPlace);
  EXPECT_EQ(plan.tensors[y].source, a);
  EXPECT_EQ(plan.tensors[y].offset, plan.tensors[a].offset);
  // Lifetimes: x [0,0], a [0,2], c [1,2] (x and c can share bytes).
  EXPECT_EQ(plan.buffers[plan.tensors[a].buffer].last_use, 2);
  EXPECT_EQ(plan.figures.lower_bound_bytes, 1024u);
  EXPECT_EQ(plan.figures.arena_bytes, 1024u);
  EXPECT_EQ(plan.tensors[c].offset, plan.tensors[x].offset);
  RunAndCompare(b.Net(), {}, 4);
}

TEST(MemoryNetwork, BroadcastOperandIsNotOverwritten) {
  // y = Mul(p, q) with p of shape [1,8,1,1] broadcast against q [1,8,4,4]: only q may be reused.
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t g = b.Input("g", {1, 8, 1, 1});
  int32_t p = b.Layer(OpType::kSigmoid, {g}, "p", {1, 8, 1, 1});
  int32_t q = b.Layer(OpType::kRelu, {x}, "q", kS);
  int32_t y = b.Layer(OpType::kMul, {p, q}, "y", kS);
  b.Output(y);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[y].kind, TensorMemoryKind::kInPlace);
  EXPECT_EQ(plan.tensors[y].source, q);
  RunAndCompare(b.Net(), {}, 5);
}

TEST(MemoryNetwork, BatchNormRunsInPlace) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kRelu, {x}, "a", kS);
  std::vector<int32_t> ins = {a};
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> dist(0.5f, 1.5f);
  for (const char* name : {"scale", "bias", "mean", "var"}) {
    std::vector<float> v(8);
    for (float& e : v) e = dist(rng);
    ins.push_back(b.Constant(name, Tensor::FromVector<float>(v, {8})));
  }
  int32_t y = b.Layer(OpType::kBatchNormalization, ins, "y", kS);
  b.Output(y);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[y].kind, TensorMemoryKind::kInPlace);
  EXPECT_EQ(plan.tensors[y].offset, plan.tensors[a].offset);
  RunAndCompare(b.Net(), {}, 22);
}

TEST(MemoryNetwork, FusedElementwiseChainRunsInPlace) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kNeg, {x}, "a", kS);
  Attributes attrs;
  attrs.Set("steps", AttrValue(std::vector<std::string>{"Relu", "Mul", "Sigmoid"}));
  attrs.Set("operands", AttrValue(std::vector<float>{1.5f}));
  int32_t y = b.Layer(OpType::kFusedElementwise, {a}, "y", kS, attrs);
  b.Output(y);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[y].kind, TensorMemoryKind::kInPlace);
  RunAndCompare(b.Net(), {}, 27);
}

TEST(MemoryNetwork, GraphInputsAndOutputsAreNeverOverwritten) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kRelu, {x}, "a", kS);     // x is a graph input
  int32_t c = b.Layer(OpType::kSigmoid, {a}, "c", kS);  // a is a graph output
  b.Output(a);
  b.Output(c);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[a].kind, TensorMemoryKind::kBuffer);
  EXPECT_EQ(plan.tensors[c].kind, TensorMemoryKind::kBuffer);
  EXPECT_EQ(plan.num_in_place, 0);
  // a lives to the end (output) while c is written: distinct bytes.
  EXPECT_NE(plan.tensors[a].offset, plan.tensors[c].offset);
  RunAndCompare(b.Net(), {}, 6);
}

TEST(MemoryNetwork, ConcatInPlaceWritesProducersIntoTheirSlices) {
  // p1 = Relu(x), p2 = Sigmoid(x), p3 = Relu(Neg(x)) (an in-place pair); y = Concat(p1, p2, p3)
  // on axis 1 of [1, C, 4, 4]: slices at 0, 512 and 1024 bytes of y.
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t p1 = b.Layer(OpType::kRelu, {x}, "p1", kS);
  int32_t p2 = b.Layer(OpType::kSigmoid, {x}, "p2", kS);
  int32_t n3 = b.Layer(OpType::kNeg, {x}, "n3", kS);
  int32_t p3 = b.Layer(OpType::kRelu, {n3}, "p3", kS);
  int32_t y = b.Concat({p1, p2, p3}, 1, "y", {1, 24, 4, 4});
  int32_t z = b.Layer(OpType::kTanh, {y}, "z", {1, 24, 4, 4});
  b.Output(z);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  const size_t base = plan.tensors[y].offset;
  EXPECT_EQ(plan.tensors[p1].kind, TensorMemoryKind::kConcatSlice);
  EXPECT_EQ(plan.tensors[p1].source, y);
  EXPECT_EQ(plan.tensors[p1].offset, base);
  EXPECT_EQ(plan.tensors[p2].offset, base + 512);
  EXPECT_EQ(plan.tensors[n3].kind, TensorMemoryKind::kConcatSlice);
  EXPECT_EQ(plan.tensors[n3].offset, base + 1024);
  EXPECT_EQ(plan.tensors[p3].kind, TensorMemoryKind::kInPlace);
  EXPECT_EQ(plan.tensors[p3].offset, base + 1024);
  EXPECT_EQ(plan.tensors[z].kind, TensorMemoryKind::kInPlace);
  EXPECT_EQ(plan.tensors[z].offset, base);
  EXPECT_EQ(plan.layer_elided[4], 1);
  EXPECT_EQ(plan.num_concat_slices, 3);
  // The y buffer lives from p1's layer (0) to the end; x must not share it.
  EXPECT_EQ(plan.buffers[plan.tensors[y].buffer].first_use, 0);
  EXPECT_EQ(plan.buffers.size(), 2u);
  EXPECT_EQ(plan.figures.arena_bytes, 512u + 1536u);
  RunAndCompare(b.Net(), {}, 7);
}

TEST(MemoryNetwork, NestedConcatsNest) {
  // y1 = Concat(a, b) (axis 1), y2 = Concat(y1, c): a, b sit inside y1's slice of y2.
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t pa = b.Layer(OpType::kRelu, {x}, "a", kS);
  int32_t pb = b.Layer(OpType::kSigmoid, {x}, "b", kS);
  int32_t y1 = b.Concat({pa, pb}, 1, "y1", {1, 16, 4, 4});
  int32_t pc = b.Layer(OpType::kTanh, {x}, "c", kS);
  int32_t y2 = b.Concat({pc, y1}, -3, "y2", {1, 24, 4, 4});
  b.Output(y2);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  const size_t base = plan.tensors[y2].offset;
  EXPECT_EQ(plan.tensors[pc].offset, base);
  EXPECT_EQ(plan.tensors[y1].offset, base + 512);
  EXPECT_EQ(plan.tensors[pa].offset, base + 512);
  EXPECT_EQ(plan.tensors[pb].offset, base + 1024);
  EXPECT_EQ(plan.tensors[y1].kind, TensorMemoryKind::kConcatSlice);
  EXPECT_EQ(plan.layer_elided[2], 1);
  EXPECT_EQ(plan.layer_elided[4], 1);
  RunAndCompare(b.Net(), {}, 8);
}

TEST(MemoryNetwork, SplitOutputsAreViewsOfTheirSlices) {
  // a = Relu(x) [1,8,4,4]; Split(a, axis 1) -> s0, s1 [1,4,4,4] at a+0 and a+256; u = Sigmoid(s0)
  // may not overwrite s0 (s1 on the same buffer is read later); v = Tanh(s1) may (all of a's bytes
  // die there).
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kRelu, {x}, "a", kS);
  std::vector<int32_t> s = b.Split(a, 1, 2, "s");
  int32_t u = b.Layer(OpType::kSigmoid, {s[0]}, "u", {1, 4, 4, 4});
  int32_t v = b.Layer(OpType::kTanh, {s[1]}, "v", {1, 4, 4, 4});
  int32_t y = b.Concat({u, v}, 1, "y", kS);
  b.Output(y);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[s[0]].kind, TensorMemoryKind::kSplitSlice);
  EXPECT_EQ(plan.tensors[s[0]].source, a);
  EXPECT_EQ(plan.tensors[s[0]].offset, plan.tensors[a].offset);
  EXPECT_EQ(plan.tensors[s[1]].offset, plan.tensors[a].offset + 256);
  EXPECT_EQ(plan.tensors[u].kind, TensorMemoryKind::kBuffer);
  EXPECT_EQ(plan.tensors[v].kind, TensorMemoryKind::kInPlace);
  EXPECT_EQ(plan.tensors[v].offset, plan.tensors[s[1]].offset);
  // v's bytes are inside a's buffer, so v (and with it u) could not be nested into y: y copies.
  EXPECT_EQ(plan.num_split_slices, 2);
  EXPECT_EQ(plan.layer_elided, (std::vector<uint8_t>{0, 1, 0, 0, 0}));
  EXPECT_EQ(plan.num_concat_slices, 0);
  RunAndCompare(b.Net(), {}, 23);

  // Split on axis 2 of [1,8,4,4]: each output is 8 strided blocks, so it is copied.
  NetBuilder c;
  int32_t cx = c.Input("x", kS);
  int32_t ca = c.Layer(OpType::kRelu, {cx}, "a", kS);
  std::vector<int32_t> cs = c.Split(ca, 2, 2, "s");
  c.Output(cs[0]);
  c.Output(cs[1]);
  NetworkMemoryPlan copied = PlanOrDie(c.Net());
  EXPECT_EQ(copied.num_split_slices, 0);
  EXPECT_EQ(copied.layer_elided[1], 0);
  RunAndCompare(c.Net(), {}, 24);
}

TEST(MemoryNetwork, OverlappingViewsOfOneTensorBlockInPlace) {
  // Two Splits of a: s0 = channels 0-3 (Split in halves), t1 = channels 2-5 (Split 2/4/2). In
  // y = Add(t1, s0) both operands are views of a at different offsets; writing y over either
  // would overwrite elements the other still has to read.
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kRelu, {x}, "a", kS);
  std::vector<int32_t> s = b.Split(a, 1, 2, "s");
  int32_t sizes = b.Constant("sizes", Tensor::FromVector<int64_t>({2, 4, 2}, {3}));
  int32_t t0 = b.Add("t0", {1, 2, 4, 4});
  int32_t t1 = b.Add("t1", {1, 4, 4, 4});
  int32_t t2 = b.Add("t2", {1, 2, 4, 4});
  Attributes axis1;
  axis1.Set("axis", AttrValue(int64_t{1}));
  b.LayerRaw(OpType::kSplit, {a, sizes}, {t0, t1, t2}, axis1);
  int32_t y = b.Layer(OpType::kAdd, {t1, s[0]}, "y", {1, 4, 4, 4});
  b.Output(y);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.num_split_slices, 5);
  EXPECT_EQ(plan.tensors[t1].offset, plan.tensors[a].offset + size_t{2} * 64);
  EXPECT_EQ(plan.tensors[y].kind, TensorMemoryKind::kBuffer);
  RunAndCompare(b.Net(), {}, 26);
}

TEST(MemoryNetwork, SplitOfAGraphInputIsAViewButNeverOverwritten) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  std::vector<int32_t> s = b.Split(x, 1, 4, "s");
  std::vector<int32_t> r;
  r.reserve(4);
  for (int k = 0; k < 4; ++k) r.push_back(b.Layer(OpType::kRelu, {s[k]}, "r" + std::to_string(k), {1, 2, 4, 4}));
  b.Output(b.Concat(r, 1, "y", kS));
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.num_split_slices, 4);
  EXPECT_EQ(plan.num_in_place, 0);
  // The Relus write straight into the Concat output instead.
  EXPECT_EQ(plan.num_concat_slices, 4);
  EXPECT_EQ(plan.figures.arena_bytes, 1024u);
  RunAndCompare(b.Net(), {}, 25);
}

TEST(MemoryNetwork, ConcatThatCannotBeInPlaceCopies) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t p1 = b.Layer(OpType::kRelu, {x}, "p1", kS);
  int32_t p2 = b.Layer(OpType::kSigmoid, {x}, "p2", kS);
  // Axis 2: each input is 8 strided blocks of the output, not one slice.
  int32_t y = b.Concat({p1, p2}, 2, "y", {1, 8, 8, 4});
  // A graph input as a Concat input.
  int32_t y2 = b.Concat({x, p2}, 1, "y2", {1, 16, 4, 4});
  // An input read by another layer too (p1 is also read by the Add below).
  int32_t p3 = b.Layer(OpType::kNeg, {x}, "p3", kS);
  int32_t y3 = b.Concat({p3, p1}, 1, "y3", {1, 16, 4, 4});
  int32_t s = b.Layer(OpType::kAdd, {p3, p1}, "s", kS);
  // The same tensor twice.
  int32_t p4 = b.Layer(OpType::kExp, {x}, "p4", kS);
  int32_t y4 = b.Concat({p4, p4}, 1, "y4", {1, 16, 4, 4});
  for (int32_t t : {y, y2, y3, s, y4}) b.Output(t);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.num_concat_slices, 0);
  for (size_t l = 0; l < b.Net().layers.size(); ++l) EXPECT_EQ(plan.layer_elided[l], 0) << l;
  RunAndCompare(b.Net(), {}, 9);
}

TEST(MemoryNetwork, ConcatInputWrittenAfterTheConcatIsNotNested) {
  // a = Sigmoid(x); y = Concat(a, c); a2 = Relu(a) in place over a AFTER the Concat read a. a's
  // group {a, a2} is written after the Concat, so it must not live inside y.
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kSigmoid, {x}, "a", kS);
  int32_t c = b.Layer(OpType::kNeg, {x}, "c", kS);
  int32_t y = b.Concat({a, c}, 1, "y", {1, 16, 4, 4});
  int32_t a2 = b.Layer(OpType::kRelu, {a}, "a2", kS);
  b.Output(y);
  (void)a2;
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[a2].kind, TensorMemoryKind::kInPlace);
  EXPECT_NE(plan.tensors[a].kind, TensorMemoryKind::kConcatSlice);
  EXPECT_EQ(plan.layer_elided[2], 0);
  RunAndCompare(b.Net(), {}, 10);
}

TEST(MemoryNetwork, DropoutAliasesOnlyInInference) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kRelu, {x}, "a", kS);
  int32_t d = b.Layer(OpType::kDropout, {a}, "d", kS);
  // With a mask output, the kernel runs (it fills the mask).
  int32_t d2 = b.Add("d2", kS);
  int32_t mask = b.Add("mask", kS, DataType::kBool);
  b.LayerRaw(OpType::kDropout, {d}, {d2, mask});
  // A training_mode input that is not a constant: the kernel must run (and may reject it).
  int32_t mode = b.Input("mode", {}, DataType::kBool);
  int32_t d3 = b.Layer(OpType::kDropout, {d2, -1, mode}, "d3", kS);
  b.Output(d3);
  b.Output(mask);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[d].kind, TensorMemoryKind::kAlias);
  EXPECT_EQ(plan.tensors[d2].kind, TensorMemoryKind::kBuffer);
  EXPECT_EQ(plan.tensors[d3].kind, TensorMemoryKind::kBuffer);
  EXPECT_EQ(plan.layer_elided, (std::vector<uint8_t>{0, 1, 0, 0}));
}

TEST(MemoryNetwork, UnusedTensorsAndConstantsGetNoMemory) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t unused = b.Add("unused", {1000, 1000});
  int32_t k = b.Constant("k", Tensor::FromVector<float>({2.0f}, {}));
  int32_t y = b.Layer(OpType::kMul, {x, k}, "y", kS);
  b.Output(y);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  EXPECT_EQ(plan.tensors[unused].kind, TensorMemoryKind::kNone);
  EXPECT_EQ(plan.tensors[k].kind, TensorMemoryKind::kNone);
  EXPECT_EQ(plan.figures.arena_bytes, 1024u);
  EXPECT_EQ(plan.figures.no_reuse_bytes, 1024u);
}

TEST(MemoryNetwork, MalformedNetworksAreErrors) {
  {
    NetBuilder b;
    int32_t x = b.Input("x", kS);
    int32_t y = b.Layer(OpType::kRelu, {x}, "y", kS);
    b.LayerRaw(OpType::kRelu, {x}, {y});
    EXPECT_EQ(PlanNetworkMemory(b.Net()).status().code(), StatusCode::kCorrupt);
  }
  {
    NetBuilder b;
    int32_t x = b.Input("x", kS);
    b.LayerRaw(OpType::kRelu, {x}, {42});
    EXPECT_EQ(PlanNetworkMemory(b.Net()).status().code(), StatusCode::kCorrupt);
  }
  {
    NetBuilder b;
    int32_t x = b.Input("x", {1, -1});
    b.Output(b.Layer(OpType::kRelu, {x}, "y", {1, -1}));
    EXPECT_EQ(PlanNetworkMemory(b.Net()).status().code(), StatusCode::kInvalidArgument);
  }
  {
    NetBuilder b;
    int32_t x = b.Input("x", {int64_t{1} << 40});
    b.Output(x);
    EXPECT_EQ(PlanNetworkMemory(b.Net()).status().code(), StatusCode::kOutOfRange);
  }
}

TEST(MemoryNetwork, ValidatorCatchesABrokenNetworkPlan) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kRelu, {x}, "a", kS);
  int32_t c = b.Layer(OpType::kSigmoid, {a}, "c", kS);
  int32_t y = b.Layer(OpType::kAdd, {a, c}, "y", kS);
  b.Output(y);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  // Put c on top of a (both live at steps 1-2) inside a's buffer: the buffer check passes, the
  // tensor check must not.
  NetworkMemoryPlan broken = plan;
  broken.tensors[c].buffer = broken.tensors[a].buffer;
  broken.tensors[c].offset = broken.tensors[a].offset;
  EXPECT_FALSE(ValidateNetworkMemoryPlan(b.Net(), broken).ok());
  // Move a's buffer onto x's while both are live at step 0.
  broken = plan;
  const int32_t bx = plan.tensors[x].buffer;
  const int32_t ba = plan.tensors[a].buffer;
  broken.buffers[ba].offset = broken.buffers[bx].offset;
  EXPECT_FALSE(ValidateNetworkMemoryPlan(b.Net(), broken).ok());
  // A tensor outside its buffer.
  broken = plan;
  broken.tensors[y].offset += 256;
  EXPECT_FALSE(ValidateNetworkMemoryPlan(b.Net(), broken).ok());
}

// Conv weights [co, ci, k, k] and bias with fixed random values.
int32_t ConvLayer(NetBuilder& b, std::mt19937& rng, int32_t x, int64_t ci, int64_t co, int64_t k,
                  const std::string& name, Shape out_shape) {
  std::vector<float> w(static_cast<size_t>(co * ci * k * k)), bias(static_cast<size_t>(co));
  std::normal_distribution<float> dist(0.0f, 0.3f);
  for (float& v : w) v = dist(rng);
  for (float& v : bias) v = dist(rng);
  int32_t wt = b.Constant(name + "_w", *Tensor::FromVector<float>(w, {co * ci * k * k}).Reshaped({co, ci, k, k}));
  int32_t bt = b.Constant(name + "_b", Tensor::FromVector<float>(bias, {co}));
  Attributes a;
  a.Set("kernel_shape", AttrValue(std::vector<int64_t>{k, k}));
  a.Set("pads", AttrValue(std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2}));
  return b.Layer(OpType::kConv, {x, wt, bt}, name, std::move(out_shape), a);
}

TEST(MemoryNetwork, InceptionBlockWritesConvAndPoolOutputsIntoTheConcat) {
  // x [1,4,6,6] -> Conv1x1 (3 ch), Conv3x3 (5 ch), MaxPool3x3/1 (4 ch) -> Concat -> Relu, then a
  // residual block: Conv3x3 -> Relu -> Conv3x3 -> Add(., block input) -> Relu.
  std::mt19937 rng(31);
  NetBuilder b;
  int32_t x = b.Input("x", {1, 4, 6, 6});
  int32_t c1 = ConvLayer(b, rng, x, 4, 3, 1, "c1", {1, 3, 6, 6});
  int32_t c3 = ConvLayer(b, rng, x, 4, 5, 3, "c3", {1, 5, 6, 6});
  Attributes pool;
  pool.Set("kernel_shape", AttrValue(std::vector<int64_t>{3, 3}));
  pool.Set("pads", AttrValue(std::vector<int64_t>{1, 1, 1, 1}));
  int32_t mp = b.Layer(OpType::kMaxPool, {x}, "mp", {1, 4, 6, 6}, pool);
  int32_t cat = b.Concat({c1, c3, mp}, 1, "cat", {1, 12, 6, 6});
  int32_t r = b.Layer(OpType::kRelu, {cat}, "r", {1, 12, 6, 6});
  int32_t d1 = ConvLayer(b, rng, r, 12, 12, 3, "d1", {1, 12, 6, 6});
  int32_t d1r = b.Layer(OpType::kRelu, {d1}, "d1r", {1, 12, 6, 6});
  int32_t d2 = ConvLayer(b, rng, d1r, 12, 12, 3, "d2", {1, 12, 6, 6});
  int32_t sum = b.Layer(OpType::kAdd, {d2, r}, "sum", {1, 12, 6, 6});
  int32_t y = b.Layer(OpType::kRelu, {sum}, "y", {1, 12, 6, 6});
  b.Output(y);
  NetworkMemoryPlan plan = PlanOrDie(b.Net());
  const size_t base = plan.tensors[cat].offset;
  EXPECT_EQ(plan.tensors[c1].offset, base);
  EXPECT_EQ(plan.tensors[c3].offset, base + size_t{3} * 36 * 4);
  EXPECT_EQ(plan.tensors[mp].offset, base + size_t{8} * 36 * 4);
  EXPECT_EQ(plan.tensors[r].kind, TensorMemoryKind::kInPlace);
  // r is read by the Add: the first Conv of the block writes elsewhere, the Add runs in place.
  EXPECT_NE(plan.tensors[d1].offset, base);
  EXPECT_EQ(plan.tensors[d1r].kind, TensorMemoryKind::kInPlace);
  EXPECT_EQ(plan.tensors[sum].kind, TensorMemoryKind::kInPlace);
  EXPECT_EQ(plan.tensors[y].offset, plan.tensors[sum].offset);
  EXPECT_EQ(plan.layer_elided[3], 1);
  RunAndCompare(b.Net(), {}, 32);
}

// Random networks of elementwise layers, views and Concats on [1, C, 2, 2] tensors: every plan
// is valid, and the engine computes exactly what an engine that shares nothing computes.
TEST(MemoryNetwork, RandomNetworksPlanValidlyAndRunExactly) {
  int total_in_place = 0, total_alias = 0, total_slices = 0, total_split = 0;
  for (uint32_t seed = 1; seed <= 150; ++seed) {
    std::mt19937 rng(seed);
    NetBuilder b;
    std::vector<int32_t> pool;
    std::vector<int64_t> channels;
    const int n_inputs = 1 + static_cast<int>(rng() % 2);
    for (int i = 0; i < n_inputs; ++i) {
      pool.push_back(b.Input("in" + std::to_string(i), {1, 2, 2, 2}));
      channels.push_back(2);
    }
    auto pick = [&]() { return static_cast<size_t>(rng() % pool.size()); };
    // Favour recent tensors so chains form, but keep some long-lived ones.
    auto pick_recent = [&]() {
      size_t n = pool.size();
      return rng() % 3 == 0 ? pick() : n - 1 - static_cast<size_t>(rng() % std::min<size_t>(n, 3));
    };
    const int n_layers = 4 + static_cast<int>(rng() % 20);
    for (int l = 0; l < n_layers; ++l) {
      const std::string name = "t" + std::to_string(l);
      const int kind = static_cast<int>(rng() % 7);
      size_t i = pick_recent();
      Shape shape = {1, channels[i], 2, 2};
      int32_t out = -1;
      if (kind <= 1) {
        static const OpType kUnary[] = {OpType::kRelu, OpType::kSigmoid, OpType::kNeg, OpType::kTanh, OpType::kAbs};
        out = b.Layer(kUnary[rng() % 5], {pool[i]}, name, shape);
      } else if (kind == 2) {
        // A binary op with a same-shape partner, or a per-channel broadcast of a [1,C,1,1] view.
        size_t j = pick();
        if (channels[j] != channels[i]) j = i;
        // (No Mul: long products could overflow to inf and give NaN.)
        static const OpType kBinary[] = {OpType::kAdd, OpType::kMin, OpType::kSub, OpType::kMax};
        out = b.Layer(kBinary[rng() % 4],
                      rng() % 2 ? std::vector<int32_t>{pool[i], pool[j]} : std::vector<int32_t>{pool[j], pool[i]}, name,
                      shape);
      } else if (kind == 3) {
        out = b.Reshape(pool[i], name, {1, channels[i] * 4});
        out = b.Reshape(out, name + "b", shape);
      } else if (kind == 4 && channels[i] % 2 == 0 && rng() % 2) {
        std::vector<int32_t> parts = b.Split(pool[i], 1, 2, name);
        pool.push_back(parts[0]);
        channels.push_back(channels[i] / 2);
        out = parts[1];
      } else if (kind == 4) {
        out = b.Layer(rng() % 2 ? OpType::kIdentity : OpType::kDropout, {pool[i]}, name, shape);
      } else {
        size_t j = pick_recent();
        std::vector<int32_t> xs = {pool[i], pool[j]};
        if (rng() % 2) xs.push_back(pool[pick()]);
        if (rng() % 2) {
          // Fresh producers that only the Concat reads (the in-place pattern of inception blocks).
          for (size_t k = 0; k < xs.size(); ++k) {
            const Shape& sk = b.Net().tensors[xs[k]].shape;
            xs[k] = b.Layer(k % 2 ? OpType::kSigmoid : OpType::kNeg, {xs[k]}, name + "p" + std::to_string(k), sk);
          }
        }
        int64_t c = 0;
        for (int32_t t : xs) c += b.Net().tensors[t].shape[1];
        if (c > 16) {
          out = b.Layer(OpType::kRelu, {pool[i]}, name, shape);
        } else {
          shape = {1, c, 2, 2};
          out = b.Concat(xs, 1, name, shape);
        }
      }
      pool.push_back(out);
      channels.push_back(b.Net().tensors[out].shape[1]);
    }
    b.Output(pool.back());
    if (rng() % 2) b.Output(pool[pick()]);
    const NetworkDef& net = b.Net();
    for (int s = 0; s < 3; ++s) {
      NetworkMemoryOptions o;
      o.strategy = static_cast<MemoryStrategy>(s);
      o.alignment = s == 0 ? 1 : 256;
      NetworkMemoryPlan plan = PlanOrDie(net, o);
      if (s == 2) {
        total_in_place += plan.num_in_place;
        total_alias += plan.num_aliases;
        total_slices += plan.num_concat_slices;
        total_split += plan.num_split_slices;
        RunAndCompare(net, o, seed);
      }
    }
    if (HasFailure()) {
      ADD_FAILURE() << "seed " << seed;
      return;
    }
  }
  // The generator exercises every kind of sharing.
  std::printf("[memory] random networks: %d in place, %d aliases, %d concat slices, %d split slices\n", total_in_place,
              total_alias, total_slices, total_split);
  EXPECT_GT(total_in_place, 50);
  EXPECT_GT(total_alias, 50);
  EXPECT_GT(total_slices, 10);
  EXPECT_GT(total_split, 10);
}

// ---- Engine --------------------------------------------------------------------------------------

TEST(MemoryEngine, EngineExposesItsPlanAndFigures) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kRelu, {x}, "a", kS);
  int32_t c = b.Layer(OpType::kSigmoid, {a}, "c", kS);
  b.Output(b.Layer(OpType::kAdd, {a, c}, "y", kS));
  auto engine = CpuEngine::Create(b.Net());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const MemoryFigures& f = (*engine)->memory_figures();
  EXPECT_EQ(f.arena_bytes, 1024u);
  EXPECT_EQ(f.lower_bound_bytes, 1024u);
  EXPECT_EQ(f.no_reuse_bytes, 4u * 512);
  EXPECT_EQ((*engine)->memory_plan().tensors.size(), b.Net().tensors.size());
  EXPECT_TRUE(ValidateNetworkMemoryPlan(b.Net(), (*engine)->memory_plan()).ok());

  // y = relu(x) + sigmoid(relu(x)), element by element.
  std::mt19937 rng(11);
  Tensor in = RandomTensor(kS, rng);
  std::vector<Tensor> out;
  ASSERT_TRUE((*engine)->Run({in}, &out).ok());
  for (int64_t i = 0; i < in.num_elements(); ++i) {
    float r = std::max(in.data<float>()[i], 0.0f);
    EXPECT_NEAR(out[0].data<float>()[i], r + 1.0f / (1.0f + std::exp(-r)), 1e-6f) << i;
  }
}

TEST(MemoryEngine, ArenaHonoursThePlanAlignment) {
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kRelu, {x}, "a", kS);
  int32_t c = b.Layer(OpType::kSigmoid, {a}, "c", kS);
  b.Output(b.Layer(OpType::kAdd, {a, c}, "y", kS));
  for (size_t alignment : {size_t{1}, size_t{64}, size_t{256}, size_t{1024}, size_t{4096}}) {
    NetworkMemoryOptions o;
    o.alignment = alignment;
    auto engine = CpuEngine::Create(b.Net(), o);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_EQ((*engine)->memory_plan().alignment, alignment);
    EXPECT_EQ((*engine)->memory_figures().arena_bytes, 2 * std::max<size_t>(512, alignment));
    RunAndCompare(b.Net(), o, 40);
  }
}

TEST(MemoryEngine, UnwrittenOutputIsPoisoned) {
  // An Identity whose input no layer writes and that is no graph input: its bytes are poison,
  // and the output shows it (0xFF bytes are NaN).
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t ghost = b.Add("ghost", kS);
  int32_t y = b.Layer(OpType::kAdd, {x, ghost}, "y", kS);
  b.Output(y);
  auto engine = CpuEngine::Create(b.Net());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  std::mt19937 rng(12);
  std::vector<Tensor> out;
  ASSERT_TRUE((*engine)->Run({RandomTensor(kS, rng)}, &out).ok());
  EXPECT_TRUE(std::isnan(out[0].data<float>()[0]));
}

// ---- Concurrent branches (stream_schedule.h) and layer spans --------------------------------------

bool IsConv(const LayerDef& layer) { return layer.op == OpType::kConv; }

bool BytesOverlap(const NetworkMemoryPlan& plan, int32_t a, int32_t b) {
  const TensorMemory& x = plan.tensors[a];
  const TensorMemory& y = plan.tensors[b];
  return x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes;
}

// A ResNet bottleneck with a downsample branch, in the order an exporter writes it (1x1
// convolutions with seeded weights; a Relu stands in for the max pool):
//   0 stem = Conv(x)   1 m = Relu(stem)   2 c1 = Conv(m)   3 c2 = Conv(c1)   4 ds = Conv(m)
//   5 c3 = Conv(c2)    6 y = Add(c3, ds)  7 out = Relu(y)
struct Bottleneck {
  NetBuilder b;
  std::mt19937 rng{3};
  int32_t x, stem, m, c1, c2, ds, c3, y, out;
  int32_t Conv(int32_t in, const std::string& name) {
    int32_t w = b.Constant(name + "_w", RandomTensor({kS[1], kS[1], 1, 1}, rng));
    return b.Layer(OpType::kConv, {in, w}, name, kS);
  }
  Bottleneck() {
    x = b.Input("x", kS);
    stem = Conv(x, "stem");
    m = b.Layer(OpType::kRelu, {stem}, "m", kS);
    c1 = Conv(m, "c1");
    c2 = Conv(c1, "c2");
    ds = Conv(m, "ds");
    c3 = Conv(c2, "c3");
    y = b.Layer(OpType::kAdd, {c3, ds}, "y", kS);
    out = b.Layer(OpType::kRelu, {y}, "out", kS);
    b.Output(out);
  }
};

TEST(StreamSchedule, DownsampleConvRunsBesideTheBlock) {
  Bottleneck n;
  const StreamSchedule s = ScheduleAuxLayers(n.b.Net(), IsConv);
  // Only the downsample: c2 lies between c1 and c3 in the order with ds after it, but no main
  // layer on a path from c1 to c3 would run beside it.
  ASSERT_EQ(s.aux.size(), 1u);
  EXPECT_EQ(s.aux[0].layer, 4);
  EXPECT_EQ(s.aux[0].fork_after, 1);
  EXPECT_EQ(s.aux[0].join_before, 6);
  ASSERT_EQ(s.on_aux.size(), 8u);
  EXPECT_EQ(std::count(s.on_aux.begin(), s.on_aux.end(), uint8_t{1}), 1);
  EXPECT_EQ(s.on_aux[4], 1);
  EXPECT_EQ(s.forks_after[1], std::vector<int32_t>{0});
  EXPECT_EQ(s.joins_before[6], std::vector<int32_t>{0});
  ASSERT_EQ(s.spans.size(), 8u);
  EXPECT_EQ(s.spans[4].first, 2);
  EXPECT_EQ(s.spans[4].last, 6);
  for (int32_t l : {0, 1, 2, 3, 5, 6, 7}) {
    EXPECT_EQ(s.spans[l].first, l);
    EXPECT_EQ(s.spans[l].last, l);
  }
  EXPECT_TRUE(ScheduleAuxLayers(n.b.Net(), IsConv, 0).empty()) << "max_aux 0";
}

TEST(StreamSchedule, SpansKeepTheBranchApartFromWhatRunsBesideIt) {
  Bottleneck n;
  const StreamSchedule s = ScheduleAuxLayers(n.b.Net(), IsConv);
  NetworkMemoryOptions o;
  o.layer_spans = s.spans;
  NetworkMemoryPlan plan = PlanOrDie(n.b.Net(), o);  // validated with the spans
  ASSERT_EQ(plan.layer_spans.size(), 8u);
  // ds runs anywhere in steps 2..6: its input m and its output stay clear of c1, c2 and c3.
  for (int32_t t : {n.c1, n.c2, n.c3}) {
    EXPECT_FALSE(BytesOverlap(plan, n.m, t)) << DumpPlan(n.b.Net(), plan);
    EXPECT_FALSE(BytesOverlap(plan, n.ds, t)) << DumpPlan(n.b.Net(), plan);
  }
  EXPECT_EQ(plan.buffers[plan.tensors[n.m].buffer].last_use, 6);
  EXPECT_EQ(plan.buffers[plan.tensors[n.ds].buffer].first_use, 2);
  // Without the spans, ds (written at step 4) may take the bytes of c1 (dead after step 3), which
  // the validator with the spans refuses.
  NetworkMemoryPlan sequential = PlanOrDie(n.b.Net());
  EXPECT_TRUE(BytesOverlap(sequential, n.ds, n.c1) || BytesOverlap(sequential, n.m, n.c3))
      << DumpPlan(n.b.Net(), sequential);
  sequential.layer_spans = s.spans;
  EXPECT_FALSE(ValidateNetworkMemoryPlan(n.b.Net(), sequential).ok()) << DumpPlan(n.b.Net(), sequential);
  // The CPU engine runs the layers in order under the span plan: the same outputs.
  RunAndCompare(n.b.Net(), o, 17);
}

TEST(StreamSchedule, LayersWithoutAPartnerOrWithGraphTensorsStay) {
  // 0 a = Conv(x): reads a graph input.  1 r = Relu(a)  2 b = Conv(a) beside only a Relu.
  // 3 c = Conv(r)  4 d = Add(b, c): b's join; c is on the path a -> d, so b goes aux.
  // 5 e = Conv(d): its output is a graph output.
  NetBuilder b;
  int32_t x = b.Input("x", kS);
  int32_t a = b.Layer(OpType::kConv, {x}, "a", kS);
  int32_t r = b.Layer(OpType::kRelu, {a}, "r", kS);
  int32_t bb = b.Layer(OpType::kConv, {a}, "b", kS);
  int32_t c = b.Layer(OpType::kConv, {r}, "c", kS);
  int32_t d = b.Layer(OpType::kAdd, {bb, c}, "d", kS);
  int32_t e = b.Layer(OpType::kConv, {d}, "e", kS);
  b.Output(e);
  StreamSchedule s = ScheduleAuxLayers(b.Net(), IsConv);
  ASSERT_EQ(s.aux.size(), 1u);
  EXPECT_EQ(s.aux[0].layer, 2);
  EXPECT_EQ(s.aux[0].fork_after, 0);
  EXPECT_EQ(s.aux[0].join_before, 4);
  // Only a Relu beside it: nothing heavy would run meanwhile.
  NetBuilder b2;
  x = b2.Input("x", kS);
  a = b2.Layer(OpType::kConv, {x}, "a", kS);
  r = b2.Layer(OpType::kRelu, {a}, "r", kS);
  bb = b2.Layer(OpType::kConv, {a}, "b", kS);
  b2.Output(b2.Layer(OpType::kAdd, {bb, r}, "d", kS));
  EXPECT_TRUE(ScheduleAuxLayers(b2.Net(), IsConv).empty());
  // A branch whose output is a graph output, and one fed by a graph input, stay.
  NetBuilder b3;
  x = b3.Input("x", kS);
  a = b3.Layer(OpType::kConv, {x}, "a", kS);
  int32_t side = b3.Layer(OpType::kConv, {x}, "side", kS);  // graph input
  c = b3.Layer(OpType::kConv, {a}, "c", kS);
  int32_t out_branch = b3.Layer(OpType::kConv, {a}, "o", kS);  // graph output
  int32_t f = b3.Layer(OpType::kConv, {c}, "f", kS);
  b3.Output(b3.Layer(OpType::kAdd, {f, side}, "g", kS));
  b3.Output(out_branch);
  EXPECT_TRUE(ScheduleAuxLayers(b3.Net(), IsConv).empty());
}

// Two detection heads of one scale, each a chain of convolutions, concatenated (YOLO's box and
// class heads): no single layer has work beside it, so the second pass sends the first head's
// chain to the auxiliary stream beside the second; the chain's layers share the span [fork + 1,
// join], and the span plan validates and runs like the sequential one.
//   0 f = Conv(x)   1 b1 = Conv(f)   2 b2 = Conv(b1)   3 b3 = Conv(b2)
//   4 c1 = Conv(f)  5 c2 = Conv(c1)  6 c3 = Conv(c2)   7 cat = Concat(b3, c3)   8 out = Relu(cat)
TEST(StreamSchedule, HeadChainRunsBesideTheOtherHead) {
  NetBuilder b;
  std::mt19937 rng(5);
  auto conv = [&](int32_t in, const std::string& name) {
    int32_t w = b.Constant(name + "_w", RandomTensor({kS[1], kS[1], 1, 1}, rng));
    return b.Layer(OpType::kConv, {in, w}, name, kS);
  };
  int32_t x = b.Input("x", kS);
  int32_t f = conv(x, "f");
  int32_t b3 = conv(conv(conv(f, "b1"), "b2"), "b3");
  int32_t c3 = conv(conv(conv(f, "c1"), "c2"), "c3");
  Attributes axis;
  axis.Set("axis", int64_t{1});
  int32_t cat = b.Layer(OpType::kConcat, {b3, c3}, "cat", {1, 2 * kS[1], kS[2], kS[3]}, axis);
  b.Output(b.Layer(OpType::kRelu, {cat}, "out", {1, 2 * kS[1], kS[2], kS[3]}));
  const StreamSchedule s = ScheduleAuxLayers(b.Net(), IsConv);
  ASSERT_EQ(s.aux.size(), 1u);
  EXPECT_EQ(s.aux[0].layer, 1);
  EXPECT_EQ(s.aux[0].layers, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(s.aux[0].fork_after, 0);
  EXPECT_EQ(s.aux[0].join_before, 7);
  EXPECT_EQ(s.on_aux, (std::vector<uint8_t>{0, 1, 1, 1, 0, 0, 0, 0, 0}));
  for (int32_t l : {1, 2, 3}) {
    EXPECT_EQ(s.spans[l].first, 1);
    EXPECT_EQ(s.spans[l].last, 7);
  }
  NetworkMemoryOptions o;
  o.layer_spans = s.spans;
  NetworkMemoryPlan plan = PlanOrDie(b.Net(), o);
  // The chain's tensors and f stay clear of the other head's while both heads may run.
  for (int32_t chain : {f, b3}) {
    for (int32_t other : {c3}) EXPECT_FALSE(BytesOverlap(plan, chain, other)) << DumpPlan(b.Net(), plan);
  }
  RunAndCompare(b.Net(), o, 19);
  // The Bottleneck keeps its single-layer branch: the downsample, not the c1-c2-c3 chain.
  Bottleneck n;
  const StreamSchedule single = ScheduleAuxLayers(n.b.Net(), IsConv);
  ASSERT_EQ(single.aux.size(), 1u);
  EXPECT_EQ(single.aux[0].layers, std::vector<int32_t>{4});
  // A layer whose output is a graph output never joins a chain: the first head (b1 -> b2, b2 a
  // graph output) is no chain, so the second head's chain goes beside it.
  //   0 f = Conv(x)  1 b1 = Conv(f)  2 b2 = Conv(b1)  3 c1 = Conv(f)  4 c2 = Conv(c1)
  //   5 cat = Concat(b2, c2)
  NetBuilder g;
  x = g.Input("x", kS);
  int32_t gw = g.Constant("gw", RandomTensor({kS[1], kS[1], 1, 1}, rng));
  f = g.Layer(OpType::kConv, {x, gw}, "f", kS);
  int32_t gb2 = g.Layer(OpType::kConv, {g.Layer(OpType::kConv, {f, gw}, "b1", kS), gw}, "b2", kS);
  int32_t gc2 = g.Layer(OpType::kConv, {g.Layer(OpType::kConv, {f, gw}, "c1", kS), gw}, "c2", kS);
  g.Output(gb2);
  g.Output(g.Layer(OpType::kConcat, {gb2, gc2}, "cat", {1, 2 * kS[1], kS[2], kS[3]}, axis));
  const StreamSchedule other = ScheduleAuxLayers(g.Net(), IsConv);
  ASSERT_EQ(other.aux.size(), 1u);
  EXPECT_EQ(other.aux[0].layers, (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(other.aux[0].fork_after, 0);
  EXPECT_EQ(other.aux[0].join_before, 5);
}

TEST(StreamSchedule, MalformedSpansAreRefused) {
  Bottleneck n;
  NetworkMemoryOptions o;
  o.layer_spans.resize(3);
  StatusOr<NetworkMemoryPlan> p = PlanNetworkMemory(n.b.Net(), o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("3 given for 8 layers"), std::string::npos) << p.status().ToString();
  o.layer_spans = ScheduleAuxLayers(n.b.Net(), IsConv).spans;
  o.layer_spans[3] = LayerSpan{4, 5};  // does not hold step 3
  p = PlanNetworkMemory(n.b.Net(), o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("of layer 3"), std::string::npos) << p.status().ToString();
  o.layer_spans[3] = LayerSpan{3, 8};  // past the last step
  EXPECT_FALSE(PlanNetworkMemory(n.b.Net(), o).ok());
}

}  // namespace
}  // namespace edgert
