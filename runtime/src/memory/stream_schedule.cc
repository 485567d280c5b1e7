// ScheduleAuxLayers (contract in edgert/stream_schedule.h).
//
// For each heavy layer s in order: fork p = the last writer of its non-constant inputs (every one
// written by a main-stream layer), join J = the first reader of its one output (not a graph
// output). s goes to the auxiliary stream when a heavy main-stream layer m in (p, J) lies on a
// path from p to J (m depends on p's outputs and J depends on m's): m then runs while s does. A
// layer merely placed between p and J in the order (another branch) does not count: ResNet's
// second block convolution is not sent away just because the downsample convolution follows it.
// Two passes: the first takes single-layer branches (ResNet's downsample convolutions), the second
// chains among the layers left: before J is taken, the branch grows while its last output has
// exactly one reader, a later heavy layer with one output that reads no other non-constant tensor
// and whose output is read and is not a graph output (the main path check then skips every layer
// of the chain). A detection head whose layers feed each other has no single-layer branch; one of
// two heads of a scale becomes a chain beside the other.
#include "edgert/stream_schedule.h"

#include <algorithm>

namespace edgert {

StreamSchedule ScheduleAuxLayers(const NetworkDef& net, const std::function<bool(const LayerDef&)>& heavy,
                                 int max_aux) {
  const int32_t n_layers = static_cast<int32_t>(net.layers.size());
  const int32_t n_tensors = static_cast<int32_t>(net.tensors.size());
  StreamSchedule sched;
  std::vector<int32_t> writer(static_cast<size_t>(n_tensors), -1);
  std::vector<std::vector<int32_t>> readers(static_cast<size_t>(n_tensors));
  std::vector<uint8_t> is_output(static_cast<size_t>(n_tensors), 0);
  for (int32_t t : net.outputs) {
    if (t >= 0 && t < n_tensors) is_output[static_cast<size_t>(t)] = 1;
  }
  for (int32_t l = 0; l < n_layers; ++l) {
    for (int32_t t : net.layers[static_cast<size_t>(l)].inputs) {
      if (t < 0 || t >= n_tensors) continue;
      std::vector<int32_t>& r = readers[static_cast<size_t>(t)];
      if (r.empty() || r.back() != l) r.push_back(l);
    }
    for (int32_t t : net.layers[static_cast<size_t>(l)].outputs) {
      if (t >= 0 && t < n_tensors) writer[static_cast<size_t>(t)] = l;
    }
  }
  std::vector<uint8_t> on_aux(static_cast<size_t>(n_layers), 0);
  // Forks and joins of the branches taken so far: they must stay on the main stream.
  std::vector<uint8_t> fork_or_join(static_cast<size_t>(n_layers), 0);
  std::vector<uint8_t> from_fork, to_join;  // over the window (p, J], indexed l - p
  for (int pass = 0; pass < 2; ++pass) {
    const bool chains = pass == 1;
    for (int32_t s = 0; s < n_layers; ++s) {
      if (max_aux >= 0 && static_cast<int>(sched.aux.size()) >= max_aux) break;
      if (on_aux[static_cast<size_t>(s)]) continue;
      const LayerDef& layer = net.layers[static_cast<size_t>(s)];
      if (!heavy(layer) || layer.outputs.size() != 1) continue;
      int32_t fork = -1;
      bool ok = true;
      for (int32_t t : layer.inputs) {
        if (t < 0) continue;
        if (t >= n_tensors) {
          ok = false;
          break;
        }
        if (net.tensors[static_cast<size_t>(t)].is_constant()) continue;
        const int32_t w = writer[static_cast<size_t>(t)];
        if (w < 0 || w >= s || on_aux[static_cast<size_t>(w)]) {
          ok = false;
          break;
        }
        fork = std::max(fork, w);
      }
      int32_t out = layer.outputs[0];
      if (!ok || fork < 0 || out < 0 || out >= n_tensors || is_output[static_cast<size_t>(out)] ||
          readers[static_cast<size_t>(out)].empty()) {
        continue;
      }
      std::vector<int32_t> branch{s};
      while (chains && readers[static_cast<size_t>(out)].size() == 1) {
        const int32_t next = readers[static_cast<size_t>(out)].front();
        if (next <= branch.back() || on_aux[static_cast<size_t>(next)]) break;
        const LayerDef& nl = net.layers[static_cast<size_t>(next)];
        if (!heavy(nl) || nl.outputs.size() != 1) break;
        bool only_out = true;
        for (int32_t t : nl.inputs) {
          if (t < 0 || t == out) continue;
          if (t >= n_tensors || !net.tensors[static_cast<size_t>(t)].is_constant()) only_out = false;
        }
        const int32_t next_out = nl.outputs[0];
        if (!only_out || next_out < 0 || next_out >= n_tensors || is_output[static_cast<size_t>(next_out)] ||
            readers[static_cast<size_t>(next_out)].empty()) {
          break;
        }
        branch.push_back(next);
        out = next_out;
      }
      auto in_branch = [&](int32_t l) { return std::find(branch.begin(), branch.end(), l) != branch.end(); };
      const int32_t join = readers[static_cast<size_t>(out)].front();
      if (join <= branch.back() || (chains && branch.size() < 2) || on_aux[static_cast<size_t>(join)] ||
          std::any_of(branch.begin(), branch.end(), [&](int32_t l) { return fork_or_join[static_cast<size_t>(l)]; })) {
        continue;
      }
      // Paths fork -> m -> join through main-stream layers in the window.
      const size_t width = static_cast<size_t>(join - fork) + 1;
      from_fork.assign(width, 0);
      to_join.assign(width, 0);
      from_fork[0] = 1;
      for (int32_t l = fork + 1; l < join; ++l) {
        if (in_branch(l) || on_aux[static_cast<size_t>(l)]) continue;
        for (int32_t t : net.layers[static_cast<size_t>(l)].inputs) {
          if (t < 0 || t >= n_tensors) continue;
          const int32_t w = writer[static_cast<size_t>(t)];
          if (w >= fork && w < l && from_fork[static_cast<size_t>(w - fork)]) {
            from_fork[static_cast<size_t>(l - fork)] = 1;
            break;
          }
        }
      }
      to_join[width - 1] = 1;
      bool partner = false;
      for (int32_t l = join - 1; l > fork && !partner; --l) {
        if (in_branch(l) || on_aux[static_cast<size_t>(l)]) continue;
        for (int32_t t : net.layers[static_cast<size_t>(l)].outputs) {
          if (t < 0 || t >= n_tensors) continue;
          for (int32_t r : readers[static_cast<size_t>(t)]) {
            if (r > l && r <= join && to_join[static_cast<size_t>(r - fork)])
              to_join[static_cast<size_t>(l - fork)] = 1;
          }
        }
        partner = to_join[static_cast<size_t>(l - fork)] && from_fork[static_cast<size_t>(l - fork)] &&
                  heavy(net.layers[static_cast<size_t>(l)]);
      }
      if (!partner) continue;
      for (int32_t b : branch) on_aux[static_cast<size_t>(b)] = 1;
      fork_or_join[static_cast<size_t>(fork)] = fork_or_join[static_cast<size_t>(join)] = 1;
      sched.aux.push_back(AuxLayer{s, fork, join, std::move(branch)});
    }
  }
  if (sched.aux.empty()) return sched;
  std::stable_sort(sched.aux.begin(), sched.aux.end(), [](const AuxLayer& a, const AuxLayer& b) {
    return a.fork_after != b.fork_after ? a.fork_after < b.fork_after : a.layer < b.layer;
  });
  sched.forks_after.assign(static_cast<size_t>(n_layers), {});
  sched.joins_before.assign(static_cast<size_t>(n_layers), {});
  sched.spans.resize(static_cast<size_t>(n_layers));
  for (int32_t l = 0; l < n_layers; ++l) sched.spans[static_cast<size_t>(l)] = LayerSpan{l, l};
  for (size_t k = 0; k < sched.aux.size(); ++k) {
    const AuxLayer& a = sched.aux[k];
    sched.forks_after[static_cast<size_t>(a.fork_after)].push_back(static_cast<int32_t>(k));
    sched.joins_before[static_cast<size_t>(a.join_before)].push_back(static_cast<int32_t>(k));
    for (int32_t b : a.layers) sched.spans[static_cast<size_t>(b)] = LayerSpan{a.fork_after + 1, a.join_before};
  }
  sched.on_aux = std::move(on_aux);
  return sched;
}

}  // namespace edgert
