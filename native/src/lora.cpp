#include "lora.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

#include "gguf.h"
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

std::string gguf_str(const gguf_context * gguf, const char * key) {
    const int64_t id = gguf_find_key(gguf, key);
    if (id < 0 || gguf_get_kv_type(gguf, id) != GGUF_TYPE_STRING) return "";
    return gguf_get_val_str(gguf, id);
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
    for (uint32_t il = 0; il < model.hp.n_layer; il++) {
        for (const std::string & target : lora_target_names()) {
            bool wanted = false;
            for (const std::string & t : params.targets) wanted = wanted || t == target;
            if (!wanted) continue;
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
    for (lora_weight & w : adapter->weights) {
        const double bound = 1.0 / std::sqrt((double) w.base->ne[0]);
        float * a = (float *) w.a->data;
        for (int64_t i = 0; i < ggml_nelements(w.a); i++) a[i] = (float) ((2.0 * rng.next_unit() - 1.0) * bound);
        // B stays 0 (cleared at allocation): the adapter starts as the identity, as in PEFT.
    }
    return adapter.release();
}

lora_adapter * lora_adapter_load(const base_model & model, const std::string & path, bool trainable) {
    std::unique_ptr<lora_adapter, void (*)(lora_adapter *)> adapter(new lora_adapter(), lora_adapter_free);
    ggml_context * meta_ctx = nullptr;
    gguf_init_params gparams = {/*no_alloc =*/ true, /*ctx =*/ &meta_ctx};
    gguf_context * gguf = gguf_init_from_file(path.c_str(), gparams);
    if (gguf == nullptr) {
        FILE * f = fopen(path.c_str(), "rb");
        if (f == nullptr) throw trainer_error(TRAINER_ERR_IO, "Cannot open the adapter file " + path + ".");
        fclose(f);
        throw trainer_error(TRAINER_ERR_INVALID_INPUT, "The file " + path + " is not a valid GGUF adapter.");
    }
    std::unique_ptr<gguf_context, void (*)(gguf_context *)> gguf_owner(gguf, gguf_free);
    std::unique_ptr<ggml_context, void (*)(ggml_context *)> meta_owner(meta_ctx, ggml_free);
    auto invalid = [&](const std::string & why) { return trainer_error(TRAINER_ERR_INVALID_INPUT, "The adapter " + path + " " + why); };

    if (gguf_str(gguf, "general.type") != "adapter" || gguf_str(gguf, "adapter.type") != "lora") throw invalid("is not a LoRA adapter.");
    if (gguf_str(gguf, "general.architecture") != model.arch_name) throw invalid("was made for another architecture than " + model.arch_name + ".");
    const int64_t alpha_id = gguf_find_key(gguf, "adapter.lora.alpha");
    adapter->alpha = alpha_id >= 0 && gguf_get_kv_type(gguf, alpha_id) == GGUF_TYPE_FLOAT32 ? gguf_get_val_f32(gguf, alpha_id) : 0.0f;

    // Pair up lora_a / lora_b by the name of the weight they adapt.
    struct pair_src { ggml_tensor * a = nullptr; ggml_tensor * b = nullptr; };
    std::map<std::string, pair_src> pairs;
    for (ggml_tensor * t = ggml_get_first_tensor(meta_ctx); t != nullptr; t = ggml_get_next_tensor(meta_ctx, t)) {
        const std::string name = t->name;
        auto ends_with = [&](const char * s) { const size_t n = strlen(s); return name.size() > n && name.compare(name.size() - n, n, s) == 0; };
        if (ends_with(".lora_a")) pairs[name.substr(0, name.size() - 7)].a = t;
        else if (ends_with(".lora_b")) pairs[name.substr(0, name.size() - 7)].b = t;
        else throw invalid("holds a tensor that is not lora_a/lora_b: " + name + ".");
    }
    std::vector<std::pair<int64_t, int64_t>> shapes;
    std::vector<pair_src> sources;
    for (uint32_t il = 0; il < model.hp.n_layer; il++) {
        for (const std::string & target : lora_target_names()) {
            const std::string name = "blk." + std::to_string(il) + "." + target + ".weight";
            auto it = pairs.find(name);
            if (it == pairs.end()) continue;
            const pair_src src = it->second;
            pairs.erase(it);
            if (src.a == nullptr || src.b == nullptr) throw invalid("lacks lora_a or lora_b for " + name + ".");
            ggml_tensor * base = base_model_target_weight(model, il, target);
            for (ggml_tensor * t : {src.a, src.b}) {
                if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_Q8_0) throw invalid("has a tensor that is not F32, F16 or Q8_0: " + std::string(t->name) + ".");
                if (ggml_n_dims(t) > 2) throw invalid("has a tensor with more than 2 dimensions.");
            }
            if (src.a->ne[0] != base->ne[0] || src.b->ne[1] != base->ne[1] || src.a->ne[1] != src.b->ne[0] || src.a->ne[1] <= 0) {
                throw invalid("does not fit this base model (shape of " + name + ").");
            }
            lora_weight w;
            w.layer = il;
            w.target = target;
            w.base = base;
            adapter->weights.push_back(w);
            shapes.emplace_back(base->ne[0], src.a->ne[1]);
            sources.push_back(src);
        }
    }
    if (!pairs.empty()) throw invalid("adapts a weight this trainer does not know: " + pairs.begin()->first + ".");
    if (adapter->weights.empty()) throw invalid("holds no LoRA weights.");
    // Evaluation keeps each tensor in the file's type, because llama.cpp multiplies with F16
    // lora tensors as they are (rounding activations to F16); training needs F32 parameters.
    std::vector<ggml_type> types;
    for (const pair_src & src : sources) {
        types.push_back(trainable ? GGML_TYPE_F32 : src.a->type);
        types.push_back(trainable ? GGML_TYPE_F32 : src.b->type);
    }
    adapter_allocate(*adapter, shapes, trainable, types);

    FILE * f = fopen(path.c_str(), "rb");
    if (f == nullptr) throw trainer_error(TRAINER_ERR_IO, "Cannot open the adapter file " + path + ".");
    std::unique_ptr<FILE, int (*)(FILE *)> file_owner(f, fclose);
    fseek(f, 0, SEEK_END);
    const size_t file_size = (size_t) ftell(f);
    const size_t data_offset = gguf_get_data_offset(gguf);
    std::vector<uint8_t> raw;
    for (size_t i = 0; i < sources.size(); i++) {
        const std::pair<ggml_tensor *, ggml_tensor *> dst_src[2] = {{adapter->weights[i].a, sources[i].a}, {adapter->weights[i].b, sources[i].b}};
        for (auto [dst, src] : dst_src) {
            const int64_t id = gguf_find_tensor(gguf, src->name);
            const size_t offs = data_offset + gguf_get_tensor_offset(gguf, id);
            const size_t size = ggml_nbytes(src);
            if (offs + size > file_size) throw invalid("is truncated.");
            raw.resize(size);
            if (fseek(f, (long) offs, SEEK_SET) != 0 || fread(raw.data(), 1, size, f) != size) throw trainer_error(TRAINER_ERR_IO, "Cannot read the adapter file " + path + ".");
            if (src->type != dst->type) {
                // Only training asks for a conversion, always to F32 (its parameters).
                ggml_get_type_traits(src->type)->to_float(raw.data(), (float *) dst->data, ggml_nelements(src));
            } else {
                memcpy(dst->data, raw.data(), size);
            }
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
