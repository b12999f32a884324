#include "weights_repack.h"

#include <memory>
#include <vector>

#include "trainer_error.h"

std::vector<ggml_backend_buffer_type_t> weights_extra_bufts(ggml_backend_dev_t dev) {
    std::vector<ggml_backend_buffer_type_t> bufts;
    if (dev == nullptr) return bufts;
    auto get_extra_bufts = (ggml_backend_dev_get_extra_bufts_t) ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(dev), "ggml_backend_dev_get_extra_bufts");
    if (get_extra_bufts == nullptr) return bufts;
    for (ggml_backend_buffer_type_t * p = get_extra_bufts(dev); p != nullptr && *p != nullptr; p++) bufts.push_back(*p);
    return bufts;
}

bool weights_buft_supports_matmul(ggml_backend_dev_t dev, ggml_backend_buffer_type_t buft, const ggml_tensor * w) {
    ggml_init_params params = {/*mem_size =*/ ggml_tensor_overhead() * 8, nullptr, /*no_alloc =*/ true};
    std::unique_ptr<ggml_context, void (*)(ggml_context *)> ctx(ggml_init(params), ggml_free);
    if (!ctx) return false;
    ggml_tensor * w_probe = ggml_dup_tensor(ctx.get(), w);
    ggml_tensor * b = ggml_new_tensor_4d(ctx.get(), GGML_TYPE_F32, w->ne[0], 512, w->ne[2], w->ne[3]);
    ggml_tensor * op = ggml_mul_mat(ctx.get(), w_probe, b);
    w_probe->buffer = ggml_backend_buft_alloc_buffer(buft, 0);
    const bool supported = w_probe->buffer != nullptr && ggml_backend_dev_supports_op(dev, op);
    if (w_probe->buffer) ggml_backend_buffer_free(w_probe->buffer);
    return supported;
}

int32_t weights_repack(base_model & model, ggml_backend_t backend) {
    ggml_backend_dev_t dev = ggml_backend_get_device(backend);
    const std::vector<ggml_backend_buffer_type_t> bufts = weights_extra_bufts(dev);
    if (bufts.empty()) return 0;

    const std::vector<ggml_tensor *> weights = base_model_matrices(model);

    // Decide the buffer type of each matrix, then allocate one buffer per type.
    std::vector<std::pair<ggml_tensor *, size_t>> chosen;  // weight, index into bufts
    for (ggml_tensor * w : weights) {
        if (w->type == GGML_TYPE_F32 || model.repacked.count(w)) continue;
        for (size_t i = 0; i < bufts.size(); i++) {
            if (weights_buft_supports_matmul(dev, bufts[i], w)) {
                chosen.emplace_back(w, i);
                model.repacked[w] = nullptr;
                break;
            }
        }
    }
    if (chosen.empty()) return 0;
    // One context per buffer type, as ggml_backend_alloc_ctx_tensors_from_buft wants; with a
    // single extra type (the usual case) this is one allocation.
    for (size_t i = 0; i < bufts.size(); i++) {
        ggml_init_params sub = {/*mem_size =*/ (chosen.size() + 1) * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true};
        ggml_context * ctx = ggml_init(sub);
        if (ctx == nullptr) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory for the repacked weights.");
        std::vector<std::pair<ggml_tensor *, ggml_tensor *>> pairs;
        for (auto [w, index] : chosen) {
            if (index != i) continue;
            ggml_tensor * r = ggml_dup_tensor(ctx, w);
            ggml_set_name(r, w->name);
            pairs.emplace_back(w, r);
        }
        if (pairs.empty()) {
            ggml_free(ctx);
            continue;
        }
        ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(ctx, bufts[i]);
        if (buf == nullptr) {
            ggml_free(ctx);
            throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory for the repacked weights.");
        }
        model.repack_bufs.push_back(buf);
        model.repack_ctxs.push_back(ctx);
        for (auto [w, r] : pairs) {
            ggml_backend_tensor_set(r, w->data, 0, ggml_nbytes(w));  // repacks on the way in
            model.repacked[w] = r;
            base_model_release_pages(model, w);
        }
    }
    return (int32_t) chosen.size();
}
