// Faster forward weights for training on the CPU.
//
// ggml's CPU GEMM kernels for some quantized types run at a fraction of Q8_0's speed: on the
// kernels node-llama-cpp ships, a [2048 x 8192] Q6_K matrix multiplies 160 tokens at 0.6-0.65
// times Q8_0's speed on AMX, AVX-512 and AVX2 CPUs alike, and Q2_K, Q3_K and Q5_K are slower
// still (bench/trainer.md). Q4_K_M and Q5_K_M models keep their largest matrix, the output
// projection, and half their ffn_down in Q6_K, and a training step computes the output
// projection for every token. So the training forward pass multiplies by Q8_0 copies of these
// matrices. Q8_0 keeps each value to within half a step of 1/127 of its 32-block's largest, finer
// than the copied types' own steps, so the gradients are those of nearly the same model; the
// backward pass still goes through the transposed copies of the model's weights
// (backward_weights.h). Evaluation (logits, loss) keeps multiplying by the model's own weights
// in llama.cpp's layouts (weights_repack.h), so the copies are extra memory: outside those
// layouts a model's logits drift from llama.cpp's (5% of their range on Gemma 3 270M).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "ggml.h"
#include "ggml-backend.h"
#include "model_load.h"

struct forward_copies {
    std::unordered_map<const ggml_tensor *, ggml_tensor *> by_weight;  // W -> its Q8_0 copy
    // Ownership: ctxs hold the headers, bufs the data (one of each per copy).
    std::vector<ggml_context *>         ctxs;
    std::vector<ggml_backend_buffer_t>  bufs;
};

// Whether training multiplies by a Q8_0 copy of a matrix of this type.
bool forward_copy_wanted(ggml_type type);

// Builds the Q8_0 copy of every matrix of the model whose type forward_copy_wanted, in the
// buffer type that gives the CPU backend its fastest Q8_0 GEMM (an extra one such as AMX when
// it takes the matrix, else the plain CPU buffer). The caller owns the result
// (forward_copies_free). Throws trainer_error(out-of-memory).
forward_copies * forward_copies_build(const base_model & model, ggml_backend_t cpu, int32_t n_threads);
void             forward_copies_free(forward_copies * copies);
