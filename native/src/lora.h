// LoRA adapters over the frozen base model, in llama.cpp's layout: for a weight W with ggml
// shape [in, out], lora_a has shape [in, r] and lora_b [r, out]; the layer computes
// W x + s * B (A x) with s = scale * alpha / r (scale * 1 when alpha is 0), exactly as
// llm_graph_context::build_lora_mm and llama_adapter_lora_weight::get_scale do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ggml.h"
#include "ggml-backend.h"
#include "model_load.h"

struct lora_weight {
    uint32_t      layer  = 0;
    std::string   target;            // "ffn_up", "attn_q", ...
    ggml_tensor * base   = nullptr;  // the frozen weight it adapts (owned by the base model)
    ggml_tensor * a      = nullptr;  // [in, r], F32 (F16 when loaded from an F16 file for evaluation)
    ggml_tensor * b      = nullptr;  // [r, out], same type as a
    ggml_tensor * grad_a = nullptr;  // gradient accumulators, same shapes; null unless trainable
    ggml_tensor * grad_b = nullptr;
};

// An adapter file applied with a scale, as in llama_set_adapters_lora.
struct adapter_spec {
    std::string path;
    float       scale = 1.0f;
};

struct lora_adapter {
    float    alpha = 0.0f;
    std::vector<lora_weight> weights;
    // Ownership: ctx holds the tensor headers, buf their data (CPU memory, so the optimizer
    // reads and writes tensor->data directly).
    ggml_context *        ctx = nullptr;
    ggml_backend_buffer_t buf = nullptr;

    // The weight adapting layer il's target, or null.
    const lora_weight * weight_find(uint32_t il, const ggml_tensor * base) const;
};

// scale * alpha / rank, or scale when alpha is 0 (llama.cpp's rule).
float lora_weight_scale(const lora_weight & w, float alpha, float scale);

struct lora_init_params {
    std::vector<std::string> targets;  // validated names from lora_target_names()
    uint32_t rank  = 2;
    float    alpha = 32.0f;
    uint64_t seed  = 0;
    // Layers below this one get no LoRA, so the backward pass stops above them. The random
    // draws of the layers that remain are the same as with every layer adapted.
    uint32_t first_layer = 0;
};

// A fresh adapter: A ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming_uniform_(a=sqrt(5))), B = 0,
// drawn from a portable seeded generator so that the same seed gives the same bits everywhere.
lora_adapter * lora_adapter_init_random(const base_model & model, const lora_init_params & params, bool trainable);

// Reads a GGUF LoRA adapter made for this base model, in either layout (adapter_read.h). For
// evaluation a llama.cpp-layout file keeps its tensor types; compact files, and every file
// loaded for training, become F32. Throws trainer_error when the file is unreadable, is not a
// LoRA adapter, or does not fit the model.
lora_adapter * lora_adapter_load(const base_model & model, const std::string & path, bool trainable);

void lora_adapter_free(lora_adapter * adapter);

// Total number of trainable values (A and B of every weight).
int64_t lora_adapter_n_params(const lora_adapter & adapter);
