#include "forward_copies.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "trainer_error.h"
#include "weights_repack.h"

namespace {

// Fills dst (Q8_0, n_rows rows of w->ne[0]) with rows [r0, r1) of w.
void requantize_rows(const ggml_tensor * w, uint8_t * dst, int64_t r0, int64_t r1) {
    const int64_t n_in = w->ne[0];
    const ggml_to_float_t to_float = ggml_get_type_traits(w->type)->to_float;
    std::vector<float> row((size_t) n_in);
    const size_t out_row = ggml_row_size(GGML_TYPE_Q8_0, n_in);
    for (int64_t r = r0; r < r1; r++) {
        to_float((const char *) w->data + (size_t) r * w->nb[1], row.data(), n_in);
        ggml_quantize_chunk(GGML_TYPE_Q8_0, row.data(), dst + (size_t) r * out_row, 0, 1, n_in, nullptr);
    }
}

}  // namespace

bool forward_copy_wanted(ggml_type type) {
    switch (type) {
        case GGML_TYPE_Q2_K:
        case GGML_TYPE_Q3_K:
        case GGML_TYPE_Q5_K:
        case GGML_TYPE_Q6_K:
            return true;
        default:
            return false;
    }
}

forward_copies * forward_copies_build(const base_model & model, ggml_backend_t cpu, int32_t n_threads) {
    std::unique_ptr<forward_copies, void (*)(forward_copies *)> copies(new forward_copies(), forward_copies_free);
    std::vector<ggml_tensor *> weights = base_model_matrices(model);
    weights.erase(std::remove_if(weights.begin(), weights.end(), [](const ggml_tensor * w) { return !forward_copy_wanted(w->type) || w->ne[0] % 32 != 0; }), weights.end());
    if (weights.empty()) return copies.release();

    ggml_backend_dev_t dev = ggml_backend_get_device(cpu);
    const std::vector<ggml_backend_buffer_type_t> extras = weights_extra_bufts(dev);
    const int32_t n_workers = std::max(1, n_threads);
    for (const ggml_tensor * w : weights) {
        if (copies->by_weight.count(w)) continue;  // a tied output is token_embd, listed once
        ggml_init_params params = {/*mem_size =*/ 2 * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true};
        ggml_context * ctx = ggml_init(params);
        if (ctx == nullptr) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory for the forward copies.");
        copies->ctxs.push_back(ctx);
        ggml_tensor * copy = ggml_new_tensor_2d(ctx, GGML_TYPE_Q8_0, w->ne[0], w->ne[1]);
        ggml_set_name(copy, w->name);
        ggml_backend_buffer_type_t buft = ggml_backend_cpu_buffer_type();
        for (ggml_backend_buffer_type_t extra : extras) {
            if (weights_buft_supports_matmul(dev, extra, copy)) {
                buft = extra;
                break;
            }
        }
        ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(ctx, buft);
        if (buf == nullptr) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory for the forward copies.");
        copies->bufs.push_back(buf);

        std::vector<uint8_t> data(ggml_nbytes(copy));
        std::vector<std::thread> workers;
        for (int32_t t = 0; t < n_workers; t++) {
            const int64_t r0 = w->ne[1] * t / n_workers, r1 = w->ne[1] * (t + 1) / n_workers;
            workers.emplace_back(requantize_rows, w, data.data(), r0, r1);
        }
        for (std::thread & worker : workers) worker.join();
        ggml_backend_tensor_set(copy, data.data(), 0, data.size());  // repacks on the way in
        copies->by_weight[w] = copy;
        base_model_release_pages(model, w);  // faults back in when evaluation reads it
    }
    return copies.release();
}

void forward_copies_free(forward_copies * copies) {
    if (copies == nullptr) return;
    for (ggml_backend_buffer_t b : copies->bufs) ggml_backend_buffer_free(b);
    for (ggml_context * c : copies->ctxs) ggml_free(c);
    delete copies;
}
