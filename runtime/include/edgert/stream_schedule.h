// Concurrent branches: which layers an engine may run on an auxiliary stream beside the main one.
//
// A layer goes to the auxiliary stream when it reads only tensors that earlier layers write (no
// graph input), writes one tensor that is not a graph output, and other work of the main stream
// lies between its inputs' last writer ("fork": the auxiliary stream waits for that layer) and
// its output's first reader ("join": the main stream waits for the layer there). ResNet's
// downsample convolutions are such layers: they run beside the block's first two convolutions.
// A branch may be a chain: after the first layer, each heavy layer that is the only reader of the
// chain's last output and reads no other tensor that is not a constant joins it (a detection
// head's convolutions beside the other head of the same scale); the join is then the first reader
// of the chain's last output, and the chain's layers run in order on the auxiliary stream.
// An auxiliary layer's inputs must come from main-stream layers, and its join layer must run on
// the main stream, so every wait is on an event recorded earlier in the host's enqueue order.
//
// The memory plan must know: spans[l] = [fork + 1, join] for every layer of a branch (its inputs
// stay live until the join, its output from just after the fork; NetworkMemoryOptions::
// layer_spans), [l, l] for the others.
//
// Thread rules: plain data, computed once per engine.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "edgert/memory_plan.h"
#include "edgert/network.h"

namespace edgert {

// One branch on the auxiliary stream.
struct AuxLayer {
  int32_t layer = -1;        // its first layer
  int32_t fork_after = -1;   // the last writer of its inputs (a main-stream layer)
  int32_t join_before = -1;  // the first reader of its output (a main-stream layer)
  std::vector<int32_t> layers;  // the branch in order: `layer`, then the rest of a chain
};

struct StreamSchedule {
  std::vector<AuxLayer> aux;  // by fork_after, then layer
  // Per layer, indices into `aux`: the branches that fork after it / join before it.
  std::vector<std::vector<int32_t>> forks_after;
  std::vector<std::vector<int32_t>> joins_before;
  std::vector<uint8_t> on_aux;   // per layer
  std::vector<LayerSpan> spans;  // per layer; empty when `aux` is
  bool empty() const { return aux.empty(); }
};

// `heavy(layer)`: whether a layer is worth a stream of its own (e.g. a convolution); only such
// layers go to the auxiliary stream, and only when a heavy main-stream layer runs between the
// fork and the join. Branches are taken in the order of their first layers, at most `max_aux`
// (< 0: no limit).
StreamSchedule ScheduleAuxLayers(const NetworkDef& net, const std::function<bool(const LayerDef&)>& heavy,
                                 int max_aux = -1);

}  // namespace edgert
