#include "forward_graph.h"

#include <cmath>
#include <vector>

#include "ggml-backend.h"

namespace {

struct graph_builder {
    ggml_context *                   ctx;
    const base_model &               model;
    const std::vector<adapter_ref> & adapters;
    bool                             train_form;
    bool                             use_repacked;

    // build_norm(LLM_NORM_RMS): rms_norm then multiply by the weight.
    ggml_tensor * norm_rms(ggml_tensor * cur, ggml_tensor * weight) const {
        cur = ggml_rms_norm(ctx, cur, model.hp.rms_eps);
        return ggml_mul(ctx, cur, weight);
    }

    // build_lora_mm: W x, then + s * B (A x) for every adapter that adapts W, in adapter order.
    ggml_tensor * lora_mm(uint32_t il, ggml_tensor * w, ggml_tensor * cur) const {
        ggml_tensor * res = ggml_mul_mat(ctx, model.matmul_weight(w, use_repacked), cur);
        for (const adapter_ref & ref : adapters) {
            const lora_weight * lw = ref.adapter->weight_find(il, w);
            if (lw == nullptr) continue;
            const float scale = lora_weight_scale(*lw, ref.adapter->alpha, ref.scale);
            ggml_tensor * ab = train_form ? lora_ab_train(*lw, cur) : ggml_mul_mat(ctx, lw->b, ggml_mul_mat(ctx, lw->a, cur));
            ab = ggml_scale(ctx, ab, scale);
            res = ggml_add(ctx, res, ab);
        }
        return res;
    }

    // B (A x) for training. mul_mat contracts over its first dimension, and ggml's autodiff
    // turns a mul_mat with a contraction over r (B's side) into out_prods whose inner loops
    // are r long with strided reads: on a 1B model those took a fifth of the training time.
    // Here (A x)^T = mul_mat(x, A) contracts over `in`, and B (A x) = sum_j B[:, j] (A x)[j, :]
    // is r broadcast products, whose backward ops stream over `out` x tokens.
    ggml_tensor * lora_ab_train(const lora_weight & lw, ggml_tensor * cur) const {
        const int64_t rank = lw.a->ne[1], n_out = lw.b->ne[1], n_tokens = cur->ne[1];
        if (rank > 16 || cur->ne[2] != 1) return ggml_mul_mat(ctx, lw.b, ggml_mul_mat(ctx, lw.a, cur));
        ggml_tensor * ax_t = ggml_mul_mat(ctx, cur, lw.a);  // [T, r]
        ggml_tensor * sum = nullptr;
        for (int64_t j = 0; j < rank; j++) {
            // column j of B: elements j, j + r, ... of b [r, out]
            ggml_tensor * b_col = ggml_cont(ctx, ggml_view_2d(ctx, lw.b, 1, n_out, lw.b->nb[1], (size_t) j * lw.b->nb[0]));
            b_col = ggml_reshape_2d(ctx, b_col, n_out, 1);
            ggml_tensor * ax_row = ggml_view_2d(ctx, ax_t, 1, n_tokens, ax_t->nb[0], (size_t) j * ax_t->nb[1]);  // [1, T]
            ggml_tensor * term = ggml_mul(ctx, ggml_repeat_4d(ctx, b_col, n_out, n_tokens, 1, 1), ax_row);
            sum = sum == nullptr ? term : ggml_add(ctx, sum, term);
        }
        return sum;
    }

    ggml_tensor * rope(ggml_tensor * cur, ggml_tensor * pos) const {
        const model_hparams & hp = model.hp;
        return ggml_rope_ext(ctx, cur, pos, model.rope_freqs, (int) hp.n_rot, hp.rope_mode, (int) hp.n_ctx_orig,
                             hp.rope_freq_base, hp.rope_freq_scale, hp.yarn_ext_factor, hp.yarn_attn_factor,
                             hp.yarn_beta_fast, hp.yarn_beta_slow);
    }
};

}  // namespace

size_t forward_graph_size(const base_model & model, size_t n_adapters) {
    // ~40 forward nodes per layer plus 5 per adapted matrix, and the backward pass roughly
    // triples that; generous because an undersized graph is a GGML_ASSERT.
    const size_t per_layer = 64 + 7 * 8 * (n_adapters + 1);
    return 4096 + (size_t) model.hp.n_layer * per_layer * 4;
}

ggml_tensor * forward_graph_build(ggml_context * ctx, const base_model & model, const std::vector<adapter_ref> & adapters,
                                  const forward_params & params, forward_inputs & inputs) {
    const model_hparams & hp = model.hp;
    const int64_t n_tokens = params.n_tokens;
    const int64_t n_head = hp.n_head, n_head_kv = hp.n_head_kv, n_embd_head = hp.n_embd_head;
    graph_builder gb = {ctx, model, adapters, params.lora_train_form, params.use_repacked};

    inputs.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens);
    ggml_set_input(inputs.tokens);
    inputs.pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens);
    ggml_set_input(inputs.pos);
    inputs.mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_tokens, n_tokens);
    ggml_set_input(inputs.mask);

    // build_inp_embd: plain row lookup (llama/qwen do not scale the embeddings).
    ggml_tensor * inpL = ggml_get_rows(ctx, model.tok_embd, inputs.tokens);
    const float kq_scale = 1.0f / sqrtf((float) n_embd_head);

    for (uint32_t il = 0; il < hp.n_layer; il++) {
        const layer_weights & l = model.layers[il];
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

        // qwen3 normalizes each head of q and k before RoPE.
        if (l.q_norm) Qcur = gb.norm_rms(Qcur, l.q_norm);
        if (l.k_norm) Kcur = gb.norm_rms(Kcur, l.k_norm);
        Qcur = gb.rope(Qcur, inputs.pos);
        Kcur = gb.rope(Kcur, inputs.pos);

        // build_attn_mha without flash attention. GQA: mul_mat broadcasts the n_head_kv
        // heads of k and v over the n_head heads of q.
        ggml_tensor * q = ggml_permute(ctx, Qcur, 0, 2, 1, 3);  // [d, T, H]
        ggml_tensor * k = nullptr;
        ggml_tensor * v = nullptr;                                // [T, d, Hkv] (transposed, as the KV cache holds it)
        if (params.kv_f16) {
            k = ggml_permute(ctx, ggml_cast(ctx, Kcur, GGML_TYPE_F16), 0, 2, 1, 3);
            v = ggml_cast(ctx, ggml_cont(ctx, ggml_permute(ctx, Vcur, 1, 2, 0, 3)), GGML_TYPE_F16);
        } else {
            k = ggml_permute(ctx, Kcur, 0, 2, 1, 3);
            v = ggml_cont(ctx, ggml_permute(ctx, Vcur, 1, 2, 0, 3));
        }
        ggml_tensor * kq = ggml_mul_mat(ctx, k, q);  // [T_kv, T, H]
        kq = ggml_soft_max_ext(ctx, kq, inputs.mask, kq_scale, 0.0f);
        ggml_tensor * kqv = ggml_mul_mat(ctx, v, kq);  // [d, T, H]
        cur = ggml_permute(ctx, kqv, 0, 2, 1, 3);      // [d, H, T]
        cur = ggml_cont_2d(ctx, cur, n_embd_head * n_head, n_tokens);
        cur = gb.lora_mm(il, l.wo, cur);

        ggml_tensor * ffn_inp = ggml_add(ctx, cur, inpSA);

        // build_ffn(LLM_FFN_SILU, LLM_FFN_PAR): down(swiglu(gate(x), up(x))).
        cur = gb.norm_rms(ffn_inp, l.ffn_norm);
        ggml_tensor * up = gb.lora_mm(il, l.ffn_up, cur);
        ggml_tensor * gate = gb.lora_mm(il, l.ffn_gate, cur);
        cur = ggml_swiglu_split(ctx, gate, up);
        cur = gb.lora_mm(il, l.ffn_down, cur);
        inpL = ggml_add(ctx, cur, ffn_inp);
    }

    if (params.n_outputs > 0) {
        // Rows are selected before the final norm, which works row by row.
        inputs.output_rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, params.n_outputs);
        ggml_set_input(inputs.output_rows);
        inpL = ggml_get_rows(ctx, inpL, inputs.output_rows);
    }
    ggml_tensor * cur = gb.norm_rms(inpL, model.output_norm);
    // The output projection is never adapted here (targets are per-layer matrices).
    return ggml_mul_mat(ctx, model.matmul_weight(model.output, params.use_repacked), cur);
}

void forward_inputs_set(const forward_inputs & inputs, const int32_t * tokens, int32_t n_tokens) {
    ggml_backend_tensor_set(inputs.tokens, tokens, 0, (size_t) n_tokens * sizeof(int32_t));
    std::vector<int32_t> pos((size_t) n_tokens);
    for (int32_t i = 0; i < n_tokens; i++) pos[(size_t) i] = i;
    ggml_backend_tensor_set(inputs.pos, pos.data(), 0, pos.size() * sizeof(int32_t));
    std::vector<float> mask((size_t) n_tokens * (size_t) n_tokens);
    for (int32_t i = 0; i < n_tokens; i++) {
        for (int32_t j = 0; j < n_tokens; j++) mask[(size_t) i * (size_t) n_tokens + (size_t) j] = j <= i ? 0.0f : -INFINITY;
    }
    ggml_backend_tensor_set(inputs.mask, mask.data(), 0, mask.size() * sizeof(float));
}

void forward_output_rows_set(const forward_inputs & inputs, const std::vector<int32_t> & rows) {
    ggml_backend_tensor_set(inputs.output_rows, rows.data(), 0, rows.size() * sizeof(int32_t));
}
