// The trainer: one frozen base model on a compute device (the CPU backend, or a GPU backend
// with the CPU as fallback for the ops the GPU lacks), and the operations on it (train a LoRA,
// evaluate logits or loss with adapters). Each call validates all of its inputs first,
// since anything that reaches ggml unchecked could abort the process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "adapter_write.h"
#include "device.h"
#include "model_load.h"

struct transposed_weights;
struct forward_copies;

// Longest sequence the trainer takes: attention scores are n_tokens^2 x heads floats per layer
// (and kept for the backward pass), so memory grows quadratically. Passages are far shorter.
#define TRAINER_MAX_TOKENS 4096u

struct trainer {
    base_model *   model = nullptr;
    ggml_backend_t cpu   = nullptr;  // always there: ggml_backend_sched needs the CPU last, as fallback
    ggml_backend_t gpu   = nullptr;  // the device that holds the weights and adapters; null: the CPU does
    // Places each node on a backend and holds the compute memory, reused across calls; rebuilt
    // when a graph larger than sched_graph_size comes.
    ggml_backend_sched_t sched = nullptr;
    size_t         sched_graph_size = 0;
    int32_t        last_splits = 0;  // graph splits of the last computed graph (1: one backend ran it all)
    transposed_weights * backward = nullptr;  // built at the first training (backward_weights.h)
    forward_copies *     forward  = nullptr;  // built at the first training on the CPU (forward_copies.h)
    // CPU threads of each graph computed from now on; trainer_set_threads changes it while a
    // training runs (the encoder trains on fewer while the next passages' augmentation decodes).
    std::atomic<int32_t> n_threads{1};
    // While set, a running training waits before its next sequence and, on the CPU, after the
    // node its graph is computing (trainer_set_paused): the encoder gives the CPU to an answer.
    // Changed under its own mutex, since `busy` is held by the training; atomic because ggml's
    // compute thread reads it after every node without the mutex.
    std::atomic<bool> paused{false};
    std::mutex     pause_mutex;
    std::condition_variable pause_changed;
    ggml_type      backward_type = GGML_TYPE_Q8_0;  // type of the transposed backward weights
    std::mutex     busy;               // one operation at a time per trainer
};

struct trainer_params {
    std::string bins_dir;   // folder of the prebuilt ggml CPU backends
    // The device to train on, by ggml's name (device_list() in device.h: "Vulkan0", "CUDA0");
    // empty or "CPU": the CPU backend. gpu_backends: the GPU backend libraries to load first.
    std::string device;
    std::vector<std::string> gpu_backends;
    int32_t     n_threads = 0;  // 0: hardware concurrency
    ggml_type   backward_type = GGML_TYPE_Q8_0;  // GGML_TYPE_Q8_0 or GGML_TYPE_Q4_0, see backward_weights.h
};

// Sets the CPU threads of the graphs computed from now on, those of a running training
// included (n_threads from 1 to 1024). Safe from any thread. Throws trainer_error.
void trainer_set_threads(trainer & tr, int32_t n_threads);

// Pauses (true) or resumes (false) a running training: on the CPU within a node of the graph it
// is computing, on another device before its next sequence; a training started while paused
// waits before its first. Cancelling still ends a paused training.
// Safe from any thread.
void trainer_set_paused(trainer & tr, bool paused);

// Loads the model. The result is owned by the caller (trainer_free). Throws trainer_error.
trainer * trainer_create(const std::string & model_path, const trainer_params & params);
void      trainer_free(trainer * tr);

struct token_sequence {
    std::vector<int32_t> tokens;
    std::vector<uint8_t> loss_mask;  // per token, 1: the token is a target of the loss; empty: all
    // Soft targets (context distillation): for each target, in order, a teacher's top-k token
    // ids and probabilities. Empty (soft_k == 0): the targets are the next tokens (one-hot).
    uint32_t             soft_k = 0;
    std::vector<int32_t> soft_ids;    // [n_targets * soft_k]
    std::vector<float>   soft_probs;  // [n_targets * soft_k], each row sums to at most 1
};


struct train_params {
    std::vector<std::string> targets = {"ffn_gate", "ffn_up", "ffn_down"};
    uint32_t    rank         = 2;
    uint32_t    first_layer  = 0;  // layers below get no LoRA and no backward pass (fresh adapters only)
    float       alpha        = 32.0f;
    float       lr           = 3e-4f;
    float       beta1        = 0.9f;
    float       beta2        = 0.999f;
    float       eps          = 1e-8f;
    float       weight_decay = 0.01f;
    uint32_t    epochs       = 1;
    uint32_t    batch_size   = 1;
    uint32_t    grad_accum   = 1;
    uint64_t    seed         = 0;
    bool        shuffle      = true;
    std::string init_path;          // adapter to start from; empty: seeded random init
    std::string out_path;
    adapter_out_type out_type = ADAPTER_OUT_F32;
    // For sequences with soft targets: a target's label is (1 - w) * one-hot(next token) +
    // w * (teacher's top-k, renormalized to sum to 1). 1: pure distillation.
    float       distill_weight = 1.0f;
    // Back-propagate through quantized weights with ggml's out_prod instead of the transposed
    // Q8_0 copies: exact gradients, but far slower. For tests and diagnosis.
    bool        exact_backward = false;
    // Build the training graph from ops every GPU backend has (backward_portable.h). Always on
    // when training on a GPU; on the CPU, for the tests that compare its gradients with the
    // default graph's.
    bool        portable_backward = false;
};

struct train_result {
    std::vector<float> losses;  // mean per-token NLL of each optimizer step, before its update
    int32_t            steps = 0;
    int32_t            splits = 0;  // most graph splits of a step's graph (1: all on one backend)
    std::vector<std::string> graph_ops;  // the ops of the training graphs (ggml_op_desc names), sorted
    int32_t            forward_copies = 0;  // matrices the forward pass multiplied by a Q8_0 copy (forward_copies.h)
};

// Called after each optimizer step from the worker thread.
using train_progress_fn = std::function<void(int32_t step, int32_t total_steps, float loss)>;

train_result trainer_train(trainer & tr, const std::vector<token_sequence> & sequences, const train_params & params,
                           const train_progress_fn & progress, const std::atomic<bool> & cancel);

// The device the trainer computes on (its weights live there): ggml's name and description.
device_info trainer_device(const trainer & tr);

// Logits of every position, row-major [n_tokens][n_vocab].
std::vector<float> trainer_logits(trainer & tr, const std::vector<int32_t> & tokens, const std::vector<adapter_spec> & adapters);

// Mean per-token negative log-likelihood over the loss tokens of all sequences.
double trainer_loss(trainer & tr, const std::vector<token_sequence> & sequences, const std::vector<adapter_spec> & adapters);

// Input checks shared by the entry points; throw trainer_error(invalid-input).
void sequences_validate(const base_model & model, const std::vector<token_sequence> & sequences, bool need_loss_tokens);
void train_params_validate(const base_model & model, const train_params & params);
