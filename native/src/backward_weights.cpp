#include "backward_weights.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include "trainer_error.h"
#include "weights_repack.h"

namespace {

// Rows of W handled together: one Q8_0 block of Wt spans 32 consecutive rows of W.
constexpr int64_t SLAB = 32;

ggml_type transposed_type(const ggml_tensor * w, ggml_type wanted) {
    const int64_t n_out = w->ne[1];
    if (w->type == GGML_TYPE_F16 || n_out % SLAB != 0) return GGML_TYPE_F16;
    return wanted;
}

// Moves the copies into the backend's first extra (repack) buffer type that takes them all.
void transposed_weights_repack(transposed_weights & tw, ggml_backend_t backend) {
    ggml_backend_dev_t dev = backend ? ggml_backend_get_device(backend) : nullptr;
    for (ggml_backend_buffer_type_t extra : weights_extra_bufts(dev)) {
        bool all = true;
        for (ggml_tensor * t = ggml_get_first_tensor(tw.ctx); t != nullptr && all; t = ggml_get_next_tensor(tw.ctx, t)) all = weights_buft_supports_matmul(dev, extra, t);
        if (!all) continue;
        ggml_init_params params = {/*mem_size =*/ (tw.by_weight.size() + 1) * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true};
        tw.repack_ctx = ggml_init(params);
        if (tw.repack_ctx == nullptr) return;
        std::unordered_map<const ggml_tensor *, ggml_tensor *> moved;
        for (ggml_tensor * t = ggml_get_first_tensor(tw.ctx); t != nullptr; t = ggml_get_next_tensor(tw.ctx, t)) moved[t] = ggml_dup_tensor(tw.repack_ctx, t);
        tw.repack_buf = ggml_backend_alloc_ctx_tensors_from_buft(tw.repack_ctx, extra);
        if (tw.repack_buf == nullptr) {
            ggml_free(tw.repack_ctx);
            tw.repack_ctx = nullptr;
            return;  // not fatal: the standard layout works, only slower
        }
        for (auto & [src, dst] : moved) ggml_backend_tensor_set(dst, src->data, 0, ggml_nbytes(src));
        for (auto & entry : tw.by_weight) entry.second = moved.at(entry.second);
        ggml_backend_buffer_free(tw.buf);
        tw.buf = nullptr;
        return;
    }
}

// Fills wt (shape [n_out, n_in]) from w (shape [n_in, n_out]) for the slabs [s0, s1).
void transpose_slabs(const ggml_tensor * w, ggml_tensor * wt, int64_t s0, int64_t s1) {
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    const ggml_to_float_t to_float = ggml_get_type_traits(w->type)->to_float;
    std::vector<float> rows((size_t) (SLAB * n_in));      // SLAB rows of W, dequantized
    std::vector<float> cols((size_t) (n_in * SLAB));      // the same values, column-major
    for (int64_t s = s0; s < s1; s++) {
        const int64_t j0 = s * SLAB;
        const int64_t nj = std::min(SLAB, n_out - j0);
        for (int64_t j = 0; j < nj; j++) {
            const char * src = (const char *) w->data + (size_t) (j0 + j) * w->nb[1];
            if (w->type == GGML_TYPE_F32) memcpy(&rows[(size_t) (j * n_in)], src, (size_t) n_in * sizeof(float));
            else to_float(src, &rows[(size_t) (j * n_in)], n_in);
        }
        if (wt->type != GGML_TYPE_F16) {
            // Row i of the slab's transpose is exactly block s of Wt's row i (32-wide blocks).
            for (int64_t i = 0; i < n_in; i++) {
                for (int64_t j = 0; j < SLAB; j++) cols[(size_t) (i * SLAB + j)] = rows[(size_t) (j * n_in + i)];
            }
            const size_t block_size = ggml_type_size(wt->type);
            std::vector<uint8_t> blocks((size_t) n_in * block_size);
            ggml_quantize_chunk(wt->type, cols.data(), blocks.data(), 0, n_in, SLAB, nullptr);
            for (int64_t i = 0; i < n_in; i++) {
                memcpy((char *) wt->data + (size_t) i * wt->nb[1] + (size_t) s * block_size, &blocks[(size_t) i * block_size], block_size);
            }
        } else {
            for (int64_t i = 0; i < n_in; i++) {
                ggml_fp16_t * dst = (ggml_fp16_t *) ((char *) wt->data + (size_t) i * wt->nb[1]) + j0;
                for (int64_t j = 0; j < nj; j++) dst[j] = ggml_fp32_to_fp16(rows[(size_t) (j * n_in + i)]);
            }
        }
    }
}

}  // namespace

transposed_weights * transposed_weights_build(const base_model & model, ggml_type type, ggml_backend_t backend, int32_t n_threads) {
    std::unique_ptr<transposed_weights, void (*)(transposed_weights *)> tw(new transposed_weights(), transposed_weights_free);
    std::vector<ggml_tensor *> weights = base_model_matrices(model);
    weights.erase(std::remove_if(weights.begin(), weights.end(), [](const ggml_tensor * w) { return w->type == GGML_TYPE_F32; }), weights.end());
    if (weights.empty()) return tw.release();

    ggml_init_params params = {/*mem_size =*/ (weights.size() + 1) * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true};
    tw->ctx = ggml_init(params);
    if (tw->ctx == nullptr) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory for the backward weights.");
    for (const ggml_tensor * w : weights) {
        if (tw->by_weight.count(w)) continue;  // a tied output is token_embd, listed once
        ggml_tensor * wt = ggml_new_tensor_2d(tw->ctx, transposed_type(w, type), w->ne[1], w->ne[0]);
        tw->by_weight[w] = wt;
    }
    tw->buf = ggml_backend_alloc_ctx_tensors_from_buft(tw->ctx, ggml_backend_cpu_buffer_type());
    if (tw->buf == nullptr) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory for the backward weights.");

    const int32_t n_workers = std::max(1, n_threads);
    std::unordered_set<const ggml_tensor *> done;
    for (const ggml_tensor * w : weights) {
        if (!done.insert(w).second) continue;
        ggml_tensor * wt = tw->by_weight.at(w);
        const int64_t n_slabs = (w->ne[1] + SLAB - 1) / SLAB;
        std::vector<std::thread> workers;
        for (int32_t t = 0; t < n_workers; t++) {
            const int64_t s0 = n_slabs * t / n_workers, s1 = n_slabs * (t + 1) / n_workers;
            workers.emplace_back(transpose_slabs, w, wt, s0, s1);
        }
        for (std::thread & worker : workers) worker.join();
        base_model_release_pages(model, w);  // faults back in if ever read again (get_rows, exact backward)
    }
    transposed_weights_repack(*tw, backend);
    // The repacked model copies map to Wt too (after the repack, so to the final tensors).
    for (const ggml_tensor * w : weights) {
        auto r = model.repacked.find(w);
        if (r != model.repacked.end() && r->second != nullptr) tw->by_weight[r->second] = tw->by_weight.at(w);
    }
    return tw.release();
}

void transposed_weights_free(transposed_weights * tw) {
    if (tw == nullptr) return;
    if (tw->repack_buf) ggml_backend_buffer_free(tw->repack_buf);
    if (tw->repack_ctx) ggml_free(tw->repack_ctx);
    if (tw->buf) ggml_backend_buffer_free(tw->buf);
    if (tw->ctx) ggml_free(tw->ctx);
    delete tw;
}

int32_t graph_backward_patch(ggml_cgraph * graph, const std::unordered_map<const ggml_tensor *, ggml_tensor *> & transposed) {
    int32_t n_patched = 0;
    for (int i = 0; i < ggml_graph_n_nodes(graph); i++) {
        ggml_tensor * node = ggml_graph_node(graph, i);
        if (node->op != GGML_OP_OUT_PROD || node->src[1] == nullptr || node->src[1]->op != GGML_OP_TRANSPOSE) continue;
        auto it = transposed.find(node->src[0]);
        if (it == transposed.end()) continue;
        ggml_tensor * wt = it->second;
        ggml_tensor * dy = node->src[1]->src[0];
        // out_prod(W [n_in, n_out], dy^T [T, n_out]) and mul_mat(Wt [n_out, n_in], dy [n_out, T])
        // both give dx [n_in, T]; check the shapes before touching the node.
        if (dy->ne[0] != wt->ne[0] || node->ne[0] != wt->ne[1] || node->ne[1] != dy->ne[1] || dy->ne[2] != 1 || dy->ne[3] != 1) continue;
        node->op = GGML_OP_MUL_MAT;
        memset(node->op_params, 0, sizeof(node->op_params));
        node->src[0] = wt;
        node->src[1] = dy;
        n_patched++;
    }
    return n_patched;
}
