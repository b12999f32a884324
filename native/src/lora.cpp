#include "lora.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include "adapter_read.h"
#include "trainer_error.h"

namespace {

// splitmix64: tiny, portable and fully specified, unlike std::uniform_real_distribution whose
// output differs between standard libraries.
struct rng_state {
    uint64_t s;
    uint64_t next_u64() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // uniform in [0, 1) with 53 random bits
    double next_unit() { return (double) (next_u64() >> 11) * (1.0 / 9007199254740992.0); }
};

// Creates ctx + tensors for the given weights (a/b shapes already decided) and allocates them.
void adapter_allocate(lora_adapter & adapter, std::vector<std::pair<int64_t, int64_t>> & shapes_in_r_out, bool trainable,
                      const std::vector<ggml_type> & types = {}) {
    const size_t n_tensors = adapter.weights.size() * (trainable ? 4 : 2);
    ggml_init_params params = {/*mem_size =*/ (n_tensors + 1) * ggml_tensor_overhead(), /*mem_buffer =*/ nullptr, /*no_alloc =*/ true};
    adapter.ctx = ggml_init(params);
    if (adapter.ctx == nullptr) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory for the adapter.");
    for (size_t i = 0; i < adapter.weights.size(); i++) {
        lora_weight & w = adapter.weights[i];
        const int64_t in = w.base->ne[0], out = w.base->ne[1], r = shapes_in_r_out[i].second;
        const std::string name = "blk." + std::to_string(w.layer) + "." + w.target + ".weight";
        const ggml_type type_a = types.empty() ? GGML_TYPE_F32 : types[2 * i];
        const ggml_type type_b = types.empty() ? GGML_TYPE_F32 : types[2 * i + 1];
        w.a = ggml_new_tensor_2d(adapter.ctx, type_a, in, r);
        w.b = ggml_new_tensor_2d(adapter.ctx, type_b, r, out);
        ggml_set_name(w.a, (name + ".lora_a").c_str());
        ggml_set_name(w.b, (name + ".lora_b").c_str());
        if (trainable) {
            ggml_set_param(w.a);
            ggml_set_param(w.b);
            w.grad_a = ggml_dup_tensor(adapter.ctx, w.a);
            w.grad_b = ggml_dup_tensor(adapter.ctx, w.b);
        }
    }
    adapter.buf = ggml_backend_alloc_ctx_tensors_from_buft(adapter.ctx, ggml_backend_cpu_buffer_type());
    if (adapter.buf == nullptr) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory for the adapter.");
    ggml_backend_buffer_clear(adapter.buf, 0);
}

}  // namespace

const lora_weight * lora_adapter::weight_find(uint32_t il, const ggml_tensor * base) const {
    for (const lora_weight & w : weights) {
        if (w.layer == il && w.base == base) return &w;
    }
    return nullptr;
}

float lora_weight_scale(const lora_weight & w, float alpha, float scale) {
    const float rank = (float) w.b->ne[0];
    return alpha != 0.0f ? scale * alpha / rank : scale;
}

int64_t lora_adapter_n_params(const lora_adapter & adapter) {
    int64_t n = 0;
    for (const lora_weight & w : adapter.weights) n += ggml_nelements(w.a) + ggml_nelements(w.b);
    return n;
}

lora_adapter * lora_adapter_init_random(const base_model & model, const lora_init_params & params, bool trainable) {
    std::unique_ptr<lora_adapter, void (*)(lora_adapter *)> adapter(new lora_adapter(), lora_adapter_free);
    adapter->alpha = params.alpha;
    std::vector<std::pair<int64_t, int64_t>> shapes;
    // Layer-major, then targets in the fixed order of lora_target_names(), so the random
    // stream does not depend on the order the caller listed the targets in.
    auto wanted = [&](const std::string & target) {
        return std::find(params.targets.begin(), params.targets.end(), target) != params.targets.end();
    };
    for (uint32_t il = params.first_layer; il < model.hp.n_layer; il++) {
        for (const std::string & target : lora_target_names()) {
            if (!wanted(target)) continue;
            lora_weight w;
            w.layer = il;
            w.target = target;
            w.base = base_model_target_weight(model, il, target);
            adapter->weights.push_back(w);
            shapes.emplace_back(w.base->ne[0], (int64_t) params.rank);
        }
    }
    adapter_allocate(*adapter, shapes, trainable);
    rng_state rng = {params.seed};
    size_t next = 0;
    for (uint32_t il = 0; il < model.hp.n_layer; il++) {
        for (const std::string & target : lora_target_names()) {
            if (!wanted(target)) continue;
            const int64_t in = base_model_target_weight(model, il, target)->ne[0];
            const double bound = 1.0 / std::sqrt((double) in);
            if (il < params.first_layer) {  // not adapted: its draws are skipped, not reused
                for (int64_t i = 0; i < in * (int64_t) params.rank; i++) rng.next_u64();
                continue;
            }
            lora_weight & w = adapter->weights[next++];
            float * a = (float *) w.a->data;
            for (int64_t i = 0; i < ggml_nelements(w.a); i++) a[i] = (float) ((2.0 * rng.next_unit() - 1.0) * bound);
            // B stays 0 (cleared at allocation): the adapter starts as the identity, as in PEFT.
        }
    }
    return adapter.release();
}

lora_adapter * lora_adapter_load(const base_model & model, const std::string & path, bool trainable) {
    std::unique_ptr<lora_adapter, void (*)(lora_adapter *)> adapter(new lora_adapter(), lora_adapter_free);
    adapter_file file;
    adapter_file_read(path, file);
    auto invalid = [&](const std::string & why) { return trainer_error(TRAINER_ERR_INVALID_INPUT, "The adapter " + path + " " + why); };
    if (file.arch != model.arch_name) throw invalid("was made for another architecture than " + model.arch_name + ".");
    adapter->alpha = file.alpha;

    std::vector<std::pair<int64_t, int64_t>> shapes;
    std::vector<const adapter_file_weight *> sources;
    std::set<std::string> matched;
    for (uint32_t il = 0; il < model.hp.n_layer; il++) {
        for (const std::string & target : lora_target_names()) {
            const std::string name = "blk." + std::to_string(il) + "." + target + ".weight";
            auto it = file.weights.find(name);
            if (it == file.weights.end()) continue;
            matched.insert(name);
            const adapter_file_weight & src = it->second;
            ggml_tensor * base = base_model_target_weight(model, il, target);
            if (src.in != base->ne[0] || src.out != base->ne[1]) throw invalid("does not fit this base model (shape of " + name + ").");
            lora_weight w;
            w.layer = il;
            w.target = target;
            w.base = base;
            adapter->weights.push_back(w);
            shapes.emplace_back(base->ne[0], src.rank);
            sources.push_back(&src);
        }
    }
    for (const auto & kv : file.weights) {
        if (!matched.count(kv.first)) throw invalid("adapts a weight this trainer does not know: " + kv.first + ".");
    }
    // Evaluation keeps llama.cpp-layout tensors in the file's type, because llama.cpp multiplies
    // with F16 lora tensors as they are (rounding activations to F16). Training needs F32
    // parameters, and compact files are expanded to F32 for llama.cpp too (adapter_merge).
    std::vector<ggml_type> types;
    for (const adapter_file_weight * src : sources) {
        const bool as_stored = !trainable && !file.compact;
        types.push_back(as_stored ? src->a->type : GGML_TYPE_F32);
        types.push_back(as_stored ? src->b->type : GGML_TYPE_F32);
    }
    adapter_allocate(*adapter, shapes, trainable, types);
    for (size_t i = 0; i < sources.size(); i++) {
        lora_weight & w = adapter->weights[i];
        const adapter_file_weight & src = *sources[i];
        if (w.a->type == src.a->type && w.b->type == src.b->type && !src.b_transposed) {
            memcpy(w.a->data, src.a->data, ggml_nbytes(w.a));
            memcpy(w.b->data, src.b->data, ggml_nbytes(w.b));
        } else {
            const std::vector<float> a = adapter_file_a_values(src);
            const std::vector<float> b = adapter_file_b_values(src);
            memcpy(w.a->data, a.data(), a.size() * sizeof(float));
            memcpy(w.b->data, b.data(), b.size() * sizeof(float));
        }
    }
    return adapter.release();
}

void lora_adapter_free(lora_adapter * adapter) {
    if (adapter == nullptr) return;
    if (adapter->buf) ggml_backend_buffer_free(adapter->buf);
    if (adapter->ctx) ggml_free(adapter->ctx);
    delete adapter;
}
