// The forward graph of the llama family, built op for op as llama.cpp builds it
// (src/models/llama.cpp, qwen2.cpp, qwen3.cpp and llm_graph_context's build_norm, build_qkv,
// build_attn_mha, build_ffn and build_lora_mm), for one sequence at positions 0..n-1.
#pragma once

#include <cstdint>
#include <vector>

#include "ggml.h"
#include "lora.h"
#include "model_load.h"

// An adapter applied during the forward pass with a user scale (llama.cpp's adapter scale).
struct adapter_ref {
    const lora_adapter * adapter = nullptr;
    float                scale   = 1.0f;
};

struct forward_inputs {
    ggml_tensor * tokens = nullptr;  // I32 [n_tokens]
    ggml_tensor * pos    = nullptr;  // I32 [n_tokens]
    ggml_tensor * mask   = nullptr;  // F32 [n_tokens, n_tokens], causal, 0 or -inf
    ggml_tensor * output_rows = nullptr;  // I32 [n_outputs] when forward_params.n_outputs > 0
};

struct forward_params {
    int32_t n_tokens = 0;
    // Positions whose logits are computed (set with forward_output_rows_set), in the order
    // given; 0: every position. Training computes the output projection for its loss targets
    // alone: on a 1B model that matrix is a fifth of a training step.
    int32_t n_outputs = 0;
    // Round K and V to F16 before attention, as llama.cpp's default F16 KV cache does; used
    // for evaluation so that logits match node-llama-cpp's. Training keeps them F32.
    bool    kv_f16   = false;
    // Compute the LoRA term in a form whose backward pass is fast (see lora_mm_train in
    // forward_graph.cpp); same values up to float rounding. Used for training.
    bool    lora_train_form = false;
    // Multiply with the repacked copies of the weights (model.repacked) where there are any.
    // Off only for exact-backward training, whose out_prod must read the standard layout.
    bool    use_repacked = true;
};

// Returns the logits tensor [n_vocab, n_tokens]; fills inputs with the tensors to set before
// computing (forward_inputs_set). All tensors are created in ctx (no_alloc).
ggml_tensor * forward_graph_build(ggml_context * ctx, const base_model & model, const std::vector<adapter_ref> & adapters,
                                  const forward_params & params, forward_inputs & inputs);

// Writes the token ids, positions and causal mask into the allocated input tensors.
void forward_inputs_set(const forward_inputs & inputs, const int32_t * tokens, int32_t n_tokens);

// Writes the positions whose logits are wanted (forward_params.n_outputs of them).
void forward_output_rows_set(const forward_inputs & inputs, const std::vector<int32_t> & rows);

// An upper bound of the nodes the forward + backward graph needs, for ggml_new_graph_custom.
size_t forward_graph_size(const base_model & model, size_t n_adapters);
