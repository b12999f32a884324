// Repacked forward weights. llama.cpp's CPU backend offers "extra" buffer types (CPU_REPACK)
// that store Q4_0/Q4_K/Q6_K/... matrices interleaved for its fastest GEMM kernels, and
// llama.cpp puts every matrix it can there. Doing the same makes the trainer's forward pass
// as fast as llama.cpp's prompt evaluation and bit-compatible with it. The backward pass never
// reads these copies (see backward_weights.h), so gradients are unaffected by the layout.
#pragma once

#include <cstdint>
#include <vector>

#include "ggml-backend.h"
#include "model_load.h"

// The CPU device's extra buffer types (CPU_REPACK, AMX, ...), in the backend's order of preference.
std::vector<ggml_backend_buffer_type_t> weights_extra_bufts(ggml_backend_dev_t dev);

// llama.cpp's test (weight_buft_supported): would the device multiply with w in buft (batch of 512)?
bool weights_buft_supports_matmul(ggml_backend_dev_t dev, ggml_backend_buffer_type_t buft, const ggml_tensor * w);

// Copies every matrix the backend's extra buffer types accept into them (model.repacked), then
// drops the now unused mapped pages. Returns the number of repacked matrices.
int32_t weights_repack(base_model & model, ggml_backend_t backend);
