#include "trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <thread>

#include "adapter_write.h"
#include "backward_portable.h"
#include "backward_weights.h"
#include "backend_cpu.h"
#include "device.h"
#include "forward_copies.h"
#include "forward_graph.h"
#include "lora.h"
#include "trainer_error.h"
#include "weights_repack.h"

namespace {

using adapter_ptr = std::unique_ptr<lora_adapter, void (*)(lora_adapter *)>;
using ctx_ptr = std::unique_ptr<ggml_context, void (*)(ggml_context *)>;

[[noreturn]] void throw_invalid(const std::string & message) { throw trainer_error(TRAINER_ERR_INVALID_INPUT, message); }

// A no_alloc context for the headers of n_tensors tensors and of one graph of graph_size nodes
// (with gradients: grads).
ctx_ptr compute_ctx_new(size_t n_tensors, size_t graph_size, bool grads) {
    ggml_init_params params = {
        /*mem_size   =*/ n_tensors * ggml_tensor_overhead() + ggml_graph_overhead_custom(graph_size, grads),
        /*mem_buffer =*/ nullptr,
        /*no_alloc   =*/ true,
    };
    ggml_context * ctx = ggml_init(params);
    if (ctx == nullptr) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory for the compute graph.");
    return ctx_ptr(ctx, ggml_free);
}

// Allocates the graph's compute memory on the backends the scheduler places its nodes on
// (weights and adapters decide: a node runs where its weights are, on the CPU when that device
// lacks the op). graph_size bounds the graph's nodes.
void graph_allocate(trainer & tr, ggml_cgraph * graph, size_t graph_size) {
    if (tr.sched == nullptr || graph_size > tr.sched_graph_size) {
        if (tr.sched != nullptr) ggml_backend_sched_free(tr.sched);
        std::vector<ggml_backend_t> backends;
        std::vector<ggml_backend_buffer_type_t> bufts;
        if (tr.gpu != nullptr) {
            backends.push_back(tr.gpu);
            bufts.push_back(ggml_backend_get_default_buffer_type(tr.gpu));
        }
        backends.push_back(tr.cpu);
        bufts.push_back(backend_cpu_compute_buffer_type());
        // op_offload off: nothing the CPU holds is worth copying to the device per step.
        tr.sched = ggml_backend_sched_new(backends.data(), bufts.data(), (int) backends.size(), graph_size, false, false);
        if (tr.sched == nullptr) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory for the graph scheduler.");
        tr.sched_graph_size = graph_size;
    }
    ggml_backend_sched_reset(tr.sched);
    if (!ggml_backend_sched_alloc_graph(tr.sched, graph)) {
        throw trainer_error(tr.gpu != nullptr ? TRAINER_ERR_DEVICE : TRAINER_ERR_OUT_OF_MEMORY,
            "Not enough memory for the compute buffers" + std::string(tr.gpu != nullptr ? " on " + std::string(ggml_backend_name(tr.gpu)) : "") + "; use shorter sequences.");
    }
    tr.last_splits = ggml_backend_sched_get_n_splits(tr.sched);
}

void graph_compute(trainer & tr, ggml_cgraph * graph) {
    // Read at every graph, so that trainer_set_threads reaches a training already running.
    backend_cpu_set_threads(tr.cpu, tr.n_threads.load());
    if (ggml_backend_sched_graph_compute(tr.sched, graph) != GGML_STATUS_SUCCESS) {
        if (tr.gpu != nullptr) throw trainer_error(TRAINER_ERR_DEVICE, std::string(ggml_backend_name(tr.gpu)) + " failed to compute the training graph (a driver error or its memory is full).");
        throw trainer_error(TRAINER_ERR_INTERNAL, "The ggml CPU backend failed to compute the graph.");
    }
}

// Moves an adapter's tensors (and gradient accumulators) to the trainer's device, or back to
// the CPU (to_host) for writing it.
void adapter_place(const trainer & tr, lora_adapter & adapter, bool to_host) {
    if (tr.gpu == nullptr) return;
    ggml_backend_buffer_type_t buft = to_host ? ggml_backend_cpu_buffer_type() : ggml_backend_get_default_buffer_type(tr.gpu);
    ggml_backend_buffer_t moved = device_tensors_move(adapter.ctx, buft, "the adapter");
    ggml_backend_buffer_free(adapter.buf);
    adapter.buf = moved;
}

std::vector<adapter_ptr> adapters_load(const trainer & tr, const std::vector<adapter_spec> & specs) {
    std::vector<adapter_ptr> adapters;
    for (const adapter_spec & spec : specs) {
        if (!std::isfinite(spec.scale)) throw_invalid("An adapter scale is not a finite number.");
        adapters.emplace_back(lora_adapter_load(*tr.model, spec.path, false), lora_adapter_free);
        adapter_place(tr, *adapters.back(), false);
    }
    return adapters;
}

std::vector<adapter_ref> adapter_refs(const std::vector<adapter_ptr> & adapters, const std::vector<adapter_spec> & specs) {
    std::vector<adapter_ref> refs;
    for (size_t i = 0; i < adapters.size(); i++) refs.push_back({adapters[i].get(), specs[i].scale});
    return refs;
}

// Forward pass for evaluation; returns logits row-major [n_tokens][n_vocab].
std::vector<float> logits_compute(trainer & tr, const std::vector<int32_t> & tokens, const std::vector<adapter_ref> & refs) {
    const size_t graph_size = forward_graph_size(*tr.model, refs, false);
    ctx_ptr ctx = compute_ctx_new(graph_size, graph_size, false);
    ggml_cgraph * gf = ggml_new_graph_custom(ctx.get(), graph_size, false);
    forward_inputs inputs;
    forward_params fparams;
    fparams.n_tokens = (int32_t) tokens.size();
    fparams.kv_cache_layout = true;  // match llama.cpp's F16 KV cache and its padding
    ggml_tensor * logits = forward_graph_build(ctx.get(), *tr.model, refs, fparams, inputs);
    ggml_set_output(logits);
    ggml_build_forward_expand(gf, logits);
    graph_allocate(tr, gf, graph_size);
    forward_inputs_set(inputs, tokens.data(), (int32_t) tokens.size());
    graph_compute(tr, gf);
    std::vector<float> out((size_t) ggml_nelements(logits));
    ggml_backend_tensor_get(logits, out.data(), 0, ggml_nbytes(logits));
    return out;
}

bool mask_at(const token_sequence & seq, size_t i) { return seq.loss_mask.empty() || seq.loss_mask[i] != 0; }

size_t loss_token_count(const token_sequence & seq) {
    size_t n = 0;
    for (size_t i = 1; i < seq.tokens.size(); i++) n += mask_at(seq, i) ? 1 : 0;
    return n;
}

// The label rows of a sequence's targets (rows[r] predicts token rows[r] + 1), [rows][n_vocab]:
// the one-hot of the next token, or with soft targets (1 - w) times it plus w times the
// teacher's top-k probabilities renormalized to sum to 1. The teacher's mass outside its top k
// is dropped rather than spread: that tail is noise for a short answer.
std::vector<float> labels_fill(const token_sequence & seq, const std::vector<int32_t> & rows, size_t n_vocab, float w) {
    std::vector<float> labels(rows.size() * n_vocab, 0.0f);
    for (size_t r = 0; r < rows.size(); r++) {
        float * row = labels.data() + r * n_vocab;
        const int32_t next = seq.tokens[(size_t) rows[r] + 1];
        if (seq.soft_k == 0) {
            row[next] = 1.0f;
            continue;
        }
        const int32_t * ids = seq.soft_ids.data() + r * seq.soft_k;
        const float * probs = seq.soft_probs.data() + r * seq.soft_k;
        float sum = 0.0f;
        for (uint32_t j = 0; j < seq.soft_k; j++) sum += probs[j];
        row[next] += 1.0f - w;
        for (uint32_t j = 0; j < seq.soft_k; j++) row[ids[j]] += w * probs[j] / sum;
    }
    return labels;
}

// One forward + backward pass over a sequence, adding d(loss)/d(A,B) into the adapter's
// gradient accumulators, where loss = (sum of this sequence's target NLLs) / step_tokens so
// that the accumulated gradient is that of the step's mean per-token loss. Returns that loss;
// adds the names of the graph's ops to graph_ops.
float sequence_backward(trainer & tr, lora_adapter & adapter, const token_sequence & seq, size_t step_tokens, const train_params & p,
                        std::set<std::string, std::less<>> & graph_ops) {
    const bool exact_backward = p.exact_backward;
    const bool portable = p.portable_backward || tr.gpu != nullptr;
    const base_model & model = *tr.model;
    const int32_t n_tokens = (int32_t) seq.tokens.size();
    const int64_t n_vocab = model.hp.n_vocab;
    // The positions whose next token is a target: only their logits enter the loss. (ggml's
    // cross_entropy_loss back-propagates softmax - labels for every row, so a row without a
    // target, all-zero labels, would add the gradient of its log-sum-exp.)
    std::vector<int32_t> rows;
    for (int32_t t = 0; t + 1 < n_tokens; t++) {
        if (mask_at(seq, (size_t) t + 1)) rows.push_back(t);
    }
    const int64_t n_rows = (int64_t) rows.size();
    const std::vector<adapter_ref> refs = {{&adapter, 1.0f}};
    size_t graph_size = forward_graph_size(model, refs, true);
    ctx_ptr ctx = compute_ctx_new(graph_size, graph_size, true);
    ggml_cgraph * gf = ggml_new_graph_custom(ctx.get(), graph_size, true);

    forward_inputs inputs;
    forward_params fparams;
    fparams.n_tokens = n_tokens;
    fparams.n_outputs = (int32_t) n_rows;
    fparams.kv_cache_layout = false;  // F32 through attention: the backward pass needs F32 (or F16 without casts)
    fparams.lora_train_form = true;
    fparams.use_repacked = !exact_backward;
    if (!exact_backward && tr.forward != nullptr) fparams.copies = &tr.forward->by_weight;
    train_rewrites rewrites;
    ggml_tensor * logits = forward_graph_build(ctx.get(), model, refs, fparams, inputs, &rewrites);

    // Row r of labels is the target distribution of row r's next token (labels_fill).
    // cross_entropy_loss averages over the n_rows rows, so scale by n_rows / step_tokens to get
    // this sequence's share of the step's mean.
    ggml_tensor * labels = ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F32, n_vocab, n_rows);
    ggml_set_input(labels);
    ggml_tensor * loss = ggml_cross_entropy_loss(ctx.get(), logits, labels);
    loss = ggml_scale(ctx.get(), loss, (float) n_rows / (float) step_tokens);
    ggml_set_loss(loss);
    ggml_set_output(loss);
    for (ggml_tensor * operand : rewrites.operands) ggml_build_forward_expand(gf, operand);
    ggml_build_forward_expand(gf, loss);

    // Route the gradients of A and B into the persistent accumulators (indexed by node).
    std::vector<ggml_tensor *> grad_accs((size_t) ggml_graph_n_nodes(gf), nullptr);
    for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
        const ggml_tensor * node = ggml_graph_node(gf, i);
        for (const lora_weight & w : adapter.weights) {
            if (node == w.a) grad_accs[(size_t) i] = w.grad_a;
            if (node == w.b) grad_accs[(size_t) i] = w.grad_b;
        }
    }
    ggml_build_backward_expand(ctx.get(), gf, grad_accs.data());
    ggml_tensor * loss_grad = ggml_graph_get_grad_acc(gf, loss);
    ggml_set_input(loss_grad);
    // The rewrites' new tensors, and the graph that orders them, live in a second context.
    const size_t rewrites_extra = train_rewrites_extra(rewrites);
    graph_size += rewrites_extra;
    ctx_ptr rewrites_ctx = compute_ctx_new(rewrites_extra, graph_size, false);
    gf = train_rewrites_apply(rewrites_ctx.get(), gf, rewrites);
    if (!exact_backward && tr.backward != nullptr) graph_backward_patch(gf, tr.backward->by_weight);
    // A repacked weight or forward copy left under an out_prod would be read in the wrong
    // layout: refuse.
    for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
        const ggml_tensor * node = ggml_graph_node(gf, i);
        if (node->op != GGML_OP_OUT_PROD) continue;
        for (const auto * copies : {&model.repacked, fparams.copies}) {
            if (copies == nullptr) continue;
            for (const auto & kv : *copies) {
                if (node->src[0] == kv.second) throw trainer_error(TRAINER_ERR_INTERNAL, "Backward pass through a repacked weight without its transposed copy.");
            }
        }
    }
    if (getenv("PARAMKB_TRAINER_DEBUG")) {
        for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
            const ggml_tensor * n = ggml_graph_node(gf, i);
            if (n->op != GGML_OP_OUT_PROD && n->op != GGML_OP_MUL_MAT) continue;
            fprintf(stderr, "%s %s [%lld %lld %lld] src0 %s [%lld %lld %lld] src1 %s [%lld %lld %lld] nb1 %zu %zu\n", ggml_op_name(n->op), n->name,
                (long long) n->ne[0], (long long) n->ne[1], (long long) n->ne[2], ggml_type_name(n->src[0]->type),
                (long long) n->src[0]->ne[0], (long long) n->src[0]->ne[1], (long long) n->src[0]->ne[2], ggml_type_name(n->src[1]->type),
                (long long) n->src[1]->ne[0], (long long) n->src[1]->ne[1], (long long) n->src[1]->ne[2], n->src[1]->nb[0], n->src[1]->nb[1]);
        }
    }
    // The portable graph's new tensors, and the graph that orders them, live in a second context.
    ctx_ptr portable_ctx(nullptr, ggml_free);
    if (portable) {
        const size_t extra = graph_portable_extra(gf);
        portable_ctx = compute_ctx_new(extra, graph_size + extra, false);
        graph_size += extra;
        gf = graph_portable(portable_ctx.get(), gf, graph_size);
    }
    for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
        const char * op = ggml_op_desc(ggml_graph_node(gf, i));
        if (graph_ops.find(op) == graph_ops.end()) graph_ops.emplace(op);  // no string built per node
    }

    graph_allocate(tr, gf, graph_size);
    forward_inputs_set(inputs, seq.tokens.data(), n_tokens);
    ggml_backend_tensor_set(inputs.out_rows, rows.data(), 0, rows.size() * sizeof(int32_t));
    const std::vector<float> label_data = labels_fill(seq, rows, (size_t) n_vocab, p.distill_weight);
    ggml_backend_tensor_set(labels, label_data.data(), 0, label_data.size() * sizeof(float));
    const float one = 1.0f;
    ggml_backend_tensor_set(loss_grad, &one, 0, sizeof(float));
    graph_compute(tr, gf);
    float value = 0.0f;
    ggml_backend_tensor_get(loss, &value, 0, sizeof(float));
    return value;
}

// AdamW as torch.optim.AdamW (decoupled weight decay, bias-corrected moments) and
// ggml_opt_step_adamw compute it; done here, on copies read from wherever the adapter lives,
// because LoRA factors are small and the moments then stay in one place for every device.
struct adamw_state {
    std::vector<std::vector<float>> m, v;
};

void adamw_step(lora_adapter & adapter, adamw_state & state, const train_params & p, int64_t iter) {
    const float beta1h = 1.0f / (1.0f - powf(p.beta1, (float) iter));
    const float beta2h = 1.0f / (1.0f - powf(p.beta2, (float) iter));
    const float keep = 1.0f - p.lr * p.weight_decay;
    size_t k = 0;
    std::vector<float> x, g;
    for (lora_weight & w : adapter.weights) {
        for (auto [param, grad] : {std::pair<ggml_tensor *, ggml_tensor *>{w.a, w.grad_a}, {w.b, w.grad_b}}) {
            const int64_t n = ggml_nelements(param);
            if (state.m.size() <= k) {
                state.m.emplace_back((size_t) n, 0.0f);
                state.v.emplace_back((size_t) n, 0.0f);
            }
            x.resize((size_t) n);
            g.resize((size_t) n);
            ggml_backend_tensor_get(param, x.data(), 0, ggml_nbytes(param));
            ggml_backend_tensor_get(grad, g.data(), 0, ggml_nbytes(grad));
            float * m = state.m[k].data();
            float * v = state.v[k].data();
            for (int64_t i = 0; i < n; i++) {
                m[i] = m[i] * p.beta1 + g[i] * (1.0f - p.beta1);
                v[i] = v[i] * p.beta2 + g[i] * g[i] * (1.0f - p.beta2);
                const float mh = m[i] * beta1h;
                const float vh = sqrtf(v[i] * beta2h) + p.eps;
                x[i] = x[i] * keep - p.lr * mh / vh;
            }
            ggml_backend_tensor_set(param, x.data(), 0, ggml_nbytes(param));
            k++;
        }
    }
}

void grads_clear(lora_adapter & adapter) {
    std::vector<uint8_t> zeros;
    for (lora_weight & w : adapter.weights) {
        for (ggml_tensor * grad : {w.grad_a, w.grad_b}) {
            zeros.assign(ggml_nbytes(grad), 0);
            ggml_backend_tensor_set(grad, zeros.data(), 0, zeros.size());
        }
    }
}

// Blocks while the trainer is paused. The cancel flag is an atomic set without the mutex, so the
// wait wakes up now and then to look at it.
void wait_while_paused(trainer & tr, const std::atomic<bool> & cancel) {
    std::unique_lock<std::mutex> lock(tr.pause_mutex);
    while (tr.paused && !cancel.load()) tr.pause_changed.wait_for(lock, std::chrono::milliseconds(50));
}

// What the CPU backend's node callback (pause_point) needs while a training runs.
struct pause_point_data {
    trainer * tr;
    const std::atomic<bool> * cancel;
};

// Called by ggml's first CPU compute thread after each node of a training graph: while paused it
// blocks, so that an answer arriving in the middle of a step (seconds on a 1B model) gets the
// cores after one node rather than after the step. The other compute threads spin at ggml's
// barrier meanwhile, at the encoder's background priority, and lose the core to any answer
// thread. Never aborts: a cancelled training ends the step it is in and stops before the next.
bool pause_point(void * data) {
    auto * point = static_cast<pause_point_data *>(data);
    if (point->tr->paused.load(std::memory_order_relaxed)) wait_while_paused(*point->tr, *point->cancel);
    return false;
}

}  // namespace

trainer * trainer_create(const std::string & model_path, const trainer_params & params) {
    std::unique_ptr<trainer, void (*)(trainer *)> tr(new trainer(), trainer_free);
    tr->n_threads = params.n_threads > 0 ? params.n_threads : (int32_t) std::max(1u, std::thread::hardware_concurrency());
    if (params.backward_type != GGML_TYPE_Q8_0 && params.backward_type != GGML_TYPE_Q4_0) {
        throw trainer_error(TRAINER_ERR_INVALID_INPUT, "backwardWeights must be 'q8_0' or 'q4_0'.");
    }
    tr->backward_type = params.backward_type;
    tr->cpu = backend_cpu_init(params.bins_dir, tr->n_threads);
    if (!params.device.empty() && params.device != "CPU") {
        device_backends_load(params.gpu_backends);
        ggml_backend_dev_t dev = device_find(params.device);
        if (dev == nullptr) {
            std::string known;
            for (const device_info & d : device_list()) known += (known.empty() ? "" : ", ") + d.name;
            throw trainer_error(TRAINER_ERR_INVALID_INPUT, "There is no compute device named '" + params.device + "' (found: " + known + ").");
        }
        tr->gpu = ggml_backend_dev_init(dev, nullptr);
        if (tr->gpu == nullptr) throw trainer_error(TRAINER_ERR_DEVICE, "The device " + params.device + " failed to initialize.");
    }
    tr->model = base_model_load(model_path);
    if (tr->gpu == nullptr) {
        weights_repack(*tr->model, tr->cpu);
        return tr.release();
    }
    // On a device the backward pass needs the transposed copies (its out_prod takes F32 only),
    // built now from the host weights, before those move; no CPU repacking, the CPU runs no matmul.
    ggml_backend_buffer_type_t buft = ggml_backend_get_default_buffer_type(tr->gpu);
    tr->backward = transposed_weights_build(*tr->model, tr->backward_type, nullptr, tr->n_threads);
    if (tr->backward->ctx != nullptr) {
        ggml_backend_buffer_t moved = device_tensors_move(tr->backward->ctx, buft, "the backward weights");
        ggml_backend_buffer_free(tr->backward->buf);
        tr->backward->buf = moved;
    }
    base_model_move(*tr->model, buft);
    return tr.release();
}

void trainer_set_threads(trainer & tr, int32_t n_threads) {
    if (n_threads < 1 || n_threads > 1024) throw_invalid("threads must be from 1 to 1024.");
    tr.n_threads.store(n_threads);
}

void trainer_set_paused(trainer & tr, bool paused) {
    {
        std::lock_guard<std::mutex> lock(tr.pause_mutex);
        tr.paused.store(paused);
    }
    tr.pause_changed.notify_all();
}

void trainer_free(trainer * tr) {
    if (tr == nullptr) return;
    if (tr->sched) ggml_backend_sched_free(tr->sched);
    if (tr->backward) transposed_weights_free(tr->backward);
    if (tr->forward) forward_copies_free(tr->forward);
    if (tr->model) base_model_free(tr->model);
    if (tr->gpu) ggml_backend_free(tr->gpu);
    if (tr->cpu) ggml_backend_free(tr->cpu);
    delete tr;
}

void sequences_validate(const base_model & model, const std::vector<token_sequence> & sequences, bool need_loss_tokens) {
    if (sequences.empty()) throw_invalid("No sequences were given.");
    const uint32_t n_ctx = std::min<uint32_t>(model.hp.n_ctx_train, TRAINER_MAX_TOKENS);
    for (size_t s = 0; s < sequences.size(); s++) {
        const token_sequence & seq = sequences[s];
        const std::string where = "Sequence " + std::to_string(s);
        if (seq.tokens.size() < 2) throw_invalid(where + " has fewer than 2 tokens; a next-token loss needs at least 2.");
        if (seq.tokens.size() > n_ctx) {
            throw_invalid(where + " has " + std::to_string(seq.tokens.size()) + " tokens, more than the model's context or the trainer's limit (" +
                          std::to_string(n_ctx) + "); split it into shorter sequences.");
        }
        for (size_t i = 0; i < seq.tokens.size(); i++) {
            if (seq.tokens[i] < 0 || (uint32_t) seq.tokens[i] >= model.hp.n_vocab) {
                throw_invalid(where + " has token id " + std::to_string(seq.tokens[i]) + " at " + std::to_string(i) +
                              ", outside the vocabulary [0, " + std::to_string(model.hp.n_vocab) + ").");
            }
        }
        if (!seq.loss_mask.empty() && seq.loss_mask.size() != seq.tokens.size()) {
            throw_invalid(where + ": lossMask has " + std::to_string(seq.loss_mask.size()) + " entries for " + std::to_string(seq.tokens.size()) + " tokens.");
        }
        if (need_loss_tokens && loss_token_count(seq) == 0) throw_invalid(where + " has no loss tokens (lossMask is 0 after the first token).");
        if (seq.soft_k == 0) {
            if (!seq.soft_ids.empty() || !seq.soft_probs.empty()) throw_invalid(where + ": teacher ids and probabilities need k > 0.");
            continue;
        }
        const size_t n_soft = loss_token_count(seq) * seq.soft_k;
        if (seq.soft_k > 1024) throw_invalid(where + ": teacher k must be at most 1024.");
        if (seq.soft_ids.size() != n_soft || seq.soft_probs.size() != n_soft) {
            throw_invalid(where + ": the teacher needs k ids and k probabilities for each of its " + std::to_string(loss_token_count(seq)) + " targets.");
        }
        for (size_t r = 0; r * seq.soft_k < n_soft; r++) {
            float sum = 0.0f;
            for (size_t j = r * seq.soft_k; j < (r + 1) * seq.soft_k; j++) {
                if (seq.soft_ids[j] < 0 || (uint32_t) seq.soft_ids[j] >= model.hp.n_vocab) throw_invalid(where + ": a teacher token id is outside the vocabulary.");
                if (!(seq.soft_probs[j] >= 0.0f) || !std::isfinite(seq.soft_probs[j])) throw_invalid(where + ": teacher probabilities must be finite and >= 0.");
                sum += seq.soft_probs[j];
            }
            if (!(sum > 0.0f) || sum > 1.001f) throw_invalid(where + ": each target's teacher probabilities must sum to more than 0 and at most 1.");
        }
    }
}

void train_params_validate(const base_model & model, const train_params & p) {
    if (p.targets.empty()) throw_invalid("targets is empty.");
    for (const std::string & t : p.targets) {
        const auto & names = lora_target_names();
        if (std::find(names.begin(), names.end(), t) == names.end()) {
            throw_invalid("Unknown LoRA target '" + t + "' (known: attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down).");
        }
    }
    if (p.rank == 0 || p.rank > 4096) throw_invalid("rank must be between 1 and 4096.");
    if (p.first_layer >= model.hp.n_layer) throw_invalid("firstLayer must be below the model's layer count (" + std::to_string(model.hp.n_layer) + ").");
    if (p.rank > model.hp.n_embd) throw_invalid("rank is larger than the model's hidden size.");
    if (!std::isfinite(p.alpha) || p.alpha < 0.0f) throw_invalid("alpha must be a finite number >= 0.");
    if (!std::isfinite(p.lr) || p.lr <= 0.0f || p.lr > 1.0f) throw_invalid("lr must be in (0, 1].");
    if (!(p.beta1 >= 0.0f && p.beta1 < 1.0f && p.beta2 >= 0.0f && p.beta2 < 1.0f)) throw_invalid("AdamW betas must be in [0, 1).");
    if (!(p.eps >= 0.0f) || !std::isfinite(p.eps)) throw_invalid("eps must be >= 0.");
    if (!(p.weight_decay >= 0.0f && p.weight_decay * p.lr <= 1.0f)) throw_invalid("weightDecay must be >= 0 (and lr * weightDecay <= 1).");
    if (p.epochs == 0 || p.epochs > 1000000) throw_invalid("epochs must be a positive integer.");
    if (p.batch_size == 0 || p.batch_size > 1000000) throw_invalid("batchSize must be a positive integer.");
    if (p.grad_accum == 0 || p.grad_accum > 1000000) throw_invalid("gradAccumulation must be a positive integer.");
    if (!(p.distill_weight >= 0.0f && p.distill_weight <= 1.0f)) throw_invalid("distillWeight must be in [0, 1].");
}

train_result trainer_train(trainer & tr, const std::vector<token_sequence> & sequences, const train_params & p,
                           const train_progress_fn & progress, const std::atomic<bool> & cancel) {
    std::lock_guard<std::mutex> lock(tr.busy);
    const base_model & model = *tr.model;
    sequences_validate(model, sequences, true);
    train_params_validate(model, p);
    adapter_out_path_check(p.out_path);

    if (tr.backward == nullptr && !p.exact_backward) tr.backward = transposed_weights_build(model, tr.backward_type, tr.cpu, tr.n_threads);
    if (tr.forward == nullptr && !p.exact_backward && tr.gpu == nullptr) {
        tr.forward = forward_copies_build(model, tr.cpu, tr.n_threads);
        // Gradients through a copy go through the transposed copy of its weight.
        for (const auto & [w, copy] : tr.forward->by_weight) tr.backward->by_weight[copy] = tr.backward->by_weight.at(w);
    }

    adapter_ptr adapter(nullptr, lora_adapter_free);
    if (!p.init_path.empty()) {
        adapter.reset(lora_adapter_load(model, p.init_path, true));
    } else {
        lora_init_params ip;
        ip.targets = p.targets;
        ip.rank = p.rank;
        ip.alpha = p.alpha;
        ip.seed = p.seed;
        ip.first_layer = p.first_layer;
        adapter.reset(lora_adapter_init_random(model, ip, true));
    }
    adapter_place(tr, *adapter, false);

    // Steps: each epoch visits every sequence once (shuffled by the seed when asked); an
    // optimizer step covers batch_size * grad_accum sequences, the last one what is left.
    const size_t per_step = (size_t) p.batch_size * p.grad_accum;
    const size_t steps_per_epoch = (sequences.size() + per_step - 1) / per_step;
    const int32_t total_steps = (int32_t) (steps_per_epoch * p.epochs);
    uint64_t shuffle_state = p.seed ^ 0x5DEECE66Dull;
    auto next_random = [&shuffle_state]() {
        uint64_t z = (shuffle_state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    };

    pause_point_data point{&tr, &cancel};
    backend_cpu_set_abort_callback(tr.cpu, pause_point, &point);
    struct pause_point_reset {
        ggml_backend_t cpu;
        ~pause_point_reset() { backend_cpu_set_abort_callback(cpu, nullptr, nullptr); }
    } point_reset{tr.cpu};

    train_result result;
    if (!p.exact_backward && tr.forward != nullptr) result.forward_copies = (int32_t) tr.forward->by_weight.size();
    std::set<std::string, std::less<>> graph_ops;
    adamw_state opt;
    std::vector<size_t> order(sequences.size());
    for (uint32_t epoch = 0; epoch < p.epochs; epoch++) {
        for (size_t i = 0; i < order.size(); i++) order[i] = i;
        if (p.shuffle) {
            for (size_t i = order.size(); i > 1; i--) std::swap(order[i - 1], order[(size_t) (next_random() % i)]);
        }
        for (size_t step = 0; step < steps_per_epoch; step++) {
            const size_t begin = step * per_step, end = std::min(order.size(), begin + per_step);
            size_t step_tokens = 0;
            for (size_t i = begin; i < end; i++) step_tokens += loss_token_count(sequences[order[i]]);
            grads_clear(*adapter);
            float step_loss = 0.0f;
            for (size_t i = begin; i < end; i++) {
                wait_while_paused(tr, cancel);
                if (cancel.load()) throw trainer_error(TRAINER_ERR_CANCELLED, "Training was cancelled.");
                step_loss += sequence_backward(tr, *adapter, sequences[order[i]], step_tokens, p, graph_ops);
                result.splits = std::max(result.splits, tr.last_splits);
            }
            if (!std::isfinite(step_loss)) throw trainer_error(TRAINER_ERR_INTERNAL, "The training loss is not finite (lr too high?).");
            result.steps++;
            adamw_step(*adapter, opt, p, result.steps);
            result.losses.push_back(step_loss);
            if (progress) progress(result.steps, total_steps, step_loss);
        }
    }
    if (cancel.load()) throw trainer_error(TRAINER_ERR_CANCELLED, "Training was cancelled.");
    result.graph_ops.assign(graph_ops.begin(), graph_ops.end());
    adapter_place(tr, *adapter, true);
    adapter_write(model, *adapter, p.out_path, p.out_type);
    return result;
}

device_info trainer_device(const trainer & tr) {
    ggml_backend_dev_t dev = ggml_backend_get_device(tr.gpu != nullptr ? tr.gpu : tr.cpu);
    for (const device_info & d : device_list()) {
        if (d.name == ggml_backend_dev_name(dev)) return d;
    }
    return {ggml_backend_dev_name(dev), ggml_backend_dev_description(dev), tr.gpu != nullptr ? "gpu" : "cpu", 0, 0};
}

std::vector<float> trainer_logits(trainer & tr, const std::vector<int32_t> & tokens, const std::vector<adapter_spec> & specs) {
    std::lock_guard<std::mutex> lock(tr.busy);
    token_sequence seq;
    seq.tokens = tokens;
    if (tokens.empty()) throw_invalid("No tokens were given.");
    if (tokens.size() > 1) sequences_validate(*tr.model, {seq}, false);
    else if (tokens[0] < 0 || (uint32_t) tokens[0] >= tr.model->hp.n_vocab) throw_invalid("Token id outside the vocabulary.");
    std::vector<adapter_ptr> adapters = adapters_load(tr, specs);
    return logits_compute(tr, tokens, adapter_refs(adapters, specs));
}

double trainer_loss(trainer & tr, const std::vector<token_sequence> & sequences, const std::vector<adapter_spec> & specs) {
    std::lock_guard<std::mutex> lock(tr.busy);
    sequences_validate(*tr.model, sequences, true);
    std::vector<adapter_ptr> adapters = adapters_load(tr, specs);
    const std::vector<adapter_ref> refs = adapter_refs(adapters, specs);
    const size_t n_vocab = tr.model->hp.n_vocab;
    double nll = 0.0;
    size_t count = 0;
    for (const token_sequence & seq : sequences) {
        const std::vector<float> logits = logits_compute(tr, seq.tokens, refs);
        for (size_t t = 0; t + 1 < seq.tokens.size(); t++) {
            if (!mask_at(seq, t + 1)) continue;
            const float * row = logits.data() + t * n_vocab;
            double max = row[0];
            for (size_t j = 1; j < n_vocab; j++) max = std::max(max, (double) row[j]);
            double sum = 0.0;
            for (size_t j = 0; j < n_vocab; j++) sum += std::exp((double) row[j] - max);
            nll += (max + std::log(sum)) - (double) row[(size_t) seq.tokens[t + 1]];
            count++;
        }
    }
    return nll / (double) count;
}
