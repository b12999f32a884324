// Fast backward pass through frozen quantized weights.
//
// ggml's autodiff turns y = W x into dx = out_prod(W, dy^T). For a quantized (or F16) W the CPU
// out_prod dequantizes every row of W once per token, so it costs tokens x |W| dequantizations:
// hundreds of times slower than the forward matmul on a 1B model. Instead we keep, per frozen
// matrix, a transposed copy Wt (Q8_0, or F16 where W is F16 or rows do not divide by 32) and
// rewrite each such out_prod node of the built backward graph into mul_mat(Wt, dy), which the
// CPU backend runs with its fast quantized kernels. Only gradients use Wt; the forward pass (and
// so every reported loss) still uses W exactly as llama.cpp does. F32 weights keep out_prod.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "ggml.h"
#include "ggml-backend.h"
#include "model_load.h"

struct transposed_weights {
    std::unordered_map<const ggml_tensor *, ggml_tensor *> by_weight;  // W -> Wt
    // Ownership: ctx holds the headers, buf the data.
    ggml_context *        ctx = nullptr;
    ggml_backend_buffer_t buf = nullptr;
    ggml_context *        repack_ctx = nullptr;  // repacked copies, when the backend offers them
    ggml_backend_buffer_t repack_buf = nullptr;
};

// Builds Wt for every frozen non-F32 matrix of the model (attention, FFN, output), quantized to
// `type` (GGML_TYPE_Q8_0, or GGML_TYPE_Q4_0: coarser gradients, but on x86 the CPU backend
// repacks Q4_0 for its fastest GEMM, which the copies then use when `backend` offers it; null
// `backend`: no repacking, for copies that will move to a GPU).
// The caller owns the result (transposed_weights_free). Throws trainer_error(out-of-memory).
transposed_weights * transposed_weights_build(const base_model & model, ggml_type type, ggml_backend_t backend, int32_t n_threads);
void                 transposed_weights_free(transposed_weights * tw);

// Rewrites out_prod(W, transpose(dy)) nodes of a backward graph into mul_mat(Wt, dy), for each
// W -> Wt in `transposed` (transposed_weights::by_weight, or train_rewrites::transposed).
// Call after ggml_build_backward_expand and before allocating the graph. Returns the count.
int32_t graph_backward_patch(ggml_cgraph * graph, const std::unordered_map<const ggml_tensor *, ggml_tensor *> & transposed);

