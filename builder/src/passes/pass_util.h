// Small IR utilities shared by the optimization passes.
//
// Contract: passes run on an inferred Graph (every value used by a live node has dtype and shape;
// build-time values carry `constant`). A pass removes nodes by marking them and calling
// RemoveNodes(), which rebuilds `graph.nodes` in the same (topological) order and refreshes every
// Value::producer. Graph input and output values are never renamed or removed: a rewrite that would
// have to change a graph output's value gives up instead (see Bypass).
#pragma once

#include <string>
#include <vector>

#include "edgert/status.h"
#include "ir/graph.h"

namespace edgert {

// For every value, the nodes that read it (each node once per value, in node order). Folded nodes
// are included; callers skip them where it matters.
std::vector<std::vector<int>> ConsumerMap(const Graph& graph);

bool IsGraphOutput(const Graph& graph, int value);
bool IsGraphInput(const Graph& graph, int value);

// Number of places reading `value`: node input slots plus graph outputs.
int UseCount(const Graph& graph, int value);

// Every node input slot reading `from` now reads `to`. Graph outputs are left alone.
void ReplaceAllUses(Graph& graph, int from, int to);

// Removes node `node`, whose output `out` equals its input `in`, from the dataflow: consumers of
// `out` read `in`. When `out` is a graph output, the producer of `in` writes `out` directly
// instead (only when `in` is read by nothing but `node` and is no graph input or output). Returns
// false, changing nothing, when neither is possible. The caller still removes `node`.
bool Bypass(Graph& graph, int node, int in, int out);

// Rebuilds graph.nodes without the nodes marked in `remove` (size == nodes.size()), keeping the
// order, and recomputes Value::producer (-1 for values no remaining node writes).
void RemoveNodes(Graph& graph, const std::vector<bool>& remove);

// Recomputes Value::producer from graph.nodes.
void RefreshProducers(Graph& graph);

// A value name not used in the graph yet: `base`, else `base_1`, `base_2`, ...
std::string UniqueValueName(const Graph& graph, const std::string& base);

// Adds a constant value (unique name derived from `base`) holding `tensor`.
int AddConstant(Graph& graph, const std::string& base, Tensor tensor);

// Adds an activation value (unique name derived from `base`) with the given type.
int AddValue(Graph& graph, const std::string& base, DataType dtype, const Shape& shape);

// A node for a known operator, not yet part of the graph.
Node MakeNode(OpType op, const std::string& name, int opset);

// Live (not folded) nodes: the layers LowerGraph would emit.
int CountLiveNodes(const Graph& graph);

// True when `value` is a float32 build-time constant.
bool IsFloatConstant(const Graph& graph, int value);

// A float32 copy of a float32 constant's elements.
std::vector<float> ConstantFloats(const Graph& graph, int value);

// Checks the graph after rewriting: nodes in topological order, every input defined, and every
// live node's support check and infer() reproduce the dtypes and shapes its outputs carry. Errors
// name the node and the pass (`pass`) that left it inconsistent.
Status VerifyGraph(const Graph& graph, const std::string& pass);

}  // namespace edgert
