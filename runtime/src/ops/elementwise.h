// The elementwise family is split by arity; RegisterElementwiseOps (elementwise.cc) calls both.
#pragma once

#include "registry.h"

namespace edgert {
namespace ew {

// Activations, unary math, Not and Clip (elementwise_unary.cc).
void RegisterUnaryOps(OpRegistry& registry);
// Binary arithmetic, comparisons, logic, PRelu, variadic Min/Max/Sum/Mean and Where
// (elementwise_binary.cc).
void RegisterBinaryOps(OpRegistry& registry);

}  // namespace ew
}  // namespace edgert
