// Deriving a batch profile (network.h's BatchProfile) from builds of one model at several batches.
//
// The builder builds the model once per batch in {min, opt, max} (plus a midpoint when fewer than
// three distinct batches are given) and hands the networks here. They must be the same network but
// for the batch: the same tensors (names, dtypes, constness), the same layers (names, ops, opsets,
// attributes, wiring) and the same graph inputs and outputs. A tensor whose shapes differ must
// differ only in dim 0, which must equal the build's batch in every build: it becomes a batch
// tensor. A constant whose values differ must be an int32/int64 tensor whose differing elements
// equal the build's batch in every build: each becomes a batch value. Anything else (a dim that is
// a multiple of the batch, a layer that only exists at batch 1, a float constant that depends on
// the batch) cannot be specialized by rewriting dim 0, and the error names the tensor or layer.
#pragma once

#include <cstdint>
#include <vector>

#include "edgert/network.h"
#include "edgert/status.h"

namespace edgert {

// `nets[k]` was built at batch `batches[k]` (distinct, at least two); `min`/`opt`/`max` are the
// profile's and `max` must be one of `batches`. Returns the network built at `max` with its
// profile filled in (and checked with ValidateBatchProfile).
StatusOr<NetworkDef> DeriveBatchProfile(std::vector<NetworkDef> nets, const std::vector<int64_t>& batches, int64_t min,
                                        int64_t opt, int64_t max);

}  // namespace edgert
