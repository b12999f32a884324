// The training graph in ops that every GPU backend runs (CUDA, Vulkan, Metal), for training on a
// device with the whole step in one split.
//
// ggml's autodiff writes the backward pass with ops that some GPU backends lack: OUT_PROD
// (Vulkan and CUDA take only contiguous F32 operands, Metal none), REPEAT_BACK, RMS_NORM_BACK,
// SOFT_MAX_BACK and GET_ROWS_BACK (Metal), and the loss CROSS_ENTROPY_LOSS(_BACK) (Metal). Each
// such node that the built graph holds is rewritten in place into ops that all three have
// (mul_mat, sum_rows, mul, div, soft_max, set_rows, ...), computing the same values: the node
// keeps its identity, so every use of it, the loss and the gradient accumulators stay as they
// are. On the CPU, where both forms exist, the rewritten graph gives the default graph's losses
// and gradients (test/native/trainerDevices.test.ts).
#pragma once

#include <cstddef>

#include "ggml.h"

// Tensors graph_portable creates for `graph` at most: the context it is given needs room for
// that many more tensor headers and for a graph of ggml_graph_size(graph) + that many nodes.
size_t graph_portable_extra(ggml_cgraph * graph);

// Rewrites the nodes of a built backward graph (after ggml_build_backward_expand and the
// rewrites of backward_weights.h and exact_values_apply) into portable ops, and returns a new
// graph (in ctx, of `size` nodes) that holds the inserted nodes in order before their users.
// Assumes what the trainer's graph guarantees: GET_ROWS_BACK's rows are distinct (positions),
// and soft_max has no ALiBi bias (max_bias 0); a node outside those cases is left as it is.
ggml_cgraph * graph_portable(ggml_context * ctx, ggml_cgraph * graph, size_t size);
