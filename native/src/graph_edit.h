// Edits of a built ggml graph that keep every tensor reading a node valid: a node takes another
// op's computation in place, and a graph is re-expanded so that nodes added for such rewrites
// come before their first reader. Used by the training graph's rewrites (forward_graph.h,
// backward_portable.h).
#pragma once

#include <cstddef>

#include "ggml.h"

// Makes `node` compute `value`, a tensor of its shape and type: node takes value's op,
// parameters and sources, and keeps its identity (name, flags, and every tensor that reads it).
// Returns false, leaving node as it was, when value is a view (node owns its memory), differs in
// shape or type, or node is not contiguous.
bool node_become(ggml_tensor * node, const ggml_tensor * value);

// A new graph in ctx of `size` nodes holding graph's nodes in their order, with each node that a
// rewrite added (not yet in graph) just before the first node that reads it.
ggml_cgraph * graph_expand_in_order(ggml_context * ctx, ggml_cgraph * graph, size_t size);
