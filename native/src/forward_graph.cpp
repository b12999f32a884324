#include "forward_graph.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backward_weights.h"
#include "ggml-backend.h"
#include "graph_edit.h"
#include "trainer_error.h"

namespace {

// llama.cpp pads its KV cache view to a multiple of 256 cells (llama_kv_cache::get_n_kv).
constexpr int64_t KV_CACHE_PAD = 256;

// Constants of GELU's tanh form, as ggml_gelu_f32 has them.
constexpr float GELU_COEF_A    = 0.044715f;
constexpr float SQRT_2_OVER_PI = 0.79788456080286535587989211986876f;

struct graph_builder {
    ggml_context *                   ctx;
    const base_model &               model;
    const std::vector<adapter_ref> & adapters;
    const forward_params &           params;
    train_rewrites *                 rewrites;

    // The matrix a forward product multiplies by: a forward copy, the repacked copy, or w.
    ggml_tensor * matmul_weight(ggml_tensor * w) const {
        if (params.copies != nullptr) {
            auto it = params.copies->find(w);
            if (it != params.copies->end()) return it->second;
        }
        return model.matmul_weight(w, params.use_repacked);
    }

    // build_norm(LLM_NORM_RMS): rms_norm then multiply by the weight.
    ggml_tensor * norm_rms(ggml_tensor * cur, ggml_tensor * weight) const {
        cur = ggml_rms_norm(ctx, cur, model.hp.rms_eps);
        return ggml_mul(ctx, cur, weight);
    }

    // build_lora_mm: W x, then + s * B (A x) for every adapter that adapts W, in adapter order.
    ggml_tensor * lora_mm(uint32_t il, ggml_tensor * w, ggml_tensor * cur) const {
        ggml_tensor * res = ggml_mul_mat(ctx, matmul_weight(w), cur);
        for (const adapter_ref & ref : adapters) {
            const lora_weight * lw = ref.adapter->weight_find(il, w);
            if (lw == nullptr) continue;
            const float scale = lora_weight_scale(*lw, ref.adapter->alpha, ref.scale);
            ggml_tensor * ab = params.lora_train_form ? lora_ab_train(*lw, cur, scale)
                                                      : ggml_scale(ctx, ggml_mul_mat(ctx, lw->b, ggml_mul_mat(ctx, lw->a, cur)), scale);
            res = ggml_add(ctx, res, ab);
        }
        return res;
    }

    // B (A x) for training. Its natural form, mul_mat(B, mul_mat(A, x)), contracts over the
    // rank in the second product, and ggml's autodiff turns that product into out_prods whose
    // inner loops are rank long with strided reads, beside a forward pass of rank-long dot
    // products. So autodiff differentiates the natural form, and then (train_rewrites_apply) its
    // value comes from out_prod(B^T, (A x)^T), which streams over `out`, and the backward
    // product with B from mul_mat(B^T, dy), which contracts over `out`: B^T [out, r] and
    // (A x)^T [T, r] are small copies. B's own gradient is rewritten too (rank_factors). The
    // scale multiplies A x [r, T] rather than the product [out, T]: the same value (exactly for
    // a power-of-two alpha / r) without two passes (forward, backward) over out x T numbers.
    ggml_tensor * lora_ab_train(const lora_weight & lw, ggml_tensor * cur, float scale) const {
        ggml_tensor * ax = ggml_scale(ctx, ggml_mul_mat(ctx, lw.a, cur), scale);  // [r, T]
        ggml_tensor * bax = ggml_mul_mat(ctx, lw.b, ax);                         // [out, T]
        if (rewrites == nullptr || cur->ne[2] != 1) return bax;
        rewrites->rank_factors.insert(ax);
        ggml_tensor * b_t = ggml_cont(ctx, ggml_transpose(ctx, lw.b));
        ggml_tensor * ax_t = ggml_cont(ctx, ggml_transpose(ctx, ax));
        rewrites->operands.push_back(b_t);
        rewrites->operands.push_back(ax_t);
        rewrites->values.push_back({bax, ggml_out_prod(ctx, b_t, ax_t)});
        rewrites->transposed[lw.b] = b_t;
        return bax;
    }

    // RoPE with the layer's base and scale (sliding-window layers have their own).
    ggml_tensor * rope(ggml_tensor * cur, ggml_tensor * pos, bool swa) const {
        const model_hparams & hp = model.hp;
        return ggml_rope_ext(ctx, cur, pos, model.rope_freqs, (int) hp.n_rot, hp.rope_mode, (int) hp.n_ctx_orig,
                             swa ? hp.rope_freq_base_swa : hp.rope_freq_base, swa ? hp.rope_freq_scale_swa : hp.rope_freq_scale,
                             hp.yarn_ext_factor, hp.yarn_attn_factor, hp.yarn_beta_fast, hp.yarn_beta_slow);
    }

    // build_ffn's gated activation: SwiGLU (LLM_FFN_SILU) for the llama family, GEGLU
    // (LLM_FFN_GELU, tanh form) for gemma3, both LLM_FFN_PAR: act(gate) * up.
    ggml_tensor * ffn_act(ggml_tensor * gate, ggml_tensor * up) const {
        if (model.arch != MODEL_ARCH_GEMMA3) return ggml_swiglu_split(ctx, gate, up);
        ggml_tensor * exact = ggml_geglu_split(ctx, gate, up);
        if (rewrites == nullptr) return exact;
        ggml_tensor * node = ggml_mul(ctx, gelu_differentiable(gate), up);
        rewrites->values.push_back({node, exact});
        return node;
    }

    // gelu(x) = 0.5 x (1 + tanh(u / 2)) = x sigmoid(u) with u = 2 sqrt(2/pi) x (1 + a x^2),
    // written as silu(u) / (2 sqrt(2/pi) (1 + a x^2)) because silu, mul, div, sqr and scale
    // are ops ggml can differentiate (the denominator is >= 2 sqrt(2/pi), never 0).
    ggml_tensor * gelu_differentiable(ggml_tensor * x) const {
        ggml_tensor * p = ggml_scale_bias(ctx, ggml_sqr(ctx, x), GELU_COEF_A, 1.0f);  // 1 + a x^2
        ggml_tensor * u = ggml_scale(ctx, ggml_mul(ctx, x, p), 2.0f * SQRT_2_OVER_PI);
        return ggml_div(ctx, ggml_silu(ctx, u), ggml_scale(ctx, p, 2.0f * SQRT_2_OVER_PI));
    }
};

}  // namespace

size_t forward_graph_size(const base_model & model, const std::vector<adapter_ref> & adapters, bool backward) {
    // Forward nodes per layer: ~100 for the block itself, and for each adapter the LoRA terms of
    // at most 7 matrices (about 4 nodes each, 11 in the training form). The backward pass adds
    // at most about three times as many. Generous, because an undersized graph is a GGML_ASSERT.
    const size_t per_layer = 100 + adapters.size() * 7 * 16;
    const size_t forward = 4096 + (size_t) model.hp.n_layer * per_layer;
    return backward ? 4 * forward : forward;
}

ggml_tensor * forward_graph_build(ggml_context * ctx, const base_model & model, const std::vector<adapter_ref> & adapters,
                                  const forward_params & params, forward_inputs & inputs, train_rewrites * rewrites) {
    const model_hparams & hp = model.hp;
    const int64_t n_tokens = params.n_tokens;
    const int64_t n_kv = params.kv_cache_layout ? GGML_PAD(n_tokens, KV_CACHE_PAD) : n_tokens;
    const int64_t n_head = hp.n_head, n_head_kv = hp.n_head_kv, n_embd_head = hp.n_embd_head;
    graph_builder gb = {ctx, model, adapters, params, rewrites};

    inputs.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens);
    ggml_set_input(inputs.tokens);
    inputs.pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens);
    ggml_set_input(inputs.pos);
    // One mask per kind of layer present (an input left out of the graph has no memory).
    const uint32_t n_layer_swa = (uint32_t) std::count(hp.is_swa.begin(), hp.is_swa.end(), (uint8_t) 1);
    if (n_layer_swa < hp.n_layer) {
        inputs.mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_kv, n_tokens);
        ggml_set_input(inputs.mask);
    }
    if (n_layer_swa > 0) {
        inputs.mask_swa = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_kv, n_tokens);
        ggml_set_input(inputs.mask_swa);
        inputs.n_swa = hp.n_swa;
    }

    // build_inp_embd: row lookup; gemma3 then scales by sqrt(n_embd).
    ggml_tensor * inpL = ggml_get_rows(ctx, model.tok_embd, inputs.tokens);
    if (hp.embd_scale != 0.0f) inpL = ggml_scale(ctx, inpL, hp.embd_scale);

    for (uint32_t il = 0; il < hp.n_layer; il++) {
        const layer_weights & l = model.layers[il];
        const bool swa = !hp.is_swa.empty() && hp.is_swa[il] != 0;
        ggml_tensor * inpSA = inpL;
        ggml_tensor * cur = gb.norm_rms(inpL, l.attn_norm);

        // build_qkv: separate projections, optional biases (qwen2), reshape to heads.
        ggml_tensor * Qcur = gb.lora_mm(il, l.wq, cur);
        if (l.bq) Qcur = ggml_add(ctx, Qcur, l.bq);
        ggml_tensor * Kcur = gb.lora_mm(il, l.wk, cur);
        if (l.bk) Kcur = ggml_add(ctx, Kcur, l.bk);
        ggml_tensor * Vcur = gb.lora_mm(il, l.wv, cur);
        if (l.bv) Vcur = ggml_add(ctx, Vcur, l.bv);
        Qcur = ggml_reshape_3d(ctx, Qcur, n_embd_head, n_head, n_tokens);
        Kcur = ggml_reshape_3d(ctx, Kcur, n_embd_head, n_head_kv, n_tokens);
        Vcur = ggml_reshape_3d(ctx, Vcur, n_embd_head, n_head_kv, n_tokens);

        // qwen3 and gemma3 normalize each head of q and k before RoPE.
        if (l.q_norm) Qcur = gb.norm_rms(Qcur, l.q_norm);
        if (l.k_norm) Kcur = gb.norm_rms(Kcur, l.k_norm);
        Qcur = gb.rope(Qcur, inputs.pos, swa);
        Kcur = gb.rope(Kcur, inputs.pos, swa);
        // gemma3 scales q here and softmaxes with scale 1; the others scale inside the softmax.
        // The training graph folds gemma3's scale into the softmax too (the same product up to
        // rounding): ggml's backward of a scale needs a contiguous gradient, and q's is permuted.
        float kq_scale = hp.kq_scale;
        if (hp.q_scale != 0.0f) {
            if (params.lora_train_form) kq_scale *= hp.q_scale;
            else Qcur = ggml_scale(ctx, Qcur, hp.q_scale);
        }

        // build_attn_mha without flash attention. GQA: mul_mat broadcasts the n_head_kv
        // heads of k and v over the n_head heads of q.
        ggml_tensor * q = ggml_permute(ctx, Qcur, 0, 2, 1, 3);  // [d, T, H]
        ggml_tensor * k = nullptr;                               // [d, T_kv, Hkv]
        ggml_tensor * v = nullptr;                               // [T_kv, d, Hkv] (transposed, as the KV cache holds it)
        if (params.kv_cache_layout) {
            if (n_kv > n_tokens) {  // empty cells: zero K and V, masked out
                Kcur = ggml_pad(ctx, Kcur, 0, 0, (int) (n_kv - n_tokens), 0);
                Vcur = ggml_pad(ctx, Vcur, 0, 0, (int) (n_kv - n_tokens), 0);
            }
            k = ggml_permute(ctx, ggml_cast(ctx, Kcur, GGML_TYPE_F16), 0, 2, 1, 3);
            v = ggml_cast(ctx, ggml_cont(ctx, ggml_permute(ctx, Vcur, 1, 2, 0, 3)), GGML_TYPE_F16);
        } else {
            k = ggml_permute(ctx, Kcur, 0, 2, 1, 3);
            v = ggml_cont(ctx, ggml_permute(ctx, Vcur, 1, 2, 0, 3));
        }
        ggml_tensor * kq = ggml_mul_mat(ctx, k, q);  // [T_kv, T, H]
        kq = ggml_soft_max_ext(ctx, kq, swa ? inputs.mask_swa : inputs.mask, kq_scale, 0.0f);
        ggml_tensor * kqv = ggml_mul_mat(ctx, v, kq);  // [d, T, H]
        cur = ggml_permute(ctx, kqv, 0, 2, 1, 3);      // [d, H, T]
        cur = ggml_cont_2d(ctx, cur, n_embd_head * n_head, n_tokens);
        cur = gb.lora_mm(il, l.wo, cur);
        if (l.attn_post_norm) cur = gb.norm_rms(cur, l.attn_post_norm);

        ggml_tensor * ffn_inp = ggml_add(ctx, cur, inpSA);

        // build_ffn(LLM_FFN_SILU or LLM_FFN_GELU, LLM_FFN_PAR): down(act(gate(x)) * up(x)).
        cur = gb.norm_rms(ffn_inp, l.ffn_norm);
        ggml_tensor * up = gb.lora_mm(il, l.ffn_up, cur);
        ggml_tensor * gate = gb.lora_mm(il, l.ffn_gate, cur);
        cur = gb.ffn_act(gate, up);
        cur = gb.lora_mm(il, l.ffn_down, cur);
        if (l.ffn_post_norm) cur = gb.norm_rms(cur, l.ffn_post_norm);
        inpL = ggml_add(ctx, cur, ffn_inp);
    }

    if (params.n_outputs > 0) {
        inputs.out_rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, params.n_outputs);
        ggml_set_input(inputs.out_rows);
        inpL = ggml_get_rows(ctx, inpL, inputs.out_rows);
    }
    ggml_tensor * cur = gb.norm_rms(inpL, model.output_norm);
    // The output projection is never adapted here (targets are per-layer matrices).
    return ggml_mul_mat(ctx, gb.matmul_weight(model.output), cur);
}

size_t train_rewrites_extra(const train_rewrites & rewrites) {
    // Per factor: the out_prod, its transpose view and the cont whose op the node takes.
    return 3 * rewrites.rank_factors.size();
}

ggml_cgraph * train_rewrites_apply(ggml_context * ctx, ggml_cgraph * graph, const train_rewrites & rewrites) {
    for (const exact_value & ev : rewrites.values) {
        if (!node_become(ev.node, ev.exact)) throw trainer_error(TRAINER_ERR_INTERNAL, "A training graph node differs from its exact op in shape.");
    }
    graph_backward_patch(graph, rewrites.transposed);
    if (rewrites.rank_factors.empty()) return graph;
    // B's gradient out_prod(s A x [r, T], dy [out, T]) becomes out_prod(dy, s A x)^T: the node
    // keeps its identity (the gradient accumulator adds it), the product is a new node.
    for (int i = 0; i < ggml_graph_n_nodes(graph); i++) {
        ggml_tensor * node = ggml_graph_node(graph, i);
        if (node->op != GGML_OP_OUT_PROD || rewrites.rank_factors.count(node->src[0]) == 0) continue;
        ggml_tensor * product = ggml_out_prod(ctx, node->src[1], node->src[0]);
        if (!node_become(node, ggml_cont(ctx, ggml_transpose(ctx, product)))) throw trainer_error(TRAINER_ERR_INTERNAL, "A LoRA B gradient has an unexpected shape.");
    }
    return graph_expand_in_order(ctx, graph, (size_t) ggml_graph_size(graph) + train_rewrites_extra(rewrites));
}

void forward_inputs_set(const forward_inputs & inputs, const int32_t * tokens, int32_t n_tokens) {
    ggml_backend_tensor_set(inputs.tokens, tokens, 0, (size_t) n_tokens * sizeof(int32_t));
    std::vector<int32_t> pos((size_t) n_tokens);
    for (int32_t i = 0; i < n_tokens; i++) pos[(size_t) i] = i;
    ggml_backend_tensor_set(inputs.pos, pos.data(), 0, pos.size() * sizeof(int32_t));

    // Cell j holds position j (cells past n_tokens are empty). As llama.cpp's masks: -inf for
    // future or empty cells, and in the sliding-window mask also for i - j >= n_swa.
    for (uint32_t window : {0u, inputs.n_swa}) {
        ggml_tensor * t = window == 0 ? inputs.mask : inputs.mask_swa;
        if (t == nullptr) continue;
        const int64_t n_kv = t->ne[0];
        std::vector<float> mask((size_t) n_kv * (size_t) n_tokens);
        for (int32_t i = 0; i < n_tokens; i++) {
            for (int64_t j = 0; j < n_kv; j++) {
                const bool visible = j <= i && (window == 0 || i - j < (int64_t) window);
                mask[(size_t) i * (size_t) n_kv + (size_t) j] = visible ? 0.0f : -INFINITY;
            }
        }
        ggml_backend_tensor_set(t, mask.data(), 0, mask.size() * sizeof(float));
    }
}

