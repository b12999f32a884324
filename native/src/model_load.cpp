#include "model_load.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "ggml-cpu.h"
#include "gguf.h"
#include "device.h"
#include "file_utf8.h"
#include "trainer_error.h"

#if defined(_WIN32)
#define MODEL_LOAD_USE_MMAP 0
#else
#define MODEL_LOAD_USE_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace {

struct gguf_deleter { void operator()(gguf_context * ctx) const { gguf_free(ctx); } };
using gguf_ptr = std::unique_ptr<gguf_context, gguf_deleter>;

// fseek with 64-bit offsets (a long is 32 bits on Windows; models are larger than 2 GiB).
int file_seek(FILE * f, uint64_t offset) {
#if defined(_WIN32)
    return _fseeki64(f, (int64_t) offset, SEEK_SET);
#else
    return fseeko(f, (off_t) offset, SEEK_SET);
#endif
}

[[noreturn]] void throw_unsupported(const std::string & message) {
    throw trainer_error(TRAINER_ERR_UNSUPPORTED_MODEL, message);
}

// Reads an unsigned integer key of any integer GGUF type; returns false when absent.
bool gguf_read_u32(const gguf_context * gguf, const std::string & key, uint32_t & out) {
    const int64_t id = gguf_find_key(gguf, key.c_str());
    if (id < 0) return false;
    switch (gguf_get_kv_type(gguf, id)) {
        case GGUF_TYPE_UINT8:  out = gguf_get_val_u8(gguf, id);  return true;
        case GGUF_TYPE_INT8:   out = (uint32_t) gguf_get_val_i8(gguf, id);  return true;
        case GGUF_TYPE_UINT16: out = gguf_get_val_u16(gguf, id); return true;
        case GGUF_TYPE_INT16:  out = (uint32_t) gguf_get_val_i16(gguf, id); return true;
        case GGUF_TYPE_UINT32: out = gguf_get_val_u32(gguf, id); return true;
        case GGUF_TYPE_INT32:  out = (uint32_t) gguf_get_val_i32(gguf, id); return true;
        case GGUF_TYPE_UINT64: out = (uint32_t) gguf_get_val_u64(gguf, id); return true;
        case GGUF_TYPE_INT64:  out = (uint32_t) gguf_get_val_i64(gguf, id); return true;
        case GGUF_TYPE_ARRAY:
            // per-layer arrays (e.g. head_count_kv): this trainer needs them uniform
            throw_unsupported("GGUF key " + key + " is a per-layer array; only uniform layers are supported.");
        default:
            throw_unsupported("GGUF key " + key + " has a non-integer type.");
    }
}

bool gguf_read_f32(const gguf_context * gguf, const std::string & key, float & out) {
    const int64_t id = gguf_find_key(gguf, key.c_str());
    if (id < 0) return false;
    switch (gguf_get_kv_type(gguf, id)) {
        case GGUF_TYPE_FLOAT32: out = gguf_get_val_f32(gguf, id); return true;
        case GGUF_TYPE_FLOAT64: out = (float) gguf_get_val_f64(gguf, id); return true;
        default: throw_unsupported("GGUF key " + key + " is not a float.");
    }
}

std::string gguf_read_str(const gguf_context * gguf, const std::string & key) {
    const int64_t id = gguf_find_key(gguf, key.c_str());
    if (id < 0 || gguf_get_kv_type(gguf, id) != GGUF_TYPE_STRING) return "";
    return gguf_get_val_str(gguf, id);
}

// Weight types the CPU backend can both multiply with (forward) and out_prod through (backward).
bool weight_type_supported(ggml_type type) {
    switch (type) {
        case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16:
        case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1: case GGML_TYPE_Q8_0:
        case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K:
            return true;
        default:
            return false;
    }
}

// Per-layer flags from a GGUF array of bools or integers; false when the key is absent.
bool gguf_read_layer_flags(const gguf_context * gguf, const std::string & key, uint32_t n_layer, std::vector<uint8_t> & out) {
    const int64_t id = gguf_find_key(gguf, key.c_str());
    if (id < 0 || gguf_get_kv_type(gguf, id) != GGUF_TYPE_ARRAY) return false;
    const gguf_type type = gguf_get_arr_type(gguf, id);
    if (gguf_get_arr_n(gguf, id) != n_layer) throw_unsupported("GGUF key " + key + " does not have one entry per layer.");
    out.assign(n_layer, 0);
    const void * data = type == GGUF_TYPE_STRING ? nullptr : gguf_get_arr_data(gguf, id);
    for (uint32_t il = 0; il < n_layer; il++) {
        switch (type) {
            case GGUF_TYPE_BOOL: case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: out[il] = ((const uint8_t *) data)[il] != 0; break;
            case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: out[il] = ((const uint32_t *) data)[il] != 0; break;
            default: throw_unsupported("GGUF key " + key + " is not an array of booleans.");
        }
    }
    return true;
}

// gemma3 as llama_model_gemma3::load_arch_hparams and its graph read it: embeddings scaled by
// sqrt(n_embd); q scaled by 1/sqrt(head size) before kq (1/sqrt(n_embd/n_head) for the 62-layer
// 27B); sliding-window layers by the pattern (default: every 6th layer is global) with their
// own RoPE base (rope.freq_base_swa, default 10000) and scale 1.
void gemma3_hparams_read(const gguf_context * gguf, base_model & model) {
    const std::string a = model.arch_name;
    model_hparams & hp = model.hp;
    hp.embd_scale = sqrtf((float) hp.n_embd);
    hp.q_scale = hp.n_layer == 62 ? 1.0f / sqrtf((float) (hp.n_embd / hp.n_head)) : 1.0f / sqrtf((float) hp.n_embd_head);
    hp.kq_scale = 1.0f;

    float softcap = 0.0f;
    gguf_read_f32(gguf, a + ".final_logit_softcapping", softcap);
    if (softcap != 0.0f) throw_unsupported("Final logit softcapping is not supported by the trainer (Gemma 3 models have none).");
    for (const char * key : {".attention.key_length_swa", ".attention.value_length_swa", ".rope.dimension_count_swa"}) {
        uint32_t value = hp.n_embd_head;
        gguf_read_u32(gguf, a + key, value);
        if (value != hp.n_embd_head) throw_unsupported("Sliding-window layers with their own head size are not supported.");
    }

    gguf_read_u32(gguf, a + ".attention.sliding_window", hp.n_swa);
    if (hp.n_swa == 0) return;  // llama.cpp: LLAMA_SWA_TYPE_NONE, every layer global
    const std::string pattern_key = a + ".attention.sliding_window_pattern";
    if (!gguf_read_layer_flags(gguf, pattern_key, hp.n_layer, hp.is_swa)) {
        uint32_t n_pattern = 6;
        gguf_read_u32(gguf, pattern_key, n_pattern);
        hp.is_swa.assign(hp.n_layer, 0);
        for (uint32_t il = 0; il < hp.n_layer; il++) hp.is_swa[il] = n_pattern == 0 || il % n_pattern < n_pattern - 1;
    }
    gguf_read_f32(gguf, a + ".rope.freq_base_swa", hp.rope_freq_base_swa);
}

void hparams_read(const gguf_context * gguf, base_model & model) {
    const std::string a = model.arch_name;
    model_hparams & hp = model.hp;
    auto require_u32 = [&](const std::string & key, uint32_t & out) {
        if (!gguf_read_u32(gguf, a + "." + key, out)) throw_unsupported("The model lacks the GGUF key " + a + "." + key + ".");
    };
    require_u32("embedding_length", hp.n_embd);
    require_u32("block_count", hp.n_layer);
    require_u32("feed_forward_length", hp.n_ff);
    require_u32("attention.head_count", hp.n_head);
    hp.n_head_kv = hp.n_head;
    gguf_read_u32(gguf, a + ".attention.head_count_kv", hp.n_head_kv);
    hp.n_ctx_train = 2048;
    gguf_read_u32(gguf, a + ".context_length", hp.n_ctx_train);
    if (!gguf_read_f32(gguf, a + ".attention.layer_norm_rms_epsilon", hp.rms_eps)) {
        throw_unsupported("The model lacks the GGUF key " + a + ".attention.layer_norm_rms_epsilon.");
    }
    if (hp.n_embd == 0 || hp.n_layer == 0 || hp.n_head == 0 || hp.n_head_kv == 0 || hp.n_ff == 0 ||
        hp.n_head % hp.n_head_kv != 0 || hp.n_layer > 4096) {
        throw_unsupported("The model's dimensions are invalid (embedding, layers, heads or FFN size).");
    }
    hp.n_embd_head = hp.n_embd / hp.n_head;
    uint32_t key_length = hp.n_embd_head, value_length = hp.n_embd_head;
    gguf_read_u32(gguf, a + ".attention.key_length", key_length);
    gguf_read_u32(gguf, a + ".attention.value_length", value_length);
    if (key_length != value_length) throw_unsupported("Models whose key and value head sizes differ are not supported.");
    hp.n_embd_head = key_length;
    hp.n_rot = hp.n_embd_head;
    gguf_read_u32(gguf, a + ".rope.dimension_count", hp.n_rot);
    if (hp.n_rot != hp.n_embd_head) throw_unsupported("Partial rotary embeddings are not supported (rope.dimension_count != head size).");

    // RoPE: the same derivation as llama_model::load_hparams + llama_context's constructor.
    hp.rope_mode = model.arch == MODEL_ARCH_LLAMA ? GGML_ROPE_TYPE_NORMAL : GGML_ROPE_TYPE_NEOX;
    gguf_read_f32(gguf, a + ".rope.freq_base", hp.rope_freq_base);
    std::string scaling = gguf_read_str(gguf, a + ".rope.scaling.type");
    float factor = 0.0f;
    if (!gguf_read_f32(gguf, a + ".rope.scaling.factor", factor)) {
        gguf_read_f32(gguf, a + ".rope.scale_linear", factor);
    }
    hp.rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
    hp.n_ctx_orig = hp.n_ctx_train;
    gguf_read_u32(gguf, a + ".rope.scaling.original_context_length", hp.n_ctx_orig);
    float rope_attn_factor = 1.0f;
    gguf_read_f32(gguf, a + ".rope.scaling.attn_factor", rope_attn_factor);
    float yarn_log_mul = 0.0f;
    gguf_read_f32(gguf, a + ".rope.scaling.yarn_log_multiplier", yarn_log_mul);
    if (scaling.empty()) scaling = "linear";  // llama.cpp's default when the key is absent
    if (scaling == "none") {
        hp.rope_freq_scale = 1.0f;
    } else if (scaling == "yarn") {
        if (yarn_log_mul != 0.0f) throw_unsupported("YaRN RoPE with a log multiplier is not supported.");
        hp.yarn_ext_factor = 1.0f;
        const float f = 1.0f / hp.rope_freq_scale;
        const float mscale = f <= 1.0f ? 1.0f : 0.1f * logf(f) + 1.0f;
        hp.yarn_attn_factor = mscale * (1.0f / (1.0f + 0.1f * logf(f)));
        gguf_read_f32(gguf, a + ".rope.scaling.yarn_beta_fast", hp.yarn_beta_fast);
        gguf_read_f32(gguf, a + ".rope.scaling.yarn_beta_slow", hp.yarn_beta_slow);
    } else if (scaling != "linear") {
        throw_unsupported("RoPE scaling type '" + scaling + "' is not supported (none, linear and yarn are).");
    }
    hp.yarn_attn_factor *= rope_attn_factor;

    hp.kq_scale = 1.0f / sqrtf((float) hp.n_embd_head);
    if (model.arch == MODEL_ARCH_GEMMA3) gemma3_hparams_read(gguf, model);
}

// Finds a tensor by name and checks its shape and type; returns null if optional and absent.
ggml_tensor * tensor_get(ggml_context * ctx, const std::string & name, std::initializer_list<int64_t> ne, bool required) {
    ggml_tensor * t = ggml_get_tensor(ctx, name.c_str());
    if (t == nullptr) {
        if (required) throw_unsupported("The model lacks the tensor " + name + ".");
        return nullptr;
    }
    size_t i = 0;
    for (int64_t n : ne) {
        if (t->ne[i] != n) throw_unsupported("The tensor " + name + " has an unexpected shape.");
        i++;
    }
    for (; i < GGML_MAX_DIMS; i++) {
        if (t->ne[i] != 1) throw_unsupported("The tensor " + name + " has an unexpected shape.");
    }
    if (!weight_type_supported(t->type)) {
        throw_unsupported(std::string("The tensor ") + name + " has type " + ggml_type_name(t->type) +
            ", which the trainer cannot back-propagate through (supported: F32, F16, BF16, Q4_0/1, Q5_0/1, Q8_0, Q2_K..Q6_K).");
    }
    return t;
}

void tensors_bind(base_model & model) {
    const model_hparams & hp = model.hp;
    ggml_context * ctx = model.ctx;
    const int64_t n_embd = hp.n_embd, n_ff = hp.n_ff;
    const int64_t n_q = (int64_t) hp.n_embd_head * hp.n_head, n_kv = (int64_t) hp.n_embd_head * hp.n_head_kv;

    ggml_tensor * embd = ggml_get_tensor(ctx, "token_embd.weight");
    if (embd == nullptr) throw_unsupported("The model lacks the tensor token_embd.weight.");
    const int64_t n_vocab = embd->ne[1];
    if (n_vocab <= 0 || n_vocab > INT32_MAX) throw_unsupported("The model's vocabulary size is invalid.");
    model.hp.n_vocab = (uint32_t) n_vocab;
    model.tok_embd = tensor_get(ctx, "token_embd.weight", {n_embd, n_vocab}, true);
    model.output_norm = tensor_get(ctx, "output_norm.weight", {n_embd}, true);
    model.output = tensor_get(ctx, "output.weight", {n_embd, n_vocab}, false);
    if (model.output == nullptr) model.output = model.tok_embd;  // tied output, as llama.cpp does
    model.rope_freqs = tensor_get(ctx, "rope_freqs.weight", {hp.n_rot / 2}, false);
    if (model.rope_freqs != nullptr && model.rope_freqs->type != GGML_TYPE_F32) throw_unsupported("rope_freqs.weight must be F32.");
    if (ggml_get_tensor(ctx, "blk.0.attn_qkv.weight") != nullptr) throw_unsupported("Fused attn_qkv weights are not supported.");

    model.layers.resize(hp.n_layer);
    for (uint32_t il = 0; il < hp.n_layer; il++) {
        layer_weights & l = model.layers[il];
        auto name = [il](const char * suffix) { return "blk." + std::to_string(il) + "." + suffix; };
        l.attn_norm = tensor_get(ctx, name("attn_norm.weight"), {n_embd}, true);
        l.wq = tensor_get(ctx, name("attn_q.weight"), {n_embd, n_q}, true);
        l.wk = tensor_get(ctx, name("attn_k.weight"), {n_embd, n_kv}, true);
        l.wv = tensor_get(ctx, name("attn_v.weight"), {n_embd, n_kv}, true);
        l.wo = tensor_get(ctx, name("attn_output.weight"), {n_q, n_embd}, true);
        const bool biases = model.arch == MODEL_ARCH_QWEN2;
        l.bq = tensor_get(ctx, name("attn_q.bias"), {n_q}, biases);
        l.bk = tensor_get(ctx, name("attn_k.bias"), {n_kv}, biases);
        l.bv = tensor_get(ctx, name("attn_v.bias"), {n_kv}, biases);
        const bool gemma3 = model.arch == MODEL_ARCH_GEMMA3;
        const bool qk_norm = model.arch == MODEL_ARCH_QWEN3 || gemma3;
        l.q_norm = tensor_get(ctx, name("attn_q_norm.weight"), {hp.n_embd_head}, qk_norm);
        l.k_norm = tensor_get(ctx, name("attn_k_norm.weight"), {hp.n_embd_head}, qk_norm);
        if (!qk_norm && (l.q_norm || l.k_norm)) throw_unsupported("q/k norms are only supported for qwen3 and gemma3.");
        l.attn_post_norm = tensor_get(ctx, name("post_attention_norm.weight"), {n_embd}, gemma3);
        l.ffn_post_norm = tensor_get(ctx, name("post_ffw_norm.weight"), {n_embd}, gemma3);
        if (!gemma3 && (l.attn_post_norm || l.ffn_post_norm)) throw_unsupported("Post-attention and post-FFN norms are only supported for gemma3.");
        if (model.arch != MODEL_ARCH_QWEN2 && (l.bq || l.bk || l.bv)) throw_unsupported(model.arch_name + " models with attention biases are not supported.");
        if (ggml_get_tensor(ctx, name("attn_output.bias").c_str()) || ggml_get_tensor(ctx, name("ffn_up.bias").c_str())) {
            throw_unsupported("Output or FFN biases are not supported.");
        }
        l.ffn_norm = tensor_get(ctx, name("ffn_norm.weight"), {n_embd}, true);
        l.ffn_gate = tensor_get(ctx, name("ffn_gate.weight"), {n_embd, n_ff}, true);
        l.ffn_up   = tensor_get(ctx, name("ffn_up.weight"), {n_embd, n_ff}, true);
        l.ffn_down = tensor_get(ctx, name("ffn_down.weight"), {n_ff, n_embd}, true);
        for (ggml_tensor * norm : {l.attn_norm, l.ffn_norm, l.q_norm, l.k_norm, l.attn_post_norm, l.ffn_post_norm, l.bq, l.bk, l.bv}) {
            if (norm != nullptr && norm->type != GGML_TYPE_F32) throw_unsupported(std::string("The tensor ") + norm->name + " must be F32.");
        }
    }
    if (model.output_norm->type != GGML_TYPE_F32) throw_unsupported("output_norm.weight must be F32.");
}

// BF16 matrices are widened to F32 at load: the CPU backend has no out_prod for BF16, so the
// backward pass could not run through them. The forward then differs from llama.cpp's only by
// the BF16 rounding llama.cpp applies to activations.
bool tensor_needs_widening(const ggml_tensor * t) { return t->type == GGML_TYPE_BF16; }

}  // namespace

const std::vector<std::string> & lora_target_names() {
    static const std::vector<std::string> names = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    return names;
}

ggml_tensor * base_model_target_weight(const base_model & model, uint32_t il, const std::string & target) {
    if (il >= model.layers.size()) return nullptr;
    const layer_weights & l = model.layers[il];
    if (target == "attn_q") return l.wq;
    if (target == "attn_k") return l.wk;
    if (target == "attn_v") return l.wv;
    if (target == "attn_output") return l.wo;
    if (target == "ffn_gate") return l.ffn_gate;
    if (target == "ffn_up") return l.ffn_up;
    if (target == "ffn_down") return l.ffn_down;
    return nullptr;
}

base_model * base_model_load(const std::string & path) {
    std::unique_ptr<base_model, void (*)(base_model *)> model(new base_model(), base_model_free);

    // Metadata first (no_alloc): tensor headers go into a context we own.
    ggml_context * meta_ctx = nullptr;
    gguf_init_params params = {/*no_alloc =*/ true, /*ctx =*/ &meta_ctx};
    gguf_ptr gguf(gguf_init_from_file(path.c_str(), params));
    if (!gguf) {
        FILE * f = file_open(path, "rb");
        if (f == nullptr) throw trainer_error(TRAINER_ERR_IO, "Cannot open the model file " + path + ".");
        fclose(f);
        throw_unsupported("The file " + path + " is not a valid GGUF model.");
    }
    model->ctx = meta_ctx;

    const std::string general_type = gguf_read_str(gguf.get(), "general.type");
    if (general_type == "adapter") throw_unsupported("The file " + path + " is a LoRA adapter, not a base model.");
    model->arch_name = gguf_read_str(gguf.get(), "general.architecture");
    if (model->arch_name == "llama") model->arch = MODEL_ARCH_LLAMA;
    else if (model->arch_name == "qwen2") model->arch = MODEL_ARCH_QWEN2;
    else if (model->arch_name == "qwen3") model->arch = MODEL_ARCH_QWEN3;
    else if (model->arch_name == "gemma3") model->arch = MODEL_ARCH_GEMMA3;
    else throw_unsupported("Architecture '" + model->arch_name + "' is not supported by the trainer (llama, qwen2, qwen3 and gemma3 are).");

    uint32_t n_expert = 0;
    gguf_read_u32(gguf.get(), model->arch_name + ".expert_count", n_expert);
    if (n_expert > 0) throw_unsupported("Mixture-of-experts models are not supported by the trainer.");
    hparams_read(gguf.get(), *model);
    tensors_bind(*model);

    // Data: map the file read-only so that the weights' pages are shared with every other
    // process that maps the same model (the engine's node-llama-cpp); copy where we must.
    const size_t data_offset = gguf_get_data_offset(gguf.get());
    const int64_t n_tensors = gguf_get_n_tensors(gguf.get());
    bool any_widened = false;
    for (ggml_tensor * t = ggml_get_first_tensor(meta_ctx); t != nullptr; t = ggml_get_next_tensor(meta_ctx, t)) {
        any_widened = any_widened || tensor_needs_widening(t);
    }

    size_t file_size = 0;
    {
        FILE * f = file_open(path, "rb");
        if (f == nullptr) throw trainer_error(TRAINER_ERR_IO, "Cannot open the model file " + path + ".");
        fclose(f);
        std::error_code ec;
        file_size = (size_t) std::filesystem::file_size(file_path(path), ec);
        if (ec) throw trainer_error(TRAINER_ERR_IO, "Cannot read the size of the model file " + path + ".");
    }
    for (int64_t i = 0; i < n_tensors; i++) {
        const size_t offs = data_offset + gguf_get_tensor_offset(gguf.get(), i);
        if (offs + gguf_get_tensor_size(gguf.get(), i) > file_size) {
            throw trainer_error(TRAINER_ERR_IO, "The model file " + path + " is truncated (tensor data past its end).");
        }
    }

    const bool aligned = data_offset % 64 == 0 && gguf_get_alignment(gguf.get()) % 32 == 0;
#if MODEL_LOAD_USE_MMAP
    if (aligned && !any_widened) {
        int fd = open(path.c_str(), O_RDONLY);
        if (fd < 0) throw trainer_error(TRAINER_ERR_IO, "Cannot open the model file " + path + ".");
        void * addr = mmap(nullptr, file_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (addr == MAP_FAILED) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Cannot map the model file " + path + " into memory.");
        model->mmap_addr = addr;
        model->mmap_size = file_size;
        // ggml never writes to these weights (they are not parameters), so a read-only map is safe.
        model->buf = ggml_backend_cpu_buffer_from_ptr((char *) addr + data_offset, file_size - data_offset);
        for (int64_t i = 0; i < n_tensors; i++) {
            ggml_tensor * t = ggml_get_tensor(meta_ctx, gguf_get_tensor_name(gguf.get(), i));
            void * data = (char *) addr + data_offset + gguf_get_tensor_offset(gguf.get(), i);
            if (ggml_backend_tensor_alloc(model->buf, t, data) != GGML_STATUS_SUCCESS) {
                throw trainer_error(TRAINER_ERR_INTERNAL, "Cannot bind a mapped tensor.");
            }
        }
        return model.release();
    }
#endif
    (void) aligned;
    // Copy path: widen BF16 to F32 in the tensor headers, allocate, then read each tensor.
    std::vector<std::pair<ggml_tensor *, ggml_type>> file_types;
    for (int64_t i = 0; i < n_tensors; i++) {
        ggml_tensor * t = ggml_get_tensor(meta_ctx, gguf_get_tensor_name(gguf.get(), i));
        file_types.emplace_back(t, t->type);
        if (tensor_needs_widening(t)) {
            t->type = GGML_TYPE_F32;
            t->nb[0] = sizeof(float);
            for (int d = 1; d < GGML_MAX_DIMS; d++) t->nb[d] = t->nb[d - 1] * t->ne[d - 1];
        }
    }
    model->buf = ggml_backend_alloc_ctx_tensors_from_buft(meta_ctx, ggml_backend_cpu_buffer_type());
    if (model->buf == nullptr) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory to load the model " + path + ".");
    FILE * f = file_open(path, "rb");
    if (f == nullptr) throw trainer_error(TRAINER_ERR_IO, "Cannot open the model file " + path + ".");
    std::vector<uint8_t> read_buf;
    for (int64_t i = 0; i < n_tensors; i++) {
        auto [t, file_type] = file_types[(size_t) i];
        const size_t size = gguf_get_tensor_size(gguf.get(), i);
        read_buf.resize(size);
        if (file_seek(f, data_offset + gguf_get_tensor_offset(gguf.get(), i)) != 0 ||
            fread(read_buf.data(), 1, size, f) != size) {
            fclose(f);
            throw trainer_error(TRAINER_ERR_IO, "Cannot read the model file " + path + ".");
        }
        if (file_type == GGML_TYPE_BF16) {
            std::vector<float> widened((size_t) ggml_nelements(t));
            ggml_bf16_to_fp32_row((const ggml_bf16_t *) read_buf.data(), widened.data(), (int64_t) widened.size());
            ggml_backend_tensor_set(t, widened.data(), 0, widened.size() * sizeof(float));
        } else {
            ggml_backend_tensor_set(t, read_buf.data(), 0, size);
        }
    }
    fclose(f);
    return model.release();
}

void base_model_move(base_model & model, ggml_backend_buffer_type_t buft) {
    ggml_backend_buffer_t moved = device_tensors_move(model.ctx, buft, "the model's weights");
    ggml_backend_buffer_set_usage(moved, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    ggml_backend_buffer_free(model.buf);
    model.buf = moved;
#if MODEL_LOAD_USE_MMAP
    if (model.mmap_addr) munmap(model.mmap_addr, model.mmap_size);
#endif
    model.mmap_addr = nullptr;
    model.mmap_size = 0;
}

void base_model_release_pages(const base_model & model, const ggml_tensor * t) {
#if MODEL_LOAD_USE_MMAP
    if (model.mmap_addr == nullptr || t->data == nullptr) return;
    const uintptr_t begin = (uintptr_t) t->data, end = begin + ggml_nbytes(t);
    const uintptr_t base = (uintptr_t) model.mmap_addr;
    if (begin < base || end > base + model.mmap_size) return;
    const uintptr_t page = (uintptr_t) sysconf(_SC_PAGESIZE);
    const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;  // whole pages only
    if (last > first) madvise((void *) first, last - first, MADV_DONTNEED);
#else
    (void) model;
    (void) t;
#endif
}

std::vector<ggml_tensor *> base_model_matrices(const base_model & model) {
    std::vector<ggml_tensor *> matrices;
    for (const layer_weights & l : model.layers) {
        for (ggml_tensor * w : {l.wq, l.wk, l.wv, l.wo, l.ffn_gate, l.ffn_up, l.ffn_down}) matrices.push_back(w);
    }
    matrices.push_back(model.output);
    return matrices;
}

void base_model_free(base_model * model) {
    if (model == nullptr) return;
    for (ggml_backend_buffer_t b : model->repack_bufs) ggml_backend_buffer_free(b);
    for (ggml_context * c : model->repack_ctxs) ggml_free(c);
    if (model->buf) ggml_backend_buffer_free(model->buf);
    if (model->ctx) ggml_free(model->ctx);
#if MODEL_LOAD_USE_MMAP
    if (model->mmap_addr) munmap(model->mmap_addr, model->mmap_size);
#endif
    delete model;
}
