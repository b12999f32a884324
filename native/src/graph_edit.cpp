#include "graph_edit.h"

#include <cstring>

bool node_become(ggml_tensor * node, const ggml_tensor * value) {
    if (value->view_src != nullptr || value->type != node->type || !ggml_are_same_shape(node, value) || !ggml_is_contiguous(node)) return false;
    node->op = value->op;
    memcpy(node->op_params, value->op_params, sizeof(node->op_params));
    for (int i = 0; i < GGML_MAX_SRC; i++) node->src[i] = value->src[i];
    return true;
}

ggml_cgraph * graph_expand_in_order(ggml_context * ctx, ggml_cgraph * graph, size_t size) {
    ggml_cgraph * out = ggml_new_graph_custom(ctx, size, false);
    // ggml_build_forward_expand visits a node's sources first, so expanding node by node in the
    // old order keeps it and places each new node before its first reader.
    for (int i = 0; i < ggml_graph_n_nodes(graph); i++) ggml_build_forward_expand(out, ggml_graph_node(graph, i));
    return out;
}
