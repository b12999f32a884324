// Why merge: llama.cpp adds two small matrix products, a scale and an add per adapted weight
// and per adapter. With k adapters on three FFN weights of every layer, decoding one token runs
// hundreds of tiny ops, each ending in a thread barrier; one merged adapter of rank k*r runs
// the same arithmetic in a quarter of the ops per adapter.
#include "adapter_merge.h"

#include <cstring>
#include <map>
#include <memory>

#include "gguf.h"
#include "trainer_error.h"

namespace {

struct gguf_file {
    gguf_context * gguf = nullptr;
    ggml_context * data = nullptr;  // tensors with their values, owned
    ~gguf_file() {
        if (gguf) gguf_free(gguf);
        if (data) ggml_free(data);
    }
};

std::string gguf_string(const gguf_context * gguf, const char * key) {
    const int64_t id = gguf_find_key(gguf, key);
    if (id < 0 || gguf_get_kv_type(gguf, id) != GGUF_TYPE_STRING) return "";
    return gguf_get_val_str(gguf, id);
}

// A tensor's values as F32, whatever its stored type.
std::vector<float> tensor_values(const ggml_tensor * t, const std::string & path) {
    std::vector<float> out(ggml_nelements(t));
    if (t->type == GGML_TYPE_F32) {
        memcpy(out.data(), t->data, out.size() * sizeof(float));
        return out;
    }
    const ggml_type_traits * traits = ggml_get_type_traits(t->type);
    if (traits->to_float == nullptr || (ggml_is_quantized(t->type) && t->ne[0] % ggml_blck_size(t->type) != 0)) {
        throw trainer_error(TRAINER_ERR_INVALID_INPUT, path + " holds a tensor of an unsupported type: " + std::string(t->name) + ".");
    }
    traits->to_float(t->data, out.data(), (int64_t) out.size());
    return out;
}

// One input's part of one adapted weight.
struct weight_part {
    int64_t in = 0, out = 0, rank = 0;
    std::vector<float> a;  // [in, rank]
    std::vector<float> b;  // [rank, out]
    float scale = 1.0f;    // applied to b
};

}  // namespace

void adapter_merge(const std::vector<adapter_spec> & inputs, const std::string & out_path, adapter_out_type out_type) {
    if (inputs.empty()) throw trainer_error(TRAINER_ERR_INVALID_INPUT, "No adapters to merge.");
    const bool conversion = inputs.size() == 1 && inputs[0].scale == 1.0f;
    std::string arch;
    float kept_alpha = 0.0f;
    // Sorted by weight name, so the output's tensor order does not depend on the inputs' order.
    std::map<std::string, std::vector<weight_part>> weights;

    for (const adapter_spec & input : inputs) {
        gguf_file file;
        gguf_init_params params = {/*no_alloc =*/ false, /*ctx =*/ &file.data};
        file.gguf = gguf_init_from_file(input.path.c_str(), params);
        if (file.gguf == nullptr) throw trainer_error(TRAINER_ERR_INVALID_INPUT, input.path + " is missing, truncated or not a GGUF file.");
        if (gguf_string(file.gguf, "general.type") != "adapter" || gguf_string(file.gguf, "adapter.type") != "lora") {
            throw trainer_error(TRAINER_ERR_INVALID_INPUT, input.path + " is not a LoRA adapter.");
        }
        const std::string file_arch = gguf_string(file.gguf, "general.architecture");
        if (arch.empty()) arch = file_arch;
        else if (file_arch != arch) throw trainer_error(TRAINER_ERR_INVALID_INPUT, input.path + " is for a " + file_arch + " model, the others for " + arch + ".");
        const int64_t alpha_id = gguf_find_key(file.gguf, "adapter.lora.alpha");
        const float alpha = alpha_id >= 0 && gguf_get_kv_type(file.gguf, alpha_id) == GGUF_TYPE_FLOAT32 ? gguf_get_val_f32(file.gguf, alpha_id) : 0.0f;
        kept_alpha = alpha;

        std::map<std::string, std::pair<ggml_tensor *, ggml_tensor *>> pairs;
        // By the file's tensor list: the data context also holds gguf's own blob tensor.
        for (int64_t i = 0; i < gguf_get_n_tensors(file.gguf); i++) {
            const std::string name = gguf_get_tensor_name(file.gguf, i);
            ggml_tensor * t = ggml_get_tensor(file.data, name.c_str());
            if (ggml_n_dims(t) > 2) throw trainer_error(TRAINER_ERR_INVALID_INPUT, input.path + " has a tensor with more than 2 dimensions.");
            const auto ends_with = [&](const char * suffix) { return name.size() > 7 && name.compare(name.size() - 7, 7, suffix) == 0; };
            if (ends_with(".lora_a")) pairs[name.substr(0, name.size() - 7)].first = t;
            else if (ends_with(".lora_b")) pairs[name.substr(0, name.size() - 7)].second = t;
            else throw trainer_error(TRAINER_ERR_INVALID_INPUT, input.path + " holds a tensor that is not lora_a/lora_b: " + name + ".");
        }
        for (const auto & [name, pair] : pairs) {
            const ggml_tensor * a = pair.first;
            const ggml_tensor * b = pair.second;
            if (a == nullptr || b == nullptr) throw trainer_error(TRAINER_ERR_INVALID_INPUT, input.path + " lacks lora_a or lora_b for " + name + ".");
            if (a->ne[1] != b->ne[0] || a->ne[1] <= 0) throw trainer_error(TRAINER_ERR_INVALID_INPUT, input.path + " has mismatched lora_a/lora_b shapes for " + name + ".");
            weight_part part;
            part.in = a->ne[0];
            part.out = b->ne[1];
            part.rank = a->ne[1];
            part.a = tensor_values(a, input.path);
            part.b = tensor_values(b, input.path);
            part.scale = conversion ? 1.0f : (alpha != 0.0f ? input.scale * alpha / (float) part.rank : input.scale);
            std::vector<weight_part> & parts = weights[name];
            if (!parts.empty() && (parts[0].in != part.in || parts[0].out != part.out)) {
                throw trainer_error(TRAINER_ERR_INVALID_INPUT, input.path + " does not fit the other adapters (shape of " + name + ").");
            }
            parts.push_back(std::move(part));
        }
    }

    // Stack each weight's parts: A_i as consecutive rank rows of A; per output row of B, the
    // parts' rank columns side by side, scaled.
    std::vector<std::vector<float>> storage;
    std::vector<adapter_tensor_values> tensors;
    storage.reserve(weights.size() * 2);
    for (const auto & [name, parts] : weights) {
        int64_t rank = 0;
        for (const weight_part & p : parts) rank += p.rank;
        const int64_t in = parts[0].in, out = parts[0].out;
        std::vector<float> & a = storage.emplace_back();
        a.reserve(in * rank);
        for (const weight_part & p : parts) a.insert(a.end(), p.a.begin(), p.a.end());
        std::vector<float> & b = storage.emplace_back(rank * out);
        int64_t offset = 0;
        for (const weight_part & p : parts) {
            for (int64_t o = 0; o < out; o++) {
                for (int64_t j = 0; j < p.rank; j++) b[o * rank + offset + j] = p.b[o * p.rank + j] * p.scale;
            }
            offset += p.rank;
        }
        tensors.push_back({name + ".lora_a", in, rank, a.data(), true});
        tensors.push_back({name + ".lora_b", rank, out, b.data(), false});
    }
    adapter_file_write(arch, conversion ? kept_alpha : 0.0f, tensors, out_path, out_type);
}
