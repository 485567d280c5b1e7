// Checks shared by the engines of every backend.
#pragma once

#include "edgert/network.h"
#include "edgert/status.h"

namespace edgert {

// Every tensor index of `net` in range, and no layer writing a constant (kCorrupt otherwise).
Status CheckNetworkIndices(const NetworkDef& net);

}  // namespace edgert
