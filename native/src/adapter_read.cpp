#include "adapter_read.h"

#include <cstdio>
#include <cstring>

#include "file_utf8.h"
#include "trainer_error.h"

namespace {

std::string gguf_string(const gguf_context * gguf, const char * key) {
    const int64_t id = gguf_find_key(gguf, key);
    if (id < 0 || gguf_get_kv_type(gguf, id) != GGUF_TYPE_STRING) return "";
    return gguf_get_val_str(gguf, id);
}

bool ends_with(const std::string & s, const char * suffix) {
    const size_t n = strlen(suffix);
    return s.size() > n && s.compare(s.size() - n, n, suffix) == 0;
}

// Rows of t (ne1 of them, each `length` long after dropping the padding) as F32.
std::vector<float> rows_values(const ggml_tensor * t, int64_t length) {
    const int64_t n_rows = t->ne[1];
    std::vector<float> row((size_t) t->ne[0]);
    std::vector<float> out((size_t) (length * n_rows));
    const ggml_to_float_t to_float = ggml_get_type_traits(t->type)->to_float;
    for (int64_t r = 0; r < n_rows; r++) {
        const char * src = (const char *) t->data + (size_t) r * t->nb[1];
        if (t->type == GGML_TYPE_F32) memcpy(row.data(), src, row.size() * sizeof(float));
        else to_float(src, row.data(), t->ne[0]);
        memcpy(&out[(size_t) (r * length)], row.data(), (size_t) length * sizeof(float));
    }
    return out;
}

}  // namespace

adapter_file::~adapter_file() {
    if (gguf) gguf_free(gguf);
    if (data) ggml_free(data);
}

std::string adapter_length_key(const std::string & tensor_name) { return "paramkb.lora.length." + tensor_name; }

[[noreturn]] static void throw_unreadable(const std::string & path) {
    FILE * f = file_open(path, "rb");
    if (f == nullptr) throw trainer_error(TRAINER_ERR_IO, "Cannot open the adapter file " + path + " (is it missing?).");
    fclose(f);
    throw trainer_error(TRAINER_ERR_INVALID_INPUT, "The adapter " + path + " is truncated or not a GGUF file.");
}

bool adapter_file_is_compact(const std::string & path) {
    gguf_init_params params = {/*no_alloc =*/ true, /*ctx =*/ nullptr};
    gguf_context * gguf = gguf_init_from_file(path.c_str(), params);
    if (gguf == nullptr) throw_unreadable(path);
    const bool compact = gguf_string(gguf, ADAPTER_LAYOUT_KEY) == "compact";
    gguf_free(gguf);
    return compact;
}

void adapter_file_read(const std::string & path, adapter_file & file) {
    file.path = path;
    gguf_init_params params = {/*no_alloc =*/ false, /*ctx =*/ &file.data};
    file.gguf = gguf_init_from_file(path.c_str(), params);
    if (file.gguf == nullptr) throw_unreadable(path);
    auto invalid = [&](const std::string & why) { return trainer_error(TRAINER_ERR_INVALID_INPUT, "The adapter " + path + " " + why); };
    if (gguf_string(file.gguf, "general.type") != "adapter" || gguf_string(file.gguf, "adapter.type") != "lora") throw invalid("is not a LoRA adapter.");
    file.arch = gguf_string(file.gguf, "general.architecture");
    const int64_t alpha_id = gguf_find_key(file.gguf, "adapter.lora.alpha");
    file.alpha = alpha_id >= 0 && gguf_get_kv_type(file.gguf, alpha_id) == GGUF_TYPE_FLOAT32 ? gguf_get_val_f32(file.gguf, alpha_id) : 0.0f;
    const std::string layout = gguf_string(file.gguf, ADAPTER_LAYOUT_KEY);
    if (!layout.empty() && layout != "compact") throw invalid("has an unknown layout '" + layout + "' (made by a newer ParamKB?).");
    file.compact = layout == "compact";
    const char * b_suffix = file.compact ? ".lora_bt" : ".lora_b";

    // Row length of a stored tensor: ne0, or the unpadded length recorded for compact rows.
    auto length_of = [&](const ggml_tensor * t) {
        if (!file.compact) return t->ne[0];
        const int64_t id = gguf_find_key(file.gguf, adapter_length_key(t->name).c_str());
        if (id < 0 || gguf_get_kv_type(file.gguf, id) != GGUF_TYPE_UINT32) throw invalid("lacks the row length of " + std::string(t->name) + ".");
        const int64_t n = gguf_get_val_u32(file.gguf, id);
        if (n <= 0 || n > t->ne[0]) throw invalid("records a wrong row length for " + std::string(t->name) + ".");
        return n;
    };
    std::map<std::string, std::pair<const ggml_tensor *, const ggml_tensor *>> pairs;
    // By the file's tensor list: the data context also holds gguf's own blob tensor.
    for (int64_t i = 0; i < gguf_get_n_tensors(file.gguf); i++) {
        const std::string name = gguf_get_tensor_name(file.gguf, i);
        const ggml_tensor * t = ggml_get_tensor(file.data, name.c_str());
        if (ggml_n_dims(t) > 2) throw invalid("has a tensor with more than 2 dimensions.");
        const ggml_type_traits * traits = ggml_get_type_traits(t->type);
        if (t->type != GGML_TYPE_F32 && traits->to_float == nullptr) throw invalid("holds a tensor of an unsupported type: " + name + ".");
        if (ends_with(name, ".lora_a")) pairs[name.substr(0, name.size() - 7)].first = t;
        else if (ends_with(name, b_suffix)) pairs[name.substr(0, name.size() - strlen(b_suffix))].second = t;
        else throw invalid("holds a tensor that is not " + std::string(file.compact ? "lora_a/lora_bt" : "lora_a/lora_b") + ": " + name + ".");
    }
    for (const auto & [name, pair] : pairs) {
        const auto [a, b] = pair;
        if (a == nullptr || b == nullptr) throw invalid("lacks lora_a or lora_b for " + name + ".");
        adapter_file_weight w;
        w.a = a;
        w.b = b;
        w.b_transposed = file.compact;
        w.in = length_of(a);
        w.rank = a->ne[1];
        w.out = file.compact ? length_of(b) : b->ne[1];
        const int64_t b_rank = file.compact ? b->ne[1] : b->ne[0];
        if (b_rank != w.rank || w.rank <= 0) throw invalid("has mismatched lora_a/lora_b shapes for " + name + ".");
        file.weights[name] = w;
    }
    if (file.weights.empty()) throw invalid("holds no LoRA weights.");
}

std::vector<float> adapter_file_a_values(const adapter_file_weight & w) {
    return rows_values(w.a, w.in);
}

std::vector<float> adapter_file_b_values(const adapter_file_weight & w) {
    if (!w.b_transposed) return rows_values(w.b, w.rank);
    // lora_bt holds B's columns as rows: transpose back to [r, out].
    const std::vector<float> bt = rows_values(w.b, w.out);  // [out, r]: r rows of out
    std::vector<float> b((size_t) (w.rank * w.out));
    for (int64_t j = 0; j < w.rank; j++) {
        for (int64_t o = 0; o < w.out; o++) b[(size_t) (o * w.rank + j)] = bt[(size_t) (j * w.out + o)];
    }
    return b;
}
