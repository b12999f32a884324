#include "backward_portable.h"

#include <cfloat>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "graph_edit.h"

namespace {

// The most tensors one rewrite below creates: 15 (a repeat_back over all four dimensions;
// rms_norm_back: 13, the others 5 or 6, counting the softmax the loss and its gradient share).
constexpr size_t MAX_NEW_PER_NODE = 16;

bool rewritten(const ggml_tensor * node) {
    switch (node->op) {
        case GGML_OP_OUT_PROD:
        case GGML_OP_CROSS_ENTROPY_LOSS:
        case GGML_OP_CROSS_ENTROPY_LOSS_BACK:
        case GGML_OP_SOFT_MAX_BACK:
        case GGML_OP_RMS_NORM_BACK:
        case GGML_OP_GET_ROWS_BACK:
        case GGML_OP_REPEAT_BACK:
            return true;
        default:
            return false;
    }
}

// tᵀ, contiguous; reuses the tensor under a transpose view instead of copying it back.
ggml_tensor * transposed_contiguous(ggml_context * ctx, ggml_tensor * t) {
    if (t->op == GGML_OP_TRANSPOSE && ggml_is_contiguous(t->src[0])) return t->src[0];
    return ggml_cont(ctx, ggml_transpose(ctx, t));
}

struct rewriter {
    ggml_context * ctx;
    // softmax(logits), shared by the loss and its gradient (the forward pass has no such node).
    std::unordered_map<ggml_tensor *, ggml_tensor *> softmax_of;

    ggml_tensor * softmax(ggml_tensor * logits) {
        auto it = softmax_of.find(logits);
        if (it != softmax_of.end()) return it->second;
        return softmax_of[logits] = ggml_soft_max(ctx, logits);
    }

    // out_prod(a [n, k], b [m, k]) = [n, m] = mul_mat(aᵀ [k, n], bᵀ [k, m]); both broadcast a
    // over b's dims 2 and 3. GPU backends run OUT_PROD only on F32 contiguous inputs (Vulkan,
    // CUDA) or not at all (Metal); mul_mat runs everywhere.
    ggml_tensor * out_prod(ggml_tensor * node) {
        return ggml_mul_mat(ctx, transposed_contiguous(ctx, node->src[0]), transposed_contiguous(ctx, node->src[1]));
    }

    // cross_entropy_loss(a, b) = -(1/rows) Σ b · log softmax(a) over all rows. log(softmax)
    // instead of ggml-cpu's log-softmax differs by float rounding only; the clamp keeps a
    // probability that underflowed to 0 from giving 0 · -inf = NaN where the label is 0 (a
    // label > 0 on such a token would read log(FLT_MIN) = -87 instead of its true -88 or less).
    ggml_tensor * cross_entropy_loss(ggml_tensor * node) {
        ggml_tensor * a = node->src[0], * b = node->src[1];
        ggml_tensor * log_p = ggml_log(ctx, ggml_clamp(ctx, softmax(a), FLT_MIN, 1.0f));
        return ggml_scale(ctx, ggml_sum(ctx, ggml_mul(ctx, log_p, b)), -1.0f / (float) ggml_nrows(a));
    }

    // cross_entropy_loss_back(d, a, b) = (softmax(a) - b) · (d / rows), as ggml-cpu computes it
    // (d / rows divided, not multiplied by 1 / rows: the same bits).
    ggml_tensor * cross_entropy_loss_back(ggml_tensor * node) {
        ggml_tensor * d = node->src[0], * a = node->src[1], * b = node->src[2];
        ggml_tensor * d_by_rows = ggml_div(ctx, d, ggml_fill(ctx, d, (float) ggml_nrows(a)));
        return ggml_mul(ctx, ggml_sub(ctx, softmax(a), b), d_by_rows);
    }

    // soft_max_ext_back(dy, y; scale) = scale · y ⊙ (dy - Σ_row dy ⊙ y). ALiBi (max_bias > 0) is
    // not handled: ggml-cpu refuses it too.
    ggml_tensor * soft_max_back(ggml_tensor * node) {
        float scale = 1.0f, max_bias = 0.0f;
        memcpy(&scale, (const float *) node->op_params + 0, sizeof(float));
        memcpy(&max_bias, (const float *) node->op_params + 1, sizeof(float));
        if (max_bias != 0.0f) return nullptr;
        ggml_tensor * dy = node->src[0], * y = node->src[1];
        ggml_tensor * dot = ggml_sum_rows(ctx, ggml_mul(ctx, dy, y));
        return ggml_scale(ctx, ggml_mul(ctx, ggml_sub(ctx, dy, dot), y), scale);
    }

    // rms_norm_back(dz, x; eps), per row of n: with rrms = 1 / sqrt(Σx²/n + eps),
    // dx = (dz + x · (-Σ x·dz / (Σx² + n·eps))) · rrms, in ggml-cpu's order of operations.
    ggml_tensor * rms_norm_back(ggml_tensor * node) {
        float eps = 0.0f;
        memcpy(&eps, node->op_params, sizeof(float));
        ggml_tensor * dz = node->src[0], * x = node->src[1];
        const float n = (float) x->ne[0];
        ggml_tensor * sum_xx = ggml_sum_rows(ctx, ggml_sqr(ctx, x));
        ggml_tensor * sum_xdz = ggml_sum_rows(ctx, ggml_mul(ctx, x, dz));
        ggml_tensor * scale_x = ggml_div(ctx, sum_xdz, ggml_scale_bias(ctx, sum_xx, -1.0f, -eps * n));
        ggml_tensor * rms = ggml_sqrt(ctx, ggml_scale_bias(ctx, sum_xx, 1.0f / n, eps));
        ggml_tensor * rrms = ggml_div(ctx, ggml_fill(ctx, rms, 1.0f), rms);
        return ggml_mul(ctx, ggml_add(ctx, dz, ggml_mul(ctx, x, scale_x)), rrms);
    }

    // get_rows_back(d [n, k], rows [k]) into [n, m]: zeros with row rows[i] = d[i]. ggml-cpu adds
    // d[i] into its row, which is the same where the rows are distinct (the trainer's are
    // positions). The zeros repeat a filled scalar: FILL needs a source of the full shape.
    ggml_tensor * get_rows_back(ggml_tensor * node) {
        ggml_tensor * d = node->src[0], * rows = node->src[1];
        ggml_tensor * zero = ggml_fill(ctx, ggml_view_1d(ctx, d, 1, 0), 0.0f);
        ggml_tensor * zeros = ggml_repeat_4d(ctx, zero, node->ne[0], node->ne[1], node->ne[2], node->ne[3]);
        return ggml_cont(ctx, ggml_set_rows(ctx, zeros, d, rows));
    }

    // repeat_back(d) to node's shape: the sum over each dimension that the repeat spread from 1
    // (autodiff's gradient of a broadcast: a mul_mat's over grouped-query attention's heads).
    // sum_rows sums dimension 0; another dimension is swapped to 0 first. Tiled repeats (a
    // dimension > 1 repeated) do not occur in the trainer's graphs and are not handled.
    ggml_tensor * repeat_back(ggml_tensor * node) {
        ggml_tensor * x = node->src[0];
        bool summed_last = false;  // x is a sum_rows of node's shape: node can take its place
        for (int d = 0; d < GGML_MAX_DIMS; d++) {
            if (node->ne[d] == x->ne[d]) continue;
            if (node->ne[d] != 1) return nullptr;
            int axes[GGML_MAX_DIMS] = {0, 1, 2, 3};
            std::swap(axes[0], axes[d]);
            if (d > 0) x = ggml_permute(ctx, x, axes[0], axes[1], axes[2], axes[3]);
            if (!ggml_is_contiguous(x)) x = ggml_cont(ctx, x);
            x = ggml_sum_rows(ctx, x);
            summed_last = d == 0;
            if (d > 0) x = ggml_permute(ctx, x, axes[0], axes[1], axes[2], axes[3]);  // the swap undoes itself
        }
        return summed_last ? x : ggml_cont(ctx, x);
    }

    ggml_tensor * portable(ggml_tensor * node) {
        switch (node->op) {
            case GGML_OP_OUT_PROD:                return out_prod(node);
            case GGML_OP_CROSS_ENTROPY_LOSS:      return cross_entropy_loss(node);
            case GGML_OP_CROSS_ENTROPY_LOSS_BACK: return cross_entropy_loss_back(node);
            case GGML_OP_SOFT_MAX_BACK:           return soft_max_back(node);
            case GGML_OP_RMS_NORM_BACK:           return rms_norm_back(node);
            case GGML_OP_GET_ROWS_BACK:           return get_rows_back(node);
            case GGML_OP_REPEAT_BACK:             return repeat_back(node);
            default:                              return nullptr;
        }
    }
};

}  // namespace

size_t graph_portable_extra(ggml_cgraph * graph) {
    size_t n = 0;
    for (int i = 0; i < ggml_graph_n_nodes(graph); i++) {
        if (rewritten(ggml_graph_node(graph, i))) n++;
    }
    return n * MAX_NEW_PER_NODE;
}

ggml_cgraph * graph_portable(ggml_context * ctx, ggml_cgraph * graph, size_t size) {
    rewriter rw = {ctx, {}};
    for (int i = 0; i < ggml_graph_n_nodes(graph); i++) {
        ggml_tensor * node = ggml_graph_node(graph, i);
        if (!rewritten(node)) continue;
        // A context too small would abort in ggml; the node would then only run on the CPU.
        if (ggml_used_mem(ctx) + MAX_NEW_PER_NODE * ggml_tensor_overhead() > ggml_get_mem_size(ctx)) break;
        ggml_tensor * value = rw.portable(node);
        if (value != nullptr) node_become(node, value);
    }
    return graph_expand_in_order(ctx, graph, size);
}
