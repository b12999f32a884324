// The frozen base model: hyper-parameters and weights of a llama-family or gemma3 GGUF, read
// once per trainer and shared by every training run and evaluation of that trainer.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ggml.h"
#include "ggml-backend.h"

enum model_arch {
    MODEL_ARCH_LLAMA,
    MODEL_ARCH_QWEN2,
    MODEL_ARCH_QWEN3,
    MODEL_ARCH_GEMMA3,
};

struct model_hparams {
    uint32_t n_vocab     = 0;
    uint32_t n_embd      = 0;
    uint32_t n_layer     = 0;
    uint32_t n_head      = 0;
    uint32_t n_head_kv   = 0;
    uint32_t n_embd_head = 0;  // per-head size of q, k and v
    uint32_t n_ff        = 0;
    uint32_t n_ctx_train = 0;
    uint32_t n_rot       = 0;  // rotated dimensions per head (== n_embd_head for these architectures)
    float    rms_eps     = 1e-5f;

    // Attention scale. llama/qwen: softmax(kq * kq_scale) with kq_scale = 1/sqrt(head size).
    // gemma3 scales q by q_scale before kq and softmaxes with kq_scale 1 (llama.cpp's order).
    float    kq_scale    = 1.0f;
    float    q_scale     = 0.0f;  // 0: q is not scaled
    float    embd_scale  = 0.0f;  // 0: embeddings are not scaled (gemma3: sqrt(n_embd))

    // Sliding-window attention (gemma3): layers with is_swa[il] attend only to the n_swa most
    // recent positions (llama.cpp's LLAMA_SWA_TYPE_STANDARD) and use their own RoPE base/scale.
    uint32_t             n_swa = 0;  // 0: no sliding window
    std::vector<uint8_t> is_swa;     // per layer; empty when n_swa == 0
    float                rope_freq_base_swa  = 10000.0f;
    float                rope_freq_scale_swa = 1.0f;

    // RoPE exactly as llama_context derives it from the GGUF (see llama-context.cpp).
    int32_t  rope_mode        = 0;  // GGML_ROPE_TYPE_NORM (llama) or GGML_ROPE_TYPE_NEOX (qwen2/qwen3/gemma3)
    float    rope_freq_base   = 10000.0f;
    float    rope_freq_scale  = 1.0f;
    float    yarn_ext_factor  = 0.0f;
    float    yarn_attn_factor = 1.0f;
    float    yarn_beta_fast   = 32.0f;
    float    yarn_beta_slow   = 1.0f;
    uint32_t n_ctx_orig       = 0;
};

// The weights of one block; biases and extra norms are null where the architecture has none.
struct layer_weights {
    ggml_tensor * attn_norm = nullptr;
    ggml_tensor * wq = nullptr;
    ggml_tensor * wk = nullptr;
    ggml_tensor * wv = nullptr;
    ggml_tensor * wo = nullptr;
    ggml_tensor * bq = nullptr;
    ggml_tensor * bk = nullptr;
    ggml_tensor * bv = nullptr;
    ggml_tensor * q_norm = nullptr;
    ggml_tensor * k_norm = nullptr;
    ggml_tensor * ffn_norm = nullptr;
    ggml_tensor * ffn_gate = nullptr;
    ggml_tensor * ffn_up   = nullptr;
    ggml_tensor * ffn_down = nullptr;
    ggml_tensor * attn_post_norm = nullptr;  // gemma3: RMS norm of the attention output
    ggml_tensor * ffn_post_norm  = nullptr;  // gemma3: RMS norm of the FFN output
};

struct base_model {
    model_arch    arch = MODEL_ARCH_LLAMA;
    std::string   arch_name;  // general.architecture, written into adapters
    model_hparams hp;

    ggml_tensor * tok_embd    = nullptr;
    ggml_tensor * output_norm = nullptr;
    ggml_tensor * output      = nullptr;  // == tok_embd when the output is tied
    ggml_tensor * rope_freqs  = nullptr;  // llama3-style frequency factors, optional
    std::vector<layer_weights> layers;

    // Repacked copies of matrices for the forward matmuls (CPU_REPACK buffers: the
    // interleaved layouts llama.cpp's CPU backend multiplies fastest, see weights_repack.h).
    // Keyed by the original tensor, which keeps the standard layout for get_rows, the
    // transposed backward weights and out_prod.
    std::unordered_map<const ggml_tensor *, ggml_tensor *> repacked;
    std::vector<ggml_context *>          repack_ctxs;  // owned
    std::vector<ggml_backend_buffer_t>   repack_bufs;  // owned

    // The tensor to multiply with in the forward pass: the repacked copy when there is one.
    ggml_tensor * matmul_weight(ggml_tensor * w, bool allow_repacked) const {
        if (!allow_repacked) return w;
        auto it = repacked.find(w);
        return it == repacked.end() ? w : it->second;
    }

    // Ownership: ctx holds the tensor headers; buf holds their data, either a CPU buffer
    // wrapping the read-only memory map (mmap_addr/mmap_size) or a plain allocated buffer.
    ggml_context *        ctx = nullptr;
    ggml_backend_buffer_t buf = nullptr;
    void *                mmap_addr = nullptr;
    size_t                mmap_size = 0;
};

// Reads and validates a GGUF base model. Throws trainer_error (unsupported-model, io-error).
// The result is owned by the caller and released with base_model_free.
base_model * base_model_load(const std::string & path);
void         base_model_free(base_model * model);

// Moves every weight into one buffer of buft (a GPU's memory) and releases the host copy (the
// memory map). Throws trainer_error(out-of-memory) when the device cannot hold them.
void base_model_move(base_model & model, ggml_backend_buffer_type_t buft);

// Drops the resident pages of a memory-mapped tensor from this process (they stay in the page
// cache and fault back in on the next read). No-op when the model is not memory-mapped.
void base_model_release_pages(const base_model & model, const ggml_tensor * t);

// Every matrix a forward pass multiplies by: each layer's attention and FFN matrices, in layer
// order, then the output projection (token_embd when the output is tied).
std::vector<ggml_tensor *> base_model_matrices(const base_model & model);

// Returns the frozen weight of layer il that a LoRA target names ("ffn_up", "attn_q", ...),
// or null for an unknown target.
ggml_tensor * base_model_target_weight(const base_model & model, uint32_t il, const std::string & target);

// The target names base_model_target_weight knows, in the order adapters list them.
const std::vector<std::string> & lora_target_names();
