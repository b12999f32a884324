// The forward graph of the llama family and gemma3, built op for op as llama.cpp builds it
// (src/models/llama.cpp, qwen2.cpp, qwen3.cpp, gemma3.cpp and llm_graph_context's build_norm,
// build_qkv, build_attn_mha, build_ffn and build_lora_mm), for one sequence at positions 0..n-1.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
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
    ggml_tensor * tokens   = nullptr;  // I32 [n_tokens]
    ggml_tensor * pos      = nullptr;  // I32 [n_tokens]
    ggml_tensor * mask     = nullptr;  // F32 [n_kv, n_tokens], causal, 0 or -inf; null when every layer is local
    ggml_tensor * mask_swa = nullptr;  // same, also -inf beyond the sliding window; null without local layers
    uint32_t      n_swa    = 0;
    ggml_tensor * out_rows = nullptr;  // I32 [n_outputs], the positions to compute logits for (set by the caller)
};

// A node whose value the training graph takes from another op than the one ggml's autodiff
// differentiated: once the backward graph is built, train_rewrites_apply rewrites `node` into
// `exact`, which computes the same function. Two uses:
// - GEGLU, which has no backward pass in ggml: the graph builds gelu(gate) * up from ops that
//   have one, and the node becomes ggml_geglu_split (llama.cpp's op), so the forward values and
//   the loss are llama.cpp's while the gradient is that of the same function in F32 instead of
//   through GELU's F16 lookup table;
// - the LoRA product B (A x), whose natural mul_mat contracts over the rank (see lora_ab_train).
struct exact_value {
    ggml_tensor * node  = nullptr;
    ggml_tensor * exact = nullptr;
};

// What a training graph rewrites after ggml_build_backward_expand (train_rewrites_apply).
struct train_rewrites {
    // Operands of the rewritten ops that the loss does not depend on: the caller expands them
    // into the graph before the loss, so that they are computed before their users.
    std::vector<ggml_tensor *> operands;
    std::vector<exact_value> values;
    // Matrix -> its contiguous transpose, both nodes of the graph: each backward
    // out_prod(M, dy^T) becomes mul_mat(M^T, dy) (graph_backward_patch).
    std::unordered_map<const ggml_tensor *, ggml_tensor *> transposed;
    // The LoRA factors s (A x) [r, T]. Autodiff gives B's gradient as out_prod(s A x, dy)
    // [r, out], which the CPU builds from r-long row updates, one call per output and token (as
    // slow as the rest of that LoRA's backward together); train_rewrites_apply computes it as
    // out_prod(dy, s A x)^T, whose row updates are out long.
    std::unordered_set<const ggml_tensor *> rank_factors;
};

struct forward_params {
    int32_t n_tokens = 0;
    // > 0: logits only for the n_outputs positions in inputs.out_rows (llama.cpp's inp_out_ids);
    // 0: for every position.
    int32_t n_outputs = 0;
    // Attention over K and V as llama.cpp's default KV cache holds them: rounded to F16 and
    // padded with empty cells to its n_kv (a multiple of 256), so that the attention matmuls
    // take the same kernels (and sum in the same order) as node-llama-cpp's. Used for
    // evaluation; training keeps K and V F32 and unpadded.
    bool    kv_cache_layout = false;
    // Compute the LoRA term in a form whose backward pass is fast (see lora_ab_train in
    // forward_graph.cpp); same values up to float rounding. Used for training.
    bool    lora_train_form = false;
    // Multiply with the repacked copies of the weights (model.repacked) where there are any.
    // Off only for exact-backward training, whose out_prod must read the standard layout.
    bool    use_repacked = true;
    // Training on the CPU: multiply with these copies (forward_copies.h) where they exist,
    // instead of the weights or their repacked copies.
    const std::unordered_map<const ggml_tensor *, ggml_tensor *> * copies = nullptr;
};

// Returns the logits tensor [n_vocab, n_tokens] (or [n_vocab, n_outputs]); fills inputs with the tensors to set before
// computing (forward_inputs_set). All tensors are created in ctx (no_alloc). A graph that will
// be differentiated (lora_train_form) must pass rewrites and apply them after
// ggml_build_backward_expand (train_rewrites_apply).
ggml_tensor * forward_graph_build(ggml_context * ctx, const base_model & model, const std::vector<adapter_ref> & adapters,
                                  const forward_params & params, forward_inputs & inputs,
                                  train_rewrites * rewrites = nullptr);

// Tensors (and nodes) train_rewrites_apply adds to a graph at most: the context it is given
// needs room for that many tensor headers and a graph of ggml_graph_size(graph) + that many nodes.
size_t train_rewrites_extra(const train_rewrites & rewrites);

// Rewrites each node into its exact op (see exact_value), the backward out_prods of the
// transposed matrices into mul_mats, and B's gradients (rank_factors); returns the graph in
// ctx that holds the new nodes in order before their users. Call after ggml_build_backward_expand.
ggml_cgraph * train_rewrites_apply(ggml_context * ctx, ggml_cgraph * graph, const train_rewrites & rewrites);

// Writes the token ids, positions and masks into the allocated input tensors.
void forward_inputs_set(const forward_inputs & inputs, const int32_t * tokens, int32_t n_tokens);

// An upper bound of the nodes the forward graph (and, with backward, its backward pass) needs,
// for ggml_new_graph_custom.
size_t forward_graph_size(const base_model & model, const std::vector<adapter_ref> & adapters, bool backward);
